/**
 * The Channel's JavaScript hot path (lib/channel-ring.ts), from its cold
 * review (issue 25): what a reader of the ring against channel.h found, each
 * checked against the native path (SYSV_IPC_CHANNEL_JS=0), which the JS path
 * must match.
 */
import { spawnSync } from 'node:child_process';
import * as path from 'node:path';
import { Channel, SharedMemory, SysvIpcError } from '../../lib';
import { track, useCleanup } from '../support/helpers';

const DIST = JSON.stringify(path.join(__dirname, '..', '..', 'dist'));

useCleanup();

describe('the JavaScript ring against hostile arguments and large segments', () => {
  test('a source whose own byteLength getter lies: its real length decides, no byte lands outside its record', () => {
    // A wrapped ring (head index above tail index), so that the free space
    // after tail runs into queued records: a copy longer than the record
    // written there would overwrite them.
    const ch = track(Channel.create({ capacity: 4096, maxMessageSize: 1000 }));
    const fill = (n: number, v: number) => Buffer.alloc(n, v);
    for (const v of [1, 2, 3, 4]) expect(ch.trySend(fill(1000, v))).toBe(true); // 4 x 1008 bytes: tail 4032
    expect(ch.tryReceive()).toEqual(fill(1000, 1));
    expect(ch.tryReceive()).toEqual(fill(1000, 2)); // head 2016
    expect(ch.trySend(fill(8, 5))).toBe(true); // 16 bytes at 4032
    expect(ch.trySend(fill(100, 6))).toBe(true); // padding to the end, the record at 0: tail index 112
    // Understated: 3000 real bytes, beyond maxMessageSize: refused, nothing written.
    const liar = new Uint8Array(3000).fill(9);
    Object.defineProperty(liar, 'byteLength', { get: () => 10 });
    expect(() => ch.trySend(liar)).toThrow(expect.objectContaining({ code: 'ERR_OUT_OF_RANGE' }));
    expect(() => ch.sendSync(liar, { timeout: 0 })).toThrow(expect.objectContaining({ code: 'ERR_OUT_OF_RANGE' }));
    // Understated within the limit: its 500 real bytes are sent, in one record.
    const small = new Uint8Array(500).fill(8);
    Object.defineProperty(small, 'byteLength', { get: () => 10 });
    expect(ch.trySend(small)).toBe(true);
    // Overstated: its 20 real bytes are sent.
    const over = new Uint8Array(20).fill(7);
    Object.defineProperty(over, 'byteLength', { get: () => 900 });
    expect(ch.trySend(over)).toBe(true);
    expect(ch.tryReceive()).toEqual(fill(1000, 3)); // the queued records are whole
    expect(ch.tryReceive()).toEqual(fill(1000, 4));
    expect(ch.tryReceive()).toEqual(fill(8, 5));
    expect(ch.tryReceive()).toEqual(fill(100, 6));
    expect(ch.tryReceive()).toEqual(fill(500, 8));
    expect(ch.tryReceive()).toEqual(fill(20, 7));
    expect(ch.tryReceive()).toBeUndefined();
  });

  test('a target whose own byteLength and set lie: the real length decides (EMSGSIZE), no user code runs', () => {
    const ch = track(Channel.create({ capacity: 4096, maxMessageSize: 1000 }));
    ch.trySend(Buffer.alloc(100, 7));
    const small = new Uint8Array(10);
    let called = 0;
    Object.defineProperty(small, 'byteLength', { get: () => 1000 });
    Object.defineProperty(small, 'set', {
      value: () => {
        called++;
      },
    });
    // Native: EMSGSIZE from the view's real length, nothing consumed.
    expect(() => ch.tryReceiveInto(small)).toThrow(expect.objectContaining({ code: 'EMSGSIZE' }));
    expect(called).toBe(0);
    const big = new Uint8Array(200);
    Object.defineProperty(big, 'set', {
      value: () => {
        called++;
      },
    });
    expect(ch.tryReceiveInto(big)).toBe(100);
    expect(called).toBe(0);
    expect(Buffer.from(big.subarray(0, 100))).toEqual(Buffer.alloc(100, 7));
  });

  test('a channel whose segment is beyond 4 GiB (beyond what a view may span here): created, used, removed', () => {
    // Segment pages are only allocated when touched: a few pages here.
    let ch: Channel;
    try {
      ch = track(Channel.create({ capacity: 2 ** 32 + 4096, maxMessageSize: 4096 }));
    } catch (err) {
      // A kernel that does not allow a segment this large: nothing to check here.
      if (err instanceof SysvIpcError && ['EINVAL', 'ENOMEM', 'ENOSPC'].includes(err.code)) return;
      throw err;
    }
    expect(ch.trySend('big ring')).toBe(true);
    ch.sendSync('second');
    expect(ch.tryReceive()!.toString()).toBe('big ring');
    expect(ch.receiveSync({ timeout: 5000 }).toString()).toBe('second');
    expect(ch.info()).toMatchObject({ messages: 0, usedBytes: 0 });
  });

  test('the spin ends with a clock that stands still (fake timers replace performance.now)', () => {
    // jest's and sinon's fake timers replace performance.now; the JS spin
    // timed itself by it alone and, with the producer's CPU hint naming
    // another CPU, spun on an empty ring for ever (the native timeout never came).
    const ch = track(Channel.create({ capacity: 4096 }));
    const shm = SharedMemory.fromId(ch.id);
    try {
      new Uint32Array(shm.arrayBuffer, 0, 64)[96 / 4] = 100000; // 1 + a CPU that is not this one
    } finally {
      shm.detach();
    }
    const script = `
      const { Channel } = require(${DIST});
      const ch = Channel.fromId(${ch.id});
      performance.now = () => 0;
      for (const f of [() => ch.receiveSync({ timeout: 100 }), () => ch.receiveIntoSync(Buffer.alloc(8), { timeout: 100 })]) {
        try { f(); } catch (e) { process.stdout.write(e.code + ' '); }
      }`;
    const r = spawnSync(process.execPath, ['-e', script], { timeout: 20000, encoding: 'utf8' });
    expect({ signal: r.signal, stdout: r.stdout, stderr: r.stderr }).toEqual({
      signal: null,
      stdout: 'ETIMEDOUT ETIMEDOUT ',
      stderr: '',
    });
  }, 40000);
});

