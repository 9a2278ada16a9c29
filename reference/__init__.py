"""The assignment's reference solutions (Keras 3 on TensorFlow, after Chollet ch. 5).

``run`` trains them on the instructor's data folder and writes a complete
``assignment06/`` tree (results, notebooks, the 6.3 images); ``baselines``
turns a full run into the rubric's baselines file; ``reference.pack`` zips a
folder the way students must. Part ids, folders, file names and data sets
come from the rubric; the table below is the only assignment-specific
mapping: which function solves which part.

Importing this package does not import TensorFlow; running a part does.
"""

from __future__ import annotations

from dataclasses import dataclass

SEED = 0
# A quick run is a smoke test: 5,000 images are ~80 optimizer steps in batches
# of 64, about the fewest that reliably learn the synthetic test data
# (2,000 images, ~25 steps, stay near 70%).
QUICK_TRAIN_SAMPLES = 5000
QUICK_EPOCHS = 1


@dataclass(frozen=True)
class Solution:
    module: str      # where the solution lives
    function: str    # trains and scores a classifier part, or classifies an image folder
    notebook: str    # the notebook's file name after the part id: 6.1_<notebook>.ipynb


SOLUTIONS: dict[str, Solution] = {
    "6.1": Solution("reference.mnist_convnet", "train_mnist_convnet", "mnist_convnet"),
    "6.2a": Solution("reference.cifar10_convnet", "train_plain_convnet", "cifar10_convnet"),
    "6.2b": Solution("reference.cifar10_convnet", "train_regularised_convnet", "cifar10_convnet_augmented"),
    "6.3": Solution("reference.resnet50_images", "classify_folder", "resnet50_images"),
}

# Below the table: these modules read it.
from reference.runner import PartRun, ReferenceRunError, RunRecord, load_run_record, run  # noqa: E402
from reference.baselines import baselines  # noqa: E402

__all__ = [
    "SEED", "QUICK_TRAIN_SAMPLES", "QUICK_EPOCHS", "Solution", "SOLUTIONS",
    "PartRun", "RunRecord", "ReferenceRunError", "load_run_record", "run", "baselines",
]
