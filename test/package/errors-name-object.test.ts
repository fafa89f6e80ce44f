/**
 * Issue 22 items 6 and 10: every error a user meets about an object carries
 * its id, and its key where the object has one — from lib/ and from the
 * addon alike, in the sync, async and try forms — and keys are reported as
 * the user wrote them (unsigned: 0xdeadbeef, not -559038737).
 *
 * One table per class: the errors a user meets (the object removed, a
 * timeout, a closed handle, a message too long, a corrupt lock word), each
 * provoked for real; the test lists every error that does not name its
 * object, so a gap shows as one line of the diff.
 */
import {
  Channel,
  FastMutex,
  MessageQueue,
  Mutex,
  Semaphore,
  SemaphoreSet,
  SharedMemory,
  type SemaphoreOperation,
} from '../../lib';
import { randomKey, track, useCleanup } from '../support/helpers';

useCleanup();

/** A random key with the top bit set: negative as a C key_t, above 2^31 as written. */
function highKey(): number {
  return (randomKey() | 0x80000000) >>> 0;
}

/** What `call` failed with (sync throw or rejection); a string if it did not fail. */
async function failure(call: () => unknown): Promise<unknown> {
  try {
    await call();
  } catch (err) {
    return err;
  }
  return 'did not fail';
}

interface Case {
  what: string;
  /** The code the error must have (an errno name or ERR_*). */
  code: string | string[];
  call: () => unknown;
}

/** Runs the cases on one object; returns a line for each error that does not name it. */
async function gaps(name: string, object: { key: number; id: number }, cases: Case[]): Promise<string[]> {
  const out: string[] = [];
  for (const c of cases) {
    const err = (await failure(c.call)) as { code?: string; key?: number; id?: number; message?: string };
    const codes = Array.isArray(c.code) ? c.code : [c.code];
    const line = `${name} ${c.what}`;
    if (typeof err !== 'object' || err === null) out.push(`${line}: ${String(err)}`);
    else if (!codes.includes(err.code ?? '')) out.push(`${line}: code ${err.code} (${err.message})`);
    else {
      if (err.id !== object.id) out.push(`${line}: ${err.code} with id ${err.id}`);
      if (err.key !== object.key) out.push(`${line}: ${err.code} with key ${err.key}`);
    }
  }
  return out;
}

/** Sends until the ring has no room. */
function fill(ch: Channel): void {
  while (ch.trySend('full'));
}

/** A removed object: EIDRM while waiting or from a channel, EINVAL from a call on a gone id. */
const GONE = ['EIDRM', 'EINVAL'];

/** What a queue and a channel share: send and receive, each in its async, sync and try form. */
interface Transfers {
  send(data: string): Promise<unknown>;
  sendSync(data: string): unknown;
  trySend(data: string): unknown;
  receive(): Promise<unknown>;
  receiveSync(): unknown;
  tryReceive(): unknown;
}

/** The six send and receive forms on a queue or channel that was removed. */
function removedTransfers(o: Transfers): Case[] {
  return [
    { what: 'sendSync removed', code: GONE, call: () => o.sendSync('x') },
    { what: 'send removed', code: GONE, call: () => o.send('x') },
    { what: 'trySend removed', code: GONE, call: () => o.trySend('x') },
    { what: 'receiveSync removed', code: GONE, call: () => o.receiveSync() },
    { what: 'receive removed', code: GONE, call: () => o.receive() },
    { what: 'tryReceive removed', code: GONE, call: () => o.tryReceive() },
  ];
}

const CLOSED = 'ERR_SYSV_IPC_CLOSED';
const T = { timeout: 20 };

