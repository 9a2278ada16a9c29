"""``grade data fetch``: what a rubric needs from the data folder, and Keras's
own downloaders to fill it.

The only module that downloads anything, and only when a person runs that
command: grading never does. Where the network does not allow it, the
failure says the exact URL Keras downloads from and where to put the file.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from grader.datasets.errors import DataError
from grader.datasets.loading import dataset_files
from grader.datasets.weights import APPLICATIONS, find_weights, weights_places
from grader.rubric import Rubric

# How Keras downloads each data set a loader reads (an image folder is the instructor's own).
KERAS_DOWNLOADS = ("mnist", "cifar10", "imagenet-images")


@dataclass
class Needed:
    """One thing a rubric needs from the data folder, and whether it is there."""

    what: str                                       # "data set cifar10 (cifar10)", "VGG16 ImageNet weights"
    files: list[Path] = field(default_factory=list)     # found
    missing: str = ""                               # the DataMissing message (where looked, how to get it)
    url: str = ""                                   # where Keras downloads it from (weights)
    target: Path | None = None                      # where a downloaded copy goes


def needed(rubric: Rubric, data_dir: Path) -> list[Needed]:
    """Every data set the rubric's parts use and every ImageNet weights file it names."""
    data_dir = Path(data_dir).expanduser()
    found = []
    for name, dataset in rubric.datasets.items():
        if not any(part.dataset == name for part in rubric.parts):
            continue
        item = Needed(f"data set {name} ({dataset.loader})")
        try:
            item.files = dataset_files(dataset, data_dir, "test")
        except DataError as exc:
            item.missing = str(exc)
        found.append(item)
    for application, file_name in rubric.pretrained_weights.items():
        app = APPLICATIONS.get(application)
        name = file_name or (app.notop_file if app else "")
        item = Needed(f"{application} ImageNet weights ({name})", target=data_dir / "models" / name)
        try:
            item.files = [find_weights(application, name, data_dir)]
        except DataError as exc:
            item.missing = str(exc)
        found.append(item)
    return found


def fetch(data_dir: Path, rubric: Rubric | None = None) -> list[Path]:
    """Download what the rubric needs (default: the default rubric's) into
    ``data_dir`` with Keras's own downloaders; returns the files now in the
    folder. What cannot be downloaded is said at the end, in one DataError
    with each URL and where to put the file; the rest is downloaded first.
    """
    import keras
    from keras.src.applications import imagenet_utils
    from keras.src.backend import config as keras_config

    from grader import rubric as rubric_lib

    rubric = rubric or rubric_lib.load()
    data_dir = Path(data_dir).expanduser()
    data_dir.mkdir(parents=True, exist_ok=True)
    if not os.access(data_dir, os.W_OK):
        # Keras would quietly download into /tmp/.keras instead.
        raise DataError(f"{data_dir}: not writable; choose a data folder you can write to")
    used = {name: d for name, d in rubric.datasets.items() if any(p.dataset == name for p in rubric.parts)}
    loaders = [d.loader for d in used.values()]
    failures = [_not_downloadable(name, dataset, data_dir) for name, dataset in used.items()
                if dataset.loader not in KERAS_DOWNLOADS]
    failures = [failure for failure in failures if failure]
    previous = keras_config._KERAS_DIR
    keras_config._KERAS_DIR = str(data_dir)  # where Keras's get_file caches downloads
    try:
        for loader in (name for name in KERAS_DOWNLOADS if name in loaders):
            try:
                _download_data_set(keras, imagenet_utils, loader)
            except Exception as exc:  # noqa: BLE001 - no network, mostly: said, and the rest goes on
                failures.append(f"the {loader} data set could not be downloaded ({_reason(exc)})")
        for application, file_name in rubric.pretrained_weights.items():
            failure = _weights(keras, application, file_name, data_dir)
            if failure:
                failures.append(failure)
    finally:
        keras_config._KERAS_DIR = previous
    if failures:
        raise DataError("could not download everything:\n" + "\n".join(f"  - {line}" for line in failures))
    return sorted(p for p in data_dir.rglob("*") if p.is_file())


def _not_downloadable(name: str, dataset, data_dir: Path) -> str:
    """"" when a data set no downloader makes (the instructor's image folder) is there, else what to do."""
    try:
        dataset_files(dataset, data_dir, "test")
        return ""
    except DataError as exc:
        return f"data set {name}: " + " ".join(line.strip() for line in str(exc).splitlines())


def _download_data_set(keras, imagenet_utils, loader: str) -> None:
    """Keras's own downloader of a data set (it caches into the data folder set by fetch)."""
    if loader == "mnist":
        keras.datasets.mnist.load_data()
    elif loader == "cifar10":
        keras.datasets.cifar10.load_data()
    else:
        _imagenet(keras, imagenet_utils)


def _imagenet(keras, imagenet_utils) -> None:
    keras.applications.ResNet50(weights="imagenet")
    # decode_predictions downloads the class index on its first call.
    imagenet_utils.CLASS_INDEX = None
    keras.applications.imagenet_utils.decode_predictions(np.full((1, 1000), 1e-3, dtype="float32"))


def _weights(keras, application: str, file_name: str, data_dir: Path) -> str:
    """Download one weights file unless it is there; "" or what went wrong, with the URL and where to put it."""
    app = APPLICATIONS.get(application)
    if app is None:
        return f"{application}: not a network the grader knows Keras's weights for ({', '.join(APPLICATIONS)})"
    name = file_name or app.notop_file
    try:
        find_weights(application, name, data_dir)
        return ""
    except DataError:
        pass
    url = app.url(name)
    md5 = app.md5 if name == app.notop_file else None
    try:
        keras.utils.get_file(name, url, cache_subdir="models", file_hash=md5)
        return ""
    except Exception as exc:  # noqa: BLE001 - no network here, mostly
        places = ", ".join(str(p) for p in weights_places(data_dir))
        reason = _reason(exc).replace(f" on {url}", "")    # Keras's message repeats the URL
        return (f"{application} ImageNet weights: could not download {url} ({reason}). Download it on a "
                f"machine with network access and put it at {data_dir / 'models' / name} "
                f"(also looked for in: {places})")


def _reason(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return f"{type(exc).__name__}: {text[:300]}" if text else type(exc).__name__
