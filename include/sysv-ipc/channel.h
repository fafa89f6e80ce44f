/*
 * sysv-ipc Channel: a many-producer, many-consumer message channel in one
 * System V shared memory segment. Header-only, C11 (GCC/Clang __atomic
 * builtins) and C++17: the Node addon (native/channel.cc) and C peers include
 * this very file, so there is one implementation of the protocol.
 * The layout and the rules are documented in docs/channel-layout.md.
 *
 * In short:
 *   - a 256-byte header, then a byte ring of `capacity` bytes;
 *   - `tail` (bytes ever published) and `head` (bytes ever consumed) are
 *     64-bit positions that only grow; a record sits at position % capacity;
 *   - producers serialise on one robust lock (lock.h: pid + start time; a
 *     dead holder's lock is taken over), copy the record beyond `tail`, and
 *     publish it by storing the new `tail` last: a producer killed at any
 *     instant publishes nothing or a whole record;
 *   - consumers take no lock: a consumer copies the record at `head` out and
 *     then moves `head` with a compare-and-swap; if the CAS fails another
 *     consumer took it first and the copy is thrown away. A consumer killed
 *     mid-read changed nothing;
 *   - sleepers announce themselves in a flag next to a futex sequence word;
 *     the other side makes the wake syscall only when it finds the flag set,
 *     so a stream between two busy peers makes no syscall;
 *   - nothing read from the segment is trusted: the capacity and the largest
 *     message size are read once at attach and checked against the segment's
 *     size; every position and length read later is checked against them;
 *     a check that fails is SYSV_IPC_CHANNEL_ECORRUPT, never an access
 *     outside the segment or an endless loop.
 *
 * Return values: 0 or a positive errno value:
 *   EAGAIN     would block (ring empty / full / lock busy in a try form)
 *   EMSGSIZE   message larger than max_message (send), or than the buffer (receive: nothing consumed)
 *   EIDRM      the channel was removed (sysv_ipc_channel_mark_removed or IPC_RMID seen)
 *   ETIMEDOUT  the deadline passed
 *   EINTR      a signal interrupted a sleep (the caller decides whether to retry)
 *   SYSV_IPC_CHANNEL_ECORRUPT     (EBADMSG) the shared state is inconsistent
 *   SYSV_IPC_CHANNEL_ENOTCHANNEL  (EPROTO) the segment does not hold a channel of this version
 * Deadlines are absolute CLOCK_MONOTONIC nanoseconds; -1 means none.
 *
 * Linux only (futex(2)). Peers must share a pid namespace (liveness.h).
 */
#ifndef SYSV_IPC_CHANNEL_H
#define SYSV_IPC_CHANNEL_H

#include <errno.h>
#include <limits.h>
#include <linux/futex.h>
#include <sched.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/ipc.h>
#include <sys/shm.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "liveness.h"
#include "lock.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- layout (docs/channel-layout.md) ---- */

#define SYSV_IPC_CHANNEL_MAGIC 0x48435653u /* "SVCH" in memory on little-endian */
#define SYSV_IPC_CHANNEL_VERSION 1u
#define SYSV_IPC_CHANNEL_HEADER_SIZE 256u
#define SYSV_IPC_CHANNEL_MIN_CAPACITY 256u
#define SYSV_IPC_CHANNEL_RECORD_HEADER 8u
#define SYSV_IPC_CHANNEL_TAG_MESSAGE 0x31434552u /* "REC1" */
#define SYSV_IPC_CHANNEL_TAG_PADDING 0x31444150u /* "PAD1" */

/* Header offsets (bytes). Line 0: identity; line 1: producers; line 2: consumers. */
#define SYSV_IPC_CHANNEL_OFF_IDENTITY 0       /* u64: magic (low 32) | version (high 32), stored last at init */
#define SYSV_IPC_CHANNEL_OFF_HEADER_SIZE 8    /* u32 */
#define SYSV_IPC_CHANNEL_OFF_MAX_MESSAGE 12   /* u32 */
#define SYSV_IPC_CHANNEL_OFF_CAPACITY 16      /* u64 */
#define SYSV_IPC_CHANNEL_OFF_STATE 24         /* u32: bit 0 = removed */
#define SYSV_IPC_CHANNEL_OFF_INIT 32          /* 16 bytes reserved (the init lock of earlier releases): never read */
#define SYSV_IPC_CHANNEL_OFF_TAIL 64          /* u64 */
#define SYSV_IPC_CHANNEL_OFF_DATA_SEQ 72      /* u32 futex: consumers sleep here */
#define SYSV_IPC_CHANNEL_OFF_DATA_SLEEP 76    /* u32: 1 = a consumer sleeps (or is about to) */
#define SYSV_IPC_CHANNEL_OFF_SEND_LOCK 80     /* 16-byte lock record (lock.h) */
#define SYSV_IPC_CHANNEL_OFF_PRODUCER_CPU 96  /* u32 hint: 1 + the CPU the last producer ran on; 0 = unknown */
#define SYSV_IPC_CHANNEL_OFF_HEAD 128         /* u64 */
#define SYSV_IPC_CHANNEL_OFF_SPACE_SEQ 136    /* u32 futex: producers sleep here */
#define SYSV_IPC_CHANNEL_OFF_SPACE_SLEEP 140  /* u32: 1 = a producer sleeps (or is about to) */
#define SYSV_IPC_CHANNEL_OFF_CONSUMER_CPU 144 /* u32 hint: 1 + the CPU the last consumer ran on; 0 = unknown */

#define SYSV_IPC_CHANNEL_STATE_REMOVED 1u

#define SYSV_IPC_CHANNEL_ECORRUPT EBADMSG
#define SYSV_IPC_CHANNEL_ENOTCHANNEL EPROTO

/* How long a sleeper sleeps at most before it looks again (removal by ipcrm, dead peers). */
#define SYSV_IPC_CHANNEL_NAP_NS 200000000LL
/* A consumer gives up (ECORRUPT) after this many lost races in one call: a
 * scribbler that keeps moving `head` must not keep us looping forever. */
#define SYSV_IPC_CHANNEL_MAX_RETRIES 1000000
/* How long a producer spins (yielding) on a busy send lock before it sleeps:
 * the holder only copies one message. */
#define SYSV_IPC_CHANNEL_LOCK_SPIN_NS 20000LL

/* One process's view of an attached channel. Everything here is local and
 * trusted; everything behind `base` is shared and is not. */
