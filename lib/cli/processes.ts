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
import { processStartTime } from '../kernel';

/** Whether process `pid` runs now (false for 0, which names no process). */
export function isAlive(pid: number): boolean {
  return processStartTime(pid) !== 0;
}

/** `null` for pid 0 (none recorded), else whether it runs: the `…Alive` fields of --json. */
export function aliveOrNull(pid: number): boolean | null {
  return pid === 0 ? null : isAlive(pid);
}

/** A pid in a table cell: "-" for none, the pid, or "1234 (dead)". */
export function pidCell(pid: number): string {
  if (pid === 0) return '-';
  return isAlive(pid) ? String(pid) : `${pid} (dead)`;
}

/** A pid in a sentence: "none", "1234 (alive)" or "1234 (dead)". */
export function pidText(pid: number): string {
  if (pid === 0) return 'none';
  return `${pid} (${isAlive(pid) ? 'alive' : 'dead'})`;
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
