/**
 * A crash-safe inter-process lock in shared memory that costs no syscall
 * when nobody else wants it: the record of include/sysv-ipc/lock.h, taken
 * and released by JavaScript with one compare-and-swap, slept on with a
 * futex (native/fast_mutex.cc) only under contention.
 *
 * Why JavaScript's Atomics are enough across processes: V8 implements
 * Atomics.compareExchange on a non-shared ArrayBuffer with the same code as
 * on a SharedArrayBuffer (the builtin, which the optimizing compiler calls or
 * inlines, emits `lock cmpxchg` on x64 and a load-/store-exclusive loop or
 * `casal` on arm64), and the other processes race on the very same physical
 * word. README "FastMutex" and test/fast-mutex/fast-mutex.test.ts (4 processes ×
 * 10,000 unguarded increments) say how that was checked.
 */
import { performance } from 'node:perf_hooks';
import { constants as osConstants } from 'node:os';
import { binding } from './addon';
import type { LockOutcome } from './binding';
import {
  ClosedError,
  FeatureUnavailableError,
  InvalidStateError,
  LockCorruptError,
  SysvIpcError,
  timeoutError,
  withContext,
  type SysvIpcErrorContext,
} from './errors';
import type { Key } from './keys';
import { MutexNotHeldError } from './errors';
import { SharedMemory } from './shared-memory';
import * as check from './validate';
import { HandleState, IpcHandle } from './ipc-handle';
import { SpinBudget, WOULD_BLOCK, type WaitOptions } from './waits';
import { identifyLockHolder, lockWordCorrupt, releaseLockRecord, takeLockRecord } from './lock-record';
import { TAKES_IN_JAVASCRIPT } from './take-thread';

const L = binding.constants.LOCK;
const PID_MASK = L.PID_MASK;

// How often tryLock() looks at the holder's liveness (lock.h's SYSV_IPC_LOCK_CHECK_NS).
const LIVENESS_CHECK_MS = 100;
// lockSync's turns (a yield, then the JavaScript take) before the native wait:
// on the main thread only (take-thread.ts; a worker's first take stays as it was).
const HANDOFF_YIELDS = TAKES_IN_JAVASCRIPT ? 8 : 0;

// What a native wait reports (native/results.h LockOutcome).
const { TAKEN, OWNER_DIED, CORRUPT, DETACHED } = L;

/** What {@link FastMutex.lock} and {@link FastMutex.lockSync} resolve to. */
export interface FastMutexLockResult {
  /**
   * True when the lock was taken over from a holder that died holding it
   * (killed, crashed, or exited without unlocking): the data it guards may
   * be half-updated. Check or repair it before unlocking.
   */
  readonly ownerDied: boolean;
}

/** The handle {@link FastMutex.acquire} gives: unlocks once, by `release()` or `using`. */
export interface FastMutexLock extends FastMutexLockResult, Disposable {
  /** Unlocks (idempotent: a second call does nothing). */
  release(): void;
}

// Shared result objects: the hot path allocates nothing.
const ALIVE: FastMutexLockResult = Object.freeze({ ownerDied: false });
const DIED: FastMutexLockResult = Object.freeze({ ownerDied: true });

/** Options of {@link FastMutex.create}. */
export interface FastMutexCreateOptions {
  /** The key of the segment; default IPC_PRIVATE. */
  key?: Key;
  /** Permission bits; default 0o600. */
  mode?: number;
}

/** Options of {@link FastMutex.open}. */
export interface FastMutexOpenOptions {
  /** Create the segment (unlocked: zeroed) if no segment has this key. */
  create?: boolean;
  /** Permission bits when created; default 0o600. */
  mode?: number;
}

/** Options of {@link FastMutex.lockSync}. */
export interface FastMutexLockSyncOptions {
  /** Milliseconds to wait before throwing ETIMEDOUT; by default, no limit. */
  timeout?: number;
}

export { LockCorruptError };

const corrupt = lockWordCorrupt;

// Whether this environment (main thread or one worker) holds a lock, by
// segment and offset: shared by every FastMutex object over the same record,
// as Mutex's ownership is shared by every Mutex over one set.
interface Ownership {
  held: boolean;
}
const owners = new Map<string, Ownership>();
function ownershipOf(shmid: number, offset: number): Ownership {
  const name = `${shmid}:${offset}`;
  let o = owners.get(name);
  if (o === undefined) {
    o = { held: false };
    owners.set(name, o);
  }
  return o;
}

