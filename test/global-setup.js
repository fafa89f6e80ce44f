'use strict';
// Opens the suite's ledger of kernel objects: test/helpers.ts writes every
// object a test tracks to it (one "kind:id:key" line), from every jest worker,
// and global-teardown checks that none of them is left in the kernel.
const fs = require('fs');
const os = require('os');
const path = require('path');

module.exports = async function globalSetup() {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sysv-ipc-ledger-'));
  const ledger = path.join(dir, 'objects');
  fs.writeFileSync(ledger, '');
  // Jest's workers inherit this environment.
  process.env.SYSV_IPC_TEST_LEDGER = ledger;
};
