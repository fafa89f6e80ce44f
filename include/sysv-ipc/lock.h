/*
 * sysv-ipc robust lock: a cross-process lock in shared memory that costs one
 * compare-and-swap when uncontended, sleeps on a shared futex under
 * contention, and passes to the next locker when its holder dies.
 * Header-only, C99 and C++ (GCC/Clang __atomic builtins); Linux only.
 * FastMutex is this lock; Channel serialises its producers and its
 * consumers with it. C programs that include this header are peers.
 *
 * Layout (16 bytes, 8-byte aligned, little or big endian as the host):
 *
 *   offset 0  u32 word          0 = free; else holder pid (bits 0..21)
 *                               | WAITERS (bit 31: someone may sleep on it)
 *   offset 4  u32 reserved      0
 *   offset 8  u64 holder_start  the holder's start time (liveness.h), written
 *                               by the holder right after it takes the lock,
 *                               and set to 0 by the holder right before it
 *                               releases it: 0 under a held word means "the
 *                               holder has not written it yet"
 *
 * Bits 22..30 of the word are always 0 (Linux pids are below 2^22,
 * PID_MAX_LIMIT); a word with any of them set, or WAITERS without a pid, is
 * corrupt. A zeroed record is a free lock, so a fresh segment needs no
 * initialisation.
 *
 * Protocol:
 * - take:    CAS word 0 -> pid (-> pid|WAITERS after having slept, since
 *            others may still sleep), then store holder_start.
 * - release: only the holder: store holder_start 0, then exchange word -> 0;
 *            if the old value had WAITERS, FUTEX_WAKE one sleeper.
 * - sleep:   set WAITERS on the current value (CAS), then FUTEX_WAIT on the
 *            word expecting that value, in slices of at most
 *            SYSV_IPC_LOCK_CHECK_NS so a dead holder is noticed in time.
 * - a dead holder: a waiter that finds the holder's pid gone or a zombie
 *            takes the lock with a CAS from the value it saw and is told
 *            (SYSV_IPC_LOCK_OWNER_DIED), so it can repair what the lock
 *            guards. A taker-over sets holder_start to 0 (CAS from the value
 *            it judged, not one read again: sysv_ipc_lock_take_over) before
 *            its CAS of the word, as a taker of a free lock finds it, and
 *            puts the judged value back if the word moved on meanwhile.
 * - a live pid, holder_start 0: the holder between its CAS and its store,
 *            which a stop (SIGSTOP, a cgroup freezer, a VM pause) can make
 *            last any time: alive, unless that process started after the
 *            waiter first saw the pid in the word (CLOCK_BOOTTIME against
 *            /proc/<pid>/stat's start time, both in clock ticks since boot),
 *            when it is a newcomer that reused the pid of a holder that died
 *            in that window.
 * - a live pid, another nonzero start time than holder_start: a reused pid
 *            (holder dead), or a peer built against an earlier version of
 *            this header (which left the last holder's start time in place
 *            and so looks the same between its CAS and its store): it counts
 *            as dead only when word and holder_start stay unchanged for
 *            SYSV_IPC_LOCK_STABLE_NS.
 * - /proc cannot tell (liveness.h: EMFILE, hidepid=2, ...): alive.
 *
 * Limits: a holder that died between its CAS and its store, whose pid a
 * process that started before the waiter looked took since, is waited for
 * until that process exits. A peer of an earlier version stopped between its
 * CAS and its store for longer than SYSV_IPC_LOCK_STABLE_NS is taken over.
 *
 * Ownership is per process (pid), as for SEM_UNDO semaphores: any thread of
 * the holder's process may release it. A lock is not recursive.
 */
#ifndef SYSV_IPC_LOCK_H
#define SYSV_IPC_LOCK_H

#include <errno.h>
#include <limits.h>
#include <linux/futex.h>
#include <sched.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "liveness.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct sysv_ipc_lock {
  uint32_t word;
  uint32_t reserved;
  uint64_t holder_start;
} sysv_ipc_lock;

