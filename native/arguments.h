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

// The bytes of an ArrayBuffer argument (not a view, nor a SharedArrayBuffer),
// for buffers the package's own JavaScript keeps and passes on every call:
// napi_get_arraybuffer_info costs a few dozen instructions where a view's
// napi_get_typedarray_info costs ~480. Valid for the native call only.
ByteView ArgArrayBuffer(const Napi::CallbackInfo& info, size_t index, const char* name);

// Timeout in milliseconds: -1 means "no timeout"; otherwise a finite number >= 0.
// Returns the value as nanoseconds (or -1).
int64_t ArgTimeoutNs(const Napi::CallbackInfo& info, size_t index, const char* name);

// The numbers of one call passed in an ArrayBuffer of float64s (lib/call-args.ts) rather
// than as arguments: a Node-API call reads each argument (~100 instructions
// with its checks), a load from the array costs a few, and the sync calls of
// the hot path (semopOne, msgsnd, msgrcv) pass four or five numbers. The
// values are copied once, then checked as ArgInteger checks an argument, with
// the same errors: the array is as untrusted as any argument.
class NumberArgs {
 public:
  static constexpr size_t kMax = 8;
  // Throws a TypeError unless argument `index` is an ArrayBuffer of at least `count` (<= kMax) float64s.
  NumberArgs(const Napi::CallbackInfo& info, size_t index, size_t count);
  // Number `i` as an integer in [min, max]; a RangeError naming `name` otherwise.
  int64_t Integer(size_t i, const char* name, int64_t min, int64_t max) const {
    double d = v_[i];
    // In range (NaN is not), then integral; [min, max] lies within +-2^63, so the conversion is defined.
    if (d >= static_cast<double>(min) && d <= static_cast<double>(max)) {
      int64_t n = static_cast<int64_t>(d);
      if (static_cast<double>(n) == d) return n;
    }
    ThrowNotInteger(i, name, min, max);
  }
  // Number `i` as a timeout in milliseconds (ArgTimeoutNs): nanoseconds, or -1 for none.
  int64_t TimeoutNs(size_t i, const char* name) const;

 private:
  [[noreturn]] __attribute__((noinline, cold)) void ThrowNotInteger(size_t i, const char* name, int64_t min,
                                                                    int64_t max) const;
  Napi::Env env_;
  double v_[kMax];
};

// The id lib/waits.ts gives an async wait (a safe integer).
inline uint64_t ArgWaitId(const Napi::CallbackInfo& info, size_t index) {
  return static_cast<uint64_t>(ArgInteger(info, index, "waitId", 0, kMaxSafeInteger));
}

}  // namespace sysv_ipc
