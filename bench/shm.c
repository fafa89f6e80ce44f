/* Shared memory reference.
 *
 *   shm memcpy BYTES REPS           memcpy between two private buffers; per-copy latency
 *   shm pong ID COUNT               futex ping-pong on words 0 (ping) and 1 (pong)
 *   shm ping ID WARMUP COUNT        of a segment created by the harness; per-trip latency
 *   shm spin-pong ID COUNT          the same ping-pong with no syscall at all: the hardware
 *   shm spin-ping ID WARMUP COUNT   floor (issue 25) that every shared-memory handoff is measured against
 *
 * The futex calls are the shared (not FUTEX_PRIVATE) forms, as they must be
 * on a mapping shared between processes. Like the package, a waiter sleeps
 * only while the word still holds the value it saw, and a notifier always
 * calls FUTEX_WAKE.
 */
#define _GNU_SOURCE
#include <linux/futex.h>
#include <sched.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/shm.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "common.h"

static void futex_wait(_Atomic int *word, int expected) {
  syscall(SYS_futex, word, FUTEX_WAIT, expected, NULL, NULL, 0);  // EAGAIN/EINTR: caller re-checks
}
static void futex_wake(_Atomic int *word) { syscall(SYS_futex, word, FUTEX_WAKE, 1, NULL, NULL, 0); }

/* Waits until *word == want. */
static void wait_for(_Atomic int *word, int want) {
  for (;;) {
    int v = atomic_load(word);
    if (v == want) return;
    futex_wait(word, v);
  }
}

/* The hardware floor: each side spins on plain loads of the other's word (a
 * cache line apart, so that the only traffic is the handoff itself), and
 * yields only while the peer last ran on this same CPU, where spinning would
 * starve it for a whole time slice. Each side publishes its CPU (sched_getcpu
 * is a vDSO call, no syscall) once per turn. */
struct floor_words {
  _Alignas(64) _Atomic int ping;
  _Alignas(64) _Atomic int pong;
  _Alignas(64) _Atomic int cpu[2];
};

static inline void cpu_relax(void) {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#elif defined(__aarch64__)
  __asm__ __volatile__("yield");
#endif
}

static void spin_for(struct floor_words *f, _Atomic int *word, int want, int me) {
  int mine = sched_getcpu();
  atomic_store_explicit(&f->cpu[me], mine, memory_order_relaxed);
  while (atomic_load_explicit(word, memory_order_acquire) != want) {
    if (atomic_load_explicit(&f->cpu[1 - me], memory_order_relaxed) == mine)
      sched_yield();
    else
      cpu_relax();
  }
}

int main(int argc, char **argv) {
  if (argc < 4) return fprintf(stderr, "usage: see shm.c\n"), 2;
  const char *role = argv[1];
  if (strcmp(role, "memcpy") == 0) {
    size_t bytes = strtoull(argv[2], NULL, 10);
    long reps = atol(argv[3]);
    char *a = malloc(bytes), *b = malloc(bytes);
    if (!a || !b) die("malloc");
    memset(a, 1, bytes);
    memset(b, 2, bytes);  // touch every page before timing
    int64_t *samples = malloc(sizeof *samples * (size_t)reps);
    for (long i = 0; i < reps + 1; i++) {
      int64_t t0 = now_ns();
      memcpy(b, a, bytes);
      __asm__ __volatile__("" ::"r"(b) : "memory");  // keep the copy
      if (i > 0) samples[i - 1] = now_ns() - t0;
    }
    report_latency(samples, reps);
    return 0;
  }
  int id = atoi(argv[2]);
  _Atomic int *w = shmat(id, NULL, 0);
  if (w == (void *)-1) die("shmat");
  if (strcmp(role, "pong") == 0) {
    long count = atol(argv[3]);
    for (int i = 1; i <= count; i++) {
      wait_for(&w[0], i);
      atomic_store(&w[1], i);
      futex_wake(&w[1]);
    }
    return 0;
  }
  if (strcmp(role, "ping") == 0 && argc >= 5) {
    long warmup = atol(argv[3]), count = atol(argv[4]);
    int64_t *samples = malloc(sizeof *samples * (size_t)count);
    for (int i = 1; i <= warmup + count; i++) {
      int64_t t0 = now_ns();
      atomic_store(&w[0], i);
      futex_wake(&w[0]);
      wait_for(&w[1], i);
      if (i > warmup) samples[i - 1 - warmup] = now_ns() - t0;
    }
    report_latency(samples, count);
    return 0;
  }
  struct floor_words *f = (struct floor_words *)w;  // the segment is 4096 bytes
  if (strcmp(role, "spin-pong") == 0) {
    long count = atol(argv[3]);
    atomic_store(&f->cpu[0], -1);
    for (int i = 1; i <= count; i++) {
      spin_for(f, &f->ping, i, 0);
      atomic_store_explicit(&f->pong, i, memory_order_release);
    }
    return 0;
  }
  if (strcmp(role, "spin-ping") == 0 && argc >= 5) {
    long warmup = atol(argv[3]), count = atol(argv[4]);
    int64_t *samples = malloc(sizeof *samples * (size_t)count);
    atomic_store(&f->cpu[1], -1);
    for (int i = 1; i <= warmup + count; i++) {
      int64_t t0 = now_ns();
      atomic_store_explicit(&f->ping, i, memory_order_release);
      spin_for(f, &f->pong, i, 1);
      if (i > warmup) samples[i - 1 - warmup] = now_ns() - t0;
    }
    report_latency(samples, count);
    return 0;
  }
  return fprintf(stderr, "shm: bad role\n"), 2;
}
