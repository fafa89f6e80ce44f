'use strict';
// Topic (publish/subscribe in shared memory, issue 23): the 64 B round trip
// with one subscriber each way, against Channel's sync round trip in the same
// run and the C row (bench/topic.c, include/sysv-ipc/topic.h: the physical
// limit), and fan-out of 64 B messages to 1, 2 and 4 subscriber processes
// (messages delivered per second, all subscribers together) against what a
// Node user does today: one Unix socket per subscriber, each message written
// to every socket, or one Channel per subscriber, each message sent to every
// one.
//
// Run it with both placements (`--cpus same`, `--cpus split`). A fan-out
// row's publisher runs where a pair's server runs and its subscribers where
// the client runs (fanOut): all on one CPU under `same`; under `split` the
// publisher on one CPU and every subscriber on the other; `--cpus free` lets
// them spread over the machine. Its Unix socket and Channel rows are placed
// the same way.
const fs = require('fs');
const net = require('net');
const os = require('os');
const path = require('path');
const { pkg, nowNs, summarize, roleMain, payload } = require('../child');

const TOPIC = ['Topic'];
const SIZE = 64;
const FAN_OUT = [1, 2, 4];

function rows() {
  const out = [];
  const rttGroup = 'topic round trip';
  const cMsg = 'chan-rtt-64-msg-c'; // bench/cases/channel.js: C msgsnd/msgrcv
  const chanSync = 'chan-rtt-64-sync'; // bench/cases/channel.js: Channel sendSync/receiveSync
  const rtt = (impl, id, echoRole, clientRole, expectNs, targets) => ({
    id,
    group: rttGroup,
    size: SIZE,
    impl,
    metric: 'latency',
    c: cMsg,
    expectNs,
    targets,
    needs: TOPIC,
    run: (hh, n) =>
      withTopics(hh, 2, ([req, rep]) =>
        hh.pair(
          () =>
            echoRole === 'c'
              ? hh.c('topic', ['echo', req, rep, SIZE, n.warmup + n.count])
              : hh.node('topic.js', [echoRole, req, rep, SIZE, n.warmup + n.count]),
          () =>
            clientRole === 'c'
              ? hh.c('topic', ['client', req, rep, SIZE, n.warmup, n.count])
              : hh.node('topic.js', [clientRole, req, rep, SIZE, n.warmup, n.count]),
        ),
      ),
  });
  const cTopic = 'topic-rtt-64-c';
  out.push(rtt('C topic.h', cTopic, 'c', 'c', 5000, []));
  out.push(
    rtt('publishSync/receiveSync', 'topic-rtt-64-sync', 'echo-sync', 'client-sync', 8000, [
      { vs: chanSync, op: '<=', factor: 1.5, text: '≤ 1.5 × Channel sync' },
      { vs: cTopic, op: '<=', factor: 3, text: '≤ 3 × C topic.h' },
    ]),
  );
  out.push(rtt('publishSync/receiveIntoSync', 'topic-rtt-64-into', 'echo-into', 'client-into', 8000, []));

  const fanGroup = 'topic fan-out';
  for (const subs of FAN_OUT) {
    const uds = `topic-fan-${subs}-uds`;
    out.push({
      id: uds,
      group: fanGroup,
      size: SIZE,
      impl: `Node: a Unix socket per subscriber, ${subs} subscriber${subs > 1 ? 's' : ''}`,
      metric: 'rate',
      unit: 'msg/s',
      c: null,
      expectNs: 3000 * subs,
      targets: [],
      needs: [],
      run: async (hh, n) => {
        const sock = path.join(os.tmpdir(), `sysv-ipc-bench-${process.pid}-${Date.now()}.sock`);
        try {
          const count = n.warmup + n.count;
          return await fanOut(
            hh,
            subs,
            count,
            () => hh.node('topic.js', ['uds-pub', sock, subs, SIZE, count], { timeoutMs: 120000 }),
            () => hh.node('topic.js', ['uds-sub', sock, SIZE, count], { timeoutMs: 120000 }),
          );
        } finally {
          fs.rmSync(sock, { force: true });
        }
      },
    });
    // What a user does today with this package: one Channel per subscriber, each message sent to every one.
    const chans = `topic-fan-${subs}-channels`;
    out.push({
      id: chans,
      group: fanGroup,
      size: SIZE,
      impl: `Channel × ${subs}: sendSync to each → receiveIntoSync`,
      metric: 'rate',
      unit: 'msg/s',
      c: null,
      expectNs: 1000 * subs,
      targets: [],
      needs: ['Channel'],
      run: (hh, n) =>
        withChannels(subs + 1, async ([ready, ...ids]) => {
          const count = n.warmup + n.count;
          let next = 0;
          return fanOut(
            hh,
            subs,
            count,
            () => hh.node('topic.js', ['chan-pub', ready, ids.join(','), SIZE, count], { timeoutMs: 120000 }),
            () => hh.node('topic.js', ['chan-sub', ready, ids[next++], SIZE, count], { timeoutMs: 120000 }),
          );
        }),
    });
    out.push({
      id: `topic-fan-${subs}`,
      group: fanGroup,
      size: SIZE,
      impl: `Topic: publishSync → receiveIntoSync, ${subs} subscriber process${subs > 1 ? 'es' : ''}`,
      metric: 'rate',
      unit: 'msg/s',
      c: null,
      expectNs: 1000,
      targets: [
        { vs: uds, op: '>=', factor: 3, text: '≥ 3 × Unix sockets' },
        ...(subs > 1 ? [{ vs: chans, op: '>=', factor: 1.5, text: `≥ 1.5 × ${subs} Channels` }] : []),
      ],
      needs: TOPIC,
      run: (hh, n) =>
        withTopics(hh, 1, async ([id]) => {
          const count = n.warmup + n.count;
          return fanOut(
            hh,
            subs,
            count,
            () => hh.node('topic.js', ['fan-pub', id, subs, SIZE, count], { timeoutMs: 120000 }),
            () => hh.node('topic.js', ['fan-sub', id, SIZE, count], { timeoutMs: 120000 }),
          );
        }),
    });
  }
  // The memory target: 10 M messages published and received with the
  // allocation-free forms grow neither process's RSS by 10 MB.
  out.push({
    id: 'topic-rss',
    group: 'memory',
    size: SIZE,
    impl: 'Topic: RSS growth, publishSync → receiveIntoSync',
    metric: 'memory',
    c: null,
    needs: TOPIC,
    once: true,
    targets: [{ vs: null, op: '<', factor: 10 * 1024 * 1024, text: '< 10 MB' }],
    counts: (quick) => ({ warmup: quick ? 20000 : 100000, count: quick ? 500000 : 10000000 }),
    run: async (hh, n) => {
      const r = await withTopics(hh, 1, ([id]) =>
        hh.pair(
          () =>
            hh.node('topic.js', ['rss-sub', id, SIZE, n.warmup, n.count], {
              nodeFlags: ['--expose-gc'],
              timeoutMs: 600000,
            }),
          () =>
            hh.node('topic.js', ['rss-pub', id, SIZE, n.warmup, n.count], {
              nodeFlags: ['--expose-gc'],
              timeoutMs: 600000,
            }),
        ),
      );
      return {
        value: Math.max(r.growth, r.server.growth),
        detail: `${n.count} messages; subscriber ${mb(r.server.growth)}, publisher ${mb(r.growth)}`,
      };
    },
  });
  return out;
}

