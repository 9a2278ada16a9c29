#!/usr/bin/env bash
# One-command set-up on a fresh Debian 12 / Ubuntu machine.
#
# Installs the sandbox backends (Docker's engine, bubblewrap) and Chromium for
# the report tests with apt, the grader and TensorFlow into .venv, starts the
# Docker engine, and builds the sandbox's base and runtime images. Safe to run
# again: every step skips what is already there.
set -euo pipefail
cd "$(dirname "$0")"

SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi

echo "==> Debian packages: docker.io, bubblewrap, debootstrap, chromium"
$SUDO apt-get update -qq
$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
    docker.io bubblewrap debootstrap chromium python3-venv >/dev/null

echo "==> Python packages into .venv"
PYTHON="${PYTHON:-python3}"
if [ ! -x .venv/bin/python ]; then
    "$PYTHON" -m venv .venv
fi
.venv/bin/python -m pip install -q --upgrade pip
.venv/bin/python -m pip install -q -e '.[tf,dev]'

echo "==> Docker engine and sandbox images (base from debootstrap, runtime from a host wheelhouse)"
$SUDO env PYTHON=.venv/bin/python bash scripts/build-images.sh

echo
echo "Done. Activate with:  source .venv/bin/activate"
echo "Then try:             grade submissions/example/"
