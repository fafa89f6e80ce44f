/**
 * The package's errors: one class for failed syscalls, one class per code of
 * its own (`ERR_SYSV_IPC_*`, listed in {@link ERR}), plus Node-style
 * argument, timeout and abort errors. Each builds its message once, in its
 * constructor.
 *
 * The native layer constructs {@link SysvIpcError} itself (the class is handed
 * to it at load), so `instanceof SysvIpcError` holds for every kernel failure
 * whether it was thrown synchronously or delivered to a Promise.
 */
import { Buffer } from 'node:buffer';
import * as util from 'node:util';
import * as v8 from 'node:v8';
import { constants as osConstants } from 'node:os';

/** The System V object a failing call was about. */
export type IpcKind = 'msg' | 'sem' | 'shm';

const KIND_OF_SYSCALL: Record<string, IpcKind> = {
  msgget: 'msg',
  msgsnd: 'msg',
  msgrcv: 'msg',
  msgctl: 'msg',
  semget: 'sem',
  semop: 'sem',
  semtimedop: 'sem',
  semctl: 'sem',
  shmget: 'shm',
  shmat: 'shm',
  shmdt: 'shm',
  shmctl: 'shm',
  futex: 'shm',
  channelOpen: 'shm',
  channelSend: 'shm',
  channelReceive: 'shm',
  channelInfo: 'shm',
  topic: 'shm',
  topicPublish: 'shm',
  topicReceive: 'shm',
};

/**
 * Every code of the package's own errors, in one place (README's "Errors"
 * section shows the same table). Besides these, errors carry errno names
 * (`EEXIST`, …, on {@link SysvIpcError}) and Node's codes (`ERR_INVALID_ARG_TYPE`,
 * `ERR_OUT_OF_RANGE`, `ABORT_ERR`, `ERR_FEATURE_UNAVAILABLE_ON_PLATFORM`,
 * `ERR_INVALID_STATE`). The addon throws some of them itself with the same
 * codes (native/: CLOSED, READ_ONLY, NO_EXTERNAL_BUFFERS).
 */
export const ERR = {
  /** Used after close() or detach(): {@link ClosedError}. */
  CLOSED: 'ERR_SYSV_IPC_CLOSED',
  /** A writable view or write of a read-only attachment: {@link ReadOnlyError}. */
  READ_ONLY: 'ERR_SYSV_IPC_READ_ONLY',
  /** A segment larger than the largest ArrayBuffer: {@link ViewTooLargeError}. */
  VIEW_TOO_LARGE: 'ERR_SYSV_IPC_VIEW_TOO_LARGE',
  /** The attachment's ArrayBuffer was transferred away: {@link ViewTransferredError}. */
  VIEW_TRANSFERRED: 'ERR_SYSV_IPC_VIEW_TRANSFERRED',
  /** The runtime refuses external ArrayBuffers (thrown by the addon). */
  NO_EXTERNAL_BUFFERS: 'ERR_SYSV_IPC_NO_EXTERNAL_BUFFERS',
  /** A channel's header or records do not add up: a {@link SysvIpcError} (errno EBADMSG). */
  CHANNEL_CORRUPT: 'ERR_SYSV_IPC_CHANNEL_CORRUPT',
  /** The segment holds no channel of this layout version: a {@link SysvIpcError} (errno EPROTO). */
  NOT_A_CHANNEL: 'ERR_SYSV_IPC_NOT_A_CHANNEL',
  /** A topic's header or records do not add up: a {@link SysvIpcError} (errno EBADMSG). */
  TOPIC_CORRUPT: 'ERR_SYSV_IPC_TOPIC_CORRUPT',
  /** The segment holds no topic of this layout version: a {@link SysvIpcError} (errno EPROTO). */
  NOT_A_TOPIC: 'ERR_SYSV_IPC_NOT_A_TOPIC',
  /** Every subscription slot of a topic is taken: a {@link SysvIpcError} (errno ENOSPC). */
  TOO_MANY_SUBSCRIBERS: 'ERR_SYSV_IPC_TOO_MANY_SUBSCRIBERS',
  /** A FastMutex word no holder writes: {@link LockCorruptError}. */
  LOCK_CORRUPT: 'ERR_SYSV_IPC_LOCK_CORRUPT',
  /** unlock() by a process that does not hold the lock: {@link MutexNotHeldError}. */
  MUTEX_NOT_HELD: 'ERR_SYSV_IPC_MUTEX_NOT_HELD',
  /** A received message type above Number.MAX_SAFE_INTEGER: {@link UnsafeMessageTypeError}. */
  UNSAFE_MESSAGE_TYPE: 'ERR_SYSV_IPC_UNSAFE_MESSAGE_TYPE',
  /** No native addon fits this platform: {@link NoBinaryError}. */
  NO_BINARY: 'ERR_SYSV_IPC_NO_BINARY',
  /** A received value that node:v8 cannot decode (not sent with sendValue): {@link BadValueError}. */
  BAD_VALUE: 'ERR_SYSV_IPC_BAD_VALUE',
  /** The segment holds no SharedMap (nothing was written): a SharedMapError. */
  NOT_A_MAP: 'ERR_SYSV_IPC_NOT_A_MAP',
  /** A SharedMap set without room (whenFull 'error'; nothing changed): a SharedMapError. */
  MAP_FULL: 'ERR_SYSV_IPC_MAP_FULL',
  /** A SharedMap's header, index or entries do not add up: a SharedMapError. */
  MAP_CORRUPT: 'ERR_SYSV_IPC_MAP_CORRUPT',
  /** SharedMap.add() on a value that is not 8 bytes (nothing changed): a SharedMapError. */
  MAP_NOT_A_COUNTER: 'ERR_SYSV_IPC_MAP_NOT_A_COUNTER',
  /** A SharedMap used by its own update() callback: a SharedMapError. */
  MAP_REENTRANT: 'ERR_SYSV_IPC_MAP_REENTRANT',
} as const;

