#!/usr/bin/env bash
# npm run prebuild [-- <target>...]
#
# Builds every binary the package ships, from the sources in this checkout,
# into prebuilds/<platform>-<arch>/ (prebuildify --napi --strip --tag-libc, so
# node-gyp-build finds them). Targets: linux-x64 and linux-arm64 (glibc), the
# one that is not this machine's built with Debian's cross compiler.
#
# Each target is built in its own staging copy of the checkout, so
# build/ (the local build that npm ci made for this machine) is left alone.
# Every binary is checked before it is kept: the right ELF architecture and
# the SOURCE_HASH of these sources (scripts/prebuild-info.js).
#
# Headers: node-gyp's --nodedir comes from npm's configuration when set
# (npm_config_nodedir), else node-gyp fetches the headers of this Node.
# musl is not built: see README, "Platforms".
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(linux-x64 linux-arm64)

host_arch=$(node -p process.arch)
# The GNU triplet and Debian's cross-compiler package of each architecture.
triplet() { case "$1" in x64) echo x86_64-linux-gnu ;; arm64) echo aarch64-linux-gnu ;; *) return 1 ;; esac; }
cross_package() { case "$1" in x64) echo g++-x86-64-linux-gnu ;; arm64) echo g++-aarch64-linux-gnu ;; esac; }

# ---- everything that is missing, said at once, before anything is built
missing=()
command -v node-gyp >/dev/null || missing+=("node-gyp: run this as \`npm run prebuild\` (npm puts its node-gyp on PATH)")
command -v python3 >/dev/null || missing+=("python3 (node-gyp runs gyp with it): apt-get install python3")
command -v make >/dev/null || missing+=("make: apt-get install make")
for target in "${targets[@]}"; do
  platform=${target%%-*}
  arch=${target#*-}
  if [ "$platform" != linux ] || ! triplet "$arch" >/dev/null; then
    echo "prebuild: unknown target '$target' (this script builds linux-x64 and linux-arm64)" >&2
    exit 2
  fi
  if [ "$arch" = "$host_arch" ]; then
    command -v "${CXX:-g++}" >/dev/null || missing+=("${CXX:-g++} for $target: apt-get install g++")
    command -v strip >/dev/null || missing+=("strip for $target: apt-get install binutils")
  else
    t=$(triplet "$arch")
    for tool in "$t-gcc" "$t-g++" "$t-strip"; do
      command -v "$tool" >/dev/null || missing+=("$tool for $target (cross compiler): apt-get install $(cross_package "$arch")")
    done
  fi
done
if [ ${#missing[@]} -gt 0 ]; then
  {
    echo "prebuild: cannot build ${targets[*]}; missing:"
    printf '  - %s\n' "${missing[@]}" | sort -u
    echo "(to build only some targets: npm run prebuild -- linux-x64)"
  } >&2
  exit 1
fi

# The shipped binaries carry no test probes (binding.gyp: sysv_ipc_test_probes
# defaults to false; `npm run compile:native` turns it on for dev builds).
# node-gyp would take it from npm's configuration too: make sure it does not.
unset npm_config_sysv_ipc_test_probes
# node-gyp compiles the sources in parallel (2 cores here: 50-70 s per target instead of 60-120).
export JOBS=${JOBS:-max}
expected_hash=$(node scripts/source-hash.js)
node_version=$(node -p process.versions.node)
stage_root=$(mktemp -d "${TMPDIR:-/tmp}/sysv-ipc-prebuild.XXXXXX")
trap 'rm -rf "$stage_root"' EXIT

for target in "${targets[@]}"; do
  arch=${target#*-}
  started=$SECONDS
  stage="$stage_root/$target"
  mkdir -p "$stage"
  # The whole checkout but what is built or installed (binding.gyp may name
  # files anywhere in it), with node_modules linked for node-addon-api.
  tar -c --exclude=./.git --exclude=./node_modules --exclude=./build --exclude=./prebuilds \
    --exclude=./dist --exclude=./docs --exclude=./coverage --exclude=./bench/bin . | tar -x -C "$stage"
  ln -s "$root/node_modules" "$stage/node_modules"

  build_env=()
  if [ "$arch" != "$host_arch" ]; then
    t=$(triplet "$arch")
    build_env=(CC="$t-gcc" CXX="$t-g++" LINK="$t-g++" AR="$t-ar" PREBUILD_STRIP_BIN="$t-strip")
  fi
  out="prebuilds/$target"
  rm -rf "$out"
  echo "prebuild: $target (node-gyp --arch=$arch${npm_config_nodedir:+ --nodedir=$npm_config_nodedir})"
  (cd "$stage" && env "${build_env[@]}" "$root/node_modules/.bin/prebuildify" \
    --napi --strip --tag-libc --arch "$arch" --target "$node_version" --out "$root" >"$stage_root/$target.log" 2>&1) || {
    tail -40 "$stage_root/$target.log" >&2
    echo "prebuild: $target failed (the end of its log is above)" >&2
    exit 1
  }

  shopt -s nullglob
  built=("$out"/*.node)
  shopt -u nullglob
  [ ${#built[@]} -eq 1 ] || { echo "prebuild: expected one binary in $out/, found ${#built[@]}" >&2; exit 1; }
  info=$(node scripts/prebuild-info.js "${built[0]}")
  node -e '
    const [info, arch, hash, file] = [JSON.parse(process.argv[1]), ...process.argv.slice(2)];
    if (info.arch !== arch) throw new Error(`${file} is an ${info.arch} binary, not ${arch}`);
    if (!info.sourceHashes.includes(hash)) throw new Error(`${file} does not carry SOURCE_HASH ${hash}`);
    const probes = ["waiterThreads", "shmRefuseExternalBuffers", "shmLiveAttachments", "chLiveHandles"];
    const binary = require("node:fs").readFileSync(file);
    const found = probes.filter((name) => binary.includes(name));
    if (found.length) throw new Error(`${file} carries test probes (${found.join(", ")}): built with sysv_ipc_test_probes`);
  ' "$info" "$arch" "$expected_hash" "${built[0]}"
  echo "prebuild: $target -> ${built[0]} ($(wc -c <"${built[0]}") bytes, SOURCE_HASH $expected_hash, $((SECONDS - started)) s)"
done
