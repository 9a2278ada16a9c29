"""A synthetic stand-in for an instructor's image folder and for Keras's ImageNet
weights files, for the tests and the out-of-the-box transfer-learning run.

The image folder is laid out as ``image_dataset_from_directory`` reads it:

    <data folder>/datasets/<folder>/{train,validation,test}/<class>/<class>_0001.jpg

Each class is a shape (circle, square, triangle, ...: the rubric's class
names, drawn by name) in its own colour family, at a random size, place and
angle, on a noisy background of random brightness: a small network learns
it in a few epochs, and so does a classifier on a frozen base's features.
Seeded: the same seed gives the same pixels (and, JPEG being deterministic
in one Pillow build, the same files).

The weights files are seeded random weights in the legacy .h5 layout of the
real downloads (datasets.synthetic.write_legacy_weights), so that
``VGG16(weights="<the file>", include_top=False)`` loads them as it loads
the ImageNet ones. Keras's own initialisation of a deep base computes
features that say much about the picture (a linear read-out of MobileNetV2's
tells the shapes apart at 0.97) but at a vanishing scale (1e-11 at its last
layer), on which no classifier trains and which a BatchNormalization layer
in training mode (batch statistics, epsilon 1e-3) blows up. So the scale is
set, and only the scale, on calibration pictures: each BatchNormalization
layer gets its input's statistics per channel (as a trained network's layers
have) and a gamma and beta that undo the centring and bring its output to
unit scale with one factor per layer; a residual branch's last one keeps the
branch as large against its shortcut as Keras's initialisation made it (the
ReLUs are indifferent to scale, so the network computes the same function);
the ones that feed the output standardise each channel, as a trained
network's features are. A base without any (VGG16) has its first kernel
scaled, which with zero biases and ReLUs scales all it computes. Measured:
normalising every layer's channels instead, as a training-mode pass would,
loses most of what the features say (the read-out falls to 0.58).
"""

from __future__ import annotations

import hashlib
import io
import json
import re
from pathlib import Path
from typing import Iterable, Mapping, Sequence

import numpy as np

from grader.atomic import atomic_write_bytes, build_folder_once
from grader.datasets.locations import cache_dir as grader_cache_dir

SYNTHETIC_IMAGES_VERSION = 1
SPLITS = ("train", "validation", "test")
# Images per class and split: enough for a reference run to learn the shapes,
# few enough to make in seconds (about 0.3 ms an image).
PER_CLASS = {"train": 80, "validation": 20, "test": 40}
STORED_SIZE = (128, 128)          # the files' size; the rubric's input_shape is what the loader resizes to
JPEG_QUALITY = 92
CALIBRATION_IMAGES = 32
# The loaders whose synthetic stand-ins datasets.synthetic writes (a rubric with both gets both).
CLASSIC_LOADERS = ("mnist", "cifar10", "imagenet-images")

# Colour families (RGB) the classes take in turn, far apart in hue.
_COLOURS = np.array([[215, 55, 45], [45, 175, 70], [50, 80, 215], [225, 190, 40], [160, 60, 190],
                     [40, 185, 190], [235, 120, 40], [120, 120, 120]], dtype=np.float32)
_POLYGONS = {"triangle": 3, "square": 4, "diamond": 4, "pentagon": 5, "hexagon": 6}
_KNOWN = ("circle", "ring", "stripes", *_POLYGONS)


# ------------------------------------------------------------------ pictures


