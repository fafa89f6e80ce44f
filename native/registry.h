// The live native handles of one kind in one environment (shared memory
// attachments, channel handles), so that environment teardown can release
// what JavaScript left open. Owned by the Addon (addon.h), which releases
// each registry in its one cleanup hook.
//
// A handle type has a `registry` member: set while the handle is live, null
// once released by teardown, so that its finalizer (which may run after the
// registry is gone) knows not to touch it. Only the JS thread uses either.
#pragma once

#include <napi.h>

#include <cstddef>
#include <initializer_list>
#include <unordered_set>
#include <utility>

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

// Adds each (name, callback) to `exports`, with `data` as the functions' data
// (info.Data(): an entry point's registry, found without a lookup).
using ExportList = std::initializer_list<std::pair<const char*, Napi::Function::Callback>>;
inline void Export(Napi::Env env, Napi::Object exports, ExportList functions, void* data = nullptr) {
  for (const auto& f : functions) exports.Set(f.first, Napi::Function::New(env, f.second, f.first, data));
}

}  // namespace sysv_ipc
