/*
 * Litmus-style stress of include/sysv-ipc/channel.h's memory ordering
 * (issue 19 item 6): competing consumers on a full, small ring, where every
 * record's bytes are reused as soon as one consumer moves head past them.
 *
 *   channel-litmus <producers> <consumers> <messages per producer> [capacity]
 *
 * A consumer reads a record's length and tag, then re-checks head to learn
 * whether the record was still its to read. Without the acquire fence before
 * that re-check an arm64 core may satisfy the head load first and pair an old
 * length with a new tag: ECORRUPT, or EMSGSIZE with a length nobody sent.
 * Half the consumers take messages into a buffer of half the largest
 * size, so the EMSGSIZE path (nothing consumed, the length reported) runs
 * too: its length must be one that does not fit and that a message may have;
 * the other half hold the largest message, where any EMSGSIZE is wrong.
 * Every payload is checked byte by byte and per producer in order; a
 * watcher walks the ring (stats_of) all along and must never see corruption.
 * Producers keep the ring full with try_send. x86 (TSO) cannot show the bug,
 * nor can qemu-user (it runs the guest's loads in order on an x86 host):
 * there this is a regression run of the protocol; on real arm64 hardware it
 * is the litmus test.
 *
 * Prints one line of counts and exits 0 when every count of a failure is 0.
 * The segment is IPC_PRIVATE and removed at once (it lives until the last
 * detach), so nothing is left behind whatever happens.
 */
#define _GNU_SOURCE
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/shm.h>
#include <sys/wait.h>

#include <sysv-ipc/channel.h>

struct tally {
  uint64_t received;
  uint64_t corrupt;  /* ECORRUPT from try_receive */
  uint64_t emsgsize; /* EMSGSIZE with a buffer that holds every message, or with an impossible length */
  uint64_t emsgsize_ok; /* EMSGSIZE with the small buffer and a plausible length */
  uint64_t bad;      /* a payload that is not what its producer wrote */
  uint64_t order;    /* a producer's messages out of order at one consumer */
  uint64_t stats_corrupt;
  uint64_t stats_walks;
  uint64_t send_errors;
  int stop;
};

static uint32_t length_of(uint32_t producer, uint32_t seq, uint32_t max) {
  return 8 + (seq * 13u + producer * 7u) % (max - 7);
}

static unsigned char byte_of(uint32_t producer, uint32_t seq, uint32_t i) {
  return (unsigned char)((producer * 31u + seq * 7u + i * 3u) & 255u);
}

static void attach_child(sysv_ipc_channel* ch, void* base, uint64_t size) {
  /* The mapping is inherited; the lock identity is per process: attach again. */
  if (sysv_ipc_channel_attach(ch, base, size, -1) != 0) _exit(90);
}

static void produce(void* base, uint64_t size, uint32_t producer, uint32_t count, struct tally* t) {
  sysv_ipc_channel ch;
  unsigned char buf[1 << 16];
  uint32_t seq, i;
  attach_child(&ch, base, size);
  for (seq = 0; seq < count; seq++) {
    uint32_t len = length_of(producer, seq, ch.max_message);
    memcpy(buf, &producer, 4);
    memcpy(buf + 4, &seq, 4);
    for (i = 8; i < len; i++) buf[i] = byte_of(producer, seq, i);
    for (;;) {
      int r = sysv_ipc_channel_try_send(&ch, buf, len, -1);
      if (r == 0) break;
      if (r != EAGAIN) {
        __atomic_add_fetch(&t->send_errors, 1, __ATOMIC_RELAXED);
        _exit(91);
      }
      sched_yield();
    }
  }
  _exit(0);
}

static void consume(void* base, uint64_t size, uint32_t producers, int small, struct tally* t) {
  sysv_ipc_channel ch;
  unsigned char buf[1 << 16];
  int64_t last[64];
  uint32_t p;
  attach_child(&ch, base, size);
  for (p = 0; p < producers; p++) last[p] = -1;
  while (!__atomic_load_n(&t->stop, __ATOMIC_ACQUIRE)) {
    size_t len = 0;
    uint32_t producer, seq, i;
    size_t room = small ? ch.max_message / 2 : ch.max_message;
    int r = sysv_ipc_channel_try_receive(&ch, buf, room, &len);
    if (r == EMSGSIZE && small && len > room && len <= ch.max_message) {
      __atomic_add_fetch(&t->emsgsize_ok, 1, __ATOMIC_RELAXED);
      r = sysv_ipc_channel_try_receive(&ch, buf, ch.max_message, &len); /* take one, to make progress */
    }
    if (r == EAGAIN) {
      sched_yield();
      continue;
    }
    if (r == SYSV_IPC_CHANNEL_ECORRUPT) {
      __atomic_add_fetch(&t->corrupt, 1, __ATOMIC_RELAXED);
      continue;
    }
    if (r == EMSGSIZE) {
      __atomic_add_fetch(&t->emsgsize, 1, __ATOMIC_RELAXED);
      continue;
    }
    if (r != 0) _exit(92);
    memcpy(&producer, buf, 4);
    memcpy(&seq, buf + 4, 4);
    if (len < 8 || producer >= producers || len != length_of(producer, seq, ch.max_message)) {
      __atomic_add_fetch(&t->bad, 1, __ATOMIC_RELAXED);
    } else {
      for (i = 8; i < len; i++) {
        if (buf[i] != byte_of(producer, seq, i)) {
          __atomic_add_fetch(&t->bad, 1, __ATOMIC_RELAXED);
          break;
        }
      }
      if ((int64_t)seq <= last[producer]) __atomic_add_fetch(&t->order, 1, __ATOMIC_RELAXED);
      last[producer] = seq;
    }
    __atomic_add_fetch(&t->received, 1, __ATOMIC_RELEASE);
  }
  _exit(0);
}