// Without futex(2) (macOS, FreeBSD) a contended lock could neither sleep nor
// wake: refuse the lock as a whole, before any segment is made, rather than
// hand out one that works only while uncontended.
function requireFutex(): void {
  if (!binding.constants.HAVE_FUTEX) {
    throw new FeatureUnavailableError(
      'FastMutex is unavailable on this platform: it needs futex(2), which only Linux has',
    );
  }
}

/**
 * An inter-process lock in shared memory: a 16-byte record (pid of the
 * holder, its start time) taken with one atomic compare-and-swap.
 *
 * ```ts
 * using shm = SharedMemory.open(key, { create: true, size: 4096 });
 * const mutex = FastMutex.in(shm, 0);          // bytes 0..15; the data beside it
 * const { ownerDied } = mutex.lockSync();
 * try { if (ownerDied) repair(shm); update(shm); } finally { mutex.unlock(); }
 * ```
 *
 * - Uncontended, `tryLock()`/`lockSync()`/`lock()` and `unlock()` run in
 *   JavaScript only (no native call, no syscall). A locker that finds the
 *   lock held spins briefly, then sleeps on a futex; `unlock()` makes the
 *   wake syscall only when someone sleeps.
 * - Crash safety: a waiter that finds the holder dead (exited, killed,
 *   zombie, or its pid now names another process) takes the lock within
 *   0.1 to 0.3 s and is told (`ownerDied: true`). A holder it cannot see in
 *   /proc (out of file descriptors, hidepid=2) or one stopped between taking
 *   the word and writing its start time counts as alive (README FastMutex). Unlike {@link Mutex}, the
 *   kernel releases nothing: a locker's look at the holder does, so a dead
 *   holder's lock stays taken until someone wants it.
 * - Ownership is per process (this JavaScript environment: the main thread
 *   or one worker), as for {@link Mutex}: any code of the holding
 *   environment may `unlock()`; another throws {@link MutexNotHeldError}.
 *   Workers of one process share a pid: they exclude each other, but a
 *   worker that ends holding the lock leaves it held until the process
 *   exits (the lock's owner is alive).
 * - Hostile memory: a record with impossible values makes every call throw
 *   {@link LockCorruptError} (`ERR_SYSV_IPC_LOCK_CORRUPT`); nothing crashes
 *   or hangs. Zeroed memory is an unlocked lock, and `in()` never writes.
 */
export class FastMutex extends IpcHandle {
  /** Bytes the lock record takes in a segment (offsets must be multiples of 8). */
  static readonly SIZE: number = L.SIZE;

  /** The record's byte offset in the segment. */
  readonly offset: number;
  private readonly shm: SharedMemory;
  // Whether the segment is this object's (create/open/fromId): close() detaches it.
  private readonly ownsSegment: boolean;
  private readonly record: Int32Array;
  private readonly ownership: Ownership;
  private readonly spin = new SpinBudget();
  private readonly context: SysvIpcErrorContext;
  // When tryLock() may next look at whether the holder is alive (performance.now() ms).
  private nextLivenessCheck = 0;

  private constructor(shm: SharedMemory, offset: number, ownsSegment: boolean) {
    requireFutex();
    identifyLockHolder();
    super(new HandleState(shm.id, shm.key, 'FastMutex'));
    this.shm = shm;
    this.offset = offset;
    this.ownsSegment = ownsSegment;
    this.record = new Int32Array(shm.arrayBuffer, offset, 4);
    this.ownership = ownershipOf(shm.id, offset);
    this.context = this.state.context;
  }

  /**
   * Creates a lock in a new segment of its own (IPC_CREAT | IPC_EXCL), unlocked.
   * @throws {SysvIpcError} EEXIST if a segment with this key exists.
   */
  static create(options?: FastMutexCreateOptions): FastMutex {
    requireFutex();
    const o = check.options('options', options);
    const shm = SharedMemory.create({ size: L.SIZE, key: o.key, mode: o.mode });
    return FastMutex.own(shm);
  }

  /**
   * Opens the lock in the segment with this key; with `{ create: true }`,
   * creates it (zeroed: unlocked) if absent. Racing openers are safe: a new
   * segment is zeroed by the kernel and nobody initialises it.
   * @throws {SysvIpcError} ENOENT if absent and `create` is not set.
   */
  static open(key: Key, options?: FastMutexOpenOptions): FastMutex {
    requireFutex();
    const o = check.options('options', options);
    const create = check.optionalBoolean('options.create', o.create, false);
    const shm = SharedMemory.open(key, { create, size: create ? L.SIZE : undefined, mode: o.mode });
    return FastMutex.own(shm);
  }

