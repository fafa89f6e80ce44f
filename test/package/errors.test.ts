/**
 * The package's own error codes are listed in one place (ERR in
 * lib/errors.ts): every ERR_SYSV_IPC_* the sources throw is there, and
 * README's "Errors" table documents each.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as v8 from 'node:v8';
import { Channel, MessageQueue, Mutex, Semaphore, SemaphoreSet, SharedMemory } from '../../lib';
import { BadValueError, decodeValue, ERR, syscallError, SysvIpcError } from '../../lib/errors';
import { randomKey, track, useCleanup } from '../support/helpers';

useCleanup();

const ROOT = path.join(__dirname, '..', '..');

function sourceFiles(dir: string): string[] {
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) return sourceFiles(p);
    return /\.(ts|cc|h)$/.test(e.name) ? [p] : [];
  });
}

test('every ERR_SYSV_IPC_* code in lib/ and native/ is listed in ERR', () => {
  const used = new Set<string>();
  for (const file of [...sourceFiles(path.join(ROOT, 'lib')), ...sourceFiles(path.join(ROOT, 'native'))]) {
    for (const m of fs.readFileSync(file, 'utf8').matchAll(/ERR_SYSV_IPC_[A-Z_]+/g)) used.add(m[0]);
  }
  expect([...used].sort()).toEqual(Object.values(ERR).sort());
});

test("README's errors section has a row for every code", () => {
  const readme = fs.readFileSync(path.join(ROOT, 'README.md'), 'utf8');
  const section = readme.slice(readme.indexOf('## Errors'), readme.indexOf('<!-- end section: errors -->'));
  for (const code of Object.values(ERR)) expect(section).toMatch(new RegExp(`^\\| \`${code}\` \\|`, 'm'));
});

test('a SysvIpcError with its own explanation or a path builds its message once, in the usual shape', () => {
  const timedOut = syscallError(110, 'semget', { key: 1, id: 2 }, { detail: 'the set was never initialised' });
  expect(timedOut).toBeInstanceOf(SysvIpcError);
  expect(timedOut).toMatchObject({ code: 'ETIMEDOUT', errno: 110, syscall: 'semget', key: 1, id: 2 });
  expect(timedOut.message).toBe('ETIMEDOUT: connection timed out, semget (the set was never initialised)');
  const missing = syscallError(2, 'ftok', undefined, { path: '/nowhere' });
  expect(missing.message).toBe("ENOENT: no such file or directory, ftok '/nowhere'");
  expect(new SysvIpcError(2, 'msgget').message).toBe(
    'ENOENT: no such file or directory, msgget (no message queue exists for this key)',
  );
  // Given the key, the message names it as ipcs prints it (unsigned hex).
  expect(new SysvIpcError(2, 'msgget', { key: 0xdeadbeef | 0 }).message).toBe(
    'ENOENT: no such file or directory, msgget (no message queue exists for key 0xdeadbeef)',
  );
  expect(new SysvIpcError(17, 'semget', { key: 0x5eed }).message).toBe(
    'EEXIST: file already exists, semget (the semaphore set already exists for key 0x00005eed)',
  );
});

describe('a sync wait that fails in the kernel names the object, as the async form does', () => {
  // The addon builds these errors from errno and syscall alone (ETIMEDOUT after
  // a timeout above 0, EIDRM/EINVAL once the object is gone); lib adds the id.
  test('MessageQueue receiveSync/sendSync: ETIMEDOUT after the timeout and EINVAL after removal carry the id', async () => {
    const queue = MessageQueue.create({ maxBytes: 16 });
    try {
      const id = queue.id;
      expect(() => queue.receiveSync({ timeout: 30 })).toThrow(
        expect.objectContaining({ code: 'ETIMEDOUT', syscall: 'msgrcv', id }),
      );
      queue.sendSync(Buffer.alloc(16));
      expect(() => queue.sendSync(Buffer.alloc(16), { timeout: 30 })).toThrow(
        expect.objectContaining({ code: 'ETIMEDOUT', syscall: 'msgsnd', id }),
      );
      // The async form, for comparison: the same fields.
      await expect(queue.send(Buffer.alloc(16), { timeout: 30 })).rejects.toMatchObject({ code: 'ETIMEDOUT', id });
      queue.remove();
      expect(() => queue.receiveSync({ timeout: 30 })).toThrow(expect.objectContaining({ code: 'EINVAL', id }));
    } finally {
      try {
        queue.remove();
      } catch {
        // removed above
      }
    }
  });

  test('Semaphore acquireSync / waitForZeroSync: ETIMEDOUT after the timeout carries the id and key', () => {
    const sem = Semaphore.create({ initialValue: 0 });
    try {
      expect(() => sem.acquireSync({ timeout: 30 })).toThrow(
        expect.objectContaining({ code: 'ETIMEDOUT', syscall: 'semop', id: sem.id, key: 0 }),
      );
      sem.release(1);
      expect(() => sem.waitForZeroSync({ timeout: 30 })).toThrow(
        expect.objectContaining({ code: 'ETIMEDOUT', syscall: 'semop', id: sem.id }),
      );
    } finally {
      sem.remove();
    }
  });
});

/** The error `fn` throws (fails the test if it throws none). */
function thrown(fn: () => unknown): SysvIpcError {
  try {
    fn();
  } catch (err) {
    return err as SysvIpcError;
  }
  throw new Error('nothing was thrown');
}

