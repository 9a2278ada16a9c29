#!/usr/bin/env bash
# Build the sandbox's base image without an image registry: debootstrap a
# minimal Debian bookworm with Python 3.11 and import it into Docker.
#
#   scripts/build-base-image.sh [NAME]      (default: dl-autograder-base:bookworm)
#
# Skips the work when NAME already exists. Needs root, debootstrap and a
# reachable Debian package mirror (set DEBOOTSTRAP_MIRROR to use another one
# than debootstrap's default).
set -euo pipefail

name="${1:-dl-autograder-base:bookworm}"

if docker image inspect "$name" >/dev/null 2>&1; then
    echo "base image $name exists; nothing to do"
    exit 0
fi
command -v debootstrap >/dev/null || { echo "debootstrap is missing: apt-get install debootstrap" >&2; exit 1; }

rootfs="$(mktemp -d "${TMPDIR:-/tmp}/grader-rootfs.XXXXXX")"
trap 'rm -rf "$rootfs"' EXIT

echo "debootstrap bookworm into $rootfs (about a minute)"
debootstrap --variant=minbase --include=python3,python3-venv \
    bookworm "$rootfs" ${DEBOOTSTRAP_MIRROR:+"$DEBOOTSTRAP_MIRROR"} >"$rootfs.log" 2>&1 \
    || { tail -n 30 "$rootfs.log" >&2; rm -f "$rootfs.log"; exit 1; }
rm -f "$rootfs.log"

# Trim what a sandbox never needs: apt caches and documentation.
rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/lib/apt/lists/* \
       "$rootfs"/usr/share/doc "$rootfs"/usr/share/man "$rootfs"/usr/share/locale

tar -C "$rootfs" -c . | docker import \
    --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    --change 'ENV LANG=C.UTF-8' \
    --change 'CMD ["python3"]' \
    - "$name" >/dev/null
echo "built base image $name"
