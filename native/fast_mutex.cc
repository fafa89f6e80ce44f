// FastMutex: the sleeping and waking half of a lock in shared memory.
//
// The lock is the record of include/sysv-ipc/lock.h, inside a shared memory
// attachment. JavaScript takes and releases it itself when nobody waits
// (Atomics.compareExchange on the attachment's view: no native call, no
// syscall); it comes here only to sleep (the lock is held by someone else)
// and to release a lock that has sleepers (FUTEX_WAKE). The protocol, the
// dead-holder takeover and the corrupt-word checks are the header's, shared
// with Channel and with C peers.
//
// Memory safety: every call holds the attachment's Mapping (shared_ptr), so
// the address range stays valid while a waiter thread reads the record; a
// detach meanwhile replaces the segment by anonymous memory (Mapping::Unmap),
// which a wait notices through unmapped() and reports as "detached".
#include <errno.h>
#include <pthread.h>
#include <unistd.h>

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>

#include "addon.h"
#include "arguments.h"
#include "blocking.h"
#include "errors.h"
#include "platform.h"
#include "results.h"
#include "shared_memory.h"
#include "waiter_pool.h"

#if SYSV_IPC_FUTEX
#include <sysv-ipc/lock.h>
#endif

namespace sysv_ipc {

namespace {
// The lock record's layout (include/sysv-ipc/lock.h), exported also where
// lock.h cannot be compiled: lib/fast-mutex.ts reads it when it loads.
constexpr uint32_t kLockSize = 16;
constexpr uint32_t kLockPidMask = 0x003FFFFFu;
constexpr uint32_t kLockWaiters = 0x80000000u;
constexpr uint32_t kLockReservedBits = 0x7FC00000u;
#if SYSV_IPC_FUTEX
static_assert(kLockSize == SYSV_IPC_LOCK_SIZE && kLockPidMask == SYSV_IPC_LOCK_PID_MASK &&
                  kLockWaiters == SYSV_IPC_LOCK_WAITERS && kLockReservedBits == SYSV_IPC_LOCK_RESERVED_BITS,
              "the layout must be lock.h's");
#endif

void SetLockConstants(Napi::Env env, Napi::Object constants, int not_held, int corrupt) {
  Napi::Object lock = Napi::Object::New(env);
  lock.Set("SIZE", Napi::Number::New(env, kLockSize));
  lock.Set("PID_MASK", Napi::Number::New(env, kLockPidMask));
  lock.Set("WAITERS", Napi::Number::New(env, kLockWaiters));
  lock.Set("RESERVED_BITS", Napi::Number::New(env, kLockReservedBits));
  lock.Set("EPERM", Napi::Number::New(env, not_held));
  lock.Set("EUCLEAN", Napi::Number::New(env, corrupt));
  // A wait's outcome and a take-over's result (results.h).
  lock.Set("TAKEN", Napi::Number::New(env, kLockTaken));
  lock.Set("OWNER_DIED", Napi::Number::New(env, kLockOwnerDied));
  lock.Set("CORRUPT", Napi::Number::New(env, kLockCorrupt));
  lock.Set("DETACHED", Napi::Number::New(env, kLockDetached));
  lock.Set("TAKE_OVER_NONE", Napi::Number::New(env, kTakeOverNone));
  lock.Set("TAKE_OVER_TAKEN", Napi::Number::New(env, kTakeOverTaken));
  constants.Set("LOCK", lock);
}
}  // namespace

#if SYSV_IPC_FUTEX

namespace {

// Spin of a synchronous wait before it sleeps (sched_yield between looks), as
// the header's sysv_ipc_lock_acquire. Async waits spin on the JS thread first
// (lib/waits.ts SpinBudget) and do not spin again here.
constexpr int64_t kSyncSpinNs = 20000;

// This process's pid and start time, read once: getpid() is a syscall
// (glibc does not cache it), and the wait and the release run it per call.
// A forked child (no Node process does that with the addon loaded, but a
// native module might) gets its own through the atfork handler.
std::atomic<uint32_t> g_self_pid{0};
uint64_t g_self_start = 0;  // written before g_self_pid (release), read after it (acquire)
std::once_flag g_atfork_once;

int Self(sysv_ipc_lock_self* out) {
  uint32_t pid = g_self_pid.load(std::memory_order_acquire);
  if (pid == 0) {
    std::call_once(g_atfork_once, [] { pthread_atfork(nullptr, nullptr, [] { g_self_pid.store(0); }); });
    sysv_ipc_lock_self self;
    int err = sysv_ipc_lock_self_init(&self);
    if (err != 0) return err;
    g_self_start = self.start;
    g_self_pid.store(self.pid, std::memory_order_release);
    pid = self.pid;
  }
  out->pid = pid;
  out->start = g_self_start;
  return 0;
}

// The lock record at `offset` of the attachment: 8-byte aligned and inside it.
struct LockRef {
  std::shared_ptr<Mapping> mapping;
  size_t offset;
};

LockRef ArgLock(const Napi::CallbackInfo& info) {
  LockRef ref{ArgAttachedMapping(info, 0), 0};
  int64_t size = static_cast<int64_t>(ref.mapping->size());
  int64_t offset = ArgInteger(info, 1, "offset", 0, kMaxSafeInteger);
  if (offset % 8 != 0 || offset > size - static_cast<int64_t>(SYSV_IPC_LOCK_SIZE)) {
    ThrowRangeError(info.Env(), "The value of \"offset\" is out of range. It must be a multiple of 8 with " +
                                    std::to_string(SYSV_IPC_LOCK_SIZE) + " bytes of the " + std::to_string(size) +
                                    "-byte segment from it. Received " + std::to_string(offset));
  }
  if (ref.mapping->read_only()) {
    ThrowState(info.Env(), "ERR_SYSV_IPC_READ_ONLY", "A lock cannot be taken in a read-only attachment");
  }
  ref.offset = static_cast<size_t>(offset);
  return ref;
}

sysv_ipc_lock* Record(uint8_t* base, size_t offset) { return reinterpret_cast<sysv_ipc_lock*>(base + offset); }

#ifdef SYSV_IPC_TEST_PROBES
// Test probe: while on (at most 60 s), a wait pauses between its take and
// its look at the mapping, to put a detach in that window
// (test/fast-mutex/fast-mutex-detach-race.test.ts).
std::atomic<bool> g_pause_after_take{false};
Napi::Value FastMutexPauseAfterTake(const Napi::CallbackInfo& info) {
  g_pause_after_take.store(ArgBoolean(info, 0, "on"));
  return info.Env().Undefined();
}
#endif

// One wait for the lock, on a waiter thread (async) or the JS thread (sync).
class LockWaitCall : public BlockingCall {
 public:
  LockWaitCall(LockRef ref, const sysv_ipc_lock_self& self, int64_t spin_ns)
      : ref_(std::move(ref)), self_(self), spin_ns_(spin_ns) {
    // The first look at the holder's liveness comes after one check period,
    // not at once: a lock held for microseconds (the common case under
    // contention) then costs no /proc read. A dead holder is still found
    // within SYSV_IPC_LOCK_CHECK_NS more.
    state_.next_check_ns = sysv_ipc_lock_now_ns() + SYSV_IPC_LOCK_CHECK_NS;
  }
  ~LockWaitCall() override { Undo(); }

