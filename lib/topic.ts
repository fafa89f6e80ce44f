/**
 * Topic: publish/subscribe in one System V shared memory segment. One ring
 * written once by the publishers, read by every subscription at its own
 * cursor (the LMAX Disruptor's shape), in any processes and threads.
 *
 * The hot path is JavaScript on the segment's view: a publish takes the
 * publishers' lock (FastMutex's compare-and-swap, lock.h), writes the record
 * and moves `tail`; a receive reads the record at its cursor and checks,
 * after the copy, that `head` has not passed it (a torn message is never
 * returned). The addon is entered only to park on a futex word, to wake a
 * waiter that said it sleeps, and for what include/sysv-ipc/topic.h must do
 * exactly as C peers do (native/topic.cc: header, subscription slots, the
 * reaper of dead subscriptions). The protocol is docs/topic-layout.md.
 *
 * Why Atomics on a non-shared ArrayBuffer order memory across processes:
 * see lib/fast-mutex.ts (V8 emits the same instructions as for a
 * SharedArrayBuffer; Atomics.store is `xchg` on x64, a full barrier).
 */
import { performance } from 'node:perf_hooks';
import { Buffer } from 'node:buffer';
import * as v8 from 'node:v8';
import { constants as osConstants } from 'node:os';
import { binding } from './addon';
import type { RawTopicGeometry, ShmHandle } from './binding';
import {
  about,
  AbortError,
  ClosedError,
  decodeValue,
  naming,
  OutOfRangeError,
  syscallError,
  SysvIpcError,
  timeoutError,
  withContext,
} from './errors';
import { FastMutex } from './fast-mutex';
import { IPC_PRIVATE, type Key } from './keys';
import { statTime } from './ownership';
import { ownershipOf, type IpcOwnership } from './ownership';
import { parseOpen } from './open-options';
import { SharedMemory } from './shared-memory';
import { HandleState, IpcHandle } from './ipc-handle';
import * as check from './validate';
import { SpinBudget, WOULD_BLOCK, type WaitOptions } from './waits';
import { TAKES_IN_JAVASCRIPT } from './take-thread';

const T = binding.constants.TOPIC;
const { EIDRM } = osConstants.errno;

/** Default ring size: 64 KiB. */
export const TOPIC_DEFAULT_CAPACITY = 1 << 16;
/** Default number of subscription slots. */
export const TOPIC_DEFAULT_MAX_SUBSCRIBERS = 64;

// Int32 indexes of the header words.
const I_REMOVED = T.OFF_REMOVED >> 2;
const I_TAIL = T.OFF_TAIL >> 2;
const I_NEXT_SEQ = T.OFF_NEXT_SEQ >> 2;
const I_HEAD = T.OFF_HEAD >> 2;
const I_HEAD_SEQ = T.OFF_HEAD_SEQ >> 2;
const I_DATA_SLEEP = T.OFF_DATA_SLEEP >> 2;
const I_DATA_SEQ = T.OFF_DATA_SEQ >> 2;
const I_SLOTS_USED = T.OFF_SLOTS_USED >> 2;
const I_SPACE_SEQ = T.OFF_SPACE_SEQ >> 2;
const I_SPACE_SLEEP = T.OFF_SPACE_SLEEP >> 2;
const PAD = T.PAD;
const RECORD = T.RECORD_HEADER;
// Int32 index of slot i's word at byte offset `field`: slotWord(i) + field index.
// Plain numbers: a property read of the addon's constants object per use cost
// the 'wait' publisher's scan of the table ~2 µs per message (64 slots).
const SLOTS = T.HEADER_SIZE >> 2;
const SLOT_WORDS = T.SLOT_SIZE >> 2;
const S_OWNER = T.SLOT_OWNER >> 2;
const S_ACTIVE = T.SLOT_ACTIVE >> 2;
const S_CURSOR = T.SLOT_CURSOR >> 2;
const S_SEQ = T.SLOT_SEQ >> 2;
const slotWord = (i: number): number => SLOTS + SLOT_WORDS * i;

// A publisher waiting for room looks at the subscriptions' liveness this often (ms).
const REAP_SLICE_MS = 100;
// A receive (sync or async) sleeps at most this long at a time (ms), then
// looks again: a publisher killed between its commit and its wake leaves no
// wake, and the contract is that a dead publisher stalls no subscriber beyond 1 s.
const RECEIVE_SLICE_MS = 1000;
// The sync forms spin this long (ns) on the JS thread before they park.
const SYNC_SPIN_NS = 20_000;
// How long subscribe() waits for the publishers' lock (a dead holder is taken over in 0.1 to 0.3 s).
const SUBSCRIBE_LOCK_MS = 10_000;
// A worker's async publish waits for the publishers' lock natively (its thread
// blocked) at most this long per call (ms). A live holder keeps it microseconds;
// a dead one is taken over within a call only if the slice outlasts lock.h's
// SYSV_IPC_LOCK_STABLE_NS (200 ms: a holder that died before writing its start time).
const WORKER_LOCK_SLICE_MS = 500;
// Worker threads publish natively (binding.topicPublish: take the publishers'
// lock, publish, release in one call): take-thread.ts says why.
const NATIVE_PUBLISH = !TAKES_IN_JAVASCRIPT;
// binding.topicPublish's results besides a space sequence.
const PUBLISHED = -1;
const LOCK_BUSY = -2;
// How long open-or-create waits for a creator still writing the header.
const BLANK_WAIT_MS = 2000;

/** What a full ring does to a publisher. */
export type TopicWhenFull = 'wait' | 'overwrite';

/** Options of {@link Topic.create}. */
export interface TopicCreateOptions {
  /** The key; default {@link IPC_PRIVATE}. */
  key?: Key;
  /**
   * Bytes of the ring, rounded up to a power of two: at least 1024, at most
   * 2^30; default 64 KiB. Each message takes 8 bytes of framing plus its
   * length rounded up to 8.
   */
  capacity?: number;
  /** The largest message in bytes: at most a quarter of `capacity`, which is also the default. */
  maxMessageSize?: number;
  /** Subscription slots (1 to 4096); default 64. */
  maxSubscribers?: number;
  /**
   * `'wait'` (the default): a publisher waits while the slowest live
   * subscription has not read what it would overwrite. `'overwrite'`:
   * publishing never waits, and a subscription a whole ring behind skips.
   */
  whenFull?: TopicWhenFull;
  /** Permission bits; default 0o600. */
  mode?: number;
}