#define SYSV_IPC_LOCK_SIZE 16u
#define SYSV_IPC_LOCK_PID_MASK 0x003FFFFFu
#define SYSV_IPC_LOCK_WAITERS 0x80000000u
#define SYSV_IPC_LOCK_RESERVED_BITS 0x7FC00000u

/* Results (0 or a positive errno value). */
#define SYSV_IPC_LOCK_OK 0
#define SYSV_IPC_LOCK_OWNER_DIED EOWNERDEAD /* taken from a dead holder */
#define SYSV_IPC_LOCK_BUSY EBUSY            /* try: held by another */
#define SYSV_IPC_LOCK_CORRUPT EUCLEAN       /* the record holds impossible values */
#define SYSV_IPC_LOCK_NOT_HELD EPERM        /* release by a process that does not hold it */
#define SYSV_IPC_LOCK_ARMED EINPROGRESS     /* arm: held by another; sleep on the word (see sysv_ipc_lock_arm) */

/* How long a sleeper sleeps before it looks at the holder's liveness again (100 ms). */
#define SYSV_IPC_LOCK_CHECK_NS 100000000LL
/* How long a live pid with another start time must stay unchanged to count as a reused pid (200 ms). */
#define SYSV_IPC_LOCK_STABLE_NS 200000000LL

/* Who is locking: this process's pid and start time (liveness.h). */
typedef struct sysv_ipc_lock_self {
  uint32_t pid;
  uint64_t start;
} sysv_ipc_lock_self;

/* State a waiter keeps across calls to sysv_ipc_lock_wait (zero it before the first). */
typedef struct sysv_ipc_lock_wait_state {
  int slept;             /* took part in the WAITERS protocol: take with WAITERS set */
  uint32_t suspect_word; /* a live pid with another start time, first seen ... */
  uint64_t suspect_start;
  int64_t suspect_since_ns; /* ... at this time; 0 = no suspicion */
  int64_t next_check_ns;    /* when to look at the holder's liveness next */
  uint32_t window_pid;      /* a holder pid seen with holder_start 0, first ... */
  uint64_t window_ticks;    /* ... at this CLOCK_BOOTTIME, in clock ticks */
  uint64_t judged_start;    /* the holder_start last judged (holder_dead): a takeover replaces only it */
} sysv_ipc_lock_wait_state;

static inline int64_t sysv_ipc_lock_now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

/* CLOCK_BOOTTIME in clock ticks (sysconf(_SC_CLK_TCK)), the unit of /proc/<pid>/stat's start time. */
static inline uint64_t sysv_ipc_lock_boot_ticks(void) {
  struct timespec ts;
  long hz = sysconf(_SC_CLK_TCK);
  if (hz <= 0) hz = 100;
  clock_gettime(CLOCK_BOOTTIME, &ts);
  return (uint64_t)ts.tv_sec * (uint64_t)hz + (uint64_t)ts.tv_nsec / (1000000000u / (uint64_t)hz);
}

/*
 * Fills `self` for the calling process: 0, EOVERFLOW if its pid does not fit
 * the word, or why /proc/self/stat could not be read (EMFILE, ENFILE,
 * ENOMEM, EACCES, EIO: sysv_ipc_process_lookup); self->start is then 0.
 */
static inline int sysv_ipc_lock_self_init(sysv_ipc_lock_self* self) {
  pid_t pid = getpid();
  self->pid = 0;
  self->start = 0;
  if (pid <= 0 || (uint32_t)pid > SYSV_IPC_LOCK_PID_MASK) return EOVERFLOW;
  self->pid = (uint32_t)pid;
  return sysv_ipc_process_lookup(pid, &self->start);
}

static inline int sysv_ipc_lock_word_corrupt(uint32_t w) {
  return (w & SYSV_IPC_LOCK_RESERVED_BITS) != 0 || (w != 0 && (w & SYSV_IPC_LOCK_PID_MASK) == 0);
}

