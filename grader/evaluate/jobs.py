"""What the host asks the sandbox to do, and the one record the evaluate
stage adds to grader.records.

ModelJob and ImagenetJob mirror the entries of job.json (see
runtime/runner.py).
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass
from typing import Any

import numpy as np

from grader.rubric import Dataset, Part

# Keys of evaluate_submission's ``imagenet_files``.
IMAGENET_WEIGHTS = "weights"
IMAGENET_CLASS_INDEX = "class_index"

DEFAULT_BATCH_SIZE = 256
DEFAULT_TOP = 5
# Part ids name the prediction files the sandbox writes (<part>.npy).
PART_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
# Without the instructor's test set a model still runs on a few generated
# images of the rubric's input shape: enough to check that it loads and what
# it outputs, never an accuracy.
PROBE_IMAGES = 8
PROBE_SEED = 650
PROBE_SUFFIX = "-probe"     # the probe batch's inputs name: <dataset>-probe.npy


def check_part_id(part: str) -> None:
    if not PART_ID.fullmatch(part):
        raise ValueError(f"part id {part!r} must be letters, digits, '.', '_' or '-'")


@dataclass(frozen=True)
class ModelJob:
    """Re-evaluate one saved model on a held-out test set."""

    part: str                     # part id from the rubric, e.g. "6.1"
    path: str                     # relative to the submission root: a file or a SavedModel folder
    dataset: str                  # key of evaluate_submission's ``inputs`` (the rubric's dataset name)
    scaling: str                  # "unit" (x / 255) or "raw" (0..255)
    input_shape: tuple[int, ...]  # of one test input, without the batch axis
    num_classes: int
    alternative_scalings: tuple[str, ...] = ()
    batch_size: int = DEFAULT_BATCH_SIZE
    probe: bool = False           # runs on the probe batch (the test set is missing): no accuracy
    # Extra evidence the rubric asks for, passed to the runner's modules as is:
    # measure -> runtime/measure.py (timings, FLOPs, size for a comparison of
    # models); digests -> runtime/digests.py (per-layer weight digests against
    # a reference weights file in the inputs). None: not taken.
    measure: dict[str, Any] | None = None
    digests: dict[str, Any] | None = None

    def __post_init__(self) -> None:
        check_part_id(self.part)

    @classmethod
    def for_part(cls, part: Part, dataset: Dataset, path: str) -> "ModelJob":
        """The job for ``part``'s model at ``path``, everything else from the rubric."""
        return cls(
            part=part.id,
            path=path,
            dataset=part.dataset,
            scaling=dataset.scaling,
            input_shape=tuple(dataset.input_shape),
            num_classes=dataset.num_classes,
            alternative_scalings=tuple(s for s in dataset.alternative_scalings if s != dataset.scaling),
            measure=part.measure.to_job() if part.measure is not None else None,
        )

    def as_probe(self) -> "ModelJob":
        """The same model run on the probe batch instead of the missing test set."""
        return dataclasses.replace(self, dataset=f"{self.dataset}{PROBE_SUFFIX}", alternative_scalings=(),
                                   probe=True)

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.part,
            "path": self.path,
            "input": self.dataset,
            "scaling": self.scaling,
            "alternative_scalings": list(self.alternative_scalings),
            "input_shape": list(self.input_shape),
            "num_classes": self.num_classes,
            "batch_size": self.batch_size,
            "probe": self.probe,
            "measure": self.measure,
            "digests": self.digests,
        }


def probe_batch(input_shape: tuple[int, ...] | list[int], count: int = PROBE_IMAGES) -> np.ndarray:
    """``count`` uint8 images of ``input_shape``, the same every run (noise: no
    label means anything for them)."""
    rng = np.random.default_rng(PROBE_SEED)
    return rng.integers(0, 256, size=(count, *input_shape), dtype=np.uint8)


@dataclass(frozen=True)
class ImagenetJob:
    """Classify the student's own images with ResNet50 and ImageNet weights."""

    part: str
    images: tuple[str, ...]       # relative to the submission root
    top: int = DEFAULT_TOP

    def __post_init__(self) -> None:
        check_part_id(self.part)

