/**
 * Channel: a message channel in one System V shared memory segment. Many
 * producers and many competing consumers, in any processes and threads; a
 * message costs a copy into the ring and a copy out, and the kernel is
 * entered only to wake a peer that really sleeps.
 *
 * The protocol is include/sysv-ipc/channel.h (C peers include the same
 * file); its layout and rules are docs/channel-layout.md.
 */
import { performance } from 'node:perf_hooks';
import { Buffer } from 'node:buffer';
import * as v8 from 'node:v8';
import { binding } from './addon';
import type { ChannelHandle, RawChannelOpen } from './binding';
import {
  about,
  abortError,
  ClosedError,
  decodeValue,
  OutOfRangeError,
  syscallError,
  SysvIpcError,
  timeoutError,
  withContext,
  type SysvIpcErrorContext,
} from './errors';
import { IPC_PRIVATE, type Key } from './keys';
import { readKernelTunable } from './proc';
import { ownershipOf, statTime, type IpcOwnership } from './ownership';
import * as check from './validate';
import { parseOpen } from './open-options';
import { HandleState, IpcHandle } from './ipc-handle';
import { SpinBudget, WOULD_BLOCK, syncWaitFlags, type WaitOptions } from './waits';
import { ChannelRing, EMPTY, LOCK_BUSY, MAX_JS_SEGMENT, SENT } from './channel-ring';
import { TAKES_IN_JAVASCRIPT } from './take-thread';

const C = binding.constants;
const { WOULD_BLOCK: RECEIVE_WOULD_BLOCK, TOO_LONG } = C.RECEIVE;

/** Default ring size: 1 MiB. */
export const CHANNEL_DEFAULT_CAPACITY = 1 << 20;

// The JavaScript hot path (lib/channel-ring.ts, issue 25): on unless
// SYSV_IPC_CHANNEL_JS=0, which keeps every call native (as before).
const JS_HOT_PATH = process.env.SYSV_IPC_CHANNEL_JS !== '0';

// How long a sync call spins in JavaScript (while the peer runs on another
// CPU) before the native call, which spins again (yielding) and parks: the
// addon's kSyncSpinNs.
const SYNC_SPIN_NS = 100000;

// Every view a caller passes is made a Uint8Array by its internal slots at
// the call (check.view, check.bytes): a Float32Array dressed with
// Uint8Array.prototype, or a view whose prototype is gone, is copied as its
// bytes, never converted or read as empty.

// The bytes of a send() that is not tried at its call (queued, or deferred a
// turn): taken now, as a parked send's are (chSendAsync copies), so that a
// caller reusing its buffer after the call sends what it held then.
function copyOf(bytes: Uint8Array, offset: number, length: number): Uint8Array {
  const copy = new Uint8Array(length);
  copy.set(check.rangeOf(bytes, offset, length));
  return copy;
}

const OPEN_CREATE = 1;
const OPEN_EXCLUSIVE = 2;

function maxCapacity(): number {
  const shmmax = readKernelTunable('shmmax')?.[0];
  const limit = shmmax !== undefined && Number.isFinite(shmmax) && shmmax > 0 ? shmmax : Number.MAX_SAFE_INTEGER;
  return Math.min(limit, Number.MAX_SAFE_INTEGER) - C.CHANNEL_HEADER_SIZE;
}

/** Options of {@link Channel.create}. */
export interface ChannelCreateOptions {
  /** The key; default {@link IPC_PRIVATE}. */
  key?: Key;
  /**
   * Bytes of the ring (rounded up to a multiple of 8); default 1 MiB, at
   * least 256, at most the kernel's shmmax less the 256-byte header. Each
   * message takes 8 bytes of framing plus its length rounded up to 8.
   */
  capacity?: number;
  /** The largest message, in bytes: up to a quarter of `capacity`, which is also the default. */
  maxMessageSize?: number;
  /** Permission bits; default 0o600. */
  mode?: number;
}

/** Options of {@link Channel.open}. */
export interface ChannelOpenOptions extends Omit<ChannelCreateOptions, 'key'> {
  /**
   * Create the channel if no segment has this key (open-or-create, free of
   * races: concurrent openers all end up on one initialised channel). An
   * existing channel keeps its own capacity and maxMessageSize.
   */
  create?: boolean;
}

/** Options of the synchronous forms. */
export interface ChannelSyncOptions {
  /** Milliseconds to wait before `ETIMEDOUT`; default forever. */
  timeout?: number;
}

