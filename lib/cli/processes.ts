/**
 * Whether the processes the kernel names (last sender, creator, last pid of a
 * semaphore) still run: "who holds it?" is only half answered by a pid.
 *
 * Alive means a process with that pid runs now and is not a zombie (the rule
 * of include/sysv-ipc/liveness.h). The kernel records only pids, and pids are
 * reused: a pid that reads as alive may name a later process. Lock records
 * (lock-look.ts) also hold the holder's start time, which tells those apart.
 */
import type { IpcObject } from '../admin';
import { processStartTime } from '../proc';

/** Whether process `pid` runs now (false for 0, which names no process). */
export function isAlive(pid: number): boolean {
  return liveness(pid) !== 'dead';
}

/**
 * Whether `pid` runs, as a lock's waiters judge it (liveness.h): 'unknown'
 * when /proc cannot tell (hidepid=2, out of descriptors), which counts as
 * alive everywhere a decision is made (`rm --creator-dead` keeps it).
 */
export function liveness(pid: number): 'alive' | 'dead' | 'unknown' {
  const start = processStartTime(pid);
  return start === null ? 'unknown' : start === 0 ? 'dead' : 'alive';
}

/** `null` for pid 0 (none recorded), else whether it runs: the `…Alive` fields of --json. */
export function aliveOrNull(pid: number): boolean | null {
  return pid === 0 ? null : isAlive(pid);
}

/** A pid in a table cell: "-" for none, the pid, or "1234 (dead)". */
export function pidCell(pid: number): string {
  if (pid === 0) return '-';
  const state = liveness(pid);
  return state === 'alive' ? String(pid) : `${pid} (${state === 'dead' ? 'dead' : 'cannot tell'})`;
}

/** A pid in a sentence: "none", "1234 (alive)" or "1234 (dead)". */
export function pidText(pid: number): string {
  if (pid === 0) return 'none';
  const state = liveness(pid);
  return `${pid} (${state === 'unknown' ? 'alive, as far as /proc tells' : state})`;
}

/** An entry with an `…Alive` field beside each pid it has (--json of ls and stat). */
export function withLiveness(e: IpcObject): IpcObject & Record<string, unknown> {
  if (e.kind === 'msg') {
    return { ...e, lastSendPidAlive: aliveOrNull(e.lastSendPid), lastReceivePidAlive: aliveOrNull(e.lastReceivePid) };
  }
  if (e.kind === 'shm')
    return { ...e, creatorPidAlive: aliveOrNull(e.creatorPid), lastPidAlive: aliveOrNull(e.lastPid) };
  return { ...e }; // /proc/sysvipc/sem has no pids: stat sem reads each member's (GETPID)
}
