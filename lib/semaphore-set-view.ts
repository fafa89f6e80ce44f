/**
 * What Semaphore and Mutex add to the handle surface they share with every
 * IpcHandle: both are a friendly face on a SemaphoreSet, on the same handle
 * state (closing either closes both), and hand IPC_SET/IPC_RMID to the set.
 */
import { IpcHandle } from './ipc-handle';
import type { SemaphoreSet, SemaphoreSetSetOptions } from './semaphore-set';
import type { SetState } from './semop';

export abstract class SemaphoreSetView extends IpcHandle {
  /** The set underneath (a set of one for `create`/`open`). */
  readonly semaphoreSet: SemaphoreSet;
  /** @internal The set's handle state, which the semop runners take. */
  protected readonly sem: SetState;

  protected constructor(semaphoreSet: SemaphoreSet, sem: SetState) {
    super(sem);
    this.semaphoreSet = semaphoreSet;
    this.sem = sem;
  }

  /** Whether this object's create() or open() call created the set (open-or-create tells who won). */
  get created(): boolean {
    return this.sem.created;
  }

  /** Changes owner or mode of the set (IPC_SET). */
  set(options: SemaphoreSetSetOptions): void {
    this.semaphoreSet.set(options);
  }

  /** Deletes the whole set from the kernel (IPC_RMID); waiters in every process wake with EIDRM. */
  remove(): void {
    this.semaphoreSet.remove();
  }
}
