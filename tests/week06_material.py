"""Test material for the week06_architectures rubric: a student's week06/
folder in the real formats (Keras 3 .keras models of the three kinds, their
predictions, metrics, plots, a comparison table and a discussion), built from
fixed seeds; the figures in the table are whatever the caller says.

Tiny networks (a few filters): the structure is what the rubric's detectors
and the comparison checks look at, and they run in well under a second.
"""

from __future__ import annotations

import json
import struct
import zlib
from pathlib import Path

import numpy as np

PARTS = ("cnn", "resnet", "inception")
LABELS = {"cnn": "CNN", "resnet": "ResNet-20", "inception": "Inception"}


def cnn(keras):
    layers = keras.layers
    return keras.Sequential([
        keras.Input((32, 32, 3)),
        layers.Conv2D(4, 3, activation="relu", name="conv1"), layers.MaxPooling2D(name="pool1"),
        layers.Conv2D(8, 3, activation="relu", name="conv2"), layers.GlobalAveragePooling2D(name="gap"),
        layers.Dense(10, activation="softmax", name="predictions"),
    ], name="cnn")


def resnet(keras, blocks: int = 3, skip: bool = True, filters: int = 8):
    """A ResNet-20-style stem and ``blocks`` residual blocks (identity shortcuts)."""
    layers = keras.layers
    inputs = keras.Input((32, 32, 3), name="image")
    x = layers.Conv2D(filters, 3, padding="same", activation="relu", name="stem")(inputs)
    for block in range(1, blocks + 1):
        y = layers.Conv2D(filters, 3, padding="same", activation="relu", name=f"b{block}_conv1")(x)
        y = layers.Conv2D(filters, 3, padding="same", name=f"b{block}_conv2")(y)
        if skip:
            y = layers.Add(name=f"b{block}_add")([y, x])
        x = layers.Activation("relu", name=f"b{block}_out")(y)
    x = layers.GlobalAveragePooling2D(name="gap")(x)
    return keras.Model(inputs, layers.Dense(10, activation="softmax", name="predictions")(x),
                       name="resnet" if skip else "resnet_without_skips")


def inception_module(layers, x, name: str, filters: int = 4):
    """GoogLeNet's module: 1x1, 3x3 and 5x5 branches (the larger two behind 1x1
    reductions) and a pooling branch with its projection, concatenated."""
    b1 = layers.Conv2D(filters, 1, padding="same", activation="relu", name=f"{name}_1x1")(x)
    b3 = layers.Conv2D(filters, 1, padding="same", activation="relu", name=f"{name}_3x3_reduce")(x)
    b3 = layers.Conv2D(filters, 3, padding="same", activation="relu", name=f"{name}_3x3")(b3)
    b5 = layers.Conv2D(filters, 1, padding="same", activation="relu", name=f"{name}_5x5_reduce")(x)
    b5 = layers.Conv2D(filters, 5, padding="same", activation="relu", name=f"{name}_5x5")(b5)
    bp = layers.MaxPooling2D(3, strides=1, padding="same", name=f"{name}_pool")(x)
    bp = layers.Conv2D(filters, 1, padding="same", activation="relu", name=f"{name}_pool_proj")(bp)
    return layers.Concatenate(name=f"{name}_concat")([b1, b3, b5, bp])


def inception(keras, modules: int = 2, filters: int = 4, reduce_between: bool = False, name: str = "inception"):
    """A stem and ``modules`` Inception modules (a max-pooling between them when
    ``reduce_between``), then global pooling and a 10-way softmax."""
    layers = keras.layers
    inputs = keras.Input((32, 32, 3))
    x = layers.Conv2D(8, 3, padding="same", activation="relu", name="stem")(inputs)
    for number in range(1, modules + 1):
        if reduce_between and number > 1:
            x = layers.MaxPooling2D(2, name="reduce")(x)
        x = inception_module(layers, x, f"inc{number}", filters)
    x = layers.GlobalAveragePooling2D()(x)
    return keras.Model(inputs, layers.Dense(10, activation="softmax")(x), name=name)


