// Per-environment state of the addon (main thread and each worker thread
// get their own instance: the addon is context-aware).
#pragma once

#include <napi.h>

#include "waiter.h"

namespace sysv_ipc {

class Addon : public Napi::Addon<Addon> {
 public:
  Addon(Napi::Env env, Napi::Object exports);
  ~Addon();

  // The SysvIpcError class from lib/errors.ts, set by init().
  Napi::FunctionReference error_class;
  // lib/waits.ts's dispatcher for async results, set by init().
  Napi::FunctionReference dispatch;
  // Out-values of synchronous calls (a Float64Array from lib/waits.ts).
  Napi::Reference<Napi::Float64Array> scratch;

  // The waiter pool; throws if init() has not run.
  WaiterPool& Pool(Napi::Env env);
  // Stores an out-value in scratch[index].
  void SetScratch(size_t index, double value);
  // Whether this environment is being torn down (worker.terminate(),
  // process.exit() ending a worker). Asked on the JS thread by sync waits
  // between slices (RunBlockingSync).
  bool Terminating();

 private:
  Napi::Value Initialize(const Napi::CallbackInfo& info);
  Napi::Value SetKeepAlive(const Napi::CallbackInfo& info);
  Napi::Value CancelWait(const Napi::CallbackInfo& info);
  Napi::Value WaiterThreads(const Napi::CallbackInfo& info);
  static void Cleanup(void* data);

  napi_env env_;
  napi_ref probe_ = nullptr;  // an empty JS function, see Terminating()
  WaiterPool* pool_ = nullptr;  // freed by the pool's own finalizer after Shutdown()
  uint32_t generation_ = 0;  // how many times init() ran
};

// Whether JavaScript can run in `env` now: false during environment teardown
// (Node has set can_call_into_js to false) or with an exception pending.
// Node-API answers napi_pending_exception then, before it looks at any
// argument; with JS allowed, the null arguments make it fail with
// napi_invalid_arg, and nothing runs.
inline bool CanRunJavaScript(napi_env env) {
  return napi_call_function(env, nullptr, nullptr, 0, nullptr, nullptr) != napi_pending_exception;
}

// Each IPC kind adds its functions and constants to the exports.
void RegisterMessageQueue(Napi::Env env, Napi::Object exports, Napi::Object constants);
void RegisterSemaphore(Napi::Env env, Napi::Object exports, Napi::Object constants);
void RegisterSharedMemory(Napi::Env env, Napi::Object exports, Napi::Object constants);
void RegisterLiveness(Napi::Env env, Napi::Object exports, Napi::Object constants);
void RegisterFastMutex(Napi::Env env, Napi::Object exports, Napi::Object constants);
void RegisterChannel(Napi::Env env, Napi::Object exports, Napi::Object constants);

}  // namespace sysv_ipc