/** Options of {@link Topic.open}. */
export interface TopicOpenOptions extends Omit<TopicCreateOptions, 'key'> {
  /** Create the topic if no segment has this key; an existing topic keeps its own geometry. */
  create?: boolean;
}

/** Options of {@link Topic.subscribe}. */
export interface SubscribeOptions {
  /** `'next'` (the default): the next message published; `'oldest'`: the oldest the ring still holds. */
  from?: 'next' | 'oldest';
}

/** Options of the synchronous forms. */
export interface TopicSyncOptions {
  /** Milliseconds to wait before `ETIMEDOUT`; default forever. */
  timeout?: number;
}

/** One subscription as {@link Topic.info} reports it. */
export interface TopicSubscriptionInfo {
  /** Its slot in the segment's table. */
  slot: number;
  /** The process that holds it. */
  pid: number;
  /** Messages published that it has not read yet (as its slot last said). */
  behind: number;
}

/** What {@link Topic.info} reports. */
export interface TopicInfo extends IpcOwnership {
  capacity: number;
  maxMessageSize: number;
  maxSubscribers: number;
  whenFull: TopicWhenFull;
  /** Live subscriptions, in every process. */
  subscribers: number;
  /** Messages ever published (modulo 2^32). */
  published: number;
  /** Messages the ring holds now (what `from: 'oldest'` would read). */
  held: number;
  /** The subscriptions, in slot order. */
  subscriptions: TopicSubscriptionInfo[];
  /** The segment's size (header, table, ring). */
  size: number;
  attachments: number;
  creatorPid: number;
  lastChangeTime: Date | null;
}

function align8(n: number): number {
  return (n + 7) & ~7;
}
// a is before b, for wrapping u32 positions and sequence numbers.
function before(a: number, b: number): boolean {
  return ((a - b) | 0) < 0;
}
function ringOffset(maxSubscribers: number): number {
  return (T.HEADER_SIZE + T.SLOT_SIZE * maxSubscribers + 63) & ~63;
}
function nextPowerOfTwo(n: number): number {
  let p = T.MIN_CAPACITY;
  while (p < n) p *= 2;
  return p;
}

// What a receive attempt found besides a message.
const NONE = -1;
const TOO_LARGE = -2;

/**
 * Publish/subscribe in a System V shared memory segment: every subscription
 * receives every message published after it subscribed, in one order shared
 * by all.
 *
 * ```ts
 * // publisher
 * using topic = Topic.open(0x70b1c, { create: true });
 * await topic.publish('config changed');
 * // each subscriber process
 * using topic = Topic.open(0x70b1c, { create: true });
 * using sub = topic.subscribe();
 * for await (const msg of sub.messages()) console.log(msg.toString());
 * ```
 */
export class Topic extends IpcHandle {
  /** Bytes of the ring. */
  readonly capacity: number;
  /** The largest message, in bytes. */
  readonly maxMessageSize: number;
  /** Subscription slots. */
  readonly maxSubscribers: number;
  /** What a full ring does to a publisher. */
  readonly whenFull: TopicWhenFull;
  /** Whether this call created the segment. */
  readonly created: boolean;
  /** @internal */
  readonly shm: SharedMemory;
  /** @internal The header and the subscription table, as 32-bit words. */
  readonly h: Int32Array;
  /** @internal The ring, as bytes and as 32-bit words (record headers). */
  readonly ring: Buffer;
  /** @internal */
  readonly ring32: Int32Array;
  /** @internal */
  readonly mask: number;
  private readonly overwrite: boolean;
  private readonly lock: FastMutex;
  private readonly subs = new Set<WeakRef<Subscription>>();
  private readonly finalizer: FinalizationRegistry<number>;
  private readonly publishSpin = new SpinBudget();

  private constructor(shm: SharedMemory, g: RawTopicGeometry, created: boolean) {
    super(new HandleState(shm.id, shm.key, 'topic'));
    this.shm = shm;
    this.created = created;
    this.capacity = g.capacity;
    this.maxMessageSize = g.maxMessageSize;
    this.maxSubscribers = g.maxSubscribers;
    this.overwrite = g.whenFull === 1;
    this.whenFull = this.overwrite ? 'overwrite' : 'wait';
    this.mask = g.capacity - 1;
    const ab = shm.arrayBuffer;
    this.h = new Int32Array(ab, 0, g.ringOffset >> 2);
    this.ring = Buffer.from(ab, g.ringOffset, g.capacity);
    this.ring32 = new Int32Array(ab, g.ringOffset, g.capacity >> 2);
    this.lock = FastMutex.in(shm, T.OFF_LOCK);
    // A subscription dropped without close() frees its slot when collected.
    this.finalizer = new FinalizationRegistry((slot: number) => {
      if (!shm.detached) binding.topicUnsubscribe(shm.nativeHandle(), slot);
    });
  }

  private static geometry(o: Partial<TopicCreateOptions>): [number, number, number, number] {
    const requested = check.optionalInteger('options.capacity', o.capacity, 1, T.MAX_CAPACITY, TOPIC_DEFAULT_CAPACITY);
    const capacity = nextPowerOfTwo(requested);
    const limit = capacity / 4;
    const maxMessageSize = check.optionalInteger('options.maxMessageSize', o.maxMessageSize, 0, limit, limit);
    const maxSubscribers = check.optionalInteger(
      'options.maxSubscribers',
      o.maxSubscribers,
      1,
      T.MAX_SUBSCRIBERS,
      TOPIC_DEFAULT_MAX_SUBSCRIBERS,
    );
    const whenFull = o.whenFull === undefined ? 'wait' : o.whenFull;
    if (whenFull !== 'wait' && whenFull !== 'overwrite') {
      check.outOfRange('options.whenFull', "'wait' or 'overwrite'", o.whenFull);
    }
    return [capacity, maxMessageSize, maxSubscribers, whenFull === 'overwrite' ? 1 : 0];
  }

  // A segment this process just created (IPC_EXCL): write its header.
  private static init(shm: SharedMemory, geometry: [number, number, number, number]): Topic {
    try {
      binding.topicInit(shm.nativeHandle(), ...geometry);
      return new Topic(shm, Topic.attach(shm, 0), true);
    } catch (err) {
      shm.remove();
      shm.detach();
      throw err;
    }
  }

