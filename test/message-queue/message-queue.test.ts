/**
 * MessageQueue in one process: life cycle, payloads, type selection, options,
 * and every bad input rejected before anything changes in the kernel.
 */
import { readFileSync } from 'node:fs';
import { IPC_PRIVATE, MessageQueue, MESSAGE_TYPE_MAX, SysvIpcError, ClosedError } from '../../lib';
import { randomKey, track, useCleanup } from '../support/helpers';

useCleanup();

const msgmax = Number(readFileSync('/proc/sys/kernel/msgmax', 'utf8'));
const msgmnb = Number(readFileSync('/proc/sys/kernel/msgmnb', 'utf8'));

function newQueue(): MessageQueue {
  return track(MessageQueue.create());
}

describe('life cycle', () => {
  test('create() makes a private queue with mode 0o600', () => {
    const q = newQueue();
    expect(q.key).toBe(IPC_PRIVATE);
    expect(q.id).toBeGreaterThanOrEqual(0);
    const info = q.info();
    expect(info).toMatchObject({ key: 0, id: q.id, mode: 0o600, messages: 0, bytes: 0, maxBytes: msgmnb });
    expect(info.uid).toBe(process.getuid!());
    expect(info.lastSendTime).toBeNull();
    expect(info.lastReceiveTime).toBeNull();
    expect(info.lastChangeTime).toBeInstanceOf(Date);
  });

  test('create() with a key that is taken fails with EEXIST; open() finds it', () => {
    const key = randomKey();
    const q = track(MessageQueue.create({ key, mode: 0o640 }));
    expect(q.info().mode).toBe(0o640);
    expect(() => MessageQueue.create({ key })).toThrow(expect.objectContaining({ code: 'EEXIST', syscall: 'msgget' }));
    const again = MessageQueue.open(key);
    expect(again.id).toBe(q.id);
    expect(again.key).toBe(key);
  });

  test('open() of a missing key is ENOENT; with create: true it creates, then finds the same one', () => {
    const key = randomKey();
    let err: unknown;
    try {
      MessageQueue.open(key);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(SysvIpcError);
    expect(err).toMatchObject({ code: 'ENOENT', errno: 2, syscall: 'msgget' });
    expect((err as Error).message).toMatch(/^ENOENT: no such file or directory, msgget/);
    const a = track(MessageQueue.open(key, { create: true, mode: 0o666 }));
    const b = MessageQueue.open(key, { create: true });
    expect(b.id).toBe(a.id);
    expect(a.info().mode).toBe(0o666);
  });

  test('open(IPC_PRIVATE) without create is refused (it can never name an existing queue)', () => {
    expect(() => MessageQueue.open(IPC_PRIVATE)).toThrow(RangeError);
  });

  test('keys may be given signed or unsigned, as C programs print them, and are reported unsigned', () => {
    const q = track(MessageQueue.create({ key: 0xfedcba98 }));
    expect(q.key).toBe(0xfedcba98);
    expect(MessageQueue.open(0xfedcba98 | 0).id).toBe(q.id);
    expect(q.info().key).toBe(0xfedcba98);
  });

  test('fromId() wraps an existing queue and learns its key; a bad id is EINVAL', () => {
    const key = randomKey();
    const q = track(MessageQueue.create({ key }));
    const same = MessageQueue.fromId(q.id);
    expect(same.key).toBe(key);
    q.remove();
    expect(() => MessageQueue.fromId(q.id)).toThrow(expect.objectContaining({ code: 'EINVAL', syscall: 'msgctl' }));
  });

  test('set() changes mode and lowers maxBytes; raising above msgmnb is EPERM without CAP_SYS_RESOURCE', () => {
    const q = newQueue();
    q.set({ mode: 0o644, maxBytes: 1024 });
    expect(q.info()).toMatchObject({ mode: 0o644, maxBytes: 1024 });
    q.set({ maxBytes: msgmnb });
    expect(() => q.set({ maxBytes: msgmnb * 2 })).toThrow(expect.objectContaining({ code: 'EPERM' }));
    expect(q.info().maxBytes).toBe(msgmnb);
  });

  test('set() without an options object is a TypeError with a code, not a crash in the parser', () => {
    const q = newQueue();
    expect(() => q.set(undefined as never)).not.toThrow(); // nothing to change
    expect(() => q.set(5 as never)).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARG_TYPE' }));
    expect(() => q.set(null as never)).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARG_TYPE' }));
  });

  test('create({ maxBytes }) sets the capacity, and a refused one leaves no queue behind', () => {
    const q = track(MessageQueue.create({ maxBytes: 100 }));
    expect(q.info().maxBytes).toBe(100);
    const key = randomKey();
    expect(() => MessageQueue.create({ key, maxBytes: msgmnb * 4 })).toThrow(
      expect.objectContaining({ code: 'EPERM' }),
    );
    expect(() => MessageQueue.open(key)).toThrow(expect.objectContaining({ code: 'ENOENT' }));
  });

  test('remove() deletes it; later calls fail with EINVAL (or EIDRM)', () => {
    const q = MessageQueue.create();
    q.remove();
    expect(() => q.info()).toThrow(SysvIpcError);
    expect(() => q.trySend('x')).toThrow(expect.objectContaining({ code: expect.stringMatching(/EINVAL|EIDRM/) }));
  });

  test('close() is idempotent, keeps the queue in the kernel, and later calls throw a closed error', async () => {
    const q = newQueue();
    q.sendSync('kept');
    q.close();
    q.close();
    expect(q.closed).toBe(true);
    expect(() => q.trySend('x')).toThrow(ClosedError);
    expect(() => q.receiveSync()).toThrow(expect.objectContaining({ code: 'ERR_SYSV_IPC_CLOSED' }));
    await expect(q.receive()).rejects.toThrow(ClosedError);
    const again = MessageQueue.fromId(q.id);
    expect(again.info().messages).toBe(1);
  });

  test('`using` closes the handle at the end of the block', () => {
    let seen: MessageQueue;
    {
      using q = newQueue();
      seen = q;
      q.sendSync('a');
    }
    expect(seen.closed).toBe(true);
    expect(MessageQueue.fromId(seen.id).info().messages).toBe(1);
  });
});

describe('payloads', () => {
  test('bodies of every size from 0 bytes to msgmax arrive intact', () => {
    const q = newQueue();
    for (const size of [0, 1, 7, 8, 9, 255, 4096, msgmax - 1, msgmax]) {
      const body = Buffer.alloc(size);
      for (let i = 0; i < size; i++) body[i] = (i * 31 + size) & 0xff;
      q.sendSync(body, { type: 3 });
      const m = q.receiveSync();
      expect(m.type).toBe(3);
      expect(m.data.length).toBe(size);
      expect(m.data.equals(body)).toBe(true);
    }
  });

  test('strings go as UTF-8; typed arrays and DataViews as their bytes (with offsets honoured)', () => {
    const q = newQueue();
    q.sendSync('héllo ✓');
    expect(q.receiveSync().data.toString('utf8')).toBe('héllo ✓');
    const u16 = new Uint16Array([1, 2, 0xffff]);
    q.sendSync(u16);
    expect([...new Uint16Array(new Uint8Array(q.receiveSync().data).buffer)]).toEqual([1, 2, 0xffff]);
    const backing = new Uint8Array([9, 9, 1, 2, 3, 9]);
    q.sendSync(new DataView(backing.buffer, 2, 3));
    expect([...q.receiveSync().data]).toEqual([1, 2, 3]);
    q.sendSync(backing.subarray(1, 3));
    expect([...q.receiveSync().data]).toEqual([9, 1]);
  });

  test('a body larger than msgmax is refused before the kernel, with nothing queued', () => {
    const q = newQueue();
    expect(() => q.sendSync(Buffer.alloc(msgmax + 1))).toThrow(RangeError);
    expect(q.info().messages).toBe(0);
  });

  test('every receive path gives a body of its own (its own ArrayBuffer, untouched by later receives) and the exact type', async () => {
    // The main thread receives into one buffer the module keeps and copies the body out;
    // a receive with maxSize above msgmax goes through the addon's own Buffer instead.
    const q = newQueue();
    const types = [1, 0xffffffff, 2 ** 32 + 5, 2 ** 40 + 3, MESSAGE_TYPE_MAX];
    const received = [];
    for (const [i, type] of types.entries()) {
      q.sendSync(Buffer.alloc(10 + i, i + 1), { type });
      q.sendSync(Buffer.alloc(100 + i, i + 1), { type });
      q.sendSync(Buffer.alloc(1000 + i, i + 1), { type });
      q.sendSync(Buffer.alloc(1 + i, i + 1), { type });
      received.push(q.tryReceive(), q.receiveSync({ type }), await q.receive(), q.receiveSync({ maxSize: msgmax + 1 }));
    }
    received.forEach((m, j) => {
      const i = Math.floor(j / 4);
      expect(m?.type).toBe(types[i]);
      expect(m?.data.length).toBe([10, 100, 1000, 1][j % 4] + i);
      expect(m?.data.every((byte) => byte === i + 1)).toBe(true);
      expect(m?.data.buffer.byteLength).toBe(m?.data.length);
    });
  });

  test('the largest type is accepted and comes back exact', () => {
    const q = newQueue();
    q.sendSync('big', { type: MESSAGE_TYPE_MAX });
    expect(q.receiveSync().type).toBe(MESSAGE_TYPE_MAX);
  });
});

describe('choosing what to receive', () => {
  function fill(q: MessageQueue, types: number[]): void {
    for (const t of types) q.sendSync(`t${t}`, { type: t });
  }
  const drain = (q: MessageQueue) => {
    const out: number[] = [];
    for (let m = q.tryReceive(); m; m = q.tryReceive()) out.push(m.type);
    return out;
  };

  test('type 0 takes messages in arrival order', () => {
    const q = newQueue();
    fill(q, [5, 2, 9, 2]);
    expect(drain(q)).toEqual([5, 2, 9, 2]);
  });

  test('type > 0 takes the first of that type only', () => {
    const q = newQueue();
    fill(q, [5, 2, 9, 2]);
    expect(q.receiveSync({ type: 2 }).data.toString()).toBe('t2');
    expect(q.tryReceive({ type: 7 })).toBeUndefined();
    expect(drain(q)).toEqual([5, 9, 2]);
  });

  test('type < 0 takes the lowest type <= |type|', () => {
    const q = newQueue();
    fill(q, [5, 3, 9, 1, 3]);
    expect(q.receiveSync({ type: -4 }).type).toBe(1);
    expect(q.receiveSync({ type: -4 }).type).toBe(3);
    expect(q.receiveSync({ type: -4 }).type).toBe(3);
    expect(q.tryReceive({ type: -4 })).toBeUndefined();
    expect(drain(q)).toEqual([5, 9]);
  });

  test('except takes the first message not of the type (MSG_EXCEPT)', () => {
    const q = newQueue();
    fill(q, [2, 2, 7, 2, 8]);
    expect(q.receiveSync({ type: 2, except: true }).type).toBe(7);
    expect(q.receiveSync({ type: 2, except: true }).type).toBe(8);
    expect(q.tryReceive({ type: 2, except: true })).toBeUndefined();
    expect(drain(q)).toEqual([2, 2, 2]);
  });

  test('a message longer than maxSize fails with E2BIG and stays queued; truncate cuts it', () => {
    const q = newQueue();
    q.sendSync('0123456789', { type: 4 });
    expect(() => q.receiveSync({ maxSize: 4 })).toThrow(expect.objectContaining({ code: 'E2BIG', syscall: 'msgrcv' }));
    expect(q.tryReceive.bind(q, { maxSize: 4 })).toThrow(expect.objectContaining({ code: 'E2BIG' }));
    expect(q.info()).toMatchObject({ messages: 1, bytes: 10 });
    const m = q.receiveSync({ maxSize: 4, truncate: true });
    expect(m).toEqual({ type: 4, data: Buffer.from('0123') });
    expect(q.info().messages).toBe(0);
  });

  test('tryReceive gives undefined on an empty queue; trySend gives false on a full one', () => {
    const q = newQueue();
    expect(q.tryReceive()).toBeUndefined();
    q.set({ maxBytes: 64 });
    expect(q.trySend(Buffer.alloc(64))).toBe(true);
    expect(q.trySend(Buffer.alloc(1))).toBe(false);
    expect(q.info().messages).toBe(1);
  });

  test('sync timeouts: receiveSync on an empty queue and sendSync on a full one end with ETIMEDOUT', () => {
    const q = newQueue();
    expect(() => q.receiveSync({ timeout: 30 })).toThrow(
      expect.objectContaining({ code: 'ETIMEDOUT', syscall: 'msgrcv' }),
    );
    expect(() => q.receiveSync({ timeout: 0 })).toThrow(expect.objectContaining({ code: 'ETIMEDOUT' }));
    q.set({ maxBytes: 8 });
    q.sendSync(Buffer.alloc(8));
    expect(() => q.sendSync('more', { timeout: 30 })).toThrow(
      expect.objectContaining({ code: 'ETIMEDOUT', syscall: 'msgsnd' }),
    );
    expect(() => q.sendSync('more', { timeout: 0 })).toThrow(expect.objectContaining({ code: 'ETIMEDOUT' }));
    expect(q.info().messages).toBe(1);
  });

  test('async forms settle at once when they can and time out when they cannot', async () => {
    const q = newQueue();
    await q.send('now', { type: 6 });
    await expect(q.receive()).resolves.toEqual({ type: 6, data: Buffer.from('now') });
    await expect(q.receive({ timeout: 0 })).rejects.toMatchObject({ code: 'ETIMEDOUT' });
    await expect(q.receive({ timeout: 20 })).rejects.toMatchObject({ code: 'ETIMEDOUT', syscall: 'msgrcv' });
    q.set({ maxBytes: 4 });
    await q.send('1234');
    await expect(q.send('5', { timeout: 20 })).rejects.toMatchObject({ code: 'ETIMEDOUT', syscall: 'msgsnd' });
    expect(q.info().messages).toBe(1);
  });
});

describe('bad input is rejected and nothing changes', () => {
  const cases: Array<[string, (q: MessageQueue) => unknown, string]> = [
    ['data: number', (q) => q.sendSync(42 as never), 'ERR_INVALID_ARG_TYPE'],
    ['data: null', (q) => q.trySend(null as never), 'ERR_INVALID_ARG_TYPE'],
    ['data: plain object', (q) => q.sendSync({ length: 3 } as never), 'ERR_INVALID_ARG_TYPE'],
    ['data: ArrayBuffer (not a view)', (q) => q.sendSync(new ArrayBuffer(4) as never), 'ERR_INVALID_ARG_TYPE'],
    ['type 0', (q) => q.sendSync('x', { type: 0 }), 'ERR_OUT_OF_RANGE'],
    ['type -1 on send', (q) => q.sendSync('x', { type: -1 }), 'ERR_OUT_OF_RANGE'],
    ['type 1.5', (q) => q.sendSync('x', { type: 1.5 }), 'ERR_OUT_OF_RANGE'],
    ['type NaN', (q) => q.trySend('x', { type: NaN }), 'ERR_OUT_OF_RANGE'],
    ['type beyond 2^53', (q) => q.sendSync('x', { type: 2 ** 60 }), 'ERR_OUT_OF_RANGE'],
    ['type as string', (q) => q.sendSync('x', { type: '1' as never }), 'ERR_INVALID_ARG_TYPE'],
    ['options not an object', (q) => q.sendSync('x', 5 as never), 'ERR_INVALID_ARG_TYPE'],
    ['receive type 2.5', (q) => q.tryReceive({ type: 2.5 }), 'ERR_OUT_OF_RANGE'],
    ['maxSize -1', (q) => q.tryReceive({ maxSize: -1 }), 'ERR_OUT_OF_RANGE'],
    ['maxSize Infinity', (q) => q.tryReceive({ maxSize: Infinity }), 'ERR_OUT_OF_RANGE'],
    ['except without a type', (q) => q.tryReceive({ except: true }), 'ERR_OUT_OF_RANGE'],
    ['except: "yes"', (q) => q.tryReceive({ type: 1, except: 'yes' as never }), 'ERR_INVALID_ARG_TYPE'],
    ['truncate: 1', (q) => q.tryReceive({ truncate: 1 as never }), 'ERR_INVALID_ARG_TYPE'],
    ['timeout -1', (q) => q.receiveSync({ timeout: -1 }), 'ERR_OUT_OF_RANGE'],
    ['timeout NaN', (q) => q.sendSync('x', { timeout: NaN }), 'ERR_OUT_OF_RANGE'],
    ['timeout "10"', (q) => q.receiveSync({ timeout: '10' as never }), 'ERR_INVALID_ARG_TYPE'],
  ];

  test.each(cases)('%s', (_name, call, code) => {
    const q = newQueue();
    q.sendSync('keep-1', { type: 1 });
    q.sendSync('keep-22', { type: 2 });
    const before = q.info();
    expect(() => call(q)).toThrow(expect.objectContaining({ code }));
    const after = q.info();
    expect(after.messages).toBe(before.messages);
    expect(after.bytes).toBe(before.bytes);
  });

  test('async forms reject (never throw) with the same errors, nothing consumed', async () => {
    const q = newQueue();
    q.sendSync('keep');
    await expect(q.send(42 as never)).rejects.toMatchObject({ code: 'ERR_INVALID_ARG_TYPE' });
    await expect(q.receive({ type: 0.5 })).rejects.toMatchObject({ code: 'ERR_OUT_OF_RANGE' });
    await expect(q.receive({ timeout: -5 })).rejects.toMatchObject({ code: 'ERR_OUT_OF_RANGE' });
    await expect(q.receive({ signal: {} as never })).rejects.toMatchObject({ code: 'ERR_INVALID_ARG_TYPE' });
    expect(q.info().messages).toBe(1);
  });

  test('bad keys, modes and ids', () => {
    expect(() => MessageQueue.create({ key: 2 ** 32 })).toThrow(expect.objectContaining({ code: 'ERR_OUT_OF_RANGE' }));
    expect(() => MessageQueue.create({ key: 1.5 })).toThrow(expect.objectContaining({ code: 'ERR_OUT_OF_RANGE' }));
    expect(() => MessageQueue.create({ mode: 0o1777 })).toThrow(expect.objectContaining({ code: 'ERR_OUT_OF_RANGE' }));
    expect(() => MessageQueue.open('1' as never)).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARG_TYPE' }));
    expect(() => MessageQueue.fromId(-1)).toThrow(expect.objectContaining({ code: 'ERR_OUT_OF_RANGE' }));
    expect(() => MessageQueue.fromId(NaN)).toThrow(expect.objectContaining({ code: 'ERR_OUT_OF_RANGE' }));
  });
});

describe('the native layer defends itself', () => {
  // Calls that bypass the TypeScript checks must be refused by the addon's own
  // checks, never reach the kernel and never crash. Each runs on a live queue
  // holding one 10-byte message, so that without the addon's check the kernel
  // would accept the call (or fail with an errno, not an ERR_* code): the
  // assertion names the addon's code and the argument it blames, and the
  // message must still be queued afterwards.
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const raw = require('../../lib/binding').binding as Record<string, (...args: unknown[]) => unknown>;
  const NOWAIT = 0o4000; // IPC_NOWAIT: a call whose check is missing returns instead of blocking the test
  const Q = Symbol('the live queue id');
  // A call's numbers, packed as the binding takes them (float64s in an ArrayBuffer: lib/call-args.ts).
  const N = (...numbers: unknown[]) => ({ numbers });

  test.each<[string, unknown[], string, string]>([
    ['msgget', [], 'ERR_INVALID_ARG_TYPE', '"key"'],
    ['msgget', ['x', 0], 'ERR_INVALID_ARG_TYPE', '"key"'],
    ['msgget', [1, 0x40000000], 'ERR_OUT_OF_RANGE', '"flags"'],
    // msgsnd(numbers [id, type, flags, wait], data); msgrcv(numbers [id, maxSize, type, flags, wait], into).
    ['msgsnd', [N(Q, 1, 0, -1), 'not bytes'], 'ERR_INVALID_ARG_TYPE', '"data"'],
    ['msgsnd', [N(Q, 0, 0, -1), Buffer.alloc(1)], 'ERR_OUT_OF_RANGE', '"type"'],
    ['msgsnd', [N(Q, 1.5, 0, -1), Buffer.alloc(1)], 'ERR_OUT_OF_RANGE', '"type"'],
    ['msgsnd', [N(Q, 1, 0, -7), Buffer.alloc(1)], 'ERR_OUT_OF_RANGE', '"timeout"'],
    ['msgsnd', [N(Q, 1, 0, NaN), Buffer.alloc(1)], 'ERR_OUT_OF_RANGE', '"timeout"'],
    ['msgsnd', [N(Q, 1, NOWAIT, -1), Buffer.alloc(1)], 'ERR_OUT_OF_RANGE', '"spinNs"'],
    ['msgsnd', [N(Q, 1, NOWAIT, 1e9), Buffer.alloc(1)], 'ERR_OUT_OF_RANGE', '"spinNs"'],
    ['msgsnd', [N(-1, 1, 0, -1), Buffer.alloc(1)], 'ERR_OUT_OF_RANGE', '"id"'],
    ['msgsnd', [N(Q, 1, 0), Buffer.alloc(1)], 'ERR_INVALID_ARG_TYPE', '"args"'],
    ['msgsnd', [Q, Buffer.alloc(1), 1, 0, -1], 'ERR_INVALID_ARG_TYPE', '"args"'],
    ['msgsnd', [new Float64Array(4), Buffer.alloc(1)], 'ERR_INVALID_ARG_TYPE', '"args"'],
    ['msgrcv', [N(Q, -1, 0, NOWAIT, 0), new ArrayBuffer(64)], 'ERR_OUT_OF_RANGE', '"maxSize"'],
    ['msgrcv', [N(Q, 2 ** 40, 0, NOWAIT, 0), new ArrayBuffer(64)], 'ERR_OUT_OF_RANGE', '"maxSize"'],
    ['msgrcv', [N(Q, 10, 0, 0xffff, 0), new ArrayBuffer(64)], 'ERR_OUT_OF_RANGE', '"flags"'],
    ['msgrcv', [N(Q, 10, Infinity, NOWAIT, 0), new ArrayBuffer(64)], 'ERR_OUT_OF_RANGE', '"type"'],
    ['msgrcv', [N(Q, 10, 0, NOWAIT, 0)], 'ERR_INVALID_ARG_TYPE', '"into"'],
    // The check that guards memory: 17 bytes cannot hold the 8-byte header and 10 bytes of body.
    ['msgrcv', [N(Q, 10, 0, NOWAIT, 0), new ArrayBuffer(17)], 'ERR_OUT_OF_RANGE', '"into"'],
    ['msgrcv', [N(Q, 10, 0, NOWAIT, 0), Buffer.alloc(64)], 'ERR_INVALID_ARG_TYPE', '"into"'],
    ['msgrcv', [N(Q, 10, 0, NOWAIT, 0), new SharedArrayBuffer(64)], 'ERR_INVALID_ARG_TYPE', '"into"'],
    ['msgrcv', [new SharedArrayBuffer(64), new ArrayBuffer(64)], 'ERR_INVALID_ARG_TYPE', '"args"'],
    ['msgrcvBuffer', [N(Q, 10, 0, NOWAIT, 0), new Float64Array(0)], 'ERR_OUT_OF_RANGE', '"typeOut"'],
    ['msgrcvAsync', [N(Q, 10, 0, 0, -1)], 'ERR_INVALID_ARG_TYPE', '"waitId"'],
    ['msgrcvAsync', [N(Q, 10, 0, 0, -1), -3], 'ERR_OUT_OF_RANGE', '"waitId"'],
    ['msgsndAsync', [N(Q, 1, 0, -1), Buffer.alloc(1), -3], 'ERR_OUT_OF_RANGE', '"waitId"'],
    ['msgSet', [Q, 0o7777, -1, -1, -1], 'ERR_OUT_OF_RANGE', '"mode"'],
    ['msgStat', [{}], 'ERR_INVALID_ARG_TYPE', '"id"'],
    ['cancelWait', ['a'], 'ERR_INVALID_ARG_TYPE', '"waitId"'],
    ['setKeepAlive', [1], 'ERR_INVALID_ARG_TYPE', '"on"'],
    ['init', [1, 2, 3], 'ERR_INVALID_ARG_TYPE', '"dispatch"'],
    ['init', [() => {}, 1], 'ERR_INVALID_ARG_TYPE', '"errorClass"'],
  ])('%s(%j) throws %s naming %s', (name, args, code, argument) => {
    const q = newQueue();
    q.sendSync(Buffer.alloc(10, 1), { type: 3 });
    const before = q.info();
    const value = (a: unknown) => (a === Q ? q.id : a);
    const pack = (a: unknown) =>
      typeof a === 'object' && a !== null && 'numbers' in a
        ? Float64Array.from((a as { numbers: unknown[] }).numbers.map(value) as number[]).buffer
        : value(a);
    const call = () => raw[name](...args.map(pack));
    expect(call).toThrow(expect.objectContaining({ code, message: expect.stringContaining(argument) }));
    const after = q.info();
    expect([after.messages, after.bytes, after.mode]).toEqual([before.messages, before.bytes, before.mode]);
  });
});
