// One blocking syscall, and how to run it so that it always ends: at its
// deadline, at a cancel (async waits), or when its environment is torn down
// (sync waits). The calls themselves live with their IPC kind
// (message_queue.cc, semaphore.cc, shared_memory.cc, fast_mutex.cc,
// channel.cc); the threads that run async ones are waiter_pool.h's.
#pragma once

#include <errno.h>
#include <napi.h>

#include <atomic>
#include <cstdint>

#include "deadline.h"
#include "interrupter.h"

namespace sysv_ipc {

// The longest a spin may hold the JS thread (lib/waits.ts's SpinBudget keeps
// it far lower): every entry point that takes a spinNs argument caps it here.
constexpr int64_t kMaxSpinNs = 1000000;

// What a completed async call reports to JavaScript, as lib/waits.ts's
// dispatch(waitId, errno, value, extra). Each call says through a named
// constructor which slots it fills and what they mean.
class CallResult {
 public:
  // Nothing to report but success (msgsnd, semop, channel send).
  static CallResult Done() { return CallResult(nullptr, 0); }
  // A copy of what was received (a channel message).
  static CallResult Bytes(Napi::Value buffer) { return CallResult(buffer, 0); }
  // A message queue message: its body, and its type (NaN when the type has no
  // exact double: `body` then holds the whole message, header included).
  static CallResult Message(Napi::Value body, double type) { return CallResult(body, type); }
  // A small outcome code of a wait that succeeded (futex: woken / not-equal;
  // FastMutex: taken / owner died / ...), as the call's header defines it.
  static CallResult Outcome(int code) { return CallResult(nullptr, code); }

  napi_value value() const { return value_; }  // null: undefined
  double extra() const { return extra_; }

