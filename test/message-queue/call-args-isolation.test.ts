// Review of the calls that pass their numbers in one ArrayBuffer
// (lib/call-args.ts, native/arguments.h NumberArgs): no user code may run
// between lib filling CALL_ARGS and the addon copying it, and every thread has
// a buffer of its own, so one call never goes out with another's numbers.
import * as path from 'node:path';
import { Worker } from 'node:worker_threads';
import { MessageQueue, Semaphore } from '../../lib';
import { binding } from '../../lib/binding';
import { track, useCleanup } from '../support/helpers';

useCleanup();

const DIST = JSON.stringify(path.join(__dirname, '..', '..', 'dist'));

test('options whose numbers would run code (valueOf, toPrimitive, getters that call the package) are read before CALL_ARGS is filled', () => {
  const a = track(MessageQueue.create());
  const b = track(MessageQueue.create());
  const sem = track(Semaphore.create({ initialValue: 5 }));
  let ran = 0;
  // A number-like object that, if it were converted while CALL_ARGS is half
  // filled, would fill it with another queue's numbers.
  const hostile = {
    valueOf() {
      ran++;
      b.trySend('from valueOf', { type: 7 });
      return 1;
    },
    [Symbol.toPrimitive]() {
      ran++;
      b.trySend('from toPrimitive', { type: 7 });
      return 1;
    },
  } as unknown as number;
  expect(() => a.sendSync('x', { type: hostile })).toThrow(TypeError);
  expect(() => a.trySend('x', { type: hostile })).toThrow(TypeError);
  expect(() => a.sendSync('x', { timeout: hostile })).toThrow(TypeError);
  expect(() => a.tryReceive({ maxSize: hostile })).toThrow(TypeError);
  expect(() => a.receiveSync({ type: hostile, timeout: 0 })).toThrow(TypeError);
  expect(() => sem.tryAcquire({ count: hostile })).toThrow(TypeError);
  expect(() => sem.release(hostile)).toThrow(TypeError);
  expect(ran).toBe(0);
  // A getter on the options runs during parsing, before the fill: it may call
  // the package, and both calls still go where they were meant to.
  const options = {
    get type() {
      b.trySend('from a getter', { type: 9 });
      sem.tryAcquire();
      return 3;
    },
  };
  a.sendSync('to a', options);
  expect(a.tryReceive()).toMatchObject({ type: 3, data: Buffer.from('to a') });
  expect(b.tryReceive()).toMatchObject({ type: 9, data: Buffer.from('from a getter') });
  expect(a.tryReceive()).toBeUndefined();
  expect(b.tryReceive()).toBeUndefined();
  expect(sem.value).toBe(4);
  // A Proxy as the data: its traps run while the bytes are checked, before the fill.
  const proxy = new Proxy(new Uint8Array([1, 2, 3]), {
    getPrototypeOf(t) {
      b.trySend('from a trap', { type: 2 });
      return Reflect.getPrototypeOf(t);
    },
  });
  try {
    a.trySend(proxy, { type: 4 });
  } catch (err) {
    expect(err).toMatchObject({ name: 'TypeError' }); // the addon takes no Proxy (its TypeError: another realm under jest)
  }
  expect(a.tryReceive()).toBeUndefined();
  expect(b.tryReceive()?.type ?? 2).toBe(2);
  expect(b.tryReceive()).toBeUndefined();
});

