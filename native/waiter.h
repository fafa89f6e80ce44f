// Blocking calls, off the event loop and stoppable at once.
//
// msgrcv/msgsnd/semop block in the kernel with no file descriptor to poll, so
// the only way to wait for them without blocking JavaScript is a thread. The
// threads here are the addon's own (never libuv's threadpool, whose four
// threads fs, dns and crypto need: node-pty avoids AsyncWorker for the same
// reason), kept in a per-environment pool and reused.
//
// Stopping a thread that sits in msgrcv: SysV IPC syscalls are never
// restarted after a signal handler (signal(7)), so a signal aimed at that
// thread makes the call return EINTR. Each thread owns a POSIX timer that
// sends that signal to itself (SIGEV_THREAD_ID): armed at the deadline for a
// timeout, armed "now" by cancel(), and re-firing every millisecond until the
// thread leaves the call. The repetition closes the race where the signal
// lands just before the thread enters the syscall. EINTR from any other
// signal is retried with the deadline kept.
//
// Where a wait cannot count on that signal — no per-thread timers on the
// platform (macOS, FreeBSD), or timer_create failed (RLIMIT_SIGPENDING) — it
// never parks beyond reach: futex and semtimedop wait in 10 ms slices, and
// msgrcv/msgsnd/semop poll with IPC_NOWAIT (pauses from 50 µs up to 10 ms),
// checking for a cancel between attempts.
//
// Synchronous waits run on the JS thread itself, where only V8 knows that
// worker.terminate() was called: they wake every 50 ms and ask (an empty JS
// function fails to run once termination is pending, Addon::Terminating).
#pragma once

#include <errno.h>
#include <napi.h>
#include <time.h>

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <thread>
#include <unordered_map>
#include <vector>

namespace sysv_ipc {

// CLOCK_MONOTONIC now, in nanoseconds.
int64_t MonotonicNowNs();

// An absolute deadline on CLOCK_MONOTONIC, or none.
struct Deadline {
  int64_t at_ns = -1;  // -1: no deadline

