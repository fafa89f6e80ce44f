// Module registration: per-environment state, the async plumbing's entry
// points, and each IPC kind's functions. Nothing IPC-specific lives here.
#include "addon.h"

#include <errno.h>
#include <sys/ipc.h>
#include <sys/msg.h>
#include <sys/sem.h>
#include <sys/shm.h>
#include <unistd.h>

#ifdef __linux__
#include <sys/syscall.h>
#elif defined(__APPLE__) || defined(__FreeBSD__)
#include <pthread.h>
#ifdef __FreeBSD__
#include <pthread_np.h>
#endif
#endif

#include "arguments.h"
#include "errors.h"
#include "futex.h"
#include "futex_parker.h"
#include "results.h"

namespace sysv_ipc {

namespace {

// Node-API does not say whether an environment is a worker's. The thread
// does: Node runs the main environment on the process's first thread and
// every worker on a thread of its own. An embedder that runs its main
// environment elsewhere is taken for a worker: its sync waits then slice,
// which costs syscalls, never a hang.
bool IsProcessMainThread() {
#ifdef __linux__
  return syscall(SYS_gettid) == getpid();  // gettid(2): the first thread's id is the pid
#elif defined(__APPLE__) || defined(__FreeBSD__)
  return pthread_main_np() == 1;
#else
  return false;
#endif
}

}  // namespace

void SetResultConstants(Napi::Env env, Napi::Object constants) {
  Napi::Object wait = Napi::Object::New(env);
  wait.Set("OK", Napi::Number::New(env, kWaitOk));
  wait.Set("NOT_EQUAL", Napi::Number::New(env, kWaitNotEqual));
  wait.Set("TIMED_OUT", Napi::Number::New(env, kWaitTimedOut));
  constants.Set("WAIT", wait);
  Napi::Object receive = Napi::Object::New(env);
  receive.Set("WOULD_BLOCK", Napi::Number::New(env, kReceiveWouldBlock));
  receive.Set("TOO_LONG", Napi::Number::New(env, kReceiveTooLong));
  constants.Set("RECEIVE", receive);
}

Addon::Addon(Napi::Env env, Napi::Object exports) : env_(env) {
  main_thread_ = IsProcessMainThread();
  Napi::Object constants = Napi::Object::New(env);
  constants.Set("IPC_PRIVATE", Napi::Number::New(env, IPC_PRIVATE));
  constants.Set("IPC_CREAT", Napi::Number::New(env, IPC_CREAT));
  constants.Set("IPC_EXCL", Napi::Number::New(env, IPC_EXCL));
  constants.Set("IPC_NOWAIT", Napi::Number::New(env, IPC_NOWAIT));
  constants.Set("ECANCELED", Napi::Number::New(env, ECANCELED));
  constants.Set("ETIMEDOUT", Napi::Number::New(env, ETIMEDOUT));
#ifdef HAVE_THREAD_TIMERS
  constants.Set("HAVE_THREAD_TIMERS", Napi::Boolean::New(env, true));
#else
  constants.Set("HAVE_THREAD_TIMERS", Napi::Boolean::New(env, false));
#endif
#ifdef SYSV_IPC_SOURCE_HASH
  // Which sources this binary was built from (scripts/source-hash.js).
  constants.Set("SOURCE_HASH", Napi::String::New(env, SYSV_IPC_SOURCE_HASH));
#endif
  SetResultConstants(env, constants);

  DefineAddon(exports, {
                           InstanceMethod("init", &Addon::Initialize),
                           InstanceMethod("setKeepAlive", &Addon::SetKeepAlive),
                           InstanceMethod("cancelWait", &Addon::CancelWait),
#ifdef SYSV_IPC_TEST_PROBES
                           InstanceMethod("waiterThreads", &Addon::WaiterThreads),
                           InstanceMethod("undeliveredResults", &Addon::UndeliveredResults),
                           InstanceMethod("futexParker", &Addon::FutexParker),
                           InstanceMethod("parkerPauseBeforeSleep", &Addon::ParkerPauseBeforeSleep),
#endif
                       });
  RegisterMessageQueue(env, exports, constants);
  RegisterSemaphore(env, exports, constants);
  RegisterSharedMemory(env, exports, constants, &attachments_);
  RegisterFutex(env, exports, constants);
  RegisterLiveness(env, exports, constants);
  RegisterFastMutex(env, exports, constants);
  RegisterSharedMap(env, exports, constants);
  RegisterChannel(env, exports, constants, &channels_);
  RegisterCpu(env, exports, constants);
  RegisterTopic(env, exports, constants);
  exports.Set("constants", constants);

  if (napi_add_env_cleanup_hook(env, &Addon::Cleanup, this) != napi_ok) {
    ThrowError(env, "sysv-ipc: cannot register the environment cleanup hook");
  }
}

Addon::~Addon() {
  // Only a hook that has not run is removed: Node ignores removing one that
  // ran, but Deno panics ("Cannot remove cleanup hook which was not
  // registered") when the instance data is freed after the hooks ran at exit.
  if (!cleaned_up_) napi_remove_env_cleanup_hook(env_, &Addon::Cleanup, this);
  if (probe_ != nullptr) napi_delete_reference(env_, probe_);
  Cleanup(this);  // normally a no-op: the hook ran first
}

void Addon::Cleanup(void* data) {
  auto* addon = static_cast<Addon*>(data);
  if (addon->cleaned_up_) return;
  addon->cleaned_up_ = true;
  if (addon->pool_) addon->pool_->Shutdown();            // 1: the pool object lives on (~Addon frees it)
  ReleaseChannels(addon->channels_);                     // 2
  ReleaseAttachments(addon->env_, addon->attachments_);  // 3
}

bool Addon::Terminating() {
  // worker.terminate() asks V8 to stop this isolate (TerminateExecution);
  // nothing in Node-API reports that request, but the next JavaScript that
  // runs sees it: calling an empty function then fails (napi_pending_exception)
  // and leaves the termination pending, so the native call returning
  // unwinds the worker. The function is compiled once per environment.
  // The main thread (addon.h) is not asked: a receive there makes no
  // JavaScript call per message.
  if (main_thread_) return false;
  napi_handle_scope scope;
  if (napi_open_handle_scope(env_, &scope) != napi_ok) return true;
  bool stop = true;
  napi_value fn = nullptr;
  if (probe_ != nullptr) {
    if (napi_get_reference_value(env_, probe_, &fn) != napi_ok) fn = nullptr;
  } else {
    napi_value source;
    if (napi_create_string_utf8(env_, "(function sysvIpcTerminationProbe() {})", NAPI_AUTO_LENGTH, &source) ==
            napi_ok &&
        napi_run_script(env_, source, &fn) == napi_ok && napi_create_reference(env_, fn, 1, &probe_) == napi_ok) {
    } else {
      fn = nullptr;
    }
  }
  napi_value recv;
  if (fn != nullptr && napi_get_undefined(env_, &recv) == napi_ok) {
    stop = napi_call_function(env_, recv, fn, 0, nullptr, nullptr) != napi_ok;
  }
  napi_close_handle_scope(env_, scope);
  return stop;
}

WaiterPool& Addon::Pool(Napi::Env env) {
  if (!pool_ || cleaned_up_) ThrowError(env, "sysv-ipc: the addon was not initialised (init) or is shutting down");
  return *pool_;
}

Napi::Value Addon::Initialize(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Function dispatch = ArgFunction(info, 0, "dispatch");
  Napi::Function error_ctor = ArgFunction(info, 1, "errorClass");
  // init() runs again when the JS layer is loaded afresh over the same addon
  // instance (a test runner resetting its module registry): the new JS layer
  // takes over; the previous one's pending waits report to the new
  // dispatcher, which ignores ids it did not issue (ids carry the generation).
  error_class = Napi::Persistent(error_ctor);
  this->dispatch = Napi::Persistent(dispatch);
  if (cleaned_up_) ThrowError(env, "sysv-ipc: the environment is shutting down");
  if (!pool_) pool_ = std::make_unique<WaiterPool>(env, &this->dispatch);
  return Napi::Number::New(env, ++generation_);
}

Napi::Value Addon::SetKeepAlive(const Napi::CallbackInfo& info) {
  bool on = ArgBoolean(info, 0, "on");
  Pool(info.Env()).SetKeepAlive(info.Env(), on);
  return info.Env().Undefined();
}

Napi::Value Addon::CancelWait(const Napi::CallbackInfo& info) {
  uint64_t wait_id = ArgWaitId(info, 0);
  Pool(info.Env()).Cancel(wait_id);
  return info.Env().Undefined();
}

#ifdef SYSV_IPC_TEST_PROBES
// Test probe: threads of the pool not yet exited.
Napi::Value Addon::WaiterThreads(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), static_cast<double>(pool_ ? pool_->ThreadCount() : 0));
}

