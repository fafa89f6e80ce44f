// Message queues: msgget, msgsnd, msgrcv, msgctl.
//
// Each entry point validates its arguments, makes the syscall and returns
// plain values; lib/message-queue.ts gives them their shape.
#include <errno.h>
#include <sys/ipc.h>
#include <sys/msg.h>

#include <climits>
#include <cmath>
#include <cstring>
#include <memory>
#include <vector>

#include "addon.h"
#include "arguments.h"
#include "blocking.h"
#include "errors.h"
#include "ipc_common.h"
#include "results.h"
#include "waiter_pool.h"
#include "watchdog.h"

namespace sysv_ipc {

namespace {

#ifdef HAVE_MSG_EXCEPT
constexpr int kMsgExcept = MSG_EXCEPT;
#else
constexpr int kMsgExcept = 0;
#endif

// mtype is a C long; JavaScript numbers are exact up to 2^53 - 1.
constexpr int64_t kMaxType =
    (static_cast<int64_t>(LONG_MAX) < 9007199254740991LL) ? static_cast<int64_t>(LONG_MAX) : 9007199254740991LL;
// The kernel caps a message at msgmax (at most INT_MAX): a bigger request is an error here.
constexpr int64_t kMaxSize = INT_MAX;
// Sync receive buffers up to this size are kept per thread and reused.
constexpr size_t kKeptBufferSize = 1 << 20;

// A message as msgsnd/msgrcv want it: struct msgbuf { long mtype; char mtext[]; }.
constexpr size_t kHeader = sizeof(long);

class MsgSendCall : public BlockingCall {
 public:
  MsgSendCall(int id, char* message, size_t size, int flags) : id_(id), message_(message), size_(size), flags_(flags) {}
  int Attempt(const Deadline&) override { return Send(flags_); }
  int AttemptNow() override { return Send(flags_ | IPC_NOWAIT); }
  void SetNonBlocking() override { flags_ |= IPC_NOWAIT; }
  const char* Syscall() const override { return "msgsnd"; }

 protected:
  int Send(int flags) { return msgsnd(id_, message_, size_, flags) == 0 ? 0 : errno; }
  int id_;
  char* message_;  // header + body
  size_t size_;    // body size
  int flags_;
};

// The async form owns a copy of the message: the JS buffer may change or go away.
class OwnedMsgSendCall : public MsgSendCall {
 public:
  OwnedMsgSendCall(int id, std::vector<char> message, size_t size, int flags)
      : MsgSendCall(id, nullptr, size, flags), storage_(std::move(message)) {
    message_ = storage_.data();
  }

 private:
  std::vector<char> storage_;
};

class MsgReceiveCall : public BlockingCall {
 public:
  MsgReceiveCall(int id, char* buffer, size_t max_size, long type, int flags)
      : id_(id), buffer_(buffer), max_size_(max_size), type_(type), flags_(flags) {}
  int Attempt(const Deadline&) override { return Receive(flags_); }
  int AttemptNow() override { return Receive(flags_ | IPC_NOWAIT); }
  void SetNonBlocking() override { flags_ |= IPC_NOWAIT; }
  const char* Syscall() const override { return "msgrcv"; }
  size_t received() const { return received_; }
  // The message was taken but can reach no JavaScript: put it back. It goes
  // to the end of the queue (msgsnd cannot insert), and is lost only if the
  // queue is full or gone by then.
  void Undo() override { msgsnd(id_, buffer_, received_, IPC_NOWAIT); }
  long type() const {
    long t;
    memcpy(&t, buffer_, sizeof t);
    return t;
  }
  const char* body() const { return buffer_ + kHeader; }

