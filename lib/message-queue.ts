/**
 * System V message queues (msgget, msgsnd, msgrcv, msgctl) as a class.
 */
import { Buffer } from 'node:buffer';
import * as os from 'node:os';
import { isMainThread } from 'node:worker_threads';
import { binding } from './addon';
import { CALL_ARGS, CALL_ARGS_BUFFER } from './call-args';
import {
  about,
  ClosedError,
  FeatureUnavailableError,
  OutOfRangeError,
  SysvIpcError,
  timeoutError,
  UnsafeMessageTypeError,
  withContext,
} from './errors';
import { IPC_PRIVATE, type Key } from './keys';
import { readKernelTunable } from './proc';
import { ownershipOf, parseOwnershipChange, statTime, type IpcOwnership, type IpcOwnershipChange } from './ownership';
import * as check from './validate';
import { parseOpen } from './open-options';
import { HandleState, IpcHandle } from './ipc-handle';
import { SpinBudget, syncWaitFlags, WOULD_BLOCK, type WaitOptions } from './waits';

const C = binding.constants;

/** Largest message type (`mtype` is a C long; JavaScript numbers are exact to 2^53 − 1). */
export const MESSAGE_TYPE_MAX: number = C.MTYPE_MAX;

// msgmax when the module loaded: the default receive size and the send limit.
const MSGMAX_FALLBACK = 8192;
function msgmax(): number {
  return readKernelTunable('msgmax')?.[0] ?? MSGMAX_FALLBACK;
}
const defaultMaxSize = msgmax();

// A received message starts with its mtype, a native-endian C long.
const HEADER = C.MSG_HEADER_SIZE;
// Where msgrcvBuffer reports a received message's type (one per thread).
const typeOut = new Float64Array(1);
const littleEndian = os.endianness() === 'LE';

/** The mtype at the start of a received message (a native-endian C long), exactly. */
function typeIn(header: Buffer): number | bigint {
  if (HEADER === 4) return littleEndian ? header.readInt32LE(0) : header.readInt32BE(0);
  const type = littleEndian ? header.readBigInt64LE(0) : header.readBigInt64BE(0);
  return type <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(type) : type;
}

export { UnsafeMessageTypeError };

/** A received message, or the error that carries it when its type is not a safe integer. */
function message(type: number | bigint, data: Buffer): Message {
  if (typeof type === 'bigint') throw new UnsafeMessageTypeError(type, data);
  return { type, data };
}

/** msgrcvBuffer's report of a message whose type is not a safe integer (type NaN): `whole` holds the header too. */
function unsafeMessage(whole: Buffer): Message {
  return message(typeIn(whole), whole.subarray(HEADER));
}

// The addon's message-queue calls take their numbers in CALL_ARGS_BUFFER
// (lib/call-args.ts), filled right before each call. `wait`: with IPC_NOWAIT
// the ns to keep retrying, else the timeout in ms (-1: none).

/** Fills CALL_ARGS for msgsnd and msgsndAsync; returns its buffer. */
function sendArgs(id: number, type: number, flags: number, wait: number): ArrayBuffer {
  const a = CALL_ARGS;
  a[0] = id;
  a[1] = type;
  a[2] = flags;
  a[3] = wait;
  return CALL_ARGS_BUFFER;
}

/** Fills CALL_ARGS for msgrcv, msgrcvBuffer and msgrcvAsync; returns its buffer. */
function receiveArgs(id: number, maxSize: number, type: number, flags: number, wait: number): ArrayBuffer {
  const a = CALL_ARGS;
  a[0] = id;
  a[1] = maxSize;
  a[2] = type;
  a[3] = flags;
  a[4] = wait;
  return CALL_ARGS_BUFFER;
}

// Where the main thread's receives land (header, then body), made on first
// use, and its header as native-endian 32-bit words (no Buffer method calls,
// no BigInt: this runs for every message).
let landing: ArrayBuffer | undefined;
let landingWords: Int32Array;
const LOW = littleEndian ? 0 : 1;

/** The mtype that landed if it is a safe integer, otherwise NaN. */
function landedType(): number {
  if (HEADER === 4) return landingWords[0];
  const high = landingWords[1 - LOW];
  return high >= 0 && high < 0x200000 ? high * 0x100000000 + (landingWords[LOW] >>> 0) : NaN; // below 2^53
}

