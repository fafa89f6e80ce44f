/* Topic reference: the protocol of include/sysv-ipc/topic.h with no runtime
 * in between (the physical limit row). Topics are created by the harness and
 * given by shmid; this program creates nothing.
 *
 *   topic echo   REQ REP SIZE COUNT          receive on REQ, publish it on REP
 *   topic client REQ REP SIZE WARMUP COUNT   publish on REQ, wait on REP; per-trip latency
 *
 * The client subscribes to REP before it publishes, and publishes once the
 * echo's subscription to REQ is active (a subscription starts at the next
 * message). Waits spin as topic.h's receive does, then sleep.
 */
#define _GNU_SOURCE
#include <string.h>
#include <sys/ipc.h>
#include <sys/shm.h>

#include <sysv-ipc/topic.h>

#include "common.h"

static void attach(sysv_ipc_topic *t, int id) {
  struct shmid_ds ds;
  void *base;
  int r;
  base = shmat(id, NULL, 0); /* attach first, then the size: of the segment attached */
  if (base == (void *)-1) die("shmat");
  if (shmctl(id, IPC_STAT, &ds) < 0) die("shmctl");
  r = sysv_ipc_topic_attach(t, (uint8_t *)base, ds.shm_segsz);
  if (r != 0) {
    fprintf(stderr, "topic attach: %s\n", strerror(r));
    exit(1);
  }
}

static void check(int r, const char *what) {
  if (r != 0) {
    fprintf(stderr, "%s: %s\n", what, strerror(r));
    exit(1);
  }
}

/* Whether a subscription of `t` is active (its cursor set). */
static int subscribed(const sysv_ipc_topic *t) {
  for (uint32_t i = 0; i < t->max_subscribers; i++) {
    uint32_t off = sysv_ipc_topic__slot(i) + SYSV_IPC_TOPIC_SLOT_ACTIVE;
    if (__atomic_load_n(sysv_ipc_topic__u32(t->base, off), __ATOMIC_SEQ_CST) != 0) return 1;
  }
  return 0;
}

int main(int argc, char **argv) {
  static unsigned char buf[1 << 16];
  sysv_ipc_topic a, b;
  sysv_ipc_topic_sub sub;
  sysv_ipc_lock_self self;
  uint32_t len;
  if (argc < 6) return fprintf(stderr, "usage: see topic.c\n"), 2;
  const char *role = argv[1];
  memset(buf, 'x', sizeof buf);
  check(sysv_ipc_lock_self_init(&self), "self");
  attach(&a, atoi(argv[2]));
  attach(&b, atoi(argv[3]));
  if (strcmp(role, "echo") == 0) {
    long count = atol(argv[5]);
    check(sysv_ipc_topic_subscribe(&a, &self, 0, &sub), "subscribe");
    for (long i = 0; i < count; i++) {
      check(sysv_ipc_topic_receive(&a, &sub, buf, sizeof buf, &len, -1), "receive");
      check(sysv_ipc_topic_publish(&b, &self, buf, len, -1), "publish");
    }
    sysv_ipc_topic_free_slot(&a, sub.slot);
    return 0;
  }
  if (strcmp(role, "client") == 0 && argc >= 7) {
    uint32_t size = (uint32_t)atol(argv[4]);
    long warmup = atol(argv[5]), count = atol(argv[6]);
    int64_t *samples = malloc(sizeof *samples * (size_t)count);
    check(sysv_ipc_topic_subscribe(&b, &self, 0, &sub), "subscribe");
    while (!subscribed(&a)) usleep(1000);
    for (long i = 0; i < warmup + count; i++) {
      int64_t t0 = now_ns();
      check(sysv_ipc_topic_publish(&a, &self, buf, size, -1), "publish");
      check(sysv_ipc_topic_receive(&b, &sub, buf, sizeof buf, &len, -1), "receive");
      if (i >= warmup) samples[i - warmup] = now_ns() - t0;
    }
    sysv_ipc_topic_free_slot(&b, sub.slot);
    report_latency(samples, count);
    return 0;
  }
  return fprintf(stderr, "topic: bad role\n"), 2;
}
