// The native side of a shared memory attachment, as other native files
// (fast_mutex.cc) see it: the mapping, shared by everything that may touch
// the memory, and the way to get it from an attachment handle.
#pragma once

#include <napi.h>
#include <sys/mman.h>
#include <sys/shm.h>
#include <unistd.h>

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <unordered_map>

namespace sysv_ipc {

// ---- the mapping: left once (Unmap), its address range freed by whoever lets go last

class Mapping {
 public:
  Mapping(void* addr, size_t size, bool read_only)
      : base_(addr), span_(PageSpan(size)), addr_(addr), size_(size), read_only_(read_only) {}
  // The last reference: nothing can touch the range any more.
  ~Mapping() {
    if (!unmapped() || still_attached_) {
      shmdt(base_);
    } else {
      munmap(base_, span_);
    }
  }
  Mapping(const Mapping&) = delete;
  Mapping& operator=(const Mapping&) = delete;

  // Leaves the segment now (its attach count falls) but keeps the address
  // range valid: shmat's pages are replaced by private anonymous ones in one
  // step (mmap(2) MAP_FIXED discards the old mapping), so a waiter thread
  // still reading the range (a FastMutex wait, a futex wait) reads zeros
  // instead of faulting; it sees null data() and reports a cancellation.
  // Only called once no JavaScript can reach the memory (its ArrayBuffer is
  // detached or never existed).
  // Before it leaves, it runs what AtUnmapLocked registered (locks taken
  // for JavaScript and not yet handed to it: fast_mutex.cc).
  void Unmap() {
    std::lock_guard<std::mutex> guard(unmap_mutex_);
    void* addr = addr_.exchange(nullptr, std::memory_order_acq_rel);
    if (addr == nullptr) return;
    for (auto& entry : at_unmap_) entry.second(static_cast<uint8_t*>(addr));
    at_unmap_.clear();
    int prot = read_only_ ? PROT_READ : PROT_READ | PROT_WRITE;
    if (mmap(base_, span_, prot, MAP_FIXED | MAP_PRIVATE | MAP_ANONYMOUS, -1, 0) == MAP_FAILED) {
      // Not replaceable (a huge-page segment whose range cannot be split at
      // this page size): stay attached until the last reference instead.
      still_attached_ = true;
    }
  }

  // Runs fn(data) if still mapped, with no Unmap able to start meanwhile:
  // false (fn not run) once unmapped. For a waiter thread's write that must
  // land in the segment, not in the anonymous memory that replaces it.
  template <typename F>
  bool WhileMapped(F&& fn) {
    std::lock_guard<std::mutex> guard(unmap_mutex_);
    uint8_t* d = data();
    if (d == nullptr) return false;
    fn(d);
    return true;
  }
  // Only inside WhileMapped's fn: Unmap will run fn(data) before it leaves
  // the segment, unless DropAtUnmap(key) comes first.
  void AtUnmapLocked(const void* key, std::function<void(uint8_t*)> fn) { at_unmap_[key] = std::move(fn); }
  // Takes back what AtUnmapLocked registered under `key`, running then(data)
  // with no Unmap able to start meanwhile: false if there was none (Unmap ran it).
  template <typename F>
  bool DropAtUnmap(const void* key, F&& then) {
    std::lock_guard<std::mutex> guard(unmap_mutex_);
    auto it = at_unmap_.find(key);
    if (it == at_unmap_.end()) return false;
    at_unmap_.erase(it);
    then(data());
    return true;
  }

  // Null once unmapped. A waiter thread reads it while the JS thread may unmap.
  uint8_t* data() const { return static_cast<uint8_t*>(addr_.load(std::memory_order_acquire)); }
  // The address range, valid as long as this object lives (also after Unmap).
  uint8_t* base() const { return static_cast<uint8_t*>(base_); }
  size_t size() const { return size_; }
  // The 32-bit word at `index` (in range: the caller checks).
  uint32_t* WordAt(int64_t index) const { return reinterpret_cast<uint32_t*>(data() + index * 4); }
  bool read_only() const { return read_only_; }
  bool unmapped() const { return data() == nullptr; }
  // Kept for the rest of the process (KeepForever): never Unmap it.
  bool kept() const { return kept_.load(std::memory_order_acquire); }
  void set_kept() { kept_.store(true, std::memory_order_release); }
  // JavaScript moved the backing store out of its ArrayBuffer (transfer()).
  bool escaped() const { return escaped_.load(std::memory_order_acquire); }
  void set_escaped() { escaped_.store(true, std::memory_order_release); }
  // An escaped mapping leaves the segment (Unmap) once both its attachment
  // was detached and the moved backing store was freed: until then JavaScript
  // may still use it. The range itself stays valid until the last reference
  // (the old ArrayBuffer object's hold may outlive both).
  void EscapedDetached() {
    detached_.store(true, std::memory_order_release);
    if (store_freed_.load(std::memory_order_acquire)) Unmap();
  }
  void EscapedStoreFreed() {
    store_freed_.store(true, std::memory_order_release);
    if (detached_.load(std::memory_order_acquire)) Unmap();
  }

 private:
  // shmat maps whole pages.
  static size_t PageSpan(size_t size) {
    size_t page = static_cast<size_t>(sysconf(_SC_PAGESIZE));
    return (size + page - 1) / page * page;
  }
  void* const base_;
  const size_t span_;
  std::atomic<void*> addr_;
  const size_t size_;
  const bool read_only_;
  bool still_attached_ = false;  // written by Unmap, read by the last reference
  std::atomic<bool> kept_{false};
  std::atomic<bool> escaped_{false};
  std::atomic<bool> detached_{false};
  std::atomic<bool> store_freed_{false};
  std::mutex unmap_mutex_;  // orders Unmap against WhileMapped and DropAtUnmap
  std::unordered_map<const void*, std::function<void(uint8_t*)>> at_unmap_;
};

// The mapping of the attachment handle passed as argument `index`: a
// TypeError for anything else, ERR_SYSV_IPC_CLOSED once detached. A share
// of it (for a wait that may outlive the call), or for the call only.
std::shared_ptr<Mapping> ArgAttachedMapping(const Napi::CallbackInfo& info, size_t index);
Mapping& AttachedMapping(const Napi::CallbackInfo& info, size_t index);

}  // namespace sysv_ipc