typedef struct sysv_ipc_channel {
  unsigned char* base;     /* the attachment */
  uint64_t segment_size;   /* shm_segsz */
  uint64_t capacity;       /* read once at attach, checked against segment_size */
  uint32_t max_message;    /* read once at attach, checked against capacity */
  int shmid;               /* for the IPC_RMID check of sleepers; -1 if unknown */
  sysv_ipc_lock_self self; /* this process, for the send lock (a fork()ed child must attach again) */
  uint64_t head_seen;      /* the last head a producer of this process read (under the send lock) */
} sysv_ipc_channel;

/* ---- small helpers ---- */

static inline uint64_t* sysv_ipc_channel__u64(const sysv_ipc_channel* ch, size_t off) {
  return (uint64_t*)(void*)(ch->base + off);
}
static inline uint32_t* sysv_ipc_channel__u32(const sysv_ipc_channel* ch, size_t off) {
  return (uint32_t*)(void*)(ch->base + off);
}
static inline unsigned char* sysv_ipc_channel__ring(const sysv_ipc_channel* ch) {
  return ch->base + SYSV_IPC_CHANNEL_HEADER_SIZE;
}
static inline uint64_t sysv_ipc_channel__align8(uint64_t n) { return (n + 7u) & ~(uint64_t)7u; }

/* Where each side runs, for the spin of the other (sysv_ipc_channel__spin_until).
 * sched_getcpu is a vDSO call (a few ns, no syscall); glibc and musl have it,
 * but <sched.h> declares it only under _GNU_SOURCE. */
#ifndef _GNU_SOURCE
int sched_getcpu(void);
#endif
static inline void sysv_ipc_channel__cpu_relax(void) {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#elif defined(__aarch64__)
  __asm__ __volatile__("yield" ::: "memory");
#endif
}
/* Records 1 + this thread's CPU at `off` (a hint: relaxed, written only when
 * it changed, on a line this side writes anyway). */
static inline void sysv_ipc_channel__note_cpu(const sysv_ipc_channel* ch, size_t off) {
  int cpu = sched_getcpu();
  uint32_t hint = cpu < 0 ? 0u : (uint32_t)cpu + 1u;
  uint32_t* p = (uint32_t*)(void*)(ch->base + off);
  if (__atomic_load_n(p, __ATOMIC_RELAXED) != hint) __atomic_store_n(p, hint, __ATOMIC_RELAXED);
}
/* True when the hint at `off` says the peer last ran on another CPU than this
 * thread; false when it shares this CPU or nobody recorded one (0: a channel
 * of an earlier release, or no peer yet). */
static inline int sysv_ipc_channel__peer_elsewhere(const sysv_ipc_channel* ch, size_t off) {
  uint32_t peer = __atomic_load_n((const uint32_t*)(const void*)(ch->base + off), __ATOMIC_RELAXED);
  int cpu;
  if (peer == 0) return 0;
  cpu = sched_getcpu();
  return cpu >= 0 && peer != (uint32_t)cpu + 1u;
}

static inline int64_t sysv_ipc_channel_now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

/* Bytes a message of `length` takes in the ring (header + payload, 8-aligned). */
static inline uint64_t sysv_ipc_channel_record_size(uint64_t length) {
  return SYSV_IPC_CHANNEL_RECORD_HEADER + sysv_ipc_channel__align8(length);
}

/* Segment size for a channel of `capacity` ring bytes. */
static inline uint64_t sysv_ipc_channel_segment_size(uint64_t capacity) {
  return SYSV_IPC_CHANNEL_HEADER_SIZE + capacity;
}

/* The largest max_message a ring of `capacity` bytes may have: a quarter. */
static inline uint64_t sysv_ipc_channel_max_message_limit(uint64_t capacity) { return capacity / 4; }

/* Shared futex (no FUTEX_PRIVATE_FLAG: the peers are other processes). */
static inline long sysv_ipc_channel__futex(uint32_t* word, int op, uint32_t value, const struct timespec* timeout) {
  return syscall(SYS_futex, word, op, value, timeout, NULL, 0);
}

static inline int sysv_ipc_channel_removed(const sysv_ipc_channel* ch) {
  return (__atomic_load_n(sysv_ipc_channel__u32(ch, SYSV_IPC_CHANNEL_OFF_STATE), __ATOMIC_ACQUIRE) &
          SYSV_IPC_CHANNEL_STATE_REMOVED) != 0;
}

/* ---- creation and attach ---- */

/* Whether the segment's header identity is a channel of this version (read-only). */
static inline int sysv_ipc_channel__identity_ok(const unsigned char* base) {
  uint64_t id = __atomic_load_n((const uint64_t*)(const void*)(base + SYSV_IPC_CHANNEL_OFF_IDENTITY), __ATOMIC_ACQUIRE);
  return id == ((uint64_t)SYSV_IPC_CHANNEL_VERSION << 32 | SYSV_IPC_CHANNEL_MAGIC);
}

/*
 * Reads and checks the header of an attached segment into `ch`. Writes
 * nothing. EAGAIN: the identity is not there (yet): a creator may still be
 * initialising; SYSV_IPC_CHANNEL_ENOTCHANNEL: another magic or version, or a
 * segment too small; SYSV_IPC_CHANNEL_ECORRUPT: the identity is right but
 * the geometry does not fit the segment.
 */
static inline int sysv_ipc_channel_attach(sysv_ipc_channel* ch, void* base, uint64_t segment_size, int shmid) {
  const unsigned char* b = (const unsigned char*)base;
  uint64_t id, capacity, header_size, max_message;
  memset(ch, 0, sizeof *ch);
  if (base == NULL || segment_size < SYSV_IPC_CHANNEL_HEADER_SIZE + SYSV_IPC_CHANNEL_MIN_CAPACITY) {
    return SYSV_IPC_CHANNEL_ENOTCHANNEL;
  }
  id = __atomic_load_n((const uint64_t*)(const void*)(b + SYSV_IPC_CHANNEL_OFF_IDENTITY), __ATOMIC_ACQUIRE);
  if (id == 0) return EAGAIN;
  if ((uint32_t)id != SYSV_IPC_CHANNEL_MAGIC || (id >> 32) != SYSV_IPC_CHANNEL_VERSION) {
    return SYSV_IPC_CHANNEL_ENOTCHANNEL;
  }
  header_size = __atomic_load_n((const uint32_t*)(const void*)(b + SYSV_IPC_CHANNEL_OFF_HEADER_SIZE), __ATOMIC_RELAXED);
  max_message = __atomic_load_n((const uint32_t*)(const void*)(b + SYSV_IPC_CHANNEL_OFF_MAX_MESSAGE), __ATOMIC_RELAXED);
  capacity = __atomic_load_n((const uint64_t*)(const void*)(b + SYSV_IPC_CHANNEL_OFF_CAPACITY), __ATOMIC_RELAXED);
  if (header_size != SYSV_IPC_CHANNEL_HEADER_SIZE || capacity < SYSV_IPC_CHANNEL_MIN_CAPACITY || capacity % 8 != 0 ||
      capacity > segment_size - SYSV_IPC_CHANNEL_HEADER_SIZE ||
      max_message > sysv_ipc_channel_max_message_limit(capacity)) {
    return SYSV_IPC_CHANNEL_ECORRUPT;
  }
  ch->base = (unsigned char*)base;
  ch->segment_size = segment_size;
  ch->capacity = capacity;
  ch->max_message = (uint32_t)max_message;
  ch->shmid = shmid;
  sysv_ipc_lock_self_init(&ch->self); /* a failure leaves start 0: the send lock then says why */
  return 0;
}

