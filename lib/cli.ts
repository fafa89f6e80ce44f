#!/usr/bin/env node
/**
 * The `sysv-ipc` command: see what the kernel holds, inspect one object,
 * remove objects, show the limits (and, in a source checkout, run the
 * benchmarks).
 *
 * It imports the admin module, not the package index, so `ls`, `stat` and
 * `limits` work even where the native addon cannot load; only `rm` needs it.
 * Failures print one line on stderr and exit non-zero (1 for a failed
 * operation, 2 for a usage error); `SYSV_IPC_DEBUG=1` adds the stack.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import * as path from 'node:path';
import { parseArgs, type ParseArgsConfig } from 'node:util';
import {
  limits,
  list,
  peekChannel,
  remove,
  removeByKey,
  type IpcKind,
  type IpcLimits,
  type IpcObject,
  type MessageQueueEntry,
  type SemaphoreSetEntry,
  type SharedMemoryEntry,
  type ChannelSummary,
} from './admin';
import * as check from './validate';

const PACKAGE_ROOT = path.join(__dirname, '..');

/** A mistake in how the command was called: exit code 2 and a pointer to --help. */
class UsageError extends Error {
  constructor(message: string, readonly command?: string) {
    super(message);
  }
}

const KIND_NAMES: Record<IpcKind, string> = {
  msg: 'message queue',
  sem: 'semaphore set',
  shm: 'shared memory segment',
};

const SECTION_TITLES: Record<IpcKind, string> = {
  msg: 'Message queues',
  sem: 'Semaphore sets',
  shm: 'Shared memory segments',
};

// ---- help

const HELP: Record<string, string> = {
  main: `Usage: sysv-ipc <command> [options]

System V message queues, semaphore sets and shared memory segments on this host.

Commands:
  ls [--kind msg|sem|shm] [--json]      list what the kernel holds (like ipcs)
  stat <kind> <id> | --key K [--json]   one object in detail
  rm <kind> <id...> | --key K...        remove objects (IPC_RMID), without asking
  limits [--json]                       the kernel's System V limits
  bench [args...]                       run the benchmarks (source checkout only)

Options:
  -h, --help       show help (also: sysv-ipc <command> --help)
  -v, --version    show the version

Kinds are msg (message queues), sem (semaphore sets) and shm (shared memory).
Keys are accepted in hex (0x1234abcd) or decimal and shown in hex, as ipcs does.`,
  ls: `Usage: sysv-ipc ls [--kind msg|sem|shm] [--json]

Lists the System V objects in this IPC namespace (from /proc/sysvipc), one
table per kind, with sizes and ages in human units.

Options:
  -k, --kind KIND   only this kind: msg, sem or shm
  --json            print a JSON array instead (times as ISO strings, keys as numbers)`,
  stat: `Usage: sysv-ipc stat <kind> <id>
       sysv-ipc stat <kind> --key K

Shows everything the kernel reports about one object.

Options:
  --key K    find the object by key (hex like 0x1234abcd, or decimal) instead of id
  --json     print JSON instead`,
  rm: `Usage: sysv-ipc rm <kind> <id...>
       sysv-ipc rm <kind> --key K [--key K...]

Removes objects (IPC_RMID) without asking, and says what it removed. Processes
waiting on a removed queue or semaphore set wake with EIDRM; a removed segment
disappears when its last process detaches. Exits 1 if any removal failed.

Options:
  --key K    remove by key (hex like 0x1234abcd, or decimal) instead of id; repeatable`,
  limits: `Usage: sysv-ipc limits [--json]

Shows the kernel's System V limits (from /proc/sys/kernel; change them with sysctl).

Options:
  --json     print JSON instead`,
  bench: `Usage: sysv-ipc bench [args...]

Runs the package's benchmarks (node bench/run.js with these arguments). They
ship with the source repository, not with the npm package.`,
};

// ---- formatting

/** A key as ipcs prints it: 0x followed by 8 hex digits of the unsigned value. */
export function formatKey(key: number): string {
  return `0x${(key >>> 0).toString(16).padStart(8, '0')}`;
}

/** Bytes in binary units: "512 B", "1.5 KiB", "64 MiB". */
export function formatBytes(bytes: number): string {
  if (bytes < 1024) return `${bytes} B`;
  const units = ['KiB', 'MiB', 'GiB', 'TiB', 'PiB', 'EiB'];
  let value = bytes;
  let unit = -1;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  const digits = value >= 100 || Number.isInteger(value) ? 0 : 1;
  return `${value.toFixed(digits).replace(/\.0$/, '')} ${units[unit]}`;
}

