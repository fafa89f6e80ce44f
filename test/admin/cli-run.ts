/**
 * Running the `sysv-ipc` command as a real child process (dist/cli/index.js,
 * as npm's bin link runs it), for the CLI tests of this folder.
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { packageRootFor } from '../support/helpers';

export interface Run {
  status: number | null;
  stdout: string;
  stderr: string;
  /** The CLI's pid (what the kernel records as last pid when it attaches). */
  pid: number;
}

export const CLI = path.join(__dirname, '..', '..', 'dist', 'cli', 'index.js');

/** Runs the CLI; stdin is a pipe (not a terminal) fed with `input`, closed at once without. */
export function cli(args: string[], options: { uid?: number; gid?: number; input?: string } = {}): Run {
  const { input, ...ids } = options;
  // Another uid runs the CLI from a copy it can read (see packageRootFor).
  const file = path.join(packageRootFor(ids.uid), 'dist', 'cli', 'index.js');
  const r = spawnSync(process.execPath, [file, ...args], {
    encoding: 'utf8',
    cwd: packageRootFor(ids.uid),
    input: input ?? '',
    ...ids,
  });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr, pid: r.pid ?? 0 };
}

/** A key as ipcs prints it. */
export const hex = (key: number) => `0x${(key >>> 0).toString(16).padStart(8, '0')}`;

/** A failure as the CLI must report it: exit code, one line on stderr, no stack. */
export function expectOneLineError(r: Run, status: number, pattern: RegExp): void {
  expect(r.status).toBe(status);
  expect(r.stderr).toMatch(/^sysv-ipc: [^\n]+\n$/);
  expect(r.stderr).toMatch(pattern);
  expect(r.stderr).not.toMatch(/\n\s+at /);
}

/** The row of `ls` (a section of its output) for object `id`, split into cells. */
export function rowOf(out: string, id: number): string[] | undefined {
  return out
    .split('\n')
    .find((line) => line.split(/\s+/)[1] === String(id))
    ?.split(/\s{2,}/);
}

/** The header of the table that has the row for object `id`, split into cells. */
export function headerOf(out: string, id: number): string[] {
  const lines = out.split('\n');
  const at = lines.findIndex((line) => line.split(/\s+/)[1] === String(id));
  for (let i = at; i >= 0; i--) if (lines[i].startsWith('KEY ')) return lines[i].split(/\s{2,}/);
  throw new Error(`no table header above the row of ${id}`);
}

/** `ls` cell by column name for object `id`. */
export function cellOf(out: string, id: number, column: string): string | undefined {
  const header = headerOf(out, id);
  const i = header.indexOf(column);
  if (i < 0) throw new Error(`no column ${column} in ${header.join('|')}`);
  return rowOf(out, id)?.[i];
}

/** A segment's row in /proc/sysvipc/shm, read here rather than through the package. */
export function procShm(id: number): Record<string, string> {
  const [head, ...lines] = fs.readFileSync('/proc/sysvipc/shm', 'utf8').trim().split('\n');
  const names = head.trim().split(/\s+/);
  for (const line of lines) {
    const fields = line.trim().split(/\s+/);
    if (Number(fields[names.indexOf('shmid')]) === id) return Object.fromEntries(names.map((n, i) => [n, fields[i]]));
  }
  throw new Error(`no segment ${id} in /proc/sysvipc/shm`);
}
