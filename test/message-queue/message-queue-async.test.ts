/**
 * The async machinery, proven on message queues: waits run on the addon's own
 * threads (not libuv's threadpool), end promptly and cleanly on abort,
 * timeout, close and removal, survive signals, keep the process alive only
 * when asked, and leave no thread behind in worker_threads.
 */
import { execFileSync } from 'node:child_process';
import * as crypto from 'node:crypto';
import { promises as fsp, readdirSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Worker } from 'node:worker_threads';
import { MessageQueue, ClosedError, AbortError } from '../../lib';
import {
  blockedSignals,
  Child,
  record,
  sleep,
  threadsBlockedIn,
  tidsBlockedIn,
  track,
  until,
  untilBlocked,
  probes,
  testIfProbes,
  useCleanup,
} from '../support/helpers';

useCleanup();

const threadCount = () => readdirSync('/proc/self/task').length;

describe('off the event loop and off the threadpool', () => {
  test('more pending receives than UV_THREADPOOL_SIZE: fs and crypto still complete', async () => {
    const q = track(MessageQueue.create());
    const poolSize = Number(process.env.UV_THREADPOOL_SIZE ?? 4);
    const n = poolSize * 2;
    const pending = Array.from({ length: n }, (_, i) => q.receive({ type: i + 1 }));
    await untilBlocked(process.pid, 'msgrcv', n);
    // Each of these needs a threadpool thread; with the pool parked they would hang.
    const work = await Promise.all([
      ...Array.from({ length: poolSize * 2 }, () => fsp.readFile(__filename)),
      ...Array.from(
        { length: poolSize * 2 },
        () =>
          new Promise<Buffer>((resolve, reject) =>
            crypto.pbkdf2('pw', 'salt', 1000, 32, 'sha256', (err, key) => (err ? reject(err) : resolve(key))),
          ),
      ),
      fsp.stat(__dirname),
    ]);
    expect(work).toHaveLength(poolSize * 4 + 1);
    expect(threadsBlockedIn(process.pid, 'msgrcv')).toBe(n); // still waiting, on our own threads
    for (let i = n; i >= 1; i--) q.sendSync(`m${i}`, { type: i });
    const got = await Promise.all(pending);
    expect(got.map((m) => m.data.toString())).toEqual(Array.from({ length: n }, (_, i) => `m${i + 1}`));
  });

  test('the event loop keeps running while a receive waits', async () => {
    const q = track(MessageQueue.create());
    const pending = q.receive();
    let ticks = 0;
    const timer = setInterval(() => ticks++, 1);
    await until(() => ticks >= 20);
    clearInterval(timer);
    q.sendSync('done');
    await expect(pending).resolves.toMatchObject({ data: Buffer.from('done') });
  });

  test('a loop of receives that all complete at once still lets the event loop turn', async () => {
    const q = track(MessageQueue.create());
    const n = 2000;
    for (let i = 0; i < n; i++) q.sendSync('x');
    let receivedWhenImmediateRan = -1;
    let received = 0;
    setImmediate(() => {
      receivedWhenImmediateRan = received;
    });
    while (received < n) {
      await q.receive();
      received++;
    }
    expect(receivedWhenImmediateRan).toBeGreaterThanOrEqual(0);
    expect(receivedWhenImmediateRan).toBeLessThan(n);
    expect(q.info().messages).toBe(0);
  });

  testIfProbes('a receive that can complete at once does not use a thread', async () => {
    const q = track(MessageQueue.create());
    const blockedBefore = threadsBlockedIn(process.pid, 'msgrcv');
    // The IPC_NOWAIT attempt runs synchronously: the message has left the
    // queue before receive() returns. A waiter thread would race with this
    // check; twenty rounds make a thread that wins every race implausible.
    for (let i = 0; i < 20; i++) {
      q.sendSync(`ready ${i}`);
      const p = q.receive();
      expect(q.info().messages).toBe(0);
      expect((await p).data.toString()).toBe(`ready ${i}`);
    }
    expect(threadsBlockedIn(process.pid, 'msgrcv')).toBe(blockedBefore);
    // timeout 0 means "only what is there now": a waiting message is delivered, not ETIMEDOUT.
    q.sendSync('now', { type: 2 });
    await expect(q.receive({ timeout: 0 })).resolves.toMatchObject({ type: 2, data: Buffer.from('now') });
    q.sendSync('no thread');
    const threadsBefore = probes.waiterThreads();
    await q.receive();
    expect(probes.waiterThreads()).toBe(threadsBefore);
  });

  testIfProbes('waiter threads are reused, not created per wait', async () => {
    const q = track(MessageQueue.create());
    let afterFirst = 0;
    for (let i = 0; i < 20; i++) {
      const p = q.receive();
      await untilBlocked(process.pid, 'msgrcv');
      q.sendSync('x');
      await p;
      if (i === 0) afterFirst = probes.waiterThreads();
    }
    expect(afterFirst).toBeGreaterThanOrEqual(1);
    expect(probes.waiterThreads()).toBe(afterFirst); // the same thread served all twenty
  });
});

