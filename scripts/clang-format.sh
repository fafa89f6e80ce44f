#!/usr/bin/env bash
# clang-format over the addon's C++ and the shared C headers (.clang-format
# holds the style). `--check` (npm run lint) fails on any difference;
# `--fix` (npm run format) rewrites the files.
#
# The binary comes from the clang-format devDependency (its npm package ships
# the linux-x64 binary, no install script needed). A missing binary fails the
# step: a lint that skips itself silently would pass whatever native/ holds.
set -euo pipefail
cd "$(dirname "$0")/.."
bin=node_modules/.bin/clang-format
if [ ! -x "$bin" ]; then
  echo "clang-format: $bin is missing: run npm install (the clang-format devDependency)" >&2
  exit 1
fi
files=(native/*.cc native/*.h include/sysv-ipc/*.h)
case "${1:-}" in
  --check) "$bin" --dry-run --Werror "${files[@]}" ;;
  --fix) "$bin" -i "${files[@]}" ;;
  *) echo "usage: $0 --check | --fix" >&2; exit 2 ;;
esac
