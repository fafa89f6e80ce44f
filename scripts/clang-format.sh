#!/usr/bin/env bash
# clang-format over the addon's C++ and the shared C headers (.clang-format
# holds the style). `--check` (npm run lint) fails on any difference;
# `--fix` (npm run format) rewrites the files.
#
# The binary comes from the clang-format devDependency; where it is not
# installed the step says so and is skipped rather than failing the lint.
set -euo pipefail
cd "$(dirname "$0")/.."
bin=node_modules/.bin/clang-format
if [ ! -x "$bin" ]; then
  echo "clang-format: $bin is missing (npm ci installs it): native/ was NOT checked" >&2
  exit 0
fi
files=(native/*.cc native/*.h include/sysv-ipc/*.h)
case "${1:-}" in
  --check) "$bin" --dry-run --Werror "${files[@]}" ;;
  --fix) "$bin" -i "${files[@]}" ;;
  *) echo "usage: $0 --check | --fix" >&2; exit 2 ;;
esac
