'use strict';
// Fails the run if the suite left System V objects in the kernel.
//
// Another program on the host may create objects while the suite runs; under
// CI nothing else does, so there a leftover is a failure. Elsewhere (a shared
// developer machine) it is reported, and SYSV_IPC_STRICT_LEAKS=1 makes it fatal.
const { snapshot } = require('./sysvipc-snapshot');

module.exports = async function globalTeardown() {
  const before = globalThis.__SYSV_IPC_BEFORE__ || new Set();
  // Children may still be exiting: give the kernel a moment to see their removals.
  let leaked = [];
  for (let attempt = 0; attempt < 20; attempt++) {
    leaked = [...snapshot()].filter((entry) => !before.has(entry));
    if (leaked.length === 0) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  const message = `The test suite left ${leaked.length} System V object(s) in the kernel (kind:id:key): ${leaked.join(', ')}`;
  if (process.env.CI || process.env.SYSV_IPC_STRICT_LEAKS === '1') throw new Error(message);
  console.warn(`warning: ${message} (another program may have created them; set SYSV_IPC_STRICT_LEAKS=1 to fail)`);
};
