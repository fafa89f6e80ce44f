#include "waiter_pool.h"

#include <pthread.h>
#include <signal.h>
#include <time.h>

#include <string>
#include <system_error>

#include "addon.h"
#include "errors.h"
#include "futex_parker.h"

namespace sysv_ipc {

namespace {
// Idle threads kept for reuse; more than this many idle threads exit.
constexpr size_t kMaxIdleThreads = 16;
// A parker thread left without waits exits after this long (a loop of single
// receives reuses it rather than starting a thread per wait).
constexpr int64_t kParkerIdleNs = 2000000000LL;
// A word's offset in the smallest page (4 KiB): the same in every mapping of
// its segment, which is page aligned (larger pages keep it too).
constexpr uintptr_t kPageOffsetMask = 4095;
// A wait whose stop word found no room in its parker's futex_waitv set looks
// at it again this soon.
constexpr int64_t kStopLookNs = 2000000;

#ifdef SYSV_IPC_TEST_PROBES
// Successes given back because their dispatch failed (test probe
// undeliveredResults: lets a test see that its race hit this path).
std::atomic<uint64_t> g_undelivered_results{0};
// Test probe parkerPauseBeforeSleep: milliseconds the next parker turn that
// is about to sleep with waits in its set pauses first (once), and where it
// is (ParkerPause): the window between a turn's look at the words and its
// futex_waitv, where a wake that changes no word must still end the wait.
std::atomic<int> g_pause_before_sleep_ms{0};
std::atomic<int> g_pause_state{0};
#endif

// Drops an exception a failed Node-API call left pending, so that the next
// calls in the same callback can still run.
void ClearPendingException(napi_env env) {
  napi_value ignored;
  bool pending = false;
  if (napi_is_exception_pending(env, &pending) == napi_ok && pending) napi_get_and_clear_last_exception(env, &ignored);
}

// The numbers of dispatch(waitId, errno, value, extra); argv[2] is the
// caller's. False when one could not be made.
bool MakeDispatchArgs(napi_env env, uint64_t wait_id, int result, double extra, napi_value argv[4]) {
  return napi_create_double(env, static_cast<double>(wait_id), &argv[0]) == napi_ok &&
         napi_create_int32(env, result, &argv[1]) == napi_ok && napi_create_double(env, extra, &argv[3]) == napi_ok;
}
}  // namespace

struct WaiterPool::Job {
  uint64_t id = 0;
  std::unique_ptr<BlockingCall> call;
  Deadline deadline;
  std::atomic<bool> cancelled{false};
  int result = 0;
  Worker* worker = nullptr;  // the thread running it (guarded by mutex_)
  Parker* parker = nullptr;  // or the parker holding it (guarded by mutex_)
};

struct WaiterPool::Worker {
  std::thread thread;
  std::condition_variable cv;
  Job* job = nullptr;                        // borrowed from jobs_; guarded by mutex_
  ThreadInterrupter* interrupter = nullptr;  // guarded by mutex_; null until the thread runs
  bool cancel_armed = false;                 // guarded by mutex_: ArmNow() ran for the current job
  bool exited = false;                       // guarded by mutex_
};

struct WaiterPool::Parker {
  std::thread thread;
  // The parker's own futex (private), first in its futex_waitv set: bumped
  // and woken (PokeControl) when a job arrives, is cancelled, or the pool
  // shuts down.
  uint32_t control = 0;
  std::vector<Job*> inbox;  // guarded by mutex_: given to it, not yet taken by its thread
  size_t jobs = 0;          // guarded by mutex_: given to it and not finished (inbox included)
  bool exited = false;      // guarded by mutex_
};

WaiterPool::WaiterPool(Napi::Env env, const Napi::FunctionReference* dispatch)
    : delivery_(std::make_shared<Delivery>(dispatch)) {
  EnsureInterruptHandler();
  auto* share = new std::shared_ptr<Delivery>(delivery_);  // the thread-safe function's, freed by its finalizer
  napi_status status =
      napi_create_threadsafe_function(env, nullptr, nullptr, Napi::String::New(env, "sysv-ipc wait"), 0, 1, share,
                                      &WaiterPool::FinalizeDelivery, delivery_.get(), &WaiterPool::CallJs, &tsfn_);
  if (status != napi_ok) {
    delete share;
    tsfn_ = nullptr;
    ThrowError(env, "sysv-ipc: cannot create the thread-safe function");
  }
  // Waits keep the loop alive only while someone asks (WaitGroup.ref()).
  napi_unref_threadsafe_function(env, tsfn_);
}

WaiterPool::~WaiterPool() { Shutdown(); }

#ifdef SYSV_IPC_TEST_PROBES
uint64_t WaiterPool::UndeliveredResults() { return g_undelivered_results.load(std::memory_order_relaxed); }

int WaiterPool::ParkerPauseBeforeSleep(int ms) {
  if (ms > 0) {
    g_pause_before_sleep_ms.store(ms);
    g_pause_state.store(kPauseArmed);
  }
  return g_pause_state.load();
}
#endif

void WaiterPool::FinalizeDelivery(napi_env, void* data, void*) { delete static_cast<std::shared_ptr<Delivery>*>(data); }

void WaiterPool::Submit(Napi::Env env, uint64_t wait_id, std::unique_ptr<BlockingCall> call, Deadline deadline) {
  auto job = std::make_unique<Job>();
  job->id = wait_id;
  job->call = std::move(call);
  job->deadline = deadline;

  std::unique_lock<std::mutex> lock(mutex_);
  if (shutting_down_) {
    lock.unlock();
    ThrowError(env, "sysv-ipc: the environment is shutting down");
  }
  if (jobs_.count(wait_id) != 0) {
    // Never call into JavaScript while holding mutex_: making the error runs
    // JS (a setter for `code` inherited from Error.prototype), and JS that
    // calls back into the pool would deadlock on it.
    lock.unlock();
    ThrowRangeError(env, "The value of \"waitId\" is out of range: a wait with this id is still pending");
  }
  ReapExited();
  Job* raw = job.get();
  if (raw->call->Parkable() && FutexParkerEnabled()) {
    try {
      ParkLocked(raw);
    } catch (const std::system_error& e) {
      lock.unlock();
      ThrowError(env, std::string("sysv-ipc: cannot start a parker thread: ") + e.what());
    }
    jobs_[wait_id] = std::move(job);
    return;
  }
  Worker* worker;
  if (!idle_.empty()) {
    worker = idle_.back();
    idle_.pop_back();
  } else {
    auto fresh = std::make_unique<Worker>();
    worker = fresh.get();
    try {
      // The new thread blocks on mutex_ (held here) before it reads anything.
      worker->thread = std::thread(&WaiterPool::WorkerMain, this, worker);
    } catch (const std::system_error& e) {
      lock.unlock();
      ThrowError(env, std::string("sysv-ipc: cannot start a waiter thread: ") + e.what());
    }
    workers_.push_back(std::move(fresh));
  }
  worker->job = raw;
  raw->worker = worker;
  jobs_[wait_id] = std::move(job);
  worker->cv.notify_one();
}

void WaiterPool::Cancel(uint64_t wait_id) {
  std::lock_guard<std::mutex> lock(mutex_);
  auto it = jobs_.find(wait_id);
  if (it == jobs_.end()) return;
  Job* job = it->second.get();
  job->cancelled.store(true, std::memory_order_release);
  if (job->worker != nullptr && job->worker->interrupter != nullptr) {
    job->worker->interrupter->ArmNow();
    job->worker->cancel_armed = true;
  }
  if (job->parker != nullptr) PokeControl(&job->parker->control);
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
  size_t n = 0;
  for (const auto& worker : workers_) n += worker->exited ? 0 : 1;
  for (const auto& parker : parkers_) n += parker->exited ? 0 : 1;
  return n;
}

namespace {
// Joins and forgets the threads (workers or parkers) that have exited.
template <typename Thread>
void JoinExited(std::vector<std::unique_ptr<Thread>>* threads) {
  for (auto it = threads->begin(); it != threads->end();) {
    if ((*it)->exited) {
      if ((*it)->thread.joinable()) (*it)->thread.join();
      it = threads->erase(it);
    } else {
      ++it;
    }
  }
}
}  // namespace

void WaiterPool::ReapExited() {
  // An exited thread no longer needs mutex_: joining it here cannot deadlock.
  JoinExited(&workers_);
  JoinExited(&parkers_);
}

void WaiterPool::ParkLocked(Job* job) {
  Parker* chosen = nullptr;
  // The fullest parker with room: waits gather on few threads, and a parker
  // that empties can leave.
  for (const auto& parker : parkers_) {
    if (parker->exited || parker->jobs >= kParkerSlots) continue;
    if (chosen == nullptr || parker->jobs > chosen->jobs) chosen = parker.get();
  }
  if (chosen == nullptr) {
    auto fresh = std::make_unique<Parker>();
    // The new thread blocks on mutex_ (held here) before it reads anything.
    fresh->thread = std::thread(&WaiterPool::ParkerMain, this, fresh.get());  // may throw (Submit reports it)
    chosen = fresh.get();
    parkers_.push_back(std::move(fresh));
  }
  chosen->inbox.push_back(job);
  chosen->jobs++;
  job->parker = chosen;
  PokeControl(&chosen->control);
}

void WaiterPool::FinishParked(Parker* parker, Job* job, int result) {
  std::unique_ptr<Job> done;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    job->parker = nullptr;
    job->result = result;
    parker->jobs--;
    // Out of the pending map: from here nothing (Cancel, Shutdown) reaches it.
    auto it = jobs_.find(job->id);
    done = std::move(it->second);
    jobs_.erase(it);
  }
  Deliver(std::move(done));
}