// Test probe: async successes given back because their dispatch failed.
Napi::Value Addon::UndeliveredResults(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), static_cast<double>(WaiterPool::UndeliveredResults()));
}

// Test probe futexParker(on?): with a boolean, turns the futex parker on or
// off for the waits submitted from now on (off: one thread per wait, the path
// of kernels without futex_waitv). Returns whether it is on.
Napi::Value Addon::FutexParker(const Napi::CallbackInfo& info) {
  bool on = info.Length() > 0 && info[0].IsBoolean() ? SetFutexParkerEnabled(info[0].As<Napi::Boolean>().Value())
                                                     : FutexParkerEnabled();
  return Napi::Boolean::New(info.Env(), on);
}

// Test probe parkerPauseBeforeSleep(ms?): see WaiterPool::ParkerPauseBeforeSleep.
Napi::Value Addon::ParkerPauseBeforeSleep(const Napi::CallbackInfo& info) {
  int ms = 0;
  if (info.Length() > 0 && info[0].IsNumber()) {
    double v = info[0].As<Napi::Number>().DoubleValue();
    ms = v >= 1 && v <= 10000 ? static_cast<int>(v) : 0;
  }
  return Napi::Number::New(info.Env(), WaiterPool::ParkerPauseBeforeSleep(ms));
}
#endif

}  // namespace sysv_ipc

using sysv_ipc::Addon;
NODE_API_ADDON(Addon)
