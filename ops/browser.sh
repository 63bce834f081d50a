#!/bin/sh
# Debian's chromium and chromium-driver, for the browser tests (tests/integration/browser.py).
# A no-op when both are installed; `playwright install` cannot work on these machines.
set -eu
[ -x /usr/bin/chromium ] && [ -x /usr/bin/chromedriver ] && exit 0
if ! command -v apt-get >/dev/null 2>&1; then
  echo "The browser tests need /usr/bin/chromium and /usr/bin/chromedriver: install Debian's" \
    "chromium and chromium-driver packages (apt-get is not available here)." >&2
  exit 1
fi
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
echo "installing chromium and chromium-driver for the browser tests"
$SUDO env DEBIAN_FRONTEND=noninteractive apt-get update -q
$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
  chromium chromium-driver
