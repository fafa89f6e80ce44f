/**
 * System V semaphore sets (semget, semop/semtimedop, semctl) as classes:
 * SemaphoreSet, the set itself, and Semaphore, one member of it with the
 * friendly surface (acquire/release counts, wait for zero, a `using` lock).
 * They refer to each other (a set's at() makes a Semaphore; a Semaphore is a
 * face on a set), so they live in one module. The limits are in limits.ts,
 * the race-free open-or-create in open.ts, the handle state in set-state.ts,
 * the semop runners (shared with Mutex) in operations.ts.
 */
import { binding } from '../addon';
import { about } from '../errors';
import { IpcHandle } from '../ipc-handle';
import { IPC_PRIVATE, type Key } from '../keys';
import { parseInitTimeout, parseOpen } from '../open-options';
import { ownershipOf, parseOwnershipChange, statTime, type IpcOwnership, type IpcOwnershipChange } from '../ownership';
import * as check from '../validate';
import type { WaitOptions } from '../waits';
import { checkSize, checkValues, SEMVMX } from './limits';
import { createSet, openSet, setById } from './open';
import {
  encodeOps,
  semopAsync,
  semopNow,
  semopOne,
  semopOneNow,
  semopOneSync,
  semopSync,
  type SemaphoreOperation,
} from './operations';
import { SetState } from './set-state';

export { SEMVMX, semaphoreLimits, type SemaphoreLimits } from './limits';
export type { SemaphoreOperation } from './operations';

const C = binding.constants;

/** What {@link SemaphoreSet.info} reports (IPC_STAT). */
export interface SemaphoreSetInfo extends IpcOwnership {
  /** Number of members. */
  size: number;
  /** Time of the last successful semop (sets made here are stamped at creation: see {@link SemaphoreSet.open}). */
  lastOpTime: Date | null;
  /** Time of the last semctl change (creation, SETVAL, SETALL, IPC_SET). */
  lastChangeTime: Date | null;
}

/** Options of {@link SemaphoreSet.create}. */
export interface SemaphoreSetCreateOptions {
  /** The key; default {@link IPC_PRIVATE}. */
  key?: Key;
  /** Number of members, 1 to SEMMSL. */
  size: number;
  /** One starting value per member (0 to SEMVMX); default all 0. */
  initialValues?: readonly number[];
  /** Permission bits; default 0o600. */
  mode?: number;
}

/** Options of {@link SemaphoreSet.open}. */
export interface SemaphoreSetOpenOptions {
  /** Create the set if no set has this key (open-or-create, free of the initialisation race). */
  create?: boolean;
  /** Members: required with `create`; otherwise, the least the existing set must have (EINVAL if fewer). */
  size?: number;
  /** Starting values when this call creates the set; ignored when it opens an existing one. */
  initialValues?: readonly number[];
  /** Permission bits when created; default 0o600. */
  mode?: number;
  /**
   * With `create`: milliseconds to wait for another process's creation to
   * finish initialising the set before failing with ETIMEDOUT; default 5000.
   */
  initTimeout?: number;
}

/** Fields {@link SemaphoreSet.set} can change (IPC_SET). */
export type SemaphoreSetSetOptions = IpcOwnershipChange;

/** Options of the synchronous waits. */
export interface SyncWaitOptions {
  /** Milliseconds to wait before `ETIMEDOUT`; default forever. */
  timeout?: number;
}

/**
 * A System V semaphore set: `size` counters changed together, atomically.
 *
 * ```ts
 * using set = SemaphoreSet.create({ size: 2, initialValues: [1, 0] });
 * await set.operate([{ index: 0, delta: -1 }, { index: 1, delta: +1 }]); // both or neither
 * set.remove();
 * ```
 *
 * `close()` (or `using`) cancels this process's pending waits; only
 * `remove()` deletes the set from the kernel.
 */
export class SemaphoreSet extends IpcHandle {
  /** Number of members. */
  readonly size: number;
  /** Whether this object's create() or open() call created the set (open-or-create tells who won). */
  readonly created: boolean;
  // The handle state the semop runners take (shared with this set's Semaphore views).
  private readonly sem: SetState;

