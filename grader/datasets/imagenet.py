"""ImageNet as the 6.3-style parts use it: no test set, the ResNet50 weights
and Keras's class index, which the sandbox uses to classify the student's own
pictures."""

from __future__ import annotations

import json
from pathlib import Path

from grader.datasets.errors import DataError, DataMissing
from grader.datasets.locations import first_file, search_dirs
from grader.datasets.registry import DatasetLoader, register
from grader.rubric import Dataset

RESNET50_WEIGHTS = "resnet50_weights_tf_dim_ordering_tf_kernels.h5"
IMAGENET_CLASS_INDEX = "imagenet_class_index.json"


def imagenet_files(data_dir: Path) -> dict[str, Path]:
    """{"weights": the ResNet50 ImageNet .h5, "class_index": imagenet_class_index.json}."""
    data_dir = Path(data_dir)
    places = search_dirs(data_dir, "imagenet")
    wanted = {"weights": RESNET50_WEIGHTS, "class_index": IMAGENET_CLASS_INDEX}
    found = {key: first_file([name], places) for key, name in wanted.items()}
    missing = [wanted[key] for key, path in found.items() if path is None]
    if missing:
        raise DataMissing(f"ImageNet file(s) for ResNet50 ({', '.join(missing)})", missing, places, data_dir)
    return {key: path for key, path in found.items() if path is not None}


def load_imagenet_class_index(path: Path) -> list[tuple[str, str]]:
    """Keras's class index ({"0": ["n01440764", "tench"], ...}) as a list of (wnid, label)."""
    try:
        raw = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise DataError(
            f"{path}: not a readable JSON class index ({exc}); copy Keras's imagenet_class_index.json there"
        ) from None
    try:
        entries = [raw[str(i)] for i in range(len(raw))]
    except (KeyError, TypeError):
        entries = None
    if not entries or not all(
        isinstance(e, list) and len(e) == 2 and all(isinstance(v, str) for v in e) for e in entries
    ):
        raise DataError(
            f"{path}: not shaped like Keras's class index "
            '({"0": ["n01440764", "tench"], ...} with keys 0..N-1); copy the real file there'
        )
    return [(wnid, label) for wnid, label in entries]


def _files(dataset: Dataset, data_dir: Path, split: str) -> list[Path]:
    files = imagenet_files(data_dir)
    return [files["weights"], files["class_index"]]


def _class_names(dataset: Dataset, data_dir: Path) -> list[str]:
    index = load_imagenet_class_index(imagenet_files(Path(data_dir))["class_index"])
    return [label for _, label in index]


register(DatasetLoader("imagenet-images", files=_files, class_names=_class_names,
                       summary="ResNet50's ImageNet weights and class index, for the student's own pictures"))
