"""Where the instructor's data files are looked for, and where decoded copies are cached.

The data folder is Keras's own cache by default (``~/.keras``, or
``$KERAS_HOME``), so an instructor who once ran
``keras.datasets.mnist.load_data()`` and ``ResNet50(weights="imagenet")``
needs nothing more; ``$GRADER_DATA_DIR`` points elsewhere. Files are looked
for in ``<dir>/datasets/``, ``<dir>/models/``, ``<dir>/`` and a folder named
after the data set (``<dir>/mnist/``), which also fits a plain copy of the
official files.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Sequence

from grader.atomic import atomic_write_bytes

DATA_DIR_ENV = "GRADER_DATA_DIR"
CACHE_DIR_ENV = "GRADER_CACHE_DIR"


def keras_home() -> Path:
    """Where Keras itself keeps downloads: ``$KERAS_HOME`` or ``~/.keras``."""
    return Path(os.environ.get("KERAS_HOME") or "~/.keras").expanduser()


def default_data_dir() -> Path:
    """``$GRADER_DATA_DIR`` if set, else Keras's cache (``$KERAS_HOME`` or ``~/.keras``)."""
    chosen = os.environ.get(DATA_DIR_ENV) or os.environ.get("KERAS_HOME") or "~/.keras"
    return Path(chosen).expanduser()


def cache_dir() -> Path:
    """The grader's own cache (synthetic data, decoded image folders): ``$GRADER_CACHE_DIR``
    or ``~/.cache/dl-autograder``."""
    return Path(os.environ.get(CACHE_DIR_ENV) or Path.home() / ".cache" / "dl-autograder")


def search_dirs(data_dir: Path, subfolder: str | None = None) -> list[Path]:
    """The folders searched, in order: Keras's caches, the folder itself, a named subfolder."""
    data_dir = Path(data_dir).expanduser()
    places = [data_dir / "datasets", data_dir / "models", data_dir]
    if subfolder:
        places.append(data_dir / subfolder)
    return places


def first_file(names: Sequence[str], places: Sequence[Path]) -> Path | None:
    """The first ``place / name`` that is a file, places first."""
    for place in places:
        for name in names:
            candidate = place / name
            if candidate.is_file():
                return candidate
    return None


def copy_file(source: Path, target: Path) -> Path:
    """Copy a file atomically (temp file beside the target, then rename)."""
    atomic_write_bytes(Path(target), Path(source).read_bytes())
    return Path(target)
