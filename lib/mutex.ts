/**
 * A crash-safe inter-process mutex: a binary System V semaphore whose lock is
 * taken with SEM_UNDO, so the kernel releases it when a holder dies.
 */
import { constants as osConstants } from 'node:os';
import { binding } from './addon';
import { SemaphoreSetView } from './semaphore-set-view';
import { MutexNotHeldError, SysvIpcError } from './errors';
import { IPC_PRIVATE, type Key } from './keys';
import * as check from './validate';
import { parseInitTimeout, parseOpen } from './open-options';
import type { WaitOptions } from './waits';
import { SemaphoreSet, type SyncWaitOptions } from './semaphore-set';
import { createSet, openSet, setById } from './semaphore-open';
import { semopAsync, semopNow, semopSync, SetState } from './semop';
import type { SemaphoreInfo } from './semaphore';

const C = binding.constants;
const LOCK = (): Int32Array => Int32Array.of(0, -1, C.SEM_UNDO);
const UNLOCK = (): Int32Array => Int32Array.of(0, 1, C.SEM_UNDO);

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
 * An inter-process mutex (a semaphore of value 1 = unlocked, 0 = locked).
 *
 * ```ts
 * using mutex = Mutex.open(key, { create: true });
 * await mutex.withLock(async () => { counter.write(...); }); // unlocked even if the callback throws
 * ```
 *
 * The lock is taken with SEM_UNDO: if the holding process exits or is killed,
 * the kernel unlocks it. What "hold" means: the lock belongs to this
 * *process* (this JavaScript environment: the main thread or one worker), not
 * to an async task. Two tasks of the same process that call `lock()` exclude
 * each other (the second waits until `unlock()`), but `unlock()` is accepted
 * from any code of the holding process; prefer {@link Mutex.withLock}, which
 * pairs them. `unlock()` from a process that does not hold it throws
 * {@link MutexNotHeldError} rather than releasing someone else's lock.
 * A worker thread that ends while holding the lock does not release it (undo
 * happens when the whole process exits): unlock before the worker ends.
 */
export class Mutex extends SemaphoreSetView {
  private constructor(sem: SetState) {
    super(SemaphoreSet.of(sem), sem);
  }

  /**
   * Creates a new mutex, unlocked.
   * @throws {SysvIpcError} EEXIST if a set with this key exists.
   */
  static create(options?: MutexCreateOptions): Mutex {
    const o = check.options('options', options);
    const key = o.key === undefined ? IPC_PRIVATE : check.key('options.key', o.key);
    const mode = check.mode('options.mode', o.mode, 0o600);
    return new Mutex(new SetState(createSet(key, 1, [1], mode)));
  }

  /**
   * Opens the mutex with this key; with `{ create: true }`, opens or creates
   * it (created unlocked; racing openers never see it half-made).
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
      size: create ? 1 : undefined,
      values: () => [1],
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
   * @throws {SysvIpcError} ETIMEDOUT; EIDRM if the mutex is removed while waiting.
   */
  async lock(options?: WaitOptions): Promise<void> {
    const o = check.options('options', options);
    const timeout = check.timeout('options.timeout', o.timeout);
    const signal = check.signal('options.signal', o.signal);
    await semopAsync(this.sem, LOCK(), timeout, signal);
    held.add(this.semaphoreSet.id);
  }

  /** Takes the lock if it is free now: `false` otherwise. */
  tryLock(): boolean {
    if (!semopNow(this.sem, LOCK())) return false;
    held.add(this.semaphoreSet.id);
    return true;
  }

  /**
   * Takes the lock, blocking the calling thread.
   * @throws {SysvIpcError} EDEADLK if this process already holds it (blocking would never end);
   *   ETIMEDOUT after `timeout`; EIDRM.
   */
  lockSync(options?: SyncWaitOptions): void {
    const o = check.options('options', options);
    const timeout = check.timeout('options.timeout', o.timeout);
    if (this.held) throw new SysvIpcError(osConstants.errno.EDEADLK, 'semop', { id: this.id, key: this.key });
    semopSync(this.sem, LOCK(), timeout);
    held.add(this.semaphoreSet.id);
  }

  /**
   * Releases the lock (also after {@link close}).
   * @throws {MutexNotHeldError} if this process does not hold it.
   */
  unlock(): void {
    if (!held.delete(this.semaphoreSet.id)) throw new MutexNotHeldError();
    // With SEM_UNDO as well, so it cancels the lock's undo record instead of
    // adding one. Allowed after close(): a held lock must stay releasable.
    binding.semop(this.id, UNLOCK(), C.IPC_NOWAIT, -1);
  }

  /**
   * Runs `fn` holding the lock and unlocks afterwards, also when `fn` throws.
   * @returns what `fn` returns.
   */
  async withLock<T>(fn: () => T | Promise<T>, options?: WaitOptions): Promise<T> {
    if (typeof fn !== 'function') check.invalidType('fn', 'of type function', fn);
    await this.lock(options);
    try {
      return await fn();
    } finally {
      this.unlock();
    }
  }

  /** IPC_STAT plus the semaphore's value (1 = unlocked), last pid and waiter counts. */
  info(): SemaphoreInfo {
    return { ...this.semaphoreSet.info(), index: 0, ...binding.semMember(this.id, 0) };
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