describe('messages() as an async iterable', () => {
  test('yields in order with the selector applied, and ends when the handle is closed', async () => {
    const q = track(MessageQueue.create());
    for (const t of [1, 2, 1, 3, 1]) q.sendSync(`m${t}`, { type: t });
    const got: string[] = [];
    const done = (async () => {
      for await (const m of q.messages({ type: 1 })) got.push(m.data.toString());
    })();
    await until(() => got.length === 3);
    await untilBlocked(process.pid, 'msgrcv'); // now parked, waiting for a fourth type-1 message
    q.close();
    await done; // the loop ended instead of throwing
    expect(got).toEqual(['m1', 'm1', 'm1']);
    expect(MessageQueue.fromId(q.id).info().messages).toBe(2); // the others were left alone
  });

  test.each(['this process', 'another process'])('ends when the queue is removed by %s', async (by) => {
    const q = MessageQueue.create();
    record(q); // removed by the test itself, but on the ledger in case it is not
    const got: string[] = [];
    const done = (async () => {
      for await (const m of q.messages()) got.push(m.data.toString());
    })();
    try {
      q.sendSync('only');
      await until(() => got.length === 1);
      await untilBlocked(process.pid, 'msgrcv');
      if (by === 'this process') {
        q.remove();
      } else {
        const remover = new Child('mq-remove', [q.id]);
        await remover.next();
      }
      await done;
      expect(got).toEqual(['only']);
    } finally {
      try {
        q.remove();
      } catch {
        /* removed by the test, as intended */
      }
      q.close();
    }
  });

  test('an abort is thrown out of the loop; a bad option fails the first step', async () => {
    const q = track(MessageQueue.create());
    const ac = new AbortController();
    const loop = (async () => {
      for await (const m of q.messages({ signal: ac.signal })) void m;
    })();
    await untilBlocked(process.pid, 'msgrcv');
    ac.abort();
    await expect(loop).rejects.toMatchObject({ name: 'AbortError' });
    await expect(q.messages({ type: 1.5 }).next()).rejects.toMatchObject({ code: 'ERR_OUT_OF_RANGE' });
  });
});

