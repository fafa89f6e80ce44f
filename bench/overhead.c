/* Per-call cost of the syscalls themselves, in one process, for
 * bench/call-overhead.js to compare the package's calls against.
 * Usage: overhead <iterations>; prints JSON: ns per pair for each loop. */
#include <stdio.h>
#include <stdlib.h>
#include <sys/ipc.h>
#include <sys/msg.h>
#include <sys/sem.h>
#include <time.h>

struct msg64 { long type; char body[64]; };

static double now_ns(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec * 1e9 + t.tv_nsec;
}

int main(int argc, char **argv) {
  long n = argc > 1 ? atol(argv[1]) : 1000000;
  int q = msgget(IPC_PRIVATE, 0600), q2 = msgget(IPC_PRIVATE, 0600), s = semget(IPC_PRIVATE, 1, 0600);
  if (q < 0 || q2 < 0 || s < 0) { perror("get"); return 1; }
  struct msg64 m = { 1, { 0 } };
  struct sembuf up = { 0, 1, 0 }, down = { 0, -1, IPC_NOWAIT };
  double t, send_receive, receive_empty, release_acquire;

  t = now_ns();
  for (long i = 0; i < n; i++) { m.type = 1; msgsnd(q, &m, 64, 0); msgrcv(q, &m, 64, 0, 0); }
  send_receive = (now_ns() - t) / n;
  t = now_ns();
  for (long i = 0; i < n; i++) msgrcv(q2, &m, 64, 0, IPC_NOWAIT);
  receive_empty = (now_ns() - t) / n;
  t = now_ns();
  for (long i = 0; i < n; i++) { semop(s, &up, 1); semop(s, &down, 1); }
  release_acquire = (now_ns() - t) / n;

  msgctl(q, IPC_RMID, 0); msgctl(q2, IPC_RMID, 0); semctl(s, 0, IPC_RMID);
  printf("{\"sendReceive\":%.1f,\"receiveEmpty\":%.1f,\"releaseAcquire\":%.1f}\n", send_receive, receive_empty, release_acquire);
  return 0;
}