static inline long sysv_ipc_lock_futex(uint32_t* addr, int op, uint32_t value, const struct timespec* timeout) {
  /* Shared futexes (no FUTEX_PRIVATE_FLAG): the waiters are other processes. */
  return syscall(SYS_futex, addr, op, value, timeout, NULL, 0);
}

/*
 * Takes over the lock from a dead holder: `seen` is the word and
 * `judged_start` the holder_start that sysv_ipc_lock_holder_dead judged dead
 * (sysv_ipc_lock_wait_state.judged_start). holder_start goes from exactly
 * that value to 0 first, then the word from `seen` to `mine`, then
 * holder_start to this taker's start: between the word's CAS and that store
 * the record reads as any take's does. A holder_start other than the judged
 * one means the record moved on since the judgement (another taker-over won,
 * or, with the pid reused, a live process took the lock legitimately and
 * stored its own start): lost, 0, and the caller looks again. Loading
 * holder_start afresh here instead would clear a legitimate holder's start
 * and, its word being the dead holder's value, take its lock from it.
 *
 * What remains: a judged start of 0 (the dead holder had not stored its
 * start) matches a new holder between its word CAS and its store, whose word
 * then reads `seen` only if it has the dead holder's pid: pid reuse within
 * the takeover's few instructions after the judgement (a preempted waiter),
 * on top of a holder that died inside its own two-instruction window.
 * Returns 1 when taken, else 0.
 */
static inline int sysv_ipc_lock_take_over(sysv_ipc_lock* l, uint32_t seen, uint64_t judged_start, uint32_t mine,
                                          const sysv_ipc_lock_self* self) {
  uint64_t expected = judged_start;
  if (!__atomic_compare_exchange_n(&l->holder_start, &expected, 0, 0, __ATOMIC_SEQ_CST, __ATOMIC_RELAXED)) return 0;
  if (!__atomic_compare_exchange_n(&l->word, &seen, mine, 0, __ATOMIC_SEQ_CST, __ATOMIC_RELAXED)) {
    /* The word moved on (a waiter's mark, a peer of an earlier header taking
     * over) while holder_start did not: put back what we judged, unless
     * someone stored since. Left at 0, a record whose pid a live process
     * reused would read as a holder stopped in its own window and be waited
     * for until that unrelated process exits. A taker that found our 0 and
     * took the word stores its own start after its CAS, over ours. */
    expected = 0;
    __atomic_compare_exchange_n(&l->holder_start, &expected, judged_start, 0, __ATOMIC_SEQ_CST, __ATOMIC_RELAXED);
    return 0;
  }
  __atomic_store_n(&l->holder_start, self->start, __ATOMIC_RELEASE);
  return 1;
}

/*
 * Takes the lock from `seen`: 0 (free), or a dead holder's word, judging
 * holder_start as it reads it now. For a takeover after
 * sysv_ipc_lock_holder_dead use sysv_ipc_lock_take_over with the judged
 * start: the record may have moved on between the judgement and this call.
 * Kept for C peers built against earlier versions of this header.
 */
static inline int sysv_ipc_lock_take(sysv_ipc_lock* l, uint32_t seen, uint32_t mine, const sysv_ipc_lock_self* self) {
  if (seen != 0) {
    return sysv_ipc_lock_take_over(l, seen, __atomic_load_n(&l->holder_start, __ATOMIC_ACQUIRE), mine, self);
  }
  if (!__atomic_compare_exchange_n(&l->word, &seen, mine, 0, __ATOMIC_SEQ_CST, __ATOMIC_RELAXED)) return 0;
  __atomic_store_n(&l->holder_start, self->start, __ATOMIC_RELEASE);
  return 1;
}

