// examples/shm-counter.mjs: `node shm-counter.mjs` counts here and in a second process (itself, with the argument second).
import { fork } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { SharedMemory } from 'sysv-ipc';

const KEY = Number(process.env.EXAMPLE_KEY ?? 0x5ca1ab1e);
const first = process.argv[2] !== 'second';
if (first) fork(fileURLToPath(import.meta.url), ['second']).on('exit', (code) => (process.exitCode ||= code));

const shm = SharedMemory.open(KEY, { create: true, size: 4096 });
try {
  const words = new Int32Array(shm.arrayBuffer); // [0] counter, [1] "done" count
  for (let i = 0; i < 100000; i++) Atomics.add(words, 0, 1);
  Atomics.add(words, 1, 1);
  shm.notify(1); // wake the other process if it sleeps
  let done;
  while ((done = Atomics.load(words, 1)) < 2) await shm.wait(1, done, { timeout: 10000 });
  console.log(Atomics.load(words, 0)); // 200000 in both processes
} finally {
  shm.remove(); // both may: the kernel frees the segment at its last detach (shmctl(2))
  shm.detach(); // every view above now has length 0
}
