#!/usr/bin/env bash
# Usage: scripts/atomics-disasm.sh [path/to/node]
#
# Shows the machine code behind every Atomics operation the package runs on a
# typed array over a NON-shared ArrayBuffer (a shared memory segment's view:
# FastMutex's lock word, the Channel's header and ring, lib/channel-ring.ts),
# as the given Node runs it: each probe function is optimized by V8
# (--allow-natives-syntax, %OptimizeFunctionOnNextCall), its code printed
# (--print-opt-code); for each, the Atomics builtins it calls are
# disassembled by gdb attached to the live process, and the atomic
# instructions found are printed (x64: `lock cmpxchg`, `xchg`, `lock xadd`,
# `mfence`; arm64: `ldaxr`/`stlxr`, `casal`, `swpal`, `ldaddal`, `ldar`,
# `stlr`). On x64 a seq_cst load is a plain `mov` (the stores carry the
# fence), so the loads show as "inlined, no atomic instruction needed".
#
# Then the spin of lib/channel-ring.ts: an optimized loop of Atomics.load on
# a shared memory segment's view must see a store that another process makes
# (were the load hoisted out of the loop, it would spin until its bound).
# Needs gdb and ptrace permission (root, or kernel.yama.ptrace_scope=0), and
# a built package (npm run compile) for the spin check.
set -euo pipefail
node=${1:-node}
root=$(cd "$(dirname "$0")/.." && pwd)
dir=$(mktemp -d)
pid=
map=
trap '[ -n "$pid" ] && kill "$pid" 2>/dev/null; rm -rf "$dir"; [ -n "$map" ] && rm -f "$map"' EXIT
cat > "$dir/probe.js" <<'JS'
const buf = new ArrayBuffer(64); // not a SharedArrayBuffer
const u32 = new Uint32Array(buf);
const i32 = new Int32Array(buf);
const big = new BigUint64Array(buf);
const probes = {
  probeLoadU32: () => Atomics.load(u32, 3),
  probeStoreU32: () => Atomics.store(u32, 3, 7),
  probeExchangeU32: () => Atomics.exchange(u32, 3, 0),
  probeAddU32: () => Atomics.add(u32, 2, 1),
  probeCasI32: () => Atomics.compareExchange(i32, 0, 0, 1234),
  probeLoadU64: () => Atomics.load(big, 4),
  probeStoreU64: () => Atomics.store(big, 4, 40n),
  probeCasU64: () => Atomics.compareExchange(big, 4, 40n, 48n),
};
for (const [name, f] of Object.entries(probes)) {
  Object.defineProperty(f, 'name', { value: name });
  for (let i = 0; i < 1000; i++) f();
  eval('%PrepareFunctionForOptimization(f)');
  f();
  eval('%OptimizeFunctionOnNextCall(f)');
  f();
}
console.log('READY');
setTimeout(() => {}, 30000);
JS
"$node" --allow-natives-syntax --print-opt-code --perf-basic-prof "$dir/probe.js" > "$dir/out.txt" 2>&1 &
pid=$!
for _ in $(seq 1 100); do grep -q READY "$dir/out.txt" && break; sleep 0.1; done
map=/tmp/perf-$pid.map
echo "node $("$node" --version), $(uname -m): Atomics on a non-shared ArrayBuffer"
atomic='lock |xchg|mfence|ldaxr|stlxr|casal|swpal|ldaddal|ldar|stlr'
# One section of --print-opt-code per optimized function: "name = probeX" ... "--- End code ---".
for probe in probeLoadU32 probeStoreU32 probeExchangeU32 probeAddU32 probeCasI32 probeLoadU64 probeStoreU64 probeCasU64; do
  awk -v p="$probe" '/^name = /{on=($3==p)} on{print} /^--- End code ---/{on=0}' "$dir/out.txt" > "$dir/$probe.txt"
  calls=$(grep -oE "call 0x[0-9a-f]+ +\(Atomics[A-Za-z]+\)" "$dir/$probe.txt" | sort -u || true)
  inline=$(grep -E "$atomic" "$dir/$probe.txt" | grep -v "call " | sed -E 's/^ *0x[0-9a-f]+ +[0-9a-f]+ +[0-9a-f]+ +//' | sort -u | tr '\n' ';' || true)
  if [ -n "$calls" ]; then
    while read -r line; do
      addr=$(echo "$line" | grep -oE "0x[0-9a-f]+")
      name=$(echo "$line" | grep -oE "Atomics[A-Za-z]+")
      # The builtin's own bytes: its size from V8's perf map (--perf-basic-prof).
      size=$(awk -v b="Builtin:$name" '$3==b{print $2; exit}' "$map")
      found=$(gdb -p "$pid" -batch -ex "disassemble $addr,+0x$size" 2>/dev/null |
        grep -E "$atomic" | sed -E 's/.*:\t//' | grep -v 'xchg   %ax,%ax' | sort -u | tr '\n' ';' || true)
      echo "  $probe: calls builtin $name: ${found:-(no locked instruction: on x64 a seq_cst load is a plain aligned mov, the seq_cst stores being xchg)}"
    done <<< "$calls"
  elif [ -n "$inline" ]; then
    echo "  $probe: inlined: $inline"
  else
    echo "  $probe: inlined, no atomic instruction needed (a plain aligned load: seq_cst on x64, whose stores fence)"
  fi
done
kill "$pid" 2>/dev/null || true
pid=

# The spin: an optimized Atomics.load loop sees another process's store.
if [ -f "$root/dist/index.js" ]; then
  cat > "$dir/spin.js" <<'JS'
const { spawn } = require('node:child_process');
const { SharedMemory } = require(process.argv[2]);
const shm = SharedMemory.create({ size: 4096 });
try {
  const u32 = new Uint32Array(shm.arrayBuffer);
  function spin(a, seen, max) { // the shape of ChannelRing.spin's loop
    for (let i = 1; i < max; i++) if (Atomics.load(a, 16) !== seen) return i;
    return -1;
  }
  %PrepareFunctionForOptimization(spin);
  spin(u32, 0, 1000.5); // the loop runs out (a double bound, as below)
  spin(u32, 1, 1000.5); // the load differs: the exit is taken (feedback for both, no deopt later)
  %OptimizeFunctionOnNextCall(spin);
  spin(u32, 1, 1000.5);
  const writer = spawn(process.execPath, ['-e', `
    const { SharedMemory } = require(${JSON.stringify(process.argv[2])});
    const s = SharedMemory.fromId(${shm.id});
    setTimeout(() => { Atomics.store(new Uint32Array(s.arrayBuffer), 16, 1); s.detach(); }, 200);`], { stdio: 'inherit' });
  const n = spin(u32, 0, 20e9); // synchronous: this process does nothing else meanwhile
  const optimized = (%GetOptimizationStatus(spin) & 16) !== 0; // kOptimized
  console.log(n > 0
    ? `spin: the Atomics.load loop (optimized: ${optimized}) saw the other process's store after ${n} loads: not hoisted`
    : 'spin: FAILED: the loop never saw the store');
  writer.on('exit', () => process.exit(n > 0 ? 0 : 1));
} finally {
  shm.remove();
}
JS
  "$node" --allow-natives-syntax "$dir/spin.js" "$root/dist"
fi