def _shape_mask(shape: str, size: tuple[int, int], rng: np.random.Generator) -> np.ndarray:
    """Where the shape is: a boolean (height, width) mask, at a random size, place and angle."""
    height, width = size
    rows, cols = np.mgrid[0:height, 0:width].astype(np.float32)
    radius = min(height, width) * rng.uniform(0.28, 0.4)
    cy, cx = rng.uniform(radius, height - radius), rng.uniform(radius, width - radius)
    dy, dx = rows - cy, cols - cx
    if shape == "circle":
        return dy**2 + dx**2 <= radius**2
    if shape == "ring":
        distance = np.sqrt(dy**2 + dx**2)
        return (distance <= radius) & (distance >= radius * 0.6)
    if shape == "stripes":
        period, angle = min(height, width) * rng.uniform(0.12, 0.2), rng.uniform(0, np.pi)
        return ((dy * np.cos(angle) + dx * np.sin(angle)) % period) < period / 2
    sides = _POLYGONS[shape]
    # A regular polygon: inside every edge's half-plane. A square stands upright (or nearly),
    # a diamond is a square turned by 45 degrees, the others take any angle.
    turn = {"square": rng.uniform(-0.2, 0.2), "diamond": np.pi / 4 + rng.uniform(-0.2, 0.2)}.get(
        shape, rng.uniform(0, 2 * np.pi))
    inside = np.ones_like(rows, dtype=bool)
    apothem = radius * np.cos(np.pi / sides)
    for k in range(sides):
        normal = turn + 2 * np.pi * k / sides
        inside &= dx * np.cos(normal) + dy * np.sin(normal) <= apothem
    return inside


def synthetic_picture(shape: str, colour_index: int, size: tuple[int, int], rng: np.random.Generator) -> np.ndarray:
    """One picture of ``shape`` in colour family ``colour_index``: uint8 (height, width, 3)."""
    height, width = size
    gradient = np.linspace(0, 1, width, dtype=np.float32)[None, :, None] * rng.uniform(-20, 20, size=3)
    background = rng.uniform(25, 75, size=3).astype(np.float32) + gradient
    pixels = np.broadcast_to(background, (height, width, 3)).copy()
    colour = _COLOURS[colour_index % len(_COLOURS)] + rng.normal(0, 18, size=3)
    pixels[_shape_mask(shape, size, rng)] = colour
    pixels += rng.normal(0, 10, size=pixels.shape)
    return np.clip(pixels, 0, 255).astype(np.uint8)


def drawable(class_names: Sequence[str]) -> list[str]:
    """The shape each class is drawn as: its own name when it names one, else the known shapes in turn."""
    spare = [name for name in _KNOWN if name not in class_names]
    return [name if name in _KNOWN else spare[i % len(spare)] for i, name in enumerate(class_names)]


def synthetic_pictures(class_names: Sequence[str], count_per_class: int, size: tuple[int, int],
                       rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """``count_per_class`` pictures of every class, classes interleaved: uint8 images and int64 labels."""
    shapes = drawable(class_names)
    labels = np.tile(np.arange(len(class_names)), count_per_class)
    images = np.stack([synthetic_picture(shapes[label], label, size, rng) for label in labels])
    return images, labels.astype(np.int64)


def _jpeg(pixels: np.ndarray) -> bytes:
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="JPEG", quality=JPEG_QUALITY)
    return buffer.getvalue()


def write_synthetic_image_folder(root: Path, class_names: Sequence[str], *, seed: int = 0,
                                 per_class: Mapping[str, int] | None = None,
                                 size: tuple[int, int] = STORED_SIZE) -> Path:
    """``root/<split>/<class>/<class>_NNNN.jpg`` for every split of ``per_class``; returns ``root``."""
    counts = dict(PER_CLASS if per_class is None else per_class)
    shapes = drawable(class_names)
    for number, split in enumerate(counts):
        rng = np.random.default_rng([seed, number])     # one stream per split: a split's size leaves the others be
        for index in range(counts[split]):
            for label, name in enumerate(class_names):
                pixels = synthetic_picture(shapes[label], label, size, rng)
                atomic_write_bytes(Path(root) / split / name / f"{name}_{index + 1:04d}.jpg", _jpeg(pixels))
    return Path(root)


# ------------------------------------------------------------------ weights

_MOBILENET_FILE = re.compile(r"_(?P<alpha>[0-9.]+)_(?P<rows>[0-9]+)_no_top\.h5$")


