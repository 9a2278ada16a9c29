"""The held-out data, read from the instructor's data folder in the files' own formats.

The data folder is Keras's own cache by default (``~/.keras``, or
``$KERAS_HOME``), so an instructor who once ran
``keras.datasets.mnist.load_data()`` and ``ResNet50(weights="imagenet")``
needs nothing more; ``$GRADER_DATA_DIR`` points elsewhere. Files are looked
for in ``<dir>/datasets/``, ``<dir>/models/``, ``<dir>/`` and a folder named
after the data set (``<dir>/mnist/``), which also fits a plain copy of the
official files.

Nothing here downloads, except :func:`fetch`, which only ``grade data fetch``
calls, on a person's request. :func:`write_synthetic_data` writes a data
folder in the same formats, with learnable images, for tests.

TensorFlow is imported only by :func:`fetch` and the synthetic ResNet50
weights writer, so the grader's host side stays light.
"""

from __future__ import annotations

import gzip
import io
import json
import os
import pickle
import shutil
import struct
import tarfile
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np

from grader.atomic import atomic_write_bytes, publish_folder
from grader.hashing import sha256_of  # noqa: F401  (part of this module's API)
from grader.rubric import Dataset

DATA_DIR_ENV = "GRADER_DATA_DIR"

# File names as Keras's downloaders and the data sets' publishers spell them.
MNIST_NPZ = "mnist.npz"
MNIST_IDX = {
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
}
IDX_IMAGES_MAGIC = 0x00000803   # unsigned bytes, 3 dimensions
IDX_LABELS_MAGIC = 0x00000801   # unsigned bytes, 1 dimension

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

RESNET50_WEIGHTS = "resnet50_weights_tf_dim_ordering_tf_kernels.h5"
IMAGENET_CLASS_INDEX = "imagenet_class_index.json"


class DataError(Exception):
    """A data file that is there but cannot be used; the message says which and why."""


class DataMissing(DataError):
    """A data file the grader needs is not in the data folder."""

    def __init__(self, what: str, files: Sequence[str], places: Sequence[Path], data_dir: Path):
        self.files = list(files)
        self.places = [Path(p) for p in places]
        looked = "\n".join(f"  {place}" for place in self.places)
        super().__init__(
            f"{what}: not found. Looked for {' or '.join(self.files)} in:\n{looked}\n"
            f"To get it: run `grade data fetch` on a machine with network access "
            f"(Keras's own downloaders fill the data folder), then copy that folder here; "
            f"or copy the file(s) into {Path(data_dir) / 'datasets'}/ yourself. "
            f"Set {DATA_DIR_ENV} to use another data folder."
        )


# ---------------------------------------------------------------- locations


def default_data_dir() -> Path:
    """``$GRADER_DATA_DIR`` if set, else Keras's cache (``$KERAS_HOME`` or ``~/.keras``)."""
    chosen = os.environ.get(DATA_DIR_ENV) or os.environ.get("KERAS_HOME") or "~/.keras"
    return Path(chosen).expanduser()


def search_dirs(data_dir: Path, subfolder: str | None = None) -> list[Path]:
    """The folders searched, in order: Keras's caches, the folder itself, a named subfolder."""
    data_dir = Path(data_dir).expanduser()
    places = [data_dir / "datasets", data_dir / "models", data_dir]
    if subfolder:
        places.append(data_dir / subfolder)
    return places


def _first_file(names: Sequence[str], places: Sequence[Path]) -> Path | None:
    for place in places:
        for name in names:
            candidate = place / name
            if candidate.is_file():
                return candidate
    return None


# -------------------------------------------------------------------- public


def load_test_set(dataset: Dataset, data_dir: Path) -> tuple[np.ndarray, np.ndarray]:
    """The held-out set: (x uint8 of shape (n, *input_shape), y int64 labels)."""
    return _load(dataset, Path(data_dir), "test")


def load_train_set(dataset: Dataset, data_dir: Path) -> tuple[np.ndarray, np.ndarray]:
    """The training set, same shapes and types, for the reference solutions."""
    return _load(dataset, Path(data_dir), "train")


