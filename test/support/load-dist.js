'use strict';
// The tests and the processes they start load one build: dist/, the compiled
// package, which is what npm ships, what the CLI, demo and tarball tests run
// and what every fixture child process requires (plain Node cannot load
// lib/*.ts). jest.config.js maps the tests' `../../lib` imports to dist/
// with MODULE_NAME_MAPPER; ts-jest still type-checks them against lib/.
//
// Loading dist/ means a stale dist/ would test old code: global-setup.js
// calls assertDistFresh() first, which fails the run when some lib/*.ts is
// newer than its compiled file, or when dist/ holds a module lib/ no longer
// has. `npm test` compiles first (compile:ts), so only a bare `npx jest`
// after an edit meets it.
const fs = require('fs');
const path = require('path');

const ROOT = path.join(__dirname, '..', '..');

/** `../lib`, `../../lib/binding`, …: the same path under dist/. */
const MODULE_NAME_MAPPER = { '^(?:\\.\\./)+lib(/.*)?$': '<rootDir>/dist$1' };

function walk(dir, ext) {
  if (!fs.existsSync(dir)) return [];
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) return walk(p, ext);
    return e.name.endsWith(ext) && !e.name.endsWith('.d.ts') ? [p] : [];
  });
}

function assertDistFresh(root = ROOT) {
  const lib = path.join(root, 'lib');
  const dist = path.join(root, 'dist');
  const problems = [];
  const sources = new Set();
  for (const ts of walk(lib, '.ts')) {
    const rel = path.relative(lib, ts).replace(/\.ts$/, '');
    sources.add(rel);
    const js = path.join(dist, `${rel}.js`);
    if (!fs.existsSync(js)) problems.push(`dist/${rel}.js is missing`);
    else if (fs.statSync(ts).mtimeMs > fs.statSync(js).mtimeMs)
      problems.push(`lib/${rel}.ts is newer than dist/${rel}.js`);
  }
  for (const js of walk(dist, '.js')) {
    const rel = path.relative(dist, js).replace(/\.js$/, '');
    if (!sources.has(rel)) problems.push(`dist/${rel}.js has no lib/${rel}.ts`);
  }
  if (problems.length > 0) {
    throw new Error(
      `dist/ is stale (${problems.slice(0, 3).join('; ')}${problems.length > 3 ? '; …' : ''}): ` +
        'the tests load the compiled package. Run `npm run compile:ts` (npm test does it first).',
    );
  }
}

module.exports = { MODULE_NAME_MAPPER, assertDistFresh };
