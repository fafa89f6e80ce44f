/**
 * One System V semaphore (a set of one, or one member of a set) with the
 * friendly surface: acquire/release counts, wait for zero, a `using` lock.
 */
import { binding } from './addon';
import { about } from './errors';
import { SemaphoreSetView } from './semaphore-set-view';
import { IPC_PRIVATE, type Key } from './keys';
import * as check from './validate';
import { parseInitTimeout, parseOpen } from './open-options';
import type { WaitOptions } from './waits';
import { SEMVMX } from './semaphore-limits';
import { createSet, openSet, setById } from './semaphore-open';
import { semopAsync, semopOneNow, semopSync, SetState } from './semop';
import { provideMemberView, SemaphoreSet, type SemaphoreSetInfo, type SyncWaitOptions } from './semaphore-set';

const C = binding.constants;

/** What {@link Semaphore.info} reports: the set's IPC_STAT plus this member's counters. */
export interface SemaphoreInfo extends SemaphoreSetInfo {
  /** Which member of the set this semaphore is. */
  index: number;
  /** The current value (GETVAL). */
  value: number;
  /** The pid of the last process that operated on this member (GETPID; 0 = none). */
  lastPid: number;
  /** Processes (threads) blocked until the value grows (GETNCNT). */
  waitingForNonZero: number;
  /** Processes (threads) blocked until the value is zero (GETZCNT). */
  waitingForZero: number;
}

/** Options of {@link Semaphore.create}. */
export interface SemaphoreCreateOptions {
  /** The key; default {@link IPC_PRIVATE}. */
  key?: Key;
  /** The starting value, 0 to SEMVMX; default 0. */
  initialValue?: number;
  /** Permission bits; default 0o600. */
  mode?: number;
}

/** Options of {@link Semaphore.open}. */
export interface SemaphoreOpenOptions {
  /** Create it if no set has this key (open-or-create, free of the initialisation race). */
  create?: boolean;
  /** The starting value when this call creates it; ignored when it opens an existing one. */
  initialValue?: number;
  /** Permission bits when created; default 0o600. */
  mode?: number;
  /** With `create`: milliseconds to wait for a racing creator to finish initialising; default 5000. */
  initTimeout?: number;
}

/** How much to take, and whether the kernel gives it back if this process dies. */
export interface AcquireSelector {
  /** Units to take, 1 to SEMVMX; default 1. */
  count?: number;
  /** SEM_UNDO: the kernel returns the units when this process exits or is killed. Default false. */
  undo?: boolean;
}

/** Options of {@link Semaphore.acquire}. */
export interface AcquireOptions extends AcquireSelector, WaitOptions {}

/** Options of {@link Semaphore.acquireSync}. */
export interface AcquireSyncOptions extends AcquireSelector, SyncWaitOptions {}

/** Options of {@link Semaphore.release}. */
export interface ReleaseOptions {
  /** SEM_UNDO: record the release so the kernel takes it back when this process exits. Default false. */
  undo?: boolean;
}

/** Options of {@link Semaphore.lock}; `undo` defaults to true there. */
export interface LockOptions extends AcquireOptions {}

/** Options of {@link Semaphore.lockSync}; `undo` defaults to true there. */
export interface LockSyncOptions extends AcquireSyncOptions {}

/**
 * Units taken by {@link Semaphore.lock}: `release()` or leaving a `using`
 * block gives them back, once.
 */
export interface SemaphoreLock extends Disposable {
  /** Gives the units back (idempotent). */
  release(): void;
}

interface ParsedAcquire {
  count: number;
  flags: number;
}

const ONE: ParsedAcquire = { count: 1, flags: 0 };

function parseAcquire(o: Partial<AcquireSelector>, undoDefault: boolean): ParsedAcquire {
  const count = check.optionalInteger('options.count', o.count, 1, SEMVMX, 1);
  const undo = check.optionalBoolean('options.undo', o.undo, undoDefault);
  return { count, flags: undo ? C.SEM_UNDO : 0 };
}

/**
 * A System V semaphore: a counter shared by processes, taken and given back
 * atomically by the kernel.
 *
 * ```ts
 * using sem = Semaphore.open(key, { create: true, initialValue: 3 });
 * await sem.acquire({ undo: true }); // one of three slots; given back if this process dies
 * try { await work(); } finally { sem.release(1, { undo: true }); }
 * ```
 *
 * A `Semaphore` from {@link SemaphoreSet.at} shares its set's handle.
 */
