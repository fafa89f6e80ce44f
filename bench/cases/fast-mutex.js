'use strict';
// FastMutex (issue 13) against the kernel's semaphores, in three rows:
// - uncontended lock+unlock in one process: C semop pair (SEM_UNDO, what
//   Mutex does), Mutex, FastMutex, and the lock.h record from C;
// - contended handoff between two processes: each step of the measured side
//   gives the other process a lock it sleeps on and sleeps on one the other
//   holds (three locks passed round; a mutex can only be released by its
//   holder, so a two-lock ping-pong cannot be built from mutexes), which is
//   two wake-ups per step, as the C semop ping-pong (release one
//   semaphore, acquire the other) that it is compared with;
// - 4 processes incrementing a counter under the lock: total time per
//   increment, Mutex against FastMutex.
const { performance } = require('perf_hooks');
const { pkg, nowNs, summarize, roleMain } = require('../child');

const UNCONTENDED = 'FastMutex: uncontended lock+unlock';
const HANDOFF = 'FastMutex: contended handoff';
const INCREMENTS = 'FastMutex: 4 processes x increments';
// Three locks 64 bytes apart, then the handoff's two ready flags (as bench/fastmutex.c).
const A_READY = 256;
const B_READY = 260;
const ARRIVED = 320; // increments: processes ready to start
const COUNTER = 384; // increments: the counter

function rows() {
  const cSemUndo = 'fastmutex-uncontended-c-semop';
  const cPing = 'fastmutex-handoff-c-semop';
  const mutexIncr = 'fastmutex-increments-mutex';
  const uncontended = (id, impl, expectNs, targets, needs, run) => ({
    id,
    group: UNCONTENDED,
    size: null,
    impl,
    metric: 'latency',
    batch: true,
    c: cSemUndo,
    expectNs,
    targets,
    needs,
    run,
  });
  const handoff = (id, impl, expectNs, targets, needs, a, b) => ({
    id,
    group: HANDOFF,
    size: null,
    impl,
    metric: 'latency',
    c: cPing,
    expectNs,
    targets,
    needs,
    run: (h, n) =>
      withShm(h, (s) =>
        h.pair(
          () => b(h, s, n.warmup + n.count),
          () => a(h, s, n.warmup, n.count),
        ),
      ),
  });
  const increments = (id, impl, kind, targets, needs) => ({
    id,
    group: INCREMENTS,
    size: null,
    impl,
    metric: 'latency',
    batch: true,
    c: null,
    expectNs: 2000,
    targets,
    needs,
    counts: (quick) => ({ warmup: 0, count: quick ? 5000 : 20000 }),
    run: (h, n) =>
      withShm(h, (shm) =>
        kind === 'mutex'
          ? withSem(h, [1], (sem) => increment(h, 'incr-mutex', sem, shm, n.count))
          : increment(h, 'incr-fast', shm, shm, n.count),
      ),
  });
  return [
    uncontended(cSemUndo, 'C semop pair, SEM_UNDO', 600, [], [], (h, n) =>
      withSem(h, [1], async (s) => perOp(await h.c('sem', ['uncontended', s, n.count, 1]))),
    ),
    uncontended('fastmutex-uncontended-c-lockh', 'C lock.h try+release', 40, [], [], (h, n) =>
      withShm(h, async (s) => perOp(await h.c('fastmutex', ['uncontended', s, n.count]))),
    ),
    uncontended('fastmutex-uncontended-mutex', 'Mutex tryLock()+unlock()', 800, [], ['Mutex'], (h, n) =>
      withSem(h, [1], async (s) => perOp(await h.node('fast-mutex.js', ['uncontended-mutex', s, n.count]))),
    ),
    uncontended(
      'fastmutex-uncontended-try',
      'FastMutex tryLock()+unlock()',
      80,
      [{ vs: cSemUndo, op: '<=', factor: 0.1, text: '≤ 0.1 × C semop pair' }],
      ['FastMutex'],
      (h, n) => withShm(h, async (s) => perOp(await h.node('fast-mutex.js', ['uncontended', s, n.count, 'try']))),
    ),
    uncontended(
      'fastmutex-uncontended-sync',
      'FastMutex lockSync()+unlock()',
      80,
      [{ vs: cSemUndo, op: '<=', factor: 0.1, text: '≤ 0.1 × C semop pair' }],
      ['FastMutex'],
      (h, n) => withShm(h, async (s) => perOp(await h.node('fast-mutex.js', ['uncontended', s, n.count, 'sync']))),
    ),

    {
      id: cPing,
      group: HANDOFF,
      size: null,
      impl: 'C semop ping-pong',
      metric: 'latency',
      c: cPing,
      expectNs: 15000,
      targets: [],
      needs: [],
      run: (h, n) =>
        withSem(h, [0, 0], (s) =>
          h.pair(
            () => h.c('sem', ['pong', s, n.warmup + n.count]),
            () => h.c('sem', ['ping', s, n.warmup, n.count]),
          ),
        ),
    },
    handoff(
      'fastmutex-handoff-c-lockh',
      'C lock.h handoff',
      15000,
      [],
      [],
      (h, s, warmup, count) => h.c('fastmutex', ['hand-a', s, warmup, count]),
      (h, s, steps) => h.c('fastmutex', ['hand-b', s, steps]),
    ),
    handoff(
      'fastmutex-handoff-sync',
      'FastMutex lockSync() handoff',
      15000,
      [{ vs: cPing, op: '<=', factor: 1.0, text: '≤ 1.0 × C semop ping-pong' }],
      ['FastMutex'],
      (h, s, warmup, count) => h.node('fast-mutex.js', ['hand-a', s, warmup, count, 'sync']),
      (h, s, steps) => h.node('fast-mutex.js', ['hand-b', s, steps, 'sync']),
    ),
    handoff(
      'fastmutex-handoff-async',
      'FastMutex await lock() handoff',
      30000,
      [],
      ['FastMutex'],
      (h, s, warmup, count) => h.node('fast-mutex.js', ['hand-a', s, warmup, count, 'async']),
      (h, s, steps) => h.node('fast-mutex.js', ['hand-b', s, steps, 'async']),
    ),

    increments(mutexIncr, 'Mutex lockSync()+unlock()', 'mutex', [], ['Mutex']),
    increments(
      'fastmutex-increments-fast',
      'FastMutex lockSync()+unlock()',
      'fast',
      [{ vs: mutexIncr, op: '<=', factor: 0.5, text: '≤ 0.5 × Mutex' }],
      ['FastMutex'],
    ),
  ];
}

