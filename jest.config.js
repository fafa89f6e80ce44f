'use strict';
const { MODULE_NAME_MAPPER } = require('./test/support/load-dist');

/** @type {import('jest').Config} */
module.exports = {
  testEnvironment: 'node',
  // test/<area>/*.test.ts; test/support/ holds the shared plumbing, test/fixtures/ the child processes' scripts.
  roots: ['<rootDir>/test'],
  testMatch: ['**/*.test.ts'],
  transform: { '^.+\\.ts$': ['ts-jest', { tsconfig: 'tsconfig.json', diagnostics: { warnOnly: false } }] },
  // Tests load dist/ like their child processes do (test/support/load-dist.js says why).
  moduleNameMapper: MODULE_NAME_MAPPER,
  globalSetup: '<rootDir>/test/support/global-setup.js',
  globalTeardown: '<rootDir>/test/support/global-teardown.js',
  // Cross-process tests fork children and wait on the kernel: give them room on a busy 2-core machine.
  testTimeout: 30000,
  maxWorkers: 2,
};
