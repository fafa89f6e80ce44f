/**
 * What the Channel's JavaScript ring (lib/channel-ring.ts) copies and how it
 * reads positions: a send's bytes are exactly the `length` it was judged by,
 * whatever view carries them; no user code reaches the segment's
 * ArrayBuffer; positions stay right across a carry into their high 32-bit
 * half, also against a C peer. (From outside review R14.)
 */
import { Worker } from 'node:worker_threads';
import { Channel, SharedMemory } from '../../lib';
import { track, useCleanup } from '../support/helpers';

useCleanup();

const HEADER = 256;

describe('what the JavaScript ring copies', () => {
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

describe('positions across a carry into the high 32-bit half', () => {
  // writeLocked stores only tail's low half when no carry happens, the
  // 64-bit value when one does; positions() reads halves. Positions are set
  // just below k * 2^32 (the ring idle, before any peer): each record's
  // tail is checked as a 64-bit value, and the other path (native, 64-bit
  // loads) reads what the JavaScript path wrote, and back.
  const { spawnSync } = jest.requireActual<typeof import('node:child_process')>('node:child_process');
  const DIST = JSON.stringify(
    jest.requireActual<typeof import('node:path')>('node:path').join(__dirname, '..', '..', 'dist'),
  );
  const lengths = [0, 1, 7, 8, 9, 100, 300, 1000, 5, 999, 64, 33];
  const message = (i: number) => Buffer.alloc(lengths[i % lengths.length]!, (i * 7 + 1) & 255);

  function setPositions(id: number, at: bigint): void {
    const shm = SharedMemory.fromId(id);
    try {
      const big = new BigUint64Array(shm.arrayBuffer, 0, 32);
      big[8] = at; // tail (offset 64)
      big[16] = at; // head (offset 128)
    } finally {
      shm.close();
    }
  }
  function positions(id: number): [bigint, bigint] {
    const shm = SharedMemory.fromId(id);
    try {
      const big = new BigUint64Array(shm.arrayBuffer, 0, 32);
      return [big[16]!, big[8]!];
    } finally {
      shm.close();
    }
  }

  test.each([1n, 2n, 3n, 0xfffffn])('JS sends and receives across %s * 2^32, native reads it and writes back', (k) => {
    const cap = 4096;
    const ch = track(Channel.create({ capacity: cap, maxMessageSize: 1000 }));
    const start = k * 2n ** 32n - 3000n;
    setPositions(ch.id, start);
    let tail = start;
    for (let i = 0; i < 12; i++) {
      const m = message(i);
      const need = BigInt(8 + ((m.length + 7) & ~7));
      const index = tail % BigInt(cap);
      if (index + need > BigInt(cap)) tail += BigInt(cap) - index; // padding to the ring's end
      expect(ch.trySend(m)).toBe(true);
      tail += need;
      expect(positions(ch.id)[1]).toBe(tail);
      expect(ch.tryReceive()).toEqual(m);
    }
    // Native (64-bit loads and stores) in another process: receive what JS sends, send back.
    for (let i = 0; i < 6; i++) expect(ch.trySend(message(100 + i))).toBe(true);
    const script = `
      const { Channel } = require(${DIST});
      const ch = Channel.fromId(${ch.id});
      const out = [];
      for (let i = 0; i < 6; i++) out.push(ch.tryReceive()?.toString('hex') ?? 'none');
      let sent = 0;
      while (sent < 40 && ch.trySend(Buffer.alloc((sent * 37) % 1000, sent))) sent++;
      process.stdout.write(JSON.stringify({ out, sent }));`;
    const r = spawnSync(process.execPath, ['-e', script], {
      env: { ...process.env, SYSV_IPC_CHANNEL_JS: '0' },
      timeout: 20000,
      encoding: 'utf8',
    });
    expect(r.stderr).toBe('');
    const { out, sent } = JSON.parse(r.stdout) as { out: string[]; sent: number };
    expect(out).toEqual([0, 1, 2, 3, 4, 5].map((i) => message(100 + i).toString('hex')));
    expect(sent).toBeGreaterThan(5); // the ring full after a few hundred bytes over its 4 KiB
    for (let i = 0; i < sent; i++) expect(ch.tryReceive()).toEqual(Buffer.alloc((i * 37) % 1000, i));
    expect(ch.tryReceive()).toBeUndefined();
    const [h, t] = positions(ch.id);
    expect(h).toBe(t);
    expect(t > k * 2n ** 32n).toBe(true);
  });
});

describe('the four-load positions() against a C peer crossing a carry', () => {
  // positions() reads head's halves high then low and tail's low then high:
  // a carry between two loads makes tail - head 2^32 too large and the
  // three-load reads decide. Rounds of a C producer (64-bit stores) and a
  // C receiver (64-bit loads) crossing k * 2^32 while the JavaScript side
  // polls; the fallback is counted to show the torn reads happened.
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const { msgLength, fill, check } = require('../fixtures/peer-message') as {
    msgLength(p: number, s: number, max: number): number;
    fill(b: Buffer, p: number, s: number, len: number): void;
    check(b: Buffer, len: number): boolean;
  };
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const { ChannelRing } = require('../../lib/channel-ring') as { ChannelRing: { prototype: Record<string, unknown> } };
  const cp = jest.requireActual<typeof import('node:child_process')>('node:child_process');
  const fsm = jest.requireActual<typeof import('node:fs')>('node:fs');
  const osm = jest.requireActual<typeof import('node:os')>('node:os');
  const pathm = jest.requireActual<typeof import('node:path')>('node:path');
  let peer: string | undefined;
  beforeAll(() => {
    const dir = fsm.mkdtempSync(pathm.join(osm.tmpdir(), 'sysv-ipc-r14-'));
    peer = pathm.join(dir, 'channel-peer');
    cp.execFileSync('cc', [
      '-O2',
      '-std=c11',
      `-I${pathm.join(__dirname, '..', '..', 'include')}`,
      '-o',
      peer,
      pathm.join(__dirname, '..', 'c', 'channel-peer.c'),
    ]);
  });

  function setPositions(id: number, at: bigint): void {
    const shm = SharedMemory.fromId(id);
    try {
      const big = new BigUint64Array(shm.arrayBuffer, 0, 32);
      big[8] = at;
      big[16] = at;
    } finally {
      shm.close();
    }
  }

  test('C producer to a JS consumer and a JS producer to a C consumer, 2 x 60 rounds across a carry', async () => {
    const original = ChannelRing.prototype.positionsExact as (this: unknown) => boolean;
    let exact = 0;
    ChannelRing.prototype.positionsExact = function (this: unknown) {
      exact++;
      return original.call(this);
    };
    const ch = track(Channel.create({ capacity: 4096, maxMessageSize: 512 }));
    const into = Buffer.alloc(512);
    const out = Buffer.alloc(512);
    const COUNT = 300;
    try {
      for (let round = 0; round < 60; round++) {
        const k = BigInt(1 + (round % 5));
        // C sends, JS receives.
        setPositions(ch.id, k * 2n ** 32n - BigInt(8 * (1 + round * 17)));
        const sender = cp.spawn(peer!, ['send', ch.id, 7, COUNT, 200].map(String), { stdio: 'ignore' });
        const sent = new Promise<number | null>((resolve) => sender.on('exit', resolve));
        for (let seq = 0; seq < COUNT;) {
          const n = ch.tryReceiveInto(into);
          if (n < 0) continue;
          expect(check(into, n)).toBe(true);
          expect([into.readUInt32LE(0), into.readUInt32LE(4)]).toEqual([7, seq]);
          seq++;
        }
        expect(await sent).toBe(0);
        // JS sends, C receives.
        setPositions(ch.id, k * 2n ** 32n - BigInt(8 * (1 + round * 13)));
        const receiver = cp.spawn(peer!, ['recv', String(ch.id)], { stdio: ['ignore', 'pipe', 'ignore'] });
        const ids: Buffer[] = [];
        receiver.stdout.on('data', (d: Buffer) => ids.push(d));
        const received = new Promise<number | null>((resolve) => receiver.on('close', resolve));
        for (let seq = 0; seq < COUNT;) {
          const len = msgLength(9, seq, 200);
          fill(out, 9, seq, len);
          if (ch.trySendFrom(out, 0, len)) seq++;
          else await new Promise(setImmediate);
        }
        while (!ch.trySend('STOP')) await new Promise(setImmediate);
        expect(await received).toBe(0);
        const got = Buffer.concat(ids);
        expect(got.length).toBe(8 * COUNT);
        for (let seq = 0; seq < COUNT; seq++)
          expect([got.readUInt32LE(8 * seq), got.readUInt32LE(8 * seq + 4)]).toEqual([9, seq]);
      }
      // The hook counts: a pair out of order (head past tail) goes to the three-load reads.
      const before = exact;
      setPositions(ch.id, 2n ** 32n);
      const shm = SharedMemory.fromId(ch.id);
      new BigUint64Array(shm.arrayBuffer, 0, 32)[16] = 2n ** 32n + 8n;
      shm.close();
      expect(() => ch.tryReceive()).toThrow(expect.objectContaining({ code: 'ERR_SYSV_IPC_CHANNEL_CORRUPT' }));
      expect(exact).toBeGreaterThan(before);
    } finally {
      ChannelRing.prototype.positionsExact = original;
    }
    console.log(`positionsExact() calls (torn or full-ring reads): ${exact}`);
  }, 60000);
});
