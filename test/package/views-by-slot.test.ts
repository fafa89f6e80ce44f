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

/**
 * A Uint8Array as made passes through check.view/check.bytes untouched (no
 * allocation), so what it says of itself must not be asked again after the
 * check: an own `byteLength` property (Object.defineProperty on the
 * instance) may lie. Before, Topic and SharedMap sized their records by it
 * and then copied the real bytes: a view of 60 bytes claiming 8 overwrote
 * the next unread record in the ring (every subscriber then got
 * ERR_SYSV_IPC_TOPIC_CORRUPT), a value stored past its entry, and getInto
 * reported bytes it had not copied.
 */
describe('a Uint8Array whose own byteLength lies is measured by its slot', () => {
  const lying = (bytes: Uint8Array, claimed: number): Uint8Array =>
    Object.defineProperty(bytes, 'byteLength', { value: claimed });

  test('Topic: the record holds the real bytes; no unread record is overwritten', () => {
    const topic = track(Topic.create({ capacity: 256, maxMessageSize: 64 }));
    const sub = topic.subscribe();
    try {
      const published: Buffer[] = [];
      const publish = (data: Uint8Array) => {
        if (topic.tryPublish(data)) published.push(Buffer.from(data.buffer, data.byteOffset, data.length));
      };
      for (let i = 0; published.length === i && i < 100; i++) publish(Buffer.alloc(40, 0x61 + i));
      const received: Buffer[] = [sub.tryReceive()!, sub.tryReceive()!];
      publish(Buffer.alloc(40, 0x7a)); // wraps: the free room is now just before the oldest unread record
      publish(lying(new Uint8Array(60).fill(0x5a), 8));
      for (let m = sub.tryReceive(); m !== undefined; m = sub.tryReceive()) received.push(m);
      expect(received).toEqual(published);
      // The size limit too is the real length's.
      expect(() => topic.tryPublish(lying(new Uint8Array(65), 1))).toThrow(/maxMessageSize/);
    } finally {
      sub.close();
    }
  });

  test('Topic: receiveInto a target claiming more room than it has', () => {
    const topic = track(Topic.create({ capacity: 4096 }));
    const sub = topic.subscribe();
    try {
      topic.publishSync(Buffer.from([1, 2, 3, 4, 5, 6]));
      expect(() => sub.tryReceiveInto(lying(new Uint8Array(2), 100))).toThrow(/the target holds 2/);
      const target = new Uint8Array(6);
      expect(sub.tryReceiveInto(lying(target, 1))).toBe(6);
      expect(Buffer.from(target)).toEqual(Buffer.from([1, 2, 3, 4, 5, 6]));
    } finally {
      sub.close();
    }
  });

  test('SharedMap: keys and values are their real bytes; getInto counts what it copied', () => {
    const map = track(SharedMap.create({ capacity: 4096 }));
    map.set('a', 'xx');
    map.set('b', 'bee');
    const value = new Uint8Array(40).fill(0x43);
    map.set('a', lying(value, 2));
    expect(map.get('a')).toEqual(Buffer.from(value));
    expect(map.get('b')).toEqual(Buffer.from('bee'));
    const key = Buffer.from('a-longer-key');
    map.set(lying(new Uint8Array(key), 3), 'v');
    expect(map.get(key)).toEqual(Buffer.from('v'));
    expect(map.get('a-l')).toBeUndefined();
    expect(() => map.getInto('b', lying(new Uint8Array(1), 100))).toThrow(/the target holds 1/);
  });

  test('SharedMemory: write and readInto report the real length', () => {
    const shm = track(SharedMemory.create({ size: 64 }));
    expect(shm.write(lying(new Uint8Array(8).fill(7), 100), 0)).toBe(8);
    expect(() => shm.write(lying(new Uint8Array(80), 8), 0)).toThrow(/out of bounds|64/);
    expect(shm.readInto(lying(new Uint8Array(8), 100), 0)).toBe(8);
  });
});
