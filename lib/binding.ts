/**
 * The one typed interface to the native addon (`native/`).
 *
 * The addon is a thin, paranoid syscall layer: it takes already-validated
 * plain values (it re-validates them and throws on anything wrong), runs the
 * syscall, and returns plain values. Everything else — options, defaults,
 * Promises, objects — lives in the TypeScript classes built on this file.
 *
 * Conventions shared by every entry point:
 * - a failed syscall throws {@link SysvIpcError} (constructed natively from
 *   the class passed to `init`);
 * - `timeoutMs` is -1 for "no timeout", otherwise milliseconds >= 0;
 * - the `…Async` forms return at once and report through the dispatcher given
 *   to `init`: `dispatch(waitId, errno, value, extra)`, with errno 0 on
 *   success, ETIMEDOUT when the deadline passed and ECANCELED after
 *   `cancelWait`. They never run on libuv's threadpool.
 */
import * as path from 'node:path';
import { loadAddon } from './addon-loader';
import type { SysvIpcError } from './errors';

/** Called on the JS thread when an async wait ends. */
export type WaitDispatch = (waitId: number, errno: number, value: Buffer | undefined, extra: number) => void;

/** The ipc_perm part every raw IPC_STAT carries (SetPermFields in native/ipc_common.h fills it). */
export interface RawIpcPerm {
  key: number;
  uid: number;
  gid: number;
  cuid: number;
  cgid: number;
  mode: number;
}

/** Raw IPC_STAT of a message queue (times in seconds since the epoch, 0 = never). */
export interface RawMsgStat extends RawIpcPerm {
  messages: number;
  bytes: number;
  maxBytes: number;
  lastSendPid: number;
  lastReceivePid: number;
  lastSendTime: number;
  lastReceiveTime: number;
  lastChangeTime: number;
}

/** Raw IPC_STAT of a semaphore set (times in seconds since the epoch, 0 = never). */
export interface RawSemStat extends RawIpcPerm {
  size: number;
  lastOpTime: number;
  lastChangeTime: number;
}

/** Raw IPC_STAT of a shared memory segment (times in seconds since the epoch, 0 = never). */
export interface RawShmStat extends RawIpcPerm {
  size: number;
  creatorPid: number;
  lastPid: number;
  attachments: number;
  lastAttachTime: number;
  lastDetachTime: number;
  lastChangeTime: number;
}

/** An opaque native attachment handle (shared memory): an External the addon checks against its registry on every call. */
export interface ShmHandle {
  readonly __shmHandle: unique symbol;
}

/** An opaque native channel handle: an External the addon checks against its registry on every call. */
export interface ChannelHandle {
  readonly __channelHandle: unique symbol;
}

/** What chOpen/chAttach return. */
export interface RawChannelOpen {
  handle: ChannelHandle;
  id: number;
  capacity: number;
  maxMessageSize: number;
  /** chOpen only: whether this call created the segment. */
  created?: boolean;
}

/**
 * A channel's state, read from its header and ring.
 *
 * @inline
 */
export interface RawChannelStats {
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
  /** false when the walk stopped at CHANNEL_STATS_WALK records: messages and bytes are then lower bounds. */
  countsExact: boolean;
  /** Whether Channel.remove() marked the channel removed. */
  removed: boolean;
}

