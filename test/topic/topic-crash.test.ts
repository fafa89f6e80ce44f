/**
 * Topic: a publisher SIGKILLed at each point of a publish, the lock held
 * (docs/topic-layout.md, "Crashes"). The C peer (test/c/topic-peer.c, through
 * include/sysv-ipc/topic.h) kills itself between two given stores; the next
 * holder of the publishers' lock (a Node publisher, a subscribe(), a C
 * publisher) must leave a ring whose messages are whole and whose sequence
 * numbers are gap-free, and must wake a subscriber the dead one did not.
 */
import { spawnSync } from 'node:child_process';
import { Topic, type Subscription } from '../../lib';
import { sleep, threadsInFutexOn, track, until, useCleanup } from '../support/helpers';
import { useTopicPeer } from './c-peer';

useCleanup();

const I_DATA_SEQ = 84 >> 2; // the futex word subscribers sleep on (docs/topic-layout.md)
const MAXLEN = 200;
// Messages the C peer publishes before the one it dies in: several rings' worth of 1 KiB, and the
// 34th (by the peers' length rule) needs a padding record and frees 3 messages at head.
const BEFORE = 33;

const peer = useTopicPeer();
let cPeer: string | undefined;
beforeAll(() => (cPeer = peer.path()));

// The peers' message rule (test/fixtures/topic-peer.js).
function message(producer: number, seq: number): Buffer {
  const len = 8 + (((Math.imul(seq, 37) + Math.imul(producer, 11)) >>> 0) % (MAXLEN - 7));
  const buf = Buffer.alloc(len);
  buf.writeUInt32LE(producer, 0);
  buf.writeUInt32LE(seq, 4);
  const base = (Math.imul(producer, 31) + Math.imul(seq, 7)) >>> 0;
  for (let i = 8; i < len; i++) buf[i] = (base + i) & 255;
  return buf;
}
function idOf(buf: Buffer): string {
  expect(buf.equals(message(buf.readUInt32LE(0), buf.readUInt32LE(4)))).toBe(true); // whole, byte-exact
  return `${buf.readUInt32LE(0)}:${buf.readUInt32LE(4)}`;
}

// The C peer publishes BEFORE messages as producer 7, then dies at `point` inside the next publish.
function crashAt(t: Topic, point: number, before = BEFORE): void {
  const r = spawnSync(cPeer!, ['pub-crash', String(t.id), '7', String(before), String(MAXLEN), String(point)], {
    timeout: 30_000,
  });
  expect(r.signal).toBe('SIGKILL');
}

function drain(s: Subscription): string[] {
  const ids: string[] = [];
  for (let m = s.tryReceive(); m !== undefined; m = s.tryReceive()) ids.push(idOf(m));
  return ids;
}

const seqOf = (producer: number, from: number, to: number) =>
  Array.from({ length: to - from }, (_, i) => `${producer}:${from + i}`);

// Points of topic.h's publish: 1 head stored (head_seq not), 2 record header written (payload not),
// 3 payload written (next_seq not), 4 next_seq stored (tail not), 5 tail stored (the commit).
const POINTS = [1, 2, 3, 4, 5];