  int Attempt(const Deadline& deadline) override {
    uint8_t* base = ref_.mapping->data();
    if (base == nullptr) return Report(kLockDetached);
    int r = sysv_ipc_lock_wait_with(Record(base, ref_.offset), &self_, deadline.at_ns, spin_ns_, &state_, &TakeMapped,
                                    this);
    if (r == SYSV_IPC_LOCK_OK || r == SYSV_IPC_LOCK_OWNER_DIED) {
      taken_ = true;  // in the segment (TakeMapped), and Unmap gives it back until JavaScript has it
#ifdef SYSV_IPC_TEST_PROBES
      for (int i = 0; i < 60000 && g_pause_after_take.load(); i++) usleep(1000);
#endif
      // Detached since: Unmap released the lock (or is releasing it) before it left the segment.
      if (GivenBack()) return Report(kLockDetached);
      return Report(r == SYSV_IPC_LOCK_OK ? kLockTaken : kLockOwnerDied);
    }
    // Detached meanwhile: what the wait saw is anonymous memory (Mapping::Unmap), and nothing was taken.
    if (r == ECANCELED || ref_.mapping->unmapped()) return Report(kLockDetached);
    if (r == SYSV_IPC_LOCK_CORRUPT) return Report(kLockCorrupt);
    return r;  // ETIMEDOUT, EINTR (RunBlocking retries with the same state, or stops)
  }
  // The wait keeps the deadline itself (futex slices, lock.h).
  bool KernelTimeout() const override { return true; }
  const char* Syscall() const override { return "futex"; }
  // A lock taken while worker.terminate() ends this thread would stay held
  // until the process exits: RunBlockingSync asks after every success.
  bool HeldUntilReleased() const override { return true; }
  CallResult Result(Napi::Env) override {
    // Detached between the take and now (on this thread, before the result
    // reached JavaScript): Unmap gave the lock back, so JavaScript holds nothing.
    if (taken_ && GivenBack()) outcome_ = kLockDetached;
    return CallResult::Outcome(outcome_);
  }
  // Delivered to JavaScript: from now on the lock is the process's, JS
  // releases it. Not in Result: the dispatch after it can still fail (the
  // worker is being terminated), and the pool's Undo must then release.
  void Delivered() override { KeepTaken(); }
  // The JS thread holds the lock now: no Undo when this call goes, and a
  // detach no longer gives it back (JavaScript unlocks it, README FastMutex).
  void KeepTaken() {
    if (!taken_) return;
    taken_ = false;
    ref_.mapping->DropAtUnmap(this, [](uint8_t*) {});
  }
  LockOutcome outcome() const { return outcome_; }
  // The lock was taken but the result reaches no JavaScript (the environment
  // is going away): release it, or it would stay held until the process
  // exits. Idempotent: the pool calls it for a discarded result, the
  // destructor again. After a detach, Unmap has released it already.
  void Undo() override {
    if (!taken_) return;
    taken_ = false;
    ref_.mapping->DropAtUnmap(this,
                              [this](uint8_t* base) { sysv_ipc_lock_release(Record(base, ref_.offset), &self_); });
  }

