#!/usr/bin/env bash
# Installs the ci build into a scratch prefix and builds consumers against the *installed*
# package: with CMake (find_package(asock 0.1) -> asock::asock, asock::asock_static), as C and
# as C++, and with pkg-config. Runs each consumer. Usage: scripts/package_test.sh [BUILD_DIR]
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build=${1:-$root/build/ci}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

cmake --install "$build" --prefix "$work/prefix" >/dev/null
cmake -S "$root/tests/package" -B "$work/consumer" -G Ninja -DCMAKE_PREFIX_PATH="$work/prefix" >/dev/null
cmake --build "$work/consumer" >/dev/null
"$work/consumer/consumer_c"
"$work/consumer/consumer_c_static"
LD_LIBRARY_PATH="$work/prefix/lib" "$work/consumer/consumer_cpp"

# pkg-config, as a Makefile user would do it.
export PKG_CONFIG_PATH="$work/prefix/lib/pkgconfig"
# shellcheck disable=SC2046
cc -std=c11 -o "$work/consumer_pc" "$root/tests/package/consumer.c" $(pkg-config --cflags --libs asock) -lpthread
LD_LIBRARY_PATH="$work/prefix/lib" "$work/consumer_pc"

# The shared library exports the API and nothing of the implementation.
leaked=$(nm -D --defined-only "$work/prefix/lib/libasock.so" | c++filt | grep -c "asock::detail::\(Loop\|Engine\|Socket\|op_\)" || true)
if [[ $leaked -ne 0 ]]; then
  echo "package: libasock.so exports $leaked implementation symbols" >&2
  exit 1
fi
echo "package: installed, found with find_package and pkg-config, consumers (C, C, static, C++) ran"
