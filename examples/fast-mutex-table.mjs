// examples/fast-mutex-table.mjs: `node fast-mutex-table.mjs` starts 3 processes (itself, with the argument worker).
import { fork } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import { FastMutex, SharedMemory } from 'sysv-ipc';

const KEY = Number(process.env.EXAMPLE_KEY ?? 0x5152);

const shm = SharedMemory.open(KEY, { create: true, size: 4096 });
const mutex = FastMutex.in(shm, 0); // bytes 0..15 lock the table in bytes 16..
const table = new Float64Array(shm.arrayBuffer, 16, 100);

if (process.argv[2] === 'worker') {
  for (let i = 0; i < 10_000; i++) {
    const held = mutex.acquireSync(); // or: await mutex.acquire({ timeout, signal })
    try {
      if (held.ownerDied) table.fill(0); // the last holder died mid-update: repair (here: start over)
      table[7] += 1;
    } finally {
      held.release();
    }
  }
  shm.close();
} else {
  try {
    const workers = Array.from({ length: 3 }, () => fork(fileURLToPath(import.meta.url), ['worker']));
    const codes = await Promise.all(workers.map(async (w) => (await once(w, 'exit'))[0]));
    console.log(table[7]); // 30000: no increment lost
    process.exitCode = codes.every((code) => code === 0) && table[7] === 30_000 ? 0 : 1;
  } finally {
    shm.remove(); // the data stays readable until the last process detaches
    shm.close();
  }
}
