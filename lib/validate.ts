/**
 * Argument checks shared by every class. They run before anything reaches the
 * kernel and throw Node-style errors (`ERR_INVALID_ARG_TYPE`,
 * `ERR_OUT_OF_RANGE`) that name the argument. The native layer checks again.
 */
import { Buffer } from 'node:buffer';
import { InvalidArgTypeError, OutOfRangeError } from './errors';

function describe(value: unknown): string {
  if (value === null) return 'null';
  if (value === undefined) return 'undefined';
  if (typeof value === 'function') return `function ${(value as { name?: string }).name || '(anonymous)'}`;
  if (typeof value === 'object') {
    const ctor = (value as object).constructor;
    return ctor?.name ? `an instance of ${ctor.name}` : 'an object';
  }
  if (typeof value === 'string')
    return `type string (${JSON.stringify(value.length > 28 ? `${value.slice(0, 25)}...` : value)})`;
  return `type ${typeof value} (${String(value)})`;
}

/** Throws ERR_INVALID_ARG_TYPE in Node's wording. */
export function invalidType(name: string, expected: string, value: unknown): never {
  throw new InvalidArgTypeError(`The "${name}" argument must be ${expected}. Received ${describe(value)}`);
}

/** Throws ERR_OUT_OF_RANGE in Node's wording. */
export function outOfRange(name: string, range: string, value: unknown): never {
  throw new OutOfRangeError(`The value of "${name}" is out of range. It must be ${range}. Received ${String(value)}`);
}

/** An integer in [min, max]. */
export function integer(name: string, value: unknown, min: number, max: number): number {
  if (typeof value !== 'number') invalidType(name, 'of type number', value);
  if (!Number.isInteger(value)) outOfRange(name, 'an integer', value);
  if (value < min || value > max) outOfRange(name, `>= ${min} and <= ${max}`, value);
  return value;
}

/** An optional integer in [min, max]; `undefined` gives `fallback`. */
export function optionalInteger(name: string, value: unknown, min: number, max: number, fallback: number): number {
  return value === undefined ? fallback : integer(name, value, min, max);
}

/** An optional boolean; `undefined` gives `fallback`. */
export function optionalBoolean(name: string, value: unknown, fallback: boolean): boolean {
  if (value === undefined) return fallback;
  if (typeof value !== 'boolean') invalidType(name, 'of type boolean', value);
  return value;
}

/** An options object (or undefined → {}). */
export function options<T extends object>(name: string, value: T | undefined): Partial<T> {
  if (value === undefined) return {};
  if (value === null || typeof value !== 'object' || Array.isArray(value)) invalidType(name, 'of type object', value);
  return value;
}

/** A key_t: IPC_PRIVATE (0) or any 32-bit value, signed or unsigned (C programs print both). */
export function key(name: string, value: unknown): number {
  if (typeof value !== 'number') invalidType(name, 'of type number', value);
  if (!Number.isInteger(value) || value < -0x80000000 || value > 0xffffffff) {
    outOfRange(name, 'an integer >= -2147483648 and <= 4294967295 (a key_t)', value);
  }
  return value | 0; // the kernel's key_t is a signed 32-bit int
}

/** A permission mode such as 0o600. */
export function mode(name: string, value: unknown, fallback: number): number {
  return optionalInteger(name, value, 0, 0o777, fallback);
}

/** An IPC identifier as returned by msgget/semget/shmget. */
export function ipcId(name: string, value: unknown): number {
  return integer(name, value, 0, 0x7fffffff);
}

/** A uid or gid. */
export function ownerId(name: string, value: unknown): number {
  return integer(name, value, 0, 0xfffffffe);
}

/**
 * A timeout in milliseconds: `undefined` → -1 (wait forever); otherwise a
 * finite number >= 0 (fractions allowed). Node's timers clamp; we refuse NaN
 * and negatives because a silent "wait forever" is worse than an error.
 */
export function timeout(name: string, value: unknown): number {
  if (value === undefined) return -1;
  if (typeof value !== 'number') invalidType(name, 'of type number', value);
  if (Number.isNaN(value) || value < 0) outOfRange(name, 'a number >= 0', value);
  return value === Infinity ? -1 : value;
}

/** An AbortSignal or undefined. */
export function signal(name: string, value: unknown): AbortSignal | undefined {
  if (value === undefined) return undefined;
  if (!(value instanceof AbortSignal)) invalidType(name, 'an instance of AbortSignal', value);
  return value;
}

