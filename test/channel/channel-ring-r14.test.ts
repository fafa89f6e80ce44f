/**
 * Outside review R14 of the Channel's JavaScript ring (lib/channel-ring.ts):
 * a send's bytes are exactly the `length` it was judged by, whatever view
 * carries them, and no user code reaches the segment's ArrayBuffer.
 */
import { Worker } from 'node:worker_threads';
import { Channel, SharedMemory } from '../../lib';
import { track, useCleanup } from '../support/helpers';

useCleanup();

const HEADER = 256;

describe('R14: what the JavaScript ring copies', () => {
  test('a length-tracking view over a SharedArrayBuffer a worker grows: no byte lands beyond its record', async () => {
    // The view is `length` bytes when send() reads it, longer by the copy:
    // `u8.set(source)` copied its length then, over the free space after the
    // record (and, in a full ring, over the oldest queued record).
    const MAX = 64 << 20;
    // Growable SharedArrayBuffers: Node 20 has them, this TypeScript lib does not.
    const Growable = SharedArrayBuffer as unknown as new (
      n: number,
      o: { maxByteLength: number },
    ) => SharedArrayBuffer & { grow(n: number): void };
    const g = new Growable(8, { maxByteLength: MAX });
    const stop = new Int32Array(new SharedArrayBuffer(4));
    const worker = new Worker(
      `const { workerData: [g, stop] } = require('node:worker_threads');
       while (Atomics.load(stop, 0) === 0 && g.byteLength < g.maxByteLength - 65536) g.grow(g.byteLength + 1);`,
      { eval: true, workerData: [g, stop] },
    );
    const ch = track(Channel.create({ capacity: 4096, maxMessageSize: 1000 }));
    const raw = SharedMemory.fromId(ch.id);
    let sent = 0;
    let over = 0;
    const thrown: string[] = [];
    try {
      const seg = new Uint8Array(raw.arrayBuffer);
      const header = new DataView(raw.arrayBuffer);
      const end = Date.now() + 1500;
      while (Date.now() < end && g.byteLength < MAX - 65536) {
        const tail = Number(header.getBigUint64(64, true)) % 4096;
        // One producer and one consumer, both here: the space after tail is free; mark it.
        seg.fill(0xee, HEADER + tail, HEADER + Math.min(4096, tail + 1100)); // beyond any record (maxMessageSize 1000)
        const view = new Uint8Array(g, g.byteLength - 8); // 8 bytes now, more as the worker grows g
        let ok: boolean;
        try {
          ok = ch.trySend(view);
        } catch (err) {
          if ((err as { code?: string }).code === 'ERR_OUT_OF_RANGE') continue; // grown beyond maxMessageSize first
          thrown.push(String(err)); // the copy ran past the segment's end: RangeError under the send lock
          ch.tryReceive();
          continue;
        }
        if (!ok) {
          ch.tryReceive();
          continue;
        }
        sent++;
        const length = seg[HEADER + tail]! | (seg[HEADER + tail + 1]! << 8);
        const next = tail + 8 + ((length + 7) & ~7);
        if (next + 8 <= 4096 && seg[HEADER + next] !== 0xee) over++;
        ch.tryReceive();
      }
    } finally {
      Atomics.store(stop, 0, 1);
      await worker.terminate();
      raw.close();
    }
    expect(sent).toBeGreaterThan(1000);
    expect(over).toBe(0);
    expect(thrown).toEqual([]);
  });

  test('a Float32Array dressed as a Uint8Array (setPrototypeOf): its bytes are sent as they are, as natively', () => {
    // It passes `instanceof Uint8Array`; Uint8Array.prototype.set converted
    // its 2 elements to 2 bytes and left 6 stale ring bytes in the 8-byte record.
    const ch = track(Channel.create({ capacity: 4096, maxMessageSize: 1000 }));
    expect(ch.trySend(Buffer.alloc(64, 0xaa))).toBe(true);
    ch.tryReceive();
    for (let i = 0; i < 4; i++) {
      const f = new Float32Array([1.5, 300.25]);
      const bytes = Buffer.from(new Uint8Array(f.buffer).slice());
      Object.setPrototypeOf(f, Uint8Array.prototype);
      const send = [
        () => ch.trySend(f),
        () => ch.sendSync(f, { timeout: 0 }),
        () => ch.trySendFrom(f as unknown as Uint8Array),
        () => ch.sendFromSync(f as unknown as Uint8Array, 0, 8, { timeout: 0 }),
      ][i]!;
      send();
      expect(ch.tryReceive()).toEqual(bytes);
    }
  });

  test('a Float32Array dressed as a Uint8Array as a receive target: the raw bytes land in it, as natively', () => {
    const ch = track(Channel.create({ capacity: 4096, maxMessageSize: 1000 }));
    const message = Buffer.from([0, 0, 0xc0, 0x3f, 0, 0x20, 0x96, 0x43]);
    expect(ch.trySend(message)).toBe(true);
    const f = new Float32Array(2);
    Object.setPrototypeOf(f, Uint8Array.prototype);
    expect(ch.tryReceiveInto(f)).toBe(8);
    Object.setPrototypeOf(f, Float32Array.prototype);
    expect(Buffer.from(f.buffer)).toEqual(message);
  });

  test("no user code is handed the segment's ArrayBuffer (global constructors or species replaced)", () => {
    const seen: ArrayBuffer[] = [];
    const ctors = ['Uint8Array', 'Uint32Array', 'Int32Array', 'BigUint64Array'] as const;
    const g = globalThis as unknown as Record<string, unknown>;
    const saved = ctors.map((name) => g[name]);
    const savedCtor = Object.getOwnPropertyDescriptor(Uint8Array.prototype, 'constructor')!;
    const big = (b: unknown) => b instanceof ArrayBuffer && b.byteLength >= 4096 + HEADER;
    let ch: Channel | undefined;
    try {
      for (const [i, name] of ctors.entries()) {
        const Real = saved[i] as new (...args: unknown[]) => unknown;
        g[name] = new Proxy(Real, {
          construct(target, args, newTarget) {
            if (big(args[0])) seen.push(args[0] as ArrayBuffer);
            return Reflect.construct(target, args, newTarget === g[name] ? target : newTarget);
          },
        });
      }
      // subarray() and slice() make their view through the species constructor.
      const species = function (this: unknown, ...args: unknown[]) {
        if (big(args[0])) seen.push(args[0] as ArrayBuffer);
        return new (saved[0] as new (...a: unknown[]) => Uint8Array)(...args);
      };
      Object.defineProperty(Uint8Array.prototype, 'constructor', {
        value: { [Symbol.species]: species },
        configurable: true,
        writable: true,
      });
      ch = track(Channel.create({ capacity: 4096, maxMessageSize: 1000 }));
      expect(ch.trySend(Buffer.from('abc'))).toBe(true);
      expect(ch.tryReceive()).toEqual(Buffer.from('abc'));
      expect(ch.trySend(Buffer.from('defg'))).toBe(true);
      const into = Buffer.alloc(16);
      expect(ch.tryReceiveInto(into)).toBe(4);
      expect(ch.trySend(Buffer.from('hi'))).toBe(true);
      expect(ch.receiveSync({ timeout: 0 })).toEqual(Buffer.from('hi'));
    } finally {
      ctors.forEach((name, i) => (g[name] = saved[i]));
      Object.defineProperty(Uint8Array.prototype, 'constructor', savedCtor);
    }
    expect(seen).toHaveLength(0);
  });
});