/*
 * Writes a fresh header into a segment this process created, then attaches.
 * The identity is stored last (release): a reader that sees it sees the rest.
 * `capacity` must be a multiple of 8 that fits the segment.
 */
static inline int sysv_ipc_channel__write_header(sysv_ipc_channel* ch, void* base, uint64_t segment_size,
                                                 uint64_t capacity, uint32_t max_message, int shmid) {
  unsigned char* b = (unsigned char*)base;
  if (capacity < SYSV_IPC_CHANNEL_MIN_CAPACITY || capacity % 8 != 0 ||
      segment_size < SYSV_IPC_CHANNEL_HEADER_SIZE + capacity ||
      max_message > sysv_ipc_channel_max_message_limit(capacity)) {
    return EINVAL;
  }
  /* Everything but the identity. The creator's segment came zeroed from
   * shmget(2); this only clears what another attacher wrote before us. */
  memset(b + 8, 0, SYSV_IPC_CHANNEL_HEADER_SIZE - 8);
  __atomic_store_n((uint32_t*)(void*)(b + SYSV_IPC_CHANNEL_OFF_HEADER_SIZE), SYSV_IPC_CHANNEL_HEADER_SIZE,
                   __ATOMIC_RELAXED);
  __atomic_store_n((uint32_t*)(void*)(b + SYSV_IPC_CHANNEL_OFF_MAX_MESSAGE), max_message, __ATOMIC_RELAXED);
  __atomic_store_n((uint64_t*)(void*)(b + SYSV_IPC_CHANNEL_OFF_CAPACITY), capacity, __ATOMIC_RELAXED);
  /* Published last: whoever sees the identity sees everything above. */
  __atomic_store_n((uint64_t*)(void*)(b + SYSV_IPC_CHANNEL_OFF_IDENTITY),
                   (uint64_t)SYSV_IPC_CHANNEL_VERSION << 32 | SYSV_IPC_CHANNEL_MAGIC, __ATOMIC_RELEASE);
  return sysv_ipc_channel_attach(ch, base, segment_size, shmid);
}

/*
 * Attaches a segment, initialising it first if this process created it.
 * `created`: shmget(IPC_CREAT | IPC_EXCL) succeeded in this process, so the
 * segment is ours and its blank header is ours to write. Without it nothing
 * is ever written: a blank segment is someone else's (a creator still
 * writing its header, one that died before it could, or a segment that was
 * never meant as a channel) and gives EAGAIN: the caller waits a little for a
 * live creator, then reports "not a channel" (SYSV_IPC_CHANNEL_ENOTCHANNEL).
 * Bytes 32-47 (the init lock of earlier releases) are not looked at: taking
 * them for a lock let an opener overwrite a segment that was not a channel.
 */
static inline int sysv_ipc_channel_init_or_attach(sysv_ipc_channel* ch, void* base, uint64_t segment_size,
                                                  uint64_t capacity, uint32_t max_message, int shmid, int created) {
  int r = sysv_ipc_channel_attach(ch, base, segment_size, shmid);
  if (r != EAGAIN || !created) return r;
  return sysv_ipc_channel__write_header(ch, base, segment_size, capacity, max_message, shmid);
}

/* ---- waking and sleeping ---- */

/* After making progress: wake the other side if (and only if) one of them said it sleeps. */
static inline void sysv_ipc_channel__wake(sysv_ipc_channel* ch, size_t sleep_off, size_t seq_off) {
  uint32_t* flag = sysv_ipc_channel__u32(ch, sleep_off);
  /* seq_cst: pairs with the sleeper's flag store then re-check (Dekker). */
  if (__atomic_load_n(flag, __ATOMIC_SEQ_CST) == 0) return;
  if (__atomic_exchange_n(flag, 0, __ATOMIC_SEQ_CST) == 0) return;
  __atomic_add_fetch(sysv_ipc_channel__u32(ch, seq_off), 1, __ATOMIC_SEQ_CST);
  sysv_ipc_channel__futex(sysv_ipc_channel__u32(ch, seq_off), FUTEX_WAKE, INT_MAX, NULL);
}

/* Whether IPC_RMID was done to the segment (by anyone, ipcrm included). */
static inline int sysv_ipc_channel__segment_gone(const sysv_ipc_channel* ch) {
  struct shmid_ds ds;
  if (ch->shmid < 0) return 0;
  if (shmctl(ch->shmid, IPC_STAT, &ds) != 0) return errno == EIDRM || errno == EINVAL;
#ifdef SHM_DEST
  return (ds.shm_perm.mode & SHM_DEST) != 0;
#else
  return 0;
#endif
}

/* sysv_ipc_channel__sleep_arm's "sleep now" (no errno is negative). */
#define SYSV_IPC_CHANNEL__ARMED (-1)

/*
 * The first half of a sleep on a side's futex: announces the sleep (the
 * side's flag), reads the sequence word into *seq, and re-checks `ready(ch,
 * arg)` (it must only read). Returns SYSV_IPC_CHANNEL__ARMED when the caller
 * may sleep on the sequence word while it still holds *seq (FUTEX_WAIT here;
 * the addon's futex parker puts it in a futex_waitv set), 0 when the
 * condition holds (look again), EIDRM when the channel was removed.
 */