describe('ending a pending wait', () => {
  test('abort: AbortError with the reason as cause, the thread leaves the kernel, nothing consumed', async () => {
    const q = track(MessageQueue.create());
    const ac = new AbortController();
    const pending = q.receive({ signal: ac.signal });
    await untilBlocked(process.pid, 'msgrcv');
    const reason = new Error('no longer needed');
    ac.abort(reason);
    const err = await pending.catch((e: unknown) => e);
    expect(err).toBeInstanceOf(AbortError);
    expect(err).toMatchObject({ name: 'AbortError', code: 'ABORT_ERR', cause: reason });
    expect(threadsBlockedIn(process.pid, 'msgrcv')).toBe(0);
    q.sendSync('after');
    expect(q.info().messages).toBe(1); // the aborted receive took nothing
  });

  test('an already aborted signal rejects at once and takes nothing, even with a message waiting', async () => {
    const q = track(MessageQueue.create());
    q.sendSync('stay');
    await expect(q.receive({ signal: AbortSignal.abort() })).rejects.toMatchObject({ name: 'AbortError' });
    await expect(q.send('no', { signal: AbortSignal.abort() })).rejects.toMatchObject({ name: 'AbortError' });
    expect(q.info().messages).toBe(1);
  });

  test('timeout: ETIMEDOUT, nothing consumed, thread released', async () => {
    const q = track(MessageQueue.create());
    q.sendSync('not selected', { type: 2 });
    const started = Date.now();
    await expect(q.receive({ type: 1, timeout: 25 })).rejects.toMatchObject({
      code: 'ETIMEDOUT',
      name: 'SysvIpcError',
    });
    const elapsed = Date.now() - started;
    expect(elapsed).toBeGreaterThanOrEqual(20);
    expect(elapsed).toBeLessThan(5000); // generous: the machine is shared
    expect(threadsBlockedIn(process.pid, 'msgrcv')).toBe(0);
    // A timed-out receive must not live on in the kernel and take a later message.
    q.sendSync('after the timeout', { type: 1 });
    await sleep(50);
    expect(q.info().messages).toBe(2);
  });

  test('timeout 0 on send and receive: done at once when it can be, else ETIMEDOUT without a thread', async () => {
    const q = track(MessageQueue.create({ maxBytes: 8 }));
    await expect(q.send(Buffer.alloc(8, 5), { timeout: 0 })).resolves.toBeUndefined(); // room: sent at once
    expect(q.info().messages).toBe(1);
    await expect(q.send('x', { timeout: 0 })).rejects.toMatchObject({ code: 'ETIMEDOUT', syscall: 'msgsnd' });
    expect(threadsBlockedIn(process.pid, 'msgsnd')).toBe(0);
    expect(q.info().messages).toBe(1);
    await expect(q.receive({ timeout: 0 })).resolves.toMatchObject({ type: 1, data: Buffer.alloc(8, 5) });
    await expect(q.receive({ timeout: 0 })).rejects.toMatchObject({ code: 'ETIMEDOUT', syscall: 'msgrcv' });
    expect(threadsBlockedIn(process.pid, 'msgrcv')).toBe(0);
  });

  test('close(): every pending wait of that object rejects with a closed error; other objects keep waiting', async () => {
    const q = track(MessageQueue.create());
    const other = MessageQueue.fromId(q.id);
    const mine = [q.receive(), q.receive({ type: 5 })];
    const theirs = other.receive({ type: 9 });
    await untilBlocked(process.pid, 'msgrcv', 3);
    q.close();
    for (const r of await Promise.allSettled(mine)) {
      expect(r.status).toBe('rejected');
      expect((r as PromiseRejectedResult).reason).toBeInstanceOf(ClosedError);
    }
    await untilBlocked(process.pid, 'msgrcv', 1);
    expect(threadsBlockedIn(process.pid, 'msgrcv')).toBe(1);
    other.sendSync('for other', { type: 9 });
    await expect(theirs).resolves.toMatchObject({ type: 9 });
  });

  test('remove() by this process wakes its own waiters with EIDRM', async () => {
    const q = MessageQueue.create();
    const pending = [q.receive(), q.receive({ type: 2 })];
    await untilBlocked(process.pid, 'msgrcv', 2);
    q.remove();
    const results = await Promise.allSettled(pending);
    for (const r of results) expect(r).toMatchObject({ status: 'rejected', reason: { code: 'EIDRM' } });
  });

  test('a pending send (full queue) is cancelled by abort without sending', async () => {
    const q = track(MessageQueue.create({ maxBytes: 8 }));
    q.sendSync(Buffer.alloc(8));
    const ac = new AbortController();
    const pending = q.send('late', { signal: ac.signal });
    await untilBlocked(process.pid, 'msgsnd');
    ac.abort();
    await expect(pending).rejects.toMatchObject({ name: 'AbortError' });
    q.receiveSync();
    expect(q.tryReceive()).toBeUndefined();
  });

  test('abort racing arrivals: every message is either delivered or still queued, never lost', async () => {
    const q = track(MessageQueue.create());
    const total = 300;
    const producer = new Child('mq-producer', [q.id, total, 8, 1, 'r', 'sync']);
    const delivered: string[] = [];
    let aborted = 0;
    // Until the producer is done and the queue drained; only this loop consumes.
    while (producer.proc.exitCode === null || q.info().messages > 0) {
      const ac = new AbortController();
      const p = q.receive({ signal: ac.signal });
      // Abort at a varying point: at once, after a microtask, or after a macrotask.
      const k = (delivered.length + aborted) % 3;
      if (k === 0) ac.abort();
      else if (k === 1) queueMicrotask(() => ac.abort());
      else setImmediate(() => ac.abort());
      try {
        delivered.push((await p).data.toString());
      } catch (err) {
        expect(err).toBeInstanceOf(AbortError);
        aborted++;
      }
    }
    await producer.exited;
    const left: string[] = [];
    for (let m = q.tryReceive(); m; m = q.tryReceive()) left.push(m.data.toString());
    const all = [...delivered, ...left].map((b) => b.split(':').slice(0, 2).join(':'));
    expect(new Set(all).size).toBe(total);
    expect(all).toHaveLength(total);
    expect(aborted).toBeGreaterThan(0);
  });
});

