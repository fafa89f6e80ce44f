// Per-producer order of send(): a send() that finds the ring full parks; a
// later send() of the same object must not land before it, even when room
// appears between the two calls (DESIGN: "per-producer order").
import { Channel } from '../../lib';
import { spawn } from 'node:child_process';
import { getEventListeners } from 'node:events';
import { Worker } from 'node:worker_threads';
import { packageRootFor, track, useCleanup } from '../support/helpers';

useCleanup();

const message = (n: number, size = 1000) => {
  const b = Buffer.alloc(size, 0);
  b.writeUInt32LE(n, 0);
  return b;
};
const numberOf = (b: Buffer | undefined) => (b === undefined ? -1 : b.readUInt32LE(0));

// A ring that holds four 1000-byte messages.
function fullChannel(): Channel {
  const ch = track(Channel.create({ capacity: 4096, maxMessageSize: 1000 }));
  for (let i = 0; i < 4; i++) expect(ch.trySend(message(i))).toBe(true);
  expect(ch.trySend(message(99))).toBe(false);
  return ch;
}

async function drain(ch: Channel, n: number): Promise<number[]> {
  const got: number[] = [];
  for (let i = 0; i < n; i++) got.push(numberOf(await ch.receive({ timeout: 10000 })));
  return got;
}

