// Channel: a message channel in one shared memory segment. The protocol is
// include/sysv-ipc/channel.h, the very code C peers include; this file only
// attaches segments, checks arguments and runs the header's pieces on the
// JS thread (try/spin), on the calling thread (sync) or on a waiter thread
// (async parks, interruptible through RunBlocking's timer signal).
//
// Attachment safety, as SharedMemory's rules but simpler, because no
// JavaScript view of a channel segment ever exists (every byte goes through
// a copy): the mapping is shared by the handle and every parked call, and
// shmdt runs when the last of them lets go. close() drops the handle's
// share; a waiter thread still copying keeps the memory mapped until it is
// done. Environment teardown (a worker ending) drops every handle's share
// after the Addon's hook has joined the waiter threads.
#include <errno.h>
#include <sched.h>
#include <sys/ipc.h>
#include <sys/shm.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <cstring>
#include <memory>
#include <mutex>
#include <unordered_set>
#include <vector>

#include "addon.h"
#include "arguments.h"
#include "blocking.h"
#include "errors.h"
#include "ipc_common.h"
#include "platform.h"
#include "registry.h"
#include "results.h"

#if SYSV_IPC_FUTEX
#include <sysv-ipc/channel.h>
#endif

namespace sysv_ipc {

namespace {
// The errnos lib/errors.ts maps channel failures from (POSIX: every platform has them).
void SetChannelErrnos(Napi::Env env, Napi::Object constants) {
  constants.Set("EBADMSG", Napi::Number::New(env, EBADMSG));
  constants.Set("EPROTO", Napi::Number::New(env, EPROTO));
  constants.Set("EMSGSIZE", Napi::Number::New(env, EMSGSIZE));
}
}  // namespace

#if SYSV_IPC_FUTEX

namespace {

// One attachment of a channel segment; shmdt when the last share goes.
class ChannelMapping {
 public:
  ChannelMapping(void* addr, uint64_t size) : addr_(addr), size_(size) {}
  ~ChannelMapping() {
    if (addr_ != nullptr) shmdt(addr_);
  }
  ChannelMapping(const ChannelMapping&) = delete;
  ChannelMapping& operator=(const ChannelMapping&) = delete;
  sysv_ipc_channel ch{};  // the header's local view (trusted copies of capacity, max_message)
  // The end-of-nap look of a parked wait (sysv_ipc_channel__nap_over: was
  // the segment removed by a tool, such as ipcrm, that wakes nobody?), made
  // once per nap grid step for all the parked waits on this mapping: ten
  // waits on one channel make one IPC_STAT per nap, not ten. EIDRM or 0.
  int NapOver(int64_t grid_ns) {
    if (sysv_ipc_channel_removed(&ch) || gone_.load(std::memory_order_acquire)) return EIDRM;
    int64_t now = MonotonicNowNs();
    int64_t checked = gone_checked_ns_.load(std::memory_order_relaxed);
    if (checked >= 0 && now - checked < grid_ns) return 0;
    gone_checked_ns_.store(now, std::memory_order_relaxed);
    if (sysv_ipc_channel__nap_over(&ch) == 0) return 0;
    gone_.store(true, std::memory_order_release);
    return EIDRM;
  }
  // lock.h's liveness look at a send-lock holder (pid, holder_start), shared
  // by the sends parked behind it: one /proc/<pid>/stat read per channel per
  // SYSV_IPC_LOCK_CHECK_NS, not one per send per nap (2,000 sends made 10,000
  // a second). When the holder is alive with that start time, returns when
  // that was seen: the caller's own look is due CHECK_NS later. Else -1 (any
  // other finding: the caller's sysv_ipc_lock_arm judges, as it always did).
  int64_t HolderSeenAlive(uint32_t pid, uint64_t start, int64_t now) {
    std::lock_guard<std::mutex> lock(holder_mutex_);
    if (holder_pid_ == pid && holder_start_ == start && now - holder_seen_ns_ < SYSV_IPC_LOCK_CHECK_NS) {
      return holder_alive_ ? holder_seen_ns_ : -1;
    }
    uint64_t actual = 0;
    holder_alive_ = sysv_ipc_process_lookup(static_cast<pid_t>(pid), &actual) == 0 && actual == start;
    holder_pid_ = pid;
    holder_start_ = start;
    holder_seen_ns_ = now;
    return holder_alive_ ? now : -1;
  }
  void* addr() const { return addr_; }
  uint64_t size() const { return size_; }

 private:
  void* addr_;
  uint64_t size_;
  std::mutex holder_mutex_;  // HolderSeenAlive's last look (parker threads share the mapping)
  uint32_t holder_pid_ = 0;
  uint64_t holder_start_ = 0;
  int64_t holder_seen_ns_ = 0;
  bool holder_alive_ = false;
  std::atomic<int64_t> gone_checked_ns_{-1};  // NapOver: when one last found the segment there
  std::atomic<bool> gone_{false};             // NapOver: one found it removed
};

// Parked channel waits (Arm) nap as Attempt's do, with their ends on a
// shared grid a quarter of the nap wide: a parker's waits then wake together,
// a few times per nap, not each at its own instant (up to 127 wake-ups per
// nap, each re-arming the whole futex_waitv set). The end stays within the nap.
constexpr int64_t kNapGridNs = SYSV_IPC_CHANNEL_NAP_NS / 4;
int64_t NapEnd(int64_t now) { return (now + SYSV_IPC_CHANNEL_NAP_NS) / kNapGridNs * kNapGridNs; }
// A parked send that found the ring full, then room when it armed, looks again this soon.
constexpr int64_t kLockNapNs = 1000000;

// The nap of a parked channel wait (its Arm), as sysv_ipc_channel__sleep's.
class ParkedNap {
 public:
  // EIDRM when a nap has ended and the segment was removed meanwhile; else 0.
  int Check(ChannelMapping& m) {
    stop_word_ = sysv_ipc_channel__u32(&m.ch, SYSV_IPC_CHANNEL_OFF_STATE);
    stop_key_ = m.ch.shmid;
    if (end_ns_ < 0 || MonotonicNowNs() < end_ns_) return 0;
    end_ns_ = -1;
    return m.NapOver(kNapGridNs);
  }
  // Sleep on `word` while it holds `seq`: until the nap's end, `soon_ns` (-1:
  // none) or the deadline, whichever comes first. Returns kParked.
  int Park(int64_t now, const Deadline& deadline, uint32_t* word, uint32_t seq, int64_t soon_ns, FutexPark* park) {
    if (end_ns_ < 0) end_ns_ = NapEnd(now);
    int64_t until = soon_ns >= 0 && soon_ns < end_ns_ ? soon_ns : end_ns_;
    park->word = word;
    park->expected = seq;
    park->wake_one = false;
    park->stop_word = stop_word_;
    park->stop_mask = SYSV_IPC_CHANNEL_STATE_REMOVED;
    park->watch_stop = false;
    park->stop_key = stop_key_;
    park->until_ns = deadline.None() || until < deadline.at_ns ? until : deadline.at_ns;
    return kParked;
  }