/** What {@link Channel.info} reports. */
export interface ChannelInfo extends IpcOwnership {
  /** Bytes of the ring. */
  capacity: number;
  /** The largest message, in bytes. */
  maxMessageSize: number;
  /**
   * Messages queued now. Counted by walking the records from the oldest, at
   * most 2^20 of them, so that info() stays cheap on a huge ring of tiny
   * messages: when the ring holds more, this counts the oldest 2^20 only (a
   * lower bound) and {@link ChannelInfo.countsExact} is false.
   */
  messages: number;
  /** Their payload bytes (a lower bound too when `countsExact` is false). */
  bytes: number;
  /** Ring bytes in use (payload, framing and wrap-around padding); always exact. */
  usedBytes: number;
  /**
   * Whether `messages` and `bytes` count every queued message: false when the
   * walk stopped at 2^20 records, or when the records were reused under every
   * look (a small ring, busy on both sides).
   */
  countsExact: boolean;
  /** The segment's size (header + ring). */
  size: number;
  /** Attachments of the segment, in every process. */
  attachments: number;
  /** Pid of the segment's creator. */
  creatorPid: number;
  /** Time of creation or of the last IPC_SET. */
  lastChangeTime: Date | null;
}

/** Bytes to send, as (view, offset, length) without copying or slicing. */
function sendBytes(data: unknown): Uint8Array {
  return check.bytes('data', data);
}

/** A send() waiting behind an earlier unsettled send() of the same object. */
interface QueuedSend {
  body: Uint8Array;
  offset: number;
  length: number;
  /** performance.now() by which it times out; -1: no limit. */
  deadline: number;
  signal: AbortSignal | undefined;
  resolve: () => void;
  reject: (err: unknown) => void;
  timer?: ReturnType<typeof setTimeout>;
  onAbort?: () => void;
}

// A queued send leaves the queue: its timer and abort listener go.
function settleQueued(q: QueuedSend): void {
  if (q.timer !== undefined) clearTimeout(q.timer);
  if (q.onAbort !== undefined) q.signal?.removeEventListener('abort', q.onAbort);
}

function tooLarge(length: number, target: number, context: SysvIpcErrorContext): SysvIpcError {
  return syscallError(C.EMSGSIZE, 'channelReceive', context, {
    detail: `the message is ${length} bytes, the target holds ${target}; nothing was consumed`,
  });
}

/**
 * A message channel in a System V shared memory segment.
 *
 * ```ts
 * // process A
 * using ch = Channel.open(0x5ca1ab1e, { create: true });
 * await ch.send('hello');
 * // process B
 * using ch = Channel.open(0x5ca1ab1e, { create: true });
 * const buf = await ch.receive();   // <Buffer 68 65 6c 6c 6f>
 * ```
 *
 * Every message goes to exactly one receiver; the messages of one producer
 * arrive in the order it sent them. A producer or consumer killed at any
 * instant (SIGKILL included) loses at most the message it was sending and
 * never stalls the others. `close()` detaches this process only; `remove()`
 * deletes the segment and wakes every waiter in every process with EIDRM.
 */
export class Channel extends IpcHandle {
  /** Bytes of the ring. */
  readonly capacity: number;
  /** The largest message, in bytes. */
  readonly maxMessageSize: number;
  /** Whether this call created the segment (create, or open-or-create that created it). */
  readonly created: boolean;
  private handle: ChannelHandle | null;
  private readonly sendSpin = new SpinBudget();
  private readonly receiveSpin = new SpinBudget();
  // send()s of this object that did not land at their first try and have not
  // settled, and the send()s queued behind them (per-producer order).
  #sendsUnsettled = 0;
  #sendQueue: QueuedSend[] = [];
  // The JavaScript hot path over the segment, or null (switched off, closed).
  // #private: no user code can reach (and transfer) its ArrayBuffer.
  #ring: ChannelRing | null = null;

  private constructor(raw: RawChannelOpen, key: Key) {
    super(new HandleState(raw.id, key, 'channel'));
    this.handle = raw.handle;
    this.capacity = raw.capacity;
    this.maxMessageSize = raw.maxMessageSize;
    this.created = raw.created === true;
    // Native only for a segment beyond the ring's 32-bit word indexes, and
    // where the view cannot be made (ERR_SYSV_IPC_NO_EXTERNAL_BUFFERS: Node
    // 20 refuses one over 4 GiB, a V8 sandbox any): a constructor that threw
    // here left a created (even private) segment behind, unreachable.
    // Main thread only (take-thread.ts says why).
    if (JS_HOT_PATH && TAKES_IN_JAVASCRIPT && raw.capacity + C.CHANNEL_HEADER_SIZE <= MAX_JS_SEGMENT) {
      let view: ArrayBuffer | undefined;
      try {
        view = binding.chView(raw.handle);
      } catch {
        view = undefined;
      }
      if (view !== undefined) {
        this.#ring = new ChannelRing(view, raw.capacity, raw.maxMessageSize, raw.handle, this.state.context);
      }
    }
  }