  private constructor(sem: SetState) {
    super(sem);
    this.sem = sem;
    this.size = sem.size;
    this.created = sem.created;
  }

  /** @internal The set object on a handle state (what Semaphore and Mutex wrap). */
  static of(sem: SetState): SemaphoreSet {
    return new SemaphoreSet(sem);
  }

  /**
   * Creates a new set (semget with IPC_CREAT | IPC_EXCL) with its starting values.
   * @throws {SysvIpcError} EEXIST if a set with this key exists; ENOSPC at the semmni/semmns limits.
   * @throws {RangeError} a size outside 1..SEMMSL, or a value outside 0..SEMVMX.
   */
  static create(options: SemaphoreSetCreateOptions): SemaphoreSet {
    const o = check.options('options', options);
    const key = o.key === undefined ? IPC_PRIVATE : check.key('options.key', o.key);
    const size = checkSize('options.size', o.size);
    const values = checkValues('options.initialValues', o.initialValues, size);
    const mode = check.mode('options.mode', o.mode, 0o600);
    return new SemaphoreSet(new SetState(createSet(key, size, values, mode)));
  }

  /**
   * Opens the set with this key (semget). With `{ create: true }`, opens or
   * creates it without the initialisation race: exactly one of several racing
   * processes creates and initialises; the others wait (up to `initTimeout`)
   * until the creator has finished, so none sees the kernel's zeroed values.
   * @throws {SysvIpcError} ENOENT if absent and `create` is not set; EINVAL if it has fewer than `size` members;
   *   ETIMEDOUT if a set exists but is never initialised.
   */
  static open(key: Key, options?: SemaphoreSetOpenOptions): SemaphoreSet {
    const {
      key: k,
      options: o,
      create,
      mode,
    } = parseOpen(key, options, {
      className: 'SemaphoreSet',
      what: 'set',
      privateCreates: false,
    });
    const size = o.size === undefined ? undefined : checkSize('options.size', o.size);
    const initTimeout = parseInitTimeout(o.initTimeout);
    const values = () => checkValues('options.initialValues', o.initialValues, size ?? 0);
    if (size !== undefined) values(); // validate up front, also when an existing set is opened
    return new SemaphoreSet(new SetState(openSet(k, 'semaphore set', { create, size, values, mode, initTimeout })));
  }

  /**
   * Wraps an existing set by its identifier (checked with IPC_STAT).
   * @throws {SysvIpcError} EINVAL if no such set; EACCES without read permission.
   */
  static fromId(id: number): SemaphoreSet {
    return new SemaphoreSet(new SetState(setById(check.ipcId('id', id))));
  }

  /**
   * Applies every operation atomically, waiting (off the event loop) until all
   * of them can proceed together: all or nothing, as semop(2).
   * @throws {SysvIpcError} ETIMEDOUT after `timeout`; EIDRM if the set is removed while waiting;
   *   ERANGE if a value would pass SEMVMX; E2BIG beyond SEMOPM.
   */
  operate(ops: readonly SemaphoreOperation[], options?: WaitOptions): Promise<void> {
    try {
      const encoded = encodeOps(ops, this.size);
      const o = check.options('options', options);
      return semopAsync(
        this.sem,
        encoded,
        check.timeout('options.timeout', o.timeout),
        check.signal('options.signal', o.signal),
      );
    } catch (err) {
      return Promise.reject(err);
    }
  }

  /** Applies the operations only if all can proceed now (IPC_NOWAIT): `false` otherwise, with nothing changed. */
  tryOperate(ops: readonly SemaphoreOperation[]): boolean {
    return semopNow(this.sem, encodeOps(ops, this.size));
  }

  /**
   * Applies the operations atomically, blocking the calling thread until they can proceed.
   * @throws {SysvIpcError} ETIMEDOUT after `timeout` (semtimedop); EIDRM.
   */
  operateSync(ops: readonly SemaphoreOperation[], options?: SyncWaitOptions): void {
    const encoded = encodeOps(ops, this.size);
    const o = check.options('options', options);
    semopSync(this.sem, encoded, check.timeout('options.timeout', o.timeout));
  }

