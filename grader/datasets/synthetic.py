"""Synthetic stand-ins for the instructor's data, in the real file formats,
with learnable images: tests and the shipped examples grade against them.

TensorFlow is imported only by the weights writers, so the grader's host
side stays light.
"""

from __future__ import annotations

import gzip
import io
import json
import os
import pickle
import struct
import tempfile
from pathlib import Path
from typing import Sequence

import numpy as np

from grader.atomic import atomic_write_bytes, build_folder_once
from grader.datasets.cifar10 import CIFAR_DIR, CIFAR_META, CIFAR_TEST
from grader.datasets.imagenet import IMAGENET_CLASS_INDEX, RESNET50_WEIGHTS
from grader.datasets.locations import cache_dir as grader_cache_dir
from grader.datasets.mnist import MNIST_IDX, MNIST_NPZ


# Seven-segment digits: segment -> (top, left, height, width) in a 20x12 box.
_SEGMENTS = {
    "a": (0, 1, 3, 10), "b": (1, 9, 9, 3), "c": (10, 9, 9, 3), "d": (17, 1, 3, 10),
    "e": (10, 0, 9, 3), "f": (1, 0, 9, 3), "g": (8, 1, 3, 10),
}
_DIGIT_SEGMENTS = ["abcdef", "bc", "abged", "abgcd", "fgbc", "afgcd", "afgedc", "abc", "abcdefg", "abcdfg"]


# In every synthetic data folder: grader/datasets/official.py does not call it a copy of the real data.
SYNTHETIC_MARKER = "SYNTHETIC.txt"


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
    atomic_write_bytes(out_dir / SYNTHETIC_MARKER, (
        f"Synthetic stand-ins in the real file formats (grader/datasets/synthetic.py, seed {seed}), "
        "not the real data sets: they are not official copies of them either.\n").encode())

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


SYNTHETIC_VERSION = 2        # 2: the folder says it is synthetic (SYNTHETIC_MARKER)


def ensure_synthetic_data(seed: int = 0, cache_dir: Path | None = None) -> Path:
    """The synthetic data set for ``seed`` at full test-set size, made once.

    The shipped example submissions were made against it, so grading them
    needs no real data. Made in a temporary folder and renamed into place,
    so an interrupted first run leaves nothing half-written.
    """
    cache = Path(cache_dir) if cache_dir else grader_cache_dir()
    return build_folder_once(cache / f"synthetic-seed{seed}-v{SYNTHETIC_VERSION}",
                             lambda staging: write_synthetic_data(staging, n_train=5000, n_test=10000, seed=seed,
                                                                  with_resnet_weights=True))


def write_synthetic_resnet50_weights(path: Path, seed: int = 0) -> Path:
    """Random ResNet50 weights (with its top) in the legacy .h5 layout of Keras's ImageNet file."""
    import keras

    keras.utils.set_random_seed(seed)
    return write_legacy_weights(path, keras.applications.ResNet50(weights=None))


def write_synthetic_application_weights(path: Path, application: str, seed: int = 0,
                                        input_shape: Sequence[int] | None = None, **options) -> Path:
    """Random, seeded weights of a keras.applications base (``include_top=False``:
    the ``..._notop.h5`` downloads) in the legacy .h5 layout of the real file, so
    that ``VGG16(weights=<path>, include_top=False)`` loads them as it would the
    ImageNet ones. ``options`` go to the builder (``alpha`` for MobileNetV2).

    Like trained weights, and unlike a freshly built network's, every
    BatchNormalization layer has varied scales and offsets and moving
    statistics that fit what reaches it: a frozen base then passes on
    activations of a sane size (a freshly built MobileNetV2 run in inference
    mode saturates its ReLU6s and passes no gradient to a fine-tuned top block)."""
    import keras

    keras.backend.clear_session()      # Keras's name counters too: the file's bytes are the seed's alone
    keras.utils.set_random_seed(seed)
    builder = getattr(keras.applications, application)
    shape = tuple(input_shape) if input_shape is not None else None
    model = builder(weights=None, include_top=False, input_shape=shape, **options)
    _calibrate_batch_norm(model, keras, np.random.default_rng(seed))
    return write_legacy_weights(path, model)


def _calibrate_batch_norm(model, keras, rng: np.random.Generator, images: int = 8) -> None:
    """Varied gamma and beta, then moving statistics set to those of one batch of noise
    (momentum 0 for one training-mode call)."""
    layers = [layer for layer in model._flatten_layers() if isinstance(layer, keras.layers.BatchNormalization)]
    if not layers:
        return
    for layer in layers:
        if layer.gamma is not None:
            layer.gamma.assign(rng.uniform(0.7, 1.3, layer.gamma.shape).astype("float32"))
        if layer.beta is not None:
            layer.beta.assign(rng.normal(0.0, 0.1, layer.beta.shape).astype("float32"))
    momentum = {id(layer): layer.momentum for layer in layers}
    for layer in layers:
        layer.momentum = 0.0
    shape = [images] + [d if d is not None else 64 for d in model.input_shape[1:]]
    model(rng.uniform(-1.0, 1.0, shape).astype("float32"), training=True)
    for layer in layers:
        layer.momentum = momentum[id(layer)]


def write_legacy_weights(path: Path, model) -> Path:
    """A model's weights in Keras's legacy .h5 layout (the layout of the ImageNet downloads).

    Keras 3's ``save_weights`` only writes the newer ``.weights.h5`` layout,
    which ``ResNet50(weights=<file>.h5)`` does not read; the legacy writer
    makes the same layout as the real download: a ``layer_names`` attribute,
    one group per layer with its ``weight_names`` in the layer's order.
    """
    import h5py
    from keras.src.legacy.saving import legacy_h5_format

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".h5")
    os.close(handle)
    try:
        with h5py.File(temp, "w") as h5:
            legacy_h5_format.save_weights_to_hdf5_group(h5, model)
        os.chmod(temp, 0o644)
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
