/**
 * This process's handle on one kernel object — what MessageQueue,
 * SemaphoreSet and SharedMemory share: the object's key and id, the waits
 * this process has pending on it, and the handle's life cycle.
 *
 * Closing a handle frees what this process holds and cancels its pending
 * waits; it never removes the kernel object (only `remove()` does). The
 * Semaphore and Mutex views of a set are handles too, on their set's state.
 */
import { ClosedError, type SysvIpcErrorContext } from './errors';
import type { Key } from './keys';
import { WaitGroup } from './waits';

/**
 * What every handle on one kernel object in this process shares:
 * its identity, its pending waits and whether it was closed. A SemaphoreSet
 * and the Semaphore/Mutex views of it hold the same state, so closing any of
 * them closes all.
 */
export class HandleState {
  /** The waits this process started on the object and that have not settled. */
  readonly waits: WaitGroup;
  /** The key as the user writes it: unsigned (0xdeadbeef, not the signed key_t -559038737). */
  readonly key: Key;
  /** The key and id that errors about the object carry (one object, made once: no allocation per call). */
  readonly context: SysvIpcErrorContext;
  closed = false;

  /**
   * @param key The key_t, signed (as the addon and IPC_STAT give it) or unsigned.
   * @param what How errors name the object, for example "message queue".
   */
  constructor(
    readonly id: number,
    key: Key,
    readonly what: string,
  ) {
    // The same 32 bits either way; reported unsigned, as list() and ipcs show keys.
    this.key = key >>> 0;
    this.context = { key: this.key, id };
    this.waits = new WaitGroup(what);
  }

  /** @throws {ClosedError} `ERR_SYSV_IPC_CLOSED` after close. */
  ensureOpen(): void {
    if (this.closed) throw this.closedError();
  }

  /** Marks the handle closed and cancels its pending waits; false if it already was. */
  close(): boolean {
    if (this.closed) return false;
    this.closed = true;
    this.waits.cancelAll(this.closedError());
    return true;
  }

  // ERR_SYSV_IPC_CLOSED naming the object: its id in the message, key and id on the error.
  private closedError(): ClosedError {
    return new ClosedError(`The ${this.what}`, undefined, this.context);
  }
}

export abstract class IpcHandle implements Disposable {
  /** The key the object was created or opened with (from IPC_STAT for `fromId`). */
  readonly key: Key;
  /** The kernel's identifier (msqid, semid or shmid). */
  readonly id: number;
  /** @internal This handle's state, shared with other views of the same handle. */
  protected readonly state: HandleState;
  /** @internal The waits this process started on the object and that have not settled. */
  protected readonly waits: WaitGroup;

  protected constructor(state: HandleState) {
    this.state = state;
    this.id = state.id;
    this.key = state.key;
    this.waits = state.waits;
  }

  /** Whether {@link close} was called. */
  get closed(): boolean {
    return this.state.closed;
  }

  /** @throws {ClosedError} `ERR_SYSV_IPC_CLOSED` after {@link close}. */
  protected ensureOpen(): void {
    this.state.ensureOpen();
  }

  /**
   * Frees this process's handle: its pending waits on the object reject with
   * a "closed" error (nothing is taken); the object stays in the kernel.
   * Idempotent.
   */
  close(): void {
    this.state.close();
  }

  /** Pending waits keep the process alive (the default), like a socket. */
  ref(): this {
    this.waits.ref();
    return this;
  }

  /** Pending waits no longer keep the process alive. */
  unref(): this {
    this.waits.unref();
    return this;
  }

  /** Same as {@link close}, for `using`. */
  [Symbol.dispose](): void {
    this.close();
  }
}
