// Semaphore sets: semget, semop/semtimedop, semctl.
//
// Each entry point validates its arguments, makes the syscall and returns
// plain values; lib/semaphore-set.ts gives them their shape. Operations cross
// the boundary as one flat Int32Array of [index, delta, flags] triples, so a
// semop costs one typed-array read rather than n object walks.
#include <errno.h>
#include <sys/ipc.h>
#include <sys/sem.h>
#include <sys/types.h>

#include <atomic>
#include <climits>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "addon.h"
#include "arguments.h"
#include "blocking.h"
#include "errors.h"
#include "ipc_common.h"
#include "waiter_pool.h"

namespace sysv_ipc {

namespace {

// semctl(2): "the calling program must define this union".
union semun {
  int val;
  struct semid_ds* buf;
  unsigned short* array;
#ifdef __linux__
  struct seminfo* __buf;
#endif
};

// The largest semaphore value (Linux and the BSDs: 32767; sem_op is a short).
#ifdef SEMVMX
constexpr int kSemVmx = SEMVMX;
#else
constexpr int kSemVmx = 32767;
#endif

// Ops in one call when the kernel cannot tell us (SEMOPM in <linux/sem.h>).
constexpr int64_t kDefaultSemOpm = 500;
// Sync calls with up to this many ops use a stack array.
constexpr size_t kStackOps = 16;

struct Limits {
  int64_t semmsl = 32000;  // members per set
  int64_t semmns = 1024000000;
  int64_t semopm = kDefaultSemOpm;  // ops per semop call
  int64_t semmni = 32000;           // sets system-wide
  int64_t semvmx = kSemVmx;
  int64_t semaem = kSemVmx;
};

// The kernel's limits, read fresh (semctl IPC_INFO on Linux; compiled-in values elsewhere).
Limits ReadLimits() {
  Limits l;
#if defined(__linux__) && defined(IPC_INFO)
  struct seminfo si;
  union semun arg;
  arg.__buf = &si;
  if (semctl(0, 0, IPC_INFO, arg) >= 0) {
    l.semmsl = si.semmsl;
    l.semmns = si.semmns;
    l.semopm = si.semopm;
    l.semmni = si.semmni;
    l.semvmx = si.semvmx;
    l.semaem = si.semaem;
  }
#endif
  return l;
}

// SEMOPM as last read. Tunable at run time (/proc/sys/kernel/sem), so a count
// above it is checked again against a fresh read before being refused.
std::atomic<int64_t> g_semopm{-1};

int64_t SemOpm(bool fresh) {
  int64_t v = g_semopm.load(std::memory_order_relaxed);
  if (v < 0 || fresh) {
    v = ReadLimits().semopm;
    g_semopm.store(v, std::memory_order_relaxed);
  }
  return v;
}

int64_t ArgInt32ArrayLength(const Napi::CallbackInfo& info, size_t index, const char* name, Napi::Int32Array* out) {
  Napi::Value v = index < info.Length() ? info[index] : info.Env().Undefined();
  if (!v.IsTypedArray() || v.As<Napi::TypedArray>().TypedArrayType() != napi_int32_array) {
    ThrowTypeError(info.Env(), std::string("The \"") + name + "\" argument must be an instance of Int32Array");
  }
  *out = v.As<Napi::Int32Array>();
  return static_cast<int64_t>(out->ElementLength());
}

// The ops argument: [index, delta, flags] * n, copied into `ops` (validated:
// index fits sem_num, |delta| <= SEMVMX, flags only SEM_UNDO, 1 <= n <= SEMOPM).
// `extra_flags` (IPC_NOWAIT) is added to every op: semop(2) blocks unless the
// op that cannot proceed has IPC_NOWAIT, so it must be on all of them.
void ParseOps(const Napi::CallbackInfo& info, size_t index, int extra_flags, sembuf* ops, size_t capacity,
              size_t* count, std::vector<sembuf>* heap) {
  Napi::Env env = info.Env();
  Napi::Int32Array array;
  int64_t length = ArgInt32ArrayLength(info, index, "ops", &array);
  if (length == 0 || length % 3 != 0) {
    ThrowRangeError(env, "The \"ops\" argument must hold 1 or more [index, delta, flags] triples");
  }
  int64_t n = length / 3;
  if (n > SemOpm(false) && n > SemOpm(true)) {
    ThrowRangeError(env, "The number of operations is out of range. It must be <= SEMOPM (" +
                             std::to_string(SemOpm(false)) + "). Received " + std::to_string(n));
  }
  if (array.Data() == nullptr) ThrowTypeError(env, "The \"ops\" argument is detached");
  if (static_cast<size_t>(n) > capacity) {
    heap->resize(static_cast<size_t>(n));
    ops = heap->data();
  }
  const int32_t* src = array.Data();
  for (int64_t i = 0; i < n; i++) {
    int32_t sem_num = src[i * 3];
    int32_t delta = src[i * 3 + 1];
    int32_t flags = src[i * 3 + 2];
    if (sem_num < 0 || sem_num > USHRT_MAX) {
      ThrowRangeError(env, "The value of \"ops[" + std::to_string(i) +
                               "].index\" is out of range. It must be >= 0 and <= " + std::to_string(USHRT_MAX) +
                               ". Received " + std::to_string(sem_num));
    }
    if (delta < -kSemVmx || delta > kSemVmx) {
      ThrowRangeError(env, "The value of \"ops[" + std::to_string(i) +
                               "].delta\" is out of range. It must be >= " + std::to_string(-kSemVmx) +
                               " and <= " + std::to_string(kSemVmx) + ". Received " + std::to_string(delta));
    }
    if ((flags & ~SEM_UNDO) != 0) {
      ThrowRangeError(
          env, "The value of \"ops[" + std::to_string(i) + "].flags\" is out of range. It may only hold SEM_UNDO");
    }
    ops[i].sem_num = static_cast<unsigned short>(sem_num);
    ops[i].sem_op = static_cast<short>(delta);
    ops[i].sem_flg = static_cast<short>(flags | extra_flags);
  }
  *count = static_cast<size_t>(n);
}

class SemOpCall : public BlockingCall {
 public:
  SemOpCall(int id, sembuf* ops, size_t count, bool nowait) : id_(id), ops_(ops), count_(count), nowait_(nowait) {}

#ifdef HAVE_SEMTIMEDOP
  // semtimedop(2) keeps the deadline in the kernel: no timer, no polling. It
  // reports an expired timeout as EAGAIN, which only IPC_NOWAIT may mean here.
  int Attempt(const Deadline& deadline) override {
    int r;
    if (deadline.None()) {
      r = semop(id_, ops_, count_);
    } else {
      timespec left = deadline.Remaining();
      r = semtimedop(id_, ops_, count_, &left);
    }
    if (r == 0) return 0;
    int err = errno;
    if (err == EAGAIN && !nowait_) return ETIMEDOUT;
    return err;
  }
  bool KernelTimeout() const override { return true; }
#else
  // No semtimedop: plain semop, and RunBlocking's thread timer interrupts it
  // at the deadline (EINTR → ETIMEDOUT once the deadline has passed); without
  // a timer, RunBlocking polls with IPC_NOWAIT (EAGAIN: would block).
  int Attempt(const Deadline&) override { return semop(id_, ops_, count_) == 0 ? 0 : errno; }
  void SetNonBlocking() override {
    for (size_t i = 0; i < count_; i++) ops_[i].sem_flg |= IPC_NOWAIT;
  }
  int AttemptNow() override {
    if (nowait_) return Attempt(Deadline());
    SetNonBlocking();
    int err = semop(id_, ops_, count_) == 0 ? 0 : errno;
    for (size_t i = 0; i < count_; i++) ops_[i].sem_flg &= static_cast<short>(~IPC_NOWAIT);
    return err;
  }
#endif
  // One name for semop and semtimedop: the error is about the operation.
  const char* Syscall() const override { return "semop"; }

