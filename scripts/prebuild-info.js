#!/usr/bin/env node
'use strict';
// What a prebuilt addon is, read from its bytes rather than by loading it (a
// binary for another architecture cannot be loaded here): the ELF machine it
// was compiled for, and the SYSV_IPC_SOURCE_HASH string compiled into it
// (scripts/source-hash.js).
//
//   node scripts/prebuild-info.js prebuilds/linux-arm64/sysv-ipc.glibc.node
//   → {"arch":"arm64","sourceHashes":["8fe74a61bbdfc7e5"]}
const fs = require('node:fs');

// e_machine values (elf(5)) of the architectures prebuildify names.
const ELF_MACHINES = { 3: 'ia32', 40: 'arm', 62: 'x64', 183: 'arm64', 243: 'riscv64' };

function prebuildInfo(file) {
  const bytes = fs.readFileSync(file);
  if (bytes.length < 20 || bytes.readUInt32BE(0) !== 0x7f454c46) return { arch: null, sourceHashes: [] };
  const littleEndian = bytes[5] === 1;
  const machine = littleEndian ? bytes.readUInt16LE(18) : bytes.readUInt16BE(18);
  // The hash is a NUL-terminated 16-hex-digit string literal in .rodata. Other
  // strings of that shape are unlikely, but all are reported: the caller looks
  // for the one it expects.
  const sourceHashes = [...new Set(bytes.toString('latin1').match(/(?<=\0)[0-9a-f]{16}(?=\0)/g) || [])];
  return { arch: ELF_MACHINES[machine] || `elf-machine-${machine}`, sourceHashes };
}

if (require.main === module) {
  process.stdout.write(JSON.stringify(prebuildInfo(process.argv[2])) + '\n');
}
module.exports = { prebuildInfo };
