'use strict';
// Fails the run if the suite left any of its own System V objects in the kernel.
//
// "Its own" are the objects the tests tracked (test/support/helpers.ts writes each to
// the ledger global-setup opened). Other programs' objects do not count, so
// the check is fatal everywhere, also on a machine where several suites run
// at once.
const fs = require('fs');
const path = require('path');
const { snapshot } = require('./sysvipc-snapshot');

module.exports = async function globalTeardown() {
  const ledger = process.env.SYSV_IPC_TEST_LEDGER;
  if (!ledger) throw new Error('global-teardown: no ledger (global-setup did not run)');
  const ours = new Set(fs.readFileSync(ledger, 'utf8').split('\n').filter(Boolean));
  fs.rmSync(path.dirname(ledger), { recursive: true, force: true });
  // Children may still be exiting: give the kernel a moment to see their removals.
  let leaked = [];
  for (let attempt = 0; attempt < 20; attempt++) {
    const now = snapshot();
    leaked = [...ours].filter((entry) => now.has(entry));
    if (leaked.length === 0) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(
    `The test suite left ${leaked.length} of its System V object(s) in the kernel (kind:id:key): ${leaked.join(', ')}`,
  );
};
