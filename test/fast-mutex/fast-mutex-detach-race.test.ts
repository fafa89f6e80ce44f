/**
 * An async lock() racing the detach of its segment (issue 19 item 7): the
 * waiter thread may take the lock in the segment just before the detach
 * replaces the segment's pages. Whatever the lock() then reports, no lock
 * may stay taken that nobody can release: a rejected lock() took nothing (or
 * gave it back), a resolved one is this environment's and unlocks. At the
 * end another process must find the lock free.
 */
import { FastMutex, SharedMemory } from '../../lib';
import { Child, probes, testIfProbes, track, until, useCleanup } from '../support/helpers';

useCleanup();

const word = (shm: SharedMemory) => shm.read(0, 4).readUInt32LE(0);

/**
 * A lock() of this environment parked on the lock `holder` holds, through an
 * attachment of its own (to detach under it): its outcome, 'resolved' or the error's code.
 */
async function parkedWaiter(shm: SharedMemory, holder: FastMutex) {
  const attachment = SharedMemory.fromId(shm.id);
  const waiter = FastMutex.in(attachment, 0);
  holder.lockSync();
  const outcome = waiter.lock().then(
    () => 'resolved',
    (err: { code?: string }) => err.code ?? String(err),
  );
  await until(() => word(shm) >>> 31 === 1, 10000, 'the waiter to sleep on the lock');
  return { attachment, outcome };
}

test('lock() racing detach() never leaves this live process holding a lock it cannot release', async () => {
  const shm = track(SharedMemory.create({ size: 4096 }));
  const holder = FastMutex.in(shm, 0); // same environment: shares the ownership with every waiter below
  let rejected = 0;
  let resolved = 0;
  const leaked: number[] = [];
  for (let i = 0; i < 400; i++) {
    const { attachment, outcome } = await parkedWaiter(shm, holder);
    holder.unlock(); // wakes the waiter thread: it takes the lock now ...
    const spinUntil = process.hrtime.bigint() + BigInt((i % 40) * 1000); // ... while this thread detaches after 0-39 µs
    while (process.hrtime.bigint() < spinUntil);
    attachment.detach();
    const o = await outcome;
    if (o === 'resolved') {
      resolved++;
      holder.unlock(); // the ownership is this environment's; the holder's attachment still reaches the record
    } else {
      expect(o).toBe('ERR_SYSV_IPC_CLOSED');
      rejected++;
      // Nothing taken, or given back: the record is free (or briefly still ours while a result is discarded).
      if (word(shm) !== 0) {
        leaked.push(i);
        shm.write(Buffer.alloc(16), 0); // free it for the next round
      }
    }
  }
  // A lock() whose result comes after the detach rejects (the lock given back if it was taken).
  expect({ leaked, settled: rejected + resolved }).toEqual({ leaked: [], settled: 400 });
  // And another process finds the lock free.
  const child = new Child('fast-mutex-holder', [shm.id, 0, 'async']);
  expect(await child.next()).toEqual(expect.objectContaining({ locked: true, ownerDied: false }));
  child.send('unlock');
  expect(await child.next()).toEqual({ unlocked: true });
}, 120_000);

testIfProbes(
  "a detach between the waiter thread's take and its look at the mapping gives the lock back",
  async () => {
    const shm = track(SharedMemory.create({ size: 4096 }));
    const holder = FastMutex.in(shm, 0);
    const { attachment, outcome } = await parkedWaiter(shm, holder);
    probes.fastMutexPauseAfterTake(true); // the waiter thread stops right after its take ...
    try {
      holder.unlock();
      await until(() => word(shm) !== 0, 10000, 'the waiter thread to take the lock');
      expect(word(shm) & 0x3fffff).toBe(process.pid); // taken, in the segment, by this process
      attachment.detach(); // ... and the detach lands in that window
    } finally {
      probes.fastMutexPauseAfterTake(false);
    }
    expect(await outcome).toBe('ERR_SYSV_IPC_CLOSED');
    expect(word(shm)).toBe(0); // given back, not held by this live process until it exits
    expect(holder.tryLock()).toEqual({ ownerDied: false });
    holder.unlock();
  },
  120_000,
);
