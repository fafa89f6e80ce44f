'use strict';
// What the package adds to the syscalls, measured in one process (no
// context switches, so only the call path shows): each loop in C, through
// the raw binding, and through the classes. Not a test: figures vary with
// the machine's load; compare the columns of one run.
// Usage: node bench/call-overhead.js [iterations=1000000]
const { execFileSync } = require('node:child_process');
const path = require('node:path');
const { MessageQueue, Semaphore } = require('..');
const { binding } = require('../dist/binding');
const { compileC } = require('./harness');

const n = Number(process.argv[2] || 1000000);
const noC = compileC();
const c = noC
  ? null
  : JSON.parse(execFileSync(path.join(__dirname, 'bin', 'overhead'), [String(n)], { encoding: 'utf8' }));
if (noC) console.error(`C rows skipped: ${noC}`);

function time(fn) {
  for (let i = 0; i < Math.min(n, 100000); i++) fn(); // warm-up: let V8 optimize the loop
  const start = process.hrtime.bigint();
  for (let i = 0; i < n; i++) fn();
  return Number(process.hrtime.bigint() - start) / n;
}

const queue = MessageQueue.create();
const empty = MessageQueue.create();
const sem = Semaphore.create();
const body = Buffer.alloc(64);
const area = new ArrayBuffer(binding.constants.MSG_HEADER_SIZE + 64);
const { IPC_NOWAIT } = binding.constants;
// [id, type, flags, wait], [id, maxSize, type, flags, wait], [id, index, delta, flags, wait]
const sendArgs = Float64Array.of(0, 1, 0, -1);
const receiveArgs = Float64Array.of(0, 64, 0, 0, -1);
const emptyArgs = Float64Array.of(empty.id, 64, 0, IPC_NOWAIT, 0);
const up = Float64Array.of(0, 0, 1, IPC_NOWAIT, 0);
const down = Float64Array.of(0, 0, -1, IPC_NOWAIT, 0);
const rows = [];
try {
  rows.push([
    'msgsnd + msgrcv, 64 B',
    c?.sendReceive,
    time(() => {
      // The binding takes its numbers as float64s in an ArrayBuffer (lib/call-args.ts).
      sendArgs[0] = queue.id;
      binding.msgsnd(sendArgs.buffer, body);
      receiveArgs[0] = queue.id;
      binding.msgrcv(receiveArgs.buffer, area);
    }),
    time(() => {
      queue.sendSync(body);
      queue.receiveSync();
    }),
  ]);
  rows.push([
    'msgrcv on an empty queue',
    c?.receiveEmpty,
    time(() => binding.msgrcv(emptyArgs.buffer, area)),
    time(() => empty.tryReceive()),
  ]);
  rows.push([
    'semop release + try-acquire',
    c?.releaseAcquire,
    time(() => {
      // semopOne takes its numbers in an ArrayBuffer of float64s (lib/call-args.ts).
      up[0] = sem.id;
      binding.semopOne(up.buffer);
      down[0] = sem.id;
      binding.semopOne(down.buffer);
    }),
    time(() => {
      sem.release();
      sem.tryAcquire();
    }),
  ]);
} finally {
  queue.remove();
  empty.remove();
  sem.remove();
}

const f = (ns) => (ns === undefined ? '–' : `${ns.toFixed(0)} ns`);
const r = (ns, base) => (base === undefined ? '' : ` (${(ns / base).toFixed(2)}×)`);
console.log(`| loop (${n.toLocaleString('en')} iterations, one process) | C | raw binding | classes |`);
console.log('| --- | --- | --- | --- |');
for (const [name, cNs, raw, cls] of rows)
  console.log(`| ${name} | ${f(cNs)} | ${f(raw)}${r(raw, cNs)} | ${f(cls)}${r(cls, cNs)} |`);
