'use strict';
// The work each job does, and the parent's independent check of it.
//
// A job counts the primes in [lo, hi) by trial division: honest CPU work that
// takes a few milliseconds, so the workers have something real to share out.
// The parent verifies every result with a different algorithm (a segmented
// sieve), so a wrong slot in the shared table cannot agree with it by accident.

/** The number range of job `job`: [lo, hi). */
function jobRange(job, span) {
  return [job * span, (job + 1) * span];
}

/** Counts the primes in [lo, hi) by trial division (the workers' job). */
function countPrimes(lo, hi) {
  let count = 0;
  for (let n = Math.max(lo, 2); n < hi; n++) {
    if (n < 4) {
      count++;
      continue;
    }
    if ((n & 1) === 0) continue;
    let prime = true;
    for (let d = 3; d * d <= n; d += 2) {
      if (n % d === 0) {
        prime = false;
        break;
      }
    }
    if (prime) count++;
  }
  return count;
}

/** Counts the primes in [lo, hi) with a segmented sieve (the parent's check). */
function sievePrimes(lo, hi) {
  const root = Math.floor(Math.sqrt(hi)) + 1;
  const small = new Uint8Array(root + 1); // 1 = composite
  const base = [];
  for (let i = 2; i <= root; i++) {
    if (small[i]) continue;
    base.push(i);
    for (let j = i * i; j <= root; j += i) small[j] = 1;
  }
  const composite = new Uint8Array(hi - lo);
  for (const p of base) {
    const first = Math.max(p * p, Math.ceil(lo / p) * p);
    for (let m = first; m < hi; m += p) composite[m - lo] = 1;
  }
  let count = 0;
  for (let n = Math.max(lo, 2); n < hi; n++) if (!composite[n - lo]) count++;
  return count;
}

module.exports = { jobRange, countPrimes, sievePrimes };