def dataset_files(dataset: Dataset, data_dir: Path, split: str = "test") -> list[Path]:
    """The files :func:`load_test_set` (or the train split) reads; raises DataMissing."""
    data_dir = Path(data_dir)
    if dataset.loader == "mnist":
        return _mnist_source(data_dir, split)
    if dataset.loader == "cifar10":
        names = _cifar_batches(split)
        location = _cifar_location(data_dir, names)
        return [location.origin] if location.archive_members is not None else [location.origin / n for n in names]
    files = imagenet_files(data_dir)
    return [files["weights"], files["class_index"]]


def load_class_names(dataset: Dataset, data_dir: Path) -> list[str]:
    """Class names by label: CIFAR's ``batches.meta`` when present, else the rubric's."""
    if dataset.loader == "cifar10":
        try:
            location = _cifar_location(Path(data_dir), (CIFAR_META,))
        except DataMissing:
            location = None
        if location is not None:
            meta = _unpickle_cifar(location.read(CIFAR_META), location.describe(CIFAR_META))
            names = meta.get(b"label_names")
            if isinstance(names, list) and all(isinstance(n, bytes) for n in names):
                return [n.decode("utf-8") for n in names]
            raise DataError(
                f"{location.describe(CIFAR_META)}: has no list of label_names; replace it with the official file"
            )
    if dataset.loader == "imagenet-images":
        index = load_imagenet_class_index(imagenet_files(Path(data_dir))["class_index"])
        return [label for _, label in index]
    return list(dataset.class_names) or [str(i) for i in range(dataset.num_classes)]


def imagenet_files(data_dir: Path) -> dict[str, Path]:
    """{"weights": the ResNet50 ImageNet .h5, "class_index": imagenet_class_index.json}."""
    data_dir = Path(data_dir)
    places = search_dirs(data_dir, "imagenet")
    wanted = {"weights": RESNET50_WEIGHTS, "class_index": IMAGENET_CLASS_INDEX}
    found = {key: _first_file([name], places) for key, name in wanted.items()}
    missing = [wanted[key] for key, path in found.items() if path is None]
    if missing:
        raise DataMissing(f"ImageNet file(s) for ResNet50 ({', '.join(missing)})", missing, places, data_dir)
    return {key: path for key, path in found.items() if path is not None}


def load_imagenet_class_index(path: Path) -> list[tuple[str, str]]:
    """Keras's class index ({"0": ["n01440764", "tench"], ...}) as a list of (wnid, label)."""
    try:
        raw = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise DataError(
            f"{path}: not a readable JSON class index ({exc}); copy Keras's imagenet_class_index.json there"
        ) from None
    try:
        entries = [raw[str(i)] for i in range(len(raw))]
    except (KeyError, TypeError):
        entries = None
    if not entries or not all(
        isinstance(e, list) and len(e) == 2 and all(isinstance(v, str) for v in e) for e in entries
    ):
        raise DataError(
            f"{path}: not shaped like Keras's class index "
            '({"0": ["n01440764", "tench"], ...} with keys 0..N-1); copy the real file there'
        )
    return [(wnid, label) for wnid, label in entries]


# --------------------------------------------------------------------- MNIST


def _load(dataset: Dataset, data_dir: Path, split: str) -> tuple[np.ndarray, np.ndarray]:
    if dataset.loader == "mnist":
        x, y, origin = _load_mnist(data_dir, split)
    elif dataset.loader == "cifar10":
        x, y, origin = _load_cifar(data_dir, split, dataset)
    else:
        raise DataError(
            f"data set loader {dataset.loader!r} has no {split} set of arrays; "
            "its inputs are a folder of images (see imagenet_files)"
        )
    return _conform(x, y, dataset, origin)


def _mnist_source(data_dir: Path, split: str) -> list[Path]:
    places = search_dirs(data_dir, "mnist")
    npz = _first_file([MNIST_NPZ], places)
    if npz is not None:
        return [npz]
    images_name, labels_name = MNIST_IDX[split]
    images = _first_file([images_name + ".gz", images_name], places)
    labels = _first_file([labels_name + ".gz", labels_name], places)
    if images is None or labels is None:
        raise DataMissing(
            f"MNIST {split} set",
            [MNIST_NPZ, f"{images_name}(.gz) with {labels_name}(.gz)"],
            places,
            data_dir,
        )
    return [images, labels]


