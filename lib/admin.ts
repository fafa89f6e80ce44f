/**
 * Administration: what the kernel holds (/proc/sysvipc), its limits
 * (/proc/sys/kernel), and removal by id or key — the library side of the
 * `sysv-ipc` CLI.
 *
 * Listing and limits only read /proc, so they work without loading the
 * native addon (and see every object in this IPC namespace, whatever its
 * permissions, as `ipcs` does). Removal goes through the addon (IPC_RMID).
 */
import { statTime, type IpcOwnership } from './ownership';
import { constants as osConstants, endianness as osEndianness } from 'node:os';
import type { Binding } from './binding';
import { FeatureUnavailableError, InvalidArgTypeError, SysvIpcError, type IpcKind } from './errors';
import { IPC_PRIVATE, type Key } from './keys';
import { kernelTunable, pageSize, sysvipcTable } from './proc';
import * as check from './validate';

export type { IpcKind };

/** The three kinds, in the order `list()` reports them. */
export const IPC_KINDS: readonly IpcKind[] = ['msg', 'sem', 'shm'];

/** What every entry of {@link list} has. */
export interface IpcObjectBase extends IpcOwnership {
  /** Which kind of object this is. */
  kind: IpcKind;
  /** Last IPC_SET or creation. */
  lastChangeTime: Date | null;
}

/** A message queue as {@link list} reports it. */
export interface MessageQueueEntry extends IpcObjectBase {
  kind: 'msg';
  /** Messages in the queue. */
  messages: number;
  /** Bytes of message bodies in the queue. */
  bytes: number;
  /** Pid of the last msgsnd (0 if none). */
  lastSendPid: number;
  /** Pid of the last msgrcv (0 if none). */
  lastReceivePid: number;
  /** Time of the last msgsnd. */
  lastSendTime: Date | null;
  /** Time of the last msgrcv. */
  lastReceiveTime: Date | null;
}

/** A semaphore set as {@link list} reports it. */
export interface SemaphoreSetEntry extends IpcObjectBase {
  kind: 'sem';
  /** Semaphores in the set (nsems). */
  members: number;
  /** Time of the last semop. */
  lastOpTime: Date | null;
}

/** A shared memory segment as {@link list} reports it. */
export interface SharedMemoryEntry extends IpcObjectBase {
  kind: 'shm';
  /** Size in bytes. */
  size: number;
  /** Processes attached now (nattch). */
  attachments: number;
  /** Pid of the creator. */
  creatorPid: number;
  /** Pid of the last shmat/shmdt. */
  lastPid: number;
  /** Time of the last shmat. */
  lastAttachTime: Date | null;
  /** Time of the last shmdt. */
  lastDetachTime: Date | null;
  /**
   * IPC_RMID was called while processes were still attached: the segment
   * disappears at the last detach, and its key already reads as 0 (SHM_DEST;
   * `ipcs` shows "dest").
   */
  removed: boolean;
  /** Locked in memory with SHM_LOCK (SHM_LOCKED). */
  locked: boolean;
  /** Resident bytes, where the kernel reports them (Linux 4.7+). */
  rss?: number;
  /** Swapped-out bytes, where the kernel reports them (Linux 4.7+). */
  swap?: number;
}

/** Any entry of {@link list}; narrow on `kind`. */
export type IpcObject = MessageQueueEntry | SemaphoreSetEntry | SharedMemoryEntry;

/** The entry type for each kind. */
export interface IpcObjectOfKind {
  /** What `list('msg')` returns entries of. */
  msg: MessageQueueEntry;
  /** What `list('sem')` returns entries of. */
  sem: SemaphoreSetEntry;
  /** What `list('shm')` returns entries of. */
  shm: SharedMemoryEntry;
}

// Flags the kernel keeps in shm_perm.mode above the permission bits (linux/shm.h).
const SHM_DEST = 0o1000;
const SHM_LOCKED = 0o2000;

function unavailable(what: string): FeatureUnavailableError {
  return new FeatureUnavailableError(`${what} is not available on this platform (it needs Linux's /proc/sysvipc)`);
}

