#!/usr/bin/env node
'use strict';
// Issue 25's target, as a script (too heavy for the suite under load; the
// suite runs 2,000 waits over 200 channels: test/channel/channel-parker.test.ts):
// N pending async Channel receives spread over C channels, the threads they
// take (/proc/self/task), the CPU this process spends while they stay parked
// (process.cpuUsage, not wall clock: the machine may be shared), then one
// message per receive, every receive settled with a message of its own
// channel, every channel removed, and the threads back.
//
//   node scripts/parker-threads.js [channels=1000] [per-channel=10] [off]
// "off" runs the one-thread-per-wait path (test probe futexParker: needs the
// dev build, `npm run compile:native`).
const fs = require('node:fs');
const path = require('node:path');

const root = path.join(__dirname, '..');
const { Channel } = require(path.join(root, 'dist'));
const { binding } = require(path.join(root, 'dist', 'binding'));

const channels = Number(process.argv[2] ?? 1000);
const perChannel = Number(process.argv[3] ?? 10);
const off = process.argv[4] === 'off';
const threads = () => fs.readdirSync('/proc/self/task').length;
const cpuMs = (u) => (u.user + u.system) / 1000;
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function main() {
  if (off || typeof binding.futexParker === 'function') binding.futexParker(!off);
  const parker = typeof binding.futexParker === 'function' ? binding.futexParker() : 'unknown (no test probes)';
  const before = threads();
  const chans = [];
  try {
    for (let i = 0; i < channels; i++) chans.push(Channel.create({ capacity: 4096 }));
    const waits = [];
    for (const ch of chans) for (let j = 0; j < perChannel; j++) waits.push(ch.receive({ timeout: 300000 }));
    await sleep(1000); // every wait parked
    const parked = threads();
    const cpu0 = process.cpuUsage();
    await sleep(2000);
    const idleCpu = cpuMs(process.cpuUsage(cpu0));
    chans.forEach((ch, i) => {
      for (let j = 0; j < perChannel; j++) ch.sendSync(`${i}`);
    });
    const got = await Promise.all(waits);
    got.forEach((buf, k) => {
      if (buf.toString() !== String(Math.floor(k / perChannel))) throw new Error(`receive ${k} got ${buf}`);
    });
    for (const ch of chans.splice(0)) ch.remove();
    let after = threads();
    for (let i = 0; i < 50 && after > before; i++) {
      await sleep(100);
      after = threads();
    }
    console.log(
      JSON.stringify({
        parker,
        receives: waits.length,
        channels,
        threadsBefore: before,
        threadsParked: parked,
        cpuMsPer2sParked: Math.round(idleCpu),
        settled: got.length,
        threadsAfter: after,
      }),
    );
  } finally {
    for (const ch of chans) ch.remove();
  }
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
