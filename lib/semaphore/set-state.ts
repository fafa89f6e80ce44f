/**
 * This process's handle on one semaphore set: the state a SemaphoreSet and
 * its Semaphore and Mutex views share (closing any closes all), and that the
 * semop runners of operations.ts take.
 */
import { HandleState } from '../ipc-handle';
import * as check from '../validate';
import { SpinBudget } from '../waits';
import type { OpenedSet } from './open';

/** This process's handle on one semaphore set, shared by the set and its Semaphore/Mutex views. */
export class SetState extends HandleState {
  /** Number of members. */
  readonly size: number;
  /** Whether the create() or open() call that made this handle created the set. */
  readonly created: boolean;
  /** How long an async operation may retry on the JS thread before parking. */
  readonly spin = new SpinBudget();

  constructor(opened: OpenedSet) {
    super(opened.id, opened.key, 'semaphore set');
    this.size = opened.size;
    this.created = opened.created;
  }

  /** Checks a member index. */
  checkIndex(name: string, index: unknown): number {
    return check.integer(name, index, 0, this.size - 1);
  }
}
