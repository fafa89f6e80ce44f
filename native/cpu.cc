// Where this thread runs, for the peer-aware spin of lib/channel-ring.ts
// (issue 25): the JavaScript side records it in the channel header's CPU
// hints as include/sysv-ipc/channel.h does, asking here once per park or per
// batch of messages, not per message; and a waiter whose peer shares its CPU
// yields here (a spin on loads would starve that peer for a whole slice).
#include <sched.h>

#include "addon.h"
#include "registry.h"

namespace sysv_ipc {

namespace {

// 1 + the CPU this thread last ran on (sched_getcpu(3), a vDSO call on
// Linux), or 0 when it cannot tell: the hint's encoding.
uint32_t CpuHint() {
#ifdef __linux__
  int cpu = sched_getcpu();
#else
  int cpu = -1;
#endif
  return cpu < 0 ? 0u : static_cast<uint32_t>(cpu) + 1u;
}

// currentCpu() → CpuHint().
Napi::Value CurrentCpu(const Napi::CallbackInfo& info) { return Napi::Number::New(info.Env(), CpuHint()); }

// yieldCpu() → sched_yield(2), then CpuHint(): one call per turn of a
// waiter whose peer runs on this CPU. The peer, when runnable here, runs
// until it blocks or yields in turn (it has then answered, usually); with
// nothing else runnable the yield returns at once. The CPU is read after the
// yield, which is where the next turn's decision runs (the scheduler may
// have moved this thread meanwhile).
Napi::Value YieldCpu(const Napi::CallbackInfo& info) {
  sched_yield();
  return Napi::Number::New(info.Env(), CpuHint());
}

}  // namespace

void RegisterCpu(Napi::Env env, Napi::Object exports, Napi::Object /*constants*/) {
  Export(env, exports, {{"currentCpu", CurrentCpu}, {"yieldCpu", YieldCpu}});
}

}  // namespace sysv_ipc