  /** Opens the lock of the segment with this identifier (shmid). */
  static fromId(id: number): FastMutex {
    requireFutex();
    return FastMutex.own(SharedMemory.fromId(id));
  }

  private static own(shm: SharedMemory): FastMutex {
    try {
      if (shm.size < L.SIZE) {
        throw check.outOfRange('segment size', `>= ${L.SIZE} bytes (FastMutex.SIZE)`, shm.size);
      }
      return new FastMutex(shm, 0, true);
    } catch (err) {
      shm.detach();
      throw err;
    }
  }

  /**
   * The lock whose record is at byte `offset` of `shm` (a multiple of 8, with
   * {@link FastMutex.SIZE} bytes from there), beside the data it guards.
   * Writes nothing: every process calls `in()` on the same bytes, and a
   * zeroed record is an unlocked lock. The segment stays the caller's: close()
   * does not detach it. Detaching it while a lock() waits rejects that wait.
   * @throws {RangeError} for a bad offset; `ERR_SYSV_IPC_READ_ONLY` on a read-only attachment.
   */
  static in(shm: SharedMemory, offset: number): FastMutex {
    requireFutex();
    if (!(shm instanceof SharedMemory)) check.invalidType('shm', 'an instance of SharedMemory', shm);
    const off = check.integer('offset', offset, 0, Math.max(0, shm.size - L.SIZE));
    if (off % 8 !== 0 || off + L.SIZE > shm.size) {
      check.outOfRange(
        'offset',
        `a multiple of 8 with ${L.SIZE} bytes of the ${shm.size}-byte segment from it`,
        offset,
      );
    }
    return new FastMutex(shm, off, false);
  }

  /** The pid of the holder (any process), or 0 when unlocked or the record is corrupt. */
  get holder(): number {
    const w = this.record.length === 0 ? 0 : Atomics.load(this.record, 0);
    return corrupt(w) ? 0 : w & PID_MASK;
  }

  /** Whether this process (this environment) holds the lock. */
  get held(): boolean {
    return this.ownership.held;
  }

  // The uncontended path: one compare-and-swap, then holder_start (lock.h:
  // 0 until then, since every release sets it to 0, and a waiter takes 0
  // under a live pid for a holder between the two, however long it stays there).
  private take(): boolean {
    if (!takeLockRecord(this.record, 0)) return false;
    this.ownership.held = true;
    return true;
  }

  // Before a take: open, attached, and (after a failed CAS) a sane word.
  private ensureUsable(): void {
    this.ensureOpen();
    if (this.record.length === 0) throw detachedError(this.context);
  }

  private checkWord(): number {
    const w = Atomics.load(this.record, 0);
    if (corrupt(w)) throw new LockCorruptError(w, this.context);
    return w;
  }

  // What a native wait reported, as the caller's result.
  private settle(outcome: LockOutcome): FastMutexLockResult {
    switch (outcome) {
      case TAKEN:
        this.ownership.held = true;
        return ALIVE;
      case OWNER_DIED:
        this.ownership.held = true;
        return DIED;
      case CORRUPT:
        throw new LockCorruptError(Atomics.load(this.record, 0), this.context);
      case DETACHED:
      default:
        throw detachedError(this.context);
    }
  }

  /**
   * Takes the lock if it is free now, or if its holder is gone (exited or
   * killed; looked at in /proc at most every 100 ms per object, so that a
   * loop of tryLock() calls recovers from a dead holder too).
   * @returns `{ ownerDied }` when taken (true: taken over from a dead holder), `false` if held.
   *   A holder whose pid now names another process is only detected by lock() and lockSync().
   * @throws {LockCorruptError} if the record is corrupt.
   */
  tryLock(): FastMutexLockResult | false {
    this.ensureUsable();
    if (this.take()) return ALIVE;
    this.checkWord();
    return this.takeOverIfDue();
  }

