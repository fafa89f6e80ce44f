/*
 * sysv-ipc liveness: is the process that stamped a shared-memory record still
 * alive?  Header-only, C99 and C++ (the addon and C peers include the same
 * code, so they agree on what "dead" means).
 *
 * A pid alone is not an identity: pids are reused, and a peer that checks
 * kill(pid, 0) can mistake a newcomer for the process that died. So a
 * process is named by (pid, start time), the start time being field 22 of
 * /proc/<pid>/stat (clock ticks after boot; proc(5)). It never changes for a
 * process and differs for a later process with the same pid.
 *
 * A zombie (killed, not yet reaped by its parent) still answers kill(pid, 0)
 * but will never run again: it counts as dead here. Otherwise a parent that
 * waits synchronously on a resource held by its own SIGKILLed child would
 * never recover (it cannot reap the child while it waits).
 *
 * Limits: peers must share a pid namespace (processes in containers that
 * share an IPC namespace but not a pid namespace see other pids: their
 * records look dead, or worse, alive under another process's name). Linux only.
 */
#ifndef SYSV_IPC_LIVENESS_H
#define SYSV_IPC_LIVENESS_H

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/types.h>
#include <unistd.h>

#ifdef __cplusplus
extern "C" {
#endif

/*
 * The start time of process `pid` (clock ticks after boot, never 0 for a
 * live process), or 0 if there is no such process, it is a zombie, or its
 * /proc entry cannot be read. Costs an open/read/close of /proc/<pid>/stat
 * (a few microseconds): call it when a peer looks stuck, not per message.
 */
static inline uint64_t sysv_ipc_process_start_time(pid_t pid) {
  char path[32];
  char buf[1024];
  int fd;
  ssize_t n;
  const char* p;
  int field;
  uint64_t start = 0;
  if (pid <= 0) return 0;
  snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
  do {
    fd = open(path, O_RDONLY | O_CLOEXEC);
  } while (fd < 0 && errno == EINTR);
  if (fd < 0) return 0;
  do {
    n = read(fd, buf, sizeof buf - 1);
  } while (n < 0 && errno == EINTR);
  close(fd);
  if (n <= 0) return 0;
  buf[n] = '\0';
  /* "pid (comm) state ..." — comm may hold spaces and ')': the last ')' ends it. */
  p = strrchr(buf, ')');
  if (p == NULL || p[1] != ' ') return 0;
  p += 2;
  if (*p == 'Z' || *p == 'X' || *p == 'x') return 0; /* zombie or dead */
  /* p is at field 3 (state); starttime is field 22. */
  for (field = 3; field < 22; field++) {
    p = strchr(p, ' ');
    if (p == NULL) return 0;
    p++;
  }
  while (*p >= '0' && *p <= '9') {
    start = start * 10 + (uint64_t)(*p - '0');
    p++;
  }
  return start;
}

/* Whether the process named (pid, start_time) is alive: same pid, same start time, not a zombie. */
static inline int sysv_ipc_process_alive(pid_t pid, uint64_t start_time) {
  return start_time != 0 && sysv_ipc_process_start_time(pid) == start_time;
}

#ifdef __cplusplus
}
#endif

#endif /* SYSV_IPC_LIVENESS_H */