/** Checks a kind argument ('msg' | 'sem' | 'shm'). */
function checkKind(name: string, value: unknown): IpcKind {
  if (value === 'msg' || value === 'sem' || value === 'shm') return value;
  throw new InvalidArgTypeError(
    `The argument '${name}' must be one of: 'msg', 'sem', 'shm'. Received ${JSON.stringify(value) ?? String(value)}`,
    'ERR_INVALID_ARG_VALUE',
  );
}

function readTable(kind: IpcKind): Array<Record<string, string>> {
  const rows = sysvipcTable(kind);
  if (rows === undefined) throw unavailable('list()');
  return rows;
}

const int = (s: string | undefined): number => (s === undefined || s === '' ? 0 : Number(s));
const time = (s: string | undefined): Date | null => statTime(int(s));

function base(row: Record<string, string>, idColumn: string): Omit<IpcObjectBase, 'kind'> {
  return {
    // Printed with %d (the signed key_t): reported unsigned, as written in hex (0xdeadbeef, not -559038737).
    key: int(row.key) >>> 0,
    id: int(row[idColumn]),
    mode: parseInt(row.perms ?? '0', 8) & 0o777,
    uid: int(row.uid),
    gid: int(row.gid),
    cuid: int(row.cuid),
    cgid: int(row.cgid),
    lastChangeTime: time(row.ctime),
  };
}

function parseMsg(row: Record<string, string>): MessageQueueEntry {
  return {
    kind: 'msg',
    ...base(row, 'msqid'),
    messages: int(row.qnum),
    bytes: int(row.cbytes),
    lastSendPid: int(row.lspid),
    lastReceivePid: int(row.lrpid),
    lastSendTime: time(row.stime),
    lastReceiveTime: time(row.rtime),
  };
}

function parseSem(row: Record<string, string>): SemaphoreSetEntry {
  return { kind: 'sem', ...base(row, 'semid'), members: int(row.nsems), lastOpTime: time(row.otime) };
}

function parseShm(row: Record<string, string>): SharedMemoryEntry {
  const rawMode = parseInt(row.perms ?? '0', 8);
  const entry: SharedMemoryEntry = {
    kind: 'shm',
    ...base(row, 'shmid'),
    size: int(row.size),
    attachments: int(row.nattch),
    creatorPid: int(row.cpid),
    lastPid: int(row.lpid),
    lastAttachTime: time(row.atime),
    lastDetachTime: time(row.dtime),
    removed: (rawMode & SHM_DEST) !== 0,
    locked: (rawMode & SHM_LOCKED) !== 0,
  };
  if (row.rss !== undefined) entry.rss = int(row.rss);
  if (row.swap !== undefined) entry.swap = int(row.swap);
  return entry;
}

const PARSERS: { [K in IpcKind]: (row: Record<string, string>) => IpcObjectOfKind[K] } = {
  msg: parseMsg,
  sem: parseSem,
  shm: parseShm,
};

/**
 * Every System V object of one kind (or of all kinds) that the kernel holds
 * in this IPC namespace, read from `/proc/sysvipc/{msg,sem,shm}` — the same
 * source as `ipcs`, so it includes objects this process may not open.
 * Ordered by kind, then by id. Keys are unsigned (0 to 2^32 - 1: 0xdeadbeef is
 * 3735928559, as written), whatever sign the caller used when creating.
 *
 * ```ts
 * for (const q of list('msg')) console.log(q.id, q.messages);
 * ```
 *
 * @param kind `'msg'`, `'sem'` or `'shm'`; all three when left out.
 * @throws {Error} `ERR_FEATURE_UNAVAILABLE_ON_PLATFORM` where there is no /proc/sysvipc (macOS, FreeBSD).
 * @throws {TypeError} `ERR_INVALID_ARG_VALUE` for another kind.
 */
