// Every error the addon throws into JavaScript, made in one place.
//
// - A failed syscall becomes a SysvIpcError built by the JS class that
//   lib/errors.ts hands to the addon at init (as better-sqlite3 does with
//   SqliteError), so `instanceof` holds and the message matches Node's style.
// - A bad argument is a TypeError (ERR_INVALID_ARG_TYPE) or RangeError
//   (ERR_OUT_OF_RANGE), as Node's own validators throw.
// - A state error carries an ERR_SYSV_IPC_* code (lib/errors.ts lists them);
//   a feature this platform lacks, Node's ERR_FEATURE_UNAVAILABLE_ON_PLATFORM.
// - An internal failure (out of handles, teardown) is a plain Error whose
//   message starts with "sysv-ipc: ".
// Each throws a C++ Napi::Error, which node-addon-api rethrows into
// JavaScript when the entry point returns.
#pragma once

#include <napi.h>

#include <string>

namespace sysv_ipc {

// A SysvIpcError for `err` from `syscall` (not thrown: async waits report it).
Napi::Value MakeErrnoError(Napi::Env env, int err, const char* syscall);
[[noreturn]] void ThrowErrno(Napi::Env env, int err, const char* syscall);

enum class ErrorType { kError, kTypeError, kRangeError };
// An error of `type` with `message` and, unless null, `code`.
[[noreturn]] void Throw(Napi::Env env, ErrorType type, const char* code, const std::string& message);

[[noreturn]] inline void ThrowTypeError(Napi::Env env, const std::string& message) {
  Throw(env, ErrorType::kTypeError, "ERR_INVALID_ARG_TYPE", message);
}
[[noreturn]] inline void ThrowRangeError(Napi::Env env, const std::string& message) {
  Throw(env, ErrorType::kRangeError, "ERR_OUT_OF_RANGE", message);
}
// ERR_SYSV_IPC_* state errors (an Error with that code).
[[noreturn]] inline void ThrowState(Napi::Env env, const char* code, const std::string& message) {
  Throw(env, ErrorType::kError, code, message);
}
// ERR_SYSV_IPC_CLOSED: the object (attachment, channel) is closed or detached.
[[noreturn]] inline void ThrowClosed(Napi::Env env, const std::string& message) {
  ThrowState(env, "ERR_SYSV_IPC_CLOSED", message);
}
// Node's ERR_FEATURE_UNAVAILABLE_ON_PLATFORM (a TypeError, as Node throws it):
// `feature` needs what this platform lacks (platform.h).
[[noreturn]] inline void ThrowUnavailable(Napi::Env env, const char* feature) {
  Throw(env, ErrorType::kTypeError, "ERR_FEATURE_UNAVAILABLE_ON_PLATFORM",
        std::string(feature) + " is unavailable on this platform: it needs futex(2), which only Linux has");
}
// An internal failure: a plain Error, no code ("sysv-ipc: ..." messages).
[[noreturn]] inline void ThrowError(Napi::Env env, const std::string& message) {
  Throw(env, ErrorType::kError, nullptr, message);
}

}  // namespace sysv_ipc