// A channel's own failures (include/sysv-ipc/channel.h) travel as errno
// values, so that sync throws and async reports alike become SysvIpcErrors;
// here they get their codes.
const CHANNEL_CODES: Record<string, [string, string]> = {
  EBADMSG: [ERR.CHANNEL_CORRUPT, 'the channel in this segment is corrupt (its header or records do not add up)'],
  EPROTO: [ERR.NOT_A_CHANNEL, 'the segment does not hold a channel of this layout version (nothing was written)'],
};

// A topic's own failures (include/sysv-ipc/topic.h), the same way.
const TOPIC_CODES: Record<string, [string, string]> = {
  EBADMSG: [ERR.TOPIC_CORRUPT, 'the topic in this segment is corrupt (its header or records do not add up)'],
  EPROTO: [ERR.NOT_A_TOPIC, 'the segment does not hold a topic of this layout version (nothing was written)'],
  ENOSPC: [ERR.TOO_MANY_SUBSCRIBERS, 'every subscription slot of the topic is taken (maxSubscribers)'],
};

const OBJECT_NAME: Record<IpcKind, string> = {
  msg: 'message queue',
  sem: 'semaphore set',
  shm: 'shared memory segment',
};

// Short explanations of what an errno means for a SysV object, in the spirit
// of Python's sysv_ipc ("the queue no longer exists"), appended to Node's text.
function hint(code: string, kind: IpcKind | undefined, syscall = '', key?: number): string {
  const what = syscall.startsWith('channel')
    ? 'the channel'
    : syscall.startsWith('topic')
      ? 'the topic'
      : kind
        ? `the ${OBJECT_NAME[kind]}`
        : 'the object';
  // ENOENT and EEXIST are about a key: name it when the caller gave it (not IPC_PRIVATE, which names nothing).
  const forKey = key === undefined || key === 0 ? 'for this key' : `for key ${formatKey(key)}`;
  switch (code) {
    case 'EMSGSIZE':
      return 'the message is longer than the target (nothing was consumed)';
    case 'EIDRM':
      return `${what} was removed`;
    case 'EEXIST':
      return `${what} already exists ${forKey}`;
    case 'ENOENT':
      return `no ${kind ? OBJECT_NAME[kind] : 'object'} exists ${forKey}`;
    case 'EINVAL':
      return kind === 'msg' || kind === 'sem' || kind === 'shm' ? `invalid identifier or argument for ${what}` : '';
    case 'EACCES':
      return `permission denied by ${what}'s mode`;
    case 'E2BIG':
      return kind === 'msg'
        ? 'the message is larger than the receive size (nothing was consumed)'
        : 'too many operations in one call';
    case 'ERANGE':
      return 'the value is outside the semaphore range (0 to SEMVMX)';
    case 'ENOSPC':
      return 'a system-wide limit on the number of objects was reached';
    default:
      return '';
  }
}

