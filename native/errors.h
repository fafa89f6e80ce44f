// errno → JavaScript error.
//
// Every failed syscall becomes a SysvIpcError built by the JS class that
// lib/errors.ts hands to the addon at init (as better-sqlite3 does with
// SqliteError), so `instanceof` holds and the message matches Node's style.
#pragma once

#include <napi.h>

namespace sysv_ipc {

// A SysvIpcError for `err` from `syscall`.
Napi::Value MakeErrnoError(Napi::Env env, int err, const char* syscall);

// Throws MakeErrnoError(...) as a C++ Napi::Error (caught by node-addon-api
// and rethrown into JavaScript).
[[noreturn]] void ThrowErrno(Napi::Env env, int err, const char* syscall);

}  // namespace sysv_ipc