/** Constants compiled into the addon for this platform. */
export interface NativeConstants {
  IPC_PRIVATE: number;
  IPC_CREAT: number;
  IPC_EXCL: number;
  IPC_NOWAIT: number;
  MSG_NOERROR: number;
  /** 0 where the platform has no MSG_EXCEPT (macOS, FreeBSD). */
  MSG_EXCEPT: number;
  SEM_UNDO: number;
  SHM_RDONLY: number;
  ECANCELED: number;
  ETIMEDOUT: number;
  /** Whether semtimedop(2) exists (real kernel timeouts for semaphores). */
  HAVE_SEMTIMEDOP: boolean;
  HAVE_MSG_EXCEPT: boolean;
  /** Whether futex(2) is available for SharedMemory wait/notify. */
  HAVE_FUTEX: boolean;
  /** Whether waits park with a per-thread timer to end them (Linux); without, they poll (README, Platform limits). */
  HAVE_THREAD_TIMERS: boolean;
  /** The largest message type (mtype is a C long). */
  MTYPE_MAX: number;
  /** Bytes before the body in a received message: sizeof(long), the mtype. */
  MSG_HEADER_SIZE: number;
  /** Channel layout (include/sysv-ipc/channel.h). */
  CHANNEL_HEADER_SIZE: number;
  CHANNEL_MIN_CAPACITY: number;
  CHANNEL_RECORD_HEADER: number;
  /** The most records info() and peekChannel() walk to count messages. */
  CHANNEL_STATS_WALK: number;
  /** errno of a corrupt channel (ERR_SYSV_IPC_CHANNEL_CORRUPT). */
  EBADMSG: number;
  /** errno of a segment that holds no channel of this version (ERR_SYSV_IPC_NOT_A_CHANNEL). */
  EPROTO: number;
  /** errno of a message longer than the receive target. */
  EMSGSIZE: number;
  /** Hash of the native sources this binary was built from (scripts/source-hash.js). */
  SOURCE_HASH: string;
  /**
   * The lock record of include/sysv-ipc/lock.h (FastMutex): its size, word
   * bits, release results (0, EPERM, EUCLEAN), a wait's outcome (TAKEN ..
   * DETACHED) and a take-over's result (TAKE_OVER_NONE, TAKE_OVER_TAKEN, CORRUPT).
   */
  LOCK: {
    SIZE: number;
    PID_MASK: number;
    WAITERS: number;
    RESERVED_BITS: number;
    EPERM: number;
    EUCLEAN: number;
    TAKEN: 0;
    OWNER_DIED: 1;
    CORRUPT: 2;
    DETACHED: 3;
    TAKE_OVER_NONE: 0;
    TAKE_OVER_TAKEN: 1;
  };
  /** A futex wait's result (shmWaitSync; shmWaitAsync's `extra`: OK or NOT_EQUAL). */
  WAIT: { OK: 0; NOT_EQUAL: 1; TIMED_OUT: 2 };
  /**
   * A receive into a caller's buffer (msgrcv, chReceive): the length (>= 0),
   * WOULD_BLOCK, or at TOO_LONG - n and below a message of n bytes too long
   * for it (nothing taken).
   */
  RECEIVE: { WOULD_BLOCK: -1; TOO_LONG: -2 };
  /** SharedMap (native/shared_map.cc, map.h); absent without futex(2). */
  MAP?: { CORRUPT: number; NOT_A_MAP: number; H_TOKEN: number };
  /** The topic layout of include/sysv-ipc/topic.h (empty where futex(2) is missing). */
  TOPIC: TopicConstants;
}

/** The results that cross the addon boundary (native/results.h), as unions. */
type Values<T> = T[keyof T];
export type WaitResultCode = Values<NativeConstants['WAIT']>;
export type LockOutcome = NativeConstants['LOCK']['TAKEN' | 'OWNER_DIED' | 'CORRUPT' | 'DETACHED'];
export type TakeOverResult = NativeConstants['LOCK']['TAKE_OVER_NONE' | 'TAKE_OVER_TAKEN' | 'CORRUPT'];
/** A length (>= 0), RECEIVE.WOULD_BLOCK, or RECEIVE.TOO_LONG - n. */
export type ReceiveResult = number;

/** The shape of the loaded addon. */
export interface Binding {
  readonly constants: NativeConstants;

  // ---- module (native/addon.cc, native/waiter_pool.cc)
  /**
   * Hands the addon the async dispatcher and the error class. Returns a
   * generation number (1 on first load; higher if the JS layer is loaded
   * again over the same addon instance).
   */
  init(dispatch: WaitDispatch, errorClass: typeof SysvIpcError): number;
  /** Whether pending async waits keep the event loop alive. */
  setKeepAlive(on: boolean): void;
  /** Asks a pending wait to stop; it then reports ECANCELED (or its real result if it had already completed). */
  cancelWait(waitId: number): void;

