/**
 * The Channel's non-blocking paths in JavaScript (issue 25): trySend and
 * tryReceive over a view of the segment, with typed arrays and Atomics, doing
 * exactly what include/sysv-ipc/channel.h does, in the same order, with the
 * same checks (docs/channel-layout.md, "Ordering" and "JavaScript"). The
 * addon is entered only to wake a sleeper that said it sleeps (chWake), to
 * release a send lock someone sleeps on (chUnlockSend), to learn this
 * thread's CPU once per batch (currentCpu), and, by lib/channel.ts, for every
 * wait (the send lock busy, the ring empty or full after the try).
 *
 * Why JavaScript's Atomics are enough across processes: see lib/fast-mutex.ts
 * and scripts/atomics-disasm.sh. JS Atomics are all seq_cst: stronger than
 * channel.h's acquire/release/relaxed orders, never weaker, so every pair of
 * the Ordering table holds. Where channel.h needs an acquire *fence* (the
 * re-check of head after reading a record), the record's length and tag are
 * read with Atomics.load here: two seq_cst loads are never reordered (x64:
 * plain loads, TSO; arm64: ldar, RCsc), which is what the fence gives.
 *
 * 64-bit head and tail, without a BigInt per read: a position is read as
 * its high half, its low half, its high half again (three seq_cst 32-bit
 * loads) and taken when the two high halves agree. Every writer stores a
 * position whole (a 64-bit atomic store or CAS: channel.h, and the
 * BigUint64Array Atomics here), and a position only grows, so equal high
 * halves before and after mean the high half did not change across the low
 * half's load: the pair is a value the position had. (Garbage from another
 * process may not grow; then the pair is garbage too, and is checked as any
 * value read from the segment.) Positions are handled as Numbers while below
 * 2^52 (4 PiB through one channel); beyond, `outOfRange` sends this channel
 * to the native path for good. The CAS of head and the store of tail stay
 * 64-bit (BigUint64Array): one BigInt each.
 */
import { performance } from 'node:perf_hooks';
import { Buffer } from 'node:buffer';
import { constants as osConstants, endianness } from 'node:os';
import { binding } from './addon';
import type { ChannelHandle } from './binding';
import { SysvIpcError, type SysvIpcErrorContext } from './errors';
import { identifyLockHolder, lockWordCorrupt, releaseLockRecord, takeLockRecord } from './lock-record';
import { TAKES_IN_JAVASCRIPT } from './take-thread';
import * as check from './validate';

const C = binding.constants;

// Header offsets (channel.h), as indexes of 32-bit and 64-bit words.
const STATE = 24 / 4;
const TAIL64 = 64 / 8;
const DATA_SEQ = 72 / 4;
const DATA_SLEEP = 76 / 4;
const SEND_LOCK = 80 / 4;
const PRODUCER_CPU = 96 / 4;
const HEAD64 = 128 / 8;
const SPACE_SEQ = 136 / 4;
const SPACE_SLEEP = 140 / 4;
const CONSUMER_CPU = 144 / 4;
const HEADER = 256;
// The low 32-bit halves of tail and head: a move of either shows there (the
// spin watches them; it never takes a value from them).
const TAIL_LO = endianness() === 'LE' ? 64 / 4 : 64 / 4 + 1;
const HEAD_LO = endianness() === 'LE' ? 128 / 4 : 128 / 4 + 1;
const TAG_MESSAGE = 0x31434552; // "REC1"
const TAG_PADDING = 0x31444150; // "PAD1"
const STATE_REMOVED = 1;
const MAX_RETRIES = 1000000;
// How many messages between two looks at this thread's CPU (a native call).
const CPU_EVERY = 64;
// How many turns a waiter yields to a peer on its own CPU before it goes
// native (which yields up to the addon's spin, then parks).
const SAME_CPU_YIELDS = 8;

const EBADMSG: number = C.EBADMSG;
const EIDRM: number = osConstants.errno.EIDRM;

/** trySend's outcomes besides a throw. */
export const SENT = 0;
export const FULL = 1;
/** The send lock is held by another producer (or a dead one): the native path waits for it. */
export const LOCK_BUSY = 2;

