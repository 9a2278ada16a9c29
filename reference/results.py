"""Writes a part's results in the canonical layout the rubric names.

For a classifier part, in ``<root>/<part.canonical_dir>/``: the model, the
test-set predictions (``index,predicted,p0..pN``), the metrics
(``test_accuracy``, ``test_loss``, ``history``, ``epochs``, ``quick``), the
accuracy plot and a loss plot beside it. For the image-folder part: one CSV
row per image and rank (``image,rank,wnid,label,probability``). For a part
that compares others: their saved models and metrics are read back from this
layout, and the comparison's table and discussion written where the part's
canonical_files say. Every file is written to a temporary name in its folder
first, then renamed.
"""

from __future__ import annotations

import csv
import io
import json
import os
import tempfile
import textwrap
from pathlib import Path
from typing import Iterable

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from grader.atomic import atomic_write_bytes, atomic_write_text
from grader.records import ImagenetPrediction
from grader.rubric import Part, Rubric

LOSS_PLOT = "loss.png"
IMAGENET_COLUMNS = ["image", "rank", "wnid", "label", "probability"]


def save_model(model, path: Path) -> Path:
    """``model.save`` to a temporary ``.keras`` file beside ``path``, then rename."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.stem}.", suffix=path.suffix)
    os.close(handle)
    try:
        model.save(temp)
        os.replace(temp, path)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise
    return path


def predictions_csv(probabilities: np.ndarray) -> str:
    """``index,predicted,p0..pN``: one row per test image, in test-set order."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["index", "predicted", *(f"p{k}" for k in range(probabilities.shape[1]))])
    for index, row in enumerate(probabilities):
        writer.writerow([index, int(np.argmax(row)), *(f"{p:.6g}" for p in row)])
    return buffer.getvalue()


def metrics_json(trained, quick: bool) -> str:
    return json.dumps(
        {
            "test_accuracy": trained.test_accuracy,
            "test_loss": trained.test_loss,
            "history": trained.history,
            "epochs": trained.epochs,
            "quick": quick,
        },
        indent=2,
    )


def plot_history(history: dict[str, list[float]], metric: str, title: str) -> bytes:
    """Training and validation curves of one metric as PNG bytes."""
    figure = Figure(figsize=(6.4, 4.4), dpi=100)
    FigureCanvasAgg(figure)
    axes = figure.add_subplot()
    for key, label, style in ((metric, "training", "o-"), (f"val_{metric}", "validation", "s--")):
        values = history.get(key)
        if values:
            axes.plot(range(1, len(values) + 1), values, style, label=label)
    epochs = max((len(history.get(key) or []) for key in (metric, f"val_{metric}")), default=0)
    axes.set_title(textwrap.fill(title, 60), fontsize=11)
    axes.set_xlabel("Epoch")
    axes.set_ylabel(metric.capitalize())
    axes.set_xlim(0.5, epochs + 0.5)
    axes.xaxis.set_major_locator(MaxNLocator(integer=True, min_n_ticks=1))
    axes.grid(True, alpha=0.3)
    axes.legend()
    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    return buffer.getvalue()


def canonical_file(part: Part, role: str, root: Path) -> Path:
    """Where the rubric says a part's file of ``role`` goes, under ``root`` (a name may leave the
    part's folder: ``../comparison.md`` beside ``results/``)."""
    name = part.canonical_files.get(role)
    if not name:
        raise ValueError(f"rubric part {part.id} names no canonical_files.{role}; add it to the rubric")
    return Path(root) / os.path.normpath(f"{part.canonical_dir}/{name}")


def write_classifier_results(trained, part: Part, *, root: Path, quick: bool) -> list[Path]:
    """The model, predictions, metrics and both plots of one part, under ``root``."""
    accuracy_plot = canonical_file(part, "plot", root)
    title = f"{part.id} {part.title}"
    return [
        save_model(trained.model, canonical_file(part, "model", root)),
        atomic_write_text(canonical_file(part, "predictions", root), predictions_csv(trained.probabilities)),
        atomic_write_text(canonical_file(part, "metrics", root), metrics_json(trained, quick)),
        atomic_write_bytes(accuracy_plot, plot_history(trained.history, "accuracy", f"{title}: accuracy")),
        atomic_write_bytes(accuracy_plot.with_name(LOSS_PLOT), plot_history(trained.history, "loss", f"{title}: loss")),
    ]


def imagenet_csv(predictions: Iterable[ImagenetPrediction]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(IMAGENET_COLUMNS)
    for p in predictions:
        writer.writerow([p.image, p.rank, p.wnid, p.label, "" if p.probability is None else f"{p.probability:.6g}"])
    return buffer.getvalue()


def write_imagenet_results(predictions: list[ImagenetPrediction], part: Part, *, root: Path) -> Path:
    """``<root>/<canonical_dir>/predictions.csv`` with every image's top classes."""
    return atomic_write_text(canonical_file(part, "predictions", root), imagenet_csv(predictions))


# ------------------------------------------------------------ a comparison


def load_compared(rubric: Rubric, part: Part, described: dict[str, dict], root: Path):
    """The models of the parts ``part`` compares, read back from their canonical files under ``root``
    (the reference's own files, trusted), with their test accuracies; and how they were trained
    (``epochs``, ``quick``), for the discussion. ``described``: part id -> name, design, strengths, weaknesses."""
    import keras

    from reference.comparison import ComparedModel

    compared, trained = [], []
    for part_id in part.compares:
        other = rubric.part(part_id)
        model_path, metrics_path = canonical_file(other, "model", root), canonical_file(other, "metrics", root)
        if not model_path.is_file() or not metrics_path.is_file():
            raise FileNotFoundError(f"{model_path} or {metrics_path} is missing: run part {part_id} before "
                                    f"comparing it in part {part.id}")
        metrics = json.loads(metrics_path.read_text(encoding="utf-8"))
        info = described.get(part_id, {})
        compared.append(ComparedModel(
            part=part_id, name=info.get("name") or other.title, model=keras.models.load_model(model_path),
            test_accuracy=float(metrics["test_accuracy"]), size_bytes=model_path.stat().st_size,
            design=info.get("design", ""), strengths=info.get("strengths", ""), weaknesses=info.get("weaknesses", "")))
        trained.append((metrics.get("epochs"), bool(metrics.get("quick"))))
    epochs = {e for e, _ in trained}
    context = {"epochs": epochs.pop() if len(epochs) == 1 else None, "quick": any(q for _, q in trained)}
    return compared, context


def measure_options(rubric: Rubric, part: Part) -> dict[str, int]:
    """How the sandbox measures the compared models (the first's ``measure`` table), so the reference
    times them the same way; the comparison's defaults when the rubric gives none."""
    for part_id in part.compares:
        measure = rubric.part(part_id).measure
        if measure is not None:
            return {"large_batch": measure.large_batch, "repeats": measure.repeats, "warmup": measure.warmup}
    return {}


def write_comparison_results(comparison, part: Part, *, root: Path) -> list[Path]:
    """The comparison's table and discussion where the part's canonical_files say."""
    return [atomic_write_text(canonical_file(part, "table", root), comparison.table_csv),
            atomic_write_text(canonical_file(part, "discussion", root), comparison.discussion)]
