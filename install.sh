#!/usr/bin/env bash
# One-command set-up on a fresh Debian 12 / Ubuntu machine.
#
# Installs the sandbox backends (Docker's engine, bubblewrap), Chromium for
# the report tests and Slurm for the cluster test with apt, the grader (with Dask
# for grade --cluster) and TensorFlow into .venv, starts the
# Docker engine, builds the sandbox's base image and its two runtime images
# (keras3, keras2), and the host Pythons bubblewrap runs (.venv with the course
# packages, .venv-keras2), all from host wheelhouses. Safe to run again: every
# step skips what is already there.
set -euo pipefail
cd "$(dirname "$0")"

SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi

echo "==> Debian packages: docker.io, bubblewrap, debootstrap, chromium, slurm-wlm and munge"
# slurm-wlm and munge: the test of grade --cluster slurm starts a one-node Slurm on
# localhost (tests/test_cluster.py); a real cluster's nodes have their own.
$SUDO apt-get update -qq
$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
    docker.io bubblewrap debootstrap chromium python3-venv slurm-wlm munge >/dev/null

echo "==> Python packages into .venv"
PYTHON="${PYTHON:-python3}"
if [ ! -x .venv/bin/python ]; then
    "$PYTHON" -m venv .venv
fi
.venv/bin/python -m pip install -q --upgrade pip
.venv/bin/python -m pip install -q -e '.[tf,dev]'

echo "==> Docker engine and sandbox images (base from debootstrap, keras3 and keras2 runtimes from host wheelhouses)"
$SUDO env PYTHON=.venv/bin/python bash scripts/build-images.sh

echo "==> Host Pythons for the bubblewrap sandbox: the course packages into .venv, the Keras 2 runtime in .venv-keras2"
.venv/bin/python -m grader.evaluate.runtimes course --runtime keras3 --python .venv/bin/python
.venv/bin/python -m grader.evaluate.runtimes venv --runtime keras2

echo
echo "Done. Activate with:  source .venv/bin/activate"
echo "Then try:             grade submissions/example/"