/** A key as `ipcs` prints it: unsigned hex (`0xdeadbeef`, never negative). */
export function formatKey(key: number): string {
  return `0x${(key >>> 0).toString(16).padStart(8, '0')}`;
}

// strerror(3) texts for errnos that libuv's map (util.getSystemErrorMap) lacks.
const EXTRA_TEXT: Record<string, string> = {
  EIDRM: 'identifier removed',
  ENOMSG: 'no message of desired type',
  ERANGE: 'numerical result out of range',
  EFBIG: 'file too large',
  ENOTSUP: 'operation not supported',
  EDEADLK: 'resource deadlock avoided',
  EBADMSG: 'bad message',
  EPROTO: 'protocol error',
  EMSGSIZE: 'message too long',
};

let errorMap: Map<number, [string, string]> | undefined;
function describeErrno(errno: number): [string, string] {
  errorMap ??= util.getSystemErrorMap();
  const entry = errorMap.get(-Math.abs(errno));
  if (entry) return entry;
  for (const [name, value] of Object.entries(osConstants.errno)) {
    if (value === Math.abs(errno)) return [name, EXTRA_TEXT[name] ?? name];
  }
  return [`E${errno}`, `unknown error ${errno}`];
}

/** Extra context attached to a {@link SysvIpcError}. */
export interface SysvIpcErrorContext {
  /** The IPC key the call was about, when known (signed or unsigned; errors report it unsigned). */
  key?: number;
  /** The IPC identifier the call was about, when known. */
  id?: number;
}

/**
 * A System V IPC syscall failed.
 *
 * Looks like Node's own system errors: `code` is the errno name (`'EEXIST'`,
 * `'ENOENT'`, `'EIDRM'`, `'EACCES'`, `'E2BIG'`, `'ETIMEDOUT'`, …), `errno` the
 * positive errno number, `syscall` the failing call (`'msgget'`, `'semop'`, …),
 * and the message reads like `EEXIST: file exists, msgget`.
 */
export class SysvIpcError extends Error {
  /** The errno name, for example `'EEXIST'`. */
  readonly code: string;
  /** The errno value (positive). */
  readonly errno: number;
  /** The syscall that failed, for example `'msgget'`. */
  readonly syscall: string;
  /** The kind of object the call was about. */
  readonly kind?: IpcKind;
  /** The IPC key the call was about, when known, unsigned (`0xdeadbeef`, as written). */
  key?: number;
  /** The IPC identifier the call was about, when known. */
  id?: number;

  constructor(errno: number, syscall: string, context?: SysvIpcErrorContext) {
    const [errnoCode, text] = describeErrno(errno);
    const kind = KIND_OF_SYSCALL[syscall];
    const channel = syscall.startsWith('channel')
      ? CHANNEL_CODES[errnoCode]
      : syscall.startsWith('topic')
        ? TOPIC_CODES[errnoCode]
        : undefined;
    const code = channel ? channel[0] : errnoCode;
    const { detail, path } = (context ?? {}) as ErrorDetail;
    const extra =
      detail ?? (channel ? channel[1] : path === undefined ? hint(errnoCode, kind, syscall, context?.key) : '');
    super(`${code}: ${text}, ${syscall}${path === undefined ? '' : ` '${path}'`}${extra ? ` (${extra})` : ''}`);
    this.name = 'SysvIpcError';
    this.code = code;
    this.errno = Math.abs(errno);
    this.syscall = syscall;
    if (kind) this.kind = kind;
    if (context?.key !== undefined) this.key = context.key >>> 0;
    if (context?.id !== undefined) this.id = context.id;
  }
}

