// Where this thread runs, for the peer-aware spin of lib/channel-ring.ts
// (issue 25): the JavaScript side records it in the channel header's CPU
// hints as include/sysv-ipc/channel.h does, asking here once per park or per
// batch of messages, not per message.
#include <sched.h>

#include "addon.h"

namespace sysv_ipc {

namespace {

// currentCpu() → 1 + the CPU this thread last ran on (sched_getcpu(3), a
// vDSO call on Linux), or 0 when it cannot tell: the hint's encoding.
Napi::Value CurrentCpu(const Napi::CallbackInfo& info) {
#ifdef __linux__
  int cpu = sched_getcpu();
#else
  int cpu = -1;
#endif
  return Napi::Number::New(info.Env(), cpu < 0 ? 0 : cpu + 1);
}

}  // namespace

void RegisterCpu(Napi::Env env, Napi::Object exports, Napi::Object /*constants*/) {
  exports.Set("currentCpu", Napi::Function::New(env, CurrentCpu, "currentCpu"));
}

}  // namespace sysv_ipc
