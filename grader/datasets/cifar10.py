"""CIFAR-10: the official Python batches, extracted (as Keras 2, Keras 3 or the
archive leave them) or still in the official archive, read through an
unpickler that resolves only what a real batch needs."""

from __future__ import annotations

import io
import pickle
import tarfile
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np

from grader.datasets.arrays import conform
from grader.datasets.errors import DataError, DataMissing
from grader.datasets.locations import search_dirs
from grader.datasets.registry import DatasetLoader, LoadedSplit, register
from grader.rubric import Dataset

CIFAR_DIR = "cifar-10-batches-py"
# Where the batches end up: a plain extraction (Keras 2 and the official
# archive), then the folders Keras 3 extracts into.
CIFAR_DIR_LAYOUTS = (
    CIFAR_DIR,
    f"cifar-10-batches-py-target/{CIFAR_DIR}",
    f"cifar-10-batches-py_extracted/{CIFAR_DIR}",
    ".",
)
CIFAR_ARCHIVES = (
    "cifar-10-python.tar.gz",
    "cifar-10-batches-py.tar.gz",
    "cifar-10-batches-py-target_archive",
    "cifar-10-batches-py_archive",
)
CIFAR_TEST = ("test_batch",)
CIFAR_TRAIN = tuple(f"data_batch_{i}" for i in range(1, 6))
CIFAR_META = "batches.meta"


def _reconstruct():
    """numpy's array-unpickling helper, under its numpy 1 or 2 name."""
    core = getattr(np, "_core", None) or np.core
    return core.multiarray._reconstruct


def _latin1_bytes(text, encoding):
    """``_codecs.encode`` as pickle protocol 2 uses it under Python 3, and only
    so: a str whose code points are the bytes, back to bytes."""
    if not isinstance(text, str) or encoding not in ("latin1", "latin-1"):
        raise pickle.UnpicklingError(
            f"refused _codecs.encode of a {type(text).__name__} to {encoding!r} (only str to 'latin1' is bytes)")
    return text.encode("latin-1")


# Everything an official CIFAR batch (pickled by Python 2) or batches.meta
# refers to: its dicts hold only bytes, ints and lists, which need no global;
# the image array needs numpy's array reconstruction and nothing else. A copy
# re-pickled by Python 3 with protocol 2 writes every bytes value as
# _codecs.encode(str, "latin1"), which is allowed in that form only.
_CIFAR_GLOBALS = {
    ("numpy.core.multiarray", "_reconstruct"): _reconstruct(),
    ("numpy._core.multiarray", "_reconstruct"): _reconstruct(),
    ("numpy", "ndarray"): np.ndarray,
    ("numpy", "dtype"): np.dtype,
    ("_codecs", "encode"): _latin1_bytes,
}


class _CifarUnpickler(pickle.Unpickler):
    """Resolves only the globals a real CIFAR file needs; anything else is refused."""

    def find_class(self, module: str, name: str):  # noqa: ANN201 - pickle's signature
        try:
            return _CIFAR_GLOBALS[(module, name)]
        except KeyError:
            raise pickle.UnpicklingError(f"refused to load {module}.{name}") from None


def _unpickle_cifar(raw: bytes, where: str) -> dict:
    try:
        value = _CifarUnpickler(io.BytesIO(raw), encoding="bytes").load()
    except pickle.UnpicklingError as exc:
        raise DataError(
            f"{where}: not an official CIFAR-10 file ({exc}; a real one needs only numpy arrays); "
            "it was not loaded. Replace it with the official file (`grade data fetch`)"
        ) from None
    except Exception as exc:  # a truncated or garbled pickle raises many types
        raise DataError(
            f"{where}: not a readable CIFAR-10 pickle ({type(exc).__name__}: {exc}); copy the file again"
        ) from None
    if not isinstance(value, dict):
        raise DataError(f"{where}: holds a {type(value).__name__}, not CIFAR's dict; replace it with the official file")
    return value


@dataclass
class _CifarLocation:
    """A folder of CIFAR batches, or the official archive holding them."""

    origin: Path
    archive_members: dict[str, bytes] | None = None

    def read(self, name: str) -> bytes:
        if self.archive_members is not None:
            return self.archive_members[name]
        return (self.origin / name).read_bytes()

    def describe(self, name: str) -> str:
        if self.archive_members is not None:
            return f"{self.origin} (member {CIFAR_DIR}/{name})"
        return str(self.origin / name)


def _cifar_batches(split: str) -> tuple[str, ...]:
    return CIFAR_TEST if split == "test" else CIFAR_TRAIN


