/**
 * System V shared memory (shmget, shmat, shmdt, shmctl) as a class, with
 * zero-copy views that cannot crash the process, and cross-process
 * wait/notify on a 32-bit word (futex(2) on Linux).
 */
import { Buffer, constants as bufferConstants } from 'node:buffer';
import { binding } from './addon';
import type { ShmHandle } from './binding';
import {
  about,
  ClosedError,
  FeatureUnavailableError,
  OutOfRangeError,
  ReadOnlyError,
  ViewTooLargeError,
  ViewTransferredError,
  type SysvIpcErrorContext,
} from './errors';
import { IPC_PRIVATE, type Key } from './keys';
import { readKernelTunable } from './proc';
import { ownershipOf, parseOwnershipChange, statTime, type IpcOwnership, type IpcOwnershipChange } from './ownership';
import * as check from './validate';
import { getByKey, parseOpen } from './open-options';
import { HandleState, IpcHandle } from './ipc-handle';
import { SpinBudget, WOULD_BLOCK, type WaitOptions } from './waits';

const C = binding.constants;
const WAIT = C.WAIT;

// The largest size worth asking the kernel for: its shmmax, capped where
// JavaScript numbers stop being exact. (shmget also fails with EINVAL above
// shmmax, ENOSPC/ENOMEM beyond shmall or memory: those surface as SysvIpcError.)
function maxSegmentSize(): number {
  const shmmax = readKernelTunable('shmmax')?.[0];
  return shmmax !== undefined && Number.isFinite(shmmax) && shmmax > 0
    ? Math.min(shmmax, Number.MAX_SAFE_INTEGER)
    : Number.MAX_SAFE_INTEGER;
}

/** What {@link SharedMemory.info} reports (IPC_STAT). */
export interface SharedMemoryInfo extends IpcOwnership {
  /** The key; Linux reports {@link IPC_PRIVATE} (0) once the segment is marked for removal. */
  key: Key;
  /** Size in bytes (shm_segsz). */
  size: number;
  /** Pid of the creator. */
  creatorPid: number;
  /** Pid of the last shmat/shmdt. */
  lastPid: number;
  /** Current number of attachments, in every process (shm_nattch). */
  attachments: number;
  /** Time of the last shmat, or null. */
  lastAttachTime: Date | null;
  /** Time of the last shmdt, or null. */
  lastDetachTime: Date | null;
  /** Time of creation or of the last IPC_SET. */
  lastChangeTime: Date | null;
}

/** Options of {@link SharedMemory.create}. */
export interface SharedMemoryCreateOptions {
  /** Size in bytes, an integer >= 1 (the kernel rounds the mapping up to pages). */
  size: number;
  /** The key; default {@link IPC_PRIVATE}. */
  key?: Key;
  /** Permission bits; default 0o600. */
  mode?: number;
}

/** Options of {@link SharedMemory.open}. */
export interface SharedMemoryOpenOptions {
  /** Create the segment if no segment has this key (open-or-create); needs `size`. */
  create?: boolean;
  /**
   * Size in bytes: required with `create`; otherwise, if given, the existing
   * segment must be at least this large (EINVAL if not).
   */
  size?: number;
  /** Permission bits when created; default 0o600. */
  mode?: number;
  /** Attach read-only (SHM_RDONLY): no `buffer`/`arrayBuffer`, and `write()` throws. */
  readOnly?: boolean;
}

/** Options of {@link SharedMemory.fromId}. */
export interface SharedMemoryFromIdOptions {
  /** Attach read-only (SHM_RDONLY). */
  readOnly?: boolean;
}

/** Fields {@link SharedMemory.set} can change (IPC_SET). */
export type SharedMemorySetOptions = IpcOwnershipChange;

/** Options of {@link SharedMemory.waitSync}. */
export interface SharedMemoryWaitSyncOptions {
  /** Milliseconds to wait before returning `'timed-out'`; default forever. */
  timeout?: number;
}

