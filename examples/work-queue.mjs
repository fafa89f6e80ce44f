// examples/work-queue.mjs: a work queue with replies over two Channels.
// `node work-queue.mjs` starts 3 workers (itself, with the argument worker), hands
// them 30 jobs, collects one reply per job, and exits 0 when every answer is right.
// The channels are private (IPC_PRIVATE: no key to collide with): the workers get their ids.
import { fork } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import { Channel } from 'sysv-ipc';

const WORKERS = 3;
const JOBS = 30;

if (process.argv[2] === 'worker') {
  const jobs = Channel.fromId(Number(process.argv[3]));
  const replies = Channel.fromId(Number(process.argv[4]));
  try {
    for (;;) {
      const job = await jobs.receiveValue({ timeout: 10_000 }); // competing consumers: each job goes to one worker
      if (job === null) break; // no more jobs
      await new Promise((resolve) => setTimeout(resolve, 5)); // the work
      await replies.sendValue({ id: job.id, square: job.n * job.n, worker: process.pid });
    }
  } finally {
    jobs.close();
    replies.close();
  }
} else {
  const jobs = Channel.create();
  const replies = Channel.create();
  try {
    const workers = Array.from({ length: WORKERS }, () =>
      fork(fileURLToPath(import.meta.url), ['worker', String(jobs.id), String(replies.id)]),
    );
    const exits = workers.map(async (w) => (await once(w, 'exit'))[0]);
    for (let id = 0; id < JOBS; id++) await jobs.sendValue({ id, n: id + 1 });
    const answers = new Map();
    const byWorker = new Map();
    for (let i = 0; i < JOBS; i++) {
      const reply = await replies.receiveValue({ timeout: 10_000 });
      answers.set(reply.id, reply.square);
      byWorker.set(reply.worker, (byWorker.get(reply.worker) ?? 0) + 1);
    }
    for (let i = 0; i < WORKERS; i++) await jobs.sendValue(null); // one "no more jobs" per worker
    const codes = await Promise.all(exits);
    const right = answers.size === JOBS && [...answers].every(([id, square]) => square === (id + 1) * (id + 1));
    console.log(`${answers.size} replies, ${right ? 'all right' : 'WRONG'}; jobs per worker:`, [...byWorker.values()]);
    process.exitCode = right && codes.every((code) => code === 0) ? 0 : 1;
  } finally {
    jobs.remove(); // wakes any worker still waiting, with EIDRM
    replies.remove();
    jobs.close();
    replies.close();
  }
}
