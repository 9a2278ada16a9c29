"""An instructor's own image-classification data set: a folder of class folders.

    <data folder>/<folder>/test/<class>/*.jpg|png      (and train/ for the reference solutions)

the layout Keras's ``image_dataset_from_directory`` reads, indexed the way it
indexes it: classes are the sorted names of the split's sub-folders (hidden
ones skipped), each class's images are found recursively, in sorted order,
by their extensions. The rubric gives the image size (its ``input_shape``),
how the students' pipeline resized (``resize_like``, ``interpolation``; see
pixels.py). An image that cannot be used is listed with the reason and left
out, never fatal. Decoded arrays are cached by content (cache.py).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from grader.datasets import cache
from grader.datasets.arrays import conform
from grader.datasets.errors import DataError, DataMissing
from grader.datasets.locations import search_dirs
from grader.datasets.pixels import INTERPOLATIONS, KERAS_IMAGE_EXTENSIONS, MODES_FOR_CHANNELS, OddImage, decode
from grader.datasets.registry import DatasetLoader, LeftOut, LoadedSplit, register
from grader.limits import MAX_IMAGE_PIXELS
from grader.rubric import Dataset

LOADER = "image-folder"
SPLITS = ("test", "train")
# Files every file manager leaves behind; not worth a line in a report.
QUIET_FILES = {"thumbs.db", "desktop.ini"}


def split_places(dataset: Dataset, data_dir: Path) -> list[Path]:
    """Where the data set's folder is looked for: in Keras's datasets/ cache, then the data folder itself."""
    return [place / str(dataset.folder) for place in search_dirs(Path(data_dir)) if place.name != "models"]


def split_folder(dataset: Dataset, data_dir: Path, split: str) -> Path:
    """``<folder>/<split>/``; raises DataMissing with the layout expected."""
    if split not in SPLITS:
        raise DataError(f"image folder {dataset.folder!r}: no split {split!r} (the splits are {', '.join(SPLITS)})")
    places = split_places(dataset, data_dir)
    for place in places:
        if (place / split).is_dir():
            return place / split
    layout = f"{dataset.folder}/{split}/<class name>/<image>.jpg"
    raise DataMissing(
        f"image folder {dataset.folder!r} ({split} split)", [f"{split}/"], places, Path(data_dir),
        how=(f"Put the images there, one folder per class ({Path(data_dir) / 'datasets' / layout}: the "
             "layout Keras's image_dataset_from_directory reads); they are the instructor's own "
             "and cannot be fetched."))


def index(root: Path) -> tuple[list[str], list[tuple[str, Path, int]], list[LeftOut]]:
    """(class names, [(relative name, path, label)], files skipped) in Keras's order."""
    classes = sorted(name for name in os.listdir(root) if (root / name).is_dir() and not name.startswith("."))
    entries: list[tuple[str, Path, int]] = []
    skipped = [LeftOut(name, "not in a class folder") for name in sorted(os.listdir(root))
               if (root / name).is_file() and not _quiet(name)]
    for label, name in enumerate(classes):
        for folder, _, files in sorted(os.walk(root / name), key=lambda walked: walked[0]):
            for file_name in sorted(files):
                relative = (Path(folder) / file_name).relative_to(root).as_posix()
                if file_name.lower().endswith(KERAS_IMAGE_EXTENSIONS):
                    entries.append((relative, Path(folder) / file_name, label))
                elif not _quiet(file_name):
                    skipped.append(LeftOut(relative, "not a " + "/".join(KERAS_IMAGE_EXTENSIONS) +
                                           " file (Keras's loader skips it too)"))
    return classes, entries, skipped


def _quiet(name: str) -> bool:
    return name.startswith(".") or name.lower() in QUIET_FILES


def _check_classes(dataset: Dataset, classes: list[str], root: Path) -> None:
    if dataset.class_names and list(dataset.class_names) != classes:
        raise DataError(
            f"{root}: its class folders are {classes} (sorted, as Keras labels them) but the rubric's "
            f"class_names are {list(dataset.class_names)}; rename the folders or fix class_names "
            "(or leave class_names out: the folders name the classes)")
    if len(classes) != dataset.num_classes:
        raise DataError(
            f"{root}: {len(classes)} class folder(s) ({', '.join(classes) or 'none'}) but the rubric says "
            f"num_classes = {dataset.num_classes}; put one folder per class there or fix the rubric")


def _settings(dataset: Dataset, classes: list[str]) -> dict:
    height, width, channels = dataset.input_shape
    return {"loader": LOADER, "size": [height, width], "channels": channels, "classes": classes,
            "resize_like": dataset.resize_like, "interpolation": dataset.interpolation,
            "max_pixels": MAX_IMAGE_PIXELS}