// What syscallError() passes to SysvIpcError beside key and id (the native
// layer passes only those: the constructor keeps its signature).
interface ErrorDetail extends SysvIpcErrorContext {
  /** Replaces the errno's generic explanation in parentheses. */
  detail?: string;
  /** A file path the call was about, shown after the syscall as Node's fs errors do (no explanation then). */
  path?: string;
}

/**
 * A {@link SysvIpcError} whose message explains this failure in particular
 * (`detail`, in place of the errno's generic hint) or names a file (`path`).
 */
export function syscallError(
  errno: number,
  syscall: string,
  context: SysvIpcErrorContext | undefined,
  explain: { detail?: string; path?: string },
): SysvIpcError {
  return new SysvIpcError(errno, syscall, { ...context, ...explain } as ErrorDetail);
}

/**
 * `err` with the key and id of the object a synchronous call was about. The
 * addon builds a failed syscall's SysvIpcError from errno and syscall alone;
 * the async waits add the context when they settle, and the sync waits call
 * this where the addon threw (ETIMEDOUT after a timeout, EIDRM, …), so both
 * forms of a call fail alike. Anything else passes through untouched.
 */
export function withContext(err: unknown, context: SysvIpcErrorContext): unknown {
  if (err instanceof SysvIpcError) {
    if (err.key === undefined && context.key !== undefined) err.key = context.key >>> 0;
    if (err.id === undefined && context.id !== undefined) err.id = context.id;
  }
  return err;
}

/**
 * `err` naming the object it was about. The addon builds a SysvIpcError from
 * errno and syscall alone (`msgget`'s ENOENT knows no key): such a bare error
 * is rebuilt with `context`, so that its `key`/`id` are set and its message
 * names the key ("no message queue exists for key 0x00005eed"). An error with
 * a message of its own only gets the fields it lacks ({@link withContext});
 * anything else passes through untouched.
 */
export function naming(err: unknown, context: SysvIpcErrorContext): unknown {
  if (
    err instanceof SysvIpcError &&
    err.key === undefined &&
    err.id === undefined &&
    err.message === new SysvIpcError(err.errno, err.syscall).message
  ) {
    return new SysvIpcError(err.errno, err.syscall, context);
  }
  return withContext(err, context);
}

/** Runs a call about one object; its failure names the object ({@link naming}). */
export function about<T>(context: SysvIpcErrorContext, call: () => T): T {
  try {
    return call();
  } catch (err) {
    throw naming(err, context);
  }
}

/** ETIMEDOUT from a wait whose `timeout` ran out. */
export function timeoutError(syscall: string, context?: SysvIpcErrorContext): SysvIpcError {
  return new SysvIpcError(osConstants.errno.ETIMEDOUT, syscall, context);
}

/** The error an aborted wait rejects with: like Node's own (`name` 'AbortError', `code` 'ABORT_ERR'). */
export class AbortError extends Error {
  /** Always `'ABORT_ERR'`, as Node's own AbortError. */
  readonly code = 'ABORT_ERR';
  constructor(message = 'The operation was aborted', options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'AbortError';
  }
}

/** Builds the AbortError for a signal, with the signal's reason as `cause`. */
export function abortError(signal: AbortSignal): AbortError {
  return new AbortError('The operation was aborted', { cause: signal.reason });
}

/** A `TypeError` with Node's `code` (for example `ERR_INVALID_ARG_TYPE`). */
export class InvalidArgTypeError extends TypeError {
  readonly code: string;
  constructor(message: string, code = 'ERR_INVALID_ARG_TYPE') {
    super(message);
    this.code = code;
  }
  override get name(): string {
    return 'TypeError';
  }
}