/** How long ago: "never", "just now", "42s ago", "5m ago", "3h ago", "2d ago". */
export function formatAge(date: Date | null, now = Date.now()): string {
  if (date === null) return 'never';
  const seconds = Math.round((now - date.getTime()) / 1000);
  if (seconds < 1) return 'just now';
  if (seconds < 60) return `${seconds}s ago`;
  if (seconds < 3600) return `${Math.floor(seconds / 60)}m ago`;
  if (seconds < 86400) return `${Math.floor(seconds / 3600)}h ago`;
  return `${Math.floor(seconds / 86400)}d ago`;
}

function formatMode(mode: number): string {
  const bits = 'rwxrwxrwx';
  let text = '';
  for (let i = 0; i < 9; i++) text += mode & (1 << (8 - i)) ? bits[i] : '-';
  return text;
}

let users: Map<number, string> | undefined;
function userName(uid: number): string {
  if (!users) {
    users = new Map();
    try {
      for (const line of readFileSync('/etc/passwd', 'utf8').split('\n')) {
        const [name, , id] = line.split(':');
        if (name && id !== undefined && !users.has(Number(id))) users.set(Number(id), name);
      }
    } catch {
      // no /etc/passwd: show numbers
    }
  }
  return users.get(uid) ?? String(uid);
}

/** Left-aligned text columns, right-aligned numeric ones, two spaces apart. */
function table(header: string[], rows: string[][], numeric: boolean[]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const line = (cells: string[]) =>
    cells
      .map((c, i) => (numeric[i] ? c.padStart(widths[i]) : c.padEnd(widths[i])))
      .join('  ')
      .trimEnd();
  return [line(header), ...rows.map(line)].join('\n');
}

function common(e: IpcObject): string[] {
  return [formatKey(e.key), String(e.id), userName(e.uid), e.mode.toString(8).padStart(3, '0')];
}

function kindTable(kind: IpcKind, entries: IpcObject[], now: number): string {
  const head = ['KEY', 'ID', 'OWNER', 'PERMS'];
  const num = [false, true, false, false];
  if (kind === 'msg') {
    const rows = (entries as MessageQueueEntry[]).map((e) => [
      ...common(e), String(e.messages), formatBytes(e.bytes),
      formatAge(e.lastSendTime, now), formatAge(e.lastReceiveTime, now), formatAge(e.lastChangeTime, now),
    ]);
    return table([...head, 'MESSAGES', 'BYTES', 'LAST SEND', 'LAST RECEIVE', 'CHANGED'], rows, [...num, true, true, false, false, false]);
  }
  if (kind === 'sem') {
    const rows = (entries as SemaphoreSetEntry[]).map((e) => [
      ...common(e), String(e.members), formatAge(e.lastOpTime, now), formatAge(e.lastChangeTime, now),
    ]);
    return table([...head, 'MEMBERS', 'LAST OP', 'CHANGED'], rows, [...num, true, false, false]);
  }
  const rows = (entries as SharedMemoryEntry[]).map((e) => [
    ...common(e), formatBytes(e.size), String(e.attachments), String(e.creatorPid),
    [e.removed ? 'removed' : '', e.locked ? 'locked' : ''].filter(Boolean).join(',') || '-',
    formatAge(e.lastAttachTime, now), formatAge(e.lastChangeTime, now), channelCell(channelOf(e)),
  ]);
  return table(
    [...head, 'SIZE', 'ATTACHED', 'CREATOR', 'STATUS', 'LAST ATTACH', 'CHANGED', 'CHANNEL'],
    rows,
    [...num, true, true, true, false, false, false, false],
  );
}

// ---- channels (a read-only look inside shared memory segments)

/** A shm entry with `channel`: its summary, null, or { unreadable } (JSON output). */
function withChannel(e: IpcObject): IpcObject | (SharedMemoryEntry & { channel: ChannelLook }) {
  return e.kind === 'shm' ? { ...e, channel: channelOf(e) } : e;
}

/** A segment's channel, `null` (none), or why it could not be read. */
type ChannelLook = ChannelSummary | null | { unreadable: string };

