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
  test('a source whose own byteLength getter understates its bytes: no byte lands outside its record', () => {
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
    const liar = new Uint8Array(3000).fill(9);
    Object.defineProperty(liar, 'byteLength', { get: () => 10 });
    // The native path sends the 10 bytes it was told (its own length check is against the real view).
    expect(ch.trySend(liar)).toBe(true);
    expect(ch.tryReceive()).toEqual(fill(1000, 3)); // the queued records are whole
    expect(ch.tryReceive()).toEqual(fill(1000, 4));
    expect(ch.tryReceive()).toEqual(fill(8, 5));
    expect(ch.tryReceive()).toEqual(fill(100, 6));
    expect(ch.tryReceive()).toEqual(fill(10, 9));
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