/**
 * A receive on the calling thread, as msgrcvBuffer: the body as a new Buffer
 * and its type in typeOut[0], or (type NaN) the whole message; null if
 * IPC_NOWAIT was given and nothing matches.
 *
 * msgrcvBuffer makes the Buffer in the addon so that a worker being
 * terminated loses no message (see native/message_queue.cc); that Buffer
 * costs several mallocs and an external backing store per message, most of
 * a receive's user-space time. Nothing can terminate the main thread, so
 * there the message lands in a buffer kept for it (msgrcv) and JavaScript
 * copies the body into a Buffer of its own: the same result, without them.
 */
function receiveHere(id: number, maxSize: number, type: number, flags: number, wait: number): Buffer | null {
  if (!isMainThread || maxSize > defaultMaxSize) {
    return binding.msgrcvBuffer(receiveArgs(id, maxSize, type, flags, wait), typeOut);
  }
  if (landing === undefined) {
    // An ArrayBuffer of its own: the addon takes it as one (cheaper to read than a view).
    landing = new ArrayBuffer(HEADER + defaultMaxSize);
    landingWords = new Int32Array(landing, 0, 2);
  }
  const length = binding.msgrcv(receiveArgs(id, maxSize, type, flags, wait), landing);
  if (length < 0) return null;
  const received = landedType();
  const from = received === received ? HEADER : 0;
  const data = Buffer.allocUnsafeSlow(HEADER + length - from);
  // A view made with the constructor: ~25 ns less than subarray() (its species lookup) on Node 20.
  data.set(new Uint8Array(landing, from, HEADER + length - from));
  typeOut[0] = received;
  return data;
}

/** A received message. */
export interface Message {
  /** The message type (> 0). */
  type: number;
  /** The message body (a fresh copy). */
  data: Buffer;
}

/** What {@link MessageQueue.info} reports (IPC_STAT). */
export interface MessageQueueInfo extends IpcOwnership {
  /** Messages in the queue. */
  messages: number;
  /** Bytes of message bodies in the queue. */
  bytes: number;
  /** The queue's capacity in bytes (msg_qbytes). */
  maxBytes: number;
  /** Pid of the last msgsnd (0: none yet). */
  lastSendPid: number;
  /** Pid of the last msgrcv (0: none yet). */
  lastReceivePid: number;
  /** Time of the last msgsnd, or null. */
  lastSendTime: Date | null;
  /** Time of the last msgrcv, or null. */
  lastReceiveTime: Date | null;
  /** Time of creation or of the last IPC_SET. */
  lastChangeTime: Date | null;
}

/** Options of {@link MessageQueue.create}. */
export interface MessageQueueCreateOptions {
  /** The key; default {@link IPC_PRIVATE}. */
  key?: Key;
  /** Permission bits; default 0o600. */
  mode?: number;
  /** Capacity in bytes (msg_qbytes); default the kernel's msgmnb. Above msgmnb needs CAP_SYS_RESOURCE. */
  maxBytes?: number;
}

/** Options of {@link MessageQueue.open}. */
export interface MessageQueueOpenOptions {
  /** Create the queue if no queue has this key (open-or-create). */
  create?: boolean;
  /** Permission bits when created; default 0o600. */
  mode?: number;
}

/** Fields {@link MessageQueue.set} can change (IPC_SET). */
export interface MessageQueueSetOptions extends IpcOwnershipChange {
  /** Capacity in bytes; raising it above msgmnb needs CAP_SYS_RESOURCE (EPERM otherwise). */
  maxBytes?: number;
}

/** Options of the send family. */
export interface SendOptions extends WaitOptions {
  /** The message type, an integer >= 1; default 1. */
  type?: number;
}

/** Options of the synchronous send. */
export interface SendSyncOptions {
  /** The message type, an integer >= 1; default 1. */
  type?: number;
  /** Milliseconds to wait for room before `ETIMEDOUT`; default forever. */
  timeout?: number;
}

/** Which message to take, and how. */
export interface ReceiveSelector {
  /**
   * 0 (default): the first message; > 0: the first message of that type (or,
   * with `except`, the first not of that type); < 0: the first message of the
   * lowest type <= |type|.
   */
  type?: number;
  /** With `type` > 0, take the first message whose type differs (MSG_EXCEPT; Linux only). */
  except?: boolean;
  /** Cut a longer message to `maxSize` instead of failing with E2BIG (MSG_NOERROR). */
  truncate?: boolean;
  /** Largest body accepted; default the kernel's msgmax. A longer message fails with E2BIG and stays queued. */
  maxSize?: number;
}

