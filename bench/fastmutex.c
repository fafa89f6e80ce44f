/* FastMutex reference: the lock record of include/sysv-ipc/lock.h, from C,
 * in a segment created by the harness (by id). What the JavaScript rows
 * would cost with no JavaScript at all.
 *
 *   fastmutex uncontended ID COUNT          try + release of the lock at byte 0, batch
 *   fastmutex hand-a ID WARMUP COUNT        three-lock handoff, the measured side (see cases/fast-mutex.js)
 *   fastmutex hand-b ID STEPS               three-lock handoff, the other side
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <string.h>
#include <sys/ipc.h>
#include <sys/shm.h>

#include "../include/sysv-ipc/lock.h"
#include "common.h"

/* The layout cases/fast-mutex.js uses: three locks 64 bytes apart, then two flags. */
#define LOCK_AT(base, i) ((sysv_ipc_lock *)((char *)(base) + 64 * (i)))
#define A_READY(base) ((volatile uint32_t *)((char *)(base) + 256))
#define B_READY(base) ((volatile uint32_t *)((char *)(base) + 260))

static sysv_ipc_lock_self self;

static void lock(void *base, int i) {
  int r = sysv_ipc_lock_acquire(LOCK_AT(base, i), &self, -1);
  if (r != 0 && r != SYSV_IPC_LOCK_OWNER_DIED) die("lock");
}
static void unlock(void *base, int i) {
  if (sysv_ipc_lock_release(LOCK_AT(base, i), &self) != 0) die("unlock");
}
static void until_set(volatile uint32_t *flag) {
  while (__atomic_load_n(flag, __ATOMIC_ACQUIRE) == 0) sched_yield();
}

int main(int argc, char **argv) {
  if (argc < 4) return fprintf(stderr, "usage: see fastmutex.c\n"), 2;
  const char *role = argv[1];
  void *base = shmat(atoi(argv[2]), NULL, 0);
  if (base == (void *)-1) die("shmat");
  if (sysv_ipc_lock_self_init(&self) != 0) die("self");
  if (strcmp(role, "uncontended") == 0) {
    long count = atol(argv[3]);
    sysv_ipc_lock *l = LOCK_AT(base, 0);
    for (long i = 0; i < count / 10; i++) {
      if (sysv_ipc_lock_try(l, &self) != 0) die("try");
      sysv_ipc_lock_release(l, &self);
    }
    int64_t t0 = now_ns();
    for (long i = 0; i < count; i++) {
      if (sysv_ipc_lock_try(l, &self) != 0) die("try");
      sysv_ipc_lock_release(l, &self);
    }
    report_batch(count, now_ns() - t0);
    return 0;
  }
  if (strcmp(role, "hand-a") == 0 && argc >= 5) {
    long warmup = atol(argv[3]), count = atol(argv[4]), total = warmup + count;
    int64_t *samples = malloc(sizeof *samples * (size_t)count);
    lock(base, 0);
    lock(base, 1);
    __atomic_store_n(A_READY(base), 1, __ATOMIC_RELEASE);
    until_set(B_READY(base));
    for (long k = 0; k < total; k++) {
      int64_t t0 = now_ns();
      unlock(base, (int)(k % 3));
      lock(base, (int)((k + 2) % 3));
      if (k >= warmup) samples[k - warmup] = now_ns() - t0;
    }
    report_latency(samples, count);
    return 0;
  }
  if (strcmp(role, "hand-b") == 0) {
    long steps = atol(argv[3]);
    until_set(A_READY(base));
    lock(base, 2);
    __atomic_store_n(B_READY(base), 1, __ATOMIC_RELEASE);
    lock(base, 0);
    for (long k = 0; k < steps; k++) {
      unlock(base, (int)((k + 2) % 3));
      if (k + 1 < steps) lock(base, (int)((k + 1) % 3));
    }
    return 0;
  }
  return fprintf(stderr, "fastmutex: bad role\n"), 2;
}
