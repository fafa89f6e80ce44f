/**
 * The prelude every static `open(key, options)` shares: the key, the options
 * object, `create` and `mode` checked the same way, and IPC_PRIVATE refused
 * with one wording (a private key names no existing object, so only
 * `create()` or `fromId(id)` can reach one).
 */
import { constants as osConstants } from 'node:os';
import { formatKey, naming, OutOfRangeError, syscallError } from './errors';
import { IPC_PRIVATE, type Key } from './keys';
import * as check from './validate';

/** What {@link parseOpen} read from `open(key, options)`. */
export interface ParsedOpen<O> {
  key: number;
  /** The options object (`{}` when left out), for the class's own fields. */
  options: Partial<O>;
  create: boolean;
  mode: number;
}

/** How `open()` of one class treats IPC_PRIVATE. */
export interface OpenTarget {
  /** The class, as the refusal names it ('MessageQueue'). */
  className: string;
  /** The object, as the refusal names it ('queue'). */
  what: string;
  /**
   * Whether `{ create: true }` with IPC_PRIVATE is allowed (it then makes a
   * new private object). The semaphore family refuses it: its open-or-create
   * handshake needs a key other processes can race on.
   */
  privateCreates: boolean;
}

/** Checks key, options, `create` and `mode` (default 0o600) and refuses IPC_PRIVATE where it names nothing. */
export function parseOpen<O extends { create?: boolean; mode?: number }>(
  key: unknown,
  options: O | undefined,
  target: OpenTarget,
): ParsedOpen<O> {
  const k = check.key('key', key);
  const o = check.options('options', options);
  const create = check.optionalBoolean('options.create', o.create, false);
  const mode = check.mode('options.mode', o.mode, 0o600);
  if (k === IPC_PRIVATE && !(create && target.privateCreates)) {
    throw new OutOfRangeError(
      `IPC_PRIVATE names no existing ${target.what}: use ${target.className}.create() or fromId(id)`,
    );
  }
  return { key: k, options: o, create, mode };
}

/**
 * `options.initTimeout` of an open-or-create: milliseconds to wait for a
 * racing creator (default 5000); "forever" becomes 2^31 ms, a deadline
 * Date.now() can still add.
 */
export function parseInitTimeout(value: unknown): number {
  const t = check.timeout('options.initTimeout', value ?? 5000);
  return t < 0 ? 2 ** 31 : t;
}

/** How {@link getByKey} reaches one kind of object. */
export interface KeyedGet {
  /** The get call: 'semget' or 'shmget'. */
  syscall: string;
  /** The get call with this size (0: any). */
  get(size: number): number;
  /** The existing object's size (IPC_STAT). */
  sizeOf(id: number): number;
  /** The size as the message says it: `${id} bytes`, `${id} members`. */
  unit: string;
  /** The object as the message names it: 'segment', 'semaphore set'. */
  what: string;
}

/**
 * The get call of `open(key)` (semget, shmget), its failures naming the key.
 * Asked for more than the existing object has, the kernel says only EINVAL
 * (semget(2), shmget(2)): then look the object up by its key (size 0 never
 * is too large) and say both sizes, with its id.
 */
export function getByKey(key: Key, size: number, kind: KeyedGet): number {
  try {
    return kind.get(size);
  } catch (err) {
    const code = (err as { errno?: unknown }).errno;
    if (code !== osConstants.errno.EINVAL || size === 0) throw naming(err, { key });
    let id: number;
    let actual: number;
    try {
      id = kind.get(0);
      actual = kind.sizeOf(id);
    } catch {
      throw naming(err, { key }); // gone meanwhile, or not ours to read: no sizes to give
    }
    if (actual >= size) throw naming(err, { key, id }); // another cause
    throw syscallError(
      code,
      kind.syscall,
      { key, id },
      {
        detail: `the ${kind.what} with key ${formatKey(key)} (id ${id}) has ${actual} ${kind.unit}, asked for ${size}`,
      },
    );
  }
}