def _load_mnist(data_dir: Path, split: str) -> tuple[np.ndarray, np.ndarray, str]:
    source = _mnist_source(data_dir, split)
    if len(source) == 1:
        return (*_read_mnist_npz(source[0], split), str(source[0]))
    images_path, labels_path = source
    images = read_idx(images_path, IDX_IMAGES_MAGIC)
    labels = read_idx(labels_path, IDX_LABELS_MAGIC)
    if len(images) != len(labels):
        raise DataError(
            f"{images_path} holds {len(images)} images but {labels_path} holds {len(labels)} labels; "
            "they must come from the same release: copy both again"
        )
    return images, labels, str(images_path)


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


# ------------------------------------------------------------------ CIFAR-10


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


def _load_cifar(data_dir: Path, split: str, dataset: Dataset) -> tuple[np.ndarray, np.ndarray, str]:
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
    return np.concatenate(images), np.concatenate(labels), str(location.origin)


def _conform(x: np.ndarray, y: np.ndarray, dataset: Dataset, origin: str) -> tuple[np.ndarray, np.ndarray]:
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


# --------------------------------------------------------------------- fetch


def fetch(data_dir: Path) -> list[Path]:
    """Download every data file into ``data_dir`` with Keras's own downloaders.

    Only ``grade data fetch`` calls this, when a person asks for it: it needs
    the network. Returns the files now in the folder.
    """
    import keras
    from keras.src.applications import imagenet_utils
    from keras.src.backend import config as keras_config

    data_dir = Path(data_dir).expanduser()
    data_dir.mkdir(parents=True, exist_ok=True)
    if not os.access(data_dir, os.W_OK):
        # Keras would quietly download into /tmp/.keras instead.
        raise DataError(f"{data_dir}: not writable; choose a data folder you can write to")
    previous = keras_config._KERAS_DIR
    keras_config._KERAS_DIR = str(data_dir)  # where Keras's get_file caches downloads
    try:
        keras.datasets.mnist.load_data()
        keras.datasets.cifar10.load_data()
        keras.applications.ResNet50(weights="imagenet")
        # decode_predictions downloads the class index on its first call.
        imagenet_utils.CLASS_INDEX = None
        keras.applications.imagenet_utils.decode_predictions(np.full((1, 1000), 1e-3, dtype="float32"))
    finally:
        keras_config._KERAS_DIR = previous
    return sorted(p for p in data_dir.rglob("*") if p.is_file())


# ---------------------------------------------------------- synthetic data


# Seven-segment digits: segment -> (top, left, height, width) in a 20x12 box.
_SEGMENTS = {
    "a": (0, 1, 3, 10), "b": (1, 9, 9, 3), "c": (10, 9, 9, 3), "d": (17, 1, 3, 10),
    "e": (10, 0, 9, 3), "f": (1, 0, 9, 3), "g": (8, 1, 3, 10),
}
_DIGIT_SEGMENTS = ["abcdef", "bc", "abged", "abgcd", "fgbc", "afgcd", "afgedc", "abc", "abcdefg", "abcdfg"]