static inline int sysv_ipc_channel__sleep_arm(sysv_ipc_channel* ch, size_t sleep_off, size_t seq_off,
                                              int (*ready)(const sysv_ipc_channel*, uint64_t), uint64_t arg,
                                              uint32_t* seq) {
  if (sysv_ipc_channel_removed(ch)) return EIDRM;
  __atomic_store_n(sysv_ipc_channel__u32(ch, sleep_off), 1, __ATOMIC_SEQ_CST);
  *seq = __atomic_load_n(sysv_ipc_channel__u32(ch, seq_off), __ATOMIC_SEQ_CST);
  /* Dekker: flag store, then the re-check of head/tail, against the other
   * side's position store, then its flag load (both seq_cst). ready() reads
   * the positions with acquire loads, which alone may be satisfied before the
   * flag store is visible (arm64's LDAPR is RCpc): the fence puts them after
   * it in the single total order, so either we see the new position or the
   * other side sees our flag. */
  __atomic_thread_fence(__ATOMIC_SEQ_CST);
  if (ready(ch, arg)) return 0;
  return SYSV_IPC_CHANNEL__ARMED;
}

/*
 * The end of a nap that no wake ended (the second half's liveness look):
 * EIDRM when the channel was removed, by us or by anyone's IPC_RMID (ipcrm
 * included, which sets no flag and wakes nobody), else 0.
 */
static inline int sysv_ipc_channel__nap_over(const sysv_ipc_channel* ch) {
  return sysv_ipc_channel_removed(ch) || sysv_ipc_channel__segment_gone(ch) ? EIDRM : 0;
}

/*
 * One sleep on a side's futex. `ready(ch, arg)` is the condition re-checked
 * after announcing the sleep (it must only read). Returns 0 (woken, or the
 * condition holds, or a nap ended: look again), ETIMEDOUT, EINTR, EIDRM.
 */
static inline int sysv_ipc_channel__sleep(sysv_ipc_channel* ch, size_t sleep_off, size_t seq_off,
                                          int (*ready)(const sysv_ipc_channel*, uint64_t), uint64_t arg,
                                          int64_t deadline_ns) {
  uint32_t* seqp = sysv_ipc_channel__u32(ch, seq_off);
  uint32_t seq;
  int64_t now, left;
  struct timespec ts;
  int armed = sysv_ipc_channel__sleep_arm(ch, sleep_off, seq_off, ready, arg, &seq);
  if (armed != SYSV_IPC_CHANNEL__ARMED) return armed;
  now = sysv_ipc_channel_now_ns();
  if (deadline_ns >= 0 && now >= deadline_ns) return ETIMEDOUT;
  left = SYSV_IPC_CHANNEL_NAP_NS;
  if (deadline_ns >= 0 && deadline_ns - now < left) left = deadline_ns - now;
  ts.tv_sec = (time_t)(left / 1000000000LL);
  ts.tv_nsec = (long)(left % 1000000000LL);
  if (sysv_ipc_channel__futex(seqp, FUTEX_WAIT, seq, &ts) != 0) {
    int err = errno;
    if (err == EINTR) return EINTR;
    if (err == ETIMEDOUT) {
      if (sysv_ipc_channel__nap_over(ch) != 0) return EIDRM;
      if (deadline_ns >= 0 && sysv_ipc_channel_now_ns() >= deadline_ns) return ETIMEDOUT;
      return 0;
    }
    /* EAGAIN: the sequence moved before we slept. */
  }
  if (sysv_ipc_channel_removed(ch)) return EIDRM;
  return 0;
}

/*
 * Marks the channel removed and wakes every sleeper in every process (they
 * return EIDRM). Call it just before shmctl(IPC_RMID).
 */
static inline void sysv_ipc_channel_mark_removed(sysv_ipc_channel* ch) {
  __atomic_or_fetch(sysv_ipc_channel__u32(ch, SYSV_IPC_CHANNEL_OFF_STATE), SYSV_IPC_CHANNEL_STATE_REMOVED,
                    __ATOMIC_SEQ_CST);
  __atomic_add_fetch(sysv_ipc_channel__u32(ch, SYSV_IPC_CHANNEL_OFF_DATA_SEQ), 1, __ATOMIC_SEQ_CST);
  __atomic_add_fetch(sysv_ipc_channel__u32(ch, SYSV_IPC_CHANNEL_OFF_SPACE_SEQ), 1, __ATOMIC_SEQ_CST);
  sysv_ipc_channel__futex(sysv_ipc_channel__u32(ch, SYSV_IPC_CHANNEL_OFF_DATA_SEQ), FUTEX_WAKE, INT_MAX, NULL);
  sysv_ipc_channel__futex(sysv_ipc_channel__u32(ch, SYSV_IPC_CHANNEL_OFF_SPACE_SEQ), FUTEX_WAKE, INT_MAX, NULL);
  /* Producers parked on the send lock look at the state when they wake. */
  sysv_ipc_lock_futex((uint32_t*)(void*)(ch->base + SYSV_IPC_CHANNEL_OFF_SEND_LOCK), FUTEX_WAKE, INT_MAX, NULL);
}

/* ---- positions ---- */

/* head and tail, checked: tail - head within [0, capacity], both 8-aligned. */
static inline int sysv_ipc_channel__positions(const sysv_ipc_channel* ch, uint64_t* head, uint64_t* tail) {
  const uint64_t* headp = sysv_ipc_channel__u64(ch, SYSV_IPC_CHANNEL_OFF_HEAD);
  const uint64_t* tailp = sysv_ipc_channel__u64(ch, SYSV_IPC_CHANNEL_OFF_TAIL);
  int i;
  for (i = 0; i < 64; i++) {
    /* head first: it only grows, so a later tail is never behind it. But the
     * ring may have been emptied and refilled between the two loads, so a gap
     * wider than the ring is judged again with a fresh head. */
    uint64_t h = __atomic_load_n(headp, __ATOMIC_ACQUIRE);
    uint64_t t = __atomic_load_n(tailp, __ATOMIC_ACQUIRE);
    if ((h | t) % 8 == 0 && t - h <= ch->capacity) {
      *head = h;
      *tail = t;
      return 0;
    }
    if (__atomic_load_n(headp, __ATOMIC_ACQUIRE) == h) break;
  }
  return SYSV_IPC_CHANNEL_ECORRUPT;
}

static inline int sysv_ipc_channel__readable(const sysv_ipc_channel* ch, uint64_t unused) {
  uint64_t h, t;
  (void)unused;
  if (sysv_ipc_channel_removed(ch)) return 1;
  /* Corrupt counts as "look again": the caller's next try reports it. */
  return sysv_ipc_channel__positions(ch, &h, &t) != 0 || h != t;
}

/* ---- producers ---- */

/*
 * Copies one record in and publishes it. Called with the send lock held.
 * Returns 0, EAGAIN (not enough room now), or ECORRUPT.
 */