function mb(bytes) {
  return `${(bytes / 1048576).toFixed(1)} MB`;
}

// RSS after a full GC (the process runs with --expose-gc).
function rss() {
  global.gc();
  global.gc();
  return process.memoryUsage.rss();
}

// Messages delivered per second, all subscribers together: from the
// publisher's first message to the last subscriber's last (CLOCK_MONOTONIC,
// one clock for every process).
// The publisher runs where a pair's server runs and every subscriber where
// its client runs (harness.js): all on one CPU under `--cpus same`, the
// publisher on one and its subscribers on the other under `split`.
async function fanOut(hh, subs, count, startPublisher, startSubscriber) {
  const got = await hh.pair(startPublisher, () => Promise.all(Array.from({ length: subs }, startSubscriber)));
  return delivered(got.server, got, subs, count);
}

function delivered(pub, got, subs, count) {
  const last = Math.max(...got.map((g) => g.last));
  return { value: (subs * count) / ((last - pub.t0) / 1e9), detail: `${subs} × ${count} messages` };
}

// Topics made by the harness process, so that they are removed whatever the children do.
async function withTopics(hh, count, fn) {
  const { Topic } = require(path.join(__dirname, '..', '..'));
  const made = Array.from({ length: count }, () => Topic.create({ capacity: 1 << 20, maxMessageSize: 4096 }));
  try {
    return await fn(made.map((t) => t.id));
  } finally {
    for (const t of made) {
      t.remove();
      t.close();
    }
  }
}