  // The header's geometry (checked by topic.h); a blank header is waited for
  // up to `waitMs` while its creator is alive (it may still be writing it).
  private static attach(shm: SharedMemory, waitMs: number): RawTopicGeometry {
    const context = { key: shm.key, id: shm.id };
    const until = performance.now() + waitMs;
    for (;;) {
      const g = about(context, () => binding.topicAttach(shm.nativeHandle()));
      if (g !== 0) return g;
      if (performance.now() >= until || !creatorAlive(shm.id)) {
        throw new SysvIpcError(T.NOT_A_TOPIC, 'topic', context);
      }
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 5);
    }
  }

  private static own(shm: SharedMemory, waitMs: number): Topic {
    try {
      return new Topic(shm, Topic.attach(shm, waitMs), false);
    } catch (err) {
      shm.detach();
      throw err;
    }
  }

  /**
   * Creates a topic in a new segment (IPC_CREAT | IPC_EXCL).
   * @throws {RangeError} for an option out of range.
   * @throws {SysvIpcError} EEXIST if a segment with this key exists.
   */
  static create(options?: TopicCreateOptions): Topic {
    requireFutex();
    const o = check.options('options', options);
    const key = o.key === undefined ? IPC_PRIVATE : check.key('options.key', o.key);
    const mode = check.mode('options.mode', o.mode, 0o600);
    const geometry = Topic.geometry(o);
    const shm = SharedMemory.create({ key, size: ringOffset(geometry[2]) + geometry[0], mode });
    return Topic.init(shm, geometry);
  }

  /**
   * Opens the topic with this key; with `{ create: true }`, creates it if
   * absent (free of races: concurrent openers all end up on one topic).
   * @throws {SysvIpcError} ENOENT if absent and `create` is not set;
   *   `ERR_SYSV_IPC_NOT_A_TOPIC` if the segment holds no topic (nothing is
   *   written to it); `ERR_SYSV_IPC_TOPIC_CORRUPT`.
   */
  static open(key: Key, options?: TopicOpenOptions): Topic {
    requireFutex();
    const {
      key: k,
      options: o,
      create,
      mode,
    } = parseOpen(key, options, { className: 'Topic', what: 'topic', privateCreates: true });
    const geometry = Topic.geometry(o);
    if (k === IPC_PRIVATE) return Topic.create({ ...o, key: IPC_PRIVATE });
    if (create) {
      try {
        return Topic.init(SharedMemory.create({ key: k, size: ringOffset(geometry[2]) + geometry[0], mode }), geometry);
      } catch (err) {
        if (!(err instanceof SysvIpcError && err.code === 'EEXIST')) throw err;
      }
    }
    return Topic.own(SharedMemory.open(k), create ? BLANK_WAIT_MS : 0);
  }

  /**
   * Attaches the topic in the segment with this identifier (writes nothing).
   * @throws {SysvIpcError} EINVAL if no such segment; `ERR_SYSV_IPC_NOT_A_TOPIC`.
   */
  static fromId(id: number): Topic {
    requireFutex();
    return Topic.own(SharedMemory.fromId(check.ipcId('id', id)), 0);
  }

  // ---- publishing

  private handle(): ShmHandle {
    if (this.closed) throw new ClosedError('The topic', undefined, this.state.context);
    return this.shm.nativeHandle();
  }

  private body(data: unknown): Uint8Array {
    const bytes = check.bytes('data', data);
    const n = check.byteLengthOf(bytes);
    if (n > this.maxMessageSize) {
      throw new OutOfRangeError(
        `The message is ${n} bytes; this topic's maxMessageSize is ${this.maxMessageSize} bytes`,
      );
    }
    return bytes;
  }

  /** @internal */
  corrupt(detail: string): SysvIpcError {
    return syscallError(T.CORRUPT, 'topic', this.state.context, {
      detail: `the topic in this segment is corrupt: ${detail}`,
    });
  }

  /** @internal */
  removedError(syscall: string): SysvIpcError {
    return new SysvIpcError(EIDRM, syscall, this.state.context);
  }

  // One publish, the lock held: true, or false when a 'wait' topic has no
  // room for the slowest live subscription. Mirrors topic.h's
  // sysv_ipc_topic__publish_locked; every value read from the segment is
  // checked before it is used.
  //
  // Plain loads where they are enough (an Atomics.load is a builtin call,
  // ~10 ns in Node 20, a plain one ~1 ns; a table of 64 slots is scanned per
  // message once the ring is full). The publishers' words: only lock holders
  // write them, and taking the lock (a compare-and-swap) orders these loads
  // after the previous holder's stores. The slots: see gate().
  private publishLocked(src: Uint8Array, fenced: boolean): boolean {
    const h = this.h;
    const r32 = this.ring32;
    const cap = this.capacity;
    const mask = this.mask;
    if (Atomics.load(h, I_REMOVED) !== 0) throw this.removedError('topicPublish');
    const tail = h[I_TAIL]! >>> 0;
    const seq = h[I_NEXT_SEQ]! >>> 0;
    const head0 = h[I_HEAD]! >>> 0;
    let head = head0;
    let headSeq = h[I_HEAD_SEQ]! >>> 0;
    if ((tail & 7) !== 0 || (head & 7) !== 0 || (tail - head) >>> 0 > cap) {
      throw this.corrupt(`tail ${tail} and head ${head} do not fit a ${cap}-byte ring`);
    }
    const len = check.byteLengthOf(src); // the slot: ring.set below copies that many
    const need = RECORD + align8(len);
    let off = tail & mask;
    const pad = off + need > cap ? cap - off : 0;
    let gate = -1;
    let steps = 0;
    while (((tail - head) >>> 0) + pad + need > cap) {
      if (gate === -1) gate = this.overwrite ? tail : this.gate(head, tail, fenced);
      if (head === gate) return false;
      if (++steps > cap / 8) throw this.corrupt('the records never reach the tail');
      const hoff = head & mask;
      const l = r32[hoff >> 2]! >>> 0;
      if (l === PAD) {
        head = (head + cap - hoff) >>> 0;
      } else {
        if (l > this.maxMessageSize || hoff + RECORD + align8(l) > cap) {
          throw this.corrupt(`a record of ${l} bytes at ring offset ${hoff}`);
        }
        head = (head + RECORD + align8(l)) >>> 0;
        headSeq = (headSeq + 1) >>> 0;
      }
      if (before(tail, head)) throw this.corrupt('a record runs past the tail');
    }
    if (head !== head0) {
      // Before any byte it frees is written: a subscriber that copied from there sees head moved.
      Atomics.store(h, I_HEAD, head);
      Atomics.store(h, I_HEAD_SEQ, headSeq);
    }
    if (pad !== 0) {
      r32[off >> 2] = PAD;
      r32[(off >> 2) + 1] = seq;
      off = 0;
    }
    r32[off >> 2] = len;
    r32[(off >> 2) + 1] = seq;
    if (len > 0) this.ring.set(src, off + RECORD);
    Atomics.store(h, I_NEXT_SEQ, seq + 1);
    // The sleep flag is cleared before the commit, never after (topic.h's
    // __publish_locked says why: a subscriber that read this commit's tail and
    // is about to sleep would lose the wake). Plain look first: no RMW on a
    // busy stream.
    const slept = Atomics.load(h, I_DATA_SLEEP) !== 0 && Atomics.exchange(h, I_DATA_SLEEP, 0) !== 0;
    // The commit: a seq_cst store (x64 `xchg`) after the record's plain stores.
    Atomics.store(h, I_TAIL, tail + pad + need);
    if (slept || Atomics.load(h, I_DATA_SLEEP) !== 0) this.wakeSubscribers();
    return true;
  }

  // The oldest cursor of the active subscriptions that lies in [head, tail];
  // `tail` when none does (cursors outside are garbage or resynchronise themselves).
  // `fenced`: seq_cst loads, as the look after storing space_sleep must
  // (docs/topic-layout.md, memory ordering). The first look reads plainly: a
  // stale cursor is an older one (cursors only move forward), so it can only
  // find less room, never more; a slot made active before this publisher
  // took the lock is seen active (subscribe() activates it under the lock).
  private gate(head: number, tail: number, fenced: boolean): number {
    const h = this.h;
    const span = (tail - head) >>> 0;
    let gate = tail;
    let gateDist = span;
    // Slots past slots_used were never positioned (topic.h's __gate; it grows under the lock).
    const used = Math.min(h[I_SLOTS_USED]! >>> 0, this.maxSubscribers);
    for (let i = 0; i < used; i++) {
      const w = slotWord(i);
      if ((fenced ? Atomics.load(h, w + S_ACTIVE) : h[w + S_ACTIVE]) === 0) continue;
      const c = (fenced ? Atomics.load(h, w + S_CURSOR) : h[w + S_CURSOR]!) >>> 0;
      const d = (c - head) >>> 0;
      if (d <= span && d < gateDist) {
        gate = c;
        gateDist = d;
      }
    }
    return gate;
  }

  // The lock was taken over from a dead publisher: make the publishers' words
  // consistent again, as topic.h's sysv_ipc_topic_repair (docs/topic-layout.md,
  // "Crashes"). Killed between two stores of a publish, it left head_seq behind
  // head, next_seq one ahead of tail, or a sleeping subscriber unwoken. The
  // records in [head, tail) are whole and carry their sequence numbers: they
  // say what head_seq and next_seq are; its uncommitted record past tail is
  // discarded (this publish writes over it).
  private repair(): void {
    const h = this.h;
    const r32 = this.ring32;
    const cap = this.capacity;
    const tail = Atomics.load(h, I_TAIL) >>> 0;
    const head = Atomics.load(h, I_HEAD) >>> 0;
    if ((tail & 7) !== 0 || (head & 7) !== 0 || (tail - head) >>> 0 > cap) {
      throw this.corrupt(`tail ${tail} and head ${head} do not fit a ${cap}-byte ring`);
    }
    let pos = head;
    let steps = 0;
    let count = 0;
    let first = 0;
    let last = 0;
    while (pos !== tail) {
      if (++steps > cap / 8) throw this.corrupt('the records never reach the tail');
      const off = pos & this.mask;
      const len = r32[off >> 2]! >>> 0;
      if (len === PAD) {
        pos = (pos + cap - off) >>> 0;
      } else {
        if (len > this.maxMessageSize || off + RECORD + align8(len) > cap) {
          throw this.corrupt(`a record of ${len} bytes at ring offset ${off}`);
        }
        const seq = r32[(off >> 2) + 1]! >>> 0;
        if (count === 0) first = seq;
        else if (seq !== (last + 1) >>> 0) throw this.corrupt(`message ${seq} after ${last}`);
        last = seq;
        count++;
        pos = (pos + RECORD + align8(len)) >>> 0;
      }
      if (before(tail, pos)) throw this.corrupt('a record runs past the tail');
    }
    if (count > 0) {
      Atomics.store(h, I_HEAD_SEQ, first);
      Atomics.store(h, I_NEXT_SEQ, last + 1);
    } else {
      Atomics.store(h, I_NEXT_SEQ, Atomics.load(h, I_HEAD_SEQ));
    }
    // Wake every sleeper (the dead publisher may have committed without), the flag left as it is (see publish).
    this.wakeSubscribers();
  }

  // Subscribers sleep on data_seq (topic.h's __wake_data): it moves first, so
  // that one that read it before and is not yet in its futex wait does not
  // sleep, and one already asleep is woken.
  private wakeSubscribers(): void {
    Atomics.add(this.h, I_DATA_SEQ, 1);
    binding.shmNotify(this.shm.nativeHandle(), I_DATA_SEQ, 0x7fffffff);
  }

  // Under the lock (taken over from a dead holder when `ownerDied`): publish,
  // or say "a publisher sleeps" and try once more.
  // The space sequence to sleep on, or -1 when published.
  private publishOnce(src: Uint8Array, ownerDied: boolean): number {
    try {
      if (ownerDied) this.repair();
      if (this.publishLocked(src, false)) return -1;
      Atomics.store(this.h, I_SPACE_SLEEP, 1);
      const seq = Atomics.load(this.h, I_SPACE_SEQ) >>> 0;
      return this.publishLocked(src, true) ? -1 : seq;
    } finally {
      this.lock.unlock();
    }
  }

  /**
   * Publishes a message (a string as UTF-8, or the bytes of any
   * ArrayBufferView) to every subscription. On a 'wait' topic it waits off
   * the event loop while the slowest live subscription has no room.
   * @throws {RangeError} longer than maxMessageSize (nothing is written).
   * @throws {SysvIpcError} ETIMEDOUT; EIDRM if removed; AbortError.
   */
  async publish(data: string | ArrayBufferView, options?: WaitOptions): Promise<void> {
    const src = this.body(data);
    const o = check.options('options', options);
    const timeout = check.timeout('options.timeout', o.timeout);
    const signal = check.signal('options.signal', o.signal);
    const until = timeout < 0 ? Infinity : performance.now() + timeout;
    for (;;) {
      this.handle();
      if (signal?.aborted) throw new AbortError('The operation was aborted', { cause: signal.reason });
      if (NATIVE_PUBLISH) {
        const lockMs =
          until === Infinity
            ? WORKER_LOCK_SLICE_MS
            : Math.min(WORKER_LOCK_SLICE_MS, Math.max(0, Math.floor(until - performance.now())));
        const r = this.publishNative(src, lockMs);
        if (r === PUBLISHED) return;
        if (r === LOCK_BUSY) {
          if (timeout === 0 || performance.now() >= until) throw timeoutError('topicPublish', this.state.context);
          await new Promise((resolve) => setImmediate(resolve));
          continue;
        }
        await this.waitForRoom(r, until, timeout, signal);
        continue;
      }
      let taken = this.lock.tryLock();
      if (taken === false) {
        if (timeout === 0) throw timeoutError('topicPublish', this.state.context);
        const left = until === Infinity ? undefined : Math.max(1, Math.ceil(until - performance.now()));
        try {
          taken = await this.lock.lock({ timeout: left, signal });
        } catch (err) {
          throw this.closed
            ? new ClosedError('The topic', undefined, this.state.context)
            : withContext(err, this.state.context);
        }
      }
      const seq = this.publishOnce(src, taken.ownerDied);
      if (seq === -1) return;
      await this.waitForRoom(seq, until, timeout, signal);
    }
  }

  // One publish natively (workers, see NATIVE_PUBLISH): PUBLISHED, LOCK_BUSY or the space sequence.
  private publishNative(src: Uint8Array, lockMs: number): number {
    const handle = this.handle();
    try {
      return binding.topicPublish(handle, src, lockMs);
    } catch (err) {
      throw withContext(err, this.state.context);
    }
  }

  // Frees the slots of dead subscribers. The addon checks the header again: a failure (the
  // header overwritten since attach) names this topic like every other error.
  private reap(): void {
    about(this.state.context, () => binding.topicReap(this.shm.nativeHandle()));
  }

  // No room: sleep (at most REAP_SLICE_MS) until a subscription moves on, then reap dead ones.
  private async waitForRoom(
    seq: number,
    until: number,
    timeout: number,
    signal: AbortSignal | undefined,
  ): Promise<void> {
    if (timeout === 0) throw timeoutError('topicPublish', this.state.context);
    const left = until - performance.now();
    if (left <= 0) throw timeoutError('topicPublish', this.state.context);
    const handle = this.handle();
    try {
      await this.waits.run<void>({
        syscall: 'topicPublish',
        context: this.state.context,
        timeout: Math.ceil(Math.min(left, REAP_SLICE_MS)),
        signal,
        spin: this.publishSpin,
        attempt: () => (Atomics.load(this.h, I_SPACE_SEQ) >>> 0 !== seq ? undefined : WOULD_BLOCK),
        park: (waitId, ms) => binding.shmWaitAsync(handle, I_SPACE_SEQ, seq, ms, waitId, true),
        parked: () => undefined,
      });
    } catch (err) {
      if (!(err instanceof SysvIpcError && err.code === 'ETIMEDOUT')) throw err;
    }
    if (!this.closed) this.reap();
  }

  /** Publishes without waiting: `false` where {@link publish} would wait (no room, or the lock is held). */
  tryPublish(data: string | ArrayBufferView): boolean {
    const src = this.body(data);
    this.handle();
    if (NATIVE_PUBLISH) {
      const r = this.publishNative(src, 0);
      if (r === PUBLISHED) return true;
      if (r !== LOCK_BUSY) this.reap();
      return false;
    }
    const taken = this.lock.tryLock();
    if (taken === false) return false;
    if (this.publishOnce(src, taken.ownerDied) === -1) return true;
    this.reap();
    return false;
  }

  /** {@link publish}, blocking the calling thread. */
  publishSync(data: string | ArrayBufferView, options?: TopicSyncOptions): void {
    const src = this.body(data);
    const timeout =
      options === undefined ? -1 : check.timeout('options.timeout', check.options('options', options).timeout);
    const until = timeout < 0 ? Infinity : performance.now() + timeout;
    for (;;) {
      const handle = this.handle();
      let seq: number;
      if (NATIVE_PUBLISH) {
        seq = this.publishNative(src, until === Infinity ? -1 : Math.max(0, Math.ceil(until - performance.now())));
        if (seq === LOCK_BUSY) throw timeoutError('topicPublish', this.state.context);
      } else {
        let taken = this.lock.tryLock();
        if (taken === false) {
          if (timeout === 0) throw timeoutError('topicPublish', this.state.context);
          const left = until === Infinity ? undefined : Math.max(1, Math.ceil(until - performance.now()));
          try {
            taken = this.lock.lockSync({ timeout: left });
          } catch (err) {
            throw withContext(err, this.state.context);
          }
        }
        seq = this.publishOnce(src, taken.ownerDied);
      }
      if (seq === -1) return;
      const left = until - performance.now();
      if (timeout === 0 || left <= 0) throw timeoutError('topicPublish', this.state.context);
      binding.shmWaitSync(handle, I_SPACE_SEQ, seq, Math.ceil(Math.min(left, REAP_SLICE_MS)));
      this.reap();
    }
  }

  /** Publishes any structured-cloneable value (node:v8 serialize). */
  publishValue(value: unknown, options?: WaitOptions): Promise<void> {
    try {
      return this.publish(v8.serialize(value), options);
    } catch (err) {
      return Promise.reject(err);
    }
  }

  /** {@link publishValue} without waiting. */
  tryPublishValue(value: unknown): boolean {
    return this.tryPublish(v8.serialize(value));
  }

  /** {@link publishValue} blocking the calling thread. */
  publishValueSync(value: unknown, options?: TopicSyncOptions): void {
    this.publishSync(v8.serialize(value), options);
  }

  // ---- subscribing

  /**
   * A new subscription, held in the segment's table until {@link
   * Subscription.close} (or until it is garbage-collected, its worker ends
   * or its process dies).
   * @throws {SysvIpcError} `ERR_SYSV_IPC_TOO_MANY_SUBSCRIBERS` when every slot is taken.
   */
  subscribe(options?: SubscribeOptions): Subscription {
    const o = check.options('options', options);
    const from = o.from === undefined ? 'next' : o.from;
    if (from !== 'next' && from !== 'oldest') check.outOfRange('options.from', "'next' or 'oldest'", o.from);
    const handle = this.handle();
    let raw: [number, number, number];
    try {
      raw = binding.topicSubscribe(handle, from === 'oldest', SUBSCRIBE_LOCK_MS);
    } catch (err) {
      if (err instanceof SysvIpcError && err.code === 'ENOSPC') {
        throw new SysvIpcError(err.errno, 'topic', this.state.context);
      }
      throw withContext(err, this.state.context);
    }
    if (raw[0] >= this.maxSubscribers) {
      // The addon reads the header per call: one rewritten since this object attached it (more slots,
      // a smaller ring) gave a slot outside this object's view of the table (an Atomics RangeError later).
      binding.topicUnsubscribe(handle, raw[0]);
      throw this.corrupt(`slot ${raw[0]} is outside the table of ${this.maxSubscribers}: the header changed`);
    }
    const sub = new Subscription(this, raw[0], raw[1], raw[2]);
    this.finalizer.register(sub, raw[0], sub);
    this.subs.add(new WeakRef(sub));
    return sub;
  }

  /** @internal A subscription let go of its slot. */
  released(sub: Subscription): void {
    this.finalizer.unregister(sub);
    for (const ref of this.subs) {
      const s = ref.deref();
      if (s === undefined || s === sub) this.subs.delete(ref);
    }
  }

  // ---- state

  /** The topic's state, fresh on each call. */
  info(): TopicInfo {
    this.handle();
    const h = this.h;
    const tail = Atomics.load(h, I_TAIL) >>> 0;
    const nextSeq = Atomics.load(h, I_NEXT_SEQ) >>> 0;
    const headSeq = Atomics.load(h, I_HEAD_SEQ) >>> 0;
    const head = Atomics.load(h, I_HEAD) >>> 0;
    const subscriptions: TopicSubscriptionInfo[] = [];
    for (let i = 0; i < this.maxSubscribers; i++) {
      const w = slotWord(i);
      const pid = Atomics.load(h, w + S_OWNER) >>> 0;
      if (pid === 0 || Atomics.load(h, w + S_ACTIVE) === 0) continue;
      const seq = Atomics.load(h, w + S_SEQ) >>> 0;
      subscriptions.push({ slot: i, pid, behind: Math.min((nextSeq - seq) >>> 0, nextSeq) });
    }
    const s = about(this.state.context, () => binding.shmStat(this.id));
    return {
      ...ownershipOf(this.id, s),
      capacity: this.capacity,
      maxMessageSize: this.maxMessageSize,
      maxSubscribers: this.maxSubscribers,
      whenFull: this.whenFull,
      subscribers: subscriptions.length,
      published: nextSeq,
      held: head === tail ? 0 : (nextSeq - headSeq) >>> 0,
      subscriptions,
      size: s.size,
      attachments: s.attachments,
      creatorPid: s.creatorPid,
      lastChangeTime: statTime(s.lastChangeTime),
    };
  }

  /** Whether the topic was removed (by any process). */
  get removed(): boolean {
    return !this.closed && Atomics.load(this.h, I_REMOVED) !== 0;
  }

  /** Pending waits (publishes and every subscription's receives) keep the process alive. */
  override ref(): this {
    super.ref();
    for (const ref of this.subs) ref.deref()?.ref();
    return this;
  }

  /** Pending waits no longer keep the process alive. */
  override unref(): this {
    super.unref();
    for (const ref of this.subs) ref.deref()?.unref();
    return this;
  }

  /**
   * Closes every subscription of this object (their waits end: `messages()`
   * ends, receives reject with ERR_SYSV_IPC_CLOSED), cancels pending
   * publishes and detaches. The topic stays for the other processes. Idempotent.
   */
  override close(): void {
    if (this.closed) return;
    for (const ref of [...this.subs]) ref.deref()?.close();
    this.subs.clear();
    super.close();
    this.lock.close();
    this.shm.detach(); // frees any slot still held (native/topic.cc registered it with the mapping)
  }

  /**
   * Deletes the topic: every waiter in every process wakes with EIDRM, and
   * the segment goes when the last process detaches.
   */
  remove(): void {
    if (!this.closed) {
      try {
        binding.topicMarkRemoved(this.shm.nativeHandle());
      } catch (err) {
        // A header that no longer checks (overwritten since it was attached) must not keep the
        // segment alive or a waiter asleep: mark it as topic.h's mark_removed does, through this
        // object's trusted view (the words sit at fixed offsets in the first 256 bytes).
        if (!(err instanceof SysvIpcError && (err.errno === T.CORRUPT || err.errno === T.NOT_A_TOPIC))) {
          throw naming(err, this.state.context);
        }
        Atomics.store(this.h, I_REMOVED, 1);
        Atomics.add(this.h, I_SPACE_SEQ, 1);
        this.wakeSubscribers();
        binding.shmNotify(this.shm.nativeHandle(), I_SPACE_SEQ, 0x7fffffff);
      }
    } else {
      // Closed: attach again for the mark (as Channel's remove() does), or the waiters of other
      // attachments and processes would sleep on: the segment's removal alone tells them nothing.
      let shm: SharedMemory | undefined;
      try {
        shm = SharedMemory.fromId(this.id);
        binding.topicMarkRemoved(shm.nativeHandle());
      } catch {
        // Gone, not attachable, or no longer a topic: removing the segment is all there is to do.
      } finally {
        shm?.detach();
      }
    }
    about(this.state.context, () => binding.shmRemove(this.id));
  }
}

