// Shared memory segments: shmget, shmat/shmdt, shmctl. Futex wait/wake on a
// word of an attachment: futex.cc.
//
// The hard part is safety, not the syscalls. JavaScript gets zero-copy views
// of an attachment through one external ArrayBuffer, and three rules keep any
// JS from touching memory it must not:
//
// 1. One ArrayBuffer per attachment, created on first use and cached (held by
//    a strong reference): V8 must never see two backing stores over one
//    address, and every Buffer/typed array JS makes is a view of that one.
// 2. An explicit detach (or environment teardown) detaches that ArrayBuffer
//    (napi_detach_arraybuffer: every view now has length 0), then leaves the
//    segment without unmapping the range: private anonymous memory is mapped
//    over it (mmap MAP_FIXED), so the attach count falls at once while native
//    code that took the raw pointer earlier (a libuv threadpool job such as
//    crypto.randomFill or fs.read into a view, a pending socket write) writes
//    harmlessly. The range is unmapped when the last reference goes.
//    If JavaScript moved its backing store away first (ArrayBuffer's
//    transfer()), the new owner may still use it: the detach then waits for it.
//    Without an explicit detach, the mapping lives as long as anything can
//    reach it: the attachment object, the ArrayBuffer (its finalizer holds a
//    reference until V8 frees the backing store) and every futex wait in
//    flight (each holds one). The last of them to go detaches; a GC finalizer
//    never removes the segment.
//    One exception to "the finalizer runs when the backing store is freed":
//    Node runs it at environment teardown (a worker ending) even if a moved
//    backing store lives on in another thread, and nothing in Node-API tells
//    the two apart then (Node has detached the ArrayBuffer itself). So the
//    attachment's ArrayBuffer carries its own transfer() and
//    transferToFixedLength(), which record the move; a moved mapping whose
//    finalizer runs at teardown is kept for the rest of the process, as no
//    later point is known at which it would be safe to unmap.
// 3. A read-only attachment (SHM_RDONLY) never gets an ArrayBuffer at all:
//    V8 has no read-only ArrayBuffer, and a JS store into a read-only mapping
//    is SIGSEGV. Reads go through read()/readInto(), which copy.
#include <errno.h>
#include <sched.h>
#include <sys/ipc.h>
#include <sys/mman.h>
#include <sys/shm.h>
#include <sys/types.h>
#include <unistd.h>

#include "platform.h"

#include <atomic>
#include <climits>
#include <cstdint>
#include <cstring>
#include <memory>
#include <mutex>
#include <unordered_set>
#include <vector>

#include "addon.h"
#include "arguments.h"
#include "blocking.h"
#include "errors.h"
#include "ipc_common.h"
#include "platform.h"
#include "registry.h"
#include "results.h"
#include "shared_memory.h"

