#include "waiter.h"

#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cstdint>
#include <cstring>

#include "addon.h"
#include "arguments.h"
#include "errors.h"

#ifndef sigev_notify_thread_id
#define sigev_notify_thread_id _sigev_un._tid
#endif

namespace sysv_ipc {

namespace {

// Idle threads kept for reuse; more than this many idle threads exit.
constexpr size_t kMaxIdleThreads = 16;
// After the first interrupt, the timer keeps firing at this period until the
// thread has left the syscall (closes the check-then-block race).
constexpr long kInterruptRepeatNs = 1000000;
// A sync wait wakes this often to see whether its environment is being torn
// down (worker.terminate() has no other way to reach a thread in msgrcv).
constexpr int64_t kSyncSliceNs = 50000000;
// A sync call that took at least this long asks, once it succeeded, whether
// its environment was torn down meanwhile (RunBlockingSync).
constexpr int64_t kSyncProbeAfterNs = 1000000;
// Without a working interrupter, kernel timeouts (futex, semtimedop) are
// taken in slices this long, so that a cancel is seen within one slice.
constexpr int64_t kCancelSliceNs = 10000000;
// Polling (no interrupter, no kernel timeout): the pause between two
// IPC_NOWAIT attempts starts short and doubles up to this.
constexpr int64_t kPollMinNs = 50000;
constexpr int64_t kPollMaxNs = 10000000;

void NoopHandler(int) {}

std::mutex g_handler_mutex;

int64_t SaturatingAdd(int64_t a, int64_t b) {
  return a > INT64_MAX - b ? INT64_MAX : a + b;
}

void SleepNs(int64_t ns) {
  timespec ts;
  ts.tv_sec = static_cast<time_t>(ns / 1000000000LL);
  ts.tv_nsec = static_cast<long>(ns % 1000000000LL);
  nanosleep(&ts, nullptr);  // EINTR: woken early, the caller loops anyway
}

}  // namespace

int InterruptSignal() {
#ifdef SIGRTMIN
  // glibc keeps SIGRTMIN's first values for itself; SIGRTMIN is already past them.
  return SIGRTMIN + 6;
#else
  return SIGURG;
#endif
}

int64_t MonotonicNowNs() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<int64_t>(ts.tv_sec) * 1000000000LL + ts.tv_nsec;
}

Deadline Deadline::AfterNs(int64_t timeout_ns) {
  Deadline d;
  // Saturates: a timeout of centuries on a clock that has run for years must
  // not wrap to a deadline in the past.
  if (timeout_ns >= 0) d.at_ns = SaturatingAdd(MonotonicNowNs(), timeout_ns);
  return d;
}

timespec Deadline::Remaining() const {
  int64_t left = at_ns - MonotonicNowNs();
  if (left < 0) left = 0;
  timespec ts;
  ts.tv_sec = static_cast<time_t>(left / 1000000000LL);
  ts.tv_nsec = static_cast<long>(left % 1000000000LL);
  return ts;
}

