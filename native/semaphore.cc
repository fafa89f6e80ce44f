// Semaphore sets: semget, semop/semtimedop, semctl. (Filled in by the semaphore work.)
#include "addon.h"

namespace sysv_ipc {

void RegisterSemaphore(Napi::Env, Napi::Object, Napi::Object) {}

}  // namespace sysv_ipc
