#!/usr/bin/env bash
# Installs the programs the benchmarks compare against (ExifTool, from Debian's libimage-exiftool-perl) when they
# are missing. Never fatal: where nothing can be installed, the benchmark that needs a program says so and stops.
set -u
need=()
command -v exiftool >/dev/null 2>&1 || need+=(libimage-exiftool-perl)
exec bash "$(dirname "$0")/apt-need.sh" bench-services ${need[@]+"${need[@]}"}