  // The JS try of a send: true sent, false full; undefined: the lock is busy
  // (or no JS path), the native path decides.
  private jsSend(body: Uint8Array, offset: number, length: number): boolean | undefined {
    const ring = this.#ring;
    if (ring === null) return undefined;
    const r = ring.trySend(check.rangeOf(body, offset, length), length);
    if (r !== LOCK_BUSY) return r === SENT;
    if (ring.outOfRange) this.#ring = null; // positions beyond 2^52: native from now on
    return undefined;
  }

  private static geometry(o: Partial<ChannelCreateOptions>): { capacity: number; maxMessageSize: number } {
    const max = maxCapacity();
    let capacity = check.optionalInteger(
      'options.capacity',
      o.capacity,
      C.CHANNEL_MIN_CAPACITY,
      max,
      CHANNEL_DEFAULT_CAPACITY,
    );
    capacity = Math.ceil(capacity / 8) * 8;
    if (capacity > max) capacity -= 8;
    const limit = Math.min(Math.floor(capacity / 4), 0xffffffff);
    const maxMessageSize = check.optionalInteger('options.maxMessageSize', o.maxMessageSize, 0, limit, limit);
    return { capacity, maxMessageSize };
  }

  /**
   * Creates a new channel in a new segment (IPC_CREAT | IPC_EXCL).
   * @throws {RangeError} for a capacity or maxMessageSize out of range.
   * @throws {SysvIpcError} EEXIST if a segment with this key exists; EINVAL/ENOSPC/ENOMEM at the kernel's limits.
   */
  static create(options?: ChannelCreateOptions): Channel {
    const o = check.options('options', options);
    const key = o.key === undefined ? IPC_PRIVATE : check.key('options.key', o.key);
    const mode = check.mode('options.mode', o.mode, 0o600);
    const { capacity, maxMessageSize } = Channel.geometry(o);
    return new Channel(binding.chOpen(key, capacity, maxMessageSize, OPEN_EXCLUSIVE, mode), key);
  }

  /**
   * Opens the channel with this key; with `{ create: true }`, creates it if absent.
   * @throws {SysvIpcError} ENOENT if absent and `create` is not set;
   *   `ERR_SYSV_IPC_NOT_A_CHANNEL` if the segment holds no channel of this
   *   layout version (nothing is written to it); `ERR_SYSV_IPC_CHANNEL_CORRUPT`.
   */
  static open(key: Key, options?: ChannelOpenOptions): Channel {
    const {
      key: k,
      options: o,
      create,
      mode,
    } = parseOpen(key, options, {
      className: 'Channel',
      what: 'channel',
      privateCreates: true,
    });
    const { capacity, maxMessageSize } = Channel.geometry(o);
    if (k === IPC_PRIVATE) return Channel.create({ ...o, key: IPC_PRIVATE });
    const handle = about({ key: k }, () => binding.chOpen(k, capacity, maxMessageSize, create ? OPEN_CREATE : 0, mode));
    return new Channel(handle, k);
  }

  /**
   * Attaches the channel in the segment with this identifier (writes nothing).
   * @throws {SysvIpcError} EINVAL if no such segment; `ERR_SYSV_IPC_NOT_A_CHANNEL`.
   */
  static fromId(id: number): Channel {
    const shmid = check.ipcId('id', id);
    const stat = about({ id: shmid }, () => binding.shmStat(shmid));
    return new Channel(
      about({ key: stat.key, id: shmid }, () => binding.chAttach(shmid)),
      stat.key,
    );
  }

  private attached(): ChannelHandle {
    if (this.handle === null) throw new ClosedError('The channel', undefined, this.state.context);
    return this.handle;
  }

  private checkSize(length: number): void {
    if (length > this.maxMessageSize) {
      throw new OutOfRangeError(
        `The message is ${length} bytes; this channel's maxMessageSize is ${this.maxMessageSize} bytes`,
      );
    }
  }

  // ---- send

