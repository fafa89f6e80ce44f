/*
 * Stress of include/sysv-ipc/lock.h from C, across processes:
 *   lock-stress count <procs> <iterations>   mutual exclusion: each process
 *       increments an unguarded counter under the lock; prints the total.
 *   lock-stress died                          a child takes the lock and is
 *       SIGKILLed while holding it; the parent must get it, told OWNER_DIED,
 *       within 1 s. Prints "owner-died <ms>".
 * Uses an IPC_PRIVATE segment that it removes at once (it lives until the
 * last detach), so nothing is left whatever happens.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ipc.h>
#include <sys/shm.h>
#include <sys/wait.h>

#include <sysv-ipc/lock.h>

struct shared {
  sysv_ipc_lock lock;
  volatile uint64_t counter;
  volatile int ready;
};

static struct shared* attach_private(void) {
  int id = shmget(IPC_PRIVATE, 4096, IPC_CREAT | 0600);
  if (id < 0) { perror("shmget"); exit(2); }
  void* p = shmat(id, NULL, 0);
  shmctl(id, IPC_RMID, NULL);
  if (p == (void*)-1) { perror("shmat"); exit(2); }
  return (struct shared*)p;
}

int main(int argc, char** argv) {
  struct shared* s = attach_private();
  if (argc >= 4 && strcmp(argv[1], "count") == 0) {
    int procs = atoi(argv[2]);
    long iterations = atol(argv[3]);
    for (int p = 0; p < procs; p++) {
      if (fork() == 0) {
        sysv_ipc_lock_self self;
        if (sysv_ipc_lock_self_init(&self) != 0) _exit(3);
        __atomic_add_fetch(&s->ready, 1, __ATOMIC_SEQ_CST);
        while (__atomic_load_n(&s->ready, __ATOMIC_SEQ_CST) < procs) sched_yield();
        for (long i = 0; i < iterations; i++) {
          int r = sysv_ipc_lock_acquire(&s->lock, &self, -1);
          if (r != 0) _exit(4);
          uint64_t v = s->counter; /* a plain read-modify-write: only the lock makes it exact */
          if ((i & 63) == 0) sched_yield();
          s->counter = v + 1;
          if (sysv_ipc_lock_release(&s->lock, &self) != 0) _exit(5);
        }
        _exit(0);
      }
    }
    int failed = 0, status;
    while (wait(&status) > 0) failed |= !WIFEXITED(status) || WEXITSTATUS(status) != 0;
    printf("%llu %s\n", (unsigned long long)s->counter, failed ? "child-failed" : "ok");
    return failed;
  }
  if (argc >= 2 && strcmp(argv[1], "died") == 0) {
    pid_t child = fork();
    if (child == 0) {
      sysv_ipc_lock_self self;
      sysv_ipc_lock_self_init(&self);
      if (sysv_ipc_lock_acquire(&s->lock, &self, -1) != 0) _exit(4);
      __atomic_store_n(&s->ready, 1, __ATOMIC_SEQ_CST);
      for (;;) pause();
    }
    while (__atomic_load_n(&s->ready, __ATOMIC_SEQ_CST) == 0) sched_yield();
    sysv_ipc_lock_self self;
    sysv_ipc_lock_self_init(&self);
    if (sysv_ipc_lock_try(&s->lock, &self) != SYSV_IPC_LOCK_BUSY) { puts("not-busy"); return 1; }
    kill(child, SIGKILL); /* not reaped: the holder is a zombie while we wait */
    int64_t t0 = sysv_ipc_lock_now_ns();
    int r = sysv_ipc_lock_acquire(&s->lock, &self, 5000000000LL);
    int64_t ms = (sysv_ipc_lock_now_ns() - t0) / 1000000;
    waitpid(child, NULL, 0);
    if (r != SYSV_IPC_LOCK_OWNER_DIED) { printf("result %d\n", r); return 1; }
    if (sysv_ipc_lock_release(&s->lock, &self) != 0) { puts("release-failed"); return 1; }
    printf("owner-died %lld\n", (long long)ms);
    return 0;
  }
  fprintf(stderr, "usage: lock-stress count <procs> <iterations> | died\n");
  return 2;
}
