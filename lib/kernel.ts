/**
 * Small helpers over what every class needs from the kernel: converting
 * IPC_STAT times, and reading a tunable from /proc/sys/kernel.
 */
import { readFileSync } from 'node:fs';

/** Seconds since the epoch from IPC_STAT (0 means "never") as a Date or null. */
export function statTime(seconds: number): Date | null {
  return seconds === 0 ? null : new Date(seconds * 1000);
}

/** Reads /proc/sys/kernel/<name> as numbers; undefined where it does not exist (not Linux). */
export function readKernelTunable(name: string): number[] | undefined {
  try {
    return readFileSync(`/proc/sys/kernel/${name}`, 'utf8').trim().split(/\s+/).map(Number);
  } catch {
    return undefined;
  }
}