describe('every error about an object names it (err.id, and err.key unsigned)', () => {
  test('MessageQueue', async () => {
    const key = highKey();
    const q = track(MessageQueue.create({ key }));
    const named = { key, id: q.id };
    const found = await gaps('MessageQueue', named, [
      { what: 'receiveSync timeout', code: 'ETIMEDOUT', call: () => q.receiveSync({ timeout: 20 }) },
      { what: 'receive timeout', code: 'ETIMEDOUT', call: () => q.receive(T) },
      {
        what: 'receiveSync too long',
        code: 'E2BIG',
        call: () => (q.trySend('0123456789'), q.receiveSync({ maxSize: 2 })),
      },
      { what: 'receive too long', code: 'E2BIG', call: () => q.receive({ maxSize: 2 }) },
      { what: 'tryReceive too long', code: 'E2BIG', call: () => q.tryReceive({ maxSize: 2 }) },
    ]);
    const other = MessageQueue.fromId(q.id);
    q.remove();
    found.push(
      ...(await gaps('MessageQueue', named, [
        ...removedTransfers(other),
        { what: 'info removed', code: GONE, call: () => other.info() },
      ])),
    );
    other.close();
    found.push(
      ...(await gaps('MessageQueue', named, [{ what: 'closed', code: CLOSED, call: () => other.trySend('x') }])),
    );
    expect(found).toEqual([]);
  });

  test('Semaphore, SemaphoreSet and Mutex', async () => {
    const key = highKey();
    const sem = track(Semaphore.create({ key, initialValue: 0 }));
    const setKey = highKey();
    const set = track(SemaphoreSet.create({ key: setKey, size: 2 }));
    const mutexKey = highKey();
    const mutex = track(Mutex.create({ key: mutexKey }));
    // Locked by nobody in particular: member 0 at 0 (see lib/semaphore/mutex.ts), so lock() waits.
    SemaphoreSet.fromId(mutex.id).setValues([0, 0]);
    const down: SemaphoreOperation[] = [{ index: 0, delta: -1 }];
    const found = [
      ...(await gaps('Semaphore', { key, id: sem.id }, [
        { what: 'acquireSync timeout', code: 'ETIMEDOUT', call: () => sem.acquireSync(T) },
        { what: 'acquire timeout', code: 'ETIMEDOUT', call: () => sem.acquire(T) },
      ])),
      ...(await gaps('SemaphoreSet', { key: setKey, id: set.id }, [
        { what: 'operateSync timeout', code: 'ETIMEDOUT', call: () => set.operateSync(down, T) },
        { what: 'operate timeout', code: 'ETIMEDOUT', call: () => set.operate(down, T) },
      ])),
      ...(await gaps('Mutex', { key: mutexKey, id: mutex.id }, [
        { what: 'lockSync timeout', code: 'ETIMEDOUT', call: () => mutex.lockSync(T) },
        { what: 'lock timeout', code: 'ETIMEDOUT', call: () => mutex.lock(T) },
      ])),
    ];
    const sem2 = Semaphore.fromId(sem.id);
    const set2 = SemaphoreSet.fromId(set.id);
    const mutex2 = Mutex.fromId(mutex.id);
    for (const o of [sem, set, mutex]) o.remove();
    found.push(
      ...(await gaps('Semaphore', { key, id: sem.id }, [
        { what: 'acquireSync removed', code: GONE, call: () => sem2.acquireSync() },
        { what: 'acquire removed', code: GONE, call: () => sem2.acquire() },
        { what: 'tryAcquire removed', code: GONE, call: () => sem2.tryAcquire() },
        { what: 'release removed', code: GONE, call: () => sem2.release() },
        { what: 'waitForZero removed', code: GONE, call: () => sem2.waitForZero() },
        { what: 'value removed', code: GONE, call: () => sem2.value },
      ])),
      ...(await gaps('SemaphoreSet', { key: setKey, id: set.id }, [
        { what: 'operateSync removed', code: GONE, call: () => set2.operateSync(down) },
        { what: 'operate removed', code: GONE, call: () => set2.operate(down) },
        { what: 'tryOperate removed', code: GONE, call: () => set2.tryOperate(down) },
        { what: 'values removed', code: GONE, call: () => set2.values() },
        { what: 'setValues removed', code: GONE, call: () => set2.setValues([1, 1]) },
      ])),
      ...(await gaps('Mutex', { key: mutexKey, id: mutex.id }, [
        { what: 'lockSync removed', code: GONE, call: () => mutex2.lockSync() },
        { what: 'lock removed', code: GONE, call: () => mutex2.lock() },
        { what: 'tryLock removed', code: GONE, call: () => mutex2.tryLock() },
      ])),
    );
    for (const o of [sem2, set2, mutex2]) o.close();
    found.push(
      ...(await gaps('Semaphore', { key, id: sem.id }, [
        { what: 'closed', code: CLOSED, call: () => sem2.tryAcquire() },
      ])),
      ...(await gaps('SemaphoreSet', { key: setKey, id: set.id }, [
        { what: 'closed', code: CLOSED, call: () => set2.tryOperate(down) },
      ])),
      ...(await gaps('Mutex', { key: mutexKey, id: mutex.id }, [
        { what: 'closed', code: CLOSED, call: () => mutex2.tryLock() },
      ])),
    );
    expect(found).toEqual([]);
  });

  test('SharedMemory', async () => {
    const key = highKey();
    const shm = track(SharedMemory.create({ key, size: 64 }));
    const named = { key, id: shm.id };
    const other = SharedMemory.fromId(shm.id);
    other.detach();
    const found = await gaps('SharedMemory', named, [
      { what: 'read detached', code: CLOSED, call: () => other.read() },
      { what: 'wait detached', code: CLOSED, call: () => other.wait(0, 0, T) },
      { what: 'waitSync detached', code: CLOSED, call: () => other.waitSync(0, 0, T) },
    ]);
    shm.remove();
    shm.detach();
    // Gone from the kernel: only the id is known now.
    found.push(
      ...(await gaps('SharedMemory', { key: undefined as unknown as number, id: named.id }, [
        { what: 'fromId removed', code: GONE, call: () => SharedMemory.fromId(named.id) },
      ])),
    );
    expect(found).toEqual([]);
  });

  test('Channel', async () => {
    const key = highKey();
    const ch = track(Channel.create({ key, capacity: 256, maxMessageSize: 64 }));
    const named = { key, id: ch.id };
    const small = Buffer.alloc(2);
    const found = await gaps('Channel', named, [
      { what: 'receiveSync timeout', code: 'ETIMEDOUT', call: () => ch.receiveSync(T) },
      { what: 'receive timeout', code: 'ETIMEDOUT', call: () => ch.receive(T) },
      { what: 'sendSync timeout', code: 'ETIMEDOUT', call: () => (fill(ch), ch.sendSync('c', T)) },
      { what: 'send timeout', code: 'ETIMEDOUT', call: () => ch.send('c', T) },
    ]);
    while (ch.tryReceive() !== undefined);
    ch.trySend('0123456789');
    found.push(
      ...(await gaps('Channel', named, [
        { what: 'receiveIntoSync too long', code: 'EMSGSIZE', call: () => ch.receiveIntoSync(small) },
        { what: 'receiveInto too long', code: 'EMSGSIZE', call: () => ch.receiveInto(small) },
        { what: 'tryReceiveInto too long', code: 'EMSGSIZE', call: () => ch.tryReceiveInto(small) },
      ])),
    );
    while (ch.tryReceive() !== undefined); // a removed channel still gives what it holds
    const other = Channel.fromId(ch.id);
    ch.remove();
    found.push(
      ...(await gaps('Channel', named, [
        ...removedTransfers(other),
        { what: 'receiveIntoSync removed', code: GONE, call: () => other.receiveIntoSync(small) },
        { what: 'sendValueSync removed', code: GONE, call: () => other.sendValueSync(1) },
        { what: 'receiveValueSync removed', code: GONE, call: () => other.receiveValueSync() },
      ])),
    );
    other.close();
    found.push(
      ...(await gaps('Channel', named, [
        { what: 'closed trySend', code: CLOSED, call: () => other.trySend('x') },
        { what: 'closed receive', code: CLOSED, call: () => other.receive() },
      ])),
    );
    expect(found).toEqual([]);
  });

  test('FastMutex', async () => {
    const key = highKey();
    const fm = track(FastMutex.create({ key }));
    const named = { key, id: fm.id };
    const word = new Int32Array(SharedMemory.fromId(fm.id).arrayBuffer, 0, 4);
    // Held by a live process that is not this one (our parent), so lock() waits.
    Atomics.store(word, 0, process.ppid);
    const found = await gaps('FastMutex', named, [
      { what: 'lockSync timeout', code: 'ETIMEDOUT', call: () => fm.lockSync(T) },
      { what: 'lock timeout', code: 'ETIMEDOUT', call: () => fm.lock(T) },
    ]);
    // A word no holder writes: every bit set.
    Atomics.store(word, 0, -1);
    found.push(
      ...(await gaps('FastMutex', named, [
        { what: 'tryLock corrupt', code: 'ERR_SYSV_IPC_LOCK_CORRUPT', call: () => fm.tryLock() },
        { what: 'lockSync corrupt', code: 'ERR_SYSV_IPC_LOCK_CORRUPT', call: () => fm.lockSync(T) },
        { what: 'lock corrupt', code: 'ERR_SYSV_IPC_LOCK_CORRUPT', call: () => fm.lock(T) },
      ])),
    );
    // Taken, then overwritten while held: the release finds the corruption.
    Atomics.store(word, 0, 0);
    fm.lockSync();
    Atomics.store(word, 0, -1);
    found.push(
      ...(await gaps('FastMutex', named, [
        { what: 'unlock corrupt', code: 'ERR_SYSV_IPC_LOCK_CORRUPT', call: () => fm.unlock() },
      ])),
    );
    Atomics.store(word, 0, 0);
    fm.close();
    found.push(...(await gaps('FastMutex', named, [{ what: 'closed', code: CLOSED, call: () => fm.tryLock() }])));
    expect(found).toEqual([]);
  });
});

