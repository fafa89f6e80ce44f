'use strict';
// Channel (a message channel in shared memory): round trips over two
// channels (requests, replies), one-way throughput, the 64 KiB round trip
// against a Unix socket, and RSS over 10 million receiveInto() calls.
// References in the same run: C msgsnd/msgrcv (bench/msg.c) and the C
// channel (bench/channel.c, include/sysv-ipc/channel.h: the physical limit).
//
// The targets depend on where the two ends run (issue 11): run this section
// with both placements, `--cpus same` and `--cpus split`.
const path = require('path');
const h = require('../harness');
const { pkg, nowNs, summarize, roleMain, payload } = require('../child');

const CH = ['Channel'];

function rows() {
  const split = h.getPlacement().mode === 'split';
  const out = [];
  const size = 64;
  const rttGroup = 'channel round trip';
  const cMsg = 'chan-rtt-64-msg-c';
  const cChan = 'chan-rtt-64-c';
  const rtt = (impl, id, sz, echoRole, clientRole, expectNs, targets, needs, c) => ({
    id,
    group: rttGroup,
    size: sz,
    impl,
    metric: 'latency',
    c,
    expectNs,
    targets,
    needs,
    run: (hh, n) =>
      echoRole === 'msg'
        ? withQueue(hh, (q) =>
            hh.pair(
              () => hh.c('msg', ['echo', q, sz, n.warmup + n.count]),
              () => hh.c('msg', ['client', q, sz, n.warmup, n.count]),
            ),
          )
        : withChannels(hh, 2, sz, ([req, rep]) =>
            hh.pair(
              () =>
                echoRole === 'c'
                  ? hh.c('channel', ['echo', req, rep, sz, n.warmup + n.count])
                  : hh.node('channel.js', [echoRole, req, rep, sz, n.warmup + n.count]),
              () =>
                clientRole === 'c'
                  ? hh.c('channel', ['client', req, rep, sz, n.warmup, n.count])
                  : hh.node('channel.js', [clientRole, req, rep, sz, n.warmup, n.count]),
            ),
          ),
  });
  // The hardware floor (issue 25): a C spin ping-pong on two words of one
  // segment, no protocol and no syscall (bench/shm.c spin-ping/spin-pong).
  // How far each row is from the machine; meaningful with --cpus split.
  const floor = 'chan-rtt-floor-c';
  out.push({
    id: floor,
    group: rttGroup,
    size,
    impl: 'C spin on two words (hardware floor)',
    metric: 'latency',
    c: cMsg,
    expectNs: 2000,
    targets: [],
    needs: [],
    run: async (hh, n) => {
      const shm = hh.createObject('shm', { size: 4096 });
      try {
        return await hh.pair(
          () => hh.c('shm', ['spin-pong', shm, n.warmup + n.count]),
          () => hh.c('shm', ['spin-ping', shm, n.warmup, n.count]),
        );
      } finally {
        hh.removeObjects([{ kind: 'shm', id: shm }]);
      }
    },
  });
  out.push(rtt('C msgsnd/msgrcv', cMsg, size, 'msg', 'msg', 20000, [], [], cMsg));
  out.push(
    rtt(
      'C channel.h',
      cChan,
      size,
      'c',
      'c',
      5000,
      split ? [{ vs: floor, op: '<=', factor: 3, text: '≤ 3 × floor (issue 25)' }] : [],
      CH,
      cMsg,
    ),
  );
  out.push(
    rtt(
      'sendSync/receiveSync',
      'chan-rtt-64-sync',
      size,
      'echo-sync',
      'client-sync',
      // ~1.5 us across CPUs: 8000 ran 37k trips, too few for TurboFan to
      // have finished the ring's code while both CPUs spin.
      2000,
      split
        ? [
            { vs: cMsg, op: '<=', factor: 0.1, text: '≤ 0.1 × C msg' },
            { vs: cChan, op: '<=', factor: 3, text: '≤ 3 × C channel' },
            { vs: cChan, op: '<=', factor: 1.5, text: '≤ 1.5 × C channel (issue 25)' },
            { vs: floor, op: '<=', factor: 5, text: '≤ 5 × floor (issue 25)' },
          ]
        : [{ vs: cMsg, op: '<=', factor: 0.9, text: '≤ 0.9 × C msg' }],
      CH,
      cMsg,
    ),
  );
  out.push(
    rtt(
      'await send()/receive()',
      'chan-rtt-64-async',
      size,
      'echo-async',
      'client-async',
      12000,
      split
        ? [{ vs: cMsg, op: '<=', factor: 0.2, text: '≤ 0.2 × C msg' }]
        : [{ vs: cMsg, op: '<=', factor: 1.2, text: '≤ 1.2 × C msg' }],
      CH,
      cMsg,
    ),
  );
  // 64 KiB: beyond a SysV message (msgmax); compared with a Node Unix socket pair.
  const uds = 'chan-rtt-64k-uds';
  out.push({
    id: uds,
    group: rttGroup,
    size: 65536,
    impl: 'Node: Unix socket pair',
    metric: 'latency',
    c: null,
    expectNs: 100000,
    targets: [],
    needs: [],
    run: (hh, n) => hh.node('alternatives.js', ['uds-client', 65536, n.warmup, n.count]),
  });
  out.push(rtt('C channel.h', 'chan-rtt-64k-c', 65536, 'c', 'c', 30000, [], CH, null));
  // The hot-path forms: a Buffer per 64 KiB message costs more than the channel (fresh pages).
  out.push(
    rtt(
      'sendFromSync/receiveIntoSync',
      'chan-rtt-64k-sync',
      65536,
      'echo-into',
      'client-into',
      40000,
      [{ vs: uds, op: '<=', factor: 0.5, text: '≤ 0.5 × Unix socket' }],
      CH,
      null,
    ),
  );

  const tGroup = 'channel one-way throughput';
  const tMsg = 'chan-tput-64-msg-c';
  const tChan = 'chan-tput-64-c';
  const tput = (impl, id, source, sink, expectNs, targets, needs) => ({
    id,
    group: tGroup,
    size,
    impl,
    metric: 'rate',
    unit: 'msg/s',
    c: tMsg,
    expectNs,
    targets,
    needs,
    run: async (hh, n) => {
      const count = n.warmup + n.count;
      const r =
        source[0] === 'msg'
          ? await withQueue(hh, (q) =>
              hh.pair(
                () => hh.c('msg', ['source', q, size, count]),
                () => hh.c('msg', ['sink', q, size, count]),
              ),
            )
          : await withChannels(hh, 1, size, ([id1]) =>
              hh.pair(
                () =>
                  source === 'c'
                    ? hh.c('channel', ['source', id1, size, count])
                    : hh.node('channel.js', [source, id1, size, count]),
                () =>
                  sink === 'c'
                    ? hh.c('channel', ['sink', id1, size, count])
                    : hh.node('channel.js', [sink, id1, size, count]),
              ),
            );
      return { value: (r.n / r.ns) * 1e9 };
    },
  });
  out.push(tput('C msgsnd/msgrcv loop', tMsg, ['msg'], 'msg', 3000, [], []));
  out.push(tput('C channel.h loop', tChan, 'c', 'c', 300, [], CH));
  out.push(
    tput(
      'sendSync → receiveSync loop',
      'chan-tput-64-sync',
      'source-sync',
      'sink-sync',
      600,
      split
        ? [
            { vs: tMsg, op: '>=', factor: 5, text: '≥ 5 × C msg' },
            { vs: tChan, op: '>=', factor: 0.3, text: '≥ 0.3 × C channel' },
          ]
        : [],
      CH,
    ),
  );
  out.push(
    tput(
      'sendSync → for await messages()',
      'chan-tput-64-iter',
      'source-sync',
      'sink-iter',
      1000,
      split ? [{ vs: tMsg, op: '>=', factor: 2, text: '≥ 2 × C msg' }] : [],
      CH,
    ),
  );

  out.push({
    id: 'chan-rss',
    group: 'memory',
    size: 64,
    impl: 'Channel: RSS growth, receiveInto',
    metric: 'memory',
    c: null,
    needs: CH,
    once: true,
    targets: [{ vs: null, op: '<', factor: 10 * 1024 * 1024, text: '< 10 MB' }],
    counts: (quick) => ({ warmup: quick ? 20000 : 100000, count: quick ? 500000 : 10000000 }),
    run: async (hh, n) => {
      const r = await withChannels(hh, 1, 64, ([id1]) =>
        hh.pair(
          () =>
            hh.node('channel.js', ['rss-sink', id1, 64, n.warmup, n.count], {
              nodeFlags: ['--expose-gc'],
              timeoutMs: 600000,
            }),
          () =>
            hh.node('channel.js', ['rss-source', id1, 64, n.warmup, n.count], {
              nodeFlags: ['--expose-gc'],
              timeoutMs: 600000,
            }),
        ),
      );
      return {
        value: Math.max(r.growth, r.server.growth),
        detail: `${n.count} messages; receiver ${mb(r.server.growth)}, sender ${mb(r.growth)}`,
      };
    },
  });
  return out;
}