const hex = (key: number) => `0x${(key >>> 0).toString(16).padStart(8, '0')}`;

describe('an error about an object names it: key or id, on the error and in the message', () => {
  test('open() of a key nobody created: ENOENT with err.key, for semaphores, mutexes and segments', () => {
    const key = randomKey();
    const opens: Array<[string, () => unknown]> = [
      ['semget', () => Semaphore.open(key)],
      ['semget', () => SemaphoreSet.open(key)],
      ['semget', () => SemaphoreSet.open(key, { size: 2 })],
      ['semget', () => Mutex.open(key)],
      ['shmget', () => SharedMemory.open(key)],
      ['shmget', () => SharedMemory.open(key, { size: 64 })],
    ];
    for (const [syscall, open] of opens) {
      const err = thrown(open);
      expect(err).toBeInstanceOf(SysvIpcError);
      expect(err).toMatchObject({ code: 'ENOENT', syscall, key });
      expect(err.message).toContain(`exists for key ${hex(key)}`);
    }
  });

  test('create() of a key that is taken: EEXIST with err.key', () => {
    const key = randomKey();
    track(Semaphore.create({ key }));
    for (const create of [() => Semaphore.create({ key }), () => Mutex.create({ key })]) {
      const err = thrown(create);
      expect(err).toMatchObject({ code: 'EEXIST', syscall: 'semget', key });
      expect(err.message).toContain(`already exists for key ${hex(key)}`);
    }
    const shmKey = randomKey();
    track(SharedMemory.create({ key: shmKey, size: 64 }));
    expect(thrown(() => SharedMemory.create({ key: shmKey, size: 64 }))).toMatchObject({
      code: 'EEXIST',
      syscall: 'shmget',
      key: shmKey,
    });
  });

  test('a segment smaller than the size asked for: EINVAL that says both sizes, with key and id', () => {
    const key = randomKey();
    const shm = track(SharedMemory.create({ key, size: 4096 }));
    for (const options of [{ size: 8192 }, { size: 8192, create: true }]) {
      const err = thrown(() => SharedMemory.open(key, options));
      expect(err).toBeInstanceOf(SysvIpcError);
      expect(err).toMatchObject({ code: 'EINVAL', errno: 22, syscall: 'shmget', key, id: shm.id });
      expect(err.message).toBe(
        `EINVAL: invalid argument, shmget (the segment with key ${hex(key)} (id ${shm.id}) has 4096 bytes, asked for 8192)`,
      );
    }
    // A size that fits still opens.
    SharedMemory.open(key, { size: 100 }).detach();
  });

  test('a semaphore set with fewer members than asked for: EINVAL that says both counts, with key and id', () => {
    const key = randomKey();
    const set = track(SemaphoreSet.create({ key, size: 2 }));
    for (const open of [
      () => SemaphoreSet.open(key, { size: 5 }),
      () => SemaphoreSet.open(key, { size: 5, create: true }),
    ]) {
      const err = thrown(open);
      expect(err).toMatchObject({ code: 'EINVAL', syscall: 'semget', key, id: set.id });
      expect(err.message).toContain(`with key ${hex(key)} (id ${set.id}) has 2 members, asked for 5`);
    }
  });

  test('fromId() and calls on an object that is gone carry its id (and key when known)', () => {
    const set = SemaphoreSet.create({ size: 1, initialValues: [1] });
    const sem = Semaphore.fromId(set.id);
    const mutex = Mutex.fromId(set.id);
    const id = set.id;
    set.remove();
    const calls: Array<() => unknown> = [
      () => SemaphoreSet.fromId(id),
      () => Mutex.fromId(id),
      () => set.values(),
      () => set.info(),
      () => set.tryOperate([{ index: 0, delta: -1 }]),
      () => sem.value,
      () => sem.tryAcquire(),
      () => sem.info(),
      () => mutex.tryLock(),
      () => mutex.info(),
      () => set.remove(),
    ];
    for (const call of calls) {
      const err = thrown(call);
      expect(err).toBeInstanceOf(SysvIpcError);
      expect(err.id).toBe(id);
    }
    const shm = SharedMemory.create({ size: 64 });
    const shmid = shm.id;
    shm.remove();
    shm.detach();
    for (const call of [() => SharedMemory.fromId(shmid), () => shm.info(), () => shm.remove()]) {
      expect(thrown(call)).toMatchObject({ code: 'EINVAL', id: shmid });
    }
  });
});