/** A `RangeError` with Node's `code` (for example `ERR_OUT_OF_RANGE`). */
export class OutOfRangeError extends RangeError {
  readonly code: string;
  constructor(message: string, code = 'ERR_OUT_OF_RANGE') {
    super(message);
    this.code = code;
  }
  override get name(): string {
    return 'RangeError';
  }
}

/** Thrown when an object is used after `close()` (or a segment after `detach()`). */
export class ClosedError extends Error {
  /** Always `'ERR_SYSV_IPC_CLOSED'`. */
  readonly code = ERR.CLOSED;
  /** The IPC key of the object, when known, unsigned. */
  key?: number;
  /** The IPC identifier of the object, when known. */
  id?: number;
  /**
   * @param what The object, for example "The message queue".
   * @param state How it was let go; default "is closed".
   * @param context The object's key and id (a handle knows them).
   */
  constructor(what: string, state = 'is closed', context?: SysvIpcErrorContext) {
    super(`${what}${context?.id === undefined ? '' : ` (id ${context.id})`} ${state}`);
    this.name = 'Error';
    if (context?.key !== undefined) this.key = context.key >>> 0;
    if (context?.id !== undefined) this.id = context.id;
  }
}

/** A writable view of (or a write into) a read-only shared memory attachment. */
export class ReadOnlyError extends Error {
  /** Always `'ERR_SYSV_IPC_READ_ONLY'`. */
  readonly code = ERR.READ_ONLY;
  /** @param operation What was refused, for example "buffer". */
  constructor(operation: string) {
    super(
      `${operation}: the shared memory attachment is read-only (a write into it would crash the process); use read() or readInto()`,
    );
    this.name = 'Error';
  }
}

/** A segment larger than the largest ArrayBuffer this Node.js allows has no view. */
export class ViewTooLargeError extends RangeError {
  /** Always `'ERR_SYSV_IPC_VIEW_TOO_LARGE'`. */
  readonly code = ERR.VIEW_TOO_LARGE;
  constructor(size: number, max: number) {
    super(
      `The segment is ${size} bytes, more than the largest ArrayBuffer this Node.js allows (${max}): use read(), readInto() and write()`,
    );
    this.name = 'RangeError';
  }
}

/** The attachment's ArrayBuffer was moved out (ArrayBuffer.prototype.transfer): there is no view to give any more. */
export class ViewTransferredError extends Error {
  /** Always `'ERR_SYSV_IPC_VIEW_TRANSFERRED'`. */
  readonly code = ERR.VIEW_TRANSFERRED;
  constructor() {
    super(
      'The ArrayBuffer of this attachment was transferred away (ArrayBuffer.prototype.transfer); detach() and attach again for a new view',
    );
    this.name = 'Error';
  }
}

/**
 * The lock record holds values no holder writes (reserved bits set, or the
 * waiters bit without a pid): something else wrote over it.
 */
export class LockCorruptError extends Error {
  /** Always `'ERR_SYSV_IPC_LOCK_CORRUPT'`. */
  readonly code = ERR.LOCK_CORRUPT;
  /** The lock word as read (unsigned 32 bits). */
  readonly word: number;
  /** The IPC key of the lock's segment, when known (unsigned). */
  key?: number;
  /** The identifier (shmid) of the lock's segment. */
  id?: number;
  /** @param context The segment's key and id (a FastMutex knows them). */
  constructor(word: number, context?: SysvIpcErrorContext) {
    super(
      `The FastMutex lock word${context?.id === undefined ? '' : ` (segment id ${context.id})`} holds 0x${(word >>> 0).toString(16).padStart(8, '0')}, which no holder writes: the memory of the lock was overwritten`,
    );
    this.name = 'Error';
    this.word = word >>> 0;
    if (context?.key !== undefined) this.key = context.key >>> 0;
    if (context?.id !== undefined) this.id = context.id;
  }
}

/** Thrown by `Mutex.unlock()` and `FastMutex.unlock()` when this process does not hold the mutex. */
export class MutexNotHeldError extends Error {
  /** Always `'ERR_SYSV_IPC_MUTEX_NOT_HELD'`. */
  readonly code = ERR.MUTEX_NOT_HELD;
  constructor() {
    super('This process does not hold the mutex: unlock() would release a lock another process holds');
    this.name = 'Error';
  }
}

