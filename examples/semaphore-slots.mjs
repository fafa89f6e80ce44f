// examples/semaphore-slots.mjs: `node semaphore-slots.mjs` starts 5 workers (itself, with the argument worker).
import { fork } from 'node:child_process';
import { once } from 'node:events';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { Semaphore } from 'sysv-ipc';

const KEY = Number(process.env.EXAMPLE_KEY ?? 0x5150);

// Every worker runs this: exactly one creates it with 3 slots, and no process
// ever sees it before it is initialised.
const slots = Semaphore.open(KEY, { create: true, initialValue: 3 });

if (process.argv[2] === 'worker') {
  try {
    const slot = await slots.lock({ timeout: 10_000 }); // undo: true by default
    try {
      await sleep(200); // at most 3 processes in here
      console.log(process.pid, 'waiting for a slot:', slots.info().waitingForNonZero);
    } finally {
      slot.release(); // the kernel would also give it back if this process died here
    }
  } finally {
    slots.close();
  }
} else {
  try {
    const workers = Array.from({ length: 5 }, () => fork(fileURLToPath(import.meta.url), ['worker']));
    const codes = await Promise.all(workers.map(async (w) => (await once(w, 'exit'))[0]));
    process.exitCode = codes.every((code) => code === 0) ? 0 : 1;
  } finally {
    slots.remove();
  }
}