/**
 * One subscription of a {@link Topic}: its own cursor in the ring. Receives
 * every message published after it was made, in the topic's order.
 */
export class Subscription extends IpcHandle {
  /** Its slot in the segment's table. */
  readonly slot: number;
  /** Messages this subscription skipped because it fell a whole ring behind ('overwrite' topics). */
  missed = 0;
  private readonly topic: Topic;
  private cursor: number;
  private seq: number;
  // Cursor moved to head without knowing head's sequence: the next message read says what was skipped.
  private resynced = false;
  private readonly spin = new SpinBudget();
  private live = true;
  // Where the last receive found a record too long for its target.
  private tooLarge = 0;

  /** @internal */
  constructor(topic: Topic, slot: number, cursor: number, seq: number) {
    super(new HandleState(topic.id, topic.key, 'subscription'));
    this.topic = topic;
    this.slot = slot;
    this.cursor = cursor >>> 0;
    this.seq = seq >>> 0;
  }

  private handle(): ShmHandle {
    if (!this.live || this.topic.closed) {
      throw new ClosedError('The subscription', undefined, this.state.context);
    }
    return this.topic.shm.nativeHandle();
  }

  // One receive attempt: the message (copied into `into`, or into a new
  // Buffer when `into` is null), NONE, or TOO_LARGE (this.tooLarge says how long).
  private take(into: Uint8Array | null): Buffer | number {
    const t = this.topic;
    const h = t.h;
    const r32 = t.ring32;
    const cap = t.capacity;
    for (let turn = 0; turn < 4; turn++) {
      const tail = Atomics.load(h, I_TAIL) >>> 0;
      const c = this.cursor;
      if (c === tail) {
        if (Atomics.load(h, I_REMOVED) !== 0) throw t.removedError('topicReceive');
        return NONE;
      }
      // Records start 8-aligned: a cursor that is not followed a hostile head.
      if ((c & 7) !== 0) throw t.corrupt(`a cursor at ${c} is not 8-aligned`);
      const off = c & t.mask;
      const len = r32[off >> 2]! >>> 0;
      const seq = r32[(off >> 2) + 1]! >>> 0;
      // A record (or padding) that is whole ends at or before `tail` (loaded
      // before it was read): one that runs past it is garbage, and a cursor
      // that followed it would never meet `tail` again (an endless spin).
      if (len === PAD) {
        if (!before(c, Atomics.load(h, I_HEAD) >>> 0)) {
          const next = (c + cap - off) >>> 0;
          if (before(tail, next)) throw t.corrupt(`padding at ring offset ${off} runs past the tail`);
          this.cursor = next;
          continue;
        }
      } else if (
        len <= t.maxMessageSize &&
        off + RECORD + len <= cap &&
        !before(tail, (c + RECORD + align8(len)) >>> 0)
      ) {
        if (into !== null && len > check.byteLengthOf(into)) {
          if (!before(c, Atomics.load(h, I_HEAD) >>> 0)) {
            this.tooLarge = len;
            return TOO_LARGE;
          }
        } else {
          const out = into ?? Buffer.allocUnsafe(len);
          if (len > 0) {
            if (into === null) t.ring.copy(out, 0, off + RECORD, off + RECORD + len);
            else check.copyOut(t.ring, off + RECORD, len, into);
          }
          // Validated after the copy: head not past the record, so no byte was overwritten meanwhile.
          if (!before(c, Atomics.load(h, I_HEAD) >>> 0)) {
            if (seq !== this.seq) {
              if (!this.resynced || before(seq, this.seq)) {
                throw t.corrupt(`message ${seq} where ${this.seq} was due`);
              }
              this.missed += (seq - this.seq) >>> 0;
            }
            this.resynced = false;
            this.cursor = (c + RECORD + align8(len)) >>> 0;
            this.seq = (seq + 1) >>> 0;
            this.moved();
            return into === null ? (out as Buffer) : len;
          }
        }
      } else if (!before(c, Atomics.load(h, I_HEAD) >>> 0)) {
        throw t.corrupt(`a record of ${len} bytes at ring offset ${off}, tail ${tail}`);
      }
      // Overwritten: continue at the oldest message held; the next one read says how many were skipped.
      // The slot follows at once, so that a 'wait' publisher is gated by it again.
      this.cursor = Atomics.load(h, I_HEAD) >>> 0;
      this.resynced = true;
      Atomics.store(h, slotWord(this.slot) + S_CURSOR, this.cursor);
    }
    return NONE; // overtaken on every turn: the caller tries again
  }