static void watch(void* base, uint64_t size, struct tally* t) {
  sysv_ipc_channel ch;
  attach_child(&ch, base, size);
  while (!__atomic_load_n(&t->stop, __ATOMIC_ACQUIRE)) {
    sysv_ipc_channel_stats s;
    if (sysv_ipc_channel_stats_of(&ch, &s) != 0 || s.used > ch.capacity || s.counted > s.used) {
      __atomic_add_fetch(&t->stats_corrupt, 1, __ATOMIC_RELAXED);
    }
    __atomic_add_fetch(&t->stats_walks, 1, __ATOMIC_RELAXED);
    sched_yield();
  }
  _exit(0);
}

int main(int argc, char** argv) {
  uint32_t producers, consumers, count, p;
  uint64_t capacity, size, want;
  int id, status, failed = 0;
  void* base;
  sysv_ipc_channel ch;
  struct tally* t;
  pid_t kids[128];
  int nkids = 0, k;
  int64_t give_up;
  if (argc < 4) {
    fprintf(stderr, "usage: channel-litmus <producers> <consumers> <messages per producer> [capacity]\n");
    return 2;
  }
  producers = (uint32_t)atoi(argv[1]);
  consumers = (uint32_t)atoi(argv[2]);
  count = (uint32_t)atoi(argv[3]);
  capacity = argc > 4 ? (uint64_t)atoll(argv[4]) : SYSV_IPC_CHANNEL_MIN_CAPACITY;
  if (producers < 1 || producers > 64 || consumers < 1 || producers + consumers > 120 || count < 1) return 2;
  size = sysv_ipc_channel_segment_size(capacity);
  t = mmap(NULL, sizeof *t, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  if (t == MAP_FAILED) {
    perror("mmap");
    return 2;
  }
  memset(t, 0, sizeof *t);
  id = shmget(IPC_PRIVATE, size, IPC_CREAT | IPC_EXCL | 0600);
  if (id < 0) {
    perror("shmget");
    return 2;
  }
  base = shmat(id, NULL, 0);
  shmctl(id, IPC_RMID, NULL); /* gone with the last detach, whatever happens */
  if (base == (void*)-1) {
    perror("shmat");
    return 2;
  }
  if (sysv_ipc_channel_init_or_attach(&ch, base, size, capacity, (uint32_t)(capacity / 4), -1, 1) != 0) {
    fprintf(stderr, "init failed\n");
    return 2;
  }
  for (p = 0; p < consumers + 1; p++) {
    pid_t pid = fork();
    if (pid < 0) {
      perror("fork");
      return 2;
    }
    if (pid == 0) {
      if (p < consumers) consume(base, size, producers, (int)(p & 1), t);
      watch(base, size, t);
    }
    kids[nkids++] = pid;
  }
  for (p = 0; p < producers; p++) {
    pid_t pid = fork();
    if (pid < 0) {
      perror("fork");
      return 2;
    }
    if (pid == 0) produce(base, size, p, count, t);
    kids[nkids++] = pid;
  }
  /* Producers end by themselves; then wait for the consumers to drain (bounded). */
  for (k = (int)consumers + 1; k < nkids; k++) {
    if (waitpid(kids[k], &status, 0) < 0 || !WIFEXITED(status) || WEXITSTATUS(status) != 0) failed = 1;
  }
  want = (uint64_t)producers * count;
  give_up = sysv_ipc_channel_now_ns() + 60000000000LL;
  while (__atomic_load_n(&t->received, __ATOMIC_ACQUIRE) < want && sysv_ipc_channel_now_ns() < give_up) {
    usleep(1000);
  }
  __atomic_store_n(&t->stop, 1, __ATOMIC_RELEASE);
  for (k = 0; k <= (int)consumers; k++) {
    if (waitpid(kids[k], &status, 0) < 0 || !WIFEXITED(status) || WEXITSTATUS(status) != 0) failed = 1;
  }
  printf("litmus: %u producers x %u consumers, %llu-byte ring: received %llu of %llu; corrupt %llu, emsgsize %llu, "
         "bad %llu, order %llu, stats corrupt %llu (of %llu walks), send errors %llu; %llu EMSGSIZE to a small buffer\n",
         producers, consumers, (unsigned long long)capacity, (unsigned long long)t->received,
         (unsigned long long)want, (unsigned long long)t->corrupt, (unsigned long long)t->emsgsize,
         (unsigned long long)t->bad, (unsigned long long)t->order, (unsigned long long)t->stats_corrupt,
         (unsigned long long)t->stats_walks, (unsigned long long)t->send_errors, (unsigned long long)t->emsgsize_ok);
  if (failed || t->received != want || t->corrupt || t->emsgsize || t->bad || t->order || t->stats_corrupt ||
      t->send_errors) {
    return 1;
  }
  return 0;
}
