#!/usr/bin/env bash
# CI step (issue 9): build the addon as on platforms without per-thread POSIX
# timers (macOS, FreeBSD: no SIGEV_THREAD_ID), here on Linux by compiling
# with HAVE_THREAD_TIMERS removed, and run the wait tests against it. Waits
# must then poll (IPC_NOWAIT in short slices) and still end by timeout,
# abort, close() and teardown.
#
# The variant is built in a copy of the package in a temporary directory:
# this checkout's build/ and prebuilds/ stay as they are.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
work="$(mktemp -d "${TMPDIR:-/tmp}/sysv-ipc-no-timers.XXXXXX")"
trap 'rm -rf "$work"' EXIT

cd "$root"
for entry in native include lib test scripts binding.gyp package.json tsconfig.json tsconfig.build.json jest.config.js; do
  if [ -e "$entry" ]; then cp -R "$entry" "$work"/; fi
done
ln -s "$root/node_modules" "$work/node_modules"

cd "$work"
grep -q '"HAVE_THREAD_TIMERS", ' binding.gyp || { echo "binding.gyp no longer defines HAVE_THREAD_TIMERS as expected" >&2; exit 1; }
sed -i 's/"HAVE_THREAD_TIMERS", //' binding.gyp
npm run --silent compile:native >/dev/null
npm run --silent compile:ts
# The tests must load this build, not a prebuild (none is copied) or the normal one.
node -e '
  const { binding } = require("./dist/binding");
  if (binding.constants.HAVE_THREAD_TIMERS !== false) throw new Error("the no-timers variant did not load");
  console.log("no-timers variant loaded from " + process.cwd());
'
# The wait tests. test/message-queue/message-queue-async.test.ts is not among them: most of
# its cases prove a waiter is parked in msgrcv (/proc/<pid>/task/*/syscall),
# which a polling wait by design is not; what it checks of endings (close,
# abort, timeout, teardown, unref'd exit) test/waits/waits-teardown.test.ts checks here
# without looking at /proc. (The shared-memory crash and big message type cases
# ran here when they shared a file with it, and still do.)
npx jest --ci \
  test/waits/waits-teardown.test.ts \
  test/shared-memory/shared-memory-crash-safety.test.ts \
  test/message-queue/message-queue-big-types.test.ts \
  test/semaphore/semaphore.test.ts \
  test/semaphore/mutex.test.ts \
  test/shared-memory/shared-memory-wait.test.ts \
  test/channel/channel-parker.test.ts

# The same copy built as on macOS/FreeBSD in everything this Linux can
# imitate: no per-thread timers, no semtimedop, no MSG_EXCEPT and no futex
# (SYSV_IPC_NO_FUTEX, native/platform.h). The package must load; Channel and
# FastMutex must refuse with Node's ERR_FEATURE_UNAVAILABLE_ON_PLATFORM; the
# SysV kinds must still work (their waits poll).
sed -i 's/"HAVE_SEMTIMEDOP", "HAVE_MSG_EXCEPT", "HAVE_FUTEX", /"SYSV_IPC_NO_FUTEX", /' binding.gyp
grep -q '"SYSV_IPC_NO_FUTEX"' binding.gyp || { echo "binding.gyp no longer defines HAVE_SEMTIMEDOP, HAVE_MSG_EXCEPT, HAVE_FUTEX as expected" >&2; exit 1; }
npm run --silent compile:native >/dev/null
node -e '
  const assert = require("node:assert");
  const { binding } = require("./dist/binding");
  const C = binding.constants;
  assert.deepStrictEqual([C.HAVE_THREAD_TIMERS, C.HAVE_SEMTIMEDOP, C.HAVE_MSG_EXCEPT, C.HAVE_FUTEX], [false, false, false, false]);
  const { Channel, FastMutex, MessageQueue, Semaphore } = require("./dist");
  const unavailable = { name: "TypeError", code: "ERR_FEATURE_UNAVAILABLE_ON_PLATFORM" };
  assert.throws(() => Channel.create({ capacity: 4096 }), unavailable);
  for (const fn of ["chOpen", "chAttach", "chSend", "chPeek", "fastMutexLockSync", "fastMutexRelease"]) {
    assert.throws(() => binding[fn](), unavailable, fn);
  }
  // The module loads (its layout constants are there), but no lock is made:
  // one that worked only while uncontended would be a trap.
  assert.strictEqual(FastMutex.SIZE, 16);
  const segments = () => require("./dist").list("shm").length;
  const before = segments();
  assert.throws(() => FastMutex.create(), unavailable);
  assert.throws(() => FastMutex.open(0x5e5e0001, { create: true }), unavailable);
  assert.strictEqual(segments(), before, "a refused FastMutex left a segment");
  const q = MessageQueue.create();
  try {
    q.sendSync("polled");
    assert.strictEqual(q.receiveSync().data.toString(), "polled");
    assert.throws(() => q.receiveSync({ timeout: 20 }), { code: "ETIMEDOUT" });
  } finally { q.remove(); }
  const s = Semaphore.create({ initial: 0 });
  try {
    assert.throws(() => s.acquireSync({ timeout: 20 }), { code: "ETIMEDOUT" });
  } finally { s.remove(); }
  console.log("no-futex variant (macOS/FreeBSD-like): loads; Channel and FastMutex refuse with ERR_FEATURE_UNAVAILABLE_ON_PLATFORM; queues and semaphores poll");
'