  /** Every member's value (semctl GETALL). */
  values(): number[] {
    return about(this.sem.context, () => binding.semGetAll(this.id));
  }

  /**
   * Sets every member's value at once (semctl SETALL). Waiters whose
   * operations can now proceed wake; every process's undo adjustments for
   * this set are cleared (semctl(2)).
   * @throws {RangeError} unless exactly one value 0..SEMVMX per member.
   */
  setValues(values: readonly number[]): void {
    const v = Int32Array.from(checkValues('values', values, this.size));
    about(this.sem.context, () => binding.semSetAll(this.id, v));
  }

  /** A {@link Semaphore} view of member `index`, sharing this set's handle (closing either closes both). */
  at(index: number): Semaphore {
    return Semaphore.member(this, this.sem, this.sem.checkIndex('index', index));
  }

  /** IPC_STAT, fresh on each call. */
  info(): SemaphoreSetInfo {
    const s = about(this.sem.context, () => binding.semStat(this.id));
    return {
      ...ownershipOf(this.id, s),
      size: s.size,
      lastOpTime: statTime(s.lastOpTime),
      lastChangeTime: statTime(s.lastChangeTime),
    };
  }

  /**
   * Changes owner or mode (IPC_SET); fields left out stay as they are.
   * @throws {SysvIpcError} EPERM unless owner, creator or privileged.
   */
  set(options: SemaphoreSetSetOptions): void {
    const { mode, uid, gid } = parseOwnershipChange(options);
    about(this.sem.context, () => binding.semSet(this.id, mode, uid, gid));
  }

  /** Deletes the set from the kernel (IPC_RMID). Every process waiting on it wakes with EIDRM. */
  remove(): void {
    about(this.sem.context, () => binding.semRemove(this.id));
  }
}

/**
 * What Semaphore and Mutex add to the handle surface they share with every
 * IpcHandle: both are a friendly face on a SemaphoreSet, on the same handle
 * state (closing either closes both), and hand IPC_SET/IPC_RMID to the set.
 */
export abstract class SemaphoreSetView extends IpcHandle {
  /** The set underneath (a set of one for `create`/`open`). */
  readonly semaphoreSet: SemaphoreSet;
  /** @internal The set's handle state, which the semop runners take. */
  protected readonly sem: SetState;

  protected constructor(semaphoreSet: SemaphoreSet, sem: SetState) {
    super(sem);
    this.semaphoreSet = semaphoreSet;
    this.sem = sem;
  }

  /** Whether this object's create() or open() call created the set (open-or-create tells who won). */
  get created(): boolean {
    return this.sem.created;
  }

  /** Changes owner or mode of the set (IPC_SET). */
  set(options: SemaphoreSetSetOptions): void {
    this.semaphoreSet.set(options);
  }

  /** Deletes the whole set from the kernel (IPC_RMID); waiters in every process wake with EIDRM. */
  remove(): void {
    this.semaphoreSet.remove();
  }
}

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
  // One triple reused by the waits that take a typed array (the addon copies it before any wait).
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

  /** @internal Member `index` of `set`, on the set's handle state (what {@link SemaphoreSet.at} returns). */
  static member(set: SemaphoreSet, sem: SetState, index: number): Semaphore {
    return new Semaphore(set, sem, index);
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
    semopOneSync(this.sem, this.index, -a.count, a.flags, check.timeout('options.timeout', o.timeout));
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
    semopOneSync(this.sem, this.index, 0, 0, check.timeout('options.timeout', o.timeout));
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
    semopOneSync(this.sem, this.index, -a.count, a.flags, check.timeout('options.timeout', o.timeout));
    return this.handle(a);
  }

  private handle(a: ParsedAcquire): SemaphoreLock {
    let released = false;
    const release = () => {
      if (released) return;
      // Like Mutex.unlock(): units held must stay releasable after close(),
      // so this goes to the kernel directly rather than through the closed handle.
      about(this.sem.context, () => semopOne(this.semaphoreSet.id, this.index, a.count, a.flags | C.IPC_NOWAIT, 0));
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
