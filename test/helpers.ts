/**
 * Shared test plumbing: tracking every kernel object a test makes (removed in
 * afterEach even when the test fails), random keys, and child processes.
 */
import { fork, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { once } from 'node:events';
import { readdirSync, readFileSync } from 'node:fs';

interface Removable {
  remove(): void;
  close?(): void;
}

const tracked = new Set<Removable>();
const children = new Set<ChildProcess>();

/** Registers an object for removal after the current test; returns it. */
export function track<T extends Removable>(obj: T): T {
  tracked.add(obj);
  return obj;
}

/** Removes every tracked object and kills every child (called from afterEach). */
export async function cleanup(): Promise<void> {
  for (const child of children) {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGKILL');
      await once(child, 'exit').catch(() => undefined);
    }
  }
  children.clear();
  for (const obj of tracked) {
    try { obj.close?.(); } catch { /* already closed */ }
    try {
      obj.remove();
    } catch (err) {
      const code = (err as { code?: string }).code;
      if (code !== 'EINVAL' && code !== 'EIDRM') throw err;
    }
  }
  tracked.clear();
}

/** Installs the cleanup for the calling test file. */
export function useCleanup(): void {
  afterEach(cleanup);
}

/** A random non-private key, unlikely to collide with other programs. */
export function randomKey(): number {
  return 0x10000000 + Math.floor(Math.random() * 0x6fffffff);
}

const ROOT = path.join(__dirname, '..');
let foreignRoot: string | undefined;

/**
 * The package root a process running as `uid` can read. Tests run children as
 * uid 65534 to see EACCES/EPERM (root bypasses permission bits), but the
 * checkout may sit in a directory only root can enter (a 0700 temp dir, /root):
 * such children get a world-readable copy of what they load — package.json,
 * dist/, the addon, node-gyp-build and the fixtures — made once per process.
 */
export function packageRootFor(uid?: number): string {
  if (uid === undefined || uid === process.getuid?.()) return ROOT;
  if (foreignRoot) return foreignRoot;
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sysv-ipc-foreign-'));
  fs.chmodSync(dir, 0o755);
  const copy = (rel: string) => {
    if (fs.existsSync(path.join(ROOT, rel))) fs.cpSync(path.join(ROOT, rel), path.join(dir, rel), { recursive: true });
  };
  for (const rel of ['package.json', 'dist', 'prebuilds', 'build/Release/sysv_ipc.node', 'node_modules/node-gyp-build', 'test/fixtures']) copy(rel);
  // cpSync keeps the source modes; make every directory enterable and every file readable.
  const open = (p: string) => {
    const st = fs.statSync(p);
    fs.chmodSync(p, st.isDirectory() ? 0o755 : st.mode | 0o444);
    if (st.isDirectory()) for (const e of fs.readdirSync(p)) open(path.join(p, e));
  };
  open(dir);
  process.on('exit', () => fs.rmSync(dir, { recursive: true, force: true }));
  foreignRoot = dir;
  return dir;
}

/**
 * A forked child running test/fixtures/<name>.js with `args`, with helpers to
 * wait for its messages (process.send) and its exit.
 */
export class Child {
  readonly proc: ChildProcess;
  private readonly inbox: unknown[] = [];
  private readonly waiters: Array<(m: unknown) => void> = [];
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;

  constructor(name: string, args: Array<string | number> = [], options: { uid?: number; gid?: number } = {}) {
    const root = packageRootFor(options.uid);
    this.proc = fork(path.join(root, 'test', 'fixtures', `${name}.js`), args.map(String), {
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
      cwd: root,
      ...options,
    });
    children.add(this.proc);
    this.proc.on('message', (m) => {
      const w = this.waiters.shift();
      if (w) w(m); else this.inbox.push(m);
    });
    this.exited = new Promise((resolve) => {
      this.proc.on('exit', (code, signal) => resolve({ code, signal }));
    });
  }

  /** The next message the child sends (rejects if it exits first). */
  next<T = unknown>(): Promise<T> {
    if (this.inbox.length > 0) return Promise.resolve(this.inbox.shift() as T);
    return new Promise<T>((resolve, reject) => {
      const onExit = (code: number | null, signal: string | null) =>
        reject(new Error(`child exited (code ${code}, signal ${signal}) before sending a message`));
      this.proc.once('exit', onExit);
      this.waiters.push((m) => {
        this.proc.off('exit', onExit);
        resolve(m as T);
      });
    });
  }

  send(message: unknown): void {
    this.proc.send(message as never);
  }

  kill(signal: NodeJS.Signals = 'SIGKILL'): void {
    this.proc.kill(signal);
  }
}

/** Resolves after `ms` milliseconds. */
export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** Polls `predicate` until it is true (or fails after `ms`). For waiting on another process's state. */
export async function until(predicate: () => boolean, ms = 10000, what = 'condition'): Promise<void> {
  const end = Date.now() + ms;
  while (!predicate()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(5);
  }
}

// Syscall numbers, to see from /proc which call a thread is blocked in.
const SYSCALLS: Record<string, Record<string, number>> = {
  x64: { msgsnd: 69, msgrcv: 70, semop: 65, semtimedop: 220, futex: 202 },
  arm64: { msgsnd: 189, msgrcv: 188, semop: 193, semtimedop: 192, futex: 98 },
};

/**
 * How many threads of process `pid` are blocked in `syscall` right now, read
 * from /proc/<pid>/task/<tid>/syscall. This lets a test wait until a waiter
 * is really parked in the kernel before it acts, instead of sleeping.
 */
export function threadsBlockedIn(pid: number, syscall: 'msgsnd' | 'msgrcv' | 'semop' | 'semtimedop' | 'futex'): number {
  const nr = SYSCALLS[process.arch]?.[syscall];
  if (nr === undefined) throw new Error(`no syscall table for ${process.arch}`);
  let count = 0;
  let tasks: string[];
  try {
    tasks = readdirSync(`/proc/${pid}/task`);
  } catch {
    return 0;
  }
  for (const tid of tasks) {
    try {
      const first = readFileSync(`/proc/${pid}/task/${tid}/syscall`, 'utf8').split(' ')[0];
      if (Number(first) === nr) count++;
    } catch {
      // the thread ended meanwhile
    }
  }
  return count;
}

/** Waits until `n` threads of `pid` are blocked in `syscall`. */
export function untilBlocked(pid: number, syscall: Parameters<typeof threadsBlockedIn>[1], n = 1): Promise<void> {
  return until(() => threadsBlockedIn(pid, syscall) >= n, 10000, `${n} thread(s) of ${pid} blocked in ${syscall}`);
}
