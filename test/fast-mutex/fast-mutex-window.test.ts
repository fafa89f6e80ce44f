/**
 * A holder stopped between its compare-and-swap of the word and its store of
 * holder_start (SIGSTOP, a cgroup freezer, a VM pause: issue 19 item 10) is
 * alive and keeps the lock however long it stays stopped; one that died there
 * is taken over (include/sysv-ipc/lock.h, the protocol).
 */
import * as fs from 'node:fs';
import { FastMutex, SharedMemory } from '../../lib';
import { Child, track, until, useCleanup } from '../support/helpers';

useCleanup();

const word = (shm: SharedMemory) => shm.read(0, 4).readUInt32LE(0);
const holderStart = (shm: SharedMemory) => shm.read(8, 8).readBigUInt64LE(0);
const stopped = (pid: number) => / T /.test(fs.readFileSync(`/proc/${pid}/stat`, 'utf8').replace(/^.*\)/s, ')'));

/** The segment, left by an earlier holder (this process) as every release leaves it. */
function usedLock(): { shm: SharedMemory; mutex: FastMutex } {
  const shm = track(SharedMemory.create({ size: 4096 }));
  const mutex = FastMutex.in(shm, 0);
  mutex.lockSync();
  mutex.unlock();
  return { shm, mutex };
}

test('a holder stopped between its compare-and-swap and its start-time store keeps the lock while it lives', async () => {
  const { shm, mutex } = usedLock();
  const child = new Child('fast-mutex-window-holder', [shm.id, 'stop']);
  const pid = child.proc.pid!;
  expect(await child.next()).toEqual({ cas: true, pid });
  await until(() => stopped(pid), 10_000, 'the holder to stop itself');
  expect(word(shm) & 0x3fffff).toBe(pid);
  expect(holderStart(shm)).toBe(0n); // in the window: the word is its, the start time not yet
  // Well past SYSV_IPC_LOCK_STABLE_NS (200 ms), with many looks at the holder: none takes it.
  expect(() => mutex.lockSync({ timeout: 1500 })).toThrow(expect.objectContaining({ code: 'ETIMEDOUT' }));
  await expect(mutex.lock({ timeout: 1000 })).rejects.toMatchObject({ code: 'ETIMEDOUT' });
  expect(mutex.tryLock()).toBe(false);
  expect(word(shm) & 0x3fffff).toBe(pid);
  // Continued, it finishes its take, and its release works: it held the lock all along.
  child.kill('SIGCONT');
  expect(await child.next()).toEqual({ stored: true });
  const waiting = mutex.lock({ timeout: 10_000 });
  await until(() => word(shm) >>> 31 === 1, 10_000, 'this process to sleep on the lock');
  child.send('unlock');
  expect(await child.next()).toEqual({ unlocked: true });
  expect(await waiting).toEqual({ ownerDied: false });
  mutex.unlock();
}, 60_000);

test('a holder that died between its compare-and-swap and its start-time store is taken over', async () => {
  const { shm, mutex } = usedLock();
  const child = new Child('fast-mutex-window-holder', [shm.id, 'die']);
  const pid = child.proc.pid!;
  expect(await child.next()).toEqual({ cas: true, pid });
  expect((await child.exited).signal).toBe('SIGKILL');
  expect(word(shm) & 0x3fffff).toBe(pid);
  expect(holderStart(shm)).toBe(0n);
  expect(mutex.lockSync({ timeout: 10_000 })).toEqual({ ownerDied: true });
  mutex.unlock();
}, 60_000);