  // The operation was done but can reach no JavaScript (a lock taken while
  // its worker was ending, by a sync or an async wait): apply its inverse,
  // with the same SEM_UNDO flags so that the undo adjustments cancel out too.
  // Waits for zero have nothing to give back; an inverse that would block
  // (someone took the units since) is left undone.
  void Undo() override {
    std::vector<sembuf> inverse;
    for (size_t i = 0; i < count_; i++) {
      const sembuf& op = ops_[i];
      if (op.sem_op == 0) continue;
      sembuf back = op;
      back.sem_op = static_cast<short>(-op.sem_op);
      back.sem_flg = static_cast<short>((op.sem_flg & SEM_UNDO) | IPC_NOWAIT);
      inverse.push_back(back);
    }
    if (!inverse.empty()) semop(id_, inverse.data(), inverse.size());
  }

 protected:
  int id_;
  sembuf* ops_;
  size_t count_;
  bool nowait_;
};

// The async form owns its ops: the JS array may change while the thread waits.
class OwnedSemOpCall : public SemOpCall {
 public:
  OwnedSemOpCall(int id, std::vector<sembuf> ops, bool nowait)
      : SemOpCall(id, nullptr, ops.size(), nowait), storage_(std::move(ops)) {
    ops_ = storage_.data();
  }

