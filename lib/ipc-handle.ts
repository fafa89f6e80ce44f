/**
 * This process's handle on one kernel object — what MessageQueue,
 * SemaphoreSet and SharedMemory share: the object's key and id, the waits
 * this process has pending on it, and the handle's life cycle.
 *
 * Closing a handle frees what this process holds and cancels its pending
 * waits; it never removes the kernel object (only `remove()` does).
 */
import { ClosedError } from './errors';
import type { Key } from './keys';
import { WaitGroup } from './waits';

export abstract class IpcHandle implements Disposable {
  /** The key the object was created or opened with (from IPC_STAT for `fromId`). */
  readonly key: Key;
  /** The kernel's identifier (msqid, semid or shmid). */
  readonly id: number;
  /** @internal The waits this process started on the object and that have not settled. */
  protected readonly waits: WaitGroup;
  private isClosed = false;

  /** @param what How errors name the object, for example "message queue". */
  protected constructor(id: number, key: Key, private readonly what: string) {
    this.id = id;
    this.key = key;
    this.waits = new WaitGroup(what);
  }

  /** Whether {@link close} was called. */
  get closed(): boolean {
    return this.isClosed;
  }

  /** @throws {ClosedError} `ERR_SYSV_IPC_CLOSED` after {@link close}. */
  protected ensureOpen(): void {
    if (this.closed) throw new ClosedError(`The ${this.what}`);
  }

  /**
   * Frees this process's handle: its pending waits on the object reject with
   * a "closed" error (nothing is taken); the object stays in the kernel.
   * Idempotent.
   */
  close(): void {
    if (this.isClosed) return;
    this.isClosed = true;
    this.waits.cancelAll(new ClosedError(`The ${this.what}`));
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