def builder_options(application: str, file_name: str) -> dict:
    """The builder's settings a Keras weights file name encodes (MobileNetV2's width, alpha)."""
    match = _MOBILENET_FILE.search(file_name) if application.startswith("MobileNet") else None
    return {"alpha": float(match["alpha"])} if match else {}


def _preprocess(application: str):
    """The application's own preprocess_input (caffe-style for VGG16 and ResNet50, [-1, 1] for the others)."""
    import keras

    from grader.datasets.weights import APPLICATIONS

    module = APPLICATIONS[application].module
    module = "resnet50" if module == "resnet" else module
    return getattr(keras.applications, module).preprocess_input


def _has_kernel(layer) -> bool:
    return any(name in ("kernel", "depthwise_kernel") for name in (w.path.split("/")[-1] for w in layer.weights))


def _producer(tensor):
    return tensor._keras_history.operation


def _ancestors(operation) -> set[int]:
    """Every operation ``operation`` is computed from (ids), itself included."""
    seen, stack = set(), [operation]
    while stack:
        current = stack.pop()
        if id(current) in seen:
            continue
        seen.add(id(current))
        for node in current._inbound_nodes:
            stack.extend(parent.operation for parent in node.parent_nodes)
    return seen


def residual_branch_norms(model) -> list:
    """(layer, shortcut tensor) for the BatchNormalization layers that end a residual branch: an
    Add's input computed from the Add's other input (its shortcut), when such a layer made it."""
    import keras

    found = []
    for layer in model.layers:
        if not isinstance(layer, keras.layers.Add):
            continue
        for tensor in layer.input:
            branch = _producer(tensor)
            shortcuts = [other for other in layer.input if other is not tensor]
            if isinstance(branch, keras.layers.BatchNormalization) and len(shortcuts) == 1 and \
                    id(_producer(shortcuts[0])) in _ancestors(branch):
                found.append((branch, shortcuts[0]))
    return found


def final_batch_norms(model) -> list:
    """The BatchNormalization layers whose output reaches the model's output through no
    layer with a kernel, in the model's (topological) order."""
    import keras

    found, seen = set(), set()
    stack = [_producer(tensor) for tensor in model.outputs]
    while stack:
        operation = stack.pop()
        if id(operation) in seen:
            continue
        seen.add(id(operation))
        if isinstance(operation, keras.layers.BatchNormalization):
            found.add(id(operation))
        elif _has_kernel(operation):
            continue
        for node in operation._inbound_nodes:
            stack.extend(parent.operation for parent in node.parent_nodes)
    return [layer for layer in model.layers if id(layer) in found]


def _rms(value) -> float:
    return float(np.sqrt(np.mean(np.square(np.asarray(value, dtype=np.float64)))))


def calibrate_scale(model, images: np.ndarray) -> None:
    """Give the base unit-scale activations on ``images`` (already preprocessed), computing what
    Keras's initialisation computes; see the module's docstring."""
    import keras

    norms = [layer for layer in model.layers if isinstance(layer, keras.layers.BatchNormalization)]
    if not norms:               # ReLUs and zero biases: scaling the first kernel scales everything after it
        first = next(layer for layer in model.layers if _has_kernel(layer))
        kernel, *rest = first.get_weights()
        first.set_weights([kernel / max(_rms(model(images, training=False)), 1e-30), *rest])
        return
    branches = {id(layer): shortcut for layer, shortcut in residual_branch_norms(model)}
    final = {id(layer) for layer in final_batch_norms(model)}
    # Keras's own network: how large each residual branch is against its shortcut (kept below).
    pairs = [(layer.output, branches[id(layer)]) for layer in norms if id(layer) in branches]
    raw = _outputs(model, [tensor for pair in pairs for tensor in pair], images) if pairs else []
    ratio = {id(branch): _rms(raw[2 * i]) / max(_rms(raw[2 * i + 1]), 1e-30) for i, (branch, _) in enumerate(pairs)}
    for layer in norms:         # in order: a layer's input depends on the layers before it, already set
        shortcut = branches.get(id(layer))
        measured = _outputs(model, [layer.input] + ([shortcut] if shortcut is not None else []), images)
        x = np.asarray(measured[0], dtype=np.float64).reshape(-1, layer.input.shape[-1])
        mean, variance = x.mean(axis=0), x.var(axis=0)
        if id(layer) in final:    # the features: each channel standardised
            _set_statistics(layer, mean, variance, gain=None)
            continue
        # Everywhere else the function Keras's initialisation computes, at unit scale: one factor
        # per layer, no centring, a residual branch as large against its shortcut as there.
        target = ratio[id(layer.output)] * _rms(measured[1]) if shortcut is not None else 1.0
        _set_statistics(layer, mean, variance, gain=target / max(_rms(x), 1e-30))


