// The live native handles of one kind in one environment (shared memory
// attachments, channel handles), so that environment teardown can release
// what JavaScript left open. Owned by the Addon (addon.h), which releases
// each registry in its one cleanup hook.
//
// A handle type has a `registry` member: set while the handle is live (its
// JS object not yet collected, closed or not), null once finalized or
// released by teardown, so that its finalizer (which may run after the
// registry is gone) knows not to touch it. Only the JS thread uses either.
//
// JavaScript holds a handle as an External (napi_create_external) whose
// pointer the registry holds: ArgHandle checks both. That is cheaper than a
// type-tagged wrapped object, whose tag check and unwrap cost ~120 ns a call
// (napi_check_object_type_tag, napi_unwrap; a SharedMemory call measured
// 177 ns against 20 for one without a handle): hot paths make one call per
// operation. The registry lookup is what makes it safe: no other External
// (another kind's handle, another addon's), no handle of another environment
// and none already finalized passes.
#pragma once

#include <napi.h>

#include <cstddef>
#include <initializer_list>
#include <string>
#include <unordered_set>
#include <utility>

#include "errors.h"

namespace sysv_ipc {

template <typename Handle>
class HandleRegistry {
 public:
  HandleRegistry() = default;
  HandleRegistry(const HandleRegistry&) = delete;
  HandleRegistry& operator=(const HandleRegistry&) = delete;

  void Add(Handle* h) {
    live_.insert(h);
    h->registry = this;
  }
  // For the handle's finalizer and explicit close: forgets it, if still live.
  static void Remove(Handle* h) {
    if (h->registry != nullptr) h->registry->live_.erase(h);
    h->registry = nullptr;
  }
  bool Contains(Handle* h) const { return live_.count(h) != 0; }
  const std::unordered_set<Handle*>& live() const { return live_; }

  // Environment teardown: `release(h)` for every live handle, which then
  // counts as released (registry null) while its JS object may live on.
  template <typename Release>
  void ReleaseAll(Release release) {
    for (Handle* h : live_) {
      release(h);
      h->registry = nullptr;
    }
    live_.clear();
  }

 private:
  std::unordered_set<Handle*> live_;
};

// Argument `index` as a live handle of `registry`; a TypeError saying it must
// be `what` ("a channel handle") otherwise.
template <typename Handle>
Handle* ArgHandle(const Napi::CallbackInfo& info, size_t index, const HandleRegistry<Handle>& registry,
                  const char* what) {
  napi_env env = info.Env();
  napi_value v = index < info.Length() ? static_cast<napi_value>(info[index]) : nullptr;
  napi_valuetype type = napi_undefined;
  void* data = nullptr;
  if (v == nullptr || napi_typeof(env, v, &type) != napi_ok || type != napi_external ||
      napi_get_value_external(env, v, &data) != napi_ok || !registry.Contains(static_cast<Handle*>(data))) {
    ThrowTypeError(env, std::string("The \"handle\" argument must be ") + what);
  }
  return static_cast<Handle*>(data);
}

// Adds each (name, callback) to `exports`, with `data` as the functions' data
// (info.Data(): an entry point's registry, found without a lookup).
using ExportList = std::initializer_list<std::pair<const char*, Napi::Function::Callback>>;
inline void Export(Napi::Env env, Napi::Object exports, ExportList functions, void* data = nullptr) {
  for (const auto& f : functions) exports.Set(f.first, Napi::Function::New(env, f.second, f.first, data));
}

}  // namespace sysv_ipc
