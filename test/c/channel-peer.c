/*
 * A C peer of the Node Channel, built on include/sysv-ipc/channel.h only.
 * Used by test/channel/channel-processes.test.ts (and bench/cases/channel.js).
 *
 *   channel-peer send  <shmid> <producer> <count> <maxlen>   sends count test messages, then exits
 *   channel-peer recv  <shmid>                               receives until a STOP message; writes
 *                                                            each message's (producer, seq) as 8 bytes
 *                                                            to stdout at once; exit 3 on a bad message
 *   channel-peer chaos <shmid> <producer> <maxlen>           sends test messages until killed
 *   channel-peer scribble <shmid> <seed> <rounds>            writes random bytes over header and ring
 *   channel-peer storm <shmid> <ms> <maxlen> <seed>          for <ms>: forks a chaos producer or a
 *                                                            receiver (every third), SIGKILLs it after
 *                                                            0-5 ms, reaps it one round later (so it
 *                                                            is a zombie meanwhile); receivers share
 *                                                            stdout; prints "<kills> <receivers>" to stderr
 *
 * Test message (the rule test/fixtures/channel-peer.js uses too):
 *   bytes 0-3 producer (u32 LE), 4-7 seq (u32 LE), byte i >= 8 = (producer*31 + seq*7 + i) & 255,
 *   length = 8 + (seq*37 + producer*11) % (maxlen - 7). "STOP" (4 bytes) ends a receiver.
 */
#define _GNU_SOURCE
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/shm.h>
#include <sys/wait.h>

#include <sysv-ipc/channel.h>

static uint32_t msg_length(uint32_t producer, uint32_t seq, uint32_t maxlen) {
  return 8 + (seq * 37u + producer * 11u) % (maxlen - 7);
}

static void fill(unsigned char* buf, uint32_t producer, uint32_t seq, uint32_t len) {
  uint32_t i;
  memcpy(buf, &producer, 4);
  memcpy(buf + 4, &seq, 4);
  for (i = 8; i < len; i++) buf[i] = (unsigned char)((producer * 31u + seq * 7u + i) & 255u);
}

static int check(const unsigned char* buf, size_t len) {
  uint32_t producer, seq, i;
  if (len < 8) return 0;
  memcpy(&producer, buf, 4);
  memcpy(&seq, buf + 4, 4);
  for (i = 8; i < len; i++) {
    if (buf[i] != (unsigned char)((producer * 31u + seq * 7u + i) & 255u)) return 0;
  }
  return 1;
}

static int attach(sysv_ipc_channel* ch, int id) {
  struct shmid_ds ds;
  void* base;
  int r;
  base = shmat(id, NULL, 0); /* attach first, then the size: of the segment attached */
  if (base == (void*)-1) { perror("shmat"); exit(2); }
  if (shmctl(id, IPC_STAT, &ds) != 0) { perror("shmctl"); exit(2); }
  r = sysv_ipc_channel_attach(ch, base, ds.shm_segsz, id);
  if (r != 0) { fprintf(stderr, "attach: %s\n", strerror(r)); exit(2); }
  return 0;
}

int main(int argc, char** argv) {
  sysv_ipc_channel ch;
  static unsigned char buf[1 << 20];
  if (argc < 3) { fprintf(stderr, "usage: see the file comment\n"); return 2; }
  if (strcmp(argv[1], "scribble") == 0) {
    /* Garbage from another process: no channel code, just bytes. */
    int id = atoi(argv[2]);
    struct shmid_ds ds;
    unsigned char* base;
    unsigned seed = (unsigned)atoi(argv[3]);
    long rounds = atol(argv[4]), k;
    if (shmctl(id, IPC_STAT, &ds) != 0) return 2;
    base = shmat(id, NULL, 0);
    if (base == (void*)-1) return 2;
    for (k = 0; k < rounds; k++) {
      size_t off = (size_t)rand_r(&seed) % (k % 2 ? ds.shm_segsz : SYSV_IPC_CHANNEL_HEADER_SIZE);
      base[off] = (unsigned char)rand_r(&seed);
    }
    return 0;
  }
  if (strcmp(argv[1], "storm") == 0 && argc >= 6) {
    int64_t end = sysv_ipc_channel_now_ns() + (int64_t)atol(argv[3]) * 1000000LL;
    uint32_t maxlen = (uint32_t)atoi(argv[4]);
    unsigned seed = (unsigned)atoi(argv[5]);
    long kills = 0, receivers = 0, k;
    pid_t previous = 0;
    int id = atoi(argv[2]);
    for (k = 1; sysv_ipc_channel_now_ns() < end; k++) {
      int receiver = k % 3 == 0;
      pid_t pid = fork();
      if (pid < 0) { perror("fork"); return 2; }
      if (pid == 0) {
        char ids[24], producer[24], len[24];
        snprintf(ids, sizeof ids, "%d", id);
        snprintf(producer, sizeof producer, "%ld", 100000 + k);
        snprintf(len, sizeof len, "%u", maxlen);
        if (receiver) execl("/proc/self/exe", argv[0], "recv", ids, (char*)NULL);
        else execl("/proc/self/exe", argv[0], "chaos", ids, producer, len, (char*)NULL);
        _exit(127);
      }
      usleep((useconds_t)(rand_r(&seed) % 5000));
      kill(pid, SIGKILL);
      kills++;
      receivers += receiver;
      /* Reap the previous one only now: this one stays a zombie for a round. */
      if (previous > 0) waitpid(previous, NULL, 0);
      previous = pid;
    }
    if (previous > 0) waitpid(previous, NULL, 0);
    fprintf(stderr, "%ld %ld\n", kills, receivers);
    return 0;
  }
  attach(&ch, atoi(argv[2]));
  if (strcmp(argv[1], "send") == 0 && argc >= 6) {
    uint32_t producer = (uint32_t)atoi(argv[3]), count = (uint32_t)atoi(argv[4]), maxlen = (uint32_t)atoi(argv[5]), seq;
    for (seq = 0; seq < count; seq++) {
      uint32_t len = msg_length(producer, seq, maxlen);
      int r;
      fill(buf, producer, seq, len);
      r = sysv_ipc_channel_send(&ch, buf, len, 50000, -1, 0);
      if (r != 0) { fprintf(stderr, "send: %s\n", strerror(r)); return 1; }
    }
    return 0;
  }
  if (strcmp(argv[1], "chaos") == 0 && argc >= 5) {
    uint32_t producer = (uint32_t)atoi(argv[3]), maxlen = (uint32_t)atoi(argv[4]), seq;
    for (seq = 0;; seq++) {
      uint32_t len = msg_length(producer, seq, maxlen);
      fill(buf, producer, seq, len);
      if (sysv_ipc_channel_send(&ch, buf, len, 50000, -1, 0) != 0) return 1;
    }
  }
  if (strcmp(argv[1], "recv") == 0) {
    for (;;) {
      size_t len = 0;
      int r = sysv_ipc_channel_receive(&ch, buf, sizeof buf, &len, 50000, -1, 0);
      if (r == EIDRM) return 0;
      if (r != 0) { fprintf(stderr, "receive: %s\n", strerror(r)); return 1; }
      if (len == 4 && memcmp(buf, "STOP", 4) == 0) return 0;
      if (!check(buf, len)) return 3;
      if (write(1, buf, 8) != 8) return 4;
    }
  }
  fprintf(stderr, "usage: see the file comment\n");
  return 2;
}