test('workers and the main thread sending, receiving and taking units at once: every message exactly once, in order per producer, no unit lost', async () => {
  const q = track(MessageQueue.create());
  const sem = track(Semaphore.create({ initialValue: 3 }));
  const producers = 3;
  const count = 3000;
  const code = `
    const { parentPort, workerData } = require('node:worker_threads');
    const { MessageQueue, Semaphore } = require(${DIST});
    const q = MessageQueue.fromId(workerData.q);
    const sem = Semaphore.fromId(workerData.sem);
    const { role, p, count } = workerData;
    let bad = 0;
    if (role === 'produce') {
      for (let i = 0; i < count; i++) {
        q.sendSync(p + ':' + i, { type: p + 1 });
        if (sem.tryAcquire()) sem.release();
      }
      parentPort.postMessage({ bad });
    } else {
      for (let i = 0; i < count; i++) {
        const m = q.receiveSync({ type: p + 1, timeout: 60000 });
        if (m.type !== p + 1 || m.data.toString() !== p + ':' + i) bad++;
        sem.acquireSync({ timeout: 60000 });
        sem.release();
      }
      parentPort.postMessage({ bad, extra: q.tryReceive({ type: p + 1 }) === undefined ? 0 : 1 });
    }`;
  const workers: Worker[] = [];
  const results: Promise<{ bad: number; extra?: number }>[] = [];
  for (let p = 0; p < producers; p++) {
    for (const role of ['produce', 'consume']) {
      const w = new Worker(code, { eval: true, workerData: { q: q.id, sem: sem.id, role, p, count } });
      workers.push(w);
      results.push(
        new Promise((resolve, reject) => {
          w.once('message', resolve);
          w.once('error', reject);
          w.once('exit', (c) => reject(new Error(`worker exited ${c} before reporting`)));
        }),
      );
    }
  }
  try {
    // The main thread meanwhile: its own type, sync and landing-buffer path, and semaphore ops.
    let mainBad = 0;
    for (let i = 0; i < 300; i++) {
      q.sendSync(`main:${i}`, { type: 100 });
      const m = q.receiveSync({ type: 100, timeout: 60000 });
      if (m.data.toString() !== `main:${i}`) mainBad++;
      if (sem.tryAcquire()) sem.release();
      if (i % 50 === 0) await new Promise((r) => setImmediate(r));
    }
    const all = await Promise.all(results);
    expect(mainBad).toBe(0);
    expect(all).toEqual(all.map((r) => (r.extra === undefined ? { bad: 0 } : { bad: 0, extra: 0 })));
    expect(q.tryReceive()).toBeUndefined();
    expect(sem.value).toBe(3);
  } finally {
    await Promise.all(workers.map((w) => w.terminate()));
  }
}, 180000);

// napi_get_arraybuffer_info accepts a SharedArrayBuffer on Node 22, 24 and 26
// (22.23.5, 24.22.3, 26.12.1 here; 18 and 20 refuse one): the addon must say
// no itself, on every runtime, as its contract says (native/arguments.h).
test('a SharedArrayBuffer (fixed or growable) is refused as the numbers and as the landing buffer, nothing reaches the kernel', () => {
  const q = track(MessageQueue.create());
  const sem = track(Semaphore.create({ initialValue: 3 }));
  q.sendSync(Buffer.alloc(10, 1), { type: 3 });
  const NOWAIT = 0o4000;
  const shared = (values: number[], growable = false) => {
    // Growable where the runtime has them (Node 20+; the lib's typings predate the option).
    const Sab = SharedArrayBuffer as unknown as new (
      length: number,
      options?: { maxByteLength: number },
    ) => SharedArrayBuffer;
    const sab = growable ? new Sab(64, { maxByteLength: 128 }) : new Sab(64);
    new Float64Array(sab).set(values);
    return sab as unknown as ArrayBuffer;
  };
  const plain = (values: number[]) => Float64Array.from(values).buffer;
  const refused = (name: string) =>
    expect.objectContaining({ code: 'ERR_INVALID_ARG_TYPE', message: expect.stringContaining(`"${name}"`) });
  for (const growable of [false, true]) {
    expect(() => binding.semopOne(shared([sem.id, 0, -1, NOWAIT, 0], growable))).toThrow(refused('args'));
    expect(() => binding.msgsnd(shared([q.id, 1, NOWAIT, 0], growable), Buffer.from('x'))).toThrow(refused('args'));
    expect(() => binding.msgrcv(shared([q.id, 64, 0, NOWAIT, 0], growable), new ArrayBuffer(128))).toThrow(
      refused('args'),
    );
    expect(() => binding.msgrcv(plain([q.id, 64, 0, NOWAIT, 0]), shared([], growable))).toThrow(refused('into'));
    expect(() => binding.msgrcvBuffer(shared([q.id, 64, 0, NOWAIT, 0], growable), new Float64Array(1))).toThrow(
      refused('args'),
    );
    expect(() => binding.msgsndAsync(shared([q.id, 1, 0, -1], growable), Buffer.from('x'), 1)).toThrow(refused('args'));
    expect(() => binding.msgrcvAsync(shared([q.id, 64, 0, 0, -1], growable), 1)).toThrow(refused('args'));
  }
  expect(sem.value).toBe(3);
  expect(q.info().messages).toBe(1);
});

