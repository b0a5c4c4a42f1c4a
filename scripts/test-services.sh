#!/usr/bin/env bash
# Installs the programs some tests drive (PostgreSQL server, headless Chromium and its driver) from Debian's
# packages when they are missing. Never fatal: where nothing can be installed, the tests that need a program
# skip and say why.
set -u
need=()
[ -x /usr/lib/postgresql/15/bin/initdb ] || ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || need+=(postgresql)
command -v chromium >/dev/null 2>&1 || need+=(chromium)
command -v chromedriver >/dev/null 2>&1 || need+=(chromium-driver)
exec bash "$(dirname "$0")/apt-need.sh" test-services ${need[@]+"${need[@]}"}
