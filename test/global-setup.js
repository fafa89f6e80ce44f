'use strict';
// Records which System V objects exist before the suite, so that
// global-teardown can tell which ones the suite left behind.
const { snapshot } = require('./sysvipc-snapshot');

module.exports = async function globalSetup() {
  globalThis.__SYSV_IPC_BEFORE__ = snapshot();
};