// A batch result as one "latency" sample (no per-operation p99).
function perOp(r) {
  return { median: r.ns / r.n, p99: null };
}

async function withShm(h, fn) {
  const id = h.createObject('shm', { size: 4096 });
  try {
    return await fn(id);
  } finally {
    h.removeObjects([{ kind: 'shm', id }]);
  }
}

async function withSem(h, values, fn) {
  const id = h.createObject('sem', { size: values.length, values });
  try {
    return await fn(id);
  } finally {
    h.removeObjects([{ kind: 'sem', id }]);
  }
}

// Four processes at once (the lock: `lockId`; the counter and the start
// barrier: segment `shmId`); the time from the first start to the last end,
// per increment. The last process to end sees every increment.
async function increment(h, role, lockId, shmId, count) {
  const results = await Promise.all([0, 1, 2, 3].map(() => h.node('fast-mutex.js', [role, lockId, shmId, count])));
  const start = Math.min(...results.map((r) => r.start));
  const end = Math.max(...results.map((r) => r.end));
  const seen = Math.max(...results.map((r) => r.counter));
  if (seen !== 4 * count) throw new Error(`lost increments: ${seen} of ${4 * count}`);
  return { median: ((end - start) * 1e6) / (4 * count), p99: null };
}

// ---- child roles

function lockAt(id, index) {
  const { FastMutex, SharedMemory } = pkg();
  const shm = SharedMemory.fromId(Number(id));
  return { shm, mutex: FastMutex.in(shm, 64 * index) };
}

function three(id) {
  const { FastMutex, SharedMemory } = pkg();
  const shm = SharedMemory.fromId(Number(id));
  return { flags: new Int32Array(shm.arrayBuffer, 0, 128), locks: [0, 1, 2].map((i) => FastMutex.in(shm, 64 * i)) };
}

