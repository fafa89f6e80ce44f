'use strict';
// Message queues: round trip (case 1), one-way throughput (case 2) and RSS
// growth over many async round trips (the memory target). Protocol shared
// by the C and Node ends: the client sends type 1, the echo answers type 2
// on the same queue. The Python rows run the same protocol through Python's
// sysv_ipc (bench/peer.py) on a queue at a random key.
const { pkg, nowNs, summarize, roleMain, payload } = require('../child');

const SIZES = [64, 4096];
const MSG = ['MessageQueue'];

function rows() {
  const out = [];
  for (const size of SIZES) {
    const c = `msg-rtt-${size}-c`;
    const group = 'message round trip';
    const rtt = (impl, id, echoRole, clientRole, expectNs, targets, needs) => ({
      id,
      group,
      size,
      impl,
      metric: 'latency',
      c,
      expectNs,
      targets,
      needs,
      run: (h, n) =>
        withQueue(h, (q) =>
          h.pair(
            () =>
              echoRole === 'c'
                ? h.c('msg', ['echo', q, size, n.warmup + n.count])
                : h.node('messages.js', [echoRole, q, size, n.warmup + n.count]),
            () =>
              clientRole === 'c'
                ? h.c('msg', ['client', q, size, n.warmup, n.count])
                : h.node('messages.js', [clientRole, q, size, n.warmup, n.count]),
          ),
        ),
    });
    out.push(rtt('C msgsnd/msgrcv', c, 'c', 'c', 20000, [], []));
    out.push(
      rtt(
        'sendSync/receiveSync',
        `msg-rtt-${size}-sync`,
        'echo-sync',
        'client-sync',
        22000,
        size === 64 ? [{ vs: c, op: '<=', factor: 1.25, text: '≤ 1.25 × C' }] : [],
        MSG,
      ),
    );
    out.push(
      rtt(
        'await send()/receive()',
        `msg-rtt-${size}-async`,
        'echo-async',
        'client-async',
        40000,
        size === 64
          ? [
              { vs: c, op: '<=', factor: 2.0, text: '≤ 2.0 × C' },
              { vs: `alt-uds-${size}`, op: '<=', factor: 0.8, text: '≤ 0.8 × Unix socket' },
            ]
          : [],
        MSG,
      ),
    );
    out.push({
      id: `msg-rtt-${size}-python`,
      group,
      size,
      impl: 'Python: send()/receive()',
      metric: 'latency',
      c,
      expectNs: 25000,
      targets: [],
      needs: [],
      requires: ['python'],
      run: (h, n) =>
        withKeyedQueue(h, (key) =>
          h.pair(
            () => h.python(['msg', 'echo', key, size, n.warmup + n.count]),
            () => h.python(['msg', 'client', key, size, n.warmup, n.count]),
          ),
        ),
    });
  }
  for (const size of SIZES) {
    const c = `msg-tput-${size}-c`;
    const group = 'one-way throughput';
    const tput = (impl, id, sourceRole, sinkRole, expectNs, targets, needs) => ({
      id,
      group,
      size,
      impl,
      metric: 'rate',
      unit: 'msg/s',
      c,
      expectNs,
      targets,
      needs,
      run: async (h, n) => {
        const count = n.warmup + n.count;
        const r = await withQueue(h, (q) =>
          h.pair(
            () =>
              sourceRole === 'c'
                ? h.c('msg', ['source', q, size, count])
                : h.node('messages.js', [sourceRole, q, size, count]),
            () =>
              sinkRole === 'c'
                ? h.c('msg', ['sink', q, size, count])
                : h.node('messages.js', [sinkRole, q, size, count]),
          ),
        );
        return { value: (r.n / r.ns) * 1e9 };
      },
    });
    out.push(tput('C msgsnd/msgrcv loop', c, 'c', 'c', 3000, [], []));
    out.push(
      tput(
        'sendSync → receiveSync loop',
        `msg-tput-${size}-sync`,
        'source-sync',
        'sink-sync',
        4000,
        size === 64 ? [{ vs: c, op: '>=', factor: 0.6, text: '≥ 0.6 × C' }] : [],
        MSG,
      ),
    );
    out.push(
      tput(
        'await send() → for await messages()',
        `msg-tput-${size}-async`,
        'source-async',
        'sink-async',
        6000,
        size === 64 ? [{ vs: c, op: '>=', factor: 0.35, text: '≥ 0.35 × C' }] : [],
        MSG,
      ),
    );
    out.push({
      id: `msg-tput-${size}-python`,
      group,
      size,
      impl: 'Python: send() → receive() loop',
      metric: 'rate',
      unit: 'msg/s',
      c,
      expectNs: 5000,
      targets: [],
      needs: [],
      requires: ['python'],
      run: async (h, n) => {
        const count = n.warmup + n.count;
        const r = await withKeyedQueue(h, (key) =>
          h.pair(
            () => h.python(['msg', 'source', key, size, count]),
            () => h.python(['msg', 'sink', key, size, count]),
          ),
        );
        return { value: (r.n / r.ns) * 1e9 };
      },
    });
  }
  out.push({
    id: 'msg-rss',
    group: 'memory',
    size: 64,
    impl: 'RSS growth, async round trips',
    metric: 'memory',
    c: null,
    needs: MSG,
    once: true,
    targets: [{ vs: null, op: '<', factor: 10 * 1024 * 1024, text: '< 10 MB' }],
    counts: (quick) => ({ warmup: quick ? 5000 : 20000, count: quick ? 50000 : 1000000 }),
    run: async (h, n) => {
      const r = await withQueue(h, (q) =>
        h.pair(
          () =>
            h.node('messages.js', ['rss-echo', q, 64, n.warmup, n.count], {
              nodeFlags: ['--expose-gc'],
              timeoutMs: 600000,
            }),
          () =>
            h.node('messages.js', ['rss-client', q, 64, n.warmup, n.count], {
              nodeFlags: ['--expose-gc'],
              timeoutMs: 600000,
            }),
        ),
      );
      return {
        value: Math.max(r.growth, r.server.growth),
        detail: `${n.count} trips; client ${mb(r.growth)}, echo ${mb(r.server.growth)}`,
      };
    },
  });
  return out;
}

