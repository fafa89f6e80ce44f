#include "arguments.h"

#include <cstring>
#include <limits>

namespace sysv_ipc {

namespace {

std::string Describe(const Napi::Value& v) {
  switch (v.Type()) {
    case napi_undefined: return "undefined";
    case napi_null: return "null";
    case napi_boolean: return std::string("type boolean (") + (v.As<Napi::Boolean>().Value() ? "true" : "false") + ")";
    case napi_number: return "type number (" + v.ToString().Utf8Value() + ")";
    case napi_string: return "type string";
    case napi_symbol: return "type symbol";
    case napi_object: return "an object";
    case napi_function: return "a function";
    case napi_bigint: return "type bigint";
    default: return "an external";
  }
}

// Bytes per element of a typed array type; 0 for one this list does not know
// (a newer runtime's), whose byte length is then asked for.
size_t ElementSize(napi_typedarray_type type) {
  switch (type) {
    case napi_int8_array:
    case napi_uint8_array:
    case napi_uint8_clamped_array: return 1;
    case napi_int16_array:
    case napi_uint16_array: return 2;
    case napi_int32_array:
    case napi_uint32_array:
    case napi_float32_array: return 4;
    case napi_float64_array:
    case napi_bigint64_array:
    case napi_biguint64_array: return 8;
    default: return 0;
  }
}

Napi::Value At(const Napi::CallbackInfo& info, size_t index) {
  return index < info.Length() ? info[index] : info.Env().Undefined();
}

}  // namespace

namespace {

// ArgInteger's errors, out of line: their string building would otherwise
// give the hot path a large stack frame (and its stack protector) on every call.
[[noreturn]] __attribute__((noinline, cold)) void ThrowNotInteger(const Napi::CallbackInfo& info, size_t index,
                                                                  const char* name, int64_t min, int64_t max) {
  Napi::Value v = At(info, index);
  if (!v.IsNumber()) {
    ThrowTypeError(info.Env(),
                   std::string("The \"") + name + "\" argument must be of type number. Received " + Describe(v));
  }
  ThrowRangeError(info.Env(), std::string("The value of \"") + name +
                                  "\" is out of range. It must be an integer >= " + std::to_string(min) +
                                  " and <= " + std::to_string(max) + ". Received " + v.ToString().Utf8Value());
}

}  // namespace

int64_t ArgInteger(const Napi::CallbackInfo& info, size_t index, const char* name, int64_t min, int64_t max) {
  // One Node-API call both checks the type and reads the value (this runs
  // for every argument of every call: it is the hot path).
  double d;
  if (index >= info.Length() || napi_get_value_double(info.Env(), info[index], &d) != napi_ok) {
    ThrowNotInteger(info, index, name, min, max);
  }
  // In range (NaN is not), then integral: every [min, max] here lies within
  // +-2^63, so the conversion is defined, and exact for an integral d.
  if (!(d >= static_cast<double>(min) && d <= static_cast<double>(max))) ThrowNotInteger(info, index, name, min, max);
  int64_t n = static_cast<int64_t>(d);
  if (static_cast<double>(n) != d) ThrowNotInteger(info, index, name, min, max);
  return n;
}

int64_t ArgOptionalInteger(const Napi::CallbackInfo& info, size_t index, const char* name, int64_t min, int64_t max,
                           int64_t fallback) {
  if (At(info, index).IsUndefined()) return fallback;
  return ArgInteger(info, index, name, min, max);
}

bool ArgBoolean(const Napi::CallbackInfo& info, size_t index, const char* name) {
  Napi::Value v = At(info, index);
  if (!v.IsBoolean()) {
    ThrowTypeError(info.Env(),
                   std::string("The \"") + name + "\" argument must be of type boolean. Received " + Describe(v));
  }
  return v.As<Napi::Boolean>().Value();
}

Napi::Function ArgFunction(const Napi::CallbackInfo& info, size_t index, const char* name) {
  Napi::Value v = At(info, index);
  if (!v.IsFunction()) {
    ThrowTypeError(info.Env(),
                   std::string("The \"") + name + "\" argument must be of type function. Received " + Describe(v));
  }
  return v.As<Napi::Function>();
}

Napi::Object ArgObject(const Napi::CallbackInfo& info, size_t index, const char* name) {
  Napi::Value v = At(info, index);
  if (!v.IsObject()) {
    ThrowTypeError(info.Env(),
                   std::string("The \"") + name + "\" argument must be of type object. Received " + Describe(v));
  }
  return v.As<Napi::Object>();
}

ByteView ArgBytes(const Napi::CallbackInfo& info, size_t index, const char* name) {
  Napi::Env env = info.Env();
  Napi::Value v = At(info, index);
  // The data pointer comes from napi_get_typedarray_info/napi_get_dataview_info,
  // which accept views of a SharedArrayBuffer too; going through the view's
  // ArrayBuffer (napi_get_arraybuffer_info) fails for those with a bare
  // "Invalid argument" Error.
  void* data = nullptr;
  size_t length = 0;
  if (v.IsTypedArray()) {
    // One napi_get_typedarray_info for both the data and the length (this
    // runs for every buffer of every call: the hot path).
    napi_typedarray_type type;
    size_t elements;
    if (napi_get_typedarray_info(env, v, &type, &elements, &data, nullptr, nullptr) != napi_ok) {
      data = nullptr;
    } else {
      size_t size = ElementSize(type);
      length = size != 0 ? elements * size : v.As<Napi::TypedArray>().ByteLength();
    }
  } else if (v.IsDataView()) {
    if (napi_get_dataview_info(env, v, &length, &data, nullptr, nullptr) != napi_ok) data = nullptr;
  } else {
    ThrowTypeError(env, std::string("The \"") + name +
                            "\" argument must be an instance of Buffer, TypedArray or DataView. Received " +
                            Describe(v));
  }
  // A detached (or shrunk out-of-bounds) view has length 0: an empty view, never a dangling pointer.
  if (data == nullptr || length == 0) return ByteView{nullptr, 0};
  return ByteView{static_cast<uint8_t*>(data), length};
}

namespace {

// The data and length of `v` if it is an ArrayBuffer, and not a
// SharedArrayBuffer: napi_get_arraybuffer_info alone fails for anything else
// on Node 18 and 20, but takes a SharedArrayBuffer on Node 22, 24 and 26
// (22.23.5, 24.22.3, 26.12.1 checked), whose bytes other threads change while
// the call reads or writes them. napi_is_arraybuffer (V8's IsArrayBuffer,
// false for a SharedArrayBuffer everywhere) costs a few instructions more.
bool PlainArrayBufferInfo(napi_env env, napi_value v, void** data, size_t* length) {
  bool plain = false;
  return v != nullptr && napi_is_arraybuffer(env, v, &plain) == napi_ok && plain &&
         napi_get_arraybuffer_info(env, v, data, length) == napi_ok;
}

}  // namespace

ByteView ArgArrayBuffer(const Napi::CallbackInfo& info, size_t index, const char* name) {
  napi_value v = index < info.Length() ? static_cast<napi_value>(info[index]) : nullptr;
  void* data = nullptr;
  size_t length = 0;
  if (!PlainArrayBufferInfo(info.Env(), v, &data, &length)) {
    ThrowTypeError(info.Env(), std::string("The \"") + name +
                                   "\" argument must be an instance of ArrayBuffer. Received " +
                                   Describe(At(info, index)));
  }
  // A detached buffer has length 0: an empty view, never a dangling pointer.
  if (data == nullptr || length == 0) return ByteView{nullptr, 0};
  return ByteView{static_cast<uint8_t*>(data), length};
}

namespace {

// A timeout in milliseconds as nanoseconds, -1 for none; -2 when it is not -1 or a number >= 0.
int64_t TimeoutMsToNs(double ms) {
  if (ms == -1) return -1;
  if (std::isnan(ms) || ms < 0) return -2;
  // Anything beyond ~292 years is "forever" for a monotonic clock in ns.
  constexpr double kMaxMs = 9.0e12;
  if (ms > kMaxMs || std::isinf(ms)) return -1;
  return static_cast<int64_t>(ms * 1e6);
}

[[noreturn]] __attribute__((noinline, cold)) void ThrowBadTimeout(Napi::Env env, const char* name,
                                                                  const std::string& received) {
  ThrowRangeError(env, std::string("The value of \"") + name +
                           "\" is out of range. It must be -1 or a number >= 0. Received " + received);
}

}  // namespace

int64_t ArgTimeoutNs(const Napi::CallbackInfo& info, size_t index, const char* name) {
  Napi::Value v = At(info, index);
  // One Node-API call both checks the type and reads the value (ArgInteger).
  double ms;
  if (napi_get_value_double(info.Env(), v, &ms) != napi_ok) {
    ThrowTypeError(info.Env(),
                   std::string("The \"") + name + "\" argument must be of type number. Received " + Describe(v));
  }
  int64_t ns = TimeoutMsToNs(ms);
  if (ns == -2) ThrowBadTimeout(info.Env(), name, v.ToString().Utf8Value());
  return ns;
}

NumberArgs::NumberArgs(const Napi::CallbackInfo& info, size_t index, size_t count) : env_(info.Env()) {
  napi_value v = index < info.Length() ? static_cast<napi_value>(info[index]) : nullptr;
  size_t length = 0;
  void* data = nullptr;
  // An ArrayBuffer, not a typed array: napi_get_typedarray_info costs ~480
  // instructions (it materialises the view's buffer), napi_get_arraybuffer_info
  // a few dozen (PlainArrayBufferInfo: an ArrayBuffer only, never a SharedArrayBuffer).
  if (count > kMax || !PlainArrayBufferInfo(env_, v, &data, &length) || length < count * sizeof(double) ||
      data == nullptr || reinterpret_cast<uintptr_t>(data) % alignof(double) != 0) {
    ThrowTypeError(env_,
                   "The \"args\" argument must be an ArrayBuffer of " + std::to_string(count) + " float64 numbers");
  }
  // Each value read once: the numbers are checked after the copy, as they are used.
  memcpy(v_, data, count * sizeof(double));
  for (size_t i = count; i < kMax; i++) v_[i] = 0;
}

void NumberArgs::ThrowNotInteger(size_t i, const char* name, int64_t min, int64_t max) const {
  ThrowRangeError(env_, std::string("The value of \"") + name + "\" is out of range. It must be an integer >= " +
                            std::to_string(min) + " and <= " + std::to_string(max) + ". Received " +
                            Napi::Number::New(env_, v_[i]).ToString().Utf8Value());
}

int64_t NumberArgs::TimeoutNs(size_t i, const char* name) const {
  int64_t ns = TimeoutMsToNs(v_[i]);
  if (ns == -2) ThrowBadTimeout(env_, name, Napi::Number::New(env_, v_[i]).ToString().Utf8Value());
  return ns;
}

}  // namespace sysv_ipc