 protected:
  int Receive(int flags) {
    ssize_t n = msgrcv(id_, buffer_, max_size_, type_, flags);
    if (n < 0) return errno;
    received_ = static_cast<size_t>(n);
    return 0;
  }
  int id_;
  char* buffer_;
  size_t max_size_;
  long type_;
  int flags_;
  size_t received_ = 0;
};

class OwnedMsgReceiveCall : public MsgReceiveCall {
 public:
  OwnedMsgReceiveCall(int id, size_t max_size, long type, int flags)
      : MsgReceiveCall(id, nullptr, max_size, type, flags), storage_(new char[kHeader + max_size]) {
    buffer_ = storage_.get();
  }
  // A type above 2^53 - 1 (a C sender) has no exact double: then the whole
  // message goes to JavaScript, header included, and the type is NaN
  // (lib/message-queue.ts reads the type from the header).
  CallResult Result(Napi::Env env) override {
    if (!SafeType())
      return CallResult::Message(Napi::Buffer<char>::Copy(env, buffer_, kHeader + received()), std::nan(""));
    return CallResult::Message(Napi::Buffer<char>::Copy(env, body(), received()), static_cast<double>(type()));
  }
  bool SafeType() const { return static_cast<int64_t>(type()) <= kMaxSafeInteger; }

