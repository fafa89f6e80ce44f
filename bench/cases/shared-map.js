'use strict';
// SharedMap (issue 24) against what users run instead, in one run:
// - get hit and set (replace), 16-byte key, 100-byte value: SharedMap,
//   lmdb-js (`get`, `putSync`) and Redis (`GET`, `SET`);
// - add(k, 1) uncontended against Redis INCR;
// - 4 processes x add on one key, total rate, against Redis INCR from 4 clients;
// - getInto 10,000,000 times: RSS growth.
// lmdb-js and Redis rows appear only where they can run: `lmdb` (and `redis`,
// the client) resolvable from this checkout, `redis-server` on PATH (started
// here on a Unix socket, no persistence). Otherwise the bench says so.
const { execFileSync, spawn } = require('child_process');
const fs = require('fs');
const os = require('os');
const path = require('path');
const { performance } = require('perf_hooks');
const { pkg, nowNs, roleMain } = require('../child');

const GET = 'SharedMap: get hit, 16 B key, 100 B value';
const SET = 'SharedMap: set (replace), 16 B key, 100 B value';
const ADD = 'SharedMap: add(k, 1) uncontended';
const ADD4 = 'SharedMap: 4 processes x add on one key';
const KEY = '0123456789abcdef'; // 16 bytes
const VALUE = Buffer.alloc(100, 0x61);
const NEEDS = ['SharedMap'];

