/**
 * The semop runners SemaphoreSet, Semaphore and Mutex share: operations
 * encoded as [index, delta, flags] triples and applied to a set's
 * {@link SetState} — now (IPC_NOWAIT), async (through the set's WaitGroup:
 * try, spin, park on a waiter thread) or blocking the calling thread.
 */
import { binding } from '../addon';
import { CALL_ARGS, CALL_ARGS_BUFFER } from '../call-args';
import { naming, OutOfRangeError, timeoutError } from '../errors';
import * as check from '../validate';
import { syncWaitFlags, WOULD_BLOCK } from '../waits';
import { maxOps, SEMVMX } from './limits';
import type { SetState } from './set-state';

const C = binding.constants;

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

/** Encodes operations as [index, delta, flags] triples. */
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
 * Async semop of encoded ops: tries IPC_NOWAIT first (spinning for the
 * adaptive budget, at most 50 µs), then waits on a waiter thread.
 */
export function semopAsync(
  set: SetState,
  ops: Int32Array,
  timeout: number,
  signal: AbortSignal | undefined,
): Promise<void> {
  try {
    set.ensureOpen();
    const id = set.id;
    return set.waits.run<void>({
      syscall: 'semop',
      context: set.context,
      timeout,
      signal,
      spin: set.spin,
      attempt: (spinNs) => (semopNowOrThrow(set, ops, spinNs) ? undefined : WOULD_BLOCK),
      park: (waitId) => binding.semopAsync(id, ops, 0, timeout, waitId),
      parked: () => undefined,
    });
  } catch (err) {
    return Promise.reject(err);
  }
}

// semop with IPC_NOWAIT (spinning up to spinNs), its failures naming the set.
// try/catch rather than about(): no closure on this hot path.
function semopNowOrThrow(set: SetState, ops: Int32Array, spinNs: number): boolean {
  try {
    return binding.semop(set.id, ops, C.IPC_NOWAIT, -1, spinNs);
  } catch (err) {
    throw naming(err, set.context);
  }
}

/** semop with IPC_NOWAIT: false (nothing changed) if it would block. */
export function semopNow(set: SetState, ops: Int32Array): boolean {
  set.ensureOpen();
  return semopNowOrThrow(set, ops, 0);
}

/**
 * binding.semopOne with its numbers in CALL_ARGS_BUFFER (lib/call-args.ts): `wait`
 * is the spin in ns with IPC_NOWAIT, else the timeout in ms.
 */
export function semopOne(id: number, index: number, delta: number, flags: number, wait: number): boolean {
  const a = CALL_ARGS;
  a[0] = id;
  a[1] = index;
  a[2] = delta;
  a[3] = flags;
  a[4] = wait;
  return binding.semopOne(CALL_ARGS_BUFFER);
}

/** One operation on one member, without waiting (the uncontended fast path). */
export function semopOneNow(set: SetState, index: number, delta: number, flags: number): boolean {
  set.ensureOpen();
  // try/catch rather than about(): no closure on this hot path.
  try {
    return semopOne(set.id, index, delta, flags | C.IPC_NOWAIT, 0);
  } catch (err) {
    throw naming(err, set.context);
  }
}

/**
 * One operation on one member, blocking the calling thread (semtimedop with
 * `timeout`): semopSync with plain-number arguments, so the addon reads no
 * typed array of operations (Semaphore's acquireSync, waitForZeroSync, lockSync).
 */
export function semopOneSync(set: SetState, index: number, delta: number, flags: number, timeout: number): void {
  set.ensureOpen();
  let done: boolean;
  try {
    // With timeout 0 (IPC_NOWAIT), `wait` is the spin in ns: 0 as well.
    done = semopOne(set.id, index, delta, flags | syncWaitFlags(timeout), timeout);
  } catch (err) {
    throw naming(err, set.context);
  }
  if (!done) throw timeoutError('semop', set.context);
}

/** semop blocking the calling thread (semtimedop with `timeout`). */
export function semopSync(set: SetState, ops: Int32Array, timeout: number): void {
  set.ensureOpen();
  let done: boolean;
  try {
    done = binding.semop(set.id, ops, syncWaitFlags(timeout), timeout);
  } catch (err) {
    throw naming(err, set.context);
  }
  if (!done) throw timeoutError('semop', set.context);
}