  // The slot says where this subscription is (the gate of 'wait' publishers);
  // a publisher that said it sleeps for room is woken.
  private moved(): void {
    const h = this.topic.h;
    const w = slotWord(this.slot);
    Atomics.store(h, w + S_CURSOR, this.cursor);
    Atomics.store(h, w + S_SEQ, this.seq);
    if (Atomics.load(h, I_SPACE_SLEEP) !== 0) {
      Atomics.store(h, I_SPACE_SLEEP, 0);
      Atomics.add(h, I_SPACE_SEQ, 1);
      binding.shmNotify(this.topic.shm.nativeHandle(), I_SPACE_SEQ, 0x7fffffff);
    }
  }

  private result(r: Buffer | number, into: Uint8Array | null): Buffer | number | typeof WOULD_BLOCK {
    if (r === NONE) return WOULD_BLOCK;
    if (r === TOO_LARGE) {
      throw syscallError(binding.constants.EMSGSIZE, 'topicReceive', this.state.context, {
        detail: `the message is ${this.tooLarge} bytes, the target holds ${into === null ? 0 : check.byteLengthOf(into)}; nothing was consumed`,
      });
    }
    return r;
  }

  // The data_seq to sleep on (topic.h's sysv_ipc_topic_receive): read it,
  // say "a subscriber sleeps", then look at tail and removal once more. A
  // publish or a removal after that look moves data_seq (the flag makes a
  // publisher move it), so the kernel does not let the wait sleep. One
  // before it (since the attempt that found nothing) is seen by the look:
  // then a value data_seq has already left, so that the wait returns at
  // once (data_seq only grows; it would take 2^32 wakes to come back) and
  // the next attempt takes the message or reports EIDRM.
  private sleepSeq(): number {
    const h = this.topic.h;
    const seq = Atomics.load(h, I_DATA_SEQ);
    Atomics.store(h, I_DATA_SLEEP, 1);
    const ready = Atomics.load(h, I_TAIL) >>> 0 !== this.cursor || Atomics.load(h, I_REMOVED) !== 0;
    return ready ? (seq - 1) | 0 : seq;
  }

