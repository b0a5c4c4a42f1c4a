#!/usr/bin/env bash
# Installs Debian packages that are missing, for the test and benchmark scripts: apt-need.sh LABEL PACKAGE...
# Never fatal: where nothing can be installed (no root, no apt), it says so and whoever needs the program skips.
set -u
label=$1; shift
need=("$@")
[ ${#need[@]} -eq 0 ] && exit 0
if ! command -v apt-get >/dev/null 2>&1; then
  echo "$label: no apt-get; cannot install ${need[*]}" >&2; exit 0
fi
SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then SUDO="sudo -n"; else
    echo "$label: not root and no sudo; cannot install ${need[*]}" >&2; exit 0
  fi
fi
echo "$label: installing ${need[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq >/dev/null 2>&1 || true
$SUDO apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null 2>&1 \
  || echo "$label: could not install ${need[*]}" >&2
exit 0
