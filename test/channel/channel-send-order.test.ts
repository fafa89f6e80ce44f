// Per-producer order of send(): a send() that finds the ring full parks; a
// later send() of the same object must not land before it, even when room
// appears between the two calls (DESIGN: "per-producer order").
import { Channel } from '../../lib';
import { spawn } from 'node:child_process';
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
