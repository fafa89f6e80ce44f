#!/usr/bin/env node
/**
 * The `sysv-ipc` command (package.json `bin`): see what the kernel holds,
 * inspect one object, remove objects, show the limits. One module per
 * command (ls, stat, rm, limits); usage.ts holds the argument grammar they
 * share, format.ts the way they print.
 *
 * It imports the admin module, not the package index, so `ls`, `stat` and
 * `limits` work even where the native addon cannot load; `rm`, `stat sem`'s
 * member values and --peek need it.
 * Failures print one line on stderr and exit non-zero (1 for a failed
 * operation, 2 for a usage error); `SYSV_IPC_DEBUG=1` adds the stack.
 *
 * The benchmarks are not a command: they need the repository's C sources,
 * a compiler and Python, and write results beside themselves, none of which
 * an installed package has. Run `npm run bench` in a clone.
 */
import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import { out } from './format';
import * as limits from './limits';
import * as ls from './ls';
import * as rm from './rm';
import * as stat from './stat';
import { showHelp, UsageError, type Command } from './usage';

// dist/cli/index.js: the package root is two levels up.
const PACKAGE_ROOT = path.join(__dirname, '..', '..');

const MAIN_HELP = `Usage: sysv-ipc <command> [options]

System V message queues, semaphore sets and shared memory segments on this host.

Commands:
  ls [--kind msg|sem|shm] [--peek] [--json]   list what the kernel holds (like ipcs -p)
  stat <kind> <id> | --key K [--json]         one object in detail, who holds it
  rm <kind> <id>... | --key K... | --all      remove objects (IPC_RMID); filters, --dry-run,
                                              asks before removing several (--yes)
  limits [--json]                             the kernel's System V limits

Options:
  -h, --help       show help (also: sysv-ipc <command> --help)
  -v, --version    show the version

Kinds are msg (message queues), sem (semaphore sets) and shm (shared memory).
Keys are accepted in hex (0x1234abcd) or decimal and shown in hex, as ipcs does.
Only --peek and --mutex-at attach a segment to look inside; everything else reads /proc.`;

const COMMANDS: Record<string, Command> = { ls, list: ls, stat, rm, limits };

function version(): string {
  return (JSON.parse(readFileSync(path.join(PACKAGE_ROOT, 'package.json'), 'utf8')) as { version: string }).version;
}

/** Runs the CLI with these arguments and returns the exit code. */
export function main(argv: string[]): number {
  try {
    const [command, ...rest] = argv;
    if (command === undefined || command === '--help' || command === '-h') return showHelp(MAIN_HELP);
    if (command === 'help') {
      if (rest[0] === undefined) return showHelp(MAIN_HELP);
      const topic = Object.hasOwn(COMMANDS, rest[0]) ? COMMANDS[rest[0]] : undefined;
      if (!topic) throw new UsageError(`unknown command '${rest[0]}'`);
      return showHelp(topic.help);
    }
    if (command === '--version' || command === '-v') {
      out(version());
      return 0;
    }
    const run = Object.hasOwn(COMMANDS, command) ? COMMANDS[command] : undefined;
    if (!run) throw new UsageError(`unknown command '${command}'`);
    return run.run(rest);
  } catch (err) {
    if (err instanceof UsageError) {
      const helpHint = err.command ? `sysv-ipc ${err.command} --help` : 'sysv-ipc --help';
      process.stderr.write(`sysv-ipc: ${err.message} (see ${helpHint})\n`);
      return 2;
    }
    const message = err instanceof Error ? err.message : String(err);
    process.stderr.write(`sysv-ipc: ${message.split('\n')[0]}\n`);
    if (process.env.SYSV_IPC_DEBUG === '1' && err instanceof Error) process.stderr.write(`${err.stack}\n`);
    return 1;
  }
}

if (require.main === module) {
  // `sysv-ipc ls | head` closes the pipe early: that is not an error worth a trace.
  process.stdout.on('error', (err: NodeJS.ErrnoException) => {
    if (err.code === 'EPIPE') process.exit(0);
    throw err;
  });
  process.exitCode = main(process.argv.slice(2));
}
