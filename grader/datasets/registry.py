"""Data-set loaders, registered by the name a rubric's ``loader`` gives.

    @register(DatasetLoader("mnist", load=..., files=..., summary="..."))

Each loader is a module of this package (mnist.py, cifar10.py, imagenet.py,
image_folder.py); the rubric picks one per data set, and the rubric's
schema accepts exactly the names registered here.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np

from grader.datasets.errors import DataError
from grader.rubric import Dataset


@dataclass(frozen=True)
class LeftOut:
    """A file of the instructor's data set that was not used, and why."""

    file: str          # relative to the split's folder, e.g. "cat/003.jpg"
    reason: str

    def to_dict(self) -> dict[str, str]:
        return {"file": self.file, "reason": self.reason}


@dataclass
class LoadedSplit:
    """One split of a data set: uint8 images (n, *input_shape) and int64 labels."""

    x: np.ndarray
    y: np.ndarray
    origin: str                                            # the file or folder it was read from
    left_out: list[LeftOut] = field(default_factory=list)  # files skipped, never fatal
    class_names: list[str] = field(default_factory=list)   # when the files name the classes
    cached: bool = False                                   # read back from the decoded-array cache
    # A folder of files: how many images it indexed, and which of them (indices
    # in that order) are in x; None when nothing indexed was left out.
    indexed: int | None = None
    kept: np.ndarray | None = None

    def left_out_summary(self, limit: int = 10) -> str:
        """One line for the instructor: which files were left out and why ("" when none)."""
        if not self.left_out:
            return ""
        shown = "; ".join(f"{item.file} ({item.reason})" for item in self.left_out[:limit])
        more = f"; and {len(self.left_out) - limit} more" if len(self.left_out) > limit else ""
        return (f"{self.origin}: {len(self.left_out)} file(s) left out of the test set, "
                f"{len(self.x)} images graded: {shown}{more}")


LoadFn = Callable[[Dataset, Path, str], LoadedSplit]
FilesFn = Callable[[Dataset, Path, str], "list[Path]"]
ClassNamesFn = Callable[[Dataset, Path], "list[str]"]


@dataclass(frozen=True)
class DatasetLoader:
    name: str
    files: FilesFn                       # the files a split reads; raises DataMissing
    summary: str                         # what it reads, for messages and the docs
    load: LoadFn | None = None           # None: no arrays (the student's own pictures, say)
    class_names: ClassNamesFn | None = None   # None: the rubric's names
    validate: Callable[[Dataset], "list[str]"] | None = None   # what a rubric's data set gets wrong
    # The official files' digests, by file name: (hashlib algorithm, hex digest)
    # (grader/datasets/official.py says when a test set is not the official one).
    official: dict[str, tuple[str, str]] = field(default_factory=dict)


LOADERS: dict[str, DatasetLoader] = {}


def register(loader: DatasetLoader) -> DatasetLoader:
    if loader.name in LOADERS:
        raise ValueError(f"data set loader {loader.name!r} registered twice")
    LOADERS[loader.name] = loader
    return loader


def loader_names() -> list[str]:
    return sorted(LOADERS)


def get_loader(name: str) -> DatasetLoader:
    try:
        return LOADERS[name]
    except KeyError:
        raise DataError(f"no data set loader named {name!r}; the known ones are {', '.join(loader_names())}") from None


def dataset_problems(dataset: Dataset) -> list[str]:
    """Why a rubric's data set cannot be loaded as declared: an unknown loader,
    or what its loader says (checked when the rubric loads)."""
    loader = LOADERS.get(dataset.loader)
    if loader is None:
        return [f"unknown data set loader {dataset.loader!r}; the known ones are {', '.join(loader_names())}"]
    return loader.validate(dataset) if loader.validate is not None else []
