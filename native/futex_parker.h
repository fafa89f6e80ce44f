// The futex parker's system side: futex_waitv(2) (Linux 5.16+), whether this
// process may use it, and the private control word a parker thread sleeps on
// beside its waits. The parker threads themselves are the waiter pool's
// (waiter_pool.cc, ParkerMain); the waits they hold say where to sleep
// through BlockingCall::Arm (blocking.h).
//
// Why: every async wait used to hold a thread of its own. A futex-based wait
// (a channel receive) needs none: futex_waitv parks one thread on up to 128
// futexes, so one parker thread holds up to kParkerSlots waits plus its
// control word. Where futex_waitv is missing (ENOSYS: older kernels, some
// emulators) every wait keeps its own thread, as before.
#pragma once

#include <cstddef>
#include <cstdint>

namespace sysv_ipc {

// futex_waitv's FUTEX_WAITV_MAX: futexes in one set.
constexpr size_t kFutexWaitvMax = 128;
// Waits one parker thread holds: the set less the parker's own control word.
// (A stop word, FutexPark::watch_stop, takes a place left over if there is one.)
constexpr size_t kParkerSlots = kFutexWaitvMax - 1;

// One futex of a futex_waitv set (struct futex_waitv of <linux/futex.h>,
// spelled out so that older kernel headers build too).
struct FutexWaiter {
  uint64_t val;
  uint64_t uaddr;
  uint32_t flags;
  uint32_t reserved;
};

// Whether async waits that can be parked go to parker threads: futex_waitv
// exists (probed once) and neither SYSV_IPC_FUTEX_PARKER=0 in the environment
// nor the test probe turned it off.
bool FutexParkerEnabled();

// The test probe futexParker(on): turns parking off (the one-thread-per-wait
// path) or back on (if the kernel has futex_waitv). Returns whether it is on.
bool SetFutexParkerEnabled(bool on);

// Fills `w` for a shared futex (the channel's words: other processes wake
// them) or a private one (the parker's control word).
void SetFutexWaiter(FutexWaiter* w, const uint32_t* word, uint32_t expected, bool is_private);

// futex_waitv(waiters, n, 0, abs_ns, CLOCK_MONOTONIC): abs_ns < 0 waits
// without a timeout. Returns the index of a woken futex, or -errno (EAGAIN:
// some word differed already; ETIMEDOUT; EINTR).
long FutexWaitv(FutexWaiter* waiters, unsigned n, int64_t abs_ns);

// Bumps a parker's control word and wakes its thread (FUTEX_WAKE_PRIVATE).
void PokeControl(uint32_t* word);

// FUTEX_WAKE of one sleeper on a shared word (other processes' included).
void WakeOneShared(const uint32_t* word);

}  // namespace sysv_ipc