/** Options of the async receive. */
export interface ReceiveOptions extends ReceiveSelector, WaitOptions {}

/** Options of the synchronous receive. */
export interface ReceiveSyncOptions extends ReceiveSelector {
  /** Milliseconds to wait before `ETIMEDOUT`; default forever. */
  timeout?: number;
}

interface ParsedReceive {
  type: number;
  flags: number;
  maxSize: number;
}

// The common call, receive() with no options, skips option parsing.
const DEFAULT_RECEIVE: Readonly<ParsedReceive> = { type: 0, flags: 0, maxSize: defaultMaxSize };

function parseReceive(options: ReceiveSelector | undefined): Readonly<ParsedReceive> {
  if (options === undefined) return DEFAULT_RECEIVE;
  const o = check.options('options', options);
  const type = check.optionalInteger('options.type', o.type, -MESSAGE_TYPE_MAX, MESSAGE_TYPE_MAX, 0);
  const except = check.optionalBoolean('options.except', o.except, false);
  const truncate = check.optionalBoolean('options.truncate', o.truncate, false);
  const maxSize = check.optionalInteger('options.maxSize', o.maxSize, 0, 0x7fffffff, defaultMaxSize);
  let flags = 0;
  if (except) {
    if (!C.HAVE_MSG_EXCEPT) {
      throw new FeatureUnavailableError('MSG_EXCEPT (options.except) is not available on this platform');
    }
    if (type <= 0) throw new OutOfRangeError('options.except needs options.type > 0 (the type to skip)');
    flags |= C.MSG_EXCEPT;
  }
  if (truncate) flags |= C.MSG_NOERROR;
  return { type, flags, maxSize };
}

function parseType(options: { type?: number } | undefined): number {
  if (options === undefined) return 1;
  const o = check.options('options', options);
  return check.optionalInteger('options.type', o.type, 1, MESSAGE_TYPE_MAX, 1);
}

/**
 * A System V message queue.
 *
 * ```ts
 * using queue = MessageQueue.create();
 * await queue.send('hello', { type: 1 });
 * const { type, data } = await queue.receive();
 * queue.remove();
 * ```
 *
 * `close()` (or `using`) frees this process's handle and cancels its pending
 * waits; only `remove()` deletes the queue from the kernel.
 */
export class MessageQueue extends IpcHandle {
  private readonly sendSpin = new SpinBudget();
  private readonly receiveSpin = new SpinBudget();
  private constructor(id: number, key: Key) {
    super(new HandleState(id, key, 'message queue'));
  }

  /**
   * Creates a new queue (msgget with IPC_CREAT | IPC_EXCL).
   * @throws {SysvIpcError} EEXIST if a queue with this key exists; ENOSPC at the msgmni limit.
   */
  static create(options?: MessageQueueCreateOptions): MessageQueue {
    const o = check.options('options', options);
    const key = o.key === undefined ? IPC_PRIVATE : check.key('options.key', o.key);
    const mode = check.mode('options.mode', o.mode, 0o600);
    const maxBytes =
      o.maxBytes === undefined ? undefined : check.integer('options.maxBytes', o.maxBytes, 0, 0x7fffffff);
    const id = about({ key }, () => binding.msgget(key, C.IPC_CREAT | C.IPC_EXCL | mode));
    const queue = new MessageQueue(id, key);
    if (maxBytes !== undefined) {
      try {
        binding.msgSet(id, -1, -1, -1, maxBytes);
      } catch (err) {
        binding.msgRemove(id); // do not leave a half-made queue behind
        throw err;
      }
    }
    return queue;
  }

  /**
   * Opens the queue with this key (msgget); with `{ create: true }`, creates it if absent.
   * @throws {SysvIpcError} ENOENT if absent and `create` is not set; EACCES without permission.
   */
  static open(key: Key, options?: MessageQueueOpenOptions): MessageQueue {
    const {
      key: k,
      create,
      mode,
    } = parseOpen(key, options, { className: 'MessageQueue', what: 'queue', privateCreates: true });
    const id = about({ key: k }, () => binding.msgget(k, create ? C.IPC_CREAT | mode : 0));
    return new MessageQueue(id, k);
  }

  /**
   * Wraps an existing queue by its identifier (checked with IPC_STAT).
   * @throws {SysvIpcError} EINVAL if no such queue; EACCES without read permission.
   */
  static fromId(id: number): MessageQueue {
    const msqid = check.ipcId('id', id);
    const stat = about({ id: msqid }, () => binding.msgStat(msqid));
    return new MessageQueue(msqid, stat.key);
  }

