/**
 * System V semaphore sets (semget, semop/semtimedop, semctl) as a class, and
 * the open-or-create handshake that {@link Semaphore} and {@link Mutex} share.
 */
import { constants as osConstants } from 'node:os';
import { binding } from './binding';
import { ClosedError, OutOfRangeError, SysvIpcError, timeoutError, type SysvIpcErrorContext } from './errors';
import { IPC_PRIVATE, type Key } from './keys';
import { statTime } from './kernel';
import { ownershipOf, parseOwnershipChange, type IpcOwnership, type IpcOwnershipChange } from './ownership';
import * as check from './validate';
import { parseInitTimeout, parseOpen } from './open-options';
import { IpcHandle } from './ipc-handle';
import { SpinBudget, syncWaitFlags, WOULD_BLOCK, type WaitOptions } from './waits';
import { Semaphore } from './semaphore';

const C = binding.constants;
const { ETIMEDOUT, EINVAL, EIDRM, ENOENT } = osConstants.errno;

/** The kernel's semaphore limits. */
export interface SemaphoreLimits {
  /** Members per set (semmsl). */
  SEMMSL: number;
  /** Semaphores system-wide (semmns). */
  SEMMNS: number;
  /** Operations per {@link SemaphoreSet.operate} call (semopm). */
  SEMOPM: number;
  /** Sets system-wide (semmni). */
  SEMMNI: number;
  /** The largest value of a semaphore (32767 on Linux). */
  SEMVMX: number;
  /** The largest undo adjustment kept for a process (semaem). */
  SEMAEM: number;
}

/**
 * The kernel's semaphore limits, read now (`semctl(IPC_INFO)`; tunable through
 * /proc/sys/kernel/sem, so read again rather than cached).
 */
export function semaphoreLimits(): SemaphoreLimits {
  return binding.semLimits();
}

let limits = binding.semLimits();

/** The largest value a semaphore can hold (SEMVMX, 32767 on Linux). */
export const SEMVMX: number = limits.SEMVMX;

// SEMOPM as last read; a larger count reads the tunable again before refusing.
function maxOps(count: number): number {
  if (count > limits.SEMOPM) limits = binding.semLimits();
  return limits.SEMOPM;
}

/** One operation of an atomic {@link SemaphoreSet.operate}. */
export interface SemaphoreOperation {
  /** The member, 0 to size − 1. */
  index: number;
  /**
   * > 0 adds (release), < 0 subtracts, waiting until the value is large enough
   * (acquire), 0 waits until the value is zero. |delta| <= {@link SEMVMX}.
   */
  delta: number;
  /**
   * SEM_UNDO: the kernel reverses this operation's effect when the process
   * exits (also when it is killed), so a crashed holder gives its units back.
   */
  undo?: boolean;
}

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

// ---- creation and the open-or-create handshake

/** @internal A set's identity as creation or opening found it. */
export interface OpenedSet {
  id: number;
  key: Key;
  size: number;
  /** Whether this call created the set. */
  created: boolean;
}

// Test hook: widens the window between semget and initialisation so the
// racing-open tests meet it every time (and can kill a creator inside it).
const createDelayMs = Number(process.env.SYSV_IPC_TEST_CREATE_DELAY_MS) || 0;

/** @internal Validates a size against SEMMSL. */
export function checkSize(name: string, value: unknown): number {
  return check.integer(name, value, 1, Math.max(limits.SEMMSL, binding.semLimits().SEMMSL));
}

/** @internal Validates starting values for a set of `size`. */
export function checkValues(name: string, value: unknown, size: number): number[] {
  if (value === undefined) return new Array<number>(size).fill(0);
  if (!Array.isArray(value)) check.invalidType(name, 'an instance of Array', value);
  if (value.length !== size) {
    throw new OutOfRangeError(`The "${name}" argument must hold one value per member (${size}). Received ${value.length}`);
  }
  return value.map((v, i) => check.integer(`${name}[${i}]`, v, 0, SEMVMX));
}

/**
 * Gives a new set its values and stamps sem_otime (Stevens, UNP vol. 2,
 * §11.2): SETALL, then an operation that changes nothing but marks the set as
 * operated on. Openers that find the set already there wait for that stamp,
 * so none of them ever acts on the kernel's zeroed, not-yet-initialised values.
 */
function initialise(id: number, values: readonly number[]): void {
  binding.semSetAll(id, Int32Array.from(values));
  // Member 0 is v > 0 (take one, give it back) or 0 (wait for zero: succeeds at once).
  // Only a process outside the protocol can change it meanwhile; then read it again.
  for (let attempt = 0; attempt < 100; attempt++) {
    const v = binding.semGetValue(id, 0);
    const marker = v > 0 ? Int32Array.of(0, -1, 0, 0, 1, 0) : Int32Array.of(0, 0, 0);
    if (binding.semop(id, marker, C.IPC_NOWAIT, -1)) return;
  }
  throw new SysvIpcError(C.ETIMEDOUT, 'semop', { id });
}

