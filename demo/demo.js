'use strict';
// `npm start`: sysv-ipc end to end. The parent forks worker processes that
// cooperate through the three System V primitives:
//
//   MessageQueue   jobs handed out (any worker takes the next), control
//                  messages, and a ping-pong to measure round-trip latency;
//   SharedMemory   the results table (one Int32 slot per job) and counters;
//   Mutex          guards the progress counters in that table;
//   FastMutex      guards the running total of primes (its lock record sits
//                  in the same segment, beside the counter);
//   Semaphore      a barrier: set to the number of workers, each takes one
//                  unit and waits for zero, so all start at the same moment;
//   Channel        each worker's final report, handed to the parent as a value.
//
// Everything is created here with IPC_PRIVATE and removed on every way out:
// the normal end, Ctrl-C/SIGTERM/SIGHUP, an uncaught error, a crashed worker.
// Only kill -9 of this process leaves the objects behind (nothing runs then);
// the workers still notice that the parent is gone and exit.
const { fork } = require('node:child_process');
const os = require('node:os');
const path = require('node:path');
const { parseArgs } = require('node:util');
const { Channel, FastMutex, MessageQueue, Mutex, Semaphore, SharedMemory } = require('..');
const { MSG, CONTROL, LOCK_OFFSET, tableSize, tableViews, int32Message } = require('./protocol');
const { jobRange, sievePrimes } = require('./primes');

const USAGE = `Usage: npm start -- [options]   (or: node demo/demo.js [options])

Forks worker processes that count primes together through System V IPC:
jobs on a message queue, results in shared memory, counters under a Mutex and
a FastMutex, a semaphore barrier to start them together, reports over a
Channel. Removes every kernel object it made on every exit path (check with:
npx sysv-ipc ls).

Options:
  --workers N      worker processes (default 4)
  --jobs N         jobs to hand out (default 1000; each counts the primes in 25,000 numbers)
  --quick          a short run: 120 jobs, fewer pings (about 2 seconds)
  --crash-worker   make worker 1 crash midway, to see the cleanup
  -h, --help       this help`;

const SPAN = 25000;

