"""The ImageNet weights files of keras.applications bases, as Keras downloads them.

A transfer-learning part compares a student's base, layer by layer, with the
weights file Keras loaded for ``VGG16(weights="imagenet", include_top=False)``
(grader/evaluate/runtime/digests.py). The files are the instructor's: looked
for in the data folder (``<dir>/models/``, where Keras caches them, and the
other places of locations.search_dirs) and in Keras's own cache
(``~/.keras/models``); never downloaded at grading time. ``grade data fetch``
lists them and downloads them where the network allows (fetch.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from grader.datasets.errors import DataMissing
from grader.datasets.locations import first_file, keras_home, search_dirs


@dataclass(frozen=True)
class Application:
    """A keras.applications base and the notop weights file Keras gives it."""

    name: str              # the builder: keras.applications.VGG16
    module: str            # its module in keras.src.applications, whose constant says where Keras downloads from
    url_constant: str      # that module's constant: the file's URL, or the folder it is in
    notop_file: str        # the file Keras caches in ~/.keras/models for include_top=False
    md5: str | None        # the hash Keras checks the download against (None: Keras checks none)

    def url(self, file_name: str | None = None) -> str:
        """The URL Keras downloads ``file_name`` (default: the notop file) from, read from Keras itself."""
        import importlib

        module = importlib.import_module(f"keras.src.applications.{self.module}")
        constant = str(getattr(module, self.url_constant))
        folder = constant if constant.endswith("/") else constant.rsplit("/", 1)[0] + "/"
        return folder + (file_name or self.notop_file)


APPLICATIONS = {
    app.name: app for app in (
        Application("VGG16", "vgg16", "WEIGHTS_PATH_NO_TOP",
                    "vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5", "6d6bbae143d832006294945121d1f1fc"),
        Application("ResNet50", "resnet", "BASE_WEIGHTS_PATH",
                    "resnet50_weights_tf_dim_ordering_tf_kernels_notop.h5", "4d473c1dd8becc155b73f8504c6f6626"),
        Application("InceptionV3", "inception_v3", "WEIGHTS_PATH_NO_TOP",
                    "inception_v3_weights_tf_dim_ordering_tf_kernels_notop.h5", "bcbd6486424b2319ff4ef7d526e38f63"),
        # MobileNetV2's file also names its width (alpha) and the input size it
        # was trained at (96, 128, 160, 192 or 224; Keras takes 224 for any other).
        Application("MobileNetV2", "mobilenet_v2", "BASE_WEIGHT_PATH",
                    "mobilenet_v2_weights_tf_dim_ordering_tf_kernels_1.0_224_no_top.h5", None),
    )
}


def weights_places(data_dir: Path) -> list[Path]:
    """The folders searched for a weights file: the data folder's, then Keras's own cache."""
    places = search_dirs(Path(data_dir))
    keras_models = keras_home() / "models"
    return places + ([keras_models] if keras_models not in places else [])


def find_weights(application: str, file_name: str | None, data_dir: Path) -> Path:
    """The instructor's ImageNet weights file for ``application``; raises DataMissing
    saying where it was looked for and how to get it."""
    app = APPLICATIONS.get(application)
    name = file_name or (app.notop_file if app else f"{application}.h5")
    places = weights_places(data_dir)
    found = first_file([name], places)
    if found is not None:
        return found
    raise DataMissing(
        f"the {application} ImageNet weights", [name], places, Path(data_dir),
        how=(f"To get it: `grade data fetch` downloads it where the network allows (it prints the URL "
             f"Keras downloads it from); or copy the file Keras keeps in ~/.keras/models/ on a machine where "
             f"{application}(weights=\"imagenet\", include_top=False) has run into {Path(data_dir) / 'models'}/."))
