/**
 * Shared test plumbing: tracking every kernel object a test makes (removed in
 * afterEach even when the test fails), random keys, and child processes.
 */
import { fork, spawnSync, type ChildProcess, type SpawnSyncReturns } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { once } from 'node:events';
import { closeSync, openSync, readdirSync, readFileSync, readSync } from 'node:fs';

interface Removable {
  remove(): void;
  close?(): void;
}

const tracked = new Set<Removable>();
const children = new Set<ChildProcess>();

/** Registers an object for removal after the current test; returns it. */
export function track<T extends Removable>(obj: T): T {
  tracked.add(obj);
  record(obj);
  return obj;
}

/**
 * Writes the object to the suite's ledger (the file global-setup names in
 * SYSV_IPC_TEST_LEDGER), as "kind:id:key" like /proc/sysvipc shows it, so that
 * global-teardown can fail the run when one of the suite's own objects is
 * still in the kernel, without counting other programs' objects on a shared
 * machine. Objects a test removes itself without tracking them can be named
 * with this too.
 */
export function record(obj: object): void {
  const ledger = process.env.SYSV_IPC_TEST_LEDGER;
  if (!ledger) return;
  const { id, key } = obj as { id?: unknown; key?: unknown };
  if (typeof id !== 'number' || typeof key !== 'number') return;
  let kind: string | undefined;
  for (let p = Object.getPrototypeOf(obj); p && !kind; p = Object.getPrototypeOf(p)) {
    const name = (p.constructor as { name?: string } | undefined)?.name ?? '';
    if (name === 'MessageQueue') kind = 'msg';
    // A Channel and a FastMutex live in a shared memory segment of their own.
    else if (['SharedMemory', 'Channel', 'FastMutex', 'SharedMap', 'Topic'].includes(name)) kind = 'shm';
    else if (['SemaphoreSet', 'SemaphoreSetView', 'Semaphore', 'Mutex'].includes(name)) kind = 'sem';
  }
  if (!kind) throw new Error(`record(): cannot tell the kind of ${String(obj)}`);
  fs.appendFileSync(ledger, `${kind}:${id}:${key | 0}\n`); // /proc/sysvipc prints the key as a signed int
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
    try {
      obj.close?.();
    } catch {
      /* already closed */
    }
    try {
      obj.remove();
    } catch (err) {
      const code = (err as { code?: string }).code;
      if (code !== 'EINVAL' && code !== 'EIDRM') throw err;
    }
  }
  tracked.clear();
}

/**
 * One more object on `ch`'s segment (closed and removed after the test).
 * The send()s of one Channel object queue behind each other (per-producer
 * order): tests of parked sends give each send an object of its own, so
 * that they park side by side.
 */
export function own<T extends Removable & { id: number }>(ch: T): T {
  const ctor = ch.constructor as unknown as { fromId(id: number): T };
  return track(ctor.fromId(ch.id));
}

/** Installs the cleanup for the calling test file. */
export function useCleanup(): void {
  afterEach(cleanup);
}

/** A random non-private key, unlikely to collide with other programs. */
export function randomKey(): number {
  return 0x10000000 + Math.floor(Math.random() * 0x6fffffff);
}

