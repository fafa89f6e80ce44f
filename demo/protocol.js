'use strict';
// What the parent and its workers agree on: message types on the queue and
// the layout of the shared-memory table.

/** Message types (mtype) on the one queue. Each reader picks its own with msgrcv's type. */
const MSG = {
  /** parent → any worker: a job index (Int32), or -1 = "no more jobs". */
  JOB: 1,
  /** last worker → parent: every job is done. */
  DONE: 2,
  /** worker 0 → parent: the answer to a ping. */
  PONG: 3,
  /** parent → worker w, on type CONTROL + w: PING or QUIT. */
  CONTROL: 100,
};

const CONTROL = { QUIT: 0, PING: 1 };

/** Exit code of a worker that stops because the parent removed the objects or went away. */
const EXIT_PARENT_GONE = 3;

/**
 * The shared table, as Int32 words:
 *   [0]                 jobs done (the progress counter; changed only with the mutex held)
 *   [1 .. 1+W)          jobs done per worker (also under the mutex)
 *   [R .. R+J)          results: primes counted by job j (one slot per job, written once)
 *   [R+J .. R+2J)       which worker did job j (1-based; 0 = not yet)
 */
function tableSize(workers, jobs) {
  return 4 * (1 + workers + 2 * jobs);
}

/** Typed-array views of the table over the segment's ArrayBuffer. */
function tableViews(arrayBuffer, workers, jobs) {
  const words = new Int32Array(arrayBuffer, 0, tableSize(workers, jobs) / 4);
  const r = 1 + workers;
  return {
    words,
    done: words.subarray(0, 1),
    perWorker: words.subarray(1, r),
    results: words.subarray(r, r + jobs),
    owner: words.subarray(r + jobs, r + 2 * jobs),
  };
}

/** A 4-byte message body holding one Int32. */
function int32Message(value) {
  const b = Buffer.alloc(4);
  b.writeInt32LE(value, 0);
  return b;
}

module.exports = { MSG, CONTROL, EXIT_PARENT_GONE, tableSize, tableViews, int32Message };
