import { Semaphore, SEMVMX, SysvIpcError, ClosedError } from '../../lib';
import { binding } from '../../lib/binding';
import { Agent } from '../support/sem-agent';
import { randomKey, track, until, useCleanup } from '../support/helpers';

useCleanup();

/** Numbers for the binding's calls that take them in an ArrayBuffer of float64s (lib/call-args.ts). */
function numbers(...values: number[]): ArrayBuffer {
  return Float64Array.from(values).buffer;
}

function make(initialValue = 0): Semaphore {
  return track(Semaphore.create({ initialValue }));
}

describe('Semaphore basics', () => {
  test('create, value get/set, try/sync acquire and release', () => {
    const sem = make(2);
    expect(sem.value).toBe(2);
    expect(sem.tryAcquire()).toBe(true);
    expect(sem.tryAcquire({ count: 2 })).toBe(false);
    expect(sem.value).toBe(1);
    sem.acquireSync();
    expect(sem.value).toBe(0);
    sem.release(3);
    expect(sem.value).toBe(3);
    sem.value = 7;
    expect(sem.value).toBe(7);
    expect(sem.tryWaitForZero()).toBe(false);
    sem.value = 0;
    expect(sem.tryWaitForZero()).toBe(true);
    sem.waitForZeroSync({ timeout: 0 });
  });

  test('open by key, fromId and info()', () => {
    const key = randomKey();
    const a = track(Semaphore.create({ key, initialValue: 4, mode: 0o640 }));
    expect(a.created).toBe(true);
    const b = Semaphore.open(key);
    expect(b.created).toBe(false);
    expect(b.id).toBe(a.id);
    expect(b.value).toBe(4);
    const c = Semaphore.fromId(a.id);
    expect(c.key).toBe(key);
    const info = a.info();
    expect(info).toMatchObject({
      key,
      id: a.id,
      mode: 0o640,
      size: 1,
      index: 0,
      value: 4,
      waitingForNonZero: 0,
      waitingForZero: 0,
    });
    expect(info.lastPid).toBe(process.pid); // the creation handshake's semop
    expect(info.lastOpTime).toBeInstanceOf(Date);
    expect(info.lastChangeTime).toBeInstanceOf(Date);
    expect(() => Semaphore.open(randomKey())).toThrow(expect.objectContaining({ code: 'ENOENT' }));
    expect(() => Semaphore.create({ key })).toThrow(expect.objectContaining({ code: 'EEXIST' }));
  });

  test('async acquire completes at once when it can, without a thread hop', async () => {
    const sem = make(1);
    const p = sem.acquire();
    // The IPC_NOWAIT attempt ran synchronously: the unit is already taken.
    expect(sem.value).toBe(0);
    await p;
    sem.release();
    const lock = await sem.lock();
    expect(sem.value).toBe(0);
    lock.release();
    lock.release(); // idempotent
    expect(sem.value).toBe(1);
    {
      using _slot = sem.lockSync({ count: 1 });
      expect(sem.value).toBe(0);
    }
    expect(sem.value).toBe(1);
  });

  test('bad input is rejected and leaves the value unchanged', async () => {
    const sem = make(5);
    const bad: unknown[] = [0, -1, 1.5, NaN, Infinity, SEMVMX + 1, '1'];
    for (const count of bad) {
      expect(() => sem.tryAcquire({ count: count as number })).toThrow(count === '1' ? TypeError : RangeError);
      expect(() => sem.acquireSync({ count: count as number })).toThrow();
      await expect(sem.acquire({ count: count as number })).rejects.toThrow();
      expect(() => sem.release(count as number)).toThrow();
    }
    for (const timeout of [-1, NaN, -Infinity]) {
      await expect(sem.acquire({ timeout })).rejects.toThrow(RangeError);
      expect(() => sem.acquireSync({ timeout })).toThrow(RangeError);
      await expect(sem.waitForZero({ timeout })).rejects.toThrow(RangeError);
    }
    expect(() => {
      sem.value = SEMVMX + 1;
    }).toThrow(RangeError);
    expect(() => {
      sem.value = -1;
    }).toThrow(RangeError);
    expect(() => Semaphore.create({ initialValue: SEMVMX + 1 })).toThrow(RangeError);
    expect(() => sem.tryAcquire({ undo: 1 as unknown as boolean })).toThrow(TypeError);
    expect(sem.value).toBe(5);
    // The kernel's own limit: a release past SEMVMX is ERANGE, and nothing changes.
    sem.value = SEMVMX - 1;
    expect(() => sem.release(2)).toThrow(expect.objectContaining({ code: 'ERANGE', syscall: 'semop' }));
    expect(sem.value).toBe(SEMVMX - 1);
  });

  test('the native layer re-checks what it is given', () => {
    const sem = make(3);
    const { IPC_NOWAIT } = binding.constants;
    const tries: Array<() => unknown> = [
      () => binding.semop(sem.id, Int32Array.of(0, -SEMVMX - 1, 0), IPC_NOWAIT, -1),
      () => binding.semop(sem.id, Int32Array.of(-1, -1, 0), IPC_NOWAIT, -1),
      () => binding.semop(sem.id, Int32Array.of(70000, -1, 0), IPC_NOWAIT, -1),
      () => binding.semop(sem.id, Int32Array.of(0, -1, 0x7000), IPC_NOWAIT, -1),
      () => binding.semop(sem.id, Int32Array.of(0, -1), IPC_NOWAIT, -1),
      () => binding.semop(sem.id, new Int32Array(0), IPC_NOWAIT, -1),
      () => binding.semop(sem.id, new Int32Array(3 * 100000), IPC_NOWAIT, -1),
      () => binding.semop(sem.id, [0, -1, 0] as unknown as Int32Array, IPC_NOWAIT, -1),
      () => binding.semop(sem.id, Int32Array.of(0, -1, 0), 0x1234567, -1),
      () => binding.semop(sem.id, Int32Array.of(0, -1, 0), 0, NaN),
      () => binding.semSetValue(sem.id, 0, SEMVMX + 1),
      () => binding.semSetAll(sem.id, Int32Array.of(1, 2)),
      () => binding.semSetAll(sem.id, Int32Array.of(-1)),
      () => binding.semGetValue(sem.id, 1.5),
      // semopOne takes its numbers [id, index, delta, flags, wait] as float64s in an ArrayBuffer (lib/call-args.ts).
      () => binding.semopOne(numbers(sem.id, -1, -1, IPC_NOWAIT, 0)),
      () => binding.semopOne(numbers(sem.id, 0, -SEMVMX - 1, IPC_NOWAIT, 0)),
      () => binding.semopOne(numbers(sem.id, 0, 0.5, IPC_NOWAIT, 0)),
      () => binding.semopOne(numbers(sem.id, 0, -1, 0x7000, 0)),
      () => binding.semopOne(numbers(sem.id, 0, -1, IPC_NOWAIT, 1e10)),
      () => binding.semopOne(numbers(sem.id, 0, -1, 0, NaN)),
      () => binding.semopOne(numbers(sem.id, 0, -1, IPC_NOWAIT)), // too short
      () => binding.semopOne(Float64Array.of(sem.id, 0, -1, IPC_NOWAIT, 0) as unknown as ArrayBuffer), // a view
      () => binding.semopOne(new SharedArrayBuffer(64) as unknown as ArrayBuffer),
      () => (binding.semopOne as (...a: unknown[]) => boolean)(sem.id, 0, -1, IPC_NOWAIT, 0), // the old form
    ];
    for (const attempt of tries) expect(attempt).toThrow(/out of range|must be|must hold|detached/);
    expect(sem.value).toBe(3);
    // An index inside sem_num's range but outside the set: the kernel's EFBIG, nothing taken.
    expect(() => binding.semop(sem.id, Int32Array.of(0, -1, 0, 1, -1, 0), IPC_NOWAIT, -1)).toThrow(
      expect.objectContaining({ code: 'EFBIG' }),
    );
    expect(() => binding.semopOne(numbers(sem.id, 1, -1, IPC_NOWAIT, 0))).toThrow(
      expect.objectContaining({ code: 'EFBIG' }),
    );
    expect(sem.value).toBe(3);
  });
});

