/**
 * Channel across real processes: Node and C peers (include/sysv-ipc/channel.h),
 * many producers and consumers, SIGKILL storms, garbage from another process.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Channel, SharedMemory, remove } from '../../lib';
import { randomKey, sleep, threadsBlockedIn, threadsInFutexOn, track, until, useCleanup } from '../support/helpers';

useCleanup();

const ROOT = path.join(__dirname, '..', '..');
const PEER_JS = path.join(__dirname, '..', 'fixtures', 'channel-peer.js');
const live = new Set<ChildProcess>();

afterEach(async () => {
  for (const c of live) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  live.clear();
});

interface Ran {
  proc: ChildProcess;
  done: Promise<{ code: number | null; signal: string | null; out: Buffer; err: string }>;
}

function run(cmd: string, args: Array<string | number>): Ran {
  const proc = spawn(cmd, args.map(String), { stdio: ['ignore', 'pipe', 'pipe'], cwd: ROOT });
  live.add(proc);
  const out: Buffer[] = [];
  let err = '';
  proc.stdout!.on('data', (d: Buffer) => out.push(d));
  proc.stderr!.on('data', (d: Buffer) => {
    err += d.toString();
  });
  const done = new Promise<{ code: number | null; signal: string | null; out: Buffer; err: string }>((resolve) => {
    proc.on('close', (code, signal) => {
      live.delete(proc);
      resolve({ code, signal, out: Buffer.concat(out), err });
    });
  });
  return { proc, done };
}

const node = (...args: Array<string | number>) => run(process.execPath, [PEER_JS, ...args]);

interface RecvReport {
  got: Record<string, number[]>;
  bad: number;
  maxGapMs: number;
}

async function report(r: Ran): Promise<RecvReport> {
  const res = await r.done;
  if (res.code !== 0) throw new Error(`peer failed (code ${res.code}, signal ${res.signal}): ${res.err}`);
  return JSON.parse(res.out.toString().trim().split('\n').pop()!) as RecvReport;
}

/** (producer, seq) pairs a C receiver wrote: 8 bytes each; a torn last record is ignored. */
function idsOf(out: Buffer): Array<[number, number]> {
  const ids: Array<[number, number]> = [];
  for (let i = 0; i + 8 <= out.length; i += 8) ids.push([out.readUInt32LE(i), out.readUInt32LE(i + 4)]);
  return ids;
}

/** Every seq of each producer in `want` exactly once overall, in order per receiver. */
function checkDelivery(receivers: Array<Record<string, number[]>>, want: Record<number, number>, allowedMissing = 0) {
  const seen = new Map<number, Set<number>>();
  let duplicates = 0;
  for (const got of receivers) {
    for (const [p, seqs] of Object.entries(got)) {
      for (let i = 1; i < seqs.length; i++) {
        if (seqs[i] <= seqs[i - 1]) throw new Error(`producer ${p}: receiver saw seq ${seqs[i]} after ${seqs[i - 1]}`);
      }
      const s = seen.get(Number(p)) ?? new Set<number>();
      for (const q of seqs) {
        if (s.has(q)) duplicates++;
        s.add(q);
      }
      seen.set(Number(p), s);
    }
  }
  expect(duplicates).toBe(0);
  let missing = 0;
  for (const [p, count] of Object.entries(want)) {
    const s = seen.get(Number(p)) ?? new Set<number>();
    for (let q = 0; q < count; q++) if (!s.has(q)) missing++;
    for (const q of s) expect(q).toBeLessThan(count);
  }
  expect(missing).toBeLessThanOrEqual(allowedMissing);
  return missing;
}

let cPeer: string | undefined;
let cLitmus: string | undefined;
beforeAll(() => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sysv-ipc-channel-c-'));
  const build = (name: string) => {
    execFileSync(
      'cc',
      [
        '-O2',
        '-std=c11',
        '-Wall',
        '-Wextra',
        '-Werror',
        `-I${path.join(ROOT, 'include')}`,
        '-o',
        path.join(dir, name),
        path.join(__dirname, '..', 'c', `${name}.c`),
      ],
      { stdio: 'pipe' },
    );
    return path.join(dir, name);
  };
  try {
    cPeer = build('channel-peer');
    cLitmus = build('channel-litmus');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err; // no cc: the C tests are skipped
  }
});

