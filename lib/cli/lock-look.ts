/**
 * Who holds a lock inside a segment (include/sysv-ipc/lock.h): a FastMutex
 * in a segment of its own, a Channel's send lock, or a FastMutex placed at a
 * given offset (FastMutex.in). Only `--peek` and `--mutex-at` look: reading
 * the record attaches the segment (read-only), which the kernel records.
 */
import { peekLockRecord, type ChannelSummary, type SharedMemoryEntry } from '../admin';
import { processStartTime } from '../proc';

/** FastMutex.SIZE: the lock record's bytes (SYSV_IPC_LOCK_SIZE, lock.h), known without loading the addon. */
const LOCK_SIZE = 16;
/** Where a Channel keeps its producers' lock (SYSV_IPC_CHANNEL_OFF_SEND_LOCK, channel.h). */
const CHANNEL_SEND_LOCK = 80;

/** What a lock record is, as --json says it. */
export type LockRole = 'fast mutex' | 'channel send lock' | 'mutex';

/** One lock record read (the `locks` entries of --json). */
export type LockLook =
  | {
      /** Byte offset of the record in the segment. */
      at: number;
      what: LockRole;
      /** The holder's pid; 0 when free. */
      holder: number;
      /** Whether the holder runs (the same process: pid and start time); null when free. */
      alive: boolean | null;
      /** Whether some process said it sleeps waiting for it (the WAITERS bit). */
      waiters: boolean;
    }
  | { at: number; what: LockRole; corrupt: string }
  | { at: number; what: LockRole; unreadable: string };

/** Reads the record at `at`: its holder and whether that process still runs. */
export function lookAtLock(id: number, at: number, what: LockRole): LockLook {
  let record;
  try {
    record = peekLockRecord(id, at);
  } catch (err) {
    const code = (err as { code?: string }).code;
    return { at, what, unreadable: code === 'EINVAL' || code === 'EIDRM' ? 'gone' : (code ?? 'no native addon') };
  }
  if (!record.valid) {
    const hex = (n: number) => `0x${n.toString(16).padStart(8, '0')}`;
    return { at, what, corrupt: `word ${hex(record.word)}, reserved ${hex(record.reserved)}` };
  }
  const { holder, waiters } = record;
  if (holder === 0) return { at, what, holder, alive: null, waiters };
  // lock.h's rule: gone or a zombie is dead; a live pid with another start time
  // than the one the holder stamped is a later process under a reused pid.
  // (Start time 0: taken a moment ago and not yet stamped, so its pid is the holder.)
  // When /proc cannot tell (null: hidepid=2, out of descriptors), alive, as for the waiters.
  const start = processStartTime(holder);
  const alive = start === null || (start !== 0 && (record.holderStart === 0 || record.holderStart === start));
  return { at, what, holder, alive, waiters };
}

/**
 * The locks --peek finds in a segment without being told where: a Channel's
 * send lock, or the FastMutex of a segment of exactly FastMutex.SIZE bytes
 * (what FastMutex.create makes; such a segment holds nothing else, and a
 * record that is not a valid lock is taken for something else, not reported).
 * `channel` is channel-look.ts's ChannelLook, spelt out so the two modules do
 * not import each other.
 */
export function locksOf(e: SharedMemoryEntry, channel: ChannelSummary | null | { unreadable: string }): LockLook[] {
  if (channel !== null && !('unreadable' in channel)) return [lookAtLock(e.id, CHANNEL_SEND_LOCK, 'channel send lock')];
  if (e.size === LOCK_SIZE && channel === null) {
    const look = lookAtLock(e.id, 0, 'fast mutex');
    return 'corrupt' in look ? [] : [look];
  }
  return [];
}

/** Checks a --mutex-at offset against the segment: a multiple of 8 with the whole record inside. */
export function mutexOffsetProblem(offset: number, size: number): string | undefined {
  if (offset % 8 !== 0) return `--mutex-at ${offset} is not a multiple of 8 (a FastMutex is 8-byte aligned)`;
  if (offset + LOCK_SIZE > size) {
    return `--mutex-at ${offset}: a ${LOCK_SIZE}-byte lock record does not fit in the ${size}-byte segment`;
  }
  return undefined;
}

/** The LOCK cell of `ls --peek`: "send: free", "mutex: 1234", "mutex: 1234 (dead)", or "-". */
export function lockCell(locks: LockLook[]): string {
  if (locks.length === 0) return '-';
  return locks
    .map((l) => {
      const name = l.what === 'channel send lock' ? 'send' : 'mutex';
      if ('unreadable' in l) return `${name}: unreadable (${l.unreadable})`;
      if ('corrupt' in l) return `${name}: corrupt`;
      if (l.holder === 0) return `${name}: free`;
      return `${name}: ${l.holder}${l.alive ? '' : ' (dead)'}`;
    })
    .join(', ');
}

/** How `stat` says a lock's state: "free", "held by 1234 (alive)", … */
export function lockText(l: LockLook): string {
  if ('unreadable' in l) return `unreadable (${l.unreadable})`;
  if ('corrupt' in l) return `corrupt (${l.corrupt}): not a lock record`;
  if (l.holder === 0) return 'free';
  const next = l.what === 'channel send lock' ? 'the next sender' : 'the next locker';
  const state = l.alive ? 'alive' : `dead: ${next} takes it over`;
  return `held by ${l.holder} (${state})${l.waiters ? ', others waiting' : ''}`;
}
