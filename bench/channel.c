/* Channel reference: the protocol of include/sysv-ipc/channel.h with no
 * runtime in between (the physical limit row). Channels are created by the
 * harness and given by shmid; this program creates nothing.
 *
 *   channel echo   REQ REP SIZE COUNT          receive on REQ, send it back on REP
 *   channel client REQ REP SIZE WARMUP COUNT   send on REQ, wait on REP; per-trip latency
 *   channel source ID SIZE COUNT               send COUNT messages
 *   channel sink   ID SIZE COUNT               receive COUNT; rate from first to last
 *
 * Waits spin (yielding) for 100 µs before they sleep, as the addon's sync forms do.
 */
#define _GNU_SOURCE
#include <string.h>
#include <sys/ipc.h>
#include <sys/shm.h>

#include <sysv-ipc/channel.h>

#include "common.h"

#define SPIN_NS 100000

static void attach(sysv_ipc_channel *ch, int id) {
  struct shmid_ds ds;
  void *base;
  int r;
  base = shmat(id, NULL, 0); /* attach first, then the size: of the segment attached */
  if (base == (void *)-1) die("shmat");
  if (shmctl(id, IPC_STAT, &ds) < 0) die("shmctl");
  r = sysv_ipc_channel_attach(ch, base, ds.shm_segsz, id);
  if (r != 0) {
    fprintf(stderr, "channel attach: %s\n", strerror(r));
    exit(1);
  }
}

static void check(int r, const char *what) {
  if (r != 0) {
    fprintf(stderr, "%s: %s\n", what, strerror(r));
    exit(1);
  }
}

int main(int argc, char **argv) {
  static unsigned char buf[1 << 20];
  sysv_ipc_channel a, b;
  size_t len;
  if (argc < 5) return fprintf(stderr, "usage: see channel.c\n"), 2;
  const char *role = argv[1];
  memset(buf, 'x', sizeof buf);
  if (strcmp(role, "echo") == 0 && argc >= 6) {
    long count = atol(argv[5]);
    attach(&a, atoi(argv[2]));
    attach(&b, atoi(argv[3]));
    for (long i = 0; i < count; i++) {
      check(sysv_ipc_channel_receive(&a, buf, sizeof buf, &len, SPIN_NS, -1, 0), "receive");
      check(sysv_ipc_channel_send(&b, buf, len, SPIN_NS, -1, 0), "send");
    }
    return 0;
  }
  if (strcmp(role, "client") == 0 && argc >= 7) {
    size_t size = (size_t)atol(argv[4]);
    long warmup = atol(argv[5]), count = atol(argv[6]);
    int64_t *samples = malloc(sizeof *samples * (size_t)count);
    attach(&a, atoi(argv[2]));
    attach(&b, atoi(argv[3]));
    for (long i = 0; i < warmup + count; i++) {
      int64_t t0 = now_ns();
      check(sysv_ipc_channel_send(&a, buf, size, SPIN_NS, -1, 0), "send");
      check(sysv_ipc_channel_receive(&b, buf, sizeof buf, &len, SPIN_NS, -1, 0), "receive");
      if (i >= warmup) samples[i - warmup] = now_ns() - t0;
    }
    report_latency(samples, count);
    return 0;
  }
  if (strcmp(role, "source") == 0) {
    size_t size = (size_t)atol(argv[3]);
    long count = atol(argv[4]);
    attach(&a, atoi(argv[2]));
    for (long i = 0; i < count; i++) check(sysv_ipc_channel_send(&a, buf, size, SPIN_NS, -1, 0), "send");
    return 0;
  }
  if (strcmp(role, "sink") == 0) {
    long count = atol(argv[4]);
    int64_t first = 0;
    attach(&a, atoi(argv[2]));
    for (long i = 0; i < count; i++) {
      check(sysv_ipc_channel_receive(&a, buf, sizeof buf, &len, SPIN_NS, -1, 0), "receive");
      if (i == 0) first = now_ns();
    }
    report_batch(count - 1, now_ns() - first);
    return 0;
  }
  return fprintf(stderr, "channel: bad role\n"), 2;
}
