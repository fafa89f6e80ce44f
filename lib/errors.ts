/**
 * The package's errors: one class for failed syscalls, plus Node-style
 * argument, timeout and abort errors.
 *
 * The native layer constructs {@link SysvIpcError} itself (the class is handed
 * to it at load), so `instanceof SysvIpcError` holds for every kernel failure
 * whether it was thrown synchronously or delivered to a Promise.
 */
import * as util from 'node:util';
import { constants as osConstants } from 'node:os';

/** The System V object a failing call was about. */
export type IpcKind = 'msg' | 'sem' | 'shm';

const KIND_OF_SYSCALL: Record<string, IpcKind> = {
  msgget: 'msg', msgsnd: 'msg', msgrcv: 'msg', msgctl: 'msg',
  semget: 'sem', semop: 'sem', semtimedop: 'sem', semctl: 'sem',
  shmget: 'shm', shmat: 'shm', shmdt: 'shm', shmctl: 'shm', futex: 'shm',
  channelOpen: 'shm', channelSend: 'shm', channelReceive: 'shm', channelInfo: 'shm',
};

// A channel's own failures (include/sysv-ipc/channel.h) travel as errno
// values, so that sync throws and async reports alike become SysvIpcErrors;
// here they get their codes.
const CHANNEL_CODES: Record<string, [string, string]> = {
  EBADMSG: ['ERR_SYSV_IPC_CHANNEL_CORRUPT', 'the channel in this segment is corrupt (its header or records do not add up)'],
  EPROTO: ['ERR_SYSV_IPC_NOT_A_CHANNEL', 'the segment does not hold a channel of this layout version (nothing was written)'],
};

const OBJECT_NAME: Record<IpcKind, string> = {
  msg: 'message queue',
  sem: 'semaphore set',
  shm: 'shared memory segment',
};

// Short explanations of what an errno means for a SysV object, in the spirit
// of Python's sysv_ipc ("the queue no longer exists"), appended to Node's text.
function hint(code: string, kind: IpcKind | undefined, syscall = ''): string {
  const what = syscall.startsWith('channel') ? 'the channel' : kind ? `the ${OBJECT_NAME[kind]}` : 'the object';
  switch (code) {
    case 'EMSGSIZE': return 'the message is longer than the target (nothing was consumed)';
    case 'EIDRM': return `${what} was removed`;
    case 'EEXIST': return `${what} already exists for this key`;
    case 'ENOENT': return `no ${kind ? OBJECT_NAME[kind] : 'object'} exists for this key`;
    case 'EINVAL': return kind === 'msg' || kind === 'sem' || kind === 'shm' ? `invalid identifier or argument for ${what}` : '';
    case 'EACCES': return `permission denied by ${what}'s mode`;
    case 'E2BIG': return kind === 'msg' ? 'the message is larger than the receive size (nothing was consumed)' : 'too many operations in one call';
    case 'ERANGE': return 'the value is outside the semaphore range (0 to SEMVMX)';
    case 'ENOSPC': return 'a system-wide limit on the number of objects was reached';
    default: return '';
  }
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
  /** The IPC key the call was about, when known. */
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
  /** The IPC key the call was about, when known. */
  key?: number;
  /** The IPC identifier the call was about, when known. */
  id?: number;

  constructor(errno: number, syscall: string, context?: SysvIpcErrorContext) {
    const [errnoCode, text] = describeErrno(errno);
    const kind = KIND_OF_SYSCALL[syscall];
    const channel = syscall.startsWith('channel') ? CHANNEL_CODES[errnoCode] : undefined;
    const code = channel ? channel[0] : errnoCode;
    const extra = channel ? channel[1] : hint(errnoCode, kind, syscall);
    super(`${code}: ${text}, ${syscall}${extra ? ` (${extra})` : ''}`);
    this.name = 'SysvIpcError';
    this.code = code;
    this.errno = Math.abs(errno);
    this.syscall = syscall;
    if (kind) this.kind = kind;
    if (context?.key !== undefined) this.key = context.key;
    if (context?.id !== undefined) this.id = context.id;
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
  readonly code = 'ERR_SYSV_IPC_CLOSED';
  constructor(what: string) {
    super(`${what} is closed`);
    this.name = 'Error';
  }
}
