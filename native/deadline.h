// Time for waits: CLOCK_MONOTONIC in nanoseconds, and an absolute deadline.
//
// Deadlines are absolute so that a wait retried after EINTR, or taken in
// slices (blocking.cc), keeps its end: a relative timeout restarted at each
// retry would never expire under a steady stream of signals.
#pragma once

#include <stdint.h>
#include <time.h>

namespace sysv_ipc {

// CLOCK_MONOTONIC now, in nanoseconds (vDSO: no syscall).
inline int64_t MonotonicNowNs() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<int64_t>(ts.tv_sec) * 1000000000LL + ts.tv_nsec;
}

// a + b for b >= 0, saturating at INT64_MAX: a timeout of centuries on a
// clock that has run for years must not wrap to a deadline in the past.
inline int64_t SaturatingAdd(int64_t a, int64_t b) { return a > INT64_MAX - b ? INT64_MAX : a + b; }

inline timespec ToTimespec(int64_t ns) {
  timespec ts;
  ts.tv_sec = static_cast<time_t>(ns / 1000000000LL);
  ts.tv_nsec = static_cast<long>(ns % 1000000000LL);
  return ts;
}

// An absolute deadline on CLOCK_MONOTONIC, or none.
struct Deadline {
  int64_t at_ns = -1;  // -1: no deadline

  // timeout_ns -1 → none.
  static Deadline AfterNs(int64_t timeout_ns) {
    Deadline d;
    if (timeout_ns >= 0) d.at_ns = SaturatingAdd(MonotonicNowNs(), timeout_ns);
    return d;
  }
  bool None() const { return at_ns < 0; }
  bool Passed() const { return !None() && MonotonicNowNs() >= at_ns; }
  // Time left, clamped at zero (for semtimedop and futex, whose timeouts are relative).
  timespec Remaining() const {
    int64_t left = at_ns - MonotonicNowNs();
    return ToTimespec(left < 0 ? 0 : left);
  }
};

}  // namespace sysv_ipc
