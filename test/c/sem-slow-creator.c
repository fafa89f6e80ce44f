/*
 * Creates a one-member semaphore set the way the package's open-or-create
 * handshake does (lib/semaphore/open.ts: Stevens, UNP vol. 2, 11.2), but
 * slowly: semget(IPC_CREAT | IPC_EXCL), then a pause, then SETVAL and the
 * semop that stamps sem_otime. Racing openers meet the uninitialised set
 * inside the pause for certain, and a test can SIGKILL the creator there.
 *
 * usage: sem-slow-creator <key> <value> <delay-ms>
 * prints "created <semid>" after semget and "initialised" at the end.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ipc.h>
#include <sys/sem.h>
#include <time.h>

union semun { int val; struct semid_ds *buf; unsigned short *array; };

int main(int argc, char **argv) {
  if (argc != 4) { fprintf(stderr, "usage: %s <key> <value> <delay-ms>\n", argv[0]); return 2; }
  key_t key = (key_t)strtol(argv[1], NULL, 0);
  int value = atoi(argv[2]);
  long delay = atol(argv[3]);
  int id = semget(key, 1, IPC_CREAT | IPC_EXCL | 0600);
  if (id < 0) { fprintf(stderr, "semget: %s\n", strerror(errno)); return 1; }
  printf("created %d\n", id);
  fflush(stdout);
  struct timespec pause = { delay / 1000, (delay % 1000) * 1000000L };
  while (nanosleep(&pause, &pause) != 0 && errno == EINTR) {}
  union semun arg = { .val = value };
  if (semctl(id, 0, SETVAL, arg) < 0) { fprintf(stderr, "SETVAL: %s\n", strerror(errno)); return 1; }
  /* The stamp: an operation that changes nothing (take one and give it back, or wait for zero). */
  struct sembuf take_back[2] = { { 0, -1, IPC_NOWAIT }, { 0, 1, IPC_NOWAIT } };
  struct sembuf zero[1] = { { 0, 0, IPC_NOWAIT } };
  if (value > 0 ? semop(id, take_back, 2) : semop(id, zero, 1)) {
    fprintf(stderr, "semop: %s\n", strerror(errno));
    return 1;
  }
  printf("initialised\n");
  return 0;
}
