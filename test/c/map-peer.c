/*
 * A C peer of SharedMap through include/sysv-ipc/map.h (test/shared-map/).
 *   map-peer get <shmid> <key>            prints the value, or "absent"
 *   map-peer set <shmid> <key> <value> [ttl_ms]
 *   map-peer del <shmid> <key>            prints "deleted" or "absent"
 *   map-peer add <shmid> <key> <n>        n x add(key, 1); prints the last value
 * Exits 1 with the errno name on a map error.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/shm.h>

#include <sysv-ipc/map.h>

static int fail(const char* what, int r) {
  fprintf(stderr, "%s: %s\n", what, strerror(r));
  return 1;
}

int main(int argc, char** argv) {
  if (argc < 4) return fail("usage", EINVAL);
  int id = atoi(argv[2]);
  struct shmid_ds ds;
  if (shmctl(id, IPC_STAT, &ds) != 0) return fail("shmctl", errno);
  void* base = shmat(id, NULL, 0);
  if (base == (void*)-1) return fail("shmat", errno);
  sysv_ipc_map m;
  int r = sysv_ipc_map_attach(&m, base, ds.shm_segsz);
  if (r) return fail("attach", r);
  sysv_ipc_lock_self self;
  if ((r = sysv_ipc_lock_self_init(&self)) != 0) return fail("self", r);
  const char* key = argv[3];
  size_t klen = strlen(key);
  if (strcmp(argv[1], "get") == 0) {
    static char out[1 << 20];
    size_t vlen = 0;
    r = sysv_ipc_map_get(&m, &self, key, klen, out, sizeof out, &vlen);
    if (r == SYSV_IPC_MAP_NOT_FOUND) {
      puts("absent");
      return 0;
    }
    if (r) return fail("get", r);
    fwrite(out, 1, vlen, stdout);
    putchar('\n');
  } else if (strcmp(argv[1], "set") == 0 && argc >= 5) {
    uint64_t ttl = argc >= 6 ? strtoull(argv[5], NULL, 10) : 0;
    r = sysv_ipc_map_set(&m, &self, key, klen, argv[4], strlen(argv[4]), ttl);
    if (r) return fail("set", r);
  } else if (strcmp(argv[1], "del") == 0) {
    r = sysv_ipc_map_delete(&m, &self, key, klen);
    if (r && r != SYSV_IPC_MAP_NOT_FOUND) return fail("delete", r);
    puts(r ? "absent" : "deleted");
  } else if (strcmp(argv[1], "add") == 0 && argc >= 5) {
    long n = atol(argv[4]);
    int64_t v = 0;
    for (long i = 0; i < n; i++) {
      if ((r = sysv_ipc_map_add(&m, &self, key, klen, 1, &v)) != 0) return fail("add", r);
    }
    printf("%lld\n", (long long)v);
  } else {
    return fail("usage", EINVAL);
  }
  return 0;
}
