"""A small Inception network for 32x32 images (after Szegedy et al., 2015, scaled down).

Each Inception module runs four branches side by side on the same input and
concatenates them: a 1x1 convolution; a 1x1 reduction then a 3x3; a 1x1
reduction then two 3x3 convolutions (a 5x5 receptive field, factorised as in
Inception v3); and 3x3 max pooling then a 1x1 projection. A 3x3 stem
convolution and max pooling (GoogLeNet also shrinks the image before its
first module: at 32x32, four branches of small convolutions cost more CPU
time than ResNet-20), two stages of modules (16x16, then 8x8), global
average pooling and a softmax layer make the network.
"""

from __future__ import annotations

import keras
from keras import layers

from reference.architecture_training import (BATCH_SIZE, EPOCHS, augmentation, classifier_head, conv_bn_relu,
                                             train_with_recipe)

STEM_FILTERS = 32
# Per stage, the filters of each branch: 1x1, (reduce, 3x3), (reduce, 3x3, 3x3), pool projection.
STAGE_WIDTHS = (
    (32, (32, 48), (8, 16, 16), 16),     # 112 channels out
    (48, (48, 96), (16, 32, 32), 32),    # 208 channels out
)
MODULES_PER_STAGE = 2


def inception_module(x, widths, name):
    """Four parallel branches of different receptive fields (1x1, 3x3, 5x5 factorised, pooling), concatenated."""
    one, (reduce3, three), (reduce5, five_a, five_b), pool_projection = widths
    branch1 = conv_bn_relu(x, one, 1, name=f"{name}_1x1")
    branch3 = conv_bn_relu(x, reduce3, 1, name=f"{name}_3x3_reduce")
    branch3 = conv_bn_relu(branch3, three, 3, name=f"{name}_3x3")
    branch5 = conv_bn_relu(x, reduce5, 1, name=f"{name}_5x5_reduce")
    branch5 = conv_bn_relu(branch5, five_a, 3, name=f"{name}_5x5_a")
    branch5 = conv_bn_relu(branch5, five_b, 3, name=f"{name}_5x5_b")
    pooled = layers.MaxPooling2D(3, strides=1, padding="same", name=f"{name}_pool")(x)
    pooled = conv_bn_relu(pooled, pool_projection, 1, name=f"{name}_pool_projection")
    return layers.Concatenate(name=f"{name}_concat")([branch1, branch3, branch5, pooled])


def build_small_inception(input_shape, num_classes, stage_widths=STAGE_WIDTHS, modules_per_stage=MODULES_PER_STAGE):
    """Stem, then per stage a 2x2 max pooling and its Inception modules, global pooling, softmax."""
    inputs = keras.Input(shape=input_shape, name="image")
    x = augmentation()(inputs)
    x = conv_bn_relu(x, STEM_FILTERS, 3, name="inception_stem")
    for stage, widths in enumerate(stage_widths, start=1):
        x = layers.MaxPooling2D(2, name=f"stage{stage}_downsample")(x)
        for module in range(1, modules_per_stage + 1):
            x = inception_module(x, widths, name=f"inception{stage}{chr(ord('a') + module - 1)}")
    return keras.Model(inputs, classifier_head(x, num_classes), name="small_inception")


def train_small_inception(x_train, y_train, x_test, y_test, *, num_classes, epochs=EPOCHS, batch_size=BATCH_SIZE,
                          stage_widths=STAGE_WIDTHS, modules_per_stage=MODULES_PER_STAGE):
    """Train the Inception network with the shared recipe; score the test set."""
    model = build_small_inception(x_train.shape[1:], num_classes, stage_widths, modules_per_stage)
    return train_with_recipe(model, x_train, y_train, x_test, y_test, epochs=epochs, batch_size=batch_size)
