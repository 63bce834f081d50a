#!/bin/sh
# wrk, the HTTP load generator the benchmarks (bench/) drive: Debian's package.
# A no-op when it is installed.
set -eu
command -v wrk >/dev/null 2>&1 && exit 0
if ! command -v apt-get >/dev/null 2>&1; then
  echo "The benchmarks need wrk (https://github.com/wg/wrk): install it (Debian/Ubuntu" \
    "package wrk; apt-get is not available here)." >&2
  exit 1
fi
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
echo "installing wrk for the benchmarks"
$SUDO env DEBIAN_FRONTEND=noninteractive apt-get update -q
$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends wrk
