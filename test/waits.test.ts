/**
 * lib/waits.ts, the async machinery every waiting call shares, pinned down
 * where mutation testing (`npm run test:mutation -- --mutate lib/waits.ts`)
 * found behaviour no other test checked: what a settled wait leaves on its
 * AbortSignal, which cancellation reason wins, what a parked timeout names,
 * and that the fairness streak of immediate results starts again on every
 * turn of the event loop. Proven on message queues (real kernel objects).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { getEventListeners } from 'node:events';
import * as path from 'node:path';
import { MessageQueue, ClosedError, AbortError } from '../lib';
import { sleep, track, until, untilBlocked, useCleanup } from './helpers';

useCleanup();

describe('a settled wait lets go of its AbortSignal', () => {
  // A long-lived signal (one per request handler, one per worker) is handed
  // to many waits in a row: each must remove its 'abort' listener when it
  // settles, or the listeners (and the closures holding the queue) pile up.
  test('after a message, a timeout and a close, no abort listener is left', async () => {
    const q = track(MessageQueue.create());
    const ac = new AbortController();
    const listeners = () => getEventListeners(ac.signal, 'abort').length;

    const received = q.receive({ signal: ac.signal });
    await untilBlocked(process.pid, 'msgrcv');
    expect(listeners()).toBe(1); // parked: the listener is there to cancel it
    q.sendSync('one');
    await expect(received).resolves.toMatchObject({ data: Buffer.from('one') });
    expect(listeners()).toBe(0);

    await expect(q.receive({ signal: ac.signal, timeout: 50 })).rejects.toMatchObject({ code: 'ETIMEDOUT' });
    expect(listeners()).toBe(0);

    const closing = q.receive({ signal: ac.signal });
    await untilBlocked(process.pid, 'msgrcv');
    q.close();
    await expect(closing).rejects.toBeInstanceOf(ClosedError);
    expect(listeners()).toBe(0);
    expect(ac.signal.aborted).toBe(false);
  });
});

describe('the first cancellation reason wins', () => {
  test('close() then abort() before the waiter thread reports: the wait rejects as closed', async () => {
    const q = track(MessageQueue.create());
    const ac = new AbortController();
    const pending = q.receive({ signal: ac.signal });
    await untilBlocked(process.pid, 'msgrcv');
    q.close();
    ac.abort(); // the listener is still registered: the report from the waiter thread has not arrived yet
    await expect(pending).rejects.toBeInstanceOf(ClosedError);
  });

  test('abort() then close(): the wait rejects as aborted, with the signal\'s reason as cause', async () => {
    const q = track(MessageQueue.create());
    const ac = new AbortController();
    const pending = q.receive({ signal: ac.signal });
    await untilBlocked(process.pid, 'msgrcv');
    const reason = new Error('the caller gave up');
    ac.abort(reason);
    q.close();
    const err = await pending.catch((e: unknown) => e);
    expect(err).toBeInstanceOf(AbortError);
    expect(err).toMatchObject({ name: 'AbortError', code: 'ABORT_ERR', cause: reason });
  });
});

describe('a parked wait that times out names its call and object', () => {
  test('ETIMEDOUT from the waiter thread carries syscall, kind and id', async () => {
    const q = track(MessageQueue.create());
    const err = await q.receive({ timeout: 30 }).catch((e: unknown) => e);
    expect(err).toMatchObject({ name: 'SysvIpcError', code: 'ETIMEDOUT', syscall: 'msgrcv', kind: 'msg', id: q.id });
  });
});

describe('the streak of immediate results starts again on every turn of the event loop', () => {
  // After 64 immediate results within one turn, the next ones are delivered
  // from setImmediate (so that a busy receive loop lets timers run). On the
  // next turn, results must be immediate again: a busy loop must not be
  // slowed down for good once it has once run long.
  const deliveredWithinMicrotasks = async (q: MessageQueue): Promise<boolean> => {
    let delivered = false;
    const p = q.receive().then(() => { delivered = true; });
    for (let i = 0; i < 10; i++) await Promise.resolve();
    const now = delivered;
    await p;
    return now;
  };

  test('past the streak a result waits for the loop; after a turn it is immediate again', async () => {
    const q = track(MessageQueue.create());
    for (let i = 0; i < 300; i++) q.sendSync('x'); // 1 + 2 × (100 + 1 + 1) receives
    // A fresh turn (the streak counter from earlier tests is reset).
    await new Promise((r) => setImmediate(r));
    expect(await deliveredWithinMicrotasks(q)).toBe(true);
    // Use up the streak within this turn, without letting the loop turn; and
    // again on a later turn (the reset must be scheduled anew on each).
    for (let round = 0; round < 2; round++) {
      const burst = Array.from({ length: 100 }, () => q.receive());
      expect(await deliveredWithinMicrotasks(q)).toBe(false);
      await Promise.all(burst);
      await new Promise((r) => setImmediate(r));
      expect(await deliveredWithinMicrotasks(q)).toBe(true);
    }
  });
});

describe('timeout 0 never parks', () => {
  // A parked wait reports back through a waiter thread and the event loop;
  // timeout 0 must settle on the JS thread, within the microtasks of the call.
  const settlesWithinMicrotasks = async (p: Promise<unknown>): Promise<unknown> => {
    let outcome: unknown = 'pending';
    p.then((v) => { outcome = { value: v }; }, (e: unknown) => { outcome = e; });
    for (let i = 0; i < 10; i++) await Promise.resolve();
    return outcome;
  };

  test('receive and send with timeout 0 reject ETIMEDOUT before the event loop turns', async () => {
    const q = track(MessageQueue.create({ maxBytes: 8 }));
    expect(await settlesWithinMicrotasks(q.receive({ timeout: 0 }))).toMatchObject({ code: 'ETIMEDOUT', syscall: 'msgrcv', id: q.id });
    q.sendSync(Buffer.alloc(8));
    expect(await settlesWithinMicrotasks(q.send('x', { timeout: 0 }))).toMatchObject({ code: 'ETIMEDOUT', syscall: 'msgsnd', id: q.id });
    expect(q.info().messages).toBe(1);
  });
});

describe('pending waits keep the process alive as ref() and unref() say', () => {
  // In a child that loads lib/ (test/fixtures/load-lib.js), so that mutation
  // testing reaches the keep-alive count of lib/waits.ts: the fixtures that
  // load dist/ never see a mutant.
  class KeepAliveChild {
    readonly proc: ChildProcess;
    out = '';
    exit: { code: number | null; signal: NodeJS.Signals | null } | undefined;
    readonly exited: Promise<void>;
    constructor(id: number, scenario: string) {
      this.proc = spawn(process.execPath, [path.join(__dirname, 'fixtures', 'waits-keepalive.js'), String(id), scenario], {
        stdio: ['ignore', 'pipe', 'inherit'],
      });
      this.proc.stdout!.on('data', (d: Buffer) => { this.out += d.toString(); });
      this.exited = new Promise((resolve) => this.proc.on('exit', (code, signal) => { this.exit = { code, signal }; resolve(); }));
    }
    ready(): Promise<void> {
      return until(() => this.out.includes('ready\n') || this.exit !== undefined, 30000, 'the child to start its waits');
    }
    /** Its `n` receives are parked, and it is still running a second later: the waits hold it. */
    async staysAlive(n: number): Promise<void> {
      await this.ready();
      expect(this.exit).toBeUndefined();
      await untilBlocked(this.proc.pid!, 'msgrcv', n);
      await sleep(1000);
      expect({ exit: this.exit, out: this.out }).toEqual({ exit: undefined, out: 'ready\n' });
    }
    async exitsByItself(out: string): Promise<void> {
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([this.exited, new Promise((r) => { timer = setTimeout(r, 20000); })]);
      clearTimeout(timer);
      expect({ exit: this.exit, out: this.out }).toEqual({ exit: { code: 0, signal: null }, out });
    }
  }

  let child: KeepAliveChild | undefined;
  afterEach(() => { if (child?.exit === undefined) child?.proc.kill('SIGKILL'); child = undefined; });

  // The same calls in this process too: Stryker runs a test against a mutant
  // only if the test reached the mutated line in-process (perTest coverage).
  async function sameCallsHere(): Promise<void> {
    const q = track(MessageQueue.create());
    const pending = q.receive();
    q.unref();
    q.ref();
    q.sendSync('x');
    await pending;
  }

  test('a pending receive holds the process until its message arrives', async () => {
    await sameCallsHere();
    const q = track(MessageQueue.create());
    child = new KeepAliveChild(q.id, 'ref');
    await child.staysAlive(1);
    q.sendSync('m', { type: 1 });
    await child.exitsByItself('ready\ngot 1\n');
  });

  test.each(['unref-before', 'unref-after'])('%s: an unref\'d pending receive does not hold it', async (scenario) => {
    await sameCallsHere();
    const q = track(MessageQueue.create());
    child = new KeepAliveChild(q.id, scenario);
    await child.exitsByItself('ready\n');
    expect(q.info().messages).toBe(0);
  });

  test('unref() then ref(): the pending receive holds it again', async () => {
    await sameCallsHere();
    const q = track(MessageQueue.create());
    child = new KeepAliveChild(q.id, 'unref-ref');
    await child.staysAlive(1);
    q.sendSync('m', { type: 1 });
    await child.exitsByItself('ready\ngot 1\n');
  });

  test('two pending receives: held until the second settles, not the first', async () => {
    await sameCallsHere();
    const q = track(MessageQueue.create());
    child = new KeepAliveChild(q.id, 'two');
    await child.staysAlive(2);
    q.sendSync('m', { type: 1 });
    await until(() => child!.out.includes('got 1'), 20000, 'the first receive');
    await sleep(1000);
    expect(child.exit).toBeUndefined();
    q.sendSync('m', { type: 2 });
    await child.exitsByItself('ready\ngot 1\ngot 2\n');
  });

  test('an unref\'d receive settling does not release the hold of a ref\'d one', async () => {
    await sameCallsHere();
    const q = track(MessageQueue.create());
    child = new KeepAliveChild(q.id, 'mixed');
    await child.ready();
    await untilBlocked(child.proc.pid!, 'msgrcv', 2);
    q.sendSync('m', { type: 1 });
    await until(() => child!.out.includes('got 1'), 20000, 'the unref\'d receive');
    await sleep(1000);
    expect(child.exit).toBeUndefined();
    q.sendSync('m', { type: 2 });
    await child.exitsByItself('ready\ngot 1\ngot 2\n');
  });
});
