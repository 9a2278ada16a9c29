"""The training recipe the CNN, the ResNet and the Inception network share, so that
their comparison measures the architectures and not their training.

Each network gets the same input pipeline (random flips and shifts as the
model's first layers, active only in training), the same optimiser (Adam with
a cosine-decaying learning rate over the whole run), batch size, epochs and
validation split (``reference.training``). This is not He et al.'s schedule
for ResNet-20 (SGD with momentum for 64,000 iterations, about 182 epochs):
that schedule does not fit in a CPU budget.
"""

from __future__ import annotations

import keras
from keras import layers

from reference.training import fit_and_evaluate, training_steps

BATCH_SIZE = 128
# The full run's epochs, set by the CPU time an epoch takes on 2 shared cores
# (see the README's "Reference solutions").
EPOCHS = 30
LEARNING_RATE = 1e-3   # Adam's default, where the cosine schedule starts
# Keras's default batch-normalisation momentum (0.99) leaves the moving
# statistics near their initial values after a short run; 0.9 settles in ~50 steps.
BN_MOMENTUM = 0.9


def augmentation():
    """Random horizontal flips and shifts of up to 10% each way (identity at inference)."""
    return keras.Sequential(
        [layers.RandomFlip("horizontal"), layers.RandomTranslation(0.1, 0.1, fill_mode="nearest")],
        name="augmentation",
    )


def conv_bn_relu(x, filters, kernel_size, name, strides=1):
    """A convolution ("same" padding, no bias: the normalisation adds it), batch normalisation, ReLU."""
    x = layers.Conv2D(filters, kernel_size, strides=strides, padding="same", use_bias=False, name=f"{name}_conv")(x)
    x = layers.BatchNormalization(momentum=BN_MOMENTUM, name=f"{name}_bn")(x)
    return layers.Activation("relu", name=f"{name}_relu")(x)


def classifier_head(x, num_classes):
    """Global average pooling, then one softmax layer."""
    x = layers.GlobalAveragePooling2D(name="global_pool")(x)
    return layers.Dense(num_classes, activation="softmax", name="predictions")(x)


def adam_cosine(n_train, epochs, batch_size):
    """Adam whose learning rate falls from LEARNING_RATE to 0 along a cosine over the whole run."""
    steps = training_steps(n_train, epochs, batch_size)
    return keras.optimizers.Adam(learning_rate=keras.optimizers.schedules.CosineDecay(LEARNING_RATE, steps))


def train_with_recipe(model, x_train, y_train, x_test, y_test, *, epochs, batch_size):
    """Train ``model`` with the shared recipe and score the test set."""
    optimizer = adam_cosine(len(x_train), epochs, batch_size)
    return fit_and_evaluate(model, x_train, y_train, x_test, y_test, epochs=epochs, batch_size=batch_size,
                            optimizer=optimizer)
