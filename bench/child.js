'use strict';
// The child-process side of the benchmarks: every case file doubles as the
// script its child processes run (`node bench/cases/x.js <role> args...`).
// A child prints exactly one JSON line on stdout, which the harness parses.
const path = require('path');
const { performance } = require('perf_hooks');

/** The package under test, as a user would load it (the built dist/). */
function pkg() {
  return require(path.join(__dirname, '..'));
}

/** Nanoseconds on a monotonic clock, as a double (no BigInt allocation per call). */
function nowNs() {
  return performance.now() * 1e6;
}

/** Median, p99 and mean of per-operation nanoseconds. */
function summarize(samples) {
  const sorted = Float64Array.from(samples).sort();
  const n = sorted.length;
  let sum = 0;
  for (let i = 0; i < n; i++) sum += sorted[i];
  return { n, median: sorted[n >> 1], p99: sorted[Math.min(n - 1, Math.floor(n * 0.99))], mean: sum / n };
}

function report(result) {
  process.stdout.write(JSON.stringify(result) + '\n');
}

/**
 * Runs `roles[argv[2]](...argv.slice(3))` when the file is the main module;
 * prints what it returns. An error exits 1 with the message on stderr.
 */
function roleMain(mod, roles) {
  if (require.main !== mod) return;
  const [role, ...args] = process.argv.slice(2);
  const fn = roles[role];
  if (!fn) {
    process.stderr.write(`unknown role ${role}\n`);
    process.exit(2);
  }
  Promise.resolve()
    .then(() => fn(...args))
    .then(
      (result) => {
        if (result !== undefined) report(result);
        process.exit(0);
      },
      (err) => {
        process.stderr.write(`${role}: ${err && err.stack ? err.stack : err}\n`);
        process.exit(1);
      },
    );
}

/** A payload of `size` bytes. */
function payload(size) {
  return Buffer.alloc(Number(size), 0x78);
}

module.exports = { pkg, nowNs, summarize, report, roleMain, payload };
