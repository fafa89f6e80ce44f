'use strict';
// Quick shared memory figures (not a test; nothing here asserts on time):
//   node bench/shm-quick.js
// 1. write/read bandwidth through `buffer` on a 64 MiB segment, next to
//    Buffer.copy between two private buffers in the same run;
// 2. a wait/notify round trip between two processes (futex on the segment),
//    with the blocking waitSync on both sides and with the async wait.
const { fork } = require('node:child_process');
const { SharedMemory } = require('..');

const SIZE = 64 * 2 ** 20;
const PASSES = 20;

function bandwidth(label, fn) {
  fn(); // warm-up (first touch faults the pages in)
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < PASSES; i++) fn();
  const s = Number(process.hrtime.bigint() - t0) / 1e9;
  const gibs = (SIZE * PASSES) / 2 ** 30 / s;
  console.log(`${label.padEnd(44)} ${gibs.toFixed(2).padStart(7)} GiB/s`);
  return gibs;
}

function pingPongChild(id, mode, rounds) {
  const shm = SharedMemory.fromId(id);
  const w = new Int32Array(shm.arrayBuffer);
  process.send('ready');
  // Word 0 carries the turn: odd = the child's, even = the parent's.
  for (let r = 0; r < rounds; r++) {
    let v;
    while ((v = Atomics.load(w, 0)) % 2 === 0) shm.waitSync(0, v);
    Atomics.add(w, 0, 1);
    shm.notify(0);
  }
  shm.detach();
  process.exit(0);
}

async function roundTrip(mode, rounds) {
  const shm = SharedMemory.create({ size: 4096 });
  try {
    const w = new Int32Array(shm.arrayBuffer);
    const child = fork(__filename, ['child', String(shm.id), mode, String(rounds)]);
    await new Promise((resolve) => child.once('message', resolve));
    const t0 = process.hrtime.bigint();
    for (let r = 0; r < rounds; r++) {
      Atomics.add(w, 0, 1);
      shm.notify(0);
      let v;
      while ((v = Atomics.load(w, 0)) % 2 === 1) {
        if (mode === 'sync') shm.waitSync(0, v);
        else await shm.wait(0, v);
      }
    }
    const us = Number(process.hrtime.bigint() - t0) / 1e3 / rounds;
    await new Promise((resolve) => child.once('exit', resolve));
    console.log(
      `${`wait/notify round trip (${mode === 'sync' ? 'waitSync both sides' : 'parent async wait, child waitSync'})`.padEnd(58)} ${us.toFixed(1).padStart(6)} µs  (${rounds} rounds)`,
    );
  } finally {
    shm.remove();
    shm.detach();
  }
}

async function main() {
  console.log(`node ${process.version}, ${require('node:os').cpus().length} CPUs, 64 MiB, ${PASSES} passes each`);
  const shm = SharedMemory.create({ size: SIZE });
  try {
    const a = Buffer.alloc(SIZE, 1);
    const b = Buffer.alloc(SIZE, 2);
    const view = shm.buffer;
    bandwidth('Buffer.copy private → private (baseline)', () => a.copy(b));
    bandwidth('write: private.copy(shm.buffer)', () => a.copy(view));
    bandwidth('read:  shm.buffer.copy(private)', () => view.copy(b));
    bandwidth('write: shm.write(private) (native memmove)', () => shm.write(a));
    bandwidth('read:  shm.readInto(private)', () => shm.readInto(b));
  } finally {
    shm.remove();
    shm.detach();
  }
  await roundTrip('sync', 20000);
  await roundTrip('async', 5000);
}

if (process.argv[2] === 'child') {
  pingPongChild(Number(process.argv[3]), process.argv[4], Number(process.argv[5]));
} else {
  main().catch((err) => {
    console.error(err);
    process.exit(1);
  });
}