const withC = (name: string, fn: () => Promise<void>, timeout?: number) =>
  test(
    name,
    async () => {
      if (!cPeer) {
        console.warn(`skipped (no C compiler): ${name}`);
        return;
      }
      await fn();
    },
    timeout,
  );

describe('two processes', () => {
  test.each([
    ['sync', 'async'],
    ['async', 'sync'],
    ['from', 'into'],
    ['try', 'iter'],
  ])(
    'a %s producer to a %s consumer: every message intact, in order, through many wrap-arounds',
    async (sendHow, recvHow) => {
      const ch = track(Channel.create({ capacity: 16384, maxMessageSize: 4000 }));
      const n = 1500;
      const consumer = node('recv', ch.id, recvHow);
      const producer = node('send', ch.id, 7, n, 4000, sendHow);
      await report(producer);
      ch.sendSync('STOP');
      const r = await report(consumer);
      expect(r.bad).toBe(0);
      checkDelivery([r.got], { 7: n });
      expect(ch.info()).toMatchObject({ messages: 0, bytes: 0, usedBytes: 0 });
    },
  );
});

describe('3 producers x 3 consumers', () => {
  test.each([
    [
      ['sync', 'async', 'from'],
      ['sync', 'async', 'iter'],
    ],
    [
      ['try', 'async', 'sync'],
      ['into', 'asyncinto', 'try'],
    ],
  ])(
    'producers %j, consumers %j: nothing lost, nothing duplicated, per-producer order',
    async (sends, recvs) => {
      const ch = track(Channel.create({ capacity: 65536, maxMessageSize: 3000 }));
      const n = 800;
      const consumers = recvs.map((how) => node('recv', ch.id, how));
      const producers = sends.map((how, i) => node('send', ch.id, i + 1, n, 3000, how));
      for (const p of producers) await report(p);
      for (let i = 0; i < consumers.length; i++) ch.sendSync('STOP');
      const reports = await Promise.all(consumers.map(report));
      for (const r of reports) expect(r.bad).toBe(0);
      checkDelivery(
        reports.map((r) => r.got),
        { 1: n, 2: n, 3: n },
      );
      expect(ch.info().messages).toBe(0);
    },
    60000,
  );
});

describe('C peers (include/sysv-ipc/channel.h)', () => {
  withC('a Node producer to a C consumer', async () => {
    const ch = track(Channel.create({ capacity: 16384, maxMessageSize: 2000 }));
    const consumer = run(cPeer!, ['recv', ch.id]);
    await report(node('send', ch.id, 5, 4000, 2000, 'sync'));
    ch.sendSync('STOP');
    const res = await consumer.done;
    expect(res.err).toBe('');
    expect(res.code).toBe(0);
    const got: Record<string, number[]> = {};
    for (const [p, q] of idsOf(res.out)) (got[p] ??= []).push(q);
    checkDelivery([got], { 5: 4000 });
  });

  withC('a C producer to a Node consumer, and both kinds of producer to both kinds of consumer', async () => {
    const ch = track(Channel.create({ capacity: 32768, maxMessageSize: 2000 }));
    const nodeConsumer = node('recv', ch.id, 'async');
    const cConsumer = run(cPeer!, ['recv', ch.id]);
    const cProducer = run(cPeer!, ['send', ch.id, 11, 3000, 2000]);
    await report(node('send', ch.id, 12, 3000, 2000, 'async'));
    expect((await cProducer.done).code).toBe(0);
    ch.sendSync('STOP');
    ch.sendSync('STOP');
    const r = await report(nodeConsumer);
    const c = await cConsumer.done;
    expect(c.code).toBe(0);
    const cGot: Record<string, number[]> = {};
    for (const [p, q] of idsOf(c.out)) (cGot[p] ??= []).push(q);
    expect(r.bad).toBe(0);
    checkDelivery([r.got, cGot], { 11: 3000, 12: 3000 });
  });
});