  // The holder's liveness, looked at in /proc at most every LIVENESS_CHECK_MS
  // per object (across calls): the lock, taken over (ownerDied), when its
  // holder is gone; false otherwise. For tryLock() and for waits shorter than
  // the native wait's first look at the holder (LIVENESS_CHECK_MS in), which
  // would otherwise never look: a retry loop of short timeouts never took a
  // dead holder's lock over (R8's review).
  private takeOverIfDue(): FastMutexLockResult | false {
    const now = performance.now();
    if (now < this.nextLivenessCheck) return false;
    this.nextLivenessCheck = now + LIVENESS_CHECK_MS;
    const r = binding.fastMutexTakeOver(this.shm.nativeHandle(), this.offset);
    if (r === L.CORRUPT) throw new LockCorruptError(Atomics.load(this.record, 0), this.context);
    return r === L.TAKE_OVER_TAKEN ? this.settle(OWNER_DIED) : false;
  }

  /**
   * Takes the lock, waiting off the event loop while another process (or
   * another task of this one) holds it: a short spin on the JS thread, then
   * a futex sleep on one of the addon's waiter threads.
   * @returns `{ ownerDied }`: true when taken over from a dead holder.
   * @throws {SysvIpcError} ETIMEDOUT after `timeout`; AbortError on abort;
   *   `ERR_SYSV_IPC_CLOSED` on close() (nothing is taken); {@link LockCorruptError}.
   */
  lock(options?: WaitOptions): Promise<FastMutexLockResult> {
    try {
      const o = check.options('options', options);
      const timeout = check.timeout('options.timeout', o.timeout);
      const signal = check.signal('options.signal', o.signal);
      this.ensureUsable();
      const promise = this.waits.run<FastMutexLockResult>({
        syscall: 'futex',
        context: this.context,
        timeout,
        signal,
        spin: this.spin,
        attempt: (spinNs) => {
          if (this.take()) return ALIVE;
          const w = this.checkWord();
          if (spinNs > 0) {
            binding.shmSpinWhileEqual(this.shm.nativeHandle(), this.offset / 4, w, spinNs);
            if (this.take()) return ALIVE;
            this.checkWord();
          }
          if (timeout >= 0 && timeout < LIVENESS_CHECK_MS) return this.takeOverIfDue() || WOULD_BLOCK;
          return WOULD_BLOCK;
        },
        park: (waitId) => binding.fastMutexLockAsync(this.shm.nativeHandle(), this.offset, timeout, waitId),
        parked: (_value, outcome) => this.settle(outcome as LockOutcome),
      });
      // A parked wait may settle after close(): the segment is detached only then.
      return this.ownsSegment && this.waits.size > 0 ? promise.finally(() => this.detachIfDone()) : promise;
    } catch (err) {
      return Promise.reject(err);
    }
  }

  /**
   * Takes the lock, blocking the calling thread (for workers and scripts):
   * a short spin, then a futex sleep.
   * @returns `{ ownerDied }`, as {@link lock}.
   * @throws {SysvIpcError} EDEADLK if this environment holds it already
   *   (blocking would never end); ETIMEDOUT after `timeout`; {@link LockCorruptError}.
   */
  lockSync(options?: FastMutexLockSyncOptions): FastMutexLockResult {
    // No options object to read on the hot path (`lockSync()`).
    const timeout =
      options === undefined ? -1 : check.timeout('options.timeout', check.options('options', options).timeout);
    this.ensureUsable();
    if (this.take()) return ALIVE;
    this.checkWord();
    if (this.ownership.held) throw new SysvIpcError(osConstants.errno.EDEADLK, 'futex', this.context);
    if (timeout >= 0 && timeout < LIVENESS_CHECK_MS) {
      const taken = this.takeOverIfDue();
      if (taken) return taken;
    }
    if (timeout === 0) throw timeoutError('futex', this.context);
    // A few turns here before the native wait: yield (as lock.h's spin does
    // between looks), then the JavaScript take. A holder on this CPU runs
    // until it blocks or yields, which in a handoff is after its unlock:
    // the take then succeeds with no native wait set up (a spin on loads
    // would starve it instead). A holder elsewhere is looked at as often as
    // lock.h's spin would. The native wait spins on, then sleeps on the futex.
    // The turns end at the timeout too: on a busy CPU one yield may give
    // another task a whole slice (milliseconds), and 8 of them overran a
    // short timeout many times over (the native wait keeps its own deadline).
    const t0 = timeout > 0 ? performance.now() : 0;
    for (let turn = 0; turn < HANDOFF_YIELDS; turn++) {
      binding.yieldCpu();
      if (this.take()) return ALIVE;
      if (timeout > 0 && performance.now() - t0 >= timeout) break;
    }
    // What is left of the timeout (0: it ran out during the turns, and the native wait says ETIMEDOUT).
    const left = timeout > 0 ? Math.max(0, timeout - (performance.now() - t0)) : timeout;
    let outcome: LockOutcome;
    try {
      outcome = binding.fastMutexLockSync(this.shm.nativeHandle(), this.offset, left);
    } catch (err) {
      throw withContext(err, this.context); // ETIMEDOUT, …: the addon's error knows no key or id
    }
    return this.settle(outcome);
  }

