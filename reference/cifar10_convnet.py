"""6.2a and 6.2b: a section-5.2-style convnet on CIFAR-10, without and with regularisation.

6.2a is the plain network. 6.2b is the same network with data augmentation
as the model's first layer (so it only acts during training and the saved
model shows it) and Dropout(0.5) before the dense classifier (listing 5.13).
The 32x32 images leave room for three convolution blocks, not the book's four.
"""

from __future__ import annotations

import keras
from keras import layers

from reference.training import fit_and_evaluate

BATCH_SIZE = 64
# The plain network overfits after a dozen epochs; augmentation and dropout
# slow learning and need more epochs to pay off (the book: 30 vs 100).
EPOCHS_PLAIN = 20
EPOCHS_REGULARISED = 50


def build_plain_convnet(input_shape, num_classes):
    """6.2a: convolution + max-pooling blocks of 32, 64 and 128 filters, then Dense 512."""
    return keras.Sequential(
        [
            keras.Input(shape=input_shape),
            layers.Conv2D(32, (3, 3), activation="relu"),
            layers.MaxPooling2D((2, 2)),
            layers.Conv2D(64, (3, 3), activation="relu"),
            layers.MaxPooling2D((2, 2)),
            layers.Conv2D(128, (3, 3), activation="relu"),
            layers.MaxPooling2D((2, 2)),
            layers.Flatten(),
            layers.Dense(512, activation="relu"),
            layers.Dense(num_classes, activation="softmax"),
        ],
        name="cifar10_convnet",
    )


def data_augmentation():
    """Random flips, rotations and zooms: new variants of each image every epoch."""
    return keras.Sequential(
        [
            layers.RandomFlip("horizontal"),
            layers.RandomRotation(0.1),
            layers.RandomZoom(0.1),
        ],
        name="data_augmentation",
    )


def build_regularised_convnet(input_shape, num_classes):
    """6.2b: the 6.2a network with augmentation in front and Dropout(0.5) before the classifier."""
    return keras.Sequential(
        [
            keras.Input(shape=input_shape),
            data_augmentation(),
            layers.Conv2D(32, (3, 3), activation="relu"),
            layers.MaxPooling2D((2, 2)),
            layers.Conv2D(64, (3, 3), activation="relu"),
            layers.MaxPooling2D((2, 2)),
            layers.Conv2D(128, (3, 3), activation="relu"),
            layers.MaxPooling2D((2, 2)),
            layers.Flatten(),
            layers.Dropout(0.5),
            layers.Dense(512, activation="relu"),
            layers.Dense(num_classes, activation="softmax"),
        ],
        name="cifar10_convnet_regularised",
    )


def train_plain_convnet(x_train, y_train, x_test, y_test, *, num_classes, epochs=EPOCHS_PLAIN,
                        batch_size=BATCH_SIZE):
    """6.2a: train the plain network and score the test set."""
    model = build_plain_convnet(x_train.shape[1:], num_classes)
    return fit_and_evaluate(model, x_train, y_train, x_test, y_test, epochs=epochs, batch_size=batch_size)


def train_regularised_convnet(x_train, y_train, x_test, y_test, *, num_classes, epochs=EPOCHS_REGULARISED,
                              batch_size=BATCH_SIZE):
    """6.2b: train the network with augmentation and dropout and score the test set."""
    model = build_regularised_convnet(x_train.shape[1:], num_classes)
    return fit_and_evaluate(model, x_train, y_train, x_test, y_test, epochs=epochs, batch_size=batch_size)
