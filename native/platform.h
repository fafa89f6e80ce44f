// What this platform lacks, decided in one place for the futex-based parts.
//
// futex(2) is Linux's (binding.gyp defines HAVE_FUTEX there). Without it —
// macOS, FreeBSD, or a Linux build with SYSV_IPC_NO_FUTEX defined, which
// compile-checks this path (scripts/ci-no-timers.sh builds and runs it) —
// the C headers of include/sysv-ipc (channel.h, lock.h) are not compiled,
// Channel and FastMutex keep their entry points, which throw
// ERR_FEATURE_UNAVAILABLE_ON_PLATFORM, and SharedMemory wait/notify fail
// with ENOSYS (lib/shared-memory.ts refuses them first, HAVE_FUTEX false).
//
// Per-thread timers are the other difference; interrupter.h says what their
// absence changes.
#pragma once

#include <napi.h>

#include "errors.h"

#if defined(HAVE_FUTEX) && !defined(SYSV_IPC_NO_FUTEX)
#define SYSV_IPC_FUTEX 1
#else
#define SYSV_IPC_FUTEX 0
#endif

namespace sysv_ipc {

// An entry point of a feature this platform lacks; info.Data() is the
// feature's name (a string literal).
inline Napi::Value UnavailableEntryPoint(const Napi::CallbackInfo& info) {
  ThrowUnavailable(info.Env(), static_cast<const char*>(info.Data()));
}

}  // namespace sysv_ipc