namespace {
// Whether two parked waits sleep on one futex at one value, so that one entry
// of a futex_waitv set serves both: the same address, or the same place in
// one segment (equal stop_key: one segment, as FutexPark says; the word at
// the same distance from its stop word, each mapping holding the whole
// segment).
bool SameFutex(const FutexPark& a, const FutexPark& b) {
  if (a.expected != b.expected) return false;
  if (a.word == b.word) return true;
  if (a.stop_key < 0 || a.stop_key != b.stop_key || a.stop_word == nullptr || b.stop_word == nullptr) return false;
  return reinterpret_cast<uintptr_t>(a.word) - reinterpret_cast<uintptr_t>(a.stop_word) ==
         reinterpret_cast<uintptr_t>(b.word) - reinterpret_cast<uintptr_t>(b.stop_word);
}
}  // namespace

void WaiterPool::ParkerMain(Parker* parker) {
  // No signal is meant for this thread (a parked wait is ended by its
  // futex, its timeout or the control word, never by our timer).
  sigset_t mask;
  sigfillset(&mask);
  pthread_sigmask(SIG_SETMASK, &mask, nullptr);

  struct Slot {
    Job* job;
    FutexPark park;
    bool fresh;  // not yet armed, or its futex was woken: Arm it at the next turn
  };
  std::vector<Slot> slots;
  std::vector<Job*> arrived;
  slots.reserve(kParkerSlots);
  FutexWaiter set[kFutexWaitvMax];
  int64_t stop_keys[kFutexWaitvMax];  // the stop_key of each stop word's entry of `set`
  size_t entry_slot[kFutexWaitvMax];  // the first slot of each wait word's entry of `set`
  int64_t idle_since = -1;
  for (;;) {
    // Read before the inbox: a job or cancel that comes after this load
    // changes the word, and futex_waitv then returns at once (EAGAIN).
    uint32_t control = __atomic_load_n(&parker->control, __ATOMIC_SEQ_CST);
    {
      std::lock_guard<std::mutex> lock(mutex_);
      arrived.swap(parker->inbox);
      if (slots.empty() && arrived.empty()) {
        int64_t now = MonotonicNowNs();
        if (idle_since < 0) idle_since = now;
        if (shutting_down_ || now - idle_since >= kParkerIdleNs) {
          parker->exited = true;  // joined by the next Submit (ReapExited) or by Shutdown
          return;
        }
      } else {
        idle_since = -1;
      }
    }
    for (Job* job : arrived) slots.push_back(Slot{job, FutexPark{}, true});
    arrived.clear();

    // Every turn looks at every wait: futex_waitv names one woken futex even
    // when several woke, and EAGAIN names none. A wait is run again (Arm)
    // when it is new, its word moved, or its time to look came.
    int64_t now = MonotonicNowNs();
    int64_t wake_at = -1;
    const bool had_waits = !slots.empty();
    size_t kept = 0;
    for (size_t i = 0; i < slots.size(); i++) {
      Slot slot = slots[i];
      int result = kParked;
      if (slot.job->cancelled.load(std::memory_order_acquire)) {
        result = ECANCELED;
        // A wake meant for one sleeper may have reached this wait (woken,
        // not yet run): pass it on. A spare wake only makes a sleeper look.
        if (slot.park.wake_one) WakeOneShared(slot.park.word);
      } else if (slot.fresh || __atomic_load_n(slot.park.word, __ATOMIC_SEQ_CST) != slot.park.expected ||
                 (slot.park.stop_word != nullptr &&
                  (__atomic_load_n(slot.park.stop_word, __ATOMIC_ACQUIRE) & slot.park.stop_mask) != 0) ||
                 (slot.park.until_ns >= 0 && now >= slot.park.until_ns)) {
        slot.fresh = false;
        result = slot.job->call->Arm(slot.job->deadline, &slot.park);
      }
      if (result != kParked) {
        FinishParked(parker, slot.job, result);
        continue;
      }
      if (slot.park.until_ns >= 0 && (wake_at < 0 || slot.park.until_ns < wake_at)) wake_at = slot.park.until_ns;
      slots[kept++] = slot;
    }
    slots.resize(kept);
    // Emptied by this turn: look at the inbox and at shutdown before sleeping
    // (a Shutdown whose poke came before this turn's read of `control` would
    // otherwise find this thread asleep until its idle time ran out).
    if (had_waits && slots.empty()) continue;

    SetFutexWaiter(&set[0], &parker->control, control, true);
    // An entry per wait, unless that leaves no room for the stop words (see
    // below): then waits on one word at one value share an entry (the sends
    // parked on one channel's lock word, each Channel object mapping it at
    // its own address; the receives of one object). A wake of that entry
    // runs them all again (below, by page offset), as one of their own would
    // have. Without it, 127 sends on one lock word filled a parker, which
    // then looked again every 2 ms for as long as the holder lived. (Only
    // then: one entry per wait is what a look into a sleeping parker counts,
    // test/support/helpers.ts's threadsInFutexOn.)
    bool share = false;
    size_t stop_words = 0;  // the stop words the set will hold: once by key (else address)
    for (size_t i = 0; i < slots.size() && !share; i++) {
      const FutexPark& park = slots[i].park;
      if (!park.watch_stop || park.stop_word == nullptr) continue;
      size_t j = 0;
      while (j < i && !(slots[j].park.watch_stop && slots[j].park.stop_word != nullptr &&
                        (park.stop_key >= 0 ? slots[j].park.stop_key == park.stop_key
                                            : slots[j].park.stop_word == park.stop_word))) {
        j++;
      }
      if (j == i) share = slots.size() + 1 + ++stop_words > kFutexWaitvMax;
    }
    size_t entries = 1;
    for (size_t i = 0; i < slots.size(); i++) {
      const FutexPark& park = slots[i].park;
      size_t e = share ? 1 : entries;
      while (e < entries && !SameFutex(slots[entry_slot[e]].park, park)) e++;
      if (e < entries) continue;
      entry_slot[entries] = i;
      SetFutexWaiter(&set[entries++], park.word, park.expected, false);
    }
    const size_t word_entries = entries;
    // The stop words of waits on words a removal leaves as they are
    // (FutexPark::watch_stop), once per word (stop_key, else address), at the
    // value looked at here: a removal from now on makes futex_waitv return at
    // once, or wakes the wait's own word. A set with no room left for one
    // looks again soon.
    bool stopped = false;
    for (Slot& slot : slots) {
      if (!slot.park.watch_stop || slot.park.stop_word == nullptr) continue;
      const uint32_t value = __atomic_load_n(slot.park.stop_word, __ATOMIC_SEQ_CST);
      if ((value & slot.park.stop_mask) != 0) {
        slot.fresh = true;
        stopped = true;
        continue;
      }
      const uintptr_t address = reinterpret_cast<uintptr_t>(slot.park.stop_word);
      bool listed = false;
      for (size_t e = word_entries; e < entries && !listed; e++) {
        listed = slot.park.stop_key >= 0 ? stop_keys[e] == slot.park.stop_key : set[e].uaddr == address;
      }
      if (listed) continue;
      if (entries < kFutexWaitvMax) {
        stop_keys[entries] = slot.park.stop_key;
        SetFutexWaiter(&set[entries++], slot.park.stop_word, value, false);
      } else {
        const int64_t soon = SaturatingAdd(now, kStopLookNs);
        if (wake_at < 0 || soon < wake_at) wake_at = soon;
      }
    }
    if (stopped) continue;  // set since this turn looked: run those waits now
    if (slots.empty()) {
      // Idle from now: the next turn after kParkerIdleNs without a job leaves.
      if (idle_since < 0) idle_since = MonotonicNowNs();
      wake_at = SaturatingAdd(idle_since, kParkerIdleNs);
    }
#ifdef SYSV_IPC_TEST_PROBES
    int expected_state = kPauseArmed;
    if (!slots.empty() && g_pause_state.compare_exchange_strong(expected_state, kPausing)) {
      timespec pause = ToTimespec(static_cast<int64_t>(g_pause_before_sleep_ms.load()) * 1000000);
      nanosleep(&pause, nullptr);
      g_pause_state.store(kPauseDone);
    }
#endif
    long r = FutexWaitv(set, static_cast<unsigned>(entries), wake_at);
    // The futex it names was woken: the waits on that word run again even if
    // it did not move (a removal wakes a send lock's sleepers and leaves the
    // word). Every wait on it, not only the named one: futex_waitv names one
    // woken futex when several of its entries were woken (FUTEX_WAKE of all,
    // as a removal's, wakes each wait of this set on the word), and the
    // others would sleep again, on a word that did not move, until their nap.
    // The same word can sit at several addresses here: each Channel object
    // (or SharedMemory) on a segment maps it at its own, and the kernel keys
    // a shared futex by the page, not the address. A segment is mapped page
    // aligned, so those addresses share their offset in the page: the waits
    // at that offset run again (one of another segment at the same offset
    // only looks once more, which a spare wake may make it do anyway).
    if (r >= 1 && static_cast<size_t>(r) < word_entries) {
      const uintptr_t woken = reinterpret_cast<uintptr_t>(slots[entry_slot[r]].park.word) & kPageOffsetMask;
      for (Slot& slot : slots) {
        if ((reinterpret_cast<uintptr_t>(slot.park.word) & kPageOffsetMask) == woken) slot.fresh = true;
      }
    }
    // An index, EAGAIN (a word differed already), ETIMEDOUT, EINTR: the next
    // turn sees what changed. Anything else (it should not happen: the words
    // are in mappings the waits hold) must not spin: pause, and look again.
    if (r < 0 && r != -EAGAIN && r != -ETIMEDOUT && r != -EINTR) {
      timespec pause = ToTimespec(1000000);
      nanosleep(&pause, nullptr);
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
    // Out of the pending map: from here nothing (Cancel, Shutdown) reaches it.
    auto it = jobs_.find(job->id);
    std::unique_ptr<Job> done = std::move(it->second);
    jobs_.erase(it);
    lock.unlock();
    Deliver(std::move(done));
    lock.lock();
    if (shutting_down_ || idle_.size() >= kMaxIdleThreads) break;
    idle_.push_back(worker);
  }
  worker->interrupter = nullptr;
  worker->exited = true;  // joined by the next Submit (ReapExited) or by Shutdown
}

void WaiterPool::Deliver(std::unique_ptr<Job> job) {
  // tsfn_ is closed only by Shutdown, after every worker has been joined.
  if (napi_call_threadsafe_function(tsfn_, job.get(), napi_tsfn_nonblocking) == napi_ok) {
    job.release();  // the thread-safe function's now; CallJs takes it back
  } else {
    Discard(std::move(job));  // closing
  }
}

void WaiterPool::Discard(std::unique_ptr<Job> job) {
  // A result nobody will see: give back what the call took (Undo).
  if (job->result == 0) job->call->Undo();
}

void WaiterPool::CallJs(napi_env env, napi_value, void* context, void* data) {
  std::unique_ptr<Job> job(static_cast<Job*>(data));
  // env is null when Node empties the queue while closing the thread-safe
  // function, after its finalizer ran: `context` may be gone, only free the job.
  if (env == nullptr) return Discard(std::move(job));
  auto* delivery = static_cast<Delivery*>(context);
  // During teardown Node may still run this callback (closing handles turns
  // the loop once more) while JavaScript can no longer run: nobody would see
  // the result, so it is given back like any other undeliverable one.
  if (!delivery->open.load(std::memory_order_acquire) || delivery->dispatch->IsEmpty() || !CanRunJavaScript(env)) {
    return Discard(std::move(job));
  }
  // No C++ exception may leave a thread-safe function callback (it would
  // terminate the process), and during environment teardown calling into
  // JavaScript fails: use the C API and drop the result if it cannot be
  // delivered. A throw from the dispatcher stays pending and Node reports it.
  Napi::Env e(env);
  napi_value argv[4];
  napi_get_undefined(env, &argv[2]);
  double extra = 0;
  if (job->result == 0) {
    bool made = true;
    try {
      CallResult result = job->call->Result(e);
      if (result.value() != nullptr) argv[2] = result.value();
      extra = result.extra();
    } catch (const std::exception&) {
      made = false;
    }
    if (!made) {
      // Could not build the value (out of memory, or the environment is going
      // away): give the result back and settle the wait with ENOMEM rather
      // than leave its Promise pending forever.
      ClearPendingException(env);
      job->call->Undo();
      job->result = ENOMEM;
      extra = 0;
    }
  }
  napi_value fn;
  napi_value recv;
  if (napi_get_reference_value(env, delivery->dispatch->operator napi_ref(), &fn) != napi_ok || fn == nullptr ||
      napi_get_undefined(env, &recv) != napi_ok) {
    // The dispatcher is out of reach: no JavaScript can see the result.
    if (job->result == 0) job->call->Undo();
    return;
  }
  if (!MakeDispatchArgs(env, job->id, job->result, extra, argv)) {
    // A number could not be made (out of memory): give the result back and
    // try once more to settle the wait, with ENOMEM and no value, rather
    // than leave its Promise pending forever.
    ClearPendingException(env);
    if (job->result == 0) job->call->Undo();
    job->result = ENOMEM;
    extra = 0;
    if (napi_get_undefined(env, &argv[2]) != napi_ok || !MakeDispatchArgs(env, job->id, job->result, extra, argv)) {
      return;
    }
  }
  // The dispatcher did not run to its end: worker.terminate() landed between
  // the check above and this call (V8 refuses to enter JavaScript once its
  // termination is requested; Node-API reports napi_pending_exception), so
  // no JavaScript will see the result either. Give it back, as a result
  // that comes after Shutdown would be; dropping it lost the message. Only
  // a dispatch that succeeded hands the result to JavaScript (Delivered).
  if (napi_call_function(env, recv, fn, 4, argv, nullptr) == napi_ok) {
    if (job->result == 0) job->call->Delivered();
  } else if (job->result == 0) {
    job->call->Undo();
#ifdef SYSV_IPC_TEST_PROBES
    g_undelivered_results.fetch_add(1, std::memory_order_relaxed);
#endif
  }
}

void WaiterPool::Shutdown() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (shutting_down_) return;
    shutting_down_ = true;
    // Every pending job is in jobs_ until its worker takes it out to deliver
    // it (wait ids are unique among pending jobs: Submit refuses a reused one).
    for (auto& entry : jobs_) {
      Job* job = entry.second.get();
      job->cancelled.store(true, std::memory_order_release);
      if (job->worker != nullptr && job->worker->interrupter != nullptr) {
        job->worker->interrupter->ArmNow();
        job->worker->cancel_armed = true;
      }
    }
    for (Worker* worker : idle_) worker->cv.notify_one();
    idle_.clear();
    // Parkers see the cancels, report them, and leave once empty.
    for (auto& parker : parkers_) PokeControl(&parker->control);
  }
  // Every thread leaves promptly: idle ones are woken, busy ones interrupted.
  for (auto& worker : workers_) {
    if (worker->thread.joinable()) worker->thread.join();
  }
  workers_.clear();
  for (auto& parker : parkers_) {
    if (parker->thread.joinable()) parker->thread.join();
  }
  parkers_.clear();
  delivery_->open.store(false, std::memory_order_release);
  if (tsfn_ != nullptr) {
    napi_threadsafe_function tsfn = tsfn_;
    tsfn_ = nullptr;
    // Queued results are then freed through CallJs with a null env (Discard).
    napi_release_threadsafe_function(tsfn, napi_tsfn_abort);
  }
}

}  // namespace sysv_ipc
