/**
 * MessageQueue across real processes: every claim here involves a forked
 * child that opens the same kernel queue.
 */
import { readFileSync } from 'node:fs';
import { MessageQueue } from '../../lib';
import { Child, track, untilBlocked, useCleanup } from '../support/helpers';

useCleanup();

const msgmax = Number(readFileSync('/proc/sys/kernel/msgmax', 'utf8'));

interface Got {
  got?: string[];
  error?: string;
  done?: number;
}

describe('messages between processes', () => {
  test.each(['sync', 'async'])(
    'every size from 0 to msgmax and every type arrives intact from a %s child',
    async (mode) => {
      const q = track(MessageQueue.create());
      const n = 40;
      const child = new Child('mq-producer', [q.id, n, -1, 0, 'p', mode]);
      const received: Array<{ type: number; data: Buffer }> = [];
      while (received.length < n) received.push(await q.receive());
      expect(await child.next<Got>()).toEqual({ done: n });
      for (let i = 0; i < n; i++) {
        const size = Math.floor((i * msgmax) / (n - 1));
        expect(received[i].type).toBe((i % 5) + 1);
        // The whole body, byte for byte, as mq-producer makes it: "p:<i>:" then the fill letter.
        const expected = Buffer.alloc(size, 0x61 + (i % 26));
        Buffer.from(`p:${i}:`).copy(expected, 0, 0, Math.min(size, `p:${i}:`.length));
        expect(received[i].data.length).toBe(size);
        expect(received[i].data.equals(expected)).toBe(true);
      }
    },
  );

  test("type selection sees another process's messages in the kernel's order", async () => {
    const q = track(MessageQueue.create());
    const child = new Child('mq-producer', [q.id, 10, 16, 0, 't', 'sync']);
    await child.next();
    // types sent: 1 2 3 4 5 1 2 3 4 5
    expect(q.receiveSync({ type: 4 }).data.toString()).toMatch(/^t:3:/);
    expect(q.receiveSync({ type: -2 }).type).toBe(1);
    expect(q.receiveSync({ type: -2 }).type).toBe(1);
    expect(q.receiveSync({ type: 1, except: true }).type).toBe(2);
    const rest: number[] = [];
    for (let m = q.tryReceive(); m; m = q.tryReceive()) rest.push(m.type);
    expect(rest).toEqual([3, 5, 2, 3, 4, 5]);
  });

  test('several producers and consumers: nothing lost, nothing duplicated', async () => {
    const q = track(MessageQueue.create());
    const perProducer = 400;
    // The consumers first, each parked in msgrcv before anything is sent: the
    // kernel hands the first messages to the waiting receivers in turn, so each
    // consumer gets a share, however the scheduler runs them afterwards.
    const consumers = ['sync', 'async', 'iter'].map((mode) => new Child('mq-consumer', [q.id, 99, mode]));
    for (const c of consumers) {
      await c.next();
      await untilBlocked(c.proc.pid!, 'msgrcv');
    }
    const producers = ['a', 'b', 'c'].map(
      (tag, i) => new Child('mq-producer', [q.id, perProducer, 24, 1, tag, i === 1 ? 'async' : 'sync']),
    );
    for (const p of producers) expect(await p.next<Got>()).toEqual({ done: perProducer });
    // One stop message per consumer, after all the data.
    for (let i = 0; i < consumers.length; i++) q.sendSync('stop', { type: 99 });
    const all: string[] = [];
    const perConsumer: string[][] = [];
    for (const c of consumers) {
      const r = await c.next<Got>();
      expect(r.error).toBeUndefined();
      all.push(...r.got!);
      perConsumer.push(r.got!);
    }
    const ids = all.map((body) => body.split(':').slice(0, 2).join(':'));
    expect(ids.length).toBe(3 * perProducer);
    expect(new Set(ids).size).toBe(3 * perProducer);
    for (const tag of ['a', 'b', 'c']) {
      for (let i = 0; i < perProducer; i++) expect(ids).toContain(`${tag}:${i}`);
    }
    // Each consumer took part, and saw each producer's messages in the order
    // they were sent (the queue is FIFO, and each producer sends one at a time).
    for (const got of perConsumer) {
      expect(got.length).toBeGreaterThan(0);
      for (const tag of ['a', 'b', 'c']) {
        const seq = got.filter((body) => body.startsWith(`${tag}:`)).map((body) => Number(body.split(':')[1]));
        expect(seq).toEqual([...seq].sort((x, y) => x - y));
      }
    }
    expect(q.info().messages).toBe(0);
  });

  test("a pending receive is woken by another process's send", async () => {
    const q = track(MessageQueue.create());
    const pending = q.receive({ type: 3 });
    await untilBlocked(process.pid, 'msgrcv'); // parked in the kernel, on a waiter thread
    const child = new Child('mq-producer', [q.id, 3, 8, 3, 'w', 'sync']);
    const m = await pending;
    expect(m.type).toBe(3);
    expect(m.data.toString()).toMatch(/^w:0:/);
    await child.next();
  });

  test.each(['async', 'sync'])('a %s receive in another process is woken by our send', async (how) => {
    const q = track(MessageQueue.create());
    const child = new Child('mq-wait', [q.id, how]);
    await child.next();
    await untilBlocked(child.proc.pid!, 'msgrcv');
    q.sendSync('wake', { type: 8 });
    expect(await child.next()).toMatchObject({ ok: true, type: 8, data: 'wake' });
  });

  test.each(['async', 'sync', 'send-async', 'send-sync'])(
    'a %s waiter in another process gets EIDRM when a third process removes the queue',
    async (how) => {
      const q = track(MessageQueue.create());
      if (how.startsWith('send')) {
        q.set({ maxBytes: 1 });
        q.sendSync('x');
      }
      const waiter = new Child('mq-wait', [q.id, how]);
      await waiter.next();
      await untilBlocked(waiter.proc.pid!, how.startsWith('send') ? 'msgsnd' : 'msgrcv');
      const remover = new Child('mq-remove', [q.id]);
      expect(await remover.next()).toEqual({ removed: true });
      expect(await waiter.next()).toMatchObject({ error: 'EIDRM' });
    },
  );

  test('our pending receive rejects with EIDRM when another process removes the queue', async () => {
    const q = track(MessageQueue.create());
    const pending = q.receive();
    await untilBlocked(process.pid, 'msgrcv');
    const remover = new Child('mq-remove', [q.id]);
    await expect(pending).rejects.toMatchObject({ code: 'EIDRM', syscall: 'msgrcv', name: 'SysvIpcError' });
    await remover.next();
  });

  test('a full queue blocks our send until another process makes room, then it resumes', async () => {
    const q = track(MessageQueue.create({ maxBytes: 64 }));
    q.sendSync(Buffer.alloc(40, 1), { type: 1 });
    q.sendSync(Buffer.alloc(24, 2), { type: 2 });
    let sent = false;
    const pending = q.send(Buffer.alloc(30, 3), { type: 3 }).then(() => {
      sent = true;
    });
    await untilBlocked(process.pid, 'msgsnd');
    expect(sent).toBe(false);
    expect(q.info().messages).toBe(2);
    // A consumer process takes the first message (type 1) and stops at type 2.
    const consumer = new Child('mq-consumer', [q.id, 2, 'sync']);
    expect(await consumer.next()).toEqual({ ready: true });
    expect(await consumer.next()).toEqual({ got: [Buffer.alloc(40, 1).toString('latin1')] });
    await pending;
    expect(sent).toBe(true);
    const last = q.receiveSync();
    expect(last.type).toBe(3);
    expect(last.data.equals(Buffer.alloc(30, 3))).toBe(true);
  });

  test.each(['sync', 'async'])('E2BIG in another process (%s) leaves the message for us', async (how) => {
    const q = track(MessageQueue.create());
    const body = Buffer.alloc(100);
    for (let i = 0; i < body.length; i++) body[i] = i;
    q.sendSync(body, { type: 6 });
    // The child receives with maxSize 99: one byte too small, and no truncate.
    const child = new Child('mq-wait', [q.id, `${how}-max:99`]);
    expect(await child.next()).toEqual({ ready: true });
    expect(await child.next()).toMatchObject({ error: 'E2BIG' });
    expect(q.info().messages).toBe(1);
    const left = q.receiveSync();
    expect(left.type).toBe(6);
    expect(left.data.equals(body)).toBe(true);
    // A maxSize that fits, in the same child mode, takes it: the E2BIG was about size only.
    q.sendSync(body, { type: 6 });
    const fits = new Child('mq-wait', [q.id, `${how}-max:100`]);
    expect(await fits.next()).toEqual({ ready: true });
    expect(await fits.next()).toMatchObject({ ok: true, type: 6 });
    expect(q.info().messages).toBe(0);
  });
});