  private attempt(into: Uint8Array | null, spinNs: number): Buffer | number | typeof WOULD_BLOCK {
    // Closed first (ERR_SYSV_IPC_CLOSED): an async receive that WaitGroup.run put off to the next turn
    // may run after close() detached the view, and take() on it threw a TypeError (R9's review).
    this.handle();
    const r = this.result(this.take(into), into);
    if (r !== WOULD_BLOCK || spinNs <= 0) return r;
    binding.shmSpinWhileEqual(this.handle(), I_TAIL, this.cursor, spinNs);
    return this.result(this.take(into), into);
  }

  private receiveAsync(into: Uint8Array | null, options: WaitOptions | undefined): Promise<Buffer | number> {
    try {
      const handle = this.handle();
      const o = check.options('options', options);
      const timeout = check.timeout('options.timeout', o.timeout);
      return this.waits.run<Buffer | number>({
        syscall: 'topicReceive',
        context: this.state.context,
        timeout,
        signal: check.signal('options.signal', o.signal),
        spin: this.spin,
        attempt: (spinNs) => this.attempt(into, spinNs),
        park: (waitId, left) => binding.shmWaitAsync(handle, I_DATA_SEQ, this.sleepSeq(), left, waitId, true),
        parked: () => this.attempt(into, 0),
        readiness: true,
        sliceMs: RECEIVE_SLICE_MS,
      });
    } catch (err) {
      return Promise.reject(err);
    }
  }

