'use strict';
// One worker of the demo, forked by demo.js with the identifiers of the
// parent's objects. A worker never creates a kernel object: it only opens
// what the parent made, so the parent alone decides when they are removed.
const { Channel, FastMutex, MessageQueue, Mutex, Semaphore, SharedMemory, SysvIpcError } = require('..');
const { MSG, CONTROL, EXIT_PARENT_GONE, LOCK_OFFSET, tableViews, int32Message } = require('./protocol');
const { jobRange, countPrimes } = require('./primes');

const cfg = JSON.parse(process.argv[2]);
const me = cfg.index;

// Ctrl-C in a terminal signals the whole process group: let the parent decide
// (it removes the objects and stops us), instead of dying as if we crashed.
process.on('SIGINT', () => {});
// The IPC channel to the parent closes when the parent exits in any way,
// kill -9 included: then nobody will collect our results, so stop.
process.on('disconnect', () => process.exit(EXIT_PARENT_GONE));

async function main() {
  const queue = MessageQueue.fromId(cfg.queue);
  const barrier = Semaphore.fromId(cfg.barrier);
  const mutex = Mutex.fromId(cfg.mutex);
  const shm = SharedMemory.fromId(cfg.shm);
  const table = tableViews(shm.arrayBuffer, cfg.workers, cfg.jobs);
  // The FastMutex lives in the table's segment, beside the counter it guards
  // (in() writes nothing: a zeroed record is an unlocked lock).
  const primesLock = FastMutex.in(shm, LOCK_OFFSET);
  const reports = Channel.fromId(cfg.reports);
  let myJobs = 0;
  let myPrimes = 0;

  // The barrier: the parent set it to the number of workers. Each takes one
  // unit, then waits for zero, so all start together once the last is ready.
  await barrier.acquire();
  await barrier.waitForZero();

  // Jobs: any worker takes the next one (msgrcv of type JOB, first come first served).
  for (;;) {
    // receive() and lock() settle at once when they need not wait (they try
    // with IPC_NOWAIT first), so a busy loop of them would never return to
    // the event loop, and 'disconnect' would go unnoticed until the queue is
    // empty. Yield once per job.
    await new Promise(setImmediate);
    const job = (await queue.receive({ type: MSG.JOB })).data.readInt32LE(0);
    if (job < 0) break; // the parent's "no more jobs"
    const primes = countPrimes(...jobRange(job, cfg.span));
    table.results[job] = primes; // our own slot: no lock needed
    table.owner[job] = me + 1;
    myJobs += 1;
    myPrimes += primes;

    if (cfg.crash && table.done[0] >= cfg.jobs / 3) {
      // --crash-worker: die holding the mutex. SEM_UNDO makes the kernel
      // release it, so the others are not stuck behind a dead holder.
      mutex.lockSync();
      throw new Error(
        `worker ${me}: simulated crash (--crash-worker) after ${table.perWorker[me]} jobs, holding the mutex`,
      );
    }

    // The shared counters change only with the mutex held: a read-modify-write
    // by two processes at once would lose an increment.
    await mutex.withLock(() => {
      table.perWorker[me] += 1;
      table.done[0] += 1;
      if (table.done[0] === cfg.jobs) queue.sendSync(int32Message(cfg.jobs), { type: MSG.DONE });
    });
    // The running total of primes, under the FastMutex: a compare-and-swap
    // in shared memory while nobody else holds it, no syscall.
    await primesLock.withLock(() => {
      table.primes[0] += primes;
    });
  }

  // Our report, handed to the parent over the Channel (a structured-clone value).
  await reports.sendValue({ worker: me, jobs: myJobs, primes: myPrimes });

  // After the jobs: our own control channel (type CONTROL + index): pings to
  // answer (the parent's latency probe) until QUIT.
  for (;;) {
    const { data } = await queue.receive({ type: MSG.CONTROL + me });
    if (data.readInt32LE(0) !== CONTROL.PING) break;
    await queue.send(data, { type: MSG.PONG });
  }
  primesLock.close();
  reports.close();
  shm.close();
  queue.close();
  barrier.close();
  mutex.close();
  process.exit(0);
}

main().catch((err) => {
  // The parent removed the objects (it is stopping): EIDRM while waiting, EINVAL after.
  if (err instanceof SysvIpcError && (err.code === 'EIDRM' || err.code === 'EINVAL')) {
    process.exit(EXIT_PARENT_GONE);
  }
  throw err; // a real failure: crash loudly, the parent reports it
});