def _outputs(model, tensors: list, images: np.ndarray) -> list:
    """The values of ``tensors`` (of ``model``'s graph) on ``images``, in inference mode."""
    import keras

    values = keras.Model(model.inputs[0], list(tensors))(images, training=False)
    return list(values) if isinstance(values, (list, tuple)) else [values]


def _set_statistics(norm, mean: np.ndarray, variance: np.ndarray, gain: float | None) -> None:
    """The layer's statistics of its input, per channel (as a trained network's are), and with ``gain``
    gamma and beta that make it compute ``gain * x`` (None: standardise each channel).

    gamma (x - mean) / sqrt(variance + eps) + beta = gain * x when gamma = gain * sqrt(variance + eps)
    and beta = gain * mean; a layer without gamma or beta (InceptionV3's: scale=False) gets the
    one variance that gives the gain instead."""
    values = {"moving_mean": mean, "moving_variance": variance, "gamma": np.ones_like(mean),
              "beta": np.zeros_like(mean)}
    if gain is not None and norm.scale and norm.center:
        values.update(gamma=gain * np.sqrt(variance + norm.epsilon), beta=gain * mean)
    elif gain is not None:
        values.update(moving_mean=np.zeros_like(mean),
                      moving_variance=np.full_like(mean, max(1 / gain**2 - norm.epsilon, 1e-12)))
    for weight in norm.weights:
        value = values[weight.path.split("/")[-1]]
        weight.assign(np.asarray(value, dtype="float32").reshape(weight.shape))