static inline int sysv_ipc_channel__write_locked(sysv_ipc_channel* ch, const void* data, uint32_t length) {
  unsigned char* ring = sysv_ipc_channel__ring(ch);
  uint64_t cap = ch->capacity;
  uint64_t need = sysv_ipc_channel_record_size(length);
  uint64_t h, t, index, pad, used;
  uint32_t hdr[2];
  int r;
  /* Room is judged first against the last head this process read, not a
   * fresh one: head only grows, so an old head can only under-state the
   * room, and a producer that finds enough that way does not pull the
   * consumers' cache line over (the Disruptor's cached gating sequence).
   * Only when it does not (or the pair looks wrong) is head read again.
   * head_seen is read and written only under the send lock, whose
   * acquire/release carries it (and the acquire load that read it) from
   * one holder to the next, also across threads of this process. */
  t = __atomic_load_n(sysv_ipc_channel__u64(ch, SYSV_IPC_CHANNEL_OFF_TAIL), __ATOMIC_ACQUIRE);
  h = __atomic_load_n(&ch->head_seen, __ATOMIC_RELAXED);
  index = t % cap;
  pad = (index + need > cap) ? cap - index : 0;
  if (h > t || t - h > cap || (h | t) % 8 != 0 || cap - (t - h) < pad + need) {
    r = sysv_ipc_channel__positions(ch, &h, &t);
    if (r != 0) return r;
    __atomic_store_n(&ch->head_seen, h, __ATOMIC_RELAXED);
  }
  /* The space we are about to write was freed by a consumer's head CAS,
   * which our acquire load of head read (now or when head_seen was stored,
   * before the send lock's release). This fence pairs with the acquire
   * fence of a consumer that still reads the old record there (try_receive,
   * stats_of): if it reads any byte we write, its re-check of head sees the
   * CAS that freed the space, so it throws the read away. (On hardware the
   * acquire load already keeps our stores after it; the fence makes it hold
   * in the C11 model too: free on x86, one DMB on arm64.) */
  __atomic_thread_fence(__ATOMIC_RELEASE);
  index = t % cap;
  pad = (index + need > cap) ? cap - index : 0; /* the record never straddles the end */
  used = t - h;
  if (cap - used < pad + need) return EAGAIN;
  if (pad != 0) {
    hdr[0] = (uint32_t)(pad - SYSV_IPC_CHANNEL_RECORD_HEADER);
    hdr[1] = SYSV_IPC_CHANNEL_TAG_PADDING;
    memcpy(ring + index, hdr, sizeof hdr);
    index = 0;
  }
  hdr[0] = length;
  hdr[1] = SYSV_IPC_CHANNEL_TAG_MESSAGE;
  memcpy(ring + index, hdr, sizeof hdr);
  if (length != 0) memcpy(ring + index + SYSV_IPC_CHANNEL_RECORD_HEADER, data, length);
  /* Publish: consumers see the records only now, complete. */
  __atomic_store_n(sysv_ipc_channel__u64(ch, SYSV_IPC_CHANNEL_OFF_TAIL), t + pad + need, __ATOMIC_SEQ_CST);
  sysv_ipc_channel__note_cpu(ch, SYSV_IPC_CHANNEL_OFF_PRODUCER_CPU);
  return 0;
}

static inline sysv_ipc_lock* sysv_ipc_channel__send_lock(const sysv_ipc_channel* ch) {
  return (sysv_ipc_lock*)(void*)(ch->base + SYSV_IPC_CHANNEL_OFF_SEND_LOCK);
}

/*
 * What a producer parked on the send lock looks at around each sleep
 * (sysv_ipc_lock_wait_or_stop): the removed bit, which remove() sets before
 * it wakes the lock word's sleepers, and an IPC_RMID by another tool, at
 * most once per nap (a syscall). Without it a sender with no deadline slept
 * on through the removal and, once the lock came free, published into it.
 */
typedef struct sysv_ipc_channel__lock_stop {
  const sysv_ipc_channel* ch;
  int64_t next_gone_check_ns;
} sysv_ipc_channel__lock_stop;

static inline int sysv_ipc_channel__lock_stop_check(void* arg) {
  sysv_ipc_channel__lock_stop* s = (sysv_ipc_channel__lock_stop*)arg;
  int64_t now;
  if (sysv_ipc_channel_removed(s->ch)) return EIDRM;
  now = sysv_ipc_channel_now_ns();
  if (now < s->next_gone_check_ns) return 0;
  s->next_gone_check_ns = now + SYSV_IPC_CHANNEL_NAP_NS;
  return sysv_ipc_channel__segment_gone(s->ch) ? EIDRM : 0;
}

/* With the send lock held: publishes (nothing into a removed channel), releases the lock, wakes a sleeping consumer. */
static inline int sysv_ipc_channel__send_holding_lock(sysv_ipc_channel* ch, const void* data, size_t length) {
  sysv_ipc_lock* lock = sysv_ipc_channel__send_lock(ch);
  int r;
  /* Removed while we waited for the lock: publish nothing into a removed channel. */
  if (sysv_ipc_channel_removed(ch)) {
    sysv_ipc_lock_release(lock, &ch->self);
    return EIDRM;
  }
  r = sysv_ipc_channel__write_locked(ch, data, (uint32_t)length);
  sysv_ipc_lock_release(lock, &ch->self);
  if (r == 0) sysv_ipc_channel__wake(ch, SYSV_IPC_CHANNEL_OFF_DATA_SLEEP, SYSV_IPC_CHANNEL_OFF_DATA_SEQ);
  return r;
}

/*
 * Sends one message without sleeping for room: 0, EAGAIN (full, or the send
 * lock stayed busy for `lock_deadline_ns`), EMSGSIZE, EIDRM (also while
 * waiting for the lock), ECORRUPT, or a lock error. With lock_deadline_ns -1
 * the lock is waited for as long as it takes (a dead holder's lock is taken
 * over, lock.h).
 */
static inline int sysv_ipc_channel_try_send_waiting(sysv_ipc_channel* ch, const void* data, size_t length,
                                                    int64_t lock_deadline_ns, sysv_ipc_lock_wait_state* wait);

static inline int sysv_ipc_channel_try_send(sysv_ipc_channel* ch, const void* data, size_t length,
                                            int64_t lock_deadline_ns) {
  return sysv_ipc_channel_try_send_waiting(ch, data, length, lock_deadline_ns, NULL);
}

