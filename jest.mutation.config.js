'use strict';
// The jest configuration StrykerJS runs for each mutant (`npm run test:mutation`).
//
// It is the suite's own configuration with two differences. The tests load
// lib/ in-process (no mapping to dist/), because Stryker mutates lib/*.ts in
// its sandbox and a mutant must reach the test that should see it; their
// child processes still load dist/. And the tests that cannot see a mutant in
// lib/ are left out: the CLI, demo and packaging tests run dist/ (the compiled
// package) in child processes, and the native fuzz test drives the addon
// directly, so a mutated lib/*.ts never reaches them; running them for every
// mutant would only cost time on a shared machine.
//
// MUTATION_TESTS narrows it further, for scoring one file at a time on a shared
// machine: a comma-separated list of test file names (without directory), e.g.
//   MUTATION_TESTS=semaphore.test.ts,shared-memory-wait.test.ts \
//     nice -n 10 npx stryker run --mutate lib/waits.ts
// Stryker's dry run executes every test in the configuration once, and
// `coverageAnalysis: perTest` then runs only the tests that reach a mutant,
// so the list decides how long the dry run takes and which tests can kill.
const base = require('./jest.config');

const only = (process.env.MUTATION_TESTS || '')
  .split(',')
  .map((name) => name.trim())
  .filter(Boolean);

/** @type {import('jest').Config} */
module.exports = {
  ...base,
  moduleNameMapper: {},
  testPathIgnorePatterns: [
    '/node_modules/',
    '/test/admin/cli\\.test\\.ts$',
    '/test/package/demo\\.test\\.ts$',
    '/test/package/package\\.test\\.ts$',
    '/test/native/native-fuzz\\.test\\.ts$',
  ],
  ...(only.length > 0 ? { testMatch: only.map((name) => `**/test/**/${name}`) } : {}),
  // Stryker's instrumented sources carry `// @ts-nocheck`, and the TypeScript
  // checker already discards mutants that do not compile: no need to type-check again here.
  // Stryker's coverage instrumentation slows every test; give the cross-process ones more room.
  testTimeout: 120000,
  transform: { '^.+\\.ts$': ['ts-jest', { tsconfig: 'tsconfig.json', diagnostics: false }] },
};