  private bytesToSend(data: unknown): Uint8Array {
    const body = check.bytes('data', data);
    const n = check.byteLengthOf(body);
    if (n > defaultMaxSize) {
      throw new OutOfRangeError(`The message is ${n} bytes; the kernel's limit (msgmax) is ${defaultMaxSize} bytes`);
    }
    return body;
  }

  /**
   * Sends a message, waiting (off the event loop) while the queue is full.
   * The bytes are taken at the call: the buffer may be reused once it returns.
   * @throws {SysvIpcError} EIDRM if the queue is removed while waiting; ETIMEDOUT after `timeout`.
   */
  send(data: string | ArrayBufferView, options?: SendOptions): Promise<void> {
    try {
      this.ensureOpen();
      let body = this.bytesToSend(data);
      const type = parseType(options);
      const timeout = check.timeout('options.timeout', options?.timeout);
      const id = this.id;
      return this.waits.run<void>({
        syscall: 'msgsnd',
        context: this.state.context,
        timeout,
        signal: check.signal('options.signal', options?.signal),
        spin: this.sendSpin,
        attempt: (spinNs) => (binding.msgsnd(sendArgs(id, type, C.IPC_NOWAIT, spinNs), body) ? undefined : WOULD_BLOCK),
        park: (waitId) => binding.msgsndAsync(sendArgs(id, type, 0, timeout), body, waitId),
        parked: () => undefined,
        // Tried a turn later: the bytes are taken at the call (the caller may reuse its buffer).
        deferred: () => {
          body = new Uint8Array(body);
        },
      });
    } catch (err) {
      return Promise.reject(err);
    }
  }

  /** Sends without waiting: `false` if the queue is full (IPC_NOWAIT). */
  trySend(data: string | ArrayBufferView, options?: { type?: number }): boolean {
    this.ensureOpen();
    const body = this.bytesToSend(data);
    try {
      return binding.msgsnd(sendArgs(this.id, parseType(options), C.IPC_NOWAIT, 0), body);
    } catch (err) {
      throw withContext(err, this.state.context); // EIDRM, EINVAL, …: the addon's error knows no key or id
    }
  }

  /**
   * Sends, blocking the calling thread while the queue is full (for workers and scripts).
   * @throws {SysvIpcError} ETIMEDOUT after `timeout`; EIDRM if the queue is removed.
   */
  sendSync(data: string | ArrayBufferView, options?: SendSyncOptions): void {
    this.ensureOpen();
    const body = this.bytesToSend(data);
    const type = parseType(options);
    const timeout = check.timeout('options.timeout', options?.timeout);
    let sent: boolean;
    try {
      sent = binding.msgsnd(sendArgs(this.id, type, syncWaitFlags(timeout), timeout), body);
    } catch (err) {
      throw withContext(err, this.state.context);
    }
    if (!sent) throw timeoutError('msgsnd', this.state.context);
  }

  /**
   * Receives a message, waiting (off the event loop) until one matches.
   * A cancelled or timed-out receive consumes nothing.
   * @throws {SysvIpcError} E2BIG if the message exceeds `maxSize` (it stays queued); EIDRM if removed.
   * @throws {UnsafeMessageTypeError} if the message's type (set by a C program) is above
   *   Number.MAX_SAFE_INTEGER; the error carries the message, with its exact type.
   */
  receive(options?: ReceiveOptions): Promise<Message> {
    try {
      this.ensureOpen();
      const r = parseReceive(options);
      const timeout = check.timeout('options.timeout', options?.timeout);
      const id = this.id;
      return this.waits.run<Message>({
        syscall: 'msgrcv',
        context: this.state.context,
        timeout,
        signal: check.signal('options.signal', options?.signal),
        spin: this.receiveSpin,
        attempt: (spinNs) => {
          const data = receiveHere(id, r.maxSize, r.type, r.flags | C.IPC_NOWAIT, spinNs);
          if (data === null) return WOULD_BLOCK;
          const type = typeOut[0];
          return type === type ? { type, data } : unsafeMessage(data);
        },
        park: (waitId) => binding.msgrcvAsync(receiveArgs(id, r.maxSize, r.type, r.flags, timeout), waitId),
        parked: toMessage,
      });
    } catch (err) {
      return Promise.reject(err);
    }
  }