export function list<K extends IpcKind>(kind: K): Array<IpcObjectOfKind[K]>;
export function list(kind?: IpcKind): IpcObject[];
export function list(kind?: IpcKind): IpcObject[] {
  const kinds = kind === undefined ? IPC_KINDS : [checkKind('kind', kind)];
  const out: IpcObject[] = [];
  for (const k of kinds) {
    const parse = PARSERS[k] as (row: Record<string, string>) => IpcObject;
    out.push(
      ...readTable(k)
        .map(parse)
        .sort((a, b) => a.id - b.id),
    );
  }
  return out;
}

/** The kernel's System V limits, as {@link limits} reports them. */
export interface IpcLimits {
  /** Largest message body in bytes (msgmax). */
  msgmax: number;
  /** Default capacity of a new queue in bytes (msgmnb); raising a queue above it needs CAP_SYS_RESOURCE. */
  msgmnb: number;
  /** Most message queues system-wide (msgmni). */
  msgmni: number;
  /** Most semaphores in one set (semmsl). */
  semmsl: number;
  /** Most semaphores system-wide (semmns). */
  semmns: number;
  /** Most operations in one semop call (semopm). */
  semopm: number;
  /** Most semaphore sets system-wide (semmni). */
  semmni: number;
  /** Largest semaphore value (SEMVMX, fixed at 32767 in Linux). */
  semvmx: number;
  /**
   * Largest segment in bytes (shmmax). Linux's default is close to 2^64, which
   * a JavaScript number holds only approximately: read such values as "no limit".
   */
  shmmax: number;
  /** Most shared memory system-wide, in pages (shmall); approximate when near 2^64 as for shmmax. */
  shmall: number;
  /** Most segments system-wide (shmmni). */
  shmmni: number;
  /** The page size in bytes: segments are allocated in whole pages, and shmall counts pages. */
  pageSize: number;
}

// SEMVMX, the largest value a semaphore can hold (include/uapi/linux/sem.h).
// Not exported from the index: the semaphore module exports its own SEMVMX.
const SEMVMX = 32767;

function tunable(name: string): number[] {
  const values = kernelTunable(name);
  if (values === undefined) throw unavailable('limits()');
  return values;
}

/**
 * The kernel's System V limits, fresh from `/proc/sys/kernel` on each call
 * (they can be changed at run time with sysctl), so programs and error
 * messages can name them.
 *
 * @throws {Error} `ERR_FEATURE_UNAVAILABLE_ON_PLATFORM` where there is no /proc/sys/kernel (macOS, FreeBSD).
 */
export function limits(): IpcLimits {
  const [semmsl, semmns, semopm, semmni] = tunable('sem');
  return {
    msgmax: tunable('msgmax')[0],
    msgmnb: tunable('msgmnb')[0],
    msgmni: tunable('msgmni')[0],
    semmsl,
    semmns,
    semopm,
    semmni,
    semvmx: SEMVMX,
    shmmax: tunable('shmmax')[0],
    shmall: tunable('shmall')[0],
    shmmni: tunable('shmmni')[0],
    pageSize: pageSize(),
  };
}

type Remover = (id: number) => void;

// The initialised addon (addon.ts), loaded on first use, so that list() and
// limits() (and `sysv-ipc ls`) work even where the native addon cannot load.
function addon(): Binding {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  return (require('./addon') as { binding: Binding }).binding;
}

function remover(kind: IpcKind): Remover {
  const binding = addon();
  return { msg: binding.msgRemove, sem: binding.semRemove, shm: binding.shmRemove }[kind];
}

/**
 * What {@link peekChannel} reports about a segment that holds a channel.
 * Its own interface (the addon's RawChannelStats has the same fields), so
 * that the public typings never reach the addon's.
 */
export interface ChannelSummary {
  /** Bytes in the ring. */
  capacity: number;
  /** The largest message the channel takes, in bytes. */
  maxMessageSize: number;
  /** Messages queued (a lower bound when countsExact is false). */
  messages: number;
  /** Bytes of those messages' bodies (a lower bound when countsExact is false). */
  bytes: number;
  /** Ring bytes in use, framing and padding included. */
  usedBytes: number;
  /**
   * false when the ring holds more than the 2^20 records a look walks:
   * messages and bytes are then lower bounds, as for Channel info().
   */
  countsExact: boolean;
  /** Whether Channel.remove() marked the channel removed. */
  removed: boolean;
}

