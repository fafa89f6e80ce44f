// examples/crash-safe-counter.mjs: a shared counter under a lock whose holder is SIGKILLed.
// `node crash-safe-counter.mjs` starts a process (itself, with the argument holder) that takes
// both locks, starts an update and is killed mid-way. Then:
// - the FastMutex's next locker is told `ownerDied` and repairs the half-done update;
// - the Mutex (a SEM_UNDO semaphore) was released by the kernel when the holder died.
// Then 3 processes (argument adder) add 1,000 each under each lock; it exits 0 when both
// counters are exact. Every object is private (IPC_PRIVATE): the children get the ids.
import { fork } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import { FastMutex, Mutex, SharedMemory } from 'sysv-ipc';

const ADDERS = 3;
const ADDS = 1000;

/** Bytes 0..15: the FastMutex. Then Int32 words: a counter, its "update in progress" flag and its last good value; a second counter for the Mutex. */
function open(shm) {
  const words = new Int32Array(shm.arrayBuffer, 16, 4);
  return { fast: FastMutex.in(shm, 0), words };
}
const [COUNT, DIRTY, GOOD, MUTEX_COUNT] = [0, 1, 2, 3];

const role = process.argv[2];
if (role === 'holder' || role === 'adder') {
  const shm = SharedMemory.fromId(Number(process.argv[3]));
  const mutex = Mutex.fromId(Number(process.argv[4]));
  const { fast, words } = open(shm);
  if (role === 'holder') {
    fast.lockSync();
    mutex.lockSync();
    words[DIRTY] = 1; // an update begins...
    words[COUNT] = -12345; // ...and is half done when the parent kills this process
    process.send('holding');
    setInterval(() => {}, 1000); // hold both locks until killed
  } else {
    for (let i = 0; i < ADDS; i++) {
      const held = fast.acquireSync({ timeout: 10_000 });
      try {
        words[DIRTY] = 1;
        words[COUNT] += 1;
        words[GOOD] = words[COUNT];
        words[DIRTY] = 0;
      } finally {
        held.release();
      }
      mutex.lockSync({ timeout: 10_000 });
      try {
        words[MUTEX_COUNT] += 1;
      } finally {
        mutex.unlock();
      }
    }
    shm.close();
    mutex.close();
  }
} else {
  const shm = SharedMemory.create({ size: 4096 });
  const mutex = Mutex.create();
  try {
    const { fast, words } = open(shm);
    const child = (role) => fork(fileURLToPath(import.meta.url), [role, String(shm.id), String(mutex.id)]);

    const holder = child('holder');
    await once(holder, 'message'); // it holds both locks, mid-update
    holder.kill('SIGKILL');
    await once(holder, 'exit');

    const held = await fast.acquire({ timeout: 10_000 }); // takes over from the dead holder (0.1-0.3 s)
    try {
      console.log('FastMutex: ownerDied =', held.ownerDied, ', update in progress =', words[DIRTY] === 1);
      if (held.ownerDied && words[DIRTY]) {
        words[COUNT] = words[GOOD]; // repair: back to the last good value
        words[DIRTY] = 0;
      }
    } finally {
      held.release();
    }
    await mutex.lock({ timeout: 10_000 }); // the kernel undid the dead holder's lock (SEM_UNDO)
    mutex.unlock();
    console.log('Mutex: free again after the holder died');

    const adders = Array.from({ length: ADDERS }, () => child('adder'));
    const codes = await Promise.all(adders.map(async (a) => (await once(a, 'exit'))[0]));
    console.log('counters:', words[COUNT], words[MUTEX_COUNT], `(expected ${ADDERS * ADDS} each)`);
    const exact = words[COUNT] === ADDERS * ADDS && words[MUTEX_COUNT] === ADDERS * ADDS;
    process.exitCode = exact && held.ownerDied && codes.every((code) => code === 0) ? 0 : 1;
  } finally {
    shm.remove();
    mutex.remove();
    shm.close();
    mutex.close();
  }
}
