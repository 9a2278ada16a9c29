#!/usr/bin/env bash
# Make the Docker sandbox ready: start the engine if none answers (as root),
# build the Debian base image with debootstrap, then the runtime image from a
# host-made wheelhouse. Each step is skipped when its result already exists.
#
#   scripts/build-images.sh [BASE_NAME]     (default: dl-autograder-base:bookworm)
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(dirname "$here")"
base="${1:-dl-autograder-base:bookworm}"
python="${PYTHON:-python3}"

cd "$repo"
"$python" -m grader.evaluate.engine
bash "$here/build-base-image.sh" "$base"
"$python" -m grader.evaluate.image --base-image "$base"
