/**
 * The JavaScript half of the async machinery, shared by every waiting
 * operation (message send/receive, semaphore operations, futex waits).
 *
 * A waiting call first tries the non-blocking form on the JS thread and
 * settles at once when that succeeds (no thread hop). Only when it would
 * block does it start a native wait: the addon runs the blocking syscall on a
 * thread it owns (never libuv's threadpool) and reports back through
 * `dispatch`. Cancellation (AbortSignal, close()) asks the native side to
 * interrupt the thread; the wait then ends with ECANCELED — or with its real
 * result if the syscall had already completed, so nothing is consumed and
 * lost by a cancelled receive.
 */
import { performance } from 'node:perf_hooks';
import { binding } from './binding';
import {
  AbortError,
  ClosedError,
  SysvIpcError,
  timeoutError,
  type SysvIpcErrorContext,
  abortError,
  withContext,
} from './errors';

const { ECANCELED, ETIMEDOUT, IPC_NOWAIT } = binding.constants;

interface Pending {
  resolve(value: unknown): void;
  reject(reason: unknown): void;
  map(value: Buffer | undefined, extra: number): unknown;
  group: WaitGroup;
  syscall: string;
  context: SysvIpcErrorContext;
  signal?: AbortSignal;
  onAbort?: () => void;
  /** Why the wait was cancelled, set before cancelWait is called. */
  cancelReason?: Error;
  refed: boolean;
  /**
   * A readiness wait (see {@link AsyncWait.parked}): parks it again, under a
   * new wait id, when `map` found nothing to take; false when its time is up.
   */
  repark?: () => boolean;
  /**
   * A sliced readiness wait (see {@link AsyncWait.sliceMs}): true when its
   * ETIMEDOUT ended a slice, not the wait's own timeout (it then looks again).
   */
  sliceEnded?: () => boolean;
}

const pending = new Map<number, Pending>();
let refedCount = 0;
// Wait ids are generation * 2^32 + counter: the generation (from init) keeps
// them distinct from those of an earlier load of this module over the same
// addon instance (test runners that reset their module registry do that).
let generation = 0;

/** Called once by addon.ts with what `binding.init` returned. */
export function setWaitGeneration(value: number): void {
  generation = value;
}
let counter = 0;
function nextWaitId(): number {
  for (;;) {
    counter = counter >= 0xffffffff ? 1 : counter + 1;
    const id = generation * 0x100000000 + counter;
    if (!pending.has(id)) return id; // a very long wait still holds this id: skip it
  }
}

function addRef(): void {
  if (refedCount++ === 0) binding.setKeepAlive(true);
}
function dropRef(): void {
  if (--refedCount === 0) binding.setKeepAlive(false);
}

/** Registers a started wait under `waitId` (its native call is submitted). */
function track(waitId: number, p: Pending): void {
  pending.set(waitId, p);
  p.group.waits.add(waitId);
  if (p.refed) addRef();
  if (p.signal) {
    const signal = p.signal;
    p.onAbort = () => cancel(waitId, abortError(signal));
    signal.addEventListener('abort', p.onAbort, { once: true });
  }
}

/** The wait under `waitId` ends: it is no longer pending. */
function untrack(waitId: number, p: Pending): void {
  pending.delete(waitId);
  p.group.waits.delete(waitId);
  if (p.refed) dropRef();
  if (p.signal && p.onAbort) p.signal.removeEventListener('abort', p.onAbort);
}