/**
 * tryReceive's outcomes besides a length (>= 0) or a throw; -2 - n: too long
 * for the target. The native receive's codes, so that a caller tells a JS and
 * a native result apart by neither.
 */
export const EMPTY = C.RECEIVE.WOULD_BLOCK;

const TWO32 = 4294967296;

// A caller's typed array may carry own properties named byteLength or set
// (Object.defineProperty on the instance): user code that may lie, and that
// would run under the send lock. The ring reads the internal slots instead,
// through %TypedArray%.prototype's own getter and method (check.byteLengthOf:
// ~5 ns on Node 20, against ~11 for the `byteLength` property, which V8 11
// does not inline either), as the addon's napi_get_typedarray_info does.
const copyInto = Uint8Array.prototype.set;
// The view constructors, taken at load: a view of the segment made through
// the globals (or through subarray()'s species lookup) hands its ArrayBuffer
// to whatever code replaced them, which could then transfer it to a worker
// and touch it there after close() unmapped it.
const U8 = Uint8Array;
const U32 = Uint32Array;
const I32 = Int32Array;
const U64 = BigUint64Array;

// A position (an integer below 2^53) as the BigInt of the 64-bit CAS and
// store. BigInt(n) is a runtime call (~25 ns a conversion here, two or three
// per message); its halves stored into a scratch u64 and read back as one
// element are plain typed-array accesses. A Uint32Array store is ToUint32:
// n mod 2^32 for the low half, and the truncated quotient for the high one.
const SCRATCH64 = new BigUint64Array(1);
const SCRATCH32 = new Uint32Array(SCRATCH64.buffer);
const SCRATCH_LO = endianness() === 'LE' ? 0 : 1;
function toBig(n: number): bigint {
  SCRATCH32[SCRATCH_LO] = n;
  SCRATCH32[SCRATCH_LO ^ 1] = n / TWO32;
  return SCRATCH64[0]!;
}

// position % capacity, for a position below 2^53 (not negative) and a
// capacity below 2^32. `%` on a Number beyond 2^31 is a floating-point
// remainder (x64: an x87 fprem loop), several per message; this is a
// division and a multiplication, exact up to the quotient's rounding, which
// the two corrections undo (q * cap and the difference are exact below 2^53).
// A position's alignment is read with `& 7` likewise: ToInt32 keeps its low
// 32 bits, and 2^32 is a multiple of 8.
function ringIndex(position: number, cap: number): number {
  const i = position - Math.floor(position / cap) * cap;
  return i < 0 ? i + cap : i >= cap ? i - cap : i;
}

/**
 * The largest segment (header and ring) the JavaScript path serves: record
 * offsets become 32-bit word indexes with `>>> 2`, exact below 2^32 bytes.
 * Larger channels stay native (Node 20 cannot make such a view anyway).
 */
export const MAX_JS_SEGMENT = TWO32;
// A high half from which a position is no longer an exact Number after an addition of up to the capacity.
const HI_LIMIT = 0x100000; // 2^20: positions below 2^52

/**
 * One attachment's ring, in JavaScript. Everything behind `u8`/`u32`/`big` is
 * shared and not trusted; `capacity` and `maxMessage` are the addon's checked
 * copies (channel.h's attach).
 */
export class ChannelRing {
  private readonly segment: ArrayBuffer;
  private readonly u8: Uint8Array;
  private readonly u32: Uint32Array;
  private readonly i32: Int32Array;
  private readonly big: BigUint64Array;
  private readonly capacity: number;
  private readonly maxMessage: number;
  private readonly handle: ChannelHandle;
  private readonly context: SysvIpcErrorContext;
  // Whether JavaScript may take the send lock: on the main thread only, and
  // when this process's start time could be read. A worker's JavaScript can
  // be terminated at any function call (worker.terminate()), also between
  // the take and the release: the lock would then stay held under this live
  // pid, and every producer in every process would wait until this process
  // exits. The native send holds it within one C call, which termination
  // does not interrupt; workers use that. On the main thread the same can
  // happen only through vm's `timeout`/`breakOnSigint` (which terminate the
  // main thread's JavaScript) or a stack overflow inside the locked region:
  // not handled (a trySend from code run with those options, or at the
  // stack's very end, may leave the lock held until this process exits).
  private readonly canLock: boolean;
  // The last head a producer of this object read (channel.h's head_seen).
  private headSeen = 0;
  // positions()'s result.
  private ph = 0;
  private pt = 0;
  /** A position reached 2^52 (or garbage said so): this channel's calls go native from now on. */
  outOfRange = false;
  private cpu = 0;
  private cpuCountdown = 0;
  /** The Buffer tryReceive(undefined) filled. */
  taken: Buffer | undefined = undefined;

