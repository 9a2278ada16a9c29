"""ResNet-20 for 32x32 images (He et al., 2015, section 4.2).

A 3x3 convolution of 16 filters, then three stages of ``blocks_per_stage``
basic blocks (two 3x3 convolutions each) with 16, 32 and 64 filters; the first
block of the second and third stages halves the feature map with a stride of
2. Each block adds its input to its output: an identity shortcut, or a 1x1
projection (the paper's option B) where the shape changes. Global average
pooling and a softmax layer end it: 6 x 3 + 2 = 20 weighted layers. The paper
reports 91.25% test accuracy (its Table 6) under its schedule.
"""

from __future__ import annotations

import keras
from keras import layers

from reference.architecture_training import (BATCH_SIZE, BN_MOMENTUM, EPOCHS, augmentation, classifier_head,
                                             conv_bn_relu, train_with_recipe)

STAGE_FILTERS = (16, 32, 64)
BLOCKS_PER_STAGE = 3     # n = 3: 6n + 2 = 20 layers


def residual_block(x, filters, strides, name):
    """conv-BN-ReLU, conv-BN, plus the shortcut, then ReLU; a 1x1 projection when the shape changes."""
    shortcut = x
    y = conv_bn_relu(x, filters, 3, name=f"{name}_1", strides=strides)
    y = layers.Conv2D(filters, 3, padding="same", use_bias=False, name=f"{name}_2_conv")(y)
    y = layers.BatchNormalization(momentum=BN_MOMENTUM, name=f"{name}_2_bn")(y)
    if strides != 1 or x.shape[-1] != filters:
        shortcut = layers.Conv2D(filters, 1, strides=strides, use_bias=False, name=f"{name}_projection")(x)
        shortcut = layers.BatchNormalization(momentum=BN_MOMENTUM, name=f"{name}_projection_bn")(shortcut)
    y = layers.Add(name=f"{name}_add")([y, shortcut])
    return layers.Activation("relu", name=f"{name}_out")(y)


def build_resnet20(input_shape, num_classes, stage_filters=STAGE_FILTERS, blocks_per_stage=BLOCKS_PER_STAGE):
    """The stem convolution, three stages of residual blocks, global pooling and softmax."""
    inputs = keras.Input(shape=input_shape, name="image")
    x = augmentation()(inputs)
    x = conv_bn_relu(x, stage_filters[0], 3, name="resnet_stem")
    for stage, filters in enumerate(stage_filters, start=1):
        for block in range(1, blocks_per_stage + 1):
            strides = 2 if stage > 1 and block == 1 else 1
            x = residual_block(x, filters, strides, name=f"stage{stage}_block{block}")
    depth = 6 * blocks_per_stage + 2
    return keras.Model(inputs, classifier_head(x, num_classes), name=f"resnet{depth}")


def train_resnet20(x_train, y_train, x_test, y_test, *, num_classes, epochs=EPOCHS, batch_size=BATCH_SIZE,
                   stage_filters=STAGE_FILTERS, blocks_per_stage=BLOCKS_PER_STAGE):
    """Train ResNet-20 with the shared recipe; score the test set."""
    model = build_resnet20(x_train.shape[1:], num_classes, stage_filters, blocks_per_stage)
    return train_with_recipe(model, x_train, y_train, x_test, y_test, epochs=epochs, batch_size=batch_size)
