"""MNIST: Keras's ``mnist.npz``, or the four official IDX files (gzip'd or not)."""

from __future__ import annotations

import gzip
import io
import struct
import zipfile
from pathlib import Path

import numpy as np

from grader.datasets.arrays import conform
from grader.datasets.errors import DataError, DataMissing
from grader.datasets.locations import first_file, search_dirs
from grader.datasets.registry import DatasetLoader, LoadedSplit, register
from grader.rubric import Dataset

# File names as Keras's downloader and the data set's publisher spell them.
MNIST_NPZ = "mnist.npz"
MNIST_IDX = {
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
}
IDX_IMAGES_MAGIC = 0x00000803   # unsigned bytes, 3 dimensions
IDX_LABELS_MAGIC = 0x00000801   # unsigned bytes, 1 dimension


def mnist_files(dataset: Dataset, data_dir: Path, split: str) -> list[Path]:
    places = search_dirs(data_dir, "mnist")
    npz = first_file([MNIST_NPZ], places)
    if npz is not None:
        return [npz]
    images_name, labels_name = MNIST_IDX[split]
    images, labels = _idx_files(places, split)
    if images is None or labels is None:
        raise DataMissing(
            f"MNIST {split} set",
            [MNIST_NPZ, f"{images_name}(.gz) with {labels_name}(.gz)"],
            places,
            data_dir,
        )
    return [images, labels]


def _idx_files(places: list[Path], split: str) -> tuple[Path | None, Path | None]:
    """The split's images and labels IDX files (gzip'd or not), where found."""
    return tuple(first_file([name + ".gz", name], places) for name in MNIST_IDX[split])


def _read_idx_pair(images_path: Path, labels_path: Path) -> tuple[np.ndarray, np.ndarray]:
    x = read_idx(images_path, IDX_IMAGES_MAGIC)
    y = read_idx(labels_path, IDX_LABELS_MAGIC)
    if len(x) != len(y):
        raise DataError(
            f"{images_path} holds {len(x)} images but {labels_path} holds {len(y)} labels; "
            "they must come from the same release: copy both again"
        )
    return x, y


def npz_from_idx(data_dir: Path) -> bytes | None:
    """Keras's ``mnist.npz`` (x_train, y_train, x_test, y_test) made from the four
    IDX files in ``data_dir``'s places; None when a file is missing or there is an
    npz already. Keras's ``mnist.load_data()`` reads only the npz."""
    places = search_dirs(data_dir, "mnist")
    if first_file([MNIST_NPZ], places) is not None:
        return None
    arrays = {}
    for split in MNIST_IDX:
        images, labels = _idx_files(places, split)
        if images is None or labels is None:
            return None
        arrays[f"x_{split}"], arrays[f"y_{split}"] = _read_idx_pair(images, labels)
    buffer = io.BytesIO()
    np.savez_compressed(buffer, **arrays)
    return buffer.getvalue()


def load_mnist(dataset: Dataset, data_dir: Path, split: str) -> LoadedSplit:
    source = mnist_files(dataset, data_dir, split)
    if len(source) == 1:
        x, y = _read_mnist_npz(source[0], split)
    else:
        x, y = _read_idx_pair(*source)
    origin = str(source[0])
    x, y = conform(x, y, dataset, origin)
    return LoadedSplit(x, y, origin)


def _read_mnist_npz(path: Path, split: str) -> tuple[np.ndarray, np.ndarray]:
    keys = (f"x_{split}", f"y_{split}")
    try:
        with np.load(path, allow_pickle=False) as archive:
            missing = [key for key in keys if key not in archive.files]
            if missing:
                raise DataError(
                    f"{path}: has no {', '.join(missing)} array; it is not Keras's mnist.npz, copy the real one"
                )
            return archive[keys[0]], archive[keys[1]]
    except (OSError, ValueError, zipfile.BadZipFile, EOFError) as exc:
        raise DataError(f"{path}: not a readable .npz of plain arrays ({exc}); copy Keras's mnist.npz again") from None


def read_idx(path: Path, expected_magic: int) -> np.ndarray:
    """An IDX file (gzip'd or not) of unsigned bytes, checked against its magic number and header."""
    path = Path(path)
    try:
        raw = path.read_bytes()
        if raw[:2] == b"\x1f\x8b":
            raw = gzip.decompress(raw)
    except (OSError, EOFError, gzip.BadGzipFile) as exc:
        raise DataError(f"{path}: cannot be read or un-gzipped ({exc}); copy the file again") from None
    magic = int.from_bytes(raw[:4], "big") if len(raw) >= 4 else None
    if magic != expected_magic:
        shown = "too short for a header" if magic is None else f"0x{magic:08x}"
        raise DataError(
            f"{path}: not an IDX file of the expected kind (magic number {shown}, expected "
            f"0x{expected_magic:08x}); is it the images file where labels belong or another file? "
            "Copy the official MNIST file there"
        )
    ndim = expected_magic & 0xFF
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise DataError(f"{path}: the IDX header is cut short; copy the file again")
    shape = struct.unpack(f">{ndim}I", raw[4:header])
    expected = header + int(np.prod(shape, dtype=np.int64))
    if len(raw) != expected:
        raise DataError(
            f"{path}: the header promises {shape} bytes of data ({expected} bytes in all) but the file "
            f"has {len(raw)} bytes; it is truncated or padded, copy it again"
        )
    return np.frombuffer(raw, dtype=np.uint8, offset=header).reshape(shape)


# Keras's download check for mnist.npz; the IDX files' digests as their
# distribution (and torchvision) list them.
MNIST_OFFICIAL = {
    MNIST_NPZ: ("sha256", "731c5ac602752760c8e48fbffcf8c3b850d9dc2a2aedcf2cc48468fc17b673d1"),
    "t10k-images-idx3-ubyte.gz": ("md5", "9fb629c4189551a2d022fa330f9573f3"),
    "t10k-labels-idx1-ubyte.gz": ("md5", "ec29112dd5afa0611ce80d1b7f02629c"),
    "train-images-idx3-ubyte.gz": ("md5", "f68b3c2dcbeaaa9fbdd348bbdeb94873"),
    "train-labels-idx1-ubyte.gz": ("md5", "d53e105ee54ea40749a09fcbcd1e9432"),
}

register(DatasetLoader("mnist", files=mnist_files, load=load_mnist, official=MNIST_OFFICIAL,
                       summary="Keras's mnist.npz or the official IDX files"))
