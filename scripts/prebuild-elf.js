#!/usr/bin/env node
'use strict';
// What a shipped binary asks of the machine that loads it, read with binutils'
// readelf (it reads every architecture's ELF: the arm64 binary too), without
// loading it (issue 21):
//   - glibc: the newest GLIBC_x.y symbol version it needs (.gnu.version_r);
//   - needed: its DT_NEEDED libraries (no libstdc++/libgcc_s: libc++ is linked in);
//   - exports: the dynamic symbols it defines (only Node-API's entry points:
//     scripts/prebuild-exports.map says why).
//
//   node scripts/prebuild-elf.js prebuilds/linux-arm64/sysv-ipc.glibc.node
//   → {"glibc":"2.18","needed":["libc.so.6",...],"exports":["napi_register_module_v1",...],...}
//   node scripts/prebuild-elf.js --check 2.28 <file>...   (exits 1 saying what is wrong)
const { execFileSync } = require('node:child_process');

// The only symbols a Node-API addon has to export (node_api.h).
const MODULE_ENTRY_POINTS = ['napi_register_module_v1', 'node_api_module_get_api_version_v1'];
// A C++ runtime that the loading machine would have to supply, at its version.
const CXX_RUNTIMES = /^(libstdc\+\+|libgcc_s|libc\+\+|libc\+\+abi|libunwind)\.so/;

function readelf(args, file) {
  // LC_ALL=C: readelf's headings are translated otherwise.
  return execFileSync('readelf', [...args, '-W', file], { encoding: 'utf8', env: { ...process.env, LC_ALL: 'C' } });
}

// "2.3.4" → [2, 3, 4], compared part by part.
function compareVersions(a, b) {
  const [x, y] = [a.split('.').map(Number), b.split('.').map(Number)];
  for (let i = 0; i < Math.max(x.length, y.length); i++) {
    if ((x[i] || 0) !== (y[i] || 0)) return (x[i] || 0) - (y[i] || 0);
  }
  return 0;
}

function elfRequirements(file) {
  const needed = [...readelf(['-d'], file).matchAll(/\(NEEDED\)\s+Shared library: \[([^\]]+)\]/g)].map((m) => m[1]);
  // Version needs: "Name: GLIBC_2.17  Flags: none  Version: 3" under each "File: libc.so.6".
  const versionNames = [...readelf(['-V'], file).matchAll(/Name: (\S+)\s+Flags:/g)].map((m) => m[1]);
  const glibcVersions = [
    ...new Set(versionNames.filter((n) => /^GLIBC_\d/.test(n)).map((n) => n.slice('GLIBC_'.length))),
  ];
  const glibc = glibcVersions.sort(compareVersions).at(-1) || null;
  const otherVersions = versionNames.filter((n) => !/^GLIBC_(\d|PRIVATE)/.test(n));
  // Dynamic symbols this file defines (Ndx is a section, not UND/ABS), global or weak.
  const exports = [];
  for (const line of readelf(['--dyn-syms'], file).split('\n')) {
    const m = /^\s*\d+:\s+[0-9a-f]+\s+\d+\s+(\w+)\s+(\w+)\s+(\w+)\s+(\S+)\s+(\S+)/.exec(line);
    if (!m) continue;
    const [, type, bind, , ndx, name] = m;
    if (ndx === 'UND' || ndx === 'ABS' || type === 'SECTION' || type === 'FILE') continue;
    if (bind !== 'GLOBAL' && bind !== 'WEAK' && bind !== 'UNIQUE') continue;
    exports.push(name.replace(/@.*$/, ''));
  }
  return { glibc, glibcVersions, otherVersions, needed, exports: [...new Set(exports)].sort() };
}

// What is wrong with a binary for a floor of `floor` (a glibc version), as sentences; [] if nothing.
function elfProblems(file, floor) {
  const r = elfRequirements(file);
  const problems = [];
  if (r.glibc && compareVersions(r.glibc, floor) > 0) {
    const over = r.glibcVersions.filter((v) => compareVersions(v, floor) > 0);
    problems.push(
      `needs glibc ${r.glibc} (symbol versions ${over.map((v) => 'GLIBC_' + v).join(', ')}), above the floor ${floor}`,
    );
  }
  const runtimes = r.needed.filter((n) => CXX_RUNTIMES.test(n));
  if (runtimes.length) problems.push(`depends on ${runtimes.join(', ')} (the C++ runtime must be linked in)`);
  if (r.otherVersions.length) problems.push(`needs symbol versions ${r.otherVersions.join(', ')} (not glibc's)`);
  const extra = r.exports.filter((n) => !MODULE_ENTRY_POINTS.includes(n));
  if (extra.length) {
    const shown = extra.slice(0, 5).join(', ') + (extra.length > 5 ? `, … (${extra.length} in all)` : '');
    problems.push(`exports ${shown} besides the module entry points`);
  }
  if (!r.exports.includes('napi_register_module_v1')) problems.push('does not export napi_register_module_v1');
  return problems;
}

if (require.main === module) {
  const args = process.argv.slice(2);
  if (args[0] === '--check') {
    const floor = args[1];
    let bad = false;
    for (const file of args.slice(2)) {
      for (const problem of elfProblems(file, floor)) {
        console.error(`prebuild-elf: ${file} ${problem}`);
        bad = true;
      }
    }
    process.exit(bad ? 1 : 0);
  }
  process.stdout.write(JSON.stringify(elfRequirements(args[0])) + '\n');
}
module.exports = { elfRequirements, elfProblems, compareVersions, MODULE_ENTRY_POINTS };
