'use strict';
// Semaphores: two-process ping-pong on two members of one set (case 3) and
// the uncontended tryAcquire + release pair in one process (case 4).
// Written against the API of issue 3 (SemaphoreSet.fromId, at(i),
// release(), acquire(), acquireSync(), tryAcquire({ undo })); the rows are
// skipped until those classes are exported. The Python rows run the same
// protocol through Python's sysv_ipc (bench/peer.py), on sets at random keys.
const { pkg, nowNs, summarize, roleMain } = require('../child');

function rows() {
  const c = 'sem-pingpong-c';
  const group = 'semaphore ping-pong';
  const ping = (impl, id, pongRole, pingRole, expectNs, targets, needs) => ({
    id,
    group,
    size: null,
    impl,
    metric: 'latency',
    c,
    expectNs,
    targets,
    needs,
    run: (h, n) =>
      withSet(h, 2, [0, 0], (s) =>
        h.pair(
          () =>
            pongRole === 'c'
              ? h.c('sem', ['pong', s, n.warmup + n.count])
              : h.node('semaphores.js', [pongRole, s, n.warmup + n.count]),
          () =>
            pingRole === 'c'
              ? h.c('sem', ['ping', s, n.warmup, n.count])
              : h.node('semaphores.js', [pingRole, s, n.warmup, n.count]),
        ),
      ),
  });
  const out = [
    ping('C semop', c, 'c', 'c', 15000, [], []),
    ping(
      'release()/acquireSync()',
      'sem-pingpong-sync',
      'pong-sync',
      'ping-sync',
      18000,
      [{ vs: c, op: '<=', factor: 1.25, text: '≤ 1.25 × C' }],
      ['SemaphoreSet'],
    ),
    ping(
      'release()/await acquire()',
      'sem-pingpong-async',
      'pong-async',
      'ping-async',
      35000,
      [{ vs: c, op: '<=', factor: 2.0, text: '≤ 2.0 × C' }],
      ['SemaphoreSet'],
    ),
    {
      // sysv_ipc's Semaphore is a set of one: two sets instead of two members.
      id: 'sem-pingpong-python',
      group,
      size: null,
      impl: 'Python: release()/acquire()',
      metric: 'latency',
      c,
      expectNs: 20000,
      targets: [],
      needs: [],
      requires: ['python'],
      run: (h, n) =>
        withKeyedSets(h, [0, 0], ([k0, k1]) =>
          h.pair(
            () => h.python(['sem', 'pong', k0, k1, n.warmup + n.count]),
            () => h.python(['sem', 'ping', k0, k1, n.warmup, n.count]),
          ),
        ),
    },
  ];
  for (const undo of [false, true]) {
    const tag = undo ? 'undo' : 'plain';
    const cId = `sem-uncontended-${tag}-c`;
    const g = 'uncontended acquire+release';
    const label = undo ? ', SEM_UNDO' : '';
    out.push({
      id: cId,
      group: g,
      size: null,
      impl: `C semop pair${label}`,
      metric: 'latency',
      batch: true,
      c: cId,
      expectNs: 600,
      targets: [],
      needs: [],
      run: (h, n) =>
        withSet(h, 1, [1], async (s) => perOp(await h.c('sem', ['uncontended', s, n.count, undo ? 1 : 0]))),
    });
    out.push({
      id: `sem-uncontended-${tag}`,
      group: g,
      size: null,
      impl: `tryAcquire()+release()${label}`,
      metric: 'latency',
      batch: true,
      c: cId,
      expectNs: 800,
      targets: [{ vs: cId, op: '<=', factor: 1.2, text: '≤ 1.2 × C' }],
      needs: ['Semaphore'],
      run: (h, n) =>
        withSet(h, 1, [1], async (s) =>
          perOp(await h.node('semaphores.js', ['uncontended', s, n.count, undo ? 1 : 0])),
        ),
    });
    out.push({
      id: `sem-uncontended-${tag}-python`,
      group: g,
      size: null,
      impl: `Python: acquire()+release()${label}`,
      metric: 'latency',
      batch: true,
      c: cId,
      expectNs: 1500,
      targets: [],
      needs: [],
      requires: ['python'],
      run: (h, n) =>
        withKeyedSets(h, [1], async ([k]) => perOp(await h.python(['sem', 'uncontended', k, n.count, undo ? 1 : 0]))),
    });
  }
  return out;
}

// A batch result as one "latency" sample (no per-operation p99: timing each
// 0.5 µs pair would cost as much as the pair).
function perOp(r) {
  const ns = r.ns / r.n;
  return { median: ns, p99: null };
}

async function withSet(h, size, values, fn) {
  const id = h.createObject('sem', { size, values });
  try {
    return await fn(id);
  } finally {
    h.removeObjects([{ kind: 'sem', id }]);
  }
}

// One-member sets at random keys (Python's sysv_ipc attaches by key only).
async function withKeyedSets(h, values, fn) {
  const made = [];
  try {
    for (const v of values) made.push(h.createKeyedObject('sem', { size: 1, values: [v] }));
    return await fn(made.map((m) => m.key));
  } finally {
    h.removeObjects(made.map((m) => ({ kind: 'sem', id: m.id })));
  }
}

// ---- child roles

function members(id) {
  const set = pkg().SemaphoreSet.fromId(Number(id));
  return [set.at(0), set.at(1)];
}

const roles = {
  'pong-sync'(id, count) {
    const [a, b] = members(id);
    for (let i = 0; i < count; i++) {
      a.acquireSync();
      b.release();
    }
  },
  'ping-sync'(id, warmup, count) {
    const [a, b] = members(id);
    const samples = new Float64Array(Number(count));
    const total = Number(warmup) + Number(count);
    for (let i = 0; i < total; i++) {
      const t0 = nowNs();
      a.release();
      b.acquireSync();
      if (i >= warmup) samples[i - warmup] = nowNs() - t0;
    }
    return summarize(samples);
  },
  async 'pong-async'(id, count) {
    const [a, b] = members(id);
    for (let i = 0; i < count; i++) {
      await a.acquire();
      b.release();
    }
  },
  async 'ping-async'(id, warmup, count) {
    const [a, b] = members(id);
    const samples = new Float64Array(Number(count));
    const total = Number(warmup) + Number(count);
    for (let i = 0; i < total; i++) {
      const t0 = nowNs();
      a.release();
      await b.acquire();
      if (i >= warmup) samples[i - warmup] = nowNs() - t0;
    }
    return summarize(samples);
  },
  uncontended(id, count, undoFlag) {
    const sem = pkg().Semaphore.fromId(Number(id));
    const undo = undoFlag === '1';
    const opts = { undo };
    const n = Number(count);
    for (let i = 0; i < n / 10; i++) {
      if (!sem.tryAcquire(opts)) throw new Error('tryAcquire failed on an uncontended semaphore');
      sem.release(1, opts);
    }
    const t0 = nowNs();
    for (let i = 0; i < n; i++) {
      if (!sem.tryAcquire(opts)) throw new Error('tryAcquire failed on an uncontended semaphore');
      sem.release(1, opts);
    }
    return { n, ns: nowNs() - t0 };
  },
};

// The cases this file owns and their rank in the table (see run.js).
const groups = { 'semaphore ping-pong': 30, 'uncontended acquire+release': 40 };

module.exports = { rows, groups };
roleMain(module, roles);
