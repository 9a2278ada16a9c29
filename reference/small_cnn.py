"""A small plain CNN for CIFAR-10: the baseline the ResNet and the Inception network are compared with.

Three blocks of two 3x3 convolutions (32, 64 and 128 filters) with batch
normalisation, each followed by 2x2 max pooling: a straight stack with no
skip connection and no parallel branch.
"""

from __future__ import annotations

import keras
from keras import layers

from reference.architecture_training import (BATCH_SIZE, EPOCHS, augmentation, classifier_head, conv_bn_relu,
                                             train_with_recipe)

FILTERS = (32, 64, 128)
CONVS_PER_BLOCK = 2


def build_small_cnn(input_shape, num_classes, filters=FILTERS, convs_per_block=CONVS_PER_BLOCK):
    """Blocks of ``convs_per_block`` convolutions and a max pooling, one per entry of ``filters``."""
    inputs = keras.Input(shape=input_shape, name="image")
    x = augmentation()(inputs)
    for block, width in enumerate(filters, start=1):
        for conv in range(1, convs_per_block + 1):
            x = conv_bn_relu(x, width, 3, name=f"cnn_block{block}_{conv}")
        x = layers.MaxPooling2D(2, name=f"cnn_block{block}_pool")(x)
    return keras.Model(inputs, classifier_head(x, num_classes), name="small_cnn")


def train_small_cnn(x_train, y_train, x_test, y_test, *, num_classes, epochs=EPOCHS, batch_size=BATCH_SIZE,
                    filters=FILTERS, convs_per_block=CONVS_PER_BLOCK):
    """Train the plain CNN with the shared recipe; score the test set."""
    model = build_small_cnn(x_train.shape[1:], num_classes, filters, convs_per_block)
    return train_with_recipe(model, x_train, y_train, x_test, y_test, epochs=epochs, batch_size=batch_size)