namespace sysv_ipc {

namespace {

// Mappings whose backing store moved to another environment that outlived
// the one that made it (see the file comment): never released. Never
// destroyed either (a static destructor at exit would unmap under threads
// still running).
void KeepForever(std::shared_ptr<Mapping> mapping) {
  static std::mutex* mutex = new std::mutex();
  static auto* kept = new std::vector<std::shared_ptr<Mapping>>();
  std::lock_guard<std::mutex> lock(*mutex);
  mapping->set_kept();
  kept->push_back(std::move(mapping));
}

}  // namespace

// The native side of one attachment, held by JavaScript as an External (its
// handle). Live handles are in the Addon's AttachmentRegistry (registry.h),
// which is how a call knows one, and how teardown (a worker ending) detaches
// what JavaScript left attached.
struct Attachment {
  std::shared_ptr<Mapping> mapping;                // null once detached
  napi_ref array_buffer = nullptr;                 // strong; the one ArrayBuffer over the mapping
  HandleRegistry<Attachment>* registry = nullptr;  // null once finalized or after teardown
  int id = -1;
};

namespace {

AttachmentRegistry* GetRegistry(const Napi::CallbackInfo& info) {
  return static_cast<AttachmentRegistry*>(info.Data());
}

[[noreturn]] void ThrowDetached(Napi::Env env) { ThrowClosed(env, "The shared memory attachment is detached"); }

// What became of the attachment's ArrayBuffer when we detached it.
enum class ViewState {
  kNone,      // never created: nothing in JavaScript points at the mapping
  kDetached,  // we detached it: every view is now zero-length
  kEscaped,   // someone detached it before us (ArrayBuffer.prototype.transfer
              // moves the backing store to a new ArrayBuffer, which may then
              // travel to another thread): the memory may still be reachable
  kFailed,    // could not detach: JavaScript can still reach the mapping
};

// Detaches the ArrayBuffer (if any) and drops the strong reference to it.
ViewState DetachArrayBuffer(napi_env env, Attachment* a) {
  if (a->array_buffer == nullptr) return ViewState::kNone;
  napi_handle_scope scope;
  if (napi_open_handle_scope(env, &scope) != napi_ok) return ViewState::kFailed;
  ViewState state = ViewState::kFailed;
  napi_value ab;
  if (napi_get_reference_value(env, a->array_buffer, &ab) == napi_ok && ab != nullptr) {
    bool detached = false;
    if (napi_is_detached_arraybuffer(env, ab, &detached) == napi_ok) {
      if (detached) {
        state = ViewState::kEscaped;
      } else if (napi_detach_arraybuffer(env, ab) == napi_ok) {
        state = ViewState::kDetached;
      }
    }
  }
  napi_close_handle_scope(env, scope);
  if (state != ViewState::kFailed) {
    napi_delete_reference(env, a->array_buffer);
    a->array_buffer = nullptr;
  }
  return state;
}

// Explicit detach (JS detach() and teardown): views first, then shmdt. If the
// backing store escaped, shmdt is left to its finalizer (the last reference).
bool DetachNow(napi_env env, Attachment* a) {
  if (!a->mapping) return false;
  ViewState state = DetachArrayBuffer(env, a);
  if (state == ViewState::kFailed) return false;
  if (state != ViewState::kEscaped) {
    a->mapping->Unmap();
  } else {
    a->mapping->EscapedDetached();
  }
  a->mapping.reset();
  // It stays in the registry (its handle is live: calls on it say
  // "detached"); teardown finds nothing left to release in it.
  return true;
}

// The handle's finalizer (GC of the SharedMemory object). Never IPC_RMID.
// The mapping is released, not unmapped: the ArrayBuffer, if JavaScript still
// holds it, keeps its own reference and the last one out runs shmdt.
void FinalizeAttachment(napi_env env, void* data, void*) {
  auto* a = static_cast<Attachment*>(data);
  if (a->array_buffer != nullptr) napi_delete_reference(env, a->array_buffer);
  HandleRegistry<Attachment>::Remove(a);
  delete a;  // drops its share of the mapping
}

// The ArrayBuffer's share of the mapping. Node may run the finalizer while
// napi_create_external_arraybuffer is still failing (it refuses lengths above
// its Buffer limit and finalizes at once), so who frees the box depends on
// whether creation succeeded: never both, never neither.
struct ViewShare {
  std::shared_ptr<Mapping> mapping;
  bool created = false;    // the ArrayBuffer exists: the finalizer frees the box
  bool finalized = false;  // the finalizer ran during a failed creation
};

void FinalizeArrayBuffer(napi_env env, void*, void* hint) {
  auto* share = static_cast<ViewShare*>(hint);
  // Normally this runs once V8 has freed the backing store. At environment
  // teardown Node runs it regardless, and a backing store that transfer()
  // moved out may live on in another environment: keep that mapping for good.
  if (share->created && share->mapping->escaped()) {
    if (!CanRunJavaScript(env)) {
      KeepForever(share->mapping);
    } else {
      share->mapping->EscapedStoreFreed();
    }
  }
  share->mapping.reset();
  if (share->created) {
    delete share;
  } else {
    share->finalized = true;  // ShmArrayBuffer frees it
  }
}

// ---- the ArrayBuffer object's own hold on the mapping, and transfer()

// The ArrayBuffer object holds the mapping too, until it is collected:
// native code that writes a view off the JS thread (a threadpool job, a
// socket write) keeps the view object reachable until it is done, as Node
// does for every buffer it hands to such code, but not the backing store,
// which detach() or transfer() may free at once (see Mapping::Unmap and
// GuardedTransfer).
struct ViewHold {
  std::shared_ptr<Mapping> mapping;
};

void ReleaseHold(napi_env, void* data, void*) { delete static_cast<std::shared_ptr<ViewHold>*>(data); }

// ArrayBuffer.prototype.transfer and transferToFixedLength move the backing
// store to a new ArrayBuffer that may travel to another thread (postMessage
// moves plain ArrayBuffers). Each attachment's ArrayBuffer gets its own
// `transfer`/`transferToFixedLength`, which record the move on the mapping,
// then call the built-in.
struct TransferGuard {
  std::weak_ptr<Mapping> mapping;
  const char* name;
};

Napi::Value GuardedTransfer(const Napi::CallbackInfo& info) {
  auto* guard = static_cast<TransferGuard*>(info.Data());
  Napi::Env env = info.Env();
  Napi::Value constructor = env.Global().Get("ArrayBuffer");
  Napi::Value prototype = constructor.IsFunction() ? constructor.As<Napi::Object>().Get("prototype") : env.Undefined();
  Napi::Value builtin = prototype.IsObject() ? prototype.As<Napi::Object>().Get(guard->name) : env.Undefined();
  if (!builtin.IsFunction())
    ThrowTypeError(env, std::string("ArrayBuffer.prototype.") + guard->name + " is not a function");
  if (auto mapping = guard->mapping.lock()) mapping->set_escaped();
  std::vector<napi_value> args;
  for (size_t i = 0; i < info.Length(); i++) args.push_back(info[i]);
  // The old ArrayBuffer object keeps its hold until it is collected, even
  // though it is now empty: native code that took the raw pointer before the
  // move (a threadpool job filling a view) keeps that object reachable, not
  // the moved backing store, which may be freed first (transfer(n) copies
  // and frees it at once). Dropping the hold here let detach() unmap under
  // that writer (SIGSEGV). `this` need not even be our ArrayBuffer.
  return builtin.As<Napi::Function>().Call(info.This(), args);
}

void FinalizeGuard(napi_env, void* data, void*) { delete static_cast<TransferGuard*>(data); }

// Gives `ab` its hold and transfer guards (for each method this runtime has). false: could not.
bool HoldAndGuard(napi_env env, napi_value ab, const std::shared_ptr<Mapping>& mapping) {
  auto hold = std::make_shared<ViewHold>(ViewHold{mapping});
  auto* box = new std::shared_ptr<ViewHold>(hold);
  if (napi_add_finalizer(env, ab, box, ReleaseHold, nullptr, nullptr) != napi_ok) {
    delete box;
    return false;
  }
  Napi::Env e(env);
  Napi::Value constructor = e.Global().Get("ArrayBuffer");
  Napi::Value prototype = constructor.IsFunction() ? constructor.As<Napi::Object>().Get("prototype") : e.Undefined();
  if (!prototype.IsObject()) return false;
  for (const char* name : {"transfer", "transferToFixedLength"}) {
    if (!prototype.As<Napi::Object>().Get(name).IsFunction()) continue;  // Node 18, or Node 20 without the flag
    auto* guard = new TransferGuard{mapping, name};
    napi_value fn = Napi::Function::New(e, GuardedTransfer, name, guard);
    if (napi_add_finalizer(env, fn, guard, FinalizeGuard, nullptr, nullptr) != napi_ok) {
      delete guard;
      return false;
    }
    // Not writable, not configurable: the guard cannot be removed to reach
    // the built-in through the prototype by accident.
    napi_property_descriptor d = {name, nullptr, nullptr, nullptr, nullptr, fn, napi_default, nullptr};
    if (napi_define_properties(env, ab, 1, &d) != napi_ok) return false;
  }
  return true;
}

// An attachment handle: an External this environment's registry holds
// (registry.h). Found through the instance data, not the function's data:
// the futex, fast mutex, topic and map entry points take these handles too.
Attachment* ArgAttachment(const Napi::CallbackInfo& info, size_t index) {
  return ArgHandle(info, index, info.Env().GetInstanceData<Addon>()->attachments(),
                   "a shared memory attachment handle");
}

// offset and length within [0, size], offset + length <= size.
void CheckRange(Napi::Env env, const Mapping& m, int64_t offset, int64_t length) {
  int64_t size = static_cast<int64_t>(m.size());
  if (offset > size || length > size - offset) {
    ThrowRangeError(env, "The range [" + std::to_string(offset) + ", " + std::to_string(offset + length) +
                             ") is out of bounds of the " + std::to_string(size) + "-byte segment");
  }
}

// ---- entry points

Napi::Value ShmGet(const Napi::CallbackInfo& info) {
  key_t key = ArgKey(info, 0);
  size_t size = static_cast<size_t>(ArgInteger(info, 1, "size", 0, kMaxSafeInteger));
  int flags = ArgFlags(info, 2, IPC_CREAT | IPC_EXCL | 0777);
  int id = shmget(key, size, flags);
  if (id < 0) ThrowErrno(info.Env(), errno, "shmget");
  return Napi::Number::New(info.Env(), id);
}

// shmat(id, readOnly) → { handle, size }: the size is the segment's (shm_segsz).
Napi::Value ShmAt(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  AttachmentRegistry* registry = GetRegistry(info);
  int id = ArgId(info, 0);
  bool read_only = ArgBoolean(info, 1, "readOnly");
  void* addr = shmat(id, nullptr, read_only ? SHM_RDONLY : 0);
  if (addr == reinterpret_cast<void*>(-1)) ThrowErrno(env, errno, "shmat");
  // The size is the segment's (shm_segsz), whatever the caller asked for.
  struct shmid_ds ds;
  if (shmctl(id, IPC_STAT, &ds) < 0) {
    int err = errno;
    shmdt(addr);
    ThrowErrno(env, err, "shmctl");
  }
  auto* a = new Attachment();
  a->mapping = std::make_shared<Mapping>(addr, static_cast<size_t>(ds.shm_segsz), read_only);
  a->id = id;
  napi_value handle;
  if (napi_create_external(env, a, FinalizeAttachment, nullptr, &handle) != napi_ok) {
    delete a;  // shmdt through the mapping
    ThrowError(env, "sysv-ipc: cannot create the attachment handle");
  }
  registry->Add(a);
  Napi::Object out = Napi::Object::New(env);
  out.Set("handle", Napi::Value(env, handle));
  out.Set("size", Napi::Number::New(env, static_cast<double>(ds.shm_segsz)));
  return out;
}

// Detaches (views first, then shmdt). true if it was attached, false if already detached.
Napi::Value ShmDetach(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Attachment* a = ArgAttachment(info, 0);
  if (!a->mapping) return Napi::Boolean::New(env, false);
  if (!DetachNow(env, a)) {
    ThrowError(env, "sysv-ipc: cannot detach the ArrayBuffer of the attachment; the segment stays attached");
  }
  return Napi::Boolean::New(env, true);
}

// The attachment's one ArrayBuffer (created on first call, then the same object).
Napi::Value ShmArrayBuffer(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
#ifdef SYSV_IPC_TEST_PROBES
  AttachmentRegistry* registry = GetRegistry(info);
#endif
  Attachment* a = ArgAttachment(info, 0);
  if (!a->mapping) ThrowDetached(env);
  if (a->mapping->read_only()) {
    ThrowState(env, "ERR_SYSV_IPC_READ_ONLY",
               "A read-only attachment has no zero-copy view (a JavaScript write would crash the process): "
               "use read() or readInto()");
  }
  if (a->array_buffer != nullptr) {
    napi_value ab;
    if (napi_get_reference_value(env, a->array_buffer, &ab) == napi_ok && ab != nullptr) return Napi::Value(env, ab);
    ThrowClosed(env, "The ArrayBuffer of the attachment is gone");
  }
  auto* share = new ViewShare{a->mapping};
  napi_value ab;
#ifdef SYSV_IPC_TEST_PROBES
  napi_status status = registry->refuse_external_buffers
                           ? napi_no_external_buffers_allowed
                           : napi_create_external_arraybuffer(env, a->mapping->data(), a->mapping->size(),
                                                              FinalizeArrayBuffer, share, &ab);
#else
  napi_status status =
      napi_create_external_arraybuffer(env, a->mapping->data(), a->mapping->size(), FinalizeArrayBuffer, share, &ab);
#endif
  if (status != napi_ok) {
    delete share;  // whether or not the finalizer ran, the box is ours to free
    if (status == napi_no_external_buffers_allowed) {
      ThrowState(env, "ERR_SYSV_IPC_NO_EXTERNAL_BUFFERS",
                 "This runtime does not allow external ArrayBuffers (napi_no_external_buffers_allowed, as in "
                 "Electron's V8 sandbox), so shared memory has no zero-copy view here: use read(), readInto() "
                 "and write()");
    }
    if (env.IsExceptionPending()) throw env.GetAndClearPendingException();
    ThrowError(env, "sysv-ipc: cannot create an ArrayBuffer over the attachment");
  }
  share->created = true;
  bool guarded = false;
  try {
    guarded = HoldAndGuard(env, ab, a->mapping);
  } catch (const Napi::Error&) {
    guarded = false;  // a global ArrayBuffer replaced by something odd, out of memory
  }
  if (!guarded) {
    // Keep no view we could not guard: a second one over the same memory would abort V8.
    if (env.IsExceptionPending()) env.GetAndClearPendingException();
    napi_detach_arraybuffer(env, ab);
    ThrowError(env, "sysv-ipc: cannot watch the attachment's ArrayBuffer");
  }
  if (napi_create_reference(env, ab, 1, &a->array_buffer) != napi_ok) {
    // Keep no view we cannot detach later.
    napi_detach_arraybuffer(env, ab);
    ThrowError(env, "sysv-ipc: cannot keep a reference to the attachment's ArrayBuffer");
  }
  return Napi::Value(env, ab);
}

// shmRead(handle, offset, length) → a fresh Buffer with a copy.
Napi::Value ShmRead(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Mapping& m = AttachedMapping(info, 0);
  int64_t offset = ArgInteger(info, 1, "offset", 0, kMaxSafeInteger);
  int64_t length = ArgInteger(info, 2, "length", 0, kMaxSafeInteger);
  CheckRange(env, m, offset, length);
  return Napi::Buffer<uint8_t>::Copy(env, m.data() + offset, static_cast<size_t>(length));
}

// shmReadInto(handle, offset, target) → bytes copied (all of target, or a RangeError).
Napi::Value ShmReadInto(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Mapping& m = AttachedMapping(info, 0);
  int64_t offset = ArgInteger(info, 1, "offset", 0, kMaxSafeInteger);
  ByteView target = ArgBytes(info, 2, "target");
  CheckRange(env, m, offset, static_cast<int64_t>(target.length));
  // memmove: the target may be a view of this very segment.
  if (target.length > 0) memmove(target.data, m.data() + offset, target.length);
  return Napi::Number::New(env, static_cast<double>(target.length));
}

// shmWrite(handle, offset, data) → bytes written. All or nothing.
Napi::Value ShmWrite(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Mapping& m = AttachedMapping(info, 0);
  int64_t offset = ArgInteger(info, 1, "offset", 0, kMaxSafeInteger);
  ByteView data = ArgBytes(info, 2, "data");
  if (m.read_only()) {
    ThrowState(env, "ERR_SYSV_IPC_READ_ONLY", "The shared memory attachment is read-only");
  }
  CheckRange(env, m, offset, static_cast<int64_t>(data.length));
  if (data.length > 0) memmove(m.data() + offset, data.data, data.length);
  return Napi::Number::New(env, static_cast<double>(data.length));
}

// shmLoad32(handle, index) → the word as an Int32 (an atomic load).
Napi::Value ShmLoad32(const Napi::CallbackInfo& info) {
  Mapping& m = AttachedMapping(info, 0);
  int64_t index = ArgInteger(info, 1, "index", 0, static_cast<int64_t>(m.size() / 4) - 1);
  uint32_t v = __atomic_load_n(m.WordAt(index), __ATOMIC_SEQ_CST);
  return Napi::Number::New(info.Env(), static_cast<int32_t>(v));
}

Napi::Value ShmStat(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int id = ArgId(info, 0);
  struct shmid_ds ds;
  if (shmctl(id, IPC_STAT, &ds) < 0) ThrowErrno(env, errno, "shmctl");
  Napi::Object out = Napi::Object::New(env);
  SetPermFields(env, out, ds.shm_perm);
  out.Set("size", Napi::Number::New(env, static_cast<double>(ds.shm_segsz)));
  out.Set("creatorPid", Napi::Number::New(env, ds.shm_cpid));
  out.Set("lastPid", Napi::Number::New(env, ds.shm_lpid));
  out.Set("attachments", Napi::Number::New(env, static_cast<double>(ds.shm_nattch)));
  out.Set("lastAttachTime", Napi::Number::New(env, static_cast<double>(ds.shm_atime)));
  out.Set("lastDetachTime", Napi::Number::New(env, static_cast<double>(ds.shm_dtime)));
  out.Set("lastChangeTime", Napi::Number::New(env, static_cast<double>(ds.shm_ctime)));
  return out;
}

Napi::Value ShmSet(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int id = ArgId(info, 0);
  int64_t mode = ArgOptionalField(info, 1, "mode", 0777);
  int64_t uid = ArgOptionalField(info, 2, "uid", 0xfffffffeLL);
  int64_t gid = ArgOptionalField(info, 3, "gid", 0xfffffffeLL);
  struct shmid_ds ds;
  if (shmctl(id, IPC_STAT, &ds) < 0) ThrowErrno(env, errno, "shmctl");
  if (mode >= 0) ds.shm_perm.mode = static_cast<decltype(ds.shm_perm.mode)>((ds.shm_perm.mode & ~0777) | mode);
  if (uid >= 0) ds.shm_perm.uid = static_cast<uid_t>(uid);
  if (gid >= 0) ds.shm_perm.gid = static_cast<gid_t>(gid);
  if (shmctl(id, IPC_SET, &ds) < 0) ThrowErrno(env, errno, "shmctl");
  return env.Undefined();
}

Napi::Value ShmRemove(const Napi::CallbackInfo& info) {
  int id = ArgId(info, 0);
  if (shmctl(id, IPC_RMID, nullptr) < 0) ThrowErrno(info.Env(), errno, "shmctl");
  return info.Env().Undefined();
}

#ifdef SYSV_IPC_TEST_PROBES
// Test probe: make shmArrayBuffer behave as under a V8 sandbox that refuses
// external buffers (the path Electron takes), which plain Node cannot produce.
Napi::Value ShmRefuseExternalBuffers(const Napi::CallbackInfo& info) {
  GetRegistry(info)->refuse_external_buffers = ArgBoolean(info, 0, "on");
  return info.Env().Undefined();
}

// Attachments this environment holds still attached (for leak tests).
Napi::Value ShmLiveAttachments(const Napi::CallbackInfo& info) {
  size_t attached = 0;
  for (const Attachment* a : GetRegistry(info)->live()) attached += a->mapping ? 1 : 0;
  return Napi::Number::New(info.Env(), static_cast<double>(attached));
}
#endif

}  // namespace

Mapping& AttachedMapping(const Napi::CallbackInfo& info, size_t index) {
  Attachment* a = ArgAttachment(info, index);
  if (!a->mapping) ThrowDetached(info.Env());
  return *a->mapping;
}

std::shared_ptr<Mapping> ArgAttachedMapping(const Napi::CallbackInfo& info, size_t index) {
  Attachment* a = ArgAttachment(info, index);
  if (!a->mapping) ThrowDetached(info.Env());
  return a->mapping;
}

// Environment teardown (Addon::Cleanup, after the waiter threads are joined):
// detach everything still attached. Handles' finalizers run later and find
// their registry null.
void ReleaseAttachments(napi_env env, AttachmentRegistry& registry) {
  registry.ReleaseAll([env](Attachment* a) {
    // By now Node has detached every ArrayBuffer of this environment itself
    // (so the state reads kEscaped) and run their finalizers, which kept the
    // mappings whose backing store moved elsewhere: releasing the others is
    // safe. No libuv threadpool job of this environment is still running
    // (Node waits for them before the cleanup hooks).
    DetachArrayBuffer(env, a);
    if (a->mapping && !a->mapping->kept()) a->mapping->Unmap();
    a->mapping.reset();
  });
}

void RegisterSharedMemory(Napi::Env env, Napi::Object exports, Napi::Object constants, AttachmentRegistry* registry) {
  Export(env, exports,
         {
             {"shmget", ShmGet},
             {"shmat", ShmAt},
             {"shmDetach", ShmDetach},
             {"shmArrayBuffer", ShmArrayBuffer},
             {"shmRead", ShmRead},
             {"shmReadInto", ShmReadInto},
             {"shmWrite", ShmWrite},
             {"shmLoad32", ShmLoad32},
             {"shmStat", ShmStat},
             {"shmSet", ShmSet},
             {"shmRemove", ShmRemove},
#ifdef SYSV_IPC_TEST_PROBES
             {"shmRefuseExternalBuffers", ShmRefuseExternalBuffers},
             {"shmLiveAttachments", ShmLiveAttachments},
#endif
         },
         registry);

  constants.Set("SHM_RDONLY", Napi::Number::New(env, SHM_RDONLY));
}

}  // namespace sysv_ipc