def write_calibrated_application_weights(path: Path, application: str, *, seed: int = 0,
                                         input_shape: Sequence[int] = (96, 96, 3),
                                         calibration: np.ndarray | None = None, **options) -> Path:
    """Seeded random ``include_top=False`` weights of a keras.applications base, scale-calibrated,
    in the legacy .h5 layout of Keras's download. ``calibration``: uint8 pictures of ``input_shape``
    (default: synthetic shapes); ``options`` go to the builder (``alpha`` for MobileNetV2)."""
    import keras

    from grader.datasets.synthetic import write_legacy_weights

    keras.backend.clear_session()      # Keras's name counters too: the file's bytes are the seed's alone
    keras.utils.set_random_seed(seed)
    model = getattr(keras.applications, application)(weights=None, include_top=False,
                                                      input_shape=tuple(input_shape), **options)
    if calibration is None:
        rng = np.random.default_rng([seed, 999])
        names = list(_KNOWN[:4])
        calibration, _ = synthetic_pictures(names, CALIBRATION_IMAGES // len(names), tuple(input_shape[:2]), rng)
    calibrate_scale(model, _preprocess(application)(np.asarray(calibration, dtype="float32")))
    return write_legacy_weights(path, model)


# ----------------------------------------------------------- the data folder


def _image_folder_datasets(rubric) -> list:
    return [dataset for dataset in rubric.datasets.values() if dataset.loader == "image-folder"]


def needs_synthetic_images(rubric) -> bool:
    """Whether the rubric's synthetic data is this module's: it has an image folder or pretrained bases."""
    return bool(_image_folder_datasets(rubric) or rubric.pretrained_weights)


def synthetic_transfer_key(rubric, seed: int, per_class: Mapping[str, int] | None = None) -> str:
    """What the synthetic data for ``rubric`` depends on, as a short digest (its cache folder's name)."""
    content = {
        "version": SYNTHETIC_IMAGES_VERSION, "seed": seed, "per_class": dict(per_class or PER_CLASS),
        "folders": sorted([d.folder, list(d.class_names) or [f"class_{i}" for i in range(d.num_classes)],
                           list(d.input_shape)] for d in _image_folder_datasets(rubric)),
        "weights": sorted(rubric.pretrained_weights.items()),
        "classic": sorted({d.loader for d in rubric.datasets.values() if d.loader in CLASSIC_LOADERS}),
    }
    return hashlib.sha256(json.dumps(content, sort_keys=True).encode()).hexdigest()[:12]


def write_synthetic_transfer_data(out_dir: Path, rubric, *, seed: int = 0,
                                  per_class: Mapping[str, int] | None = None,
                                  applications: Iterable[str] | None = None) -> Path:
    """Into ``out_dir`` (a data folder): every image-folder data set of ``rubric`` as a synthetic
    image folder (``datasets/<folder>/``), and the ImageNet weights file of each base of its
    ``[pretrained_weights]`` (``models/<file>``; only ``applications`` when given); the MNIST,
    CIFAR-10 and ResNet50 stand-ins too when the rubric also has those data sets."""
    from grader.datasets.synthetic import write_synthetic_data

    out_dir = Path(out_dir)
    folders = _image_folder_datasets(rubric)
    if any(dataset.loader in CLASSIC_LOADERS for dataset in rubric.datasets.values()):
        write_synthetic_data(out_dir, n_train=5000, n_test=10000, seed=seed,
                             with_resnet_weights=any(d.loader == "imagenet-images" for d in rubric.datasets.values()))
    for dataset in folders:
        names = list(dataset.class_names) or [f"class_{i}" for i in range(dataset.num_classes)]
        write_synthetic_image_folder(out_dir / "datasets" / str(dataset.folder), names, seed=seed,
                                     per_class=per_class)
    input_shape = tuple(folders[0].input_shape) if folders else (96, 96, 3)
    wanted = set(rubric.pretrained_weights if applications is None else applications)
    for application, file_name in rubric.pretrained_weights.items():
        if application in wanted:
            write_calibrated_application_weights(out_dir / "models" / file_name, application, seed=seed,
                                                 input_shape=input_shape, **builder_options(application, file_name))
    return out_dir


def ensure_synthetic_transfer_data(rubric, seed: int = 0, cache_dir: Path | None = None,
                                   per_class: Mapping[str, int] | None = None) -> Path:
    """The synthetic data folder for ``rubric`` (its image folders and weights files), made once
    in the grader's cache and published whole, so an interrupted first run leaves nothing half-made."""
    cache = Path(cache_dir) if cache_dir else grader_cache_dir()
    return build_folder_once(cache / f"synthetic-images-seed{seed}-{synthetic_transfer_key(rubric, seed, per_class)}",
                             lambda staging: write_synthetic_transfer_data(staging, rubric, seed=seed,
                                                                           per_class=per_class))


__all__ = [
    "SYNTHETIC_IMAGES_VERSION", "PER_CLASS", "SPLITS", "synthetic_picture", "synthetic_pictures", "drawable",
    "write_synthetic_image_folder", "builder_options", "residual_branch_norms", "final_batch_norms", "calibrate_scale",
    "write_calibrated_application_weights", "needs_synthetic_images", "synthetic_transfer_key",
    "write_synthetic_transfer_data",
    "ensure_synthetic_transfer_data",
]
