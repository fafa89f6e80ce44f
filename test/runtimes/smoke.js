'use strict';
/* global Bun, Deno */
// Smoke test of the package on a runtime other than Node that loads Node-API
// addons (Bun, Deno: scripts/ci-runtimes.sh runs it). Plain script, no jest
// (neither runtime runs this suite's jest setup): each check prints one line,
// then "N passed, N failed". Cross-process checks start a peer with the same
// runtime: the command prefix is SYSV_IPC_RUNTIME_CHILD (a JSON array, for
// example ["/path/deno","run","-A","--unstable-detect-cjs"]), else execPath.
//
//   <runtime> test/runtimes/smoke.js              the checks
//   <runtime> test/runtimes/smoke.js child ...    a peer process (see CHILDREN)
//
// SYSV_IPC_EXPECT_SOURCE_HASH, when set, is the SOURCE_HASH the loaded addon
// must carry (so a stale or wrong binary is not what passed).
const { spawn } = require('node:child_process');
const path = require('node:path');

const ROOT = path.join(__dirname, '..', '..');
const ipc = require(ROOT);
const { binding } = require(path.join(ROOT, 'dist', 'binding'));
const { MessageQueue, Semaphore, SharedMemory, Channel, FastMutex } = ipc;

const LONG = 30_000; // a bound for waits that must end much sooner (the machine is shared)

const CHILDREN = {
  // Receives one message of type 1 and answers it upper-cased as type 2.
  async echo(msqid) {
    const queue = MessageQueue.fromId(Number(msqid));
    const { data } = await queue.receive({ type: 1, timeout: LONG });
    await queue.send(data.toString().toUpperCase(), { type: 2 });
    queue.close();
  },
};

function runChild(mode, ...args) {
  const prefix = JSON.parse(process.env.SYSV_IPC_RUNTIME_CHILD || '[]');
  const argv = prefix.length ? [...prefix, __filename] : [process.execPath, __filename];
  argv.push('child', mode, ...args.map(String));
  const child = spawn(argv[0], argv.slice(1), { stdio: ['ignore', 'inherit', 'inherit'] });
  return new Promise((resolve, reject) => {
    child.on('error', reject);
    child.on('exit', (code, signal) =>
      code === 0 ? resolve() : reject(new Error(`child ${mode} exited with ${code ?? signal}`)),
    );
  });
}

function assert(cond, what) {
  if (!cond) throw new Error(what);
}

const cleanups = [];
function track(obj) {
  cleanups.push(obj);
  return obj;
}

const CHECKS = [
  [
    'the addon loads (the expected SOURCE_HASH)',
    () => {
      const want = process.env.SYSV_IPC_EXPECT_SOURCE_HASH;
      assert(typeof binding.constants.SOURCE_HASH === 'string', 'binding.constants.SOURCE_HASH is missing');
      if (want)
        assert(
          binding.constants.SOURCE_HASH === want,
          `loaded SOURCE_HASH ${binding.constants.SOURCE_HASH}, expected ${want}`,
        );
    },
  ],
  [
    'MessageQueue: a round trip through another process (async receive)',
    async () => {
      const queue = track(MessageQueue.create());
      const peer = runChild('echo', queue.id);
      await queue.send('hello', { type: 1 });
      const { type, data } = await queue.receive({ type: 2, timeout: LONG });
      await peer;
      assert(type === 2 && data.toString() === 'HELLO', `got type ${type}, ${data}`);
    },
  ],
  [
    'MessageQueue: an aborted receive rejects with AbortError and takes nothing',
    async () => {
      const queue = track(MessageQueue.create());
      const ac = new AbortController();
      const pending = queue.receive({ signal: ac.signal });
      setTimeout(() => ac.abort(), 50);
      const err = await pending.then(
        () => null,
        (e) => e,
      );
      assert(err && err.name === 'AbortError', `rejected with ${err && (err.code || err.name)}`);
      await queue.send('after');
      assert(queue.tryReceive().data.toString() === 'after', 'the message after the abort was lost');
    },
  ],
  [
    'Semaphore: acquire, tryAcquire, release, a timed-out acquire',
    async () => {
      const sem = track(Semaphore.create({ initialValue: 1 }));
      await sem.acquire();
      assert(sem.tryAcquire() === false, 'tryAcquire on 0 succeeded');
      const err = await sem.acquire({ timeout: 50 }).then(
        () => null,
        (e) => e,
      );
      assert(err && err.code === 'ETIMEDOUT', `timed-out acquire gave ${err && err.code}`);
      sem.release();
      assert(sem.tryAcquire() !== false, 'release did not give the unit back');
    },
  ],
  [
    'SharedMemory: write, read through a second attachment, wait/notify',
    async () => {
      const shm = track(SharedMemory.create({ size: 4096 }));
      shm.write(Buffer.from('shared'), 8);
      const other = SharedMemory.fromId(shm.id);
      assert(Buffer.from(other.arrayBuffer, 8, 6).toString() === 'shared', 'the second attachment reads otherwise');
      const words = new Int32Array(other.arrayBuffer);
      const waited = shm.wait(0, 0, { timeout: LONG });
      setTimeout(() => {
        Atomics.store(words, 0, 1);
        other.notify(0);
      }, 50);
      const result = await waited;
      other.detach();
      assert(result === 'ok', `wait gave ${result}`);
    },
  ],
  [
    'Channel: send, receive, sendValue/receiveValue',
    async () => {
      const ch = track(Channel.create({ capacity: 64 * 1024 }));
      await ch.send('one');
      await ch.sendValue({ n: 2, at: new Date(0) });
      assert((await ch.receive({ timeout: LONG })).toString() === 'one', 'first message');
      const value = await ch.receiveValue({ timeout: LONG });
      assert(value.n === 2 && value.at instanceof Date, `value ${JSON.stringify(value)}`);
    },
  ],
  [
    'FastMutex: lock, tryLock while held, unlock, withLock',
    async () => {
      const mutex = track(FastMutex.create());
      const { ownerDied } = await mutex.lock({ timeout: LONG });
      assert(ownerDied === false && mutex.held, 'lock');
      assert(mutex.holder === process.pid, `holder ${mutex.holder}`);
      mutex.unlock();
      assert(!mutex.held && mutex.holder === 0, 'unlock');
      const got = await mutex.withLock(() => 42);
      assert(got === 42, `withLock gave ${got}`);
    },
  ],
];

async function main() {
  if (process.argv[2] === 'child') {
    await CHILDREN[process.argv[3]](...process.argv.slice(4));
    return;
  }
  const runtime =
    typeof Bun !== 'undefined'
      ? `Bun ${Bun.version}`
      : typeof Deno !== 'undefined'
        ? `Deno ${Deno.version.deno}`
        : `Node ${process.version}`;
  console.log(`runtime smoke on ${runtime}`);
  let passed = 0;
  let failed = 0;
  for (const [name, check] of CHECKS) {
    try {
      await check();
      passed++;
      console.log(`ok   ${name}`);
    } catch (err) {
      failed++;
      console.log(`FAIL ${name}: ${(err && err.stack) || err}`);
    } finally {
      for (const obj of cleanups.splice(0)) {
        try {
          obj.remove();
        } catch {
          // already removed
        }
        try {
          obj.close();
        } catch {
          // already closed
        }
      }
    }
  }
  console.log(`runtime smoke (${runtime}): ${passed} passed, ${failed} failed`);
  process.exitCode = failed ? 1 : 0;
}

main().catch((err) => {
  console.error(err);
  process.exitCode = 1;
});
