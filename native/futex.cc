// Futex wait and wake on a 32-bit word of a shared memory attachment
// (SharedMemory wait/waitSync/notify), and the spin before an async wait.
// The mapping's lifetime rules are shared_memory.h's: a wait holds a share
// of it, and a detach makes it see anonymous memory, never a freed range.
#include "futex.h"

#include <errno.h>

#include <climits>
#include <cstdint>
#include <memory>

#include "addon.h"
#include "arguments.h"
#include "blocking.h"
#include "errors.h"
#include "platform.h"
#include "results.h"
#include "shared_memory.h"
#include "waiter_pool.h"

#if SYSV_IPC_FUTEX
#include <linux/futex.h>
#include <sys/syscall.h>
#include <unistd.h>
#endif

namespace sysv_ipc {

namespace {

#if SYSV_IPC_FUTEX
// FUTEX_WAIT/FUTEX_WAKE without FUTEX_PRIVATE_FLAG: the waiters are in other
// processes, and the kernel keys a shared futex by the segment's page, not
// the virtual address, so it works across processes and attachments.
long Futex(uint32_t* addr, int op, uint32_t value, const timespec* timeout) {
  return syscall(SYS_futex, addr, op, value, timeout, nullptr, 0);
}
#endif

class FutexWaitCall : public BlockingCall {
 public:
  FutexWaitCall(std::shared_ptr<Mapping> mapping, int64_t index, uint32_t expected, bool parkable = false)
      : mapping_(std::move(mapping)), index_(index), expected_(expected), parkable_(parkable) {}

  // A wait may share a parker thread (futex_waitv) only when every wake of
  // its word follows a store to it: futex_waitv(2) names one woken futex even
  // when several woke, so a wake that leaves the word as it was can be lost
  // there. Topic's data_seq is such a word (topic.h: a publish or a removal
  // adds to it before it wakes); a SharedMemory.wait word is the user's, and
  // notify() needs no store: those keep a thread each.
  bool Parkable() const override { return parkable_; }
  int Arm(const Deadline& deadline, FutexPark* park) override {
    uint8_t* base = mapping_->data();
    if (base == nullptr || mapping_->unmapped()) return ECANCELED;
    const uint32_t* word = reinterpret_cast<const uint32_t*>(base + index_ * 4);
    if (__atomic_load_n(word, __ATOMIC_SEQ_CST) != expected_) {
      // As Attempt's EAGAIN: not-equal on the first look, a wake-up after a park.
      outcome_ = waited_ ? kWaitOk : kWaitNotEqual;
      return 0;
    }
    if (!deadline.None() && MonotonicNowNs() >= deadline.at_ns) return ETIMEDOUT;
    waited_ = true;
    park->word = word;
    park->expected = expected_;
    park->until_ns = deadline.None() ? -1 : deadline.at_ns;
    return kParked;
  }

  int Attempt(const Deadline& deadline) override {
#if SYSV_IPC_FUTEX
    // The mapping cannot go away under us (we hold a reference) unless the
    // JS thread detached it explicitly, which cancels this wait first.
    timespec ts;
    const timespec* timeout = nullptr;
    if (!deadline.None()) {
      ts = deadline.Remaining();  // FUTEX_WAIT's timeout is relative (CLOCK_MONOTONIC)
      timeout = &ts;
    }
    uint8_t* base = mapping_->data();
    if (base == nullptr) return ECANCELED;
    long r = Futex(reinterpret_cast<uint32_t*>(base + index_ * 4), FUTEX_WAIT, expected_, timeout);
    int err = r == 0 ? 0 : errno;
    // Detached meanwhile: the range now holds anonymous memory, not the segment's word.
    if (mapping_->unmapped()) return ECANCELED;
    if (err == 0) {
      outcome_ = kWaitOk;
      return 0;
    }
    if (err == EAGAIN) {
      // The word was not `expected`. On the first attempt that is the
      // answer; on a later one (after EINTR, or a slice's end) the word was
      // `expected` when this wait began and changed while it waited: a
      // notifier stored, and its FUTEX_WAKE found us between two attempts
      // or is still to come. That is a wake-up, not 'not-equal'.
      outcome_ = waited_ ? kWaitOk : kWaitNotEqual;
      return 0;
    }
    // ETIMEDOUT, EINTR (RunBlocking retries or stops), others: the word
    // was `expected` when the kernel looked (futex(2) checks it first).
    if (err == EINTR || err == ETIMEDOUT) waited_ = true;
    return err;
#else
    (void)deadline;
    return ENOSYS;
#endif
  }
  bool KernelTimeout() const override { return true; }
  const char* Syscall() const override { return "futex"; }
  CallResult Result(Napi::Env) override { return CallResult::Outcome(outcome_); }
  WaitResult outcome() const { return outcome_; }

 private:
  std::shared_ptr<Mapping> mapping_;
  int64_t index_;
  uint32_t expected_;
  WaitResult outcome_ = kWaitOk;
  bool waited_ = false;  // an attempt parked and returned without a wake
  bool parkable_;
};

// Spins while the word equals `expected` (EAGAIN: would block), for SpinNonBlocking.
class WhileEqualCall : public BlockingCall {
 public:
  WhileEqualCall(const uint32_t* word, uint32_t expected) : word_(word), expected_(expected) {}
  int Attempt(const Deadline&) override {
    seen_ = __atomic_load_n(word_, __ATOMIC_SEQ_CST);
    return seen_ == expected_ ? EAGAIN : 0;
  }
  const char* Syscall() const override { return "futex"; }
  uint32_t seen() const { return seen_; }

