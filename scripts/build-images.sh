#!/usr/bin/env bash
# Make the Docker sandbox ready: start the engine if none answers (as root),
# build the Debian base image with debootstrap, then both runtime images
# (keras3: TensorFlow 2.21 / Keras 3; keras2: TensorFlow 2.15 / Keras 2.15, for
# 2020-2023 notebooks), each from a host-made wheelhouse with the default
# rubric's course packages. Each step is skipped when its result already exists.
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
for runtime in keras3 keras2; do
    "$python" -m grader.evaluate.image --runtime "$runtime" --base-image "$base"
done