 private:
  int64_t end_ns_ = -1;                  // when the current nap ends (-1: none begun)
  const uint32_t* stop_word_ = nullptr;  // the channel's state word (set by Check, which every Arm calls first)
  int64_t stop_key_ = -1;                // its segment's shmid (-1: unknown)
};

}  // namespace

// One JS channel handle. Live ones are in the Addon's ChannelRegistry.
struct ChannelHandle {
  std::shared_ptr<ChannelMapping> mapping;            // null once closed
  HandleRegistry<ChannelHandle>* registry = nullptr;  // null after environment teardown
  napi_ref view = nullptr;                            // chView's ArrayBuffer (lib/channel-ring.ts), detached by close
};

namespace {

ChannelRegistry* GetRegistry(const Napi::CallbackInfo& info) { return static_cast<ChannelRegistry*>(info.Data()); }

[[noreturn]] void ThrowChannelClosed(Napi::Env env) { ThrowClosed(env, "The channel is closed"); }

// A channel handle: an External this environment's registry holds (registry.h).
ChannelHandle* ArgHandle(const Napi::CallbackInfo& info, size_t index) {
  return sysv_ipc::ArgHandle(info, index, *GetRegistry(info), "a channel handle");
}

// Detaches chView's ArrayBuffer (close): every JS view becomes zero-length.
// false when it could not: the memory must then stay mapped.
bool DetachView(napi_env env, ChannelHandle* h) {
  if (h->view == nullptr) return true;
  bool ok = false;
  napi_handle_scope scope;
  if (napi_open_handle_scope(env, &scope) == napi_ok) {
    napi_value ab;
    if (napi_get_reference_value(env, h->view, &ab) == napi_ok) {
      // null: collected, nothing reaches the memory any more.
      ok = ab == nullptr || napi_detach_arraybuffer(env, ab) == napi_ok;
    }
    napi_close_handle_scope(env, scope);
  }
  napi_delete_reference(env, h->view);
  h->view = nullptr;
  return ok;
}

ChannelMapping& Attached(const Napi::CallbackInfo& info, size_t index) {
  ChannelHandle* h = ArgHandle(info, index);
  if (!h->mapping) ThrowChannelClosed(info.Env());
  return *h->mapping;
}

void FinalizeHandle(napi_env env, void* data, void*) {
  auto* h = static_cast<ChannelHandle*>(data);
  if (h->view != nullptr) napi_delete_reference(env, h->view);
  HandleRegistry<ChannelHandle>::Remove(h);
  delete h;  // drops its share of the mapping
}

// ---- blocking calls for the waiter threads and the sync forms

// The spin of the synchronous forms before they sleep: a peer on another
// CPU usually answers within microseconds, and waking a sleeping vCPU costs
// tens of them. sched_yield in the spin lets a peer on this CPU run.
constexpr int64_t kSyncSpinNs = 100000;
// How long a try form waits for the producers' lock (held only for a copy)
// before it says "would block".
constexpr int64_t kTryLockNs = 200000;

// A sync send (on the JS thread, which keeps the handle's mapping for the
// whole call), or with `nowait` a try (SpinNonBlocking) that waits for the
// producers' lock no longer than kTryLockNs and says EAGAIN when full.
class ChannelSendCall : public BlockingCall {
 public:
  ChannelSendCall(ChannelMapping* m, const uint8_t* data, size_t length, int64_t spin_ns, bool nowait = false)
      : mapping_(m), data_(data), length_(length), spin_ns_(spin_ns), nowait_(nowait) {}
  int Attempt(const Deadline& deadline) override {
    if (nowait_) return sysv_ipc_channel_try_send(&mapping_->ch, data_, length_, MonotonicNowNs() + kTryLockNs);
    // The lock wait's state lives here, not per attempt: a sync wait comes
    // back every slice (to see a worker's termination), and a dead send-lock
    // holder is only recognised by a suspicion that lasts across slices.
    int r = sysv_ipc_channel_send_waiting(&mapping_->ch, data_, length_, spin_ns_, deadline.at_ns, 1, &lock_wait_);
    spin_ns_ = 0;  // spin once, not after every interruption
    return r;
  }
  bool KernelTimeout() const override { return true; }
  const char* Syscall() const override { return "channelSend"; }

