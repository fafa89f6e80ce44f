/*
 * A C peer of Node's Topic, through include/sysv-ipc/topic.h only.
 *   topic-peer pub <shmid> <producer> <count> <maxlen>
 *   topic-peer pub-crash <shmid> <producer> <count> <maxlen> <point>
 *       publishes `count` messages, then dies (SIGKILL) inside the next
 *       publish at topic.h's SYSV_IPC_TOPIC_TEST_POINT(point), the lock held
 *   topic-peer sub <shmid> <expect>     prints READY once subscribed, then
 *       { "ids": [...], "bad": n, "missed": m } after `expect` messages
 * Messages follow test/fixtures/topic-peer.js's rule.
 */
#define _GNU_SOURCE /* the headers' syscall(2), kill(2), clock_gettime(2) */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/shm.h>

/* pub-crash: the publish after `count` SIGKILLs this process at topic.h's test point `crash_at`. */
static int crash_at = 0;
static void crash_point(int n) {
  if (n == crash_at) kill(getpid(), SIGKILL);
}
#define SYSV_IPC_TOPIC_TEST_POINT(n) crash_point(n)
#include <sysv-ipc/topic.h>

static uint32_t msg_length(uint32_t producer, uint32_t seq, uint32_t maxlen) {
  return 8 + ((seq * 37u + producer * 11u) % (maxlen - 7));
}
static void put32(uint8_t* p, uint32_t v) {
  p[0] = (uint8_t)v;
  p[1] = (uint8_t)(v >> 8);
  p[2] = (uint8_t)(v >> 16);
  p[3] = (uint8_t)(v >> 24);
}
static uint32_t get32(const uint8_t* p) {
  return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

int main(int argc, char** argv) {
  sysv_ipc_topic t;
  sysv_ipc_lock_self self;
  struct shmid_ds ds;
  int id, r;
  void* base;
  if (argc < 4) return 2;
  id = atoi(argv[2]);
  if (shmctl(id, IPC_STAT, &ds) != 0) return 3;
  base = shmat(id, NULL, 0);
  if (base == (void*)-1) return 3;
  if ((r = sysv_ipc_topic_attach(&t, (uint8_t*)base, ds.shm_segsz)) != 0) return 4;
  if (sysv_ipc_lock_self_init(&self) != 0) return 5;
  if ((strcmp(argv[1], "pub") == 0 && argc >= 6) || (strcmp(argv[1], "pub-crash") == 0 && argc >= 7)) {
    uint32_t producer = (uint32_t)atoi(argv[3]), count = (uint32_t)atoi(argv[4]), maxlen = (uint32_t)atoi(argv[5]);
    uint8_t* buf = malloc(maxlen);
    uint32_t seq, i;
    int crash = argc >= 7;
    for (seq = 0; seq < count + (crash ? 1u : 0u); seq++) {
      if (crash && seq == count) crash_at = atoi(argv[6]);
      uint32_t len = msg_length(producer, seq, maxlen);
      uint32_t b = producer * 31u + seq * 7u;
      put32(buf, producer);
      put32(buf + 4, seq);
      for (i = 8; i < len; i++) buf[i] = (uint8_t)((b + i) & 255);
      if ((r = sysv_ipc_topic_publish(&t, &self, buf, len, -1)) != 0) {
        fprintf(stderr, "publish: %s\n", strerror(r));
        return 6;
      }
    }
    return 0;
  }
  if (strcmp(argv[1], "sub") == 0) {
    uint32_t expect = (uint32_t)atoi(argv[3]), got = 0, bad = 0, len, i;
    sysv_ipc_topic_sub sub;
    uint8_t* buf = malloc(t.max_message + 1);
    int first = 1;
    if ((r = sysv_ipc_topic_subscribe(&t, &self, 0, &sub)) != 0) return 7;
    printf("READY\n{\"ids\":[");
    fflush(stdout);
    while (got + bad < expect) {
      r = sysv_ipc_topic_receive(&t, &sub, buf, t.max_message, &len, -1);
      if (r == EIDRM) break;
      if (r != 0) {
        fprintf(stderr, "receive: %s\n", strerror(r));
        return 8;
      }
      {
        uint32_t producer = get32(buf), seq = get32(buf + 4), b = producer * 31u + seq * 7u;
        int ok = len >= 8;
        for (i = 8; ok && i < len; i++) ok = buf[i] == (uint8_t)((b + i) & 255);
        if (!ok) {
          bad++;
          continue;
        }
        printf("%s%u", first ? "" : ",", producer * 1000000u + seq);
        first = 0;
        got++;
      }
    }
    printf("],\"bad\":%u,\"missed\":%llu}\n", bad, (unsigned long long)sub.missed);
    sysv_ipc_topic_free_slot(&t, sub.slot);
    return 0;
  }
  return 2;
}
