// The small results that cross the addon boundary, named once: the entry
// points return them, Addon exports them (binding.constants), and
// lib/binding.ts types them as unions. A new entry point that reports an
// outcome uses (or adds) one here, never a bare number.
#pragma once

#include <napi.h>

namespace sysv_ipc {

// A futex wait (shmWaitSync's return, shmWaitAsync's `extra`):
// binding.constants.WAIT.
enum WaitResult { kWaitOk = 0, kWaitNotEqual = 1, kWaitTimedOut = 2 };

// A receive into a caller's buffer (msgrcv, chReceive) returns the length
// (>= 0), or one of these: nothing to take (IPC_NOWAIT, or the sync wait
// timed out), or, at kReceiveTooLong - n and below, a message of n bytes
// that `into` cannot hold (nothing taken): binding.constants.RECEIVE.
constexpr int kReceiveWouldBlock = -1;
constexpr int kReceiveTooLong = -2;

// A FastMutex wait (fastMutexLockSync's return, fastMutexLockAsync's
// `extra`), and fastMutexTakeOver's return: binding.constants.LOCK.
enum LockOutcome { kLockTaken = 0, kLockOwnerDied = 1, kLockCorrupt = 2, kLockDetached = 3 };
enum TakeOverResult { kTakeOverNone = 0, kTakeOverTaken = 1, kTakeOverCorrupt = kLockCorrupt };

// WAIT and RECEIVE into `constants` (LOCK's codes go with the lock's layout:
// fast_mutex.cc).
void SetResultConstants(Napi::Env env, Napi::Object constants);

}  // namespace sysv_ipc
