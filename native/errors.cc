#include "errors.h"

#include <cstring>

#include "addon.h"

namespace sysv_ipc {

Napi::Value MakeErrnoError(Napi::Env env, int err, const char* syscall) {
  Addon* addon = env.GetInstanceData<Addon>();
  if (addon != nullptr && !addon->error_class.IsEmpty()) {
    return addon->error_class.New({Napi::Number::New(env, err), Napi::String::New(env, syscall)});
  }
  // Before init: a plain Error with the same fields.
  Napi::Error e = Napi::Error::New(env, std::string(strerror(err)) + ", " + syscall);
  e.Set("errno", Napi::Number::New(env, err));
  e.Set("syscall", Napi::String::New(env, syscall));
  return e.Value();
}

void ThrowErrno(Napi::Env env, int err, const char* syscall) {
  Napi::Value error = MakeErrnoError(env, err, syscall);
  throw Napi::Error(env, error);
}

void Throw(Napi::Env env, ErrorType type, const char* code, const std::string& message) {
  Napi::Error error = type == ErrorType::kTypeError    ? Napi::TypeError::New(env, message)
                      : type == ErrorType::kRangeError ? Napi::RangeError::New(env, message)
                                                       : Napi::Error::New(env, message);
  if (code != nullptr) error.Set("code", Napi::String::New(env, code));
  throw error;
}

}  // namespace sysv_ipc
