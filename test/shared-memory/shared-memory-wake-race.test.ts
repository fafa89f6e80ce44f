// Issue 19 item 3: a futex wait must not lose a wake-up that arrives while it
// waits. The notifier aims at the moment a wait taken in termination slices
// is out of the kernel between two slices (test/fixtures/shm-wake-race.js).
import { SharedMemory } from '../../lib';
import { Child, track, useCleanup } from '../support/helpers';

useCleanup();

type Counts = { ok: number; 'not-equal': number; 'timed-out': number };

async function race(rounds: number, mode: 'store' | 'mixed', thread: 'main' | 'worker') {
  const shm = track(SharedMemory.create({ size: 16 }));
  const waiter = new Child('shm-wake-race', ['waiter', shm.id, rounds, mode, thread]);
  const notifier = new Child('shm-wake-race', ['notifier', shm.id, rounds, mode, waiter.proc.pid!]);
  const [counts, seen] = await Promise.all([waiter.next<Counts>(), notifier.next<{ boundaries: number }>()]);
  await Promise.all([waiter.exited, notifier.exited]);
  return { counts, boundaries: seen.boundaries };
}

const ROUNDS = 300;

describe('a futex wait loses no wake-up', () => {
  // On the main thread (which worker.terminate() cannot reach) waitSync is one
  // futex wait: no slice boundary to aim at, and nothing can be missed.
  test(`main thread, ${ROUNDS} rounds of a child that wakes it (store then notify, or notify alone): every one 'ok'`, async () => {
    const { counts, boundaries } = await race(ROUNDS, 'mixed', 'main');
    expect({ counts, boundaries }).toEqual({ counts: { ok: ROUNDS, 'not-equal': 0, 'timed-out': 0 }, boundaries: 0 });
  }, 180000);

  // A worker thread's wait still wakes every 50 ms to look for termination; a
  // word that changed across a slice is a wake-up ('ok'), never 'not-equal'.
  // (A notify that changes nothing, landing between two slices, can be missed:
  // README, SharedMemory.)
  test(`worker thread, ${ROUNDS} rounds of store-then-notify aimed between slices: every one 'ok'`, async () => {
    const { counts, boundaries } = await race(ROUNDS, 'store', 'worker');
    expect(counts).toEqual({ ok: ROUNDS, 'not-equal': 0, 'timed-out': 0 });
    // The aim worked: most rounds landed between two slices.
    expect(boundaries).toBeGreaterThan(0);
  }, 180000);
});
