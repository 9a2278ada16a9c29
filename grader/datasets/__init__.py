"""The held-out data, read from the instructor's data folder in the files' own formats.

One module per loader, registered by the name a rubric's ``loader`` gives
(registry.py): mnist.py, cifar10.py, imagenet.py (ResNet50's files for the
student's own pictures), image_folder.py (an instructor's folder of class
folders). Shared pieces: locations.py (where files are looked for),
errors.py, arrays.py, pixels.py (decoding and resizing as Keras does),
cache.py (decoded arrays by content), weights.py (keras.applications
ImageNet weights files), fetch.py (`grade data fetch`, the only code that
downloads), synthetic.py (stand-ins in the real formats, for tests).

This module only re-exports what callers import.
"""

from grader.datasets import cifar10, image_folder, imagenet, mnist  # noqa: F401  (registers the loaders)
from grader.datasets.arrays import conform
from grader.datasets.cifar10 import (
    CIFAR_ARCHIVES, CIFAR_DIR, CIFAR_DIR_LAYOUTS, CIFAR_META, CIFAR_TEST, CIFAR_TRAIN,
)
from grader.datasets.errors import DataError, DataMissing
from grader.datasets.fetch import Needed, fetch, needed
from grader.datasets.imagenet import IMAGENET_CLASS_INDEX, RESNET50_WEIGHTS, imagenet_files, load_imagenet_class_index
from grader.datasets.loading import dataset_files, load_class_names, load_split, load_test_set, load_train_set
from grader.datasets.locations import DATA_DIR_ENV, cache_dir, copy_file, default_data_dir, search_dirs
from grader.datasets.mnist import IDX_IMAGES_MAGIC, IDX_LABELS_MAGIC, MNIST_IDX, MNIST_NPZ, npz_from_idx, read_idx
from grader.datasets.official import unofficial_test_files
from grader.datasets.registry import LOADERS, DatasetLoader, LeftOut, LoadedSplit, dataset_problems, loader_names
from grader.datasets.synthetic import (
    SYNTHETIC_VERSION, ensure_synthetic_data, synthetic_cifar, synthetic_mnist, write_legacy_weights,
    write_synthetic_application_weights, write_synthetic_data, write_synthetic_images,
    write_synthetic_resnet50_weights,
)
from grader.datasets.weights import APPLICATIONS, Application, find_weights
from grader.hashing import sha256_of


__all__ = [
    "APPLICATIONS", "Application", "CIFAR_ARCHIVES", "CIFAR_DIR", "CIFAR_DIR_LAYOUTS", "CIFAR_META", "CIFAR_TEST",
    "CIFAR_TRAIN", "DATA_DIR_ENV", "DataError", "DataMissing", "DatasetLoader", "IDX_IMAGES_MAGIC",
    "IDX_LABELS_MAGIC", "IMAGENET_CLASS_INDEX", "LOADERS", "LeftOut", "LoadedSplit", "MNIST_IDX", "MNIST_NPZ",
    "Needed", "RESNET50_WEIGHTS", "SYNTHETIC_VERSION", "cache_dir", "conform", "copy_file", "dataset_files",
    "dataset_problems", "default_data_dir", "ensure_synthetic_data", "fetch", "find_weights", "imagenet_files",
    "load_class_names", "load_imagenet_class_index", "load_split", "load_test_set", "load_train_set",
    "loader_names", "needed", "npz_from_idx", "read_idx", "search_dirs", "sha256_of", "synthetic_cifar",
    "synthetic_mnist", "unofficial_test_files", "write_legacy_weights", "write_synthetic_application_weights",
    "write_synthetic_data", "write_synthetic_images", "write_synthetic_resnet50_weights",
]
