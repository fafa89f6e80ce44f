#include "arguments.h"

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

int64_t ArgInteger(const Napi::CallbackInfo& info, size_t index, const char* name, int64_t min, int64_t max) {
  Napi::Value v = At(info, index);
  // One Node-API call both checks the type and reads the value (this runs
  // for every argument of every call: it is the hot path).
  double d;
  if (napi_get_value_double(info.Env(), v, &d) != napi_ok) {
    ThrowTypeError(info.Env(),
                   std::string("The \"") + name + "\" argument must be of type number. Received " + Describe(v));
  }
  if (std::isnan(d) || std::trunc(d) != d || d < static_cast<double>(min) || d > static_cast<double>(max)) {
    ThrowRangeError(info.Env(), std::string("The value of \"") + name +
                                    "\" is out of range. It must be an integer >= " + std::to_string(min) +
                                    " and <= " + std::to_string(max) + ". Received " + v.ToString().Utf8Value());
  }
  return static_cast<int64_t>(d);
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

int64_t ArgTimeoutNs(const Napi::CallbackInfo& info, size_t index, const char* name) {
  Napi::Value v = At(info, index);
  // One Node-API call both checks the type and reads the value (ArgInteger).
  double ms;
  if (napi_get_value_double(info.Env(), v, &ms) != napi_ok) {
    ThrowTypeError(info.Env(),
                   std::string("The \"") + name + "\" argument must be of type number. Received " + Describe(v));
  }
  if (ms == -1) return -1;
  if (std::isnan(ms) || ms < 0) {
    ThrowRangeError(info.Env(), std::string("The value of \"") + name +
                                    "\" is out of range. It must be -1 or a number >= 0. Received " +
                                    v.ToString().Utf8Value());
  }
  // Anything beyond ~292 years is "forever" for a monotonic clock in ns.
  constexpr double kMaxMs = 9.0e12;
  if (ms > kMaxMs || std::isinf(ms)) return -1;
  return static_cast<int64_t>(ms * 1e6);
}

}  // namespace sysv_ipc
