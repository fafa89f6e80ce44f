/**
 * Every call that takes bytes or a target (a Buffer, any TypedArray, a
 * DataView) reads what the view is from its internal slots, as the addon's
 * napi_get_typedarray_info does: a view whose prototype was replaced (here by
 * Object.prototype, where `buffer`, `byteOffset` and `byteLength` are
 * undefined) carries the same bytes as the view as made. Before, such a view
 * passed ArrayBuffer.isView and became `new Uint8Array(undefined)`: an empty
 * message, sent without an error (R14's remark).
 */
import { Channel, MessageQueue, SharedMap, SharedMemory, Topic } from '../../lib';
import { track, useCleanup } from '../support/helpers';

useCleanup();

/** Three kinds of view over the bytes 1..8 (a Uint8Array, a Float32Array, a DataView), each with its prototype taken away. */
function bare(): { name: string; view: ArrayBufferView; bytes: Buffer }[] {
  const make = (name: string, view: ArrayBufferView) => {
    const bytes = Buffer.from(new Uint8Array(view.buffer, view.byteOffset, view.byteLength));
    Object.setPrototypeOf(view, Object.prototype);
    return { name, view, bytes };
  };
  const eight = () => {
    const b = new ArrayBuffer(16);
    new Uint8Array(b).set([9, 9, 1, 2, 3, 4, 5, 6, 7, 8, 9, 9]);
    return b;
  };
  return [
    make('Uint8Array', new Uint8Array(eight(), 2, 8)),
    make('Float32Array', new Float32Array(eight().slice(2, 10))),
    make('DataView', new DataView(eight(), 2, 8)),
  ];
}

/** A view's bytes, by its slots (its prototype may be gone). */
function bytesOf(view: ArrayBufferView): Buffer {
  const isTyped =
    Object.getOwnPropertyDescriptor(Object.getPrototypeOf(Uint8Array.prototype), Symbol.toStringTag)!.get!.call(
      view,
    ) !== undefined;
  const proto = isTyped ? (Object.getPrototypeOf(Uint8Array.prototype) as object) : DataView.prototype;
  const get = (name: string) => Object.getOwnPropertyDescriptor(proto, name)!.get!.call(view) as unknown;
  return Buffer.from(get('buffer') as ArrayBuffer, get('byteOffset') as number, get('byteLength') as number);
}

describe('a view whose prototype was replaced carries its bytes', () => {
  test('MessageQueue: trySend, sendSync, send', async () => {
    const q = track(MessageQueue.create());
    for (const { name, view, bytes } of bare()) {
      expect(q.trySend(view)).toBe(true);
      q.sendSync(view);
      await q.send(view);
      for (let i = 0; i < 3; i++) expect({ name, body: q.tryReceive()?.data }).toEqual({ name, body: bytes });
    }
  });

  test('SharedMemory: write, readInto', () => {
    const shm = track(SharedMemory.create({ size: 64 }));
    for (const { name, view, bytes } of bare()) {
      expect(shm.write(view, 8)).toBe(8);
      expect({ name, bytes: shm.read(8, 8) }).toEqual({ name, bytes });
      shm.write(Buffer.alloc(8), 8);
      shm.write(bytes, 16);
      expect(shm.readInto(view, 8)).toBe(8);
      expect(bytesOf(view)).toEqual(Buffer.alloc(8));
      expect(shm.readInto(view, 16)).toBe(8);
      expect({ name, target: bytesOf(view) }).toEqual({ name, target: bytes });
    }
  });

  test('Channel: every send form, every receive-into form', async () => {
    const ch = track(Channel.create({ capacity: 4096 }));
    for (const { name, view, bytes } of bare()) {
      expect(ch.trySend(view)).toBe(true);
      ch.sendSync(view);
      await ch.send(view);
      expect(ch.trySendFrom(view, 0, 8)).toBe(true);
      ch.sendFromSync(view);
      await ch.sendFrom(view, 2, 4);
      for (let i = 0; i < 5; i++) expect({ name, i, got: ch.tryReceive() }).toEqual({ name, i, got: bytes });
      expect({ name, got: ch.tryReceive() }).toEqual({ name, got: bytes.subarray(2, 6) });
      const target = bare().find((t) => t.name === name)!.view;
      for (const receive of [
        () => ch.tryReceiveInto(target),
        () => ch.receiveIntoSync(target),
        async () => ch.receiveInto(target),
      ]) {
        expect(ch.trySend(Buffer.from([8, 7, 6, 5, 4, 3, 2, 1]))).toBe(true);
        expect(await receive()).toBe(8);
        expect({ name, target: bytesOf(target) }).toEqual({ name, target: Buffer.from([8, 7, 6, 5, 4, 3, 2, 1]) });
      }
    }
  });

  test('Topic: every publish form, every receive-into form', async () => {
    const topic = track(Topic.create({ capacity: 4096 }));
    const sub = topic.subscribe();
    try {
      for (const { name, view, bytes } of bare()) {
        expect(topic.tryPublish(view)).toBe(true);
        topic.publishSync(view);
        await topic.publish(view);
        for (let i = 0; i < 3; i++) expect({ name, i, got: sub.tryReceive() }).toEqual({ name, i, got: bytes });
        const target = bare().find((t) => t.name === name)!.view;
        for (const receive of [
          () => sub.tryReceiveInto(target),
          () => sub.receiveIntoSync(target),
          async () => sub.receiveInto(target),
        ]) {
          topic.publishSync(Buffer.from([8, 7, 6, 5, 4, 3, 2, 1]));
          expect(await receive()).toBe(8);
          expect({ name, target: bytesOf(target) }).toEqual({ name, target: Buffer.from([8, 7, 6, 5, 4, 3, 2, 1]) });
        }
      }
    } finally {
      sub.close();
    }
  });

  test('SharedMap: keys and values', () => {
    const map = track(SharedMap.create({ capacity: 4096 }));
    for (const { name, view, bytes } of bare()) {
      map.set(view, view);
      expect({ name, value: map.get(bytes) }).toEqual({ name, value: bytes });
      expect({ name, value: map.get(view) }).toEqual({ name, value: bytes });
      expect(map.has(view)).toBe(true);
      const target = bare().find((t) => t.name === name)!.view;
      map.set(bytes, Buffer.from([8, 7, 6, 5, 4, 3, 2, 1]));
      expect(map.getInto(view, target)).toBe(8);
      expect({ name, target: bytesOf(target) }).toEqual({ name, target: Buffer.from([8, 7, 6, 5, 4, 3, 2, 1]) });
      expect(map.delete(view)).toBe(true);
      expect(map.has(bytes)).toBe(false);
    }
  });
});