 private:
  // The wait's take (lock.h sysv_ipc_lock_take_fn): a compare-and-swap in
  // the segment, never in the anonymous memory a detach leaves (then: stop),
  // and registered with the mapping in the same step, so that a detach
  // before JavaScript has the lock gives it back instead of leaving this
  // live process holding it until it exits.
  static int TakeMapped(void* ctx, sysv_ipc_lock* l, uint32_t seen, uint64_t judged_start, uint32_t mine,
                        const sysv_ipc_lock_self* self) {
    auto* call = static_cast<LockWaitCall*>(ctx);
    int taken = 0;
    bool mapped = call->ref_.mapping->WhileMapped([&](uint8_t*) {
      // From a dead holder: replace only the holder_start that was judged (lock.h sysv_ipc_lock_take_over).
      if (!(seen != 0 ? sysv_ipc_lock_take_over(l, seen, judged_start, mine, self)
                      : sysv_ipc_lock_take(l, 0, mine, self))) {
        return;
      }
      taken = 1;
      size_t offset = call->ref_.offset;
      sysv_ipc_lock_self me = *self;
      call->ref_.mapping->AtUnmapLocked(
          call, [offset, me](uint8_t* base) { sysv_ipc_lock_release(Record(base, offset), &me); });
    });
    return mapped ? taken : -1;
  }
  // Whether Unmap has run the give-back registered by TakeMapped.
  bool GivenBack() const { return ref_.mapping->unmapped(); }

