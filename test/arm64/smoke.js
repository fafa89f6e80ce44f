'use strict';
// Smoke test of the shipped linux-arm64 prebuild, run by an arm64 Node under
// qemu-user on an x64 machine (scripts/ci-arm64-smoke.sh). Plain Node, no
// jest: every child is another arm64 Node under qemu, started with the
// command prefix in SYSV_IPC_SMOKE_RUN (a JSON array, for example
// ["qemu-aarch64","-L","/usr/aarch64-linux-gnu"]).
//
//   node test/arm64/smoke.js              the checks, one line each, then "N passed, N failed"
//   node test/arm64/smoke.js child ...    a peer process (see CHILDREN)
//
// It needs PREBUILDS_ONLY=1 (so build/Release, built for this machine, is not
// what loads) and SYSV_IPC_EXPECT_ARCH / SYSV_IPC_EXPECT_SOURCE_HASH to say
// which binary must have loaded.
const { spawn } = require('node:child_process');
const path = require('node:path');

const ROOT = path.join(__dirname, '..', '..');
const ipc = require(ROOT);
const { binding } = require(path.join(ROOT, 'dist', 'binding'));
const { MessageQueue, Semaphore, SharedMemory, list } = ipc;

const LONG = 60_000; // a bound for waits that must end much sooner (qemu is slow, the machine shared)

// ---- children: each does one thing to the objects it is given, by id

const CHILDREN = {
  // Receives one message of type 1 and answers it upper-cased as type 2.
  async echo(msqid) {
    const queue = MessageQueue.fromId(Number(msqid));
    const { data } = await queue.receive({ type: 1, timeout: LONG });
    await queue.send(data.toString().toUpperCase(), { type: 2 });
    queue.close();
  },
  release(semid) {
    Semaphore.fromId(Number(semid)).release();
  },
  // Reads word 0, answers in word 1 with a notify, then waits for word 2.
  shm(shmid) {
    const shm = SharedMemory.fromId(Number(shmid));
    const words = new Int32Array(shm.arrayBuffer);
    Atomics.store(words, 1, Atomics.load(words, 0) + 1);
    shm.notify(1);
    const woken = shm.waitSync(2, 0, { timeout: LONG });
    process.stdout.write(JSON.stringify({ woken, word2: Atomics.load(words, 2) }));
    shm.detach();
  },
};

