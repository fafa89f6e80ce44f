// SharedMap: the native half of a hash map in shared memory
// (include/sysv-ipc/map.h, lib/shared-map.ts). JavaScript reads and writes
// the map itself on the attachment's view; it comes here for the two things
// it cannot do:
// - mapRepair: after a writer died inside an operation (the lock reported
//   owner-died, or the header's dirty word was left set), recompute the
//   counters and top from the index with map.h's own routine, the one C
//   peers run, so that both sides repair alike.
// - mapGuard: a worker terminated while it holds the writers' lock (inside
//   an update() callback, say) runs no more JavaScript, and its process,
//   the lock's owner, lives on: nobody would ever take the lock over. The
//   guard runs when the attachment is left (detach, or the environment's
//   teardown, which leaves every attachment): if this environment holds the
//   lock (the word names this process and the header's token this
//   environment), it releases it with the dirty word still set, so the next
//   writer repairs.
#include <sys/shm.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <memory>

#include "addon.h"
#include "arguments.h"
#include "errors.h"
#include "ipc_common.h"
#include "platform.h"
#include "registry.h"
#include "shared_memory.h"

#if SYSV_IPC_FUTEX
#include <sysv-ipc/map.h>
#endif

namespace sysv_ipc {

#if SYSV_IPC_FUTEX

namespace {

// The map at the attachment passed first; EPROTO/EBADMSG (map.h) when its header is not one.
int AttachMap(const std::shared_ptr<Mapping>& mapping, sysv_ipc_map* m) {
  return sysv_ipc_map_attach(m, mapping->data(), mapping->size());
}

// mapRepair(handle) → 0, or map.h's CORRUPT (EBADMSG) / NOT_A_MAP (EPROTO). The caller holds the lock.
Napi::Value MapRepair(const Napi::CallbackInfo& info) {
  std::shared_ptr<Mapping> mapping = ArgAttachedMapping(info, 0);
  if (mapping->read_only()) ThrowState(info.Env(), "ERR_SYSV_IPC_READ_ONLY", "A map cannot be repaired read-only");
  sysv_ipc_map m;
  int r = AttachMap(mapping, &m);
  if (r == SYSV_IPC_MAP_OK) r = sysv_ipc_map_repair(&m);
  return Napi::Number::New(info.Env(), r);
}

// A unique key per guarded attachment for Mapping::AtUnmapLocked: the guard itself.
struct Guard {
  uint32_t token;
};

// mapGuard(handle, token): see the file comment. Once per attachment.
Napi::Value MapGuard(const Napi::CallbackInfo& info) {
  std::shared_ptr<Mapping> mapping = ArgAttachedMapping(info, 0);
  uint32_t token = static_cast<uint32_t>(ArgInteger(info, 1, "token", 1, 0xFFFFFFFFll));
  if (mapping->size() < SYSV_IPC_MAP_HEADER_SIZE || mapping->read_only()) return info.Env().Undefined();
  auto guard = std::make_shared<Guard>(Guard{token});
  mapping->WhileMapped([&](uint8_t*) {
    mapping->AtUnmapLocked(guard.get(), [guard](uint8_t* data) {
      auto* w = reinterpret_cast<uint32_t*>(data);
      auto* lock = reinterpret_cast<sysv_ipc_lock*>(data + SYSV_IPC_MAP_LOCK_OFFSET);
      uint32_t word = __atomic_load_n(&lock->word, __ATOMIC_ACQUIRE);
      uint32_t pid = static_cast<uint32_t>(getpid());
      if ((word & SYSV_IPC_LOCK_PID_MASK) != pid) return;
      if (__atomic_load_n(&w[SYSV_IPC_MAP_H_TOKEN], __ATOMIC_RELAXED) != guard->token) return;
      // Ours, mid-operation: leave dirty set (the next writer repairs), forget the token, release.
      __atomic_store_n(&w[SYSV_IPC_MAP_H_DIRTY], 1u, __ATOMIC_RELAXED);
      __atomic_store_n(&w[SYSV_IPC_MAP_H_TOKEN], 0u, __ATOMIC_RELAXED);
      sysv_ipc_lock_self self{pid, 0};
      sysv_ipc_lock_release(lock, &self);
    });
  });
  return info.Env().Undefined();
}

// mapPeek(id) → { capacity, entries, usedBytes, slots, maxKeySize, maxValueSize, evict } of the map in
// segment `id`, attached read-only and detached again (nothing written), or null if it holds none.
// For `sysv-ipc ls --peek` and `stat --peek`. The counters are read without the lock: a snapshot.
Napi::Value MapPeek(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int id = ArgId(info, 0);
  struct shmid_ds ds;
  if (shmctl(id, IPC_STAT, &ds) < 0) ThrowErrno(env, errno, "shmctl");
  if (static_cast<uint64_t>(ds.shm_segsz) < sysv_ipc_map_segment_size(16, SYSV_IPC_MAP_MIN_CAPACITY)) {
    return env.Null();
  }
  void* addr = shmat(id, nullptr, SHM_RDONLY);
  if (addr == reinterpret_cast<void*>(-1)) ThrowErrno(env, errno, "shmat");
  struct Detach {
    void* addr;
    ~Detach() { shmdt(addr); }
  } detach{addr};
  // The size again, now that the segment is attached (its id cannot be reused under us any more).
  if (shmctl(id, IPC_STAT, &ds) < 0) ThrowErrno(env, errno, "shmctl");
  sysv_ipc_map m;
  int r = sysv_ipc_map_attach(&m, addr, static_cast<uint64_t>(ds.shm_segsz));
  if (r == SYSV_IPC_MAP_NOT_A_MAP) return env.Null();
  Napi::Object out = Napi::Object::New(env);
  out.Set("corrupt", Napi::Boolean::New(env, r != SYSV_IPC_MAP_OK));
  if (r != SYSV_IPC_MAP_OK) return out;
  out.Set("capacity", Napi::Number::New(env, m.capacity));
  out.Set("slots", Napi::Number::New(env, m.slots));
  out.Set("maxEntries", Napi::Number::New(env, sysv_ipc_map_limit(&m)));
  out.Set("maxKeySize", Napi::Number::New(env, m.max_key));
  out.Set("maxValueSize", Napi::Number::New(env, m.max_value));
  out.Set("evict", Napi::Boolean::New(env, (m.flags & SYSV_IPC_MAP_FLAG_EVICT) != 0));
  out.Set("entries", Napi::Number::New(env, __atomic_load_n(&m.w[SYSV_IPC_MAP_H_ENTRIES], __ATOMIC_RELAXED)));
  out.Set("usedBytes", Napi::Number::New(env, __atomic_load_n(&m.w[SYSV_IPC_MAP_H_USED], __ATOMIC_RELAXED)));
  return out;
}

}  // namespace

void RegisterSharedMap(Napi::Env env, Napi::Object exports, Napi::Object constants) {
  Export(env, exports, {{"mapRepair", MapRepair}, {"mapGuard", MapGuard}, {"mapPeek", MapPeek}});
  Napi::Object map = Napi::Object::New(env);
  map.Set("CORRUPT", Napi::Number::New(env, SYSV_IPC_MAP_CORRUPT));
  map.Set("NOT_A_MAP", Napi::Number::New(env, SYSV_IPC_MAP_NOT_A_MAP));
  map.Set("H_TOKEN", Napi::Number::New(env, SYSV_IPC_MAP_H_TOKEN));
  constants.Set("MAP", map);
}

#else

void RegisterSharedMap(Napi::Env env, Napi::Object exports, Napi::Object constants) {
  Export(
      env, exports,
      {{"mapRepair", UnavailableEntryPoint}, {"mapGuard", UnavailableEntryPoint}, {"mapPeek", UnavailableEntryPoint}},
      const_cast<char*>("SharedMap"));
  (void)constants;
}

#endif

}  // namespace sysv_ipc
