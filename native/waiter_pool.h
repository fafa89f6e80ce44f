// The per-environment pool of waiter threads, and the thread-safe function
// that carries their results back to JavaScript.
//
// msgrcv/msgsnd/semop block in the kernel with no file descriptor to poll, so
// the only way to wait for them without blocking JavaScript is a thread. The
// threads here are the addon's own (never libuv's threadpool, whose four
// threads fs, dns and crypto need: node-pty avoids AsyncWorker for the same
// reason), parked when idle and reused.
//
// Who owns a job (one owner at a time):
//   Submit: a unique_ptr, moved into jobs_ (the pending map) under mutex_.
//   Running: still jobs_'s; its Worker only borrows it (Worker::job), and
//     Cancel/Shutdown find it there to stop it.
//   Deliver: the worker takes it out of jobs_ and hands it to the
//     thread-safe function (napi_call_threadsafe_function's void*).
//   CallJs: takes it back into a unique_ptr on the JS thread, reports or
//     discards it (Undo), and frees it. If the thread-safe function is
//     closing, Deliver discards it at once instead.
//
// A call that can be parked on a futex (BlockingCall::Parkable) takes no
// thread of its own where futex_waitv exists (futex_parker.h): it goes to a
// parker thread, which holds up to kParkerSlots such waits in one
// futex_waitv set and runs each (Arm) when its word changes, its nap ends,
// its deadline passes or it is cancelled. Ownership is the same (jobs_ until
// Deliver); the parker borrows it as a worker does (Job::parker).
#pragma once

#include <napi.h>

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <thread>
#include <unordered_map>
#include <vector>

#include "blocking.h"

namespace sysv_ipc {

class WaiterPool {
 public:
  // `dispatch` is the JS function results go to; it is looked up at each
  // delivery, so init() may replace it (a module registry reset re-runs
  // lib/). It belongs to the Addon, which owns this pool.
  WaiterPool(Napi::Env env, const Napi::FunctionReference* dispatch);
  // Shuts down if Shutdown() has not run.
  ~WaiterPool();
  WaiterPool(const WaiterPool&) = delete;
  WaiterPool& operator=(const WaiterPool&) = delete;

  // Starts `call` on a pool thread; the result is reported as
  // dispatch(wait_id, errno, value, extra) (CallResult). Called on the JS
  // thread. A wait id still pending is refused (RangeError): cancel and
  // teardown find a wait by its id, so two waits must never share one.
  void Submit(Napi::Env env, uint64_t wait_id, std::unique_ptr<BlockingCall> call, Deadline deadline);
  // Asks a pending wait to stop. Called on the JS thread.
  void Cancel(uint64_t wait_id);
  void SetKeepAlive(Napi::Env env, bool on);
  // Threads not yet exited (busy or idle; parker threads included).
  size_t ThreadCount();
#ifdef SYSV_IPC_TEST_PROBES
  // Successes whose dispatch to JavaScript failed and that were given back
  // (Undo), in all environments of the process (a test probe).
  static uint64_t UndeliveredResults();
  // parkerPauseBeforeSleep(ms): with ms > 0, the next parker turn that is
  // about to sleep with waits in its set pauses ms first, once. Returns where
  // that pause is: kPauseIdle, kPauseArmed, kPausing, kPauseDone.
  static constexpr int kPauseIdle = 0, kPauseArmed = 1, kPausing = 2, kPauseDone = 3;
  static int ParkerPauseBeforeSleep(int ms);
#endif
  // Environment teardown: cancels every pending job, joins every thread
  // (idle ones are woken, busy ones interrupted, so each leaves promptly)
  // and closes the thread-safe function. Results still queued in it are
  // discarded (Undo). Submit refuses work afterwards.
  void Shutdown();

 private:
  struct Job;
  struct Worker;
  struct Parker;
  // What the thread-safe function's call_js may touch: shared with the
  // thread-safe function, whose finalizer frees its share and which Node
  // may finalize after this pool is gone. Closed by Shutdown, after which
  // call_js delivers nothing (and never touches the Addon's dispatch).
  struct Delivery {
    explicit Delivery(const Napi::FunctionReference* d) : dispatch(d) {}
    std::atomic<bool> open{true};
    const Napi::FunctionReference* dispatch;
  };
  // napi_threadsafe_function's call_js: env is null when the environment is
  // going away and the job can only be freed.
  static void CallJs(napi_env env, napi_value unused, void* context, void* data);
  static void FinalizeDelivery(napi_env env, void* data, void* hint);
  // Frees a job whose result will not be delivered, undoing what it took.
  static void Discard(std::unique_ptr<Job> job);
  void WorkerMain(Worker* worker);
  void ParkerMain(Parker* parker);
  // Gives a parkable job to a parker with room (or a new one). mutex_ held.
  // Throws std::system_error when no thread could be started.
  void ParkLocked(Job* job);
  // A parker's job ended with `result`: out of jobs_, then Deliver.
  void FinishParked(Parker* parker, Job* job, int result);
  // Hands a finished job to the thread-safe function (or discards it).
  void Deliver(std::unique_ptr<Job> job);
  // Joins threads that have exited (more than kMaxIdleThreads were idle).
  // Called with mutex_ held, only by Submit, before it may start a thread.
  void ReapExited();

  std::mutex mutex_;
  std::vector<Worker*> idle_;                                // parked, waiting for a job
  std::vector<std::unique_ptr<Worker>> workers_;             // every thread not yet joined
  std::vector<std::unique_ptr<Parker>> parkers_;             // every parker thread not yet joined
  std::unordered_map<uint64_t, std::unique_ptr<Job>> jobs_;  // submitted, not yet delivered
  bool shutting_down_ = false;
  bool keep_alive_ = false;
  napi_threadsafe_function tsfn_ = nullptr;
  std::shared_ptr<Delivery> delivery_;
};

}  // namespace sysv_ipc