describe('keys are reported as written: unsigned (issue 22 item 10)', () => {
  test('create with a key above 2^31: .key, info().key and fromId().key are that key; open takes either spelling', () => {
    const made = [
      (key: number) => MessageQueue.create({ key }),
      (key: number) => Semaphore.create({ key }),
      (key: number) => SemaphoreSet.create({ key, size: 1 }),
      (key: number) => Mutex.create({ key }),
      (key: number) => SharedMemory.create({ key, size: 64 }),
      (key: number) => Channel.create({ key }),
    ];
    const openers = [
      (key: number) => MessageQueue.open(key),
      (key: number) => Semaphore.open(key),
      (key: number) => SemaphoreSet.open(key),
      (key: number) => Mutex.open(key),
      (key: number) => SharedMemory.open(key),
      (key: number) => Channel.open(key),
    ];
    const fromIds = [
      MessageQueue.fromId,
      Semaphore.fromId,
      SemaphoreSet.fromId,
      Mutex.fromId,
      SharedMemory.fromId,
      Channel.fromId,
    ];
    for (let i = 0; i < made.length; i++) {
      const key = highKey();
      // Made with the signed spelling (what a C program's key_t prints): reported unsigned.
      const obj = track(made[i]!(key | 0));
      const name = obj.constructor.name;
      expect({ name, key: obj.key, info: obj.info().key }).toEqual({ name, key, info: key });
      const byId = fromIds[i]!(obj.id);
      expect({ name, fromId: byId.key, info: byId.info().key }).toEqual({ name, fromId: key, info: key });
      for (const spelling of [key, key | 0]) {
        const opened = openers[i]!(spelling);
        expect({ name, id: opened.id, key: opened.key }).toEqual({ name, id: obj.id, key });
        if (opened instanceof SharedMemory) opened.detach();
        else opened.close();
      }
      if (byId instanceof SharedMemory) byId.detach();
      else byId.close();
    }
    const key = highKey();
    const fm = track(FastMutex.create({ key: key | 0 }));
    expect(fm.key).toBe(key);
    for (const other of [FastMutex.open(key | 0), FastMutex.fromId(fm.id)]) {
      expect(other.key).toBe(key);
      other.close();
    }
  });

  test('an error about a key above 2^31 carries it unsigned', () => {
    const key = highKey();
    expect(() => MessageQueue.open(key | 0)).toThrow(expect.objectContaining({ code: 'ENOENT', key }));
    expect(() => Semaphore.open(key)).toThrow(expect.objectContaining({ code: 'ENOENT', key }));
  });
});
