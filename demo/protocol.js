'use strict';
// What the parent and its workers agree on: message types on the queue and
// the layout of the shared-memory table.
const { FastMutex } = require('..');

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
 * The shared segment: a FastMutex's lock record (FastMutex.SIZE bytes at
 * offset 0, for FastMutex.in(shm, 0)), then the table, as Int32 words:
 *   [0]                 jobs done (the progress counter; changed only with the Mutex held)
 *   [1]                 primes found so far (changed only with the FastMutex held)
 *   [2 .. R)            jobs done per worker (under the Mutex), R = 2 + W
 *   [R .. R+J)          results: primes counted by job j (one slot per job, written once)
 *   [R+J .. R+2J)       which worker did job j (1-based; 0 = not yet)
 */
const LOCK_OFFSET = 0;
const TABLE_OFFSET = FastMutex.SIZE;

function tableSize(workers, jobs) {
  return TABLE_OFFSET + 4 * (2 + workers + 2 * jobs);
}

/** Typed-array views of the table over the segment's ArrayBuffer. */
function tableViews(arrayBuffer, workers, jobs) {
  const words = new Int32Array(arrayBuffer, TABLE_OFFSET, (tableSize(workers, jobs) - TABLE_OFFSET) / 4);
  const r = 2 + workers;
  return {
    words,
    done: words.subarray(0, 1),
    primes: words.subarray(1, 2),
    perWorker: words.subarray(2, r),
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

module.exports = { MSG, CONTROL, EXIT_PARENT_GONE, LOCK_OFFSET, tableSize, tableViews, int32Message };
