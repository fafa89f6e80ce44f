/* Semaphore reference: semop on a set created by the harness (by id).
 *
 *   sem pong ID COUNT               acquire member 0, release member 1
 *   sem ping ID WARMUP COUNT        release member 0, acquire member 1; per-trip latency
 *   sem uncontended ID COUNT UNDO   IPC_NOWAIT acquire + release of member 0 (value 1), batch
 */
#include <string.h>
#include <sys/ipc.h>
#include <sys/sem.h>

#include "common.h"

static void op(int id, unsigned short num, short delta, short flags) {
  struct sembuf b = {num, delta, flags};
  if (semop(id, &b, 1) < 0) die("semop");
}

int main(int argc, char **argv) {
  if (argc < 4) return fprintf(stderr, "usage: see sem.c\n"), 2;
  const char *role = argv[1];
  int id = atoi(argv[2]);
  if (strcmp(role, "pong") == 0) {
    long count = atol(argv[3]);
    for (long i = 0; i < count; i++) {
      op(id, 0, -1, 0);
      op(id, 1, 1, 0);
    }
    return 0;
  }
  if (strcmp(role, "ping") == 0 && argc >= 5) {
    long warmup = atol(argv[3]), count = atol(argv[4]);
    int64_t *samples = malloc(sizeof *samples * (size_t)count);
    for (long i = 0; i < warmup + count; i++) {
      int64_t t0 = now_ns();
      op(id, 0, 1, 0);
      op(id, 1, -1, 0);
      if (i >= warmup) samples[i - warmup] = now_ns() - t0;
    }
    report_latency(samples, count);
    return 0;
  }
  if (strcmp(role, "uncontended") == 0 && argc >= 5) {
    long count = atol(argv[3]);
    short undo = atoi(argv[4]) ? SEM_UNDO : 0;
    for (long i = 0; i < count / 10; i++) {  // warm-up
      op(id, 0, -1, IPC_NOWAIT | undo);
      op(id, 0, 1, undo);
    }
    int64_t t0 = now_ns();
    for (long i = 0; i < count; i++) {
      op(id, 0, -1, IPC_NOWAIT | undo);
      op(id, 0, 1, undo);
    }
    report_batch(count, now_ns() - t0);
    return 0;
  }
  return fprintf(stderr, "sem: bad role\n"), 2;
}