  // ---- message queues (native/message_queue.cc)
  msgget(key: number, flags: number): number;
  /**
   * true when sent; false when IPC_NOWAIT was given and the queue is full.
   * `args`: float64s [id, type, flags, wait] (lib/call-args.ts); `wait` is the
   * timeout in ms (-1: none) for a blocking send, or, with IPC_NOWAIT, how many
   * ns (0 to 1e6) to keep retrying before giving up.
   */
  msgsnd(args: ArrayBuffer, data: Uint8Array): boolean;
  /**
   * Receives into the ArrayBuffer `into` (MSG_HEADER_SIZE bytes of native-endian mtype, then
   * the body; it must hold MSG_HEADER_SIZE + maxSize bytes) and returns the
   * body's length, or RECEIVE.WOULD_BLOCK when IPC_NOWAIT was given and none
   * matched. `args`: float64s [id, maxSize, type, flags, wait]; `wait` as for msgsnd.
   */
  msgrcv(args: ArrayBuffer, into: ArrayBuffer): ReceiveResult;
  /**
   * msgrcv into a new Buffer made natively, the type written to `typeOut[0]`
   * (NaN: not a safe integer, the Buffer then holds the header too); null:
   * IPC_NOWAIT and nothing matches. `args` as msgrcv's.
   */
  msgrcvBuffer(args: ArrayBuffer, typeOut: Float64Array): Buffer | null;
  /** `args`: float64s [id, type, flags, timeoutMs]. */
  msgsndAsync(args: ArrayBuffer, data: Uint8Array, waitId: number): void;
  /** Reports the body as `value` and the type as `extra`. `args`: float64s [id, maxSize, type, flags, timeoutMs]. */
  msgrcvAsync(args: ArrayBuffer, waitId: number): void;
  msgStat(id: number): RawMsgStat;
  /** IPC_SET; -1 keeps a field as it is. */
  msgSet(id: number, mode: number, uid: number, gid: number, maxBytes: number): void;
  msgRemove(id: number): void;

  // ---- semaphores (native/semaphore.cc)
  /** semget; `size` 0 opens an existing set of any size. */
  semget(key: number, size: number, flags: number): number;
  /**
   * semop/semtimedop of `ops` ([index, delta, flags] triples, flags only SEM_UNDO), all or nothing.
   * `flags` IPC_NOWAIT applies to every op. true when done; false when IPC_NOWAIT was given and it would block.
   * With IPC_NOWAIT, `spinNs` (0 to 1e6) retries that long before giving up.
   */
  semop(id: number, ops: Int32Array, flags: number, timeoutMs: number, spinNs?: number): boolean;
  /**
   * One operation on member `index` (the fast path for Semaphore): `args`
   * holds the float64s [id, index, delta, flags, wait] (lib/call-args.ts);
   * flags IPC_NOWAIT | SEM_UNDO; `wait` is the spin in ns with IPC_NOWAIT,
   * else the timeout in ms (-1: none). false: would block.
   */
  semopOne(args: ArrayBuffer): boolean;
  /** The same on a waiter thread; reports errno 0, ETIMEDOUT, ECANCELED or the failure. */
  semopAsync(id: number, ops: Int32Array, flags: number, timeoutMs: number, waitId: number): void;
  /** GETVAL. */
  semGetValue(id: number, index: number): number;
  /** SETVAL (clears every process's undo adjustment for this member, semctl(2)). */
  semSetValue(id: number, index: number, value: number): void;
  /** GETVAL, GETPID, GETNCNT and GETZCNT of one member. */
  semMember(
    id: number,
    index: number,
  ): { value: number; lastPid: number; waitingForNonZero: number; waitingForZero: number };
  /** GETALL. */
  semGetAll(id: number): number[];
  /** SETALL; `values` must hold exactly one value per member. */
  semSetAll(id: number, values: Int32Array): void;
  semStat(id: number): RawSemStat;
  /** IPC_SET; -1 keeps a field as it is. */
  semSet(id: number, mode: number, uid: number, gid: number): void;
  semRemove(id: number): void;
  /** The kernel's semaphore limits, read now (semctl IPC_INFO; compiled-in values off Linux). */
  semLimits(): { SEMMSL: number; SEMMNS: number; SEMOPM: number; SEMMNI: number; SEMVMX: number; SEMAEM: number };

  // ---- end of semaphores