/*
 * try_send with the lock wait's state kept by the caller (zeroed before the
 * first call; NULL for a fresh one): a caller that waits in slices (a
 * deadline per slice, as the addon's sync waits do to notice a worker's
 * termination) keeps its suspicion of a dead holder across them, so the
 * takeover of lock.h's SYSV_IPC_LOCK_STABLE_NS still happens.
 */
static inline int sysv_ipc_channel_try_send_waiting(sysv_ipc_channel* ch, const void* data, size_t length,
                                                    int64_t lock_deadline_ns, sysv_ipc_lock_wait_state* wait) {
  sysv_ipc_lock* lock = sysv_ipc_channel__send_lock(ch);
  sysv_ipc_lock_wait_state fresh;
  int r;
  if (length > ch->max_message) return EMSGSIZE;
  if (sysv_ipc_channel_removed(ch)) return EIDRM;
  if (ch->self.start == 0 && (r = sysv_ipc_lock_self_init(&ch->self)) != 0) return r;
  r = sysv_ipc_lock_try(lock, &ch->self);
  if (r == SYSV_IPC_LOCK_BUSY) {
    sysv_ipc_channel__lock_stop stop;
    if (wait == NULL) {
      memset(&fresh, 0, sizeof fresh);
      wait = &fresh;
    }
    stop.ch = ch;
    stop.next_gone_check_ns = 0;
    r = sysv_ipc_lock_wait_or_stop(lock, &ch->self, lock_deadline_ns, SYSV_IPC_CHANNEL_LOCK_SPIN_NS, wait,
                                   sysv_ipc_channel__lock_stop_check, &stop);
  }
  if (r == ETIMEDOUT) return EAGAIN;
  if (r == SYSV_IPC_LOCK_CORRUPT) return SYSV_IPC_CHANNEL_ECORRUPT;
  /* OWNER_DIED: the previous producer was killed holding the lock. It had
   * published nothing it had not finished (tail is stored last): nothing to repair. */
  if (r != 0 && r != SYSV_IPC_LOCK_OWNER_DIED) return r;
  return sysv_ipc_channel__send_holding_lock(ch, data, length);
}

/*
 * try_send for a sender that sleeps elsewhere (the addon's futex parker): the
 * send lock is taken without waiting (lock.h's sysv_ipc_lock_arm, with
 * `wait` kept across calls as for try_send_waiting). 0 sent, EAGAIN (full),
 * EMSGSIZE, EIDRM, ECORRUPT, a lock error, or SYSV_IPC_CHANNEL__ARMED: the
 * lock is held by another; sleep on *word while it holds *seq, and call
 * again when it changed, when woken, and around wait->next_check_ns.
 * remove() wakes the lock word's sleepers without changing the word: a
 * sleeper that may miss such a wake (one of many in a futex_waitv set) still
 * sees the removal at its next call.
 */
static inline int sysv_ipc_channel_try_send_armed(sysv_ipc_channel* ch, const void* data, size_t length,
                                                  sysv_ipc_lock_wait_state* wait, uint32_t** word, uint32_t* seq) {
  sysv_ipc_lock* lock = sysv_ipc_channel__send_lock(ch);
  int r;
  if (length > ch->max_message) return EMSGSIZE;
  if (sysv_ipc_channel_removed(ch)) return EIDRM;
  if (ch->self.start == 0 && (r = sysv_ipc_lock_self_init(&ch->self)) != 0) return r;
  r = sysv_ipc_lock_arm(lock, &ch->self, wait, NULL, NULL, seq);
  if (r == SYSV_IPC_LOCK_ARMED) {
    *word = &lock->word;
    return SYSV_IPC_CHANNEL__ARMED;
  }
  if (r == SYSV_IPC_LOCK_CORRUPT) return SYSV_IPC_CHANNEL_ECORRUPT;
  /* OWNER_DIED: as in try_send_waiting, nothing to repair. */
  if (r != 0 && r != SYSV_IPC_LOCK_OWNER_DIED) return r;
  return sysv_ipc_channel__send_holding_lock(ch, data, length);
}

static inline int sysv_ipc_channel__writable(const sysv_ipc_channel* ch, uint64_t need) {
  uint64_t h, t, index, pad;
  if (sysv_ipc_channel_removed(ch)) return 1;
  if (sysv_ipc_channel__positions(ch, &h, &t) != 0) return 1;
  index = t % ch->capacity;
  pad = (index + need > ch->capacity) ? ch->capacity - index : 0;
  return ch->capacity - (t - h) >= pad + need;
}

/*
 * The first half of sysv_ipc_channel_wait_writable, for a waiter that sleeps
 * elsewhere (the addon's futex parker): as sysv_ipc_channel_arm_readable, for
 * room for a message of `length`. *word and *seq are set also when it
 * returns 0.
 */
static inline int sysv_ipc_channel_arm_writable(sysv_ipc_channel* ch, size_t length, uint32_t** word, uint32_t* seq) {
  *word = sysv_ipc_channel__u32(ch, SYSV_IPC_CHANNEL_OFF_SPACE_SEQ);
  *seq = __atomic_load_n(*word, __ATOMIC_SEQ_CST);
  return sysv_ipc_channel__sleep_arm(ch, SYSV_IPC_CHANNEL_OFF_SPACE_SLEEP, SYSV_IPC_CHANNEL_OFF_SPACE_SEQ,
                                     sysv_ipc_channel__writable, sysv_ipc_channel_record_size(length), seq);
}

/* One sleep until a message of `length` may fit (0, ETIMEDOUT, EINTR, EIDRM). */
static inline int sysv_ipc_channel_wait_writable(sysv_ipc_channel* ch, size_t length, int64_t deadline_ns) {
  return sysv_ipc_channel__sleep(ch, SYSV_IPC_CHANNEL_OFF_SPACE_SLEEP, SYSV_IPC_CHANNEL_OFF_SPACE_SEQ,
                                 sysv_ipc_channel__writable, sysv_ipc_channel_record_size(length), deadline_ns);
}

/* ---- consumers ---- */

/*
 * Takes the oldest message: copies it into `buffer` (`size` bytes) and sets
 * *length. 0, EAGAIN (empty), EMSGSIZE (the message is longer than `size`:
 * *length says how long; nothing consumed), EIDRM, ECORRUPT.
 * `buffer` may receive partial copies of messages another consumer won;
 * only its first *length bytes after a 0 return mean anything.
 */
