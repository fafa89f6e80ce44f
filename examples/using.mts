// examples/using.mts: TypeScript 5.2+ (or JavaScript on Node 24+): `using` releases and closes at the end of the scope.
import { Mutex, Semaphore } from 'sysv-ipc';

const KEY = Number(process.env.EXAMPLE_KEY ?? 0x5150);
const crawl = () => new Promise((resolve) => setTimeout(resolve, 100));
const appendToSharedLedger = () => new Promise((resolve) => setTimeout(resolve, 10));

using slots = Semaphore.open(KEY, { create: true, initialValue: 3 }); // closed at the end of the module
using mutex = Mutex.open(KEY + 1, { create: true });
try {
  {
    using _slot = await slots.lock({ timeout: 5000 }); // undo: true by default
    await crawl(); // at most 3 processes in here
  } // released here, even on throw
  console.log(slots.info().waitingForNonZero); // processes queued for a slot

  await mutex.withLock(async () => {
    await appendToSharedLedger(); // one process at a time
  }); // unlocked even if it throws; a killed holder is unlocked by the kernel
} finally {
  slots.remove(); // this example made them: it removes them too
  mutex.remove();
}