export class Semaphore extends SemaphoreSetView {
  /** This semaphore's member index in {@link Semaphore.semaphoreSet}. */
  readonly index: number;
  // One triple reused by the synchronous paths (the addon copies it before any wait).
  private readonly op = new Int32Array(3);

  private constructor(set: SemaphoreSet, sem: SetState, index: number) {
    super(set, sem);
    this.index = index;
    this.op[0] = index;
  }

  // Member `index` of a set's handle state, with a new SemaphoreSet object on it.
  private static on(sem: SetState, index: number): Semaphore {
    return new Semaphore(SemaphoreSet.of(sem), sem, index);
  }

  static {
    provideMemberView((set, sem, index) => new Semaphore(set, sem, index));
  }

  /**
   * Creates a new semaphore (a set of one; semget with IPC_CREAT | IPC_EXCL).
   * @throws {SysvIpcError} EEXIST if a set with this key exists.
   * @throws {RangeError} an initial value outside 0..SEMVMX.
   */
  static create(options?: SemaphoreCreateOptions): Semaphore {
    const o = check.options('options', options);
    const key = o.key === undefined ? IPC_PRIVATE : check.key('options.key', o.key);
    const value = check.optionalInteger('options.initialValue', o.initialValue, 0, SEMVMX, 0);
    const mode = check.mode('options.mode', o.mode, 0o600);
    return Semaphore.on(new SetState(createSet(key, 1, [value], mode)), 0);
  }

  /**
   * Opens the semaphore with this key (member 0 of its set). With
   * `{ create: true }`, opens or creates it; racing openers never see an
   * uninitialised value (see {@link SemaphoreSet.open}).
   * @throws {SysvIpcError} ENOENT if absent and `create` is not set; ETIMEDOUT if it is never initialised.
   */
  static open(key: Key, options?: SemaphoreOpenOptions): Semaphore {
    const {
      key: k,
      options: o,
      create,
      mode,
    } = parseOpen(key, options, {
      className: 'Semaphore',
      what: 'semaphore',
      privateCreates: false,
    });
    const value = check.optionalInteger('options.initialValue', o.initialValue, 0, SEMVMX, 0);
    const opened = openSet(k, 'semaphore', {
      create,
      size: create ? 1 : undefined,
      values: () => [value],
      mode,
      initTimeout: parseInitTimeout(o.initTimeout),
    });
    return Semaphore.on(new SetState(opened), 0);
  }

  /**
   * Wraps member `index` (default 0) of an existing set by its identifier.
   * @throws {SysvIpcError} EINVAL if no such set.
   */
  static fromId(id: number, index = 0): Semaphore {
    const sem = new SetState(setById(check.ipcId('id', id)));
    return Semaphore.on(sem, sem.checkIndex('index', index));
  }

  private ops(delta: number, flags: number): Int32Array {
    this.op[1] = delta;
    this.op[2] = flags;
    return this.op;
  }

  /**
   * Takes `count` units, waiting (off the event loop) until the value is at least `count`.
   * An abort, timeout or close ends the wait with nothing taken.
   * @throws {SysvIpcError} ETIMEDOUT after `timeout`; EIDRM if the set is removed while waiting.
   */
  acquire(options?: AcquireOptions): Promise<void> {
    try {
      const o = check.options('options', options);
      const a = parseAcquire(o, false);
      const timeout = check.timeout('options.timeout', o.timeout);
      const signal = check.signal('options.signal', o.signal);
      return semopAsync(this.sem, this.ops(-a.count, a.flags), timeout, signal);
    } catch (err) {
      return Promise.reject(err);
    }
  }

  /** Takes `count` units if available now (IPC_NOWAIT): `false` otherwise, nothing taken. */
  tryAcquire(options?: AcquireSelector): boolean {
    const a = options === undefined ? ONE : parseAcquire(check.options('options', options), false);
    return semopOneNow(this.sem, this.index, -a.count, a.flags);
  }

