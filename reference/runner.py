"""Runs the reference solutions into a complete assignment tree and records the run.

The tree is what a model student would submit: ``<out>/<rubric.folder>/``
with each part's results where the rubric's ``canonical_dir`` says, one
notebook per part, and the image-folder part's inputs. ``results/run.json``
records the library versions, every data file's sha256, the time and test
accuracy of each part, and whether the run was quick (a smoke test).

Which function solves which part comes from ``reference/solutions.toml``
(reference/registry.py), keyed by the rubric's id; a solution's kind says how
it runs: a classifier trains on its part's data set, an image-folder part
classifies the pictures in the tree, a comparison measures the models of the
parts the rubric says it compares (run before it) and writes their table and
discussion, a transfer part trains on a pretrained base from the instructor's
ImageNet weights file, or continues another part's model
(reference/transfer_runner.py).
"""

from __future__ import annotations

import importlib
import json
import os
import platform
import time
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable

import nbformat

import grader
from grader import datasets
from grader import rubric as rubric_lib
from grader.rubric import Part, Rubric
from reference import SEED
from reference.registry import ReferenceRunError, RubricSolutions, Solution, solutions_for

RUN_RECORD = "run.json"
__all__ = ["PartRun", "RunRecord", "ReferenceRunError", "load_run_record", "run", "select_parts"]


@dataclass
class PartRun:
    part: str
    seconds: float
    test_accuracy: float | None = None
    test_loss: float | None = None
    epochs: int | None = None
    n_train: int | None = None
    n_test: int | None = None
    n_images: int | None = None
    data_files: dict[str, str] = field(default_factory=dict)   # file -> sha256
    outputs: list[str] = field(default_factory=list)           # relative to the tree
    settings: dict[str, Any] = field(default_factory=dict)     # keyword settings given to the solution
    # A classifier's parameter count; a comparison's rows: per model its measured figures
    figures: dict[str, Any] = field(default_factory=dict)


@dataclass
class RunRecord:
    rubric: str
    started: str                      # ISO 8601, UTC
    quick: bool
    seed: int
    versions: dict[str, str]
    data_dir: str
    tree: str
    parts: dict[str, PartRun] = field(default_factory=dict)
    skipped: dict[str, str] = field(default_factory=dict)      # part -> why
    notebooks: list[str] = field(default_factory=list)
    quick_train_samples: int | None = None
    seconds: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "RunRecord":
        fields = dict(data)
        fields["parts"] = {pid: PartRun(**part) for pid, part in data.get("parts", {}).items()}
        return cls(**fields)


def load_run_record(path: Path) -> RunRecord:
    """A ``run.json`` written by :func:`run`; ReferenceRunError when it is not one."""
    try:
        return RunRecord.from_dict(json.loads(Path(path).read_text(encoding="utf-8")))
    except (OSError, ValueError, TypeError) as exc:
        raise ReferenceRunError(f"{path}: not a run record written by `grade reference run` ({exc})") from None


def library_versions() -> dict[str, str]:
    import keras
    import numpy
    import tensorflow

    return {
        "python": platform.python_version(),
        "tensorflow": tensorflow.__version__,
        "keras": keras.__version__,
        "numpy": numpy.__version__,
        "grader": grader.__version__,
    }


# -------------------------------------------------------------- selection


def select_parts(rubric: Rubric, part_ids: list[str] | None, solutions: RubricSolutions | None = None) -> list[Part]:
    """The rubric's parts to run, in rubric order with comparisons last (they read the
    others' results); every one must have a solution."""
    from reference.registry import REGISTRY_FILE

    solutions = solutions or solutions_for(rubric.id)
    known = [part.id for part in rubric.parts]
    wanted = known if part_ids is None else list(part_ids)
    unknown = [pid for pid in wanted if pid not in known]
    if unknown:
        raise ReferenceRunError(f"unknown part(s) {', '.join(unknown)}; the rubric {rubric.id} has {', '.join(known)}")
    unsolved = [pid for pid in wanted if pid not in solutions.parts]
    if unsolved:
        raise ReferenceRunError(
            f"no reference solution for part(s) {', '.join(unsolved)}; add [{rubric.id}.parts.<id>] tables "
            f"to {REGISTRY_FILE}"
        )
    chosen = [part for part in rubric.parts if part.id in wanted]
    return sorted(chosen, key=lambda part: solutions.parts[part.id].kind == "comparison")


