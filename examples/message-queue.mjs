// examples/message-queue.mjs: `node message-queue.mjs` produces, and starts a consumer (itself, with the argument consumer).
import { fork } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import { MessageQueue } from 'sysv-ipc';

const KEY = Number(process.env.EXAMPLE_KEY ?? 0x5eed);

// Both sides open the queue at a key they agree on; the first creates it.
const queue = MessageQueue.open(KEY, { create: true, mode: 0o600 });

if (process.argv[2] !== 'consumer') {
  try {
    const consumer = fork(fileURLToPath(import.meta.url), ['consumer']);
    for (let job = 1; job <= 3; job++) {
      await queue.send(JSON.stringify({ job, last: job === 3 }), { type: 1 }); // waits while the queue is full
    }
    const [code] = await once(consumer, 'exit');
    process.exitCode = code;
  } finally {
    queue.remove(); // every waiter in every process wakes with EIDRM
  }
} else {
  // First message of type 1, waiting off the event loop.
  const { type, data } = await queue.receive({ type: 1, timeout: 10_000 });
  console.log(type, JSON.parse(data.toString())); // 1 { job: 1, last: false }
  // Or iterate; the loop ends when the queue is closed or removed.
  for await (const message of queue.messages({ type: 1 })) {
    const { job, last } = JSON.parse(message.data.toString());
    console.log('job', job);
    if (last) break;
  }
  queue.close();
}