// What a view is, read from its internal slots through the getters of
// %TypedArray%.prototype and DataView.prototype, taken at load (as the addon's
// napi_get_typedarray_info reads them): a view whose prototype was replaced
// has no `buffer` or `byteLength` property to read (Object.prototype) or
// ones that lie, and `instanceof Uint8Array` holds for a Float32Array dressed
// with Uint8Array.prototype, whose elements Uint8Array.prototype.set would
// convert rather than copy.
type Getter<T> = (this: unknown) => T;
function getter<T>(proto: object, name: string | symbol): Getter<T> {
  return Object.getOwnPropertyDescriptor(proto, name)!.get as Getter<T>;
}
const TYPED_ARRAY = Object.getPrototypeOf(Uint8Array.prototype) as object;
const typedArrayKind = getter<string | undefined>(TYPED_ARRAY, Symbol.toStringTag);
const typedArrayBuffer = getter<ArrayBufferLike>(TYPED_ARRAY, 'buffer');
const typedArrayOffset = getter<number>(TYPED_ARRAY, 'byteOffset');
const typedArrayLength = getter<number>(TYPED_ARRAY, 'byteLength');
const dataViewBuffer = getter<ArrayBufferLike>(DataView.prototype, 'buffer');
const dataViewOffset = getter<number>(DataView.prototype, 'byteOffset');
const dataViewLength = getter<number>(DataView.prototype, 'byteLength');
const U8 = Uint8Array;
const U8_PROTOTYPE = Uint8Array.prototype;
const BUFFER_PROTOTYPE = Buffer.prototype;

/**
 * A Uint8Array over all of `value`'s bytes (no copy), or undefined when it is
 * no ArrayBufferView. A Uint8Array or Buffer as made is returned as it is;
 * any other view gets a Uint8Array over the memory its internal slots name.
 */
export function viewBytes(value: unknown): Uint8Array | undefined {
  if (typeof value !== 'object' || value === null) return undefined;
  const kind = typedArrayKind.call(value);
  if (kind !== undefined) {
    if (kind === 'Uint8Array') {
      const proto = Object.getPrototypeOf(value) as unknown;
      if (proto === BUFFER_PROTOTYPE || proto === U8_PROTOTYPE) return value as Uint8Array;
    }
    return new U8(typedArrayBuffer.call(value), typedArrayOffset.call(value), typedArrayLength.call(value));
  }
  if (!ArrayBuffer.isView(value)) return undefined;
  // A DataView (the only other view).
  return new U8(dataViewBuffer.call(value), dataViewOffset.call(value), dataViewLength.call(value));
}

/**
 * `length` bytes of `bytes` (a {@link viewBytes} result) from `offset`: the
 * view itself when that is all of it, else a view of the same memory, found
 * from the internal slots (an own `buffer` or `byteOffset` property of the
 * instance cannot move it).
 */
export function rangeOf(bytes: Uint8Array, offset: number, length: number): Uint8Array {
  if (offset === 0 && length === typedArrayLength.call(bytes)) return bytes;
  return new U8(typedArrayBuffer.call(bytes), typedArrayOffset.call(bytes) + offset, length);
}

/**
 * The length of `bytes` (a {@link viewBytes} result) by its internal slot. A
 * Uint8Array as made is passed through untouched, own properties included:
 * its `byteLength` property may be an own one that lies (Object.defineProperty
 * on the instance), while copies into it or from it (set, copy, the addon)
 * go by the slot. Whatever sizes a record, a check or a result reads this.
 */
export function byteLengthOf(bytes: Uint8Array): number {
  return typedArrayLength.call(bytes);
}

const copyBytes = Uint8Array.prototype.set;
const hasOwn = Object.prototype.hasOwnProperty;

/**
 * Copies `length` bytes of `source` (the package's own Buffer) from `offset`
 * to the start of `target` (a caller's {@link viewBytes} result, known to
 * hold them by its slot). Buffer#copy, the allocation-free way, reads the
 * target's `byteLength` property on Node 22 and later, and an own one may
 * lie (it copied 1 byte of 6 into a target claiming 1): a target with own
 * length properties is copied into through its slots instead.
 */
export function copyOut(source: Buffer, offset: number, length: number, target: Uint8Array): void {
  if (!hasOwn.call(target, 'byteLength') && !hasOwn.call(target, 'length')) {
    source.copy(target, 0, offset, offset + length);
  } else {
    copyBytes.call(target, rangeOf(source, offset, length));
  }
}

/** {@link viewBytes}, or ERR_INVALID_ARG_TYPE naming `name` when `value` is no ArrayBufferView. */
export function view(name: string, value: unknown): Uint8Array {
  return viewBytes(value) ?? invalidType(name, 'an instance of Buffer, TypedArray or DataView', value);
}

/** Bytes to send or write: a string (UTF-8) or any ArrayBufferView, as a Uint8Array view (no copy for views). */
export function bytes(name: string, value: unknown): Uint8Array {
  if (typeof value === 'string') return Buffer.from(value, 'utf8');
  return (
    viewBytes(value) ?? invalidType(name, 'of type string or an instance of Buffer, TypedArray or DataView', value)
  );
}