static inline int sysv_ipc_channel_try_receive(sysv_ipc_channel* ch, void* buffer, size_t size, size_t* length) {
  unsigned char* ring = sysv_ipc_channel__ring(ch);
  uint64_t* headp = sysv_ipc_channel__u64(ch, SYSV_IPC_CHANNEL_OFF_HEAD);
  uint64_t cap = ch->capacity;
  long tries;
  for (tries = 0; tries < SYSV_IPC_CHANNEL_MAX_RETRIES; tries++) {
    uint64_t h, t, index, avail, step;
    uint32_t len, tag;
    int r = sysv_ipc_channel__positions(ch, &h, &t);
    if (r != 0) {
      if (sysv_ipc_channel_removed(ch)) return EIDRM;
      return r;
    }
    if (h == t) return sysv_ipc_channel_removed(ch) ? EIDRM : EAGAIN;
    index = h % cap;
    avail = t - h;
    /* The record header may be rewritten under us once another consumer
     * moves head: every check below that fails is re-judged against head. */
    len = __atomic_load_n((uint32_t*)(void*)(ring + index), __ATOMIC_RELAXED);
    tag = __atomic_load_n((uint32_t*)(void*)(ring + index + 4), __ATOMIC_RELAXED);
    if (tag == SYSV_IPC_CHANNEL_TAG_PADDING) {
      step = (uint64_t)len + SYSV_IPC_CHANNEL_RECORD_HEADER;
      if (index + step != cap || step > avail) goto check;
      /* Skip the padding; whoever wins the CAS, the next turn reads at 0. */
      __atomic_compare_exchange_n(headp, &h, h + step, 0, __ATOMIC_SEQ_CST, __ATOMIC_RELAXED);
      continue;
    }
    if (tag != SYSV_IPC_CHANNEL_TAG_MESSAGE || len > ch->max_message) goto check;
    step = sysv_ipc_channel_record_size(len);
    if (step > avail || index + step > cap) goto check;
    if (len > size) {
      /* Only report it if the record was still ours to read. The fence keeps
       * the len/tag loads above before the head load (an acquire load orders
       * only what comes after it): the seqlock read barrier. */
      __atomic_thread_fence(__ATOMIC_ACQUIRE);
      if (__atomic_load_n(headp, __ATOMIC_RELAXED) != h) continue;
      *length = len;
      return EMSGSIZE;
    }
    if (len != 0) memcpy(buffer, ring + index + SYSV_IPC_CHANNEL_RECORD_HEADER, len);
    if (__atomic_compare_exchange_n(headp, &h, h + step, 0, __ATOMIC_SEQ_CST, __ATOMIC_RELAXED)) {
      *length = len;
      sysv_ipc_channel__note_cpu(ch, SYSV_IPC_CHANNEL_OFF_CONSUMER_CPU);
      sysv_ipc_channel__wake(ch, SYSV_IPC_CHANNEL_OFF_SPACE_SLEEP, SYSV_IPC_CHANNEL_OFF_SPACE_SEQ);
      return 0;
    }
    continue; /* another consumer took it: our copy may be torn, throw it away */
  check:
    __atomic_thread_fence(__ATOMIC_ACQUIRE); /* as above: len/tag before the re-check */
    if (__atomic_load_n(headp, __ATOMIC_RELAXED) != h) continue;
    return SYSV_IPC_CHANNEL_ECORRUPT;
  }
  return SYSV_IPC_CHANNEL_ECORRUPT;
}

/*
 * The first half of sysv_ipc_channel_wait_readable, for a waiter that sleeps
 * elsewhere (the addon's futex parker): SYSV_IPC_CHANNEL__ARMED with *word and
 * *seq set (sleep while *word == *seq, at most SYSV_IPC_CHANNEL_NAP_NS, then
 * sysv_ipc_channel__nap_over), 0 (look again) or EIDRM.
 */
static inline int sysv_ipc_channel_arm_readable(sysv_ipc_channel* ch, uint32_t** word, uint32_t* seq) {
  *word = sysv_ipc_channel__u32(ch, SYSV_IPC_CHANNEL_OFF_DATA_SEQ);
  return sysv_ipc_channel__sleep_arm(ch, SYSV_IPC_CHANNEL_OFF_DATA_SLEEP, SYSV_IPC_CHANNEL_OFF_DATA_SEQ,
                                     sysv_ipc_channel__readable, 0, seq);
}

/* One sleep until the ring may hold a message (0, ETIMEDOUT, EINTR, EIDRM). */
static inline int sysv_ipc_channel_wait_readable(sysv_ipc_channel* ch, int64_t deadline_ns) {
  return sysv_ipc_channel__sleep(ch, SYSV_IPC_CHANNEL_OFF_DATA_SLEEP, SYSV_IPC_CHANNEL_OFF_DATA_SEQ,
                                 sysv_ipc_channel__readable, 0, deadline_ns);
}

/* ---- the blocking forms (C peers; the addon composes the same pieces with its waiter) ---- */

/* One turn of a spin (while spin_ns lasts; 0 once it is over). Where the
 * peer we wait for runs decides how (issue 25): while it last ran on another
 * CPU, a turn is a pause instruction and nothing else, so the handoff costs
 * what the cache line costs; while it shares this CPU (or we cannot tell), a
 * turn yields, as spinning would starve it for a whole time slice. The hint
 * may be stale (the peer migrated since): a wrong "elsewhere" costs at most
 * this spin, after which the waiter sleeps on the futex and the peer runs. */
static inline int sysv_ipc_channel__spin_until(const sysv_ipc_channel* ch, size_t peer_cpu_off, int64_t end_ns, int i) {
  if ((i & 15) == 15 && sysv_ipc_channel_now_ns() >= end_ns) return 0;
  if (sysv_ipc_channel__peer_elsewhere(ch, peer_cpu_off))
    sysv_ipc_channel__cpu_relax();
  else
    sched_yield();
  return 1;
}

/*
 * Sends, waiting for room: spins up to spin_ns, then sleeps. 0, ETIMEDOUT,
 * EMSGSIZE, EIDRM, ECORRUPT; EINTR only if `eintr` is set (else retried).
 */
static inline int sysv_ipc_channel_send_waiting(sysv_ipc_channel* ch, const void* data, size_t length, int64_t spin_ns,
                                                int64_t deadline_ns, int eintr, sysv_ipc_lock_wait_state* wait);

static inline int sysv_ipc_channel_send(sysv_ipc_channel* ch, const void* data, size_t length, int64_t spin_ns,
                                        int64_t deadline_ns, int eintr) {
  sysv_ipc_lock_wait_state wait;
  memset(&wait, 0, sizeof wait);
  return sysv_ipc_channel_send_waiting(ch, data, length, spin_ns, deadline_ns, eintr, &wait);
}