const looks = new Map<number, ChannelLook>();
function channelOf(e: SharedMemoryEntry): ChannelLook {
  let look = looks.get(e.id);
  if (look !== undefined) return look;
  try {
    look = peekChannel(e.id);
  } catch (err) {
    const code = (err as { code?: string }).code;
    // No addon here: channels cannot be told apart (the rest of ls still works).
    look = { unreadable: code === 'EINVAL' || code === 'EIDRM' ? 'gone' : code ?? 'no native addon' };
  }
  looks.set(e.id, look);
  return look;
}

function channelCell(look: ChannelLook): string {
  if (look === null) return '-';
  if ('unreadable' in look) return `unreadable (${look.unreadable})`;
  return `${look.messages} msg, ${formatBytes(look.bytes)} of ${formatBytes(look.capacity)}${look.removed ? ', removed' : ''}`;
}

// ---- argument helpers

function parseKind(value: string | undefined, command: string): IpcKind {
  if (value === 'msg' || value === 'sem' || value === 'shm') return value;
  if (value === undefined) throw new UsageError('missing <kind>: msg, sem or shm', command);
  throw new UsageError(`unknown kind '${value}': use msg, sem or shm`, command);
}

function parseId(value: string, command: string): number {
  if (!/^\d+$/.test(value)) throw new UsageError(`'${value}' is not an id (a non-negative integer)`, command);
  const id = Number(value);
  if (id > 0x7fffffff) throw new UsageError(`'${value}' is not an id (too large)`, command);
  return id;
}

/** A key in hex (0x…, as ipcs prints) or decimal, signed or unsigned. */
function parseKey(value: string, command: string): number {
  const m = /^(-?)(0x[0-9a-f]+|\d+)$/i.exec(value);
  if (!m) throw new UsageError(`'${value}' is not a key (use hex like 0x1234abcd, or decimal)`, command);
  const n = Number(m[2]) * (m[1] ? -1 : 1);
  if (n < -0x80000000 || n > 0xffffffff) throw new UsageError(`'${value}' is not a key (out of 32-bit range)`, command);
  if (n === 0) {
    throw new UsageError('key 0 is IPC_PRIVATE, which names no object: give the id instead', command);
  }
  return check.key('key', n);
}

interface Parsed {
  values: Record<string, string | boolean | string[] | undefined>;
  positionals: string[];
}

function parse(command: string, args: string[], options: NonNullable<ParseArgsConfig['options']>): Parsed {
  try {
    const config = { args, options: { help: { type: 'boolean', short: 'h' }, ...options }, allowPositionals: true, strict: true };
    return parseArgs(config as ParseArgsConfig) as Parsed;
  } catch (err) {
    // parseArgs' messages can span lines: errors here are always one line.
    throw new UsageError((err as Error).message.replace(/\s*\n\s*/g, ' '), command);
  }
}

const out = (text: string) => process.stdout.write(`${text}\n`);
const json = (value: unknown) => out(JSON.stringify(value, null, 2));

// ---- commands

function cmdLs(args: string[]): number {
  const { values, positionals } = parse('ls', args, { kind: { type: 'string', short: 'k' }, json: { type: 'boolean' } });
  if (values.help) return help('ls');
  if (positionals.length > 0) throw new UsageError(`unexpected argument '${positionals[0]}'`, 'ls');
  const kinds: IpcKind[] = values.kind === undefined ? ['msg', 'sem', 'shm'] : [parseKind(values.kind as string, 'ls')];
  const entries = kinds.flatMap((k) => list(k));
  if (values.json) {
    json(entries.map(withChannel));
    return 0;
  }
  const now = Date.now();
  const sections = kinds.map((kind) => {
    const ofKind = entries.filter((e) => e.kind === kind);
    const body = ofKind.length === 0 ? '(none)' : kindTable(kind, ofKind, now);
    return `${SECTION_TITLES[kind]}\n${body}`;
  });
  out(sections.join('\n\n'));
  return 0;
}

function find(kind: IpcKind, id: number | undefined, key: number | undefined): IpcObject {
  const entry = list(kind).find((e) => (id !== undefined ? e.id === id : e.key === key));
  if (!entry) {
    throw new Error(
      id !== undefined ? `no ${KIND_NAMES[kind]} with id ${id}` : `no ${KIND_NAMES[kind]} with key ${formatKey(key ?? 0)}`,
    );
  }
  return entry;
}

