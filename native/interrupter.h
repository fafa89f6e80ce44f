// Ending a blocked syscall of one thread: a per-thread POSIX timer that
// sends this addon's signal (SIGRTMIN+6 on Linux) to its own thread.
//
// SysV IPC syscalls are never restarted after a signal handler (signal(7)),
// so a signal aimed at a thread parked in msgrcv/msgsnd/semop makes the call
// return EINTR. The timer (SIGEV_THREAD_ID) is armed at the deadline for a
// timeout, armed "now" by a cancel, and re-fires every millisecond until the
// thread has left the call: the repetition closes the race where the signal
// lands just before the thread enters the syscall.
//
// PLATFORMS: per-thread timers (SIGEV_THREAD_ID) exist on Linux only; the
// build defines HAVE_THREAD_TIMERS there (binding.gyp). Elsewhere (macOS,
// FreeBSD) ThreadInterrupter is never ok(), and RunBlocking (blocking.cc)
// never parks beyond reach: kernel timeouts are taken in short slices and
// other calls poll with IPC_NOWAIT, checking for a cancel between attempts.
// This is the one place that platform difference is decided.
#pragma once

#include <time.h>

#include <cstdint>

namespace sysv_ipc {

// The signal the interrupter sends (SIGRTMIN+6 on Linux): reserved by this
// addon, see README "Platform limits".
int InterruptSignal();

// Installs the no-op handler for the interrupt signal, and re-installs it if
// other native code replaced it or added SA_RESTART since (checked whenever a
// signal is aimed: a default action would kill the process at the first
// cancel, SA_RESTART would make cancels hang).
void EnsureInterruptHandler();

// Interrupts the blocking syscall of one thread.
class ThreadInterrupter {
 public:
  // Creates the timer aimed at the calling thread.
  ThreadInterrupter();
  ~ThreadInterrupter();
  ThreadInterrupter(const ThreadInterrupter&) = delete;
  ThreadInterrupter& operator=(const ThreadInterrupter&) = delete;

  void ArmAt(int64_t deadline_ns);  // fires at the deadline, then every millisecond
  void ArmNow();                    // fires at once, then every millisecond (thread-safe)
  void Disarm();
  // Whether the timer exists: never without per-thread timers, and not while
  // timer_create fails with EAGAIN (RLIMIT_SIGPENDING or the kernel's timer
  // limit reached). A wait without a timer polls instead of parking
  // (RunBlocking), and the owning thread retries before each wait (Retry) so
  // that one failure does not last.
  bool ok() const { return ok_; }
  // Tries timer_create again if it failed. Only on the thread the timer aims
  // at, and never while another thread may call ArmNow (the pool holds its
  // mutex around it).
  void Retry();

 private:
  void Create();
  timer_t timer_{};
  bool ok_ = false;
};

// The calling thread's interrupter, created on first use (sync calls).
ThreadInterrupter& CurrentThreadInterrupter();

}  // namespace sysv_ipc
