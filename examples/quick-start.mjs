// examples/quick-start.mjs: `node quick-start.mjs` is process A, and starts process B (itself, with the argument B).
import { fork } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import { MessageQueue, Semaphore, SharedMemory } from 'sysv-ipc';

const KEY = Number(process.env.EXAMPLE_KEY ?? 0x5eed); // the test suite runs each example on a random key

// Every process runs the same opens: the first creates, the others find them.
const queue = MessageQueue.open(KEY, { create: true });
const shm = SharedMemory.open(KEY, { create: true, size: 4096 });
const ready = Semaphore.open(KEY, { create: true, initialValue: 0 });

if (process.argv[2] !== 'B') {
  try {
    const b = fork(fileURLToPath(import.meta.url), ['B']);
    // Process A: shared bytes (zero-copy), a wake-up, and a message.
    shm.write('hello from A');
    ready.release();
    await queue.send('job 1', { type: 1 });
    const [code] = await once(b, 'exit');
    process.exitCode = code;
  } finally {
    // Kernel objects outlive processes: the last one out removes them.
    queue.remove();
    shm.remove();
    ready.remove();
  }
} else {
  // Process B (Node, or C, C++, Python with the same keys): waits off the event loop.
  await ready.acquire({ timeout: 10_000 });
  const job = await queue.receive({ type: 1, timeout: 10_000 });
  console.log(shm.read(0, 12).toString(), '/', job.data.toString()); // hello from A / job 1
  queue.close();
  shm.close();
  ready.close();
}
