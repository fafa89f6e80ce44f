/* Shared by the C reference programs: a monotonic clock and the one-line
 * JSON report the harness (bench/run.js) parses from stdout. */
#ifndef BENCH_COMMON_H
#define BENCH_COMMON_H
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static inline int64_t now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static inline int cmp_i64(const void *a, const void *b) {
  int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
  return x < y ? -1 : x > y;
}

/* Per-operation latencies: median, p99 and mean in nanoseconds. */
static inline void report_latency(int64_t *samples, long n) {
  double sum = 0;
  for (long i = 0; i < n; i++) sum += (double)samples[i];
  qsort(samples, (size_t)n, sizeof *samples, cmp_i64);
  long p99 = (long)(n * 0.99);
  if (p99 >= n) p99 = n - 1;
  printf("{\"n\":%ld,\"median\":%lld,\"p99\":%lld,\"mean\":%.1f}\n", n, (long long)samples[n / 2],
         (long long)samples[p99], sum / n);
}

/* A batch: n operations (or bytes) in ns nanoseconds. */
static inline void report_batch(long n, int64_t ns) { printf("{\"n\":%ld,\"ns\":%lld}\n", n, (long long)ns); }

static inline void die(const char *what) {
  perror(what);
  exit(1);
}
#endif
