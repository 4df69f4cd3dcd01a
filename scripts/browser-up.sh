#!/usr/bin/env bash
# Make sure Debian's Chromium and ChromeDriver are installed for the browser tests; install them
# if this is root (as on CI), otherwise say what to run. Never a silent skip: exit non-zero.
set -euo pipefail
if command -v chromium >/dev/null 2>&1 && command -v chromedriver >/dev/null 2>&1; then
  echo "browser: $(chromium --version 2>/dev/null | head -n 1)"
  exit 0
fi
if [ "$(id -u)" != "0" ]; then
  echo "FATAL: the browser tests need Chromium: sudo apt-get install chromium chromium-driver" >&2
  exit 1
fi
echo "installing Debian's chromium and chromium-driver for the browser tests" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get -o DPkg::Lock::Timeout=600 update -qq
apt-get -o DPkg::Lock::Timeout=600 install -y -qq chromium chromium-driver >/dev/null
echo "browser: $(chromium --version 2>/dev/null | head -n 1)"
