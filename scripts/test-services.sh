#!/usr/bin/env bash
# Installs the programs some tests drive (PostgreSQL server, headless Chromium and its driver) from Debian's
# packages when they are missing. Never fatal: where nothing can be installed (no root, no apt), the tests that
# need a program skip and say why.
set -u
need=()
[ -x /usr/lib/postgresql/15/bin/initdb ] || ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || need+=(postgresql)
command -v chromium >/dev/null 2>&1 || need+=(chromium)
command -v chromedriver >/dev/null 2>&1 || need+=(chromium-driver)
[ ${#need[@]} -eq 0 ] && exit 0
if ! command -v apt-get >/dev/null 2>&1; then
  echo "test-services: no apt-get; tests needing ${need[*]} will skip" >&2; exit 0
fi
SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then SUDO="sudo -n"; else
    echo "test-services: not root and no sudo; tests needing ${need[*]} will skip" >&2; exit 0
  fi
fi
echo "test-services: installing ${need[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq >/dev/null 2>&1 || true
$SUDO apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null 2>&1 \
  || echo "test-services: could not install ${need[*]}; tests needing them will skip" >&2
exit 0
