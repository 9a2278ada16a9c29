"""Arrays read from a data file, checked against what the rubric says they are."""

from __future__ import annotations

import numpy as np

from grader.datasets.errors import DataError
from grader.rubric import Dataset


def conform(x: np.ndarray, y: np.ndarray, dataset: Dataset, origin: str) -> tuple[np.ndarray, np.ndarray]:
    """Shapes and types as the rubric states them, or a DataError naming the file."""
    shape = tuple(dataset.input_shape)
    if x.dtype != np.uint8 or x.ndim < 2 or int(np.prod(x.shape[1:])) != int(np.prod(shape)):
        raise DataError(
            f"{origin}: images are {x.dtype} {x.shape[1:]}, not uint8 {shape} as the rubric says; copy the official file"
        )
    y = np.asarray(y).reshape(-1)
    if len(y) != len(x) or not np.issubdtype(y.dtype, np.integer):
        raise DataError(f"{origin}: {len(y)} labels of type {y.dtype} for {len(x)} images; copy the official file")
    if len(y) and (y.min() < 0 or y.max() >= dataset.num_classes):
        raise DataError(f"{origin}: labels run from {y.min()} to {y.max()}, outside 0..{dataset.num_classes - 1}")
    return np.ascontiguousarray(x.reshape((len(x), *shape))), y.astype(np.int64)
