#!/usr/bin/env bash
# Usage: scripts/atomics-disasm.sh [path/to/node]
#
# Shows the machine code behind Atomics.compareExchange on a typed array over
# a NON-shared ArrayBuffer (what FastMutex does on a shared memory segment's
# view), as the given Node runs it: the function is optimized by V8, its code
# printed (--print-opt-code), the call target named AtomicsCompareExchange
# taken from it, and that builtin disassembled by gdb attached to the live
# process. Prints the atomic instructions found (x64: `lock cmpxchg`; there is
# one per element type, the 32-bit ones being what FastMutex runs).
# Needs gdb and ptrace permission (root, or kernel.yama.ptrace_scope=0).
set -euo pipefail
node=${1:-node}
dir=$(mktemp -d)
trap 'kill "$pid" 2>/dev/null || true; rm -rf "$dir"' EXIT
cat > "$dir/probe.js" <<'JS'
const i32 = new Int32Array(new ArrayBuffer(16)); // not a SharedArrayBuffer
function take(a, pid) { return Atomics.compareExchange(a, 0, 0, pid); }
function release(a, pid) { return Atomics.compareExchange(a, 0, pid, 0); }
for (let i = 0; i < 300000; i++) { take(i32, 1234); release(i32, 1234); }
console.log('READY');
setTimeout(() => {}, 30000);
JS
"$node" --print-opt-code "$dir/probe.js" > "$dir/out.txt" 2>&1 &
pid=$!
for _ in $(seq 1 100); do grep -q READY "$dir/out.txt" && break; sleep 0.1; done
echo "node $("$node" --version): optimized code of the probe calls:"
grep -oE "call 0x[0-9a-f]+ +\(Atomics[A-Za-z]+\)" "$dir/out.txt" | sort | uniq -c
addr=$(grep -oE "call 0x[0-9a-f]+ +\(AtomicsCompareExchange\)" "$dir/out.txt" | head -1 | grep -oE "0x[0-9a-f]+" || true)
if [ -z "$addr" ]; then
  echo "no call to the AtomicsCompareExchange builtin: V8 inlined it; the atomic instructions of the optimized code:"
  grep -E "cmpxchg|ldaxr|stlxr|casal" "$dir/out.txt" || true
  exit 0
fi
echo "atomic instructions in the builtin at $addr:"
# The builtin ends at its last return; 1200 instructions cover it on Node 18 to 24.
gdb -p "$pid" -batch -ex "x/1200i $addr" 2>/dev/null | grep -E "cmpxchg|ldaxr|stlxr|casal" || echo "(none found)"
