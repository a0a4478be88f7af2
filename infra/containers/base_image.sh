#!/bin/sh
# Makes the local base image localhost/debian:bookworm-slim with debootstrap when it is missing:
# no container registry is reachable here, and podman resolves the Dockerfile's
# `FROM debian:bookworm-slim` to this local image first (../shared/reference/containers.md).
# Elsewhere, with a registry, this script is not needed. Needs root.
set -eu

IMAGE="${VIGIL_BASE_IMAGE:-localhost/debian:bookworm-slim}"
if podman image exists "$IMAGE"; then
    exit 0
fi

# The mirror this machine's apt already uses (deb822 "URIs:" or one-line "deb URL bookworm ...").
MIRROR="$(cat /etc/apt/sources.list /etc/apt/sources.list.d/*.list /etc/apt/sources.list.d/*.sources 2>/dev/null \
    | sed -n -e 's/^URIs:[[:space:]]*\([^[:space:]]*\).*/\1/p' -e 's/^deb[[:space:]]\{1,\}\(\[[^]]*\][[:space:]]\{1,\}\)\{0,1\}\([^[:space:]]*\).*/\2/p' \
    | grep -v security | head -n 1)"
MIRROR="${MIRROR:-http://deb.debian.org/debian}"

ROOTFS="$(mktemp -d /tmp/vigil-rootfs.XXXXXX)"
trap 'rm -rf "$ROOTFS"' EXIT
echo "base_image.sh: debootstrap bookworm from $MIRROR into $IMAGE" >&2
debootstrap --variant=minbase bookworm "$ROOTFS" "$MIRROR" >/dev/null
# Slim it as Debian's -slim image is: no apt lists or caches in the base.
rm -rf "$ROOTFS"/var/lib/apt/lists/* "$ROOTFS"/var/cache/apt/*.bin "$ROOTFS"/var/cache/apt/archives/*.deb
tar -C "$ROOTFS" -c . | podman import --quiet --change 'CMD ["/bin/bash"]' - "$IMAGE" >/dev/null