def _solution_function(solution: Solution):
    return getattr(importlib.import_module(solution.module), solution.function)


# ----------------------------------------------------------------- images


def _input_folder(part: Part, tree: Path) -> Path:
    if not part.input_dirs:
        raise ReferenceRunError(f"rubric part {part.id} names no input_dirs for its images; add one to the rubric")
    return tree / part.input_dirs[0]


def _image_files(folder: Path) -> list[Path]:
    from reference.resnet50_images import IMAGE_SUFFIXES

    if not folder.is_dir():
        return []
    return sorted(p for p in folder.iterdir()
                  if p.is_file() and not p.is_symlink() and p.suffix.lower() in IMAGE_SUFFIXES)


def copy_images(images_dir: Path, target: Path) -> list[Path]:
    """The image files of ``images_dir`` (not its subfolders) copied into ``target``."""
    sources = _image_files(Path(images_dir))
    if not sources:
        raise ReferenceRunError(f"{images_dir}: no image files (.jpg, .png, ...) to copy for the ResNet50 part")
    return [datasets.copy_file(source, target / source.name) for source in sources]


# -------------------------------------------------------------------- run


def _data_files(part: Part, rubric: Rubric, kind: str, data_dir: Path, solution: Solution | None = None,
                quick: "QuickRun | None" = None) -> list[Path]:
    dataset = rubric.dataset_of(part)
    if kind == "transfer":        # its images and its base's ImageNet weights file
        from reference.transfer_runner import transfer_data_files

        return transfer_data_files(part, rubric, solution, data_dir, solution.quick_settings if quick else {})
    if kind == "images":
        return list(datasets.imagenet_files(data_dir).values())
    if kind == "comparison":      # its test images, to time the models on
        return datasets.dataset_files(dataset, data_dir, "test")
    files = datasets.dataset_files(dataset, data_dir, "train") + datasets.dataset_files(dataset, data_dir, "test")
    return list(dict.fromkeys(files))


def _shown(path: Path, data_dir: Path) -> str:
    try:
        return path.relative_to(data_dir).as_posix()
    except ValueError:
        return str(path)


@dataclass(frozen=True)
class QuickRun:
    """What a quick run changes: the first ``train_samples`` training images, ``epochs`` epochs."""

    train_samples: int
    epochs: int


def first_samples(x, y, n: int):
    """A quick run's training subset: the first ``n`` images."""
    return x[:n], y[:n]


@dataclass(frozen=True)
class ClassifierHooks:
    """What a kind of part changes in a classifier's run (reference/transfer_runner.py
    gives its own): the quick run's training subset, keyword inputs beside the
    images and settings, the data files recorded, and figures beside the
    parameter count."""

    subset: Callable[[Any, Any, int], tuple[Any, Any]] = first_samples
    inputs: Callable[[dict[str, Any]], dict[str, Any]] = lambda settings: {}
    data_files: Callable[[], dict[str, str]] = dict
    figures: Callable[[Any], dict[str, Any]] = lambda trained: {}


def run_classifier(part: Part, rubric: Rubric, solution: Solution, data_dir: Path, tree: Path,
                   quick: QuickRun | None, hooks: ClassifierHooks = ClassifierHooks()) -> PartRun:
    """Train one classifier part on its data set into the tree; its PartRun."""
    from reference.results import write_classifier_results

    dataset = rubric.dataset_of(part)
    x_train, y_train = datasets.load_train_set(dataset, data_dir)
    x_test, y_test = datasets.load_test_set(dataset, data_dir)
    settings: dict[str, Any] = {}
    if quick is not None:
        x_train, y_train = hooks.subset(x_train, y_train, quick.train_samples)
        settings = {"epochs": quick.epochs, **solution.quick_settings}
    trained = _solution_function(solution)(x_train, y_train, x_test, y_test, num_classes=dataset.num_classes,
                                           **hooks.inputs(settings), **settings)
    outputs = write_classifier_results(trained, part, root=tree, quick=quick is not None)
    return PartRun(
        part=part.id, seconds=0.0, test_accuracy=trained.test_accuracy, test_loss=trained.test_loss,
        epochs=trained.epochs, n_train=trained.n_train, n_test=len(x_test),
        outputs=[p.relative_to(tree).as_posix() for p in outputs], settings=settings,
        data_files=hooks.data_files(),
        figures={"params": int(trained.model.count_params()), **hooks.figures(trained)},
    )