function statLines(e: IpcObject, now: number): Array<[string, string]> {
  const when = (d: Date | null) => (d === null ? 'never' : `${d.toISOString()} (${formatAge(d, now)})`);
  const pid = (p: number) => (p === 0 ? 'none' : String(p));
  const lines: Array<[string, string]> = [
    ['key', `${formatKey(e.key)}${e.key === 0 ? ' (IPC_PRIVATE)' : ''}`],
    ['id', String(e.id)],
    ['mode', `${e.mode.toString(8).padStart(3, '0')} (${formatMode(e.mode)})`],
    ['owner', `${userName(e.uid)} (uid ${e.uid}, gid ${e.gid})`],
    ['creator', `${userName(e.cuid)} (uid ${e.cuid}, gid ${e.cgid})`],
  ];
  if (e.kind === 'msg') {
    lines.push(
      ['messages', String(e.messages)],
      ['bytes', `${formatBytes(e.bytes)}${e.bytes >= 1024 ? ` (${e.bytes})` : ''}`],
      ['last send', `${when(e.lastSendTime)}, pid ${pid(e.lastSendPid)}`],
      ['last receive', `${when(e.lastReceiveTime)}, pid ${pid(e.lastReceivePid)}`],
    );
  } else if (e.kind === 'sem') {
    lines.push(['members', String(e.members)], ['last op', when(e.lastOpTime)]);
  } else {
    lines.push(
      ['size', `${formatBytes(e.size)}${e.size >= 1024 ? ` (${e.size})` : ''}`],
      ['attachments', String(e.attachments)],
      ['status', [e.removed ? 'removed (goes at the last detach)' : '', e.locked ? 'locked' : ''].filter(Boolean).join(', ') || '-'],
      ['creator pid', pid(e.creatorPid)],
      ['last pid', pid(e.lastPid)],
      ['last attach', when(e.lastAttachTime)],
      ['last detach', when(e.lastDetachTime)],
    );
    if (e.rss !== undefined) lines.push(['resident', formatBytes(e.rss)]);
    if (e.swap !== undefined) lines.push(['swapped', formatBytes(e.swap)]);
    const look = channelOf(e);
    if (look === null) lines.push(['channel', 'no']);
    else if ('unreadable' in look) lines.push(['channel', `unreadable (${look.unreadable})`]);
    else {
      lines.push(
        ['channel', `yes (layout version 1)${look.removed ? ', removed' : ''}`],
        ['  capacity', `${formatBytes(look.capacity)} ring, messages up to ${formatBytes(look.maxMessageSize)}`],
        ['  queued', `${look.messages} messages, ${formatBytes(look.bytes)} (${formatBytes(look.usedBytes)} of the ring)`],
      );
    }
  }
  lines.push(['changed', when(e.lastChangeTime)]);
  return lines;
}

function cmdStat(args: string[]): number {
  const { values, positionals } = parse('stat', args, { key: { type: 'string' }, json: { type: 'boolean' } });
  if (values.help) return help('stat');
  const kind = parseKind(positionals[0], 'stat');
  const rest = positionals.slice(1);
  const keyArg = values.key as string | undefined;
  if ((keyArg === undefined) === (rest.length === 0)) throw new UsageError('give either one <id> or --key K', 'stat');
  if (rest.length > 1) throw new UsageError('stat takes one id', 'stat');
  const entry =
    keyArg !== undefined ? find(kind, undefined, parseKey(keyArg, 'stat')) : find(kind, parseId(rest[0], 'stat'), undefined);
  if (values.json) {
    json(withChannel(entry));
    return 0;
  }
  const lines = statLines(entry, Date.now());
  const width = Math.max(...lines.map(([label]) => label.length));
  out(`${KIND_NAMES[kind]} ${entry.id}`);
  for (const [label, value] of lines) out(`  ${label.padEnd(width)}  ${value}`);
  return 0;
}

