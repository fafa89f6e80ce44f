/**
 * Issue 25, "Parking that scales": async Channel receives share parker threads
 * (futex_waitv, native/futex_parker.h) instead of holding a thread each. The
 * endings of a parked wait (message, timeout, abort, removal, worker
 * teardown) run both ways: in the shared parker, and on the one-thread-per-
 * wait path kernels without futex_waitv take (the test probe futexParker).
 * The full target (10,000 receives over 1,000 channels) is a bench row:
 * scripts/parker-threads.js.
 */
import { execFileSync } from 'node:child_process';
import { setMaxListeners } from 'node:events';
import { readdirSync, readFileSync } from 'node:fs';
import * as path from 'node:path';
import { Worker } from 'node:worker_threads';
import { Channel, SharedMemory } from '../../lib';
import { binding } from '../../lib/binding';
import {
  describeEachParkerMode,
  describeIfProbes,
  haveFutexWaitv,
  own,
  probes,
  sleep,
  threadsInFutexOn,
  track,
  until,
  useCleanup,
  watch,
} from '../support/helpers';

useCleanup();

const DIST = JSON.stringify(path.join(__dirname, '..', '..', 'dist'));
// The word consumers sleep on (docs/channel-layout.md: data_seq at offset 72), as a 32-bit index.
const DATA_SEQ = 72 / 4;
const threadCount = () => readdirSync('/proc/self/task').length;

const HAVE_WAITV = haveFutexWaitv();

