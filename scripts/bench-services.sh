#!/usr/bin/env bash
# Installs the programs the benchmarks compare against (ExifTool, from Debian's libimage-exiftool-perl) when they
# are missing. Never fatal: where nothing can be installed (no root, no apt), the benchmark that needs a program
# says so and stops on its own.
set -u
need=()
command -v exiftool >/dev/null 2>&1 || need+=(libimage-exiftool-perl)
[ ${#need[@]} -eq 0 ] && exit 0
if ! command -v apt-get >/dev/null 2>&1; then
  echo "bench-services: no apt-get; cannot install ${need[*]}" >&2; exit 0
fi
SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then SUDO="sudo -n"; else
    echo "bench-services: not root and no sudo; cannot install ${need[*]}" >&2; exit 0
  fi
fi
echo "bench-services: installing ${need[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq >/dev/null 2>&1 || true
$SUDO apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null 2>&1 \
  || echo "bench-services: could not install ${need[*]}" >&2
exit 0
