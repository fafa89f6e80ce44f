/**
 * Async sends parked on a Channel's send-lock word in the futex parker
 * (lock.h's sysv_ipc_lock_arm; issue 25, "Parking that scales"): what a lock
 * word's wakes and values do to the waits parked on it: remove()'s wake,
 * which leaves the word as it is, and hostile words. (Begun by review R10.)
 */
import { spawn } from 'node:child_process';
import { setMaxListeners } from 'node:events';
import { readdirSync, readFileSync } from 'node:fs';
import * as path from 'node:path';
import { Channel, SharedMemory } from '../../lib';
import {
  describeIfProbes,
  haveFutexWaitv,
  probes,
  sleep,
  testIf,
  threadsInFutexOn,
  track,
  until,
  useCleanup,
} from '../support/helpers';

useCleanup();

const DIST = JSON.stringify(path.join(__dirname, '..', '..', 'dist'));
const WAITERS = 0x80000000 | 0;

const HAVE_WAITV = haveFutexWaitv();

/** Settlement times (performance.now()) and error codes of sends, looked at without awaiting them. */
function watchAll(ps: Promise<void>[]) {
  const w = { at: [] as number[], codes: [] as string[], all: undefined as unknown as Promise<unknown> };
  w.all = Promise.all(
    ps.map((p) =>
      p.then(
        () => {
          w.at.push(performance.now());
          w.codes.push('sent');
        },
        (e: { code?: string; name?: string }) => {
          w.at.push(performance.now());
          w.codes.push(e.code ?? e.name ?? String(e));
        },
      ),
    ),
  );
  return w;
}

// Every test here needs the parker: without futex_waitv nothing parks on the lock word.
const parkedTest = testIf(HAVE_WAITV, 'futex_waitv unavailable: nothing parks on the lock word');

