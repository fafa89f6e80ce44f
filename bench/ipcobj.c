/* Creates and removes the IPC_PRIVATE objects the benchmarks use, so the C
 * reference rows run even before the package's class for that kind exists.
 * The harness (bench/run.js) tracks every id printed here and removes it,
 * also when interrupted.
 *
 *   ipcobj msg                     -> prints the msqid
 *   ipcobj sem N [v0 v1 ...]       -> prints the semid (values set with SETALL)
 *   ipcobj shm BYTES               -> prints the shmid
 *   ipcobj rm KIND ID [KIND ID...] -> IPC_RMID each; exit 1 if one failed
 *
 * With `-k KEY` first (ipcobj -k 0x1234abcd msg), the object gets that key
 * instead, for peers that can only attach by key (Python's sysv_ipc). It is
 * created with IPC_EXCL, so an object someone else holds at that key is never
 * taken over: exit 3 on EEXIST, and the harness tries another random key.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ipc.h>
#include <sys/msg.h>
#include <sys/sem.h>
#include <sys/shm.h>

union semun {
  int val;
  struct semid_ds *buf;
  unsigned short *array;
};

static int fail(const char *what) {
  fprintf(stderr, "ipcobj: %s: %s\n", what, strerror(errno));
  return 1;
}

static int fail_create(const char *what) {
  int exists = errno == EEXIST;
  fail(what);
  return exists ? 3 : 1;
}

int main(int argc, char **argv) {
  key_t key = IPC_PRIVATE;
  int create = IPC_CREAT | 0600;
  if (argc >= 3 && strcmp(argv[1], "-k") == 0) {
    key = (key_t)strtoul(argv[2], NULL, 0);
    create |= IPC_EXCL;
    argc -= 2;
    argv += 2;
  }
  if (argc < 2) return fprintf(stderr, "usage: ipcobj [-k KEY] msg | sem N [values] | shm BYTES | rm KIND ID...\n"), 2;
  const char *cmd = argv[1];
  if (strcmp(cmd, "msg") == 0) {
    int id = msgget(key, create);
    if (id < 0) return fail_create("msgget");
    printf("%d\n", id);
  } else if (strcmp(cmd, "sem") == 0 && argc >= 3) {
    int n = atoi(argv[2]);
    if (n < 1 || n > 250) return fprintf(stderr, "ipcobj: bad size\n"), 2;
    int id = semget(key, n, create);
    if (id < 0) return fail_create("semget");
    unsigned short values[250] = {0};
    for (int i = 0; i < n && 3 + i < argc; i++) values[i] = (unsigned short)atoi(argv[3 + i]);
    union semun arg;
    arg.array = values;
    if (semctl(id, 0, SETALL, arg) < 0) {
      int e = errno;
      semctl(id, 0, IPC_RMID);
      errno = e;
      return fail("semctl SETALL");
    }
    printf("%d\n", id);
  } else if (strcmp(cmd, "shm") == 0 && argc >= 3) {
    size_t bytes = strtoull(argv[2], NULL, 10);
    int id = shmget(key, bytes, create);
    if (id < 0) return fail_create("shmget");
    printf("%d\n", id);
  } else if (strcmp(cmd, "rm") == 0) {
    int status = 0;
    for (int i = 2; i + 1 < argc; i += 2) {
      int id = atoi(argv[i + 1]);
      int r;
      if (strcmp(argv[i], "msg") == 0) r = msgctl(id, IPC_RMID, NULL);
      else if (strcmp(argv[i], "sem") == 0) r = semctl(id, 0, IPC_RMID);
      else if (strcmp(argv[i], "shm") == 0) r = shmctl(id, IPC_RMID, NULL);
      else { fprintf(stderr, "ipcobj: bad kind %s\n", argv[i]); status = 2; continue; }
      /* Already gone is fine: removal is idempotent from the harness's view. */
      if (r < 0 && errno != EINVAL && errno != EIDRM) status = fail("IPC_RMID");
    }
    return status;
  } else {
    return fprintf(stderr, "ipcobj: bad command\n"), 2;
  }
  return 0;
}
