/**
 * FastMutex: a lock record (include/sysv-ipc/lock.h) in shared memory, taken
 * by JavaScript's Atomics.compareExchange, slept on natively. Every
 * cross-process claim runs in real child processes; crashes are real
 * SIGKILLs; hostile memory is written into the record directly.
 */
import { execFile, execFileSync, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import { promisify } from 'node:util';
import * as path from 'node:path';
import { once } from 'node:events';
import { Worker } from 'node:worker_threads';
import { FastMutex, LockCorruptError, MutexNotHeldError, SharedMemory } from '../../lib';
import { binding } from '../../lib/binding';
import { Child, sleep, track, until, useCleanup } from '../support/helpers';

useCleanup();

const execFileAsync = promisify(execFile);

const segment = (size = 4096) => track(SharedMemory.create({ size }));
const COUNTER_AT = 64; // the unguarded counter, beside the lock at byte 0

interface Report {
  ready?: boolean;
  done?: boolean;
  locked?: boolean;
  unlocked?: boolean;
  pid?: number;
  ownerDied?: boolean | number;
  error?: string;
}

/** A child that takes the lock (lockSync, or await lock() with 'async') and holds it until told. */
async function holder(shm: SharedMemory, offset = 0, how = 'sync'): Promise<{ child: Child; report: Report }> {
  const child = new Child('fast-mutex-holder', [shm.id, offset, how]);
  return { child, report: await child.next<Report>() };
}

/** Children that increment the counter under the lock, started together. */
async function counters(
  shm: SharedMemory,
  styles: string[],
  rounds: number,
): Promise<{ children: Child[]; done: Promise<Report[]> }> {
  const children = styles.map((style) => new Child('fast-mutex-counter', [shm.id, 0, COUNTER_AT, rounds, style]));
  for (const c of children) expect(await c.next<Report>()).toEqual({ ready: true });
  for (const c of children) c.send('go');
  return { children, done: Promise.all(children.map((c) => c.next<Report>())) };
}

/** Writes a raw record: word (u32), reserved, holder_start (u64), as another process would. */
function writeRecord(shm: SharedMemory, offset: number, word: number, start = 0): void {
  const b = Buffer.alloc(16);
  b.writeUInt32LE(word >>> 0, 0);
  b.writeBigUInt64LE(BigInt(start), 8);
  shm.write(b, offset);
}

const word = (shm: SharedMemory, offset = 0) => shm.read(offset, 4).readUInt32LE(0);
/** Until a locker sleeps on the lock: sleepers set WAITERS (bit 31) before their futex wait. */
const untilSleeping = (shm: SharedMemory) =>
  until(() => word(shm) >>> 31 === 1, 10000, 'a locker to sleep on the lock');

describe('FastMutex in one process', () => {
  test('tryLock, lockSync, lock, unlock, holder and ownership', async () => {
    const shm = segment();
    const mutex = FastMutex.in(shm, 0);
    expect(FastMutex.SIZE).toBe(16);
    expect(mutex.holder).toBe(0);
    expect(mutex.held).toBe(false);
    expect(mutex.tryLock()).toEqual({ ownerDied: false });
    expect(mutex.holder).toBe(process.pid);
    expect(word(shm)).toBe(process.pid);
    // holder_start is this process's start time, as the protocol says.
    expect(Number(shm.read(8, 8).readBigUInt64LE(0))).toBe(binding.processStartTime(process.pid));
    expect(mutex.tryLock()).toBe(false);
    // Another object over the same record shares the ownership.
    const same = FastMutex.in(shm, 0);
    expect(same.held).toBe(true);
    same.unlock();
    expect(mutex.held).toBe(false);
    expect(word(shm)).toBe(0);
    expect(() => mutex.unlock()).toThrow(MutexNotHeldError);
    expect(() => mutex.unlock()).toThrow(expect.objectContaining({ code: 'ERR_SYSV_IPC_MUTEX_NOT_HELD' }));
    expect(mutex.lockSync()).toEqual({ ownerDied: false });
    expect(() => mutex.lockSync()).toThrow(expect.objectContaining({ code: 'EDEADLK' }));
    // A second task of the same process waits (on a waiter thread) until the first unlocks.
    const second = mutex.lock();
    await untilSleeping(shm); // the sleeper says so in the word (WAITERS)
    mutex.unlock(); // from the JS thread: clears the word and wakes the sleeper
    expect(await second).toEqual({ ownerDied: false });
    expect(mutex.held).toBe(true); // taken on a waiter thread, held by the process
    mutex.unlock();
    expect(word(shm)).toBe(0);
    expect(await mutex.lock({ timeout: 1000 })).toEqual({ ownerDied: false });
    mutex.unlock();
  });

  test('in() writes nothing, checks its offset, and a zeroed record is unlocked', () => {
    const shm = segment(64);
    writeRecord(shm, 16, 12345, 777);
    const before = shm.read();
    const a = FastMutex.in(shm, 16);
    const b = FastMutex.in(shm, 16);
    expect(shm.read().equals(before)).toBe(true);
    expect(a.holder).toBe(12345);
    expect(b.offset).toBe(16);
    const zero = FastMutex.in(shm, 48); // the last 16 bytes
    expect(zero.tryLock()).toEqual({ ownerDied: false });
    zero.unlock();
    for (const bad of [4, 12, 50, 56, 64, -8, 1.5]) {
      expect(() => FastMutex.in(shm, bad)).toThrow(expect.objectContaining({ code: 'ERR_OUT_OF_RANGE' }));
    }
    expect(() => FastMutex.in({} as SharedMemory, 0)).toThrow(
      expect.objectContaining({ code: 'ERR_INVALID_ARG_TYPE' }),
    );
    const readOnly = SharedMemory.fromId(shm.id, { readOnly: true });
    expect(() => FastMutex.in(readOnly, 0)).toThrow(expect.objectContaining({ code: 'ERR_SYSV_IPC_READ_ONLY' }));
    readOnly.detach();
    // The native layer checks again whatever JavaScript passes.
    const handle = shm.nativeHandle();
    // (Errors made natively come from the main realm: matched by code, not by class.)
    const code = (c: string) => expect.objectContaining({ code: c });
    expect(() => binding.fastMutexLockSync(handle, 4, 0)).toThrow(code('ERR_OUT_OF_RANGE'));
    expect(() => binding.fastMutexLockSync(handle, 56, 0)).toThrow(code('ERR_OUT_OF_RANGE'));
    expect(() => binding.fastMutexLockSync(handle, 0, -2)).toThrow(code('ERR_OUT_OF_RANGE'));
    expect(() => binding.fastMutexRelease({} as never, 0)).toThrow(code('ERR_INVALID_ARG_TYPE'));
    expect(() => binding.fastMutexRelease(handle, '0' as never)).toThrow(code('ERR_INVALID_ARG_TYPE'));
    expect(() => binding.fastMutexLockAsync(handle, 0, -1, -1)).toThrow(code('ERR_OUT_OF_RANGE'));
  });

  test('create, open and fromId: a lock in a segment of its own', () => {
    const key = 0x10000000 + Math.floor(Math.random() * 0x6fffffff);
    const a = track(FastMutex.open(key, { create: true, mode: 0o600 }));
    const b = FastMutex.open(key);
    const c = FastMutex.fromId(a.id);
    expect([b.id, c.id]).toEqual([a.id, a.id]);
    expect(a.key).toBe(key);
    expect(a.tryLock()).toEqual({ ownerDied: false });
    expect(b.holder).toBe(process.pid);
    c.unlock();
    expect(b.tryLock()).toEqual({ ownerDied: false });
    b.unlock();
    b.close();
    c.close();
    expect(() => FastMutex.create({ key })).toThrow(expect.objectContaining({ code: 'EEXIST' }));
    expect(() => FastMutex.open(key + 1)).toThrow(expect.objectContaining({ code: 'ENOENT' }));
    const tiny = track(SharedMemory.create({ size: 8 }));
    expect(() => FastMutex.fromId(tiny.id)).toThrow(RangeError);
  });

  test('acquire() and using: unlocked at the end of the block, also on throw', async () => {
    const mutex = FastMutex.in(segment(), 0);
    {
      using held = await mutex.acquire();
      expect(held.ownerDied).toBe(false);
      expect(mutex.held).toBe(true);
    }
    expect(mutex.held).toBe(false);
    expect(() => {
      using _held = mutex.acquireSync();
      throw new Error('boom');
    }).toThrow('boom');
    expect(mutex.holder).toBe(0);
    const handle = mutex.acquireSync();
    handle.release();
    handle.release(); // idempotent
    expect(mutex.holder).toBe(0);
    expect(await mutex.withLock(({ ownerDied }) => (mutex.held ? `held ${ownerDied}` : 'not held'))).toBe('held false');
    await expect(
      mutex.withLock(() => {
        throw new Error('inside');
      }),
    ).rejects.toThrow('inside');
    expect(mutex.holder).toBe(0);
  });

  test('garbage in the record: a coded error from every call, never a crash or a hang', async () => {
    const shm = segment();
    const mutex = FastMutex.in(shm, 0);
    for (const garbage of [0x00400000, 0x80000000, 0xffffffff, 0x7fc00001]) {
      writeRecord(shm, 0, garbage);
      expect(mutex.holder).toBe(0);
      expect(() => mutex.tryLock()).toThrow(LockCorruptError);
      expect(() => mutex.lockSync({ timeout: 1000 })).toThrow(
        expect.objectContaining({ code: 'ERR_SYSV_IPC_LOCK_CORRUPT', word: garbage }),
      );
      await expect(mutex.lock({ timeout: 1000 })).rejects.toMatchObject({ code: 'ERR_SYSV_IPC_LOCK_CORRUPT' });
      expect(word(shm)).toBe(garbage); // nothing "repaired" behind the caller's back
    }
    // Overwritten while we hold it: unlock() says so.
    writeRecord(shm, 0, 0);
    mutex.lockSync();
    writeRecord(shm, 0, 0x00400000 | process.pid);
    expect(() => mutex.unlock()).toThrow(LockCorruptError);
    // Taken over by someone else (another valid pid) while we hold it.
    writeRecord(shm, 0, 0);
    mutex.lockSync();
    writeRecord(shm, 0, 1);
    expect(() => mutex.unlock()).toThrow(MutexNotHeldError);
    expect(word(shm)).toBe(1);
    writeRecord(shm, 0, 0);
  });

  test('timeouts, abort and close() end a wait without taking the lock', async () => {
    const shm = segment();
    const { child, report } = await holder(shm);
    expect(report).toEqual({ locked: true, pid: child.proc.pid, ownerDied: false });
    const mutex = FastMutex.in(shm, 0);
    expect(mutex.holder).toBe(child.proc.pid);
    const t0 = Date.now();
    await expect(mutex.lock({ timeout: 100 })).rejects.toMatchObject({ code: 'ETIMEDOUT', syscall: 'futex' });
    expect(Date.now() - t0).toBeGreaterThanOrEqual(90);
    expect(() => mutex.lockSync({ timeout: 100 })).toThrow(expect.objectContaining({ code: 'ETIMEDOUT' }));
    await expect(mutex.lock({ timeout: 0 })).rejects.toMatchObject({ code: 'ETIMEDOUT' });
    expect(() => mutex.lockSync({ timeout: 0 })).toThrow(expect.objectContaining({ code: 'ETIMEDOUT' }));

    const ac = new AbortController();
    const aborted = mutex.lock({ signal: ac.signal });
    await untilSleeping(shm);
    ac.abort(new Error('stop'));
    await expect(aborted).rejects.toMatchObject({ name: 'AbortError', cause: new Error('stop') });
    await expect(mutex.lock({ signal: AbortSignal.abort() })).rejects.toMatchObject({ name: 'AbortError' });

    const closing = mutex.lock();
    await untilSleeping(shm);
    mutex.close();
    await expect(closing).rejects.toMatchObject({ code: 'ERR_SYSV_IPC_CLOSED' });
    expect(() => mutex.tryLock()).toThrow(expect.objectContaining({ code: 'ERR_SYSV_IPC_CLOSED' }));
    await expect(mutex.lock()).rejects.toMatchObject({ code: 'ERR_SYSV_IPC_CLOSED' });
    expect(mutex.held).toBe(false);
    expect(word(shm) & 0x3fffff).toBe(child.proc.pid); // still the child's
    // Bad options are refused before anything is taken.
    const other = FastMutex.in(shm, 16);
    await expect(other.lock({ timeout: -1 })).rejects.toMatchObject({ code: 'ERR_OUT_OF_RANGE' });
    expect(() => other.lockSync({ timeout: 'x' as never })).toThrow(
      expect.objectContaining({ code: 'ERR_INVALID_ARG_TYPE' }),
    );
    expect(other.holder).toBe(0);
  });

  test('close() of a lock with its own segment: the held lock stays releasable, then the segment is detached', async () => {
    const mutex = track(FastMutex.create());
    const attachments = () => binding.shmStat(mutex.id).attachments;
    expect(attachments()).toBe(1);
    await mutex.lock();
    mutex.close();
    expect(attachments()).toBe(1); // kept while held
    mutex.unlock();
    expect(attachments()).toBe(0);
  });
});

describe('FastMutex across processes', () => {
  test('4 processes x 10,000 unguarded increments under the lock give the exact total', async () => {
    const shm = segment();
    const { done } = await counters(shm, ['sync', 'async', 'mixed', 'mixed'], 10_000);
    const reports = await done;
    expect(reports.map((r) => r.error ?? r.done)).toEqual([true, true, true, true]);
    expect(reports.map((r) => r.ownerDied)).toEqual([0, 0, 0, 0]);
    expect(shm.read(COUNTER_AT, 4).readInt32LE(0)).toBe(40_000);
    expect(word(shm)).toBe(0);
  });

  test('the JavaScript compare-and-swap alone (tryLock in a busy loop) excludes 4 processes: exact total', async () => {
    const shm = segment();
    const { done } = await counters(shm, ['spin', 'spin', 'spin', 'spin'], 10_000);
    const reports = await done;
    expect(reports.map((r) => r.error ?? r.done)).toEqual([true, true, true, true]);
    expect(shm.read(COUNTER_AT, 4).readInt32LE(0)).toBe(40_000);
  });

  test('without the lock the same increments are lost (the race the test above would catch is real)', async () => {
    // On a loaded machine the four processes may happen not to overlap in one
    // round: a few rounds, and one lost increment in any of them shows the race.
    const totals: number[] = [];
    for (let round = 0; round < 5 && !totals.some((t) => t < 400_000); round++) {
      const shm = segment();
      const { done } = await counters(shm, ['none', 'none', 'none', 'none'], 100_000);
      await done;
      totals.push(shm.read(COUNTER_AT, 4).readInt32LE(0));
    }
    expect(Math.min(...totals)).toBeLessThan(400_000);
  }, 90_000);

  test('unlock wakes a process asleep on the lock', async () => {
    const shm = segment();
    const mutex = FastMutex.in(shm, 0);
    mutex.lockSync();
    const child = new Child('fast-mutex-holder', [shm.id, 0, 'sync']);
    await untilSleeping(shm);
    mutex.unlock(); // sees WAITERS: the native release wakes the child
    expect(await child.next<Report>()).toMatchObject({ locked: true, ownerDied: false });
    expect(mutex.holder).toBe(child.proc.pid);
    child.send('unlock');
    expect(await child.next<Report>()).toEqual({ unlocked: true });
  });

  // A wait shorter than the native wait's first look at the holder (100 ms in)
  // never looked: a retry loop of short timeouts never took a dead holder's
  // lock over (R8's review: 125 of 129 kill intervals without progress).
  for (const how of ['sync', 'async'] as const) {
    test(`a retry loop of 1 ms ${how} locks takes a SIGKILLed holder's lock over`, async () => {
      const shm = segment();
      const { child: first, report } = await holder(shm);
      expect(report.locked).toBe(true);
      first.kill('SIGKILL');
      await first.exited;
      const mutex = FastMutex.in(shm, 0);
      const until = Date.now() + 10_000; // the contract is about 100 ms; generous for a loaded machine
      let result: { ownerDied: boolean } | undefined;
      while (result === undefined && Date.now() < until) {
        try {
          result = how === 'sync' ? mutex.lockSync({ timeout: 1 }) : await mutex.lock({ timeout: 1 });
        } catch (err) {
          expect(err).toMatchObject({ code: 'ETIMEDOUT' });
          await sleep(1);
        }
      }
      expect(result).toEqual({ ownerDied: true });
      mutex.unlock();
    });
  }

  for (const how of ['async', 'sync'] as const) {
    test(`a holder SIGKILLed while holding: the next ${how} locker takes the lock within 1 s and is told`, async () => {
      const shm = segment();
      const { child: first, report } = await holder(shm);
      expect(report.locked).toBe(true);
      let waited: Promise<{ ownerDied: boolean }>;
      let next: Child | undefined;
      const mutex = FastMutex.in(shm, 0);
      if (how === 'async') {
        waited = mutex.lock({ timeout: 10_000 });
        await untilSleeping(shm);
      } else {
        // lockSync blocks its thread: the waiter is another process.
        next = new Child('fast-mutex-holder', [shm.id, 0, 'sync']);
        await untilSleeping(shm);
        waited = next.next<Report>() as Promise<{ ownerDied: boolean }>;
      }
      const killedAt = Date.now();
      first.kill('SIGKILL');
      const result = await waited;
      expect(Date.now() - killedAt).toBeLessThan(1000);
      expect(result.ownerDied).toBe(true);
      expect(mutex.holder).toBe(how === 'async' ? process.pid : next!.proc.pid);
      // The lock stays usable.
      if (how === 'async') mutex.unlock();
      else {
        next!.send('unlock');
        await next!.next();
      }
      expect(await mutex.lock({ timeout: 5000 })).toEqual({ ownerDied: false });
      mutex.unlock();
    });
  }

  test('a handoff between two processes on one CPU: lockSync yields to the holder and takes the lock in JavaScript', async () => {
    // Each step unlocks a lock the other process waits for and waits for one
    // the other holds (three locks passed round, as bench's handoff row).
    // lockSync went native at once when the lock was held (a blocking-call
    // set-up and a native take per step, which cost the one-CPU handoff row
    // its target); it now yields first (the holder, when it shares this
    // CPU, runs and hands over) and takes it in JavaScript. Counted: a step
    // whose yields did not reach the holder (another process ran) still goes
    // native, and is allowed.
    const allowed = /^Cpus_allowed_list:\s*(\d+)/m.exec(fs.readFileSync('/proc/self/status', 'utf8'));
    if (!allowed) return;
    const shm = segment();
    const steps = 400;
    const script = `
      const dist = ${JSON.stringify(path.join(__dirname, '..', '..', 'dist'))};
      const { binding } = require(dist + '/addon');
      const { FastMutex, SharedMemory } = require(dist);
      const [side, id, steps] = process.argv.slice(1);
      let native = 0;
      const lockSync = binding.fastMutexLockSync;
      binding.fastMutexLockSync = (...args) => (native++, lockSync(...args));
      const shm = SharedMemory.fromId(Number(id));
      const flags = new Int32Array(shm.arrayBuffer, 256, 2);
      const locks = [0, 1, 2].map((i) => FastMutex.in(shm, 64 * i));
      const until = (i) => { while (Atomics.load(flags, i) === 0) Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 1); };
      const n = Number(steps);
      if (side === 'a') {
        locks[0].lockSync(); locks[1].lockSync();
        Atomics.store(flags, 0, 1); until(1);
        for (let k = 0; k < n; k++) { locks[k % 3].unlock(); locks[(k + 2) % 3].lockSync({ timeout: 60000 }); }
      } else {
        until(0); locks[2].lockSync();
        Atomics.store(flags, 1, 1);
        locks[0].lockSync({ timeout: 60000 });
        for (let k = 0; k < n; k++) { locks[(k + 2) % 3].unlock(); if (k + 1 < n) locks[(k + 1) % 3].lockSync({ timeout: 60000 }); }
      }
      process.stdout.write(JSON.stringify({ native }));`;
    const sides = ['a', 'b'].map((side) =>
      execFileAsync(
        'taskset',
        ['-c', allowed[1], process.execPath, '-e', script, side, String(shm.id), String(steps)],
        {
          timeout: 90_000,
        },
      ),
    );
    const out = await Promise.all(sides);
    const reports = out.map((o) => JSON.parse(o.stdout) as { native: number });
    for (const r of reports) expect(r.native).toBeLessThan(steps / 2);
  }, 120_000);

  test('tryLock() takes over from a holder that is gone, and says so', async () => {
    const shm = segment();
    const { child } = await holder(shm);
    const mutex = FastMutex.in(shm, 0);
    expect(mutex.tryLock()).toBe(false); // alive: not taken
    child.kill('SIGKILL');
    await child.exited;
    let result: ReturnType<FastMutex['tryLock']> = false;
    await until(() => (result = mutex.tryLock()) !== false, 5000, 'tryLock to take the lock over');
    expect(result).toEqual({ ownerDied: true });
    expect(mutex.holder).toBe(process.pid);
    mutex.unlock();
  });

  test('a live pid with another start time (a reused pid) is taken over after the stable window, its true owner is not', async () => {
    const shm = segment();
    const mutex = FastMutex.in(shm, 0);
    const sleeper = spawn('sleep', ['30'], { stdio: 'ignore' });
    try {
      const pid = sleeper.pid!;
      await until(() => binding.processStartTime(pid) !== 0, 5000, 'sleep to start');
      const start = binding.processStartTime(pid);
      // Its true start time: a live holder, never taken over.
      writeRecord(shm, 0, pid, start);
      await expect(mutex.lock({ timeout: 700 })).rejects.toMatchObject({ code: 'ETIMEDOUT' });
      expect(() => mutex.lockSync({ timeout: 300 })).toThrow(expect.objectContaining({ code: 'ETIMEDOUT' }));
      // Another start time: the pid now names another process; the holder is dead.
      writeRecord(shm, 0, pid, start + 1);
      const t0 = Date.now();
      expect(await mutex.lock({ timeout: 5000 })).toEqual({ ownerDied: true });
      // Not at once: a holder between its CAS and its holder_start store looks the same for a moment.
      expect(Date.now() - t0).toBeGreaterThanOrEqual(150);
      mutex.unlock();
      writeRecord(shm, 0, pid, start + 1);
      expect(mutex.lockSync({ timeout: 5000 })).toEqual({ ownerDied: true });
      mutex.unlock();
    } finally {
      sleeper.kill('SIGKILL');
    }
  });

  test('SIGKILL storm: processes killed one after another while they lock; the others go on and the lock stays usable', async () => {
    const shm = segment();
    const mutex = FastMutex.in(shm, 0);
    const stormers = await Promise.all(
      Array.from({ length: 4 }, async () => {
        const c = new Child('fast-mutex-counter', [shm.id, 0, COUNTER_AT, 0, 'storm']);
        await c.next<Report>();
        return c;
      }),
    );
    for (const c of stormers) c.send('go');
    const { done } = await counters(shm, ['mixed', 'mixed'], 2000);
    let holdersKilled = 0;
    for (const victim of stormers) {
      // Mostly while it holds the lock (waiting at most 100 ms for that).
      await until(() => mutex.holder === victim.proc.pid, 100).catch(() => undefined);
      if (mutex.holder === victim.proc.pid) holdersKilled++;
      victim.kill('SIGKILL');
      await sleep(Math.random() * 50);
    }
    const reports = await done;
    expect(reports.map((r) => r.error ?? r.done)).toEqual([true, true]);
    const last = await mutex.lock({ timeout: 5000 });
    expect(typeof last.ownerDied).toBe('boolean');
    mutex.unlock();
    expect(holdersKilled).toBeGreaterThanOrEqual(0); // how many of the kills hit a holder varies from run to run
  });
});

describe('FastMutex in worker_threads', () => {
  test('a worker and the main thread exclude each other; ownership is per environment', async () => {
    // Every wait here is bounded and says, when it runs out, who held the
    // lock: a hang fails loudly rather than at jest's timeout. (The hang seen
    // on Node 24 and 26, issue 19 item 5, was this test's: it awaited the
    // worker's 'exit' after its last message, and Node may emit 'exit' first.)
    const shm = segment();
    const mutex = FastMutex.in(shm, 0);
    const counter = new Int32Array(shm.arrayBuffer, COUNTER_AT, 1);
    let round = 0;
    const state = () =>
      `round ${round}, counter ${counter[0]}, word 0x${word(shm).toString(16)} (holder ${mutex.holder}, ` +
      `this process ${process.pid}, main thread holds: ${mutex.held})`;
    const within = <T>(promise: Promise<T>, what: string, ms = 20_000): Promise<T> => {
      let timer: NodeJS.Timeout | undefined;
      const late = new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`no ${what} within ${ms} ms: ${state()}`)), ms);
      });
      return Promise.race([promise, late]).finally(() => clearTimeout(timer));
    };
    const named = (err: unknown): never => {
      throw (err as { code?: string }).code === 'ETIMEDOUT'
        ? new Error(`the main thread waited 20 s for the lock: ${state()}`)
        : err;
    };
    mutex.lockSync();
    const worker = new Worker(path.join(__dirname, '..', 'fixtures', 'fast-mutex-worker.js'), {
      workerData: { id: shm.id, offset: 0, counterAt: COUNTER_AT, rounds: 2000, timeout: 20_000 },
    });
    const exited = once(worker, 'exit'); // from the start: 'exit' may come before the last message is read
    const inbox: Report[] = [];
    const arrived: Array<(m: Report) => void> = [];
    worker.on('message', (m: Report) => (arrived.length > 0 ? arrived.shift()!(m) : inbox.push(m)));
    const failed = new Promise<never>((_, reject) => worker.once('error', reject));
    const next = (what: string) =>
      within(
        Promise.race([
          inbox.length > 0 ? Promise.resolve(inbox.shift()!) : new Promise<Report>((r) => arrived.push(r)),
          failed,
        ]),
        what,
      );
    const first = await next("the worker's first message");
    expect(first).toEqual({ notHeld: 'ERR_SYSV_IPC_MUTEX_NOT_HELD' }); // the main thread's lock, not the worker's
    expect(mutex.holder).toBe(process.pid);
    const finished = next("the worker's end");
    mutex.unlock();
    for (; round < 2000; round++) {
      try {
        if (round % 2) mutex.lockSync({ timeout: 20_000 });
        else await mutex.lock({ timeout: 20_000 });
      } catch (err) {
        named(err);
      }
      const v = counter[0]!;
      for (let j = 0; j < 20; j++);
      counter[0] = v + 1;
      mutex.unlock();
    }
    expect(await finished).toEqual({ done: true });
    expect(counter[0]).toBe(4000);
    expect((await within(exited, "the worker's exit"))[0]).toBe(0);
  });

  test('a worker terminated while parked in lockSync() as the lock is released does not keep it', () => {
    // The wait may take the lock as the worker goes; no JavaScript sees that
    // (a child process, so a lock kept for good cannot hang jest).
    const out = execFileSync(
      process.execPath,
      [
        path.join(__dirname, '..', 'fixtures', 'fast-mutex-terminate-parked.js'),
        path.join(__dirname, '..', '..', 'dist'),
        '10',
      ],
      {
        encoding: 'utf8',
        timeout: 60000,
      },
    );
    expect(out.trim()).toBe('leaked 0');
  });
});
