/**
 * SharedMap: a hash map in one System V shared memory segment, read by
 * every process without a lock or a syscall and written under the
 * segment's own FastMutex (include/sysv-ipc/lock.h).
 *
 * The protocol is docs/map-layout.md (C peers: include/sysv-ipc/map.h).
 * In short: the segment holds two indexes and two data halves; one pair is
 * active (`gen & 1`). Writers append entries past `top` of the active half
 * and publish them with one atomic store of an index slot: a published
 * entry is never written again while its half is active. When the half is
 * full, the writer copies the live entries into the other pair and flips
 * `gen` (one atomic store). A reader notes `gen`, reads, and retries if
 * `gen` moved: that is the only way the bytes it read could have changed.
 * A writer killed at any instruction leaves at most unpublished bytes past
 * `top`, or a half-built inactive pair, or stale counters, which the next
 * writer recomputes from the index (the lock reports `ownerDied`, or the
 * header's `dirty` word is still set).
 */
import { Buffer } from 'node:buffer';
import * as v8 from 'node:v8';
import { threadId } from 'node:worker_threads';
import { binding } from './addon';
import { ERR, OutOfRangeError, SysvIpcError, type SysvIpcErrorContext } from './errors';
import { FastMutex } from './fast-mutex';
import { IPC_PRIVATE, type Key } from './keys';
import { SharedMemory } from './shared-memory';
import * as check from './validate';
import { HandleState, IpcHandle } from './ipc-handle';
import { ownershipOf, type IpcOwnership } from './ownership';

// ---- layout (docs/map-layout.md); word indexes into the header (u32) ----
/** "SVMP" read as a little-endian u32. */
export const MAP_MAGIC = 0x504d5653;
export const MAP_VERSION = 1;
const HEADER_SIZE = 256;
const H_MAGIC = 0;
const H_VERSION = 1;
const H_HEADER_SIZE = 2;
const H_SLOTS = 3;
const H_CAPACITY = 4;
const H_MAX_KEY = 5;
const H_MAX_VALUE = 6;
const H_FLAGS = 7;
const LOCK_OFFSET = 32; // 16-byte lock.h record, bytes 32..47
const H_DIRTY = 12; // byte 48: a writer is inside an operation
const H_GEN = 13; // byte 52: flips; active pair = gen & 1
const H_ENTRIES = 14; // byte 56
const H_USED = 15; // byte 60: bytes of live entries in the active half
const H_TOMBSTONES = 16; // byte 64
const H_TOP0 = 17; // byte 68: top of half 0; 72: half 1
const H_HAND = 19; // byte 76: CLOCK hand (slot index)
const H_TTL_ENTRIES = 20; // byte 80: live entries that carry an expiry
const H_TOKEN = 21; // byte 84: which environment of the holding process writes (mapGuard)
const FLAG_EVICT = 1;

// Entry (8-aligned): u32 reserved, u32 hash, u32 klen, u32 vlen, u32 exp_lo, u32 exp_hi, u32 reserved x2, key, value.
const ENTRY_HEADER = 32;
const E_HASH = 1;
const E_KLEN = 2;
const E_VLEN = 3;
const E_EXP_LO = 4;
const E_EXP_HI = 5;

// Marks (CLOCK's "used" bits): one u32 per slot per pair, after the two indexes. A reader
// sets its slot's mark without the lock; a stale mark (the pair was rebuilt under it) is a
// hint gone wrong, never data: marks are kept apart from the entries for that reason.
// Slot: u32 hash, u32 ref (0 empty, 1 tombstone, else (offset in half / 8) + 2).
const EMPTY = 0;
const TOMBSTONE = 1;
// getInto's target between calls: empty, so the map keeps no caller memory alive.
const NO_TARGET = new Uint8Array(0);

const MIN_CAPACITY = 256;
const MAX_CAPACITY = 0x7ffffff8; // offsets stay in int32 arithmetic
const MAX_SLOTS = 1 << 26;
const MAX_KEY_LIMIT = 0xffff;
/** Default bytes of keys and values: 1 MiB. */
export const MAP_DEFAULT_CAPACITY = 1 << 20;
/** Default largest key: 256 bytes. */
export const MAP_DEFAULT_MAX_KEY_SIZE = 256;

// How often a lock-free read retries after a flip before it reads under the lock.
const READ_RETRIES = 64;
// How long open() waits for another process still creating the map.
const CREATOR_WAIT_MS = 10_000;

const align8 = (n: number): number => (n + 7) & ~7;

function nextPow2(n: number): number {
  let p = 16;
  while (p < n) p *= 2;
  return p;
}

/** CLOCK_MONOTONIC in milliseconds: process.hrtime is libuv's uv_hrtime, clock_gettime(CLOCK_MONOTONIC) on Linux. */
function monotonicMs(): number {
  const [s, ns] = process.hrtime();
  return s * 1000 + Math.floor(ns / 1e6);
}

// This environment in H_TOKEN while it holds the writers' lock: the pid in
// bits 0..21 (Linux pids are below 2^22), the low 10 bits of threadId above.
// Tokens of live environments differ across processes (the pid) and within
// one (unless it made over 1024 workers that overlap): the guard's test
// "the word names my pid and the token is mine" then means "I hold it", and
// a writer's compare-and-swap that clears its token after its release
// (unlockWriter) never clears another process's.
const TOKEN = (((threadId & 0x3ff) << 22) | process.pid) >>> 0;

// A private word for the read fence (see docs/map-layout.md "Memory ordering").
const FENCE = new Int32Array(1);

/** What {@link SharedMap} throws when the map has no room (`ERR_SYSV_IPC_MAP_FULL`) and the other map errors. */
export class SharedMapError extends Error {
  constructor(
    /** `ERR_SYSV_IPC_NOT_A_MAP`, `ERR_SYSV_IPC_MAP_FULL`, `ERR_SYSV_IPC_MAP_CORRUPT`, `ERR_SYSV_IPC_MAP_NOT_A_COUNTER` or `ERR_SYSV_IPC_MAP_REENTRANT` (or `ERR_SYSV_IPC_CLOSED`). */
    readonly code: string,
    message: string,
    context?: SysvIpcErrorContext,
  ) {
    super(message + (context?.id === undefined ? '' : ` (segment id ${context.id})`));
    this.name = 'Error';
    if (context?.key !== undefined) this.key = context.key >>> 0;
    if (context?.id !== undefined) this.id = context.id;
  }
  /** The segment's key (unsigned), when known. */
  key?: number;
  /** The segment's id, when known. */
  id?: number;
}

/** What to do when a `set` finds no room. */
export type SharedMapWhenFull = 'error' | 'evict';

