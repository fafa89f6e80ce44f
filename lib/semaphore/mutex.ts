/**
 * A crash-safe inter-process mutex: a binary System V semaphore whose lock is
 * taken with SEM_UNDO, so the kernel releases it when a holder dies, and a
 * second member that says so to the next holder.
 *
 * The set has two members. Member 0 is the lock (1 = free). Member 1 counts
 * holders: lock() takes member 0 *with* SEM_UNDO and raises member 1
 * *without* it, in one atomic semop; unlock() does the reverse, also in one.
 * When a holder dies, the kernel's undo gives member 0 back but leaves member
 * 1 raised (semop(2): only operations with SEM_UNDO are undone at exit), so
 * the next holder finds member 1 above its own 1: the last holder died.
 */
import { constants as osConstants } from 'node:os';
import { binding } from '../addon';
import { about, MutexNotHeldError, naming, SysvIpcError } from '../errors';
import { IPC_PRIVATE, type Key } from '../keys';
import * as check from '../validate';
import { parseInitTimeout, parseOpen } from '../open-options';
import type { WaitOptions } from '../waits';
import { createSet, openSet, setById } from './open';
import { semopAsync, semopNow, semopSync } from './operations';
import { SemaphoreSet, SemaphoreSetView, type SemaphoreInfo, type SyncWaitOptions } from './semaphore';
import { SetState } from './set-state';

const C = binding.constants;
const { EACCES } = osConstants.errno;

// The operations, as [index, delta, flags] triples (operations.ts). The
// protocol's: the holder count (member 1) moves with the lock, never undone.
const LOCK = (): Int32Array => Int32Array.of(0, -1, C.SEM_UNDO, 1, 1, 0);
const UNLOCK = (): Int32Array => Int32Array.of(0, 1, C.SEM_UNDO, 1, -1, 0);
// The uncontended lock in one syscall: taken only while member 1 is 0 (no
// dead holder to report), since the operations apply in order, all or none.
// A wait cannot use it (it would wait for the report to be cleared), hence
// LOCK then a look at member 1 when this one would block.
const LOCK_CLEAN = (): Int32Array => Int32Array.of(1, 0, 0, 0, -1, C.SEM_UNDO, 1, 1, 0);
// A set of one (made by an older version of this package or another
// program): member 0 alone, as before, and no report.
const LOCK_PLAIN = (): Int32Array => Int32Array.of(0, -1, C.SEM_UNDO);
const UNLOCK_PLAIN = (): Int32Array => Int32Array.of(0, 1, C.SEM_UNDO);

/** What {@link Mutex.lock}, {@link Mutex.lockSync} and {@link Mutex.tryLock} give, as FastMutex's. */
export interface MutexLockResult {
  /**
   * True when the previous holder died holding the lock (killed, crashed, or
   * exited without unlocking; the kernel released it): the data it guards
   * may be half-updated. Check or repair it before unlocking. Reported to one
   * holder only. Always false for a mutex that cannot tell
   * ({@link Mutex.reportsOwnerDied}).
   */
  readonly ownerDied: boolean;
}

// Shared result objects, as FastMutex's.
const ALIVE: MutexLockResult = Object.freeze({ ownerDied: false });
const DIED: MutexLockResult = Object.freeze({ ownerDied: true });

// Mutexes (by semid) this process holds. The kernel's undo record belongs to
// the process, so ownership does too: shared by every Mutex object of this
// environment that names the same set, whichever async task took the lock.
const held = new Set<number>();

export { MutexNotHeldError };

/** Options of {@link Mutex.create}. */
export interface MutexCreateOptions {
  /** The key; default {@link IPC_PRIVATE}. */
  key?: Key;
  /** Permission bits; default 0o600. */
  mode?: number;
}

/** Options of {@link Mutex.open}. */
export interface MutexOpenOptions {
  /** Create it, unlocked, if no set has this key (race-free open-or-create). */
  create?: boolean;
  /** Permission bits when created; default 0o600. */
  mode?: number;
  /** With `create`: milliseconds to wait for a racing creator to finish initialising; default 5000. */
  initTimeout?: number;
}