  /**
   * Takes `count` units, blocking the calling thread (semtimedop with `timeout`).
   * @throws {SysvIpcError} ETIMEDOUT; EIDRM.
   */
  acquireSync(options?: AcquireSyncOptions): void {
    const o = check.options('options', options);
    const a = parseAcquire(o, false);
    semopSync(this.sem, this.ops(-a.count, a.flags), check.timeout('options.timeout', o.timeout));
  }

  /**
   * Gives `count` units back (semop with a positive delta; never waits).
   * Pass `undo: true` to pair with an acquire that used it.
   * @throws {SysvIpcError} ERANGE if the value would pass SEMVMX (nothing changes).
   */
  release(count = 1, options?: ReleaseOptions): void {
    const n = check.integer('count', count, 1, SEMVMX);
    const undo =
      options === undefined
        ? false
        : check.optionalBoolean('options.undo', check.options('options', options).undo, false);
    semopOneNow(this.sem, this.index, n, undo ? C.SEM_UNDO : 0);
  }

  /**
   * Waits (off the event loop) until the value is zero (semop with delta 0):
   * a barrier that opens when every participant has taken its unit.
   * @throws {SysvIpcError} ETIMEDOUT; EIDRM.
   */
  waitForZero(options?: WaitOptions): Promise<void> {
    try {
      const o = check.options('options', options);
      const timeout = check.timeout('options.timeout', o.timeout);
      const signal = check.signal('options.signal', o.signal);
      return semopAsync(this.sem, this.ops(0, 0), timeout, signal);
    } catch (err) {
      return Promise.reject(err);
    }
  }

  /** Whether the value is zero now (a wait-for-zero with IPC_NOWAIT). */
  tryWaitForZero(): boolean {
    return semopOneNow(this.sem, this.index, 0, 0);
  }

  /**
   * Blocks the calling thread until the value is zero.
   * @throws {SysvIpcError} ETIMEDOUT; EIDRM.
   */
  waitForZeroSync(options?: SyncWaitOptions): void {
    const o = check.options('options', options);
    semopSync(this.sem, this.ops(0, 0), check.timeout('options.timeout', o.timeout));
  }

  /**
   * The current value (GETVAL). Setting it (SETVAL) wakes waiters that can now
   * proceed and clears every process's undo adjustment for this semaphore.
   */
  get value(): number {
    return about(this.sem.context, () => binding.semGetValue(this.semaphoreSet.id, this.index));
  }

  /** Sets the value (semctl SETVAL; 0 to SEMVMX). Processes waiting on it may wake. */
  set value(v: number) {
    const value = check.integer('value', v, 0, SEMVMX);
    about(this.sem.context, () => binding.semSetValue(this.semaphoreSet.id, this.index, value));
  }

  /**
   * Acquires (with `undo` defaulting to true) and returns a handle that gives
   * the units back when released or disposed:
   *
   * ```ts
   * { using _slot = await sem.lock(); await work(); } // released here, even on throw
   * ```
   */
  async lock(options?: LockOptions): Promise<SemaphoreLock> {
    const o = check.options('options', options);
    const a = parseAcquire(o, true);
    await semopAsync(
      this.sem,
      this.ops(-a.count, a.flags),
      check.timeout('options.timeout', o.timeout),
      check.signal('options.signal', o.signal),
    );
    return this.handle(a);
  }

  /** {@link lock}, blocking the calling thread. */
  lockSync(options?: LockSyncOptions): SemaphoreLock {
    const o = check.options('options', options);
    const a = parseAcquire(o, true);
    semopSync(this.sem, this.ops(-a.count, a.flags), check.timeout('options.timeout', o.timeout));
    return this.handle(a);
  }

  private handle(a: ParsedAcquire): SemaphoreLock {
    let released = false;
    const release = () => {
      if (released) return;
      // Like Mutex.unlock(): units held must stay releasable after close(),
      // so this goes to the kernel directly rather than through the closed handle.
      about(this.sem.context, () =>
        binding.semopOne(this.semaphoreSet.id, this.index, a.count, a.flags | C.IPC_NOWAIT, 0),
      );
      released = true;
    };
    return { release, [Symbol.dispose]: release };
  }

  /** IPC_STAT of the set plus this member's value, last pid and waiter counts. */
  info(): SemaphoreInfo {
    const member = about(this.sem.context, () => binding.semMember(this.semaphoreSet.id, this.index));
    return { ...this.semaphoreSet.info(), index: this.index, ...member };
  }
}