  int Report(LockOutcome outcome) {
    outcome_ = outcome;
    return 0;
  }
  LockRef ref_;
  sysv_ipc_lock_self self_;
  int64_t spin_ns_;
  sysv_ipc_lock_wait_state state_{};
  LockOutcome outcome_ = kLockTaken;
  bool taken_ = false;
};

// This process's identity, or a throw that says why it could not be read:
// EOVERFLOW (the pid does not fit the word) from getpid, or open's errno for
// /proc/self/stat (EMFILE when this process is out of descriptors, ...).
// RegisterFastMutex fills the cache while descriptors are plentiful.
sysv_ipc_lock_self ArgSelf(Napi::Env env) {
  sysv_ipc_lock_self self;
  int err = Self(&self);
  if (err != 0) ThrowErrno(env, err, err == EOVERFLOW ? "getpid" : "open");
  return self;
}

// ---- entry points

// fastMutexLockSync(handle, offset, timeoutMs) → outcome (kLockTaken, kLockOwnerDied,
// kLockCorrupt, kLockDetached); throws ETIMEDOUT. Blocks the calling thread.
Napi::Value FastMutexLockSync(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  LockRef ref = ArgLock(info);
  int64_t timeout_ns = ArgTimeoutNs(info, 2, "timeout");
  LockWaitCall call(std::move(ref), ArgSelf(env), kSyncSpinNs);
  // The wait keeps its own deadline (futex slices): RunBlockingSync runs it
  // without the thread's timer. Taken while worker.terminate() ends this
  // thread, it is given back (Undo) and ECANCELED thrown (HeldUntilReleased).
  int err = RunBlockingSync(env, call, timeout_ns);
  if (err != 0) ThrowErrno(env, err, call.Syscall());
  call.KeepTaken();
  return Napi::Number::New(env, call.outcome());
}

// fastMutexLockAsync(handle, offset, timeoutMs, waitId): the wait on a waiter
// thread; reports errno 0 with extra = outcome, or ETIMEDOUT / ECANCELED.
Napi::Value FastMutexLockAsync(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  LockRef ref = ArgLock(info);
  int64_t timeout_ns = ArgTimeoutNs(info, 2, "timeout");
  uint64_t wait_id = ArgWaitId(info, 3);
  sysv_ipc_lock_self self = ArgSelf(env);
  WaiterPool& pool = env.GetInstanceData<Addon>()->Pool(env);
  pool.Submit(env, wait_id, std::make_unique<LockWaitCall>(std::move(ref), self, 0), Deadline::AfterNs(timeout_ns));
  return env.Undefined();
}

// fastMutexRelease(handle, offset) → 0, EPERM (this process does not hold
// it) or EUCLEAN (corrupt). The release for a word that has WAITERS set:
// clears it and wakes one sleeper (FUTEX_WAKE), as lock.h says.
Napi::Value FastMutexRelease(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  LockRef ref = ArgLock(info);
  sysv_ipc_lock_self self = ArgSelf(env);
  int r = sysv_ipc_lock_release(Record(ref.mapping->data(), ref.offset), &self);
  return Napi::Number::New(env, r);
}

// fastMutexTakeOver(handle, offset) → 1 when this process took the lock from
// a holder that is gone (no such process, or a zombie), else 0 (free, held
// by a live process, or another taker was first); 2 if the record is corrupt.
// tryLock's look at the holder: one /proc read. A pid reused by another
// process needs a wait of SYSV_IPC_LOCK_STABLE_NS to be told from a holder
// between its CAS and its holder_start store: only the waits detect that.
Napi::Value FastMutexTakeOver(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  LockRef ref = ArgLock(info);
  sysv_ipc_lock_self self = ArgSelf(env);
  sysv_ipc_lock* l = Record(ref.mapping->data(), ref.offset);
  uint32_t w = __atomic_load_n(&l->word, __ATOMIC_RELAXED);
  if (sysv_ipc_lock_word_corrupt(w)) return Napi::Number::New(env, kTakeOverCorrupt);
  if (w == 0) return Napi::Number::New(env, kTakeOverNone);
  sysv_ipc_lock_wait_state fresh{};  // no earlier suspicion: only a gone holder counts as dead
  if (!sysv_ipc_lock_holder_dead(l, w, &fresh, sysv_ipc_lock_now_ns())) return Napi::Number::New(env, kTakeOverNone);
  // Keep WAITERS: others may sleep on the word.
  // From the holder_start judged, not one read again (lock.h sysv_ipc_lock_take_over).
  bool taken = sysv_ipc_lock_take_over(l, w, fresh.judged_start, self.pid | (w & SYSV_IPC_LOCK_WAITERS), &self);
  return Napi::Number::New(env, taken ? kTakeOverTaken : kTakeOverNone);
}

}  // namespace

void RegisterFastMutex(Napi::Env env, Napi::Object exports, Napi::Object constants) {
  Export(env, exports,
         {
             {"fastMutexLockSync", FastMutexLockSync},
             {"fastMutexLockAsync", FastMutexLockAsync},
             {"fastMutexRelease", FastMutexRelease},
             {"fastMutexTakeOver", FastMutexTakeOver},
#ifdef SYSV_IPC_TEST_PROBES
             {"fastMutexPauseAfterTake", FastMutexPauseAfterTake},
#endif
         });
  // The record's layout and result codes (lock.h), so lib/fast-mutex.ts has one source of truth.
  SetLockConstants(env, constants, SYSV_IPC_LOCK_NOT_HELD, SYSV_IPC_LOCK_CORRUPT);
  // Read this process's identity now, while it can: a first lock call made
  // when the process is out of file descriptors could not read /proc/self/stat.
  sysv_ipc_lock_self self;
  Self(&self);  // a failure is not cached: the first call that needs it tries again and throws why
}

#else  // no futex (platform.h): the entry points say so

void RegisterFastMutex(Napi::Env env, Napi::Object exports, Napi::Object constants) {
  Export(env, exports,
         {{"fastMutexLockSync", UnavailableEntryPoint},
          {"fastMutexLockAsync", UnavailableEntryPoint},
          {"fastMutexRelease", UnavailableEntryPoint},
          {"fastMutexTakeOver", UnavailableEntryPoint}},
         const_cast<char*>("FastMutex"));
  SetLockConstants(env, constants, EPERM, -1);  // EUCLEAN is Linux's; no lock result reaches JS here
}

#endif

}  // namespace sysv_ipc