/**
 * An inter-process mutex: a set of two semaphores, the lock (1 = unlocked,
 * 0 = locked) and the count of its holders, which tells the next holder
 * that the last one died holding it.
 *
 * ```ts
 * using mutex = Mutex.open(key, { create: true });
 * await mutex.withLock(async ({ ownerDied }) => {
 *   if (ownerDied) repair(counter); // the last holder died mid-update
 *   counter.write(...);
 * }); // unlocked even if the callback throws
 * ```
 *
 * The lock is taken with SEM_UNDO: if the holding process exits or is killed,
 * the kernel unlocks it, and the next `lock()`, `lockSync()`, `tryLock()` or
 * `withLock()` reports `ownerDied: true` (once). What "hold" means: the lock
 * belongs to this *process* (this JavaScript environment: the main thread or
 * one worker), not to an async task. Two tasks of the same process that call
 * `lock()` exclude each other (the second waits until `unlock()`), but
 * `unlock()` is accepted from any code of the holding process; prefer
 * {@link Mutex.withLock}, which pairs them. `unlock()` from a process that
 * does not hold it throws {@link MutexNotHeldError} rather than releasing
 * someone else's lock. A worker thread that ends while holding the lock does
 * not release it (undo happens when the whole process exits): unlock before
 * the worker ends.
 *
 * Other programs take part by the same two operations, each one semop(2):
 * lock `{0, -1, SEM_UNDO}, {1, +1, 0}`; unlock `{0, +1, SEM_UNDO}, {1, -1, 0}`.
 * A holder that reads member 1 above 1 (GETVAL) was preceded by a dead one,
 * and subtracts the excess. Opened on a set of one member (older versions of
 * this package, or a program that made a binary semaphore), or of more than
 * two, a Mutex uses member 0 alone, as before, and never reports.
 */
export class Mutex extends SemaphoreSetView {
  /**
   * Whether this mutex can tell that its last holder died: a set of two
   * members, as {@link Mutex.create} and {@link Mutex.open} make. False for a
   * set of one (or of more than two) made elsewhere: `ownerDied` is then
   * always false.
   */
  readonly reportsOwnerDied: boolean;

  private constructor(sem: SetState) {
    super(SemaphoreSet.of(sem), sem);
    this.reportsOwnerDied = sem.size === 2;
  }

  /**
   * Creates a new mutex, unlocked (a set of two members: 1, 0).
   * @throws {SysvIpcError} EEXIST if a set with this key exists.
   */
  static create(options?: MutexCreateOptions): Mutex {
    const o = check.options('options', options);
    const key = o.key === undefined ? IPC_PRIVATE : check.key('options.key', o.key);
    const mode = check.mode('options.mode', o.mode, 0o600);
    return new Mutex(new SetState(createSet(key, 2, [1, 0], mode)));
  }

  /**
   * Opens the mutex with this key; with `{ create: true }`, opens or creates
   * it (created unlocked; racing openers never see it half-made). An
   * existing set of one member opens too, without the report
   * ({@link Mutex.reportsOwnerDied}).
   * @throws {SysvIpcError} ENOENT if absent and `create` is not set.
   */
  static open(key: Key, options?: MutexOpenOptions): Mutex {
    const {
      key: k,
      options: o,
      create,
      mode,
    } = parseOpen(key, options, {
      className: 'Mutex',
      what: 'mutex',
      privateCreates: false,
    });
    const opened = openSet(k, 'mutex', {
      create,
      size: create ? 2 : undefined,
      // A mutex made by an older version, a set of one, is opened as it is.
      existingSize: 1,
      values: () => [1, 0],
      mode,
      initTimeout: parseInitTimeout(o.initTimeout),
    });
    return new Mutex(new SetState(opened));
  }

  /** Wraps an existing mutex by its set's identifier. */
  static fromId(id: number): Mutex {
    return new Mutex(new SetState(setById(check.ipcId('id', id))));
  }

  /** Whether this process holds the lock (see the class notes on what "hold" means). */
  get held(): boolean {
    return held.has(this.semaphoreSet.id);
  }

  /**
   * Takes the lock, waiting (off the event loop) while another process — or
   * another task of this one — holds it. An abort, timeout or close ends the
   * wait without taking it.
   * @returns `{ ownerDied }`: true when the last holder died holding it.
   * @throws {SysvIpcError} ETIMEDOUT; EIDRM if the mutex is removed while waiting.
   */
  async lock(options?: WaitOptions): Promise<MutexLockResult> {
    const o = check.options('options', options);
    const timeout = check.timeout('options.timeout', o.timeout);
    const signal = check.signal('options.signal', o.signal);
    // (An aborted signal takes nothing: semopAsync rejects before its first try.)
    if (this.reportsOwnerDied && !signal?.aborted && semopNow(this.sem, LOCK_CLEAN())) return this.taken(false);
    await semopAsync(this.sem, this.reportsOwnerDied ? LOCK() : LOCK_PLAIN(), timeout, signal);
    return this.taken(this.reportsOwnerDied);
  }