 private:
  const uint32_t* word_;
  uint32_t expected_;
  uint32_t seen_ = 0;
};

struct FutexWaitArgs {
  std::shared_ptr<Mapping> mapping;
  int64_t index;
  uint32_t expected;
  WaitArg wait;
};

// (handle, index, expected, timeoutMs): index of a 32-bit word in range.
FutexWaitArgs ParseFutexWait(const Napi::CallbackInfo& info) {
  FutexWaitArgs w;
  w.mapping = ArgAttachedMapping(info, 0);
  w.index = ArgInteger(info, 1, "index", 0, static_cast<int64_t>(w.mapping->size() / 4) - 1);
  // Int32 or Uint32: either way the same 32 bits.
  w.expected = static_cast<uint32_t>(ArgInteger(info, 2, "expected", INT32_MIN, UINT32_MAX));
  w.wait = ParseWaitArg(info, 3, false);
  return w;
}

// ---- entry points

// shmSpinWhileEqual(handle, index, expected, spinNs) → the word (as an Int32)
// once it differs from `expected`, or `expected` when spinNs ran out. The
// async wait's spin before it parks a waiter thread: a notifier that answers
// within microseconds is seen here, with no thread hop (see SpinBudget).
Napi::Value ShmSpinWhileEqual(const Napi::CallbackInfo& info) {
  Mapping& m = AttachedMapping(info, 0);
  int64_t index = ArgInteger(info, 1, "index", 0, static_cast<int64_t>(m.size() / 4) - 1);
  uint32_t expected = static_cast<uint32_t>(ArgInteger(info, 2, "expected", INT32_MIN, UINT32_MAX));
  int64_t spin_ns = ArgInteger(info, 3, "spinNs", 0, kMaxSpinNs);
  WhileEqualCall call(m.WordAt(index), expected);
  SpinNonBlocking(call, spin_ns);
  return Napi::Number::New(info.Env(), static_cast<int32_t>(call.seen()));
}

// shmWaitSync(handle, index, expected, timeoutMs) → 0 ok, 1 not-equal, 2 timed-out.
Napi::Value ShmWaitSync(const Napi::CallbackInfo& info) {
  FutexWaitArgs w = ParseFutexWait(info);
  FutexWaitCall call(w.mapping, w.index, w.expected);
  int err = WaitSync(info.Env(), call, w.wait);
  if (err == ETIMEDOUT) return Napi::Number::New(info.Env(), kWaitTimedOut);
  if (err != 0) ThrowErrno(info.Env(), err, "futex");
  return Napi::Number::New(info.Env(), call.outcome());
}

// shmWaitAsync(handle, index, expected, timeoutMs, waitId, storesBeforeWakes?): reports extra 0 ok / 1
// not-equal. storesBeforeWakes (default false): every wake of the word follows a store to it (Topic's
// data_seq), so the wait may share a parker thread (FutexWaitCall::Parkable).
Napi::Value ShmWaitAsync(const Napi::CallbackInfo& info) {
  FutexWaitArgs w = ParseFutexWait(info);
  uint64_t wait_id = ArgWaitId(info, 4);
  bool parkable = info.Length() > 5 && !info[5].IsUndefined() && ArgBoolean(info, 5, "storesBeforeWakes");
  WaiterPool& pool = info.Env().GetInstanceData<Addon>()->Pool(info.Env());
  pool.Submit(info.Env(), wait_id, std::make_unique<FutexWaitCall>(w.mapping, w.index, w.expected, parkable),
              Deadline::AfterNs(w.wait.timeout_ns));
  return info.Env().Undefined();
}

// shmNotify(handle, index, count) → number of waiters woken (in every process).
Napi::Value ShmNotify(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Mapping& m = AttachedMapping(info, 0);
  int64_t index = ArgInteger(info, 1, "index", 0, static_cast<int64_t>(m.size() / 4) - 1);
  int64_t count = ArgInteger(info, 2, "count", 0, INT_MAX);
#if SYSV_IPC_FUTEX
  long woken = Futex(m.WordAt(index), FUTEX_WAKE, static_cast<uint32_t>(count), nullptr);
  if (woken < 0) ThrowErrno(env, errno, "futex");
  return Napi::Number::New(env, static_cast<double>(woken));
#else
  (void)index;
  (void)count;
  ThrowErrno(env, ENOSYS, "futex");
#endif
}

}  // namespace

void RegisterFutex(Napi::Env env, Napi::Object exports, Napi::Object constants) {
  Export(env, exports,
         {
             {"shmSpinWhileEqual", ShmSpinWhileEqual},
             {"shmWaitSync", ShmWaitSync},
             {"shmWaitAsync", ShmWaitAsync},
             {"shmNotify", ShmNotify},
         });
#if SYSV_IPC_FUTEX
  constants.Set("HAVE_FUTEX", Napi::Boolean::New(env, true));
#else
  constants.Set("HAVE_FUTEX", Napi::Boolean::New(env, false));
#endif
}

}  // namespace sysv_ipc