/* One attempt, never waits: OK, BUSY or CORRUPT. */
static inline int sysv_ipc_lock_try(sysv_ipc_lock* l, const sysv_ipc_lock_self* self) {
  uint32_t w = __atomic_load_n(&l->word, __ATOMIC_RELAXED);
  if (sysv_ipc_lock_word_corrupt(w)) return SYSV_IPC_LOCK_CORRUPT;
  if (w == 0 && sysv_ipc_lock_take(l, 0, self->pid, self)) return SYSV_IPC_LOCK_OK;
  w = __atomic_load_n(&l->word, __ATOMIC_RELAXED);
  return sysv_ipc_lock_word_corrupt(w) ? SYSV_IPC_LOCK_CORRUPT : SYSV_IPC_LOCK_BUSY;
}

/*
 * Whether the holder named by `w` is dead. Reads /proc, so it is called at
 * most every SYSV_IPC_LOCK_CHECK_NS while waiting. Only a holder known dead
 * (no such process, or a zombie) or a pid reused by another process counts:
 * when /proc cannot tell (this waiter is out of file descriptors, /proc is
 * mounted hidepid=2 and the holder is another user's: liveness.h), the
 * holder counts as alive and the waiter looks again at the next check.
 * st->judged_start: the holder_start judged, for sysv_ipc_lock_take_over.
 */
static inline int sysv_ipc_lock_holder_dead(sysv_ipc_lock* l, uint32_t w, sysv_ipc_lock_wait_state* st, int64_t now) {
  uint32_t pid = w & SYSV_IPC_LOCK_PID_MASK;
  uint64_t recorded = __atomic_load_n(&l->holder_start, __ATOMIC_ACQUIRE);
  uint64_t actual;
  int err = sysv_ipc_process_lookup((pid_t)pid, &actual);
  st->judged_start = recorded;
  if (err == ESRCH) return 1; /* no such process, or a zombie */
  if (err != 0) {             /* unknown: alive, and no suspicion carried over a look that saw nothing */
    st->suspect_since_ns = 0;
    return 0;
  }
  if (recorded != 0) st->window_pid = 0; /* the holder is past its window: a later one starts afresh */
  if (actual == recorded) {
    st->suspect_since_ns = 0;
    return 0;
  }
  if (recorded == 0) {
    /* Between its CAS and its store (stopped there, maybe): the holder is
       this process unless it started after this waiter first saw its pid. */
    st->suspect_since_ns = 0;
    if (st->window_pid != pid || st->window_ticks == 0) {
      st->window_pid = pid;
      st->window_ticks = sysv_ipc_lock_boot_ticks();
      return 0;
    }
    return actual > st->window_ticks;
  }
  /* Alive under another start time: a reused pid, or a holder that has not stored holder_start yet. */
  if (st->suspect_since_ns == 0 || st->suspect_word != w || st->suspect_start != recorded) {
    st->suspect_word = w;
    st->suspect_start = recorded;
    st->suspect_since_ns = now;
    return 0;
  }
  return now - st->suspect_since_ns >= SYSV_IPC_LOCK_STABLE_NS;
}

/*
 * How sysv_ipc_lock_wait_with takes the lock from `seen` (0, or a dead
 * holder's word whose holder_start was judged to be `judged_start`): 1
 * taken (as sysv_ipc_lock_take_over does it; for `seen` 0 `judged_start` is
 * 0 and a plain take is the same), 0 lost the race (the wait looks again),
 * -1 stop without taking (the wait returns ECANCELED). For a caller whose
 * memory can go away under a waiting thread (the addon's detach): it takes,
 * and notes the take, atomically with respect to that.
 */
typedef int (*sysv_ipc_lock_take_fn)(void* ctx, sysv_ipc_lock* l, uint32_t seen, uint64_t judged_start, uint32_t mine,
                                     const sysv_ipc_lock_self* self);

