"""The public face of the loaders: a data set's splits, files and class names,
whichever registered loader the rubric names."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from grader.datasets.errors import DataError
from grader.datasets.registry import LoadedSplit, get_loader
from grader.rubric import Dataset


def load_split(dataset: Dataset, data_dir: Path, split: str = "test") -> LoadedSplit:
    """A split with what was left out of it (an unreadable image, say) and why."""
    loader = get_loader(dataset.loader)
    if loader.load is None:
        raise DataError(
            f"data set loader {dataset.loader!r} has no {split} set of arrays; "
            "its inputs are a folder of images (see imagenet_files)"
        )
    return loader.load(dataset, Path(data_dir), split)


def load_test_set(dataset: Dataset, data_dir: Path) -> tuple[np.ndarray, np.ndarray]:
    """The held-out set: (x uint8 of shape (n, *input_shape), y int64 labels)."""
    loaded = load_split(dataset, data_dir, "test")
    return loaded.x, loaded.y


def load_train_set(dataset: Dataset, data_dir: Path) -> tuple[np.ndarray, np.ndarray]:
    """The training set, same shapes and types, for the reference solutions."""
    loaded = load_split(dataset, data_dir, "train")
    return loaded.x, loaded.y


def dataset_files(dataset: Dataset, data_dir: Path, split: str = "test") -> list[Path]:
    """The files :func:`load_test_set` (or the train split) reads; raises DataMissing."""
    return get_loader(dataset.loader).files(dataset, Path(data_dir), split)


def load_class_names(dataset: Dataset, data_dir: Path) -> list[str]:
    """Class names by label: what the data files say (CIFAR's ``batches.meta``,
    an image folder's class folders, ImageNet's class index) when they say
    it, else the rubric's."""
    loader = get_loader(dataset.loader)
    if loader.class_names is not None:
        return loader.class_names(dataset, Path(data_dir))
    return list(dataset.class_names) or [str(i) for i in range(dataset.num_classes)]
