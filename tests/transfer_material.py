"""Transfer-learning test material, in the real formats, built once per machine.

A MobileNetV2 base (alpha 0.35, 32x32: 0.4 M weights, 52 BatchNormalization
layers, the block_N names) stands in for the course's VGG16: its "ImageNet"
weights are seeded random numbers written in the legacy .h5 layout of Keras's
downloads (what ``MobileNetV2(weights=<file>, include_top=False)`` reads), and
students' models are built on it the ways students do and saved as .keras:

    frozen      feature extraction: the base frozen with those weights, augmentation, a new Dense(3) head
    fine_tuned  the top block (every base layer after block_15_add) unfrozen and trained, its
                BatchNormalization layers kept frozen as the book advises; the rest frozen
    unfrozen    every layer trainable and trained
    scratch     the base built with weights=None (trained from scratch)
    reinit_one  frozen, but one layer (block_3_project) re-initialised
    wrong_head  frozen, a Dense(5) head

Each model's layer digests and traced layer graph are also computed here,
in-process, by the sandbox's own code (runtime/digests.py,
runner.trace_layer_graph), so that tests of the checks need no TensorFlow.
Building takes about half a minute; the folder is cached by this file's
digest of the code that makes it (GRADER_CACHE_DIR, else ~/.cache/dl-autograder)
and published whole.
"""

from __future__ import annotations

import hashlib
import inspect
import json
import os
import sys
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
RUNTIME = REPO / "grader" / "evaluate" / "runtime"
APPLICATION = "MobileNetV2"
WEIGHTS_FILE = "mobilenet_v2_weights_tf_dim_ordering_tf_kernels_0.35_224_no_top.h5"   # Keras's name at alpha 0.35
SIZE = 32
CLASSES = 3
TOP_BLOCK_AFTER = "block_15_add"
REINITIALISED = "block_3_project"
MODELS = ("frozen", "fine_tuned", "unfrozen", "scratch", "reinit_one", "wrong_head")


def material() -> Path:
    """The cached folder: models/<weights file>, <name>.keras, <name>.digests.json, <name>.graph.json."""
    # Keyed by what makes the material (the builders, the synthetic weights, the
    # sandbox's digests code), not by the helpers below: editing those rebuilds nothing.
    from grader.datasets import synthetic

    made_by = "".join(inspect.getsource(f) for f in (_build, _student_model, synthetic))
    made_by += (RUNTIME / "digests.py").read_text() + repr((APPLICATION, WEIGHTS_FILE, SIZE, CLASSES, TOP_BLOCK_AFTER,
                                                            REINITIALISED, MODELS))
    digest = hashlib.sha256(made_by.encode()).hexdigest()[:12]
    cache = Path(os.environ.get("GRADER_CACHE_DIR") or Path.home() / ".cache" / "dl-autograder")
    from grader.atomic import build_folder_once

    return build_folder_once(cache / f"test-transfer-{digest}", _build)


def _build(folder: Path) -> None:
    import keras

    from grader.datasets import write_synthetic_application_weights

    weights = folder / "models" / WEIGHTS_FILE
    write_synthetic_application_weights(weights, APPLICATION, seed=1, input_shape=(SIZE, SIZE, 3), alpha=0.35)
    rng = np.random.default_rng(0)
    x = rng.uniform(0, 255, size=(16, SIZE, SIZE, 3)).astype("float32")
    y = rng.integers(0, CLASSES, size=16)
    for name in MODELS:
        # Layer names come from process-wide counters: cleared, the head is "dense"
        # whatever the process built before (the tests assert on names).
        keras.backend.clear_session()
        keras.utils.set_random_seed(7)
        model = _student_model(keras, name, weights)
        model.fit(x, y if name != "wrong_head" else y + 1, epochs=1, batch_size=8, verbose=0)
        model.save(folder / f"{name}.keras")
    sys.path.insert(0, str(RUNTIME))
    import digests
    import runner

    digests.INPUTS = folder / "models"
    for name in MODELS:
        loaded = runner.KerasModel(keras.models.load_model(folder / f"{name}.keras", safe_mode=True, compile=False))
        value = digests.layer_digests(loaded, None, None, {"references": {APPLICATION: WEIGHTS_FILE}})
        (folder / f"{name}.digests.json").write_text(json.dumps(value))
        (folder / f"{name}.graph.json").write_text(json.dumps(runner.trace_layer_graph(loaded, [SIZE, SIZE, 3])))


