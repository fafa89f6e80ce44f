// Shared memory segments: shmget, shmat/shmdt, shmctl, futex wait/notify. (Filled in by the shared-memory work.)
#include "addon.h"

namespace sysv_ipc {

void RegisterSharedMemory(Napi::Env, Napi::Object, Napi::Object) {}

}  // namespace sysv_ipc