 protected:
  ChannelMapping* mapping_;
  const uint8_t* data_;
  size_t length_;
  int64_t spin_ns_;
  bool nowait_;
  sysv_ipc_lock_wait_state lock_wait_{};
};

// The async form owns a copy (the JS buffer may change or go away) and a
// share of the mapping (the handle may be closed while it waits).
class OwnedChannelSendCall : public ChannelSendCall {
 public:
  OwnedChannelSendCall(std::shared_ptr<ChannelMapping> m, std::vector<uint8_t> data)
      : ChannelSendCall(m.get(), nullptr, data.size(), 0), owner_(std::move(m)), storage_(std::move(data)) {
    data_ = storage_.data();
  }
  // Attempt's sysv_ipc_channel_send_waiting, split where it sleeps: for room
  // on space_seq (every wake of it follows an increment: a take, a removal),
  // and for the send lock on the lock word (lock.h's sysv_ipc_lock_arm: the
  // holder's release changes the word and, WAITERS being set, wakes it). A
  // holder's liveness is looked at when the nap ends (the lock wait's state
  // is kept, so a dead holder is still taken over); the parker's thread never
  // waits for a lock itself, which held up every other wait it carries.
  bool Parkable() const override { return true; }
  int Arm(const Deadline& deadline, FutexPark* park) override {
    sysv_ipc_channel* ch = &mapping_->ch;
    if (nap_.Check(*owner_) != 0) return EIDRM;
    uint32_t* word = nullptr;
    uint32_t seq = 0;
    SharedHolderLook(ch);
    int r = sysv_ipc_channel_try_send_armed(ch, data_, length_, &lock_wait_, &word, &seq);
    if (r != EAGAIN && r != SYSV_IPC_CHANNEL__ARMED) return r;
    int64_t now = MonotonicNowNs();
    if (!deadline.None() && now >= deadline.at_ns) return ETIMEDOUT;
    if (r == SYSV_IPC_CHANNEL__ARMED) {
      nap_.Park(now, deadline, word, seq, -1, park);
      park->wake_one = true;    // the lock word: its release wakes one sleeper
      park->watch_stop = true;  // and remove() wakes it unchanged
      return kParked;
    }
    // Full.
    int a = sysv_ipc_channel_arm_writable(ch, length_, &word, &seq);
    if (a != 0 && a != SYSV_IPC_CHANNEL__ARMED) return a;
    // Room after all (0): taken since we looked, or a header whose positions
    // the write and the room check read differently (hostile): look again
    // after a short nap, with space_seq armed, rather than spin here.
    return nap_.Park(now, deadline, word, seq, a == 0 ? now + kLockNapNs : -1, park);
  }

 private:
  // A liveness look due (lock_wait_.next_check_ns) at a holder that stored
  // its start time: the mapping's shared look (HolderSeenAlive) stands for
  // it while fresh, so that sysv_ipc_lock_arm skips its own /proc read. A
  // holder with no start stored (in its take's window) or any other finding
  // is left to sysv_ipc_lock_arm's judgement, suspicion state and takeover.
  void SharedHolderLook(sysv_ipc_channel* ch) {
    int64_t now = MonotonicNowNs();
    if (now < lock_wait_.next_check_ns) return;
    sysv_ipc_lock* lock = sysv_ipc_channel__send_lock(ch);
    uint32_t w = __atomic_load_n(&lock->word, __ATOMIC_RELAXED);
    uint64_t start = __atomic_load_n(&lock->holder_start, __ATOMIC_ACQUIRE);
    if (w == 0 || sysv_ipc_lock_word_corrupt(w) || start == 0) return;
    int64_t seen = owner_->HolderSeenAlive(w & SYSV_IPC_LOCK_PID_MASK, start, now);
    if (seen < 0) return;
    // What sysv_ipc_lock_holder_dead's look would have left: alive, with the
    // recorded start (no suspicion, past its window).
    lock_wait_.next_check_ns = seen + SYSV_IPC_LOCK_CHECK_NS;
    lock_wait_.suspect_since_ns = 0;
    lock_wait_.window_pid = 0;
  }

  std::shared_ptr<ChannelMapping> owner_;
  std::vector<uint8_t> storage_;
  ParkedNap nap_;
};

// Waits until the ring holds a message, and takes none: the message is
// taken on the JS thread, by the call that hands it to JavaScript (Take), so
// that a receive whose JavaScript is torn down meanwhile (worker.terminate())
// consumes nothing. A channel receive cannot give a message back (the ring
// has no way to put a record in front of the head), so it must not take what
// it may be unable to deliver.
class ChannelReadableCall : public BlockingCall {
 public:
  explicit ChannelReadableCall(std::shared_ptr<ChannelMapping> m) : mapping_(std::move(m)) {}
  int Attempt(const Deadline& deadline) override {
    for (;;) {
      if (sysv_ipc_channel__readable(&mapping_->ch, 0)) return 0;
      // 0 also after a nap or a wake that another consumer won: look again.
      int r = sysv_ipc_channel_wait_readable(&mapping_->ch, deadline.at_ns);
      if (r != 0) return r;
    }
  }
  bool KernelTimeout() const override { return true; }
  // The same steps as Attempt's sysv_ipc_channel_wait_readable, split where
  // it sleeps: every wake of data_seq follows an increment of it (a publish,
  // a removal), so a futex_waitv set loses none.
  bool Parkable() const override { return true; }
  int Arm(const Deadline& deadline, FutexPark* park) override {
    sysv_ipc_channel* ch = &mapping_->ch;
    if (nap_.Check(*mapping_) != 0) return EIDRM;
    for (;;) {
      if (sysv_ipc_channel__readable(ch, 0)) return 0;
      int64_t now = MonotonicNowNs();
      if (!deadline.None() && now >= deadline.at_ns) return ETIMEDOUT;
      uint32_t* word = nullptr;
      uint32_t seq = 0;
      int r = sysv_ipc_channel_arm_readable(ch, &word, &seq);
      if (r == 0) continue;  // readable after all: look again
      if (r != SYSV_IPC_CHANNEL__ARMED) return r;
      return nap_.Park(now, deadline, word, seq, -1, park);
    }
  }
  const char* Syscall() const override { return "channelReceive"; }
  // "Readable": lib/channel.ts then takes the message (chReceive, IPC_NOWAIT).
  CallResult Result(Napi::Env) override { return CallResult::Outcome(1); }

