/*
 * A takeover of include/sysv-ipc/lock.h must not take a lock that a process
 * holds legitimately under a reused pid (issue 19, the review's sequence):
 * the word names a dead holder H, waiters A and B both judge H dead; A takes
 * over and releases; N, which has H's pid now, takes the lock legitimately
 * (the word reads as B saw it, holder_start is N's start); then B, preempted
 * between its judgement and its take, takes. B must lose: its takeover may
 * replace only the holder_start it judged.
 *
 * One process, deterministic: B is this process waiting in
 * sysv_ipc_lock_wait_full; its take callback plays A and N (with the
 * header's own functions) between B's judgement and B's take, then does
 * B's take as the header's default does, and a stop ends the wait after
 * that one attempt.
 *   lock-takeover dead     H is a reaped child (no such process): judged
 *                          dead at once; N is a fake self with H's pid.
 *   lock-takeover reused   H's pid is a live child's, holder_start another
 *                          start time: judged a reused pid after
 *                          SYSV_IPC_LOCK_STABLE_NS; N is that child.
 *   lock-takeover raced    as reused, but between B's judgement and its
 *                          take the word moves on (the WAITERS bit flips):
 *                          B's CAS of holder_start succeeds and its CAS of
 *                          the word fails. B must put holder_start back, or
 *                          the record (a live reused pid, holder_start 0)
 *                          reads as a holder stopped in its own window and
 *                          is waited for until that unrelated process exits.
 * Prints "kept" when B did not take and the record is N's (raced: the
 * record is as B judged it, WAITERS added), else what happened. The record
 * is this process's own memory: no kernel object.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include <sysv-ipc/lock.h>

#define STOPPED 9999 /* the stop's answer: B's one takeover attempt was made */

struct scenario {
  sysv_ipc_lock_self a, n;
  uint64_t judged; /* what B's take was told it judged */
  int attempts;
  int raced;        /* the "raced" mode */
  uint32_t moved_to; /* raced: the word B's take found instead of what it judged */
};

static sysv_ipc_lock record;

/* B's take, after B judged the holder dead: A and N run first. */
static int preempted_take(void* ctx, sysv_ipc_lock* l, uint32_t seen, uint64_t judged_start, uint32_t mine,
                          const sysv_ipc_lock_self* self) {
  struct scenario* s = (struct scenario*)ctx;
  if (seen == 0) return sysv_ipc_lock_take(l, 0, mine, self);
  s->attempts++;
  s->judged = judged_start;
  if (s->raced) {
    /* The word moves on, holder_start does not: another waiter's mark (or
     * its clearing), or a peer of an earlier header taking over. */
    s->moved_to = seen ^ SYSV_IPC_LOCK_WAITERS;
    __atomic_store_n(&l->word, s->moved_to, __ATOMIC_SEQ_CST);
    return sysv_ipc_lock_take_over(l, seen, judged_start, mine, self);
  }
  /* A judged H dead too, takes over, and releases. */
  if (!sysv_ipc_lock_take_over(l, seen, judged_start, s->a.pid | SYSV_IPC_LOCK_WAITERS, &s->a)) {
    fprintf(stderr, "A's takeover failed\n");
    exit(2);
  }
  if (sysv_ipc_lock_release(l, &s->a) != SYSV_IPC_LOCK_OK) {
    fprintf(stderr, "A's release failed\n");
    exit(2);
  }
  /* N, with H's pid, takes the free lock after a sleep (WAITERS kept): its word is what B saw. */
  if (!sysv_ipc_lock_take(l, 0, seen, &s->n)) {
    fprintf(stderr, "N's take failed\n");
    exit(2);
  }
  /* B's take, as sysv_ipc_lock_wait does it without a callback. */
  return sysv_ipc_lock_take_over(l, seen, judged_start, mine, self);
}

static int stop_after_attempt(void* arg) { return ((struct scenario*)arg)->attempts > 0 ? STOPPED : 0; }

static pid_t reaped_pid(void) {
  pid_t pid = fork();
  if (pid < 0) { perror("fork"); exit(2); }
  if (pid == 0) _exit(0);
  waitpid(pid, NULL, 0);
  return pid;
}

int main(int argc, char** argv) {
  struct scenario s;
  sysv_ipc_lock_self b;
  sysv_ipc_lock_wait_state st;
  pid_t child = 0;
  uint32_t h;
  uint64_t h_start;
  int r, ok;
  if (argc != 2 || (strcmp(argv[1], "dead") != 0 && strcmp(argv[1], "reused") != 0 && strcmp(argv[1], "raced") != 0)) {
    fprintf(stderr, "usage: lock-takeover dead|reused|raced\n");
    return 2;
  }
  alarm(60); /* a wait that never ends fails the test instead of hanging it */
  memset(&s, 0, sizeof s);
  memset(&st, 0, sizeof st);
  s.raced = strcmp(argv[1], "raced") == 0;
  if (sysv_ipc_lock_self_init(&b) != 0) { perror("self"); return 2; }
  s.a.pid = (uint32_t)reaped_pid(); /* any pid other than B's and N's */
  s.a.start = 1;
  if (strcmp(argv[1], "dead") == 0) {
    h = (uint32_t)reaped_pid();
    h_start = 5; /* H's start time: H is gone */
    s.n.pid = h; /* N reused H's pid */
    s.n.start = 7;
  } else {
    child = fork();
    if (child < 0) { perror("fork"); return 2; }
    if (child == 0) {
      pause();
      _exit(0);
    }
    h = (uint32_t)child;
    s.n.pid = h;
    if (sysv_ipc_process_lookup(child, &s.n.start) != 0) { perror("lookup"); kill(child, SIGKILL); return 2; }
    h_start = s.n.start + 1; /* the dead holder H that had this pid before N */
  }
  if (h > SYSV_IPC_LOCK_PID_MASK || s.a.pid > SYSV_IPC_LOCK_PID_MASK) { fprintf(stderr, "pid too large\n"); return 2; }
  record.word = h;
  record.holder_start = h_start;
  r = sysv_ipc_lock_wait_full(&record, &b, -1, 0, &st, preempted_take, &s, stop_after_attempt, &s);
  if (child > 0) {
    kill(child, SIGKILL);
    waitpid(child, NULL, 0);
  }
  if (s.raced)
    ok = r == STOPPED && s.attempts == 1 && s.judged == h_start && (record.word & SYSV_IPC_LOCK_PID_MASK) == h &&
         record.holder_start == h_start; /* B marks WAITERS again as it goes back to waiting */
  else
    ok = r == STOPPED && s.attempts == 1 && s.judged == h_start &&
         (record.word & SYSV_IPC_LOCK_PID_MASK) == s.n.pid && record.holder_start == s.n.start;
  if (ok) {
    printf("kept\n");
    return 0;
  }
  printf("result %d attempts %d judged %llu (H's %llu) word %#x holder_start %llu (N: pid %u start %llu, B: pid %u)\n",
         r, s.attempts, (unsigned long long)s.judged, (unsigned long long)h_start, record.word,
         (unsigned long long)record.holder_start, s.n.pid, (unsigned long long)s.n.start, b.pid);
  return 1;
}
