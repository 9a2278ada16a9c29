"""Transfer learning after Chollet, Deep Learning with Python, section 5.3.

Feature extraction: a convolutional base pretrained on ImageNet (VGG16, as in
the book), loaded from the instructor's copy of Keras's weights file and
frozen, under a new classifier; the images pass through data augmentation
(random flips, rotations and zooms, active only in training) and the base's
own preprocessing, both inside the model, so the saved model takes raw
0-255 pixels. Fine-tuning: the feature-extraction model with the base's top
block unfrozen (its BatchNormalization layers, if any, stay frozen) and
trained again with a learning rate a hundred times smaller, so that the
pretrained features are adjusted, not destroyed.

The base runs in inference mode (``training=False``) in both, so a
BatchNormalization layer keeps its ImageNet statistics even when unfrozen.
"""

from __future__ import annotations

from pathlib import Path

import keras
import numpy as np
from keras import layers

from grader.datasets.synthetic_images import builder_options
from reference.training import TrainedModel

APPLICATION = "VGG16"             # the book's base; a quick run uses a lighter one (reference/solutions.toml)
BATCH_SIZE = 32
EPOCHS_FEATURE_EXTRACTION = 10
EPOCHS_FINE_TUNING = 10
LEARNING_RATE = 1e-3              # the new classifier's (Adam)
FINE_TUNING_LEARNING_RATE = 1e-5  # the unfrozen top block's, with the classifier (Adam)
VALIDATION_SPLIT = 0.2            # 20% of the training images, for the curves
SHUFFLE_SEED = 0

# Each base's own preprocessing, as keras.applications defines it (caffe-style
# BGR mean subtraction for VGG16 and ResNet50, [-1, 1] for the others).
PREPROCESSING = {
    "VGG16": keras.applications.vgg16.preprocess_input,
    "ResNet50": keras.applications.resnet50.preprocess_input,
    "InceptionV3": keras.applications.inception_v3.preprocess_input,
    "MobileNetV2": keras.applications.mobilenet_v2.preprocess_input,
}


def data_augmentation():
    """Random horizontal flips, rotations of up to 10% of a turn and zooms of up to 20%."""
    return keras.Sequential(
        [layers.RandomFlip("horizontal"), layers.RandomRotation(0.1), layers.RandomZoom(0.2)],
        name="data_augmentation",
    )


def pretrained_base(application, weights, input_shape, alpha=None):
    """The ImageNet convolutional base, without its classifier, from the weights file ``weights``.
    MobileNetV2's width (``alpha``) is the one its file was made for unless given."""
    options = builder_options(application, Path(weights).name) if alpha is None else {"alpha": alpha}
    return getattr(keras.applications, application)(weights=str(weights), include_top=False,
                                                    input_shape=tuple(input_shape), **options)


def build_feature_extractor(input_shape, num_classes, weights, application=APPLICATION, alpha=None):
    """Augmentation, the base's preprocessing, the frozen base, then a new classifier."""
    base = pretrained_base(application, weights, input_shape, alpha)
    base.trainable = False
    inputs = keras.Input(shape=tuple(input_shape))
    x = data_augmentation()(inputs)
    x = PREPROCESSING[application](x)
    x = base(x, training=False)
    x = layers.GlobalAveragePooling2D()(x)
    x = layers.Dense(256, activation="relu")(x)
    x = layers.Dropout(0.5)(x)
    outputs = layers.Dense(num_classes, activation="softmax")(x)
    return keras.Model(inputs, outputs, name=f"{application.lower()}_feature_extraction")


def convolutional_base(model):
    """The pretrained base nested in a feature-extraction model: of the models in it, the one with most weights."""
    return max((layer for layer in model.layers if isinstance(layer, keras.Model)), key=lambda m: len(m.weights))


def unfreeze_top_block(model, top_block_after):
    """Make the base's layers after ``top_block_after`` trainable, the rest frozen; BatchNormalization stays frozen."""
    base = convolutional_base(model)
    names = [layer.name for layer in base.layers]
    top = set(names[names.index(top_block_after) + 1:])
    base.trainable = True
    for layer in base.layers:
        layer.trainable = layer.name in top and not isinstance(layer, layers.BatchNormalization)
    return sorted(top)


def fit_and_score(model, x_train, y_train, x_test, y_test, *, optimizer, epochs, batch_size):
    """Train on raw 0-255 pixels with a validation split (for the curves), then score the test set."""
    model.compile(optimizer=optimizer, loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    # An image folder lists its images class by class, and validation_split takes the last
    # images: shuffle first (seeded), so that every class is in both splits.
    order = np.random.default_rng(SHUFFLE_SEED).permutation(len(x_train))
    fitted = model.fit(x_train[order].astype("float32"), y_train[order], epochs=epochs, batch_size=batch_size,
                       validation_split=VALIDATION_SPLIT, shuffle=True, verbose=2)
    test_images = x_test.astype("float32")
    test_loss, test_accuracy = model.evaluate(test_images, y_test, batch_size=64, verbose=0)
    probabilities = model.predict(test_images, batch_size=64, verbose=0)
    history = {name: [float(v) for v in values] for name, values in fitted.history.items()}
    return TrainedModel(model, history, float(test_loss), float(test_accuracy), probabilities, epochs, len(x_train))


def train_feature_extraction(x_train, y_train, x_test, y_test, *, num_classes, weights, application=APPLICATION,
                             alpha=None, epochs=EPOCHS_FEATURE_EXTRACTION, batch_size=BATCH_SIZE):
    """Feature extraction: train a new classifier on the frozen pretrained base; score the test set."""
    model = build_feature_extractor(x_train.shape[1:], num_classes, weights, application, alpha)
    return fit_and_score(model, x_train, y_train, x_test, y_test, optimizer=keras.optimizers.Adam(LEARNING_RATE),
                         epochs=epochs, batch_size=batch_size)


def train_fine_tuning(x_train, y_train, x_test, y_test, *, num_classes, start_model, top_block_after,
                      application=APPLICATION, epochs=EPOCHS_FINE_TUNING, batch_size=BATCH_SIZE):
    """Fine-tuning: the feature-extraction model (``start_model``, already trained on ``application``'s
    base) with the base's top block (after ``top_block_after[application]``) unfrozen, trained with a
    small learning rate; score the test set."""
    model = keras.models.load_model(start_model)
    unfreeze_top_block(model, top_block_after[application])
    return fit_and_score(model, x_train, y_train, x_test, y_test,
                         optimizer=keras.optimizers.Adam(FINE_TUNING_LEARNING_RATE), epochs=epochs,
                         batch_size=batch_size)
