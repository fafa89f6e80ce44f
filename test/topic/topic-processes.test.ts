/**
 * Topic across real processes: fan-out to subscriber processes (Node and C,
 * include/sysv-ipc/topic.h), several publishers, SIGKILLed and zombie
 * subscriptions, joining and leaving while a publisher streams, removal.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { SharedMemory, Topic } from '../../lib';
import { sleep, track, until, useCleanup } from '../support/helpers';
import { useTopicPeer } from './c-peer';

useCleanup();

const ROOT = path.join(__dirname, '..', '..');
const PEER_JS = path.join(__dirname, '..', 'fixtures', 'topic-peer.js');
const live = new Set<ChildProcess>();

afterEach(() => {
  for (const c of live) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  live.clear();
});

interface Ran {
  proc: ChildProcess;
  ready: Promise<void>;
  done: Promise<{ code: number | null; signal: string | null; out: string; err: string }>;
}

function run(cmd: string, args: Array<string | number>): Ran {
  const proc = spawn(cmd, args.map(String), { stdio: ['ignore', 'pipe', 'pipe'], cwd: ROOT });
  live.add(proc);
  let out = '';
  let err = '';
  let onReady: () => void = () => undefined;
  const ready = new Promise<void>((r) => (onReady = r));
  proc.stdout!.on('data', (d: Buffer) => {
    out += d.toString();
    if (out.includes('READY\n')) onReady();
  });
  proc.stderr!.on('data', (d: Buffer) => (err += d.toString()));
  const done = new Promise<{ code: number | null; signal: string | null; out: string; err: string }>((resolve) => {
    proc.on('close', (code, signal) => {
      live.delete(proc);
      onReady();
      resolve({ code, signal, out, err });
    });
  });
  return { proc, ready, done };
}

const node = (...args: Array<string | number>) => run(process.execPath, [PEER_JS, ...args]);

interface SubReport {
  ids: number[];
  bad: number;
  missed: number;
}

async function report(r: Ran): Promise<SubReport> {
  const res = await r.done;
  if (res.code !== 0) throw new Error(`peer failed (code ${res.code}, signal ${res.signal}): ${res.err}`);
  return JSON.parse(res.out.trim().split('\n').pop()!) as SubReport;
}

const seqOf = (producer: number, n: number) => Array.from({ length: n }, (_, i) => producer * 1e6 + i);

const peer = useTopicPeer();
let cPeer: string | undefined;
beforeAll(() => (cPeer = peer.path()));

describe('Topic across processes', () => {
  test('fan-out to 3 subscriber processes (sync, async, slow) through a small ring: nothing lost, order and bytes kept', async () => {
    const t = track(Topic.create({ capacity: 4096, maxMessageSize: 512 }));
    const subs = [node('sub', t.id, 'sync', 3000), node('sub', t.id, 'async', 3000), node('sub', t.id, 'slow', 3000)];
    await Promise.all(subs.map((s) => s.ready));
    const pub = node('pub', t.id, 1, 3000, 512, 'async');
    for (const s of subs) {
      const r = await report(s);
      expect(r.bad).toBe(0);
      expect(r.missed).toBe(0);
      expect(r.ids).toEqual(seqOf(1, 3000));
    }
    expect((await pub.done).code).toBe(0);
  }, 120_000);

  test('two publisher processes, two subscriber processes: the same total order in both', async () => {
    const t = track(Topic.create({ capacity: 2048, maxMessageSize: 256 }));
    const subs = [node('sub', t.id, 'into', 4000), node('sub', t.id, 'iter', 4000)];
    await Promise.all(subs.map((s) => s.ready));
    const pubs = [node('pub', t.id, 1, 2000, 256, 'sync'), node('pub', t.id, 2, 2000, 256, 'async')];
    const [a, b] = [await report(subs[0]!), await report(subs[1]!)];
    expect(a.bad + b.bad).toBe(0);
    expect(a.ids).toEqual(b.ids);
    // Each publisher's own messages in its order.
    expect(a.ids.filter((id) => id < 2e6)).toEqual(seqOf(1, 2000));
    expect(a.ids.filter((id) => id >= 2e6)).toEqual(seqOf(2, 2000));
    for (const p of pubs) expect((await p.done).code).toBe(0);
  }, 120_000);

  test("'wait': a SIGKILLed subscriber and a zombie one stop holding the publisher within a second", async () => {
    const t = track(Topic.create({ capacity: 1024 }));
    const killed = node('hold', t.id);
    // A zombie: the shell execs sleep, which never reaps the node child it inherits.
    const shell = run('sh', ['-c', `"${process.execPath}" "${PEER_JS}" hold ${t.id} & exec sleep 600`]);
    await killed.ready;
    await shell.ready;
    await until(() => t.info().subscribers === 2, 10_000, 'two subscriptions');
    const zombiePid = t
      .info()
      .subscriptions.map((s) => s.pid)
      .find((p) => p !== killed.proc.pid)!;
    while (t.tryPublish('x'.repeat(100)));
    while (t.tryPublish(''));
    expect(t.tryPublish('')).toBe(false);
    killed.proc.kill('SIGKILL');
    process.kill(zombiePid, 'SIGKILL');
    await until(() => fs.readFileSync(`/proc/${zombiePid}/stat`, 'utf8').includes(') Z '), 10_000, 'a zombie');
    // Within about a second (100 ms slices and a /proc look); bounded generously for a loaded machine.
    t.publishSync('go', { timeout: 15_000 });
    expect(t.info().subscribers).toBe(0);
    for (let i = 0; i < 50; i++) await t.publish('x'.repeat(100), { timeout: 15_000 });
    shell.proc.kill('SIGKILL');
  }, 60_000);

  test('subscriptions joining and leaving while a publisher process streams see gap-free runs', async () => {
    const t = track(Topic.create({ capacity: 8192, maxMessageSize: 64 }));
    const keeper = t.subscribe(); // the stream cannot run past the first joiner unread
    const pub = node('pub', t.id, 3, 20000, 64, 'sync');
    let rounds = 0;
    while (rounds < 20 && pub.proc.exitCode === null) {
      const s = t.subscribe();
      const got: number[] = [];
      const until = performance.now() + 20;
      while (performance.now() < until) {
        const m = s.tryReceive();
        if (m !== undefined) got.push(m.readUInt32LE(4));
        keeper.tryReceiveInto(Buffer.alloc(64));
      }
      for (let i = 1; i < got.length; i++) expect(got[i]).toBe(got[i - 1]! + 1);
      expect(s.missed).toBe(0);
      s.close();
      rounds++;
      for (let i = 0; i < 200; i++) keeper.tryReceiveInto(Buffer.alloc(64));
    }
    keeper.close();
    await pub.done;
    expect(rounds).toBeGreaterThan(0);
  }, 60_000);

  test('a storm of SIGKILLed publishers (Node and C): whole messages, gap-free runs, and the steady publisher is never stalled for long', async () => {
    const t = track(Topic.create({ capacity: 8192, maxMessageSize: 1024 }));
    const s = t.subscribe(); // subscribed before every publisher: on a 'wait' topic it sees all they committed
    const STEADY = 2000;
    const steady = node('pub', t.id, 1, STEADY, 1024, 'sync');
    const into = Buffer.alloc(1024);
    const due = new Map<number, number>(); // producer → the sequence number due next from it
    let bad = 0;
    let killed = 0; // storm publishers killed after their first message was seen: mid-stream
    let spawned = 0;
    let maxGapMs = 0;
    let lastAt = performance.now();
    let storm: Ran | undefined;
    let stormProducer = 0;
    let stormSpawnedAt = 0;
    let killAt = Infinity;
    const take = (n: number): void => {
      // The time between two messages, the timeouts in between included: a stall shows here.
      const now = performance.now();
      maxGapMs = Math.max(maxGapMs, now - lastAt);
      lastAt = now;
      const producer = into.readUInt32LE(0);
      const seq = into.readUInt32LE(4);
      const base = (Math.imul(producer, 31) + Math.imul(seq, 7)) >>> 0;
      let ok = n >= 8;
      for (let i = 8; ok && i < n; i++) ok = into[i] === ((base + i) & 255);
      if (!ok) {
        bad++;
        return;
      }
      // Every publisher's messages, a killed one's too, are one run from its first: none lost or repeated.
      expect(seq).toBe(due.get(producer) ?? 0);
      due.set(producer, seq + 1);
      // Killed a few ms after its first message was seen: while it streams, often inside a publish.
      if (producer === stormProducer && killAt === Infinity) killAt = now + Math.random() * 50;
    };
    while (due.get(1) !== STEADY || killed < 25) {
      if (storm === undefined) {
        stormProducer = 10 + spawned++;
        storm =
          cPeer && spawned % 2 === 0
            ? run(cPeer, ['pub', t.id, stormProducer, 1_000_000, 1024])
            : node('pub', t.id, stormProducer, 1_000_000, 1024, spawned % 4 === 1 ? 'sync' : 'async');
        stormSpawnedAt = performance.now();
        killAt = Infinity;
      } else if (storm.proc.exitCode !== null) {
        throw new Error(`a storm publisher exited by itself: ${(await storm.done).err}`);
      } else if (performance.now() >= killAt || performance.now() - stormSpawnedAt > 30_000) {
        if (killAt !== Infinity) killed++;
        storm.proc.kill('SIGKILL');
        storm = undefined;
      }
      try {
        take(await s.receiveInto(into, { timeout: 200 }));
      } catch (err) {
        if ((err as { code?: string }).code !== 'ETIMEDOUT') throw err;
        continue;
      }
      // Then read what is there at once: the publishers, not this reader, are the bottleneck,
      // so that they spend their time publishing (holding the lock) rather than waiting for room.
      for (let i = 0, n = 0; i < 256 && (n = s.tryReceiveInto(into)) >= 0; i++) take(n);
    }
    storm?.proc.kill('SIGKILL');
    expect(bad).toBe(0);
    expect(s.missed).toBe(0);
    expect(killed).toBeGreaterThan(3);
    expect((await steady.done).code).toBe(0);
    // A killed lock holder is taken over within about 0.3 s; a liveness bound, generous for a loaded machine.
    expect(maxGapMs).toBeLessThan(20_000);
  }, 120_000);

  test('remove() wakes a subscriber process parked in a receive (EIDRM ends it)', async () => {
    const t = track(Topic.create({ capacity: 1024 }));
    const s = node('sub', t.id, 'sync', 10);
    await s.ready;
    await sleep(100);
    t.remove();
    const r = await report(s);
    expect(r.ids).toEqual([]);
  }, 30_000);

  test('a C publisher to Node subscribers, and a Node publisher to a C subscriber, through topic.h', async () => {
    if (!cPeer) {
      console.warn('skipped (no C compiler)');
      return;
    }
    const t = track(Topic.create({ capacity: 4096, maxMessageSize: 300 }));
    const nodeSub = node('sub', t.id, 'async', 3000);
    const cSub = run(cPeer, ['sub', t.id, 3000]);
    await Promise.all([nodeSub.ready, cSub.ready]);
    const cPub = run(cPeer, ['pub', t.id, 4, 1500, 300]);
    const nodePub = node('pub', t.id, 5, 1500, 300, 'sync');
    const [a, b] = [await report(nodeSub), await report(cSub)];
    expect(a.bad + b.bad).toBe(0);
    expect(a.ids).toEqual(b.ids);
    expect(a.ids.filter((id) => id < 5e6)).toEqual(seqOf(4, 1500));
    expect(a.ids.filter((id) => id >= 5e6)).toEqual(seqOf(5, 1500));
    expect((await cPub.done).code).toBe(0);
    expect((await nodePub.done).code).toBe(0);
  }, 120_000);

  test('a C subscriber meeting padding that runs past the tail reports corrupt, not an endless spin', async () => {
    if (!cPeer) {
      console.warn('skipped (no C compiler)');
      return;
    }
    const t = track(Topic.create({ capacity: 1024, maxSubscribers: 4 }));
    const cSub = run(cPeer, ['sub', t.id, 1]);
    await cSub.ready;
    const raw = SharedMemory.fromId(t.id);
    const words = new Int32Array(raw.arrayBuffer);
    words[((256 + 32 * 4 + 63) & ~63) / 4] = -1; // padding at ring offset 0 (where the subscription is)
    Atomics.store(words, 64 / 4, 8); // tail: 8 bytes committed
    raw.detach();
    const res = await Promise.race([cSub.done, sleep(15_000).then(() => 'still spinning')]);
    expect(res).toMatchObject({ code: 8, err: expect.stringContaining('receive: Bad message') });
  }, 60_000);
});
