#!/usr/bin/env node
'use strict';
// Run before `npm test`, `npm start` and `npm run bench` (their pre-scripts):
// on a fresh clone, where nothing is installed or built yet, it runs
// `npm install` (which builds the addon and the TypeScript through
// `prepare`); where only the compiled TypeScript is missing, it compiles it.
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