async function withChannels(count, fn) {
  const { Channel } = require(path.join(__dirname, '..', '..'));
  const made = Array.from({ length: count }, () => Channel.create({ capacity: 1 << 20, maxMessageSize: 4096 }));
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

function topic(id) {
  return pkg().Topic.fromId(Number(id));
}

const monoNs = () => Number(process.hrtime.bigint());

// Until `topic` has `n` subscriptions (a publisher must not start before them: they begin at 'next').
async function subscribers(t, n) {
  while (t.info().subscribers < Number(n)) await new Promise((r) => setTimeout(r, 2));
}

function echo(req, rep, count, into) {
  const a = topic(req);
  const b = topic(rep);
  const s = a.subscribe();
  const buf = Buffer.alloc(a.maxMessageSize);
  for (let i = 0; i < count; i++) {
    if (into) b.publishSync(buf.subarray(0, s.receiveIntoSync(buf)));
    else b.publishSync(s.receiveSync());
  }
}

async function client(req, rep, size, warmup, count, into) {
  const a = topic(req);
  const b = topic(rep);
  const s = b.subscribe(); // before the first request: the reply cannot come earlier
  await subscribers(a, 1); // the echo listens
  const body = payload(size);
  const buf = Buffer.alloc(b.maxMessageSize);
  const samples = new Float64Array(Number(count));
  const total = Number(warmup) + Number(count);
  for (let i = 0; i < total; i++) {
    const t0 = nowNs();
    a.publishSync(body);
    if (into) s.receiveIntoSync(buf);
    else s.receiveSync();
    if (i >= warmup) samples[i - warmup] = nowNs() - t0;
  }
  return summarize(samples);
}

const roles = {
  'echo-sync': (req, rep, size, count) => echo(req, rep, Number(count), false),
  'client-sync': (req, rep, size, warmup, count) => client(req, rep, size, warmup, count, false),
  'echo-into': (req, rep, size, count) => echo(req, rep, Number(count), true),
  'client-into': (req, rep, size, warmup, count) => client(req, rep, size, warmup, count, true),
  async 'fan-pub'(id, subs, size, count) {
    const t = topic(id);
    await subscribers(t, subs);
    const body = payload(size);
    const t0 = monoNs();
    for (let i = 0; i < Number(count); i++) t.publishSync(body);
    return { t0 };
  },
  'fan-sub'(id, size, count) {
    const t = topic(id);
    const s = t.subscribe();
    const buf = Buffer.alloc(t.maxMessageSize);
    for (let i = 0; i < Number(count); i++) s.receiveIntoSync(buf);
    return { last: monoNs() };
  },
  // RSS after a warm-up against RSS after the long run (a 'wait' topic: nothing is skipped).
  async 'rss-pub'(id, size, warmup, count) {
    const t = topic(id);
    await subscribers(t, 1);
    const body = payload(size);
    const total = Number(warmup) + Number(count);
    let base = 0;
    for (let i = 0; i < total; i++) {
      if (i === Number(warmup)) base = rss();
      t.publishSync(body);
    }
    return { growth: rss() - base };
  },
  'rss-sub'(id, size, warmup, count) {
    const s = topic(id).subscribe();
    const target = Buffer.alloc(Number(size));
    const total = Number(warmup) + Number(count);
    let base = 0;
    for (let i = 0; i < total; i++) {
      if (i === Number(warmup)) base = rss();
      s.receiveIntoSync(target);
    }
    if (s.missed !== 0) throw new Error(`${s.missed} messages missed on a 'wait' topic`);
    return { growth: rss() - base };
  },
  // `ready`: each subscriber says it runs (a channel holds messages, but its start-up must not be timed).
  'chan-pub'(ready, ids, size, count) {
    const { Channel } = pkg();
    const chans = ids.split(',').map((id) => Channel.fromId(Number(id)));
    const hello = Channel.fromId(Number(ready));
    for (let i = 0; i < chans.length; i++) hello.receiveSync();
    const body = payload(size);
    const t0 = monoNs();
    for (let i = 0; i < Number(count); i++) for (const c of chans) c.sendSync(body);
    return { t0 };
  },
  'chan-sub'(ready, id, size, count) {
    const { Channel } = pkg();
    const c = Channel.fromId(Number(id));
    Channel.fromId(Number(ready)).sendSync('');
    const buf = Buffer.alloc(c.maxMessageSize);
    for (let i = 0; i < Number(count); i++) c.receiveIntoSync(buf);
    return { last: monoNs() };
  },
  // What a user does today: a server with one connection per subscriber, each message written to every one.
  async 'uds-pub'(sock, subs, size, count) {
    const sockets = [];
    const server = net.createServer((c) => {
      c.on('error', () => {}); // a subscriber that has all it wants may close first
      sockets.push(c);
    });
    await new Promise((resolve) => server.listen(sock, resolve));
    while (sockets.length < Number(subs)) await new Promise((r) => setTimeout(r, 2));
    const body = payload(size);
    const t0 = monoNs();
    for (let i = 0; i < Number(count); i++) {
      let full = false;
      for (const c of sockets) if (!c.write(body)) full = true;
      if (full) await Promise.all(sockets.map((c) => (c.writableNeedDrain ? once(c, 'drain') : null)));
    }
    // Every byte handed to the kernel before the process exits.
    await Promise.all(sockets.map((c) => (c.closed ? null : new Promise((r) => c.once('close', r).end()))));
    server.close();
    return { t0 };
  },
  async 'uds-sub'(sock, size, count) {
    const want = Number(size) * Number(count);
    const c = await connect(sock);
    let got = 0;
    let last = 0;
    await new Promise((resolve, reject) => {
      c.on('data', (d) => {
        got += d.length;
        if (got >= want) {
          last = monoNs();
          c.destroy();
          resolve();
        }
      });
      c.on('error', reject);
      c.on('close', () => (got >= want ? resolve() : reject(new Error(`closed after ${got} of ${want} bytes`))));
    });
    return { last };
  },
};

function once(emitter, event) {
  return new Promise((r) => emitter.once(event, r));
}

// The publisher may not listen yet: retry for 30 s.
async function connect(sock) {
  const until = Date.now() + 30000;
  for (;;) {
    try {
      return await new Promise((resolve, reject) => {
        const c = net.connect(sock, () => resolve(c));
        c.once('error', reject);
      });
    } catch (err) {
      if (Date.now() > until || (err.code !== 'ENOENT' && err.code !== 'ECONNREFUSED')) throw err;
      await new Promise((r) => setTimeout(r, 5));
    }
  }
}

// After Channel's cases in the table.
const groups = { 'topic round trip': 66, 'topic fan-out': 67 };

module.exports = { rows, groups };
roleMain(module, roles);
