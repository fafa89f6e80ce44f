#include "futex_parker.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <atomic>

#include "deadline.h"
#include "platform.h"

#if SYSV_IPC_FUTEX
#include <linux/futex.h>
#include <sys/syscall.h>
#include <unistd.h>
#endif

// futex_waitv(2) has number 449 on every architecture (asm-generic); older
// headers lack the name.
#if SYSV_IPC_FUTEX && !defined(SYS_futex_waitv)
#define SYS_futex_waitv 449
#endif

namespace sysv_ipc {

namespace {

// futex2's flags (<linux/futex.h> since 5.16): a 32-bit word.
constexpr uint32_t kFutex32 = 2;
constexpr uint32_t kFutexPrivate = 128;

// -1: not probed yet; 0: missing; 1: there.
std::atomic<int> g_kernel_has_waitv{-1};
// The test probe's and the environment's say (SYSV_IPC_FUTEX_PARKER=0).
std::atomic<bool> g_enabled{true};
std::atomic<bool> g_env_read{false};

bool KernelHasWaitv() {
  int known = g_kernel_has_waitv.load(std::memory_order_relaxed);
  if (known >= 0) return known == 1;
#if SYSV_IPC_FUTEX
  // An empty set is EINVAL where the syscall exists; anything else says it
  // cannot be used: ENOSYS before Linux 5.16 and under qemu-user (7.2 has
  // none), EPERM from a seccomp filter that predates it (older container
  // runtimes' default profiles).
  long r = syscall(SYS_futex_waitv, nullptr, 0, 0, nullptr, CLOCK_MONOTONIC);
  known = r == -1 && errno == EINVAL ? 1 : 0;
#else
  known = 0;
#endif
  g_kernel_has_waitv.store(known, std::memory_order_relaxed);
  return known == 1;
}

void ReadEnvOnce() {
  if (g_env_read.exchange(true)) return;
  const char* v = getenv("SYSV_IPC_FUTEX_PARKER");
  if (v != nullptr && strcmp(v, "0") == 0) g_enabled.store(false);
}

}  // namespace

bool FutexParkerEnabled() {
  ReadEnvOnce();
  return g_enabled.load(std::memory_order_relaxed) && KernelHasWaitv();
}

bool SetFutexParkerEnabled(bool on) {
  ReadEnvOnce();
  g_enabled.store(on);
  return FutexParkerEnabled();
}

void SetFutexWaiter(FutexWaiter* w, const uint32_t* word, uint32_t expected, bool is_private) {
  w->val = expected;
  w->uaddr = reinterpret_cast<uintptr_t>(word);
  w->flags = kFutex32 | (is_private ? kFutexPrivate : 0);
  w->reserved = 0;
}

long FutexWaitv(FutexWaiter* waiters, unsigned n, int64_t abs_ns) {
#if SYSV_IPC_FUTEX
  timespec ts;
  const timespec* timeout = nullptr;
  if (abs_ns >= 0) {
    ts = ToTimespec(abs_ns);
    timeout = &ts;
  }
  // The timeout is absolute, on the clock named last (futex_waitv(2)).
  long r = syscall(SYS_futex_waitv, waiters, n, 0, timeout, CLOCK_MONOTONIC);
  return r >= 0 ? r : -errno;
#else
  (void)waiters;
  (void)n;
  (void)abs_ns;
  return -ENOSYS;
#endif
}

void PokeControl(uint32_t* word) {
  __atomic_add_fetch(word, 1, __ATOMIC_SEQ_CST);
#if SYSV_IPC_FUTEX
  syscall(SYS_futex, word, FUTEX_WAKE_PRIVATE, 1, nullptr, nullptr, 0);
#endif
}

void WakeOneShared(const uint32_t* word) {
#if SYSV_IPC_FUTEX
  syscall(SYS_futex, word, FUTEX_WAKE, 1, nullptr, nullptr, 0);
#else
  (void)word;
#endif
}

}  // namespace sysv_ipc
