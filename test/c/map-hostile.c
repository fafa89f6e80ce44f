/*
 * map.h against a hostile process: one thread rewrites an entry's key and
 * value length words (a sane value, then one far past the segment) while
 * this thread reads the entry with sysv_ipc_map_get and recounts the map
 * with sysv_ipc_map_repair. A routine that checks the lengths, then loads
 * them again to use them, reads (and, for get, copies) outside the map: a
 * crash, or the canary after `out` overwritten. The map lives in heap
 * memory here, with a guard page right after it; map.h only sees bytes.
 *   map-hostile <rounds>     prints "ok" (exit 0), else exits 1 or crashes.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <sysv-ipc/map.h>

static uint32_t* klen_word;
static uint32_t* vlen_word;
static int stop;

static void* hostile(void* arg) {
  (void)arg;
  while (!__atomic_load_n(&stop, __ATOMIC_RELAXED)) {
    __atomic_store_n(klen_word, 1u, __ATOMIC_RELAXED);
    __atomic_store_n(vlen_word, 8u, __ATOMIC_RELAXED);
    __atomic_store_n(klen_word, 0x40000000u, __ATOMIC_RELAXED);
    __atomic_store_n(vlen_word, 0x40000000u, __ATOMIC_RELAXED);
  }
  return NULL;
}

int main(int argc, char** argv) {
  long rounds = argc > 1 ? atol(argv[1]) : 1000000;
  const uint32_t slots = 16, capacity = 4096;
  uint64_t size = sysv_ipc_map_segment_size(slots, capacity);
  long page = sysconf(_SC_PAGESIZE);
  uint64_t mapped = (size + (uint64_t)page - 1) / (uint64_t)page * (uint64_t)page;
  /* The map ends where the mapping does (the entry is in half 1, its last bytes), a guard page after it. */
  uint8_t* area = mmap(NULL, mapped + (uint64_t)page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (area == MAP_FAILED) return 1;
  if (mprotect(area + mapped, (size_t)page, PROT_NONE) != 0) return 1;
  uint8_t* base = area + (mapped - size);
  uint32_t* w = (uint32_t*)base;
  w[SYSV_IPC_MAP_H_VERSION] = SYSV_IPC_MAP_VERSION;
  w[SYSV_IPC_MAP_H_HEADER_SIZE] = SYSV_IPC_MAP_HEADER_SIZE;
  w[SYSV_IPC_MAP_H_SLOTS] = slots;
  w[SYSV_IPC_MAP_H_CAPACITY] = capacity;
  w[SYSV_IPC_MAP_H_MAX_KEY] = 64;
  w[SYSV_IPC_MAP_H_MAX_VALUE] = 1024;
  w[SYSV_IPC_MAP_H_MAGIC] = SYSV_IPC_MAP_MAGIC;
  /* The active pair 1, its one entry "k" = 8 bytes at the very end of half 1. */
  w[SYSV_IPC_MAP_H_GEN] = 1;
  sysv_ipc_map m;
  if (sysv_ipc_map_attach(&m, base, size) != SYSV_IPC_MAP_OK) return 1;
  uint32_t esize = SYSV_IPC_MAP_ENTRY_HEADER + 8 + 8; /* key 1 byte, value 8, rounded up */
  uint32_t off = capacity - esize;
  uint8_t* half = sysv_ipc_map_half(&m, 1);
  sysv_ipc_map_write_entry(half + off, sysv_ipc_map_hash((const uint8_t*)"k", 1), "k", 1, "01234567", 8, 0);
  uint32_t* idx = sysv_ipc_map_index(&m, 1);
  uint32_t slot = sysv_ipc_map_hash((const uint8_t*)"k", 1) & (slots - 1);
  idx[2 * slot] = sysv_ipc_map_hash((const uint8_t*)"k", 1);
  idx[2 * slot + 1] = off / 8 + 2;
  uint32_t* e = (uint32_t*)(half + off);
  klen_word = &e[2];
  vlen_word = &e[3];
  sysv_ipc_lock_self self;
  if (sysv_ipc_lock_self_init(&self) != 0) return 1;

  pthread_t t;
  if (pthread_create(&t, NULL, hostile, NULL) != 0) return 1;
  struct {
    uint8_t out[64];
    uint8_t canary[64];
  } buf;
  memset(buf.canary, 0xA5, sizeof buf.canary);
  long found = 0, corrupt = 0;
  for (long i = 0; i < rounds; i++) {
    size_t vlen = 0;
    int r = sysv_ipc_map_get(&m, &self, "k", 1, buf.out, sizeof buf.out, &vlen);
    if (r == SYSV_IPC_MAP_OK) found++;
    if (r == SYSV_IPC_MAP_CORRUPT) corrupt++;
    if (r == SYSV_IPC_MAP_OK && vlen > sizeof buf.out) return 1;
    if (i % 16 == 0) {
      w[SYSV_IPC_MAP_H_GEN] = 1; /* repair looks at pair 1 too */
      (void)sysv_ipc_map_repair(&m);
    }
  }
  __atomic_store_n(&stop, 1, __ATOMIC_RELAXED);
  pthread_join(t, NULL);
  for (size_t i = 0; i < sizeof buf.canary; i++) {
    if (buf.canary[i] != 0xA5) {
      fprintf(stderr, "get wrote past its buffer\n");
      return 1;
    }
  }
  printf("ok (%ld found, %ld corrupt)\n", found, corrupt);
  return 0;
}