describeIfProbes('sends parked on the send-lock word', () => {
  beforeAll(() => setMaxListeners(0));
  beforeEach(() => {
    probes.futexParker(true);
  });
  afterAll(() => {
    probes.futexParker(true);
  });

  /**
   * One round: `channels` fresh channels whose send-lock word (offset 80) holds this process's own pid,
   * a live holder that never releases; on each, `sends` objects each with a send() parked on the word
   * (one object per send: the send()s of one object queue behind each other, per-producer order) and
   * `receives` objects each with a receive() parked beside them. `beforeRemove` runs once they parked;
   * then every channel is removed, and every wait must end EIDRM. Returns the removal's time and each
   * send's settlement time.
   */
  async function removeWhileParked(
    shape: { channels?: number; sends: number; receives?: number },
    beforeRemove: () => Promise<void>,
  ): Promise<{ removedAt: number; sentAt: number[] }> {
    const { channels = 1, sends, receives = 0 } = shape;
    const chs = Array.from({ length: channels }, () => Channel.create({ capacity: 65536 }));
    const shms = chs.map((ch) => SharedMemory.fromId(ch.id));
    const senders = chs.flatMap((ch) => Array.from({ length: sends }, () => Channel.fromId(ch.id)));
    const receivers = chs.flatMap((ch) => Array.from({ length: receives }, () => Channel.fromId(ch.id)));
    try {
      for (const shm of shms) Atomics.store(new Int32Array(shm.arrayBuffer, 80, 1), 0, process.pid);
      const sent = watchAll(senders.map((s, i) => s.send(`m${i}`, { timeout: 120000 })));
      const recvs = receivers.map((o) =>
        o.receive({ timeout: 120000 }).then(
          () => 'got',
          (e: { code?: string }) => e.code,
        ),
      );
      await until(() => probes.waiterThreads() >= 1, 20000, 'the waits parked');
      await beforeRemove();
      expect(sent.codes).toEqual([]);
      const removedAt = performance.now();
      for (const ch of chs) ch.remove();
      await sent.all;
      expect(await Promise.all(recvs)).toEqual(receivers.map(() => 'EIDRM'));
      expect(sent.codes).toEqual(senders.map(() => 'EIDRM'));
      return { removedAt, sentAt: sent.at };
    } finally {
      for (const o of [...senders, ...receivers]) o.close();
      for (const shm of shms) shm.detach();
      for (const ch of chs) {
        try {
          ch.remove();
        } catch {
          // removed above
        }
      }
    }
  }

  parkedTest(
    'remove() ends all the sends one parker holds on the lock word in one turn, not each at its nap',
    async () => {
      // remove() wakes the lock word's sleepers and leaves the word as it is: futex_waitv names one
      // woken futex, so the parker must run again every wait on that word, not only the named one.
      // Unfixed, the others ended at their own nap (up to SYSV_IPC_CHANNEL_NAP_NS, 200 ms, later):
      // the window below is half that nap (wide, for a loaded machine, where the parker thread itself can
      // be preempted mid-turn; fixed, the spread is 1-2 ms), and 8 rounds make lucky nap ends unlikely
      // (unfixed: 58-186 ms).
      const spreads: number[] = [];
      for (let round = 0; round < 8; round++) {
        // Past the first nap, at a point of the nap grid that varies by round.
        const { sentAt } = await removeWhileParked({ sends: 40 }, () => sleep(250 + round * 23));
        spreads.push(Math.round(Math.max(...sentAt) - Math.min(...sentAt)));
      }
      // The first and the last of each round's 40 rejections: one parker turn apart.
      expect(spreads.filter((ms) => ms >= 100)).toEqual([]);
    },
    120000,
  );

  parkedTest(
    'remove() in the window between a parker turn and its sleep still ends the sends parked on the lock word',
    async () => {
      // remove() sets REMOVED and wakes the lock word without changing it. A parker turn that looked at the
      // state word before, and sleeps after, finds no sleeper woken and a word that did not move: unless the
      // state word is in its futex_waitv set, it sleeps until the nap ends (150-200 ms). A loaded machine
      // (CI) preempts the parker there; the probe holds it there, 60 ms, so that remove() lands in the window
      // every time. Fixed, the sends end when the pause does. The 127 sends of one channel fill a parker
      // (they share one entry of its set: room for the state word). The last round fills one with 127
      // channels, a send each (127 lock words and the control word: no room left in the set for their
      // state words), whose turns then look again every 2 ms. (There, a nap end of waits that parked in
      // another step of the nap grid, within the pause, can end them first: the round shows that path
      // ends them in time, not always that it is needed.)
      const lates: number[] = [];
      for (const [channels, sends] of [
        [1, 4],
        [1, 4],
        [1, 127],
        [127, 1],
      ] as const) {
        const { removedAt, sentAt } = await removeWhileParked({ channels, sends }, async () => {
          await sleep(50);
          // The next turn (a nap's end) pauses before it sleeps.
          probes.parkerPauseBeforeSleep(60);
          await until(() => probes.parkerPauseBeforeSleep() === 2, 20000, 'a parker turn paused before its sleep');
        });
        lates.push(Math.round(Math.max(...sentAt) - removedAt));
      }
      // Fixed: the rest of the 60 ms pause, then one turn. Unfixed: the nap's end, 90-200 ms after the pause.
      expect(lates.filter((ms) => ms >= 120)).toEqual([]);
    },
    120000,
  );

  parkedTest(
    'a parker full of sends on one lock word sleeps while the holder lives: no look every 2 ms',
    async () => {
      // Review R19 of 333c4d3: a lock-word send also puts its channel's state word in the parker's
      // futex_waitv set, and a set with no room for it (127 waits and the control word) looked again every
      // 2 ms. 127 sends of one channel (each object its own: they all park) filled a parker: 254 sends
      // made two parkers wake ~1,000 times a second each for as long as the holder lived (1,000 sends:
      // 3,500 wake-ups and ~16% of a CPU a second). The 127 waits are on one word at one value: one
      // entry of the set serves them all, and the state word fits beside it. Counted: the process's
      // voluntary context switches (a thread that sleeps again), which a loaded machine does not add to.
      const sleeps = () => {
        const byThread = new Map<string, number>();
        for (const tid of readdirSync('/proc/self/task')) {
          try {
            const status = readFileSync(`/proc/self/task/${tid}/status`, 'utf8');
            byThread.set(tid, Number(/^voluntary_ctxt_switches:\s+(\d+)/m.exec(status)?.[1] ?? 0));
          } catch {
            // a thread that ended meanwhile
          }
        }
        return byThread;
      };
      let during = -1;
      const { removedAt, sentAt } = await removeWhileParked({ sends: 254 }, async () => {
        await until(() => probes.waiterThreads() >= 2, 20000, 'two parkers');
        await sleep(500);
        const before = sleeps();
        await sleep(2000);
        during = 0;
        for (const [tid, n] of sleeps()) during += n - (before.get(tid) ?? 0);
      });
      console.log(`2 s with 254 sends parked on one lock word: ${during} voluntary context switches`);
      expect(during).toBeLessThan(400); // unfixed: ~2,000
      expect(Math.max(...sentAt) - removedAt).toBeLessThan(1000);
    },
    120000,
  );

  parkedTest(
    'remove() reaches sends parked on the lock word when receives of the channel park beside them',
    async () => {
      // Review R16: remove() adds to data_seq, wakes it, then wakes the lock word (unchanged). futex_waitv
      // names one woken futex: when it names a receive's data_seq, the re-arm by page offset (72) leaves
      // the sends on the lock word (offset 80) asleep until their nap (unfixed: 23-189 ms after remove()).
      const lates: number[] = [];
      for (let round = 0; round < 8; round++) {
        const { removedAt, sentAt } = await removeWhileParked({ sends: 20, receives: 10 }, () =>
          sleep(250 + round * 23),
        );
        lates.push(Math.round(Math.max(...sentAt) - removedAt));
      }
      expect(lates.filter((ms) => ms >= 100)).toEqual([]);
    },
    120000,
  );

  parkedTest(
    "an aborted send that a release woke passes the wake on to the lock word's next sleeper",
    async () => {
      // lock.h's release wakes one sleeper, which takes the lock and, WAITERS set, wakes the next at its
      // own release. A parked send that such a wake reached, aborted before its parker looked again,
      // used the wake up: the next sleeper (S, another process's futex wait on the word, queued after
      // the send) slept on until its own timeout. The race is between the wake and the parker's turn:
      // rounds with the abort at varied instants after the release; S must be woken in every one.
      const ch = track(Channel.create({ capacity: 65536 }));
      const shm = SharedMemory.fromId(ch.id);
      const word = new Int32Array(shm.arrayBuffer, 80, 1);
      const S = spawn(
        process.execPath,
        [
          '-e',
          `const { SharedMemory } = require(${DIST});
        const shm = SharedMemory.fromId(${ch.id});
        require('node:readline').createInterface({ input: process.stdin }).on('line', (v) => {
          process.stdout.write(shm.waitSync(20, Number(v), { timeout: 2000 }) + '\\n');
        });`,
        ],
        { stdio: ['pipe', 'pipe', 'inherit'] },
      );
      const exited = new Promise((r) => S.once('exit', r));
      const answers: string[] = [];
      let buf = '';
      S.stdout!.on('data', (d: Buffer) => {
        buf += String(d);
        for (let i; (i = buf.indexOf('\n')) >= 0; buf = buf.slice(i + 1)) answers.push(buf.slice(0, i));
      });
      const outcomes = { woken: 0, notEqual: 0, timedOut: 0, sent: 0, aborted: 0 };
      try {
        for (let round = 0; round < 60; round++) {
          Atomics.store(word, 0, process.pid); // held by us, alive
          const ac = new AbortController();
          const a = ch.send('a', { signal: ac.signal, timeout: 60000 }).then(
            () => 'sent',
            (e: { name?: string }) => e.name,
          );
          // The send armed (it set WAITERS) and its parker sleeps; then S sleeps on the word, after it.
          await until(() => (Atomics.load(word, 0) & WAITERS) !== 0, 20000, 'the send armed');
          await sleep(20);
          S.stdin!.write(`${Atomics.load(word, 0)}\n`);
          await until(() => threadsInFutexOn(S.pid!, ch.id, 20) >= 1, 20000, 'S sleeps on the word');
          // lock.h's release: the word to 0, one FUTEX_WAKE (WAITERS was set); then the abort.
          const old = Atomics.exchange(word, 0, 0);
          if (old & WAITERS) shm.notify(20, 1);
          const spinUntil = performance.now() + (round % 10) * 0.02;
          while (performance.now() < spinUntil);
          ac.abort();
          const how = await a;
          if (how === 'sent') outcomes.sent++;
          else outcomes.aborted++;
          await until(() => answers.length > 0, 20000, "S's answer");
          const said = answers.shift();
          if (said === 'ok') outcomes.woken++;
          else if (said === 'not-equal') outcomes.notEqual++;
          else outcomes.timedOut++;
          while (ch.tryReceive() !== undefined);
        }
      } finally {
        S.kill('SIGKILL');
        await exited;
        shm.detach();
      }
      console.log(`60 rounds: ${JSON.stringify(outcomes)}`);
      expect(outcomes.timedOut).toBe(0);
    },
    240000,
  );

  parkedTest(
    'sends parked behind a live holder share its liveness check: no /proc read per send per nap',
    async () => {
      // Each parked send looked at the holder's liveness (open, read, close of /proc/<pid>/stat) at
      // every nap end: 1,000 sends behind one live holder made ~5,000 reads a second (R10: 20,000
      // openat+read+close per 2 s with 2,000 sends). The holder here is init (pid 1) with its own start
      // time in holder_start: alive, and judged so by one look per check interval per channel.
      // Counted on the parker threads alone (those asleep in futex_waitv, syscall 449, seen over a few
      // looks): the process's own total also counts whatever other test files left running in this
      // Jest worker (CI saw 9,482 reads in 2 s there, 12 on the parkers).
      const parkerTids = async () => {
        const seen = new Set<string>();
        for (let i = 0; i < 10; i++) {
          for (const tid of readdirSync('/proc/self/task')) {
            try {
              if (readFileSync(`/proc/self/task/${tid}/syscall`, 'utf8').startsWith('449 ')) seen.add(tid);
            } catch {
              // a thread that ended meanwhile
            }
          }
          await sleep(10);
        }
        return [...seen];
      };
      const readCalls = (tids: string[]) =>
        tids.reduce((sum, tid) => {
          try {
            return sum + Number(/syscr:\s+(\d+)/.exec(readFileSync(`/proc/self/task/${tid}/io`, 'utf8'))![1]);
          } catch {
            return sum; // a thread that ended meanwhile
          }
        }, 0);
      const ch = track(Channel.create({ capacity: 65536 }));
      const shm = SharedMemory.fromId(ch.id);
      try {
        const stat = readFileSync('/proc/1/stat', 'utf8');
        const start = BigInt(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19]);
        new BigUint64Array(shm.arrayBuffer, 88, 1)[0] = start;
        Atomics.store(new Int32Array(shm.arrayBuffer, 80, 1), 0, 1);
        const sends = Array.from({ length: 1000 }, (_, i) =>
          ch.send(`m${i}`, { timeout: 120000 }).then(
            () => 'sent',
            (e: { code?: string }) => e.code,
          ),
        );
        // One of this object's sends parks; the others queue behind it in JavaScript (per-producer order).
        await until(() => probes.waiterThreads() >= 1, 20000, 'the sends parked');
        await sleep(500);
        const parkers = await parkerTids();
        expect(parkers.length).toBeGreaterThan(0);
        const before = readCalls(parkers);
        await sleep(2000);
        const reads = readCalls(parkers) - before;
        console.log(`2 s with 1,000 sends parked behind a live holder: ${reads} read() calls`);
        expect(reads).toBeLessThan(1000);
        // Released as lock.h does: every send lands once.
        const old = Atomics.exchange(new Int32Array(shm.arrayBuffer, 80, 1), 0, 0);
        if (old & WAITERS) shm.notify(20, 1);
        expect(new Set(await Promise.all(sends))).toEqual(new Set(['sent']));
        expect(ch.info().messages).toBe(1000);
      } finally {
        shm.detach();
      }
    },
    120000,
  );
});
