#!/usr/bin/env bash
# Installs what asock needs to build, test and run its demo on Debian 12 (or a derivative):
# only the missing packages, with apt-get. Silent when everything is already there.
# Used by scripts/test.sh and scripts/demo.sh; can be run (or sourced) on its own.
# --bench adds what the benchmarks need (the peers' libraries, gnuplot, python3; wrk and
# nginx-light for the HTTP benchmark): used by scripts/bench.sh only, so that the other
# scripts do not install them.
set -euo pipefail

asock_setup() {
  local packages=(
    cmake ninja-build gcc g++ libc6-dev pkg-config  # toolchain (libasan/libubsan come with gcc)
    googletest libgtest-dev                         # the tests
    liburing-dev                                    # the io_uring backend
    g++-mingw-w64-x86-64 wine                       # the Windows build, run under Wine
    python3 curl wrk                                # the HTTP example's smoke test (real peers)
  )
  case "${1:-}" in
    "") ;;
    --bench) packages+=(libasio-dev libuv1-dev gnuplot-nox python3 wrk nginx-light) ;;  # liburing-dev is above
    *)
      echo "usage: setup.sh [--bench]" >&2
      return 2
      ;;
  esac

  if ! command -v dpkg >/dev/null 2>&1; then
    echo "setup.sh: no dpkg here (not Debian?); make sure these are installed: ${packages[*]}" >&2
    return 0
  fi

  local missing=() package
  for package in "${packages[@]}"; do
    dpkg -s "$package" >/dev/null 2>&1 || missing+=("$package")
  done
  [[ ${#missing[@]} -eq 0 ]] && return 0

  local sudo=()
  if [[ $(id -u) -ne 0 ]]; then
    if command -v sudo >/dev/null 2>&1; then
      sudo=(sudo)
    else
      echo "setup.sh: missing packages (${missing[*]}) and neither root nor sudo to install them" >&2
      return 1
    fi
  fi

  echo "setup.sh: installing ${missing[*]}"
  "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -qq
  "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

asock_setup "$@"
