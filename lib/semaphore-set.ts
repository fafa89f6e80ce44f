/**
 * System V semaphore sets (semget, semop/semtimedop, semctl) as a class.
 * The limits live in semaphore-limits.ts, the race-free open-or-create in
 * semaphore-open.ts, the semop runners (shared with Semaphore and Mutex) in
 * semop.ts.
 */
import { binding } from './addon';
import { about } from './errors';
import { IPC_PRIVATE, type Key } from './keys';
import { statTime } from './kernel';
import { ownershipOf, parseOwnershipChange, type IpcOwnership, type IpcOwnershipChange } from './ownership';
import * as check from './validate';
import { parseInitTimeout, parseOpen } from './open-options';
import { IpcHandle } from './ipc-handle';
import type { WaitOptions } from './waits';
import { checkSize, checkValues } from './semaphore-limits';
import { createSet, openSet, setById } from './semaphore-open';
import { encodeOps, semopAsync, semopNow, semopSync, SetState, type SemaphoreOperation } from './semop';
import type { Semaphore } from './semaphore';

export { SEMVMX, semaphoreLimits, type SemaphoreLimits } from './semaphore-limits';
export type { SemaphoreOperation } from './semop';

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

// SemaphoreSet.at() returns a Semaphore, but semaphore.ts (a Semaphore is a
// face on a set) imports this module; importing it back would close a cycle.
// So semaphore.ts hands over how to make a member view when it loads (index.ts
// loads both before any call).
type MemberView = (set: SemaphoreSet, state: SetState, index: number) => Semaphore;
let memberView: MemberView | undefined;

/** @internal Called once, by semaphore.ts. */
export function provideMemberView(make: MemberView): void {
  memberView = make;
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
    const i = this.sem.checkIndex('index', index);
    if (memberView === undefined)
      throw new Error('SemaphoreSet.at() needs lib/semaphore.ts loaded (index.ts loads it)');
    return memberView(this, this.sem, i);
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
