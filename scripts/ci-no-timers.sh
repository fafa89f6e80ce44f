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
# abort, timeout, teardown, unref'd exit) test/native/hardening.test.ts checks here
# without looking at /proc.
npx jest --ci \
  test/native/hardening.test.ts \
  test/semaphore/semaphore.test.ts \
  test/semaphore/mutex.test.ts \
  test/shared-memory/shared-memory-wait.test.ts
