/**
 * The kernel's semaphore limits (semctl IPC_INFO, tunable through
 * /proc/sys/kernel/sem) and the argument checks made against them.
 */
import { binding } from '../addon';
import { OutOfRangeError } from '../errors';
import * as check from '../validate';

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

/** SEMOPM as last read; a larger count reads the tunable again before refusing. */
export function maxOps(count: number): number {
  if (count > limits.SEMOPM) limits = binding.semLimits();
  return limits.SEMOPM;
}

/** Validates a set's size against SEMMSL (read again if the last reading refuses it). */
export function checkSize(name: string, value: unknown): number {
  return check.integer(name, value, 1, Math.max(limits.SEMMSL, binding.semLimits().SEMMSL));
}

/** Validates starting values for a set of `size` (all 0 when left out). */
export function checkValues(name: string, value: unknown, size: number): number[] {
  if (value === undefined) return new Array<number>(size).fill(0);
  if (!Array.isArray(value)) check.invalidType(name, 'an instance of Array', value);
  if (value.length !== size) {
    throw new OutOfRangeError(
      `The "${name}" argument must hold one value per member (${size}). Received ${value.length}`,
    );
  }
  return value.map((v, i) => check.integer(`${name}[${i}]`, v, 0, SEMVMX));
}