/** Options of {@link SharedMap.create}. */
export interface SharedMapCreateOptions {
  /** The key; default {@link IPC_PRIVATE}. */
  key?: Key;
  /**
   * Bytes for keys and values (each entry takes 32 bytes of header plus its
   * key and value, rounded up to 8); default 1 MiB, from 256 to 2 GiB - 8.
   * The segment adds a 256-byte header, two indexes, and a second data area
   * of the same size, which compaction copies into (so the segment is a bit
   * more than twice `capacity`).
   */
  capacity?: number;
  /** The most entries; default `capacity / 64` (at least 12). The index has 4/3 as many slots, a power of two. */
  maxEntries?: number;
  /** The largest key in bytes; default 256, at most 65535. */
  maxKeySize?: number;
  /** The largest value in bytes; default (and at most) `capacity / 4`. */
  maxValueSize?: number;
  /** `'error'` (default): a set without room throws `ERR_SYSV_IPC_MAP_FULL`; `'evict'`: the least recently used entries go. */
  whenFull?: SharedMapWhenFull;
  /** Permission bits; default 0o600. */
  mode?: number;
}

/** Options of {@link SharedMap.open}. */
export interface SharedMapOpenOptions extends Omit<SharedMapCreateOptions, 'key'> {
  /** Create the map if no segment has this key (race-free: concurrent openers share one map). */
  create?: boolean;
}

/** Options of {@link SharedMap.set}. */
export interface SharedMapSetOptions {
  /** Milliseconds (on CLOCK_MONOTONIC) after which the entry is gone for every process. */
  ttl?: number;
}

/** What {@link SharedMap.info} reports. */
export interface SharedMapInfo extends IpcOwnership {
  key: Key;
  id: number;
  /** Bytes for keys and values. */
  capacity: number;
  /** Bytes live entries take (headers included). */
  usedBytes: number;
  /** `capacity - usedBytes`. */
  freeBytes: number;
  /** Entries (expired ones not yet reclaimed included). */
  entries: number;
  /** The most entries. */
  maxEntries: number;
  /** The largest key, in bytes. */
  maxKeySize: number;
  /** The largest value, in bytes. */
  maxValueSize: number;
  /** What a set without room does. */
  whenFull: SharedMapWhenFull;
  /** The segment's size in bytes. */
  size: number;
  /** Attachments of the segment, in every process. */
  attachments: number;
  /** Pid of the segment's creator. */
  creatorPid: number;
}

// A map in use by an update() callback of this environment, by segment id:
// shared by every SharedMap object over the segment.
const busy = new Set<number>();

interface Geometry {
  slots: number;
  capacity: number;
  maxKey: number;
  maxValue: number;
  evict: boolean;
}

/** The segment's size for a geometry. */
function segmentSize(g: Geometry): number {
  return HEADER_SIZE + 24 * g.slots + 2 * g.capacity;
}

function geometry(o: Partial<SharedMapCreateOptions>): Geometry {
  const capacity = align8(
    check.optionalInteger('options.capacity', o.capacity, MIN_CAPACITY, MAX_CAPACITY, MAP_DEFAULT_CAPACITY),
  );
  const maxKey = check.optionalInteger(
    'options.maxKeySize',
    o.maxKeySize,
    1,
    Math.min(MAX_KEY_LIMIT, capacity / 4),
    Math.min(MAP_DEFAULT_MAX_KEY_SIZE, capacity / 4),
  );
  const valueLimit = Math.floor(capacity / 4);
  const maxValue = check.optionalInteger('options.maxValueSize', o.maxValueSize, 0, valueLimit, valueLimit);
  const maxEntriesLimit = Math.floor((MAX_SLOTS * 3) / 4);
  const maxEntries = check.optionalInteger(
    'options.maxEntries',
    o.maxEntries,
    1,
    maxEntriesLimit,
    Math.max(12, Math.floor(capacity / 64)),
  );
  const slots = nextPow2(Math.ceil((maxEntries * 4) / 3));
  let evict = false;
  if (o.whenFull !== undefined) {
    if (o.whenFull !== 'error' && o.whenFull !== 'evict') {
      check.invalidType('options.whenFull', "'error' or 'evict'", o.whenFull);
    }
    evict = o.whenFull === 'evict';
  }
  return { slots, capacity, maxKey, maxValue, evict };
}

function notAMap(context: SysvIpcErrorContext, why: string): SharedMapError {
  return new SharedMapError(
    ERR.NOT_A_MAP,
    `The segment does not hold a SharedMap (${why}); nothing was written`,
    context,
  );
}