describe('a publisher killed inside a publish, the lock held', () => {
  test.each(POINTS)(
    'point %i: a Node publisher takes the lock over and the ring stays whole and gap-free',
    async (point) => {
      if (!cPeer) return console.warn('skipped (no C compiler)');
      const t = track(Topic.create({ capacity: 1024, maxMessageSize: MAXLEN }));
      crashAt(t, point);
      const committed = point === 5 ? BEFORE + 1 : BEFORE;
      for (let i = 0; i < 3; i++) t.publishSync(message(8, i), { timeout: 10_000 });
      expect(t.info().published).toBe(committed + 3);
      const s = t.subscribe({ from: 'oldest' });
      const ids = drain(s);
      expect(s.missed).toBe(0);
      expect(ids.length).toBe(t.info().held);
      // The oldest held of producer 7's, then the rest of them in order, then the Node publisher's.
      const first = Number(ids[0]!.split(':')[1]);
      expect(ids).toEqual([...seqOf(7, first, committed), ...seqOf(8, 0, 3)]);
    },
    60_000,
  );

  test.each(POINTS)(
    "point %i: subscribe({ from: 'oldest' }) takes the lock over (topic.h) and reads gap-free",
    async (point) => {
      if (!cPeer) return console.warn('skipped (no C compiler)');
      const t = track(Topic.create({ capacity: 1024, maxMessageSize: MAXLEN }));
      crashAt(t, point);
      const committed = point === 5 ? BEFORE + 1 : BEFORE;
      const s = t.subscribe({ from: 'oldest' });
      expect(t.info().published).toBe(committed);
      const ids = drain(s); // on a 'wait' topic it gates the publisher until it has read
      for (let i = 0; i < 3; i++) t.publishSync(message(8, i), { timeout: 10_000 });
      ids.push(...drain(s));
      expect(s.missed).toBe(0);
      const first = Number(ids[0]!.split(':')[1]);
      expect(ids).toEqual([...seqOf(7, first, committed), ...seqOf(8, 0, 3)]);
    },
    60_000,
  );

  test.each(POINTS)(
    'point %i: a C publisher takes the lock over (topic.h) and a subscription that was behind reads on',
    async (point) => {
      if (!cPeer) return console.warn('skipped (no C compiler)');
      const t = track(Topic.create({ capacity: 1024, maxMessageSize: MAXLEN, whenFull: 'overwrite' }));
      const behind = t.subscribe(); // reads nothing until the end: skipped messages are counted, not torn
      crashAt(t, point);
      const committed = point === 5 ? BEFORE + 1 : BEFORE;
      const r = spawnSync(cPeer, ['pub', String(t.id), '9', '3', String(MAXLEN)], { timeout: 30_000 });
      expect(r.status).toBe(0);
      expect(t.info().published).toBe(committed + 3);
      const ids = drain(behind);
      expect(ids.length + behind.missed).toBe(committed + 3);
      const first = Number(ids[0]!.split(':')[1]);
      expect(ids).toEqual([...seqOf(7, first, committed), ...seqOf(9, 0, 3)]);
    },
    60_000,
  );

  test('killed after the commit, before waking a sleeping subscriber: the next publisher wakes it', async () => {
    if (!cPeer) return console.warn('skipped (no C compiler)');
    const t = track(Topic.create({ capacity: 1024, maxMessageSize: MAXLEN }));
    const s = t.subscribe();
    const got = s.receive({ timeout: 120_000 });
    // Parked on data_seq (it said so in data_sleep), so the C peer's publish clears data_sleep; it dies before the wake.
    await until(() => threadsInFutexOn(process.pid, t.id, I_DATA_SEQ) === 1, 10_000, 'the receive parked on data_seq');
    crashAt(t, 6, 0);
    t.publishSync(message(8, 0), { timeout: 10_000 });
    // Woken by the publisher that took the lock over (the contract: within a second; bounded generously).
    const woken = await Promise.race([got.then(idOf), sleep(20_000).then(() => 'still asleep')]);
    expect(woken).toBe('7:0');
    expect(idOf(await s.receive({ timeout: 10_000 }))).toBe('8:0');
  }, 60_000);

  test('killed after the commit, before waking, and nobody publishes after it: an async receive looks again within a second', async () => {
    if (!cPeer) return console.warn('skipped (no C compiler)');
    const t = track(Topic.create({ capacity: 1024, maxMessageSize: MAXLEN }));
    const s = t.subscribe();
    const got = s.receive(); // no timeout: only its own look can find the message
    await until(() => threadsInFutexOn(process.pid, t.id, I_DATA_SEQ) === 1, 10_000, 'the receive parked on data_seq');
    crashAt(t, 6, 0);
    // The contract: a dead publisher stalls no subscriber beyond 1 s (bounded generously for a loaded machine).
    const woken = await Promise.race([got.then(idOf), sleep(20_000).then(() => 'still asleep')]);
    expect(woken).toBe('7:0');
  }, 60_000);
});

describe('publishers killed while a subscriber reads', () => {
  test('a C publisher killed at each point in turn, a Node publisher after each: one gap-free run', async () => {
    if (!cPeer) return console.warn('skipped (no C compiler)');
    const t = track(Topic.create({ capacity: 4096, maxMessageSize: MAXLEN }));
    const s = t.subscribe();
    const expected: string[] = [];
    const ids: string[] = [];
    for (const point of POINTS) {
      crashAt(t, point, 5);
      expected.push(...seqOf(7, 0, point === 5 ? 6 : 5));
      t.publishSync(message(8, point), { timeout: 10_000 });
      expected.push(`8:${point}`);
      // Read as we go: on a 'wait' topic this subscription gates the publishers.
      ids.push(...drain(s));
    }
    expect(ids).toEqual(expected);
    expect(s.missed).toBe(0);
  }, 60_000);
});