function resolvable(name) {
  try {
    require.resolve(name);
    return true;
  } catch {
    return false;
  }
}
function onPath(cmd) {
  try {
    execFileSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}
const HAVE_LMDB = resolvable('lmdb');
const HAVE_REDIS = onPath('redis-server') && resolvable('redis');

function rows() {
  if (!HAVE_LMDB) process.stderr.write('bench: SharedMap vs lmdb-js rows skipped: `lmdb` is not installed\n');
  if (!HAVE_REDIS) {
    process.stderr.write(
      'bench: SharedMap vs Redis rows skipped: needs `redis-server` on PATH (Debian: redis-server) and the `redis` client\n',
    );
  }
  const target = (vs, factor, text, have) => (have ? [{ vs, op: '<=', factor, text }] : []);
  const latency = (id, group, impl, expectNs, targets, needs, run) => ({
    id,
    group,
    size: null,
    impl,
    metric: 'latency',
    batch: true,
    c: null,
    expectNs,
    targets,
    needs,
    run,
  });
  const out = [];
  // get
  out.push(
    latency(
      'map-get',
      GET,
      'SharedMap get()',
      150,
      [
        ...target('map-get-lmdb', 0.5, '≤ 0.5 × lmdb-js get', HAVE_LMDB),
        ...target('map-get-redis', 0.05, '≤ 0.05 × Redis GET', HAVE_REDIS),
      ],
      NEEDS,
      (h, n) => withMap(h, async (id) => perOp(await h.node('shared-map.js', ['get', id, n.count]))),
    ),
    latency('map-getinto', GET, 'SharedMap getInto()', 100, [], NEEDS, (h, n) =>
      withMap(h, async (id) => perOp(await h.node('shared-map.js', ['getinto', id, n.count]))),
    ),
  );
  if (HAVE_LMDB) {
    out.push(
      latency('map-get-lmdb', GET, 'lmdb-js get()', 500, [], [], async (h, n) =>
        perOp(await h.node('shared-map.js', ['lmdb-get', n.count])),
      ),
    );
  }
  if (HAVE_REDIS) {
    out.push(
      latency('map-get-redis', GET, 'Redis GET (Unix socket)', 30000, [], [], (h, n) =>
        withRedis(async (sock) => perOp(await h.node('shared-map.js', ['redis', sock, 'get', n.count]))),
      ),
    );
  }
  // set
  out.push(
    latency(
      'map-set',
      SET,
      'SharedMap set()',
      400,
      [
        ...target('map-set-lmdb', 0.5, '≤ 0.5 × lmdb-js putSync', HAVE_LMDB),
        ...target('map-set-redis', 0.1, '≤ 0.1 × Redis SET', HAVE_REDIS),
      ],
      NEEDS,
      (h, n) => withMap(h, async (id) => perOp(await h.node('shared-map.js', ['set', id, n.count]))),
    ),
  );
  if (HAVE_LMDB) {
    out.push(
      latency('map-set-lmdb', SET, 'lmdb-js putSync()', 5000, [], [], async (h, n) =>
        perOp(await h.node('shared-map.js', ['lmdb-put', n.count])),
      ),
    );
  }
  if (HAVE_REDIS) {
    out.push(
      latency('map-set-redis', SET, 'Redis SET (Unix socket)', 30000, [], [], (h, n) =>
        withRedis(async (sock) => perOp(await h.node('shared-map.js', ['redis', sock, 'set', n.count]))),
      ),
    );
  }
  // add
  out.push(
    latency(
      'map-add',
      ADD,
      'SharedMap add(k, 1)',
      400,
      target('map-add-redis', 0.05, '≤ 0.05 × Redis INCR', HAVE_REDIS),
      NEEDS,
      (h, n) => withMap(h, async (id) => perOp(await h.node('shared-map.js', ['add', id, n.count]))),
    ),
  );
  if (HAVE_REDIS) {
    out.push(
      latency('map-add-redis', ADD, 'Redis INCR (Unix socket)', 30000, [], [], (h, n) =>
        withRedis(async (sock) => perOp(await h.node('shared-map.js', ['redis', sock, 'incr', n.count]))),
      ),
    );
  }
  // 4 processes x add: time per add over all four (lower is better: the inverse of the total rate)
  const four = (id, impl, expectNs, targets, needs, run) => ({
    ...latency(id, ADD4, impl, expectNs, targets, needs, run),
    counts: (quick) => ({ warmup: 0, count: quick ? 5000 : 20000 }),
  });
  out.push(
    four(
      'map-add4',
      'SharedMap add(k, 1), per add of the total',
      1000,
      target('map-add4-redis', 0.2, '≥ 5 × Redis INCR rate (≤ 0.2 × its time per add)', HAVE_REDIS),
      NEEDS,
      (h, n) => withMap(h, (id) => together(h, (i) => ['add-together', id, n.count, i])),
    ),
  );
  if (HAVE_REDIS) {
    out.push(
      four('map-add4-redis', 'Redis INCR from 4 clients, per add of the total', 30000, [], [], (h, n) =>
        withRedis((sock) => together(h, (i) => ['redis-together', sock, n.count, i])),
      ),
    );
  }
  out.push({
    id: 'map-rss',
    group: 'memory',
    size: 100,
    impl: 'SharedMap: RSS growth, getInto',
    metric: 'memory',
    c: null,
    needs: NEEDS,
    once: true,
    targets: [{ vs: null, op: '<', factor: 10 * 1024 * 1024, text: '< 10 MB' }],
    counts: (quick) => ({ warmup: quick ? 20000 : 100000, count: quick ? 500000 : 10000000 }),
    run: (h, n) =>
      withMap(h, async (id) => {
        const r = await h.node('shared-map.js', ['rss', id, n.warmup, n.count], {
          nodeFlags: ['--expose-gc'],
          timeoutMs: 600000,
        });
        return { value: r.growth, detail: `${n.count} getInto; ${(r.growth / 1048576).toFixed(1)} MB` };
      }),
  });
  return out;
}

function perOp(r) {
  return { median: r.ns / r.n, p99: null };
}

async function withMap(h, fn) {
  const map = h.loadPackage().SharedMap.create({ capacity: 1 << 20 });
  const id = map.id;
  map.close();
  try {
    return await fn(id);
  } finally {
    h.removeObjects([{ kind: 'shm', id }]);
  }
}

// A redis-server of its own on a Unix socket (no TCP, no persistence), stopped afterwards.
async function withRedis(fn) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bench-redis-'));
  const sock = path.join(dir, 'redis.sock');
  const server = spawn('redis-server', ['--port', '0', '--unixsocket', sock, '--save', '', '--appendonly', 'no'], {
    stdio: 'ignore',
  });
  try {
    for (let i = 0; i < 500 && !fs.existsSync(sock); i++) await new Promise((r) => setTimeout(r, 10));
    if (!fs.existsSync(sock)) throw new Error('redis-server did not open its socket');
    return await fn(sock);
  } finally {
    server.kill('SIGKILL');
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

// Four processes start together (a file barrier: each waits until all four wrote theirs); time from the
// first start to the last end, per operation of the total.
async function together(h, argsOf) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bench-map4-'));
  try {
    const results = await Promise.all(
      [0, 1, 2, 3].map((i) => h.node('shared-map.js', [...argsOf(i), dir], { timeoutMs: 300000 })),
    );
    const start = Math.min(...results.map((r) => r.start));
    const end = Math.max(...results.map((r) => r.end));
    const total = results.reduce((a, r) => a + r.n, 0);
    return { median: ((end - start) * 1e6) / total, p99: null };
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

function barrier(dir, i) {
  fs.writeFileSync(path.join(dir, String(i)), '');
  const pause = new Int32Array(new SharedArrayBuffer(4));
  while (fs.readdirSync(dir).length < 4) Atomics.wait(pause, 0, 0, 1);
  return performance.timeOrigin + performance.now();
}

function timed(n, fn) {
  for (let i = 0; i < Math.min(n, 10000); i++) fn(i); // warm up
  const t0 = nowNs();
  for (let i = 0; i < n; i++) fn(i);
  return { n, ns: nowNs() - t0 };
}

async function timedAsync(n, fn) {
  for (let i = 0; i < Math.min(n, 1000); i++) await fn(i);
  const t0 = nowNs();
  for (let i = 0; i < n; i++) await fn(i);
  return { n, ns: nowNs() - t0 };
}

const mapOf = (id) => pkg().SharedMap.fromId(Number(id));

async function redisClient(sock) {
  const { createClient } = require('redis');
  const client = createClient({ socket: { path: sock } });
  await client.connect();
  return client;
}

const roles = {
  get(id, count) {
    const m = mapOf(id);
    m.set(KEY, VALUE);
    return timed(Number(count), () => m.get(KEY));
  },
  getinto(id, count) {
    const m = mapOf(id);
    m.set(KEY, VALUE);
    const t = Buffer.alloc(100);
    return timed(Number(count), () => m.getInto(KEY, t));
  },
  set(id, count) {
    const m = mapOf(id);
    return timed(Number(count), () => m.set(KEY, VALUE));
  },
  add(id, count) {
    const m = mapOf(id);
    return timed(Number(count), () => m.add(KEY, 1));
  },
  'add-together'(id, count, i, dir) {
    const m = mapOf(id);
    const n = Number(count);
    const start = barrier(dir, i);
    for (let k = 0; k < n; k++) m.add(KEY, 1);
    return { start, end: performance.timeOrigin + performance.now(), n };
  },
  rss(id, warmup, count) {
    const m = mapOf(id);
    m.set(KEY, VALUE);
    const t = Buffer.alloc(100);
    for (let i = 0; i < Number(warmup); i++) m.getInto(KEY, t);
    global.gc();
    const base = process.memoryUsage.rss();
    for (let i = 0; i < Number(count); i++) m.getInto(KEY, t);
    global.gc();
    return { growth: process.memoryUsage.rss() - base };
  },
  'lmdb-get'(count) {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bench-lmdb-'));
    try {
      const db = require('lmdb').open({ path: dir, encoding: 'binary' });
      db.putSync(KEY, VALUE);
      const r = timed(Number(count), () => db.get(KEY));
      db.close();
      return r;
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  },
  'lmdb-put'(count) {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bench-lmdb-'));
    try {
      const db = require('lmdb').open({ path: dir, encoding: 'binary' });
      const r = timed(Number(count), () => db.putSync(KEY, VALUE));
      db.close();
      return r;
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  },
  async redis(sock, op, count) {
    const client = await redisClient(sock);
    await client.set(KEY, VALUE);
    const fn =
      op === 'get' ? () => client.get(KEY) : op === 'set' ? () => client.set(KEY, VALUE) : () => client.incr('n');
    const r = await timedAsync(Number(count), fn);
    await client.quit();
    return r;
  },
  async 'redis-together'(sock, count, i, dir) {
    const client = await redisClient(sock);
    const n = Number(count);
    const start = barrier(dir, i);
    for (let k = 0; k < n; k++) await client.incr(KEY);
    const end = performance.timeOrigin + performance.now();
    await client.quit();
    return { start, end, n };
  },
};

// After FastMutex's cases (70-72), before memory (90).
const groups = { [GET]: 75, [SET]: 76, [ADD]: 77, [ADD4]: 78 };

module.exports = { rows, groups };
roleMain(module, roles);
