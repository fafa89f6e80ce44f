#include "waiter.h"

#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cstring>

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

int InterruptSignal() {
#ifdef SIGRTMIN
  // glibc keeps SIGRTMIN's first values for itself; SIGRTMIN is already past them.
  return SIGRTMIN + 6;
#else
  return SIGURG;
#endif
}

void NoopHandler(int) {}

std::once_flag g_handler_once;

}  // namespace

int64_t MonotonicNowNs() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<int64_t>(ts.tv_sec) * 1000000000LL + ts.tv_nsec;
}

Deadline Deadline::AfterNs(int64_t timeout_ns) {
  Deadline d;
  if (timeout_ns >= 0) d.at_ns = MonotonicNowNs() + timeout_ns;
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

void InstallInterruptHandler() {
  std::call_once(g_handler_once, [] {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = NoopHandler;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = 0;  // no SA_RESTART: the blocked syscall must return EINTR
    sigaction(InterruptSignal(), &sa, nullptr);
  });
}

#ifdef HAVE_THREAD_TIMERS

ThreadInterrupter::ThreadInterrupter() {
  InstallInterruptHandler();
  struct sigevent sev;
  memset(&sev, 0, sizeof sev);
  sev.sigev_notify = SIGEV_THREAD_ID;
  sev.sigev_signo = InterruptSignal();
  sev.sigev_notify_thread_id = static_cast<pid_t>(syscall(SYS_gettid));
  ok_ = timer_create(CLOCK_MONOTONIC, &sev, &timer_) == 0;
  if (!ok_) error_ = errno;
}

ThreadInterrupter::~ThreadInterrupter() {
  if (ok_) timer_delete(timer_);
}

void ThreadInterrupter::ArmAt(int64_t deadline_ns) {
  if (!ok_) return;
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

#else  // no per-thread timers (macOS): cancellation by one signal, best effort

ThreadInterrupter::ThreadInterrupter() { InstallInterruptHandler(); }
ThreadInterrupter::~ThreadInterrupter() {}
void ThreadInterrupter::ArmAt(int64_t) {}
void ThreadInterrupter::ArmNow() {}
void ThreadInterrupter::Disarm() {}

#endif

ThreadInterrupter& CurrentThreadInterrupter() {
  thread_local ThreadInterrupter interrupter;
  return interrupter;
}

int RunBlocking(BlockingCall& call, const Deadline& deadline, const std::atomic<bool>* cancelled,
                ThreadInterrupter* interrupter) {
  // Blocking without a working interrupter would be a wait nothing can end
  // (no timeout, no cancel, no teardown): refuse it. Non-blocking attempts
  // (IPC_NOWAIT) go through SpinNonBlocking and never get here.
  bool needs_interrupter = cancelled != nullptr || (!deadline.None() && !call.KernelTimeout());
  if (needs_interrupter && (interrupter == nullptr || interrupter->error() != 0)) {
    return interrupter != nullptr ? interrupter->error() : EINVAL;
  }
  bool armed = false;
  if (!deadline.None() && !call.KernelTimeout() && interrupter != nullptr) {
    interrupter->ArmAt(deadline.at_ns);
    armed = true;
  }
  int result;
  for (;;) {
    if (cancelled != nullptr && cancelled->load(std::memory_order_acquire)) {
      result = ECANCELED;
      break;
    }
    result = call.Attempt(deadline);
    if (result != EINTR) break;
    // Interrupted: by our timer (deadline or cancel) or by an unrelated signal
    // (SIGCHLD, a user's handler), which must not surface: retry.
    if (cancelled != nullptr && cancelled->load(std::memory_order_acquire)) {
      result = ECANCELED;
      break;
    }
    if (deadline.Passed()) {
      result = ETIMEDOUT;
      break;
    }
  }
  if (armed) interrupter->Disarm();
  return result;
}

int RunBlockingSync(BlockingCall& call, int64_t timeout_ns) {
  Deadline deadline = Deadline::AfterNs(timeout_ns);
  ThreadInterrupter* interrupter =
      (deadline.None() || call.KernelTimeout()) ? nullptr : &CurrentThreadInterrupter();
  return RunBlocking(call, deadline, nullptr, interrupter);
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
  InstallInterruptHandler();
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
    lock.unlock();

    int result = RunBlocking(*job->call, job->deadline, &job->cancelled, &interrupter);

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
  if (napi_call_threadsafe_function(tsfn_, job, napi_tsfn_nonblocking) != napi_ok) delete job;  // closing
}

void WaiterPool::CallJs(napi_env env, napi_value, void* context, void* data) {
  std::unique_ptr<Job> job(static_cast<Job*>(data));
  // env is null when Node empties the queue while closing the thread-safe
  // function, after its finalizer ran: the pool may be gone, only free the job.
  if (env == nullptr) return;
  auto* pool = static_cast<WaiterPool*>(context);
  bool deliver;
  {
    std::lock_guard<std::mutex> lock(pool->mutex_);
    deliver = !pool->shutting_down_;
  }
  if (!deliver || pool->dispatch_->IsEmpty()) return;
  // No C++ exception may leave a thread-safe function callback (it would
  // terminate the process), and during environment teardown calling into
  // JavaScript fails: use the C API and drop the result if it cannot be
  // delivered. A throw from the dispatcher stays pending and Node reports it.
  Napi::Env e(env);
  napi_value argv[4];
  try {
    argv[2] = job->result == 0 ? job->call->Value(e) : e.Undefined();
  } catch (const std::exception&) {
    return;  // could not build the value (environment going away, or out of memory)
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
