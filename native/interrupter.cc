#include "interrupter.h"

#include <signal.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cstring>
#include <mutex>

#include "deadline.h"

#ifndef sigev_notify_thread_id
#define sigev_notify_thread_id _sigev_un._tid
#endif

namespace sysv_ipc {

namespace {

// After the first interrupt, the timer keeps firing at this period until the
// thread has left the syscall (closes the check-then-block race).
constexpr long kInterruptRepeatNs = 1000000;

void NoopHandler(int) {}

std::mutex g_handler_mutex;

}  // namespace

int InterruptSignal() {
#ifdef SIGRTMIN
  // glibc keeps SIGRTMIN's first values for itself; SIGRTMIN is already past them.
  return SIGRTMIN + 6;
#else
  return SIGURG;
#endif
}

void EnsureInterruptHandler() {
  // sigaction(2) to read, and to write only when someone changed it: other
  // native code in the process (an addon, an embedder) may have set
  // SIG_DFL/SIG_IGN or SA_RESTART for this signal after we installed ours.
  int sig = InterruptSignal();
  struct sigaction current;
  if (sigaction(sig, nullptr, &current) == 0 && !(current.sa_flags & SA_SIGINFO) && current.sa_handler == NoopHandler &&
      !(current.sa_flags & SA_RESTART)) {
    return;
  }
  std::lock_guard<std::mutex> lock(g_handler_mutex);
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = NoopHandler;
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = 0;  // no SA_RESTART: the blocked syscall must return EINTR
  sigaction(sig, &sa, nullptr);
}

#ifdef HAVE_THREAD_TIMERS

ThreadInterrupter::ThreadInterrupter() {
  EnsureInterruptHandler();
  Create();
}

void ThreadInterrupter::Create() {
  struct sigevent sev;
  memset(&sev, 0, sizeof sev);
  sev.sigev_notify = SIGEV_THREAD_ID;
  sev.sigev_signo = InterruptSignal();
  sev.sigev_notify_thread_id = static_cast<pid_t>(syscall(SYS_gettid));
  ok_ = timer_create(CLOCK_MONOTONIC, &sev, &timer_) == 0;
}

void ThreadInterrupter::Retry() {
  if (!ok_) Create();
}

ThreadInterrupter::~ThreadInterrupter() {
  if (ok_) timer_delete(timer_);
}

void ThreadInterrupter::ArmAt(int64_t deadline_ns) {
  if (!ok_) return;
  EnsureInterruptHandler();  // the timer's signal must interrupt, never kill or go unheard
  itimerspec its;
  its.it_value = ToTimespec(deadline_ns);
  if (its.it_value.tv_sec == 0 && its.it_value.tv_nsec == 0) its.it_value.tv_nsec = 1;
  its.it_interval.tv_sec = 0;
  its.it_interval.tv_nsec = kInterruptRepeatNs;
  timer_settime(timer_, TIMER_ABSTIME, &its, nullptr);
}

void ThreadInterrupter::ArmNow() {
  if (!ok_) return;
  EnsureInterruptHandler();  // a cancel must interrupt, never kill or go unheard
  itimerspec its;
  its.it_value.tv_sec = 0;
  its.it_value.tv_nsec = 1;  // relative: fire now (0 would disarm)
  its.it_interval.tv_sec = 0;
  its.it_interval.tv_nsec = kInterruptRepeatNs;
  timer_settime(timer_, 0, &its, nullptr);
}

void ThreadInterrupter::Disarm() {
  if (!ok_) return;
  itimerspec its;
  memset(&its, 0, sizeof its);
  timer_settime(timer_, 0, &its, nullptr);
}

#else  // no per-thread timers (see interrupter.h, PLATFORMS): never ok()

ThreadInterrupter::ThreadInterrupter() { (void)kInterruptRepeatNs; }
ThreadInterrupter::~ThreadInterrupter() {}
void ThreadInterrupter::Create() {}
void ThreadInterrupter::Retry() {}
void ThreadInterrupter::ArmAt(int64_t) {}
void ThreadInterrupter::ArmNow() {}
void ThreadInterrupter::Disarm() {}

#endif

ThreadInterrupter& CurrentThreadInterrupter() {
  thread_local ThreadInterrupter interrupter;
  return interrupter;
}

}  // namespace sysv_ipc