/** The CPUs this process may run on (/proc/self/status Cpus_allowed_list, e.g. "0-1,4"). */
function allowedCpus(): number[] {
  const line = /^Cpus_allowed_list:\s*(.+)$/m.exec(fs.readFileSync('/proc/self/status', 'utf8'));
  const cpus: number[] = [];
  for (const part of (line?.[1] ?? '').split(',')) {
    const [a, b] = part.split('-').map(Number);
    for (let c = a; c <= (b ?? a); c++) cpus.push(c);
  }
  return cpus;
}

describe('where the peer runs (docs/channel-layout.md, "the CPU hints")', () => {
  const cpus = allowedCpus();
  // Both ends pinned (taskset) to one CPU, then to two: the spin must yield to
  // a peer on its own CPU and may spin on loads alone for one elsewhere; either
  // way every message arrives, and each side's hint names the CPU it ran on.
  test.each([
    ['one CPU', 0, 0],
    ['two CPUs', 0, 1],
  ])("a C producer and a C consumer on %s: every message, and each hint is 1 + that side's CPU", async (_, pi, ci) => {
    if (!cPeer || cpus.length <= Math.max(pi, ci)) {
      console.warn(
        `skipped (${cPeer ? `${cpus.length} CPU allowed` : 'no C compiler'}): peers pinned to CPUs ${pi}, ${ci}`,
      );
      return;
    }
    const [pCpu, cCpu] = [cpus[pi], cpus[ci]];
    const ch = track(Channel.create({ capacity: 4096, maxMessageSize: 200 }));
    const consumer = run('taskset', ['-c', cCpu, cPeer, 'recv', ch.id]);
    const producer = await run('taskset', ['-c', pCpu, cPeer, 'send', ch.id, 3, 3000, 200]).done;
    expect(producer).toMatchObject({ code: 0, err: '' });
    // Read before the STOP below, which this (unpinned) process publishes.
    const shm = SharedMemory.fromId(ch.id);
    const hints = { producer: shm.buffer.readUInt32LE(96), consumer: 0 };
    await until(() => ch.info().messages === 0, 10000, 'the consumer drains the ring');
    hints.consumer = shm.buffer.readUInt32LE(144);
    shm.detach();
    ch.sendSync('STOP');
    const c = await consumer.done;
    expect(c).toMatchObject({ code: 0, err: '' });
    const got: Record<string, number[]> = {};
    for (const [p, q] of idsOf(c.out)) (got[p] ??= []).push(q);
    checkDelivery([got], { 3: 3000 });
    expect(hints).toEqual({ producer: pCpu + 1, consumer: cCpu + 1 });
  });

  test('Node peers on one CPU: a sync receive yields to its producer and takes the reply in JavaScript', async () => {
    // The JS spin gave up at once when the producer shared its CPU, and the
    // native receive then yielded and took the message natively (a malloc'd
    // Buffer and a native call per message: the one-CPU regression of issue
    // 25). It now yields itself and takes the message in JavaScript, where a
    // 64-byte Buffer is a slice of Node's pool (its ArrayBuffer is not its
    // own). Counted over many round trips: a turn whose yield did not reach
    // the peer (another process ran) still goes native, and is allowed.
    if (cpus.length === 0) return;
    const a = track(Channel.create({ capacity: 4096 }));
    const b = track(Channel.create({ capacity: 4096 }));
    const n = 400;
    const script = `
      const { Channel } = require(${JSON.stringify(path.join(ROOT, 'dist'))});
      const [role, req, rep, n] = process.argv.slice(1);
      const inbox = Channel.fromId(Number(role === 'echo' ? req : rep));
      const outbox = Channel.fromId(Number(role === 'echo' ? rep : req));
      let inJs = 0, wrong = 0;
      for (let i = 0; i < Number(n); i++) {
        if (role === 'client') outbox.sendSync(Buffer.alloc(64, i & 255));
        const m = inbox.receiveSync({ timeout: 60000 });
        if (m.length !== 64 || m[0] !== (i & 255)) wrong++;
        if (m.buffer.byteLength > m.length) inJs++;
        if (role === 'echo') outbox.sendSync(m);
      }
      process.stdout.write(JSON.stringify({ inJs, wrong }));`;
    const [echo, client] = ['echo', 'client'].map((role) =>
      run('taskset', ['-c', cpus[0], process.execPath, '-e', script, role, a.id, b.id, n]),
    );
    const results = [];
    for (const r of [echo, client]) {
      const res = await r.done;
      expect({ code: res.code, err: res.err }).toEqual({ code: 0, err: '' });
      results.push(JSON.parse(res.out.toString()) as { inJs: number; wrong: number });
    }
    expect(results.map((r) => r.wrong)).toEqual([0, 0]);
    for (const r of results) expect(r.inJs).toBeGreaterThan(n / 2);
  }, 120000);
});

