#!/usr/bin/env bash
# Usage: scripts/fetch-node.sh <x64|arm64> <version>
#
# Prints the directory of a Node.js binary distribution (bin/node, include/node)
# for Linux on that architecture, taken from the npm registry's node-linux-<arch>
# package through npm itself (the only place this project downloads Node from).
# It is unpacked once into a cache outside the repository, so reruns cost
# nothing (delete the folder to fetch again): $SYSV_IPC_CACHE/node/<arch>-<version>,
# by default /var/cache/sysv-ipc when run as root (as CI is) and
# ~/.cache/sysv-ipc otherwise. Root's default is outside /root (mode 0700)
# because the tests run some children as uid 65534, and they must be able to
# execute this node.
set -euo pipefail

arch=${1:?usage: fetch-node.sh <x64|arm64> <version>}
version=${2:?usage: fetch-node.sh <x64|arm64> <version>}
if [ -z "${SYSV_IPC_CACHE:-}" ]; then
  if [ "$(id -u)" = 0 ]; then SYSV_IPC_CACHE=/var/cache/sysv-ipc; else SYSV_IPC_CACHE=${XDG_CACHE_HOME:-$HOME/.cache}/sysv-ipc; fi
fi
cache=$SYSV_IPC_CACHE
dest="$cache/node/$arch-$version"

if [ ! -x "$dest/bin/node" ]; then
  tmp=$(mktemp -d "$cache.fetch.XXXXXX" 2>/dev/null || { mkdir -p "$(dirname "$cache")" && mktemp -d "$cache.fetch.XXXXXX"; })
  trap 'rm -rf "$tmp"' EXIT
  echo "fetch-node: node-linux-$arch@$version from the npm registry" >&2
  (cd "$tmp" && npm pack --silent "node-linux-$arch@$version" >/dev/null)
  mkdir -p "$tmp/unpacked"
  # Only what running and building against it needs (the man pages and docs are left out).
  tar -xzf "$tmp"/node-linux-"$arch"-*.tgz -C "$tmp/unpacked" --strip-components=1 package/bin package/include package/LICENSE
  mkdir -p "$(dirname "$dest")"
  rm -rf "$dest"
  mv "$tmp/unpacked" "$dest"
fi
echo "$dest"
