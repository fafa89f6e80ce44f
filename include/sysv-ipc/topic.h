/*
 * sysv-ipc topic: publish/subscribe in one System V shared memory segment.
 * One ring written once by the publishers (serialised by a lock.h lock),
 * read by every subscription at its own cursor (the LMAX Disruptor's shape:
 * a 'wait' topic's publishers are gated by the slowest live subscription;
 * an 'overwrite' topic's never wait, and a subscription a whole ring behind
 * skips to the oldest message still held).
 *
 * Header-only, C11 with GCC/Clang __atomic builtins (compiles as C++17 too);
 * Linux only (futex(2)). The Node package (lib/topic.ts) speaks the same
 * protocol from JavaScript and its addon (native/topic.cc) uses this file to
 * create and check headers and to claim, free and reap subscriptions. The
 * layout and its memory-ordering rules are docs/topic-layout.md.
 *
 * Positions and sequence numbers are u32 and wrap: they are compared by
 * their difference as int32 (the ring is at most 2^30 bytes, a power of two
 * so that position & (capacity - 1) stays right across the wrap).
 */
#ifndef SYSV_IPC_TOPIC_H
#define SYSV_IPC_TOPIC_H

#include <errno.h>
#include <limits.h>
#include <linux/futex.h>
#include <stdint.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "liveness.h"
#include "lock.h"

