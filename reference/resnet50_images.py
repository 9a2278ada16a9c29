"""6.3: ResNet50 with ImageNet weights, classifying every image in a folder.

The weights come from the ImageNet weights file in the data folder
(``ResNet50(weights=<path>)``), and the top-5 classes are decoded with the
class index from the same folder: ``decode_predictions`` would download it.
"""

from __future__ import annotations

import json
from pathlib import Path

import keras
import numpy as np
from keras.applications import resnet50

from grader.records import ImagenetPrediction

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".gif", ".webp")
TOP = 5


def image_paths(folder):
    """The image files in a folder, by name."""
    return sorted(p for p in Path(folder).iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)


def load_images(paths, image_size):
    """Each image resized to the network's input size, as one float batch of 0-255 RGB."""
    arrays = [keras.utils.img_to_array(keras.utils.load_img(p, target_size=image_size)) for p in paths]
    return np.stack(arrays)


def decode_top(probabilities, class_index_path, top=TOP):
    """decode_predictions without the download: per image, [(wnid, label, probability)] best first."""
    with open(class_index_path, encoding="utf-8") as handle:
        class_index = json.load(handle)   # {"0": ["n01440764", "tench"], ...}
    decoded = []
    for row in probabilities:
        best = np.argsort(row)[-top:][::-1]
        decoded.append([(*class_index[str(i)], float(row[i])) for i in best])
    return decoded


def classify_folder(images_dir, weights_path, class_index_path, *, image_size=(224, 224), top=TOP):
    """Top-``top`` ImageNet classes for every image in ``images_dir``."""
    paths = image_paths(images_dir)
    if not paths:
        raise FileNotFoundError(f"{images_dir}: no images ({', '.join(IMAGE_SUFFIXES)}) to classify")
    model = resnet50.ResNet50(weights=str(weights_path))
    batch = resnet50.preprocess_input(load_images(paths, image_size))   # BGR, mean-centred
    probabilities = model.predict(batch, batch_size=8, verbose=0)
    return [
        ImagenetPrediction(image=path.name, rank=rank, label=label, probability=probability, wnid=wnid)
        for path, classes in zip(paths, decode_top(probabilities, class_index_path, top))
        for rank, (wnid, label, probability) in enumerate(classes, start=1)
    ]