describe('Semaphore waits', () => {
  test('timeouts: sync (semtimedop) and async, nothing taken', async () => {
    // Value 1 and a request for 2: a wait that took a unit (or the one there
    // is) on its way to the timeout would show in the value.
    const sem = make(1);
    const bounded = async (what: () => unknown, atLeast: number) => {
      const started = Date.now();
      try {
        await what();
      } catch (err) {
        const elapsed = Date.now() - started;
        expect(elapsed).toBeGreaterThanOrEqual(atLeast);
        expect(elapsed).toBeLessThan(5000); // generous: the machine is shared
        return err;
      }
      throw new Error('expected a timeout');
    };
    const timedOut = expect.objectContaining({ code: 'ETIMEDOUT' });
    expect(await bounded(() => sem.acquireSync({ count: 2, timeout: 30 }), 25)).toEqual(timedOut);
    expect(await bounded(() => sem.acquireSync({ count: 2, timeout: 0 }), 0)).toEqual(timedOut);
    expect(await bounded(() => sem.acquire({ count: 2, timeout: 30 }), 25)).toEqual(timedOut);
    expect(await bounded(() => sem.acquire({ count: 2, timeout: 0 }), 0)).toEqual(timedOut);
    expect(sem.value).toBe(1);
    expect(await bounded(() => sem.waitForZero({ timeout: 20 }), 15)).toEqual(timedOut);
    expect(sem.value).toBe(1);
    expect(sem.info().waitingForNonZero).toBe(0);
    expect(sem.info().waitingForZero).toBe(0);
  });

  test('abort and close end a pending acquire promptly with nothing taken', async () => {
    const sem = make(0);
    const ac = new AbortController();
    const aborted = sem.acquire({ signal: ac.signal });
    await until(() => sem.info().waitingForNonZero === 1, 10000, 'the waiter to block');
    ac.abort(new Error('stop'));
    await expect(aborted).rejects.toMatchObject({
      name: 'AbortError',
      cause: expect.objectContaining({ message: 'stop' }),
    });
    await until(() => sem.info().waitingForNonZero === 0, 10000, 'the waiter to leave');

    const closed = sem.acquire();
    await until(() => sem.info().waitingForNonZero === 1, 10000, 'the waiter to block');
    sem.close();
    await expect(closed).rejects.toBeInstanceOf(ClosedError);
    await until(() => Semaphore.fromId(sem.id).info().waitingForNonZero === 0, 10000, 'the waiter to leave');
    // Nothing was taken by the cancelled waits: one release is one unit.
    const again = Semaphore.fromId(sem.id);
    again.release();
    expect(again.value).toBe(1);
    expect(() => sem.tryAcquire()).toThrow(ClosedError);
    await expect(sem.acquire({ signal: AbortSignal.abort() })).rejects.toThrow(ClosedError);
    await expect(again.acquire({ signal: AbortSignal.abort() })).rejects.toMatchObject({ name: 'AbortError' });
    expect(again.value).toBe(1);
  });

  test('a waiter is woken by another process releasing', async () => {
    const sem = make(0);
    const agent = new Agent();
    const got = sem.acquire({ count: 2 });
    await until(() => sem.info().waitingForNonZero === 1, 10000, 'the waiter to block');
    await agent.ok('release', { id: sem.id, count: 1 });
    expect(sem.info().waitingForNonZero).toBe(1); // one unit is not enough for count 2
    await agent.ok('release', { id: sem.id, count: 1 });
    await got;
    expect(sem.value).toBe(0);
    expect(sem.info().lastPid).toBe(process.pid);
  });

  test('waitingForNonZero counts blocked children', async () => {
    const sem = make(0);
    const agents = [new Agent(), new Agent(), new Agent()];
    const acquired = agents.map((a) => a.ok('acquire', { id: sem.id }));
    await until(() => sem.info().waitingForNonZero === 3, 20000, 'three blocked children');
    sem.release(2);
    await until(() => sem.info().waitingForNonZero === 1, 10000, 'two children to get through');
    sem.release(1);
    await Promise.all(acquired);
    expect(sem.info()).toMatchObject({ value: 0, waitingForNonZero: 0 });
  });

  test('waitForZero is a barrier across processes', async () => {
    const parties = 3;
    const sem = make(parties);
    const agents = [new Agent(), new Agent()];
    const passed: boolean[] = [false, false];
    const through = agents.map(async (a, i) => {
      await a.ok('acquire', { id: sem.id });
      await a.ok('waitForZero', { id: sem.id });
      passed[i] = true;
    });
    await until(() => sem.info().waitingForZero === 2, 20000, 'two children at the barrier');
    expect(sem.value).toBe(1);
    expect(passed).toEqual([false, false]); // the kernel holds them: value is still 1
    sem.acquireSync(); // the last party arrives
    await Promise.all(through);
    await sem.waitForZero();
    expect(passed).toEqual([true, true]);
  });

  test('undo: a SIGKILLed child gives back what it took with undo, and only that', async () => {
    const sem = make(5);
    const agent = new Agent();
    await agent.ok('acquire', { id: sem.id, count: 2, undo: true });
    await agent.ok('acquire', { id: sem.id, count: 1, undo: false });
    expect(sem.value).toBe(2);
    agent.kill();
    await agent.child.exited;
    await until(() => sem.value === 4, 10000, 'the kernel to apply the undo');
    expect(sem.value).toBe(4); // the undo-less unit stays taken
  });

  test('EIDRM to a waiter when another process removes the set', async () => {
    const sem = make(0);
    const blocked = new Agent();
    const remover = new Agent();
    const waiting = sem.acquire().then(
      () => null,
      (err: unknown) => err,
    );
    const waitingSync = blocked.run('acquireSync', { id: sem.id });
    await until(() => sem.info().waitingForNonZero === 2, 20000, 'two waiters');
    await remover.ok('remove', { id: sem.id });
    expect(await waiting).toMatchObject({ code: 'EIDRM', syscall: 'semop' });
    expect((await waitingSync).error).toBe('EIDRM');
  });
});