describeIfProbes('parked channel receives', () => {
  test('2,000 pending receives over 200 channels share a few threads, and each message wakes its own receivers', async () => {
    if (!HAVE_WAITV) return console.warn('futex_waitv unavailable: the scaled target has nothing to measure');
    probes.futexParker(true);
    // The pool is the addon's, shared by every test file this Jest process runs: idle
    // threads earlier files left there (kept for reuse) stay counted.
    const base = probes.waiterThreads();
    const baseline = threadCount();
    const channels = Array.from({ length: 200 }, () => track(Channel.create({ capacity: 4096 })));
    const waits = channels.map((ch) => Array.from({ length: 10 }, () => watch(ch.receive({ timeout: 120000 }))));
    // Every wait parked: 2,000 waits, at most 127 per parker thread.
    await until(() => probes.waiterThreads() >= 16, 20000, 'the parkers started');
    await sleep(200);
    const parked = threadCount() - baseline;
    expect(parked).toBeLessThanOrEqual(40);
    expect(threadCount()).toBeLessThan(100);
    // Channel i gets i % 11 messages: exactly that many of its receivers settle, with its own messages.
    let expected = 0;
    channels.forEach((ch, i) => {
      for (let k = 0; k < i % 11 && k < 10; k++) ch.sendSync(`${i}:${k}`);
      expected += Math.min(i % 11, 10);
    });
    const settled = () => waits.flat().filter((w) => w.done).length;
    await until(() => settled() === expected, 60000, `${expected} receives settled`);
    channels.forEach((ch, i) => {
      const done = waits[i].filter((w) => w.done);
      expect(done.length).toBe(Math.min(i % 11, 10));
      for (const w of done) expect(w.value!.toString().split(':')[0]).toBe(String(i));
    });
    // The rest are still parked; a message each completes them all.
    channels.forEach((ch, i) => {
      for (let k = Math.min(i % 11, 10); k < 10; k++) ch.sendSync(`${i}:${k}`);
    });
    await Promise.all(waits.flat().map((w) => w.p));
    channels.forEach((ch, i) => {
      const got = waits[i].map((w) => w.value!.toString()).sort();
      expect(got).toEqual(Array.from({ length: 10 }, (_, k) => `${i}:${k}`).sort());
      expect(ch.info().messages).toBe(0);
    });
    for (const ch of channels) ch.remove();
    // Idle parkers leave (after 2 s without a wait).
    await until(() => probes.waiterThreads() <= base, 20000, 'the parkers left');
    await until(() => threadCount() <= baseline, 10000, 'threads back to baseline');
  }, 180000);

  describeEachParkerMode((parker, skip) => {
    test('abort and timeout end some waits while their neighbours stay parked and complete later', async () => {
      if (skip()) return;
      // Idle threads earlier test files left in the addon's pool, and a parker an earlier test left.
      const base = probes.waiterThreads();
      const ch = track(Channel.create({ capacity: 65536 }));
      const ac = new AbortController();
      setMaxListeners(100, ac.signal); // 30 waits listen to it
      const aborted = Array.from({ length: 30 }, () => watch(ch.receive({ signal: ac.signal })));
      const timed = Array.from({ length: 30 }, () => watch(ch.receive({ timeout: 300 })));
      const rest = Array.from({ length: 40 }, () => watch(ch.receive({ timeout: 120000 })));
      // Asleep on data_seq (in futex, or in a parker's futex_waitv set): the 70 that do not end on their own.
      await until(() => threadsInFutexOn(process.pid, ch.id, DATA_SEQ) >= 70, 20000, 'the waits parked');
      if (parker) expect(probes.waiterThreads()).toBeLessThanOrEqual(base + 1); // all on one parker
      ac.abort();
      await until(() => aborted.every((w) => w.done) && timed.every((w) => w.done), 30000, 'aborts and timeouts');
      for (const w of aborted) expect(w.error).toMatchObject({ name: 'AbortError' });
      for (const w of timed) expect(w.error).toMatchObject({ code: 'ETIMEDOUT', syscall: 'channelReceive' });
      expect(rest.filter((w) => w.done)).toEqual([]);
      for (let i = 0; i < 40; i++) ch.sendSync(`m${i}`);
      const got = await Promise.all(rest.map((w) => w.p));
      expect(got.map(String).sort()).toEqual(Array.from({ length: 40 }, (_, i) => `m${i}`).sort());
      expect(ch.info().messages).toBe(0); // the cancelled waits took nothing
    }, 60000);

    test('parked sends on a full ring: abort, timeout and removal end some, the rest complete as room comes', async () => {
      if (skip()) return;
      // Idle threads earlier test files left in the addon's pool, and a parker an earlier test left.
      const base = probes.waiterThreads();
      const full = () => {
        const ch = track(Channel.create({ capacity: 4096, maxMessageSize: 64 }));
        while (ch.trySend(Buffer.alloc(56, 7)));
        return ch;
      };
      const ch = full();
      const gone = full();
      const ac = new AbortController();
      setMaxListeners(100, ac.signal);
      const aborted = Array.from({ length: 20 }, () => watch(own(ch).send('a', { signal: ac.signal })));
      const timed = Array.from({ length: 20 }, () => watch(own(ch).send('t', { timeout: 300 })));
      const rest = Array.from({ length: 30 }, (_, i) => watch(own(ch).send(`s${i}`, { timeout: 120000 })));
      const removed = Array.from({ length: 30 }, () => watch(own(gone).send('r')));
      await until(() => probes.waiterThreads() >= (parker ? 1 : 100), 20000, 'the sends parked');
      if (parker) expect(probes.waiterThreads()).toBeLessThanOrEqual(base + 1); // all on one parker
      ac.abort();
      gone.remove();
      await until(() => [...aborted, ...timed, ...removed].every((w) => w.done), 30000, 'aborts, timeouts, removal');
      for (const w of aborted) expect(w.error).toMatchObject({ name: 'AbortError' });
      for (const w of timed) expect(w.error).toMatchObject({ code: 'ETIMEDOUT', syscall: 'channelSend' });
      for (const w of removed) expect(w.error).toMatchObject({ code: 'EIDRM' });
      expect(rest.filter((w) => w.done)).toEqual([]);
      // Drain: every parked send gets in as room comes, each exactly once.
      const got: string[] = [];
      while (got.filter((m) => m.startsWith('s')).length < 30) {
        const m = ch.receiveSync({ timeout: 60000 }).toString();
        if (m.startsWith('s')) got.push(m);
        else expect(m).toBe('\x07'.repeat(56));
      }
      await Promise.all(rest.map((w) => w.p));
      expect(got.sort()).toEqual(Array.from({ length: 30 }, (_, i) => `s${i}`).sort());
      expect(ch.tryReceive()).toBeUndefined(); // nothing from the aborted or timed-out sends
    }, 60000);

    test('a send lock a live process never lets go: the parked send times out, its neighbours complete', async () => {
      if (skip()) return;
      const ch = track(Channel.create({ capacity: 4096 }));
      const other = track(Channel.create({ capacity: 4096 }));
      const shm = SharedMemory.fromId(ch.id);
      try {
        // The lock word (docs/channel-layout.md, offset 80) names pid 1 under its real start time: alive, held.
        const view = new DataView(shm.arrayBuffer);
        view.setUint32(80, 1, true);
        view.setBigUint64(88, BigInt(binding.processStartTime(1)), true);
        const send = watch(ch.send('x', { timeout: 1500 }));
        const receives = Array.from({ length: 10 }, () => watch(other.receive({ timeout: 120000 })));
        await until(() => probes.waiterThreads() >= (parker ? 1 : 11), 20000, 'the waits parked');
        for (let i = 0; i < 10; i++) other.sendSync(`n${i}`);
        await Promise.all(receives.map((w) => w.p));
        await until(() => send.done, 30000, 'the send timed out');
        expect(send.error).toMatchObject({ code: 'ETIMEDOUT' });
        expect(ch.tryReceive()).toBeUndefined();
      } finally {
        shm.detach();
      }
    }, 60000);

    test('parked sends behind a send lock whose holder was SIGKILLed: the lock is taken over, every send lands once', async () => {
      if (skip()) return;
      const ch = track(Channel.create({ capacity: 65536 }));
      // A child writes its pid into the lock word (docs/channel-layout.md, offset 80), says so, and is SIGKILLed.
      const script = `
        const { SharedMemory } = require(${DIST});
        const shm = SharedMemory.fromId(${ch.id});
        Atomics.store(new Int32Array(shm.arrayBuffer, 80, 1), 0, process.pid);
        process.stdout.write('holding\\n');
        setInterval(() => {}, 1000);`;
      const { spawn } = await import('node:child_process');
      const child = spawn(process.execPath, ['-e', script], { stdio: ['ignore', 'pipe', 'inherit'] });
      try {
        await new Promise<void>((resolve) => child.stdout!.once('data', () => resolve()));
        // 200 sends: more than one parker's 127 waits, each retrying the held lock.
        const sends = Array.from({ length: 200 }, (_, i) => watch(own(ch).send(`m${i}`, { timeout: 120000 })));
        await until(() => probes.waiterThreads() >= (parker ? 2 : 16), 20000, 'the sends parked');
        expect(sends.filter((w) => w.done)).toEqual([]);
      } finally {
        child.kill('SIGKILL');
        await new Promise((r) => child.once('exit', r));
      }
      // Every send lands once the dead holder's lock is taken over.
      await until(() => ch.info().messages === 200, 60000, 'all 200 sends landed');
      const got = Array.from({ length: 200 }, () => String(ch.tryReceive()));
      expect(got.sort()).toEqual(Array.from({ length: 200 }, (_, i) => `m${i}`).sort());
      expect(ch.tryReceive()).toBeUndefined();
    }, 120000);

    test('parked sends behind a send lock a live process holds sleep on the lock word, and land once when it is released', async () => {
      if (skip()) return;
      const ch = track(Channel.create({ capacity: 65536 }));
      // A child takes the send lock as lock.h does (its pid in the word at offset 80, holder_start 0: a
      // holder stopped between its CAS and its store, alive), holds it until told, then releases it as
      // lock.h does: the word to 0, and one FUTEX_WAKE if a waiter set WAITERS.
      const script = `
        const { SharedMemory } = require(${DIST});
        const shm = SharedMemory.fromId(${ch.id});
        const words = new Int32Array(shm.arrayBuffer, 80, 1);
        Atomics.store(words, 0, process.pid);
        process.stdout.write('holding\\n');
        process.stdin.once('data', () => {
          const old = Atomics.exchange(words, 0, 0);
          if (old & 0x80000000) shm.notify(20, 1);
          process.stdout.write((old & 0x80000000 ? 'waiters' : 'none') + '\\n');
          process.exit(0);
        });`;
      const { spawn } = await import('node:child_process');
      const child = spawn(process.execPath, ['-e', script], { stdio: ['pipe', 'pipe', 'inherit'] });
      const exited = new Promise((r) => child.once('exit', r));
      try {
        await new Promise<void>((resolve) => child.stdout!.once('data', () => resolve()));
        const sends = Array.from({ length: 100 }, (_, i) => watch(own(ch).send(`m${i}`, { timeout: 120000 })));
        await until(() => probes.waiterThreads() >= (parker ? 1 : 16), 20000, 'the sends parked');
        await sleep(500);
        // While the holder lives, the waits sleep: a parker that tried the lock in a spin per send and
        // per turn (F1 of the R7 review) switched thousands of times a second.
        // Per thread, so that threads ending meanwhile (idle pool threads) take nothing off the sum.
        const switches = () => {
          const byThread = new Map<string, number>();
          for (const tid of readdirSync('/proc/self/task')) {
            try {
              const status = readFileSync(`/proc/self/task/${tid}/status`, 'utf8');
              byThread.set(
                tid,
                [...status.matchAll(/_ctxt_switches:\s+(\d+)/g)].reduce((a, m) => a + Number(m[1]), 0),
              );
            } catch {
              // a thread that ended meanwhile
            }
          }
          return byThread;
        };
        const before = switches();
        const cpu = process.cpuUsage();
        await sleep(2000);
        let during = 0;
        for (const [tid, n] of switches()) during += n - (before.get(tid) ?? 0);
        const used = process.cpuUsage(cpu);
        console.log(
          `in 2 s with 100 sends waiting for a held lock: ${during} context switches, cpu ${(used.user + used.system) / 1000} ms`,
        );
        expect(sends.filter((w) => w.done)).toEqual([]);
        if (parker) expect(during).toBeLessThan(1000); // 46 here, 5,900-6,800 before
        const said = new Promise<string>((resolve) => child.stdout!.once('data', (d: Buffer) => resolve(String(d))));
        child.stdin!.write('release\n');
        expect((await said).trim()).toBe('waiters'); // the sleepers said so in the word, as lock.h's do
        await Promise.all(sends.map((w) => w.p));
      } finally {
        child.kill('SIGKILL');
        await exited;
      }
      const got = Array.from({ length: 100 }, () => String(ch.tryReceive()));
      expect(got.sort()).toEqual(Array.from({ length: 100 }, (_, i) => `m${i}`).sort());
      expect(ch.tryReceive()).toBeUndefined();
    }, 120000);

    test('remove() ends sends parked behind a send lock a live process holds, with EIDRM', async () => {
      if (skip()) return;
      const ch = Channel.create({ capacity: 65536 });
      const shm = SharedMemory.fromId(ch.id);
      try {
        // This process's own pid in the word: a live holder that never releases.
        Atomics.store(new Int32Array(shm.arrayBuffer, 80, 1), 0, process.pid);
        const sends = Array.from({ length: 50 }, (_, i) => watch(own(ch).send(`m${i}`, { timeout: 120000 })));
        await until(() => probes.waiterThreads() >= (parker ? 1 : 16), 20000, 'the sends parked');
        await sleep(300);
        expect(sends.filter((w) => w.done)).toEqual([]);
        ch.remove();
        await Promise.all(sends.map((w) => w.p.catch(() => undefined)));
        for (const w of sends) expect(w.error).toMatchObject({ code: 'EIDRM' });
      } finally {
        shm.detach();
        try {
          ch.remove();
        } catch {
          // removed above
        }
      }
    }, 60000);

    test('messages from another process wake the parked receives (shared futexes, keyed by the segment)', async () => {
      if (skip()) return;
      const channels = Array.from({ length: 20 }, () => track(Channel.create({ capacity: 4096 })));
      const waits = channels.map((ch) => Array.from({ length: 5 }, () => watch(ch.receive({ timeout: 120000 }))));
      await until(
        () => channels.reduce((n, ch) => n + threadsInFutexOn(process.pid, ch.id, DATA_SEQ), 0) >= 100,
        20000,
        'the waits parked',
      );
      const ids = JSON.stringify(channels.map((c) => c.id));
      execFileSync(
        process.execPath,
        [
          '-e',
          `const { Channel } = require(${DIST});
          ${ids}.forEach((id, i) => { const ch = Channel.fromId(id); for (let k = 0; k < 5; k++) ch.sendSync(i + ':' + k); ch.close(); });`,
        ],
        { timeout: 60000 },
      );
      await Promise.all(waits.flat().map((w) => w.p));
      channels.forEach((_, i) => {
        expect(waits[i].map((w) => String(w.value)).sort()).toEqual([0, 1, 2, 3, 4].map((k) => `${i}:${k}`));
      });
    }, 60000);

    test('remove() while many wait: every waiter of that channel gets EIDRM, the others stay parked', async () => {
      if (skip()) return;
      const a = track(Channel.create({ capacity: 4096 }));
      const b = track(Channel.create({ capacity: 4096 }));
      const onA = Array.from({ length: 60 }, () => watch(a.receive()));
      const onB = Array.from({ length: 60 }, () => watch(b.receive({ timeout: 120000 })));
      await until(() => probes.waiterThreads() >= (parker ? 1 : 120), 20000, 'the waits parked');
      a.remove();
      await until(() => onA.every((w) => w.done), 30000, 'the waiters of the removed channel');
      for (const w of onA) expect(w.error).toMatchObject({ code: 'EIDRM' });
      expect(onB.filter((w) => w.done)).toEqual([]);
      for (let i = 0; i < 60; i++) b.sendSync('x');
      await Promise.all(onB.map((w) => w.p));
    }, 60000);

    test('a segment removed by another tool (ipcrm: no flag, no wake) ends its parked waits at their next nap', async () => {
      if (skip()) return;
      const ch = track(Channel.create({ capacity: 4096 }));
      const waits = Array.from({ length: 20 }, () => watch(ch.receive()));
      await until(() => probes.waiterThreads() >= (parker ? 1 : 20), 20000, 'the waits parked');
      execFileSync('ipcrm', ['-m', String(ch.id)]);
      await until(() => waits.every((w) => w.done), 30000, 'the waits ended');
      for (const w of waits) expect(w.error).toMatchObject({ code: 'EIDRM' });
    }, 60000);

    test('worker.terminate() with parked receives: no crash, nothing taken, no thread left', async () => {
      if (skip()) return;
      const channels = Array.from({ length: 4 }, () => track(Channel.create({ capacity: 4096 })));
      const baseline = threadCount();
      for (let round = 0; round < 6; round++) {
        const worker = new Worker(
          `const { parentPort, workerData } = require('node:worker_threads');
          const { Channel } = require(${DIST});
          require(${DIST} + '/binding').binding.futexParker(workerData.parker);
          const chans = workerData.ids.map((id) => Channel.fromId(id));
          for (const ch of chans) for (let i = 0; i < 50; i++) ch.receive().catch(() => {});
          parentPort.postMessage('parked');`,
          { eval: true, workerData: { ids: channels.map((c) => c.id), parker } },
        );
        await new Promise((r) => worker.once('message', r));
        if (round % 2 === 1) await sleep(20 * round);
        await worker.terminate();
      }
      for (const ch of channels) {
        ch.sendSync('left alone');
        expect(ch.info().messages).toBe(1);
        expect(ch.info().attachments).toBe(1);
      }
      await until(() => threadCount() <= baseline + 2, 20000, 'threads back to baseline');
    }, 120000);

    test('a producer SIGKILLed holding the send lock: parked receivers still get the message of the next producer', async () => {
      if (skip()) return;
      const ch = track(Channel.create({ capacity: 4096 }));
      const waits = Array.from({ length: 10 }, () => watch(ch.receive({ timeout: 120000 })));
      await until(() => probes.waiterThreads() >= (parker ? 1 : 10), 20000, 'the waits parked');
      // A child takes the send lock, says so, and stays inside it until SIGKILLed.
      const script = `
        const { Channel } = require(${DIST});
        const ch = Channel.fromId(${ch.id});
        const { SharedMemory } = require(${DIST});
        const shm = SharedMemory.fromId(${ch.id});
        const word = new Int32Array(shm.arrayBuffer, 80, 1);
        // The lock word (docs/channel-layout.md, offset 80): our pid, as lock.h's CAS would leave it.
        Atomics.store(word, 0, process.pid);
        process.stdout.write('holding\\n');
        setInterval(() => {}, 1000);`;
      const { spawn } = await import('node:child_process');
      const child = spawn(process.execPath, ['-e', script], { stdio: ['ignore', 'pipe', 'inherit'] });
      await new Promise<void>((resolve) => child.stdout!.once('data', () => resolve()));
      child.kill('SIGKILL');
      await new Promise((r) => child.once('exit', r));
      // The dead holder's lock is taken over (its liveness), and the message wakes one parked receiver.
      await ch.send('after the crash', { timeout: 60000 });
      await until(() => waits.some((w) => w.done), 60000, 'a receiver woke');
      expect(waits.filter((w) => w.done).map((w) => String(w.value))).toEqual(['after the crash']);
      for (let i = 0; i < 9; i++) ch.sendSync('more');
      await Promise.all(waits.map((w) => w.p));
    }, 120000);
  });
});