/**
 * Received a message whose type (set by a C program: mtype is a C long) is
 * above Number.MAX_SAFE_INTEGER, which a `number` cannot hold exactly. The
 * message has left the queue: it is here, with its exact type.
 */
export class UnsafeMessageTypeError extends RangeError {
  /** Always `'ERR_SYSV_IPC_UNSAFE_MESSAGE_TYPE'`. */
  readonly code = ERR.UNSAFE_MESSAGE_TYPE;
  constructor(
    /** The message's exact type. */
    readonly type: bigint,
    /** The message's body. */
    readonly data: Buffer,
  ) {
    super(
      `The received message's type ${type} is above Number.MAX_SAFE_INTEGER; the message is on this error (type, data)`,
    );
    this.name = 'RangeError';
  }
}

/**
 * A received message that node:v8 cannot decode: it was not sent with
 * `sendValue()` (raw bytes, another program, another serializer version).
 * Receiving took it from the queue or channel: it is here, in `data`, and the
 * decoder's own error is the `cause`.
 */
export class BadValueError extends Error {
  /** Always `'ERR_SYSV_IPC_BAD_VALUE'`. */
  readonly code = ERR.BAD_VALUE;
  /** The IPC key of the queue or channel it came from, when known. */
  key?: number;
  /** The IPC identifier of the queue or channel it came from. */
  id?: number;
  constructor(
    /** The message's bytes, as received. */
    readonly data: Buffer,
    cause: unknown,
    context?: SysvIpcErrorContext,
  ) {
    const reason = cause instanceof Error ? cause.message : String(cause);
    const from = context?.id === undefined ? '' : ` from id ${context.id}`;
    super(
      `The received message${from} (${data.length} bytes) is not a value sent with sendValue(): ${reason}; its bytes are on this error (data)`,
      { cause },
    );
    this.name = 'Error';
    if (context?.key !== undefined) this.key = context.key >>> 0;
    if (context?.id !== undefined) this.id = context.id;
  }
}

/**
 * node:v8's deserialize for `receiveValue()` and its forms: a message it
 * cannot decode is a {@link BadValueError} carrying the bytes, not V8's plain
 * Error (the message has left the queue: nothing may be lost).
 */
export function decodeValue(data: Buffer, context?: SysvIpcErrorContext): unknown {
  try {
    return v8.deserialize(data);
  } catch (err) {
    throw new BadValueError(data, err, context);
  }
}

/** Thrown at load when no native addon fits this platform (the message gives the way out). */
export class NoBinaryError extends Error {
  /** Always `'ERR_SYSV_IPC_NO_BINARY'`. */
  readonly code = ERR.NO_BINARY;
  constructor(
    message: string,
    cause: unknown,
    /** For example 'linux-x64'. */
    readonly platform: string,
    /** 'glibc' or 'musl' on Linux; undefined elsewhere. */
    readonly libc: string | undefined,
    /** The prebuilds the package has, as paths under its prebuilds/ folder (for example 'linux-arm64/sysv-ipc.glibc.node'). */
    readonly prebuilds: string[],
  ) {
    super(message, { cause });
    this.name = 'Error';
  }
}

/**
 * Node's `ERR_FEATURE_UNAVAILABLE_ON_PLATFORM`: what this platform's kernel
 * lacks. A TypeError, as Node throws it and as the addon does (native/errors.h).
 */
export class FeatureUnavailableError extends TypeError {
  readonly code = 'ERR_FEATURE_UNAVAILABLE_ON_PLATFORM';
  constructor(message: string) {
    super(message);
    this.name = 'TypeError';
  }
}

/** Node's `ERR_INVALID_STATE`: a call the object's state does not allow. */
export class InvalidStateError extends Error {
  readonly code = 'ERR_INVALID_STATE';
  constructor(message: string) {
    super(message);
    this.name = 'Error';
  }
}