/* send with the lock wait's state kept by the caller across calls (see try_send_waiting). */
static inline int sysv_ipc_channel_send_waiting(sysv_ipc_channel* ch, const void* data, size_t length, int64_t spin_ns,
                                                int64_t deadline_ns, int eintr, sysv_ipc_lock_wait_state* wait) {
  int64_t spin_end = spin_ns > 0 ? sysv_ipc_channel_now_ns() + spin_ns : 0;
  int i = 0;
  for (;;) {
    int r = sysv_ipc_channel_try_send_waiting(ch, data, length, deadline_ns, wait);
    if (r == EINTR && !eintr) continue;
    if (r != EAGAIN) return r;
    /* The lock stayed busy until the deadline, or the ring is full at it. */
    if (deadline_ns >= 0 && sysv_ipc_channel_now_ns() >= deadline_ns) return ETIMEDOUT;
    if (spin_ns > 0 && sysv_ipc_channel__spin_until(ch, SYSV_IPC_CHANNEL_OFF_CONSUMER_CPU, spin_end, i++)) continue;
    spin_ns = 0;
    r = sysv_ipc_channel_wait_writable(ch, length, deadline_ns);
    if (r == EINTR && !eintr) continue;
    if (r != 0) return r;
  }
}

/* Receives, waiting for a message: spins up to spin_ns, then sleeps. */
static inline int sysv_ipc_channel_receive(sysv_ipc_channel* ch, void* buffer, size_t size, size_t* length,
                                           int64_t spin_ns, int64_t deadline_ns, int eintr) {
  int64_t spin_end = spin_ns > 0 ? sysv_ipc_channel_now_ns() + spin_ns : 0;
  int i = 0;
  for (;;) {
    int r = sysv_ipc_channel_try_receive(ch, buffer, size, length);
    if (r != EAGAIN) return r;
    if (spin_ns > 0 && sysv_ipc_channel__spin_until(ch, SYSV_IPC_CHANNEL_OFF_PRODUCER_CPU, spin_end, i++)) continue;
    spin_ns = 0;
    r = sysv_ipc_channel_wait_readable(ch, deadline_ns);
    if (r == EINTR && !eintr) continue;
    if (r != 0) return r;
  }
}

/* ---- inspection (read-only; for info() and `sysv-ipc ls`) ---- */

/* The most records the addon's info() and `sysv-ipc ls` walk per look (a few
 * milliseconds): a ring of tiny messages can hold capacity / 8 records, and
 * the walk runs on the JavaScript thread. */
#define SYSV_IPC_CHANNEL_STATS_WALK (1u << 20)

typedef struct sysv_ipc_channel_stats {
  uint64_t messages; /* records counted from head: all of them when counted == used */
  uint64_t bytes;    /* their payload bytes */
  uint64_t used;     /* ring bytes between head and tail (framing and padding included) */
  uint64_t counted;  /* ring bytes from head that the counts cover: == used, or fewer when the walk stopped */
} sysv_ipc_channel_stats;

/*
 * Walks the ring from head towards tail, at most `max_records` records
 * (UINT64_MAX: all). A snapshot: consumers and producers may move meanwhile;
 * a record that does not check out is corruption only if head and tail did
 * not move (else it was reused under us, and the walk starts again, a few
 * times at most). When the walk stops at max_records, messages and bytes
 * count the oldest records only (counted < used): lower bounds.
 */
static inline int sysv_ipc_channel_stats_bounded(const sysv_ipc_channel* ch, sysv_ipc_channel_stats* out,
                                                 uint64_t max_records) {
  const unsigned char* ring = ch->base + SYSV_IPC_CHANNEL_HEADER_SIZE;
  int attempt;
  for (attempt = 0; attempt < 4; attempt++) {
    uint64_t h = 0, t = 0, p, index, messages = 0, bytes = 0, records = 0;
    int bad = 0;
    if (sysv_ipc_channel__positions(ch, &h, &t) != 0) return SYSV_IPC_CHANNEL_ECORRUPT;
    /* index follows p without a division per record (records never straddle the end) */
    for (p = h, index = h % ch->capacity; p != t && records < max_records; records++) {
      uint64_t step = 0;
      uint32_t len = __atomic_load_n((const uint32_t*)(const void*)(ring + index), __ATOMIC_RELAXED);
      uint32_t tag = __atomic_load_n((const uint32_t*)(const void*)(ring + index + 4), __ATOMIC_RELAXED);
      if (tag == SYSV_IPC_CHANNEL_TAG_PADDING) {
        step = (uint64_t)len + SYSV_IPC_CHANNEL_RECORD_HEADER;
        if (index + step != ch->capacity) bad = 1;
      } else if (tag == SYSV_IPC_CHANNEL_TAG_MESSAGE && len <= ch->max_message) {
        step = sysv_ipc_channel_record_size(len);
        if (index + step > ch->capacity) bad = 1;
        messages++;
        bytes += len;
      } else {
        bad = 1;
      }
      if (bad || step > t - p) {
        bad = 1;
        break;
      }
      p += step;
      index += step;
      if (index == ch->capacity) index = 0;
    }
    if (!bad) {
      out->messages = messages;
      out->bytes = bytes;
      out->used = t - h;
      out->counted = p - h;
      return 0;
    }
    /* Moved under us? Then look again; if not, it really is corrupt. The
     * fence keeps the record loads above before these (seqlock read barrier). */
    __atomic_thread_fence(__ATOMIC_ACQUIRE);
    if (__atomic_load_n(sysv_ipc_channel__u64(ch, SYSV_IPC_CHANNEL_OFF_HEAD), __ATOMIC_RELAXED) == h &&
        __atomic_load_n(sysv_ipc_channel__u64(ch, SYSV_IPC_CHANNEL_OFF_TAIL), __ATOMIC_RELAXED) == t) {
      return SYSV_IPC_CHANNEL_ECORRUPT;
    }
    out->used = t - h;
  }
  /* Reused under every walk (a small ring, busy on both sides): nothing
   * counted, which is true, rather than a corruption that is not. */
  out->messages = 0;
  out->bytes = 0;
  out->counted = 0;
  return 0;
}

/* The whole walk (C peers): every record between head and tail. */
static inline int sysv_ipc_channel_stats_of(const sysv_ipc_channel* ch, sysv_ipc_channel_stats* out) {
  return sysv_ipc_channel_stats_bounded(ch, out, UINT64_MAX);
}

#ifdef __cplusplus
}
#endif

#endif /* SYSV_IPC_CHANNEL_H */