  /**
   * Sends a message (a string as UTF-8, or the bytes of any ArrayBufferView),
   * waiting off the event loop while the ring is full. The send()s of one
   * object land in the order they were called: one that finds an earlier
   * send() of this object still waiting queues behind it (its timeout and
   * signal apply meanwhile). The bytes are taken at the call: the caller may
   * reuse its buffer as soon as send() returns.
   * @throws {RangeError} `ERR_OUT_OF_RANGE` if longer than maxMessageSize (nothing is written).
   * @throws {SysvIpcError} ETIMEDOUT after `timeout`; EIDRM if the channel is removed.
   */
  send(data: string | ArrayBufferView, options?: WaitOptions): Promise<void> {
    try {
      const body = sendBytes(data);
      return this.sendRange(body, 0, check.byteLengthOf(body), options);
    } catch (err) {
      return Promise.reject(err);
    }
  }

  /**
   * Sends `length` bytes of `source` from `offset` (no copy on the JS side,
   * no view made): the allocation-free send of the hot path. The bytes are
   * taken at the call, as by {@link send} (a send that has to wait copies them).
   */
  sendFrom(source: ArrayBufferView, offset?: number, length?: number, options?: WaitOptions): Promise<void> {
    try {
      const [bytes, off, len] = this.range(source, offset, length);
      return this.sendRange(bytes, off, len, options);
    } catch (err) {
      return Promise.reject(err);
    }
  }

  private range(
    source: ArrayBufferView,
    offset: number | undefined,
    length: number | undefined,
  ): [Uint8Array, number, number] {
    const bytes = check.view('source', source);
    const size = check.byteLengthOf(bytes);
    const off = check.optionalInteger('offset', offset, 0, size, 0);
    const len = check.optionalInteger('length', length, 0, size - off, size - off);
    return [bytes, off, len];
  }