def described_models(part: Part, solutions: RubricSolutions) -> dict[str, dict[str, str]]:
    """What a comparison says of each compared part's model (registry data): name, design, strengths, weaknesses."""
    described = {}
    for part_id in part.compares:
        solution = solutions.parts.get(part_id)
        if solution is not None:
            described[part_id] = {key: getattr(solution, key) for key in ("name", "design", "strengths", "weaknesses")
                                  if getattr(solution, key)}
    return described


def _run_comparison(part: Part, rubric: Rubric, solution: Solution, solutions: RubricSolutions, data_dir: Path,
                    tree: Path) -> PartRun:
    from reference.results import load_compared, measure_options, write_comparison_results

    if not part.compares:
        raise ReferenceRunError(f"rubric part {part.id} names no parts it compares; add compares = [...] to it")
    x_test, _ = datasets.load_test_set(rubric.dataset_of(part), data_dir)
    try:
        compared, context = load_compared(rubric, part, described_models(part, solutions), tree)
    except FileNotFoundError as exc:
        raise ReferenceRunError(str(exc)) from None
    options = measure_options(rubric, part)
    comparison = _solution_function(solution)(compared, x_test, context=context, **options)
    outputs = write_comparison_results(comparison, part, root=tree)
    rows = {f.part: {"name": f.name, "test_accuracy": f.test_accuracy, "params": f.params,
                     "trainable_params": f.trainable_params, "mflops": round(f.mflops, 3),
                     "ms_per_image_batch1": round(f.ms_batch1, 4), "ms_per_image_large_batch": round(f.ms_large_batch, 4),
                     "large_batch": comparison.large_batch, "size_bytes": f.size_bytes}
            for f in comparison.figures}
    return PartRun(part=part.id, seconds=0.0, n_test=len(x_test), settings=options, figures=rows,
                   outputs=[p.relative_to(tree).as_posix() for p in outputs])


def _run_folder_part(part: Part, rubric: Rubric, solution: Solution, data_dir: Path, tree: Path) -> PartRun:
    from reference.results import write_imagenet_results

    dataset = rubric.dataset_of(part)
    files = datasets.imagenet_files(data_dir)
    predictions = _solution_function(solution)(_input_folder(part, tree), files["weights"], files["class_index"],
                                               image_size=tuple(dataset.input_shape[:2]))
    output = write_imagenet_results(predictions, part, root=tree)
    return PartRun(part=part.id, seconds=0.0, n_images=len({p.image for p in predictions}),
                   outputs=[output.relative_to(tree).as_posix()])


def _results_dir(rubric: Rubric, tree: Path) -> Path:
    """The folder all parts' results share (``results/``), where run.json goes."""
    common = os.path.commonpath([part.canonical_dir for part in rubric.parts]) if rubric.parts else ""
    return tree / common


def write_notebooks(parts: list[Part], rubric: Rubric, tree: Path, solutions: RubricSolutions | None = None,
                    quick: QuickRun | None = None) -> list[Path]:
    from reference.notebooks import build_notebook, notebook_name
    from reference.results import atomic_write_text, measure_options

    solutions = solutions or solutions_for(rubric.id)
    quick = quick or QuickRun(solutions.quick_train_samples, solutions.quick_epochs)
    written = []
    for part in parts:
        solution = solutions.parts[part.id]
        extra = ({"described": described_models(part, solutions), "measure": measure_options(rubric, part)}
                 if solution.kind == "comparison" else {})
        if solution.kind == "transfer":
            extra = {"starts_from": solution.starts_from}
        notebook = build_notebook(part, rubric, _solution_function(solution), kind=solution.kind, seed=SEED,
                                  quick_samples=quick.train_samples, quick_epochs=quick.epochs,
                                  quick_settings=solution.quick_settings, **extra)
        written.append(atomic_write_text(tree / notebook_name(part, solution.notebook), nbformat.writes(notebook)))
    return written


