// Module registration: per-environment state, the async plumbing's entry
// points, and each IPC kind's functions. Nothing IPC-specific lives here.
#include "addon.h"

#include <errno.h>
#include <sys/ipc.h>
#include <sys/msg.h>
#include <sys/sem.h>
#include <sys/shm.h>

#include "arguments.h"

namespace sysv_ipc {

Addon::Addon(Napi::Env env, Napi::Object exports) : env_(env) {
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

  DefineAddon(exports, {
      InstanceMethod("init", &Addon::Initialize),
      InstanceMethod("setKeepAlive", &Addon::SetKeepAlive),
      InstanceMethod("cancelWait", &Addon::CancelWait),
      InstanceMethod("waiterThreads", &Addon::WaiterThreads),
  });
  RegisterMessageQueue(env, exports, constants);
  RegisterSemaphore(env, exports, constants);
  RegisterSharedMemory(env, exports, constants);
  RegisterLiveness(env, exports, constants);
  RegisterFastMutex(env, exports, constants);
  RegisterChannel(env, exports, constants);
  exports.Set("constants", constants);

  // Environment teardown (a worker thread ending, or the main thread's normal
  // exit): stop every waiter thread. Runs before instance data is finalized.
  napi_add_env_cleanup_hook(env, &Addon::Cleanup, this);
}

Addon::~Addon() {
  napi_remove_env_cleanup_hook(env_, &Addon::Cleanup, this);
  if (probe_ != nullptr) napi_delete_reference(env_, probe_);
  Cleanup(this);  // normally a no-op: the hook ran first
}

void Addon::Cleanup(void* data) {
  auto* addon = static_cast<Addon*>(data);
  if (addon->pool_ != nullptr) {
    addon->pool_->Shutdown();  // joins the threads; the pool frees itself later
    addon->pool_ = nullptr;
  }
}

bool Addon::Terminating() {
  // worker.terminate() asks V8 to stop this isolate (TerminateExecution);
  // nothing in Node-API reports that request, but the next JavaScript that
  // runs sees it: calling an empty function then fails (napi_pending_exception)
  // and leaves the termination pending, so the native call returning
  // unwinds the worker. The function is compiled once per environment.
  napi_handle_scope scope;
  if (napi_open_handle_scope(env_, &scope) != napi_ok) return true;
  bool stop = true;
  napi_value fn = nullptr;
  if (probe_ != nullptr) {
    if (napi_get_reference_value(env_, probe_, &fn) != napi_ok) fn = nullptr;
  } else {
    napi_value source;
    if (napi_create_string_utf8(env_, "(function sysvIpcTerminationProbe() {})", NAPI_AUTO_LENGTH, &source) == napi_ok &&
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
  if (pool_ == nullptr) throw Napi::Error::New(env, "sysv-ipc: the addon was not initialised (init) or is shutting down");
  return *pool_;
}

void Addon::SetScratch(size_t index, double value) {
  // Looked up on every use, not cached: JavaScript could detach the array's
  // buffer (transfer it away), and a cached pointer would then dangle.
  if (scratch.IsEmpty()) return;
  Napi::Float64Array array = scratch.Value();
  void* data = nullptr;
  size_t length = 0;
  if (napi_get_typedarray_info(env_, array, nullptr, &length, &data, nullptr, nullptr) != napi_ok || data == nullptr) return;
  if (index < length) static_cast<double*>(data)[index] = value;
}

Napi::Value Addon::Initialize(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Function dispatch = ArgFunction(info, 0, "dispatch");
  Napi::Function error_ctor = ArgFunction(info, 1, "errorClass");
  if (info.Length() < 3 || !info[2].IsTypedArray() ||
      info[2].As<Napi::TypedArray>().TypedArrayType() != napi_float64_array) {
    ThrowTypeError(env, "The \"scratch\" argument must be an instance of Float64Array");
  }
  // init() runs again when the JS layer is loaded afresh over the same addon
  // instance (a test runner resetting its module registry): the new JS layer
  // takes over; the previous one's pending waits report to the new
  // dispatcher, which ignores ids it did not issue (ids carry the generation).
  Napi::Float64Array scratch_array = info[2].As<Napi::Float64Array>();
  scratch = Napi::Persistent(scratch_array);
  error_class = Napi::Persistent(error_ctor);
  this->dispatch = Napi::Persistent(dispatch);
  if (pool_ == nullptr) pool_ = new WaiterPool(env, &this->dispatch);
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

Napi::Value Addon::WaiterThreads(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), static_cast<double>(pool_ == nullptr ? 0 : pool_->ThreadCount()));
}

}  // namespace sysv_ipc

using sysv_ipc::Addon;
NODE_API_ADDON(Addon)
