// Liveness of peer processes, for shared-memory protocols (Channel,
// FastMutex) that must tell a dead peer from a slow one. The logic is the
// C header's (include/sysv-ipc/liveness.h), so C peers and the addon agree.
#include <errno.h>
#include <unistd.h>

#include <sysv-ipc/liveness.h>

#include "addon.h"
#include "arguments.h"
#include "errors.h"

namespace sysv_ipc {

namespace {

// processStartTime(pid) → the process's start time (clock ticks after
// boot), or 0 if it does not exist or is a zombie. Throws (open's errno:
// EMFILE, EACCES for a process hidepid hides, ...) when /proc cannot tell:
// that is not "dead", and no caller may read it as 0.
Napi::Value ProcessStartTime(const Napi::CallbackInfo& info) {
  pid_t pid = static_cast<pid_t>(ArgInteger(info, 0, "pid", 1, 0x7fffffff));
  uint64_t start;
  int err = sysv_ipc_process_lookup(pid, &start);
  if (err != 0 && err != ESRCH) ThrowErrno(info.Env(), err, "open");
  return Napi::Number::New(info.Env(), static_cast<double>(start));
}

}  // namespace

void RegisterLiveness(Napi::Env env, Napi::Object exports, Napi::Object /*constants*/) {
  Export(env, exports,
         {
             {"processStartTime", ProcessStartTime},
         });
}

}  // namespace sysv_ipc