describe('send() keeps one object’s order', () => {
  test('a send() issued after room appears lands after the parked one before it', async () => {
    const ch = fullChannel();
    const first = ch.send(message(4)); // full: parks
    expect(numberOf(ch.tryReceive())).toBe(0); // room for one
    const second = ch.send(message(5)); // must not take that room before 4
    await Promise.all([first, second, drain(ch, 5).then((got) => expect(got).toEqual([1, 2, 3, 4, 5]))]);
  });

  test('sends issued one per turn against a slow consumer in another process arrive in order, each once', async () => {
    const ch = fullChannel();
    const N = 300;
    // The consumer takes the messages with a pause now and then: room comes
    // while some sends are parked and the next ones are being issued.
    const script = `
      const { Channel } = require(${JSON.stringify(packageRootFor())});
      const ch = Channel.fromId(${ch.id});
      (async () => {
        const got = [];
        for (let i = 0; i < ${4 + N}; i++) {
          got.push((await ch.receive({ timeout: 20000 })).readUInt32LE(0));
          if (i % 7 === 0) await new Promise((r) => setTimeout(r, 1));
        }
        process.stdout.write(JSON.stringify(got));
        ch.close();
      })().catch((e) => { console.error(e); process.exit(1); });`;
    const child = spawn(process.execPath, ['-e', script], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    const exited = new Promise<number | null>((resolve) => child.on('exit', resolve));
    const sends: Promise<void>[] = [];
    let n = 4;
    await new Promise<void>((resolve) => {
      const issue = () => {
        if (n === 4 + N) return resolve();
        sends.push(ch.send(message(n++)));
        setImmediate(issue);
      };
      issue();
    });
    await Promise.all(sends);
    expect(await exited).toBe(0);
    expect(JSON.parse(out)).toEqual(Array.from({ length: 4 + N }, (_, i) => i));
  }, 30000);

  test('trySend() is false while an earlier send() of the object waits, true once it landed', async () => {
    const ch = fullChannel();
    const parked = ch.send(message(4));
    expect(numberOf(ch.tryReceive())).toBe(0);
    expect(ch.trySend(message(98))).toBe(false); // the room is 4's
    expect(ch.trySendFrom(message(98))).toBe(false);
    await parked;
    expect(numberOf(ch.tryReceive())).toBe(1);
    expect(ch.trySend(message(5))).toBe(true);
    expect(await drain(ch, 4)).toEqual([2, 3, 4, 5]);
  });

  test('a queued send() times out or is aborted while it waits; the others keep their order', async () => {
    const ch = fullChannel();
    const ac = new AbortController();
    const a = ch.send(message(4));
    const timedOut = ch.send(message(97), { timeout: 30 });
    const aborted = ch.send(message(96), { signal: ac.signal });
    const zero = ch.send(message(95), { timeout: 0 });
    const b = ch.send(message(5));
    await expect(zero).rejects.toMatchObject({ code: 'ETIMEDOUT' });
    await expect(timedOut).rejects.toMatchObject({ code: 'ETIMEDOUT' });
    ac.abort();
    await expect(aborted).rejects.toMatchObject({ name: 'AbortError' });
    const got = await drain(ch, 6);
    await Promise.all([a, b]);
    expect(got).toEqual([0, 1, 2, 3, 4, 5]);
  });

  test('close() rejects the parked and the queued sends; remove() ends them with EIDRM', async () => {
    const ch = fullChannel();
    const sends = [ch.send(message(4)), ch.send(message(5)), ch.send(message(6))];
    ch.close();
    for (const s of sends) await expect(s).rejects.toMatchObject({ code: 'ERR_SYSV_IPC_CLOSED' });

    const other = fullChannel();
    const more = [other.send(message(4)), other.send(message(5))];
    other.remove();
    for (const s of more) await expect(s).rejects.toMatchObject({ code: 'EIDRM' });
  });
});

describe('send() keeps one object’s order: what a queued send takes and when it ends (review R15)', () => {
  test('a queued sendFrom() sends the bytes its buffer held at the call, as a parked one does', async () => {
    const ch = fullChannel();
    const buf = Buffer.alloc(1000);
    const sends: Promise<void>[] = [];
    for (let n = 4; n < 8; n++) {
      buf.writeUInt32LE(n, 0); // one scratch buffer, reused per call (the hot path)
      sends.push(ch.sendFrom(buf));
    }
    buf.writeUInt32LE(77, 0);
    const got = await drain(ch, 8);
    await Promise.all(sends);
    expect(got).toEqual([0, 1, 2, 3, 4, 5, 6, 7]);
  });

  test('a sendFrom() deferred a turn by the streak breaker sends the bytes of its call too', async () => {
    const ch = track(Channel.create({ capacity: 1 << 20, maxMessageSize: 1000 }));
    const buf = Buffer.alloc(16);
    const sends: Promise<void>[] = [];
    for (let n = 0; n < 100; n++) {
      buf.writeUInt32LE(n, 0); // more than a turn's streak (64) of sends that land at once
      sends.push(ch.sendFrom(buf));
    }
    buf.writeUInt32LE(777, 0);
    await Promise.all(sends);
    expect(await drain(ch, 100)).toEqual(Array.from({ length: 100 }, (_, i) => i));
  });

  test('many queued sends sharing one long-lived signal leave no listener on it', async () => {
    const ch = fullChannel();
    const ac = new AbortController();
    const sends: Promise<void>[] = [];
    for (let n = 4; n < 204; n++) sends.push(ch.send(message(n), { signal: ac.signal }));
    expect(getEventListeners(ac.signal, 'abort').length).toBeGreaterThan(0);
    const got = await drain(ch, 204);
    await Promise.all(sends);
    expect(got).toEqual(Array.from({ length: 204 }, (_, i) => i));
    expect(getEventListeners(ac.signal, 'abort').length).toBe(0);
  });

  test('a .then of a send that issues a send: it lands after the queued ones, nothing stalls', async () => {
    const ch = fullChannel();
    const later: Promise<void>[] = [];
    const first = ch.send(message(4)).then(() => {
      later.push(ch.send(message(7)));
    });
    const second = ch.send(message(5));
    const third = ch.send(message(6));
    const got = await drain(ch, 8);
    await Promise.all([first, second, third, ...later]);
    expect(got).toEqual([0, 1, 2, 3, 4, 5, 6, 7]);
    expect(ch.trySend(message(8))).toBe(true); // nothing unsettled any more
  });

  test('a .then of the parked send that closes the channel: the queued ones reject, none stalls', async () => {
    const ch = fullChannel();
    const first = ch.send(message(4)).then(() => ch.close());
    const queued = [ch.send(message(5)), ch.send(message(6), { timeout: 5000 })];
    expect(numberOf(ch.tryReceive())).toBe(0);
    await first;
    // 5 may have started (and landed) before the close ran; 6 then cannot.
    const settled = await Promise.allSettled(queued);
    expect(settled[1]).toMatchObject({ status: 'rejected', reason: { code: 'ERR_SYSV_IPC_CLOSED' } });
  });

  test('a queued send times out measured from its call, not from when it starts', async () => {
    const ch = fullChannel();
    const a = ch.send(message(4), { timeout: 150 }); // parks, times out at ~150 ms
    const t0 = Date.now();
    const b = ch.send(message(5), { timeout: 200 });
    await expect(a).rejects.toMatchObject({ code: 'ETIMEDOUT' });
    await expect(b).rejects.toMatchObject({ code: 'ETIMEDOUT' });
    const took = Date.now() - t0;
    expect(took).toBeGreaterThanOrEqual(195);
    expect(took).toBeLessThan(300);
    expect(ch.trySend(message(6))).toBe(false); // still full
    expect(numberOf(ch.tryReceive())).toBe(0);
    expect(ch.trySend(message(6))).toBe(true); // nothing unsettled
  });

  test('a send() that failed at its call (aborted, timeout 0) does not make trySend() false', async () => {
    const ch = fullChannel();
    const ac = new AbortController();
    ac.abort();
    const aborted = ch.send(message(50), { signal: ac.signal });
    const zero = ch.send(message(51), { timeout: 0 }); // full: ETIMEDOUT at once
    expect(numberOf(ch.tryReceive())).toBe(0); // room, and no send of this object waits for it
    expect(ch.trySend(message(4))).toBe(true);
    await expect(aborted).rejects.toMatchObject({ name: 'AbortError' });
    await expect(zero).rejects.toMatchObject({ code: 'ETIMEDOUT' });
    expect(await drain(ch, 4)).toEqual([1, 2, 3, 4]);
  });

  test('close() while a send is deferred a turn and others queue behind it: all reject closed, none stalls', async () => {
    const ch = track(Channel.create({ capacity: 1 << 20, maxMessageSize: 1000 }));
    const sends: Promise<void>[] = [];
    for (let n = 0; n < 80; n++) sends.push(ch.send(message(n, 16))); // 64 land, the 65th waits a turn
    ch.close();
    const settled = await Promise.allSettled(sends);
    const landed = settled.filter((r) => r.status === 'fulfilled').length;
    expect(landed).toBeGreaterThanOrEqual(1);
    expect(landed).toBeLessThanOrEqual(64);
    for (const r of settled.slice(landed)) {
      expect(r).toMatchObject({ status: 'rejected', reason: { code: 'ERR_SYSV_IPC_CLOSED' } });
    }
  });

  // A script run in a child: sends behind a parked one on a full channel.
  function childScript(id: number, unref: boolean): string {
    return `
      const { Channel } = require(${JSON.stringify(packageRootFor())});
      const ch = Channel.fromId(${id});
      ${unref ? 'ch.unref();' : ''}
      const m = (n) => { const b = Buffer.alloc(1000); b.writeUInt32LE(n, 0); return b; };
      for (let n = 4; n < 14; n++) ch.send(m(n), { timeout: 60000 }).then(() => process.stdout.write(n + ' '), (e) => { console.error(e); process.exit(3); });
      process.on('exit', () => process.stdout.write('exit'));`;
  }

  test('a refed child with queued sends lives until they land; an unref()ed one exits at once', async () => {
    const ch = fullChannel();
    const run = (unref: boolean) => {
      const child = spawn(process.execPath, ['-e', childScript(ch.id, unref)], {
        stdio: ['ignore', 'pipe', 'inherit'],
      });
      let out = '';
      child.stdout.on('data', (d) => (out += d));
      const exited = new Promise<number | null>((resolve) => child.on('exit', resolve));
      return { child, exited, out: () => out };
    };
    const u = run(true);
    const t0 = Date.now();
    expect(await u.exited).toBe(0);
    expect(Date.now() - t0).toBeLessThan(5000);
    expect(u.out()).toBe('exit');

    const r = run(false);
    let exited = false;
    void r.exited.then(() => (exited = true));
    await new Promise((res) => setTimeout(res, 1000));
    expect(exited).toBe(false); // its sends wait for room
    const got = await drain(ch, 14);
    expect(await r.exited).toBe(0);
    expect(got).toEqual(Array.from({ length: 14 }, (_, i) => i));
    expect(r.out()).toBe('4 5 6 7 8 9 10 11 12 13 exit');
  }, 20000);

  test('in a worker (native path) the sends of one object land in call order', async () => {
    const ch = fullChannel();
    const code = `
      const { parentPort, workerData } = require('node:worker_threads');
      const { Channel } = require(${JSON.stringify(packageRootFor())});
      const ch = Channel.fromId(workerData);
      const m = (n) => { const b = Buffer.alloc(1000); b.writeUInt32LE(n, 0); return b; };
      const sends = [];
      let n = 4;
      const issue = () => {
        if (n === 204) return Promise.all(sends).then(() => { ch.close(); parentPort.postMessage('done'); });
        sends.push(ch.send(m(n++), { timeout: 20000 }));
        setImmediate(issue);
      };
      issue();`;
    const w = new Worker(code, { eval: true, workerData: ch.id });
    const done = new Promise((resolve, reject) => {
      w.on('message', resolve);
      w.on('error', reject);
    });
    const got: number[] = [];
    for (let i = 0; i < 204; i++) {
      got.push(numberOf(await ch.receive({ timeout: 10000 })));
      if (i % 5 === 0) await new Promise((r) => setTimeout(r, 1));
    }
    expect(await done).toBe('done');
    await w.terminate();
    expect(got).toEqual(Array.from({ length: 204 }, (_, i) => i));
  }, 30000);
});
