/*
 * sysv-ipc SharedMap: a hash map in one System V shared memory segment,
 * read without a lock and written under the segment's robust lock
 * (lock.h). Header-only C11 (GCC/Clang __atomic builtins); Linux only.
 * lib/shared-map.ts speaks the same protocol; docs/map-layout.md is its
 * description, with the memory-ordering table. C programs that include this
 * header are peers of Node processes.
 *
 * Layout (host byte order; all offsets 8-aligned):
 *   header  256 bytes (SYSV_IPC_MAP_H_* are its u32 word indexes)
 *   index 0, index 1   slots x 8 bytes each: u32 hash, u32 ref
 *                      (0 empty, 1 tombstone, else offset-in-half / 8 + 2)
 *   marks 0, marks 1   slots x 4 bytes each: CLOCK's used marks (hints; readers set them)
 *   half 0, half 1     capacity bytes each: entries, appended at top
 * Entry: u32 reserved, u32 hash, u32 klen, u32 vlen, u64 expiry as two u32
 * (lo, hi: CLOCK_MONOTONIC ms, 0 none), u32 reserved, u32 reserved,
 * key bytes, value bytes; size rounded up to 8.
 *
 * The active pair is gen & 1. Writers (holding the lock) append an entry past
 * top, then store top, then publish the entry with one release store of the
 * slot's ref (a new slot: its hash first). A published entry is never
 * written again while its pair is active. A full half is compacted: the
 * live entries are copied into the other pair, then gen is incremented (one
 * release store). A reader loads gen (acquire), looks up, copies, fences,
 * and loads gen again: equal means no compaction rewrote what it read.
 * After a writer died (OWNER_DIED) or left the header's dirty word set, the
 * next writer recomputes the counters and top from the active index
 * (sysv_ipc_map_repair).
 */
#ifndef SYSV_IPC_MAP_H
#define SYSV_IPC_MAP_H

#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <time.h>

#include "lock.h"

