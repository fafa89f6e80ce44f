/* Message queue reference: the same msgsnd/msgrcv calls the package makes,
 * with no runtime in between. The queue is created by the harness and given
 * by id; this program creates nothing, so being killed leaves nothing behind.
 *
 *   msg echo   ID SIZE COUNT          receive type 1, send it back as type 2
 *   msg client ID SIZE WARMUP COUNT   send type 1, wait for type 2; per-trip latency
 *   msg source ID SIZE COUNT          send COUNT messages of type 1
 *   msg sink   ID SIZE COUNT          receive COUNT; rate from first to last
 */
#include <string.h>
#include <sys/ipc.h>
#include <sys/msg.h>

#include "common.h"

struct message {
  long mtype;
  char mtext[65536];
};

int main(int argc, char **argv) {
  if (argc < 5) return fprintf(stderr, "usage: see msg.c\n"), 2;
  const char *role = argv[1];
  int id = atoi(argv[2]);
  size_t size = (size_t)atol(argv[3]);
  static struct message m;
  memset(m.mtext, 'x', sizeof m.mtext);

  if (strcmp(role, "echo") == 0) {
    long count = atol(argv[4]);
    for (long i = 0; i < count; i++) {
      ssize_t got = msgrcv(id, &m, sizeof m.mtext, 1, 0);
      if (got < 0) die("msgrcv");
      m.mtype = 2;
      if (msgsnd(id, &m, (size_t)got, 0) < 0) die("msgsnd");
    }
    return 0;
  }
  if (strcmp(role, "client") == 0 && argc >= 6) {
    long warmup = atol(argv[4]), count = atol(argv[5]);
    int64_t *samples = malloc(sizeof *samples * (size_t)count);
    for (long i = 0; i < warmup + count; i++) {
      int64_t t0 = now_ns();
      m.mtype = 1;
      if (msgsnd(id, &m, size, 0) < 0) die("msgsnd");
      if (msgrcv(id, &m, sizeof m.mtext, 2, 0) < 0) die("msgrcv");
      if (i >= warmup) samples[i - warmup] = now_ns() - t0;
    }
    report_latency(samples, count);
    return 0;
  }
  if (strcmp(role, "source") == 0) {
    long count = atol(argv[4]);
    m.mtype = 1;
    for (long i = 0; i < count; i++)
      if (msgsnd(id, &m, size, 0) < 0) die("msgsnd");
    return 0;
  }
  if (strcmp(role, "sink") == 0) {
    long count = atol(argv[4]);
    int64_t first = 0;
    for (long i = 0; i < count; i++) {
      if (msgrcv(id, &m, sizeof m.mtext, 0, 0) < 0) die("msgrcv");
      if (i == 0) first = now_ns();
    }
    report_batch(count - 1, now_ns() - first);
    return 0;
  }
  return fprintf(stderr, "msg: bad role\n"), 2;
}
