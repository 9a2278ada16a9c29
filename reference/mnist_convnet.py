"""6.1: the MNIST convnet of Chollet's listing 5.3."""

from __future__ import annotations

import keras
from keras import layers

from reference.training import fit_and_evaluate

EPOCHS = 5
BATCH_SIZE = 64


def build_mnist_convnet(input_shape, num_classes):
    """Listing 5.3: three 3x3 convolutions with max pooling, then a small dense classifier."""
    return keras.Sequential(
        [
            keras.Input(shape=input_shape),
            layers.Conv2D(32, (3, 3), activation="relu"),
            layers.MaxPooling2D((2, 2)),
            layers.Conv2D(64, (3, 3), activation="relu"),
            layers.MaxPooling2D((2, 2)),
            layers.Conv2D(64, (3, 3), activation="relu"),
            layers.Flatten(),
            layers.Dense(64, activation="relu"),
            layers.Dense(num_classes, activation="softmax"),
        ],
        name="mnist_convnet",
    )


def train_mnist_convnet(x_train, y_train, x_test, y_test, *, num_classes, epochs=EPOCHS, batch_size=BATCH_SIZE):
    """Train listing 5.3 with RMSprop for 5 epochs in batches of 64; score the test set."""
    model = build_mnist_convnet(x_train.shape[1:], num_classes)
    return fit_and_evaluate(model, x_train, y_train, x_test, y_test, epochs=epochs, batch_size=batch_size)