/** @internal semget with IPC_CREAT | IPC_EXCL, then the values and the otime stamp. */
export function createSet(key: Key, size: number, values: readonly number[], mode: number): OpenedSet {
  const id = binding.semget(key, size, C.IPC_CREAT | C.IPC_EXCL | mode);
  try {
    if (createDelayMs > 0) sleepSync(createDelayMs);
    initialise(id, values);
  } catch (err) {
    try { binding.semRemove(id); } catch { /* already gone */ }
    throw err;
  }
  return { id, key, size, created: true };
}

const sleeper = new Int32Array(new SharedArrayBuffer(4));
function sleepSync(ms: number): void {
  Atomics.wait(sleeper, 0, 0, ms);
}

function errnoOf(err: unknown): number | undefined {
  return err instanceof SysvIpcError ? err.errno : undefined;
}

/**
 * @internal Opens the set with this key; with `create`, opens or creates it.
 *
 * Open-or-create: try to create with IPC_EXCL. Exactly one racing process
 * succeeds and initialises; the others get EEXIST, open the set, and wait
 * (bounded by `initTimeout`) until its sem_otime is set, which the creator
 * does last. If the set vanishes meanwhile (its creator failed and removed
 * it), the whole dance starts again.
 */
export function openSet(
  k: Key,
  what: string,
  o: { create: boolean; size: number | undefined; values: () => number[]; mode: number; initTimeout: number },
): OpenedSet {
  if (!o.create) {
    const id = binding.semget(k, o.size ?? 0, 0);
    return { id, key: k, size: binding.semStat(id).size, created: false };
  }
  if (o.size === undefined) throw new OutOfRangeError(`options.size is required to create a ${what}`);
  const values = o.values();
  const deadline = Date.now() + o.initTimeout;
  let pause = 0;
  for (;;) {
    try {
      return createSet(k, o.size, values, o.mode);
    } catch (err) {
      if (!(err instanceof SysvIpcError) || err.code !== 'EEXIST') throw err;
    }
    let id: number;
    try {
      id = binding.semget(k, o.size, 0);
    } catch (err) {
      if (errnoOf(err) === ENOENT) continue; // removed since our EEXIST: try to create again
      throw err;
    }
    for (;;) {
      let stat;
      try {
        stat = binding.semStat(id);
      } catch (err) {
        const e = errnoOf(err);
        if (e === EINVAL || e === EIDRM) break; // removed while we waited: start over
        throw err;
      }
      if (stat.lastOpTime !== 0) return { id, key: k, size: stat.size, created: false };
      if (Date.now() >= deadline) {
        const err = new SysvIpcError(ETIMEDOUT, 'semget', { key: k, id });
        err.message =
          `ETIMEDOUT: the ${what} with key 0x${(k >>> 0).toString(16)} (id ${id}) exists but was not initialised ` +
          `within ${o.initTimeout} ms (sem_otime is still 0): its creator may have died during creation, or a ` +
          `program outside this protocol created it. Remove it, or open it without { create: true }.`;
        throw err;
      }
      // The creator's window is two syscalls: spin briefly, then back off to 10 ms.
      if (pause > 0) sleepSync(pause);
      pause = Math.min(pause === 0 ? 1 : pause * 2, 10);
    }
  }
}

