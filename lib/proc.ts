/**
 * What the package reads from /proc (the kernel's tunables, the sysvipc
 * tables, this process's mappings, other processes' start times): every
 * /proc read is here; the addon makes none.
 */
import { Buffer } from 'node:buffer';
import { closeSync, openSync, readFileSync, readSync } from 'node:fs';

/** A /proc file's text; undefined where it does not exist (not Linux). Other failures throw. */
function readProc(file: string): string | undefined {
  try {
    return readFileSync(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
}

/** /proc/sys/kernel/<name> as numbers; undefined where it does not exist. Other failures throw. */
export function kernelTunable(name: string): number[] | undefined {
  return readProc(`/proc/sys/kernel/${name}`)?.trim().split(/\s+/).map(Number);
}

/** /proc/sys/kernel/<name> as numbers; undefined where it cannot be read (for defaults that have a fallback). */
export function readKernelTunable(name: string): number[] | undefined {
  try {
    return kernelTunable(name);
  } catch {
    return undefined;
  }
}

/**
 * /proc/sysvipc/<kind> as one record per object, keyed by column name;
 * undefined where it does not exist. The file is a header line of column
 * names and one line per object (ipc/util.c, ipc/{msg,sem,shm}.c); columns
 * are read by name, not by position, because kernels add columns over time
 * (shm's rss and swap in 4.7).
 */
export function sysvipcTable(kind: 'msg' | 'sem' | 'shm'): Array<Record<string, string>> | undefined {
  const text = readProc(`/proc/sysvipc/${kind}`);
  if (text === undefined) return undefined;
  const lines = text.split('\n').filter((line) => line.trim() !== '');
  const header = (lines.shift() ?? '').trim().split(/\s+/);
  return lines.map((line) => {
    const fields = line.trim().split(/\s+/);
    const row: Record<string, string> = {};
    header.forEach((name, i) => {
      row[name] = fields[i] ?? '';
    });
    return row;
  });
}

/** /proc/self/maps (what is mapped into this process); undefined where it cannot be read. */
export function ownMappings(): string | undefined {
  try {
    return readProc('/proc/self/maps');
  } catch {
    return undefined;
  }
}

/**
 * The kernel's page size. Node has no sysconf(_SC_PAGESIZE): the first
 * mapping in /proc/self/smaps names it; 4096 if that cannot be read.
 */
export function pageSize(): number {
  let fd: number | undefined;
  try {
    fd = openSync('/proc/self/smaps', 'r');
    const buf = Buffer.alloc(8192);
    const n = readSync(fd, buf, 0, buf.length, null);
    const m = /^KernelPageSize:\s+(\d+) kB/m.exec(buf.toString('latin1', 0, n));
    if (m) return Number(m[1]) * 1024;
  } catch {
    // fall through
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
  return 4096;
}

/**
 * The "Threads:" count of /proc/<pid>/status (proc(5)), `null` if it cannot
 * be read: liveness.h's sysv_ipc__thread_count, which also counts an error
 * as "cannot tell". A zombie counts 1 (its leader, not yet reaped).
 */
function threadCount(pid: number): number | null {
  let text: string;
  try {
    text = readFileSync(`/proc/${pid}/status`, 'latin1');
  } catch {
    return null;
  }
  const m = /\nThreads:\s*(\d+)/.exec(text);
  return m === null ? null : Number(m[1]);
}

/**
 * The start time of process `pid` (clock ticks after boot, field 22 of
 * /proc/<pid>/stat, proc(5)); 0 if the process is known to be gone (no such
 * process, or a zombie: state Z with one thread left); `null` when /proc cannot tell (this process is out
 * of file descriptors, or /proc is mounted hidepid=2 and the process is
 * another user's: its entry reads as missing while kill(pid, 0) finds it).
 * include/sysv-ipc/liveness.h's rule, read without the addon, so that a
 * process is dead here exactly when it is dead for a lock's waiters, and
 * "cannot tell" counts as alive there and here. Start times are exact
 * integers up to 2^53 ticks.
 */
export function processStartTime(pid: number): number | null {
  if (!Number.isInteger(pid) || pid <= 0) return 0;
  let text: string;
  try {
    text = readFileSync(`/proc/${pid}/stat`, 'latin1');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') return null;
    // hidepid=2 hides another user's live process as ENOENT too: only the
    // kernel's "no such process" is dead.
    try {
      process.kill(pid, 0);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ESRCH') return 0;
    }
    return null;
  }
  // "pid (comm) state ..." — comm may hold spaces and ')': the last ')' ends it.
  const end = text.lastIndexOf(')');
  if (end < 0) return null;
  const fields = text.slice(end + 2).split(' '); // fields[0] is field 3 (state)
  if (fields[0] === 'X' || fields[0] === 'x') return 0;
  if (fields[0] === 'Z') {
    // stat shows the thread group leader's state: Z also for a live process
    // whose main thread exited (pthread_exit) while another thread runs.
    const threads = threadCount(pid);
    if (threads === null) return null;
    if (threads <= 1) return 0; // a zombie: it never runs again
  }
  const start = Number(fields[22 - 3]);
  return Number.isSafeInteger(start) && start > 0 ? start : null;
}
