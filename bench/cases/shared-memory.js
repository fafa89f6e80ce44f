'use strict';
// Shared memory: bandwidth through `buffer` against Buffer.copy between two
// private buffers in the same process (case 5), and the cross-process
// wait/notify round trip on a shared 32-bit word (case 6). Written against
// the API of issue 4 (SharedMemory.fromId, buffer, arrayBuffer,
// wait/waitSync(index, expected), notify(index, count)); the rows are
// skipped until SharedMemory is exported.
const { pkg, nowNs, summarize, roleMain } = require('../child');

const MIB64 = 64 * 1024 * 1024;

function rows() {
  const group = 'shared-memory bandwidth (64 MiB copy)';
  const c = 'shm-bw-c';
  const ref = 'shm-bw-copy';
  const bw = (impl, id, role, targets, needs) => ({
    id,
    group,
    size: MIB64,
    impl,
    metric: 'bandwidth',
    unit: 'B/s',
    c,
    targets,
    needs,
    fixed: true,
    counts: (quick) => ({ warmup: 1, count: quick ? 3 : 6 }),
    run: async (h, n) => {
      let r;
      if (role === 'c') {
        r = await h.c('shm', ['memcpy', MIB64, n.count]);
      } else if (role === 'copy') {
        r = await h.node('shared-memory.js', ['copy', 0, MIB64, n.count]);
      } else {
        const id = h.createObject('shm', { size: MIB64 });
        try {
          r = await h.node('shared-memory.js', [role, id, MIB64, n.count]);
        } finally {
          h.removeObjects([{ kind: 'shm', id }]);
        }
      }
      return { value: (MIB64 / r.median) * 1e9 };
    },
  });
  const out = [
    bw('C memcpy, private → private', c, 'c', [], []),
    bw('Buffer.copy, private → private', ref, 'copy', [], []),
    bw(
      'write: private.copy(shm.buffer)',
      'shm-bw-write',
      'write',
      [{ vs: ref, op: '>=', factor: 0.95, text: '≥ 0.95 × Buffer.copy' }],
      ['SharedMemory'],
    ),
    bw(
      'read: shm.buffer.copy(private)',
      'shm-bw-read',
      'read',
      [{ vs: ref, op: '>=', factor: 0.95, text: '≥ 0.95 × Buffer.copy' }],
      ['SharedMemory'],
    ),
  ];
  const fc = 'futex-rtt-c';
  const fgroup = 'wait/notify round trip';
  const msgC = 'msg-rtt-64-c';
  const futex = (impl, id, pongRole, pingRole, expectNs, targets, needs) => ({
    id,
    group: fgroup,
    size: null,
    impl,
    metric: 'latency',
    c: fc,
    expectNs,
    targets,
    needs,
    run: async (h, n) => {
      const shm = h.createObject('shm', { size: 4096 });
      try {
        return await h.pair(
          () =>
            pongRole === 'c'
              ? h.c('shm', ['pong', shm, n.warmup + n.count])
              : h.node('shared-memory.js', [pongRole, shm, n.warmup + n.count]),
          () =>
            pingRole === 'c'
              ? h.c('shm', ['ping', shm, n.warmup, n.count])
              : h.node('shared-memory.js', [pingRole, shm, n.warmup, n.count]),
        );
      } finally {
        h.removeObjects([{ kind: 'shm', id: shm }]);
      }
    },
  });
  out.push(futex('C futex on a shm word', fc, 'c', 'c', 12000, [], []));
  out.push(
    futex(
      'notify()/waitSync()',
      'futex-rtt-sync',
      'pong-sync',
      'ping-sync',
      15000,
      [{ vs: msgC, op: '<=', factor: 1.0, text: '≤ 1.0 × C message RTT' }],
      ['SharedMemory'],
    ),
  );
  out.push(
    futex(
      'notify()/await wait()',
      'futex-rtt-async',
      'pong-async',
      'ping-async',
      35000,
      [{ vs: msgC, op: '<=', factor: 1.0, text: '≤ 1.0 × C message RTT' }],
      ['SharedMemory'],
    ),
  );
  return out;
}

// ---- child roles

function copies(count, fn) {
  fn(); // warm-up: faults every page in
  const samples = new Float64Array(Number(count));
  for (let i = 0; i < samples.length; i++) {
    const t0 = nowNs();
    fn();
    samples[i] = nowNs() - t0;
  }
  return summarize(samples);
}

function words(id) {
  const shm = pkg().SharedMemory.fromId(Number(id));
  return { shm, w: new Int32Array(shm.arrayBuffer) };
}

const roles = {
  copy(_id, size, count) {
    const src = Buffer.alloc(Number(size), 1);
    const dst = Buffer.alloc(Number(size), 2);
    return copies(count, () => src.copy(dst));
  },
  write(id, size, count) {
    const shm = pkg().SharedMemory.fromId(Number(id));
    const src = Buffer.alloc(Number(size), 1);
    const buf = shm.buffer;
    return copies(count, () => src.copy(buf));
  },
  read(id, size, count) {
    const shm = pkg().SharedMemory.fromId(Number(id));
    const dst = Buffer.alloc(Number(size), 2);
    const buf = shm.buffer;
    return copies(count, () => buf.copy(dst));
  },
  // Word 0 is the ping, word 1 the pong; round i stores i. A waiter sleeps
  // only while the word still holds what it read, as the C program does.
  'pong-sync'(id, count) {
    const { shm, w } = words(id);
    for (let i = 1; i <= count; i++) {
      for (let v; (v = Atomics.load(w, 0)) !== i;) shm.waitSync(0, v);
      Atomics.store(w, 1, i);
      shm.notify(1, 1);
    }
  },
  'ping-sync'(id, warmup, count) {
    const { shm, w } = words(id);
    const samples = new Float64Array(Number(count));
    const total = Number(warmup) + Number(count);
    for (let i = 1; i <= total; i++) {
      const t0 = nowNs();
      Atomics.store(w, 0, i);
      shm.notify(0, 1);
      for (let v; (v = Atomics.load(w, 1)) !== i;) shm.waitSync(1, v);
      if (i > warmup) samples[i - 1 - warmup] = nowNs() - t0;
    }
    return summarize(samples);
  },
  async 'pong-async'(id, count) {
    const { shm, w } = words(id);
    for (let i = 1; i <= count; i++) {
      for (let v; (v = Atomics.load(w, 0)) !== i;) await shm.wait(0, v);
      Atomics.store(w, 1, i);
      shm.notify(1, 1);
    }
  },
  async 'ping-async'(id, warmup, count) {
    const { shm, w } = words(id);
    const samples = new Float64Array(Number(count));
    const total = Number(warmup) + Number(count);
    for (let i = 1; i <= total; i++) {
      const t0 = nowNs();
      Atomics.store(w, 0, i);
      shm.notify(0, 1);
      for (let v; (v = Atomics.load(w, 1)) !== i;) await shm.wait(1, v);
      if (i > warmup) samples[i - 1 - warmup] = nowNs() - t0;
    }
    return summarize(samples);
  },
};

// The cases this file owns and their rank in the table (see run.js).
const groups = { 'shared-memory bandwidth (64 MiB copy)': 50, 'wait/notify round trip': 60 };

module.exports = { rows, groups };
roleMain(module, roles);