/**
 * Whether shared memory segment `id` holds a {@link Channel}, and its state:
 * the segment is attached read-only for the look and detached again; nothing
 * is written. `null` if it holds no channel (of this layout version).
 * @throws {SysvIpcError} EACCES if this process may not read the segment;
 *   `ERR_SYSV_IPC_CHANNEL_CORRUPT`; EINVAL if there is no such segment.
 */
export function peekChannel(id: number): ChannelSummary | null {
  const shmid = check.ipcId('id', id);
  return addon().chPeek(shmid);
}

/**
 * What {@link peekMap} reports about a segment that holds a map. Its own
 * interface (the addon's RawMapPeek has the same fields), so that the
 * public typings never reach the addon's. The counters are a snapshot read
 * without the lock; only `corrupt` is there for a header that does not add up.
 */
export interface MapSummary {
  /** The map header does not add up (its geometry is out of range). */
  corrupt: boolean;
  /** Bytes for entries (in each of the two data halves). */
  capacity?: number;
  /** Index slots. */
  slots?: number;
  /** The most entries it takes. */
  maxEntries?: number;
  /** The longest key, in bytes. */
  maxKeySize?: number;
  /** The longest value, in bytes. */
  maxValueSize?: number;
  /** Whether a full map evicts (true) or refuses a new key (false). */
  evict?: boolean;
  /** Entries now. */
  entries?: number;
  /** Data bytes in use. */
  usedBytes?: number;
}

/**
 * Whether shared memory segment `id` holds a {@link SharedMap}, and its
 * geometry and use (entries, usedBytes: a snapshot read without the lock).
 * Attached read-only for the look and detached again; nothing is written.
 * `null` if it holds no map; `{ corrupt: true }` for a map header that does not add up.
 * Used by `sysv-ipc ls --peek` and `stat --peek`; not exported from the package index.
 */
export function peekMap(id: number): MapSummary | null {
  const shmid = check.ipcId('id', id);
  return addon().mapPeek(shmid);
}

/** One member of a semaphore set as {@link semaphoreMembers} reports it. */
export interface SemaphoreMember {
  /** The member's index in the set (semnum). */
  index: number;
  /** Its value (GETVAL). */
  value: number;
  /** Processes blocked waiting for the value to rise (GETNCNT). */
  waitingForNonZero: number;
  /** Processes blocked waiting for the value to be zero (GETZCNT). */
  waitingForZero: number;
  /** The pid of the last semop on it, or of SETVAL/SETALL (GETPID); 0 if none. */
  lastPid: number;
}

/**
 * Every member of semaphore set `id`: value, waiters and last pid
 * (semctl(2) GETVAL, GETNCNT, GETZCNT, GETPID). Reading them changes
 * nothing (no time, no pid). Used by `sysv-ipc stat sem`; not exported from
 * the package index.
 * @throws {SysvIpcError} EACCES without read permission; EINVAL/EIDRM if the set is gone.
 */
export function semaphoreMembers(id: number): SemaphoreMember[] {
  const semid = check.ipcId('id', id);
  const binding = addon();
  const size = binding.semStat(semid).size;
  const members: SemaphoreMember[] = [];
  for (let index = 0; index < size; index++) {
    const m = binding.semMember(semid, index);
    members.push({
      index,
      value: m.value,
      waitingForNonZero: m.waitingForNonZero,
      waitingForZero: m.waitingForZero,
      lastPid: m.lastPid,
    });
  }
  return members;
}

/** A lock record (include/sysv-ipc/lock.h) as {@link peekLockRecord} reads it. */
export interface LockRecord {
  /** The lock word: 0 free, else the holder's pid (bits 0..21) | WAITERS (bit 31). */
  word: number;
  /** The reserved u32 after the word (0 in a valid record). */
  reserved: number;
  /** Whether the record holds possible values (lock.h: no reserved bit set, WAITERS only with a pid, reserved 0). */
  valid: boolean;
  /** The holder's pid (0: free). */
  holder: number;
  /** Whether a process said it sleeps waiting for the lock (WAITERS). */
  waiters: boolean;
  /** The holder's start time (clock ticks after boot, liveness.h), 0 before it is stamped. */
  holderStart: number;
}

