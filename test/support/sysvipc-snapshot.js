'use strict';
// Reads the kernel's table of System V objects straight from /proc/sysvipc,
// independent of the package under test, so the leak check cannot be fooled
// by a bug in the package's own listing code.
const fs = require('fs');

const KINDS = ['msg', 'sem', 'shm'];

/** @returns {Set<string>} one "kind:id:key" entry per object the kernel holds */
function snapshot() {
  const out = new Set();
  for (const kind of KINDS) {
    let text;
    try {
      text = fs.readFileSync(`/proc/sysvipc/${kind}`, 'utf8');
    } catch {
      continue; // not Linux: nothing to compare
    }
    for (const line of text.split('\n').slice(1)) {
      const f = line.trim().split(/\s+/);
      if (f.length < 2) continue;
      out.add(`${kind}:${f[1]}:${f[0]}`);
    }
  }
  return out;
}

module.exports = { snapshot };