describe('signals never surface as EINTR', () => {
  async function spam(child: Child, until: Promise<unknown>): Promise<void> {
    let done = false;
    void until.finally(() => {
      done = true;
    });
    while (!done) {
      try {
        child.kill('SIGUSR2');
      } catch {
        break;
      }
      await sleep(2);
    }
  }

  test('a sync receive with a timeout keeps its deadline through a storm of SIGUSR2', async () => {
    const q = track(MessageQueue.create());
    const child = new Child('mq-wait', [q.id, 'sync-timeout:400', 'usr2']);
    await child.next();
    await untilBlocked(child.proc.pid!, 'msgrcv');
    const result = child.next<{ error?: string; elapsedMs: number; usr2: number }>();
    await spam(child, result);
    const r = await result;
    expect(r.error).toBe('ETIMEDOUT');
    expect(r.usr2).toBeGreaterThan(0); // the handler ran: the call was really interrupted
    expect(r.elapsedMs).toBeGreaterThanOrEqual(395); // retried with the original deadline, not cut short
    expect(r.elapsedMs).toBeLessThan(5000); // nor restarted by each signal (generous: the machine is shared)
  });

  // SIGCHLD is ignored by default and would interrupt nothing: the child installs
  // handlers for both signals, and reports how many ran, so the storm provably landed.
  test('a sync receive without timeout is interrupted by SIGUSR2 and SIGCHLD, retries, then gets its message', async () => {
    const q = track(MessageQueue.create());
    const child = new Child('mq-wait', [q.id, 'sync', 'usr2+chld']);
    await child.next();
    await untilBlocked(child.proc.pid!, 'msgrcv');
    for (let i = 0; i < 30; i++) {
      child.kill('SIGUSR2');
      child.kill('SIGCHLD');
      await sleep(2);
    }
    await untilBlocked(child.proc.pid!, 'msgrcv'); // back in the kernel after the storm
    q.sendSync('after the storm', { type: 4 });
    const r = await child.next<{ ok?: boolean; usr2: number; chld: number }>();
    expect(r).toMatchObject({ ok: true, type: 4, data: 'after the storm' });
    expect(r.usr2).toBeGreaterThan(0);
    expect(r.chld).toBeGreaterThan(0);
  });

  test("an async receive waits on a thread that blocks the process's signals: handlers run elsewhere, the wait goes on", async () => {
    const q = track(MessageQueue.create());
    const child = new Child('mq-wait', [q.id, 'async', 'usr2+chld']);
    await child.next();
    await untilBlocked(child.proc.pid!, 'msgrcv');
    const [waiter] = tidsBlockedIn(child.proc.pid!, 'msgrcv');
    const blocked = blockedSignals(child.proc.pid!, waiter);
    expect(blocked.has(os.constants.signals.SIGUSR2)).toBe(true);
    expect(blocked.has(os.constants.signals.SIGCHLD)).toBe(true);
    for (let i = 0; i < 30; i++) {
      child.kill('SIGUSR2');
      child.kill('SIGCHLD');
      await sleep(2);
    }
    expect(tidsBlockedIn(child.proc.pid!, 'msgrcv')).toEqual([waiter]); // still parked, on the same thread
    q.sendSync('after the storm', { type: 4 });
    const r = await child.next<{ ok?: boolean; usr2: number; chld: number }>();
    expect(r).toMatchObject({ ok: true, type: 4, data: 'after the storm' });
    expect(r.usr2).toBeGreaterThan(0); // the process's handlers ran: the signals landed
    expect(r.chld).toBeGreaterThan(0);
  });
});