/**
 * The 16-byte lock record at `offset` of shared memory segment `id` (a
 * FastMutex, or a Channel's send lock at byte 80), read through a read-only
 * attachment that is detached again: nothing is written, but the kernel
 * records the attach (shm_lpid, shm_atime, shm_dtime). Used by the CLI's
 * `--peek`; not exported from the package index.
 * @throws {SysvIpcError} EACCES if this process may not read the segment; EINVAL if there is no such segment.
 * @throws {RangeError} `ERR_OUT_OF_RANGE` if the record does not fit in the segment.
 */
export function peekLockRecord(id: number, offset: number): LockRecord {
  const shmid = check.ipcId('id', id);
  const binding = addon();
  const L = binding.constants.LOCK;
  const { handle, size } = binding.shmat(shmid, true);
  try {
    const at = check.integer('offset', offset, 0, Math.max(0, size - L.SIZE));
    const bytes = binding.shmRead(handle, at, L.SIZE);
    const le = osEndianness() === 'LE';
    const u32 = (i: number) => (le ? bytes.readUInt32LE(i) : bytes.readUInt32BE(i));
    const word = u32(0);
    const reserved = u32(4);
    const holder = word & L.PID_MASK;
    const valid = (word & L.RESERVED_BITS) === 0 && (word === 0 || holder !== 0) && reserved === 0;
    const start = le ? bytes.readBigUInt64LE(8) : bytes.readBigUInt64BE(8);
    return { word, reserved, valid, holder, waiters: (word & L.WAITERS) !== 0, holderStart: Number(start) };
  } finally {
    binding.shmDetach(handle);
  }
}

/**
 * Removes an object by its identifier (msgctl/semctl/shmctl with IPC_RMID),
 * like `ipcrm -q|-s|-m id`. Processes blocked on a removed queue or semaphore
 * wake with EIDRM; a removed segment lives on until its last detach.
 *
 * @param kind `'msg'`, `'sem'` or `'shm'`.
 * @param id The identifier (from `list()`, `x.id`, or a C program).
 * @throws {SysvIpcError} `EINVAL` if no such object (or it is already gone);
 *   `EPERM` if the caller is neither owner nor creator (and not privileged).
 * @throws {TypeError} `ERR_INVALID_ARG_VALUE` for an unknown kind.
 */
export function remove(kind: IpcKind, id: number): void {
  const k = checkKind('kind', kind);
  const ipcId = check.ipcId('id', id);
  remover(k)(ipcId);
}

/**
 * Removes the object of this kind that has this key (like `ipcrm -Q|-S|-M key`)
 * and returns its identifier. The key is looked up in `/proc/sysvipc`.
 *
 * @param kind `'msg'`, `'sem'` or `'shm'`.
 * @param key A key other than {@link IPC_PRIVATE} (signed or unsigned 32-bit, as C programs print it).
 * @returns The identifier of the object removed.
 * @throws {SysvIpcError} `ENOENT` (syscall `msgget`/`semget`/`shmget`) if no object has the key; `EPERM` as for {@link remove}.
 * @throws {RangeError} `ERR_OUT_OF_RANGE` for IPC_PRIVATE, which names no single object.
 */
export function removeByKey(kind: IpcKind, key: Key): number {
  const k = checkKind('kind', kind);
  const wanted = check.key('key', key);
  if (wanted === IPC_PRIVATE) {
    check.outOfRange('key', 'a key other than IPC_PRIVATE (0), which names no single object', key);
  }
  // Signed or unsigned, the same 32 bits: compare unsigned, as list() reports keys.
  const entry = list(k).find((e) => e.key === wanted >>> 0);
  if (!entry) throw new SysvIpcError(osConstants.errno.ENOENT, `${k}get`, { key: wanted >>> 0 });
  remover(k)(entry.id);
  return entry.id;
}