 private:
  std::vector<sembuf> storage_;
};

int ArgSemIndex(const Napi::CallbackInfo& info, size_t index) {
  return static_cast<int>(ArgInteger(info, index, "index", 0, USHRT_MAX));
}

int ArgSemNowaitFlags(const Napi::CallbackInfo& info, size_t index) { return ArgFlags(info, index, IPC_NOWAIT); }

// ---- entry points

Napi::Value SemGet(const Napi::CallbackInfo& info) {
  key_t key = ArgKey(info, 0);
  int nsems = static_cast<int>(ArgInteger(info, 1, "size", 0, INT_MAX));
  int flags = ArgFlags(info, 2, IPC_CREAT | IPC_EXCL | 0777);
  int id = semget(key, nsems, flags);
  if (id < 0) ThrowErrno(info.Env(), errno, "semget");
  return Napi::Number::New(info.Env(), id);
}

// semop(id, ops, flags, timeoutMs, spinNs?): true when done; false when
// IPC_NOWAIT was given and it would have blocked (nothing changed: semop is
// all or nothing). With IPC_NOWAIT, spinNs retries that long first. (Its
// timeout and spin are two arguments, not semopOne's one: lib/semaphore's
// callers pass them so; the wait itself is the one WaitSync.)
Napi::Value SemOp(const Napi::CallbackInfo& info) {
  int id = ArgId(info, 0);
  int flags = ArgSemNowaitFlags(info, 2);
  int64_t timeout_ns = ArgTimeoutNs(info, 3, "timeout");
  int64_t spin_ns = ArgOptionalInteger(info, 4, "spinNs", 0, kMaxSpinNs, 0);
  sembuf stack_ops[kStackOps];
  std::vector<sembuf> heap;
  size_t count = 0;
  ParseOps(info, 1, flags, stack_ops, kStackOps, &count, &heap);
  sembuf* ops = heap.empty() ? stack_ops : heap.data();
  bool nowait = (flags & IPC_NOWAIT) != 0;
  SemOpCall call(id, ops, count, nowait);
  int err = WaitSync(info.Env(), call, nowait ? WaitArg::Spin(spin_ns) : WaitArg::Timeout(timeout_ns));
  if (err == EAGAIN && nowait) return Napi::Boolean::New(info.Env(), false);
  if (err != 0) ThrowErrno(info.Env(), err, call.Syscall());
  return Napi::Boolean::New(info.Env(), true);
}

// semopOne(args: ArrayBuffer of float64s [id, index, delta, flags, wait]):
// one operation on one member, its numbers in one buffer (NumberArgs): the
// uncontended acquire/release path of Semaphore (release, tryAcquire,
// acquireSync), where unpacking a typed array of operations, or each number
// as an argument, costs more than the rest of the call. `wait` is the spin in
// ns with IPC_NOWAIT, else the timeout in ms (-1: none). true when done;
// false when IPC_NOWAIT was given and it would have blocked.
Napi::Value SemOpOne(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  NumberArgs a(info, 0, 5);
  int id = NumberId(a, 0);
  sembuf op;
  op.sem_num = static_cast<unsigned short>(a.Integer(1, "index", 0, USHRT_MAX));
  op.sem_op = static_cast<short>(a.Integer(2, "delta", -kSemVmx, kSemVmx));
  int flags = NumberFlags(env, a, 3, IPC_NOWAIT | SEM_UNDO);
  op.sem_flg = static_cast<short>(flags);
  bool nowait = (flags & IPC_NOWAIT) != 0;
  WaitArg wait =
      nowait ? WaitArg::Spin(a.Integer(4, "spinNs", 0, kMaxSpinNs)) : WaitArg::Timeout(a.TimeoutNs(4, "timeout"));
  SemOpCall call(id, &op, 1, nowait);
  int err = WaitSync(env, call, wait);
  if (err == EAGAIN && nowait) return Napi::Boolean::New(env, false);
  if (err != 0) ThrowErrno(env, err, "semop");
  return Napi::Boolean::New(env, true);
}

Napi::Value SemOpAsync(const Napi::CallbackInfo& info) {
  int id = ArgId(info, 0);
  int flags = ArgSemNowaitFlags(info, 2);
  int64_t timeout_ns = ArgTimeoutNs(info, 3, "timeout");
  uint64_t wait_id = ArgWaitId(info, 4);
  std::vector<sembuf> ops(kStackOps);
  size_t count = 0;
  std::vector<sembuf> heap;
  ParseOps(info, 1, flags, ops.data(), kStackOps, &count, &heap);
  if (!heap.empty()) ops = std::move(heap);
  ops.resize(count);
  WaiterPool& pool = info.Env().GetInstanceData<Addon>()->Pool(info.Env());
  pool.Submit(info.Env(), wait_id, std::make_unique<OwnedSemOpCall>(id, std::move(ops), (flags & IPC_NOWAIT) != 0),
              Deadline::AfterNs(timeout_ns));
  return info.Env().Undefined();
}

int SemCtlInt(Napi::Env env, int id, int index, int cmd) {
  int r = semctl(id, index, cmd);
  if (r < 0) ThrowErrno(env, errno, "semctl");
  return r;
}

Napi::Value SemGetValue(const Napi::CallbackInfo& info) {
  int id = ArgId(info, 0);
  int index = ArgSemIndex(info, 1);
  return Napi::Number::New(info.Env(), SemCtlInt(info.Env(), id, index, GETVAL));
}

Napi::Value SemSetValue(const Napi::CallbackInfo& info) {
  int id = ArgId(info, 0);
  int index = ArgSemIndex(info, 1);
  int value = static_cast<int>(ArgInteger(info, 2, "value", 0, kSemVmx));
  union semun arg;
  arg.val = value;
  if (semctl(id, index, SETVAL, arg) < 0) ThrowErrno(info.Env(), errno, "semctl");
  return info.Env().Undefined();
}

// GETVAL, GETPID, GETNCNT, GETZCNT of one member.
Napi::Value SemMember(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int id = ArgId(info, 0);
  int index = ArgSemIndex(info, 1);
  Napi::Object out = Napi::Object::New(env);
  out.Set("value", Napi::Number::New(env, SemCtlInt(env, id, index, GETVAL)));
  out.Set("lastPid", Napi::Number::New(env, SemCtlInt(env, id, index, GETPID)));
  out.Set("waitingForNonZero", Napi::Number::New(env, SemCtlInt(env, id, index, GETNCNT)));
  out.Set("waitingForZero", Napi::Number::New(env, SemCtlInt(env, id, index, GETZCNT)));
  return out;
}

size_t SetSize(Napi::Env env, int id) {
  struct semid_ds ds;
  union semun arg;
  arg.buf = &ds;
  if (semctl(id, 0, IPC_STAT, arg) < 0) ThrowErrno(env, errno, "semctl");
  return static_cast<size_t>(ds.sem_nsems);
}

Napi::Value SemGetAll(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int id = ArgId(info, 0);
  size_t n = SetSize(env, id);
  std::vector<unsigned short> values(n > 0 ? n : 1);
  union semun arg;
  arg.array = values.data();
  if (semctl(id, 0, GETALL, arg) < 0) ThrowErrno(env, errno, "semctl");
  Napi::Array out = Napi::Array::New(env, n);
  for (size_t i = 0; i < n; i++) out.Set(static_cast<uint32_t>(i), Napi::Number::New(env, values[i]));
  return out;
}

// SETALL reads sem_nsems values from the buffer: the length must match the
// set's size exactly, or the kernel would read past the caller's array.
Napi::Value SemSetAll(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int id = ArgId(info, 0);
  Napi::Int32Array array;
  int64_t length = ArgInt32ArrayLength(info, 1, "values", &array);
  for (int64_t i = 0; i < length; i++) {
    int32_t v = array[static_cast<size_t>(i)];
    if (v < 0 || v > kSemVmx) {
      ThrowRangeError(env, "The value of \"values[" + std::to_string(i) +
                               "]\" is out of range. It must be >= 0 and <= " + std::to_string(kSemVmx) +
                               ". Received " + std::to_string(v));
    }
  }
  size_t n = SetSize(env, id);
  if (static_cast<size_t>(length) != n) {
    ThrowRangeError(env, "The \"values\" argument must hold one value per member (" + std::to_string(n) +
                             "). Received " + std::to_string(length));
  }
  std::vector<unsigned short> values(n > 0 ? n : 1);
  for (size_t i = 0; i < n; i++) values[i] = static_cast<unsigned short>(array[i]);
  union semun arg;
  arg.array = values.data();
  if (semctl(id, 0, SETALL, arg) < 0) ThrowErrno(env, errno, "semctl");
  return env.Undefined();
}

Napi::Value SemStat(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int id = ArgId(info, 0);
  struct semid_ds ds;
  union semun arg;
  arg.buf = &ds;
  if (semctl(id, 0, IPC_STAT, arg) < 0) ThrowErrno(env, errno, "semctl");
  Napi::Object out = Napi::Object::New(env);
  SetPermFields(env, out, ds.sem_perm);
  out.Set("size", Napi::Number::New(env, static_cast<double>(ds.sem_nsems)));
  out.Set("lastOpTime", Napi::Number::New(env, static_cast<double>(ds.sem_otime)));
  out.Set("lastChangeTime", Napi::Number::New(env, static_cast<double>(ds.sem_ctime)));
  return out;
}

Napi::Value SemSet(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int id = ArgId(info, 0);
  int64_t mode = ArgOptionalField(info, 1, "mode", 0777);
  int64_t uid = ArgOptionalField(info, 2, "uid", 0xfffffffeLL);
  int64_t gid = ArgOptionalField(info, 3, "gid", 0xfffffffeLL);
  struct semid_ds ds;
  union semun arg;
  arg.buf = &ds;
  if (semctl(id, 0, IPC_STAT, arg) < 0) ThrowErrno(env, errno, "semctl");
  if (mode >= 0) ds.sem_perm.mode = static_cast<decltype(ds.sem_perm.mode)>((ds.sem_perm.mode & ~0777) | mode);
  if (uid >= 0) ds.sem_perm.uid = static_cast<uid_t>(uid);
  if (gid >= 0) ds.sem_perm.gid = static_cast<gid_t>(gid);
  if (semctl(id, 0, IPC_SET, arg) < 0) ThrowErrno(env, errno, "semctl");
  return env.Undefined();
}

Napi::Value SemRemove(const Napi::CallbackInfo& info) {
  int id = ArgId(info, 0);
  if (semctl(id, 0, IPC_RMID) < 0) ThrowErrno(info.Env(), errno, "semctl");
  return info.Env().Undefined();
}

Napi::Value SemLimits(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Limits l = ReadLimits();
  g_semopm.store(l.semopm, std::memory_order_relaxed);
  Napi::Object out = Napi::Object::New(env);
  out.Set("SEMMSL", Napi::Number::New(env, static_cast<double>(l.semmsl)));
  out.Set("SEMMNS", Napi::Number::New(env, static_cast<double>(l.semmns)));
  out.Set("SEMOPM", Napi::Number::New(env, static_cast<double>(l.semopm)));
  out.Set("SEMMNI", Napi::Number::New(env, static_cast<double>(l.semmni)));
  out.Set("SEMVMX", Napi::Number::New(env, static_cast<double>(l.semvmx)));
  out.Set("SEMAEM", Napi::Number::New(env, static_cast<double>(l.semaem)));
  return out;
}

}  // namespace

void RegisterSemaphore(Napi::Env env, Napi::Object exports, Napi::Object constants) {
  Export(env, exports,
         {
             {"semget", SemGet},
             {"semop", SemOp},
             {"semopOne", SemOpOne},
             {"semopAsync", SemOpAsync},
             {"semGetValue", SemGetValue},
             {"semSetValue", SemSetValue},
             {"semMember", SemMember},
             {"semGetAll", SemGetAll},
             {"semSetAll", SemSetAll},
             {"semStat", SemStat},
             {"semSet", SemSet},
             {"semRemove", SemRemove},
             {"semLimits", SemLimits},
         });

  constants.Set("SEM_UNDO", Napi::Number::New(env, SEM_UNDO));
  constants.Set("SEMVMX", Napi::Number::New(env, kSemVmx));
#ifdef HAVE_SEMTIMEDOP
  constants.Set("HAVE_SEMTIMEDOP", Napi::Boolean::New(env, true));
#else
  constants.Set("HAVE_SEMTIMEDOP", Napi::Boolean::New(env, false));
#endif
}

}  // namespace sysv_ipc
