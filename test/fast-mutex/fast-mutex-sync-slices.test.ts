// A main thread's FastMutex.lockSync() on a lock held by another process
// sleeps as lock.h's C waiter does: futex sleeps of lock.h's 100 ms liveness
// slices, not RunBlocking's 50 ms termination slices, which only a worker
// (that worker.terminate() must reach) needs (blocking.h SyncWaitStop).
// strace counts the futex calls of the waiting thread alone.
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { FastMutex, SharedMemory } from '../../lib';
import { Child, testIf, track, until, useCleanup } from '../support/helpers';

useCleanup();

const HAVE_STRACE = spawnSync('strace', ['-V']).status === 0;
if (!HAVE_STRACE) console.warn('fast-mutex-sync-slices.test.ts: strace is not installed, the futex count is SKIPPED');
const testIfStrace = testIf(HAVE_STRACE, 'strace is not installed');

testIfStrace(
  "main thread lockSync(): no more futex sleeps than lock.h's 100 ms liveness checks",
  async () => {
    const shm = track(SharedMemory.create({ size: 4096 }));
    const holder = FastMutex.in(shm, 0);
    holder.lockSync();
    const dir = mkdtempSync(path.join(tmpdir(), 'sysv-ipc-strace-'));
    const child = new Child('fast-mutex-sync-wait', [shm.id]);
    try {
      const { tid } = await child.next<{ tid: number }>();
      const out = path.join(dir, 'summary');
      const strace = spawn('strace', ['-c', '-e', 'trace=futex', '-o', out, '-p', String(tid)], { stdio: 'ignore' });
      const traced = new Promise<number | null>((resolve) => strace.on('exit', (code) => resolve(code)));
      expect(await child.next()).toBe('waiting');
      await until(() => shm.read(0, 4).readUInt32LE(0) >>> 31 === 1, 20000, 'the child to sleep on the lock');
      await new Promise((resolve) => setTimeout(resolve, 3000));
      holder.unlock();
      const { waitedMs } = await child.next<{ waitedMs: number }>();
      await child.exited;
      expect(await traced).toBe(0); // strace ends with the thread, and writes its table then
      const m = /^\s*[\d.]+\s+[\d.]+\s+\d+\s+(\d+)\s+(?:\d+\s+)?futex\s*$/m.exec(readFileSync(out, 'utf8'));
      const futexCalls = Number(m?.[1]);
      // Each sleep lasts its slice or longer (a loaded machine only lengthens
      // it): at most one per 100 ms waited, plus the first look, the wake-up,
      // an EAGAIN, and the thread's other futex calls (V8's and libuv's locks,
      // the IPC sends). 50 ms termination slices made about three times that
      // (66 calls for 2 s before the fix).
      expect(futexCalls).toBeLessThanOrEqual(Math.floor(waitedMs / 100) + 12);
    } finally {
      if (holder.held) holder.unlock();
      child.proc.kill('SIGKILL');
      rmSync(dir, { recursive: true, force: true });
    }
  },
  60000,
);