def _cifar_location(data_dir: Path, names: Sequence[str]) -> _CifarLocation:
    places = search_dirs(data_dir, "cifar10")
    for place in places:
        for layout in CIFAR_DIR_LAYOUTS:
            folder = place if layout == "." else place / layout
            if all((folder / name).is_file() for name in names):
                return _CifarLocation(folder)
    for place in places:
        for archive_name in CIFAR_ARCHIVES:
            archive = place / archive_name
            if archive.is_file():
                members = _read_tar_members(archive, names)
                if members is not None:
                    return _CifarLocation(archive, members)
    raise DataMissing(
        "CIFAR-10 " + ("test set" if names == CIFAR_TEST else "file(s) " + ", ".join(names)),
        [f"{CIFAR_DIR}/{name}" for name in names] + [CIFAR_ARCHIVES[0]],
        places,
        data_dir,
    )


def _read_tar_members(archive: Path, names: Sequence[str]) -> dict[str, bytes] | None:
    """The named batches from a CIFAR archive, read in one pass without extracting; None if any is absent."""
    wanted = {f"{CIFAR_DIR}/{name}": name for name in names}
    found: dict[str, bytes] = {}
    try:
        with tarfile.open(archive, "r:*") as tar:
            for member in tar:
                name = wanted.get(member.name.lstrip("./"))
                if name is not None and member.isfile():
                    handle = tar.extractfile(member)
                    if handle is not None:
                        found[name] = handle.read()
                if len(found) == len(wanted):
                    break
    except (tarfile.TarError, OSError, EOFError) as exc:
        raise DataError(f"{archive}: not a readable CIFAR-10 archive ({exc}); copy it again") from None
    return found if len(found) == len(wanted) else None


def load_cifar(dataset: Dataset, data_dir: Path, split: str) -> LoadedSplit:
    names = _cifar_batches(split)
    location = _cifar_location(data_dir, names)
    height, width, channels = dataset.input_shape
    images, labels = [], []
    for name in names:
        where = location.describe(name)
        batch = _unpickle_cifar(location.read(name), where)
        data, batch_labels = batch.get(b"data"), batch.get(b"labels")
        row = height * width * channels
        if not (isinstance(data, np.ndarray) and data.dtype == np.uint8 and data.ndim == 2 and data.shape[1] == row):
            raise DataError(
                f"{where}: its b'data' is not a uint8 array of rows of {row} pixels; replace it with the official file"
            )
        if not isinstance(batch_labels, list) or len(batch_labels) != len(data):
            raise DataError(
                f"{where}: its b'labels' is not a list with one label per image; replace it with the official file"
            )
        # Each row is three colour planes, row-major: R (32x32), G, B.
        images.append(data.reshape(-1, channels, height, width).transpose(0, 2, 3, 1))
        labels.append(np.asarray(batch_labels))
    origin = str(location.origin)
    x, y = conform(np.concatenate(images), np.concatenate(labels), dataset, origin)
    return LoadedSplit(x, y, origin)


def cifar_files(dataset: Dataset, data_dir: Path, split: str) -> list[Path]:
    names = _cifar_batches(split)
    location = _cifar_location(data_dir, names)
    return [location.origin] if location.archive_members is not None else [location.origin / n for n in names]


def cifar_class_names(dataset: Dataset, data_dir: Path) -> list[str]:
    """``batches.meta``'s label names when the file is there, else the rubric's."""
    try:
        location = _cifar_location(Path(data_dir), (CIFAR_META,))
    except DataMissing:
        return list(dataset.class_names) or [str(i) for i in range(dataset.num_classes)]
    meta = _unpickle_cifar(location.read(CIFAR_META), location.describe(CIFAR_META))
    names = meta.get(b"label_names")
    if isinstance(names, list) and all(isinstance(n, bytes) for n in names):
        return [n.decode("utf-8") for n in names]
    raise DataError(
        f"{location.describe(CIFAR_META)}: has no list of label_names; replace it with the official file"
    )


# The official archive (under each name Keras saves it as) and its batches, as
# the data set's distribution and torchvision's download checks give them.
_CIFAR_ARCHIVE_MD5 = ("md5", "c58f30108f718f92721af3b95e74349a")
CIFAR_OFFICIAL = {
    **{name: _CIFAR_ARCHIVE_MD5 for name in CIFAR_ARCHIVES},
    "test_batch": ("md5", "40351d587109b95175f43aff81a1287e"),
    "data_batch_1": ("md5", "c99cafc152244af753f735de768cd75f"),
    "data_batch_2": ("md5", "d4bba439e000b95fd0a9bffe97cbabec"),
    "data_batch_3": ("md5", "54ebc095f3ab1f0389bbae665268c751"),
    "data_batch_4": ("md5", "634d18415352ddfa80567beed471001a"),
    "data_batch_5": ("md5", "482c414d41f54cd18b22e5b47cb7c3cb"),
}

register(DatasetLoader("cifar10", files=cifar_files, load=load_cifar, class_names=cifar_class_names,
                       official=CIFAR_OFFICIAL,
                       summary="the official CIFAR-10 Python batches, extracted or in the archive"))