function mb(bytes) {
  return `${(bytes / 1048576).toFixed(1)} MB`;
}

async function withQueue(hh, fn) {
  const id = hh.createObject('msg');
  try {
    return await fn(id);
  } finally {
    hh.removeObjects([{ kind: 'msg', id }]);
  }
}

// Channels made by the package (a C row needs one as much as a Node row).
async function withChannels(hh, count, size, fn) {
  const { Channel } = require(path.join(__dirname, '..', '..'));
  const capacity = Math.max(1 << 20, size * 8);
  const made = Array.from({ length: count }, () => Channel.create({ capacity }));
  try {
    return await fn(made.map((c) => c.id));
  } finally {
    for (const c of made) {
      c.remove();
      c.close();
    }
  }
}

// ---- child roles

function channel(id) {
  return pkg().Channel.fromId(Number(id));
}

const roles = {
  'echo-sync'(req, rep, size, count) {
    const a = channel(req);
    const b = channel(rep);
    for (let i = 0; i < count; i++) b.sendSync(a.receiveSync());
  },
  'client-sync'(req, rep, size, warmup, count) {
    const a = channel(req);
    const b = channel(rep);
    const body = payload(size);
    const samples = new Float64Array(Number(count));
    const total = Number(warmup) + Number(count);
    for (let i = 0; i < total; i++) {
      const t0 = nowNs();
      a.sendSync(body);
      b.receiveSync();
      if (i >= warmup) samples[i - warmup] = nowNs() - t0;
    }
    return summarize(samples);
  },
  'echo-into'(req, rep, size, count) {
    const a = channel(req);
    const b = channel(rep);
    const buf = Buffer.alloc(a.maxMessageSize);
    for (let i = 0; i < count; i++) b.sendFromSync(buf, 0, a.receiveIntoSync(buf));
  },
  'client-into'(req, rep, size, warmup, count) {
    const a = channel(req);
    const b = channel(rep);
    const body = payload(size);
    const buf = Buffer.alloc(b.maxMessageSize);
    const samples = new Float64Array(Number(count));
    const total = Number(warmup) + Number(count);
    for (let i = 0; i < total; i++) {
      const t0 = nowNs();
      a.sendFromSync(body, 0, body.length);
      b.receiveIntoSync(buf);
      if (i >= warmup) samples[i - warmup] = nowNs() - t0;
    }
    return summarize(samples);
  },
  async 'echo-async'(req, rep, size, count) {
    const a = channel(req);
    const b = channel(rep);
    for (let i = 0; i < count; i++) await b.send(await a.receive());
  },
  async 'client-async'(req, rep, size, warmup, count) {
    const a = channel(req);
    const b = channel(rep);
    const body = payload(size);
    const samples = new Float64Array(Number(count));
    const total = Number(warmup) + Number(count);
    for (let i = 0; i < total; i++) {
      const t0 = nowNs();
      await a.send(body);
      await b.receive();
      if (i >= warmup) samples[i - warmup] = nowNs() - t0;
    }
    return summarize(samples);
  },
  'source-sync'(id, size, count) {
    const ch = channel(id);
    const body = payload(size);
    for (let i = 0; i < count; i++) ch.sendSync(body);
  },
  'sink-sync'(id, size, count) {
    const ch = channel(id);
    let first = 0;
    for (let i = 0; i < count; i++) {
      ch.receiveSync();
      if (i === 0) first = nowNs();
    }
    return { n: count - 1, ns: nowNs() - first };
  },
  async 'sink-iter'(id, size, count) {
    const ch = channel(id);
    let first = 0;
    let i = 0;
    for await (const m of ch.messages()) {
      void m;
      if (i === 0) first = nowNs();
      if (++i === Number(count)) break;
    }
    return { n: count - 1, ns: nowNs() - first };
  },
  // The memory target: the allocation-free forms, RSS after a warm-up (and a
  // full GC) against RSS after the long run (GC again).
  'rss-source'(id, size, warmup, count) {
    const ch = channel(id);
    const body = payload(size);
    const total = Number(warmup) + Number(count);
    let base = 0;
    for (let i = 0; i < total; i++) {
      if (i === Number(warmup)) base = rss();
      ch.sendFromSync(body, 0, body.length);
    }
    return { growth: rss() - base };
  },
  'rss-sink'(id, size, warmup, count) {
    const ch = channel(id);
    const target = Buffer.alloc(Number(size));
    const total = Number(warmup) + Number(count);
    let base = 0;
    for (let i = 0; i < total; i++) {
      if (i === Number(warmup)) base = rss();
      ch.receiveIntoSync(target);
    }
    return { growth: rss() - base };
  },
};

function rss() {
  global.gc();
  global.gc();
  return process.memoryUsage.rss();
}

// Where the channel's cases stand in the table (bench/registry.js); its RSS row joins 'memory'.
const groups = { 'channel round trip': 64, 'channel one-way throughput': 65 };

module.exports = { rows, groups };
roleMain(module, roles);
