/**
 * Review R10 of fa7ea24 (issue 25, "Parking that scales"): async sends parked
 * on a Channel's send-lock word in the futex parker (lock.h's
 * sysv_ipc_lock_arm). What a lock word's wakes and values do to the waits
 * parked on it: remove()'s wake, which leaves the word as it is, and hostile
 * words.
 */
import { setMaxListeners } from 'node:events';
import { Channel, SharedMemory } from '../../lib';
import { describeIfProbes, probes, sleep, until, useCleanup } from '../support/helpers';

useCleanup();

const HAVE_WAITV = (() => {
  try {
    return probes.futexParker();
  } catch {
    return false;
  }
})();

/** Settlement times (performance.now()) and error codes of sends, looked at without awaiting them. */
function watchAll(ps: Promise<void>[]) {
  const w = { at: [] as number[], codes: [] as string[], all: undefined as unknown as Promise<unknown> };
  w.all = Promise.all(
    ps.map((p) =>
      p.then(
        () => {
          w.at.push(performance.now());
          w.codes.push('sent');
        },
        (e: { code?: string; name?: string }) => {
          w.at.push(performance.now());
          w.codes.push(e.code ?? e.name ?? String(e));
        },
      ),
    ),
  );
  return w;
}

describeIfProbes('sends parked on the send-lock word', () => {
  beforeAll(() => setMaxListeners(0));
  afterAll(() => {
    probes.futexParker(true);
  });

  test('remove() ends all the sends one parker holds on the lock word in one turn, not each at its nap', async () => {
    if (!HAVE_WAITV) return console.warn('futex_waitv unavailable: nothing parks on the lock word');
    probes.futexParker(true);
    // remove() wakes the lock word's sleepers and leaves the word as it is: futex_waitv names one
    // woken futex, so the parker must run again every wait on that word, not only the named one.
    // Unfixed, the others ended at their own nap (up to SYSV_IPC_CHANNEL_NAP_NS, 200 ms, later):
    // the window below is a quarter of that nap, and several rounds make a lucky nap end unlikely.
    const spreads: number[] = [];
    for (let round = 0; round < 5; round++) {
      const ch = Channel.create({ capacity: 65536 });
      const shm = SharedMemory.fromId(ch.id);
      try {
        // This process's own pid in the word (offset 80): a live holder that never releases.
        Atomics.store(new Int32Array(shm.arrayBuffer, 80, 1), 0, process.pid);
        const sends = watchAll(Array.from({ length: 40 }, (_, i) => ch.send(`m${i}`, { timeout: 120000 })));
        await until(() => probes.waiterThreads() >= 1, 20000, 'the sends parked');
        // Past the first nap, at a point of the nap grid that varies by round.
        await sleep(250 + round * 37);
        expect(sends.codes).toEqual([]);
        ch.remove();
        await sends.all;
        expect(sends.codes).toEqual(Array.from({ length: 40 }, () => 'EIDRM'));
        spreads.push(Math.round(Math.max(...sends.at) - Math.min(...sends.at)));
      } finally {
        shm.detach();
        try {
          ch.remove();
        } catch {
          // removed above
        }
      }
    }
    // The first and the last of each round's 40 rejections: one parker turn apart.
    expect(spreads.filter((ms) => ms >= 50)).toEqual([]);
  }, 120000);
});
