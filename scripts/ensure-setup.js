#!/usr/bin/env node
'use strict';
// Run before `npm test`, `npm start` and `npm run bench` (their pre-scripts):
// on a fresh clone, where nothing is installed or built yet, it runs
// `npm install` (which builds the addon and the TypeScript through
// `prepare`); where only the compiled TypeScript is missing, it compiles it.
// Before `npm test`, an addon built as `prepare` builds it (the shipped form,
// without test probes) is rebuilt with them (`npm run compile:native`): the
// suite's probe tests need them (test/support/helpers.ts, probes).
// On a set-up checkout it does nothing and costs a few file checks.
const { execFileSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');

const root = path.join(__dirname, '..');
const has = (rel) => fs.existsSync(path.join(root, rel));
const npm = process.env.npm_execpath ? [process.execPath, [process.env.npm_execpath]] : ['npm', []];

function run(args, why) {
  process.stderr.write(`sysv-ipc: ${why}: npm ${args.join(' ')}\n`);
  execFileSync(npm[0], [...npm[1], ...args], { cwd: root, stdio: 'inherit' });
}

if (!has('node_modules/typescript') || !has('node_modules/jest') || !has('node_modules/node-addon-api')) {
  run(
    ['install'],
    'this checkout has no dependencies installed yet; installing them (builds the addon and the TypeScript)',
  );
} else if (!has('dist/index.js')) {
  run(['run', 'compile:ts'], 'the TypeScript is not compiled yet');
}

// node-gyp records the build's variables in build/config.gypi.
function builtWithProbes() {
  try {
    return /"sysv_ipc_test_probes":\s*"true"/.test(fs.readFileSync(path.join(root, 'build', 'config.gypi'), 'utf8'));
  } catch {
    return false;
  }
}

if (process.env.npm_lifecycle_event === 'pretest' && process.env.PREBUILDS_ONLY !== '1' && !builtWithProbes()) {
  run(
    ['run', 'compile:native'],
    'the addon was built without the test probes (the shipped form); the suite needs them',
  );
}