/** Where the addon reports an async wait's end (addon.ts hands it over in `binding.init`). */
export function dispatch(waitId: number, errno: number, value: Buffer | undefined, extra: number): void {
  const p = pending.get(waitId);
  if (p === undefined) return;
  untrack(waitId, p);

  // A slice of a sliced readiness wait ran out: look again, as after a wake.
  if (errno === 0 || (errno === ETIMEDOUT && p.sliceEnded?.() === true)) {
    // A readiness wait (repark set) has taken nothing yet: cancelled
    // meanwhile, it takes nothing; otherwise `map` takes the item now, on
    // this thread, and the Promise settles right after.
    if (p.repark !== undefined && p.cancelReason) {
      p.reject(p.cancelReason);
      return;
    }
    let result: unknown;
    try {
      result = p.map(value, extra);
    } catch (err) {
      p.reject(withContext(err, p.context)); // the addon's error knows no key or id
      return;
    }
    if (result !== WOULD_BLOCK) {
      p.resolve(result);
      return;
    }
    try {
      // Only a readiness wait's `map` says so: another consumer took the
      // item. Wait again, for what is left of the timeout.
      if (!p.repark?.()) p.reject(timeoutError(p.syscall, p.context));
    } catch (err) {
      p.reject(err); // closed meanwhile
    }
  } else if (errno === ECANCELED) {
    p.reject(p.cancelReason ?? new AbortError());
  } else if (errno === ETIMEDOUT) {
    p.reject(timeoutError(p.syscall, p.context));
  } else {
    p.reject(new SysvIpcError(errno, p.syscall, p.context));
  }
}

/** The longest an async wait spins on the JS thread before parking (ns). */
export const SPIN_MAX_NS = 50_000;

/**
 * How long an async wait may keep retrying its non-blocking call on the JS
 * thread before it parks on a waiter thread. A parked wait costs two thread
 * hops (to the waiter and back through the event loop); when the peer
 * answers within microseconds — a request/response ping-pong — a short spin
 * gets the answer without either.
 *
 * The budget adapts per object and per direction: it starts at zero, grows
 * to 1.5 times the time a parked wait actually took when that was short (a
 * spin of that length would have caught it), and halves on every spin that
 * runs out, so an idle queue stops spinning after a few calls. It never
 * exceeds {@link SPIN_MAX_NS}, so the event loop never stalls for longer.
 */
export class SpinBudget {
  /** Nanoseconds the next non-blocking attempt may spin. */
  ns = 0;

  /** The spin ran out without a result. */
  missed(): void {
    this.ns = this.ns < 2000 ? 0 : this.ns >>> 1;
  }

  /** A parked wait that started at `startedMs` (performance.now()) completed. */
  parkedFor(startedMs: number): void {
    const tookNs = (performance.now() - startedMs) * 1e6;
    if (tookNs < SPIN_MAX_NS) this.ns = Math.min(SPIN_MAX_NS, Math.max(this.ns, Math.ceil(tookNs * 1.5)));
  }
}

/** Options every waiting operation takes. */
export interface WaitOptions {
  /** Rejects the wait with an `AbortError` when aborted. */
  signal?: AbortSignal;
  /** Milliseconds to wait before rejecting with `ETIMEDOUT`; by default, no limit. */
  timeout?: number;
}

/** What a non-blocking attempt returns when the call would have to wait. */
export const WOULD_BLOCK: unique symbol = Symbol('would block');

/** One async wait, as {@link WaitGroup.run} performs it. */
export interface AsyncWait<T> {
  /** The syscall named in errors ('msgrcv', 'semop', 'futex', …). */
  syscall: string;
  /** The key/id named in errors. */
  context: SysvIpcErrorContext;
  /** Validated milliseconds; -1 for no limit, 0 for a single attempt. */
  timeout: number;
  signal: AbortSignal | undefined;
  /** The object's adaptive spin for this direction. */
  spin: SpinBudget;
  /** The non-blocking call, retried for at most `spinNs`: its result, or {@link WOULD_BLOCK}. */
  attempt(spinNs: number): T | typeof WOULD_BLOCK;
  /**
   * Starts the blocking call on a waiter thread (an addon `…Async` entry
   * point), for at most `timeout` ms (-1: no limit; the op's own `timeout` at
   * first, what is left of it when a readiness wait parks again).
   */
  park(waitId: number, timeout: number): void;
  /** The parked call's report (`value`, `extra`) as the result ({@link WOULD_BLOCK}: see `readiness`). */
  parked(value: Buffer | undefined, extra: number): T | typeof WOULD_BLOCK;
  /**
   * A readiness wait: the parked call waits until an item is there and takes
   * none, and `parked` takes it on the JS thread ({@link WOULD_BLOCK}: another
   * consumer was quicker, and the wait parks again). A wait whose worker is
   * terminated then consumes nothing: what cannot be given back (a channel
   * message) is never taken by a call that might not deliver it.
   */
  readiness?: boolean;
  /**
   * Called when the first attempt is put off to the event loop's next turn
   * (the streak of immediate results below): an operation whose attempt or
   * park reads the caller's buffer takes its bytes now, so that a caller
   * reusing the buffer once the call returned sends what it held then.
   */
  deferred?(): void;
  /**
   * A readiness wait that looks again at least this often (ms) even without
   * a wake: a peer that died between making an item available and waking
   * (a Topic publisher killed after its commit) leaves none. A slice that
   * runs out is taken as a wake; the wait's own `timeout` still ends it.
   */
  sliceMs?: number;
}

