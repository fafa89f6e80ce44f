import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Mutex, MutexNotHeldError, SemaphoreSet, SysvIpcError } from '../../lib';
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
    expect(mutex.tryLock()).toEqual({ ownerDied: false });
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
    // The kernel undid the dead holder's lock, and the waiter is told.
    expect(await waiting).toEqual({ ownerDied: true });
    expect(mutex.held).toBe(true);
    mutex.unlock();
    expect(mutex.semaphoreSet.values()).toEqual([1, 0]);
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
    expect(b.tryLock()).toEqual({ ownerDied: false });
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

describe('Mutex tells the next holder that the last one died (ownerDied)', () => {
  // A child takes the lock and is SIGKILLed holding it; once it has exited the
  // kernel has undone its lock (exit_sem runs before the parent is told).
  async function killedHolder(mutex: Mutex, how: 'lock' | 'tryLock' = 'lock'): Promise<void> {
    const agent = new Agent();
    const taken = (await agent.ok(how, { id: mutex.id })) as { ownerDied: boolean } | boolean;
    expect(taken).toBeTruthy();
    agent.kill();
    await agent.child.exited;
  }

  type Form = (mutex: Mutex) => Promise<{ ownerDied: boolean }>;
  const forms: Array<[string, Form]> = [
    ['lock()', (m) => m.lock({ timeout: 10000 })],
    ['lockSync()', async (m) => m.lockSync({ timeout: 10000 })],
    [
      'tryLock()',
      async (m) => {
        const r = m.tryLock();
        if (r === false) throw new Error('tryLock() found the mutex held');
        return r;
      },
    ],
  ];
  for (const [name, take] of forms) {
    test(`${name}: after a holder is SIGKILLed, the next holder is told once, the one after is not`, async () => {
      const mutex = make();
      expect(mutex.reportsOwnerDied).toBe(true);
      await killedHolder(mutex);
      expect(mutex.info().value).toBe(1); // SEM_UNDO gave the lock back
      expect(await take(mutex)).toEqual({ ownerDied: true });
      mutex.unlock();
      expect(await take(mutex)).toEqual({ ownerDied: false });
      mutex.unlock();
      // Another process is not told either: the report was given once.
      const agent = new Agent();
      expect(await agent.ok('lock', { id: mutex.id })).toEqual({ ownerDied: false });
      await agent.ok('unlock', { id: mutex.id });
      expect(mutex.semaphoreSet.values()).toEqual([1, 0]);
    });
  }

  test('withLock(fn) hands fn the report', async () => {
    const mutex = make();
    await killedHolder(mutex, 'tryLock');
    expect(await mutex.withLock((r) => r)).toEqual({ ownerDied: true });
    expect(await mutex.withLock((r) => r)).toEqual({ ownerDied: false });
  });

  test('two deaths in a row are one report, and a holder that exits without unlocking counts as dead', async () => {
    const mutex = make();
    await killedHolder(mutex);
    await killedHolder(mutex);
    const exiting = new Agent();
    await exiting.ok('lock', { id: mutex.id });
    void exiting.run('exit');
    await exiting.child.exited;
    expect(mutex.tryLock()).toEqual({ ownerDied: true });
    mutex.unlock();
    expect(mutex.semaphoreSet.values()).toEqual([1, 0]);
    expect(mutex.tryLock()).toEqual({ ownerDied: false });
    mutex.unlock();
  });

  test('a holder that unlocks before it is killed leaves nothing to report', async () => {
    const mutex = make();
    const agent = new Agent();
    expect(await agent.ok('lock', { id: mutex.id })).toEqual({ ownerDied: false });
    await agent.ok('unlock', { id: mutex.id });
    agent.kill();
    await agent.child.exited;
    expect(mutex.semaphoreSet.values()).toEqual([1, 0]);
    expect(await mutex.lock()).toEqual({ ownerDied: false });
    mutex.unlock();
  });

  test('a program outside this package takes part with the two documented semops', async () => {
    // What a C program does: lock {0,-1,SEM_UNDO},{1,+1,0} in one semop, and dies holding it.
    const mutex = make();
    const agent = new Agent();
    await agent.ok('operate', {
      id: mutex.id,
      ops: [
        { index: 0, delta: -1, undo: true },
        { index: 1, delta: 1 },
      ],
    });
    expect(mutex.tryLock()).toBe(false);
    agent.kill();
    await agent.child.exited;
    expect(mutex.lockSync()).toEqual({ ownerDied: true });
    // ...and its unlock {0,+1,SEM_UNDO},{1,-1,0} after a normal lock leaves no report.
    const peer = new Agent();
    const unlock = [
      { index: 0, delta: 1, undo: true },
      { index: 1, delta: -1 },
    ];
    mutex.unlock();
    await peer.ok('operate', {
      id: mutex.id,
      ops: [
        { index: 0, delta: -1, undo: true },
        { index: 1, delta: 1 },
      ],
    });
    await peer.ok('operate', { id: mutex.id, ops: unlock });
    expect(mutex.lockSync()).toEqual({ ownerDied: false });
    mutex.unlock();
  });

  test('a set of one made elsewhere (an older version, a C binary semaphore) works as before, without the report', async () => {
    const key = randomKey();
    const legacy = track(SemaphoreSet.create({ key, size: 1, initialValues: [1] }));
    for (const mutex of [Mutex.fromId(legacy.id), Mutex.open(key), Mutex.open(key, { create: true })]) {
      expect(mutex.reportsOwnerDied).toBe(false);
      expect(mutex.created).toBe(false);
    }
    const mutex = Mutex.open(key, { create: true });
    await killedHolder(mutex);
    expect(legacy.values()).toEqual([1]);
    expect(await mutex.lock()).toEqual({ ownerDied: false });
    expect(legacy.values()).toEqual([0]);
    expect(mutex.tryLock()).toBe(false);
    mutex.unlock();
    expect(mutex.lockSync()).toEqual({ ownerDied: false });
    mutex.unlock();
    expect(mutex.tryLock()).toEqual({ ownerDied: false });
    mutex.unlock();
    expect(legacy.values()).toEqual([1]);
  });

  test('a set of three is used by member 0 alone: its other members are not touched', async () => {
    const set = track(SemaphoreSet.create({ size: 3, initialValues: [1, 5, 7] }));
    const mutex = Mutex.fromId(set.id);
    expect(mutex.reportsOwnerDied).toBe(false);
    expect(await mutex.lock()).toEqual({ ownerDied: false });
    expect(set.values()).toEqual([0, 5, 7]);
    mutex.unlock();
    expect(set.values()).toEqual([1, 5, 7]);
  });

  test('create() and open-or-create make a set of two, unlocked and with nothing to report', () => {
    const key = randomKey();
    const opened = track(Mutex.open(key, { create: true }));
    expect(opened.semaphoreSet.size).toBe(2);
    expect(opened.semaphoreSet.values()).toEqual([1, 0]);
    expect(opened.reportsOwnerDied).toBe(true);
    expect(Mutex.open(key).reportsOwnerDied).toBe(true);
    const created = make();
    expect(created.semaphoreSet.values()).toEqual([1, 0]);
  });
});

test('racing open-or-create of a Mutex: one creator, a set of two, nobody told of a death', async () => {
  const racers = 6;
  const children = Array.from({ length: racers }, () => new Child('sem-open-race'));
  try {
    await Promise.all(children.map((c) => c.next()));
    for (let round = 0; round < 4; round++) {
      const key = randomKey();
      for (const c of children) c.send({ round, key, mutex: true });
      const results = await Promise.all(children.map((c) => c.next<Record<string, unknown>>()));
      const mutex = track(Mutex.open(key));
      expect(results.filter((r) => r.error)).toEqual([]);
      expect(results.filter((r) => r.created)).toHaveLength(1);
      expect(results.every((r) => r.reports === true && r.ownerDied === false)).toBe(true);
      expect(mutex.semaphoreSet.values()).toEqual([1, 0]);
    }
  } finally {
    for (const c of children) c.send({ exit: true });
    await Promise.all(children.map((c) => c.exited));
  }
});
