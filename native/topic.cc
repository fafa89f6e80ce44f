// Topic: the native half of publish/subscribe in shared memory. The hot
// path (publish, receive, the spin) is JavaScript on the attachment's view
// (lib/topic.ts); the protocol is include/sysv-ipc/topic.h, which this file
// uses for what must be exactly the C peers' code or must survive
// JavaScript: writing and checking the header, claiming a subscription slot
// (and freeing it when the attachment goes: close, GC, a worker's teardown),
// reaping the slots of dead processes (liveness.h), and marking removal.
//
// Memory safety: every call takes the attachment's Mapping (shared_ptr)
// through ArgAttachedMapping, which throws once detached; the slot release
// registered with the mapping runs before the segment is left (Mapping::Unmap).
#include <errno.h>
#include <unistd.h>

#include <cstdint>
#include <memory>

#include "addon.h"
#include "arguments.h"
#include "errors.h"
#include "platform.h"
#include "registry.h"
#include "shared_memory.h"

#if SYSV_IPC_FUTEX
#include <sysv-ipc/topic.h>
#endif

namespace sysv_ipc {

#if SYSV_IPC_FUTEX

namespace {

// The topic of an attachment whose header topicAttach accepted: checked again
// on every call (the header is shared memory: anyone may have changed it).
sysv_ipc_topic ArgTopic(Napi::Env env, Mapping& m) {
  sysv_ipc_topic t;
  int r = sysv_ipc_topic_attach(&t, m.data(), m.size());
  if (r != 0) ThrowErrno(env, r, "topic");
  return t;
}

// topicInit(handle, capacity, maxMessageSize, maxSubscribers, whenFull):
// writes a fresh header (the creator only, on a segment it just created).
Napi::Value TopicInit(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::shared_ptr<Mapping> m = ArgAttachedMapping(info, 0);
  uint32_t capacity = static_cast<uint32_t>(ArgInteger(info, 1, "capacity", 0, UINT32_MAX));
  uint32_t max_message = static_cast<uint32_t>(ArgInteger(info, 2, "maxMessageSize", 0, UINT32_MAX));
  uint32_t max_subscribers = static_cast<uint32_t>(ArgInteger(info, 3, "maxSubscribers", 0, UINT32_MAX));
  uint32_t when_full = static_cast<uint32_t>(ArgInteger(info, 4, "whenFull", 0, 1));
  if (m->read_only()) ThrowErrno(env, EACCES, "topic");
  int r = sysv_ipc_topic_init(m->data(), m->size(), capacity, max_message, max_subscribers, when_full);
  if (r != 0) ThrowErrno(env, r, "topic");
  return env.Undefined();
}

// topicAttach(handle) → the header's geometry, or 0 when the header is blank
// (all zeros: a creator may still be writing it); throws EPROTO (not a
// topic) or EBADMSG (corrupt). Writes nothing.
Napi::Value TopicAttach(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::shared_ptr<Mapping> m = ArgAttachedMapping(info, 0);
  sysv_ipc_topic t;
  int r = sysv_ipc_topic_attach(&t, m->data(), m->size());
  if (r == SYSV_IPC_TOPIC_NOT_A_TOPIC && m->size() >= SYSV_IPC_TOPIC_HEADER_SIZE) {
    const uint8_t* p = m->data();
    bool blank = true;
    for (uint32_t i = 0; i < SYSV_IPC_TOPIC_HEADER_SIZE && blank; i++) blank = p[i] == 0;
    if (blank) return Napi::Number::New(env, 0);
  }
  if (r != 0) ThrowErrno(env, r, "topic");
  Napi::Object o = Napi::Object::New(env);
  o.Set("capacity", Napi::Number::New(env, t.capacity));
  o.Set("maxMessageSize", Napi::Number::New(env, t.max_message));
  o.Set("maxSubscribers", Napi::Number::New(env, t.max_subscribers));
  o.Set("whenFull", Napi::Number::New(env, t.when_full));
  o.Set("ringOffset", Napi::Number::New(env, t.ring_offset));
  return o;
}

// This process's identity (liveness.h), or a throw saying why /proc could not tell.
sysv_ipc_lock_self Self(Napi::Env env) {
  sysv_ipc_lock_self self;
  int err = sysv_ipc_lock_self_init(&self);
  if (err != 0) ThrowErrno(env, err, err == EOVERFLOW ? "getpid" : "open");
  return self;
}

// The key under which a slot's release is registered with the mapping: one
// per (mapping, slot), never dereferenced.
const void* SlotKey(uint32_t slot) { return reinterpret_cast<const void*>(static_cast<uintptr_t>(slot) + 1); }

// topicSubscribe(handle, oldest, timeoutMs) → [slot, cursor, seq]. The slot
// is claimed and its release registered with the mapping in one step, so a
// detach (close, GC, worker teardown) frees it even if JavaScript never
// calls topicUnsubscribe. Throws ENOSPC (every slot taken), ETIMEDOUT (the
// publishers' lock), EBADMSG/EUCLEAN (corrupt).
Napi::Value TopicSubscribe(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::shared_ptr<Mapping> m = ArgAttachedMapping(info, 0);
  bool oldest = ArgBoolean(info, 1, "oldest");
  int64_t timeout_ns = ArgTimeoutNs(info, 2, "timeout");
  if (m->read_only()) ThrowErrno(env, EACCES, "topic");
  sysv_ipc_topic t = ArgTopic(env, *m);
  sysv_ipc_lock_self self = Self(env);
  uint32_t slot = 0;
  int r = 0;
  bool mapped = m->WhileMapped([&](uint8_t*) {
    r = sysv_ipc_topic_claim(&t, &self, &slot);
    if (r != 0) return;
    sysv_ipc_topic view = t;
    m->AtUnmapLocked(SlotKey(slot), [view, slot](uint8_t* base) {
      sysv_ipc_topic at = view;
      at.base = base;
      sysv_ipc_topic_free_slot(&at, slot);
    });
  });
  if (!mapped) ThrowErrno(env, ECANCELED, "topic");
  if (r != 0) ThrowErrno(env, r, "topic");
  sysv_ipc_topic_sub sub{};
  r = sysv_ipc_topic_position(&t, &self, slot, oldest ? 1 : 0, timeout_ns, &sub);
  if (r != 0) {
    m->DropAtUnmap(SlotKey(slot), [&](uint8_t* base) {
      if (base != nullptr) sysv_ipc_topic_free_slot(&t, slot);
    });
    ThrowErrno(env, r, "topic");
  }
  Napi::Array out = Napi::Array::New(env, 3);
  out.Set(0u, Napi::Number::New(env, slot));
  out.Set(1u, Napi::Number::New(env, sub.cursor));
  out.Set(2u, Napi::Number::New(env, sub.seq));
  return out;
}

// topicUnsubscribe(handle, slot) → true if this attachment held the slot
// (it is free now), false if it did not (already released).
Napi::Value TopicUnsubscribe(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::shared_ptr<Mapping> m = ArgAttachedMapping(info, 0);
  uint32_t slot = static_cast<uint32_t>(ArgInteger(info, 1, "slot", 0, SYSV_IPC_TOPIC_MAX_SUBSCRIBERS - 1));
  sysv_ipc_topic t;
  bool had = m->DropAtUnmap(SlotKey(slot), [&](uint8_t* base) {
    if (base != nullptr && sysv_ipc_topic_attach(&t, base, m->size()) == 0) sysv_ipc_topic_free_slot(&t, slot);
  });
  return Napi::Boolean::New(env, had);
}

// topicReap(handle) → slots freed because their process is dead (liveness.h).
Napi::Value TopicReap(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::shared_ptr<Mapping> m = ArgAttachedMapping(info, 0);
  if (m->read_only()) return Napi::Number::New(env, 0);
  sysv_ipc_topic t = ArgTopic(env, *m);
  return Napi::Number::New(env, sysv_ipc_topic_reap(&t));
}

// topicPublish(handle, data, lockTimeoutMs) → -1 published; -2 the
// publishers' lock was not taken in time; else ('wait' topic, no room) the
// space sequence to sleep on, space_sleep already said. One attempt, the lock
// taken and released within this call: a worker's publish comes here, because
// worker.terminate() can stop JavaScript between taking a FastMutex and
// releasing it (a finally does not run), and the lock's owner, this live
// process, would then hold it for good (lib/topic.ts, publishOnce). Throws
// EIDRM, EMSGSIZE, EBADMSG (corrupt) or a lock.h error.
Napi::Value TopicPublish(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::shared_ptr<Mapping> m = ArgAttachedMapping(info, 0);
  ByteView data = ArgBytes(info, 1, "data");
  int64_t timeout_ns = ArgTimeoutNs(info, 2, "lockTimeout");
  if (m->read_only()) ThrowErrno(env, EACCES, "topicPublish");
  sysv_ipc_topic t = ArgTopic(env, *m);
  if (data.length > t.max_message) ThrowErrno(env, EMSGSIZE, "topicPublish");
  sysv_ipc_lock_self self = Self(env);
  int r = sysv_ipc_topic__lock_publishers(&t, &self, timeout_ns);
  if (r == ETIMEDOUT) return Napi::Number::New(env, -2);
  if (r != 0) ThrowErrno(env, r, "topicPublish");
  uint32_t length = static_cast<uint32_t>(data.length);
  uint32_t space_seq = 0;
  r = sysv_ipc_topic__publish_locked(&t, data.data, length);
  if (r == EAGAIN) {
    // As sysv_ipc_topic_publish: "a publisher sleeps", then a last look.
    __atomic_store_n(sysv_ipc_topic__u32(t.base, SYSV_IPC_TOPIC_OFF_SPACE_SLEEP), 1u, __ATOMIC_SEQ_CST);
    space_seq = __atomic_load_n(sysv_ipc_topic__u32(t.base, SYSV_IPC_TOPIC_OFF_SPACE_SEQ), __ATOMIC_SEQ_CST);
    r = sysv_ipc_topic__publish_locked(&t, data.data, length);
  }
  sysv_ipc_lock_release(sysv_ipc_topic__lock(&t), &self);
  if (r == 0) return Napi::Number::New(env, -1);
  if (r == EAGAIN) return Napi::Number::New(env, space_seq);
  ThrowErrno(env, r, "topicPublish");
}

// topicMarkRemoved(handle): every sleeper in every process wakes and reports EIDRM.
Napi::Value TopicMarkRemoved(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::shared_ptr<Mapping> m = ArgAttachedMapping(info, 0);
  if (m->read_only()) ThrowErrno(env, EACCES, "topic");
  sysv_ipc_topic t = ArgTopic(env, *m);
  sysv_ipc_topic_mark_removed(&t);
  return env.Undefined();
}

}  // namespace

void RegisterTopic(Napi::Env env, Napi::Object exports, Napi::Object constants) {
  Export(env, exports,
         {
             {"topicInit", TopicInit},
             {"topicAttach", TopicAttach},
             {"topicSubscribe", TopicSubscribe},
             {"topicUnsubscribe", TopicUnsubscribe},
             {"topicReap", TopicReap},
             {"topicPublish", TopicPublish},
             {"topicMarkRemoved", TopicMarkRemoved},
         });
  Napi::Object c = Napi::Object::New(env);
  c.Set("HEADER_SIZE", Napi::Number::New(env, SYSV_IPC_TOPIC_HEADER_SIZE));
  c.Set("SLOT_SIZE", Napi::Number::New(env, SYSV_IPC_TOPIC_SLOT_SIZE));
  c.Set("MIN_CAPACITY", Napi::Number::New(env, SYSV_IPC_TOPIC_MIN_CAPACITY));
  c.Set("MAX_CAPACITY", Napi::Number::New(env, SYSV_IPC_TOPIC_MAX_CAPACITY));
  c.Set("MAX_SUBSCRIBERS", Napi::Number::New(env, SYSV_IPC_TOPIC_MAX_SUBSCRIBERS));
  c.Set("OFF_REMOVED", Napi::Number::New(env, SYSV_IPC_TOPIC_OFF_REMOVED));
  c.Set("OFF_LOCK", Napi::Number::New(env, SYSV_IPC_TOPIC_OFF_LOCK));
  c.Set("OFF_TAIL", Napi::Number::New(env, SYSV_IPC_TOPIC_OFF_TAIL));
  c.Set("OFF_NEXT_SEQ", Napi::Number::New(env, SYSV_IPC_TOPIC_OFF_NEXT_SEQ));
  c.Set("OFF_HEAD", Napi::Number::New(env, SYSV_IPC_TOPIC_OFF_HEAD));
  c.Set("OFF_HEAD_SEQ", Napi::Number::New(env, SYSV_IPC_TOPIC_OFF_HEAD_SEQ));
  c.Set("OFF_DATA_SLEEP", Napi::Number::New(env, SYSV_IPC_TOPIC_OFF_DATA_SLEEP));
  c.Set("OFF_DATA_SEQ", Napi::Number::New(env, SYSV_IPC_TOPIC_OFF_DATA_SEQ));
  c.Set("OFF_SLOTS_USED", Napi::Number::New(env, SYSV_IPC_TOPIC_OFF_SLOTS_USED));
  c.Set("OFF_SPACE_SEQ", Napi::Number::New(env, SYSV_IPC_TOPIC_OFF_SPACE_SEQ));
  c.Set("OFF_SPACE_SLEEP", Napi::Number::New(env, SYSV_IPC_TOPIC_OFF_SPACE_SLEEP));
  c.Set("SLOT_OWNER", Napi::Number::New(env, SYSV_IPC_TOPIC_SLOT_OWNER));
  c.Set("SLOT_ACTIVE", Napi::Number::New(env, SYSV_IPC_TOPIC_SLOT_ACTIVE));
  c.Set("SLOT_START", Napi::Number::New(env, SYSV_IPC_TOPIC_SLOT_START));
  c.Set("SLOT_CURSOR", Napi::Number::New(env, SYSV_IPC_TOPIC_SLOT_CURSOR));
  c.Set("SLOT_SEQ", Napi::Number::New(env, SYSV_IPC_TOPIC_SLOT_SEQ));
  c.Set("RECORD_HEADER", Napi::Number::New(env, SYSV_IPC_TOPIC_RECORD_HEADER));
  c.Set("PAD", Napi::Number::New(env, SYSV_IPC_TOPIC_PAD));
  c.Set("NOT_A_TOPIC", Napi::Number::New(env, SYSV_IPC_TOPIC_NOT_A_TOPIC));
  c.Set("CORRUPT", Napi::Number::New(env, SYSV_IPC_TOPIC_CORRUPT));
  c.Set("FULL", Napi::Number::New(env, SYSV_IPC_TOPIC_FULL));
  constants.Set("TOPIC", c);
}

#else  // no futex (platform.h): the entry points say so

void RegisterTopic(Napi::Env env, Napi::Object exports, Napi::Object constants) {
  Export(env, exports,
         {{"topicInit", UnavailableEntryPoint},
          {"topicAttach", UnavailableEntryPoint},
          {"topicSubscribe", UnavailableEntryPoint},
          {"topicUnsubscribe", UnavailableEntryPoint},
          {"topicReap", UnavailableEntryPoint},
          {"topicMarkRemoved", UnavailableEntryPoint}},
         const_cast<char*>("Topic"));
  constants.Set("TOPIC", Napi::Object::New(env));
}

#endif

}  // namespace sysv_ipc