void EnsureInterruptHandler() {
  // sigaction(2) to read, and to write only when someone changed it: other
  // native code in the process (an addon, an embedder) may have set
  // SIG_DFL/SIG_IGN or SA_RESTART for this signal after we installed ours.
  int sig = InterruptSignal();
  struct sigaction current;
  if (sigaction(sig, nullptr, &current) == 0 && !(current.sa_flags & SA_SIGINFO) &&
      current.sa_handler == NoopHandler && !(current.sa_flags & SA_RESTART)) {
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
  its.it_value.tv_sec = static_cast<time_t>(deadline_ns / 1000000000LL);
  its.it_value.tv_nsec = static_cast<long>(deadline_ns % 1000000000LL);
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

#else  // no per-thread timers (macOS, FreeBSD): never ok(); RunBlocking polls

ThreadInterrupter::ThreadInterrupter() {}
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

int RunBlocking(BlockingCall& call, const Deadline& deadline, const WaitStop& stop, ThreadInterrupter* interrupter) {
  auto stopped = [&stop] {
    if (stop.cancelled != nullptr && stop.cancelled->load(std::memory_order_acquire)) return true;
    return stop.terminating != nullptr && stop.terminating(stop.context);
  };
  const bool kernel_timeout = call.KernelTimeout();
  const bool signals = interrupter != nullptr && interrupter->ok();
  // Without the timer's signal nothing can interrupt a parked syscall:
  // calls with a kernel timeout wait in slices, the others poll.
  const bool polling = !signals && !kernel_timeout;
  if (polling) call.SetNonBlocking();
  // The handler is checked where a signal is aimed at this thread (ArmAt,
  // ArmNow), not here: a wait whose kernel enforces the deadline (futex,
  // semtimedop, the channel) is never signalled unless cancelled, and a sync
  // send/receive on a busy channel must not pay a sigaction(2) per message.
  // A sync wait wakes in slices to ask `terminating`; a kernel timeout
  // without signals wakes in slices to see a cancel.
  int64_t slice_ns = stop.terminating != nullptr ? kSyncSliceNs : (!signals && stop.cancelled != nullptr ? kCancelSliceNs : 0);
  bool armed = false;
  int64_t poll_ns = kPollMinNs;
  int result;
  // Try once without blocking before arming the timer: most calls complete
  // at once, and arming then disarming costs two syscalls around each.
  // A polling wait needs no such try (every attempt is one).
  if (signals && !kernel_timeout && !(stop.cancelled != nullptr && stop.cancelled->load(std::memory_order_acquire))) {
    result = call.AttemptNow();
    if (result != EAGAIN && result != ENOMSG && result != EINTR) return result;
  }
  for (;;) {
    if (stop.cancelled != nullptr && stop.cancelled->load(std::memory_order_acquire)) {
      result = ECANCELED;
      break;
    }
    // This attempt's own end: the deadline, or sooner the end of the slice.
    Deadline wake = deadline;
    if (slice_ns > 0) {
      int64_t slice_end = SaturatingAdd(MonotonicNowNs(), slice_ns);
      if (wake.None() || slice_end < wake.at_ns) wake.at_ns = slice_end;
    }
    if (signals && !kernel_timeout && !wake.None()) {
      interrupter->ArmAt(wake.at_ns);
      armed = true;
    }
    result = call.Attempt(kernel_timeout ? wake : deadline);
    bool woke = result == EINTR || (kernel_timeout && result == ETIMEDOUT && !deadline.Passed()) ||
                (polling && (result == EAGAIN || result == ENOMSG));
    if (!woke) break;
    // Interrupted (our timer: deadline, slice or cancel; or an unrelated
    // signal, which must not surface), a slice ended, or a poll found nothing.
    if (deadline.Passed()) {
      result = ETIMEDOUT;
      break;
    }
    if (stopped()) {
      result = ECANCELED;
      break;
    }
    if (polling) {
      int64_t pause = poll_ns;
      if (slice_ns > 0 && pause > slice_ns) pause = slice_ns;
      if (!deadline.None()) {
        int64_t left = deadline.at_ns - MonotonicNowNs();
        if (left < pause) pause = left > 0 ? left : 0;
      }
      if (pause > 0) SleepNs(pause);
      if (poll_ns < kPollMaxNs) poll_ns *= 2;
    }
  }
  if (armed) interrupter->Disarm();
  return result;
}

int RunBlockingSync(Napi::Env env, BlockingCall& call, int64_t timeout_ns) {
  Deadline deadline = Deadline::AfterNs(timeout_ns);
  ThreadInterrupter& interrupter = CurrentThreadInterrupter();
  interrupter.Retry();  // a failure on an earlier call must not last
  Addon* addon = env.GetInstanceData<Addon>();
  WaitStop stop;
  if (addon != nullptr) {
    stop.terminating = [](void* context) { return static_cast<Addon*>(context)->Terminating(); };
    stop.context = addon;
  }
  int64_t started = MonotonicNowNs();
  int result = RunBlocking(call, deadline, stop, &interrupter);
  // worker.terminate() while the call was parked, and the call completed
  // (the message or the unit arrived) before its next look at termination:
  // the result would return to JavaScript that never runs again. Give it back.
  // A call that returned within a millisecond is not asked (that saves a JS
  // call per message on the hot path): a termination that short a time
  // before it returned is indistinguishable from one just after.
  if (result == 0 && stop.terminating != nullptr && MonotonicNowNs() - started >= kSyncProbeAfterNs &&
      stop.terminating(stop.context)) {
    call.Undo();
    return ECANCELED;
  }
  return result;
}

int SpinNonBlocking(BlockingCall& call, int64_t spin_ns) {
  int64_t end = spin_ns > 0 ? MonotonicNowNs() + spin_ns : 0;
  for (;;) {
    int result = call.Attempt(Deadline());
    if (result == EINTR) continue;
    if (result != EAGAIN && result != ENOMSG) return result;
    if (spin_ns <= 0 || MonotonicNowNs() >= end) return result;
    // The peer we wait for may be runnable on this very CPU (woken by the
    // message we just sent): a busy spin would hold the CPU it needs for the
    // whole budget. Yielding lets it run; with nothing else runnable here it
    // returns at once, so a peer on another CPU is still caught by the spin.
    sched_yield();
  }
}

// ---- the pool

struct WaiterPool::Job {
  uint64_t id = 0;
  std::unique_ptr<BlockingCall> call;
  Deadline deadline;
  std::atomic<bool> cancelled{false};
  int result = 0;
  Worker* worker = nullptr;  // the thread running it (guarded by mutex_)
};

struct WaiterPool::Worker {
  std::thread thread;
  std::condition_variable cv;
  Job* job = nullptr;                        // guarded by mutex_
  ThreadInterrupter* interrupter = nullptr;  // guarded by mutex_; null until the thread runs
  bool cancel_armed = false;                 // guarded by mutex_: ArmNow() ran for the current job
  bool exited = false;                       // guarded by mutex_
};

namespace {
// The thread-safe function's finalizer. Node may run it before or after our
// own cleanup hook (each registers its own), so the pool is freed only when
// both the finalizer and Shutdown() have let go of it.
void FinalizePool(napi_env, void* data, void*) { static_cast<WaiterPool*>(data)->Release(); }
}  // namespace

WaiterPool::WaiterPool(Napi::Env env, const Napi::FunctionReference* dispatch) : dispatch_(dispatch) {
  EnsureInterruptHandler();
  napi_status status = napi_create_threadsafe_function(
      env, nullptr, nullptr, Napi::String::New(env, "sysv-ipc wait"), 0, 1,
      this, FinalizePool, this, &WaiterPool::CallJs, &tsfn_);
  if (status != napi_ok) throw Napi::Error::New(env, "sysv-ipc: cannot create the thread-safe function");
  // Waits keep the loop alive only while someone asks (WaitGroup.ref()).
  napi_unref_threadsafe_function(env, tsfn_);
}

WaiterPool::~WaiterPool() = default;

void WaiterPool::Release() {
  if (owners_.fetch_sub(1, std::memory_order_acq_rel) == 1) delete this;
}

void WaiterPool::Submit(Napi::Env env, uint64_t wait_id, std::unique_ptr<BlockingCall> call, Deadline deadline) {
  auto job = std::make_unique<Job>();
  job->id = wait_id;
  job->call = std::move(call);
  job->deadline = deadline;

  std::unique_lock<std::mutex> lock(mutex_);
  if (shutting_down_) throw std::runtime_error("sysv-ipc: the environment is shutting down");
  if (jobs_.count(wait_id) != 0) {
    // Never call into JavaScript while holding mutex_: making the error runs
    // JS (a setter for `code` inherited from Error.prototype), and JS that
    // calls back into the pool would deadlock on it.
    lock.unlock();
    ThrowRangeError(env, "The value of \"waitId\" is out of range: a wait with this id is still pending");
  }
  ReapExited();
  Job* raw = job.get();
  if (!idle_.empty()) {
    Worker* worker = idle_.back();
    idle_.pop_back();
    worker->job = raw;
    raw->worker = worker;
    jobs_[wait_id] = job.release();
    worker->cv.notify_one();
    return;
  }
  auto worker = std::make_unique<Worker>();
  worker->job = raw;
  raw->worker = worker.get();
  Worker* w = worker.get();
  try {
    // The new thread blocks on mutex_ (held here) before it reads anything.
    w->thread = std::thread(&WaiterPool::WorkerMain, this, w);
  } catch (const std::system_error& e) {
    throw std::runtime_error(std::string("sysv-ipc: cannot start a waiter thread: ") + e.what());
  }
  workers_.push_back(std::move(worker));
  jobs_[wait_id] = job.release();
}

void WaiterPool::Cancel(uint64_t wait_id) {
  std::lock_guard<std::mutex> lock(mutex_);
  auto it = jobs_.find(wait_id);
  if (it == jobs_.end()) return;
  Job* job = it->second;
  job->cancelled.store(true, std::memory_order_release);
  if (job->worker != nullptr && job->worker->interrupter != nullptr) {
    job->worker->interrupter->ArmNow();
    job->worker->cancel_armed = true;
  }
}

void WaiterPool::SetKeepAlive(Napi::Env env, bool on) {
  if (on == keep_alive_ || tsfn_ == nullptr) return;
  keep_alive_ = on;
  if (on) {
    napi_ref_threadsafe_function(env, tsfn_);
  } else {
    napi_unref_threadsafe_function(env, tsfn_);
  }
}

size_t WaiterPool::ThreadCount() {
  std::lock_guard<std::mutex> lock(mutex_);
  ReapExited();
  return workers_.size();
}

void WaiterPool::ReapExited() {
  // Called with mutex_ held. An exited thread no longer needs the mutex.
  for (auto it = workers_.begin(); it != workers_.end();) {
    if ((*it)->exited) {
      if ((*it)->thread.joinable()) (*it)->thread.join();
      it = workers_.erase(it);
    } else {
      ++it;
    }
  }
}

void WaiterPool::WorkerMain(Worker* worker) {
  // Signals meant for the process (SIGCHLD, SIGINT, a user's SIGUSR2) go to
  // the JS thread, not here; only our interrupt signal reaches this thread.
  sigset_t mask;
  sigfillset(&mask);
  sigdelset(&mask, InterruptSignal());
  pthread_sigmask(SIG_SETMASK, &mask, nullptr);

  ThreadInterrupter interrupter;
  std::unique_lock<std::mutex> lock(mutex_);
  worker->interrupter = &interrupter;
  for (;;) {
    while (worker->job == nullptr && !shutting_down_) worker->cv.wait(lock);
    Job* job = worker->job;
    if (job == nullptr) break;  // shutting down while idle
    // If timer_create failed for an earlier job (RLIMIT_SIGPENDING), try
    // again: under mutex_, so no Cancel() arms the timer meanwhile. Should it
    // fail again, this job polls (RunBlocking) rather than failing.
    interrupter.Retry();
    lock.unlock();

    WaitStop stop;
    stop.cancelled = &job->cancelled;
    int result = RunBlocking(*job->call, job->deadline, stop, &interrupter);

    lock.lock();
    worker->job = nullptr;
    job->worker = nullptr;
    // Under the lock, so a Cancel() cannot re-arm it for the finished job. A
    // deadline was disarmed by RunBlocking itself; only a cancel needs it here
    // (skipping it otherwise saves a syscall per wait).
    if (worker->cancel_armed) {
      interrupter.Disarm();
      worker->cancel_armed = false;
    }
    job->result = result;
    lock.unlock();
    Deliver(job);
    lock.lock();
    if (shutting_down_ || idle_.size() >= kMaxIdleThreads) break;
    idle_.push_back(worker);
  }
  worker->interrupter = nullptr;
  worker->exited = true;
}

void WaiterPool::Deliver(Job* job) {
  // Once handed to the thread-safe function the job is no longer pending:
  // out of the map, so nothing else (Cancel, Shutdown) can reach it.
  {
    std::lock_guard<std::mutex> lock(mutex_);
    auto it = jobs_.find(job->id);
    if (it != jobs_.end() && it->second == job) jobs_.erase(it);
  }
  if (napi_call_threadsafe_function(tsfn_, job, napi_tsfn_nonblocking) != napi_ok) Discard(job);  // closing
}

void WaiterPool::Discard(Job* job) {
  // A result nobody will see: give back what the call took (Undo).
  if (job->result == 0) job->call->Undo();
  delete job;
}

void WaiterPool::CallJs(napi_env env, napi_value, void* context, void* data) {
  auto* job = static_cast<Job*>(data);
  // env is null when Node empties the queue while closing the thread-safe
  // function, after its finalizer ran: the pool may be gone, only free the job.
  if (env == nullptr) return Discard(job);
  auto* pool = static_cast<WaiterPool*>(context);
  bool deliver;
  {
    std::lock_guard<std::mutex> lock(pool->mutex_);
    deliver = !pool->shutting_down_;
  }
  // During teardown Node may still run this callback (closing handles turns
  // the loop once more) while JavaScript can no longer run: nobody would see
  // the result, so it is given back like any other undeliverable one.
  if (!deliver || pool->dispatch_->IsEmpty() || !CanRunJavaScript(env)) return Discard(job);
  std::unique_ptr<Job> owned(job);
  // No C++ exception may leave a thread-safe function callback (it would
  // terminate the process), and during environment teardown calling into
  // JavaScript fails: use the C API and drop the result if it cannot be
  // delivered. A throw from the dispatcher stays pending and Node reports it.
  Napi::Env e(env);
  napi_value argv[4];
  napi_get_undefined(env, &argv[2]);
  if (job->result == 0) {
    napi_value value = nullptr;
    try {
      value = job->call->Value(e);
    } catch (const std::exception&) {
      value = nullptr;
    }
    if (value == nullptr) {
      // Could not build the value (out of memory, or the environment is going
      // away): give the result back and settle the wait with ENOMEM rather
      // than leave its Promise pending forever.
      napi_value ignored;
      bool pending = false;
      if (napi_is_exception_pending(env, &pending) == napi_ok && pending) napi_get_and_clear_last_exception(env, &ignored);
      job->call->Undo();
      job->result = ENOMEM;
    } else {
      argv[2] = value;
    }
  }
  double extra = job->result == 0 ? job->call->Extra() : 0;
  napi_value fn;
  napi_value recv;
  if (napi_get_reference_value(env, pool->dispatch_->operator napi_ref(), &fn) != napi_ok || fn == nullptr ||
      napi_create_double(env, static_cast<double>(job->id), &argv[0]) != napi_ok ||
      napi_create_int32(env, job->result, &argv[1]) != napi_ok ||
      napi_create_double(env, extra, &argv[3]) != napi_ok || napi_get_undefined(env, &recv) != napi_ok) {
    return;
  }
  napi_call_function(env, recv, fn, 4, argv, nullptr);
}

void WaiterPool::Shutdown() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (shutting_down_) return;
    shutting_down_ = true;
    // Every busy thread's job, not only those in jobs_: a job whose wait id
    // was reused by a later Submit is no longer in the map, and the join
    // below would wait for it forever.
    for (auto& worker : workers_) {
      Job* job = worker->job;
      if (job == nullptr) continue;
      job->cancelled.store(true, std::memory_order_release);
      if (worker->interrupter != nullptr) {
        worker->interrupter->ArmNow();
        worker->cancel_armed = true;
      }
    }
    for (Worker* worker : idle_) worker->cv.notify_one();
    idle_.clear();
  }
  // Every thread leaves promptly: idle ones are woken, busy ones interrupted.
  for (auto& worker : workers_) {
    if (worker->thread.joinable()) worker->thread.join();
  }
  workers_.clear();
  if (tsfn_ != nullptr) {
    napi_threadsafe_function tsfn = tsfn_;
    tsfn_ = nullptr;
    napi_release_threadsafe_function(tsfn, napi_tsfn_abort);
  }
  Release();  // the finalizer holds the other reference
}

}  // namespace sysv_ipc
