'use strict';
// `npm run test:gc` (node --expose-gc): a SharedMemory object that becomes
// garbage is detached by its finalizer (shm_nattch falls back to 0), but only
// once no view of it is reachable either, and the segment itself is never
// removed by the finalizer. Prints what it measured; exits 1 on failure.
const assert = require('node:assert/strict');
const { SharedMemory } = require('../..');
const { binding } = require('../../dist/binding');

if (typeof globalThis.gc !== 'function') {
  console.error('run with node --expose-gc');
  process.exit(2);
}

const attachments = (id) => binding.shmStat(id).attachments;
const tick = () => new Promise((resolve) => setImmediate(resolve));

// Collects until `predicate` holds; returns the number of gc() rounds it took.
async function collectUntil(predicate, what, rounds = 200) {
  for (let i = 1; i <= rounds; i++) {
    globalThis.gc();
    await tick();
    await new Promise((r) => setTimeout(r, 5));
    if (predicate()) return i;
  }
  throw new Error(`after ${rounds} gc rounds: ${what}`);
}

function attachMany(id, n) {
  for (let i = 0; i < n; i++) {
    const shm = SharedMemory.fromId(id, { readOnly: i % 4 === 3 });
    if (i % 4 === 0) shm.buffer[64 + i] = 1; // a Buffer view
    if (i % 4 === 1) Atomics.add(new Int32Array(shm.arrayBuffer), 0, 1); // a typed view + Atomics
    if (i % 4 === 2) shm.write('x', 8); // no view at all
    if (i % 4 === 3) shm.read(0, 4); // read-only
  }
}

// Not in main(): a suspended async function keeps its registers, and with
// them objects that are otherwise garbage.
function setUp(results) {
  const owner = SharedMemory.create({ size: 4096 });
  created.push(owner.id);
  attachMany(owner.id, 40);
  const kept = SharedMemory.fromId(owner.id).buffer; // a view kept alive past its SharedMemory object
  kept.write('kept', 100);
  results.attachedAtPeak = attachments(owner.id);
  assert.equal(results.attachedAtPeak, 42);
  return { id: owner.id, kept };
}

const created = [];
const RSS_GROWTH_LIMIT_MIB = 48;

async function main() {
  const results = {};
  let { id, kept } = setUp(results);
  // Everything but the kept view is garbage now.
  results.roundsToOne = await collectUntil(() => attachments(id) === 1, 'attachments did not fall to 1');
  results.afterGc = attachments(id);
  // The kept view still reads the segment: its mapping was not detached under it.
  assert.equal(kept.toString('utf8', 100, 104), 'kept');
  kept[200] = 7;
  kept = null;
  results.roundsToZero = await collectUntil(() => attachments(id) === 0, 'attachments did not fall to 0');
  results.afterViewDropped = attachments(id);
  results.liveNativeAttachments = binding.shmLiveAttachments();
  assert.equal(results.liveNativeAttachments, 0);

  // The finalizers never removed the segment, and the data survived.
  const check = SharedMemory.fromId(id);
  results.segmentStillExists = true;
  results.counterWord = new Int32Array(check.arrayBuffer)[0];
  assert.equal(check.buffer[200], 7);
  assert.equal(results.counterWord, 10); // the ten Atomics.add of attachMany
  check.remove();
  check.detach();

  // A churn of attach/drop cycles: nothing accumulates.
  const churn = SharedMemory.create({ size: 1 << 20 });
  const churnId = churn.id;
  created.push(churnId);
  churn.remove(); // goes away at the last detach
  const rssBefore = process.memoryUsage().rss;
  for (let round = 0; round < 20; round++) {
    for (let i = 0; i < 100; i++) SharedMemory.fromId(churnId).buffer.fill(i);
    globalThis.gc();
    await tick();
  }
  churn.detach();
  await collectUntil(() => {
    try {
      return attachments(churnId) === 0;
    } catch {
      return true; // removed: its last attachment is gone
    }
  }, 'churn attachments did not fall to 0');
  results.churnCycles = 2000;
  globalThis.gc();
  results.rssGrowthMiB = +((process.memoryUsage().rss - rssBefore) / 2 ** 20).toFixed(1);
  results.liveNativeAfterChurn = binding.shmLiveAttachments();
  assert.equal(results.liveNativeAfterChurn, 0);
  // 2000 attachments of a 1 MiB segment, each view filled: a mapping or a
  // native allocation kept per cycle would add up to hundreds of MiB (a
  // mapping alone ~2 GiB). Measured growth is about 0; the bound is generous.
  assert.ok(
    results.rssGrowthMiB < RSS_GROWTH_LIMIT_MIB,
    `RSS grew by ${results.rssGrowthMiB} MiB over 2000 attach/drop cycles (limit ${RSS_GROWTH_LIMIT_MIB} MiB)`,
  );

  console.log('test:gc ok', JSON.stringify(results));
}

main().catch((err) => {
  console.error('test:gc FAILED:', err.message);
  for (const id of created) {
    try {
      binding.shmRemove(id); // leave nothing behind, even on failure
    } catch {
      /* already gone */
    }
  }
  process.exit(1);
});