  // ---- shared memory (native/shared_memory.cc)
  shmget(key: number, size: number, flags: number): number;
  /** Attaches (SHM_RDONLY when readOnly); `size` is the segment's (shm_segsz). */
  shmat(id: number, readOnly: boolean): { handle: ShmHandle; size: number };
  /** Detaches the attachment's ArrayBuffer, then shmdt; false if it was already detached. */
  shmDetach(handle: ShmHandle): boolean;
  /** The attachment's one ArrayBuffer (the same object on every call); throws on a read-only attachment. */
  shmArrayBuffer(handle: ShmHandle): ArrayBuffer;
  /** A copy of [offset, offset + length). */
  shmRead(handle: ShmHandle, offset: number, length: number): Buffer;
  /** Copies target.byteLength bytes from offset into target; returns that count. */
  shmReadInto(handle: ShmHandle, offset: number, target: ArrayBufferView): number;
  /** Writes all of data at offset, or nothing (RangeError); returns the count. */
  shmWrite(handle: ShmHandle, offset: number, data: ArrayBufferView): number;
  /** Atomic load of the 32-bit word at `index` (as an Int32). */
  shmLoad32(handle: ShmHandle, index: number): number;
  /** Spins (yielding the CPU) while the word equals `expected`, for at most spinNs; returns the word. */
  shmSpinWhileEqual(handle: ShmHandle, index: number, expected: number, spinNs: number): number;
  /** futex wait: WAIT.OK (woken), NOT_EQUAL or TIMED_OUT. */
  shmWaitSync(handle: ShmHandle, index: number, expected: number, timeoutMs: number): WaitResultCode;
  /**
   * futex wait off the event loop; reports extra WAIT.OK (woken) or WAIT.NOT_EQUAL. `storesBeforeWakes`:
   * every wake of the word follows a store to it (Topic's sequences), so the wait may share a parker thread.
   */
  shmWaitAsync(
    handle: ShmHandle,
    index: number,
    expected: number,
    timeoutMs: number,
    waitId: number,
    storesBeforeWakes?: boolean,
  ): void;
  /** futex wake: the number of waiters woken. */
  shmNotify(handle: ShmHandle, index: number, count: number): number;
  shmStat(id: number): RawShmStat;
  /** IPC_SET; -1 keeps a field as it is. */
  shmSet(id: number, mode: number, uid: number, gid: number): void;
  shmRemove(id: number): void;

  // ---- end of shared memory

  // ---- channels (native/channel.cc, include/sysv-ipc/channel.h)
  /**
   * Opens (flags 1: or creates; 2: creates only) the channel with this key.
   * A segment that holds no channel fails with EPROTO, a corrupt one with EBADMSG.
   */
  chOpen(key: number, capacity: number, maxMessageSize: number, flags: number, mode: number): RawChannelOpen;
  /** Attaches the channel in segment `id`; writes nothing. */
  chAttach(id: number): RawChannelOpen;
  /** Drops this handle's share of the mapping; false if already closed. */
  chClose(handle: ChannelHandle): boolean;
  /**
   * Sends data[offset, offset + length). `flags` IPC_NOWAIT: `wait` is the
   * spin in ns; else the timeout in ms (-1: none). false: would block / timed out.
   */
  chSend(
    handle: ChannelHandle,
    data: ArrayBufferView,
    offset: number,
    length: number,
    flags: number,
    wait: number,
  ): boolean;
  /**
   * Receives into `into`: the length; RECEIVE.WOULD_BLOCK (would block / timed
   * out); RECEIVE.TOO_LONG - n when the message (n bytes) is longer than `into`
   * (nothing consumed).
   */
  chReceive(handle: ChannelHandle, into: ArrayBufferView, flags: number, wait: number): ReceiveResult;
  /**
   * chReceive into a new Buffer made natively (no JavaScript runs between the
   * take and the caller's next statement); null: would block / timed out.
   */
  chReceiveBuffer(handle: ChannelHandle, flags: number, wait: number): Buffer | null;
  chSendAsync(
    handle: ChannelHandle,
    data: ArrayBufferView,
    offset: number,
    length: number,
    timeoutMs: number,
    waitId: number,
  ): void;
  /**
   * Waits until the ring holds a message and reports `extra` 1 ("readable"),
   * taking nothing: the caller takes it on the JS thread (`limit` is only
   * validated).
   */
  chReceiveAsync(handle: ChannelHandle, limit: number, timeoutMs: number, waitId: number): void;
  chStats(handle: ChannelHandle): RawChannelStats;
  /** Marks the channel removed and wakes every sleeper in every process (EIDRM). */
  chMarkRemoved(handle: ChannelHandle): void;
  /** Read-only look at segment `id`: its channel's stats, or null if it holds none. */
  chPeek(id: number): RawChannelStats | null;

