#!/usr/bin/env bash
# Usage: scripts/ci-runtimes.sh
#
# Runs test/runtimes/smoke.js (MessageQueue across two processes with an
# async receive, an aborted receive, Semaphore, SharedMemory wait/notify,
# Channel, FastMutex) against the shipped linux-x64 prebuild
# (PREBUILDS_ONLY=1) on the other runtimes that load Node-API addons:
# Bun and Deno, each taken from the npm registry with `npm pack` (the
# packages hold the release binary, no install script) and unpacked once into
# the cache scripts/fetch-node.sh uses ($SYSV_IPC_CACHE, else
# /var/cache/sysv-ipc as root, ~/.cache/sysv-ipc otherwise).
#
# Versions: $SYSV_IPC_BUN_VERSION / $SYSV_IPC_DENO_VERSION, else the ones
# below (measured with them). Needs dist/ (npm ci / npm test).
set -euo pipefail
cd "$(dirname "$0")/.."

bun_version=${SYSV_IPC_BUN_VERSION:-1.4.5}
deno_version=${SYSV_IPC_DENO_VERSION:-2.9.6}
[ -f dist/index.js ] || { echo "ci-runtimes: dist/ is missing: run npm ci (or npm test) first" >&2; exit 1; }
[ "$(node -p process.arch)" = x64 ] || { echo "ci-runtimes: runs on x64 only (the npm packages used are x64 builds)" >&2; exit 1; }
if [ -z "${SYSV_IPC_CACHE:-}" ]; then
  if [ "$(id -u)" = 0 ]; then SYSV_IPC_CACHE=/var/cache/sysv-ipc; else SYSV_IPC_CACHE=${XDG_CACHE_HOME:-$HOME/.cache}/sysv-ipc; fi
fi

# fetch <npm package@version> <dir under the cache>: prints the unpacked package's directory.
fetch() {
  local dest="$SYSV_IPC_CACHE/runtimes/$2"
  if [ ! -f "$dest/package.json" ]; then
    mkdir -p "$SYSV_IPC_CACHE/runtimes"
    local tmp
    tmp=$(mktemp -d "$SYSV_IPC_CACHE/runtimes/fetch.XXXXXX")
    echo "ci-runtimes: $1 from the npm registry" >&2
    (cd "$tmp" && npm pack --silent "$1" >/dev/null) || { rm -rf "$tmp"; echo "ci-runtimes: npm pack $1 failed" >&2; return 1; }
    mkdir "$tmp/x"
    tar -xzf "$tmp"/*.tgz -C "$tmp/x"
    rm -rf "$dest"
    mv "$tmp/x/package" "$dest"
    rm -rf "$tmp"
  fi
  echo "$dest"
}

hash=$(node scripts/source-hash.js)
status=0
# shellcheck source=scripts/smoke-counts.sh
. "$(dirname "$0")/smoke-counts.sh"
passed=0
failed=0
results=()
log=$(mktemp)
trap 'rm -f "$log"' EXIT
all_started=$SECONDS

# run <name> <command...>: the smoke with that runtime (its children too).
run() {
  local name=$1
  shift
  local started=$SECONDS outcome child
  child=$(node -p 'JSON.stringify(process.argv.slice(1))' -- "$@")
  echo "== runtimes: $name"
  if PREBUILDS_ONLY=1 SYSV_IPC_EXPECT_SOURCE_HASH="$hash" SYSV_IPC_RUNTIME_CHILD="$child" \
    timeout 300 "$@" test/runtimes/smoke.js 2>&1 | tee "$log"; then
    outcome=passed
  else
    outcome=FAILED
    status=1
  fi
  add_smoke_counts "$log" || status=1
  results+=("$name: $outcome in $((SECONDS - started)) s")
}

bun_dir=$(fetch "@oven/bun-linux-x64@$bun_version" "bun-$bun_version")
deno_dir=$(fetch "@deno/linux-x64-glibc@$deno_version" "deno-$deno_version")
run "Bun $bun_version" "$bun_dir/bin/bun"
# Deno runs this CommonJS file (require) with --unstable-detect-cjs.
run "Deno $deno_version" "$deno_dir/deno" run -A --unstable-detect-cjs

echo "== runtimes, $((SECONDS - all_started)) s in all:"
printf '   %s\n' "${results[@]}"
echo "runtimes-smoke: $passed passed, $failed failed"
exit $status