  /**
   * Releases the lock (also after {@link close}). Makes a syscall only when
   * another locker sleeps on it (FUTEX_WAKE of one).
   * @throws {MutexNotHeldError} if this environment does not hold it;
   *   {@link LockCorruptError}; `ERR_SYSV_IPC_CLOSED` if the segment of an
   *   `in()` lock was detached meanwhile (the lock stays held until this process exits).
   */
  unlock(): void {
    if (!this.ownership.held) throw new MutexNotHeldError();
    const r = this.record;
    if (r.length === 0) throw detachedError(this.context);
    this.ownership.held = false;
    // holder_start to 0 before the word, when the word is still ours: the
    // next taker's window then reads 0 (lib/lock-record.ts).
    if (!releaseLockRecord(r, 0)) this.releaseContended();
    if (this.closed) this.detachIfDone();
  }

  // The word is not plain PID: sleepers set WAITERS (release and wake one),
  // or the record was overwritten.
  private releaseContended(): void {
    const w = Atomics.load(this.record, 0);
    if (corrupt(w)) throw new LockCorruptError(w, this.context);
    const r = binding.fastMutexRelease(this.shm.nativeHandle(), this.offset);
    if (r === L.EUCLEAN) throw new LockCorruptError(Atomics.load(this.record, 0), this.context);
    // Another process holds it: it took the lock over, so it took this
    // process for dead (its record was overwritten meanwhile).
    if (r === L.EPERM) throw new MutexNotHeldError();
  }

  /**
   * Takes the lock and returns a handle that unlocks it once, for `using`:
   * ```ts
   * using held = await mutex.acquire();
   * if (held.ownerDied) repair();
   * ```
   */
  async acquire(options?: WaitOptions): Promise<FastMutexLock> {
    return this.handle(await this.lock(options));
  }

  /** {@link acquire}, blocking the calling thread. */
  acquireSync(options?: FastMutexLockSyncOptions): FastMutexLock {
    return this.handle(this.lockSync(options));
  }

  private handle(result: FastMutexLockResult): FastMutexLock {
    let released = false;
    const release = (): void => {
      if (released) return;
      released = true;
      this.unlock();
    };
    return { ownerDied: result.ownerDied, release, [Symbol.dispose]: release };
  }

  /**
   * Runs `fn` holding the lock and unlocks afterwards, also when `fn` throws.
   * `fn` gets `{ ownerDied }`.
   */
  async withLock<T>(fn: (result: FastMutexLockResult) => T | Promise<T>, options?: WaitOptions): Promise<T> {
    if (typeof fn !== 'function') check.invalidType('fn', 'of type function', fn);
    const result = await this.lock(options);
    try {
      return await fn(result);
    } finally {
      this.unlock();
    }
  }

  /**
   * Deletes the lock's own segment (IPC_RMID; it lives on while attached).
   * A lock made with {@link FastMutex.in} has no segment of its own: remove the SharedMemory.
   */
  remove(): void {
    if (!this.ownsSegment) {
      throw new InvalidStateError('FastMutex.in() lives in a segment it does not own: remove the SharedMemory instead');
    }
    this.shm.remove();
  }

  /**
   * Cancels this object's pending lock() calls (they reject with
   * ERR_SYSV_IPC_CLOSED; nothing is taken) and frees the handle: the own
   * segment is detached once nothing of this object uses it (a held lock
   * stays releasable with unlock()). Never unlocks, never removes. Idempotent.
   */
  override close(): void {
    super.close();
    this.detachIfDone();
  }

  private detachIfDone(): void {
    if (this.closed && this.ownsSegment && !this.ownership.held && this.waits.size === 0) this.shm.detach();
  }
}

function detachedError(context: SysvIpcErrorContext): ClosedError {
  return new ClosedError('The shared memory attachment of the FastMutex', 'is detached', context);
}