  // ---- liveness of peer processes (include/sysv-ipc/liveness.h)
  /**
   * The start time of process `pid` (clock ticks after boot; /proc/<pid>/stat
   * field 22), or 0 if there is no such process or it is a zombie. A process
   * is named by (pid, start time): a reused pid has another start time.
   * Throws (`open`'s errno: EMFILE, EACCES under hidepid, ...) when /proc
   * cannot tell, which is not "dead".
   */
  processStartTime(pid: number): number;

  // ---- FastMutex (native/fast_mutex.cc): sleeping and waking only; JS takes and releases a free lock itself
  /**
   * Waits for the lock record at `offset` of the attachment (8-aligned, 16
   * bytes), blocking the calling thread: LOCK.TAKEN, OWNER_DIED (taken from a
   * dead holder), CORRUPT (record) or DETACHED. Throws ETIMEDOUT.
   */
  fastMutexLockSync(handle: ShmHandle, offset: number, timeoutMs: number): LockOutcome;
  /** The same on a waiter thread; reports errno 0 with `extra` = that outcome, or ETIMEDOUT/ECANCELED. */
  fastMutexLockAsync(handle: ShmHandle, offset: number, timeoutMs: number, waitId: number): void;
  /** Releases a lock this process holds and wakes one sleeper: 0, LOCK.EPERM (not held by this process) or LOCK.EUCLEAN. */
  fastMutexRelease(handle: ShmHandle, offset: number): number;
  /** tryLock's takeover: LOCK.TAKE_OVER_TAKEN from a holder that is gone (or a zombie), TAKE_OVER_NONE, or CORRUPT (record). */
  fastMutexTakeOver(handle: ShmHandle, offset: number): TakeOverResult;

  // ---- Channel's JavaScript hot path (lib/channel-ring.ts; native/channel.cc, native/cpu.cc)
  /** An ArrayBuffer over the whole channel segment (the same one each call); chClose detaches it. */
  chView(handle: ChannelHandle): ArrayBuffer;
  /** FUTEX_WAKE of every sleeper of one side: 0 consumers (data_seq), 1 producers (space_seq). */
  chWake(handle: ChannelHandle, side: number): void;
  /** lock.h's release of the channel's send lock (wakes a sleeper): 0, LOCK.EPERM or LOCK.EUCLEAN. */
  chUnlockSend(handle: ChannelHandle): number;
  /** 1 + the CPU this thread runs on (sched_getcpu), 0 if unknown. */
  currentCpu(): number;
  /** sched_yield, then currentCpu(): a turn of a waiter whose peer shares this CPU. */
  yieldCpu(): number;

  // ---- SharedMap (native/shared_map.cc, include/sysv-ipc/map.h): repair and the terminated-worker guard only
  /** map.h's repair, the writers' lock held: 0, or MAP.CORRUPT / MAP.NOT_A_MAP (nothing written then). */
  mapRepair(handle: ShmHandle): number;
  /** When the attachment is left (detach, teardown) holding the lock under `token`: release it, dirty. */
  mapGuard(handle: ShmHandle, token: number): void;
  /** The map in segment `id`, looked at read-only (nothing written): null if none; `{ corrupt: true }` for a bad geometry. */
  mapPeek(id: number): RawMapPeek | null;