def _student_model(keras, name: str, weights: Path):
    base = keras.applications.MobileNetV2(weights=None if name == "scratch" else str(weights), include_top=False,
                                          input_shape=(SIZE, SIZE, 3), alpha=0.35)
    base.trainable = name in ("fine_tuned", "unfrozen", "scratch")
    if name == "fine_tuned":
        names = [layer.name for layer in base.layers]
        top = set(names[names.index(TOP_BLOCK_AFTER) + 1:])
        for layer in base.layers:
            layer.trainable = layer.name in top and not isinstance(layer, keras.layers.BatchNormalization)
    if name == "reinit_one":
        layer = base.get_layer(REINITIALISED)
        layer.set_weights([np.random.default_rng(3).normal(0, 0.05, w.shape).astype("float32")
                           for w in layer.get_weights()])
    inputs = keras.Input((SIZE, SIZE, 3))
    x = keras.layers.RandomFlip("horizontal")(inputs)
    x = keras.layers.Rescaling(1 / 127.5, offset=-1)(x)
    x = base(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    outputs = keras.layers.Dense(5 if name == "wrong_head" else CLASSES, activation="softmax")(x)
    model = keras.Model(inputs, outputs)
    model.compile(keras.optimizers.Adam(1e-3 if name in ("scratch", "unfrozen") else 1e-4),
                  "sparse_categorical_crossentropy", metrics=["accuracy"], run_eagerly=True)   # no tracing: one step
    return model


def digests_of(folder: Path, name: str) -> dict:
    return json.loads((folder / f"{name}.digests.json").read_text())


def graph_of(folder: Path, name: str) -> dict:
    return json.loads((folder / f"{name}.graph.json").read_text())


def transfer_rubric_text(folder_name: str = "tiny_images") -> str:
    """rubrics/transfer_learning.toml at 32x32 with this base's weights file."""
    text = (REPO / "rubrics" / "transfer_learning.toml").read_text(encoding="utf-8")
    start, end = text.index("\n[pretrained_weights]\n"), text.index("\n[datasets.images]\n")
    text = text[:start] + f'\n[pretrained_weights]\n{APPLICATION} = "{WEIGHTS_FILE}"\n' + text[end:]
    text = text.replace("input_shape = [96, 96, 3]", f"input_shape = [{SIZE}, {SIZE}, 3]")
    text = text.replace('folder = "transfer_images"', f'folder = "{folder_name}"')
    return text.replace('baselines_file = "transfer_learning.baselines.toml"',
                        f'baselines_file = "{REPO / "rubrics" / "transfer_learning.baselines.toml"}"')


def load_transfer_rubric(tmp: Path, folder_name: str = "tiny_images"):
    from grader import rubric as rubric_lib

    path = Path(tmp) / "transfer_tiny.toml"
    path.write_text(transfer_rubric_text(folder_name), encoding="utf-8")
    return rubric_lib.load(path)


def write_image_folder(root: Path, classes=("circle", "square", "triangle"), per_class: int = 4,
                       seed: int = 0, sizes=((40, 52), (96, 80), (64, 64), (24, 30))) -> list[Path]:
    """A small image folder in Keras's layout, JPEG and PNG, of several sizes, a class's colour per class."""
    from PIL import Image

    rng = np.random.default_rng(seed)
    written = []
    colours = np.array([[220, 40, 40], [40, 200, 60], [40, 80, 220]], dtype=np.float32)
    for label, name in enumerate(classes):
        folder = Path(root) / name
        folder.mkdir(parents=True, exist_ok=True)
        for i in range(per_class):
            height, width = sizes[i % len(sizes)]
            pixels = colours[label % len(colours)] * rng.uniform(0.6, 1.0) + rng.normal(0, 25, (height, width, 3))
            image = Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8))
            path = folder / f"{name}_{i:02d}.{'jpg' if i % 2 == 0 else 'png'}"
            image.save(path, **({"quality": 90} if path.suffix == ".jpg" else {}))
            written.append(path)
    return written