describe('open-or-create', () => {
  test('processes racing to open(key, { create: true }) all end up on one initialised channel', async () => {
    for (let round = 0; round < 1; round++) {
      const key = randomKey();
      const n = 6;
      const script = `
        const { Channel } = require(${JSON.stringify(path.join(ROOT, 'dist'))});
        const ch = Channel.open(${key}, { create: true, capacity: 8192 });
        ch.sendSync(String(process.pid));
        process.stdout.write(JSON.stringify({ id: ch.id, created: ch.created, capacity: ch.capacity }));
        ch.close();`;
      const kids = Array.from({ length: n }, () => run(process.execPath, ['-e', script]));
      const results = await Promise.all(
        kids.map(async (k) => {
          const res = await k.done;
          expect(res.err).toBe('');
          return JSON.parse(res.out.toString()) as { id: number; created: boolean; capacity: number };
        }),
      );
      const ch = track(Channel.open(key));
      expect(new Set(results.map((r) => r.id))).toEqual(new Set([ch.id]));
      expect(results.filter((r) => r.created)).toHaveLength(1);
      const pids = new Set<string>();
      for (let b = ch.tryReceive(); b; b = ch.tryReceive()) pids.add(b.toString());
      expect(pids.size).toBe(n);
    }
  });
});

describe('crash safety', () => {
  withC(
    'SIGKILL storm: producers and consumers killed at random instants while others run',
    async () => {
      const ch = track(Channel.create({ capacity: 65536, maxMessageSize: 2000 }));
      const n = 4000;
      const stableConsumer = node('recv', ch.id, 'async');
      const stable = [node('send', ch.id, 1, n, 2000, 'sync'), node('send', ch.id, 2, n, 2000, 'async')];
      // C chaos: a driver forks producers and receivers and SIGKILLs each 0-5 ms after its start.
      const storm = run(cPeer!, ['storm', ch.id, 5000, 2000, Date.now() % 100000]);
      // Node chaos: producers killed mid-stream, now and then.
      let nodeKills = 0;
      const end = Date.now() + 4500;
      while (Date.now() < end) {
        const victim = node('send', ch.id, 5000 + nodeKills, 1e9, 2000, nodeKills % 2 ? 'async' : 'sync');
        await sleep(200 + Math.random() * 300);
        victim.proc.kill('SIGKILL');
        const res = await victim.done;
        expect(res.err).toBe('');
        nodeKills++;
      }
      const stormRes = await storm.done;
      expect(stormRes.code).toBe(0);
      const [kills, receiverKills] = stormRes.err.trim().split(' ').map(Number);
      const sends = await Promise.all(stable.map((s) => report(s)));
      ch.sendSync('STOP');
      const r = await report(stableConsumer);
      // The storm's receivers all wrote to the driver's stdout (8-byte writes to a pipe are atomic).
      const chaosGot: Record<string, number[]> = {};
      for (const [p, q] of idsOf(stormRes.out)) (chaosGot[p] ??= []).push(q);
      expect(r.bad).toBe(0);
      // A receiver killed between taking a message and writing its id down loses that one message.
      // (Per-receiver order is not checkable in the merged stream of the chaos receivers: check only counts there.)
      const missing = checkDelivery([r.got], { 1: n, 2: n }, Infinity);
      const chaosIds = new Set(
        idsOf(stormRes.out)
          .filter(([p]) => p === 1 || p === 2)
          .map(([p, q]) => `${p}:${q}`),
      );
      let lost = 0;
      for (const p of [1, 2]) {
        const mine = new Set(r.got[p] ?? []);
        for (let q = 0; q < n; q++) {
          const inChaos = chaosIds.has(`${p}:${q}`);
          expect(inChaos && mine.has(q)).toBe(false); // exactly one receiver
          if (!inChaos && !mine.has(q)) lost++;
        }
      }
      expect(lost).toBe(missing - chaosIds.size);
      expect(lost).toBeLessThanOrEqual(receiverKills);
      const longestSend = Math.max(...sends.map((s) => s.maxGapMs));
      console.log(
        `storm (checks passed): ${kills} C kills (${receiverKills} receivers) + ${nodeKills} Node producers killed; ` +
          `${lost} messages were taken by receivers killed before they returned them (expected: at most one per ` +
          `killed receiver); longest send ${longestSend.toFixed(1)} ms; ` +
          `longest wait between two messages at the stable consumer ${r.maxGapMs.toFixed(1)} ms`,
      );
      // A few hundred on an idle 2-core machine; fewer under load or sanitizers (the checks above hold either way).
      expect(kills).toBeGreaterThanOrEqual(50);
      // The bound is 1 s; 3 s leaves room for a loaded CI machine.
      expect(longestSend).toBeLessThan(3000);
      expect(r.maxGapMs).toBeLessThan(3000);
      expect(ch.info()).toMatchObject({ messages: 0, usedBytes: 0 });
    },
    60000,
  );

  test('a producer killed while holding the send lock: the next sender takes over (zombie or reused pid)', async () => {
    const ch = track(Channel.create({ capacity: 4096 }));
    const shm = SharedMemory.fromId(ch.id);
    try {
      const words = new Uint32Array(shm.arrayBuffer, 80, 4); // the send lock record (docs/channel-layout.md)
      // A zombie holder: our own child, killed, not reaped (we block synchronously below).
      const child = spawn('sleep', ['30'], { stdio: 'ignore' });
      live.add(child);
      await sleep(50);
      const start = (await import('../../lib/binding')).binding.processStartTime(child.pid!);
      expect(start).toBeGreaterThan(0);
      words[0] = child.pid!;
      new BigUint64Array(shm.arrayBuffer, 88, 1)[0] = BigInt(start);
      expect(ch.trySend('blocked?')).toBe(false); // alive: the lock is busy
      child.kill('SIGKILL');
      // Still unreaped (this thread never returns to the event loop): a zombie counts as dead.
      ch.sendSync('after a zombie', { timeout: 5000 });
      expect(words[0]).toBe(0);
      // A holder whose pid now belongs to another process (a different start time).
      words[0] = 1;
      new BigUint64Array(shm.arrayBuffer, 88, 1)[0] = 12345n;
      ch.sendSync('after pid reuse', { timeout: 5000 });
      expect(ch.receiveSync().toString()).toBe('after a zombie');
      expect(ch.receiveSync().toString()).toBe('after pid reuse');
    } finally {
      shm.detach();
    }
  });
});

