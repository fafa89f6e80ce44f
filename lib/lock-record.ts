/**
 * lock.h's uncontended take and release in JavaScript, shared by FastMutex
 * (a record of its own) and the Channel's send lock (bytes 80-95 of its
 * header, lib/channel-ring.ts): one compare-and-swap each, no native call.
 * Contention (sleeping, waking, taking over a dead holder) stays native.
 */
import { endianness, constants as osConstants } from 'node:os';
import { binding } from './addon';
import { SysvIpcError } from './errors';

const L = binding.constants.LOCK;
const PID_MASK = L.PID_MASK;
const RESERVED_BITS = L.RESERVED_BITS;

// Who this process is in a record: pid, and its start time (holder_start,
// a u64 at byte 8, host-endian) as two 32-bit halves. Every thread of the
// process (workers too) is the same holder, as the protocol says. Read by
// the first user, not when the package loads: a process out of file
// descriptors can still load it, and that user then throws why
// /proc/self/stat could not be read.
export const LOCK_PID = process.pid;
let START = 0;
let START_LO = 0;
let START_HI = 0;

/** Reads this process's start time once (throws EOVERFLOW, EMFILE, ... when it cannot). */
export function identifyLockHolder(): void {
  if (START !== 0) return;
  // A pid above 2^22 - 1 does not fit the word (Linux's PID_MAX_LIMIT is 2^22).
  if (LOCK_PID <= 0 || LOCK_PID > PID_MASK) throw new SysvIpcError(osConstants.errno.EOVERFLOW, 'getpid');
  const start = binding.processStartTime(LOCK_PID); // throws EMFILE, ... when /proc cannot tell
  if (start === 0) throw new SysvIpcError(osConstants.errno.ESRCH, 'open'); // not for a live process: defensive
  START_LO = (start % 0x100000000) | 0;
  START_HI = Math.floor(start / 0x100000000) | 0;
  START = start;
}

// Int32 indexes of holder_start's halves, from the record's word.
const LO = endianness() === 'LE' ? 2 : 3;
const HI = endianness() === 'LE' ? 3 : 2;

/** lock.h's sysv_ipc_lock_word_corrupt. */
export function lockWordCorrupt(word: number): boolean {
  return (word & RESERVED_BITS) !== 0 || (word !== 0 && (word & PID_MASK) === 0);
}

/**
 * The uncontended take of the record whose word is `r[at]`: one CAS 0 -> pid,
 * then holder_start (lock.h: 0 until then, since every release sets it to 0,
 * and a waiter takes 0 under a live pid for a holder between the two,
 * however long it stays there). False when the word was not 0.
 * identifyLockHolder() must have succeeded.
 */
export function takeLockRecord(r: Int32Array, at: number): boolean {
  if (Atomics.compareExchange(r, at, 0, LOCK_PID) !== 0) return false;
  r[at + LO] = START_LO;
  r[at + HI] = START_HI;
  return true;
}

/**
 * The uncontended release: holder_start to 0 before the word (lock.h's
 * release), when the word is still ours, then one CAS pid -> 0. False when
 * the word was not plain pid (WAITERS set, taken over, or scribbled): the
 * caller then goes native (which wakes a sleeper) or reports.
 */
export function releaseLockRecord(r: Int32Array, at: number): boolean {
  // Plain stores: V8 keeps them before the compare-and-swap (one effect
  // chain), and the CAS orders them for other CPUs (x64 `lock cmpxchg`,
  // arm64 `casal`/`stlxr`: release).
  if ((r[at]! & PID_MASK) === LOCK_PID) {
    r[at + LO] = 0;
    r[at + HI] = 0;
  }
  return Atomics.compareExchange(r, at, LOCK_PID, 0) === LOCK_PID;
}
