/**
 * lib/waits.ts, the async machinery every waiting call shares, pinned down
 * where mutation testing (`npm run test:mutation -- --mutate lib/waits.ts`)
 * found behaviour no other test checked: what a settled wait leaves on its
 * AbortSignal, which cancellation reason wins, what a parked timeout names,
 * and that the fairness streak of immediate results starts again on every
 * turn of the event loop. Proven on message queues (real kernel objects).
 * The keep-alive count (ref/unref) is in waits-keepalive.test.ts.
 */
import { getEventListeners } from 'node:events';
import { MessageQueue, ClosedError, AbortError } from '../../lib';
import { track, untilBlocked, useCleanup } from '../support/helpers';

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

  test("abort() then close(): the wait rejects as aborted, with the signal's reason as cause", async () => {
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
    const p = q.receive().then(() => {
      delivered = true;
    });
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
    p.then(
      (v) => {
        outcome = { value: v };
      },
      (e: unknown) => {
        outcome = e;
      },
    );
    for (let i = 0; i < 10; i++) await Promise.resolve();
    return outcome;
  };

  test('receive and send with timeout 0 reject ETIMEDOUT before the event loop turns', async () => {
    const q = track(MessageQueue.create({ maxBytes: 8 }));
    expect(await settlesWithinMicrotasks(q.receive({ timeout: 0 }))).toMatchObject({
      code: 'ETIMEDOUT',
      syscall: 'msgrcv',
      id: q.id,
    });
    q.sendSync(Buffer.alloc(8));
    expect(await settlesWithinMicrotasks(q.send('x', { timeout: 0 }))).toMatchObject({
      code: 'ETIMEDOUT',
      syscall: 'msgsnd',
      id: q.id,
    });
    expect(q.info().messages).toBe(1);
  });
});