/** Result of {@link SharedMemory.waitSync}, as `Atomics.wait` reports it. */
export type WaitResult = 'ok' | 'not-equal' | 'timed-out';

function detachedError(context: SysvIpcErrorContext): ClosedError {
  return new ClosedError('The shared memory attachment', 'is detached (detach() or close() was called)', context);
}

function futexUnavailable(): FeatureUnavailableError {
  return new FeatureUnavailableError('SharedMemory wait/notify needs futex(2), which this platform lacks');
}

/**
 * A System V shared memory segment, attached to this process.
 *
 * ```ts
 * using shm = SharedMemory.create({ size: 4096 });
 * const words = new Int32Array(shm.arrayBuffer);
 * Atomics.add(words, 0, 1);          // seen at once by every process attached
 * shm.notify(0);                     // wakes a process in shm.wait(0, …)
 * shm.remove();                      // the segment goes once everyone detaches
 * ```
 *
 * Safety: `buffer` and `arrayBuffer` are views of one ArrayBuffer over the
 * mapping. {@link detach} (and `close()`, `using`) detaches that ArrayBuffer
 * before `shmdt`, so every view handed out reads as empty (length 0) instead
 * of touching unmapped memory. A read-only attachment hands out no view at
 * all (`buffer`/`arrayBuffer` throw `ERR_SYSV_IPC_READ_ONLY`): V8 has no
 * read-only ArrayBuffer, and a JavaScript store into a read-only mapping
 * would be SIGSEGV. If the object is garbage-collected while attached, it is
 * detached (once no view of it is reachable either); the segment itself is
 * only ever deleted by {@link remove}.
 */
export class SharedMemory extends IpcHandle {
  /** The segment's size in bytes (shm_segsz, as the kernel reports it). */
  readonly size: number;
  /** Whether this attachment is read-only (SHM_RDONLY). */
  readonly readOnly: boolean;
  private handle: ShmHandle | null;
  private cachedArrayBuffer: ArrayBuffer | undefined;
  private cachedBuffer: Buffer | undefined;
  // How long an async wait may watch the word on the JS thread before parking (see SpinBudget).
  private readonly spin = new SpinBudget();

  private constructor(id: number, key: Key, readOnly: boolean) {
    super(new HandleState(id, key, 'shared memory attachment'));
    const attached = about({ key, id }, () => binding.shmat(id, readOnly));
    this.handle = attached.handle;
    this.size = attached.size;
    this.readOnly = readOnly;
  }

  /**
   * Creates a new segment (shmget with IPC_CREAT | IPC_EXCL) and attaches it.
   * Its bytes start as zeros.
   * @throws {RangeError} if `size` is not an integer from 1 to the kernel's shmmax.
   * @throws {SysvIpcError} EEXIST if a segment with this key exists; ENOSPC/ENOMEM at the system's limits.
   */
  static create(options: SharedMemoryCreateOptions): SharedMemory {
    const o = check.options('options', options);
    if (o.size === undefined) check.invalidType('options.size', 'of type number', undefined);
    const size = check.integer('options.size', o.size, 1, maxSegmentSize());
    const key = o.key === undefined ? IPC_PRIVATE : check.key('options.key', o.key);
    const mode = check.mode('options.mode', o.mode, 0o600);
    const id = about({ key }, () => binding.shmget(key, size, C.IPC_CREAT | C.IPC_EXCL | mode));
    try {
      return new SharedMemory(id, key, false);
    } catch (err) {
      binding.shmRemove(id); // do not leave a segment nobody can reach
      throw err;
    }
  }

