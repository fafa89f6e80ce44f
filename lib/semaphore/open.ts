/**
 * Creating and opening semaphore sets without the initialisation race, for
 * SemaphoreSet, Semaphore and Mutex alike.
 *
 * semget(2) with IPC_CREAT makes a set whose values are zero until its
 * creator sets them, and a second process can open it in between. The
 * classic cure (Stevens, UNP vol. 2, §11.2): the creator sets the values and
 * then performs one semop, which stamps sem_otime; openers that find the set
 * already there wait until sem_otime is non-zero before they use it.
 */
import { constants as osConstants } from 'node:os';
import { binding } from '../addon';
import { about, formatKey, naming, OutOfRangeError, syscallError, SysvIpcError } from '../errors';
import { getByKey } from '../open-options';
import type { Key } from '../keys';

const C = binding.constants;
const { ETIMEDOUT, EINVAL, EIDRM, ENOENT } = osConstants.errno;

/** A set's identity as creation or opening found it. */
export interface OpenedSet {
  id: number;
  key: Key;
  size: number;
  /** Whether this call created the set. */
  created: boolean;
}

/**
 * Gives a new set its values and stamps sem_otime: SETALL, then an operation
 * that changes nothing but marks the set as operated on. Openers that find
 * the set already there wait for that stamp, so none of them ever acts on the
 * kernel's zeroed, not-yet-initialised values.
 */
function initialise(id: number, values: readonly number[]): void {
  binding.semSetAll(id, Int32Array.from(values));
  // Member 0 is v > 0 (take one, give it back) or 0 (wait for zero: succeeds at once).
  // Only a process outside the protocol can change it meanwhile; then read it again.
  for (let attempt = 0; attempt < 100; attempt++) {
    const v = binding.semGetValue(id, 0);
    const marker = v > 0 ? Int32Array.of(0, -1, 0, 0, 1, 0) : Int32Array.of(0, 0, 0);
    if (binding.semop(id, marker, C.IPC_NOWAIT, -1)) return;
  }
  throw new SysvIpcError(C.ETIMEDOUT, 'semop', { id });
}

/** semget with IPC_CREAT | IPC_EXCL, then the values and the otime stamp; the set is removed if that fails. */
export function createSet(key: Key, size: number, values: readonly number[], mode: number): OpenedSet {
  const id = about({ key }, () => binding.semget(key, size, C.IPC_CREAT | C.IPC_EXCL | mode));
  try {
    initialise(id, values);
  } catch (err) {
    try {
      binding.semRemove(id);
    } catch {
      /* already gone */
    }
    throw err;
  }
  return { id, key, size, created: true };
}

/** The set with this identifier, as IPC_STAT describes it. */
export function setById(id: number): OpenedSet {
  const stat = about({ id }, () => binding.semStat(id));
  return { id, key: stat.key, size: stat.size, created: false };
}

const sleeper = new Int32Array(new SharedArrayBuffer(4));
function sleepSync(ms: number): void {
  Atomics.wait(sleeper, 0, 0, ms);
}

function errnoOf(err: unknown): number | undefined {
  return err instanceof SysvIpcError ? err.errno : undefined;
}

// semget of an existing set (no IPC_CREAT); a set with fewer members than
// `size` is EINVAL that says both counts.
function getSet(k: Key, size: number, what: string): number {
  return getByKey(k, size, {
    syscall: 'semget',
    get: (n) => binding.semget(k, n, 0),
    sizeOf: (id) => binding.semStat(id).size,
    unit: 'members',
    what,
  });
}

/** How {@link openSet} opens: what `open(key, options)` parsed. */
export interface OpenSetRequest {
  create: boolean;
  /** Members: required with `create`; otherwise the least the set must have. */
  size: number | undefined;
  /**
   * With `create`: the least an existing set must have, when fewer than
   * `size` will do (Mutex opens a set of one made by an older version).
   * Default `size`.
   */
  existingSize?: number;
  /** The starting values, asked for only when this call creates the set. */
  values: () => number[];
  mode: number;
  /** Milliseconds to wait for a racing creator's sem_otime stamp. */
  initTimeout: number;
}

/**
 * Opens the set with this key; with `create`, opens or creates it.
 *
 * Open-or-create: try to create with IPC_EXCL. Exactly one racing process
 * succeeds and initialises; the others get EEXIST, open the set, and wait
 * (bounded by `initTimeout`) until its sem_otime is set, which the creator
 * does last. If the set vanishes meanwhile (its creator failed and removed
 * it), the whole dance starts again.
 * @param what How errors name the object ('semaphore', 'mutex', …).
 */
export function openSet(k: Key, what: string, o: OpenSetRequest): OpenedSet {
  if (!o.create) {
    const id = getSet(k, o.size ?? 0, what);
    return { id, key: k, size: about({ key: k, id }, () => binding.semStat(id)).size, created: false };
  }
  if (o.size === undefined) throw new OutOfRangeError(`options.size is required to create a ${what}`);
  const values = o.values();
  const deadline = Date.now() + o.initTimeout;
  let pause = 0;
  for (;;) {
    try {
      return createSet(k, o.size, values, o.mode);
    } catch (err) {
      if (!(err instanceof SysvIpcError) || err.code !== 'EEXIST') throw err;
    }
    let id: number;
    try {
      id = getSet(k, o.existingSize ?? o.size, what);
    } catch (err) {
      if (errnoOf(err) === ENOENT) continue; // removed since our EEXIST: try to create again
      throw err;
    }
    for (;;) {
      let stat;
      try {
        stat = binding.semStat(id);
      } catch (err) {
        const e = errnoOf(err);
        if (e === EINVAL || e === EIDRM) break; // removed while we waited: start over
        throw naming(err, { key: k, id });
      }
      if (stat.lastOpTime !== 0) return { id, key: k, size: stat.size, created: false };
      if (Date.now() >= deadline) {
        throw syscallError(
          ETIMEDOUT,
          'semget',
          { key: k, id },
          {
            detail:
              `the ${what} with key ${formatKey(k)} (id ${id}) exists but was not initialised ` +
              `within ${o.initTimeout} ms (sem_otime is still 0): its creator may have died during creation, or a ` +
              `program outside this protocol created it. Remove it, or open it without { create: true }`,
          },
        );
      }
      // The creator's window is two syscalls: spin briefly, then back off to 10 ms.
      if (pause > 0) sleepSync(pause);
      pause = Math.min(pause === 0 ? 1 : pause * 2, 10);
    }
  }
}