  constructor(
    view: ArrayBuffer,
    capacity: number,
    maxMessage: number,
    handle: ChannelHandle,
    context: SysvIpcErrorContext,
  ) {
    this.segment = view;
    this.u8 = new U8(view);
    // Over the header and the ring (records are 8-aligned: whole 32-bit words).
    this.u32 = new U32(view, 0, (HEADER + capacity) / 4);
    this.i32 = new I32(view, 0, HEADER / 4);
    this.big = new U64(view, 0, HEADER / 8);
    this.capacity = capacity;
    this.maxMessage = maxMessage;
    this.handle = handle;
    this.context = context;
    let canLock = TAKES_IN_JAVASCRIPT;
    try {
      if (canLock) identifyLockHolder();
    } catch {
      canLock = false;
    }
    this.canLock = canLock;
  }

  private fail(errno: number, syscall: string): never {
    throw new SysvIpcError(errno, syscall, this.context);
  }

  private removed(): boolean {
    return (Atomics.load(this.u32, STATE) & STATE_REMOVED) !== 0;
  }

  // Once per CPU_EVERY messages (and after every park: notePark), before a
  // take or a publish: nothing native runs between a take and its return.
  private refreshCpu(): number {
    if (--this.cpuCountdown <= 0) {
      this.cpu = binding.currentCpu();
      this.cpuCountdown = CPU_EVERY;
    }
    return this.cpu;
  }

  /** Look at the CPU again at the next message (after a park: the thread may have moved). */
  notePark(): void {
    this.cpuCountdown = 0;
  }

  /**
   * One turn of a waiter's spin, in JavaScript (channel.h's spin_until):
   * `turn` counts this wait's turns from 0. Where the side it waits for
   * (`receiving`: the producers, else the consumers) last ran decides how.
   * On another CPU: watch the position that side moves (tail, head) with
   * loads alone, for at most `spinNs`. On this CPU: yield to it (a spin on
   * loads would starve it for a whole time slice), at most SAME_CPU_YIELDS
   * turns; a runnable peer then runs until it blocks or yields, so one turn
   * usually finds its answer, and the message is then taken here, in
   * JavaScript, not by the native wait (which would also make the Buffer
   * natively: a malloc'd backing store per message). True: look again;
   * false: the spin is over, or the peer is unknown: the caller goes native
   * (which spins, yielding, and parks on the futex). The hints may be stale:
   * a wrong "elsewhere" costs at most this spin (this thread's own CPU is
   * read afresh before and during a spin on loads), a wrong "here" a yield
   * that returns at once. Atomics.load is not hoisted out of the loop
   * (scripts/atomics-disasm.sh).
   */
  spin(receiving: boolean, spinNs: number, turn: number): boolean {
    if (spinNs <= 0) return false;
    const u32 = this.u32;
    const hint = receiving ? PRODUCER_CPU : CONSUMER_CPU;
    const peer = Atomics.load(u32, hint);
    if (peer === 0) return false;
    let cpu = this.cpu;
    if (peer !== cpu) {
      // Elsewhere by our last look (up to CPU_EVERY messages old): look again.
      cpu = binding.currentCpu();
      this.cpu = cpu;
      if (cpu === 0) return false;
    }
    if (peer === cpu) {
      if (turn >= SAME_CPU_YIELDS) return false;
      this.cpu = binding.yieldCpu();
      return true;
    }
    const at = receiving ? TAIL_LO : HEAD_LO;
    const seen = Atomics.load(u32, at);
    const end = performance.now() + spinNs / 1e6;
    // A bound on the turns too: performance.now may stand still (jest's and
    // sinon's fake timers replace it), and the spin would then last for ever
    // on an idle ring. A turn costs more than a quarter nanosecond.
    const turns = 4 * spinNs;
    for (let i = 1; ; i++) {
      if (Atomics.load(u32, at) !== seen) return true;
      if ((i & 255) === 0) {
        if ((Atomics.load(u32, STATE) & STATE_REMOVED) !== 0) return true; // the try reports EIDRM
        // The scheduler may have moved this thread onto the peer's CPU.
        if ((i & 4095) === 0) this.cpu = cpu = binding.currentCpu();
        const now = Atomics.load(u32, hint);
        if (now === 0 || now === cpu || i >= turns || performance.now() >= end) return now === cpu && now !== 0;
      }
    }
  }

