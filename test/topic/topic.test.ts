/**
 * Topic in one process: the API's contract, 'wait' and 'overwrite', the
 * coded errors, hostile memory. Cross-process claims: topic-processes.test.ts.
 */
import { spawnSync } from 'node:child_process';
import * as path from 'node:path';
import { Worker } from 'node:worker_threads';
import { Channel, SharedMemory, Topic } from '../../lib';
import { ERR } from '../../lib/errors';
import { track, until, useCleanup } from '../support/helpers';

useCleanup();

// A copy of a segment's bytes (the attachment is detached again).
function bytesOf(id: number): Buffer {
  const shm = SharedMemory.fromId(id);
  try {
    return Buffer.from(shm.buffer);
  } finally {
    shm.detach();
  }
}

function drain(sub: ReturnType<Topic['subscribe']>): string[] {
  const out: string[] = [];
  for (let m = sub.tryReceive(); m !== undefined; m = sub.tryReceive()) out.push(m.toString());
  return out;
}

describe('Topic', () => {
  test('create, open-or-create and fromId agree on one topic; defaults are documented', () => {
    const t = track(Topic.create());
    expect([t.capacity, t.maxMessageSize, t.maxSubscribers, t.whenFull]).toEqual([65536, 16384, 64, 'wait']);
    const key = 0x70000000 + Math.floor(Math.random() * 0xfffff);
    const a = track(Topic.open(key, { create: true, capacity: 3000, whenFull: 'overwrite', maxSubscribers: 3 }));
    expect(a.created).toBe(true);
    expect([a.capacity, a.maxMessageSize, a.whenFull, a.maxSubscribers]).toEqual([4096, 1024, 'overwrite', 3]);
    const b = Topic.open(key, { create: true, capacity: 1 << 20 });
    expect([b.created, b.capacity, b.whenFull]).toEqual([false, 4096, 'overwrite']);
    const c = Topic.fromId(a.id);
    const s = c.subscribe();
    b.publishSync('one');
    expect(s.receiveSync({ timeout: 1000 }).toString()).toBe('one');
    b.close();
    c.close();
    expect(() => Topic.open(key + 1)).toThrow(expect.objectContaining({ code: 'ENOENT' }));
    expect(() => Topic.create({ capacity: 0 })).toThrow(RangeError);
    expect(() => Topic.create({ maxMessageSize: 20000 })).toThrow(RangeError);
    expect(() => Topic.create({ whenFull: 'drop' as never })).toThrow(RangeError);
    expect(() => t.subscribe({ from: 'newest' as never })).toThrow(RangeError);
    expect(() => t.publishSync(Buffer.alloc(16385))).toThrow(RangeError);
  });

  test('every subscription receives every message, byte-exact, in order; oldest starts at what is held', async () => {
    const t = track(Topic.create({ capacity: 4096 }));
    const a = t.subscribe();
    const b = t.subscribe();
    for (let i = 0; i < 10; i++) t.publishSync(`m${i}`);
    const late = t.subscribe();
    const old = t.subscribe({ from: 'oldest' });
    t.publishSync('m10');
    await t.publish(new Uint8Array([1, 2, 3]));
    expect(t.tryPublish('')).toBe(true);
    const want = [...Array.from({ length: 11 }, (_, i) => `m${i}`), '\u0001\u0002\u0003', ''];
    expect(drain(a)).toEqual(want);
    expect(drain(b)).toEqual(want);
    expect(drain(late)).toEqual(want.slice(10));
    expect(drain(old)).toEqual(want);
    expect(a.missed + b.missed + old.missed).toBe(0);
    const info = t.info();
    expect(info).toMatchObject({ subscribers: 4, published: 13, held: 13, whenFull: 'wait', capacity: 4096 });
    expect(info.subscriptions.map((s) => [s.pid, s.behind])).toEqual([
      [process.pid, 0],
      [process.pid, 0],
      [process.pid, 0],
      [process.pid, 0],
    ]);
    a.close();
    expect(t.info().subscribers).toBe(3);
  });

  test('values, receiveInto forms, EMSGSIZE keeps the message', async () => {
    const t = track(Topic.create({ capacity: 4096 }));
    const s = t.subscribe();
    await t.publishValue({ a: [1, 2], b: 'x' });
    expect(t.tryPublishValue(7)).toBe(true);
    t.publishValueSync(new Map([[1, 2]]));
    expect(await s.receiveValue()).toEqual({ a: [1, 2], b: 'x' });
    expect(s.tryReceiveValue()).toBe(7);
    expect(s.receiveValueSync()).toEqual(new Map([[1, 2]]));
    expect(s.tryReceiveValue()).toBeUndefined();
    t.publishSync('0123456789');
    const small = Buffer.alloc(4);
    expect(() => s.tryReceiveInto(small)).toThrow(expect.objectContaining({ code: 'EMSGSIZE' }));
    expect(() => s.receiveIntoSync(small)).toThrow(expect.objectContaining({ code: 'EMSGSIZE' }));
    await expect(s.receiveInto(small)).rejects.toMatchObject({ code: 'EMSGSIZE' });
    const big = new Uint16Array(8);
    expect(s.tryReceiveInto(big)).toBe(10);
    expect(Buffer.from(big.buffer, 0, 10).toString()).toBe('0123456789');
    expect(s.tryReceiveInto(big)).toBe(-1);
    t.publishSync('abc');
    expect(await s.receiveInto(big)).toBe(3);
    t.publishSync('de');
    expect(s.receiveIntoSync(big, { timeout: 0 })).toBe(2);
    expect(() => s.receiveSync({ timeout: 0 })).toThrow(expect.objectContaining({ code: 'ETIMEDOUT' }));
    await expect(s.receive({ timeout: 50 })).rejects.toMatchObject({ code: 'ETIMEDOUT' });
  });

  test("'overwrite': a subscription that does not read skips, and received + missed = published", () => {
    const t = track(Topic.create({ capacity: 1024, whenFull: 'overwrite' }));
    const s = t.subscribe();
    const quick = t.subscribe();
    let quickGot = 0;
    for (let i = 0; i < 5000; i++) {
      expect(t.tryPublish(`${i}:${'x'.repeat(i % 97)}`)).toBe(true);
      if (quick.tryReceive() !== undefined) quickGot++;
    }
    const got = drain(s).map((m) => Number(m.split(':')[0]));
    expect(got.length).toBeGreaterThan(0);
    expect(got.length + s.missed).toBe(5000);
    // What it did receive is the newest run, gap-free.
    got.forEach((n, i) => expect(n).toBe(4999 - (got.length - 1 - i)));
    expect(quickGot + quick.missed).toBe(5000);
    expect(quick.missed).toBe(0);
  });

  test("'wait': a subscription that does not read holds publishers (try false, timeouts) until it closes", async () => {
    const t = track(Topic.create({ capacity: 1024 }));
    const s = t.subscribe();
    let n = 0;
    while (t.tryPublish('x'.repeat(100))) n++;
    expect(n).toBeGreaterThan(3);
    expect(n).toBeLessThanOrEqual(10);
    while (t.tryPublish('')); // the last bytes too
    expect(() => t.publishSync('y', { timeout: 0 })).toThrow(expect.objectContaining({ code: 'ETIMEDOUT' }));
    expect(() => t.publishSync('y', { timeout: 150 })).toThrow(expect.objectContaining({ code: 'ETIMEDOUT' }));
    await expect(t.publish('y', { timeout: 150 })).rejects.toMatchObject({ code: 'ETIMEDOUT' });
    const ac = new AbortController();
    const aborted = t.publish('y', { signal: ac.signal });
    setTimeout(() => ac.abort(), 50);
    await expect(aborted).rejects.toMatchObject({ name: 'AbortError' });
    // A publish parked for room goes on when the subscription reads.
    const parked = t.publish('z');
    setTimeout(() => s.tryReceive(), 50);
    await parked;
    expect(s.missed).toBe(0);
    s.close();
    for (let i = 0; i < 100; i++) expect(t.tryPublish('x'.repeat(100))).toBe(true);
  });

  test('messages() ends on sub.close(), topic close() and removal; rejects with its AbortError', async () => {
    const t = track(Topic.create({ capacity: 4096 }));
    const collect = async (s: ReturnType<Topic['subscribe']>, signal?: AbortSignal) => {
      const got: string[] = [];
      for await (const m of s.messages({ signal })) got.push(m.toString());
      return got;
    };
    const a = t.subscribe();
    const pa = collect(a);
    t.publishSync('1');
    await until(() => t.info().subscriptions[0]!.behind === 0, 5000);
    a.close();
    expect(await pa).toEqual(['1']);
    const ac = new AbortController();
    const pb = collect(t.subscribe(), ac.signal);
    setTimeout(() => ac.abort(), 30);
    await expect(pb).rejects.toMatchObject({ name: 'AbortError' });
    const other = Topic.fromId(t.id);
    const pc = collect(other.subscribe());
    setTimeout(() => other.close(), 30);
    expect(await pc).toEqual([]);
    const third = Topic.fromId(t.id);
    const pd = collect(third.subscribe());
    const pending = expect(third.subscribe().receive()).rejects.toMatchObject({ code: 'EIDRM' });
    const blocked = Topic.fromId(t.id);
    setTimeout(() => t.remove(), 30);
    expect(await pd).toEqual([]);
    await pending;
    expect(() => blocked.publishSync('x')).toThrow(expect.objectContaining({ code: 'EIDRM' }));
    third.close();
    blocked.close();
  });

  // Publishers scan only the slots ever positioned (slots_used): a subscription
  // left alone high in the table, and one joining from 'oldest' after others
  // left, must still hold a 'wait' topic's publishers.
  test("'wait': the only subscription, high in the table, still gates publishers", () => {
    const t = track(Topic.create({ capacity: 1024, maxSubscribers: 16 }));
    const subs = Array.from({ length: 10 }, () => t.subscribe());
    for (const s of subs.slice(0, 9)) s.close();
    const last = subs[9]!;
    expect(last.slot).toBe(9);
    let n = 0;
    while (n < 1000 && t.tryPublish(`m${n}`)) n++;
    expect(n).toBeGreaterThan(0);
    expect(n).toBeLessThan(1024 / 8);
    const late = Topic.fromId(t.id).subscribe({ from: 'oldest' });
    expect(late.tryReceive()?.toString()).toBe('m0');
    expect(drain(last)).toEqual(Array.from({ length: n }, (_, i) => `m${i}`));
    // The late one (slot 0 again) is now the slowest: it holds the publishers.
    let more = 0;
    while (more < 1000 && t.tryPublish(`x${more}`)) more++;
    expect(more).toBeLessThan(n);
    expect(late.missed).toBe(0);
    expect(drain(late).length).toBe(n - 1 + more);
    expect(last.missed).toBe(0);
  });

  // A removal in the same tick as a receive that has just parked: the waiter
  // thread may reach its futex wait after remove()'s wake. Sleeping on tail
  // (which removal does not change) it slept on, forever with no timeout;
  // sleeping on a word that removal bumps, it wakes and reports EIDRM.
  test('a receive parked in the same tick as remove() (from another attachment) reports EIDRM', async () => {
    for (let round = 0; round < 40; round++) {
      const t = track(Topic.create({ capacity: 1024 }));
      const other = Topic.fromId(t.id);
      const sub = t.subscribe();
      const hung = new Promise<string>((resolve) => setTimeout(() => resolve('hung'), 10_000).unref());
      const got = sub.receive().then(
        () => 'received',
        (err: { code?: string }) => err.code ?? String(err),
      );
      other.remove();
      expect(await Promise.race([got, hung])).toBe('EIDRM');
      other.close();
      t.close();
    }
  }, 60_000);

  test('one subscription too many is ERR_SYSV_IPC_TOO_MANY_SUBSCRIBERS; close() and GC free slots', () => {
    const t = track(Topic.create({ capacity: 1024, maxSubscribers: 2 }));
    const a = t.subscribe();
    t.subscribe();
    expect(() => t.subscribe()).toThrow(expect.objectContaining({ code: ERR.TOO_MANY_SUBSCRIBERS }));
    a.close();
    a.close();
    expect(() => a.tryReceive()).toThrow(expect.objectContaining({ code: ERR.CLOSED }));
    const c = t.subscribe();
    expect(c.slot).toBe(a.slot);
    t.close();
    // Closing the topic object freed its slots in the segment.
    const again = Topic.fromId(t.id);
    expect(again.info().subscribers).toBe(0);
    again.close();
  });

  test('a segment that is not a topic is a coded error and nothing is written; a topic is not a channel', () => {
    const zeros = track(SharedMemory.create({ size: 8192 }));
    expect(() => Topic.fromId(zeros.id)).toThrow(expect.objectContaining({ code: ERR.NOT_A_TOPIC }));
    expect(zeros.buffer.every((b) => b === 0)).toBe(true);
    const ch = track(Channel.create({ capacity: 4096 }));
    const before = bytesOf(ch.id);
    expect(() => Topic.fromId(ch.id)).toThrow(expect.objectContaining({ code: ERR.NOT_A_TOPIC }));
    expect(bytesOf(ch.id).equals(before)).toBe(true);
    const t = track(Topic.create({ capacity: 1024 }));
    const tb = bytesOf(t.id);
    expect(() => Channel.fromId(t.id)).toThrow(expect.objectContaining({ code: ERR.NOT_A_CHANNEL }));
    expect(bytesOf(t.id).equals(tb)).toBe(true);
  });

  test('garbage over the header, the table and the ring: coded errors or working calls, never a crash or a hang', () => {
    let seed = 12345;
    const rnd = () => (seed = (Math.imul(seed, 1103515245) + 12345) >>> 0);
    for (let round = 0; round < 60; round++) {
      const t = track(Topic.create({ capacity: 1024, maxSubscribers: 4, whenFull: round % 2 ? 'overwrite' : 'wait' }));
      const s = t.subscribe();
      for (let i = 0; i < 5; i++) t.publishSync(`m${i}`);
      const raw = SharedMemory.fromId(t.id);
      const words = new Int32Array(raw.arrayBuffer);
      const region = round % 3; // 0 header, 1 table, 2 ring
      const [from, to] = region === 0 ? [16, 64] : region === 1 ? [64, 96] : [96, words.length];
      for (let k = 0; k < 6; k++) words[from + (rnd() % (to - from))] = rnd() | 0;
      const ok = (fn: () => unknown) => {
        try {
          fn();
        } catch (err) {
          const code = (err as { code?: string }).code ?? '';
          expect(
            [
              ERR.TOPIC_CORRUPT,
              ERR.NOT_A_TOPIC,
              ERR.LOCK_CORRUPT,
              'ETIMEDOUT',
              'EIDRM',
              ERR.TOO_MANY_SUBSCRIBERS,
              ERR.MUTEX_NOT_HELD,
            ].includes(code) || err instanceof RangeError,
          ).toBe(true);
        }
      };
      for (let i = 0; i < 20; i++) {
        ok(() => t.tryPublish(`g${i}`));
        ok(() => s.tryReceive());
      }
      ok(() => t.publishSync('x', { timeout: 20 }));
      ok(() => s.receiveSync({ timeout: 20 }));
      ok(() => t.subscribe({ from: 'oldest' }).tryReceive());
      ok(() => t.info());
      ok(() => Topic.fromId(t.id).close());
      raw.detach();
      t.close();
    }
  });

  // A record (or padding) that runs past tail cannot come from a publisher: a
  // receive that followed it went past tail, never met it again and spun at
  // full speed forever (receiveSync with no timeout never returned).
  test('a record or padding that runs past the tail is corrupt, not an endless spin', () => {
    for (const shape of ['pad', 'record', 'tail behind']) {
      const t = track(Topic.create({ capacity: 1024, maxSubscribers: 4 }));
      const s = t.subscribe();
      const raw = SharedMemory.fromId(t.id);
      try {
        const words = new Int32Array(raw.arrayBuffer);
        const ring = (256 + 32 * 4 + 63) & ~63;
        const TAIL = 64 / 4;
        if (shape === 'pad') {
          words[ring / 4] = -1; // padding at ring offset 0: "to the ring's end", a whole ring
          words[TAIL] = 8;
        } else if (shape === 'record') {
          words[ring / 4] = 64; // a 64-byte message at 0, seq 0, but tail says 16 bytes were committed
          words[TAIL] = 16;
        } else {
          t.publishSync('m');
          expect(s.tryReceive()?.toString()).toBe('m');
          words[TAIL] = 0; // tail moved back behind the cursor
        }
      } finally {
        raw.detach();
      }
      const corrupt = expect.objectContaining({ code: ERR.TOPIC_CORRUPT });
      expect(() => s.tryReceive()).toThrow(corrupt);
      expect(() => s.receiveSync({ timeout: 3000 })).toThrow(corrupt);
      t.close();
    }
  });

  test('a worker ended while parked in a receive frees its subscription at once', async () => {
    const t = track(Topic.create({ capacity: 1024 }));
    const w = new Worker(
      `const { parentPort, workerData } = require('node:worker_threads');
       const { Topic } = require(workerData.dist);
       const t = Topic.fromId(workerData.id);
       const s = t.subscribe();
       parentPort.postMessage('ready');
       workerData.sync ? s.receiveSync() : s.receive();`,
      { eval: true, workerData: { id: t.id, dist: path.join(__dirname, '..', '..', 'dist'), sync: true } },
    );
    await new Promise((r) => w.once('message', r));
    expect(t.info().subscribers).toBe(1);
    await w.terminate();
    expect(t.info().subscribers).toBe(0);
    // And publishers are not held by it.
    for (let i = 0; i < 50; i++) expect(t.tryPublish('x'.repeat(100))).toBe(true);
  });

  // worker.terminate() stops a worker's JavaScript at any function call or loop
  // back-edge, also between taking the publishers' lock and releasing it (a
  // finally block does not run). The lock's owner is this (live) process, so
  // no one would ever take it over: publishers everywhere would stall.
  test('workers terminated while publishing leave the publishers lock free', async () => {
    const t = track(Topic.create({ capacity: 1 << 16, whenFull: 'overwrite' }));
    for (let round = 0; round < 6; round++) {
      const w = new Worker(
        `const { parentPort, workerData } = require('node:worker_threads');
         const { Topic } = require(workerData.dist);
         const t = Topic.fromId(workerData.id);
         const sync = workerData.round % 2 === 0;
         const m = 'p'.repeat(200);
         let n = 0;
         for (;;) {
           if (sync) t.publishSync(m); else t.tryPublish(m);
           if (++n === 1000) parentPort.postMessage('publishing');
         }`,
        {
          eval: true,
          workerData: { id: t.id, dist: path.join(__dirname, '..', '..', 'dist'), round },
        },
      );
      await new Promise((r) => w.once('message', r));
      await w.terminate();
      t.publishSync('after', { timeout: 3000 });
    }
    expect(t.info().published).toBeGreaterThan(6000);
  });

  test("a worker's publishes (native) wait for room on a 'wait' topic and keep the order", async () => {
    const t = track(Topic.create({ capacity: 1024 }));
    const s = t.subscribe();
    const w = new Worker(
      `const { workerData } = require('node:worker_threads');
       const { Topic } = require(workerData.dist);
       const t = Topic.fromId(workerData.id);
       (async () => {
         for (let i = 0; i < 100; i++) await t.publish('a' + i + '.'.repeat(100), { timeout: 30000 });
         for (let i = 0; i < 100; i++) t.publishSync('s' + i + '.'.repeat(100), { timeout: 30000 });
         t.close();
       })();`,
      { eval: true, workerData: { id: t.id, dist: path.join(__dirname, '..', '..', 'dist') } },
    );
    const exited = new Promise((r) => w.once('exit', r));
    const got: string[] = [];
    while (got.length < 200) got.push((await s.receive({ timeout: 30_000 })).toString().replace(/\.+$/, ''));
    expect(got).toEqual([...Array(100).keys()].map((i) => `a${i}`).concat([...Array(100).keys()].map((i) => `s${i}`)));
    expect(await exited).toBe(0);
    s.close();
  });

  test('a subscription dropped without close() frees its slot when it is garbage-collected', () => {
    const t = track(Topic.create({ capacity: 1024 }));
    const script = `
      const { Topic } = require(${JSON.stringify(path.join(__dirname, '..', '..', 'dist'))});
      const t = Topic.fromId(${t.id});
      (() => { t.subscribe(); t.subscribe(); })();
      if (t.info().subscribers !== 2) process.exit(3);
      let rounds = 0;
      const tick = () => {
        globalThis.gc();
        if (t.info().subscribers === 0) { t.close(); process.exit(0); }
        if (++rounds > 200) process.exit(4);
        setTimeout(tick, 5);
      };
      tick();`;
    const r = spawnSync(process.execPath, ['--expose-gc', '-e', script], { encoding: 'utf8', timeout: 60_000 });
    expect({ status: r.status, stderr: r.stderr }).toEqual({ status: 0, stderr: '' });
    expect(t.info().subscribers).toBe(0);
  });

  test('ref/unref and dispose', async () => {
    const t = track(Topic.create({ capacity: 1024 }));
    {
      using s = t.subscribe();
      expect(t.unref()).toBe(t);
      expect(t.ref()).toBe(t);
      expect(s.closed).toBe(false);
    }
    expect(t.info().subscribers).toBe(0);
    t[Symbol.dispose]();
    expect(t.closed).toBe(true);
    expect(() => t.publishSync('x')).toThrow(expect.objectContaining({ code: ERR.CLOSED }));
  });
});