/**
 * The flags for a synchronous wait's native call: a timeout of 0 is a single
 * IPC_NOWAIT attempt (its "would block" is then reported as a timeout).
 */
export function syncWaitFlags(timeout: number): number {
  return timeout === 0 ? IPC_NOWAIT : 0;
}

/**
 * The pending waits of one object (a queue, a semaphore set, a segment):
 * `close()` cancels them all, and `ref()`/`unref()` decide whether they keep
 * the process alive, the way a socket does.
 */
export class WaitGroup {
  /** Wait ids started by this object and not yet settled. */
  readonly waits = new Set<number>();
  private refed = true;

  constructor(private readonly what: string) {}

  /**
   * Starts a native wait. `submit(waitId)` calls the addon's `…Async` entry
   * point; `map` turns the reported value into the Promise's result.
   */
  start<T>(
    syscall: string,
    context: SysvIpcErrorContext,
    signal: AbortSignal | undefined,
    submit: (waitId: number) => void,
    map: (value: Buffer | undefined, extra: number) => T | typeof WOULD_BLOCK,
    resubmit?: (waitId: number) => boolean,
    sliceEnded?: () => boolean,
  ): Promise<T> {
    if (signal?.aborted) return Promise.reject(abortError(signal));
    const waitId = nextWaitId();
    return new Promise<T>((resolve, reject) => {
      const p: Pending = {
        resolve: resolve as (value: unknown) => void,
        reject,
        map,
        group: this,
        syscall,
        context,
        refed: this.refed,
        signal,
        sliceEnded,
      };
      submit(waitId); // throws synchronously on bad arguments: nothing registered yet
      track(waitId, p);
      if (resubmit) {
        p.repark = () => {
          const next = nextWaitId();
          if (!resubmit(next)) return false;
          track(next, p);
          return true;
        };
      }
    });
  }

