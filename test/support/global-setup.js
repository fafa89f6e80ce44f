'use strict';
// Opens the suite's ledger of kernel objects: test/support/helpers.ts writes every
// object a test tracks to it (one "kind:id:key" line), from every jest worker,
// and global-teardown checks that none of them is left in the kernel.
const fs = require('fs');
const os = require('os');
const path = require('path');
const { assertDistFresh, MODULE_NAME_MAPPER } = require('./load-dist');

module.exports = async function globalSetup(_globalConfig, projectConfig) {
  // Only when the tests load dist/ (jest.mutation.config.js has them load lib/).
  const mapped = new Set(projectConfig.moduleNameMapper.map(([from]) => from));
  if (Object.keys(MODULE_NAME_MAPPER).every((from) => mapped.has(from))) assertDistFresh();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sysv-ipc-ledger-'));
  const ledger = path.join(dir, 'objects');
  fs.writeFileSync(ledger, '');
  // Jest's workers inherit this environment.
  process.env.SYSV_IPC_TEST_LEDGER = ledger;
};
