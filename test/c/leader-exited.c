/*
 * A live process whose main thread has exited (pthread_exit from main):
 * /proc/<pid>/stat then shows the thread group leader's state, Z, while
 * another thread still runs and holds whatever the process held. Used by
 * test/native/liveness.test.ts: such a process must count as alive.
 *
 *   leader-exited   prints "ready <pid>" from the second thread once the
 *                   main thread is gone, then sleeps until killed
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <pthread.h>
#include <stdio.h>
#include <unistd.h>

static pthread_t main_thread;

static void* survivor(void* arg) {
  (void)arg;
  pthread_join(main_thread, NULL); /* returns once main has called pthread_exit */
  printf("ready %d\n", (int)getpid());
  fflush(stdout);
  for (;;) pause();
  return NULL;
}

int main(void) {
  pthread_t t;
  main_thread = pthread_self();
  if (pthread_create(&t, NULL, survivor, NULL) != 0) return 2;
  pthread_exit(NULL);
}