def synthetic_mnist(n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Digits drawn as seven-segment strokes, jittered and noisy: (n, 28, 28) uint8 and labels."""
    labels = rng.integers(0, 10, size=n)
    images = np.zeros((n, 28, 28), dtype=np.float32)
    for i, label in enumerate(labels):
        top, left = rng.integers(3, 6), rng.integers(6, 11)
        ink = rng.uniform(200, 255)
        for segment in _DIGIT_SEGMENTS[label]:
            y, x, h, w = _SEGMENTS[segment]
            images[i, top + y: top + y + h, left + x: left + x + w] = ink
    images += rng.normal(0, 15, size=images.shape)
    return np.clip(images, 0, 255).astype(np.uint8), labels.astype(np.uint8)


# Ten well-separated hues, one per class.
_PALETTE = np.array(
    [[230, 25, 75], [60, 180, 75], [255, 225, 25], [0, 130, 200], [245, 130, 48],
     [145, 30, 180], [70, 240, 240], [240, 50, 230], [250, 250, 250], [128, 128, 0]],
    dtype=np.float32,
)


def synthetic_cifar(n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Coloured discs on noisy dark backgrounds, colour and size by class: (n, 32, 32, 3) uint8 and labels."""
    labels = rng.integers(0, 10, size=n)
    rows, cols = np.mgrid[0:32, 0:32]
    background = rng.uniform(0, 60, size=(n, 1, 1, 3)).astype(np.float32)
    images = np.broadcast_to(background, (n, 32, 32, 3)).copy()
    for i, label in enumerate(labels):
        radius = 7 + (label % 3) * 2 + rng.uniform(-1, 1)
        cy, cx = rng.uniform(radius, 32 - radius, size=2)
        disc = (rows - cy) ** 2 + (cols - cx) ** 2 <= radius**2
        images[i][disc] = _PALETTE[label] + rng.normal(0, 12, size=3)
    images += rng.normal(0, 12, size=images.shape)
    return np.clip(images, 0, 255).astype(np.uint8), labels.astype(np.uint8)


def _idx_bytes(array: np.ndarray) -> bytes:
    magic = 0x00000800 | array.ndim
    header = struct.pack(f">I{array.ndim}I", magic, *array.shape)
    return header + np.ascontiguousarray(array, dtype=np.uint8).tobytes()


def _cifar_pickle(value: dict) -> bytes:
    # Protocol 3 stores bytes as bytes; protocol 2 under Python 3 would route
    # them through _codecs.encode, which the real (Python 2) files never use.
    return pickle.dumps(value, protocol=3)


def _cifar_batch(images: np.ndarray, labels: np.ndarray, batch_label: str, first_index: int) -> bytes:
    planes = images.transpose(0, 3, 1, 2).reshape(len(images), -1)   # R, G, B planes per row
    return _cifar_pickle({
        b"batch_label": batch_label.encode(),
        b"labels": [int(label) for label in labels],
        b"data": np.ascontiguousarray(planes, dtype=np.uint8),
        b"filenames": [f"synthetic_{first_index + i:05d}.png".encode() for i in range(len(images))],
    })


def _default_cifar_names() -> list[str]:
    from grader import rubric as rubric_lib

    try:
        datasets = rubric_lib.load().datasets.values()
        names = next(d.class_names for d in datasets if d.loader == "cifar10" and d.class_names)
    except (rubric_lib.RubricError, StopIteration):
        names = [f"class_{i}" for i in range(10)]
    return list(names)


def write_synthetic_data(
    out_dir: Path,
    *,
    n_train: int = 5000,
    n_test: int = 1000,
    seed: int = 0,
    with_resnet_weights: bool = False,
    class_index_json: Path | None = None,
    cifar_class_names: Sequence[str] | None = None,
) -> Path:
    """A data folder laid out like Keras's cache, in the real file formats, with learnable images.

    Writes datasets/mnist.npz, the four MNIST IDX .gz files, the CIFAR-10
    batches and batches.meta, models/imagenet_class_index.json (a copy of
    ``class_index_json`` when it exists, else a synthetic 1000-class index)
    and, when asked, ResNet50 weights (random, seeded) in Keras's legacy .h5
    format. Returns ``out_dir``.
    """
    out_dir = Path(out_dir)
    datasets_dir, models_dir = out_dir / "datasets", out_dir / "models"
    rng = np.random.default_rng(seed)

    (x_train, y_train), (x_test, y_test) = synthetic_mnist(n_train, rng), synthetic_mnist(n_test, rng)
    buffer = io.BytesIO()
    np.savez_compressed(buffer, x_train=x_train, y_train=y_train, x_test=x_test, y_test=y_test)
    atomic_write_bytes(datasets_dir / MNIST_NPZ, buffer.getvalue())
    for split, (x, y) in {"train": (x_train, y_train), "test": (x_test, y_test)}.items():
        images_name, labels_name = MNIST_IDX[split]
        atomic_write_bytes(datasets_dir / f"{images_name}.gz", gzip.compress(_idx_bytes(x), mtime=0))
        atomic_write_bytes(datasets_dir / f"{labels_name}.gz", gzip.compress(_idx_bytes(y), mtime=0))

    cifar_dir = datasets_dir / CIFAR_DIR
    x_train, y_train = synthetic_cifar(n_train, rng)
    first = 0
    for number, (x, y) in enumerate(zip(np.array_split(x_train, 5), np.array_split(y_train, 5)), start=1):
        atomic_write_bytes(cifar_dir / f"data_batch_{number}", _cifar_batch(x, y, f"training batch {number} of 5", first))
        first += len(x)
    x_test, y_test = synthetic_cifar(n_test, rng)
    atomic_write_bytes(cifar_dir / CIFAR_TEST[0], _cifar_batch(x_test, y_test, "testing batch 1 of 1", 0))
    names = list(cifar_class_names) if cifar_class_names else _default_cifar_names()
    meta = {b"num_cases_per_batch": len(x_test), b"label_names": [n.encode() for n in names], b"num_vis": 3072}
    atomic_write_bytes(cifar_dir / CIFAR_META, _cifar_pickle(meta))

    if class_index_json is not None and Path(class_index_json).is_file():
        atomic_write_bytes(models_dir / IMAGENET_CLASS_INDEX, Path(class_index_json).read_bytes())
    else:
        index = {str(i): [f"n{90000000 + i:08d}", f"synthetic_class_{i:03d}"] for i in range(1000)}
        atomic_write_bytes(models_dir / IMAGENET_CLASS_INDEX, json.dumps(index).encode())
    if with_resnet_weights:
        write_synthetic_resnet50_weights(models_dir / RESNET50_WEIGHTS, seed=seed)
    return out_dir


SYNTHETIC_VERSION = 1


def ensure_synthetic_data(seed: int = 0, cache_dir: Path | None = None) -> Path:
    """The synthetic data set for ``seed`` at full test-set size, made once.

    The shipped example submissions were made against it, so grading them
    needs no real data. Made in a temporary folder and renamed into place,
    so an interrupted first run leaves nothing half-written.
    """
    cache = Path(cache_dir or os.environ.get("GRADER_CACHE_DIR", Path.home() / ".cache" / "dl-autograder"))
    target = cache / f"synthetic-seed{seed}-v{SYNTHETIC_VERSION}"
    if (target / "complete").is_file():
        return target
    cache.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}-", dir=cache))
    try:
        write_synthetic_data(staging, n_train=5000, n_test=10000, seed=seed, with_resnet_weights=True)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return publish_folder(staging, target, "complete")


