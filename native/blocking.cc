#include "blocking.h"

#include <sched.h>

#include "addon.h"
#include "arguments.h"
#include "watchdog.h"

namespace sysv_ipc {

namespace {

// A worker's sync wait wakes this often to see whether its environment is
// being torn down (worker.terminate() has no other way to reach a thread in
// msgrcv): the watchdog's signal, or a kernel timeout that long. The main
// thread's never does (RunBlockingSync).
constexpr int64_t kSyncSliceNs = watchdog::kSliceNs;
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

void SleepNs(int64_t ns) {
  timespec ts = ToTimespec(ns);
  nanosleep(&ts, nullptr);  // EINTR: woken early, the caller loops anyway
}

bool WouldBlock(int result) { return result == EAGAIN || result == ENOMSG; }

// How one wait runs, decided once before its first attempt.
struct WaitPlan {
  bool kernel_timeout;  // the call enforces its deadline in the kernel (futex, semtimedop)
  bool signals;         // the thread's timer can interrupt a parked attempt
  bool polling;         // nothing can: every attempt is IPC_NOWAIT, with pauses between
  int64_t slice_ns;     // wake this often to look at `terminating` or a cancel; 0: never
  bool watchdog;        // the watchdog's signal ends the slices (a worker's sync wait), not the timer
  bool try_first;       // one attempt that never blocks before the timer is armed
};

WaitPlan PlanWait(const BlockingCall& call, const Deadline& deadline, const WaitStop& stop,
                  const ThreadInterrupter* interrupter) {
  WaitPlan plan;
  plan.kernel_timeout = call.KernelTimeout();
  plan.signals = interrupter != nullptr && interrupter->ok();
  // Without the timer's signal nothing can interrupt a parked syscall:
  // calls with a kernel timeout wait in slices, the others poll, unless
  // nothing would ever interrupt them anyway (no deadline, no cancel, no
  // termination: the main thread's sync wait without a timeout).
  const bool interruptible = !deadline.None() || stop.cancelled != nullptr || stop.terminating != nullptr;
  plan.polling = !plan.signals && !plan.kernel_timeout && interruptible;
  // The handler is checked where a signal is aimed at this thread (ArmAt,
  // ArmNow), not here: a wait whose kernel enforces the deadline (futex,
  // semtimedop, the channel) is never signalled unless cancelled, and a sync
  // send/receive on a busy channel must not pay a sigaction(2) per message.
  // A sync wait wakes in slices to ask `terminating`; a kernel timeout
  // without signals wakes in slices to see a cancel.
  plan.slice_ns =
      stop.terminating != nullptr ? kSyncSliceNs : (!plan.signals && stop.cancelled != nullptr ? kCancelSliceNs : 0);
  // A worker's sync wait without a deadline, which the timer would arm
  // only for its slices, is sliced by the watchdog's signal instead
  // (watchdog.h): no timer_settime pair and sigaction per call. With a
  // deadline the timer is armed anyway, and slices at the same cost.
  // Enlisting comes last: only such a wait registers its thread (and starts
  // the watchdog). When the watchdog cannot be started the timer slices the
  // wait, as with a deadline (else nothing would: worker.terminate() hangs).
  plan.watchdog = stop.terminating != nullptr && stop.cancelled == nullptr && deadline.None() && plan.signals &&
                  !plan.kernel_timeout && watchdog::Enlist();
  // A sync wait that is about to arm the timer (a deadline, or a worker's
  // termination slices) first tries once without blocking: most such calls
  // complete at once, and arming then disarming costs two syscalls around
  // each. Nothing else needs the try: a sync wait that arms nothing (the main
  // thread, no timeout) is the one blocking syscall a C program makes, a
  // polling wait's every attempt is one, a kernel-timeout call arms nothing,
  // and an async wait's JS side has just tried and spun before it parked
  // (lib/waits.ts), so a try there would nearly always be one wasted syscall.
  plan.try_first =
      stop.sync && plan.signals && !plan.kernel_timeout && ((plan.slice_ns > 0 && !plan.watchdog) || !deadline.None());
  return plan;
}

// This attempt's own end: the deadline, or sooner the end of the slice.
Deadline AttemptEnd(const Deadline& deadline, int64_t slice_ns) {
  Deadline wake = deadline;
  if (slice_ns > 0) {
    int64_t slice_end = SaturatingAdd(MonotonicNowNs(), slice_ns);
    if (wake.None() || slice_end < wake.at_ns) wake.at_ns = slice_end;
  }
  return wake;
}

// A polling wait's pause before its next attempt: `*poll_ns` (doubled for
// the next time), cut to the slice and to the time left.
void PollPause(const Deadline& deadline, int64_t slice_ns, int64_t* poll_ns) {
  int64_t pause = *poll_ns;
  if (slice_ns > 0 && pause > slice_ns) pause = slice_ns;
  if (!deadline.None()) {
    int64_t left = deadline.at_ns - MonotonicNowNs();
    if (left < pause) pause = left > 0 ? left : 0;
  }
  if (pause > 0) SleepNs(pause);
  if (*poll_ns < kPollMaxNs) *poll_ns *= 2;
}

// The wait's loop, as `plan` says.
int RunPlanned(BlockingCall& call, const Deadline& deadline, const WaitStop& stop, ThreadInterrupter* interrupter,
               const WaitPlan& plan) {
  auto cancelled = [&stop] { return stop.cancelled != nullptr && stop.cancelled->load(std::memory_order_acquire); };
  auto stopped = [&] { return cancelled() || (stop.terminating != nullptr && stop.terminating(stop.context)); };
  if (plan.polling) call.SetNonBlocking();
  if (plan.try_first && !cancelled()) {
    int result = call.AttemptNow();
    if (!WouldBlock(result) && result != EINTR) return result;
  }
  bool armed = false;
  int64_t poll_ns = kPollMinNs;
  int result;
  for (;;) {
    if (cancelled()) {
      result = ECANCELED;
      break;
    }
    Deadline wake = AttemptEnd(deadline, plan.watchdog ? 0 : plan.slice_ns);  // watchdog: none
    if (plan.signals && !plan.kernel_timeout && !wake.None()) {
      interrupter->ArmAt(wake.at_ns);
      armed = true;
      // A cancel (WaiterPool::Cancel or Shutdown: flag, then ArmNow) that
      // landed since the check above had its "fire now" replaced by this
      // deadline: the call would park until the deadline (and Shutdown's
      // join with it). Its flag is set by now, so look again.
      if (cancelled()) {
        result = ECANCELED;
        break;
      }
    }
    if (plan.watchdog) {
      watchdog::ParkScope parked;
      result = call.Attempt(deadline);
    } else {
      result = call.Attempt(plan.kernel_timeout ? wake : deadline);
    }
    bool woke = result == EINTR || (plan.kernel_timeout && result == ETIMEDOUT && !deadline.Passed()) ||
                (plan.polling && WouldBlock(result));
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
    if (plan.polling) PollPause(deadline, plan.slice_ns, &poll_ns);
  }
  if (armed) interrupter->Disarm();
  return result;
}

// The WaitStop of a sync wait on `env`'s JS thread: `sync`, and in a worker
// thread `terminating` (the Addon's probe); on the main thread nothing that
// slices.
WaitStop SyncWaitStop(Napi::Env env) {
  WaitStop stop;
  stop.sync = true;
  // Only a worker's environment can be torn down under a sync wait.
  Addon* addon = env.GetInstanceData<Addon>();
  if (addon != nullptr && !addon->OnMainThread()) {
    stop.terminating = [](void* context) { return static_cast<Addon*>(context)->Terminating(); };
    stop.context = addon;
  }
  return stop;
}

}  // namespace

int RunBlocking(BlockingCall& call, const Deadline& deadline, const WaitStop& stop, ThreadInterrupter* interrupter) {
  return RunPlanned(call, deadline, stop, interrupter, PlanWait(call, deadline, stop, interrupter));
}

int RunBlockingSync(Napi::Env env, BlockingCall& call, int64_t timeout_ns) {
  Deadline deadline = Deadline::AfterNs(timeout_ns);
  // A kernel-timeout call is never signalled in a sync wait (nothing cancels
  // it): no interrupter, so none is created for it (PlanWait).
  ThreadInterrupter* interrupter = nullptr;
  if (!call.KernelTimeout()) {
    interrupter = &CurrentThreadInterrupter();
    interrupter->Retry();  // a failure on an earlier call must not last
  }
  WaitStop stop = SyncWaitStop(env);
  int64_t started = stop.terminating != nullptr ? MonotonicNowNs() : 0;
  int result = RunBlocking(call, deadline, stop, interrupter);
  // worker.terminate() while the call was parked, and the call completed
  // (the message or the unit arrived) before its next look at termination:
  // the result would return to JavaScript that never runs again. Give it back.
  // A call that returned within a millisecond is not asked (that saves a JS
  // call per message on the hot path): a termination that short a time
  // before it returned is indistinguishable from one just after. A lock is
  // always asked (HeldUntilReleased).
  if (result == 0 && stop.terminating != nullptr &&
      (call.HeldUntilReleased() || MonotonicNowNs() - started >= kSyncProbeAfterNs) && stop.terminating(stop.context)) {
    call.Undo();
    return ECANCELED;
  }
  return result;
}

WaitArg ParseWaitArg(const Napi::CallbackInfo& info, size_t index, bool nowait) {
  if (nowait) return WaitArg::Spin(ArgInteger(info, index, "spinNs", 0, kMaxSpinNs));
  return WaitArg::Timeout(ArgTimeoutNs(info, index, "timeout"));
}

int WaitSync(Napi::Env env, BlockingCall& call, const WaitArg& wait) {
  return wait.nowait ? SpinNonBlocking(call, wait.spin_ns) : RunBlockingSync(env, call, wait.timeout_ns);
}

int SpinNonBlocking(BlockingCall& call, int64_t spin_ns) {
  int64_t end = spin_ns > 0 ? MonotonicNowNs() + spin_ns : 0;
  for (;;) {
    int result = call.Attempt(Deadline());
    if (result == EINTR) continue;
    if (!WouldBlock(result)) return result;
    if (spin_ns <= 0 || MonotonicNowNs() >= end) return result;
    // The peer we wait for may be runnable on this very CPU (woken by the
    // message we just sent): a busy spin would hold the CPU it needs for the
    // whole budget. Yielding lets it run; with nothing else runnable here it
    // returns at once, so a peer on another CPU is still caught by the spin.
    sched_yield();
  }
}

}  // namespace sysv_ipc
