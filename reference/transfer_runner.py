"""Runs a transfer-learning solution: kind "transfer" in reference/solutions.toml.

A transfer part trains on its data set like a classifier, and also needs
what the rubric says about pretrained bases: the instructor's ImageNet
weights file of the solution's base (``[pretrained_weights]``, found in the
data folder), and, for a part that continues another (``starts_from``: the
fine-tuning part starts from the feature-extraction part's saved model),
that part's model in the tree and the rubric's ``top_block_after`` for the
base (a parameter of the part's checks). The solution's base is its
``application`` setting: a quick run's (solutions.toml), else the default
of the solution function's own ``application`` parameter.

A quick run takes its training images spread evenly over the folder's
order (an image folder lists its images class by class, so the first N
would leave classes out).
"""

from __future__ import annotations

import importlib
import inspect
from pathlib import Path
from typing import Any

import numpy as np

from grader import datasets
from grader.rubric import Part, Rubric
from reference.registry import ReferenceRunError, Solution

IMAGE_FOLDER = "image-folder"     # the loader whose splits are recorded as one digest each


def spread_subset(x: np.ndarray, y: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """``n`` of the images, evenly spaced over their order (all of them when there are no more)."""
    if n >= len(x):
        return x, y
    chosen = np.linspace(0, len(x) - 1, n).round().astype(int)
    return x[chosen], y[chosen]


def application_of(function, settings: dict[str, Any]) -> str:
    """The keras.applications base a solution builds on: its ``application`` setting or parameter default."""
    if settings.get("application"):
        return str(settings["application"])
    parameter = inspect.signature(function).parameters.get("application")
    if parameter is None or parameter.default is inspect.Parameter.empty:
        raise ReferenceRunError(f"{function.__module__}.{function.__name__} names no application (base) to build on")
    return str(parameter.default)


def top_block_after(part: Part) -> dict[str, str]:
    """Per base, the layer after which the part's top block starts: the rubric's, from the part's checks."""
    for check in part.checks:
        mapping = check.params.get("top_block_after")
        if isinstance(mapping, dict) and mapping:
            return {str(name): str(layer) for name, layer in mapping.items()}
    raise ReferenceRunError(f"rubric part {part.id} gives no top_block_after in its checks' params; add it "
                            "(per base, the layer its top block follows)")


def reference_applications(rubric_id: str) -> set[str]:
    """The bases the rubric's transfer solutions build on, in a quick run or a full one."""
    from reference.registry import solutions_for

    used = set()
    for solution in solutions_for(rubric_id).parts.values():
        if solution.kind == "transfer":
            function = getattr(importlib.import_module(solution.module), solution.function)
            used |= {application_of(function, dict(solution.quick_settings)), application_of(function, {})}
    return used


def weights_file(rubric: Rubric, application: str, data_dir: Path) -> Path:
    """The instructor's ImageNet weights file for ``application``; DataMissing says where it was looked for."""
    if application not in rubric.pretrained_weights:
        raise ReferenceRunError(f"the rubric {rubric.id} lists no [pretrained_weights] file for {application}; "
                                f"add one, or run another base")
    return datasets.find_weights(application, rubric.pretrained_weights[application], Path(data_dir))


def start_model(rubric: Rubric, solution: Solution, tree: Path) -> Path:
    """The saved model of the part this one starts from, in the tree; ReferenceRunError when not made yet."""
    from reference.results import canonical_file

    source = rubric.part(solution.starts_from)
    path = canonical_file(source, "model", tree)
    if not path.is_file():
        raise ReferenceRunError(f"{path} is not there: part {source.id} must run before the part that starts "
                                f"from its model; run both (or {source.id} first) into the same --out")
    return path


def transfer_inputs(part: Part, rubric: Rubric, solution: Solution, settings: dict[str, Any], data_dir: Path,
                    tree: Path) -> dict[str, Any]:
    """The keyword arguments a transfer solution takes besides the images and its settings."""
    if solution.starts_from:
        return {"start_model": start_model(rubric, solution, tree), "top_block_after": top_block_after(part)}
    function = getattr(importlib.import_module(solution.module), solution.function)
    return {"weights": weights_file(rubric, application_of(function, settings), data_dir)}


def run_transfer_part(part: Part, rubric: Rubric, solution: Solution, data_dir: Path, tree: Path, quick):
    """Train one transfer part into the tree; its PartRun (``quick``: a runner.QuickRun or None).
    A classifier's run, with a class-balanced quick subset, the base's weights file
    (or the model it starts from) as inputs, the image folder's digests and the
    trainable parameter count."""
    from reference.runner import ClassifierHooks, run_classifier

    return run_classifier(part, rubric, solution, data_dir, tree, quick, ClassifierHooks(
        subset=spread_subset,
        inputs=lambda settings: transfer_inputs(part, rubric, solution, settings, data_dir, tree),
        data_files=lambda: folder_digests(part, rubric, data_dir),
        figures=lambda trained: {"trainable_params": int(sum(np.prod(w.shape)
                                                             for w in trained.model.trainable_weights))},
    ))


def transfer_data_files(part: Part, rubric: Rubric, solution: Solution, data_dir: Path,
                        quick_settings: dict) -> list[Path]:
    """The files whose digests the run records, located before any training (DataMissing when one is
    not there): the base's weights file, and the data set's files unless it is an image folder
    (recorded per folder instead: folder_digests)."""
    dataset = rubric.dataset_of(part)
    files = datasets.dataset_files(dataset, data_dir, "train") + datasets.dataset_files(dataset, data_dir, "test")
    function = getattr(importlib.import_module(solution.module), solution.function)
    weights = weights_file(rubric, application_of(function, quick_settings), data_dir)
    return [weights] if dataset.loader == IMAGE_FOLDER else list(dict.fromkeys([*files, weights]))


def folder_digests(part: Part, rubric: Rubric, data_dir: Path) -> dict[str, str]:
    """Per split of an image folder, one digest: sha256 over its files' names and sha256s, in Keras's
    order, with the count ("3f2a... (240 files)"), so a run record names thousands of images in a line."""
    import hashlib

    from grader.datasets.image_folder import split_folder
    from grader.hashing import sha256_of

    dataset, data_dir = rubric.dataset_of(part), Path(data_dir)
    if dataset.loader != IMAGE_FOLDER:
        return {}
    recorded = {}
    for split in ("train", "test"):
        root, files = split_folder(dataset, data_dir, split), datasets.dataset_files(dataset, data_dir, split)
        listing = "".join(f"{path.relative_to(root).as_posix()} {sha256_of(path)}\n" for path in files)
        shown = root.relative_to(data_dir).as_posix() if root.is_relative_to(data_dir) else str(root)
        recorded[f"{shown}/"] = f"{hashlib.sha256(listing.encode()).hexdigest()} ({len(files)} files)"
    return recorded


def transfer_driver(function_name: str, head: str, quick_samples: int,
                    quick_epochs: int, quick_settings: dict, starts_from: str, default_application: str) -> str:
    """The notebook's last cell for a transfer part: load the images, find the weights (or the model it
    starts from), train, write results/ as `grade reference run` does."""
    quick_items = "".join(f", {k!r}: {v!r}" for k, v in quick_settings.items())
    narrower = f", {', '.join(f'{k}={v!r}' for k, v in quick_settings.items())}" if quick_settings else ""
    if starts_from:
        inputs = f'''# Fine-tuning starts from the feature-extraction notebook's trained model.
start_model = canonical_file(RUBRIC.part({starts_from!r}), "model", Path("."))
# The rubric's: per base, the layer the top block follows.
inputs = {{"start_model": start_model, "top_block_after": top_block_after(PART)}}
'''
    else:
        inputs = '''# The instructor's copy of Keras's ImageNet weights file (~/.keras/models/ or the data folder).
inputs = {"weights": find_weights(APPLICATION, RUBRIC.pretrained_weights.get(APPLICATION), DATA_DIR)}
'''
    return head + f'''from reference.transfer_runner import spread_subset, top_block_after

QUICK = False    # True: {quick_samples:,} training images, {quick_epochs} epoch(s){narrower} (a smoke test)

x_train, y_train = load_train_set(DATASET, DATA_DIR)
x_test, y_test = load_test_set(DATASET, DATA_DIR)
settings = {{}}
if QUICK:
    x_train, y_train = spread_subset(x_train, y_train, {quick_samples})
    settings = {{"epochs": {quick_epochs}{quick_items}}}
APPLICATION = settings.get("application", {default_application!r})   # the pretrained base
{inputs}trained = {function_name}(x_train, y_train, x_test, y_test, num_classes=DATASET.num_classes,
                  **inputs, **settings)
write_classifier_results(trained, PART, root=Path("."), quick=QUICK)
print(f"test accuracy {{trained.test_accuracy:.4f}}, test loss {{trained.test_loss:.4f}}")
'''