def write_synthetic_resnet50_weights(path: Path, seed: int = 0) -> Path:
    """Random ResNet50 weights in the legacy .h5 layout of Keras's ImageNet file.

    Keras 3's ``save_weights`` only writes the newer ``.weights.h5`` layout,
    which ``ResNet50(weights=<file>.h5)`` does not read; the legacy writer
    makes the same layout as the real download.
    """
    import h5py
    import keras
    from keras.src.legacy.saving import legacy_h5_format

    keras.utils.set_random_seed(seed)
    model = keras.applications.ResNet50(weights=None)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".h5")
    os.close(handle)
    try:
        with h5py.File(temp, "w") as h5:
            legacy_h5_format.save_weights_to_hdf5_group(h5, model)
        os.replace(temp, path)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise
    return path


def write_synthetic_images(folder: Path, count: int = 3, seed: int = 0) -> list[Path]:
    """A few photos-to-be for the ResNet50 part: JPEG and PNG files of different sizes."""
    from PIL import Image

    rng = np.random.default_rng(seed)
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for i in range(count):
        height, width = int(rng.integers(180, 400)), int(rng.integers(180, 400))
        gradient = np.linspace(0, 255, width, dtype=np.float32)[None, :, None]
        pixels = gradient * rng.uniform(0.2, 1.0, size=(1, 1, 3)) + rng.normal(0, 30, size=(height, width, 3))
        image = Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8))
        suffix = ".jpg" if i % 2 == 0 else ".png"
        buffer = io.BytesIO()
        image.save(buffer, format="JPEG" if suffix == ".jpg" else "PNG")
        path = folder / f"photo_{i + 1}{suffix}"
        atomic_write_bytes(path, buffer.getvalue())
        written.append(path)
    return written


def copy_file(source: Path, target: Path) -> Path:
    """Copy a file atomically (temp file beside the target, then rename)."""
    atomic_write_bytes(Path(target), Path(source).read_bytes())
    return Path(target)


__all__ = [
    "DataError", "DataMissing", "default_data_dir", "search_dirs", "sha256_of",
    "load_test_set", "load_train_set", "dataset_files", "load_class_names",
    "imagenet_files", "load_imagenet_class_index", "read_idx", "fetch",
    "write_synthetic_data", "write_synthetic_resnet50_weights", "write_synthetic_images",
    "synthetic_mnist", "synthetic_cifar", "copy_file",
]