  /**
   * The position whose low half is u32[lo] (see the file's comment): a
   * Number, or -1 when the high half kept moving (garbage) or reached
   * HI_LIMIT (then outOfRange is set).
   */
  private read64(lo: number): number {
    const u32 = this.u32;
    const hiAt = lo ^ 1; // the other half of the 8-byte word, either endianness
    for (let i = 0; i < 64; i++) {
      const hi = Atomics.load(u32, hiAt);
      const low = Atomics.load(u32, lo);
      if (Atomics.load(u32, hiAt) !== hi) continue;
      if (hi >= HI_LIMIT) {
        this.outOfRange = true;
        return -1;
      }
      return hi * TWO32 + low;
    }
    return -1;
  }

  /**
   * channel.h's positions(): head and tail (in ph, pt), checked (tail - head
   * within [0, capacity], both 8-aligned); false when corrupt or outOfRange.
   * First with four loads: head's high then low half, tail's low then high
   * half. A position only moves whole (see the file's comment), so a pair
   * read in two loads is either a value it had or, when a carry into the
   * high half fell between them, 2^32 below it (head: high half first) or
   * above it (tail: low half first): tail - head is then 2^32 or more too
   * large, beyond any capacity (MAX_JS_SEGMENT), and the three-load reads
   * below decide. Two loads fewer than those, on every receive.
   */
  private positions(): boolean {
    const u32 = this.u32;
    const hh = Atomics.load(u32, HEAD_LO ^ 1);
    const hl = Atomics.load(u32, HEAD_LO);
    const tl = Atomics.load(u32, TAIL_LO);
    const th = Atomics.load(u32, TAIL_LO ^ 1);
    if (hh < HI_LIMIT && th < HI_LIMIT && (hl & 7) === 0 && (tl & 7) === 0) {
      const h = hh * TWO32 + hl;
      const t = th * TWO32 + tl;
      if (t - h >= 0 && t - h <= this.capacity) {
        this.ph = h;
        this.pt = t;
        return true;
      }
    }
    return this.positionsExact();
  }

  // positions() with three-load reads, a few times over while head moves.
  private positionsExact(): boolean {
    for (let i = 0; i < 64; i++) {
      // head first: it only grows, so a later tail is never behind it.
      const h = this.read64(HEAD_LO);
      const t = h < 0 ? -1 : this.read64(TAIL_LO);
      if (this.outOfRange) return false;
      if (h >= 0 && t >= 0 && (h & 7) === 0 && (t & 7) === 0 && t - h >= 0 && t - h <= this.capacity) {
        this.ph = h;
        this.pt = t;
        return true;
      }
      if (h >= 0 && this.read64(HEAD_LO) === h) break;
    }
    return false;
  }