describe('memory ordering (docs/channel-layout.md, "Ordering")', () => {
  // Issue 19 item 6. The stress is the litmus test on real arm64 hardware; on
  // x86 (and under qemu in scripts/ci-arm64-smoke.sh) it runs the protocol's
  // reuse races: records taken and rewritten under readers, all checked.
  withC(
    'competing consumers on a full 256-byte ring: no CORRUPT, no wrong EMSGSIZE, every payload intact and in order',
    async () => {
      const res = await run(cLitmus!, [2, 4, 100000]).done;
      expect(res.err).toBe('');
      expect(res.out.toString()).toMatch(
        /received 200000 of 200000; corrupt 0, emsgsize 0, bad 0, order 0, stats corrupt 0/,
      );
      expect(res.code).toBe(0);
    },
    120000,
  );
});

describe('removal reaches senders parked on the send lock', () => {
  // Issue 19 item 8: lock_wait never read the channel's state, so a sender
  // parked on a held send lock with no deadline slept on through remove() and,
  // once the lock came free, published one more record into the removed channel.
  const cases: Array<[string, (ch: Channel) => void]> = [
    ['remove()', (ch) => ch.remove()],
    // IPC_RMID alone, as ipcrm does: no removed bit, seen by the sleepers' look at IPC_STAT.
    ['an IPC_RMID by another tool', (ch) => remove('shm', ch.id)],
  ];
  for (const [how, removeIt] of cases) {
    withC(
      `${how}: a C sender, a Node sendSync() and a send() parked on a lock a live process holds end with EIDRM, nothing published`,
      async () => {
        const ch = track(Channel.create({ capacity: 4096 }));
        const shm = SharedMemory.fromId(ch.id);
        const holder = spawn('sleep', ['60'], { stdio: 'ignore' });
        live.add(holder);
        try {
          const { binding } = await import('../../lib/binding');
          await until(() => binding.processStartTime(holder.pid!) > 0, 10000, 'the holder to run');
          // The send lock record (docs/channel-layout.md, lock.h): a live holder that never lets go.
          new BigUint64Array(shm.arrayBuffer, 88, 1)[0] = BigInt(binding.processStartTime(holder.pid!));
          const lockWord = new Uint32Array(shm.arrayBuffer, 80, 1);
          lockWord[0] = holder.pid!;
          const tail = new BigUint64Array(shm.arrayBuffer, 64, 1);
          const cSender = run(cPeer!, ['send', ch.id, 1, 1, 64]);
          const nodeSenders = ['sendSync', 'send'].map((form) =>
            run(process.execPath, [
              '-e',
              `const { Channel } = require(${JSON.stringify(path.join(ROOT, 'dist'))});
             const ch = Channel.fromId(${ch.id});
             const out = (s) => process.stdout.write(s);
             try { Promise.resolve(ch.${form}('one more')).then(() => out('sent'), (e) => out(e.code)); } catch (e) { out(e.code); }`,
            ]),
          );
          // A send() parked in the addon's futex parker sleeps on the lock word in futex_waitv, whose
          // arguments do not name the word: there, a parker thread asleep and the word's WAITERS bit.
          const parked = (pid: number, form: string) =>
            threadsInFutexOn(pid, ch.id, 20) > 0 ||
            (form === 'send' && threadsBlockedIn(pid, 'futex_waitv') > 0 && (lockWord[0] & 0x80000000) !== 0);
          for (const [s, form] of [
            [cSender, 'c'],
            [nodeSenders[0], 'sendSync'],
            [nodeSenders[1], 'send'],
          ] as const) {
            await until(() => parked(s.proc.pid!, form), 20000, `the ${form} sender to park on the send lock`);
          }
          removeIt(ch);
          let timer: NodeJS.Timeout | undefined;
          const ended = await Promise.race([
            Promise.all([cSender.done, ...nodeSenders.map((n) => n.done)]),
            new Promise<null>((r) => {
              timer = setTimeout(r, 15000, null);
            }),
          ]);
          clearTimeout(timer);
          expect(ended).not.toBeNull(); // still parked after remove(): the removal was not seen
          const [c, ...nodes] = ended!;
          expect({ code: c.code, err: c.err.trim() }).toEqual({ code: 1, err: 'send: Identifier removed' });
          expect(nodes.map((n) => n.out.toString())).toEqual(['EIDRM', 'EIDRM']);
          expect(tail[0]).toBe(0n); // nothing was published
          expect(lockWord[0] & 0x3fffff).toBe(holder.pid); // and the live holder's lock was not taken (bit 31: its waiters)
        } finally {
          holder.kill('SIGKILL');
          shm.detach();
        }
      },
      60000,
    );
  }
});