#ifdef __cplusplus
extern "C" {
#endif

#define SYSV_IPC_MAP_MAGIC 0x504D5653u /* "SVMP" on little-endian */
#define SYSV_IPC_MAP_VERSION 1u
#define SYSV_IPC_MAP_HEADER_SIZE 256u
#define SYSV_IPC_MAP_LOCK_OFFSET 32u
#define SYSV_IPC_MAP_ENTRY_HEADER 32u
#define SYSV_IPC_MAP_MIN_CAPACITY 256u
#define SYSV_IPC_MAP_MAX_CAPACITY 0x7FFFFFF8u
#define SYSV_IPC_MAP_MAX_SLOTS (1u << 26)
#define SYSV_IPC_MAP_MAX_KEY 0xFFFFu
#define SYSV_IPC_MAP_FLAG_EVICT 1u
#define SYSV_IPC_MAP_READ_RETRIES 64

/* Header words (u32 index). */
enum {
  SYSV_IPC_MAP_H_MAGIC = 0,
  SYSV_IPC_MAP_H_VERSION = 1,
  SYSV_IPC_MAP_H_HEADER_SIZE = 2,
  SYSV_IPC_MAP_H_SLOTS = 3,
  SYSV_IPC_MAP_H_CAPACITY = 4,
  SYSV_IPC_MAP_H_MAX_KEY = 5,
  SYSV_IPC_MAP_H_MAX_VALUE = 6,
  SYSV_IPC_MAP_H_FLAGS = 7,
  /* 8..11: the lock record (lock.h), bytes 32..47 */
  SYSV_IPC_MAP_H_DIRTY = 12,
  SYSV_IPC_MAP_H_GEN = 13,
  SYSV_IPC_MAP_H_ENTRIES = 14,
  SYSV_IPC_MAP_H_USED = 15,
  SYSV_IPC_MAP_H_TOMBSTONES = 16,
  SYSV_IPC_MAP_H_TOP0 = 17, /* 18: top of half 1 */
  SYSV_IPC_MAP_H_HAND = 19,
  SYSV_IPC_MAP_H_TTL_ENTRIES = 20,
  SYSV_IPC_MAP_H_TOKEN = 21 /* which thread of the holding process writes (0: none or a C peer) */
};

/* Results: 0 or a positive errno value. */
#define SYSV_IPC_MAP_OK 0
#define SYSV_IPC_MAP_NOT_FOUND ENOENT
#define SYSV_IPC_MAP_NOT_A_MAP EPROTO
#define SYSV_IPC_MAP_CORRUPT EBADMSG
#define SYSV_IPC_MAP_FULL ENOSPC
#define SYSV_IPC_MAP_TOO_SMALL ENOBUFS       /* get: the value is larger than the buffer */
#define SYSV_IPC_MAP_NOT_COUNTER EMEDIUMTYPE /* add: the value is not 8 bytes */

typedef struct sysv_ipc_map {
  uint8_t* base;
  uint32_t* w;
  uint32_t slots, capacity, max_key, max_value, flags;
} sysv_ipc_map;

static inline uint32_t sysv_ipc_map_hash(const uint8_t* key, size_t len) {
  uint32_t h = 0x811C9DC5u;
  for (size_t i = 0; i < len; i++) {
    h ^= key[i];
    h *= 0x01000193u;
  }
  return h;
}

static inline uint64_t sysv_ipc_map_now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* The expiry of an entry set now with this ttl (0: none), at most 2^53 - 1 as JavaScript's (no wrap to the past). */
static inline uint64_t sysv_ipc_map_expiry_in(uint64_t ttl_ms) {
  const uint64_t max = (1ull << 53) - 1;
  uint64_t now = sysv_ipc_map_now_ms();
  if (ttl_ms == 0) return 0;
  return ttl_ms >= max - now ? max : now + ttl_ms;
}

/* The segment's size for a geometry. */
static inline uint64_t sysv_ipc_map_segment_size(uint32_t slots, uint32_t capacity) {
  return SYSV_IPC_MAP_HEADER_SIZE + 24ull * slots + 2ull * capacity;
}

/* Attaches to a map at `base` (`size` bytes): reads the geometry once. Writes nothing. */
static inline int sysv_ipc_map_attach(sysv_ipc_map* m, void* base, uint64_t size) {
  uint32_t* w = (uint32_t*)base;
  if (size < sysv_ipc_map_segment_size(16, SYSV_IPC_MAP_MIN_CAPACITY)) return SYSV_IPC_MAP_NOT_A_MAP;
  if (__atomic_load_n(&w[SYSV_IPC_MAP_H_MAGIC], __ATOMIC_ACQUIRE) != SYSV_IPC_MAP_MAGIC) return SYSV_IPC_MAP_NOT_A_MAP;
  if (w[SYSV_IPC_MAP_H_VERSION] != SYSV_IPC_MAP_VERSION) return SYSV_IPC_MAP_NOT_A_MAP;
  m->base = (uint8_t*)base;
  m->w = w;
  m->slots = w[SYSV_IPC_MAP_H_SLOTS];
  m->capacity = w[SYSV_IPC_MAP_H_CAPACITY];
  m->max_key = w[SYSV_IPC_MAP_H_MAX_KEY];
  m->max_value = w[SYSV_IPC_MAP_H_MAX_VALUE];
  m->flags = w[SYSV_IPC_MAP_H_FLAGS];
  if (w[SYSV_IPC_MAP_H_HEADER_SIZE] != SYSV_IPC_MAP_HEADER_SIZE || m->slots < 16 || m->slots > SYSV_IPC_MAP_MAX_SLOTS ||
      (m->slots & (m->slots - 1)) != 0 || m->capacity < SYSV_IPC_MAP_MIN_CAPACITY ||
      m->capacity > SYSV_IPC_MAP_MAX_CAPACITY || m->capacity % 8 != 0 || m->max_key < 1 ||
      m->max_key > SYSV_IPC_MAP_MAX_KEY ||
      (uint64_t)SYSV_IPC_MAP_ENTRY_HEADER + m->max_key + m->max_value > m->capacity ||
      sysv_ipc_map_segment_size(m->slots, m->capacity) > size) {
    return SYSV_IPC_MAP_CORRUPT;
  }
  return SYSV_IPC_MAP_OK;
}

static inline uint32_t* sysv_ipc_map_index(const sysv_ipc_map* m, uint32_t side) {
  return m->w + (SYSV_IPC_MAP_HEADER_SIZE + side * 8u * m->slots) / 4;
}
static inline uint8_t* sysv_ipc_map_half(const sysv_ipc_map* m, uint32_t side) {
  return m->base + SYSV_IPC_MAP_HEADER_SIZE + 24ull * m->slots + (uint64_t)side * m->capacity;
}
/* CLOCK's marks of pair `side`: one u32 per slot, set by readers without the lock (hints only). */
static inline uint32_t* sysv_ipc_map_marks(const sysv_ipc_map* m, uint32_t side) {
  return m->w + (SYSV_IPC_MAP_HEADER_SIZE + 16u * m->slots + side * 4u * m->slots) / 4;
}
static inline uint32_t sysv_ipc_map_limit(const sysv_ipc_map* m) { return m->slots / 4 * 3; }
static inline uint32_t sysv_ipc_map_align8(uint64_t n) { return (uint32_t)((n + 7) & ~7ull); }

/*
 * The entry a ref names in `half`, checked to lie inside it with sane
 * lengths, which it sets in *klen and *vlen; NULL if not. Callers use those
 * lengths, never the words again: a compaction (under a lock-free reader
 * late by a flip) or a hostile process can rewrite them after the check,
 * and a length loaded twice could then point past the segment.
 */
static inline uint32_t* sysv_ipc_map_entry(const sysv_ipc_map* m, uint8_t* half, uint32_t ref, uint32_t* klen,
                                           uint32_t* vlen) {
  uint64_t off = (uint64_t)(ref - 2) * 8;
  if (ref < 2 || off + SYSV_IPC_MAP_ENTRY_HEADER > m->capacity) return NULL;
  uint32_t* e = (uint32_t*)(half + off);
  uint32_t k = __atomic_load_n(&e[2], __ATOMIC_RELAXED), v = __atomic_load_n(&e[3], __ATOMIC_RELAXED);
  if (k > m->max_key || v > m->max_value || off + SYSV_IPC_MAP_ENTRY_HEADER + k + v > m->capacity) {
    return NULL;
  }
  *klen = k;
  *vlen = v;
  return e;
}

static inline uint64_t sysv_ipc_map_expiry(const uint32_t* e) { return ((uint64_t)e[5] << 32) | e[4]; }
static inline int sysv_ipc_map_expired(const uint32_t* e, uint64_t now) {
  uint64_t x = sysv_ipc_map_expiry(e);
  return x != 0 && x <= now;
}

/*
 * Finds `key` in pair `side`: the entry (or NULL: absent), its checked value
 * length in *vlen, the slot it is in, and the first free slot on the way (or
 * -1). Sets *corrupt for a ref out of bounds.
 */
static inline uint32_t* sysv_ipc_map_find(const sysv_ipc_map* m, uint32_t side, const uint8_t* key, uint32_t klen,
                                          uint32_t hash, int64_t* slot, int64_t* free_slot, int* corrupt,
                                          uint32_t* vlen) {
  uint32_t* idx = sysv_ipc_map_index(m, side);
  uint8_t* half = sysv_ipc_map_half(m, side);
  uint32_t mask = m->slots - 1, i = hash & mask;
  *slot = -1;
  *free_slot = -1;
  *corrupt = 0;
  for (uint32_t n = 0; n < m->slots; n++, i = (i + 1) & mask) {
    uint32_t ref = __atomic_load_n(&idx[2 * i + 1], __ATOMIC_ACQUIRE);
    if (ref == 0) {
      if (*free_slot < 0) *free_slot = i;
      return NULL;
    }
    if (ref == 1) {
      if (*free_slot < 0) *free_slot = i;
      continue;
    }
    if (__atomic_load_n(&idx[2 * i], __ATOMIC_RELAXED) != hash) continue;
    uint32_t ek, ev;
    uint32_t* e = sysv_ipc_map_entry(m, half, ref, &ek, &ev);
    if (e == NULL) {
      *corrupt = 1;
      return NULL;
    }
    if (ek != klen || memcmp((uint8_t*)e + SYSV_IPC_MAP_ENTRY_HEADER, key, klen) != 0) continue;
    *slot = i;
    *vlen = ev;
    return e;
  }
  return NULL;
}

/*
 * Lock-free read: copies the value of `key` into `out` (up to `cap` bytes)
 * and sets *vlen. OK, NOT_FOUND, TOO_SMALL (*vlen says how large; nothing
 * copied) or CORRUPT. Retries while writers compact; then reads under the lock.
 */
static inline int sysv_ipc_map_get(const sysv_ipc_map* m, const sysv_ipc_lock_self* self, const void* key, size_t klen,
                                   void* out, size_t cap, size_t* vlen) {
  if (klen > m->max_key) return SYSV_IPC_MAP_NOT_FOUND;
  uint32_t hash = sysv_ipc_map_hash((const uint8_t*)key, klen);
  for (int attempt = 0; attempt <= SYSV_IPC_MAP_READ_RETRIES; attempt++) {
    int locked = attempt == SYSV_IPC_MAP_READ_RETRIES;
    sysv_ipc_lock* lock = (sysv_ipc_lock*)(m->base + SYSV_IPC_MAP_LOCK_OFFSET);
    if (locked) {
      int r = sysv_ipc_lock_acquire(lock, self, -1);
      if (r != SYSV_IPC_LOCK_OK && r != SYSV_IPC_LOCK_OWNER_DIED) return r;
    }
    uint32_t gen = __atomic_load_n(&m->w[SYSV_IPC_MAP_H_GEN], __ATOMIC_ACQUIRE);
    int64_t slot, free_slot;
    int corrupt, r = SYSV_IPC_MAP_NOT_FOUND;
    uint32_t ev = 0;
    uint32_t* e =
        sysv_ipc_map_find(m, gen & 1, (const uint8_t*)key, (uint32_t)klen, hash, &slot, &free_slot, &corrupt, &ev);
    if (corrupt) {
      r = SYSV_IPC_MAP_CORRUPT;
    } else if (e != NULL && !sysv_ipc_map_expired(e, sysv_ipc_map_now_ms())) {
      /* The lengths find checked (klen is the key's): not e[2], e[3] again. */
      *vlen = ev;
      if (ev > cap) {
        r = SYSV_IPC_MAP_TOO_SMALL;
      } else {
        memcpy(out, (uint8_t*)e + SYSV_IPC_MAP_ENTRY_HEADER + klen, ev);
        r = SYSV_IPC_MAP_OK;
      }
    }
    __atomic_thread_fence(__ATOMIC_ACQUIRE); /* the copy's loads before gen's second load */
    if (locked) {
      sysv_ipc_lock_release(lock, self);
      return r;
    }
    if (__atomic_load_n(&m->w[SYSV_IPC_MAP_H_GEN], __ATOMIC_RELAXED) == gen) return r;
  }
  return SYSV_IPC_MAP_CORRUPT; /* not reached */
}

/*
 * Recomputes what a writer that died inside an operation may have left stale
 * (counters, the active half's top) from the active index. The lock is held.
 * OK or CORRUPT (nothing written then).
 */
static inline int sysv_ipc_map_repair(sysv_ipc_map* m) {
  uint32_t* w = m->w;
  uint32_t side = w[SYSV_IPC_MAP_H_GEN] & 1;
  uint32_t* idx = sysv_ipc_map_index(m, side);
  uint8_t* half = sysv_ipc_map_half(m, side);
  uint64_t entries = 0, used = 0, tombstones = 0, ttl = 0, end = 0;
  for (uint32_t i = 0; i < m->slots; i++) {
    uint32_t ref = idx[2 * i + 1];
    if (ref == 0) continue;
    if (ref == 1) {
      tombstones++;
      continue;
    }
    uint32_t ek, ev;
    uint32_t* e = sysv_ipc_map_entry(m, half, ref, &ek, &ev);
    if (e == NULL) return SYSV_IPC_MAP_CORRUPT;
    if (e[1] != idx[2 * i] || sysv_ipc_map_hash((uint8_t*)e + SYSV_IPC_MAP_ENTRY_HEADER, ek) != e[1]) {
      return SYSV_IPC_MAP_CORRUPT;
    }
    uint32_t size = sysv_ipc_map_align8((uint64_t)SYSV_IPC_MAP_ENTRY_HEADER + ek + ev);
    uint64_t at = (uint64_t)((uint8_t*)e - half) + size;
    entries++;
    used += size;
    if (sysv_ipc_map_expiry(e) != 0) ttl++;
    if (at > end) end = at;
  }
  if (entries + tombstones > sysv_ipc_map_limit(m) || used > m->capacity) return SYSV_IPC_MAP_CORRUPT;
  uint32_t top = w[SYSV_IPC_MAP_H_TOP0 + side];
  w[SYSV_IPC_MAP_H_TOP0 + side] = (top <= m->capacity && top % 8 == 0 && top >= end) ? top : (uint32_t)end;
  w[SYSV_IPC_MAP_H_ENTRIES] = (uint32_t)entries;
  w[SYSV_IPC_MAP_H_USED] = (uint32_t)used;
  w[SYSV_IPC_MAP_H_TOMBSTONES] = (uint32_t)tombstones;
  w[SYSV_IPC_MAP_H_TTL_ENTRIES] = (uint32_t)ttl;
  if (w[SYSV_IPC_MAP_H_HAND] >= m->slots) w[SYSV_IPC_MAP_H_HAND] = 0;
  return SYSV_IPC_MAP_OK;
}

/* Takes the writers' lock and repairs when the last writer died inside an operation. */
static inline int sysv_ipc_map_lock(sysv_ipc_map* m, const sysv_ipc_lock_self* self) {
  int r = sysv_ipc_lock_acquire((sysv_ipc_lock*)(m->base + SYSV_IPC_MAP_LOCK_OFFSET), self, -1);
  if (r != SYSV_IPC_LOCK_OK && r != SYSV_IPC_LOCK_OWNER_DIED) return r;
  if (r == SYSV_IPC_LOCK_OWNER_DIED || m->w[SYSV_IPC_MAP_H_DIRTY] != 0) {
    int rr = sysv_ipc_map_repair(m);
    if (rr != SYSV_IPC_MAP_OK) {
      sysv_ipc_lock_release((sysv_ipc_lock*)(m->base + SYSV_IPC_MAP_LOCK_OFFSET), self);
      return rr;
    }
  }
  m->w[SYSV_IPC_MAP_H_DIRTY] = 1;
  m->w[SYSV_IPC_MAP_H_TOKEN] = 0;
  return SYSV_IPC_MAP_OK;
}

static inline void sysv_ipc_map_unlock(sysv_ipc_map* m, const sysv_ipc_lock_self* self) {
  __atomic_store_n(&m->w[SYSV_IPC_MAP_H_DIRTY], 0, __ATOMIC_RELAXED);
  sysv_ipc_lock_release((sysv_ipc_lock*)(m->base + SYSV_IPC_MAP_LOCK_OFFSET), self);
}

static inline void sysv_ipc_map_write_entry(uint8_t* at, uint32_t hash, const void* key, uint32_t klen,
                                            const void* value, uint32_t vlen, uint64_t expiry) {
  uint32_t* e = (uint32_t*)at;
  e[0] = 0;
  e[1] = hash;
  e[2] = klen;
  e[3] = vlen;
  e[4] = (uint32_t)expiry;
  e[5] = (uint32_t)(expiry >> 32);
  e[6] = 0;
  e[7] = 0;
  memcpy(at + SYSV_IPC_MAP_ENTRY_HEADER, key, klen);
  if (vlen) memcpy(at + SYSV_IPC_MAP_ENTRY_HEADER + klen, value, vlen);
}

static inline void sysv_ipc_map_delete_slot(sysv_ipc_map* m, uint32_t* idx, uint32_t slot, uint32_t* e, uint32_t klen,
                                            uint32_t vlen) {
  uint32_t* w = m->w;
  __atomic_store_n(&idx[2 * slot + 1], 1u, __ATOMIC_RELEASE);
  w[SYSV_IPC_MAP_H_ENTRIES]--;
  w[SYSV_IPC_MAP_H_TOMBSTONES]++;
  w[SYSV_IPC_MAP_H_USED] -= sysv_ipc_map_align8((uint64_t)SYSV_IPC_MAP_ENTRY_HEADER + klen + vlen);
  if (sysv_ipc_map_expiry(e) != 0 && w[SYSV_IPC_MAP_H_TTL_ENTRIES] > 0) w[SYSV_IPC_MAP_H_TTL_ENTRIES]--;
}

/*
 * Copies the live, unexpired entries into the other pair, with (key, value)
 * replacing or adding its key, and flips gen. Lock held. OK or CORRUPT.
 */
static inline int sysv_ipc_map_compact(sysv_ipc_map* m, const void* key, uint32_t klen, uint32_t hash,
                                       const void* value, uint32_t vlen, uint64_t expiry) {
  uint32_t* w = m->w;
  uint32_t gen = w[SYSV_IPC_MAP_H_GEN], from = gen & 1, to = from ^ 1, mask = m->slots - 1;
  uint32_t *fi = sysv_ipc_map_index(m, from), *ti = sysv_ipc_map_index(m, to);
  uint8_t *fh = sysv_ipc_map_half(m, from), *th = sysv_ipc_map_half(m, to);
  int64_t slot, free_slot;
  int corrupt;
  uint32_t skip_vlen;
  uint32_t* skip =
      key ? sysv_ipc_map_find(m, from, (const uint8_t*)key, klen, hash, &slot, &free_slot, &corrupt, &skip_vlen) : NULL;
  uint64_t now = sysv_ipc_map_now_ms();
  uint32_t top = 0, entries = 0, ttl = 0;
  uint32_t *fm = sysv_ipc_map_marks(m, from), *tm = sysv_ipc_map_marks(m, to);
  memset(ti, 0, 8ull * m->slots);
  memset(tm, 0, 4ull * m->slots);
  for (uint32_t i = 0; i < m->slots; i++) {
    uint32_t ref = fi[2 * i + 1];
    if (ref <= 1) continue;
    uint32_t ek, ev;
    uint32_t* e = sysv_ipc_map_entry(m, fh, ref, &ek, &ev);
    if (e == NULL) return SYSV_IPC_MAP_CORRUPT;
    if (e == skip || sysv_ipc_map_expired(e, now)) continue;
    uint32_t size = sysv_ipc_map_align8((uint64_t)SYSV_IPC_MAP_ENTRY_HEADER + ek + ev);
    if ((uint64_t)top + size > m->capacity || entries + 1 > sysv_ipc_map_limit(m)) return SYSV_IPC_MAP_CORRUPT;
    memcpy(th + top, e, size);
    uint32_t j = e[1] & mask, probes = 0;
    while (ti[2 * j + 1] != 0) {
      if (++probes == m->slots) return SYSV_IPC_MAP_CORRUPT; /* only a hostile process fills it */
      j = (j + 1) & mask;
    }
    ti[2 * j] = e[1];
    ti[2 * j + 1] = top / 8 + 2;
    tm[j] = fm[i];
    if (sysv_ipc_map_expiry(e) != 0) ttl++;
    top += size;
    entries++;
  }
  if (key) {
    uint32_t size = sysv_ipc_map_align8((uint64_t)SYSV_IPC_MAP_ENTRY_HEADER + klen + vlen);
    if ((uint64_t)top + size > m->capacity || entries + 1 > sysv_ipc_map_limit(m)) return SYSV_IPC_MAP_FULL;
    sysv_ipc_map_write_entry(th + top, hash, key, klen, value, vlen, expiry);
    uint32_t j = hash & mask, probes = 0;
    while (ti[2 * j + 1] != 0) {
      if (++probes == m->slots) return SYSV_IPC_MAP_CORRUPT;
      j = (j + 1) & mask;
    }
    ti[2 * j] = hash;
    ti[2 * j + 1] = top / 8 + 2;
    tm[j] = 1;
    if (expiry != 0) ttl++;
    top += size;
    entries++;
  }
  w[SYSV_IPC_MAP_H_TOP0 + to] = top;
  __atomic_store_n(&w[SYSV_IPC_MAP_H_GEN], gen + 1, __ATOMIC_RELEASE); /* the flip */
  w[SYSV_IPC_MAP_H_ENTRIES] = entries;
  w[SYSV_IPC_MAP_H_USED] = top;
  w[SYSV_IPC_MAP_H_TOMBSTONES] = 0;
  w[SYSV_IPC_MAP_H_TTL_ENTRIES] = ttl;
  w[SYSV_IPC_MAP_H_HAND] = 0;
  return SYSV_IPC_MAP_OK;
}

/*
 * Inserts or replaces, the lock held. FULL (nothing changed) when live data
 * would pass capacity or the index its limit; this header does not evict
 * (a map with whenFull 'evict' reports FULL here too).
 */
static inline int sysv_ipc_map_put_locked(sysv_ipc_map* m, const void* key, uint32_t klen, const void* value,
                                          uint32_t vlen, uint64_t expiry) {
  uint32_t* w = m->w;
  uint32_t side = w[SYSV_IPC_MAP_H_GEN] & 1, hash = sysv_ipc_map_hash((const uint8_t*)key, klen);
  if (klen > m->max_key || vlen > m->max_value) return EINVAL;
  int64_t slot, free_slot;
  int corrupt;
  uint32_t ev = 0;
  uint32_t* e = sysv_ipc_map_find(m, side, (const uint8_t*)key, klen, hash, &slot, &free_slot, &corrupt, &ev);
  if (corrupt) return SYSV_IPC_MAP_CORRUPT;
  uint32_t need = sysv_ipc_map_align8((uint64_t)SYSV_IPC_MAP_ENTRY_HEADER + klen + vlen);
  uint32_t old = e ? sysv_ipc_map_align8((uint64_t)SYSV_IPC_MAP_ENTRY_HEADER + klen + ev) : 0;
  uint32_t top = w[SYSV_IPC_MAP_H_TOP0 + side], used = w[SYSV_IPC_MAP_H_USED];
  uint32_t entries = w[SYSV_IPC_MAP_H_ENTRIES], tombstones = w[SYSV_IPC_MAP_H_TOMBSTONES];
  if (top > m->capacity || used > m->capacity || entries + tombstones > m->slots) return SYSV_IPC_MAP_CORRUPT;
  if ((uint64_t)used - old + need > m->capacity || (!e && entries + 1 > sysv_ipc_map_limit(m))) {
    return SYSV_IPC_MAP_FULL;
  }
  uint32_t* idx = sysv_ipc_map_index(m, side);
  int clogged =
      !e && (free_slot < 0 || (idx[2 * free_slot + 1] == 0 && entries + tombstones + 1 > sysv_ipc_map_limit(m)));
  if ((uint64_t)top + need > m->capacity || clogged)
    return sysv_ipc_map_compact(m, key, klen, hash, value, vlen, expiry);
  uint8_t* half = sysv_ipc_map_half(m, side);
  sysv_ipc_map_write_entry(half + top, hash, key, klen, value, vlen, expiry);
  w[SYSV_IPC_MAP_H_TOP0 + side] = top + need;
  uint32_t ref = top / 8 + 2;
  if (e) {
    __atomic_store_n(&idx[2 * slot + 1], ref, __ATOMIC_RELEASE);
    sysv_ipc_map_marks(m, side)[slot] = 1;
    if (sysv_ipc_map_expiry(e) != 0) w[SYSV_IPC_MAP_H_TTL_ENTRIES]--;
  } else {
    int was_tombstone = idx[2 * free_slot + 1] == 1;
    __atomic_store_n(&idx[2 * free_slot], hash, __ATOMIC_RELAXED);
    __atomic_store_n(&idx[2 * free_slot + 1], ref, __ATOMIC_RELEASE);
    sysv_ipc_map_marks(m, side)[free_slot] = 1;
    w[SYSV_IPC_MAP_H_ENTRIES] = entries + 1;
    if (was_tombstone) w[SYSV_IPC_MAP_H_TOMBSTONES] = tombstones - 1;
  }
  w[SYSV_IPC_MAP_H_USED] = used - old + need;
  if (expiry != 0) w[SYSV_IPC_MAP_H_TTL_ENTRIES]++;
  return SYSV_IPC_MAP_OK;
}

/* Sets key to value; ttl_ms 0: no expiry. OK, FULL, EINVAL (sizes), CORRUPT, or a lock error. */
static inline int sysv_ipc_map_set(sysv_ipc_map* m, const sysv_ipc_lock_self* self, const void* key, size_t klen,
                                   const void* value, size_t vlen, uint64_t ttl_ms) {
  if (klen > m->max_key || vlen > m->max_value) return EINVAL;
  int r = sysv_ipc_map_lock(m, self);
  if (r != SYSV_IPC_MAP_OK) return r;
  r = sysv_ipc_map_put_locked(m, key, (uint32_t)klen, value, (uint32_t)vlen, sysv_ipc_map_expiry_in(ttl_ms));
  sysv_ipc_map_unlock(m, self);
  return r;
}

/* Deletes key: OK, NOT_FOUND (also for an expired entry, which goes), CORRUPT. */
static inline int sysv_ipc_map_delete(sysv_ipc_map* m, const sysv_ipc_lock_self* self, const void* key, size_t klen) {
  if (klen > m->max_key) return SYSV_IPC_MAP_NOT_FOUND;
  int r = sysv_ipc_map_lock(m, self);
  if (r != SYSV_IPC_MAP_OK) return r;
  uint32_t side = m->w[SYSV_IPC_MAP_H_GEN] & 1, hash = sysv_ipc_map_hash((const uint8_t*)key, klen);
  int64_t slot, free_slot;
  int corrupt;
  uint32_t ev = 0;
  uint32_t* e = sysv_ipc_map_find(m, side, (const uint8_t*)key, (uint32_t)klen, hash, &slot, &free_slot, &corrupt, &ev);
  if (corrupt) {
    r = SYSV_IPC_MAP_CORRUPT;
  } else if (!e) {
    r = SYSV_IPC_MAP_NOT_FOUND;
  } else {
    r = sysv_ipc_map_expired(e, sysv_ipc_map_now_ms()) ? SYSV_IPC_MAP_NOT_FOUND : SYSV_IPC_MAP_OK;
    sysv_ipc_map_delete_slot(m, sysv_ipc_map_index(m, side), (uint32_t)slot, e, (uint32_t)klen, ev);
  }
  sysv_ipc_map_unlock(m, self);
  return r;
}

/*
 * Adds delta to the counter `key` (int64, little-endian, 8 bytes; a missing
 * key starts at 0; the entry's expiry is kept) and sets *result. OK,
 * NOT_COUNTER (value not 8 bytes), ERANGE (overflow), FULL, CORRUPT: nothing changed but on OK.
 */
static inline int sysv_ipc_map_add(sysv_ipc_map* m, const sysv_ipc_lock_self* self, const void* key, size_t klen,
                                   int64_t delta, int64_t* result) {
  if (klen > m->max_key || m->max_value < 8) return EINVAL;
  int r = sysv_ipc_map_lock(m, self);
  if (r != SYSV_IPC_MAP_OK) return r;
  uint32_t side = m->w[SYSV_IPC_MAP_H_GEN] & 1, hash = sysv_ipc_map_hash((const uint8_t*)key, klen);
  int64_t slot, free_slot, old = 0;
  uint64_t expiry = 0;
  int corrupt;
  uint32_t ev = 0;
  uint32_t* e = sysv_ipc_map_find(m, side, (const uint8_t*)key, (uint32_t)klen, hash, &slot, &free_slot, &corrupt, &ev);
  if (corrupt) {
    r = SYSV_IPC_MAP_CORRUPT;
  } else {
    if (e && sysv_ipc_map_expired(e, sysv_ipc_map_now_ms())) e = NULL;
    if (e && ev != 8) {
      r = SYSV_IPC_MAP_NOT_COUNTER;
    } else {
      uint8_t bytes[8];
      if (e) {
        const uint8_t* v = (uint8_t*)e + SYSV_IPC_MAP_ENTRY_HEADER + klen;
        uint64_t u = 0;
        for (int i = 7; i >= 0; i--) u = (u << 8) | v[i];
        old = (int64_t)u;
        expiry = sysv_ipc_map_expiry(e);
      }
      int64_t next;
      if (__builtin_add_overflow(old, delta, &next)) {
        r = ERANGE;
      } else {
        uint64_t u = (uint64_t)next;
        for (int i = 0; i < 8; i++) bytes[i] = (uint8_t)(u >> (8 * i));
        r = sysv_ipc_map_put_locked(m, key, (uint32_t)klen, bytes, 8, expiry);
        if (r == SYSV_IPC_MAP_OK) *result = next;
      }
    }
  }
  sysv_ipc_map_unlock(m, self);
  return r;
}

#ifdef __cplusplus
}
#endif

#endif /* SYSV_IPC_MAP_H */