  /**
   * channel.h's try_receive: copies the oldest message into `target` (or,
   * with no target, into a new Buffer left in `taken`) and returns its
   * length; EMPTY; -2 - n when it is n bytes and `target` is shorter (nothing
   * consumed). Throws EIDRM, ECORRUPT.
   */
  tryReceive(target: Uint8Array | undefined): number {
    const u32 = this.u32;
    const big = this.big;
    const cap = this.capacity;
    const cpu = this.refreshCpu();
    for (let tries = 0; tries < MAX_RETRIES; tries++) {
      if (!this.positions()) {
        if (this.outOfRange) return EMPTY; // the caller goes native
        return this.fail(this.removed() ? EIDRM : EBADMSG, 'channelReceive');
      }
      const h = this.ph;
      const t = this.pt;
      if (h === t) {
        if (this.removed()) this.fail(EIDRM, 'channelReceive');
        return EMPTY;
      }
      const index = ringIndex(h, cap);
      const avail = t - h; // <= capacity: checked
      // The record header may be rewritten under us once another consumer
      // moves head: every check below that fails is re-judged against head.
      // Atomics loads: seq_cst, so the re-check's load of head is not
      // satisfied before them (channel.h's acquire fence).
      const at = HEADER + index;
      const len = Atomics.load(u32, at >>> 2);
      const tag = Atomics.load(u32, (at >>> 2) + 1);
      if (tag === TAG_PADDING) {
        const step = len + 8;
        if (index + step !== cap || step > avail) {
          if (this.read64(HEAD_LO) !== h) continue;
          return this.fail(EBADMSG, 'channelReceive');
        }
        // Skip the padding; whoever wins the CAS, the next turn reads at 0.
        Atomics.compareExchange(big, HEAD64, toBig(h), toBig(h + step));
        continue;
      }
      let step = 0;
      if (tag === TAG_MESSAGE && len <= this.maxMessage) step = 8 + ((len + 7) & ~7);
      if (step === 0 || step > avail || index + step > cap) {
        if (this.read64(HEAD_LO) !== h) continue;
        return this.fail(EBADMSG, 'channelReceive');
      }
      let into = target;
      if (into === undefined) {
        into = Buffer.allocUnsafe(len);
      } else if (len > check.byteLengthOf(into)) {
        // Only report it if the record was still ours to read.
        if (this.read64(HEAD_LO) !== h) continue;
        return -2 - len;
      }
      // A view made with the constructor: ~30 ns, against ~50 for subarray() (species lookup).
      if (len !== 0) copyInto.call(into, new U8(this.segment, at + 8, len));
      const expected = toBig(h);
      if (Atomics.compareExchange(big, HEAD64, expected, toBig(h + step)) === expected) {
        // Taken. From here to the return, no JavaScript function is called
        // (a worker's termination takes effect at one, and would lose the
        // message): Atomics builtins and the addon's wake only.
        if (target === undefined) this.taken = into as Buffer;
        // The hint: relaxed in channel.h, a plain aligned 32-bit access here.
        if (u32[CONSUMER_CPU] !== cpu) u32[CONSUMER_CPU] = cpu;
        if (Atomics.load(u32, SPACE_SLEEP) !== 0 && Atomics.exchange(u32, SPACE_SLEEP, 0) !== 0) {
          Atomics.add(u32, SPACE_SEQ, 1);
          binding.chWake(this.handle, 1);
        }
        return len;
      }
      // Another consumer took it: our copy may be torn, throw it away.
    }
    return this.fail(EBADMSG, 'channelReceive');
  }

  /**
   * channel.h's try_send with the lock tried once: SENT, FULL, LOCK_BUSY
   * (the caller waits for it natively). `length` is `check.byteLengthOf(source)`,
   * read by the caller (from the view's internal slot: no property of it is
   * read here, so no user code runs under the lock). Throws EIDRM, ECORRUPT.
   */
  trySend(source: Uint8Array, length: number): number {
    // A removed channel is found under the lock (below) or by the native path.
    if (!this.canLock || this.outOfRange || length > this.maxMessage) return LOCK_BUSY;
    const i32 = this.i32;
    // lock.h's try loads the word first; a CAS from 0 fails on any other
    // word, corrupt ones included, which are then reported as there.
    if (!takeLockRecord(i32, SEND_LOCK)) {
      if (lockWordCorrupt(Atomics.load(i32, SEND_LOCK))) this.fail(EBADMSG, 'channelSend');
      return LOCK_BUSY;
    }
    let r: number;
    try {
      // Removed while we took the lock: publish nothing into a removed channel.
      r = this.removed() ? -1 : this.writeLocked(source, length);
    } finally {
      if (!releaseLockRecord(i32, SEND_LOCK)) this.unlockContended();
    }
    if (r === -1) this.fail(EIDRM, 'channelSend');
    if (r === SENT) {
      const u32 = this.u32;
      if (Atomics.load(u32, DATA_SLEEP) !== 0 && Atomics.exchange(u32, DATA_SLEEP, 0) !== 0) {
        Atomics.add(u32, DATA_SEQ, 1);
        binding.chWake(this.handle, 0);
      }
    }
    return r;
  }