function sleepMs(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * A key-value store in one shared memory segment that every process (and
 * worker) reads and writes in place.
 *
 * ```ts
 * using cache = SharedMap.open(0x5eed, { create: true, capacity: 1 << 20 });
 * cache.set('user:42', JSON.stringify(user), { ttl: 60_000 });
 * cache.get('user:42');            // Buffer, or undefined
 * cache.add('hits', 1);            // atomic across processes
 * ```
 *
 * - Reads (`get`, `getInto`, `has`, `size`, iteration) take no lock and make
 *   no syscall; they never see a torn value.
 * - Writes serialise on a FastMutex in the segment; uncontended they make no
 *   syscall either. A writer killed at any instruction (or a worker
 *   terminated inside `update`) leaves the map usable: the next writer
 *   repairs what it left.
 * - The map lives as long as the segment: not on disk, and never larger
 *   than `capacity`.
 */
export class SharedMap extends IpcHandle {
  /** Bytes for keys and values. */
  readonly capacity: number;
  /** The largest key, in bytes. */
  readonly maxKeySize: number;
  /** The largest value, in bytes. */
  readonly maxValueSize: number;
  /** The most entries. */
  readonly maxEntries: number;
  /** What a set without room does. */
  readonly whenFull: SharedMapWhenFull;
  /** Whether this call created the segment. */
  readonly created: boolean;

  private readonly shm: SharedMemory;
  private readonly mutex: FastMutex;
  private readonly w: Uint32Array;
  private readonly b: Buffer;
  private readonly slots: number;
  private readonly mask: number;
  private readonly evict: boolean;
  private readonly keyBuf: Buffer;
  private readonly context: SysvIpcErrorContext;
  private readonly limitLive: number;
  // Set by find(): the slot index of the last lookup (or -1), and the first tombstone on its path.
  private foundSlot = -1;
  private freeSlot = -1;
  // The pair the current lock-free read looks at.
  private readSide = 0;
  // Set by entryAt(): the lengths of the entry it checked.
  private eKlen = 0;
  private eVlen = 0;
  // The hash of the key being looked up, for find(): a u32 above 2^30 passed
  // as an argument is boxed (a heap number per lookup); a field holding a
  // double is updated in place.
  private keyHash = 0;
  // getInto's target and, when it is too small, the value's length: fields
  // rather than captured variables, so that getInto makes no closure per call.
  private intoTarget: Uint8Array = NO_TARGET;
  private intoNeed = 0;
  // read() callbacks made once: a closure per call would allocate on every get.
  private readonly copyIntoTarget = (e: number): number => {
    if (e < 0) return -1;
    const t = this.intoTarget;
    const vlen = this.eVlen;
    if (vlen > check.byteLengthOf(t)) {
      this.intoNeed = vlen;
      return -2;
    }
    const start = e + ENTRY_HEADER + this.eKlen;
    check.copyOut(this.b, start, vlen, t); // allocates nothing on Node 22+ (a view on 18 and 20)
    this.markUsed();
    return vlen;
  };
  private readonly isPresent = (e: number): boolean => e >= 0;

  private constructor(shm: SharedMemory, g: Geometry, created: boolean) {
    super(new HandleState(shm.id, shm.key, 'SharedMap'));
    this.shm = shm;
    this.capacity = g.capacity;
    this.maxKeySize = g.maxKey;
    this.maxValueSize = g.maxValue;
    this.slots = g.slots;
    this.mask = g.slots - 1;
    this.maxEntries = Math.floor((g.slots * 3) / 4);
    this.limitLive = this.maxEntries;
    this.evict = g.evict;
    this.whenFull = g.evict ? 'evict' : 'error';
    this.created = created;
    const ab = shm.arrayBuffer;
    this.w = new Uint32Array(ab, 0, segmentSize(g) / 4);
    this.b = Buffer.from(ab, 0, segmentSize(g));
    this.mutex = FastMutex.in(shm, LOCK_OFFSET);
    this.keyBuf = Buffer.alloc(g.maxKey);
    this.context = this.state.context;
    // A worker terminated holding the lock releases it (dirty) as its attachments are left.
    binding.mapGuard(shm.nativeHandle(), TOKEN);
  }

  // ---- construction ----

  /**
   * Creates a map in a new segment (IPC_CREAT | IPC_EXCL).
   * @throws {RangeError} `ERR_OUT_OF_RANGE` for sizes out of range.
   * @throws {SysvIpcError} EEXIST if a segment with this key exists; ENOSPC/ENOMEM/EINVAL at the kernel's limits.
   */
  static create(options?: SharedMapCreateOptions): SharedMap {
    const o = check.options('options', options);
    const key = o.key === undefined ? IPC_PRIVATE : check.key('options.key', o.key);
    const mode = check.mode('options.mode', o.mode, 0o600);
    const g = geometry(o);
    const shm = SharedMemory.create({ key, size: segmentSize(g), mode });
    return SharedMap.initialise(shm, g);
  }

  private static initialise(shm: SharedMemory, g: Geometry): SharedMap {
    try {
      const w = new Uint32Array(shm.arrayBuffer, 0, HEADER_SIZE / 4);
      // The creator alone writes the header, identity last (release).
      w[H_VERSION] = MAP_VERSION;
      w[H_HEADER_SIZE] = HEADER_SIZE;
      w[H_SLOTS] = g.slots;
      w[H_CAPACITY] = g.capacity;
      w[H_MAX_KEY] = g.maxKey;
      w[H_MAX_VALUE] = g.maxValue;
      w[H_FLAGS] = g.evict ? FLAG_EVICT : 0;
      Atomics.store(w, H_MAGIC, MAP_MAGIC);
      return new SharedMap(shm, g, true);
    } catch (err) {
      shm.remove();
      shm.detach();
      throw err;
    }
  }

  /**
   * Opens the map with this key; with `{ create: true }`, creates it if
   * absent (an existing map keeps its own geometry). Waits (up to 10 s) for
   * another process that is still creating it.
   * @throws {SysvIpcError} ENOENT if absent and `create` is not set.
   * @throws {SharedMapError} `ERR_SYSV_IPC_NOT_A_MAP` if the segment holds no map (nothing is written).
   */
  static open(key: Key, options?: SharedMapOpenOptions): SharedMap {
    const k = check.key('key', key);
    const o = check.options('options', options);
    const create = check.optionalBoolean('options.create', o.create, false);
    const mode = check.mode('options.mode', o.mode, 0o600);
    const g = geometry(o);
    if (create) {
      if (k === IPC_PRIVATE) return SharedMap.create({ ...o, key: k });
      let shm: SharedMemory | undefined;
      try {
        shm = SharedMemory.create({ key: k, size: segmentSize(g), mode });
      } catch (err) {
        if ((err as SysvIpcError).code !== 'EEXIST') throw err;
      }
      if (shm !== undefined) return SharedMap.initialise(shm, g);
    } else if (k === IPC_PRIVATE) {
      check.outOfRange('key', 'not IPC_PRIVATE without options.create', key);
    }
    return SharedMap.attach(SharedMemory.open(k), true);
  }

  /** Opens the map of the segment with this identifier (shmid). */
  static fromId(id: number): SharedMap {
    return SharedMap.attach(SharedMemory.fromId(check.ipcId('id', id)), false);
  }

  private static attach(shm: SharedMemory, wait: boolean): SharedMap {
    try {
      const context = { key: shm.key >>> 0, id: shm.id };
      if (shm.size < HEADER_SIZE + 24 * 16 + 2 * MIN_CAPACITY) throw notAMap(context, 'it is too small');
      const w = new Uint32Array(shm.arrayBuffer, 0, HEADER_SIZE / 4);
      let magic = Atomics.load(w, H_MAGIC);
      if (magic === 0 && wait) {
        // A blank header: another process may be creating it now.
        const info = shm.info();
        const mine = info.creatorPid === process.pid;
        const deadline = Date.now() + CREATOR_WAIT_MS;
        while (magic === 0 && Date.now() < deadline && (mine || alive(info.creatorPid))) {
          sleepMs(2);
          magic = Atomics.load(w, H_MAGIC);
        }
      }
      if (magic !== MAP_MAGIC) throw notAMap(context, magic === 0 ? 'its header is blank' : 'wrong magic');
      if (w[H_VERSION] !== MAP_VERSION) throw notAMap(context, `layout version ${w[H_VERSION]}, not ${MAP_VERSION}`);
      const g: Geometry = {
        slots: w[H_SLOTS]!,
        capacity: w[H_CAPACITY]!,
        maxKey: w[H_MAX_KEY]!,
        maxValue: w[H_MAX_VALUE]!,
        evict: (w[H_FLAGS]! & FLAG_EVICT) !== 0,
      };
      const sane =
        w[H_HEADER_SIZE] === HEADER_SIZE &&
        g.slots >= 16 &&
        g.slots <= MAX_SLOTS &&
        (g.slots & (g.slots - 1)) === 0 &&
        g.capacity >= MIN_CAPACITY &&
        g.capacity <= MAX_CAPACITY &&
        g.capacity % 8 === 0 &&
        g.maxKey >= 1 &&
        g.maxKey <= MAX_KEY_LIMIT &&
        ENTRY_HEADER + g.maxKey + g.maxValue <= g.capacity &&
        segmentSize(g) <= shm.size;
      if (!sane) throw corruptError(context, 'its header geometry does not add up');
      return new SharedMap(shm, g, false);
    } catch (err) {
      shm.detach();
      throw err;
    }
  }

  // ---- keys and values ----

  // The key's UTF-8 bytes in this.keyBuf (strings) or the view itself; returns the view, sets keyLen.
  private keyLen = 0;
  private keyBytes(key: unknown): Uint8Array {
    if (typeof key === 'string') {
      if (key.length * 3 <= this.maxKeySize) {
        this.keyLen = this.keyBuf.write(key, 0, 'utf8');
        return this.keyBuf;
      }
      const n = Buffer.byteLength(key, 'utf8');
      if (n > this.maxKeySize) tooLong('key', n, this.maxKeySize);
      this.keyLen = this.keyBuf.write(key, 0, 'utf8');
      return this.keyBuf;
    }
    const bytes = check.bytes('key', key);
    const n = check.byteLengthOf(bytes);
    if (n > this.maxKeySize) tooLong('key', n, this.maxKeySize);
    this.keyLen = n;
    return bytes;
  }

  private checkUsable(): void {
    this.ensureOpen();
    this.checkNotBusy();
    if (this.w.length === 0) throw new SharedMapError(ERR.CLOSED, 'The SharedMap segment is detached', this.context);
  }

  private checkNotBusy(): void {
    if (busy.has(this.id)) {
      throw new SharedMapError(
        ERR.MAP_REENTRANT,
        "An update() callback used its own map: the callback runs holding the map's lock and must not use the map",
        this.context,
      );
    }
  }

  // ---- lock-free reads ----

  // Entry byte offset of `key` in the pair `side`, or -1. Reads only: the caller validates gen.
  private find(kb: Uint8Array, klen: number, side: number): number {
    const hash = this.keyHash;
    const w = this.w;
    const idx = (HEADER_SIZE + side * 8 * this.slots) >> 2;
    const half = HEADER_SIZE + 24 * this.slots + side * this.capacity;
    let i = hash & this.mask;
    this.freeSlot = -1;
    this.foundSlot = -1;
    for (let n = 0; n < this.slots; n++, i = (i + 1) & this.mask) {
      const ref = Atomics.load(w, idx + 2 * i + 1);
      if (ref === EMPTY) {
        if (this.freeSlot < 0) this.freeSlot = i;
        return -1;
      }
      if (ref === TOMBSTONE) {
        if (this.freeSlot < 0) this.freeSlot = i;
        continue;
      }
      if (w[idx + 2 * i] !== hash) continue;
      const e = this.entryAt(half, ref);
      if (e < 0) return -2;
      if (this.eKlen !== klen) continue;
      const b = this.b;
      const k = e + ENTRY_HEADER;
      let same = true;
      for (let j = 0; j < klen; j++) {
        if (b[k + j] !== kb[j]) {
          same = false;
          break;
        }
      }
      if (same) {
        this.foundSlot = i;
        return e;
      }
    }
    return -1;
  }

  // The entry a slot's ref names, checked to lie inside its half with sane lengths; -1 if not.
  private entryAt(half: number, ref: number): number {
    const off = (ref - 2) * 8;
    if (off < 0 || off + ENTRY_HEADER > this.capacity) return -1;
    const e = half + off;
    const q = e >> 2;
    const klen = this.w[q + E_KLEN]!;
    const vlen = this.w[q + E_VLEN]!;
    if (klen > this.maxKeySize || vlen > this.maxValueSize || off + ENTRY_HEADER + klen + vlen > this.capacity) {
      return -1;
    }
    // A lock-free reader uses these checked lengths, never the words again: a
    // compaction may rewrite them under it (the gen check then discards the read).
    this.eKlen = klen;
    this.eVlen = vlen;
    return e;
  }

  private expired(e: number, now: number): boolean {
    const q = e >> 2;
    const lo = this.w[q + E_EXP_LO]!;
    const hi = this.w[q + E_EXP_HI]!;
    if (lo === 0 && hi === 0) return false;
    return hi * 0x100000000 + lo <= (now < 0 ? monotonicMs() : now);
  }

  // FNV-1a, 32 bits, of the key (map.h's sysv_ipc_map_hash) into keyHash. Stored here,
  // not returned: a u32 above 2^30 returned from a call that is not inlined
  // is a heap number (16 bytes per lookup), a double field is written in place.
  private hashKey(kb: Uint8Array, klen: number): void {
    let h = 0x811c9dc5;
    for (let i = 0; i < klen; i++) {
      h ^= kb[i]!;
      h = Math.imul(h, 0x01000193);
    }
    this.keyHash = h >>> 0;
  }

  // Runs `read(entry or -1)` on a consistent snapshot: lock-free while gen holds still, else under the lock.
  private read<T>(key: unknown, read: (e: number) => T): T {
    this.checkUsable();
    const kb = this.keyBytes(key);
    const klen = this.keyLen;
    this.hashKey(kb, klen);
    const w = this.w;
    for (let attempt = 0; attempt < READ_RETRIES; attempt++) {
      const gen = Atomics.load(w, H_GEN);
      this.readSide = gen & 1;
      let e = this.find(kb, klen, gen & 1);
      if (e >= 0 && this.expired(e, -1)) e = -1;
      const result = e === -2 ? undefined : read(e);
      Atomics.exchange(FENCE, 0, 0); // earlier loads complete before gen is read again
      if (Atomics.load(w, H_GEN) === gen) {
        if (e === -2) throw corruptError(this.context, 'an index slot names bytes outside its data area');
        return result!;
      }
    }
    // Writers kept flipping under us: read under the lock.
    this.lockWriter();
    try {
      this.readSide = w[H_GEN]! & 1;
      let e = this.find(kb, klen, this.readSide);
      if (e === -2) throw corruptError(this.context, 'an index slot names bytes outside its data area');
      if (e >= 0 && this.expired(e, -1)) e = -1;
      return read(e);
    } finally {
      this.unlockWriter();
    }
  }

  // Marks the slot find() found (in the pair read() looked at) used, for CLOCK.
  private markUsed(): void {
    if (!this.evict) return;
    const i = this.markAt(this.readSide, this.foundSlot);
    if (this.w[i] === 0) this.w[i] = 1;
  }

  // The u32 index of the mark of `slot` in pair `side`.
  private markAt(side: number, slot: number): number {
    return ((HEADER_SIZE + 16 * this.slots + side * 4 * this.slots) >> 2) + slot;
  }

  /** The value of `key` (a copy), or undefined. */
  get(key: string | ArrayBufferView): Buffer | undefined {
    return this.read(key, (e) => {
      if (e < 0) return undefined;
      const klen = this.eKlen;
      const vlen = this.eVlen;
      const out = Buffer.allocUnsafe(vlen);
      const start = e + ENTRY_HEADER + klen;
      this.b.copy(out, 0, start, start + vlen);
      this.markUsed();
      return out;
    });
  }

  /**
   * Copies the value of `key` into `target`: allocates nothing on Node 22+ (on 18 and 20, Buffer#copy makes a
   * short-lived view of the segment).
   * @returns the bytes written, or -1 when `key` is absent.
   * @throws {RangeError} `ERR_OUT_OF_RANGE` (naming both lengths) if `target` is too small; nothing is written.
   */
  getInto(key: string | ArrayBufferView, target: ArrayBufferView): number {
    const t = check.view('target', target);
    this.intoTarget = t;
    let n: number;
    try {
      n = this.read(key, this.copyIntoTarget);
    } finally {
      this.intoTarget = NO_TARGET; // holds no reference to the caller's memory
    }
    if (n === -2) {
      throw new OutOfRangeError(
        `The value is ${this.intoNeed} bytes and the target holds ${check.byteLengthOf(t)}: nothing was written (getInto)`,
      );
    }
    return n;
  }

  /** Whether `key` is present. */
  has(key: string | ArrayBufferView): boolean {
    return this.read(key, this.isPresent);
  }

  /** The counter `key` as a number (a bigint beyond 2^53), or undefined; throws for a value that is not 8 bytes. */
  private counterAt(e: number): number | bigint {
    const q = e >> 2;
    const start = e + ENTRY_HEADER + this.w[q + E_KLEN]!;
    const lo = this.b.readUInt32LE(start);
    const hi = this.b.readInt32LE(start + 4);
    const n = hi * 0x100000000 + lo;
    return Number.isSafeInteger(n) ? n : this.b.readBigInt64LE(start);
  }

  /** Entries present now (expired ones excluded). */
  get size(): number {
    this.checkUsable();
    const w = this.w;
    if (Atomics.load(w, H_TTL_ENTRIES) === 0) return Atomics.load(w, H_ENTRIES);
    let n = 0;
    this.scan(() => {
      n = 0;
      return (e: number, now: number) => {
        if (!this.expired(e, now)) n++;
      };
    });
    return n;
  }

  // Visits every live entry of one consistent snapshot: lock-free while gen holds, else under the lock.
  // `begin` is called before each pass (and resets what a failed pass gathered).
  private scan(begin: () => (e: number, now: number) => void): void {
    const w = this.w;
    for (let attempt = 0; attempt <= READ_RETRIES; attempt++) {
      const locked = attempt === READ_RETRIES;
      if (locked) this.lockWriter();
      try {
        const visit = begin();
        const gen = Atomics.load(w, H_GEN);
        const side = gen & 1;
        const idx = (HEADER_SIZE + side * 8 * this.slots) >> 2;
        const half = HEADER_SIZE + 24 * this.slots + side * this.capacity;
        const now = monotonicMs();
        let bad = false;
        for (let i = 0; i < this.slots; i++) {
          const ref = Atomics.load(w, idx + 2 * i + 1);
          if (ref <= TOMBSTONE) continue;
          const e = this.entryAt(half, ref);
          if (e < 0) {
            bad = true;
            break;
          }
          visit(e, now);
        }
        Atomics.exchange(FENCE, 0, 0);
        if (locked || Atomics.load(w, H_GEN) === gen) {
          if (bad) throw corruptError(this.context, 'an index slot names bytes outside its data area');
          return;
        }
      } finally {
        if (locked) this.unlockWriter();
      }
    }
  }

  private snapshot(withValues: boolean): Array<[Buffer, Buffer | undefined]> {
    this.checkUsable();
    let out: Array<[Buffer, Buffer | undefined]> = [];
    this.scan(() => {
      out = [];
      return (e, now) => {
        if (this.expired(e, now)) return;
        const klen = this.eKlen;
        const vlen = this.eVlen;
        const k = Buffer.allocUnsafe(klen);
        this.b.copy(k, 0, e + ENTRY_HEADER, e + ENTRY_HEADER + klen);
        let v: Buffer | undefined;
        if (withValues) {
          v = Buffer.allocUnsafe(vlen);
          this.b.copy(v, 0, e + ENTRY_HEADER + klen, e + ENTRY_HEADER + klen + vlen);
        }
        out.push([k, v]);
      };
    });
    return out;
  }

  /**
   * The keys (Buffers) of one consistent snapshot of the map: every entry
   * present throughout appears exactly once; entries set or deleted meanwhile may or may not.
   */
  *keys(): IterableIterator<Buffer> {
    for (const [k] of this.snapshot(false)) yield k;
  }

  /** The [key, value] pairs (Buffers) of one consistent snapshot, as {@link keys}. */
  *entries(): IterableIterator<[Buffer, Buffer]> {
    for (const [k, v] of this.snapshot(true)) yield [k, v!];
  }

  /** Same as {@link entries}. */
  [Symbol.iterator](): IterableIterator<[Buffer, Buffer]> {
    return this.entries();
  }

  /** The value of `key` decoded with node:v8's deserializer (set by {@link setValue}), or undefined. */
  getValue(key: string | ArrayBufferView): unknown {
    const v = this.get(key);
    return v === undefined ? undefined : v8.deserialize(v);
  }

  // ---- writers ----

  // The token is stored first thing after the take and cleared first thing
  // after the release, with no call in between: V8 ends a terminated worker
  // at a call's (or a loop's) stack check, so whenever this environment can
  // stop, "the token is mine" and "I hold the lock" agree, and the guard
  // (native/shared_map.cc) releases exactly a lock this environment holds.
  // (Clearing it before the release, as before, left 1 worker in 20
  // terminated in a write loop holding the lock: unlock() is a call.)
  private lockWriter(): void {
    const { ownerDied } = this.mutex.lockSync();
    const w = this.w;
    w[H_TOKEN] = TOKEN;
    try {
      if (ownerDied || w[H_DIRTY] !== 0) this.repair();
    } catch (err) {
      this.releaseLock(); // dirty stays as found: the next writer repairs (and fails) again
      throw err;
    }
    w[H_DIRTY] = 1;
  }

  private unlockWriter(): void {
    this.w[H_DIRTY] = 0;
    this.releaseLock();
  }

  private releaseLock(): void {
    try {
      this.mutex.unlock();
    } finally {
      // Only if still ours: another environment may hold the lock already.
      Atomics.compareExchange(this.w, H_TOKEN, TOKEN, 0);
    }
  }

  // Runs a write under the lock (repairing first when the last writer died inside one).
  private write<T>(fn: () => T): T {
    this.lockWriter();
    try {
      return fn();
    } finally {
      this.unlockWriter();
    }
  }

  // After a writer died inside an operation: map.h's repair (native/shared_map.cc) recomputes
  // the counters and top from the active index, as a C peer's would.
  private repair(): void {
    const r = binding.mapRepair(this.shm.nativeHandle());
    if (r !== 0)
      throw corruptError(this.context, 'its index or entries do not add up (found repairing after a dead writer)');
  }

  // The header counters a writer trusts, checked (hostile memory: a bad one is MAP_CORRUPT).
  private counters(side: number): { top: number; used: number; entries: number; tombstones: number } {
    const w = this.w;
    const top = w[H_TOP0 + side]!;
    const used = w[H_USED]!;
    const entries = w[H_ENTRIES]!;
    const tombstones = w[H_TOMBSTONES]!;
    if (top > this.capacity || top % 8 !== 0 || used > this.capacity || entries + tombstones > this.slots) {
      throw corruptError(this.context, 'its counters do not add up');
    }
    return { top, used, entries, tombstones };
  }

  private lookupForWrite(kb: Uint8Array, klen: number, hash: number): number {
    this.keyHash = hash;
    const e = this.find(kb, klen, this.w[H_GEN]! & 1);
    if (e === -2) throw corruptError(this.context, 'an index slot names bytes outside its data area');
    return e;
  }

  private entrySize(e: number): number {
    const q = e >> 2;
    return align8(ENTRY_HEADER + this.w[q + E_KLEN]! + this.w[q + E_VLEN]!);
  }

  // Writes an entry at byte `at` (absolute): header, key, value.
  private writeEntry(
    at: number,
    hash: number,
    kb: Uint8Array,
    klen: number,
    value: Uint8Array | string,
    vlen: number,
    exp: number,
  ): void {
    const w = this.w;
    const q = at >> 2;
    w[q] = 0;
    w[q + E_HASH] = hash;
    w[q + E_KLEN] = klen;
    w[q + E_VLEN] = vlen;
    w[q + E_EXP_LO] = exp % 0x100000000;
    w[q + E_EXP_HI] = Math.floor(exp / 0x100000000);
    w[q + 6] = 0;
    w[q + 7] = 0;
    const b = this.b;
    const k = at + ENTRY_HEADER;
    if (check.byteLengthOf(kb) === klen) b.set(kb, k);
    else for (let j = 0; j < klen; j++) b[k + j] = kb[j]!;
    if (typeof value === 'string') b.write(value, k + klen, vlen, 'utf8');
    else b.set(value, k + klen);
  }

  // Inserts or replaces under the lock. `exp` 0: no expiry. Throws MAP_FULL (changing nothing) when no room.
  private put(kb: Uint8Array, klen: number, hash: number, value: Uint8Array | string, vlen: number, exp: number): void {
    const w = this.w;
    const side = w[H_GEN]! & 1;
    let e = this.lookupForWrite(kb, klen, hash);
    const need = align8(ENTRY_HEADER + klen + vlen);
    let c = this.counters(side);
    const fits = (): boolean =>
      c.used - (e >= 0 ? this.entrySize(e) : 0) + need <= this.capacity && (e >= 0 || c.entries + 1 <= this.limitLive);
    if (!fits()) {
      // Expired entries are free space: one compaction drops them and writes this entry, if
      // that makes room. One, not a compaction and then another for the entry: a write flips
      // gen at most once (compact() says why).
      if (w[H_TTL_ENTRIES] !== 0 && this.compact({ kb, klen, hash, value, vlen, exp })) return;
      if (this.evict) {
        this.evictFor(e >= 0 ? this.foundSlot : -1, need - (e >= 0 ? this.entrySize(e) : 0), e < 0);
        e = this.lookupForWrite(kb, klen, hash);
        c = this.counters(side);
      }
      if (!fits()) {
        throw new SharedMapError(
          ERR.MAP_FULL,
          `The SharedMap has no room for this ${need}-byte entry: ${c.used} of ${this.capacity} bytes and ${c.entries} of ${this.limitLive} entries are in use; nothing was changed`,
          this.context,
        );
      }
    }
    const oldSize = e >= 0 ? this.entrySize(e) : 0;
    const oldTtl = e >= 0 && (w[(e >> 2) + E_EXP_LO] !== 0 || w[(e >> 2) + E_EXP_HI] !== 0) ? 1 : 0;
    const clogged =
      e < 0 &&
      (this.freeSlot < 0 ||
        (w[((HEADER_SIZE + side * 8 * this.slots) >> 2) + 2 * this.freeSlot + 1] === EMPTY &&
          c.entries + c.tombstones + 1 > this.limitLive));
    if (c.top + need > this.capacity || clogged) {
      // No room past top, or the index is clogged by tombstones: copy the live entries over, with this one.
      // The caller checked the room against the counters; hostile counters could lie.
      if (!this.compact({ kb, klen, hash, value, vlen, exp }))
        throw corruptError(this.context, 'its counters do not add up');
      return;
    }
    const half = HEADER_SIZE + 24 * this.slots + side * this.capacity;
    const idx = (HEADER_SIZE + side * 8 * this.slots) >> 2;
    // 1. the entry past top (unpublished: nobody reads it), 2. top, 3. publish, 4. counters.
    this.writeEntry(half + c.top, hash, kb, klen, value, vlen, exp);
    w[H_TOP0 + side] = c.top + need;
    const ref = c.top / 8 + 2;
    if (e >= 0) {
      Atomics.store(w, idx + 2 * this.foundSlot + 1, ref);
      w[this.markAt(side, this.foundSlot)] = 1;
    } else {
      const slot = this.freeSlot;
      const wasTombstone = w[idx + 2 * slot + 1] === TOMBSTONE;
      w[idx + 2 * slot] = hash;
      Atomics.store(w, idx + 2 * slot + 1, ref);
      w[this.markAt(side, slot)] = 1;
      w[H_ENTRIES] = c.entries + 1;
      if (wasTombstone) w[H_TOMBSTONES] = c.tombstones - 1;
    }
    w[H_USED] = c.used - oldSize + need;
    w[H_TTL_ENTRIES] = w[H_TTL_ENTRIES]! - oldTtl + (exp !== 0 ? 1 : 0);
  }

  // Copies every live, unexpired entry of the active pair into the other one
  // (with `extra` replacing or adding its key), then flips gen: one store
  // publishes the new pair. Killed before the flip, nothing visible changed.
  // False (no flip, nothing visible changed) when `extra` does not fit.
  // At most one compaction per write (per lock hold): the flip is a release
  // store, which on arm64 keeps the stores before it before it but not the
  // plain stores after it, so a second compaction's writes into the pair
  // just left could be seen by a reader still on it before that reader can
  // see gen move (a torn value). The next lock hold orders them (the
  // unlock's and the lock's compare-and-swaps).
  private compact(extra?: {
    kb: Uint8Array;
    klen: number;
    hash: number;
    value: Uint8Array | string;
    vlen: number;
    exp: number;
  }): boolean {
    const w = this.w;
    const gen = w[H_GEN]!;
    const from = gen & 1;
    const to = from ^ 1;
    const fromIdx = (HEADER_SIZE + from * 8 * this.slots) >> 2;
    const toIdx = (HEADER_SIZE + to * 8 * this.slots) >> 2;
    const fromHalf = HEADER_SIZE + 24 * this.slots + from * this.capacity;
    const toHalf = HEADER_SIZE + 24 * this.slots + to * this.capacity;
    w.fill(0, toIdx, toIdx + 2 * this.slots);
    w.fill(0, this.markAt(to, 0), this.markAt(to, this.slots));
    let top = 0;
    let entries = 0;
    let ttl = 0;
    const now = monotonicMs();
    const skip = extra === undefined ? -1 : this.lookupForWrite(extra.kb, extra.klen, extra.hash);
    const insert = (hash: number, ref: number, mark: number): void => {
      let i = hash & this.mask;
      // Bounded: only this writer fills the zeroed index, but a hostile process could too.
      for (let n = 0; w[toIdx + 2 * i + 1] !== EMPTY; n++, i = (i + 1) & this.mask) {
        if (n === this.slots) throw corruptError(this.context, 'the index being rebuilt filled up under the writer');
      }
      w[toIdx + 2 * i] = hash;
      w[toIdx + 2 * i + 1] = ref;
      w[this.markAt(to, i)] = mark;
    };

    for (let i = 0; i < this.slots; i++) {
      const ref = w[fromIdx + 2 * i + 1]!;
      if (ref <= TOMBSTONE) continue;
      const e = this.entryAt(fromHalf, ref);
      if (e < 0) throw corruptError(this.context, `index slot ${i} names bytes outside its data area`);
      if (e === skip || this.expired(e, now)) continue;
      const size = this.entrySize(e);
      if (top + size > this.capacity || entries + 1 > this.limitLive) {
        throw corruptError(this.context, 'its live entries do not fit its capacity');
      }
      this.b.copy(this.b, toHalf + top, e, e + size);
      insert(w[(e >> 2) + E_HASH]!, top / 8 + 2, w[this.markAt(from, i)]!);
      if (w[(e >> 2) + E_EXP_LO] !== 0 || w[(e >> 2) + E_EXP_HI] !== 0) ttl++;
      top += size;
      entries++;
    }
    if (extra !== undefined) {
      const need = align8(ENTRY_HEADER + extra.klen + extra.vlen);
      if (top + need > this.capacity || entries + 1 > this.limitLive) return false;
      this.writeEntry(toHalf + top, extra.hash, extra.kb, extra.klen, extra.value, extra.vlen, extra.exp);
      insert(extra.hash, top / 8 + 2, 1);
      if (extra.exp !== 0) ttl++;
      top += need;
      entries++;
    }
    w[H_TOP0 + to] = top;
    Atomics.store(w, H_GEN, (gen + 1) >>> 0); // the flip
    w[H_ENTRIES] = entries;
    w[H_USED] = top;
    w[H_TOMBSTONES] = 0;
    w[H_TTL_ENTRIES] = ttl;
    w[H_HAND] = 0;
    return true;
  }

  // CLOCK: deletes entries not used since the hand last passed until `bytes` and (if `slot`) an index entry are free.
  private evictFor(keepSlot: number, bytes: number, slot: boolean): void {
    const w = this.w;
    const side = w[H_GEN]! & 1;
    const idx = (HEADER_SIZE + side * 8 * this.slots) >> 2;
    const half = HEADER_SIZE + 24 * this.slots + side * this.capacity;
    let hand = w[H_HAND]! % this.slots;
    const now = monotonicMs();
    for (let steps = 0; steps < 2 * this.slots + 1; steps++, hand = (hand + 1) & this.mask) {
      const c = this.counters(side);
      if (c.used + bytes <= this.capacity && (!slot || c.entries + 1 <= this.limitLive)) break;
      if (hand === keepSlot) continue;
      const ref = w[idx + 2 * hand + 1]!;
      if (ref <= TOMBSTONE) continue;
      const e = this.entryAt(half, ref);
      if (e < 0) throw corruptError(this.context, `index slot ${hand} names bytes outside its data area`);
      const mark = this.markAt(side, hand);
      if (w[mark] !== 0 && !this.expired(e, now)) {
        w[mark] = 0;
        continue;
      }
      this.deleteSlot(idx, hand, e);
    }
    w[H_HAND] = hand;
  }

  private deleteSlot(idx: number, slot: number, e: number): void {
    const w = this.w;
    const c = this.counters(w[H_GEN]! & 1);
    const q = e >> 2;
    Atomics.store(w, idx + 2 * slot + 1, TOMBSTONE);
    w[H_ENTRIES] = c.entries - 1;
    w[H_TOMBSTONES] = c.tombstones + 1;
    w[H_USED] = c.used - this.entrySize(e);
    if (w[q + E_EXP_LO] !== 0 || w[q + E_EXP_HI] !== 0) w[H_TTL_ENTRIES] = Math.max(0, w[H_TTL_ENTRIES]! - 1);
  }

  private valueBytes(value: unknown): { v: Uint8Array | string; n: number } {
    let v: Uint8Array | string;
    let n: number;
    if (typeof value === 'string') {
      v = value;
      n = Buffer.byteLength(value, 'utf8');
    } else {
      v = check.bytes('value', value);
      n = check.byteLengthOf(v);
    }
    if (n > this.maxValueSize) tooLong('value', n, this.maxValueSize);
    return { v, n };
  }

  private expiryOf(options: SharedMapSetOptions | undefined): number {
    if (options === undefined) return 0;
    const o = check.options('options', options);
    if (o.ttl === undefined) return 0;
    if (typeof o.ttl !== 'number') check.invalidType('options.ttl', 'of type number', o.ttl);
    if (!(o.ttl > 0) || !Number.isFinite(o.ttl))
      check.outOfRange('options.ttl', 'a positive number of milliseconds', o.ttl);
    // At most 2^53 - 1 ms (285,000 years): beyond, the u64 expiry's two words wrapped, to a time maybe past.
    return Math.min(monotonicMs() + Math.ceil(o.ttl), Number.MAX_SAFE_INTEGER);
  }

  // The key's bytes copied out of keyBuf (a write may run user code that reuses keyBuf: not here, but keep it simple).
  private keyOf(key: unknown): { kb: Uint8Array; klen: number; hash: number } {
    const kb = this.keyBytes(key);
    const klen = this.keyLen;
    this.hashKey(kb, klen);
    return { kb, klen, hash: this.keyHash };
  }

  /**
   * Sets `key` to `value` (bytes; a string is stored as UTF-8).
   * @throws {RangeError} `ERR_OUT_OF_RANGE` for a key or value over its maximum; nothing changes.
   * @throws {SharedMapError} `ERR_SYSV_IPC_MAP_FULL` when there is no room (whenFull 'error'); nothing changes.
   */
  set(key: string | ArrayBufferView, value: string | ArrayBufferView, options?: SharedMapSetOptions): this {
    this.checkUsable();
    const { v, n } = this.valueBytes(value);
    const exp = this.expiryOf(options);
    const { kb, klen, hash } = this.keyOf(key);
    this.write(() => this.put(kb, klen, hash, v, n, exp));
    return this;
  }

  /** Sets `key` to `value` encoded with node:v8's serializer (structured clone); read it with {@link getValue}. */
  setValue(key: string | ArrayBufferView, value: unknown, options?: SharedMapSetOptions): this {
    return this.set(key, v8.serialize(value), options);
  }

  /** Deletes `key`; true if it was present. */
  delete(key: string | ArrayBufferView): boolean {
    this.checkUsable();
    const { kb, klen, hash } = this.keyOf(key);
    return this.write(() => {
      const e = this.lookupForWrite(kb, klen, hash);
      if (e < 0) return false;
      const gone = this.expired(e, -1);
      const side = this.w[H_GEN]! & 1;
      this.deleteSlot((HEADER_SIZE + side * 8 * this.slots) >> 2, this.foundSlot, e);
      return !gone;
    });
  }

  /** Deletes every entry (one atomic flip to an empty index). */
  clear(): void {
    this.checkUsable();
    this.write(() => {
      const w = this.w;
      const gen = w[H_GEN]!;
      const to = (gen & 1) ^ 1;
      const toIdx = (HEADER_SIZE + to * 8 * this.slots) >> 2;
      w.fill(0, toIdx, toIdx + 2 * this.slots);
      w[H_TOP0 + to] = 0;
      Atomics.store(w, H_GEN, (gen + 1) >>> 0);
      w[H_ENTRIES] = 0;
      w[H_USED] = 0;
      w[H_TOMBSTONES] = 0;
      w[H_TTL_ENTRIES] = 0;
      w[H_HAND] = 0;
    });
  }

  /**
   * Adds `delta` to the counter `key` (a signed 64-bit little-endian
   * integer, 8 bytes) atomically across processes; a missing key starts at
   * 0. Keeps the entry's ttl.
   * @returns the new value: a number, or a bigint beyond Number.MAX_SAFE_INTEGER.
   * @throws {SharedMapError} `ERR_SYSV_IPC_MAP_NOT_A_COUNTER` if the value is not 8 bytes (nothing changes).
   * @throws {RangeError} if the result leaves the signed 64-bit range, or if
   *   maxValueSize is below 8 (nothing changes).
   */
  add(key: string | ArrayBufferView, delta: number | bigint = 1): number | bigint {
    this.checkUsable();
    if (typeof delta === 'number') {
      if (!Number.isSafeInteger(delta)) check.outOfRange('delta', 'a safe integer or a bigint', delta);
    } else if (typeof delta !== 'bigint') {
      check.invalidType('delta', 'of type number or bigint', delta);
    }
    // A counter is an 8-byte value: stored over maxValueSize, every read would take it for corrupt.
    if (this.maxValueSize < 8) tooLong('value', 8, this.maxValueSize);
    const { kb, klen, hash } = this.keyOf(key);
    return this.write(() => {
      let e = this.lookupForWrite(kb, klen, hash);
      if (e >= 0 && this.expired(e, -1)) e = -1;
      let old: number | bigint = 0;
      let exp = 0;
      if (e >= 0) {
        const q = e >> 2;
        if (this.w[q + E_VLEN] !== 8) {
          throw new SharedMapError(
            ERR.MAP_NOT_A_COUNTER,
            `add() needs a counter (an 8-byte value); this key's value is ${this.w[q + E_VLEN]} bytes: nothing was changed`,
            this.context,
          );
        }
        old = this.counterAt(e);
        exp = this.w[q + E_EXP_HI]! * 0x100000000 + this.w[q + E_EXP_LO]!;
      }
      let next: number | bigint;
      if (typeof old === 'number' && typeof delta === 'number' && Number.isSafeInteger(old + delta)) {
        next = old + delta;
      } else {
        const big = BigInt(old) + BigInt(delta);
        if (big > 0x7fffffffffffffffn || big < -0x8000000000000000n) {
          check.outOfRange('the counter', 'a signed 64-bit integer after add()', big);
        }
        next = big >= BigInt(Number.MIN_SAFE_INTEGER) && big <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(big) : big;
      }
      const buf = COUNTER;
      if (typeof next === 'number') {
        buf.writeUInt32LE(next >>> 0, 0); // low 32 bits (two's complement)
        buf.writeInt32LE(Math.floor(next / 0x100000000) | 0, 4);
      } else {
        buf.writeBigInt64LE(next, 0);
      }
      this.put(kb, klen, hash, buf, 8, exp);
      return next;
    });
  }

  /**
   * Atomic read-modify-write across processes: `fn(old)` (a Buffer copy, or
   * undefined) returns the new value, or undefined to delete. `fn` runs
   * holding the map's lock: it must be synchronous and must not use this map
   * (`ERR_SYSV_IPC_MAP_REENTRANT`). Keeps the entry's ttl. If `fn` throws,
   * nothing changes.
   * @returns what `fn` returned.
   */
  update<T extends string | ArrayBufferView | undefined>(
    key: string | ArrayBufferView,
    fn: (old: Buffer | undefined) => T,
  ): T {
    this.checkUsable();
    if (typeof fn !== 'function') check.invalidType('fn', 'of type function', fn);
    const k = this.keyOf(key);
    // fn may use other maps (and so other key buffers) but not this one: copy the key anyway.
    const kb = Buffer.from(k.kb.subarray(0, k.klen));
    return this.write(() => {
      let e = this.lookupForWrite(kb, k.klen, k.hash);
      if (e >= 0 && this.expired(e, -1)) e = -1;
      let old: Buffer | undefined;
      let exp = 0;
      if (e >= 0) {
        const q = e >> 2;
        const start = e + ENTRY_HEADER + this.w[q + E_KLEN]!;
        old = Buffer.from(this.b.subarray(start, start + this.w[q + E_VLEN]!));
        exp = this.w[q + E_EXP_HI]! * 0x100000000 + this.w[q + E_EXP_LO]!;
      }
      busy.add(this.id);
      let next: T;
      try {
        next = fn(old);
      } finally {
        busy.delete(this.id);
      }
      if (next !== undefined && typeof (next as { then?: unknown }).then === 'function') {
        check.invalidType(
          'the value fn returned',
          'a string, a Buffer, a TypedArray, a DataView or undefined (fn is synchronous)',
          next,
        );
      }
      if (next === undefined) {
        e = this.lookupForWrite(kb, k.klen, k.hash);
        if (e >= 0) this.deleteSlot((HEADER_SIZE + (this.w[H_GEN]! & 1) * 8 * this.slots) >> 2, this.foundSlot, e);
      } else {
        const { v, n } = this.valueBytes(next);
        this.put(kb, k.klen, k.hash, v, n, exp);
      }
      return next;
    });
  }

  /** The map's geometry and use, and the segment's ownership. */
  info(): SharedMapInfo {
    this.checkUsable();
    const s = this.shm.info();
    const used = Atomics.load(this.w, H_USED);
    return {
      ...ownershipOf(this.id, s),
      key: this.key,
      id: this.id,
      capacity: this.capacity,
      usedBytes: used,
      freeBytes: Math.max(0, this.capacity - used),
      entries: Atomics.load(this.w, H_ENTRIES),
      maxEntries: this.maxEntries,
      maxKeySize: this.maxKeySize,
      maxValueSize: this.maxValueSize,
      whenFull: this.whenFull,
      size: s.size,
      attachments: s.attachments,
      creatorPid: s.creatorPid,
    };
  }

  /** Deletes the segment (IPC_RMID; it lives on while attached, as shmctl(2) says). */
  remove(): void {
    this.shm.remove();
  }

  /** Detaches this process from the map (never removes it). Idempotent. */
  override close(): void {
    if (this.closed) return;
    // Not from an update() callback: leaving the segment then would release the lock that update() holds.
    this.checkNotBusy();
    super.close();
    this.mutex.close();
    if (!this.mutex.held) this.shm.detach();
  }
}

const COUNTER = Buffer.alloc(8);

function tooLong(what: string, n: number, max: number): never {
  throw new OutOfRangeError(
    `The ${what} is ${n} bytes, more than this map's max${what === 'key' ? 'Key' : 'Value'}Size of ${max}; nothing was changed`,
  );
}

function corruptError(context: SysvIpcErrorContext, why: string): SharedMapError {
  return new SharedMapError(ERR.MAP_CORRUPT, `The SharedMap in this segment is corrupt: ${why}`, context);
}
