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
 * but will never run again: it counts as dead here. (A process whose main
 * thread exited while others run shows the same Z in /proc/<pid>/stat; its
 * thread count tells it apart: it is alive.) Otherwise a parent that
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
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/types.h>
#include <unistd.h>

#ifdef __cplusplus
extern "C" {
#endif

/*
 * What a look at a process can say. Only "no such process" (ESRCH, or
 * ENOENT for /proc/<pid> while kill(2) agrees) and a zombie or dead state
 * mean dead. Any other failure to read /proc/<pid>/stat says nothing about
 * the process: this caller is out of file descriptors (EMFILE, ENFILE) or
 * memory (ENOMEM), /proc is mounted hidepid=1/2 and the process is another
 * user's (EACCES, or ENOENT while kill(2) still finds it: proc(5)), /proc is
 * not mounted, or the file read short or did not parse (EIO). Such an
 * answer is UNKNOWN, and a protocol must treat it as alive: take a lock
 * from a holder only when it is known dead, and look again later.
 */
#define SYSV_IPC_PROCESS_DEAD 0
#define SYSV_IPC_PROCESS_ALIVE 1
#define SYSV_IPC_PROCESS_UNKNOWN 2

/*
 * The "Threads:" count of /proc/<pid>/status, or -errno when it cannot be
 * read. A zombie counts 1 (its leader, not yet reaped); a process whose
 * leader exited while other threads run counts the leader and those.
 */
static inline int sysv_ipc__thread_count(pid_t pid) {
  char path[32];
  char buf[4096];
  int fd, n = 0;
  ssize_t got, len = 0;
  const char* p;
  snprintf(path, sizeof path, "/proc/%d/status", (int)pid);
  do {
    fd = open(path, O_RDONLY | O_CLOEXEC);
  } while (fd < 0 && errno == EINTR);
  if (fd < 0) return errno == ENOENT ? -ESRCH : -errno; /* gone since stat was read: dead */
  while (len < (ssize_t)sizeof buf - 1) {
    got = read(fd, buf + len, sizeof buf - 1 - (size_t)len);
    if (got < 0 && errno == EINTR) continue;
    if (got < 0) {
      int err = errno;
      close(fd);
      return -err;
    }
    if (got == 0) break;
    len += got;
  }
  close(fd);
  buf[len] = '\0';
  p = strstr(buf, "\nThreads:");
  if (p == NULL) return -EIO;
  p += 9;
  while (*p == ' ' || *p == '\t') p++;
  if (*p < '0' || *p > '9') return -EIO;
  while (*p >= '0' && *p <= '9' && n < 1000000) n = n * 10 + (*p++ - '0');
  return n;
}

/*
 * Looks at process `pid`: 0 with *start set to its start time (clock ticks
 * after boot, never 0) when it runs; ESRCH when there is no such process or
 * it is a zombie (dead); another errno value when /proc could not tell
 * (unknown, see above; *start is then 0). Costs an open/read/close of
 * /proc/<pid>/stat (a few microseconds), and a kill(pid, 0) when /proc has
 * no entry: call it when a peer looks stuck, not per message.
 */
static inline int sysv_ipc_process_lookup(pid_t pid, uint64_t* start) {
  char path[32];
  char buf[1024];
  int fd;
  ssize_t n;
  const char* p;
  int field;
  uint64_t value = 0;
  *start = 0;
  if (pid <= 0) return ESRCH;
  snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
  do {
    fd = open(path, O_RDONLY | O_CLOEXEC);
  } while (fd < 0 && errno == EINTR);
  if (fd < 0) {
    int err = errno;
    if (err != ENOENT) return err; /* EMFILE, ENFILE, ENOMEM, EACCES (hidepid=1), ...: unknown */
    /* No entry: no such process, or one that hidepid=2 hides from us, or no
       /proc at all. kill(pid, 0) tells them apart (EPERM: it exists). */
    if (kill(pid, 0) == 0 || errno != ESRCH) return EACCES;
    return ESRCH;
  }
  do {
    n = read(fd, buf, sizeof buf - 1);
  } while (n < 0 && errno == EINTR);
  if (n < 0) {
    int err = errno;
    close(fd);
    return err; /* ESRCH: the process went between open and read (dead); else unknown */
  }
  close(fd);
  if (n == 0) return EIO;
  buf[n] = '\0';
  /* "pid (comm) state ..." — comm may hold spaces and ')': the last ')' ends it. */
  p = strrchr(buf, ')');
  if (p == NULL || p[1] != ' ') return EIO;
  p += 2;
  if (*p == 'X' || *p == 'x') return ESRCH; /* dead: it never runs again */
  if (*p == 'Z') {
    /* stat shows the thread group leader's state: Z also for a live process
     * whose main thread exited (pthread_exit) while another thread runs. */
    int threads = sysv_ipc__thread_count(pid);
    if (threads < 0) return -threads; /* cannot tell: unknown */
    if (threads <= 1) return ESRCH;   /* a zombie: it never runs again */
  }
  /* p is at field 3 (state); starttime is field 22. */
  for (field = 3; field < 22; field++) {
    p = strchr(p, ' ');
    if (p == NULL) return EIO;
    p++;
  }
  if (*p < '0' || *p > '9') return EIO;
  while (*p >= '0' && *p <= '9') {
    value = value * 10 + (uint64_t)(*p - '0');
    p++;
  }
  if (value == 0) return EIO;
  *start = value;
  return 0;
}

/*
 * The start time of process `pid`, or 0 if it is dead OR cannot be looked
 * at: 0 does not mean dead (see above). Kept for C peers of earlier
 * versions; decide liveness with sysv_ipc_process_state().
 */
static inline uint64_t sysv_ipc_process_start_time(pid_t pid) {
  uint64_t start;
  sysv_ipc_process_lookup(pid, &start);
  return start;
}

/*
 * Whether the process named (pid, start_time) is alive: DEAD (no such
 * process, a zombie, or the pid now names a process with another start
 * time), ALIVE, or UNKNOWN (/proc could not tell; count it as alive).
 */
static inline int sysv_ipc_process_state(pid_t pid, uint64_t start_time) {
  uint64_t actual;
  int err = sysv_ipc_process_lookup(pid, &actual);
  if (err == ESRCH) return SYSV_IPC_PROCESS_DEAD;
  if (err != 0) return SYSV_IPC_PROCESS_UNKNOWN;
  return start_time != 0 && actual == start_time ? SYSV_IPC_PROCESS_ALIVE : SYSV_IPC_PROCESS_DEAD;
}

/*
 * Nonzero unless the process named (pid, start_time) is known dead: an
 * UNKNOWN answer counts as alive, so a caller that takes over what a
 * "dead" process held never takes it from a live one it could not see.
 */
static inline int sysv_ipc_process_alive(pid_t pid, uint64_t start_time) {
  return sysv_ipc_process_state(pid, start_time) != SYSV_IPC_PROCESS_DEAD;
}

#ifdef __cplusplus
}
#endif

#endif /* SYSV_IPC_LIVENESS_H */