  /**
   * Opens the segment with this key (shmget) and attaches it; with
   * `{ create: true, size }`, creates it if absent.
   * @throws {SysvIpcError} ENOENT if absent and `create` is not set; EINVAL if
   *   `size` is larger than the existing segment; EACCES without permission.
   */
  static open(key: Key, options?: SharedMemoryOpenOptions): SharedMemory {
    const {
      key: k,
      options: o,
      create,
      mode,
    } = parseOpen(key, options, {
      className: 'SharedMemory',
      what: 'segment',
      privateCreates: true,
    });
    const readOnly = check.optionalBoolean('options.readOnly', o.readOnly, false);
    const size = o.size === undefined ? undefined : check.integer('options.size', o.size, 1, maxSegmentSize());
    if (create && size === undefined) {
      throw new OutOfRangeError('options.size is required with options.create (the size of a new segment)');
    }
    // A segment smaller than `size` is EINVAL that says both sizes.
    const id = getByKey(k, size ?? 0, {
      syscall: 'shmget',
      get: (n) => binding.shmget(k, n, n === 0 ? 0 : create ? C.IPC_CREAT | mode : 0),
      sizeOf: (shmid) => binding.shmStat(shmid).size,
      unit: 'bytes',
      what: 'segment',
    });
    return new SharedMemory(id, k, readOnly);
  }

  /**
   * Attaches an existing segment by its identifier.
   * @throws {SysvIpcError} EINVAL if no such segment; EACCES without permission.
   */
  static fromId(id: number, options?: SharedMemoryFromIdOptions): SharedMemory {
    const shmid = check.ipcId('id', id);
    const o = check.options('options', options);
    const readOnly = check.optionalBoolean('options.readOnly', o.readOnly, false);
    const stat = about({ id: shmid }, () => binding.shmStat(shmid));
    return new SharedMemory(shmid, stat.key, readOnly);
  }

  /** Whether {@link detach} (or close) was called. */
  get detached(): boolean {
    return this.handle === null;
  }

  /** Same as {@link detached}. */
  override get closed(): boolean {
    return this.handle === null;
  }

  private attached(): ShmHandle {
    if (this.handle === null) throw detachedError(this.state.context);
    return this.handle;
  }

  /** @internal The native attachment handle (FastMutex's waits); throws once detached. */
  nativeHandle(): ShmHandle {
    return this.attached();
  }

  /**
   * The attachment as an ArrayBuffer, zero-copy: a write by any process is
   * seen here at once, and typed arrays and `Atomics` work on it. The same
   * object on every access; it becomes zero-length at {@link detach}.
   * @throws {Error} `ERR_SYSV_IPC_READ_ONLY` on a read-only attachment;
   *   `ERR_SYSV_IPC_NO_EXTERNAL_BUFFERS` where the runtime refuses external
   *   buffers (Electron's V8 sandbox): use read()/write() there;
   *   `ERR_SYSV_IPC_CLOSED` after detach; `ERR_SYSV_IPC_VIEW_TRANSFERRED` if
   *   JavaScript moved it out with `transfer()` (the moved buffer keeps the
   *   mapping alive: shmdt then waits until it is garbage).
   */
  get arrayBuffer(): ArrayBuffer {
    const handle = this.attached();
    if (this.readOnly) throw new ReadOnlyError('arrayBuffer');
    if (this.size > bufferConstants.MAX_LENGTH) {
      // Node refuses ArrayBuffers past this length (4 GiB on Node 20).
      throw new ViewTooLargeError(this.size, bufferConstants.MAX_LENGTH);
    }
    this.cachedArrayBuffer ??= binding.shmArrayBuffer(handle);
    // Zero length while attached: JavaScript moved the backing store out
    // (ArrayBuffer.prototype.transfer). A second ArrayBuffer over the same
    // memory would abort V8, so there is no view to give any more.
    if (this.cachedArrayBuffer.byteLength === 0) {
      throw new ViewTransferredError();
    }
    return this.cachedArrayBuffer;
  }

  /** The attachment as a Buffer over {@link arrayBuffer} (zero-copy; same errors). */
  get buffer(): Buffer {
    const ab = this.arrayBuffer;
    if (this.cachedBuffer !== undefined) return this.cachedBuffer;
    this.cachedBuffer = Buffer.from(ab, 0, this.size);
    return this.cachedBuffer;
  }