describe('Semaphore open-or-create', () => {
  test('create: true opens an existing one without re-initialising it', () => {
    const key = randomKey();
    const a = track(Semaphore.open(key, { create: true, initialValue: 3 }));
    expect(a.created).toBe(true);
    a.tryAcquire();
    const b = Semaphore.open(key, { create: true, initialValue: 3 });
    expect(b.created).toBe(false);
    expect(b.value).toBe(2);
    expect(() => Semaphore.open(0)).toThrow(RangeError);
  });

  test('errors are SysvIpcError with code and syscall', () => {
    try {
      Semaphore.fromId(0x7ffffff0);
      throw new Error('no error');
    } catch (err) {
      expect(err).toBeInstanceOf(SysvIpcError);
      expect(err).toMatchObject({ code: 'EINVAL', syscall: 'semctl' });
    }
  });
});

describe('Semaphore lock handles', () => {
  test('a lock taken before close() can still be released after it', async () => {
    const sem = track(Semaphore.create({ initialValue: 1 }));
    const lock = await sem.lock();
    expect(sem.value).toBe(0);
    sem.close();
    expect(() => lock[Symbol.dispose]()).not.toThrow();
    expect(Semaphore.fromId(sem.id).value).toBe(1);
    lock.release(); // idempotent
    expect(Semaphore.fromId(sem.id).value).toBe(1);
  });
});