 private:
  std::shared_ptr<ChannelMapping> mapping_;
  ParkedNap nap_;
};

// ---- attach

// Attaches segment `id` and reads its header. Returns the mapping, or throws.
// With `created` (shmget IPC_CREAT|IPC_EXCL succeeded in this call) the blank
// header is written; otherwise nothing is written, ever (channel.h).
//
// A blank header may be a creator between its shmget and its header (an
// open-or-create race): that is worth a wait, but only when it can be one:
// the creator is another process that is alive and the segment is seconds
// young (up to ~3 s), or another thread of this one (a worker) is still
// creating (up to 10 s: on a loaded machine a worker can go without the CPU
// for over a second between its shmget and its header, and then the wait
// costs nothing but that worker's own delay). Anything else blank (a creator
// that died before its header, a segment that is no channel) is "not a
// channel" at once.
//
// Creates of this process that made their segment and have not written its
// header yet, in any thread: worker threads share the pid, so a segment of
// our own pid may be another worker's create in progress.
std::atomic<int> g_creates_in_progress{0};
constexpr int kOwnCreateWaitS = 10;

#ifdef SYSV_IPC_TEST_PROBES
// Test probe (channelOpenPauses): milliseconds a creator pauses between its
// shmget and its header, and an opener between a blank look at the header
// and its judgement of the creator, to put one thread's create in the
// other's window (test/channel/channel.test.ts).
std::atomic<int> g_pause_after_create_ms{0};
std::atomic<int> g_pause_after_blank_look_ms{0};
#endif

bool CreatorMayStillWrite(const struct shmid_ds& ds) {
  if (ds.shm_cpid == getpid()) {
    // Ours: only worth waiting for while one of our threads is creating.
    if (g_creates_in_progress.load(std::memory_order_seq_cst) == 0) return false;
    return time(nullptr) - ds.shm_ctime <= kOwnCreateWaitS;
  }
  if (time(nullptr) - ds.shm_ctime > 2) return false;
  uint64_t start;  // unknown (/proc could not tell) counts as alive: liveness.h
  return sysv_ipc_process_lookup(static_cast<pid_t>(ds.shm_cpid), &start) != ESRCH;
}

std::shared_ptr<ChannelMapping> AttachChannel(Napi::Env env, int id, bool created, uint64_t capacity,
                                              uint32_t max_message, bool read_only) {
  // shmat first, then IPC_STAT: the size must be that of the segment we
  // attached (an id removed and reused in between would name another one).
  void* addr = shmat(id, nullptr, read_only ? SHM_RDONLY : 0);
  if (addr == reinterpret_cast<void*>(-1)) ThrowErrno(env, errno, "shmat");
  struct shmid_ds ds;
  if (shmctl(id, IPC_STAT, &ds) < 0) {
    int err = errno;
    shmdt(addr);
    ThrowErrno(env, err, "shmctl");
  }
  uint64_t size = static_cast<uint64_t>(ds.shm_segsz);
  auto mapping = std::make_shared<ChannelMapping>(addr, size);
  int64_t give_up = MonotonicNowNs() + kOwnCreateWaitS * 1000000000LL;  // CreatorMayStillWrite bounds it further
  bool looked_after_judging = false;
  for (int i = 0;; i++) {
#ifdef SYSV_IPC_TEST_PROBES
    if (created && i == 0 && g_pause_after_create_ms.load() > 0) usleep(g_pause_after_create_ms.load() * 1000);
#endif
    int r = sysv_ipc_channel_init_or_attach(&mapping->ch, addr, size, capacity, max_message, id, created);
    if (r == 0) return mapping;
#ifdef SYSV_IPC_TEST_PROBES
    if (r == EAGAIN && g_pause_after_blank_look_ms.load() > 0) usleep(g_pause_after_blank_look_ms.load() * 1000);
#endif
    if (r == EAGAIN && MonotonicNowNs() < give_up && CreatorMayStillWrite(ds)) {
      if (i < 100)
        sched_yield();
      else
        usleep(1000);
      continue;
    }
    // Judged not to be written any more: look once more first. A creator of
    // this process that finished between our look and the judgement wrote its
    // header before it stopped counting: the count's decrement comes after the
    // header and releases it, and the judgement's load of the count acquires it.
    if (r == EAGAIN && !looked_after_judging) {
      looked_after_judging = true;
      continue;
    }
    if (r == EAGAIN) r = SYSV_IPC_CHANNEL_ENOTCHANNEL;
    ThrowErrno(env, r, "channelOpen");
  }
}

Napi::Value WrapMapping(Napi::Env env, ChannelRegistry* registry, std::shared_ptr<ChannelMapping> mapping, int id) {
  auto* h = new ChannelHandle();
  h->mapping = std::move(mapping);
  napi_value handle;
  if (napi_create_external(env, h, FinalizeHandle, nullptr, &handle) != napi_ok) {
    delete h;
    ThrowError(env, "sysv-ipc: cannot create the channel handle");
  }
  registry->Add(h);
  Napi::Object out = Napi::Object::New(env);
  out.Set("handle", Napi::Value(env, handle));
  out.Set("id", Napi::Number::New(env, id));
  out.Set("capacity", Napi::Number::New(env, static_cast<double>(h->mapping->ch.capacity)));
  out.Set("maxMessageSize", Napi::Number::New(env, h->mapping->ch.max_message));
  return out;
}

// ---- entry points

constexpr int kOpenCreate = 1;     // IPC_CREAT: open or create
constexpr int kOpenExclusive = 2;  // IPC_EXCL: create only

// chOpen(key, capacity, maxMessageSize, flags, mode) → { handle, id, capacity, maxMessageSize, created }
Napi::Value ChOpen(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  key_t key = ArgKey(info, 0);
  uint64_t capacity = static_cast<uint64_t>(
      ArgInteger(info, 1, "capacity", SYSV_IPC_CHANNEL_MIN_CAPACITY, kMaxSafeInteger - SYSV_IPC_CHANNEL_HEADER_SIZE));
  if (capacity % 8 != 0) ThrowRangeError(env, "The value of \"capacity\" is out of range. It must be a multiple of 8");
  uint32_t max_message = static_cast<uint32_t>(
      ArgInteger(info, 2, "maxMessageSize", 0,
                 std::min<int64_t>(UINT32_MAX, static_cast<int64_t>(sysv_ipc_channel_max_message_limit(capacity)))));
  int flags = ArgFlags(info, 3, kOpenCreate | kOpenExclusive);
  int mode = static_cast<int>(ArgInteger(info, 4, "mode", 0, 0777));
  bool created = false;
  int id = -1;
  size_t size = static_cast<size_t>(sysv_ipc_channel_segment_size(capacity));
  // Counted from before shmget, so that another thread of this process that
  // finds the segment blank waits for our header (CreatorMayStillWrite).
  struct CreateInProgress {
    bool counted = false;
    void Begin() {
      g_creates_in_progress.fetch_add(1, std::memory_order_seq_cst);
      counted = true;
    }
    void End() {
      if (counted) g_creates_in_progress.fetch_sub(1, std::memory_order_seq_cst);
      counted = false;
    }
    ~CreateInProgress() { End(); }
  } in_progress;
  if (flags & (kOpenCreate | kOpenExclusive)) {
    in_progress.Begin();
    id = shmget(key, size, IPC_CREAT | IPC_EXCL | mode);
    if (id >= 0) {
      created = true;
    } else {
      int err = errno;
      in_progress.End();  // not ours: an opener does not count (it would wait for itself)
      if (err != EEXIST || (flags & kOpenExclusive) || key == IPC_PRIVATE) ThrowErrno(env, err, "shmget");
    }
  }
  if (!created) {
    id = shmget(key, 0, 0);
    if (id < 0) ThrowErrno(env, errno, "shmget");
  }
  std::shared_ptr<ChannelMapping> mapping;
  try {
    mapping = AttachChannel(env, id, created, capacity, max_message, false);
  } catch (...) {
    if (created) shmctl(id, IPC_RMID, nullptr);  // leave no half-made segment behind
    throw;
  }
  Napi::Value out = WrapMapping(env, GetRegistry(info), std::move(mapping), id);
  out.As<Napi::Object>().Set("created", Napi::Boolean::New(env, created));
  return out;
}

// chAttach(id) → as chOpen (an existing channel only; nothing written).
Napi::Value ChAttach(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int id = ArgId(info, 0);
  auto mapping = AttachChannel(env, id, false, 0, 0, false);
  return WrapMapping(env, GetRegistry(info), std::move(mapping), id);
}

// chClose(handle) → whether it was open. The memory goes once parked calls let go.
Napi::Value ChClose(const Napi::CallbackInfo& info) {
  ChannelHandle* h = ArgHandle(info, 0);
  bool was = static_cast<bool>(h->mapping);
  if (was && !DetachView(info.Env(), h)) {
    new std::shared_ptr<ChannelMapping>(
        h->mapping);  // a view we could not detach: keep its memory mapped (leaked on purpose)
  }
  h->mapping.reset();
  return Napi::Boolean::New(info.Env(), was);
}

// chView(handle) → an ArrayBuffer over the whole segment, for the JavaScript
// hot path (lib/channel-ring.ts): the same object on every call. close()
// detaches it (every view of it becomes zero-length) before the handle lets
// go of the mapping, so no JavaScript reaches the memory after shmdt; where
// the detach fails, the mapping is kept until exit. lib/channel.ts keeps it
// in a #private field: user code cannot transfer it (a transferred backing
// store would escape the detach). A handle lost to GC without close() takes
// its Channel, and so every reference to the view, with it.
Napi::Value ChView(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  ChannelHandle* h = ArgHandle(info, 0);
  if (!h->mapping) ThrowChannelClosed(env);
  if (h->view != nullptr) {
    napi_value ab;
    if (napi_get_reference_value(env, h->view, &ab) == napi_ok && ab != nullptr) return Napi::Value(env, ab);
    ThrowChannelClosed(env);
  }
  napi_value ab;
  if (napi_create_external_arraybuffer(env, h->mapping->addr(), static_cast<size_t>(h->mapping->size()), nullptr,
                                       nullptr, &ab) != napi_ok) {
    if (env.IsExceptionPending()) env.GetAndClearPendingException();
    ThrowState(env, "ERR_SYSV_IPC_NO_EXTERNAL_BUFFERS", "This runtime does not allow external ArrayBuffers");
  }
  if (napi_create_reference(env, ab, 1, &h->view) != napi_ok) {
    napi_detach_arraybuffer(env, ab);
    h->view = nullptr;
    ThrowError(env, "sysv-ipc: cannot keep a reference to the channel's ArrayBuffer");
  }
  return Napi::Value(env, ab);
}

// chWake(handle, side): the FUTEX_WAKE of sysv_ipc_channel__wake, for a JS
// producer (side 0: data_seq) or consumer (side 1: space_seq) that found the
// sleep flag set, cleared it and moved the sequence itself.
Napi::Value ChWake(const Napi::CallbackInfo& info) {
  ChannelMapping& m = Attached(info, 0);
  int side = static_cast<int>(ArgInteger(info, 1, "side", 0, 1));
  size_t off = side == 0 ? SYSV_IPC_CHANNEL_OFF_DATA_SEQ : SYSV_IPC_CHANNEL_OFF_SPACE_SEQ;
  sysv_ipc_channel__futex(sysv_ipc_channel__u32(&m.ch, off), FUTEX_WAKE, INT_MAX, nullptr);
  return info.Env().Undefined();
}

// chUnlockSend(handle) → lock.h's release of the send lock (0, or its code),
// for a JS producer whose uncontended release found WAITERS set.
Napi::Value ChUnlockSend(const Napi::CallbackInfo& info) {
  ChannelMapping& m = Attached(info, 0);
  return Napi::Number::New(info.Env(), sysv_ipc_lock_release(sysv_ipc_channel__send_lock(&m.ch), &m.ch.self));
}

// A sync call's (flags, wait) pair: IPC_NOWAIT or not, then ParseWaitArg's argument.
WaitArg ParseChannelWait(const Napi::CallbackInfo& info, size_t flags_index) {
  bool nowait = (ArgFlags(info, flags_index, IPC_NOWAIT) & IPC_NOWAIT) != 0;
  return ParseWaitArg(info, flags_index + 1, nowait);
}

// offset and length of a part of `view`.
ByteView Slice(const Napi::CallbackInfo& info, ByteView view, size_t offset_index) {
  int64_t offset = ArgInteger(info, offset_index, "offset", 0, static_cast<int64_t>(view.length));
  int64_t length = ArgInteger(info, offset_index + 1, "length", 0, static_cast<int64_t>(view.length) - offset);
  return ByteView{view.data + offset, static_cast<size_t>(length)};
}

[[noreturn]] void ThrowTooLarge(Napi::Env env, size_t length, uint32_t max) {
  ThrowRangeError(env, "The message is " + std::to_string(length) + " bytes; this channel's maxMessageSize is " +
                           std::to_string(max));
}

// chSend(handle, data, offset, length, flags, wait) → true sent, false would block / timed out.
Napi::Value ChSend(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  ChannelMapping& m = Attached(info, 0);
  ByteView data = Slice(info, ArgBytes(info, 1, "data"), 2);
  WaitArg w = ParseChannelWait(info, 4);
  if (data.length > m.ch.max_message) ThrowTooLarge(env, data.length, m.ch.max_message);
  ChannelSendCall call(&m, data.data, data.length, kSyncSpinNs, w.nowait);
  int r = WaitSync(env, call, w);
  if (r == EAGAIN || r == ETIMEDOUT) return Napi::Boolean::New(env, false);
  if (r != 0) ThrowErrno(env, r, "channelSend");
  return Napi::Boolean::New(env, true);
}

// Addon::Terminating (addon.h), for a napi_env.
bool TerminationAsked(napi_env env) {
  auto* addon = Napi::Env(env).GetInstanceData<Addon>();
  return addon != nullptr && addon->Terminating();
}

// Takes the oldest message into `into`, on the JS thread, unless this
// thread's termination has been asked for (Addon::Terminating, addon.h): a
// channel cannot take a message back, so ECANCELED, with nothing taken.
// Asked once there is a message.
int Take(napi_env env, ChannelMapping& m, const ByteView& into, size_t* length) {
  if (!sysv_ipc_channel__readable(&m.ch, 0)) return EAGAIN;
  if (TerminationAsked(env)) return ECANCELED;
  return sysv_ipc_channel_try_receive(&m.ch, into.data, into.length, length);
}

// Take as a call that never blocks (EAGAIN: the ring is empty), for SpinNonBlocking.
class TakeCall : public BlockingCall {
 public:
  TakeCall(napi_env env, ChannelMapping& m, const ByteView& into, size_t* length)
      : env_(env), m_(m), into_(into), length_(length) {}
  int Attempt(const Deadline&) override { return Take(env_, m_, into_, length_); }
  const char* Syscall() const override { return "channelReceive"; }