  private checkRange(offset: number, length: number): void {
    if (offset + length > this.size) {
      throw new OutOfRangeError(
        `The range [${offset}, ${offset + length}) is out of bounds of the ${this.size}-byte segment`,
      );
    }
  }

  /**
   * Copies bytes out of the segment into a new Buffer. Works on read-only attachments.
   * @param offset first byte; default 0.
   * @param length default: to the end.
   * @throws {RangeError} if the range is not within the segment.
   */
  read(offset?: number, length?: number): Buffer {
    const handle = this.attached();
    const off = check.optionalInteger('offset', offset, 0, this.size, 0);
    const len = check.optionalInteger('length', length, 0, this.size, this.size - off);
    this.checkRange(off, len);
    return binding.shmRead(handle, off, len);
  }

  /**
   * Fills `target` with the segment's bytes from `offset` (all of it, or a
   * RangeError and nothing copied). Works on read-only attachments.
   * @returns the number of bytes copied (`target.byteLength`).
   */
  readInto(target: ArrayBufferView, offset?: number): number {
    const handle = this.attached();
    const into = check.view('target', target);
    const off = check.optionalInteger('offset', offset, 0, this.size, 0);
    this.checkRange(off, check.byteLengthOf(into));
    return binding.shmReadInto(handle, off, into);
  }

  /**
   * Copies `data` (a string is written as UTF-8) into the segment at `offset`.
   * All or nothing: a write that would cross the end is refused whole.
   * @returns the number of bytes written.
   * @throws {RangeError} if it does not fit; `ERR_SYSV_IPC_READ_ONLY` on a read-only attachment.
   */
  write(data: string | ArrayBufferView, offset?: number): number {
    const handle = this.attached();
    const bytes = check.bytes('data', data);
    const off = check.optionalInteger('offset', offset, 0, this.size, 0);
    if (this.readOnly) throw new ReadOnlyError('write');
    this.checkRange(off, check.byteLengthOf(bytes));
    return binding.shmWrite(handle, off, bytes);
  }

  // What wait() and waitSync() both check: attached, futex available, the
  // word, the expected value (any 32-bit pattern, signed or unsigned), the timeout.
  private waitArgs<O extends { timeout?: number }>(index: unknown, expected: unknown, options: O | undefined) {
    const handle = this.attached();
    if (!C.HAVE_FUTEX) throw futexUnavailable();
    const i = this.wordIndex(index);
    const value = check.integer('expected', expected, -0x80000000, 0xffffffff) | 0;
    const o = check.options('options', options);
    const timeout = check.timeout('options.timeout', o.timeout);
    return { handle, i, value, o, timeout };
  }

  private wordIndex(index: unknown): number {
    const words = Math.floor(this.size / 4);
    if (words === 0) {
      throw new OutOfRangeError(`The segment is ${this.size} bytes: it holds no 32-bit word to wait or notify on`);
    }
    return check.integer('index', index, 0, words - 1);
  }

  /**
   * Waits, off the event loop, until another process (or this one) calls
   * {@link notify} on the 32-bit word at `index` (a word index, like an
   * `Int32Array` index), provided the word equals `expected` (futex(2)
   * FUTEX_WAIT on the shared mapping). Checks the word first: if it already
   * differs, resolves at once with `'not-equal'` (no thread involved).
   * Works on read-only attachments.
   * @returns `'ok'` when woken, `'not-equal'` if the word did not equal `expected`.
   * @throws {SysvIpcError} rejects with ETIMEDOUT after `timeout` (the package's
   *   convention for async waits), AbortError on abort, ERR_SYSV_IPC_CLOSED when detached.
   */
  wait(index: number, expected: number, options?: WaitOptions): Promise<'ok' | 'not-equal'> {
    try {
      const { handle, i, value, o, timeout } = this.waitArgs(index, expected, options);
      return this.waits.run<'ok' | 'not-equal'>({
        syscall: 'futex',
        context: { id: this.id },
        timeout,
        signal: check.signal('options.signal', o.signal),
        spin: this.spin,
        // A word that changes during the spin is reported as it would be a
        // moment later by the kernel's own check: 'not-equal'.
        attempt: (spinNs) =>
          binding.shmSpinWhileEqual(handle, i, value, spinNs) !== value ? 'not-equal' : WOULD_BLOCK,
        park: (waitId) => binding.shmWaitAsync(handle, i, value, timeout, waitId),
        parked: (_value, extra) => (extra === WAIT.NOT_EQUAL ? 'not-equal' : 'ok'),
      });
    } catch (err) {
      return Promise.reject(err);
    }
  }

