// Per-environment state of the addon (main thread and each worker thread
// get their own instance: the addon is context-aware).
#pragma once

#include <napi.h>

#include <memory>

#include "registry.h"
#include "waiter_pool.h"

namespace sysv_ipc {

struct Attachment;     // shared_memory.cc
struct ChannelHandle;  // channel.cc
struct AttachmentRegistry : HandleRegistry<Attachment> {
#ifdef SYSV_IPC_TEST_PROBES
  bool refuse_external_buffers = false;  // test probe: behave as if V8's sandbox refused them
#endif
};
using ChannelRegistry = HandleRegistry<ChannelHandle>;

class Addon : public Napi::Addon<Addon> {
 public:
  Addon(Napi::Env env, Napi::Object exports);
  ~Addon();

  // The SysvIpcError class from lib/errors.ts, set by init().
  Napi::FunctionReference error_class;
  // lib/waits.ts's dispatcher for async results, set by init().
  Napi::FunctionReference dispatch;

  // The waiter pool; throws if init() has not run or teardown began.
  WaiterPool& Pool(Napi::Env env);
  // Whether this environment is being torn down (worker.terminate(),
  // process.exit() ending a worker). The one place that says what that
  // means for a native call (the others point here): worker.terminate()
  // cannot interrupt a thread inside a native call, so (1) a worker's sync
  // wait wakes every 50 ms to ask this (RunBlockingSync, watchdog.h), and
  // (2) a result taken just as termination lands would reach JavaScript
  // that never runs again, so calls that take something ask once they have
  // it and give it back (Undo) or take nothing (the channel's Take). A
  // request that comes after the question takes effect at the caller's next
  // JavaScript function call: the callers return with no call in between.
  // The main thread is never asked (false): nothing terminates it inside a
  // native call.
  bool Terminating();
  // Whether this environment runs on the process's main thread, the one
  // worker.terminate() cannot reach: its sync waits need no termination
  // slices (RunBlockingSync).
  bool OnMainThread() const { return main_thread_; }
  // This environment's shared memory attachment handles (ArgAttachment).
  const AttachmentRegistry& attachments() const { return attachments_; }

 private:
  Napi::Value Initialize(const Napi::CallbackInfo& info);
  Napi::Value SetKeepAlive(const Napi::CallbackInfo& info);
  Napi::Value CancelWait(const Napi::CallbackInfo& info);
#ifdef SYSV_IPC_TEST_PROBES
  Napi::Value WaiterThreads(const Napi::CallbackInfo& info);
  Napi::Value UndeliveredResults(const Napi::CallbackInfo& info);
  Napi::Value FutexParker(const Napi::CallbackInfo& info);
  Napi::Value ParkerPauseBeforeSleep(const Napi::CallbackInfo& info);
#endif
  // The one environment cleanup hook (a worker thread ending, or the main
  // thread's normal exit; Node runs it before it finalizes instance data).
  // It releases, in this order:
  //  1. the waiter pool: cancels every wait and joins every waiter thread,
  //     so that no thread is inside a syscall on memory released below, and
  //     closes the thread-safe function (results not yet delivered are given
  //     back: a message to its queue, a semaphore unit to its set);
  //  2. channel handles still open: their shares of the mappings;
  //  3. shared memory attachments still attached: their ArrayBuffers are
  //     detached (Node has detached them by now anyway) and the segments left.
  // The members below are then destroyed by ~Addon, in reverse order of
  // declaration, with nothing left to do.
  static void Cleanup(void* data);

  napi_env env_;
  napi_ref probe_ = nullptr;  // an empty JS function, see Terminating()
  uint32_t generation_ = 0;   // how many times init() ran
  bool cleaned_up_ = false;
  bool main_thread_ = false;
  AttachmentRegistry attachments_;
  ChannelRegistry channels_;
  std::unique_ptr<WaiterPool> pool_;  // created by init(): it needs `dispatch`
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
void RegisterSharedMemory(Napi::Env env, Napi::Object exports, Napi::Object constants, AttachmentRegistry* registry);
void RegisterLiveness(Napi::Env env, Napi::Object exports, Napi::Object constants);
void RegisterFastMutex(Napi::Env env, Napi::Object exports, Napi::Object constants);
void RegisterSharedMap(Napi::Env env, Napi::Object exports, Napi::Object constants);
void RegisterChannel(Napi::Env env, Napi::Object exports, Napi::Object constants, ChannelRegistry* registry);
void RegisterCpu(Napi::Env env, Napi::Object exports, Napi::Object constants);
void RegisterTopic(Napi::Env env, Napi::Object exports, Napi::Object constants);
// Teardown of what JavaScript left open (Addon::Cleanup, steps 2 and 3).
void ReleaseChannels(ChannelRegistry& registry);
void ReleaseAttachments(napi_env env, AttachmentRegistry& registry);

}  // namespace sysv_ipc