  /** Receives without waiting: `undefined` if no message matches (IPC_NOWAIT). */
  tryReceive(options?: ReceiveSelector): Message | undefined {
    this.ensureOpen();
    const r = parseReceive(options);
    let data: Buffer | null;
    try {
      data = receiveHere(this.id, r.maxSize, r.type, r.flags | C.IPC_NOWAIT, 0);
    } catch (err) {
      throw withContext(err, this.state.context); // E2BIG, EIDRM, …: the addon's error knows no key or id
    }
    if (data === null) return undefined;
    const type = typeOut[0];
    return type === type ? { type, data } : unsafeMessage(data);
  }

  /**
   * Receives, blocking the calling thread until a message matches.
   * @throws {SysvIpcError} ETIMEDOUT after `timeout`; E2BIG; EIDRM.
   */
  receiveSync(options?: ReceiveSyncOptions): Message {
    this.ensureOpen();
    const r = parseReceive(options);
    const timeout = check.timeout('options.timeout', options?.timeout);
    let data: Buffer | null;
    try {
      data = receiveHere(this.id, r.maxSize, r.type, r.flags | syncWaitFlags(timeout), timeout);
    } catch (err) {
      throw withContext(err, this.state.context);
    }
    if (data === null) throw timeoutError('msgrcv', this.state.context);
    // In a worker, returned with no JavaScript function call after the
    // receive (an object literal is none): a worker being terminated stops at
    // a call, and would stop with the message taken (msgrcvBuffer gives back
    // only what it can see).
    const type = typeOut[0];
    return type === type ? { type, data } : unsafeMessage(data);
  }

  /**
   * The queue's messages as an async iterable. Iteration ends when this
   * object is closed or the queue is removed; an abort or another error is thrown.
   *
   * ```ts
   * for await (const { type, data } of queue.messages({ type: 2 })) { … }
   * ```
   */
  async *messages(options?: ReceiveOptions): AsyncIterableIterator<Message> {
    const opts = { ...check.options('options', options) };
    // Validate once, up front, so a bad option fails the first next() rather than silently ending.
    parseReceive(opts);
    check.timeout('options.timeout', opts.timeout);
    check.signal('options.signal', opts.signal);
    while (!this.closed) {
      let message: Message;
      try {
        message = this.tryReceive(opts) ?? (await this.receive(opts));
      } catch (err) {
        if (err instanceof ClosedError) return;
        if (err instanceof SysvIpcError && (err.code === 'EIDRM' || err.code === 'EINVAL')) return;
        throw err;
      }
      yield message;
    }
  }

  /** IPC_STAT, fresh on each call. */
  info(): MessageQueueInfo {
    const s = about({ key: this.key, id: this.id }, () => binding.msgStat(this.id));
    return {
      ...ownershipOf(this.id, s),
      messages: s.messages,
      bytes: s.bytes,
      maxBytes: s.maxBytes,
      lastSendPid: s.lastSendPid,
      lastReceivePid: s.lastReceivePid,
      lastSendTime: statTime(s.lastSendTime),
      lastReceiveTime: statTime(s.lastReceiveTime),
      lastChangeTime: statTime(s.lastChangeTime),
    };
  }

  /**
   * Changes owner, mode or capacity (IPC_SET); fields left out stay as they are.
   * @throws {SysvIpcError} EPERM if not owner/creator, or raising maxBytes above msgmnb without CAP_SYS_RESOURCE.
   */
  set(options: MessageQueueSetOptions): void {
    const { mode, uid, gid } = parseOwnershipChange(options);
    const o = check.options('options', options);
    const maxBytes = o.maxBytes === undefined ? -1 : check.integer('options.maxBytes', o.maxBytes, 0, 0x7fffffff);
    about({ key: this.key, id: this.id }, () => binding.msgSet(this.id, mode, uid, gid, maxBytes));
  }

  /**
   * Deletes the queue from the kernel (IPC_RMID). Every process waiting on it
   * wakes with EIDRM; its messages are gone.
   */
  remove(): void {
    about({ key: this.key, id: this.id }, () => binding.msgRemove(this.id));
  }
}

function toMessage(value: Buffer | undefined, extra: number): Message {
  // NaN: the type is not a safe integer, and the addon sent the whole
  // message (header, then body) so that it can be read exactly.
  if (Number.isNaN(extra) && value !== undefined) return message(typeIn(value), value.subarray(HEADER));
  return { type: extra, data: value ?? Buffer.alloc(0) };
}
