import { AbortError, SharedMemory, SysvIpcError } from '../../lib';
import { Child, threadsInFutexOn, track, until, useCleanup } from '../support/helpers';

useCleanup();

/** Waits until a thread of this process is parked in the kernel on word `index` of `shm`. */
const untilParked = (shm: SharedMemory, index: number) =>
  until(
    () => threadsInFutexOn(process.pid, shm.id, index) === 1,
    10000,
    `a futex wait on word ${index} of segment ${shm.id}`,
  );

// Notifies until `n` waiters in all have been woken (they may not be asleep yet).
async function notifyUntil(shm: SharedMemory, index: number, n: number): Promise<number> {
  let woken = 0;
  await until(
    () => {
      woken += shm.notify(index, n - woken);
      return woken >= n;
    },
    10000,
    `${n} waiter(s) to be woken`,
  );
  return woken;
}

describe('SharedMemory wait/notify in one process', () => {
  test('waitSync: not-equal at once, timed-out after the timeout', () => {
    const shm = track(SharedMemory.create({ size: 16 }));
    const words = new Int32Array(shm.arrayBuffer);
    Atomics.store(words, 2, -5);
    expect(shm.waitSync(2, 7)).toBe('not-equal');
    const started = Date.now();
    expect(shm.waitSync(2, -5, { timeout: 20 })).toBe('timed-out');
    const elapsed = Date.now() - started;
    expect(elapsed).toBeGreaterThanOrEqual(15); // waited for the timeout
    expect(elapsed).toBeLessThan(5000); // and then returned (generous: the machine is shared)
    expect(shm.waitSync(2, -5, { timeout: 0 })).toBe('timed-out');
    // The same 32 bits as unsigned.
    expect(shm.waitSync(2, 0xfffffffb, { timeout: 1 })).toBe('timed-out');
  });

  test('wait: not-equal resolves at once; timeout rejects with ETIMEDOUT', async () => {
    const shm = track(SharedMemory.create({ size: 16 }));
    new Int32Array(shm.arrayBuffer)[0] = 1;
    await expect(shm.wait(0, 0)).resolves.toBe('not-equal');
    await expect(shm.wait(0, 1, { timeout: 0 })).rejects.toMatchObject({ code: 'ETIMEDOUT', syscall: 'futex' });
    const err = await shm.wait(0, 1, { timeout: 30 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(SysvIpcError);
    expect(err).toMatchObject({ code: 'ETIMEDOUT', syscall: 'futex' });
  });

  test('notify wakes waiters and returns how many; count limits it', async () => {
    const shm = track(SharedMemory.create({ size: 16 }));
    const waits = [shm.wait(1, 0), shm.wait(1, 0), shm.wait(1, 0)];
    expect(shm.notify(2)).toBe(0); // another word: nobody
    let total = 0;
    await until(
      () => {
        const n = shm.notify(1, 2);
        expect(n).toBeLessThanOrEqual(2);
        total += n;
        return total >= 3;
      },
      10000,
      'three waiters',
    );
    expect(total).toBe(3);
    await expect(Promise.all(waits)).resolves.toEqual(['ok', 'ok', 'ok']);
    expect(shm.notify(1)).toBe(0);
  });

  test('abort rejects with AbortError (cause = reason); a pre-aborted signal rejects at once', async () => {
    const shm = track(SharedMemory.create({ size: 16 }));
    const ac = new AbortController();
    const p = shm.wait(0, 0, { signal: ac.signal });
    await untilParked(shm, 0); // in the kernel, not just queued for a thread
    ac.abort('enough');
    await expect(p).rejects.toMatchObject({ name: 'AbortError', code: 'ABORT_ERR', cause: 'enough' });
    await until(() => threadsInFutexOn(process.pid, shm.id, 0) === 0, 10000, 'the aborted wait to leave the kernel');
    await expect(shm.wait(0, 0, { signal: AbortSignal.abort() })).rejects.toBeInstanceOf(AbortError);
  });

  test('detach rejects pending waits and then detaches', async () => {
    const shm = track(SharedMemory.create({ size: 16 }));
    const view = shm.buffer;
    const p = shm.wait(0, 0);
    await untilParked(shm, 0); // in the kernel, not just queued for a thread
    shm.detach();
    await expect(p).rejects.toMatchObject({ code: 'ERR_SYSV_IPC_CLOSED' });
    expect(view.length).toBe(0);
    await until(() => shm.info().attachments === 0, 10000, 'shmdt');
  });

  test('bad arguments reject (async) or throw (sync), without waiting', async () => {
    const shm = track(SharedMemory.create({ size: 10 })); // words 0 and 1
    await expect(shm.wait(2, 0)).rejects.toBeInstanceOf(RangeError);
    await expect(shm.wait(0, 1.5)).rejects.toBeInstanceOf(RangeError);
    await expect(shm.wait(0, 0, { timeout: NaN })).rejects.toBeInstanceOf(RangeError);
    await expect(shm.wait(0, 0, { signal: 'x' as never })).rejects.toBeInstanceOf(TypeError);
    await expect(shm.wait('0' as never, 0)).rejects.toBeInstanceOf(TypeError);
    expect(() => shm.waitSync(0, 0, { timeout: 'x' as never })).toThrow(TypeError);
    expect(() => shm.notify(0, 1.5)).toThrow(RangeError);
  });
});

describe('SharedMemory wait/notify across processes', () => {
  test('hands a word back and forth between two processes (200 round trips)', async () => {
    const shm = track(SharedMemory.create({ size: 64 }));
    const words = new Int32Array(shm.arrayBuffer);
    const child = new Child('shm-peer', [shm.id]);
    await child.next();
    const rounds = 200;
    child.send({ op: 'pong', index: 3, rounds }); // the child makes odd values even, blocking in waitSync
    for (let r = 0; r < rounds; r++) {
      expect(Atomics.add(words, 3, 1) % 2).toBe(0); // even → odd: the child's turn
      shm.notify(3);
      for (;;) {
        const v = Atomics.load(words, 3);
        if (v % 2 === 0) break;
        await shm.wait(3, v, { timeout: 10000 }); // async: the event loop keeps running
      }
    }
    expect(await child.next()).toEqual({ value: 2 * rounds });
    expect(Atomics.load(words, 3)).toBe(2 * rounds);
    child.send({ op: 'exit' });
    await child.exited;
  });

  test('a child waiting on a read-only attachment is woken by the parent', async () => {
    const shm = track(SharedMemory.create({ size: 16 }));
    const child = new Child('shm-peer', [shm.id, 'ro']);
    await child.next();
    child.send({ op: 'wait', index: 0, expected: 0, timeout: 10000 });
    expect(await notifyUntil(shm, 0, 1)).toBe(1);
    expect(await child.next()).toEqual({ result: 'ok' });
    child.send({ op: 'exit' });
    await child.exited;
  });

  test('a child sees not-equal, and a child’s wait times out with ETIMEDOUT', async () => {
    const shm = track(SharedMemory.create({ size: 16 }));
    shm.write(Buffer.from([9, 0, 0, 0]));
    const child = new Child('shm-peer', [shm.id]);
    await child.next();
    child.send({ op: 'wait', index: 0, expected: 0, timeout: 10000 });
    expect(await child.next()).toEqual({ result: 'not-equal' });
    child.send({ op: 'wait', index: 0, expected: 9, timeout: 20 });
    expect(await child.next()).toEqual({ error: 'ETIMEDOUT' });
    child.send({ op: 'exit' });
    await child.exited;
  });
});