/** @internal Encodes operations as [index, delta, flags] triples. */
export function encodeOps(ops: unknown, size: number): Int32Array {
  if (!Array.isArray(ops)) check.invalidType('ops', 'an instance of Array', ops);
  const n = ops.length;
  if (n === 0) throw new OutOfRangeError('The "ops" argument must hold at least one operation');
  const max = maxOps(n);
  if (n > max) {
    throw new OutOfRangeError(`The number of operations is out of range. It must be <= SEMOPM (${max}). Received ${n}`);
  }
  const out = new Int32Array(n * 3);
  for (let i = 0; i < n; i++) {
    const op = ops[i] as SemaphoreOperation;
    if (op === null || typeof op !== 'object') check.invalidType(`ops[${i}]`, 'of type object', op);
    out[i * 3] = check.integer(`ops[${i}].index`, op.index, 0, size - 1);
    out[i * 3 + 1] = check.integer(`ops[${i}].delta`, op.delta, -SEMVMX, SEMVMX);
    out[i * 3 + 2] = check.optionalBoolean(`ops[${i}].undo`, op.undo, false) ? C.SEM_UNDO : 0;
  }
  return out;
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
  // How long an async operation may retry on the JS thread before parking (see SpinBudget).
  private readonly spin = new SpinBudget();
  private readonly context: SysvIpcErrorContext;

  /** @internal */
  constructor(opened: OpenedSet) {
    super(opened.id, opened.key, 'semaphore set');
    this.size = opened.size;
    this.created = opened.created;
    this.context = { id: opened.id, key: opened.key };
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
    return new SemaphoreSet(createSet(key, size, values, mode));
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
    const { key: k, options: o, create, mode } = parseOpen(key, options, {
      className: 'SemaphoreSet',
      what: 'set',
      privateCreates: false,
    });
    const size = o.size === undefined ? undefined : checkSize('options.size', o.size);
    const initTimeout = parseInitTimeout(o.initTimeout);
    const values = () => checkValues('options.initialValues', o.initialValues, size ?? 0);
    if (size !== undefined) values(); // validate up front, also when an existing set is opened
    return new SemaphoreSet(openSet(k, 'semaphore set', { create, size, values, mode, initTimeout }));
  }

  /**
   * Wraps an existing set by its identifier (checked with IPC_STAT).
   * @throws {SysvIpcError} EINVAL if no such set; EACCES without read permission.
   */
  static fromId(id: number): SemaphoreSet {
    const semid = check.ipcId('id', id);
    const stat = binding.semStat(semid);
    return new SemaphoreSet({ id: semid, key: stat.key, size: stat.size, created: false });
  }

  /** @internal Throws `ERR_SYSV_IPC_CLOSED` after close() (also for the Semaphore views of this set). */
  override ensureOpen(): void {
    super.ensureOpen();
  }

  /** @internal Checks a member index. */
  checkIndex(name: string, index: unknown): number {
    return check.integer(name, index, 0, this.size - 1);
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
      return this.run(encoded, check.timeout('options.timeout', o.timeout), check.signal('options.signal', o.signal));
    } catch (err) {
      return Promise.reject(err);
    }
  }

  /** Applies the operations only if all can proceed now (IPC_NOWAIT): `false` otherwise, with nothing changed. */
  tryOperate(ops: readonly SemaphoreOperation[]): boolean {
    return this.tryRun(encodeOps(ops, this.size));
  }

  /**
   * Applies the operations atomically, blocking the calling thread until they can proceed.
   * @throws {SysvIpcError} ETIMEDOUT after `timeout` (semtimedop); EIDRM.
   */
  operateSync(ops: readonly SemaphoreOperation[], options?: SyncWaitOptions): void {
    const encoded = encodeOps(ops, this.size);
    const o = check.options('options', options);
    this.runSync(encoded, check.timeout('options.timeout', o.timeout));
  }

  /**
   * @internal Async semop of encoded ops: tries IPC_NOWAIT first (spinning for
   * the adaptive budget, at most 50 µs), then waits on a waiter thread.
   */
  run(ops: Int32Array, timeout: number, signal: AbortSignal | undefined): Promise<void> {
    try {
      this.ensureOpen();
      const id = this.id;
      return this.waits.run<void>({
        syscall: 'semop',
        context: this.context,
        timeout,
        signal,
        spin: this.spin,
        attempt: (spinNs) => (binding.semop(id, ops, C.IPC_NOWAIT, -1, spinNs) ? undefined : WOULD_BLOCK),
        park: (waitId) => binding.semopAsync(id, ops, 0, timeout, waitId),
        parked: () => undefined,
      });
    } catch (err) {
      return Promise.reject(err);
    }
  }

  /** @internal */
  tryRun(ops: Int32Array): boolean {
    this.ensureOpen();
    return binding.semop(this.id, ops, C.IPC_NOWAIT, -1);
  }

  /** @internal One operation on one member, without waiting (the uncontended fast path). */
  tryRunOne(index: number, delta: number, flags: number): boolean {
    this.ensureOpen();
    return binding.semopOne(this.id, index, delta, flags | C.IPC_NOWAIT, 0);
  }

  /** @internal */
  runSync(ops: Int32Array, timeout: number): void {
    this.ensureOpen();
    if (!binding.semop(this.id, ops, syncWaitFlags(timeout), timeout)) {
      throw timeoutError('semop', this.context);
    }
  }

  /** Every member's value (semctl GETALL). */
  values(): number[] {
    return binding.semGetAll(this.id);
  }

  /**
   * Sets every member's value at once (semctl SETALL). Waiters whose
   * operations can now proceed wake; every process's undo adjustments for
   * this set are cleared (semctl(2)).
   * @throws {RangeError} unless exactly one value 0..SEMVMX per member.
   */
  setValues(values: readonly number[]): void {
    binding.semSetAll(this.id, Int32Array.from(checkValues('values', values, this.size)));
  }

  /** A {@link Semaphore} view of member `index`, sharing this set's handle (closing either closes both). */
  at(index: number): Semaphore {
    return Semaphore.view(this, this.checkIndex('index', index));
  }

  /** IPC_STAT, fresh on each call. */
  info(): SemaphoreSetInfo {
    const s = binding.semStat(this.id);
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
    binding.semSet(this.id, mode, uid, gid);
  }

  /** Deletes the set from the kernel (IPC_RMID). Every process waiting on it wakes with EIDRM. */
  remove(): void {
    binding.semRemove(this.id);
  }
}