  private receiveBlocking(into: Uint8Array | null, options: TopicSyncOptions | undefined): Buffer | number {
    const timeout =
      options === undefined ? -1 : check.timeout('options.timeout', check.options('options', options).timeout);
    const until = timeout < 0 ? Infinity : performance.now() + timeout;
    for (;;) {
      const handle = this.handle();
      const r = this.attempt(into, timeout === 0 ? 0 : SYNC_SPIN_NS);
      if (r !== WOULD_BLOCK) return r;
      const left = until - performance.now();
      if (timeout === 0 || left <= 0) throw timeoutError('topicReceive', this.state.context);
      binding.shmWaitSync(handle, I_DATA_SEQ, this.sleepSeq(), Math.ceil(Math.min(left, RECEIVE_SLICE_MS)));
    }
  }

  private target(target: unknown): Uint8Array {
    return check.view('target', target);
  }

  /**
   * The next message, waiting off the event loop (a short spin first).
   * @throws {SysvIpcError} ETIMEDOUT; EIDRM if the topic is removed; AbortError;
   *   ERR_SYSV_IPC_CLOSED on close(); `ERR_SYSV_IPC_TOPIC_CORRUPT`.
   */
  receive(options?: WaitOptions): Promise<Buffer> {
    return this.receiveAsync(null, options) as Promise<Buffer>;
  }