static inline int sysv_ipc_lock__take_with(sysv_ipc_lock_take_fn take, void* ctx, sysv_ipc_lock* l, uint32_t seen,
                                           uint64_t judged_start, uint32_t mine, const sysv_ipc_lock_self* self) {
  if (take != NULL) return take(ctx, l, seen, judged_start, mine, self);
  return seen != 0 ? sysv_ipc_lock_take_over(l, seen, judged_start, mine, self) : sysv_ipc_lock_take(l, 0, mine, self);
}

/*
 * Takes the lock, waiting while another process holds it: a spin of up to
 * `spin_ns` (sched_yield between looks), then futex sleeps.
 * `deadline_ns`: CLOCK_MONOTONIC nanoseconds (sysv_ipc_lock_now_ns), or -1
 * for none. Returns OK, OWNER_DIED (the lock is now held by the caller),
 * ETIMEDOUT, CORRUPT, or EINTR when a signal interrupted a sleep (call again
 * with the same state and deadline to go on: the caller decides, which lets
 * a waiter thread be cancelled), or ECANCELED when `take` said stop.
 * `take` and `ctx`: NULL for a plain compare-and-swap. `stop(arg)` (or NULL)
 * is asked around every sleep (before it and after each wake or slice): a
 * non-zero answer ends the wait with that value, the lock not taken. What
 * guards the lock uses it to let its waiters go when it goes away (the
 * Channel's removal, EIDRM): wake the lock word's sleepers after making
 * `stop` true. `st` must be zeroed before the first call.
 * sysv_ipc_lock_wait, sysv_ipc_lock_wait_with and sysv_ipc_lock_wait_or_stop
 * below are this with the parts a caller does not need left out.
 */
static inline int sysv_ipc_lock_wait_full(sysv_ipc_lock* l, const sysv_ipc_lock_self* self, int64_t deadline_ns,
                                          int64_t spin_ns, sysv_ipc_lock_wait_state* st, sysv_ipc_lock_take_fn take,
                                          void* ctx, int (*stop)(void*), void* arg) {
  int64_t start = sysv_ipc_lock_now_ns();
  int t;
  int64_t now = start;
  for (;;) {
    uint32_t w = __atomic_load_n(&l->word, __ATOMIC_RELAXED);
    uint32_t mine = self->pid | (st->slept ? SYSV_IPC_LOCK_WAITERS : 0);
    if (sysv_ipc_lock_word_corrupt(w)) return SYSV_IPC_LOCK_CORRUPT;
    if (w == 0) {
      t = sysv_ipc_lock__take_with(take, ctx, l, 0, 0, mine, self);
      if (t < 0) return ECANCELED;
      if (t > 0) return SYSV_IPC_LOCK_OK;
      continue;
    }
    now = sysv_ipc_lock_now_ns();
    if (deadline_ns >= 0 && now >= deadline_ns) return ETIMEDOUT;
    if (now - start < spin_ns) {
      sched_yield();
      continue;
    }
    if (now >= st->next_check_ns) {
      st->next_check_ns = now + SYSV_IPC_LOCK_CHECK_NS;
      if (sysv_ipc_lock_holder_dead(l, w, st, now)) {
        /* Keep WAITERS if it was set: others may sleep on the word. */
        t = sysv_ipc_lock__take_with(take, ctx, l, w, st->judged_start,
                                     self->pid | (w & SYSV_IPC_LOCK_WAITERS) | (st->slept ? SYSV_IPC_LOCK_WAITERS : 0),
                                     self);
        if (t < 0) return ECANCELED;
        if (t > 0) {
          st->suspect_since_ns = 0;
          return SYSV_IPC_LOCK_OWNER_DIED;
        }
        continue;
      }
    }
    if ((w & SYSV_IPC_LOCK_WAITERS) == 0) {
      uint32_t expected = w;
      if (!__atomic_compare_exchange_n(&l->word, &expected, w | SYSV_IPC_LOCK_WAITERS, 0, __ATOMIC_RELAXED,
                                       __ATOMIC_RELAXED)) {
        continue;
      }
      w |= SYSV_IPC_LOCK_WAITERS;
    }
    st->slept = 1;
    if (stop != NULL) {
      int why = stop(arg);
      if (why != 0) return why;
    }
    {
      int64_t slice = st->next_check_ns - now;
      struct timespec ts;
      if (deadline_ns >= 0 && deadline_ns - now < slice) slice = deadline_ns - now;
      if (slice < 0) slice = 0;
      ts.tv_sec = (time_t)(slice / 1000000000LL);
      ts.tv_nsec = (long)(slice % 1000000000LL);
      if (sysv_ipc_lock_futex(&l->word, FUTEX_WAIT, w, &ts) != 0 && errno == EINTR) return EINTR;
      /* woken, timed out (a liveness check or the deadline is due), or EAGAIN (the word changed): look again */
    }
    if (stop != NULL) {
      int why = stop(arg);
      if (why != 0) return why;
    }
  }
}