test('detached, shrunk (resizable) and short buffers are refused as the numbers and as the landing buffer', () => {
  const q = track(MessageQueue.create());
  const sem = track(Semaphore.create({ initialValue: 3 }));
  q.sendSync(Buffer.alloc(10, 1), { type: 3 });
  const NOWAIT = 0o4000;
  const detached = (values: number[], length = 64) => {
    const ab = new ArrayBuffer(length);
    new Float64Array(ab, 0, values.length).set(values);
    structuredClone(ab, { transfer: [ab] });
    return ab;
  };
  // Resizable where the runtime has them (Node 20+); on 18 the option is ignored and resize() is absent.
  const Resizable = ArrayBuffer as unknown as new (
    length: number,
    options?: { maxByteLength: number },
  ) => ArrayBuffer & {
    resize?: (n: number) => void;
  };
  const shrunk = (values: number[], to: number) => {
    const ab = new Resizable(64, { maxByteLength: 128 });
    new Float64Array(ab, 0, values.length).set(values);
    if (ab.resize === undefined) return ab.slice(0, to);
    ab.resize(to);
    return ab;
  };
  const refused = (name: string) => expect.objectContaining({ message: expect.stringContaining(`"${name}"`) });
  const args = [sem.id, 0, -1, NOWAIT, 0];
  const rcv = [q.id, 64, 0, NOWAIT, 0];
  expect(() => binding.semopOne(detached(args))).toThrow(refused('args'));
  expect(() => binding.semopOne(shrunk(args, 32))).toThrow(refused('args'));
  expect(() => binding.semopOne(Float64Array.from(args).buffer.slice(0, 39))).toThrow(refused('args'));
  expect(() => binding.msgsnd(detached([q.id, 1, NOWAIT, 0]), Buffer.from('x'))).toThrow(refused('args'));
  expect(() => binding.msgsnd(shrunk([q.id, 1, NOWAIT, 0], 24), Buffer.from('x'))).toThrow(refused('args'));
  expect(() => binding.msgrcv(detached(rcv), new ArrayBuffer(128))).toThrow(refused('args'));
  expect(() => binding.msgrcv(Float64Array.from(rcv).buffer, detached([], 128))).toThrow(refused('into'));
  expect(() => binding.msgrcv(Float64Array.from(rcv).buffer, shrunk([], 8 + 63))).toThrow(refused('into'));
  expect(() => binding.msgrcvBuffer(shrunk(rcv, 32), new Float64Array(1))).toThrow(refused('args'));
  expect(sem.value).toBe(3);
  expect(q.info().messages).toBe(1);
  // A resizable landing buffer grown to size is taken, like any ArrayBuffer.
  const grown = new Resizable(8, { maxByteLength: 8 + 64 });
  if (grown.resize !== undefined) {
    grown.resize(8 + 64);
    expect(binding.msgrcv(Float64Array.from(rcv).buffer, grown)).toBe(10);
    expect(q.info().messages).toBe(0);
  }
});