function runChild(mode, ...args) {
  const prefix = JSON.parse(process.env.SYSV_IPC_SMOKE_RUN || '[]');
  const argv = [...prefix, process.execPath, __filename, 'child', mode, ...args.map(String)];
  const child = spawn(argv[0], argv.slice(1), { stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  child.stdout.on('data', (d) => (out += d));
  const done = new Promise((resolve, reject) => {
    child.on('error', reject);
    child.on('exit', (code, signal) =>
      code === 0 ? resolve(out) : reject(new Error(`child ${mode} exited with ${code ?? signal}`)),
    );
  });
  return { child, done };
}

// ---- the checks

const created = []; // [kind, object] to remove whatever happens
const track = (kind, obj) => (created.push([kind, obj]), obj);

function assert(ok, what) {
  if (!ok) throw new Error(`expected ${what}`);
}
async function rejectsWith(promise, code, what) {
  try {
    await promise;
  } catch (err) {
    assert(err.code === code, `${what} to fail with ${code}, got ${err.code}: ${err.message}`);
    return err;
  }
  throw new Error(`expected ${what} to fail with ${code}, it succeeded`);
}
const aborted = (ms) => AbortSignal.timeout(ms);

const CHECKS = [
  [
    'loads the arm64 prebuild, built from these sources',
    () => {
      assert(
        process.arch === process.env.SYSV_IPC_EXPECT_ARCH,
        `process.arch ${process.env.SYSV_IPC_EXPECT_ARCH}, got ${process.arch}`,
      );
      const loaded = require('node-gyp-build').path(ROOT);
      assert(
        loaded.includes(`${path.sep}prebuilds${path.sep}linux-${process.arch}${path.sep}`),
        `the prebuild to load, got ${loaded}`,
      );
      const hash = binding.constants.SOURCE_HASH;
      assert(
        hash === process.env.SYSV_IPC_EXPECT_SOURCE_HASH,
        `SOURCE_HASH ${process.env.SYSV_IPC_EXPECT_SOURCE_HASH}, got ${hash}`,
      );
      assert(binding.constants.HAVE_SEMTIMEDOP && binding.constants.HAVE_FUTEX, 'semtimedop and futex');
    },
  ],

  [
    'message round trip between two processes',
    async () => {
      const queue = track('msg', MessageQueue.create());
      const { done } = runChild('echo', queue.id);
      await queue.send('hello from arm64', { type: 1 });
      const reply = await queue.receive({ type: 2, timeout: LONG });
      assert(reply.data.toString() === 'HELLO FROM ARM64', `the echo, got ${reply.data}`);
      await done;
      // IPC_STAT goes through qemu's translation of struct msqid_ds. Not
      // lastReceivePid: qemu 7.2 lays msg_lspid/msg_lrpid out as 8-byte fields
      // where arm64's are 4 bytes (asm-generic/msgbuf.h), so it reads 0 there.
      const info = queue.info();
      assert(
        info.messages === 0 && info.lastSendPid > 0 && info.lastSendPid !== process.pid,
        `info() to be right, got ${JSON.stringify(info)}`,
      );
    },
  ],

  [
    'semaphore: acquire times out, sync and async; a release from another process wakes a parked acquire',
    async () => {
      const sem = track('sem', Semaphore.create({ initialValue: 0 }));
      await rejectsWith(sem.acquire({ timeout: 200 }), 'ETIMEDOUT', 'acquire({ timeout: 200 })');
      let syncError;
      try {
        sem.acquireSync({ timeout: 200 });
      } catch (err) {
        syncError = err;
      }
      assert(
        syncError && syncError.code === 'ETIMEDOUT',
        `acquireSync to time out, got ${syncError && syncError.code}`,
      );
      const acquired = sem.acquire({ timeout: LONG }); // parked before the child exists
      await runChild('release', sem.id).done;
      await acquired;
      assert(sem.value === 0, 'the released unit to be taken');
      sem.release();
      assert(sem.tryAcquire() === true && sem.tryAcquire() === false, 'tryAcquire once');
    },
  ],

  [
    'shared memory: a view both processes see, futex wait/notify across them',
    async () => {
      const shm = track('shm', SharedMemory.create({ size: 4096 }));
      const words = new Int32Array(shm.arrayBuffer);
      Atomics.store(words, 0, 41);
      const answered = shm.wait(1, 0, { timeout: LONG }); // parked before the child exists
      const { done } = runChild('shm', shm.id);
      const result = await answered;
      assert(
        result === 'ok' && Atomics.load(words, 1) === 42,
        `to be woken with 42 in word 1, got ${result} ${words[1]}`,
      );
      Atomics.store(words, 2, 1);
      // The child may not be parked yet: it then sees 'not-equal'. Notify until it ends.
      const timer = setInterval(() => shm.notify(2), 50);
      const out = JSON.parse(await done.finally(() => clearInterval(timer)));
      assert(
        ['ok', 'not-equal'].includes(out.woken) && out.word2 === 1,
        `the child to see word 2 = 1, got ${JSON.stringify(out)}`,
      );
      assert(shm.waitSync(3, 0, { timeout: 100 }) === 'timed-out', 'waitSync to time out');
      assert(shm.read(0, 1)[0] === 41 && shm.buffer.readInt32LE(4) === 42, 'read() and buffer to see the words');
      const info = shm.info();
      assert(
        info.size === 4096 && info.attachments === 1 && info.creatorPid === process.pid,
        `info() to be right, got ${JSON.stringify(info)}`,
      );
    },
  ],

  [
    'an abort ends a parked wait at once, and the object works after it',
    async () => {
      const queue = track('msg', MessageQueue.create());
      const sem = track('sem', Semaphore.create({ initialValue: 0 }));
      const shm = track('shm', SharedMemory.create({ size: 64 }));
      const started = Date.now();
      const errors = await Promise.all([
        rejectsWith(queue.receive({ signal: aborted(300) }), 'ABORT_ERR', 'receive()'),
        rejectsWith(sem.acquire({ signal: aborted(300) }), 'ABORT_ERR', 'acquire()'),
        rejectsWith(shm.wait(0, 0, { signal: aborted(300) }), 'ABORT_ERR', 'wait()'),
      ]);
      assert(
        errors.every((e) => e.name === 'AbortError'),
        'AbortErrors',
      );
      assert(Date.now() - started < 20_000, 'the aborts to end the waits (within a generous bound)');
      queue.trySend('after');
      assert(queue.tryReceive().data.toString() === 'after', 'the queue to work after the abort');
      sem.release();
      await sem.acquire({ timeout: LONG });
    },
  ],

  [
    'nothing is left: every object removed, every attachment gone',
    () => {
      const ids = created.map(([kind, obj]) => [kind, obj.id]);
      for (const [kind, obj] of created.splice(0)) {
        obj.remove();
        if (kind === 'shm') obj.detach();
        else obj.close();
      }
      const left = ids.filter(([kind, id]) => list(kind).some((e) => e.id === id));
      assert(left.length === 0, `no object left, found ${JSON.stringify(left)}`);
      // The shipped prebuild has no test probes (binding.gyp, sysv_ipc_test_probes).
      assert(binding.shmLiveAttachments === undefined, 'the shipped prebuild carries no test probes');
    },
  ],
];

async function main() {
  let passed = 0;
  let failed = 0;
  for (const [name, check] of CHECKS) {
    const started = Date.now();
    try {
      await check();
      passed++;
      console.log(`ok - ${name} (${Date.now() - started} ms)`);
    } catch (err) {
      failed++;
      console.log(
        `not ok - ${name}\n  ${String(err && err.stack)
          .split('\n')
          .join('\n  ')}`,
      );
    }
  }
  for (const [, obj] of created) {
    try {
      obj.remove();
    } catch {
      /* already gone */
    }
  }
  console.log(`arm64 smoke (Node ${process.version} ${process.arch}): ${passed} passed, ${failed} failed`);
  process.exitCode = failed === 0 ? 0 : 1;
}

if (process.argv[2] === 'child') {
  Promise.resolve(CHILDREN[process.argv[3]](...process.argv.slice(4))).catch((err) => {
    console.error(err);
    process.exit(1);
  });
} else {
  main();
}
