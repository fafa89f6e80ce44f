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
// kParked or kSignalled → kIdle (the thread, as it leaves the wait).
enum SlotState { kIdle = 0, kParked = 1, kSignalling = 2, kSignalled = 3 };

struct Slot {
  std::atomic<int> state{kIdle};
  pid_t tid = 0;
};

namespace {

// Never freed: the watchdog thread may still run while static destructors
// run at process exit.
struct Shared {
  std::mutex mutex;
  std::condition_variable registered;
  std::vector<Slot*> slots;         // guarded by mutex
  bool started = false;             // guarded by mutex
  std::atomic<bool> failed{false};  // the thread could not be started: Available() is false
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
      } catch (...) {
        s.failed.store(true, std::memory_order_relaxed);
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

bool Available() { return !TheShared().failed.load(std::memory_order_relaxed); }

ParkScope::ParkScope() : slot_(ThisThreadSlot()) {
  if (slot_ != nullptr) slot_->state.store(kParked, std::memory_order_release);
}

ParkScope::~ParkScope() {
  if (slot_ == nullptr) return;
  int parked = kParked;
  if (slot_->state.compare_exchange_strong(parked, kIdle, std::memory_order_acq_rel)) return;
  // The watchdog signalled this thread, or is doing so: wait until it has
  // sent, then take the signal's delivery here (a pending signal is
  // delivered on the way back from any syscall), not in whatever runs next.
  while (slot_->state.load(std::memory_order_acquire) == kSignalling) sched_yield();
  sched_yield();
  slot_->state.store(kIdle, std::memory_order_release);
}

#else  // no tgkill-style signals here (watchdog.h, PLATFORMS)

bool Available() { return false; }
ParkScope::ParkScope() : slot_(nullptr) {}
ParkScope::~ParkScope() {}

#endif

}  // namespace watchdog

}  // namespace sysv_ipc
