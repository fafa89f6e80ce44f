# Sourced by scripts/ci-arm64-smoke.sh and scripts/ci-runtimes.sh: adds the
# "N passed, M failed" summary line that the smoke harnesses print
# last (test/runtimes/smoke.js, test/arm64/smoke.js) to the caller's $passed and $failed. A log without one (the runtime
# crashed or hung before its summary) counts as one failure and returns 1.
add_smoke_counts() {
  local counts
  counts=$(sed -n 's/.*: \([0-9]*\) passed, \([0-9]*\) failed$/\1 \2/p' "$1" | tail -1)
  if [ -z "$counts" ]; then
    failed=$((failed + 1))
    return 1
  fi
  passed=$((passed + ${counts% *}))
  failed=$((failed + ${counts#* }))
}
