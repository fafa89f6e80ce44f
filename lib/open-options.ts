/**
 * The prelude every static `open(key, options)` shares: the key, the options
 * object, `create` and `mode` checked the same way, and IPC_PRIVATE refused
 * with one wording (a private key names no existing object, so only
 * `create()` or `fromId(id)` can reach one).
 */
import { OutOfRangeError } from './errors';
import { IPC_PRIVATE } from './keys';
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