describe('process and thread lifetime', () => {
  test("an unref'd pending receive does not keep the process alive", async () => {
    const q = track(MessageQueue.create());
    const child = new Child('mq-lifetime', [q.id, 'unref']);
    await child.next();
    expect(await child.exited).toEqual({ code: 0, signal: null });
    expect(q.info().messages).toBe(0);
  });

  test('a pending receive keeps the process alive until its message arrives', async () => {
    const q = track(MessageQueue.create());
    const child = new Child('mq-lifetime', [q.id, 'ref']);
    await child.next();
    await untilBlocked(child.proc.pid!, 'msgrcv');
    expect(child.proc.exitCode).toBeNull();
    q.sendSync('hello');
    expect(await child.next()).toEqual({ got: 'hello' });
    expect(await child.exited).toEqual({ code: 0, signal: null });
  });

  test('process.exit() with waits pending exits at once with its code', async () => {
    const q = track(MessageQueue.create());
    const child = new Child('mq-lifetime', [q.id, 'exit']);
    await child.next();
    const ready = Date.now();
    expect(await child.exited).toEqual({ code: 7, signal: null });
    expect(Date.now() - ready).toBeLessThan(5000); // at once, not after the waits (generous: the machine is shared)
  });

  test('inside a worker thread: send and receive work', async () => {
    const q = track(MessageQueue.create());
    const worker = new Worker(path.join(__dirname, '..', 'fixtures', 'mq-worker.js'), {
      workerData: { id: q.id, mode: 'echo' },
    });
    // Every step is bounded and says where it stopped (a hang here once went unexplained).
    const events: string[] = [];
    worker.on('message', (m) => events.push(`message ${String(m)}`));
    worker.on('error', (e) => events.push(`error ${e.message}`));
    worker.on('exit', (code) => events.push(`exit ${code}`));
    const step = (what: string) =>
      until(
        () => events.includes(what),
        10000,
        `${what} (events so far: ${events.join(', ')}; messages queued: ${q.info().messages})`,
      );
    await step('message ready');
    q.sendSync('ping from main', { type: 1 });
    await step('message done');
    expect(q.receiveSync({ type: 2, timeout: 5000 }).data.toString()).toBe('ping from main');
    await step('exit 0');
  });

  test('a worker terminated with waits pending leaves no thread behind, and the waits take nothing', async () => {
    const q = track(MessageQueue.create());
    const baseline = threadCount();
    const worker = new Worker(path.join(__dirname, '..', 'fixtures', 'mq-worker.js'), {
      workerData: { id: q.id, mode: 'pending', n: 6 },
    });
    await new Promise((r) => worker.once('message', r));
    await untilBlocked(process.pid, 'msgrcv', 6);
    await worker.terminate();
    expect(threadsBlockedIn(process.pid, 'msgrcv')).toBe(0);
    await until(() => threadCount() <= baseline, 5000, 'threads back to baseline');
    q.sendSync('nobody took it', { type: 77 });
    expect(q.info().messages).toBe(1);
  });

  test('workers created and terminated in a loop, with waits pending and just ending, leave nothing behind', async () => {
    const q = track(MessageQueue.create());
    const baseline = threadCount();
    for (let i = 0; i < 40; i++) {
      const worker = new Worker(path.join(__dirname, '..', 'fixtures', 'mq-worker.js'), {
        workerData: { id: q.id, mode: 'pending', n: 3 },
      });
      await new Promise((r) => worker.once('message', r));
      // Vary the moment of teardown: waits still being submitted, parked, or just timed out.
      if (i % 3 === 1) await new Promise((r) => setImmediate(r));
      if (i % 3 === 2) await untilBlocked(process.pid, 'msgrcv', 3);
      await worker.terminate();
    }
    await until(() => threadCount() <= baseline, 5000, 'threads back to baseline');
    expect(threadsBlockedIn(process.pid, 'msgrcv')).toBe(0);
    expect(q.info().messages).toBe(0);
  });

  test("a worker whose only pending waits are unref'd ends by itself and cleans up", async () => {
    const q = track(MessageQueue.create());
    const baseline = threadCount();
    const worker = new Worker(path.join(__dirname, '..', 'fixtures', 'mq-worker.js'), {
      workerData: { id: q.id, mode: 'unref', n: 3 },
    });
    const exitCode = await new Promise((r) => worker.once('exit', r));
    expect(exitCode).toBe(0);
    await until(() => threadsBlockedIn(process.pid, 'msgrcv') === 0, 5000, 'waiters gone');
    await until(() => threadCount() <= baseline, 5000, 'threads back to baseline');
  });

  test('where no timer can be made for a wait, it polls: its timeout and abort still end it', () => {
    // POSIX timers count against RLIMIT_SIGPENDING: with a limit of 0 none can be made.
    let prlimit: string;
    try {
      prlimit = execFileSync('sh', ['-c', 'command -v prlimit'], { encoding: 'utf8' }).trim();
    } catch {
      console.warn('prlimit (util-linux) is missing: the no-timer case is not exercised');
      return;
    }
    const script = `
      const { MessageQueue } = require(${JSON.stringify(path.join(__dirname, '..', '..'))});
      const q = MessageQueue.create();
      const out = {};
      (async () => {
        try { await q.receive({ timeout: 100 }); } catch (e) { out.async = e.code; }
        try { q.receiveSync({ timeout: 100 }); } catch (e) { out.sync = e.code; }
        try { await q.receive({ signal: AbortSignal.timeout(100) }); } catch (e) { out.abort = e.code; }
        q.sendSync('still works'); out.tryReceive = q.tryReceive().data.toString();
        q.remove();
        console.log(JSON.stringify(out));
      })();`;
    const stdout = execFileSync(prlimit, ['--sigpending=0', process.execPath, '-e', script], {
      encoding: 'utf8',
      timeout: 20000,
    });
    expect(JSON.parse(stdout)).toEqual({
      async: 'ETIMEDOUT',
      sync: 'ETIMEDOUT',
      abort: 'ABORT_ERR',
      tryReceive: 'still works',
    });
  });

  test('the package loads from ESM by its own name', () => {
    const out = execFileSync(process.execPath, [path.join(__dirname, '..', 'fixtures', 'mq-esm.mjs')], {
      encoding: 'utf8',
    });
    expect(JSON.parse(out)).toEqual({ type: 9, data: 'from esm', isError: 'function' });
  });
});

describe('send() takes its bytes at the call', () => {
  test('also a send the streak of immediate results puts off a turn: the caller may reuse its buffer', async () => {
    // More than 64 unawaited sends in one turn: the later ones are tried in the next turn. Before,
    // they read the caller's buffer then, and 36 of these 100 carried the bytes written after the loop.
    const q = track(MessageQueue.create());
    const buf = Buffer.alloc(8);
    const sends: Promise<void>[] = [];
    for (let i = 0; i < 100; i++) {
      buf.writeUInt32LE(i, 0);
      sends.push(q.send(buf, { type: 1 }));
    }
    buf.fill(0x77);
    await Promise.all(sends);
    const got: number[] = [];
    for (let i = 0; i < 100; i++) got.push(q.tryReceive()!.data.readUInt32LE(0));
    expect(got).toEqual(Array.from({ length: 100 }, (_, i) => i));
  });
});