// The try forms in order, each result as text (a length, a hash prefix, or the error's code).
const TRY_OPS = `
  const crypto = require('node:crypto');
  const sum = (m) => m.length + ':' + crypto.createHash('sha1').update(m).digest('hex').slice(0, 8);
  function tryOps(ch) {
    const into = Buffer.alloc(300);
    const steps = [
      () => { const n = ch.tryReceiveInto(into); return n < 0 ? n : sum(into.subarray(0, n)); },
      () => { const m = ch.tryReceive(); return m === undefined ? 'none' : sum(m); },
      () => ch.trySend(Buffer.alloc(100, 7)),
      () => { const m = ch.tryReceive(); return m === undefined ? 'none' : sum(m); },
      () => ch.trySend(Buffer.alloc(250, 8)),
      () => ch.tryReceiveInto(Buffer.alloc(10)),
      () => { const m = ch.tryReceive(); return m === undefined ? 'none' : sum(m); },
    ];
    return steps.map((f) => { try { return String(f()); } catch (e) { return 'E:' + (e.code || e.name); } }).join(' ');
  }`;

describe('the JavaScript and the native try forms on scribbled channels', () => {
  test('byte-identical channels, scribbled: every try gives the same result on both paths', () => {
    // channel-layout.md, "Hostile memory": each value read from the segment
    // is checked, and a failed check is the native path's code. Two channels
    // get the same bytes (real traffic, then a few scribbled words: positions
    // and their high halves, the record's length and tag, the send lock's
    // word); this process runs the try forms in JavaScript on one, a child
    // with SYSV_IPC_CHANNEL_JS=0 natively on the other.
    const trials = 300;
    let seed = 20261207;
    const rnd = () => {
      seed = (seed * 1103515245 + 12345) % 2147483648;
      return seed / 2147483648;
    };
    const pick = <T>(a: T[]): T => a[Math.floor(rnd() * a.length)]!;
    const js: Channel[] = [];
    const native: Channel[] = [];
    for (let trial = 0; trial < trials; trial++) {
      const a = track(Channel.create({ capacity: 1024, maxMessageSize: 256 }));
      const b = track(Channel.create({ capacity: 1024, maxMessageSize: 256 }));
      for (let i = Math.floor(rnd() * 6); i > 0; i--) a.trySend(Buffer.alloc(Math.floor(rnd() * 250), i));
      for (let i = Math.floor(rnd() * 3); i > 0; i--) a.tryReceive();
      const sa = SharedMemory.fromId(a.id);
      const sb = SharedMemory.fromId(b.id);
      try {
        const u = new Uint32Array(sa.arrayBuffer, 0, (256 + 1024) / 4);
        const head = u[32]!;
        const tail = u[16]!;
        const rec = 64 + ((head % 1024) >>> 2);
        for (let k = 1 + Math.floor(rnd() * 3); k > 0; k--) {
          switch (pick(['tailLo', 'tailHi', 'headLo', 'headHi', 'len', 'tag', 'lock', 'next'])) {
            case 'tailLo':
              u[16] = pick([tail + 8, tail - 8, tail + 4, head, head + 1024, head + 1032, rnd() * 2 ** 32]) >>> 0;
              break;
            case 'tailHi':
              u[17] = pick([1, 0xfffff, 0x100000, 0xffffffff]);
              break;
            case 'headLo':
              u[32] = pick([head + 8, head - 8, tail, tail + 8, head + 3, rnd() * 2 ** 32]) >>> 0;
              break;
            case 'headHi':
              u[33] = pick([1, 0x100000, 0xffffffff]);
              break;
            case 'len':
              u[rec] =
                pick([0, 255, 256, 257, 300, 1016, 1016 - (head % 1024), 2 ** 32 - 1, 2 ** 31, rnd() * 2000]) >>> 0;
              break;
            case 'tag':
              u[rec + 1] = pick([0x31434552, 0x31444150, 0, 0xdeadbeef]);
              break;
            case 'lock':
              u[20] = pick([0, 0x7fc00000, 0x80000000, 1 << 22]);
              break;
            default: // the next record's length
              u[64 + ((((head % 1024) + 8 + ((u[rec]! + 7) & ~7)) % 1024) >>> 2)] = Math.floor(rnd() * 600);
          }
        }
        new Uint8Array(sb.arrayBuffer).set(new Uint8Array(sa.arrayBuffer, 8), 8); // all but the identity
      } finally {
        sa.detach();
        sb.detach();
      }
      js.push(a);
      native.push(b);
    }
    const script = `${TRY_OPS}
      const { Channel } = require(${DIST});
      const out = ${JSON.stringify(native.map((c) => c.id))}.map((id) => tryOps(Channel.fromId(id)));
      process.stdout.write(JSON.stringify(out));`;
    const r = spawnSync(process.execPath, ['-e', script], {
      env: { ...process.env, SYSV_IPC_CHANNEL_JS: '0' },
      timeout: 60000,
      encoding: 'utf8',
    });
    expect(r.stderr).toBe('');
    const viaNative = JSON.parse(r.stdout) as string[];
    const tryOps = new Function('require', `${TRY_OPS}; return tryOps;`)(require) as (ch: Channel) => string;
    const viaJs = js.map((c) => tryOps(c));
    expect(viaJs).toEqual(viaNative);
    // The scribbles reached the checks: corrupt channels, refusals and deliveries among them.
    const all = viaJs.join(' ');
    expect(all).toMatch(/ERR_SYSV_IPC_CHANNEL_CORRUPT/);
    expect(all).toMatch(/EMSGSIZE/);
    expect(all).toMatch(/\d+:[0-9a-f]{8}/);
  }, 60000);
});
