/**
 * FastMutex.lockSync's JavaScript yield turns (issue 25's handoff change),
 * from reviewer R8's cold review: what the turns must keep of lockSync's
 * contract. Real segments; the holder is a live process's pid in the record.
 */
import { FastMutex, SharedMemory } from '../../lib';
import { binding } from '../../lib/binding';
import { track, useCleanup } from '../support/helpers';

useCleanup();

const segment = (size = 4096) => track(SharedMemory.create({ size }));

/** The record of a lock held by `pid` (holder_start 0: a holder between its take and its start's store, alive). */
function holdFor(shm: SharedMemory, pid: number): void {
  const b = Buffer.alloc(16);
  b.writeUInt32LE(pid >>> 0, 0);
  shm.write(b, 0);
}

describe('FastMutex.lockSync: the yield turns before the native wait', () => {
  test('the turns stop at the timeout: a yield that loses the CPU for a slice is not repeated past it', () => {
    // On a loaded CPU one sched_yield can give a whole slice (milliseconds)
    // to another runnable task. The turns ran 8 yields whatever the timeout
    // said (a 1 ms lockSync against a held lock took ~50 ms with three busy
    // processes on its CPU, 3-14 ms before the turns). A yield here is made
    // to last 5 ms of real time (the real yield, then a busy wait): with a
    // 2 ms timeout, the first turn already ends past the deadline.
    const shm = segment();
    holdFor(shm, process.ppid); // alive for the whole test
    const mutex = FastMutex.in(shm, 0);
    const yieldCpu = binding.yieldCpu;
    let yields = 0;
    binding.yieldCpu = () => {
      yields++;
      const r = yieldCpu();
      for (const end = performance.now() + 5; performance.now() < end;);
      return r;
    };
    try {
      expect(() => mutex.lockSync({ timeout: 2 })).toThrow(expect.objectContaining({ code: 'ETIMEDOUT' }));
    } finally {
      binding.yieldCpu = yieldCpu;
    }
    expect(yields).toBe(1);
    expect(mutex.held).toBe(false);
    expect(mutex.holder).toBe(process.ppid);
  });
});