describe('garbage from another process', () => {
  withC(
    'random bytes over the header and the records: coded errors, never a crash or a hang',
    async () => {
      const seen = new Set<string>();
      for (let seed = 1; seed <= 4; seed++) {
        const ch = track(Channel.create({ capacity: 8192, maxMessageSize: 1000 }));
        const script = `
        const { Channel } = require(${JSON.stringify(path.join(ROOT, 'dist'))});
        const codes = {};
        let ch;
        const t0 = Date.now();
        try { ch = Channel.fromId(${ch.id}); } catch (e) { codes[e.code] = 1; }
        const big = Buffer.alloc(900, 1);
        while (ch && Date.now() - t0 < 800) {
          for (const op of [() => ch.trySend(big), () => ch.tryReceive(), () => ch.receiveSync({ timeout: 2 }),
                            () => ch.sendSync(big, { timeout: 2 }), () => ch.info(), () => ch.tryReceiveInto(big)]) {
            try { op(); } catch (e) { codes[e.code] = (codes[e.code] || 0) + 1; }
          }
        }
        process.stdout.write(JSON.stringify(codes));`;
        // Real traffic first; then scribble once the victim has attached and works.
        for (let i = 0; i < 5; i++) ch.trySend(Buffer.alloc(500, i));
        const victim = run(process.execPath, ['-e', script]);
        await until(() => ch.info().attachments === 2, 10000, 'the victim to attach');
        const scribbler = run(cPeer!, ['scribble', ch.id, seed, 4000 * seed]);
        expect((await scribbler.done).code).toBe(0);
        let timer: NodeJS.Timeout | undefined;
        const res = await Promise.race([
          victim.done,
          new Promise<null>((r) => {
            timer = setTimeout(r, 20000, null);
          }),
        ]);
        clearTimeout(timer);
        expect(res).not.toBeNull(); // no hang
        expect(res!.signal).toBeNull(); // no crash
        expect(res!.err).toBe('');
        const codes = JSON.parse(res!.out.toString()) as Record<string, number>;
        for (const code of Object.keys(codes)) {
          seen.add(code);
          expect([
            'ERR_SYSV_IPC_CHANNEL_CORRUPT',
            'ERR_SYSV_IPC_NOT_A_CHANNEL',
            'ETIMEDOUT',
            'EIDRM',
            'EMSGSIZE',
          ]).toContain(code);
        }
      }
      expect(seen.has('ERR_SYSV_IPC_CHANNEL_CORRUPT')).toBe(true);
    },
    60000,
  );
});