function cmdRm(args: string[]): number {
  const { values, positionals } = parse('rm', args, { key: { type: 'string', multiple: true } });
  if (values.help) return help('rm');
  const kind = parseKind(positionals[0], 'rm');
  const ids = positionals.slice(1).map((v) => parseId(v, 'rm'));
  const keys = ((values.key as string[] | undefined) ?? []).map((v) => parseKey(v, 'rm'));
  if (ids.length === 0 && keys.length === 0) throw new UsageError('give at least one <id> or --key K', 'rm');
  let failed = 0;
  const fail = (what: string, err: unknown) => {
    failed++;
    process.stderr.write(`sysv-ipc: cannot remove ${KIND_NAMES[kind]} ${what}: ${(err as Error).message}\n`);
  };
  for (const id of ids) {
    try {
      remove(kind, id);
      out(`removed ${KIND_NAMES[kind]} ${id}`);
    } catch (err) {
      fail(`${id}`, err);
    }
  }
  for (const key of keys) {
    try {
      const id = removeByKey(kind, key);
      out(`removed ${KIND_NAMES[kind]} ${id} (key ${formatKey(key)})`);
    } catch (err) {
      fail(`with key ${formatKey(key)}`, err);
    }
  }
  return failed === 0 ? 0 : 1;
}

const LIMIT_ROWS: Array<[keyof IpcLimits, string, 'count' | 'bytes' | 'pages']> = [
  ['msgmni', 'message queues system-wide', 'count'],
  ['msgmax', 'largest message', 'bytes'],
  ['msgmnb', 'default queue capacity', 'bytes'],
  ['semmni', 'semaphore sets system-wide', 'count'],
  ['semmsl', 'semaphores per set', 'count'],
  ['semmns', 'semaphores system-wide', 'count'],
  ['semopm', 'operations per semop call', 'count'],
  ['semvmx', 'largest semaphore value', 'count'],
  ['shmmni', 'segments system-wide', 'count'],
  ['shmmax', 'largest segment', 'bytes'],
  ['shmall', 'shared memory system-wide', 'pages'],
  ['pageSize', 'page size', 'bytes'],
];

function cmdLimits(args: string[]): number {
  const { values, positionals } = parse('limits', args, { json: { type: 'boolean' } });
  if (values.help) return help('limits');
  if (positionals.length > 0) throw new UsageError(`unexpected argument '${positionals[0]}'`, 'limits');
  const l = limits();
  if (values.json) {
    json(l);
    return 0;
  }
  // Linux's defaults for shmmax and shmall are near 2^64: "no limit" in practice.
  const huge = (n: number) => n >= 2 ** 53;
  const rows = LIMIT_ROWS.map(([name, what, unit]) => {
    const n = l[name];
    let shown: string;
    if (huge(n)) shown = 'unlimited';
    else if (unit === 'bytes') shown = formatBytes(n);
    else if (unit === 'pages') shown = `${n} pages (${formatBytes(n * l.pageSize)})`;
    else shown = String(n);
    return [name, shown, what];
  });
  out(table(['NAME', 'VALUE', 'MEANING'], rows, [false, false, false]));
  return 0;
}

function cmdBench(args: string[]): number {
  if (args.length === 1 && (args[0] === '--help' || args[0] === '-h')) return help('bench');
  const script = path.join(PACKAGE_ROOT, 'bench', 'run.js');
  if (!existsSync(script)) {
    throw new Error(`the benchmarks are not here (${script} is missing): they ship with the source repository, not the npm package`);
  }
  const result = spawnSync(process.execPath, [script, ...args], { stdio: 'inherit' });
  if (result.error) throw result.error;
  return result.status ?? 1;
}

function help(command = 'main'): number {
  out(HELP[command]);
  return 0;
}

function version(): string {
  return (JSON.parse(readFileSync(path.join(PACKAGE_ROOT, 'package.json'), 'utf8')) as { version: string }).version;
}

const COMMANDS: Record<string, (args: string[]) => number> = {
  ls: cmdLs,
  list: cmdLs,
  stat: cmdStat,
  rm: cmdRm,
  limits: cmdLimits,
  bench: cmdBench,
};

/** Runs the CLI with these arguments and returns the exit code. */
export function main(argv: string[]): number {
  try {
    const [command, ...rest] = argv;
    if (command === undefined || command === '--help' || command === '-h') return help();
    if (command === 'help') {
      const topic = rest[0] === 'list' ? 'ls' : rest[0];
      if (topic !== undefined && !(topic in HELP)) throw new UsageError(`unknown command '${topic}'`);
      return help(topic);
    }
    if (command === '--version' || command === '-v') {
      out(version());
      return 0;
    }
    const run = COMMANDS[command];
    if (!run) throw new UsageError(`unknown command '${command}'`);
    return run(rest);
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
