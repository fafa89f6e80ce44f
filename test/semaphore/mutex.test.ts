import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Mutex, MutexNotHeldError, SysvIpcError } from '../../lib';
import { Agent } from '../support/sem-agent';
import { Child, randomKey, track, until, useCleanup } from '../support/helpers';

useCleanup();

const make = () => track(Mutex.create());

describe('Mutex', () => {
  test('lock, tryLock, unlock and ownership', async () => {
    const mutex = make();
    expect(mutex.held).toBe(false);
    expect(mutex.info().value).toBe(1);
    await mutex.lock();
    expect(mutex.held).toBe(true);
    expect(mutex.info().value).toBe(0);
    expect(mutex.tryLock()).toBe(false);
    // Another object for the same mutex in this process sees the same ownership.
    const same = Mutex.fromId(mutex.id);
    expect(same.held).toBe(true);
    same.unlock();
    expect(mutex.held).toBe(false);
    expect(() => mutex.unlock()).toThrow(MutexNotHeldError);
    expect(() => mutex.unlock()).toThrow(expect.objectContaining({ code: 'ERR_SYSV_IPC_MUTEX_NOT_HELD' }));
    expect(mutex.info().value).toBe(1); // no double release
    expect(mutex.tryLock()).toBe(true);
    mutex.unlock();
    mutex.lockSync({ timeout: 1000 });
    expect(() => mutex.lockSync()).toThrow(expect.objectContaining({ code: 'EDEADLK' }));
    mutex.unlock();
  });

  test('unlocking a mutex another process holds is an error, and changes nothing', async () => {
    const mutex = make();
    const agent = new Agent();
    await agent.ok('lock', { id: mutex.id });
    expect(mutex.tryLock()).toBe(false);
    expect(() => mutex.unlock()).toThrow(MutexNotHeldError);
    expect(mutex.info().value).toBe(0);
    await mutex.lock({ timeout: 20 }).then(
      () => {
        throw new Error('locked a held mutex');
      },
      (err: SysvIpcError) => expect(err.code).toBe('ETIMEDOUT'),
    );
    // ...and the other way round.
    await agent.ok('unlock', { id: mutex.id });
    await mutex.lock();
    expect((await agent.run('unlock', { id: mutex.id })).error).toBe('ERR_SYSV_IPC_MUTEX_NOT_HELD');
    expect(mutex.held).toBe(true);
    expect(mutex.info().value).toBe(0);
    mutex.unlock();
  });

  test('a holder that is SIGKILLed releases the lock (SEM_UNDO)', async () => {
    const mutex = make();
    const agent = new Agent();
    await agent.ok('lock', { id: mutex.id });
    const waiting = mutex.lock();
    await until(() => mutex.info().waitingForNonZero === 1, 10000, 'the parent to block');
    agent.kill();
    await waiting; // the kernel undid the dead holder's lock
    expect(mutex.held).toBe(true);
    mutex.unlock();
    expect(mutex.info().value).toBe(1);
  });

  test('a holder that unlocks and exits leaves no undo behind', async () => {
    const mutex = make();
    const agent = new Agent();
    await agent.ok('lock', { id: mutex.id });
    await agent.ok('unlock', { id: mutex.id });
    agent.kill();
    await agent.child.exited;
    // unlock() also used SEM_UNDO, cancelling the adjustment: exit does not add a unit.
    expect(mutex.info().value).toBe(1);
  });

  test('several processes increment a counter under the mutex: exact final count', async () => {
    const mutex = make();
    const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'sem-mutex-')), 'counter');
    fs.writeFileSync(file, '0');
    const rounds = 40;
    const styles = ['async', 'sync', 'async', 'sync'];
    const children = styles.map((style) => new Child('sem-counter', [mutex.id, file, rounds, style]));
    const results = await Promise.all(children.map((c) => c.next<{ done?: boolean; error?: string }>()));
    expect(results).toEqual(styles.map(() => ({ done: true })));
    expect(Number(fs.readFileSync(file, 'utf8'))).toBe(rounds * styles.length);
    expect(mutex.info().value).toBe(1);
    fs.rmSync(path.dirname(file), { recursive: true });
  });

  test('two async tasks of one process exclude each other', async () => {
    const mutex = make();
    const order: string[] = [];
    const task = (name: string) =>
      mutex.withLock(async () => {
        order.push(`${name} in`);
        await new Promise((r) => setImmediate(r));
        await new Promise((r) => setImmediate(r));
        order.push(`${name} out`);
      });
    await Promise.all([task('a'), task('b'), task('c')]);
    for (let i = 0; i < order.length; i += 2) {
      expect(order[i].split(' ')[0]).toBe(order[i + 1].split(' ')[0]);
    }
    expect(mutex.held).toBe(false);
    expect(mutex.info().value).toBe(1);
  });

  test('withLock unlocks when the callback throws, and returns its value', async () => {
    const mutex = make();
    await expect(
      mutex.withLock(() => {
        throw new Error('boom');
      }),
    ).rejects.toThrow('boom');
    expect(mutex.held).toBe(false);
    expect(await mutex.withLock(async () => 42)).toBe(42);
    expect(mutex.info().value).toBe(1);
    await expect(mutex.withLock('x' as never)).rejects.toThrow(TypeError);
  });

  test('abort, timeout and close end a pending lock with nothing taken', async () => {
    const mutex = make();
    await mutex.lock();
    const other = Mutex.fromId(mutex.id);
    const ac = new AbortController();
    const aborted = other.lock({ signal: ac.signal });
    await until(() => mutex.info().waitingForNonZero === 1, 10000, 'the waiter');
    ac.abort();
    await expect(aborted).rejects.toMatchObject({ name: 'AbortError' });
    await expect(other.lock({ timeout: 30 })).rejects.toMatchObject({ code: 'ETIMEDOUT' });
    await until(() => mutex.info().waitingForNonZero === 0, 10000, 'the waiters to leave');
    const closed = other.lock();
    await until(() => mutex.info().waitingForNonZero === 1, 10000, 'the waiter');
    other.close();
    await expect(closed).rejects.toMatchObject({ code: 'ERR_SYSV_IPC_CLOSED' });
    await until(() => mutex.info().waitingForNonZero === 0, 10000, 'the waiters to leave');
    expect(mutex.held).toBe(true);
    mutex.unlock();
    expect(mutex.info().value).toBe(1);
    for (const timeout of [-1, NaN]) await expect(mutex.lock({ timeout })).rejects.toThrow(RangeError);
  });

  test('open-or-create by key, created unlocked', async () => {
    const key = randomKey();
    const a = track(Mutex.open(key, { create: true }));
    const b = Mutex.open(key, { create: true });
    expect([a.created, b.created]).toEqual([true, false]);
    expect(b.tryLock()).toBe(true);
    expect(a.held).toBe(true);
    a.unlock();
    expect(() => Mutex.open(randomKey())).toThrow(expect.objectContaining({ code: 'ENOENT' }));
  });

  test('EIDRM to a pending lock when another process removes the mutex', async () => {
    const mutex = make();
    mutex.lockSync();
    const waiting = Mutex.fromId(mutex.id)
      .lock()
      .then(
        () => null,
        (err: unknown) => err,
      );
    await until(() => mutex.info().waitingForNonZero === 1, 10000, 'the waiter');
    const agent = new Agent();
    await agent.ok('remove', { id: mutex.id });
    expect(await waiting).toMatchObject({ code: 'EIDRM' });
  });
});