// ---------------------------------------------------------------- options
function parseOptions(argv) {
  const { values } = parseArgs({
    args: argv,
    options: {
      workers: { type: 'string' },
      jobs: { type: 'string' },
      quick: { type: 'boolean', default: false },
      'crash-worker': { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  const int = (name, value, fallback, max) => {
    if (value === undefined) return fallback;
    const n = Number(value);
    if (!Number.isInteger(n) || n < 1 || n > max)
      throw new Error(`--${name} must be an integer from 1 to ${max}, got ${JSON.stringify(value)}`);
    return n;
  };
  const workers = int('workers', values.workers, 4, 64);
  return {
    help: values.help,
    workers,
    jobs: int('jobs', values.jobs, values.quick ? 120 : 1000, 100000),
    pings: values.quick ? 300 : 2000,
    crashWorker: values['crash-worker'] ? Math.min(1, workers - 1) : -1,
  };
}

let options;
try {
  options = parseOptions(process.argv.slice(2));
} catch (err) {
  console.error(`demo: ${err.message}\n\n${USAGE}`);
  process.exit(2);
}
if (options.help) {
  console.log(USAGE);
  process.exit(0);
}

// ---------------------------------------------------------------- output
const tty = Boolean(process.stdout.isTTY);
const fmt = (n, digits = 0) =>
  n.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits });
let progressShown = false; // a TTY progress line is on screen, not yet ended
function say(line = '') {
  if (progressShown) {
    process.stdout.write('\n');
    progressShown = false;
  }
  process.stdout.write(`${line}\n`);
}
function sayError(line) {
  if (progressShown) {
    process.stdout.write('\n');
    progressShown = false;
  }
  process.stderr.write(`${line}\n`);
}

// ---------------------------------------------------------------- kernel objects and their removal
/** Everything this process created, in creation order: [label, object]. */
const owned = [];
const removed = [];
function own(kind, object) {
  owned.push([`${kind} ${object.id}`, object]);
  return object;
}
/** Removes every object we created (IPC_RMID). Synchronous and idempotent: safe from any exit path. */
function removeAll() {
  while (owned.length > 0) {
    const [label, object] = owned.pop();
    try {
      object.close?.();
      object.remove();
      removed.push(label);
    } catch (err) {
      if (err.code !== 'EINVAL' && err.code !== 'EIDRM') sayError(`demo: could not remove ${label}: ${err.message}`);
    }
  }
}

// ---------------------------------------------------------------- workers
const workers = []; // { index, proc, exited: Promise, exitInfo }
let phase = 'starting'; // starting → running → finishing, or → stopping from anywhere
let timer = null;

function describeExit(code, signal) {
  return signal ? `killed by ${signal}` : `exit code ${code}`;
}

function startWorker(index, ids) {
  const cfg = {
    index,
    ...ids,
    workers: options.workers,
    jobs: options.jobs,
    span: SPAN,
    crash: index === options.crashWorker,
  };
  const proc = fork(path.join(__dirname, 'worker.js'), [JSON.stringify(cfg)], {
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  const w = { index, proc, exitInfo: null };
  w.exited = new Promise((resolve) => {
    proc.on('exit', (code, signal) => {
      w.exitInfo = { code, signal };
      resolve(w.exitInfo);
      // A worker leaving before we asked it to is a crash, whatever its exit code.
      if (phase !== 'stopping' && !(phase === 'finishing' && code === 0)) {
        stop(`worker ${index} (pid ${proc.pid}) crashed: ${describeExit(code, signal)}`, 1);
      }
    });
  });
  workers.push(w);
  return w;
}

/** Waits up to `ms` for every worker to exit, then kills the rest. */
async function reapWorkers(ms) {
  const all = Promise.all(workers.map((w) => w.exited));
  let t;
  await Promise.race([
    all,
    new Promise((r) => {
      t = setTimeout(r, ms);
    }),
  ]);
  clearTimeout(t);
  for (const w of workers) if (w.exitInfo === null) w.proc.kill('SIGKILL');
  await all;
}

// ---------------------------------------------------------------- stopping on every path
/**
 * The one way out when something goes wrong: remove the kernel objects first
 * (workers blocked on them wake with EIDRM and exit; nothing is left even if
 * we are killed a moment later), then stop the workers and exit with `code`.
 */
function stop(reason, code) {
  if (phase === 'stopping') return;
  phase = 'stopping';
  clearInterval(timer);
  sayError(`demo: ${reason}; stopping the workers and removing the IPC objects`);
  removeAll();
  for (const w of workers) if (w.exitInfo === null) w.proc.kill('SIGTERM');
  reapWorkers(2000).then(() => {
    sayError(`demo: removed ${removed.join(', ') || 'nothing'}; nothing left in the kernel`);
    process.exit(code);
  });
}

for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
  process.on(signal, () => stop(`interrupted by ${signal}`, 128 + os.constants.signals[signal]));
}
process.on('uncaughtException', (err) => stop(`error: ${err.stack ?? err}`, 1));
process.on('unhandledRejection', (err) => stop(`error: ${err?.stack ?? err}`, 1));
// Last resort for a process.exit() from anywhere: removal is synchronous, so it runs here too.
process.on('exit', () => {
  removeAll();
  for (const w of workers) if (w.exitInfo === null) w.proc.kill('SIGKILL');
});

// ---------------------------------------------------------------- progress
function progressLine(table, started) {
  const done = Atomics.load(table.done, 0);
  const seconds = (performance.now() - started) / 1000;
  const rate = seconds > 0 ? done / seconds : 0;
  const pct = Math.floor((100 * done) / options.jobs);
  const per = Array.from(table.perWorker, (n, i) => `w${i} ${n}`).join('  ');
  const barWidth = 20;
  const filled = Math.round((barWidth * done) / options.jobs);
  const bar = tty ? `[${'#'.repeat(filled)}${'.'.repeat(barWidth - filled)}] ` : '';
  return `${bar}${done}/${options.jobs} jobs ${String(pct).padStart(3)}%  ${fmt(rate)} jobs/s  ${seconds.toFixed(1)} s  |  ${per}`;
}

function showProgress(table, started) {
  const line = progressLine(table, started);
  if (tty) {
    process.stdout.write(`\r${line}\x1b[K`);
    progressShown = true;
  } else {
    say(`progress: ${line}`);
  }
}

// ---------------------------------------------------------------- the run
const percentile = (sorted, p) => sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
const micros = (ns) => `${fmt(Number(ns) / 1000, 1)} µs`;

async function main() {
  const { workers: n, jobs } = options;
  say(`sysv-ipc demo: ${n} worker processes, ${fmt(jobs)} jobs (each counts the primes in ${fmt(SPAN)} numbers)`);

  // 1. The kernel objects, all IPC_PRIVATE (no key to collide with), each
  //    registered for removal the moment it exists.
  const queue = own('msg', MessageQueue.create());
  const barrier = own('sem', Semaphore.create({ initialValue: n }));
  const mutex = own('sem', Mutex.create());
  const shm = own('shm', SharedMemory.create({ size: tableSize(n, jobs) }));
  const table = tableViews(shm.arrayBuffer, n, jobs);
  const primesLock = FastMutex.in(shm, LOCK_OFFSET); // a new segment is zeroed: unlocked
  const reports = own('shm', Channel.create()); // a channel is a segment too
  say(
    `ipc objects: msg ${queue.id} (jobs and control), sem ${barrier.id} (barrier = ${n}), sem ${mutex.id} (mutex), shm ${shm.id} (${fmt(shm.size)} bytes, with a FastMutex), shm ${reports.id} (channel for reports)`,
  );

  // 2. The workers get the identifiers; they open, never create.
  const ids = { queue: queue.id, barrier: barrier.id, mutex: mutex.id, shm: shm.id, reports: reports.id };
  for (let i = 0; i < n; i++) startWorker(i, ids);
  say(`workers: ${workers.map((w) => `w${w.index}=pid ${w.proc.pid}`).join(' ')}`);

  // 3. Queue every job, then one "no more jobs" per worker. send() waits
  //    (off the event loop) whenever the queue is full, while workers drain it.
  const feeding = (async () => {
    for (let j = 0; j < jobs; j++) await queue.send(int32Message(j), { type: MSG.JOB });
    for (let i = 0; i < n; i++) await queue.send(int32Message(-1), { type: MSG.JOB });
  })();
  feeding.catch(() => {}); // a removal while stopping ends it; stop() reports the cause

  // 4. The barrier opens when every worker has taken its unit.
  await barrier.waitForZero();
  const started = performance.now();
  phase = 'running';
  say(`barrier open: ${n} workers released together`);
  timer = setInterval(() => showProgress(table, started), tty ? 100 : 1000);

  // 5. The worker that finishes the last job says so on the queue.
  await queue.receive({ type: MSG.DONE });
  const jobSeconds = (performance.now() - started) / 1000;
  await feeding;
  clearInterval(timer);
  showProgress(table, started); // the final count

  // 6. Every worker, once out of jobs, hands its report over the channel.
  const reported = [];
  for (let i = 0; i < n; i++) reported.push(await reports.receiveValue());
  reported.sort((a, b) => a.worker - b.worker);
  say(`all ${fmt(jobs)} jobs done; measuring round trips`);

  // 7. Round-trip latency: ping worker 0 on its control channel, it answers on PONG.
  const warmup = 20;
  const rtt = [];
  const ping = int32Message(CONTROL.PING);
  const pingStart = performance.now();
  for (let i = 0; i < warmup + options.pings; i++) {
    const t0 = process.hrtime.bigint();
    await queue.send(ping, { type: MSG.CONTROL + 0 });
    await queue.receive({ type: MSG.PONG });
    if (i >= warmup) rtt.push(process.hrtime.bigint() - t0);
  }
  const pingSeconds = (performance.now() - pingStart) / 1000;
  rtt.sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));

  // 8. Check every slot of the shared table against a segmented sieve, and the
  //    counters (read with the mutex held, as they were written).
  let correct = 0;
  let total = 0;
  const wrong = [];
  for (let j = 0; j < jobs; j++) {
    const [lo, hi] = jobRange(j, SPAN);
    const expected = sievePrimes(lo, hi);
    total += expected;
    if (table.results[j] === expected && table.owner[j] > 0) correct++;
    else if (wrong.length < 5) wrong.push(`job ${j}: table has ${table.results[j]}, expected ${expected}`);
  }
  const counted = await mutex.withLock(() => ({ done: table.done[0], per: Array.from(table.perWorker) }));
  const perSum = counted.per.reduce((a, b) => a + b, 0);
  const primesSummed = await primesLock.withLock(() => table.primes[0]);
  const reportedJobs = reported.reduce((a, r) => a + r.jobs, 0);
  const reportedPrimes = reported.reduce((a, r) => a + r.primes, 0);

  // 9. Let the workers go, then remove everything.
  phase = 'finishing';
  for (let i = 0; i < n; i++) await queue.send(int32Message(CONTROL.QUIT), { type: MSG.CONTROL + i });
  await reapWorkers(5000);
  if (phase === 'stopping') return; // a worker failed meanwhile: stop() reports and exits
  primesLock.close(); // the lock's segment is the table's: removeAll() removes it
  removeAll();

  const jobMessages = jobs + n + 1; // jobs, "no more jobs" markers, DONE
  const ok =
    correct === jobs &&
    counted.done === jobs &&
    perSum === jobs &&
    primesSummed === total &&
    reportedJobs === jobs &&
    reportedPrimes === total;
  say('');
  say('Summary');
  say(
    `  jobs         ${fmt(jobs)} in ${jobSeconds.toFixed(2)} s (${fmt(jobs / jobSeconds)} jobs/s) by ${n} workers: ${counted.per.map((c, i) => `w${i} ${c}`).join(', ')}`,
  );
  say(
    `  messages     ${fmt(jobMessages)} through the queue while working (${fmt(jobMessages / jobSeconds)} msg/s, bound by the prime counting); ping-pong ${fmt((2 * (warmup + options.pings)) / pingSeconds)} msg/s`,
  );
  say(
    `  round trip   parent <-> worker 0 on the queue, ${fmt(rtt.length)} pings: median ${micros(percentile(rtt, 50))}, p99 ${micros(percentile(rtt, 99))}`,
  );
  say(`  counters     ${counted.done} jobs counted under the mutex, per-worker sum ${perSum}`);
  say(`  fast mutex   ${fmt(primesSummed)} primes summed under the FastMutex, one lock per job`);
  say(
    `  channel      ${reported.length} reports handed over the channel: ${reported.map((r) => `w${r.worker} ${r.jobs} jobs`).join(', ')}; ${fmt(reportedJobs)} jobs, ${fmt(reportedPrimes)} primes in all`,
  );
  say(
    `  verified     ${ok ? 'all' : 'NOT all'} ${fmt(correct)}/${fmt(jobs)} results in shared memory match a segmented sieve (${fmt(total)} primes below ${fmt(jobs * SPAN)})`,
  );
  for (const line of wrong) say(`               ${line}`);
  say(`  cleanup      removed ${removed.join(', ')}`);
  process.exitCode = ok ? 0 : 1;
}

main().catch((err) => stop(`error: ${err?.stack ?? err}`, 1));
