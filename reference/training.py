"""Training and evaluation shared by the convnet solutions (6.1, 6.2a, 6.2b)."""

from __future__ import annotations

import math
from dataclasses import dataclass

import keras
import numpy as np

VALIDATION_SPLIT = 0.2   # the last 20% of the training images, for the curves


@dataclass
class TrainedModel:
    """A trained classifier and what it scored on the held-out test set."""

    model: keras.Model
    history: dict[str, list[float]]   # loss, accuracy, val_loss, val_accuracy per epoch
    test_loss: float
    test_accuracy: float
    probabilities: np.ndarray         # (n_test, num_classes) softmax outputs
    epochs: int
    n_train: int


def scale_pixels(images: np.ndarray) -> np.ndarray:
    """0-255 pixels to floats in [0, 1], as the book does before training."""
    return images.astype("float32") / 255


def training_steps(n_train: int, epochs: int, batch_size: int) -> int:
    """Optimizer steps in ``epochs`` over the images the validation split leaves (as Keras splits: rounded down)."""
    n_fitted = math.floor(n_train * (1 - VALIDATION_SPLIT))
    return math.ceil(n_fitted / batch_size) * epochs


def fit_and_evaluate(model, x_train, y_train, x_test, y_test, *, epochs, batch_size, optimizer="rmsprop"):
    """Train with a validation split (for the curves), then score the test set."""
    model.compile(
        optimizer=optimizer,
        loss="sparse_categorical_crossentropy",   # integer labels, softmax outputs
        metrics=["accuracy"],
    )
    fitted = model.fit(
        scale_pixels(x_train), y_train,
        epochs=epochs, batch_size=batch_size,
        validation_split=VALIDATION_SPLIT, verbose=2,
    )
    test_images = scale_pixels(x_test)
    test_loss, test_accuracy = model.evaluate(test_images, y_test, batch_size=256, verbose=0)
    probabilities = model.predict(test_images, batch_size=256, verbose=0)
    history = {name: [float(v) for v in values] for name, values in fitted.history.items()}
    return TrainedModel(model, history, float(test_loss), float(test_accuracy), probabilities, epochs, len(x_train))