  static Deadline AfterNs(int64_t timeout_ns);  // timeout_ns -1 → none
  bool None() const { return at_ns < 0; }
  bool Passed() const { return !None() && MonotonicNowNs() >= at_ns; }
  // Time left, clamped at zero (for semtimedop and futex).
  timespec Remaining() const;
};

// Interrupts the blocking syscall of one thread (see the file comment).
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
  // Whether the timer exists. timer_create fails with EAGAIN while
  // RLIMIT_SIGPENDING or the kernel's timer limit is reached; a wait without
  // a timer polls instead of parking (RunBlocking), and the owning thread
  // retries before each wait (Retry) so that one failure does not last.
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

// Installs the no-op handler for the interrupt signal, and re-installs it if
// other native code replaced it or added SA_RESTART since (checked before
// each wait that relies on it: a default action would kill the process at the
// first cancel, SA_RESTART would make cancels hang).
void EnsureInterruptHandler();

// The signal the interrupter sends (SIGRTMIN+6 on Linux): reserved by this
// addon, see README "Platform limits".
int InterruptSignal();

// One blocking syscall, with everything it needs copied in (it runs on
// another thread: no JavaScript values inside).
class BlockingCall {
 public:
  virtual ~BlockingCall() = default;
  // Makes one blocking attempt. Returns 0 on success, else the errno
  // (EINTR included: RunBlocking decides whether to retry).
  virtual int Attempt(const Deadline& deadline) = 0;
  // True when Attempt enforces the deadline in the kernel (semtimedop,
  // futex) and maps its expiry to ETIMEDOUT itself.
  virtual bool KernelTimeout() const { return false; }
  // Makes every later Attempt non-blocking (IPC_NOWAIT), failing with EAGAIN
  // or ENOMSG where it would block: RunBlocking then polls. Only for calls
  // without KernelTimeout().
  virtual void SetNonBlocking() {}
  // One attempt that never blocks (IPC_NOWAIT for this attempt only), made
  // before RunBlocking arms anything: a call that completes at once (the
  // common case of a sync send or receive) then costs its one syscall, not
  // also the timer_settime pair around it. Returns 0, an errno, or
  // EAGAIN/ENOMSG when it would block. Calls with KernelTimeout() need not
  // implement it (nothing is armed for them); the default reports "would
  // block", so that RunBlocking goes on to the blocking attempt.
  virtual int AttemptNow() { return EAGAIN; }
  // The syscall's name for errors.
  virtual const char* Syscall() const = 0;
  // On the JS thread, after success: the value and extra number to report.
  virtual Napi::Value Value(Napi::Env env) { return env.Undefined(); }
  virtual double Extra() const { return 0; }
  // The call succeeded but its result can reach no JavaScript (environment
  // teardown, or its value could not be made): give back what it took (a
  // received message goes back to its queue, an acquired semaphore is
  // released), so that nothing is lost with the environment. Any thread.
  virtual void Undo() {}
};

// What may end a wait early besides its deadline.
struct WaitStop {
  // Async waits: set by WaiterPool::Cancel and Shutdown.
  const std::atomic<bool>* cancelled = nullptr;
  // Sync waits (on the JS thread): asked between slices whether the
  // environment is being torn down (worker.terminate(), process.exit()).
  bool (*terminating)(void* context) = nullptr;
  void* context = nullptr;
};

// Runs `call` on the calling thread until it completes, fails, passes its
// deadline (ETIMEDOUT) or is stopped (ECANCELED). EINTR is retried.
// With a working `interrupter`, the call parks in the kernel and the timer's
// signal ends it; without one (no per-thread timers on this platform, or
// timer_create failed) it never parks uncancellably: kernel timeouts are
// taken in short slices and other calls poll with IPC_NOWAIT.
int RunBlocking(BlockingCall& call, const Deadline& deadline, const WaitStop& stop, ThreadInterrupter* interrupter);

// For the synchronous API: runs on the calling (JS) thread with the thread's
// interrupter, waking every few tens of milliseconds to see whether the
// environment is being torn down (`env`'s Addon probe), so that
// worker.terminate() ends even a wait without a timeout.
int RunBlockingSync(Napi::Env env, BlockingCall& call, int64_t timeout_ns);

// For a call made with IPC_NOWAIT: repeats the attempt while it fails with
// EAGAIN or ENOMSG ("would block"), for at most `spin_ns`. An async wait whose
// peer answers within microseconds then completes on the JS thread, without
// the two thread hops of a parked wait. lib/waits.ts adapts the budget.
int SpinNonBlocking(BlockingCall& call, int64_t spin_ns);

// The per-environment pool of waiter threads and the thread-safe function
// that carries results back to JavaScript.
class WaiterPool {
 public:
  // `dispatch` is the JS function results go to; it is looked up at each
  // delivery, so init() may replace it (a module registry reset re-runs lib/).
  WaiterPool(Napi::Env env, const Napi::FunctionReference* dispatch);
  ~WaiterPool();

  // Starts `call` on a pool thread; the result is reported as
  // dispatch(wait_id, errno, value, extra). Called on the JS thread.
  // A wait id still pending is refused (RangeError): cancel and teardown
  // find a wait by its id, so two waits must never share one.
  void Submit(Napi::Env env, uint64_t wait_id, std::unique_ptr<BlockingCall> call, Deadline deadline);
  // Asks a pending wait to stop. Called on the JS thread.
  void Cancel(uint64_t wait_id);
  void SetKeepAlive(Napi::Env env, bool on);
  size_t ThreadCount();
  // Cancels everything and joins every thread (environment teardown). The
  // pool must not be used afterwards: it frees itself once the thread-safe
  // function's finalizer has run too.
  void Shutdown();
  // Drops one of the two owners (Shutdown, the thread-safe function).
  void Release();

 private:
  struct Job;
  struct Worker;
  // napi_threadsafe_function's call_js: env is null when the environment is
  // going away and the job can only be freed.
  static void CallJs(napi_env env, napi_value unused, void* context, void* data);
  void WorkerMain(Worker* worker);
  void Deliver(Job* job);
  void ReapExited();
  // Frees a job whose result will not be delivered, undoing what it took.
  static void Discard(Job* job);

  std::mutex mutex_;
  std::vector<Worker*> idle_;                   // parked, waiting for a job
  std::vector<std::unique_ptr<Worker>> workers_;  // every thread not yet joined
  std::unordered_map<uint64_t, Job*> jobs_;     // submitted, not yet dispatched
  bool shutting_down_ = false;
  std::atomic<int> owners_{2};
  bool keep_alive_ = false;
  napi_threadsafe_function tsfn_ = nullptr;
  const Napi::FunctionReference* dispatch_;
};

}  // namespace sysv_ipc