  private sendRange(body: Uint8Array, offset: number, length: number, options: WaitOptions | undefined): Promise<void> {
    this.attached();
    this.checkSize(length);
    const timeout = check.timeout('options.timeout', options?.timeout);
    const signal = check.signal('options.signal', options?.signal);
    if (this.#sendsUnsettled === 0) return this.startSend(body, offset, length, timeout, signal);
    // Per-producer order: an earlier send() of this object has not landed
    // yet, so this one waits behind it, in JavaScript, and starts (tries,
    // then parks) only when every earlier one has settled. Otherwise it
    // could find room freed meanwhile and land first.
    if (signal?.aborted) return Promise.reject(abortError(signal));
    if (timeout === 0) return Promise.reject(timeoutError('channelSend', this.state.context));
    return new Promise<void>((resolve, reject) => {
      const queued: QueuedSend = {
        body: copyOf(body, offset, length),
        offset: 0,
        length,
        deadline: -1,
        signal,
        resolve,
        reject,
      };
      const drop = (err: Error): void => {
        const at = this.#sendQueue.indexOf(queued);
        if (at < 0) return; // started meanwhile: its own wait ends it
        this.#sendQueue.splice(at, 1);
        settleQueued(queued);
        reject(err);
      };
      if (timeout > 0) {
        queued.deadline = performance.now() + timeout;
        // Unref'd: the earlier send this one waits behind keeps the loop alive (or not, after unref()).
        queued.timer = setTimeout(() => drop(timeoutError('channelSend', this.state.context)), timeout);
        queued.timer.unref();
      }
      if (signal !== undefined) {
        queued.onAbort = () => drop(abortError(signal));
        signal.addEventListener('abort', queued.onAbort, { once: true });
      }
      this.#sendQueue.push(queued);
    });
  }

  // One send() through the WaitGroup; counted in #sendsUnsettled until it
  // settles when it did not land at once (its first try).
  private startSend(
    body: Uint8Array,
    offset: number,
    length: number,
    timeout: number,
    signal: AbortSignal | undefined,
  ): Promise<void> {
    const handle = this.attached();
    // Whether it waits beyond its call: parked on an addon thread, or put
    // off a turn by the WaitGroup's streak breaker. Not when it landed or
    // failed at its call (aborted, timeout 0 on a full ring, EIDRM).
    let waiting = false;
    const p = this.waits.run<void>({
      syscall: 'channelSend',
      context: this.state.context,
      timeout,
      signal,
      spin: this.sendSpin,
      attempt: (spinNs) => {
        const js = this.jsSend(body, offset, length);
        if (js === true) return undefined;
        if (js === false && spinNs === 0) return WOULD_BLOCK;
        const t0 = performance.now();
        if (js === false && this.jsSpinSend(body, offset, length, spinNs)) return undefined;
        const left = Math.max(0, Math.round(spinNs - (performance.now() - t0) * 1e6));
        return binding.chSend(handle, body, offset, length, C.IPC_NOWAIT, left) ? undefined : WOULD_BLOCK;
      },
      park: (waitId) => {
        binding.chSendAsync(handle, body, offset, length, timeout, waitId); // copies the bytes
        waiting = true;
      },
      parked: () => undefined,
      // Tried a turn later: the bytes are taken now (the closures read these).
      deferred: () => {
        body = copyOf(body, offset, length);
        offset = 0;
        waiting = true;
      },
    });
    if (!waiting) return p;
    // Parked or deferred to the next turn: later sends queue until it settles.
    this.#sendsUnsettled++;
    const settled = (): void => {
      this.#sendsUnsettled--;
      this.startQueuedSends();
    };
    p.then(settled, settled);
    return p;
  }

  // Starts the queued sends in order while none of this object's is unsettled.
  private startQueuedSends(): void {
    while (this.#sendsUnsettled === 0 && this.#sendQueue.length > 0) {
      const q = this.#sendQueue.shift()!;
      settleQueued(q);
      const left = q.deadline < 0 ? -1 : Math.max(1, Math.ceil(q.deadline - performance.now()));
      let p: Promise<void>;
      try {
        p = this.startSend(q.body, q.offset, q.length, left, q.signal);
      } catch (err) {
        p = Promise.reject(err); // closed meanwhile: ERR_SYSV_IPC_CLOSED
      }
      p.then(q.resolve, q.reject);
    }
  }

  /**
   * Sends without waiting: `false` if the ring has no room now, or while an
   * earlier send() of this object waits for room (it goes first).
   */
  trySend(data: string | ArrayBufferView): boolean {
    const handle = this.attached();
    const body = sendBytes(data);
    const length = check.byteLengthOf(body);
    this.checkSize(length);
    if (this.#sendsUnsettled > 0) return false; // the room is for this object's earlier send()s first
    try {
      return this.jsSend(body, 0, length) ?? binding.chSend(handle, body, 0, length, C.IPC_NOWAIT, 0);
    } catch (err) {
      throw withContext(err, this.state.context); // EIDRM, …: the addon's error knows no key or id
    }
  }

  /** {@link trySend} of `length` bytes of `source` from `offset`, allocation-free. */
  trySendFrom(source: ArrayBufferView, offset?: number, length?: number): boolean {
    const handle = this.attached();
    const [bytes, off, len] = this.range(source, offset, length);
    this.checkSize(len);
    if (this.#sendsUnsettled > 0) return false; // the room is for this object's earlier send()s first
    try {
      return this.jsSend(bytes, off, len) ?? binding.chSend(handle, bytes, off, len, C.IPC_NOWAIT, 0);
    } catch (err) {
      throw withContext(err, this.state.context);
    }
  }

  /**
   * Sends, blocking the calling thread while the ring is full (after a short spin).
   * It does not wait for this object's pending send()s (they need the event
   * loop this call blocks): its message may land before theirs.
   * @throws {SysvIpcError} ETIMEDOUT after `timeout`; EIDRM if removed.
   */
  sendSync(data: string | ArrayBufferView, options?: ChannelSyncOptions): void {
    const body = sendBytes(data);
    this.sendRangeSync(body, 0, check.byteLengthOf(body), options);
  }

  /** {@link sendSync} of `length` bytes of `source` from `offset`, allocation-free. */
  sendFromSync(source: ArrayBufferView, offset?: number, length?: number, options?: ChannelSyncOptions): void {
    const [bytes, off, len] = this.range(source, offset, length);
    this.sendRangeSync(bytes, off, len, options);
  }

  private sendRangeSync(
    body: Uint8Array,
    offset: number,
    length: number,
    options: ChannelSyncOptions | undefined,
  ): void {
    const handle = this.attached();
    this.checkSize(length);
    const timeout =
      options === undefined ? -1 : check.timeout('options.timeout', check.options('options', options).timeout);
    let sent: boolean;
    try {
      const js = this.jsSend(body, offset, length);
      sent =
        js === true ||
        (js === false && timeout !== 0 && this.jsSpinSend(body, offset, length, SYNC_SPIN_NS)) ||
        binding.chSend(handle, body, offset, length, syncWaitFlags(timeout), timeout);
    } catch (err) {
      throw withContext(err, this.state.context); // EIDRM, …: the addon's error knows no key or id
    }
    if (!sent) throw timeoutError('channelSend', this.state.context);
  }

  // ---- receive

  /**
   * Receives the oldest message as a Buffer, waiting off the event loop.
   * A cancelled or timed-out receive consumes nothing.
   * @throws {SysvIpcError} ETIMEDOUT after `timeout`; EIDRM if removed; `ERR_SYSV_IPC_CHANNEL_CORRUPT`.
   */
  receive(options?: WaitOptions): Promise<Buffer> {
    try {
      const handle = this.attached();
      const timeout = check.timeout('options.timeout', options?.timeout);
      return this.waits.run<Buffer>({
        syscall: 'channelReceive',
        context: this.state.context,
        timeout,
        signal: check.signal('options.signal', options?.signal),
        spin: this.receiveSpin,
        attempt: (spinNs) => {
          const js = this.jsReceive();
          if (js !== null || spinNs === 0) return js ?? WOULD_BLOCK;
          const t0 = performance.now();
          const spun = this.jsSpinReceive(spinNs);
          if (spun !== null) return spun;
          const left = Math.max(0, Math.round(spinNs - (performance.now() - t0) * 1e6));
          return binding.chReceiveBuffer(handle, C.IPC_NOWAIT, left) ?? WOULD_BLOCK;
        },
        // The parked wait takes nothing; `parked` takes the message here, on
        // the JS thread, so a worker terminated meanwhile consumes nothing.
        park: (waitId, left) => binding.chReceiveAsync(handle, -1, left, waitId),
        parked: () => {
          this.#ring?.notePark();
          return this.jsReceive() ?? binding.chReceiveBuffer(this.attached(), C.IPC_NOWAIT, 0) ?? WOULD_BLOCK;
        },
        readiness: true,
      });
    } catch (err) {
      return Promise.reject(err);
    }
  }

  // JS tries with the JS spin between them, for at most spinNs: the message,
  // or null (the spin is over, or the producers share this CPU: go native).
  private jsSpinReceive(spinNs: number): Buffer | null {
    const ring = this.#ring;
    if (ring === null) return null;
    const end = performance.now() + spinNs / 1e6;
    for (let turn = 0; ; turn++) {
      const left = (end - performance.now()) * 1e6;
      if (!ring.spin(true, left, turn)) return null;
      const m = this.jsReceive();
      if (m !== null) return m;
    }
  }

  // As jsSpinReceive, into `into`: chReceive's result (EMPTY: go native).
  private jsSpinReceiveInto(into: Uint8Array, spinNs: number): number {
    const ring = this.#ring;
    if (ring === null) return EMPTY;
    const end = performance.now() + spinNs / 1e6;
    for (let turn = 0; ; turn++) {
      const left = (end - performance.now()) * 1e6;
      if (!ring.spin(true, left, turn)) return EMPTY;
      const n = this.jsReceiveInto(into);
      if (n !== EMPTY) return n;
    }
  }

  // As jsSpinReceive for a send: true sent; false: go native.
  private jsSpinSend(body: Uint8Array, offset: number, length: number, spinNs: number): boolean {
    const ring = this.#ring;
    if (ring === null) return false;
    const end = performance.now() + spinNs / 1e6;
    for (let turn = 0; ; turn++) {
      const left = (end - performance.now()) * 1e6;
      if (!ring.spin(false, left, turn)) return false;
      const r = this.jsSend(body, offset, length);
      if (r === undefined) return false; // the lock is busy: native waits for it
      if (r) return true;
    }
  }

  // The JS try of a receive into a new Buffer: null when empty; with no JS
  // path, the native try. Taken: returned with no JavaScript function in between.
  private jsReceive(): Buffer | null {
    const ring = this.#ring;
    if (ring === null) return binding.chReceiveBuffer(this.attached(), C.IPC_NOWAIT, 0);
    if (ring.tryReceive(undefined) !== EMPTY) return ring.taken!;
    if (!ring.outOfRange) return null;
    this.#ring = null; // positions beyond 2^52: native from now on
    return binding.chReceiveBuffer(this.attached(), C.IPC_NOWAIT, 0);
  }

  // The JS try of a receive into `into`: chReceive's result (length, EMPTY, TOO_LONG - n).
  private jsReceiveInto(into: Uint8Array): number {
    const ring = this.#ring;
    if (ring === null) return binding.chReceive(this.attached(), into, C.IPC_NOWAIT, 0);
    const n = ring.tryReceive(into);
    if (n !== EMPTY || !ring.outOfRange) return n;
    this.#ring = null; // positions beyond 2^52: native from now on
    return binding.chReceive(this.attached(), into, C.IPC_NOWAIT, 0);
  }

  /** Receives without waiting: `undefined` if the ring is empty. */
  tryReceive(): Buffer | undefined {
    this.attached();
    try {
      return this.jsReceive() ?? undefined;
    } catch (err) {
      throw withContext(err, this.state.context); // EIDRM, corrupt, …: the addon's error knows no key or id
    }
  }

  /**
   * Receives, blocking the calling thread until a message comes (after a short spin).
   * @throws {SysvIpcError} ETIMEDOUT after `timeout`; EIDRM.
   */
  receiveSync(options?: ChannelSyncOptions): Buffer {
    const handle = this.attached();
    const timeout =
      options === undefined ? -1 : check.timeout('options.timeout', check.options('options', options).timeout);
    // The Buffer is made natively: no JavaScript function runs between the
    // take and the caller's next statement, where a terminated worker would
    // stop and lose the message.
    let message: Buffer | null;
    try {
      message =
        this.jsReceive() ??
        (timeout !== 0 ? this.jsSpinReceive(SYNC_SPIN_NS) : null) ??
        binding.chReceiveBuffer(handle, syncWaitFlags(timeout), timeout);
    } catch (err) {
      throw withContext(err, this.state.context);
    }
    if (message === null) throw timeoutError('channelReceive', this.state.context);
    return message;
  }

  private intoTarget(target: ArrayBufferView): Uint8Array {
    return check.view('target', target);
  }

  // A chReceive result for a caller's target: TOO_LONG - n means it did not fit.
  private intoResult(n: number, target: Uint8Array): number {
    if (n <= TOO_LONG) throw tooLarge(TOO_LONG - n, check.byteLengthOf(target), this.state.context);
    return n;
  }

  /**
   * Copies the oldest message into `target` (from its start) and returns its
   * length: the allocation-free receive of the hot path. A message longer
   * than `target` fails with EMSGSIZE and stays queued. Waits off the event loop.
   */
  receiveInto(target: ArrayBufferView, options?: WaitOptions): Promise<number> {
    try {
      const handle = this.attached();
      const into = this.intoTarget(target);
      const timeout = check.timeout('options.timeout', options?.timeout);
      return this.waits.run<number>({
        syscall: 'channelReceive',
        context: this.state.context,
        timeout,
        signal: check.signal('options.signal', options?.signal),
        spin: this.receiveSpin,
        // n >= 0: taken, and returned with no JavaScript function in between
        // (see receiveSync); n <= TOO_LONG: too long for `into`, nothing taken.
        attempt: (spinNs) => {
          let n = this.jsReceiveInto(into);
          if (n === EMPTY && spinNs > 0) {
            const t0 = performance.now();
            n = this.jsSpinReceiveInto(into, spinNs);
            const left = Math.max(0, Math.round(spinNs - (performance.now() - t0) * 1e6));
            if (n === EMPTY) n = binding.chReceive(handle, into, C.IPC_NOWAIT, left);
          }
          return n >= 0 ? n : n === EMPTY ? WOULD_BLOCK : this.intoResult(n, into);
        },
        park: (waitId, left) => binding.chReceiveAsync(handle, check.byteLengthOf(into), left, waitId),
        // Taken here, on the JS thread (see receive()); a message longer than
        // `into` fails with EMSGSIZE and stays queued.
        parked: () => {
          this.#ring?.notePark();
          const n = this.jsReceiveInto(into);
          return n >= 0 ? n : n === EMPTY ? WOULD_BLOCK : this.intoResult(n, into);
        },
        readiness: true,
      });
    } catch (err) {
      return Promise.reject(err);
    }
  }

  /** {@link receiveInto} without waiting: the length, or -1 if the ring is empty. */
  tryReceiveInto(target: ArrayBufferView): number {
    const handle = this.attached();
    const into = this.intoTarget(target);
    let n: number;
    try {
      n = this.#ring === null ? binding.chReceive(handle, into, C.IPC_NOWAIT, 0) : this.jsReceiveInto(into);
    } catch (err) {
      throw withContext(err, this.state.context);
    }
    return n >= RECEIVE_WOULD_BLOCK ? n : this.intoResult(n, into); // taken: nothing runs before the caller has it
  }

  /** {@link receiveInto} blocking the calling thread: the length. */
  receiveIntoSync(target: ArrayBufferView, options?: ChannelSyncOptions): number {
    const handle = this.attached();
    const into = this.intoTarget(target);
    const timeout =
      options === undefined ? -1 : check.timeout('options.timeout', check.options('options', options).timeout);
    let n: number;
    try {
      n = this.#ring === null ? EMPTY : this.jsReceiveInto(into);
      if (n === EMPTY && timeout !== 0) n = this.jsSpinReceiveInto(into, SYNC_SPIN_NS);
      if (n === EMPTY) n = binding.chReceive(handle, into, syncWaitFlags(timeout), timeout);
    } catch (err) {
      throw withContext(err, this.state.context);
    }
    if (n >= 0) return n; // taken: nothing runs before the caller has it
    if (n === RECEIVE_WOULD_BLOCK) throw timeoutError('channelReceive', this.state.context);
    return this.intoResult(n, into);
  }

  /**
   * The messages as an async iterable; it ends when this object is closed or
   * the channel is removed. It yields to the event loop now and then even
   * when messages never stop coming.
   */
  async *messages(options?: { signal?: AbortSignal }): AsyncIterableIterator<Buffer> {
    const o = check.options('options', options);
    const signal = check.signal('options.signal', o.signal);
    const opts = signal ? { signal } : undefined;
    while (!this.closed) {
      let message: Buffer;
      try {
        message = await this.receive(opts);
      } catch (err) {
        if (err instanceof ClosedError) return;
        if (err instanceof SysvIpcError && (err.code === 'EIDRM' || err.code === 'EINVAL')) return;
        throw err;
      }
      yield message;
    }
  }

  // ---- values (node:v8 structured clone)

  /** Sends any structured-cloneable value (node:v8 serialize). */
  sendValue(value: unknown, options?: WaitOptions): Promise<void> {
    try {
      return this.send(v8.serialize(value), options);
    } catch (err) {
      return Promise.reject(err);
    }
  }

  /** {@link sendValue} without waiting: `false` if the ring has no room now. */
  trySendValue(value: unknown): boolean {
    return this.trySend(v8.serialize(value));
  }

  /** {@link sendValue} blocking the calling thread. */
  sendValueSync(value: unknown, options?: ChannelSyncOptions): void {
    this.sendSync(v8.serialize(value), options);
  }

  /** Receives a value sent with {@link sendValue}. */
  async receiveValue(options?: WaitOptions): Promise<unknown> {
    return decodeValue(await this.receive(options), this.state.context);
  }

  /** {@link receiveValue} without waiting: `undefined` if the ring is empty. */
  tryReceiveValue(): unknown {
    const buf = this.tryReceive();
    return buf === undefined ? undefined : decodeValue(buf, this.state.context);
  }

  /** {@link receiveValue} blocking the calling thread. */
  receiveValueSync(options?: ChannelSyncOptions): unknown {
    return decodeValue(this.receiveSync(options), this.state.context);
  }

  // ---- state

  /**
   * The ring's state and the segment's IPC_STAT, fresh on each call.
   * @throws {SysvIpcError} `ERR_SYSV_IPC_CHANNEL_CORRUPT` if the records do not add up.
   */
  info(): ChannelInfo {
    const handle = this.attached();
    const stats = about(this.state.context, () => binding.chStats(handle));
    const s = about(this.state.context, () => binding.shmStat(this.id));
    return {
      ...ownershipOf(this.id, s),
      capacity: this.capacity,
      maxMessageSize: this.maxMessageSize,
      messages: stats.messages,
      bytes: stats.bytes,
      usedBytes: stats.usedBytes,
      countsExact: stats.countsExact,
      size: s.size,
      attachments: s.attachments,
      creatorPid: s.creatorPid,
      lastChangeTime: statTime(s.lastChangeTime),
    };
  }

  /** Whether {@link close} was called. */
  override get closed(): boolean {
    return this.handle === null;
  }

  /**
   * Detaches this process: its pending waits reject with a "closed" error
   * (nothing is taken). The channel stays for the other processes. Idempotent.
   */
  override close(): void {
    if (this.handle === null) return;
    const handle = this.handle;
    this.handle = null;
    this.#ring = null;
    super.close();
    binding.chClose(handle); // detaches the ring's view too
  }

  /**
   * Deletes the channel: every waiter in every process wakes with EIDRM at
   * once, and the segment goes when the last process detaches. This handle
   * stays open (its calls then fail with EIDRM) until closed.
   */
  remove(): void {
    if (this.handle !== null) {
      binding.chMarkRemoved(this.handle);
    } else {
      let raw: RawChannelOpen | undefined;
      try {
        raw = binding.chAttach(this.id);
        binding.chMarkRemoved(raw.handle);
      } catch {
        // Gone, or no longer a readable channel: removing the segment is all there is to do.
      } finally {
        if (raw) binding.chClose(raw.handle);
      }
    }
    about(this.state.context, () => binding.shmRemove(this.id));
  }
}
