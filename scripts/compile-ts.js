#!/usr/bin/env node
'use strict';
// `npm run compile:ts`: compiles lib/ into dist/ without a moment where dist/
// is gone or half-written. tsc writes into a fresh staging folder, which then
// replaces dist/ by two renames (so a deleted lib/ file leaves no stale .js
// behind, and a program running from dist/ meanwhile, e.g. another terminal's
// `sysv-ipc ls` or a test run, never finds it missing for the whole compile).
const { execFileSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');

const root = path.join(__dirname, '..');
const dist = path.join(root, 'dist');
const staging = path.join(root, `dist.staging-${process.pid}`);
const old = path.join(root, `dist.old-${process.pid}`);
const tsc = require.resolve('typescript/bin/tsc');

try {
  execFileSync(process.execPath, [tsc, '-p', 'tsconfig.build.json', '--outDir', staging], {
    cwd: root,
    stdio: 'inherit',
  });
} catch (err) {
  fs.rmSync(staging, { recursive: true, force: true });
  process.exit(typeof err.status === 'number' ? err.status : 1);
}
if (fs.existsSync(dist)) fs.renameSync(dist, old);
// tsc writes files without the executable bit; the package's bin (the
// `sysv-ipc` command) needs it to run from a checkout (`npx sysv-ipc ls`
// in the repository: "Permission denied"). npm sets it on install.
fs.chmodSync(path.join(staging, 'cli', 'index.js'), 0o755);
fs.renameSync(staging, dist);
fs.rmSync(old, { recursive: true, force: true });