/*
 * sysv_ipc_lock_wait_full's steps without its spin and without its sleep, for
 * a waiter that sleeps elsewhere (the addon's futex parker, which sleeps on
 * many words in one futex_waitv(2)). One look at the word:
 * - free: takes it (OK), with `take` as sysv_ipc_lock_wait_with does;
 * - held, a liveness check due (st->next_check_ns): a dead holder's lock is
 *   taken over (OWNER_DIED), as sysv_ipc_lock_wait does;
 * - held: sets WAITERS, as every sleeper does, so that the release wakes a
 *   sleeper, and returns ARMED with *expected: the caller sleeps on l->word
 *   while it holds *expected, and calls again when the word changed, when it
 *   was woken, and at the latest around st->next_check_ns (a sleeper that
 *   sleeps longer only notices a dead holder later);
 * - CORRUPT, or ECANCELED when `take` said stop.
 * Once armed, st->slept is set: the next take sets WAITERS, as a woken
 * sleeper's does (others may still sleep). A caller that stops waiting after
 * a wake it consumed leaves the lock's other sleepers to their next check,
 * as a sysv_ipc_lock_wait_full that stops does.
 */
static inline int sysv_ipc_lock_arm(sysv_ipc_lock* l, const sysv_ipc_lock_self* self, sysv_ipc_lock_wait_state* st,
                                    sysv_ipc_lock_take_fn take, void* ctx, uint32_t* expected) {
  int t;
  for (;;) {
    uint32_t w = __atomic_load_n(&l->word, __ATOMIC_RELAXED);
    uint32_t mine = self->pid | (st->slept ? SYSV_IPC_LOCK_WAITERS : 0);
    int64_t now;
    if (sysv_ipc_lock_word_corrupt(w)) return SYSV_IPC_LOCK_CORRUPT;
    if (w == 0) {
      t = sysv_ipc_lock__take_with(take, ctx, l, 0, 0, mine, self);
      if (t < 0) return ECANCELED;
      if (t > 0) return SYSV_IPC_LOCK_OK;
      continue;
    }
    now = sysv_ipc_lock_now_ns();
    if (now >= st->next_check_ns) {
      st->next_check_ns = now + SYSV_IPC_LOCK_CHECK_NS;
      if (sysv_ipc_lock_holder_dead(l, w, st, now)) {
        t = sysv_ipc_lock__take_with(take, ctx, l, w, st->judged_start, mine | (w & SYSV_IPC_LOCK_WAITERS), self);
        if (t < 0) return ECANCELED;
        if (t > 0) {
          st->suspect_since_ns = 0;
          return SYSV_IPC_LOCK_OWNER_DIED;
        }
        continue;
      }
    }
    if ((w & SYSV_IPC_LOCK_WAITERS) == 0) {
      uint32_t seen = w;
      if (!__atomic_compare_exchange_n(&l->word, &seen, w | SYSV_IPC_LOCK_WAITERS, 0, __ATOMIC_RELAXED,
                                       __ATOMIC_RELAXED)) {
        continue;
      }
      w |= SYSV_IPC_LOCK_WAITERS;
    }
    st->slept = 1;
    *expected = w;
    return SYSV_IPC_LOCK_ARMED;
  }
}