function mb(bytes) {
  return `${(bytes / 1048576).toFixed(1)} MB`;
}

async function withQueue(h, fn) {
  const id = h.createObject('msg');
  try {
    return await fn(id);
  } finally {
    h.removeObjects([{ kind: 'msg', id }]);
  }
}

async function withKeyedQueue(h, fn) {
  const { id, key } = h.createKeyedObject('msg');
  try {
    return await fn(key);
  } finally {
    h.removeObjects([{ kind: 'msg', id }]);
  }
}

// ---- child roles

function queue(id) {
  return pkg().MessageQueue.fromId(Number(id));
}

const roles = {
  'echo-sync'(id, size, count) {
    const q = queue(id);
    for (let i = 0; i < count; i++) {
      const m = q.receiveSync({ type: 1 });
      q.sendSync(m.data, { type: 2 });
    }
  },
  'client-sync'(id, size, warmup, count) {
    const q = queue(id);
    const body = payload(size);
    const samples = new Float64Array(Number(count));
    const total = Number(warmup) + Number(count);
    for (let i = 0; i < total; i++) {
      const t0 = nowNs();
      q.sendSync(body, { type: 1 });
      q.receiveSync({ type: 2 });
      if (i >= warmup) samples[i - warmup] = nowNs() - t0;
    }
    return summarize(samples);
  },
  async 'echo-async'(id, size, count) {
    const q = queue(id);
    for (let i = 0; i < count; i++) {
      const m = await q.receive({ type: 1 });
      await q.send(m.data, { type: 2 });
    }
  },
  async 'client-async'(id, size, warmup, count) {
    const q = queue(id);
    const body = payload(size);
    const samples = new Float64Array(Number(count));
    const total = Number(warmup) + Number(count);
    for (let i = 0; i < total; i++) {
      const t0 = nowNs();
      await q.send(body, { type: 1 });
      await q.receive({ type: 2 });
      if (i >= warmup) samples[i - warmup] = nowNs() - t0;
    }
    return summarize(samples);
  },
  'source-sync'(id, size, count) {
    const q = queue(id);
    const body = payload(size);
    for (let i = 0; i < count; i++) q.sendSync(body);
  },
  'sink-sync'(id, size, count) {
    const q = queue(id);
    let first = 0;
    for (let i = 0; i < count; i++) {
      q.receiveSync();
      if (i === 0) first = nowNs();
    }
    return { n: count - 1, ns: nowNs() - first };
  },
  async 'source-async'(id, size, count) {
    const q = queue(id);
    const body = payload(size);
    for (let i = 0; i < count; i++) await q.send(body);
  },
  async 'sink-async'(id, size, count) {
    const q = queue(id);
    let first = 0;
    let i = 0;
    for await (const m of q.messages()) {
      void m;
      if (i === 0) first = nowNs();
      if (++i === Number(count)) break;
    }
    return { n: count - 1, ns: nowNs() - first };
  },
  // The memory target: RSS after a warm-up (both sides' pools and code
  // settled, then a full GC) against RSS after the long run (GC again).
  async 'rss-echo'(id, size, warmup, count) {
    const q = queue(id);
    const total = Number(warmup) + Number(count);
    let base = 0;
    for (let i = 0; i < total; i++) {
      if (i === Number(warmup)) base = rss();
      const m = await q.receive({ type: 1 });
      await q.send(m.data, { type: 2 });
    }
    return { growth: rss() - base };
  },
  async 'rss-client'(id, size, warmup, count) {
    const q = queue(id);
    const body = payload(size);
    const total = Number(warmup) + Number(count);
    let base = 0;
    for (let i = 0; i < total; i++) {
      if (i === Number(warmup)) base = rss();
      await q.send(body, { type: 1 });
      await q.receive({ type: 2 });
    }
    return { growth: rss() - base };
  },
};

function rss() {
  global.gc();
  global.gc();
  return process.memoryUsage.rss();
}

// The cases this file owns and where they sit in the table (run.js sorts
// groups by rank; rows of other files join a group after its owner's rows).
const groups = { 'message round trip': 10, 'one-way throughput': 20, memory: 90 };

module.exports = { rows, groups };
roleMain(module, roles);