#ifdef __cplusplus
extern "C" {
#endif

#define SYSV_IPC_TOPIC_MAGIC 0x50545653u /* "SVTP" on little-endian */
#define SYSV_IPC_TOPIC_VERSION 1u
#define SYSV_IPC_TOPIC_HEADER_SIZE 256u
#define SYSV_IPC_TOPIC_SLOT_SIZE 32u
#define SYSV_IPC_TOPIC_RECORD_HEADER 8u
#define SYSV_IPC_TOPIC_MIN_CAPACITY 1024u
#define SYSV_IPC_TOPIC_MAX_CAPACITY (1u << 30)
#define SYSV_IPC_TOPIC_MAX_SUBSCRIBERS 4096u
#define SYSV_IPC_TOPIC_PAD 0xFFFFFFFFu /* a record's length: padding to the ring's end */

#define SYSV_IPC_TOPIC_WAIT 0u
#define SYSV_IPC_TOPIC_OVERWRITE 1u

/* Header offsets (bytes). 0..63 written once; 64..127 by publishers; 192..255 by subscribers. */
#define SYSV_IPC_TOPIC_OFF_MAGIC 0
#define SYSV_IPC_TOPIC_OFF_VERSION 4
#define SYSV_IPC_TOPIC_OFF_HEADER_SIZE 8
#define SYSV_IPC_TOPIC_OFF_CAPACITY 12
#define SYSV_IPC_TOPIC_OFF_MAX_MESSAGE 16
#define SYSV_IPC_TOPIC_OFF_MAX_SUBSCRIBERS 20
#define SYSV_IPC_TOPIC_OFF_WHEN_FULL 24
#define SYSV_IPC_TOPIC_OFF_REMOVED 28
#define SYSV_IPC_TOPIC_OFF_LOCK 32 /* lock.h record, 16 bytes */
#define SYSV_IPC_TOPIC_OFF_TAIL 64 /* u32: position after the last message (the commit) */
#define SYSV_IPC_TOPIC_OFF_NEXT_SEQ 68
#define SYSV_IPC_TOPIC_OFF_HEAD 72
#define SYSV_IPC_TOPIC_OFF_HEAD_SEQ 76
#define SYSV_IPC_TOPIC_OFF_DATA_SLEEP 80 /* 1: a subscriber sleeps (or is about to) */
#define SYSV_IPC_TOPIC_OFF_DATA_SEQ 84   /* u32 futex: subscribers sleep here; bumped by waking publishes and removal */
#define SYSV_IPC_TOPIC_OFF_SLOTS_USED 88 /* u32: 1 + the highest slot ever positioned (the gate scans no further) */
#define SYSV_IPC_TOPIC_OFF_SPACE_SEQ 192 /* u32 futex: publishers sleep here */
#define SYSV_IPC_TOPIC_OFF_SPACE_SLEEP 196 /* 1: a publisher sleeps (or is about to) */

/* Subscription slot (32 bytes at 256 + 32 * i). */
#define SYSV_IPC_TOPIC_SLOT_OWNER 0   /* u32: 0 free, else the holder's pid (claimed by CAS) */
#define SYSV_IPC_TOPIC_SLOT_ACTIVE 4  /* u32: 1 once cursor and seq are valid */
#define SYSV_IPC_TOPIC_SLOT_START 8   /* u64: the holder's start time (liveness.h); 0 until written */
#define SYSV_IPC_TOPIC_SLOT_CURSOR 16 /* u32: position of the next record to read */
#define SYSV_IPC_TOPIC_SLOT_SEQ 20    /* u32: sequence number of the next message to read */

/*
 * A test's crash point: test/c/topic-peer.c defines this before including
 * the header to kill itself between two given stores of a publish (the
 * windows a SIGKILLed publisher can leave behind; docs/topic-layout.md,
 * "Crashes"). Nothing by default.
 */
#ifndef SYSV_IPC_TOPIC_TEST_POINT
#define SYSV_IPC_TOPIC_TEST_POINT(n) ((void)0)
#endif

/* How long a receive spins (yielding) before it sleeps: as the Node package's sync forms. */
#define SYSV_IPC_TOPIC_SPIN_NS 20000

/* Results (0 or a positive errno value). */
#define SYSV_IPC_TOPIC_NOT_A_TOPIC EPROTO
#define SYSV_IPC_TOPIC_CORRUPT EBADMSG
#define SYSV_IPC_TOPIC_FULL ENOSPC /* every subscription slot is taken */

/* The local view of an attached topic: trusted copies of the geometry, checked once. */
typedef struct sysv_ipc_topic {
  uint8_t* base;
  uint32_t capacity;
  uint32_t mask;
  uint32_t max_message;
  uint32_t max_subscribers;
  uint32_t when_full;
  uint32_t ring_offset;
} sysv_ipc_topic;

/* A subscription's private cursor (its slot holds a copy for the publishers). */
typedef struct sysv_ipc_topic_sub {
  uint32_t slot;
  uint32_t cursor;
  uint32_t seq;
  uint32_t resynced; /* moved to head without knowing its sequence: the next message read says what was skipped */
  uint64_t missed;
} sysv_ipc_topic_sub;

static inline uint32_t* sysv_ipc_topic__u32(uint8_t* base, uint32_t off) { return (uint32_t*)(void*)(base + off); }
static inline uint64_t* sysv_ipc_topic__u64(uint8_t* base, uint32_t off) { return (uint64_t*)(void*)(base + off); }
static inline uint32_t sysv_ipc_topic__slot(uint32_t i) {
  return SYSV_IPC_TOPIC_HEADER_SIZE + SYSV_IPC_TOPIC_SLOT_SIZE * i;
}
static inline uint32_t sysv_ipc_topic__align8(uint32_t n) { return (n + 7u) & ~7u; }
/* a is before b (wrapping u32 positions or sequence numbers). */
static inline int sysv_ipc_topic__before(uint32_t a, uint32_t b) { return (int32_t)(a - b) < 0; }

/* Where the ring starts: after the header and the subscription table, on a 64-byte line. */
static inline uint32_t sysv_ipc_topic_ring_offset(uint32_t max_subscribers) {
  return (SYSV_IPC_TOPIC_HEADER_SIZE + SYSV_IPC_TOPIC_SLOT_SIZE * max_subscribers + 63u) & ~63u;
}

/* Bytes a segment needs for this geometry. */
static inline uint64_t sysv_ipc_topic_size(uint32_t capacity, uint32_t max_subscribers) {
  return (uint64_t)sysv_ipc_topic_ring_offset(max_subscribers) + capacity;
}

static inline int sysv_ipc_topic__geometry_ok(uint32_t capacity, uint32_t max_message, uint32_t max_subscribers,
                                              uint32_t when_full, uint64_t segment_size) {
  if (capacity < SYSV_IPC_TOPIC_MIN_CAPACITY || capacity > SYSV_IPC_TOPIC_MAX_CAPACITY) return 0;
  if ((capacity & (capacity - 1u)) != 0) return 0;
  if (max_message > capacity / 4u) return 0;
  if (max_subscribers < 1u || max_subscribers > SYSV_IPC_TOPIC_MAX_SUBSCRIBERS) return 0;
  if (when_full > SYSV_IPC_TOPIC_OVERWRITE) return 0;
  return sysv_ipc_topic_size(capacity, max_subscribers) <= segment_size;
}

/*
 * Writes a fresh header into a zeroed segment of `segment_size` bytes (only
 * its creator does): every field, the identity last (release). EINVAL for
 * a geometry out of range (nothing written).
 */
static inline int sysv_ipc_topic_init(uint8_t* base, uint64_t segment_size, uint32_t capacity, uint32_t max_message,
                                      uint32_t max_subscribers, uint32_t when_full) {
  if (!sysv_ipc_topic__geometry_ok(capacity, max_message, max_subscribers, when_full, segment_size)) return EINVAL;
  *sysv_ipc_topic__u32(base, SYSV_IPC_TOPIC_OFF_HEADER_SIZE) = SYSV_IPC_TOPIC_HEADER_SIZE;
  *sysv_ipc_topic__u32(base, SYSV_IPC_TOPIC_OFF_CAPACITY) = capacity;
  *sysv_ipc_topic__u32(base, SYSV_IPC_TOPIC_OFF_MAX_MESSAGE) = max_message;
  *sysv_ipc_topic__u32(base, SYSV_IPC_TOPIC_OFF_MAX_SUBSCRIBERS) = max_subscribers;
  *sysv_ipc_topic__u32(base, SYSV_IPC_TOPIC_OFF_WHEN_FULL) = when_full;
  *sysv_ipc_topic__u32(base, SYSV_IPC_TOPIC_OFF_VERSION) = SYSV_IPC_TOPIC_VERSION;
  __atomic_store_n(sysv_ipc_topic__u32(base, SYSV_IPC_TOPIC_OFF_MAGIC), SYSV_IPC_TOPIC_MAGIC, __ATOMIC_SEQ_CST);
  return 0;
}

/*
 * Checks the header of an attached segment and fills `t` with trusted
 * copies: 0; NOT_A_TOPIC when the identity is not a topic's of this version
 * (zeros, a Channel's header); CORRUPT when the identity is there but a
 * geometry field is impossible or does not fit the segment. Writes nothing.
 */
static inline int sysv_ipc_topic_attach(sysv_ipc_topic* t, uint8_t* base, uint64_t segment_size) {
  uint32_t capacity, max_message, max_subscribers, when_full;
  memset(t, 0, sizeof *t);
  if (segment_size < SYSV_IPC_TOPIC_HEADER_SIZE) return SYSV_IPC_TOPIC_NOT_A_TOPIC;
  if (__atomic_load_n(sysv_ipc_topic__u32(base, SYSV_IPC_TOPIC_OFF_MAGIC), __ATOMIC_ACQUIRE) != SYSV_IPC_TOPIC_MAGIC ||
      *sysv_ipc_topic__u32(base, SYSV_IPC_TOPIC_OFF_VERSION) != SYSV_IPC_TOPIC_VERSION) {
    return SYSV_IPC_TOPIC_NOT_A_TOPIC;
  }
  capacity = *sysv_ipc_topic__u32(base, SYSV_IPC_TOPIC_OFF_CAPACITY);
  max_message = *sysv_ipc_topic__u32(base, SYSV_IPC_TOPIC_OFF_MAX_MESSAGE);
  max_subscribers = *sysv_ipc_topic__u32(base, SYSV_IPC_TOPIC_OFF_MAX_SUBSCRIBERS);
  when_full = *sysv_ipc_topic__u32(base, SYSV_IPC_TOPIC_OFF_WHEN_FULL);
  if (*sysv_ipc_topic__u32(base, SYSV_IPC_TOPIC_OFF_HEADER_SIZE) != SYSV_IPC_TOPIC_HEADER_SIZE ||
      !sysv_ipc_topic__geometry_ok(capacity, max_message, max_subscribers, when_full, segment_size)) {
    return SYSV_IPC_TOPIC_CORRUPT;
  }
  t->base = base;
  t->capacity = capacity;
  t->mask = capacity - 1u;
  t->max_message = max_message;
  t->max_subscribers = max_subscribers;
  t->when_full = when_full;
  t->ring_offset = sysv_ipc_topic_ring_offset(max_subscribers);
  return 0;
}

static inline sysv_ipc_lock* sysv_ipc_topic__lock(const sysv_ipc_topic* t) {
  return (sysv_ipc_lock*)(void*)(t->base + SYSV_IPC_TOPIC_OFF_LOCK);
}

static inline long sysv_ipc_topic__futex(uint32_t* word, int op, uint32_t value, const struct timespec* timeout) {
  /* Shared futex (no FUTEX_PRIVATE_FLAG: the peers are other processes). */
  return syscall(SYS_futex, word, op, value, timeout, NULL, 0);
}

static inline int sysv_ipc_topic_removed(const sysv_ipc_topic* t) {
  return __atomic_load_n(sysv_ipc_topic__u32(t->base, SYSV_IPC_TOPIC_OFF_REMOVED), __ATOMIC_ACQUIRE) != 0;
}

/* Wakes every subscriber asleep on data_seq: the word moves first, so that
 * one that read it before the change and is not yet in FUTEX_WAIT does not
 * sleep (the kernel compares), and one already in it is woken. */
static inline void sysv_ipc_topic__wake_data(const sysv_ipc_topic* t) {
  __atomic_fetch_add(sysv_ipc_topic__u32(t->base, SYSV_IPC_TOPIC_OFF_DATA_SEQ), 1u, __ATOMIC_SEQ_CST);
  sysv_ipc_topic__futex(sysv_ipc_topic__u32(t->base, SYSV_IPC_TOPIC_OFF_DATA_SEQ), FUTEX_WAKE, INT_MAX, NULL);
}

/* Marks the topic removed and wakes every sleeper (they report EIDRM).
 * Removal must change the word subscribers sleep on: a subscriber that
 * looked at `removed` just before the store and parks just after the wake
 * would otherwise sleep on, as tail (the word they slept on before) does
 * not move at removal. */
static inline void sysv_ipc_topic_mark_removed(const sysv_ipc_topic* t) {
  __atomic_store_n(sysv_ipc_topic__u32(t->base, SYSV_IPC_TOPIC_OFF_REMOVED), 1u, __ATOMIC_SEQ_CST);
  __atomic_fetch_add(sysv_ipc_topic__u32(t->base, SYSV_IPC_TOPIC_OFF_SPACE_SEQ), 1u, __ATOMIC_SEQ_CST);
  sysv_ipc_topic__wake_data(t);
  sysv_ipc_topic__futex(sysv_ipc_topic__u32(t->base, SYSV_IPC_TOPIC_OFF_SPACE_SEQ), FUTEX_WAKE, INT_MAX, NULL);
}

/* Wakes publishers that said they sleep for room (a subscription moved on or went away). */
static inline void sysv_ipc_topic__wake_space(const sysv_ipc_topic* t) {
  uint32_t* sleep = sysv_ipc_topic__u32(t->base, SYSV_IPC_TOPIC_OFF_SPACE_SLEEP);
  if (__atomic_load_n(sleep, __ATOMIC_SEQ_CST) == 0) return;
  __atomic_store_n(sleep, 0u, __ATOMIC_SEQ_CST);
  __atomic_fetch_add(sysv_ipc_topic__u32(t->base, SYSV_IPC_TOPIC_OFF_SPACE_SEQ), 1u, __ATOMIC_SEQ_CST);
  sysv_ipc_topic__futex(sysv_ipc_topic__u32(t->base, SYSV_IPC_TOPIC_OFF_SPACE_SEQ), FUTEX_WAKE, INT_MAX, NULL);
}

/*
 * Claims a free subscription slot for (pid, start): 0 with *slot set, FULL
 * when every slot is taken. The slot is not active (publishers ignore it)
 * until sysv_ipc_topic_position has set its cursor.
 */
static inline uint32_t sysv_ipc_topic_reap(const sysv_ipc_topic* t);

/* Claims a free slot. With none free, the slots of dead processes are reaped
 * and it looks once more: only a publisher waiting for room reaps otherwise,
 * and an 'overwrite' topic has none, so dead subscribers would hold the table
 * for good (R11's review). */
static inline int sysv_ipc_topic_claim(const sysv_ipc_topic* t, const sysv_ipc_lock_self* self, uint32_t* slot) {
  uint32_t i;
  int reaped = 0;
again:
  for (i = 0; i < t->max_subscribers; i++) {
    uint32_t expected = 0;
    uint32_t off = sysv_ipc_topic__slot(i);
    if (__atomic_compare_exchange_n(sysv_ipc_topic__u32(t->base, off + SYSV_IPC_TOPIC_SLOT_OWNER), &expected, self->pid,
                                    0, __ATOMIC_SEQ_CST, __ATOMIC_RELAXED)) {
      __atomic_store_n(sysv_ipc_topic__u64(t->base, off + SYSV_IPC_TOPIC_SLOT_START), self->start, __ATOMIC_SEQ_CST);
      *slot = i;
      return 0;
    }
  }
  if (!reaped) {
    reaped = 1;
    if (sysv_ipc_topic_reap(t) > 0) goto again;
  }
  return SYSV_IPC_TOPIC_FULL;
}

/*
 * Makes the publishers' words consistent again; the caller holds the lock,
 * taken over from a dead holder (lock.h's OWNER_DIED). A publisher killed
 * between two stores of a publish (docs/topic-layout.md, "Crashes") leaves
 * head_seq behind head (killed after storing head), next_seq one ahead of
 * tail (killed after storing next_seq), or a subscriber asleep on data_seq
 * that it did not wake (killed after the commit). The records in [head, tail) are
 * whole (a publisher writes only past tail, into bytes head has freed), and
 * each carries its sequence number: head_seq becomes the first message's,
 * next_seq the last one's + 1 (head_seq when the ring holds none: nothing
 * was ever published). The dead publisher's uncommitted record past tail is
 * discarded: the next publish writes over it. Then every subscriber asleep
 * on data_seq is woken. Idempotent (a repairer killed in turn is repaired by the
 * next). 0, or CORRUPT when the records do not run from head to tail with
 * consecutive sequence numbers.
 */
static inline int sysv_ipc_topic_repair(const sysv_ipc_topic* t) {
  uint8_t* b = t->base;
  uint8_t* ring = b + t->ring_offset;
  uint32_t tail = __atomic_load_n(sysv_ipc_topic__u32(b, SYSV_IPC_TOPIC_OFF_TAIL), __ATOMIC_SEQ_CST);
  uint32_t head = __atomic_load_n(sysv_ipc_topic__u32(b, SYSV_IPC_TOPIC_OFF_HEAD), __ATOMIC_SEQ_CST);
  uint32_t pos = head, steps = 0, count = 0, first = 0, last = 0;
  if ((tail & 7u) != 0 || (head & 7u) != 0 || tail - head > t->capacity) return SYSV_IPC_TOPIC_CORRUPT;
  while (pos != tail) {
    uint32_t off = pos & t->mask;
    uint32_t len = *sysv_ipc_topic__u32(ring, off);
    uint32_t seq = *sysv_ipc_topic__u32(ring, off + 4);
    if (++steps > t->capacity / 8u) return SYSV_IPC_TOPIC_CORRUPT;
    if (len == SYSV_IPC_TOPIC_PAD) {
      pos += t->capacity - off;
    } else {
      if (len > t->max_message || off + SYSV_IPC_TOPIC_RECORD_HEADER + sysv_ipc_topic__align8(len) > t->capacity) {
        return SYSV_IPC_TOPIC_CORRUPT;
      }
      if (count == 0) {
        first = seq;
      } else if (seq != last + 1u) {
        return SYSV_IPC_TOPIC_CORRUPT;
      }
      last = seq;
      count++;
      pos += SYSV_IPC_TOPIC_RECORD_HEADER + sysv_ipc_topic__align8(len);
    }
    if (sysv_ipc_topic__before(tail, pos)) return SYSV_IPC_TOPIC_CORRUPT;
  }
  if (count > 0) {
    __atomic_store_n(sysv_ipc_topic__u32(b, SYSV_IPC_TOPIC_OFF_HEAD_SEQ), first, __ATOMIC_SEQ_CST);
    __atomic_store_n(sysv_ipc_topic__u32(b, SYSV_IPC_TOPIC_OFF_NEXT_SEQ), last + 1u, __ATOMIC_SEQ_CST);
  } else {
    __atomic_store_n(sysv_ipc_topic__u32(b, SYSV_IPC_TOPIC_OFF_NEXT_SEQ),
                     __atomic_load_n(sysv_ipc_topic__u32(b, SYSV_IPC_TOPIC_OFF_HEAD_SEQ), __ATOMIC_SEQ_CST),
                     __ATOMIC_SEQ_CST);
  }
  /* Wake every sleeper (the dead publisher may have committed without); the
   * flag stays as it is (clearing it here could eat the flag of a subscriber
   * about to sleep: see __publish_locked). */
  sysv_ipc_topic__wake_data(t);
  return 0;
}

/*
 * Takes the publishers' lock, waiting up to `timeout_ns` (-1: no limit), and
 * repairs what a dead holder left (sysv_ipc_topic_repair): 0 with the lock
 * held, else the lock is not held and the result is ETIMEDOUT, CORRUPT or a
 * lock.h error.
 */
static inline int sysv_ipc_topic__lock_publishers(const sysv_ipc_topic* t, const sysv_ipc_lock_self* self,
                                                  int64_t timeout_ns) {
  int r = sysv_ipc_lock_acquire(sysv_ipc_topic__lock(t), self, timeout_ns);
  if (r == SYSV_IPC_LOCK_OK) return 0;
  if (r != SYSV_IPC_LOCK_OWNER_DIED) return r == EBUSY ? ETIMEDOUT : r;
  r = sysv_ipc_topic_repair(t);
  if (r != 0) sysv_ipc_lock_release(sysv_ipc_topic__lock(t), self);
  return r;
}

/*
 * Sets the cursor of claimed slot `slot` and makes it active: `oldest`
 * nonzero starts at the oldest message held, else at the next one
 * published. Takes the publishers' lock (waiting up to `timeout_ns`) for a
 * consistent (position, sequence) pair and so that the next publisher sees
 * the slot active before it moves head; a dead publisher's lock is taken
 * over here too, and what it left repaired (sysv_ipc_topic_repair). 0 with
 * *sub filled, CORRUPT, ETIMEDOUT, or a lock.h error.
 */
static inline int sysv_ipc_topic_position(const sysv_ipc_topic* t, const sysv_ipc_lock_self* self, uint32_t slot,
                                          int oldest, int64_t timeout_ns, sysv_ipc_topic_sub* sub) {
  uint32_t off = sysv_ipc_topic__slot(slot);
  int r = sysv_ipc_topic__lock_publishers(t, self, timeout_ns);
  if (r != 0) return r;
  if (oldest) {
    sub->cursor = __atomic_load_n(sysv_ipc_topic__u32(t->base, SYSV_IPC_TOPIC_OFF_HEAD), __ATOMIC_SEQ_CST);
    sub->seq = __atomic_load_n(sysv_ipc_topic__u32(t->base, SYSV_IPC_TOPIC_OFF_HEAD_SEQ), __ATOMIC_SEQ_CST);
  } else {
    sub->cursor = __atomic_load_n(sysv_ipc_topic__u32(t->base, SYSV_IPC_TOPIC_OFF_TAIL), __ATOMIC_SEQ_CST);
    sub->seq = __atomic_load_n(sysv_ipc_topic__u32(t->base, SYSV_IPC_TOPIC_OFF_NEXT_SEQ), __ATOMIC_SEQ_CST);
  }
  __atomic_store_n(sysv_ipc_topic__u32(t->base, off + SYSV_IPC_TOPIC_SLOT_CURSOR), sub->cursor, __ATOMIC_SEQ_CST);
  __atomic_store_n(sysv_ipc_topic__u32(t->base, off + SYSV_IPC_TOPIC_SLOT_SEQ), sub->seq, __ATOMIC_SEQ_CST);
  /* Publishers scan slots [0, slots_used) for the gate: most topics have a
   * few subscriptions in a table of 64 or more. It only grows, and under the
   * lock, before the slot is active, so the next publisher scans this slot. */
  if (__atomic_load_n(sysv_ipc_topic__u32(t->base, SYSV_IPC_TOPIC_OFF_SLOTS_USED), __ATOMIC_SEQ_CST) <= slot) {
    __atomic_store_n(sysv_ipc_topic__u32(t->base, SYSV_IPC_TOPIC_OFF_SLOTS_USED), slot + 1u, __ATOMIC_SEQ_CST);
  }
  __atomic_store_n(sysv_ipc_topic__u32(t->base, off + SYSV_IPC_TOPIC_SLOT_ACTIVE), 1u, __ATOMIC_SEQ_CST);
  sysv_ipc_lock_release(sysv_ipc_topic__lock(t), self);
  sub->slot = slot;
  sub->resynced = 0;
  sub->missed = 0;
  return 0;
}

/* For C programs: claim + position, with no time limit on the lock. */
static inline int sysv_ipc_topic_subscribe(const sysv_ipc_topic* t, const sysv_ipc_lock_self* self, int oldest,
                                           sysv_ipc_topic_sub* sub) {
  uint32_t slot;
  int r = sysv_ipc_topic_claim(t, self, &slot);
  if (r != 0) return r;
  r = sysv_ipc_topic_position(t, self, slot, oldest, -1, sub);
  if (r != 0) {
    __atomic_store_n(sysv_ipc_topic__u64(t->base, sysv_ipc_topic__slot(slot) + SYSV_IPC_TOPIC_SLOT_START), 0,
                     __ATOMIC_SEQ_CST);
    __atomic_store_n(sysv_ipc_topic__u32(t->base, sysv_ipc_topic__slot(slot) + SYSV_IPC_TOPIC_SLOT_OWNER), 0u,
                     __ATOMIC_SEQ_CST);
  }
  return r;
}

/* Frees slot `slot` (inactive first, then free) and wakes publishers waiting for room. */
static inline void sysv_ipc_topic_free_slot(const sysv_ipc_topic* t, uint32_t slot) {
  uint32_t off;
  if (slot >= t->max_subscribers) return;
  off = sysv_ipc_topic__slot(slot);
  __atomic_store_n(sysv_ipc_topic__u32(t->base, off + SYSV_IPC_TOPIC_SLOT_ACTIVE), 0u, __ATOMIC_SEQ_CST);
  __atomic_store_n(sysv_ipc_topic__u64(t->base, off + SYSV_IPC_TOPIC_SLOT_START), 0, __ATOMIC_SEQ_CST);
  __atomic_store_n(sysv_ipc_topic__u32(t->base, off + SYSV_IPC_TOPIC_SLOT_OWNER), 0u, __ATOMIC_SEQ_CST);
  sysv_ipc_topic__wake_space(t);
}

/* A slot's owner while a reaper frees it: this bit | the reaper's pid (no pid has it: lock.h's PID_MASK). */
#define SYSV_IPC_TOPIC_REAPING 0x80000000u

/*
 * Frees the slots whose holder is known dead (liveness.h: gone, a zombie, or
 * its pid now names another process; /proc unable to tell counts as alive).
 * A slot whose start time is not written yet is dead only when its pid is
 * gone. Returns the number freed. Costs a /proc read per claimed slot: call
 * it when a publisher waits, not per message.
 *
 * The owner word is taken first (dead pid -> REAPING | own pid, a CAS), and
 * only then are active and start cleared and the owner set to 0: while it
 * holds the mark no subscriber claims the slot (a claim needs 0) and no other
 * reaper touches it (unless this one died: its mark names a pid that is
 * gone). Clearing first and comparing the owner last let a reaper preempted
 * between its check and its stores deactivate a live subscription that had
 * claimed the slot after another reaper freed it (R6's review: a 'wait'
 * publisher then overwrote what it had not read).
 */
static inline uint32_t sysv_ipc_topic_reap(const sysv_ipc_topic* t) {
  uint32_t i, freed = 0;
  uint32_t mark = SYSV_IPC_TOPIC_REAPING | ((uint32_t)getpid() & SYSV_IPC_LOCK_PID_MASK);
  for (i = 0; i < t->max_subscribers; i++) {
    uint32_t off = sysv_ipc_topic__slot(i);
    uint32_t* ownerp = sysv_ipc_topic__u32(t->base, off + SYSV_IPC_TOPIC_SLOT_OWNER);
    uint32_t owner = __atomic_load_n(ownerp, __ATOMIC_SEQ_CST);
    uint64_t start, actual;
    int dead;
    if (owner == 0) continue;
    start = __atomic_load_n(sysv_ipc_topic__u64(t->base, off + SYSV_IPC_TOPIC_SLOT_START), __ATOMIC_SEQ_CST);
    if ((owner & ~(SYSV_IPC_TOPIC_REAPING | SYSV_IPC_LOCK_PID_MASK)) == 0 && (owner & SYSV_IPC_TOPIC_REAPING) != 0 &&
        (owner & SYSV_IPC_LOCK_PID_MASK) != 0) {
      /* Another reaper is freeing it: take over only from one that is gone. */
      dead = sysv_ipc_process_lookup((pid_t)(owner & SYSV_IPC_LOCK_PID_MASK), &actual) == ESRCH;
    } else if (owner > SYSV_IPC_LOCK_PID_MASK) {
      dead = 1; /* no pid: garbage */
    } else if (start == 0) {
      dead = sysv_ipc_process_lookup((pid_t)owner, &actual) == ESRCH;
    } else {
      dead = sysv_ipc_process_state((pid_t)owner, start) == SYSV_IPC_PROCESS_DEAD;
    }
    if (!dead) continue;
    /* Free it only if it still names what was judged dead (the CAS on the owner word, then its start time). */
    if (!__atomic_compare_exchange_n(ownerp, &owner, mark, 0, __ATOMIC_SEQ_CST, __ATOMIC_RELAXED)) continue;
    if (__atomic_load_n(sysv_ipc_topic__u64(t->base, off + SYSV_IPC_TOPIC_SLOT_START), __ATOMIC_SEQ_CST) != start) {
      __atomic_store_n(ownerp, owner, __ATOMIC_SEQ_CST); /* its pid was reused by a new holder: give it back */
      continue;
    }
    __atomic_store_n(sysv_ipc_topic__u32(t->base, off + SYSV_IPC_TOPIC_SLOT_ACTIVE), 0u, __ATOMIC_SEQ_CST);
    __atomic_store_n(sysv_ipc_topic__u64(t->base, off + SYSV_IPC_TOPIC_SLOT_START), 0, __ATOMIC_SEQ_CST);
    __atomic_store_n(ownerp, 0u, __ATOMIC_SEQ_CST);
    freed++;
  }
  if (freed > 0) sysv_ipc_topic__wake_space(t);
  return freed;
}

/*
 * The oldest cursor among the active subscriptions whose cursor lies in
 * [head, tail] (others are ignored: garbage, or one that will resynchronise
 * itself); `tail` when there is none. Slots past slots_used were never
 * positioned (a hostile value is capped at the table's size).
 */
static inline uint32_t sysv_ipc_topic__gate(const sysv_ipc_topic* t, uint32_t head, uint32_t tail) {
  uint32_t i, gate = tail;
  uint32_t used = __atomic_load_n(sysv_ipc_topic__u32(t->base, SYSV_IPC_TOPIC_OFF_SLOTS_USED), __ATOMIC_SEQ_CST);
  if (used > t->max_subscribers) used = t->max_subscribers;
  for (i = 0; i < used; i++) {
    uint32_t off = sysv_ipc_topic__slot(i);
    uint32_t c;
    if (__atomic_load_n(sysv_ipc_topic__u32(t->base, off + SYSV_IPC_TOPIC_SLOT_ACTIVE), __ATOMIC_SEQ_CST) == 0) {
      continue;
    }
    c = __atomic_load_n(sysv_ipc_topic__u32(t->base, off + SYSV_IPC_TOPIC_SLOT_CURSOR), __ATOMIC_SEQ_CST);
    if (c - head <= tail - head && c - head < gate - head) gate = c;
  }
  return gate;
}

/*
 * One publish attempt, the caller holding the lock: 0 (published), EAGAIN
 * ('wait' topic: the slowest live subscription has not freed the room),
 * EMSGSIZE, CORRUPT (a record at head has an impossible length).
 */
static inline int sysv_ipc_topic__publish_locked(const sysv_ipc_topic* t, const void* data, uint32_t length) {
  uint8_t* b = t->base;
  uint32_t tail = __atomic_load_n(sysv_ipc_topic__u32(b, SYSV_IPC_TOPIC_OFF_TAIL), __ATOMIC_SEQ_CST);
  uint32_t seq = __atomic_load_n(sysv_ipc_topic__u32(b, SYSV_IPC_TOPIC_OFF_NEXT_SEQ), __ATOMIC_SEQ_CST);
  uint32_t head = __atomic_load_n(sysv_ipc_topic__u32(b, SYSV_IPC_TOPIC_OFF_HEAD), __ATOMIC_SEQ_CST);
  uint32_t head_seq = __atomic_load_n(sysv_ipc_topic__u32(b, SYSV_IPC_TOPIC_OFF_HEAD_SEQ), __ATOMIC_SEQ_CST);
  uint32_t need, off, pad = 0, gate, steps = 0;
  uint8_t* ring = b + t->ring_offset;
  if (sysv_ipc_topic_removed(t)) return EIDRM;
  if (length > t->max_message) return EMSGSIZE;
  if ((tail & 7u) != 0 || (head & 7u) != 0 || tail - head > t->capacity) return SYSV_IPC_TOPIC_CORRUPT;
  need = SYSV_IPC_TOPIC_RECORD_HEADER + sysv_ipc_topic__align8(length);
  off = tail & t->mask;
  if (off + need > t->capacity) pad = t->capacity - off;
  gate = t->when_full == SYSV_IPC_TOPIC_WAIT ? sysv_ipc_topic__gate(t, head, tail) : tail;
  while ((uint32_t)(tail - head) + pad + need > t->capacity) {
    uint32_t hoff = head & t->mask;
    uint32_t len;
    if (head == gate) return EAGAIN;
    if (++steps > t->capacity / 8u) return SYSV_IPC_TOPIC_CORRUPT;
    len = *sysv_ipc_topic__u32(ring, hoff);
    if (len == SYSV_IPC_TOPIC_PAD) {
      head += t->capacity - hoff;
    } else {
      if (len > t->max_message || hoff + SYSV_IPC_TOPIC_RECORD_HEADER + sysv_ipc_topic__align8(len) > t->capacity) {
        return SYSV_IPC_TOPIC_CORRUPT;
      }
      head += SYSV_IPC_TOPIC_RECORD_HEADER + sysv_ipc_topic__align8(len);
      head_seq++;
    }
    if (sysv_ipc_topic__before(tail, head)) return SYSV_IPC_TOPIC_CORRUPT;
  }
  /* head (then head_seq) before any byte it frees is written: a reader that copied from there sees head moved. */
  __atomic_store_n(sysv_ipc_topic__u32(b, SYSV_IPC_TOPIC_OFF_HEAD), head, __ATOMIC_SEQ_CST);
  SYSV_IPC_TOPIC_TEST_POINT(1);
  __atomic_store_n(sysv_ipc_topic__u32(b, SYSV_IPC_TOPIC_OFF_HEAD_SEQ), head_seq, __ATOMIC_SEQ_CST);
  if (pad != 0) {
    *sysv_ipc_topic__u32(ring, off) = SYSV_IPC_TOPIC_PAD;
    *sysv_ipc_topic__u32(ring, off + 4) = seq;
    off = 0;
  }
  *sysv_ipc_topic__u32(ring, off) = length;
  *sysv_ipc_topic__u32(ring, off + 4) = seq;
  SYSV_IPC_TOPIC_TEST_POINT(2);
  if (length > 0) memcpy(ring + off + SYSV_IPC_TOPIC_RECORD_HEADER, data, length);
  SYSV_IPC_TOPIC_TEST_POINT(3);
  __atomic_store_n(sysv_ipc_topic__u32(b, SYSV_IPC_TOPIC_OFF_NEXT_SEQ), seq + 1u, __ATOMIC_SEQ_CST);
  /* The sleep flag is cleared BEFORE the commit, never after: a subscriber
   * that set it after reading this commit's tail (it has everything, and is
   * about to sleep) would lose a wake that clears its flag ahead of its
   * FUTEX_WAIT, and no later publish would wake it. Cleared before the store
   * of tail, the flag of anyone who set it earlier is answered by this wake
   * (data_seq moves, so their wait does not sleep or is woken); a flag set
   * after the exchange stays set for the look below and for the next
   * publish. Without any flag nobody sleeps and data_seq stays: a subscriber
   * sets the flag before its last look at tail, which sees this commit.
   * Plain load first: a stream to busy subscribers makes no RMW. */
  uint32_t slept = 0;
  if (__atomic_load_n(sysv_ipc_topic__u32(b, SYSV_IPC_TOPIC_OFF_DATA_SLEEP), __ATOMIC_SEQ_CST) != 0)
    slept = __atomic_exchange_n(sysv_ipc_topic__u32(b, SYSV_IPC_TOPIC_OFF_DATA_SLEEP), 0u, __ATOMIC_SEQ_CST);
  SYSV_IPC_TOPIC_TEST_POINT(4);
  __atomic_store_n(sysv_ipc_topic__u32(b, SYSV_IPC_TOPIC_OFF_TAIL), tail + pad + need, __ATOMIC_SEQ_CST);
  SYSV_IPC_TOPIC_TEST_POINT(5);
  if (slept != 0 || __atomic_load_n(sysv_ipc_topic__u32(b, SYSV_IPC_TOPIC_OFF_DATA_SLEEP), __ATOMIC_SEQ_CST) != 0) {
    SYSV_IPC_TOPIC_TEST_POINT(6);
    sysv_ipc_topic__wake_data(t);
  }
  return 0;
}

/*
 * Publishes `length` bytes, waiting up to `timeout_ns` (-1: no limit) for
 * room on a 'wait' topic: 0, ETIMEDOUT, EIDRM, EMSGSIZE, CORRUPT, or a
 * lock.h error. Dead subscriptions are reaped while it waits.
 */
static inline int sysv_ipc_topic_publish(const sysv_ipc_topic* t, const sysv_ipc_lock_self* self, const void* data,
                                         uint32_t length, int64_t timeout_ns) {
  int64_t deadline = timeout_ns < 0 ? -1 : sysv_ipc_lock_now_ns() + timeout_ns;
  for (;;) {
    uint32_t space_seq = 0;
    int r;
    int64_t left = -1; /* what is left of the timeout for this turn's lock (not the whole of it again) */
    if (sysv_ipc_topic_removed(t)) return EIDRM;
    if (deadline >= 0) {
      left = deadline - sysv_ipc_lock_now_ns();
      if (left < 0) left = 0;
    }
    r = sysv_ipc_topic__lock_publishers(t, self, left);
    if (r != 0) return r;
    r = sysv_ipc_topic__publish_locked(t, data, length);
    if (r == EAGAIN) {
      /* Say "a publisher sleeps" before a last look, so a subscriber that moves on after it wakes us. */
      __atomic_store_n(sysv_ipc_topic__u32(t->base, SYSV_IPC_TOPIC_OFF_SPACE_SLEEP), 1u, __ATOMIC_SEQ_CST);
      space_seq = __atomic_load_n(sysv_ipc_topic__u32(t->base, SYSV_IPC_TOPIC_OFF_SPACE_SEQ), __ATOMIC_SEQ_CST);
      r = sysv_ipc_topic__publish_locked(t, data, length);
    }
    sysv_ipc_lock_release(sysv_ipc_topic__lock(t), self);
    if (r != EAGAIN) return r;
    {
      int64_t now = sysv_ipc_lock_now_ns();
      int64_t slice = 100000000LL; /* 100 ms: look at the subscriptions' liveness between sleeps */
      struct timespec ts;
      if (deadline >= 0 && now >= deadline) return ETIMEDOUT;
      if (deadline >= 0 && deadline - now < slice) slice = deadline - now;
      ts.tv_sec = (time_t)(slice / 1000000000LL);
      ts.tv_nsec = (long)(slice % 1000000000LL);
      sysv_ipc_topic__futex(sysv_ipc_topic__u32(t->base, SYSV_IPC_TOPIC_OFF_SPACE_SEQ), FUTEX_WAIT, space_seq, &ts);
      sysv_ipc_topic_reap(t);
    }
  }
}

/*
 * One receive attempt: 0 with *length set and the message copied into
 * buf[0, cap); EAGAIN when nothing new; EMSGSIZE (*length the message's
 * size, nothing consumed) when cap is too small; EIDRM; CORRUPT. A
 * subscription a whole ring behind continues at the oldest message held and
 * counts what it skipped in sub->missed. The copy is validated after it is
 * made (head not past the record), so a torn message is never returned.
 */
static inline int sysv_ipc_topic_try_receive(const sysv_ipc_topic* t, sysv_ipc_topic_sub* sub, void* buf, uint32_t cap,
                                             uint32_t* length) {
  uint8_t* b = t->base;
  uint8_t* ring = b + t->ring_offset;
  int turns;
  for (turns = 0; turns < 4; turns++) {
    uint32_t tail = __atomic_load_n(sysv_ipc_topic__u32(b, SYSV_IPC_TOPIC_OFF_TAIL), __ATOMIC_SEQ_CST);
    uint32_t off, len, seq, head;
    if (sub->cursor == tail) return sysv_ipc_topic_removed(t) ? EIDRM : EAGAIN;
    /* Records start 8-aligned; a cursor that is not (it followed a hostile
     * head) would read the record's second word past the ring's end. */
    if ((sub->cursor & 7u) != 0) return SYSV_IPC_TOPIC_CORRUPT;
    off = sub->cursor & t->mask;
    len = *sysv_ipc_topic__u32(ring, off);
    seq = *sysv_ipc_topic__u32(ring, off + 4);
    /* A whole record (or padding) ends at or before tail (loaded before it was read): one that runs past
       it is garbage, and a cursor that followed it would never meet tail again (an endless spin). */
    if (len == SYSV_IPC_TOPIC_PAD) {
      __atomic_thread_fence(__ATOMIC_ACQUIRE);
      head = __atomic_load_n(sysv_ipc_topic__u32(b, SYSV_IPC_TOPIC_OFF_HEAD), __ATOMIC_SEQ_CST);
      if (!sysv_ipc_topic__before(sub->cursor, head)) {
        if (sysv_ipc_topic__before(tail, sub->cursor + (t->capacity - off))) return SYSV_IPC_TOPIC_CORRUPT;
        sub->cursor += t->capacity - off;
        continue;
      }
    } else if (len <= t->max_message && off + SYSV_IPC_TOPIC_RECORD_HEADER + len <= t->capacity &&
               !sysv_ipc_topic__before(tail,
                                       sub->cursor + SYSV_IPC_TOPIC_RECORD_HEADER + sysv_ipc_topic__align8(len))) {
      if (len > cap) {
        __atomic_thread_fence(__ATOMIC_ACQUIRE);
        head = __atomic_load_n(sysv_ipc_topic__u32(b, SYSV_IPC_TOPIC_OFF_HEAD), __ATOMIC_SEQ_CST);
        if (!sysv_ipc_topic__before(sub->cursor, head)) {
          *length = len;
          return EMSGSIZE;
        }
      } else {
        if (len > 0) memcpy(buf, ring + off + SYSV_IPC_TOPIC_RECORD_HEADER, len);
        __atomic_thread_fence(__ATOMIC_ACQUIRE);
        head = __atomic_load_n(sysv_ipc_topic__u32(b, SYSV_IPC_TOPIC_OFF_HEAD), __ATOMIC_SEQ_CST);
        if (!sysv_ipc_topic__before(sub->cursor, head)) {
          if (seq != sub->seq) {
            if (!sub->resynced || sysv_ipc_topic__before(seq, sub->seq)) return SYSV_IPC_TOPIC_CORRUPT;
            sub->missed += (uint32_t)(seq - sub->seq);
          }
          sub->resynced = 0;
          sub->cursor += SYSV_IPC_TOPIC_RECORD_HEADER + sysv_ipc_topic__align8(len);
          sub->seq = seq + 1u;
          {
            uint32_t so = sysv_ipc_topic__slot(sub->slot);
            __atomic_store_n(sysv_ipc_topic__u32(b, so + SYSV_IPC_TOPIC_SLOT_CURSOR), sub->cursor, __ATOMIC_SEQ_CST);
            __atomic_store_n(sysv_ipc_topic__u32(b, so + SYSV_IPC_TOPIC_SLOT_SEQ), sub->seq, __ATOMIC_SEQ_CST);
          }
          sysv_ipc_topic__wake_space(t);
          *length = len;
          return 0;
        }
      }
    } else {
      __atomic_thread_fence(__ATOMIC_ACQUIRE);
      head = __atomic_load_n(sysv_ipc_topic__u32(b, SYSV_IPC_TOPIC_OFF_HEAD), __ATOMIC_SEQ_CST);
      if (!sysv_ipc_topic__before(sub->cursor, head)) return SYSV_IPC_TOPIC_CORRUPT;
    }
    /* Overwritten: continue at the oldest message held; the next message read says how many were skipped. */
    sub->cursor = __atomic_load_n(sysv_ipc_topic__u32(b, SYSV_IPC_TOPIC_OFF_HEAD), __ATOMIC_SEQ_CST);
    sub->resynced = 1;
    /* The slot follows at once, so that a 'wait' publisher is gated by it again. */
    __atomic_store_n(sysv_ipc_topic__u32(b, sysv_ipc_topic__slot(sub->slot) + SYSV_IPC_TOPIC_SLOT_CURSOR), sub->cursor,
                     __ATOMIC_SEQ_CST);
  }
  return EAGAIN; /* overtaken on every turn: the caller tries again */
}

/* Receives, sleeping up to `timeout_ns` (-1: no limit): try_receive's results, or ETIMEDOUT. */
static inline int sysv_ipc_topic_receive(const sysv_ipc_topic* t, sysv_ipc_topic_sub* sub, void* buf, uint32_t cap,
                                         uint32_t* length, int64_t timeout_ns) {
  int64_t deadline = timeout_ns < 0 ? -1 : sysv_ipc_lock_now_ns() + timeout_ns;
  uint32_t* tailp = sysv_ipc_topic__u32(t->base, SYSV_IPC_TOPIC_OFF_TAIL);
  uint32_t* seqp = sysv_ipc_topic__u32(t->base, SYSV_IPC_TOPIC_OFF_DATA_SEQ);
  for (;;) {
    int r = sysv_ipc_topic_try_receive(t, sub, buf, cap, length);
    int64_t spin_end;
    int spins;
    uint32_t data_seq;
    if (r != EAGAIN) return r;
    spin_end = sysv_ipc_lock_now_ns() + SYSV_IPC_TOPIC_SPIN_NS;
    /* Spin yielding the CPU (a publisher on this CPU runs), as channel.h's waits do, then sleep. */
    for (spins = 0; __atomic_load_n(tailp, __ATOMIC_SEQ_CST) == sub->cursor; spins++) {
      if ((spins & 15) == 15 && sysv_ipc_lock_now_ns() >= spin_end) break;
      sched_yield();
    }
    if (__atomic_load_n(tailp, __ATOMIC_SEQ_CST) != sub->cursor) continue;
    /* data_seq first, then the flag, then the last look at tail and removed:
     * a publish or a removal after that look changes data_seq (the flag makes
     * a publisher bump it), and the kernel then does not let us sleep. */
    data_seq = __atomic_load_n(seqp, __ATOMIC_SEQ_CST);
    __atomic_store_n(sysv_ipc_topic__u32(t->base, SYSV_IPC_TOPIC_OFF_DATA_SLEEP), 1u, __ATOMIC_SEQ_CST);
    if (__atomic_load_n(tailp, __ATOMIC_SEQ_CST) != sub->cursor) continue;
    if (sysv_ipc_topic_removed(t)) return EIDRM;
    {
      int64_t now = sysv_ipc_lock_now_ns();
      int64_t slice = 1000000000LL;
      struct timespec ts;
      if (deadline >= 0 && now >= deadline) return ETIMEDOUT;
      if (deadline >= 0 && deadline - now < slice) slice = deadline - now;
      ts.tv_sec = (time_t)(slice / 1000000000LL);
      ts.tv_nsec = (long)(slice % 1000000000LL);
      sysv_ipc_topic__futex(seqp, FUTEX_WAIT, data_seq, &ts);
    }
  }
}

#ifdef __cplusplus
}
#endif

#endif /* SYSV_IPC_TOPIC_H */