const pause = new Int32Array(new SharedArrayBuffer(4));
function untilSet(flags, at) {
  while (Atomics.load(flags, at / 4) === 0) Atomics.wait(pause, 0, 0, 1);
}

// Waits (1 ms sleeps) until all four processes arrived, then the wall-clock start (ms).
function startTogether(flags) {
  Atomics.add(flags, ARRIVED / 4, 1);
  while (Atomics.load(flags, ARRIVED / 4) < 4) Atomics.wait(pause, 0, 0, 1);
  return performance.timeOrigin + performance.now();
}

function incrementUnder(shm, lock, unlock, n) {
  const flags = new Int32Array(shm.arrayBuffer, 0, 128);
  const start = startTogether(flags);
  for (let i = 0; i < n; i++) {
    lock();
    flags[COUNTER / 4]++;
    unlock();
  }
  const end = performance.timeOrigin + performance.now();
  return { start, end, counter: Atomics.load(flags, COUNTER / 4) };
}

const roles = {
  uncontended(id, count, how) {
    const { mutex } = lockAt(id, 0);
    const n = Number(count);
    const take = how === 'try' ? () => mutex.tryLock() : () => mutex.lockSync();
    for (let i = 0; i < n / 10; i++) {
      if (!take()) throw new Error('not taken');
      mutex.unlock();
    }
    const t0 = nowNs();
    for (let i = 0; i < n; i++) {
      if (!take()) throw new Error('not taken');
      mutex.unlock();
    }
    return { n, ns: nowNs() - t0 };
  },
  'uncontended-mutex'(id, count) {
    const mutex = pkg().Mutex.fromId(Number(id));
    const n = Number(count);
    for (let i = 0; i < n / 10; i++) {
      if (!mutex.tryLock()) throw new Error('not taken');
      mutex.unlock();
    }
    const t0 = nowNs();
    for (let i = 0; i < n; i++) {
      if (!mutex.tryLock()) throw new Error('not taken');
      mutex.unlock();
    }
    return { n, ns: nowNs() - t0 };
  },
  // The measured side of the handoff: holds locks 0 and 1; step k gives lock
  // k%3 to the other side (asleep on it) and sleeps on lock (k+2)%3, which the
  // other side gives back in its step k.
  async 'hand-a'(id, warmup, count, how) {
    const { flags, locks } = three(id);
    const lock = how === 'async' ? (i) => locks[i].lock() : (i) => locks[i].lockSync();
    locks[0].lockSync();
    locks[1].lockSync();
    Atomics.store(flags, A_READY / 4, 1);
    untilSet(flags, B_READY);
    const w = Number(warmup);
    const total = w + Number(count);
    const samples = new Float64Array(Number(count));
    for (let k = 0; k < total; k++) {
      const t0 = nowNs();
      locks[k % 3].unlock();
      await lock((k + 2) % 3);
      if (k >= w) samples[k - w] = nowNs() - t0;
    }
    return summarize(samples);
  },
  async 'hand-b'(id, steps, how) {
    const { flags, locks } = three(id);
    const lock = how === 'async' ? (i) => locks[i].lock() : (i) => locks[i].lockSync();
    untilSet(flags, A_READY);
    locks[2].lockSync();
    Atomics.store(flags, B_READY / 4, 1);
    await lock(0);
    const n = Number(steps);
    for (let k = 0; k < n; k++) {
      locks[(k + 2) % 3].unlock();
      if (k + 1 < n) await lock((k + 1) % 3);
    }
  },
  'incr-fast'(lockId, shmId, count) {
    const { shm, mutex } = lockAt(shmId, 0);
    return incrementUnder(
      shm,
      () => mutex.lockSync(),
      () => mutex.unlock(),
      Number(count),
    );
  },
  'incr-mutex'(lockId, shmId, count) {
    const mutex = pkg().Mutex.fromId(Number(lockId));
    const shm = pkg().SharedMemory.fromId(Number(shmId));
    return incrementUnder(
      shm,
      () => mutex.lockSync(),
      () => mutex.unlock(),
      Number(count),
    );
  },
};

// After shared memory's cases (60), before memory (90).
const groups = { [UNCONTENDED]: 70, [HANDOFF]: 71, [INCREMENTS]: 72 };

module.exports = { rows, groups };
roleMain(module, roles);
