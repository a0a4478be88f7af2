#!/bin/sh
# Installs Debian's Chromium and ChromeDriver for the browser tests (tests/test_browser.py), which
# drive /usr/bin/chromium through Playwright for Python (never `playwright install`: it downloads a
# browser of its own). Idempotent: does nothing when both are already there. Needs root (or sudo).
set -eu

if [ -x /usr/bin/chromium ] && { [ -x /usr/bin/chromedriver ] || [ -x /usr/lib/chromium/chromedriver ]; }; then
    exit 0
fi

if [ "$(id -u)" -eq 0 ]; then
    SUDO=""
elif command -v sudo >/dev/null 2>&1; then
    SUDO="sudo"
else
    echo "install_browser.sh: chromium is missing and this is not root (and no sudo): install the" \
         "Debian packages chromium and chromium-driver" >&2
    exit 1
fi

echo "install_browser.sh: installing Debian chromium and chromium-driver" >&2
$SUDO env DEBIAN_FRONTEND=noninteractive apt-get update -q
$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends chromium chromium-driver
dpkg-query -W chromium chromium-driver
