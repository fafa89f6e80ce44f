// Argument checks for every native entry point.
//
// The TypeScript layer validates first and gives the friendly messages; these
// checks are the second line: whatever JavaScript passes (wrong type, NaN,
// fractional, out of range, missing), the result is a thrown TypeError or
// RangeError with Node's error codes, never a crash or a silent truncation.
#pragma once

#include <napi.h>

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <string>

#include "errors.h"  // ThrowTypeError, ThrowRangeError

namespace sysv_ipc {

// Number.MAX_SAFE_INTEGER: the largest integer a JS number holds exactly.
constexpr int64_t kMaxSafeInteger = 9007199254740991LL;

// An integer argument in [min, max]; rejects non-numbers, NaN and fractions.
int64_t ArgInteger(const Napi::CallbackInfo& info, size_t index, const char* name, int64_t min, int64_t max);

// Like ArgInteger, but `undefined` gives `fallback`.
int64_t ArgOptionalInteger(const Napi::CallbackInfo& info, size_t index, const char* name, int64_t min, int64_t max,
                           int64_t fallback);

bool ArgBoolean(const Napi::CallbackInfo& info, size_t index, const char* name);

Napi::Function ArgFunction(const Napi::CallbackInfo& info, size_t index, const char* name);

Napi::Object ArgObject(const Napi::CallbackInfo& info, size_t index, const char* name);

// A view of the bytes of a TypedArray, Buffer or DataView argument. The pointer
// is valid for the duration of the native call only (the JS object may move
// or be detached afterwards); copy before handing it to another thread.
struct ByteView {
  uint8_t* data;
  size_t length;
};
ByteView ArgBytes(const Napi::CallbackInfo& info, size_t index, const char* name);

// Timeout in milliseconds: -1 means "no timeout"; otherwise a finite number >= 0.
// Returns the value as nanoseconds (or -1).
int64_t ArgTimeoutNs(const Napi::CallbackInfo& info, size_t index, const char* name);

// The id lib/waits.ts gives an async wait (a safe integer).
inline uint64_t ArgWaitId(const Napi::CallbackInfo& info, size_t index) {
  return static_cast<uint64_t>(ArgInteger(info, index, "waitId", 0, kMaxSafeInteger));
}

}  // namespace sysv_ipc