describe('a received value that cannot be decoded', () => {
  test("decodeValue: a coded error that keeps the bytes, the decoder's error as cause", () => {
    expect(decodeValue(v8.serialize({ job: 1 }))).toEqual({ job: 1 });
    const raw = Buffer.from('plain text, not node:v8');
    let err: unknown;
    try {
      decodeValue(raw, { key: 0x5eed, id: 7 });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(BadValueError);
    expect(err).toMatchObject({ code: 'ERR_SYSV_IPC_BAD_VALUE', data: raw, key: 0x5eed, id: 7 });
    // V8's own error (from another realm under jest: compared by shape).
    expect((err as BadValueError).cause).toMatchObject({ message: expect.any(String) });
    expect((err as Error).message).toContain(`(${raw.length} bytes) is not a value sent with sendValue()`);
  });
});

describe('ERR_SYSV_IPC_CLOSED names the object', () => {
  test('a call through a closed handle, and a wait that close() ends, carry its id and key', async () => {
    const key = randomKey();
    const sem = track(Semaphore.create({ key, initialValue: 0 }));
    const pending = sem.acquire().then(
      () => undefined,
      (e: unknown) => e,
    );
    sem.close();
    const ended = await pending;
    expect(ended).toMatchObject({ code: 'ERR_SYSV_IPC_CLOSED', id: sem.id, key });
    expect(thrown(() => sem.tryAcquire())).toMatchObject({ code: 'ERR_SYSV_IPC_CLOSED', id: sem.id, key });
    expect((ended as Error).message).toBe(`The semaphore set (id ${sem.id}) is closed`);
    const queue = track(MessageQueue.create());
    queue.close();
    expect(thrown(() => queue.trySend('x'))).toMatchObject({ code: 'ERR_SYSV_IPC_CLOSED', id: queue.id, key: 0 });
  });
});

describe('message queues and channels name the object too', () => {
  test('MessageQueue open/create/fromId: ENOENT/EEXIST with err.key, EINVAL with err.id', () => {
    const key = randomKey();
    const missing = thrown(() => MessageQueue.open(key));
    expect(missing).toMatchObject({ code: 'ENOENT', syscall: 'msgget', key });
    expect(missing.message).toBe(
      `ENOENT: no such file or directory, msgget (no message queue exists for key ${hex(key)})`,
    );
    const queue = track(MessageQueue.create({ key }));
    expect(thrown(() => MessageQueue.create({ key }))).toMatchObject({ code: 'EEXIST', key });
    const id = queue.id;
    queue.remove();
    for (const call of [() => MessageQueue.fromId(id), () => queue.info(), () => queue.remove()]) {
      expect(thrown(call)).toMatchObject({ code: 'EINVAL', id });
    }
  });

  test('Channel.open of an absent key: ENOENT with err.key', () => {
    const key = randomKey();
    expect(thrown(() => Channel.open(key))).toMatchObject({ code: 'ENOENT', key });
  });

  test('receiveValue() of a message not sent with sendValue(): BadValueError with the bytes; nothing lost', async () => {
    const channel = track(Channel.create());
    const raw = Buffer.from('raw bytes from a C peer');
    for (const take of [
      () => channel.receiveValue({ timeout: 5000 }),
      async () => channel.receiveValueSync({ timeout: 5000 }),
      async () => channel.tryReceiveValue(),
    ]) {
      channel.sendSync(raw);
      const err = await take().then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(err).toBeInstanceOf(BadValueError);
      expect(err).toMatchObject({ code: 'ERR_SYSV_IPC_BAD_VALUE', data: raw, id: channel.id });
    }
    await channel.sendValue({ ok: true });
    expect(await channel.receiveValue()).toEqual({ ok: true });
  });
});
