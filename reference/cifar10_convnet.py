"""6.2a and 6.2b: a section-5.2-style convnet on CIFAR-10, without and with regularisation.

6.2a is the plain network of section 5.2 (three convolution blocks, since
32x32 images leave no room for the book's four), trained with RMSprop.
6.2b regularises it as the book does (section 5.2 of the first edition):
data augmentation as the model's first layers (active only in training; the
saved model shows it) and dropout (after every block and before the
classifier). It adds what makes that pay off within a CPU budget: "same"
padding (the blocks see 32, 16 and 8 pixels instead of shrinking to 2x2),
batch normalisation, and Adam with a cosine-decaying learning rate.
Measured on the JPEG copy of CIFAR-10 on 2 CPU cores: see the README's
"Reference solutions".
"""

from __future__ import annotations

import keras
from keras import layers

from reference.training import fit_and_evaluate, training_steps

BATCH_SIZE = 64
# Measured on the JPEG copy: the plain network's validation loss is lowest after
# 5 epochs and climbs from there (it overfits); the regularised one improves up
# to its last epochs, as its learning rate decays. Both get 20 epochs (6.2b's
# count was set by the CPU time a full run takes on 2 shared cores).
EPOCHS_PLAIN = 20
EPOCHS_REGULARISED = 20
LEARNING_RATE = 1e-3   # Adam's default, where the 6.2b schedule starts


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
    """Random horizontal flips and shifts of up to 10% each way: new variants of each image every epoch."""
    return keras.Sequential(
        [
            layers.RandomFlip("horizontal"),
            layers.RandomTranslation(0.1, 0.1, fill_mode="nearest"),
        ],
        name="data_augmentation",
    )


def regularised_block(filters, dropout_rate):
    """3x3 convolution ("same" padding), batch normalisation, ReLU, 2x2 max pooling, dropout."""
    return [
        layers.Conv2D(filters, (3, 3), padding="same", use_bias=False),   # the normalisation adds the bias
        # Moving statistics that settle within ~50 steps, so a short (quick) run scores sensibly too;
        # with Keras's default 0.99 they still hold their initial values after one quick epoch.
        layers.BatchNormalization(momentum=0.9),
        layers.Activation("relu"),
        layers.MaxPooling2D((2, 2)),
        layers.Dropout(dropout_rate),
    ]


def build_regularised_convnet(input_shape, num_classes):
    """6.2b: augmentation, then blocks of 32, 64 and 128 filters with rising dropout, then Dense 256."""
    return keras.Sequential(
        [
            keras.Input(shape=input_shape),
            data_augmentation(),
            *regularised_block(32, 0.1),
            *regularised_block(64, 0.2),
            *regularised_block(128, 0.3),
            layers.Flatten(),
            layers.Dropout(0.5),
            layers.Dense(256, activation="relu"),
            layers.Dense(num_classes, activation="softmax"),
        ],
        name="cifar10_convnet_regularised",
    )


def adam_with_cosine_decay(n_train, epochs, batch_size):
    """Adam whose learning rate falls from LEARNING_RATE to 0 along a cosine over the whole run."""
    steps = training_steps(n_train, epochs, batch_size)
    schedule = keras.optimizers.schedules.CosineDecay(LEARNING_RATE, decay_steps=steps)
    return keras.optimizers.Adam(learning_rate=schedule)


def train_plain_convnet(x_train, y_train, x_test, y_test, *, num_classes, epochs=EPOCHS_PLAIN,
                        batch_size=BATCH_SIZE):
    """6.2a: train the plain network and score the test set."""
    model = build_plain_convnet(x_train.shape[1:], num_classes)
    return fit_and_evaluate(model, x_train, y_train, x_test, y_test, epochs=epochs, batch_size=batch_size)


def train_regularised_convnet(x_train, y_train, x_test, y_test, *, num_classes, epochs=EPOCHS_REGULARISED,
                              batch_size=BATCH_SIZE):
    """6.2b: train the regularised network with Adam and a decaying learning rate; score the test set."""
    model = build_regularised_convnet(x_train.shape[1:], num_classes)
    optimizer = adam_with_cosine_decay(len(x_train), epochs, batch_size)
    return fit_and_evaluate(model, x_train, y_train, x_test, y_test, epochs=epochs, batch_size=batch_size,
                            optimizer=optimizer)