const ROOT = path.join(__dirname, '..', '..');
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
  for (const rel of [
    'package.json',
    'dist',
    'prebuilds',
    'build/Release/sysv_ipc.node',
    'node_modules/node-gyp-build',
    'test/fixtures',
  ])
    copy(rel);
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
      if (w) w(m);
      else this.inbox.push(m);
    });
    this.exited = new Promise((resolve) => {
      this.proc.on('exit', (code, signal) => resolve({ code, signal }));
    });
  }

  /**
   * The next message the child sends (rejects if its IPC channel closes first).
   * It waits for 'disconnect', not 'exit': 'exit' can come before the child's
   * last messages are read from the channel, which made a child that sent its
   * result and exited look as if it had sent nothing.
   */
  next<T = unknown>(): Promise<T> {
    if (this.inbox.length > 0) return Promise.resolve(this.inbox.shift() as T);
    const gone = () =>
      new Error(
        `child closed its IPC channel (exit code ${this.proc.exitCode}, signal ${this.proc.signalCode}) before sending a message`,
      );
    if (!this.proc.connected) return Promise.reject(gone());
    return new Promise<T>((resolve, reject) => {
      const onDisconnect = () => {
        const i = this.waiters.indexOf(deliver);
        if (i >= 0) this.waiters.splice(i, 1);
        reject(gone());
      };
      const deliver = (m: unknown) => {
        this.proc.off('disconnect', onDisconnect);
        resolve(m as T);
      };
      this.proc.once('disconnect', onDisconnect);
      this.waiters.push(deliver);
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
  x64: { msgsnd: 69, msgrcv: 70, semop: 65, semtimedop: 220, futex: 202, futex_waitv: 449 },
  arm64: { msgsnd: 189, msgrcv: 188, semop: 193, semtimedop: 192, futex: 98, futex_waitv: 449 },
};

/**
 * How many threads of process `pid` are blocked in `syscall` right now, read
 * from /proc/<pid>/task/<tid>/syscall. This lets a test wait until a waiter
 * is really parked in the kernel before it acts, instead of sleeping.
 */
export function threadsBlockedIn(
  pid: number,
  syscall: 'msgsnd' | 'msgrcv' | 'semop' | 'semtimedop' | 'futex' | 'futex_waitv',
): number {
  return tidsBlockedIn(pid, syscall).length;
}

/** The thread ids of process `pid` blocked in `syscall` right now (see threadsBlockedIn). */
export function tidsBlockedIn(pid: number, syscall: Parameters<typeof threadsBlockedIn>[1]): number[] {
  const nr = SYSCALLS[process.arch]?.[syscall];
  if (nr === undefined) throw new Error(`no syscall table for ${process.arch}`);
  const found: number[] = [];
  let tasks: string[];
  try {
    tasks = readdirSync(`/proc/${pid}/task`);
  } catch {
    return found;
  }
  for (const tid of tasks) {
    try {
      const first = readFileSync(`/proc/${pid}/task/${tid}/syscall`, 'utf8').split(' ')[0];
      if (Number(first) === nr) found.push(Number(tid));
    } catch {
      // the thread ended meanwhile
    }
  }
  return found;
}

/** The signals thread `tid` of `pid` blocks (SigBlk in /proc/<pid>/task/<tid>/status), as signal numbers. */
export function blockedSignals(pid: number, tid: number): Set<number> {
  const status = readFileSync(`/proc/${pid}/task/${tid}/status`, 'utf8');
  const hex = /^SigBlk:\s*([0-9a-f]+)$/m.exec(status)?.[1];
  if (hex === undefined) throw new Error(`no SigBlk in /proc/${pid}/task/${tid}/status`);
  const mask = BigInt(`0x${hex}`);
  const out = new Set<number>();
  for (let sig = 1; sig <= 64; sig++) if ((mask >> BigInt(sig - 1)) & 1n) out.add(sig);
  return out;
}

/**
 * How many waits of `pid` sleep on word `index` of the System V segment
 * `shmid` as that process maps it: threads in futex() on it, and entries for
 * it in the futex_waitv(2) sets of the addon's parker threads (one thread
 * sleeps there for up to 127 waits). The segment's address comes from
 * /proc/<pid>/maps (a SysV mapping's inode is its shmid); futex()'s address
 * is the first argument in /proc/<pid>/task/<tid>/syscall, futex_waitv's
 * first two are its array of struct futex_waitv { u64 val; u64 uaddr; u32
 * flags; u32 reserved; } and their number, read from /proc/<pid>/mem. Other
 * futex sleepers of the process (V8, libuv) wait elsewhere and do not count.
 */
export function threadsInFutexOn(pid: number, shmid: number, index: number): number {
  const bases: bigint[] = [];
  for (const line of readFileSync(`/proc/${pid}/maps`, 'utf8').split('\n')) {
    const f = line.split(/\s+/);
    if (f.length >= 6 && f[5].startsWith('/SYSV') && Number(f[4]) === shmid)
      bases.push(BigInt(`0x${f[0].split('-')[0]}`));
  }
  const targets = new Set(bases.map((b) => b + BigInt(index * 4)));
  let count = 0;
  for (const tid of tidsBlockedIn(pid, 'futex')) {
    try {
      const arg = readFileSync(`/proc/${pid}/task/${tid}/syscall`, 'utf8').split(' ')[1];
      if (targets.has(BigInt(arg))) count++;
    } catch {
      // the thread ended meanwhile
    }
  }
  for (const tid of tidsBlockedIn(pid, 'futex_waitv')) {
    let fd = -1;
    try {
      const args = readFileSync(`/proc/${pid}/task/${tid}/syscall`, 'utf8').split(' ');
      const n = Number(BigInt(args[2]));
      if (n <= 0 || n > 128) continue;
      const entries = Buffer.alloc(24 * n);
      fd = openSync(`/proc/${pid}/mem`, 'r');
      readSync(fd, entries, 0, entries.length, BigInt(args[1]));
      for (let i = 0; i < n; i++) if (targets.has(entries.readBigUInt64LE(24 * i + 8))) count++;
    } catch {
      // the thread moved on meanwhile (its array may be gone)
    } finally {
      if (fd >= 0) closeSync(fd);
    }
  }
  return count;
}

/** Waits until `n` threads of `pid` are blocked in `syscall`. */
export function untilBlocked(pid: number, syscall: Parameters<typeof threadsBlockedIn>[1], n = 1): Promise<void> {
  return until(() => threadsBlockedIn(pid, syscall) >= n, 10000, `${n} thread(s) of ${pid} blocked in ${syscall}`);
}

/**
 * The kernel's System V limits read straight from /proc/sys/kernel, independent
 * of the package. shmmax and shmall are near 2^64 by default, beyond exact JS
 * numbers: compare them with {@link nearly}.
 */
export function procLimits(): Record<
  'msgmni' | 'msgmax' | 'msgmnb' | 'semmsl' | 'semmns' | 'semopm' | 'semmni' | 'shmmni' | 'shmmax' | 'shmall',
  number
> {
  const read = (name: string) => readFileSync(`/proc/sys/kernel/${name}`, 'utf8').trim();
  const [semmsl, semmns, semopm, semmni] = read('sem').split(/\s+/).map(Number);
  return {
    msgmni: Number(read('msgmni')),
    msgmax: Number(read('msgmax')),
    msgmnb: Number(read('msgmnb')),
    semmsl,
    semmns,
    semopm,
    semmni,
    shmmni: Number(read('shmmni')),
    shmmax: Number(read('shmmax')),
    shmall: Number(read('shmall')),
  };
}

/**
 * The package loaded from lib/ (test/fixtures/load-lib.js), for `require()` in
 * a child's script: a child that loads dist/ never sees a mutant of lib/.
 */
export const LOAD_LIB = path.join(__dirname, '..', 'fixtures', 'load-lib.js');

/**
 * Runs `command` in a new IPC namespace (`unshare -i`, root here): its kernel
 * limits (/proc/sys/kernel/shm*, sem, msg*) are private to it, and so are the
 * objects it makes, which vanish with it. Returns null (and says so) where no
 * namespace can be made (no CAP_SYS_ADMIN, no util-linux).
 */
export function runInPrivateIpcNamespace(command: string[]): SpawnSyncReturns<string> | null {
  const r = spawnSync('unshare', ['-i', ...command], { encoding: 'utf8', timeout: 30000 });
  if (r.error || (r.status !== 0 && /unshare failed|Operation not permitted/.test(r.stderr))) {
    console.warn(
      `unshare -i is not available here: the private-namespace case is not exercised (${r.error?.message ?? r.stderr.trim()})`,
    );
    return null;
  }
  return r;
}

/** Runs `node -e script` in a new IPC namespace (runInPrivateIpcNamespace) whose kernel.shmmax is `shmmax`. */
export function runWithShmmax(shmmax: number, script: string): SpawnSyncReturns<string> | null {
  return runInPrivateIpcNamespace([
    'sh',
    '-c',
    `echo ${shmmax} > /proc/sys/kernel/shmmax && exec "$0" -e "$1"`,
    process.execPath,
    script,
  ]);
}

/**
 * Why a /proc mounted hidepid=2 cannot be had here ('' when it can): the
 * argv prefix from hidepidAs() runs a command in a mount namespace of its
 * own with such a proc mount (needs root: CAP_SYS_ADMIN), as `uid`.
 */
export const hidepidUnavailable: string = (() => {
  if (process.getuid?.() !== 0) return 'not root (a proc mount needs CAP_SYS_ADMIN)';
  const r = spawnSync('unshare', ['-m', 'sh', '-c', 'mount -t proc -o hidepid=2 proc /proc'], { encoding: 'utf8' });
  if (r.error) return `unshare: ${r.error.message}`;
  return r.status === 0 ? '' : `the kernel refused the hidepid=2 proc mount: ${r.stderr.trim()}`;
})();
/** argv that runs `program ...args` under a /proc mounted hidepid=2, as `uid` (see hidepidUnavailable). */
export function hidepidAs(uid: number, program: string, ...args: string[]): string[] {
  const as = `setpriv --reuid=${uid} --regid=${uid} --clear-groups`;
  return [
    'unshare',
    '-m',
    'sh',
    '-c',
    `mount -t proc -o hidepid=2 proc /proc && exec ${as} "$0" "$@"`,
    program,
    ...args,
  ];
}

/** Whether `actual` is within a relative 1e-9 of `expected` (for limits near 2^64). */
export function nearly(actual: number, expected: number): boolean {
  return actual === expected || Math.abs(actual - expected) / Math.abs(expected) < 1e-9;
}

/**
 * The addon's test probes (waiterThreads, shmRefuseExternalBuffers,
 * shmLiveAttachments, chLiveHandles). The dev/CI build compiles them
 * (`npm run compile:native`); the shipped prebuilds do not (binding.gyp,
 * sysv_ipc_test_probes). A probe that is missing throws, so a test that
 * uses one fails rather than passes silently.
 */
export interface TestProbes {
  waiterThreads(): number;
  undeliveredResults(): number;
  futexParker(on?: boolean): boolean;
  /** With ms (1-10000): the next parker turn about to sleep with waits pauses ms first, once. Returns 0 idle, 1 armed, 2 pausing, 3 done. */
  parkerPauseBeforeSleep(ms?: number): number;
  shmRefuseExternalBuffers(on: boolean): void;
  shmLiveAttachments(): number;
  chLiveHandles(): number;
  fastMutexPauseAfterTake(on: boolean): void;
  channelOpenPauses(afterCreateMs: number, afterBlankLookMs: number): void;
  watchdogPauses(leaveMs: number, signalMs: number): void;
}
/**
 * Declares `body`'s tests twice, each in a describe of its own: waits parked in shared parker
 * threads (futex_waitv), and one thread per wait (the path of kernels without futex_waitv, the test
 * probe futexParker(false)). `skip()` is true where the parker mode cannot run here (a test returns
 * early). The parker is switched back on after. Call it inside a describeIfProbes.
 */
export function describeEachParkerMode(body: (parker: boolean, skip: () => boolean) => void): void {
  // Read at declaration, before any beforeAll switches the parker off.
  const haveWaitv = haveFutexWaitv();
  afterAll(() => {
    probes.futexParker(true);
  });
  describe.each([
    ['in a shared parker', true],
    ['one thread per wait (no futex_waitv)', false],
  ])('%s', (_name, parker) => {
    beforeAll(() => {
      probes.futexParker(parker);
    });
    body(parker, () => parker && !haveWaitv);
  });
}

/** Whether the suite runs against the shipped prebuild only (scripts/ci-node-matrix.sh). */
export const PREBUILDS_ONLY = process.env.PREBUILDS_ONLY === '1';
export const probes: TestProbes = new Proxy({} as TestProbes, {
  get(_target, name: string) {
    // Loaded on first use: a test file that needs no probe never loads the addon here.
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const { binding } = require('../../lib/binding') as { binding: Record<string, unknown> };
    const fn = binding[name];
    if (typeof fn !== 'function') {
      throw new Error(
        `the addon has no test probe ${name}: build it with \`npm run compile:native\` (sysv_ipc_test_probes)`,
      );
    }
    return fn.bind(binding);
  },
});
/**
 * Whether async futex waits park in shared threads here (futex_waitv, and
 * the parker switched on: the test probe futexParker). Ask at a test file's
 * load, before it switches the parker off; false without probes.
 */
export function haveFutexWaitv(): boolean {
  try {
    return probes.futexParker();
  } catch {
    return false;
  }
}

/** A promise whose settlement can be looked at without awaiting it. */
export function watch<T>(p: Promise<T>) {
  const w = { done: false, value: undefined as T | undefined, error: undefined as unknown, p };
  p.then(
    (v) => {
      w.done = true;
      w.value = v;
    },
    (e: unknown) => {
      w.done = true;
      w.error = e;
    },
  );
  return w;
}

/** Whether a C compiler (`cc`) is there to build the C peers (tests that need one are skipped without it). */
export const haveCc: boolean = spawnSync('cc', ['--version'], { stdio: 'ignore' }).status === 0;

/**
 * `test` when `condition` holds; otherwise `test.skip`, with the reason added
 * to the test's name (`… [skipped: no C compiler (cc)]`), so that jest's list
 * of skipped tests says why each one did not run.
 */
export function testIf(condition: boolean, why: string): jest.It {
  if (condition) return test;
  return Object.assign(
    (name: string, fn?: jest.ProvidesCallback, timeout?: number) => test.skip(`${name} [skipped: ${why}]`, fn, timeout),
    test.skip,
  ) as jest.It;
}

/** `describe` likewise: every test inside is skipped, and the block's name says why. */
export function describeIf(condition: boolean, why: string): jest.Describe {
  if (condition) return describe;
  return Object.assign(
    (name: string, fn: jest.EmptyFunction) => describe.skip(`${name} [skipped: ${why}]`, fn),
    describe.skip,
  ) as jest.Describe;
}

const NO_PROBES = 'the shipped prebuild (PREBUILDS_ONLY=1) has no test probes';
/**
 * `test` for a test that needs the probes: skipped (visibly, saying why) only
 * where the suite runs against the shipped prebuild (PREBUILDS_ONLY=1), which
 * has none; everywhere else it runs, and fails if the probes are missing.
 */
export const testIfProbes: jest.It = testIf(!PREBUILDS_ONLY, NO_PROBES);
/** `describe` likewise. */
export const describeIfProbes: jest.Describe = describeIf(!PREBUILDS_ONLY, NO_PROBES);