  /**
   * The one shape of every async wait in the package:
   * 1. an aborted signal rejects at once;
   * 2. `attempt(spinNs)` — the non-blocking call, which may retry for up to
   *    `spinNs` (the object's adaptive {@link SpinBudget}; 0 when `timeout`
   *    is 0) — settles at once when it succeeds (at most
   *    {@link IMMEDIATE_STREAK_MAX} in a row per turn of the event loop);
   * 3. otherwise `timeout` 0 rejects with ETIMEDOUT, and anything else parks:
   *    `park(waitId)` starts the blocking call on a waiter thread, and
   *    `parked(value, extra)` turns its report into the result.
   * Bad arguments thrown by `attempt` or `park` become a rejection.
   */
  run<T>(op: AsyncWait<T>): Promise<T> {
    try {
      if (op.signal?.aborted) return Promise.reject(abortError(op.signal));
      // A streak of results delivered at once has had its share of this
      // turn of the event loop: wait for the next one before taking anything.
      if (!immediateTurn()) {
        op.deferred?.();
        return nextTurn().then(() => this.run(op));
      }
      const spin = op.spin;
      const now = op.attempt(op.timeout === 0 ? 0 : spin.ns);
      // Taken: handed over with no JavaScript function in between (a worker
      // being terminated stops at the next call, and would lose the item).
      if (now !== WOULD_BLOCK) return Promise.resolve(now);
      immediateStreak--; // nothing was delivered
      spin.missed();
      if (op.timeout === 0) return Promise.reject(timeoutError(op.syscall, op.context));
      const started = performance.now();
      // A sliced wait parks for at most a slice at a time (-1: no limit).
      const slice = op.sliceMs;
      const park =
        slice === undefined
          ? op.park
          : (waitId: number, ms: number) => op.park(waitId, ms < 0 || ms > slice ? slice : ms);
      const sliceEnded =
        slice === undefined ? undefined : () => op.timeout < 0 || performance.now() < started + op.timeout;
      // A readiness wait that finds its item taken parks again for what is left of its timeout.
      const resubmit = op.readiness
        ? (waitId: number): boolean => {
            let left = -1;
            if (op.timeout > 0) {
              left = Math.ceil(started + op.timeout - performance.now());
              if (left <= 0) return false;
            }
            park(waitId, left);
            return true;
          }
        : undefined;
      return this.start(
        op.syscall,
        op.context,
        op.signal,
        (waitId) => park(waitId, op.timeout),
        (value, extra) => {
          spin.parkedFor(started);
          return op.parked(value, extra);
        },
        resubmit,
        sliceEnded,
      );
    } catch (err) {
      // A failed attempt (EIDRM, E2BIG, …): the addon's error knows no key or id.
      return Promise.reject(withContext(err, op.context));
    }
  }

  /** Cancels every pending wait of this object with `reason` (default: a "closed" error). */
  cancelAll(reason: Error = new ClosedError(this.what)): void {
    for (const waitId of this.waits) cancel(waitId, reason);
  }

  /** Pending waits keep the event loop alive (the default). */
  ref(): void {
    if (this.refed) return;
    this.refed = true;
    for (const waitId of this.waits) {
      const p = pending.get(waitId);
      if (p && !p.refed) {
        p.refed = true;
        addRef();
      }
    }
  }

  /** Pending waits no longer keep the event loop alive. */
  unref(): void {
    if (!this.refed) return;
    this.refed = false;
    for (const waitId of this.waits) {
      const p = pending.get(waitId);
      if (p && p.refed) {
        p.refed = false;
        dropRef();
      }
    }
  }

  /** Number of waits started by this object and not yet settled. */
  get size(): number {
    return this.waits.size;
  }
}

function cancel(waitId: number, reason: Error): void {
  const p = pending.get(waitId);
  if (p === undefined || p.cancelReason) return;
  p.cancelReason = reason;
  binding.cancelWait(waitId);
}

// ---- fairness for operations that complete at once

/** After this many async operations tried at once without the event loop turning, one waits for it. */
const IMMEDIATE_STREAK_MAX = 64;
let immediateStreak = 0;
let streakResetScheduled = false;

function resetStreak(): void {
  immediateStreak = 0;
  streakResetScheduled = false;
}

/**
 * Whether an async operation may try to complete at once (its non-blocking
 * attempt) in this turn of the event loop; counts it as one that did.
 * Settling through microtasks only, a loop such as
 * `for (;;) await queue.receive()` on a busy queue would never give the
 * event loop a turn: timers, I/O and signal handlers would wait until the
 * queue ran dry. So after {@link IMMEDIATE_STREAK_MAX} such attempts in a
 * row within one turn of the loop, the next one waits for the next turn
 * before it takes anything: an item taken and then held back for a turn
 * would be lost if the worker were terminated meanwhile.
 */
function immediateTurn(): boolean {
  if (!streakResetScheduled) {
    streakResetScheduled = true;
    setImmediate(resetStreak);
  }
  return ++immediateStreak <= IMMEDIATE_STREAK_MAX;
}

/** A Promise settled in the event loop's next turn. */
function nextTurn(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}
