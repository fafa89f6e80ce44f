// Small pieces shared by the three IPC kinds: key and flag arguments, and the
// ipc_perm part of every IPC_STAT result.
#pragma once

#include <napi.h>
#include <sys/ipc.h>
#include <sys/types.h>

#include <cstdint>

#include "arguments.h"

namespace sysv_ipc {

// The field that holds the key in struct ipc_perm differs per libc.
#if defined(__linux__)
#define SYSV_IPC_PERM_KEY(perm) ((perm).__key)
#elif defined(__APPLE__)
#define SYSV_IPC_PERM_KEY(perm) ((perm)._key)
#else
#define SYSV_IPC_PERM_KEY(perm) ((perm).key)
#endif

// A key_t argument: any 32-bit value, signed or unsigned (C programs print both).
inline key_t ArgKey(const Napi::CallbackInfo& info, size_t index) {
  return static_cast<key_t>(
      static_cast<int32_t>(static_cast<uint32_t>(ArgInteger(info, index, "key", -2147483648LL, 4294967295LL))));
}

// An IPC identifier (msqid/semid/shmid).
inline int ArgId(const Napi::CallbackInfo& info, size_t index) {
  return static_cast<int>(ArgInteger(info, index, "id", 0, 0x7fffffff));
}

// `flags` when it contains only the bits in `allowed`; a RangeError otherwise.
inline int CheckFlags(Napi::Env env, int64_t flags, int allowed) {
  if ((flags & ~static_cast<int64_t>(allowed)) != 0) {
    ThrowRangeError(env, "The value of \"flags\" is out of range: it contains bits this call does not take");
  }
  return static_cast<int>(flags);
}

// Flags that may only contain the bits in `allowed`.
inline int ArgFlags(const Napi::CallbackInfo& info, size_t index, int allowed) {
  return CheckFlags(info.Env(), ArgInteger(info, index, "flags", 0, 0x7fffffff), allowed);
}

// An id, from a call's NumberArgs.
inline int NumberId(const NumberArgs& a, size_t i) { return static_cast<int>(a.Integer(i, "id", 0, 0x7fffffff)); }

// Flags from a call's NumberArgs (see ArgFlags).
inline int NumberFlags(Napi::Env env, const NumberArgs& a, size_t i, int allowed) {
  return CheckFlags(env, a.Integer(i, "flags", 0, 0x7fffffff), allowed);
}

// A field to change with IPC_SET, or -1 to keep it.
inline int64_t ArgOptionalField(const Napi::CallbackInfo& info, size_t index, const char* name, int64_t max) {
  return ArgInteger(info, index, name, -1, max);
}

// The owner, creator and mode fields of an IPC_STAT result.
inline void SetPermFields(Napi::Env env, Napi::Object out, const struct ipc_perm& perm) {
  out.Set("key", Napi::Number::New(env, static_cast<int32_t>(SYSV_IPC_PERM_KEY(perm))));
  out.Set("uid", Napi::Number::New(env, static_cast<double>(perm.uid)));
  out.Set("gid", Napi::Number::New(env, static_cast<double>(perm.gid)));
  out.Set("cuid", Napi::Number::New(env, static_cast<double>(perm.cuid)));
  out.Set("cgid", Napi::Number::New(env, static_cast<double>(perm.cgid)));
  out.Set("mode", Napi::Number::New(env, static_cast<double>(perm.mode & 0777)));
}

}  // namespace sysv_ipc