 private:
  CallResult(napi_value value, double extra) : value_(value), extra_(extra) {}
  napi_value value_;
  double extra_;
};

// Where a parked wait sleeps (BlockingCall::Arm): the futex parker
// (futex_parker.h) holds it in a futex_waitv set until the word differs from
// `expected`, a wake comes, or `until_ns` passes, then calls Arm again.
struct FutexPark {
  const uint32_t* word = nullptr;  // a shared futex word (other processes wake it)
  uint32_t expected = 0;
  int64_t until_ns = -1;  // CLOCK_MONOTONIC; look again by then (a nap's end, the deadline); -1: never
  // The word's wakes are for one sleeper each (a lock word: lock.h's release
  // wakes one, which takes the lock and wakes the next at its own release).
  // A wait dropped without looking again (cancelled) may have used such a
  // wake up: the pool passes one on, or the next sleeper waits for its nap.
  bool wake_one = false;
  // A word whose `stop_mask` bits, once set, end the wait (a channel's state
  // word, REMOVED): the parker looks at it every turn and runs the wait again
  // when they are set. remove() wakes the lock word's sleepers without
  // changing the word, and futex_waitv names one woken futex: when it names
  // another word of the channel (data_seq, woken by the same removal), a
  // send parked on the lock word would otherwise sleep until its nap.
  const uint32_t* stop_word = nullptr;
  uint32_t stop_mask = 0;
  // `word` is one a removal wakes but leaves as it is (a lock word): the
  // parker also puts `stop_word`, at the value it just looked at, in its
  // futex_waitv set. Else a removal between that look and the sleep (the
  // parker preempted there) woke no one and moved no word of the set, and the
  // wait slept until its nap.
  bool watch_stop = false;
  // Waits whose stop_key is the same (>= 0) watch one word, whatever address
  // each maps it at (a channel's shmid: each Channel object maps the segment
  // at its own): one entry of the set serves them all. -1: the address alone.
  // Equal keys also say that `word` and `stop_word` are in one segment, mapped
  // whole: two waits whose `word` is as far from their `stop_word` sleep on one
  // futex, and at one `expected` share its entry too (ParkerMain).
  int64_t stop_key = -1;
};

// BlockingCall::Arm's "sleep as *park says" (no errno is negative).
constexpr int kParked = -1;

// One blocking syscall, with everything it needs copied in (an async one
// runs on another thread: no JavaScript values inside).
class BlockingCall {
 public:
  virtual ~BlockingCall() = default;
  // Makes one blocking attempt. Returns 0 on success, else the errno
  // (EINTR included: RunBlocking decides whether to retry).
  virtual int Attempt(const Deadline& deadline) = 0;
  // True when Attempt enforces the deadline in the kernel (semtimedop,
  // futex) and maps its expiry to ETIMEDOUT itself.
  virtual bool KernelTimeout() const { return false; }
  // One attempt that never blocks (IPC_NOWAIT for this attempt only), made
  // before RunBlocking arms anything: a call that completes at once (the
  // common case of a sync send or receive) then costs its one syscall, not
  // also the timer_settime pair around it. Returns 0, an errno, or
  // EAGAIN/ENOMSG when it would block. Calls with KernelTimeout() need not
  // implement it (nothing is armed for them); the default reports "would
  // block", so that RunBlocking goes on to the blocking attempt.
  virtual int AttemptNow() { return EAGAIN; }
  // Makes every later Attempt non-blocking (IPC_NOWAIT), failing with EAGAIN
  // or ENOMSG where it would block: RunBlocking then polls. Only for calls
  // without KernelTimeout().
  virtual void SetNonBlocking() {}
  // True when an async wait may go to the futex parker instead of a thread
  // of its own: its whole wait is "look, then sleep on one futex word until
  // it changes", and every wake-up it needs comes with a change of that word
  // (futex_waitv reports one woken futex of its set; a FUTEX_WAKE without a
  // store to a word of the others is lost, so waits woken that way, such as
  // SharedMemory.wait's notify, must keep their thread).
  virtual bool Parkable() const { return false; }
  // For Parkable calls, on a parker thread instead of Attempt: one look that
  // never blocks. Returns 0 or an errno as Attempt would (ETIMEDOUT once the
  // deadline passed), or kParked with *park saying where to sleep (and by when
  // to look again at the latest: a nap's end, so that what Attempt's naps
  // notice is noticed here as soon). Called again after every wake-up, change
  // of the word, or `until_ns`; never after a cancel (the pool reports
  // ECANCELED itself).
  virtual int Arm(const Deadline& deadline, FutexPark* park) {
    (void)deadline;
    (void)park;
    return ENOSYS;
  }
  // The syscall's name for errors.
  virtual const char* Syscall() const = 0;
  // What a success takes stays taken until JavaScript gives it back (a
  // lock): RunBlockingSync then asks after every success of a worker's wait
  // whether the worker is being terminated, not only after a long one, since
  // an unseen termination would leave it held until the process exits.
  virtual bool HeldUntilReleased() const { return false; }
  // On the JS thread, after an async success: what to report. May throw
  // (out of memory); the pool then gives the result back (Undo).
  virtual CallResult Result(Napi::Env) { return CallResult::Done(); }
  // The call succeeded but its result can reach no JavaScript (environment
  // teardown, or its value could not be made): give back what it took (a
  // received message goes back to its queue, an acquired semaphore is
  // released), so that nothing is lost with the environment. Any thread.
  virtual void Undo() {}
  // On the JS thread, once the dispatcher ran with this call's success: the
  // result is JavaScript's now, so nothing may be given back any more. Until
  // then (Result made the value but the dispatch may still fail, e.g. at
  // worker.terminate()) Undo must still find what the call took.
  virtual void Delivered() {}
};

// What may end a wait early besides its deadline.
struct WaitStop {
  // Async waits: set by WaiterPool::Cancel and Shutdown.
  const std::atomic<bool>* cancelled = nullptr;
  // Sync waits in a worker thread: asked between slices whether the
  // environment is being torn down (worker.terminate(), process.exit()).
  bool (*terminating)(void* context) = nullptr;
  void* context = nullptr;
  // A sync wait (on the JS thread): before it arms the thread's timer it
  // tries once without blocking (AttemptNow).
  bool sync = false;
};

// Runs `call` on the calling thread until it completes, fails, passes its
// deadline (ETIMEDOUT) or is stopped (ECANCELED). EINTR is retried, with the
// time left. A wait is never sliced without reason: only `terminating` (a
// worker's sync wait) or the lack of a timer (a cancellable wait without
// signals) makes it wake before its deadline, and a call whose wake-up
// leaves no trace (a futex) must take a change seen after a slice as a
// wake-up (FutexWaitCall).
// A sync call that would arm the timer first makes one non-blocking attempt
// (AttemptNow), so that a call that completes at once arms nothing; then,
// with a working `interrupter`, the call parks in the kernel and the timer's
// signal ends it; without one (interrupter.h, PLATFORMS) it never parks
// uncancellably: kernel timeouts are taken in short slices and other calls
// poll with IPC_NOWAIT.
int RunBlocking(BlockingCall& call, const Deadline& deadline, const WaitStop& stop, ThreadInterrupter* interrupter);

// How a synchronous call waits, from its one wait argument (so that no call
// passes more than six arguments: node-addon-api allocates beyond six). With
// IPC_NOWAIT (`nowait`) it is how long to keep retrying, in ns (`spinNs`, up
// to kMaxSpinNs: SpinNonBlocking); otherwise the timeout in ms (-1: none).
struct WaitArg {
  bool nowait = false;
  int64_t spin_ns = 0;
  int64_t timeout_ns = -1;  // -1: none
  static WaitArg Spin(int64_t spin_ns) { return WaitArg{true, spin_ns, -1}; }
  static WaitArg Timeout(int64_t timeout_ns) { return WaitArg{false, 0, timeout_ns}; }
};
WaitArg ParseWaitArg(const Napi::CallbackInfo& info, size_t index, bool nowait);

// The one synchronous wait every kind calls: a call made with IPC_NOWAIT
// spins (SpinNonBlocking), any other blocks (RunBlockingSync).
int WaitSync(Napi::Env env, BlockingCall& call, const WaitArg& wait);

// For the synchronous API, on the calling (JS) thread.
// On the main thread the call is what a C program makes: one blocking
// syscall without a timeout; with one, the kernel's (semtimedop, futex) or
// the thread's timer armed once at the deadline (msgsnd/msgrcv: a try
// without blocking first, see RunBlocking). In a worker thread it wakes
// every 50 ms to ask Addon::Terminating (addon.h says why). A call that enforces its deadline in the kernel
// (KernelTimeout) never gets a signal here (a sync wait has no canceller):
// it runs without the thread's interrupter, whose timer it need not create.
int RunBlockingSync(Napi::Env env, BlockingCall& call, int64_t timeout_ns);

// For a call made with IPC_NOWAIT (its Attempt never blocks): repeats the
// attempt while it fails with EAGAIN or ENOMSG ("would block"), for at most
// `spin_ns` (<= kMaxSpinNs), yielding the CPU between two attempts.
// An async wait whose peer answers within microseconds then completes on the
// JS thread, without the two thread hops of a parked wait. lib/waits.ts
// adapts the budget.
int SpinNonBlocking(BlockingCall& call, int64_t spin_ns);

}  // namespace sysv_ipc