  /**
   * Like {@link wait}, blocking the calling thread (for workers and scripts),
   * with `Atomics.wait`'s results. `'not-equal'` only if the word differed as the
   * wait began; in a worker thread a notify without a store, landing between two
   * 50 ms termination slices, can be missed (README, SharedMemory).
   * @returns `'ok'` when woken, `'not-equal'`, or `'timed-out'` after `timeout`.
   */
  waitSync(index: number, expected: number, options?: SharedMemoryWaitSyncOptions): WaitResult {
    const { handle, i, value, timeout } = this.waitArgs(index, expected, options);
    const r = binding.shmWaitSync(handle, i, value, timeout);
    return r === WAIT.OK ? 'ok' : r === WAIT.NOT_EQUAL ? 'not-equal' : 'timed-out';
  }

  /**
   * Wakes up to `count` waiters (in any process) sleeping in
   * {@link wait}/{@link waitSync} on the word at `index` (futex FUTEX_WAKE).
   * Costs a syscall; skip it when you know nobody sleeps.
   * @param count default: all of them.
   * @returns the number of waiters woken.
   */
  notify(index: number, count?: number): number {
    const handle = this.attached();
    if (!C.HAVE_FUTEX) throw futexUnavailable();
    const i = this.wordIndex(index);
    let n = 0x7fffffff;
    if (count !== undefined && count !== Infinity) n = check.integer('count', count, 0, 0x7fffffff);
    return binding.shmNotify(handle, i, n);
  }

  /** IPC_STAT, fresh on each call. Works after detach (it needs only the id). */
  info(): SharedMemoryInfo {
    const s = about({ key: this.key, id: this.id }, () => binding.shmStat(this.id));
    return {
      ...ownershipOf(this.id, s),
      size: s.size,
      creatorPid: s.creatorPid,
      lastPid: s.lastPid,
      attachments: s.attachments,
      lastAttachTime: statTime(s.lastAttachTime),
      lastDetachTime: statTime(s.lastDetachTime),
      lastChangeTime: statTime(s.lastChangeTime),
    };
  }

  /**
   * Changes owner or mode (IPC_SET); fields left out stay as they are.
   * @throws {SysvIpcError} EPERM if not owner/creator.
   */
  set(options: SharedMemorySetOptions): void {
    const { mode, uid, gid } = parseOwnershipChange(options);
    about({ key: this.key, id: this.id }, () => binding.shmSet(this.id, mode, uid, gid));
  }

  /**
   * Marks the segment for deletion (IPC_RMID). As shmctl(2) says, it lives on
   * while attached: this attachment (and every other) keeps working and
   * keeps its data; the kernel frees it at the last detach. New opens by key fail.
   */
  remove(): void {
    about({ key: this.key, id: this.id }, () => binding.shmRemove(this.id));
  }

  /**
   * Detaches from the segment (shmdt) after cancelling this object's pending
   * waits and detaching every view handed out (they now have length 0).
   * A second call does nothing. Never removes the segment.
   */
  detach(): void {
    if (this.handle === null) return;
    const handle = this.handle;
    this.waits.cancelAll(detachedError(this.state.context));
    binding.shmDetach(handle);
    this.handle = null;
    this.cachedArrayBuffer = undefined;
    this.cachedBuffer = undefined;
  }

  /** Same as {@link detach}. */
  override close(): void {
    this.detach();
  }
}