/* Taking with `take` (see sysv_ipc_lock_take_fn), no stop. */
static inline int sysv_ipc_lock_wait_with(sysv_ipc_lock* l, const sysv_ipc_lock_self* self, int64_t deadline_ns,
                                          int64_t spin_ns, sysv_ipc_lock_wait_state* st, sysv_ipc_lock_take_fn take,
                                          void* ctx) {
  return sysv_ipc_lock_wait_full(l, self, deadline_ns, spin_ns, st, take, ctx, NULL, NULL);
}

/* A plain compare-and-swap, ended early by `stop(arg)`. */
static inline int sysv_ipc_lock_wait_or_stop(sysv_ipc_lock* l, const sysv_ipc_lock_self* self, int64_t deadline_ns,
                                             int64_t spin_ns, sysv_ipc_lock_wait_state* st, int (*stop)(void*),
                                             void* arg) {
  return sysv_ipc_lock_wait_full(l, self, deadline_ns, spin_ns, st, NULL, NULL, stop, arg);
}

/* A plain compare-and-swap, no stop. */
static inline int sysv_ipc_lock_wait(sysv_ipc_lock* l, const sysv_ipc_lock_self* self, int64_t deadline_ns,
                                     int64_t spin_ns, sysv_ipc_lock_wait_state* st) {
  return sysv_ipc_lock_wait_full(l, self, deadline_ns, spin_ns, st, NULL, NULL, NULL, NULL);
}

/*
 * Releases the lock held by `self`: OK, NOT_HELD (another process holds it,
 * or nobody), or CORRUPT. Wakes one sleeper only when one said it sleeps.
 */
static inline int sysv_ipc_lock_release(sysv_ipc_lock* l, const sysv_ipc_lock_self* self) {
  uint32_t w = __atomic_load_n(&l->word, __ATOMIC_RELAXED);
  for (;;) {
    if (sysv_ipc_lock_word_corrupt(w)) return SYSV_IPC_LOCK_CORRUPT;
    if ((w & SYSV_IPC_LOCK_PID_MASK) != self->pid) return SYSV_IPC_LOCK_NOT_HELD;
    /* Ours: "no start time" before "free", so that the next taker's window reads 0 (see the protocol). */
    __atomic_store_n(&l->holder_start, 0, __ATOMIC_RELAXED);
    if (__atomic_compare_exchange_n(&l->word, &w, 0, 0, __ATOMIC_RELEASE, __ATOMIC_RELAXED)) break;
  }
  if (w & SYSV_IPC_LOCK_WAITERS) sysv_ipc_lock_futex(&l->word, FUTEX_WAKE, 1, NULL);
  return SYSV_IPC_LOCK_OK;
}

/* The holder's pid, or 0 when free (or corrupt). */
static inline uint32_t sysv_ipc_lock_holder(sysv_ipc_lock* l) {
  uint32_t w = __atomic_load_n(&l->word, __ATOMIC_RELAXED);
  return sysv_ipc_lock_word_corrupt(w) ? 0 : (w & SYSV_IPC_LOCK_PID_MASK);
}

/* For C programs: waits with retries on EINTR. */
static inline int sysv_ipc_lock_acquire(sysv_ipc_lock* l, const sysv_ipc_lock_self* self, int64_t timeout_ns) {
  sysv_ipc_lock_wait_state st;
  int64_t deadline = timeout_ns < 0 ? -1 : sysv_ipc_lock_now_ns() + timeout_ns;
  int r;
  memset(&st, 0, sizeof st);
  do {
    r = sysv_ipc_lock_wait(l, self, deadline, 20000, &st);
  } while (r == EINTR);
  return r;
}

#ifdef __cplusplus
}
#endif

#endif /* SYSV_IPC_LOCK_H */