  /**
   * Takes the lock if it is free now.
   * @returns `{ ownerDied }` when taken (true: the last holder died holding it), `false` if held.
   */
  tryLock(): MutexLockResult | false {
    if (!this.reportsOwnerDied) return semopNow(this.sem, LOCK_PLAIN()) ? this.taken(false) : false;
    if (semopNow(this.sem, LOCK_CLEAN())) return this.taken(false);
    // Held, or free with a death to report.
    return semopNow(this.sem, LOCK()) ? this.taken(true) : false;
  }

  /**
   * Takes the lock, blocking the calling thread.
   * @returns `{ ownerDied }`, as {@link lock}.
   * @throws {SysvIpcError} EDEADLK if this process already holds it (blocking would never end);
   *   ETIMEDOUT after `timeout`; EIDRM.
   */
  lockSync(options?: SyncWaitOptions): MutexLockResult {
    const o = check.options('options', options);
    const timeout = check.timeout('options.timeout', o.timeout);
    if (this.held) throw new SysvIpcError(osConstants.errno.EDEADLK, 'semop', { id: this.id, key: this.key });
    if (this.reportsOwnerDied && semopNow(this.sem, LOCK_CLEAN())) return this.taken(false);
    semopSync(this.sem, this.reportsOwnerDied ? LOCK() : LOCK_PLAIN(), timeout);
    return this.taken(this.reportsOwnerDied);
  }

  // The lock was just taken; `look`: whether member 1 may hold a death to
  // report (not after LOCK_CLEAN, which found it 0).
  private taken(look: boolean): MutexLockResult {
    const id = this.semaphoreSet.id;
    held.add(id);
    if (!look) return ALIVE;
    // Only a holder changes member 1 (with the lock, atomically), and the
    // holder is this process now: the value stays put while we read it.
    let holders: number;
    try {
      holders = binding.semGetValue(id, 1);
    } catch (err) {
      // A set we may alter but not read (mode 0o200): held, but nothing to tell.
      if (err instanceof SysvIpcError && err.errno === EACCES) return ALIVE;
      // Gone (EIDRM/EINVAL): so is the lock.
      held.delete(id);
      throw naming(err, this.sem.context);
    }
    if (holders <= 1) return ALIVE;
    // Keep our own unit, clear the dead holders' (without SEM_UNDO, as they
    // were raised), so that the report is given once.
    about(this.sem.context, () => binding.semop(id, Int32Array.of(1, 1 - holders, 0), C.IPC_NOWAIT, -1));
    return DIED;
  }

  /**
   * Releases the lock (also after {@link close}).
   * @throws {MutexNotHeldError} if this process does not hold it.
   */
  unlock(): void {
    if (!held.delete(this.semaphoreSet.id)) throw new MutexNotHeldError();
    // With SEM_UNDO as well, so it cancels the lock's undo record instead of
    // adding one. Allowed after close(): a held lock must stay releasable.
    // UNLOCK would block only if member 1 is 0, which no holder of this
    // protocol leaves (a program outside it reset it): release member 0 alone then.
    try {
      if (this.reportsOwnerDied && binding.semop(this.id, UNLOCK(), C.IPC_NOWAIT, -1)) return;
      binding.semop(this.id, UNLOCK_PLAIN(), C.IPC_NOWAIT, -1);
    } catch (err) {
      throw naming(err, this.sem.context);
    }
  }

  /**
   * Runs `fn` holding the lock and unlocks afterwards, also when `fn` throws.
   * `fn` gets `{ ownerDied }`, as {@link lock} gives it.
   * @returns what `fn` returns.
   */
  async withLock<T>(fn: (result: MutexLockResult) => T | Promise<T>, options?: WaitOptions): Promise<T> {
    if (typeof fn !== 'function') check.invalidType('fn', 'of type function', fn);
    const result = await this.lock(options);
    try {
      return await fn(result);
    } finally {
      this.unlock();
    }
  }

  /** IPC_STAT plus the lock's value (member 0; 1 = unlocked), last pid and waiter counts. */
  info(): SemaphoreInfo {
    const member = about(this.sem.context, () => binding.semMember(this.id, 0));
    return { ...this.semaphoreSet.info(), index: 0, ...member };
  }

  /** Deletes the mutex from the kernel (IPC_RMID); waiters wake with EIDRM. */
  override remove(): void {
    held.delete(this.semaphoreSet.id);
    super.remove();
  }

  /**
   * Cancels this object's pending lock() calls (nothing is taken). It does not
   * unlock a lock this process holds; process exit does that. Idempotent.
   */
  override close(): void {
    super.close();
  }
}
