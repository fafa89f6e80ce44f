// Liveness of peer processes, for shared-memory protocols (Channel,
// FastMutex) that must tell a dead peer from a slow one. The logic is the
// C header's (include/sysv-ipc/liveness.h), so C peers and the addon agree.
#include <unistd.h>

#include <sysv-ipc/liveness.h>

#include "addon.h"
#include "arguments.h"

namespace sysv_ipc {

namespace {

// processStartTime(pid) → the process's start time (clock ticks after
// boot), or 0 if it does not exist or is a zombie.
Napi::Value ProcessStartTime(const Napi::CallbackInfo& info) {
  pid_t pid = static_cast<pid_t>(ArgInteger(info, 0, "pid", 1, 0x7fffffff));
  return Napi::Number::New(info.Env(), static_cast<double>(sysv_ipc_process_start_time(pid)));
}

}  // namespace

void RegisterLiveness(Napi::Env env, Napi::Object exports, Napi::Object /*constants*/) {
  exports.Set("processStartTime", Napi::Function::New(env, ProcessStartTime, "processStartTime"));
}

}  // namespace sysv_ipc
