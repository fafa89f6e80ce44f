// The byte views every entry point takes (native/arguments.cc ArgBytes): a
// TypedArray of any element size, at any offset into its buffer, or a
// DataView, reaches the native side as exactly its bytes.
import { SharedMemory } from '../../lib';
import { track, useCleanup } from '../support/helpers';

useCleanup();

const KINDS = [
  Int8Array,
  Uint8Array,
  Uint8ClampedArray,
  Int16Array,
  Uint16Array,
  Int32Array,
  Uint32Array,
  Float32Array,
  Float64Array,
  BigInt64Array,
  BigUint64Array,
];

test('every TypedArray kind and a DataView, at an offset: exactly their bytes go in and come out', () => {
  const shm = track(SharedMemory.create({ size: 4096 }));
  const backing = new Uint8Array(256).map((_, i) => (i * 7 + 3) & 0xff);
  for (const Kind of KINDS) {
    // Two elements in, three elements long: offset and length both in elements of this size.
    const view = new Kind(backing.slice().buffer, 2 * Kind.BYTES_PER_ELEMENT, 3);
    const bytes = Buffer.from(view.buffer, view.byteOffset, view.byteLength);
    shm.write(new Uint8Array(64)); // clear
    expect({ kind: Kind.name, written: shm.write(view, 8) }).toEqual({ kind: Kind.name, written: view.byteLength });
    expect({ kind: Kind.name, read: shm.read(8, 64) }).toEqual({
      kind: Kind.name,
      read: Buffer.concat([bytes, Buffer.alloc(64 - bytes.length)]),
    });
    const into = new Kind(new ArrayBuffer(8 * Kind.BYTES_PER_ELEMENT), Kind.BYTES_PER_ELEMENT, 3);
    expect(shm.readInto(into, 8)).toBe(into.byteLength);
    expect(Buffer.from(into.buffer, into.byteOffset, into.byteLength)).toEqual(bytes);
  }
  const dv = new DataView(backing.buffer, 5, 11);
  expect(shm.write(dv, 100)).toBe(11);
  expect(shm.read(100, 11)).toEqual(Buffer.from(backing.buffer, 5, 11));
});
