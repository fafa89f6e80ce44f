/**
 * What Semaphore and Mutex share: both are a friendly face on a
 * SemaphoreSet, and hand their key, id, life cycle and IPC_SET/IPC_RMID to it.
 */
import type { Key } from './keys';
import type { SemaphoreSet, SemaphoreSetSetOptions } from './semaphore-set';

export abstract class SemaphoreSetView implements Disposable {
  /** The set underneath (a set of one for `create`/`open`). */
  readonly semaphoreSet: SemaphoreSet;

  protected constructor(set: SemaphoreSet) {
    this.semaphoreSet = set;
  }

  /** The set's key. */
  get key(): Key {
    return this.semaphoreSet.key;
  }

  /** The set's identifier (semid). */
  get id(): number {
    return this.semaphoreSet.id;
  }

  /** Whether this object's create() or open() call created the set (open-or-create tells who won). */
  get created(): boolean {
    return this.semaphoreSet.created;
  }

  /** Whether the set's handle was closed. */
  get closed(): boolean {
    return this.semaphoreSet.closed;
  }

  /** Changes owner or mode of the set (IPC_SET). */
  set(options: SemaphoreSetSetOptions): void {
    this.semaphoreSet.set(options);
  }

  /** Deletes the whole set from the kernel (IPC_RMID); waiters in every process wake with EIDRM. */
  remove(): void {
    this.semaphoreSet.remove();
  }

  /** Closes the set's handle: this process's pending waits on it are cancelled (nothing is taken). Idempotent. */
  close(): void {
    this.semaphoreSet.close();
  }

  /** Pending waits keep the process alive (the default), like a socket. */
  ref(): this {
    this.semaphoreSet.ref();
    return this;
  }

  /** Pending waits no longer keep the process alive. */
  unref(): this {
    this.semaphoreSet.unref();
    return this;
  }

  /** Same as {@link close}, for `using`. */
  [Symbol.dispose](): void {
    this.close();
  }
}