def run(parts: list[str] | None, out: Path, data_dir: Path, quick: bool,
        images_dir: Path | None = None, rubric: Rubric | None = None,
        quick_samples: int | None = None) -> RunRecord:
    """Train and run the reference solutions; write ``<out>/<rubric.folder>/`` and its run record.

    Every data file is located before any training, so a missing one stops
    the run at once (DataMissing). The image-folder part needs images: from
    ``images_dir``, or already in the tree's input folder; without them it is
    an error when asked for by id and skipped (noted in the record) otherwise.
    A quick run trains on the rubric's quick number of images (registry), or
    ``quick_samples``.
    """
    import keras

    from reference.results import atomic_write_text

    started, clock = datetime.now(timezone.utc), time.monotonic()
    rubric = rubric if rubric is not None else rubric_lib.load()
    solutions = solutions_for(rubric.id)
    data_dir, tree = Path(data_dir).expanduser(), Path(out) / rubric.folder
    selected = select_parts(rubric, parts, solutions)
    quick_run = QuickRun(quick_samples or solutions.quick_train_samples, solutions.quick_epochs) if quick else None
    tree.mkdir(parents=True, exist_ok=True)
    record = RunRecord(
        rubric=rubric.id, started=started.isoformat(timespec="seconds"), quick=quick, seed=SEED,
        versions=library_versions(), data_dir=str(data_dir), tree=str(tree),
        quick_train_samples=quick_run.train_samples if quick_run else None,
    )

    def kind_of(part: Part) -> str:
        return solutions.parts[part.id].kind if part.id in solutions.parts else ""

    folder_parts = [part for part in rubric.parts if kind_of(part) == "images"]
    if images_dir is not None:
        for part in folder_parts:
            copy_images(Path(images_dir), _input_folder(part, tree))
    to_run = []
    for part in selected:
        if kind_of(part) == "images" and not _image_files(_input_folder(part, tree)):
            reason = f"no images in {_input_folder(part, tree)}; pass a folder of images for part {part.id}"
            if parts is not None:
                raise ReferenceRunError(reason)
            record.skipped[part.id] = reason
            continue
        to_run.append(part)

    hashes: dict[Path, str] = {}
    data_of = {part.id: _data_files(part, rubric, kind_of(part), data_dir, solutions.parts.get(part.id), quick_run)
               for part in to_run}   # before training
    for part in to_run:
        part_clock = time.monotonic()
        keras.utils.set_random_seed(SEED)
        solution = solutions.parts[part.id]
        if solution.kind == "images":
            part_run = _run_folder_part(part, rubric, solution, data_dir, tree)
        elif solution.kind == "comparison":
            part_run = _run_comparison(part, rubric, solution, solutions, data_dir, tree)
        elif solution.kind == "transfer":
            from reference.transfer_runner import run_transfer_part

            part_run = run_transfer_part(part, rubric, solution, data_dir, tree, quick_run)
        else:
            part_run = run_classifier(part, rubric, solution, data_dir, tree, quick_run)
        part_run.seconds = round(time.monotonic() - part_clock, 2)
        for path in data_of[part.id]:
            hashes.setdefault(path, datasets.sha256_of(path))
            part_run.data_files[_shown(path, data_dir)] = hashes[path]
        record.parts[part.id] = part_run
        keras.backend.clear_session()

    record.notebooks = [p.relative_to(tree).as_posix()
                        for p in write_notebooks(selected, rubric, tree, solutions, quick_run)]
    record.seconds = round(time.monotonic() - clock, 2)
    atomic_write_text(_results_dir(rubric, tree) / RUN_RECORD, json.dumps(record.to_dict(), indent=2))
    return record
