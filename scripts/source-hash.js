#!/usr/bin/env node
'use strict';
// Prints a short hash of the native sources and binding.gyp. It is compiled
// into the addon (constants.SOURCE_HASH) so a test can tell whether the
// committed prebuild was built from the sources in this checkout.
const crypto = require('node:crypto');
const fs = require('node:fs');
const path = require('node:path');

function sourceHash(root = path.join(__dirname, '..')) {
  const hash = crypto.createHash('sha256');
  const dir = path.join(root, 'native');
  const files = fs.readdirSync(dir).filter((f) => /\.(cc|h)$/.test(f)).sort();
  for (const f of [...files.map((f) => path.join('native', f)), 'binding.gyp']) {
    hash.update(f);
    hash.update('\0');
    // Line endings and trailing spaces must not change the identity of a source.
    hash.update(fs.readFileSync(path.join(root, f), 'utf8').replace(/[ \t]*\r?\n/g, '\n'));
    hash.update('\0');
  }
  return hash.digest('hex').slice(0, 16);
}

if (require.main === module) process.stdout.write(sourceHash());
module.exports = { sourceHash };