  // ---- Topic (native/topic.cc, include/sysv-ipc/topic.h): headers and subscription slots; JS publishes and receives
  /** Writes a fresh topic header (the creator of the segment only). Throws EINVAL for a geometry out of range. */
  topicInit(
    handle: ShmHandle,
    capacity: number,
    maxMessageSize: number,
    maxSubscribers: number,
    whenFull: number,
  ): void;
  /** The header's geometry; 0 when the header is blank. Throws EPROTO (not a topic) or EBADMSG (corrupt); writes nothing. */
  topicAttach(handle: ShmHandle): RawTopicGeometry | 0;
  /**
   * Claims a subscription slot (released when the attachment goes) and sets
   * its cursor under the publishers' lock: [slot, cursor, seq]. Throws ENOSPC
   * (every slot taken), ETIMEDOUT, EBADMSG.
   */
  topicSubscribe(handle: ShmHandle, oldest: boolean, timeoutMs: number): [number, number, number];
  /** Frees a slot this attachment holds: false if it held none there. */
  topicUnsubscribe(handle: ShmHandle, slot: number): boolean;
  /** Frees the slots of dead processes (liveness.h): how many. */
  topicReap(handle: ShmHandle): number;
  /**
   * One publish with the publishers' lock taken and released natively (workers: see lib/topic.ts):
   * -1 published, -2 the lock not taken within `lockTimeoutMs`, else the space sequence to sleep on.
   */
  topicPublish(handle: ShmHandle, data: Uint8Array, lockTimeoutMs: number): number;
  /** Marks the topic removed and wakes every sleeper in every process. */
  topicMarkRemoved(handle: ShmHandle): void;
}

/** What mapPeek reports (the counters are a snapshot read without the lock). */
export interface RawMapPeek {
  corrupt: boolean;
  capacity?: number;
  slots?: number;
  maxEntries?: number;
  maxKeySize?: number;
  maxValueSize?: number;
  evict?: boolean;
  entries?: number;
  usedBytes?: number;
}

/** A topic header's geometry (topicAttach). */
export interface RawTopicGeometry {
  capacity: number;
  maxMessageSize: number;
  maxSubscribers: number;
  whenFull: number;
  ringOffset: number;
}

/** Topic layout (include/sysv-ipc/topic.h): byte offsets and limits. */
export interface TopicConstants {
  HEADER_SIZE: number;
  SLOT_SIZE: number;
  MIN_CAPACITY: number;
  MAX_CAPACITY: number;
  MAX_SUBSCRIBERS: number;
  OFF_REMOVED: number;
  OFF_LOCK: number;
  OFF_TAIL: number;
  OFF_NEXT_SEQ: number;
  OFF_HEAD: number;
  OFF_HEAD_SEQ: number;
  OFF_DATA_SLEEP: number;
  OFF_DATA_SEQ: number;
  OFF_SLOTS_USED: number;
  OFF_SPACE_SEQ: number;
  OFF_SPACE_SLEEP: number;
  SLOT_OWNER: number;
  SLOT_ACTIVE: number;
  SLOT_START: number;
  SLOT_CURSOR: number;
  SLOT_SEQ: number;
  RECORD_HEADER: number;
  PAD: number;
  NOT_A_TOPIC: number;
  CORRUPT: number;
  FULL: number;
}

function load(): Binding {
  // node-gyp-build looks in build/Release first, then prebuilds/<platform>-<arch>/
  // (PREBUILDS_ONLY=1 skips the local build, to prove the shipped binary loads);
  // where nothing fits, ERR_SYSV_IPC_NO_BINARY says how to build it.
  const addon = loadAddon(path.join(__dirname, '..')) as Binding;
  // The addon's exports and its constants come in dictionary mode (C++ sets
  // their properties one by one): each `binding.semop` or `C.IPC_NOWAIT` on a
  // hot path was then a hash lookup through the LoadIC builtin, which
  // optimised code cannot inline. Spread copies have fast properties. The
  // functions need no `this`, except the Addon's own methods (init, cancelWait,
  // …: not enumerable), which find their instance through it: bound here.
  const methods: Record<string, unknown> = {};
  for (const name of Object.getOwnPropertyNames(addon)) {
    const value: unknown = (addon as unknown as Record<string, unknown>)[name];
    if (!Object.prototype.propertyIsEnumerable.call(addon, name) && typeof value === 'function')
      methods[name] = value.bind(addon);
  }
  return { ...addon, ...methods, constants: { ...addon.constants } };
}

/** The loaded addon (one instance per Node environment: main thread or worker). */
export const binding: Binding = load();