describe('the JavaScript hot path (lib/channel-ring.ts) against C peers', () => {
  withC('Node try forms to a C consumer, a C producer to Node try and tryInto consumers', async () => {
    const ch = track(Channel.create({ capacity: 8192, maxMessageSize: 1000 }));
    const cConsumer = run(cPeer!, ['recv', ch.id]);
    await report(node('send', ch.id, 21, 3000, 1000, 'try'));
    ch.sendSync('STOP');
    const c = await cConsumer.done;
    expect(c.code).toBe(0);
    const cGot: Record<string, number[]> = {};
    for (const [p, q] of idsOf(c.out)) (cGot[p] ??= []).push(q);
    checkDelivery([cGot], { 21: 3000 });

    const tryConsumer = node('recv', ch.id, 'try');
    const intoConsumer = node('recv', ch.id, 'into');
    const cProducer = run(cPeer!, ['send', ch.id, 22, 3000, 1000]);
    expect((await cProducer.done).code).toBe(0);
    ch.sendSync('STOP');
    ch.sendSync('STOP');
    const a = await report(tryConsumer);
    const b = await report(intoConsumer);
    expect(a.bad + b.bad).toBe(0);
    checkDelivery([a.got, b.got], { 22: 3000 });
  });

  test('trySend and tryReceive record where they ran in the CPU hints (bytes 96 and 144)', () => {
    const ch = track(Channel.create({ capacity: 4096 }));
    const shm = SharedMemory.fromId(ch.id);
    try {
      const words = new Uint32Array(shm.arrayBuffer, 0, 64);
      Atomics.store(words, 96 / 4, 0);
      Atomics.store(words, 144 / 4, 0);
      const cpus = os.cpus().length;
      expect(ch.trySend('hint')).toBe(true);
      const producer = Atomics.load(words, 96 / 4);
      expect(producer).toBeGreaterThanOrEqual(1); // 1 + a CPU number
      expect(producer).toBeLessThanOrEqual(Math.max(cpus, 1024));
      expect(ch.tryReceive()!.toString()).toBe('hint');
      expect(Atomics.load(words, 144 / 4)).toBeGreaterThanOrEqual(1);
    } finally {
      shm.detach();
    }
  });

  test('a send-lock holder that died (reaped): trySend from JavaScript takes the lock over', async () => {
    const ch = track(Channel.create({ capacity: 4096 }));
    const shm = SharedMemory.fromId(ch.id);
    try {
      const words = new Uint32Array(shm.arrayBuffer, 80, 4);
      const child = spawn('sleep', ['30'], { stdio: 'ignore' });
      live.add(child);
      await sleep(50);
      const { binding } = await import('../../lib/binding');
      const start = binding.processStartTime(child.pid!);
      words[0] = child.pid!;
      new BigUint64Array(shm.arrayBuffer, 88, 1)[0] = BigInt(start);
      expect(ch.trySend('blocked')).toBe(false); // alive: busy
      const exited = new Promise((r) => child.once('exit', r));
      child.kill('SIGKILL');
      await exited; // reaped: its pid names nobody
      let sent = false;
      for (const end = Date.now() + 10000; !sent && Date.now() < end;) {
        sent = ch.trySend('after the holder died');
        if (!sent) await sleep(20);
      }
      expect(sent).toBe(true);
      expect(words[0]).toBe(0); // released again, by us
      expect(ch.tryReceive()!.toString()).toBe('after the holder died');
    } finally {
      shm.detach();
    }
  });

  test.each([
    ['across 2^32 (the high half of head and tail changes)', 2n ** 32n - 256n],
    ['beyond 2^52 (the JavaScript path hands the channel to the native one)', 2n ** 60n - 256n],
    ['across 2^64 (the positions wrap)', 2n ** 64n - 256n],
  ])('positions %s: every message arrives intact and in order', (_name, start) => {
    const ch = track(Channel.create({ capacity: 1024, maxMessageSize: 256 }));
    const shm = SharedMemory.fromId(ch.id);
    try {
      const positions = new BigUint64Array(shm.arrayBuffer, 0, 32);
      positions[8] = start; // tail (byte 64)
      positions[16] = start; // head (byte 128): an empty ring
      const into = Buffer.alloc(256);
      for (let i = 0; i < 300; i++) {
        const len = 1 + ((i * 37) % 200);
        const sent = Buffer.alloc(len, i & 255);
        if (i % 2 === 0) {
          expect(ch.trySend(sent)).toBe(true);
          expect(ch.trySendFrom(sent)).toBe(true);
          expect(ch.tryReceive()).toEqual(sent);
        } else {
          ch.sendSync(sent);
          ch.sendFromSync(sent);
          expect(ch.receiveSync()).toEqual(sent);
        }
        expect(ch.tryReceiveInto(into)).toBe(len);
        expect(into.subarray(0, len)).toEqual(sent);
      }
      expect(ch.tryReceive()).toBeUndefined();
      expect(BigInt.asUintN(64, positions[8]! - start)).toBeGreaterThan(1024n); // it went round the ring
    } finally {
      shm.detach();
    }
  });

  test('a corrupt record: the JavaScript and the native try report the same code and message', async () => {
    const ch = track(Channel.create({ capacity: 4096, maxMessageSize: 1000 }));
    const shm = SharedMemory.fromId(ch.id);
    try {
      ch.trySend(Buffer.alloc(100, 7));
      new Uint32Array(shm.arrayBuffer, 256, 2)[0] = 5000; // longer than maxMessageSize
      let js: Error | undefined;
      try {
        ch.tryReceive();
      } catch (err) {
        js = err as Error;
      }
      expect(js).toMatchObject({ code: 'ERR_SYSV_IPC_CHANNEL_CORRUPT', id: ch.id });
      const script = `
        const { Channel } = require(${JSON.stringify(path.join(ROOT, 'dist'))});
        const ch = Channel.fromId(${ch.id});
        try { ch.tryReceive(); } catch (e) { process.stdout.write(JSON.stringify({ code: e.code, message: e.message })); }`;
      const proc = spawn(process.execPath, ['-e', script], {
        env: { ...process.env, SYSV_IPC_CHANNEL_JS: '0' },
        stdio: ['ignore', 'pipe', 'inherit'],
      });
      live.add(proc);
      let out = '';
      proc.stdout!.on('data', (d: Buffer) => (out += d.toString()));
      await new Promise((r) => proc.once('close', r));
      expect(JSON.parse(out)).toEqual({ code: 'ERR_SYSV_IPC_CHANNEL_CORRUPT', message: js!.message });
    } finally {
      shm.detach();
    }
  });
});
