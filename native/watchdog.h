// The termination slices of a worker's sync waits, without a timer per call.
//
// worker.terminate() cannot reach a thread parked in msgrcv/msgsnd (no
// kernel timeout): the wait must wake now and then to ask (Addon::
// Terminating). Arming the thread's timer for each call costs two
// timer_settime and a sigaction around every blocking call. Instead, a
// worker thread marks itself parked around the blocking syscall (two atomic
// stores, no syscall) and one watchdog thread per process sends the
// interrupt signal (interrupter.h) to every thread parked at its tick, every
// kSliceNs: the call returns EINTR, asks, and parks again.
//
// A thread that leaves its wait while the watchdog is signalling it waits
// for the signal to be sent and takes its delivery before going on, so that
// no signal lands in code that is not ours (the handler has no SA_RESTART:
// it would fail the runtime's own syscalls with EINTR). A signal that lands
// just before the thread enters the syscall is lost, which costs that wait
// one more slice, never a hang.
//
// PLATFORMS: Linux only (tgkill, and the interrupter's signal); elsewhere
// Enlist() is false and RunBlocking slices with the timer or polls.
#pragma once

#include <cstdint>

namespace sysv_ipc {

namespace watchdog {

// Every parked thread is signalled about this often (the sync slice).
constexpr int64_t kSliceNs = 50000000;

// Whether the watchdog will signal the calling thread's parked waits:
// registers the thread and starts the watchdog on first use. False when it
// cannot run (its thread could not be started, or not on this platform): the
// wait must then be sliced otherwise (RunBlocking: the thread's timer), or
// it would park where worker.terminate() cannot reach it.
bool Enlist();

#ifdef SYSV_IPC_TEST_PROBES
// Test probe: a thread that was signalled pauses `leave_ns` before it leaves
// its wait, the watchdog `signal_ns` between claiming a slot and signalling
// it (0: no pause), so that a test can put one inside the other.
void SetTestPauses(int64_t leave_ns, int64_t signal_ns);
#endif

// Marks the calling thread parked for its lifetime (a blocking attempt).
// Only after Enlist() said true on this thread.
class ParkScope {
 public:
  ParkScope();
  ~ParkScope();
  ParkScope(const ParkScope&) = delete;
  ParkScope& operator=(const ParkScope&) = delete;

 private:
  struct Slot* slot_;
};

}  // namespace watchdog

}  // namespace sysv_ipc
