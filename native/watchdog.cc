#include "watchdog.h"

#include <sched.h>
#include <signal.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <mutex>
#include <thread>
#include <vector>

#include "deadline.h"
#include "interrupter.h"

namespace sysv_ipc {

namespace watchdog {

#ifdef HAVE_THREAD_TIMERS

// kParked → kSignalling → kSignalled (the watchdog, around its tgkill);
// kParked or kSignalled → kIdle (the thread, as it leaves the wait, by
// compare-and-swap: never under the watchdog's kSignalling).
enum SlotState { kIdle = 0, kParked = 1, kSignalling = 2, kSignalled = 3 };

struct Slot {
  std::atomic<int> state{kIdle};
  pid_t tid = 0;
};

namespace {

#ifdef SYSV_IPC_TEST_PROBES
// Test probe (SetTestPauses): widen the two windows of the slot's protocol.
std::atomic<int64_t> g_leave_pause_ns{0};   // a signalled thread, before it leaves its wait
std::atomic<int64_t> g_signal_pause_ns{0};  // the watchdog, between its claim and its signal
void PauseFor(const std::atomic<int64_t>& pause) {
  int64_t ns = pause.load(std::memory_order_relaxed);
  if (ns <= 0) return;
  int64_t end = MonotonicNowNs() + ns;
  for (int64_t now = MonotonicNowNs(); now < end; now = MonotonicNowNs()) {
    timespec ts = ToTimespec(end - now);
    nanosleep(&ts, nullptr);  // EINTR (the interrupt signal): sleep the rest
  }
}
#define SYSV_IPC_TEST_PAUSE(pause) PauseFor(pause)
#else
#define SYSV_IPC_TEST_PAUSE(pause) ((void)0)
#endif

// Never freed: the watchdog thread may still run while static destructors
// run at process exit.
struct Shared {
  std::mutex mutex;
  std::condition_variable registered;
  std::vector<Slot*> slots;  // guarded by mutex
  bool started = false;      // guarded by mutex
};
Shared& TheShared() {
  static Shared* shared = new Shared();
  return *shared;
}

void Run() {
  Shared& s = TheShared();
  for (;;) {
    {
      std::unique_lock<std::mutex> lock(s.mutex);
      s.registered.wait(lock, [&s] { return !s.slots.empty(); });
    }
    timespec ts = ToTimespec(kSliceNs);
    nanosleep(&ts, nullptr);
    std::lock_guard<std::mutex> lock(s.mutex);
    bool checked = false;
    for (Slot* slot : s.slots) {
      // A signalled thread may still be parked (the signal came just before
      // it entered the syscall): it is signalled again.
      int seen = slot->state.load(std::memory_order_acquire);
      if (seen != kParked && seen != kSignalled) continue;
      if (!slot->state.compare_exchange_strong(seen, kSignalling, std::memory_order_acq_rel)) continue;
      if (!checked) {
        EnsureInterruptHandler();  // the signal must interrupt, never kill or go unheard
        checked = true;
      }
      SYSV_IPC_TEST_PAUSE(g_signal_pause_ns);
      syscall(SYS_tgkill, getpid(), slot->tid, InterruptSignal());
      slot->state.store(kSignalled, std::memory_order_release);
    }
  }
}

// The calling thread's slot, registered on first use and removed when the
// thread exits (under the mutex: the watchdog never signals a gone thread).
struct ThreadSlot {
  Slot* slot = nullptr;
  ~ThreadSlot() {
    if (slot == nullptr) return;
    Shared& s = TheShared();
    std::lock_guard<std::mutex> lock(s.mutex);
    s.slots.erase(std::remove(s.slots.begin(), s.slots.end(), slot), s.slots.end());
    delete slot;
  }
};

Slot* ThisThreadSlot() {
  thread_local ThreadSlot mine;
  if (mine.slot == nullptr) {
    Shared& s = TheShared();
    auto* slot = new Slot();
    slot->tid = static_cast<pid_t>(syscall(SYS_gettid));
    std::lock_guard<std::mutex> lock(s.mutex);
    if (!s.started) {
      try {
        std::thread(Run).detach();
        s.started = true;
      } catch (...) {  // EAGAIN (RLIMIT_NPROC, threads-max): Enlist() is false, tried again next time
        delete slot;
        return nullptr;
      }
    }
    s.slots.push_back(slot);
    mine.slot = slot;
    s.registered.notify_one();
  }
  return mine.slot;
}

}  // namespace

#ifdef SYSV_IPC_TEST_PROBES
void SetTestPauses(int64_t leave_ns, int64_t signal_ns) {
  g_leave_pause_ns.store(leave_ns);
  g_signal_pause_ns.store(signal_ns);
}
#endif

bool Enlist() { return ThisThreadSlot() != nullptr; }

ParkScope::ParkScope() : slot_(ThisThreadSlot()) {
  if (slot_ != nullptr) slot_->state.store(kParked, std::memory_order_release);
}

ParkScope::~ParkScope() {
  if (slot_ == nullptr) return;
  int parked = kParked;
  if (slot_->state.compare_exchange_strong(parked, kIdle, std::memory_order_acq_rel)) return;
  // The watchdog signalled this thread, or is doing so: wait until it has
  // sent, then leave by compare-and-swap from kSignalled, never by a plain
  // store: the watchdog may claim the slot again (kSignalled → kSignalling)
  // meanwhile, and a store of kIdle under its claim would be overwritten by
  // its kSignalled, which it signals every round: this thread, no longer
  // parked, would get the signal every slice in code that is not ours
  // (EINTR in the runtime's reads) until its next wait.
  bool paused = false;  // the test probe's pause, once
  for (;;) {
    int seen = slot_->state.load(std::memory_order_acquire);
    if (seen == kSignalling) {
      sched_yield();
      continue;
    }
    if (!paused) {
      SYSV_IPC_TEST_PAUSE(g_leave_pause_ns);
      paused = true;
    }
    if (slot_->state.compare_exchange_strong(seen, kIdle, std::memory_order_acq_rel)) break;
  }
  // Not signalled any more: take the delivery of what was sent here (a
  // pending signal is delivered on the way back from any syscall), not in
  // whatever runs next.
  sched_yield();
}

#else  // no tgkill-style signals here (watchdog.h, PLATFORMS)

bool Enlist() { return false; }
#ifdef SYSV_IPC_TEST_PROBES
void SetTestPauses(int64_t, int64_t) {}
#endif
ParkScope::ParkScope() : slot_(nullptr) {}
ParkScope::~ParkScope() {}

#endif

}  // namespace watchdog

}  // namespace sysv_ipc
