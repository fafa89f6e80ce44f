// Futex wait/wake on a word of a shared memory attachment (futex.cc).
#pragma once

#include <napi.h>

namespace sysv_ipc {

// shmSpinWhileEqual, shmWaitSync, shmWaitAsync, shmNotify and HAVE_FUTEX.
void RegisterFutex(Napi::Env env, Napi::Object exports, Napi::Object constants);

}  // namespace sysv_ipc
