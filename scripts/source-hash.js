#!/usr/bin/env node
'use strict';
// Prints a short hash of the native sources (native/ and the C headers in
// include/, which the addon compiles in) and binding.gyp. It is compiled
// into the addon (constants.SOURCE_HASH) so a test can tell whether the
// committed prebuild was built from the sources in this checkout.
const crypto = require('node:crypto');
const fs = require('node:fs');
const path = require('node:path');

function sourceHash(root = path.join(__dirname, '..')) {
  const hash = crypto.createHash('sha256');
  const sources = [...listSources(root, 'native'), ...listSources(root, 'include')].sort();
  for (const f of [...sources, 'binding.gyp']) {
    hash.update(f);
    hash.update('\0');
    // Line endings and trailing spaces must not change the identity of a source.
    hash.update(fs.readFileSync(path.join(root, f), 'utf8').replace(/[ \t]*\r?\n/g, '\n'));
    hash.update('\0');
  }
  return hash.digest('hex').slice(0, 16);
}

/** The .cc/.h files below `dir` (relative to root), as relative paths with '/' separators. */
function listSources(root, dir) {
  if (!fs.existsSync(path.join(root, dir))) return [];
  const out = [];
  for (const entry of fs.readdirSync(path.join(root, dir), { withFileTypes: true })) {
    const rel = `${dir}/${entry.name}`;
    if (entry.isDirectory()) out.push(...listSources(root, rel));
    else if (/\.(cc|h)$/.test(entry.name)) out.push(rel);
  }
  return out;
}

if (require.main === module) process.stdout.write(sourceHash());
module.exports = { sourceHash };