 private:
  napi_env env_;
  ChannelMapping& m_;
  const ByteView& into_;
  size_t* length_;
};

// Takes a message into `into`: without waiting (`nowait`, after a spin of
// `spin_ns`), or until `deadline`. The blocking form waits for a message on
// this thread without taking it (ChannelReadableCall), then takes it here: a
// wait that worker.terminate() ends, or that a message reaches just as it
// ends, consumes nothing.
int ReceiveOnThisThread(Napi::Env env, ChannelHandle* h, const ByteView& into, bool nowait, int64_t spin_ns,
                        const Deadline& deadline, size_t* length) {
  ChannelMapping& m = *h->mapping;
  TakeCall take(env, m, into, length);
  int r = SpinNonBlocking(take, spin_ns);
  if (nowait) return r;
  while (r == EAGAIN) {
    int64_t left = -1;
    if (!deadline.None()) {
      left = deadline.at_ns - MonotonicNowNs();
      if (left <= 0) break;
    }
    ChannelReadableCall call(h->mapping);
    r = RunBlockingSync(env, call, left);
    // Readable: take it, unless another consumer was quicker (EAGAIN: wait again).
    if (r == 0) r = Take(env, m, into, length);
  }
  return r;
}

// chReceive(handle, into, flags, wait) → length, kReceiveWouldBlock (would
// block / timed out), or kReceiveTooLong - n when the message (n bytes) is longer than `into` (nothing consumed).
Napi::Value ChReceive(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  ChannelHandle* h = ArgHandle(info, 0);
  if (!h->mapping) ThrowChannelClosed(env);
  ByteView into = ArgBytes(info, 1, "into");
  WaitArg w = ParseChannelWait(info, 2);
  size_t length = 0;
  int r = ReceiveOnThisThread(env, h, into, w.nowait, w.nowait ? w.spin_ns : kSyncSpinNs,
                              Deadline::AfterNs(w.timeout_ns), &length);
  if (r == EAGAIN || r == ETIMEDOUT) return Napi::Number::New(env, kReceiveWouldBlock);
  if (r == EMSGSIZE) return Napi::Number::New(env, kReceiveTooLong - static_cast<double>(length));
  if (r != 0) ThrowErrno(env, r, "channelReceive");
  return Napi::Number::New(env, static_cast<double>(length));
}

// chReceiveBuffer(handle, flags, wait) → the message as a new Buffer, or null
// (would block / timed out). Made so that a worker being terminated loses
// nothing (see Take): the Buffer is made before the message is taken (its
// length learnt by a take into 0 bytes, which says EMSGSIZE and the length
// and takes nothing), so that nothing can fail after the take, and no
// JavaScript function runs between the take and the caller's next statement.
Napi::Value ChReceiveBuffer(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  ChannelHandle* h = ArgHandle(info, 0);
  if (!h->mapping) ThrowChannelClosed(env);
  WaitArg w = ParseChannelWait(info, 1);
  Deadline deadline = Deadline::AfterNs(w.timeout_ns);
  int64_t spin_ns = w.nowait ? w.spin_ns : kSyncSpinNs;
  uint8_t none = 0;
  for (;;) {
    size_t length = 0;
    int r = ReceiveOnThisThread(env, h, ByteView{&none, 0}, w.nowait, spin_ns, deadline, &length);
    spin_ns = 0;
    if (r == 0) return Napi::Buffer<uint8_t>::New(env, 0);  // an empty message, taken
    if (r == EAGAIN || r == ETIMEDOUT) return env.Null();
    if (r != EMSGSIZE) ThrowErrno(env, r, "channelReceive");
    // `length` <= maxMessageSize (the header bounds it): a bounded allocation.
    Napi::Buffer<uint8_t> out = Napi::Buffer<uint8_t>::New(env, length);
    size_t got = 0;
    r = sysv_ipc_channel_try_receive(&h->mapping->ch, out.Data(), length, &got);
    if (r == 0 && got == length) return out;
    // Another consumer was quicker, and the next message is shorter: ours
    // now, in a Buffer too long for it (a rare copy, made after the take).
    if (r == 0) return Napi::Buffer<uint8_t>::Copy(env, out.Data(), got);
    if (r != EAGAIN && r != EMSGSIZE) ThrowErrno(env, r, "channelReceive");
    // Another consumer took it: look again (a try form only once more).
  }
}

// chSendAsync(handle, data, offset, length, timeoutMs, waitId)
Napi::Value ChSendAsync(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  ChannelHandle* h = ArgHandle(info, 0);
  if (!h->mapping) ThrowChannelClosed(env);
  ByteView data = Slice(info, ArgBytes(info, 1, "data"), 2);
  int64_t timeout_ns = ArgTimeoutNs(info, 4, "timeout");
  uint64_t wait_id = ArgWaitId(info, 5);
  if (data.length > h->mapping->ch.max_message) ThrowTooLarge(env, data.length, h->mapping->ch.max_message);
  WaiterPool& pool = env.GetInstanceData<Addon>()->Pool(env);
  std::vector<uint8_t> copy(data.data, data.data + data.length);
  pool.Submit(env, wait_id, std::make_unique<OwnedChannelSendCall>(h->mapping, std::move(copy)),
              Deadline::AfterNs(timeout_ns));
  return env.Undefined();
}

// chReceiveAsync(handle, limit, timeoutMs, waitId): waits on a waiter thread
// until the ring holds a message, and reports "readable" (1) without taking
// it: lib/channel.ts takes it on the JS thread (chReceive with IPC_NOWAIT,
// into a buffer of `limit` bytes or the growing receive area) as it settles
// the wait, and parks again if another consumer took it first. `limit` is
// only validated here; the take applies it.
Napi::Value ChReceiveAsync(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  ChannelHandle* h = ArgHandle(info, 0);
  if (!h->mapping) ThrowChannelClosed(env);
  ArgInteger(info, 1, "limit", -1, kMaxSafeInteger);
  int64_t timeout_ns = ArgTimeoutNs(info, 2, "timeout");
  uint64_t wait_id = ArgWaitId(info, 3);
  WaiterPool& pool = env.GetInstanceData<Addon>()->Pool(env);
  pool.Submit(env, wait_id, std::make_unique<ChannelReadableCall>(h->mapping), Deadline::AfterNs(timeout_ns));
  return env.Undefined();
}

Napi::Object StatsObject(Napi::Env env, const sysv_ipc_channel& ch, const sysv_ipc_channel_stats& s) {
  Napi::Object out = Napi::Object::New(env);
  out.Set("capacity", Napi::Number::New(env, static_cast<double>(ch.capacity)));
  out.Set("maxMessageSize", Napi::Number::New(env, ch.max_message));
  out.Set("messages", Napi::Number::New(env, static_cast<double>(s.messages)));
  out.Set("bytes", Napi::Number::New(env, static_cast<double>(s.bytes)));
  out.Set("usedBytes", Napi::Number::New(env, static_cast<double>(s.used)));
  out.Set("countsExact", Napi::Boolean::New(env, s.counted == s.used));
  out.Set("removed", Napi::Boolean::New(env, sysv_ipc_channel_removed(&ch) != 0));
  return out;
}

// chStats(handle) → { capacity, maxMessageSize, messages, bytes, usedBytes, countsExact, removed }
// The walk is bounded (SYSV_IPC_CHANNEL_STATS_WALK records): it runs on the JS thread.
Napi::Value ChStats(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  ChannelMapping& m = Attached(info, 0);
  sysv_ipc_channel_stats s;
  int r = sysv_ipc_channel_stats_bounded(&m.ch, &s, SYSV_IPC_CHANNEL_STATS_WALK);
  if (r != 0) ThrowErrno(env, r, "channelInfo");
  return StatsObject(env, m.ch, s);
}

// chMarkRemoved(handle): wakes every sleeper in every process with EIDRM
// (the caller then does IPC_RMID).
Napi::Value ChMarkRemoved(const Napi::CallbackInfo& info) {
  ChannelMapping& m = Attached(info, 0);
  sysv_ipc_channel_mark_removed(&m.ch);
  return info.Env().Undefined();
}

// chPeek(id) → stats of the channel in segment `id`, attached read-only and
// detached again; null if the segment holds no channel; throws on attach
// errors (EACCES…) and ECORRUPT. For `sysv-ipc ls` / `stat`.
Napi::Value ChPeek(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int id = ArgId(info, 0);
  struct shmid_ds ds;
  if (shmctl(id, IPC_STAT, &ds) < 0) ThrowErrno(env, errno, "shmctl");
  if (static_cast<uint64_t>(ds.shm_segsz) < SYSV_IPC_CHANNEL_HEADER_SIZE + SYSV_IPC_CHANNEL_MIN_CAPACITY)
    return env.Null();
  void* addr = shmat(id, nullptr, SHM_RDONLY);
  if (addr == reinterpret_cast<void*>(-1)) ThrowErrno(env, errno, "shmat");
  // The size again, now that this segment is attached (the id cannot be reused under us any more).
  if (shmctl(id, IPC_STAT, &ds) < 0) {
    int err = errno;
    shmdt(addr);
    ThrowErrno(env, err, "shmctl");
  }
  uint64_t size = static_cast<uint64_t>(ds.shm_segsz);
  ChannelMapping mapping(addr, size);  // shmdt on the way out
  int r = sysv_ipc_channel_attach(&mapping.ch, addr, size, id);
  if (r == EAGAIN || r == SYSV_IPC_CHANNEL_ENOTCHANNEL) return env.Null();
  if (r != 0) ThrowErrno(env, r, "channelInfo");
  sysv_ipc_channel_stats s;
  r = sysv_ipc_channel_stats_bounded(&mapping.ch, &s, SYSV_IPC_CHANNEL_STATS_WALK);
  if (r != 0) ThrowErrno(env, r, "channelInfo");
  return StatsObject(env, mapping.ch, s);
}

#ifdef SYSV_IPC_TEST_PROBES
// channelOpenPauses(afterCreateMs, afterBlankLookMs): see g_pause_after_create_ms.
Napi::Value ChannelOpenPauses(const Napi::CallbackInfo& info) {
  g_pause_after_create_ms.store(static_cast<int>(ArgInteger(info, 0, "afterCreateMs", 0, 10000)));
  g_pause_after_blank_look_ms.store(static_cast<int>(ArgInteger(info, 1, "afterBlankLookMs", 0, 10000)));
  return info.Env().Undefined();
}
#endif

#ifdef SYSV_IPC_TEST_PROBES
// Test probe: open channel handles of this environment (leak tests).
Napi::Value ChLiveHandles(const Napi::CallbackInfo& info) {
  size_t n = 0;
  for (ChannelHandle* h : GetRegistry(info)->live()) n += h->mapping ? 1 : 0;
  return Napi::Number::New(info.Env(), static_cast<double>(n));
}
#endif

}  // namespace

// Environment teardown (Addon::Cleanup, after the waiter threads are joined):
// drop every open handle's share of its mapping. Handles' finalizers run
// later and find their registry null.
void ReleaseChannels(ChannelRegistry& registry) {
  registry.ReleaseAll([](ChannelHandle* h) { h->mapping.reset(); });
}

void RegisterChannel(Napi::Env env, Napi::Object exports, Napi::Object constants, ChannelRegistry* registry) {
  Export(env, exports,
         {
             {"chOpen", ChOpen},
             {"chAttach", ChAttach},
             {"chClose", ChClose},
             {"chSend", ChSend},
             {"chReceive", ChReceive},
             {"chReceiveBuffer", ChReceiveBuffer},
             {"chSendAsync", ChSendAsync},
             {"chReceiveAsync", ChReceiveAsync},
             {"chStats", ChStats},
             {"chMarkRemoved", ChMarkRemoved},
             {"chPeek", ChPeek},
             {"chView", ChView},
             {"chWake", ChWake},
             {"chUnlockSend", ChUnlockSend},
#ifdef SYSV_IPC_TEST_PROBES
             {"chLiveHandles", ChLiveHandles},
             {"channelOpenPauses", ChannelOpenPauses},
#endif
         },
         registry);
  constants.Set("CHANNEL_HEADER_SIZE", Napi::Number::New(env, SYSV_IPC_CHANNEL_HEADER_SIZE));
  constants.Set("CHANNEL_MIN_CAPACITY", Napi::Number::New(env, SYSV_IPC_CHANNEL_MIN_CAPACITY));
  constants.Set("CHANNEL_RECORD_HEADER", Napi::Number::New(env, SYSV_IPC_CHANNEL_RECORD_HEADER));
  constants.Set("CHANNEL_STATS_WALK", Napi::Number::New(env, SYSV_IPC_CHANNEL_STATS_WALK));
  SetChannelErrnos(env, constants);
}

#else  // no futex (platform.h): the entry points say so

struct ChannelHandle {
  HandleRegistry<ChannelHandle>* registry = nullptr;
};

void ReleaseChannels(ChannelRegistry& registry) {
  registry.ReleaseAll([](ChannelHandle*) {});
}

void RegisterChannel(Napi::Env env, Napi::Object exports, Napi::Object constants, ChannelRegistry*) {
  Export(env, exports,
         {{"chOpen", UnavailableEntryPoint},
          {"chAttach", UnavailableEntryPoint},
          {"chClose", UnavailableEntryPoint},
          {"chSend", UnavailableEntryPoint},
          {"chReceive", UnavailableEntryPoint},
          {"chReceiveBuffer", UnavailableEntryPoint},
          {"chSendAsync", UnavailableEntryPoint},
          {"chReceiveAsync", UnavailableEntryPoint},
          {"chStats", UnavailableEntryPoint},
          {"chMarkRemoved", UnavailableEntryPoint},
          {"chPeek", UnavailableEntryPoint}},
         const_cast<char*>("Channel"));
  SetChannelErrnos(env, constants);
}

#endif

}  // namespace sysv_ipc