 private:
  std::unique_ptr<char[]> storage_;
};

// Buffer for synchronous calls on this thread, grown on demand.
char* ThreadBuffer(size_t bytes, std::unique_ptr<char[]>& oversized) {
  thread_local std::vector<char> kept;
  if (bytes > kKeptBufferSize + kHeader) {
    oversized.reset(new char[bytes]);
    return oversized.get();
  }
  if (kept.size() < bytes) kept.resize(bytes);
  return kept.data();
}

struct SendArgs {
  int id;
  ByteView body;
  long type;
  int flags;
  WaitArg wait;
};

// (args: ArrayBuffer of float64s [id, type, flags, wait] (NumberArgs), data).
// `wait`: the sync form's spin in ns with IPC_NOWAIT, else a timeout in ms;
// always a timeout for the async form (`async`).
SendArgs ParseSend(const Napi::CallbackInfo& info, bool async = false) {
  NumberArgs n(info, 0, 4);
  SendArgs a;
  a.id = NumberId(n, 0);
  a.type = static_cast<long>(n.Integer(1, "type", 1, kMaxType));
  a.flags = NumberFlags(info.Env(), n, 2, IPC_NOWAIT);
  a.wait = (a.flags & IPC_NOWAIT) != 0 && !async ? WaitArg::Spin(n.Integer(3, "spinNs", 0, kMaxSpinNs))
                                                 : WaitArg::Timeout(n.TimeoutNs(3, "timeout"));
  a.body = ArgBytes(info, 1, "data");
  return a;
}

void FillMessage(char* out, const SendArgs& a) {
  memcpy(out, &a.type, kHeader);
  if (a.body.length > 0) memcpy(out + kHeader, a.body.data, a.body.length);
}

struct ReceiveArgs {
  int id;
  size_t max_size;
  long type;
  int flags;
  WaitArg wait;
};

// (args: ArrayBuffer of float64s [id, maxSize, type, flags, wait] (NumberArgs), ...); `wait` as ParseSend's.
ReceiveArgs ParseReceive(const Napi::CallbackInfo& info, bool async = false) {
  NumberArgs n(info, 0, 5);
  ReceiveArgs a;
  a.id = NumberId(n, 0);
  a.max_size = static_cast<size_t>(n.Integer(1, "maxSize", 0, kMaxSize));
  a.type = static_cast<long>(n.Integer(2, "type", -kMaxType, kMaxType));
  a.flags = NumberFlags(info.Env(), n, 3, IPC_NOWAIT | MSG_NOERROR | kMsgExcept);
  a.wait = (a.flags & IPC_NOWAIT) != 0 && !async ? WaitArg::Spin(n.Integer(4, "spinNs", 0, kMaxSpinNs))
                                                 : WaitArg::Timeout(n.TimeoutNs(4, "timeout"));
  return a;
}

// ---- entry points

Napi::Value MsgGet(const Napi::CallbackInfo& info) {
  key_t key = ArgKey(info, 0);
  int flags = ArgFlags(info, 1, IPC_CREAT | IPC_EXCL | 0777);
  int id = msgget(key, flags);
  if (id < 0) ThrowErrno(info.Env(), errno, "msgget");
  return Napi::Number::New(info.Env(), id);
}

// msgsnd(args: ArrayBuffer of float64s [id, type, flags, wait], data) → true
// when sent; false when IPC_NOWAIT was given and the queue is full. `wait`:
// the spin in ns with IPC_NOWAIT, else the timeout in ms.
Napi::Value MsgSnd(const Napi::CallbackInfo& info) {
  SendArgs a = ParseSend(info);
  const WaitArg& wait = a.wait;
  std::unique_ptr<char[]> oversized;
  char* message = ThreadBuffer(kHeader + a.body.length, oversized);
  FillMessage(message, a);
  MsgSendCall call(a.id, message, a.body.length, a.flags);
  int err = WaitSync(info.Env(), call, wait);
  if (err == EAGAIN && wait.nowait) return Napi::Boolean::New(info.Env(), false);
  if (err != 0) ThrowErrno(info.Env(), err, "msgsnd");
  return Napi::Boolean::New(info.Env(), true);
}

// The synchronous receive writes the message (header, then body) into
// `into`, an ArrayBuffer the JS layer owns and reuses, and returns the body's
// length. JavaScript then copies the body into a Buffer of exactly that size:
// that costs far less than creating a Buffer here (Buffer::Copy mallocs and
// builds an external backing store for every message).
// msgrcv(args: ArrayBuffer of float64s [id, maxSize, type, flags, wait], into: ArrayBuffer).
Napi::Value MsgRcv(const Napi::CallbackInfo& info) {
  ReceiveArgs a = ParseReceive(info);
  const WaitArg& wait = a.wait;
  ByteView into = ArgArrayBuffer(info, 1, "into");
  if (into.length < kHeader + a.max_size) {
    ThrowRangeError(info.Env(), "The \"into\" buffer must hold the message header and maxSize bytes");
  }
  MsgReceiveCall call(a.id, reinterpret_cast<char*>(into.data), a.max_size, a.type, a.flags);
  int err = WaitSync(info.Env(), call, wait);
  // msgrcv(2): with IPC_NOWAIT and no matching message, ENOMSG (EAGAIN on some systems).
  if ((err == ENOMSG || err == EAGAIN) && wait.nowait) return Napi::Number::New(info.Env(), kReceiveWouldBlock);
  if (err != 0) ThrowErrno(info.Env(), err, "msgrcv");
  return Napi::Number::New(info.Env(), static_cast<double>(call.received()));
}

// msgrcvBuffer(args: [id, maxSize, type, flags, wait] as msgrcv's, typeOut) → the body as a new
// Buffer, its type in typeOut (8 bytes, a native-endian double), or null
// (IPC_NOWAIT and nothing matches). The receive of the sync form and of an
// async receive's attempt on the JS thread, made so that a worker being
// terminated loses nothing (Addon::Terminating, addon.h): the Buffer is made
// here, then termination is asked about, and if so the message goes back to
// its queue. In a worker, asking costs a call into JavaScript per message.
//
// A type above 2^53 - 1 (a C sender) has no exact double: typeOut is then
// NaN and the Buffer holds the whole message, header included
// (lib/message-queue.ts reads the exact type and throws UnsafeMessageTypeError).
Napi::Value MsgRcvBuffer(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  ReceiveArgs a = ParseReceive(info);
  const WaitArg& wait = a.wait;
  ByteView type_out = ArgBytes(info, 1, "typeOut");
  if (type_out.length < sizeof(double)) ThrowRangeError(env, "The \"typeOut\" buffer must hold 8 bytes");
  std::unique_ptr<char[]> oversized;
  char* buffer = ThreadBuffer(kHeader + a.max_size, oversized);
  MsgReceiveCall call(a.id, buffer, a.max_size, a.type, a.flags);
  int err = WaitSync(env, call, wait);
  // msgrcv(2): with IPC_NOWAIT and no matching message, ENOMSG (EAGAIN on some systems).
  if ((err == ENOMSG || err == EAGAIN) && wait.nowait) return env.Null();
  if (err != 0) ThrowErrno(env, err, "msgrcv");
  bool safe = static_cast<int64_t>(call.type()) <= kMaxSafeInteger;
  double type = safe ? static_cast<double>(call.type()) : std::nan("");
  Napi::Value out;
  try {
    out = safe ? Napi::Buffer<char>::Copy(env, call.body(), call.received())
               : Napi::Buffer<char>::Copy(env, buffer, kHeader + call.received());
  } catch (const Napi::Error&) {
    call.Undo();  // back to the end of its queue (msgsnd cannot insert)
    throw;
  }
  Addon* addon = env.GetInstanceData<Addon>();
  if (addon != nullptr && addon->Terminating()) {
    call.Undo();
    ThrowErrno(env, ECANCELED, "msgrcv");
  }
  memcpy(type_out.data, &type, sizeof type);
  return out;
}

// msgsndAsync(args: [id, type, flags, timeoutMs] as msgsnd's, data, waitId).
Napi::Value MsgSndAsync(const Napi::CallbackInfo& info) {
  SendArgs a = ParseSend(info, true);
  uint64_t wait_id = ArgWaitId(info, 2);
  WaiterPool& pool = info.Env().GetInstanceData<Addon>()->Pool(info.Env());
  std::vector<char> message(kHeader + a.body.length);
  FillMessage(message.data(), a);
  auto call = std::make_unique<OwnedMsgSendCall>(a.id, std::move(message), a.body.length, a.flags);
  pool.Submit(info.Env(), wait_id, std::move(call), Deadline::AfterNs(a.wait.timeout_ns));
  return info.Env().Undefined();
}

// msgrcvAsync(args: [id, maxSize, type, flags, timeoutMs] as msgrcv's, waitId).
Napi::Value MsgRcvAsync(const Napi::CallbackInfo& info) {
  ReceiveArgs a = ParseReceive(info, true);
  uint64_t wait_id = ArgWaitId(info, 1);
  WaiterPool& pool = info.Env().GetInstanceData<Addon>()->Pool(info.Env());
  std::unique_ptr<OwnedMsgReceiveCall> call;
  try {
    call = std::make_unique<OwnedMsgReceiveCall>(a.id, a.max_size, a.type, a.flags);
  } catch (const std::bad_alloc&) {
    ThrowErrno(info.Env(), ENOMEM, "msgrcv");
  }
  pool.Submit(info.Env(), wait_id, std::move(call), Deadline::AfterNs(a.wait.timeout_ns));
  return info.Env().Undefined();
}

Napi::Value MsgStat(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int id = ArgId(info, 0);
  struct msqid_ds ds;
  if (msgctl(id, IPC_STAT, &ds) < 0) ThrowErrno(env, errno, "msgctl");
  Napi::Object out = Napi::Object::New(env);
  SetPermFields(env, out, ds.msg_perm);
#ifdef __linux__
  out.Set("bytes", Napi::Number::New(env, static_cast<double>(ds.__msg_cbytes)));
#else
  out.Set("bytes", Napi::Number::New(env, static_cast<double>(ds.msg_cbytes)));
#endif
  out.Set("messages", Napi::Number::New(env, static_cast<double>(ds.msg_qnum)));
  out.Set("maxBytes", Napi::Number::New(env, static_cast<double>(ds.msg_qbytes)));
  out.Set("lastSendPid", Napi::Number::New(env, ds.msg_lspid));
  out.Set("lastReceivePid", Napi::Number::New(env, ds.msg_lrpid));
  out.Set("lastSendTime", Napi::Number::New(env, static_cast<double>(ds.msg_stime)));
  out.Set("lastReceiveTime", Napi::Number::New(env, static_cast<double>(ds.msg_rtime)));
  out.Set("lastChangeTime", Napi::Number::New(env, static_cast<double>(ds.msg_ctime)));
  return out;
}

Napi::Value MsgSet(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int id = ArgId(info, 0);
  int64_t mode = ArgOptionalField(info, 1, "mode", 0777);
  int64_t uid = ArgOptionalField(info, 2, "uid", 0xfffffffeLL);
  int64_t gid = ArgOptionalField(info, 3, "gid", 0xfffffffeLL);
  int64_t max_bytes = ArgOptionalField(info, 4, "maxBytes", static_cast<int64_t>(INT_MAX));
  struct msqid_ds ds;
  if (msgctl(id, IPC_STAT, &ds) < 0) ThrowErrno(env, errno, "msgctl");
  if (mode >= 0) ds.msg_perm.mode = static_cast<decltype(ds.msg_perm.mode)>((ds.msg_perm.mode & ~0777) | mode);
  if (uid >= 0) ds.msg_perm.uid = static_cast<uid_t>(uid);
  if (gid >= 0) ds.msg_perm.gid = static_cast<gid_t>(gid);
  if (max_bytes >= 0) ds.msg_qbytes = static_cast<decltype(ds.msg_qbytes)>(max_bytes);
  if (msgctl(id, IPC_SET, &ds) < 0) ThrowErrno(env, errno, "msgctl");
  return env.Undefined();
}

#ifdef SYSV_IPC_TEST_PROBES
// watchdogPauses(leaveMs, signalMs): watchdog::SetTestPauses, for the sync
// msgsnd/msgrcv waits of workers (test/waits/watchdog.test.ts).
Napi::Value WatchdogPauses(const Napi::CallbackInfo& info) {
  int64_t leave_ms = ArgInteger(info, 0, "leaveMs", 0, 60000);
  int64_t signal_ms = ArgInteger(info, 1, "signalMs", 0, 60000);
  watchdog::SetTestPauses(leave_ms * 1000000, signal_ms * 1000000);
  return info.Env().Undefined();
}
#endif

Napi::Value MsgRemove(const Napi::CallbackInfo& info) {
  int id = ArgId(info, 0);
  if (msgctl(id, IPC_RMID, nullptr) < 0) ThrowErrno(info.Env(), errno, "msgctl");
  return info.Env().Undefined();
}

}  // namespace

void RegisterMessageQueue(Napi::Env env, Napi::Object exports, Napi::Object constants) {
  Export(env, exports,
         {
             {"msgget", MsgGet},
             {"msgsnd", MsgSnd},
             {"msgrcv", MsgRcv},
             {"msgrcvBuffer", MsgRcvBuffer},
             {"msgsndAsync", MsgSndAsync},
             {"msgrcvAsync", MsgRcvAsync},
             {"msgStat", MsgStat},
             {"msgSet", MsgSet},
             {"msgRemove", MsgRemove},
#ifdef SYSV_IPC_TEST_PROBES
             {"watchdogPauses", WatchdogPauses},
#endif
         });

  constants.Set("MSG_NOERROR", Napi::Number::New(env, MSG_NOERROR));
  constants.Set("MSG_EXCEPT", Napi::Number::New(env, kMsgExcept));
  constants.Set("HAVE_MSG_EXCEPT", Napi::Boolean::New(env, kMsgExcept != 0));
  constants.Set("MTYPE_MAX", Napi::Number::New(env, static_cast<double>(kMaxType)));
  // The receive area's layout: a native-endian C long (mtype), then the body.
  constants.Set("MSG_HEADER_SIZE", Napi::Number::New(env, static_cast<double>(kHeader)));
}

}  // namespace sysv_ipc