def build_models(keras) -> dict:
    keras.utils.set_random_seed(11)
    return {"cnn": cnn(keras), "resnet": resnet(keras), "inception": inception(keras)}


def png(path: Path, seed: int, size: int = 24) -> None:
    """A small non-blank RGB PNG (a stand-in for a training curve)."""
    rng = np.random.default_rng(seed)
    pixels = rng.integers(0, 256, (size, size, 3), dtype=np.uint8)
    raw = b"".join(b"\x00" + pixels[row].tobytes() for row in range(size))

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    header = struct.pack(">IIBBBBB", size, size, 8, 2, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(raw))
                     + chunk(b"IEND", b""))


def write_part(root: Path, part: str, model, images: np.ndarray, accuracy: float) -> np.ndarray:
    """results/<part>/ in the recommended layout; returns the model's predicted classes."""
    folder = root / "results" / part
    folder.mkdir(parents=True, exist_ok=True)
    model.save(folder / "model.keras")
    probabilities = model.predict(images.astype("float32") / 255.0, verbose=0)
    predicted = probabilities.argmax(axis=1)
    with open(folder / "predictions.csv", "w", encoding="utf-8") as handle:
        handle.write("predicted\n" + "".join(f"{int(label)}\n" for label in predicted))
    (folder / "metrics.json").write_text(json.dumps({"test_accuracy": accuracy, "test_loss": 1.0}), encoding="utf-8")
    png(folder / "accuracy.png", seed=len(part))
    return predicted


DISCUSSION = """# Comparing the CNN, the ResNet and the Inception network

The plain CNN is the smallest and fastest of the three models: it has the fewest parameters and
the shortest inference time per image, but its accuracy on the CIFAR-10 test set is the lowest,
because a plain stack of convolutions cannot grow deep without the gradients fading away.

The ResNet adds skip connections: each residual block adds its input to the output of two
convolutions, so the network can be deeper and still train well. It reached the best accuracy
for a modest number of parameters, at the cost of more multiply-adds and a slower forward pass.

The Inception network runs parallel branches with 1x1, 3x3 and 5x5 convolutions and a pooling
branch, concatenated, so each module sees several receptive fields at once; the 1x1 reductions
keep its cost down. It was more accurate than the CNN but less than the ResNet, and its many small
branches make it the slowest per image on one CPU thread.

In short, the ResNet gives the best accuracy for its cost here; the CNN is the choice when speed
and size matter most, and the Inception network sits between them. With more epochs and data
augmentation all three would improve, and the ranking might change.
"""


def comparison_csv(rows: dict[str, dict]) -> str:
    """results/comparison.csv: rows[part] = {"accuracy", "params", "ms"}."""
    lines = ["model,test_accuracy,params,ms_per_image"]
    for part in PARTS:
        if part in rows:
            row = rows[part]
            lines.append(f"{LABELS[part]},{row['accuracy']},{row['params']},{row['ms']}")
    return "\n".join(lines) + "\n"


def write_submission(root: Path, keras, images: np.ndarray, models: dict | None = None,
                     table: str | None = None, discussion: str | None = DISCUSSION,
                     accuracies: dict[str, float] | None = None) -> dict[str, np.ndarray]:
    """A whole week06/ folder; ``table`` is results/comparison.csv's text
    (None: no table file). Returns each part's predicted classes."""
    models = models or build_models(keras)
    predicted = {}
    for part in PARTS:
        if part in models:
            predicted[part] = write_part(root, part, models[part], images, (accuracies or {}).get(part, 0.1))
    (root / "results").mkdir(parents=True, exist_ok=True)
    if table is not None:
        (root / "results" / "comparison.csv").write_text(table, encoding="utf-8")
    if discussion is not None:
        (root / "comparison.md").write_text(discussion, encoding="utf-8")
    return predicted