  /** The next message if there is one now, else `undefined`. */
  tryReceive(): Buffer | undefined {
    this.handle();
    const r = this.result(this.take(null), null);
    return r === WOULD_BLOCK ? undefined : (r as Buffer);
  }

  /** {@link receive}, blocking the calling thread. */
  receiveSync(options?: TopicSyncOptions): Buffer {
    return this.receiveBlocking(null, options) as Buffer;
  }

  /**
   * Copies the next message into `target` (from its start) and returns its
   * length: no allocation per message. A message longer than `target` fails
   * with EMSGSIZE and stays next.
   */
  receiveInto(target: ArrayBufferView, options?: WaitOptions): Promise<number> {
    try {
      return this.receiveAsync(this.target(target), options) as Promise<number>;
    } catch (err) {
      return Promise.reject(err);
    }
  }

  /** {@link receiveInto} without waiting: the length, or -1 if there is no message now. */
  tryReceiveInto(target: ArrayBufferView): number {
    const into = this.target(target);
    this.handle();
    const r = this.result(this.take(into), into);
    return r === WOULD_BLOCK ? -1 : (r as number);
  }

  /** {@link receiveInto}, blocking the calling thread. */
  receiveIntoSync(target: ArrayBufferView, options?: TopicSyncOptions): number {
    return this.receiveBlocking(this.target(target), options) as number;
  }

  /** Receives a value published with {@link Topic.publishValue}. */
  async receiveValue(options?: WaitOptions): Promise<unknown> {
    return decodeValue(await this.receive(options), this.state.context);
  }

  /** {@link receiveValue} without waiting: `undefined` if there is no message now. */
  tryReceiveValue(): unknown {
    const buf = this.tryReceive();
    return buf === undefined ? undefined : decodeValue(buf, this.state.context);
  }

  /** {@link receiveValue}, blocking the calling thread. */
  receiveValueSync(options?: TopicSyncOptions): unknown {
    return decodeValue(this.receiveSync(options), this.state.context);
  }

  /**
   * The messages as an async iterable. It ends on this subscription's
   * close(), the topic's close() and the topic's removal; it rejects with
   * the AbortError of `signal`.
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
        if (err instanceof SysvIpcError && err.code === 'EIDRM') return;
        throw err;
      }
      yield message;
    }
  }

  /** Whether {@link close} was called (or the topic was closed). */
  override get closed(): boolean {
    return !this.live || this.topic.closed;
  }

  /** Frees the slot (publishers no longer wait for it) and ends this subscription's waits. Idempotent. */
  override close(): void {
    if (!this.live) return;
    this.live = false;
    this.state.close();
    if (!this.topic.shm.detached) binding.topicUnsubscribe(this.topic.shm.nativeHandle(), this.slot);
    this.topic.released(this);
  }
}

function creatorAlive(id: number): boolean {
  try {
    const s = binding.shmStat(id);
    return s.creatorPid === process.pid || binding.processStartTime(s.creatorPid) !== 0;
  } catch {
    return false;
  }
}

function requireFutex(): void {
  if (!binding.constants.HAVE_FUTEX) {
    throw new SysvIpcError(osConstants.errno.ENOSYS, 'topic');
  }
}