def load_image_folder(dataset: Dataset, data_dir: Path, split: str) -> LoadedSplit:
    root = split_folder(dataset, data_dir, split)
    classes, entries, skipped = index(root)
    _check_classes(dataset, classes, root)
    if not entries:
        raise DataError(f"{root}: the class folders hold no {'/'.join(KERAS_IMAGE_EXTENSIONS)} images")
    entry = cache.entry_path(LOADER, cache.content_key(_settings(dataset, classes),
                                                       [(name, path) for name, path, _ in entries]))
    cached = cache.read_entry(entry)
    if cached is not None and _fits(cached[0], dataset, len(entries)):
        arrays, meta = cached
        left_out = skipped + [LeftOut(str(item["file"]), str(item["reason"])) for item in meta.get("left_out", [])]
        return _split(arrays["x"], arrays["y"], arrays["kept"], root, left_out, classes, len(entries), cached=True)
    x, y, kept, unusable = _decode_all(dataset, entries)
    if not len(x):
        raise DataError(f"{root}: none of its {len(entries)} images could be used: "
                        + "; ".join(f"{item.file} ({item.reason})" for item in unusable[:5]))
    x, y = conform(x, y, dataset, str(root))
    cache.write_entry(entry, {"x": x, "y": y, "kept": kept}, {"left_out": [item.to_dict() for item in unusable],
                                                              "classes": classes})
    return _split(x, y, kept, root, skipped + unusable, classes, len(entries))


def _split(x, y, kept, root: Path, left_out: list[LeftOut], classes: list[str], indexed: int,
           cached: bool = False) -> LoadedSplit:
    partial = len(kept) < indexed
    return LoadedSplit(x, y, str(root), left_out, classes, cached=cached,
                       indexed=indexed if partial else None, kept=kept if partial else None)


def _decode_all(dataset: Dataset, entries: list[tuple[str, Path, int]]):
    height, width, channels = dataset.input_shape
    images, labels, kept, unusable = [], [], [], []
    for number, (name, path, label) in enumerate(entries):
        try:
            images.append(decode(path, (height, width), channels, dataset.resize_like, dataset.interpolation))
            labels.append(label)
            kept.append(number)
        except OddImage as exc:
            unusable.append(LeftOut(name, str(exc)))
    x = np.stack(images) if images else np.zeros((0, height, width, channels), dtype=np.uint8)
    return x, np.asarray(labels, dtype=np.int64), np.asarray(kept, dtype=np.int64), unusable


def _fits(arrays: dict[str, np.ndarray], dataset: Dataset, indexed: int) -> bool:
    x, y, kept = arrays.get("x"), arrays.get("y"), arrays.get("kept")
    return (x is not None and y is not None and kept is not None and x.dtype == np.uint8
            and x.shape[1:] == tuple(dataset.input_shape) and y.shape == (len(x),) and kept.shape == (len(x),)
            and np.issubdtype(y.dtype, np.integer) and np.issubdtype(kept.dtype, np.integer)
            and (not len(kept) or 0 <= int(kept.min()) and int(kept.max()) < indexed))


def image_folder_files(dataset: Dataset, data_dir: Path, split: str) -> list[Path]:
    _, entries, _ = index(split_folder(dataset, data_dir, split))
    return [path for _, path, _ in entries]


def image_folder_class_names(dataset: Dataset, data_dir: Path) -> list[str]:
    root = split_folder(dataset, data_dir, "test")
    classes, _, _ = index(root)
    _check_classes(dataset, classes, root)
    return classes


def rubric_problems(dataset: Dataset) -> list[str]:
    """What a rubric's image-folder data set lacks or gets wrong (checked when the rubric loads)."""
    problems = []
    if not dataset.folder:
        problems.append("an image-folder data set needs folder = \"<name>\" (its folder in the data folder)")
    elif Path(dataset.folder).is_absolute() or ".." in Path(dataset.folder).parts:
        problems.append(f"folder {dataset.folder!r} must be a name inside the data folder (no '..', not absolute)")
    if len(dataset.input_shape) != 3 or dataset.input_shape[2] not in MODES_FOR_CHANNELS \
            or min(dataset.input_shape) < 1:
        problems.append(f"input_shape {dataset.input_shape} must be [height, width, channels] with "
                        f"channels one of {sorted(MODES_FOR_CHANNELS)}")
    allowed = INTERPOLATIONS.get(dataset.resize_like, ())
    if dataset.interpolation not in allowed:
        problems.append(f"interpolation {dataset.interpolation!r} is not one {dataset.resize_like} offers "
                        f"here ({', '.join(allowed)})")
    return problems


register(DatasetLoader(LOADER, files=image_folder_files, load=load_image_folder,
                       class_names=image_folder_class_names, validate=rubric_problems,
                       summary="an instructor's folder of class folders of images, as "
                               "image_dataset_from_directory reads it"))