  // WAITERS set (a producer sleeps on the lock), or the word was overwritten: native release.
  private unlockContended(): void {
    const r = binding.chUnlockSend(this.handle);
    if (r === C.LOCK.EUCLEAN) this.fail(EBADMSG, 'channelSend');
    // EPERM: taken over by another process, which took us for dead: what we
    // wrote is published or not, as for a killed producer.
  }

  // channel.h's write_locked: SENT, FULL; throws ECORRUPT.
  // `length` is source's real length (no property of it is read here: no user code under the lock).
  private writeLocked(source: Uint8Array, length: number): number {
    const cap = this.capacity;
    const need = 8 + ((length + 7) & ~7);
    const big = this.big;
    // tail with plain loads: only the send lock's holder (us) stores it, and
    // the lock's CAS (acquire) ordered the last holder's store before these.
    const u32 = this.u32;
    const hi = u32[TAIL_LO ^ 1]!;
    let t = hi < HI_LIMIT ? hi * TWO32 + u32[TAIL_LO]! : -1;
    let h = this.headSeen;
    let index = ringIndex(t, cap);
    let pad = index + need > cap ? cap - index : 0;
    // Room judged against the last head read first (channel.h: head only
    // grows, an old head under-states the room); head is read again only
    // when that does not fit or the pair looks wrong.
    if (t < 0 || h > t || t - h > cap || (h & 7) !== 0 || (t & 7) !== 0 || cap - (t - h) < pad + need) {
      if (!this.positions()) {
        if (this.outOfRange) return LOCK_BUSY; // the caller goes native
        return this.fail(EBADMSG, 'channelSend');
      }
      h = this.ph;
      t = this.pt;
      this.headSeen = h;
      index = ringIndex(t, cap);
      pad = index + need > cap ? cap - index : 0;
    }
    if (cap - (t - h) < pad + need) return FULL;
    let at = HEADER + index;
    if (pad !== 0) {
      u32[at >>> 2] = pad - 8;
      u32[(at >>> 2) + 1] = TAG_PADDING;
      at = HEADER;
    }
    u32[at >>> 2] = length;
    u32[(at >>> 2) + 1] = TAG_MESSAGE;
    // Into a view of the record's `length` bytes: a length-tracking source
    // over a growable SharedArrayBuffer may have grown since its length was
    // read (another thread), and set() copies its length now; bounded, that
    // throws (nothing is published) and the native path sends `length` bytes.
    if (length !== 0) {
      try {
        copyInto.call(new U8(this.segment, at + 8, length), source);
      } catch {
        return LOCK_BUSY;
      }
    }
    // Publish: consumers see the records only now, complete. A store of the
    // low half alone while the high half stays (no carry): the 64-bit value
    // moves from one position to the next in one single-copy-atomic store
    // (aligned, within the word; mixed-size accesses are coherent on x64 and
    // arm64), as a whole store would, for ~15 ns less than the BigInt one.
    const lo = t - Math.floor(t / TWO32) * TWO32 + pad + need; // exact: t < 2^53, a power-of-two divisor
    if (lo < TWO32) Atomics.store(u32, TAIL_LO, lo);
    else Atomics.store(big, TAIL64, toBig(t + pad + need));
    const cpu = this.refreshCpu();
    if (u32[PRODUCER_CPU] !== cpu) u32[PRODUCER_CPU] = cpu; // relaxed hint: a plain access
    return SENT;
  }
}
