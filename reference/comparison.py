"""The models of a comparison measured under the same conditions, with their table and a discussion.

Every model is timed the same way on the same test images (the median of
``repeats`` timed calls after ``warmup`` untimed ones, at batch 1 and at
``large_batch``), its parameters counted and its multiply-adds per image
computed from its layers. The discussion is written from those figures: the
ranking by accuracy, what each model costs against the others, and per model
the strengths and weaknesses the figures show, beside what its design implies.
"""

from __future__ import annotations

import csv
import io
import statistics
import time
from dataclasses import dataclass, field

import keras
import numpy as np

from reference.training import scale_pixels

REPEATS = 5
LARGE_BATCH = 256
WARMUP = 2


@dataclass
class ComparedModel:
    """A trained model to compare, with what the discussion says of its architecture."""

    part: str
    name: str
    model: keras.Model
    test_accuracy: float
    size_bytes: int | None = None
    design: str = ""
    strengths: str = ""
    weaknesses: str = ""


@dataclass
class ModelFigures:
    part: str
    name: str
    test_accuracy: float
    params: int
    trainable_params: int
    multiply_adds: int               # per image, convolutions and dense layers
    ms_batch1: float                 # median ms per image at batch 1
    ms_large_batch: float            # median ms per image at the large batch
    size_bytes: int | None = None

    @property
    def mflops(self) -> float:
        return 2 * self.multiply_adds / 1e6


@dataclass
class Comparison:
    figures: list[ModelFigures]
    large_batch: int
    repeats: int
    n_test: int
    table_csv: str = ""
    discussion: str = ""
    context: dict = field(default_factory=dict)    # how the models were trained, for the discussion


# ------------------------------------------------------------------ measuring


def _leaf_layers(model):
    """Every layer that computes, nested models opened (the augmentation stage is one)."""
    for layer in model.layers:
        if isinstance(layer, keras.Model):
            yield from _leaf_layers(layer)
        else:
            yield layer


def _spatial(shape) -> int:
    return int(np.prod([d for d in shape[1:-1] if d])) if len(shape) > 2 else 1


def multiply_adds(model) -> int:
    """Multiply-adds of one image's forward pass through the convolutions and dense layers."""
    total = 0
    for layer in _leaf_layers(model):
        kind = type(layer).__name__
        if kind in ("Conv1D", "Conv2D", "Conv3D"):
            kernel = int(np.prod(layer.kernel_size))
            in_channels = int(layer.input.shape[-1]) // getattr(layer, "groups", 1)
            total += _spatial(layer.output.shape) * kernel * in_channels * layer.filters
        elif kind == "DepthwiseConv2D":
            total += _spatial(layer.output.shape) * int(np.prod(layer.kernel_size)) * int(layer.output.shape[-1])
        elif kind == "SeparableConv2D":
            in_channels = int(layer.input.shape[-1])
            depthwise = _spatial(layer.output.shape) * int(np.prod(layer.kernel_size)) * in_channels
            total += depthwise + _spatial(layer.output.shape) * in_channels * layer.filters
        elif kind == "Dense":
            total += _spatial(layer.input.shape) * int(layer.input.shape[-1]) * layer.units
    return total


def ms_per_image(model, images, batch_size, repeats=REPEATS, warmup=WARMUP) -> float:
    """Median over ``repeats`` timed forward passes of one batch, per image, in milliseconds.

    ``predict_on_batch`` runs the compiled inference function (traced during
    the warm-up, at least one call), as deployed inference would; calling the
    model eagerly would time Python's dispatch of every layer instead."""
    batch = scale_pixels(images[:batch_size])
    for _ in range(max(warmup, 1)):
        model.predict_on_batch(batch)
    seconds = []
    for _ in range(repeats):
        started = time.perf_counter()
        model.predict_on_batch(batch)
        seconds.append(time.perf_counter() - started)
    return 1000 * statistics.median(seconds) / len(batch)


def measure(compared: ComparedModel, images, large_batch=LARGE_BATCH, repeats=REPEATS, warmup=WARMUP) -> ModelFigures:
    model = compared.model
    trainable = int(sum(np.prod(w.shape) for w in model.trainable_weights))
    return ModelFigures(
        part=compared.part, name=compared.name, test_accuracy=float(compared.test_accuracy),
        params=int(model.count_params()), trainable_params=trainable, multiply_adds=multiply_adds(model),
        ms_batch1=ms_per_image(model, images, 1, repeats, warmup),
        ms_large_batch=ms_per_image(model, images, min(large_batch, len(images)), repeats, warmup),
        size_bytes=compared.size_bytes,
    )


def compare_models(models, images, *, large_batch=LARGE_BATCH, repeats=REPEATS, warmup=WARMUP, context=None):
    """Measure every model on the same images; the table (CSV) and the discussion (markdown) from the figures."""
    figures = [measure(m, images, large_batch, repeats, warmup) for m in models]
    comparison = Comparison(figures, min(large_batch, len(images)), repeats, len(images), context=dict(context or {}))
    comparison.table_csv = comparison_table_csv(figures, comparison.large_batch)
    comparison.discussion = discussion_markdown(comparison, {m.part: m for m in models})
    return comparison


# ---------------------------------------------------------------------- table


def comparison_table_csv(figures, large_batch) -> str:
    """One row per model: test accuracy, parameters, MFLOPs, ms per image at batch 1 and the large batch, size."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["model", "test_accuracy", "params", "trainable_params", "mflops", "ms_per_image_batch1",
                     f"ms_per_image_batch{large_batch}", "size_mb"])
    for f in figures:
        writer.writerow([f.name, f"{f.test_accuracy:.4f}", f.params, f.trainable_params, f"{f.mflops:.2f}",
                         f"{f.ms_batch1:.3f}", f"{f.ms_large_batch:.3f}",
                         "" if f.size_bytes is None else f"{f.size_bytes / 1e6:.2f}"])
    return buffer.getvalue()


# ----------------------------------------------------------------- discussion


def _percent(accuracy: float) -> str:
    return f"{100 * accuracy:.1f}%"


def _millions(count: float) -> str:
    return f"{count / 1e6:.2f}M" if count >= 1e5 else f"{count / 1e3:.1f}k"


def _names(items) -> str:
    items = list(items)
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


# What each figure says when a model is best or worst on it: (attribute, higher is better, best, worst).
MEASURES = (
    ("test_accuracy", True, "is the most accurate", "is the least accurate"),
    ("params", False, "has the fewest parameters", "has the most parameters"),
    ("multiply_adds", False, "needs the fewest multiply-adds per image", "needs the most multiply-adds per image"),
    ("ms_batch1", False, "is the fastest one image at a time", "is the slowest one image at a time"),
    ("ms_large_batch", False, "is the fastest in large batches", "is the slowest in large batches"),
)


def _extremes(figures, attribute, higher_is_better):
    ordered = sorted(figures, key=lambda f: getattr(f, attribute), reverse=higher_is_better)
    return ordered[0], ordered[-1]


def _training_sentence(comparison: Comparison) -> str:
    context = comparison.context
    epochs = context.get("epochs")
    sentence = (f"The {len(comparison.figures)} models were trained on CIFAR-10 under the same conditions"
                + (f" ({epochs} epoch{'s' * (epochs != 1)}, the same augmentation, optimiser and batch size)"
                   if epochs else "") + ". ")
    if context.get("quick"):
        sentence += ("This was a quick run, a smoke test on a small subset with narrower networks: its accuracies "
                     "say little about the architectures, and only the relative costs of these variants are "
                     "meaningful. ")
    return sentence + (f"Every figure below was measured by the same run: the test accuracy on "
                       f"{comparison.n_test:,} test images, the parameters, the multiply-adds per image of the "
                       f"convolutions and dense layers, and the median time per image over {comparison.repeats} "
                       f"timed passes at batch 1 and at batch {comparison.large_batch}, every model on the same "
                       "images and the same CPU.")


def _markdown_table(comparison: Comparison) -> list[str]:
    lines = [f"| model | test accuracy | parameters | MFLOPs | ms/image (batch 1) | "
             f"ms/image (batch {comparison.large_batch}) |", "|---|---|---|---|---|---|"]
    for f in comparison.figures:
        lines.append(f"| {f.name} | {_percent(f.test_accuracy)} | {f.params:,} | {f.mflops:.1f} | "
                     f"{f.ms_batch1:.2f} | {f.ms_large_batch:.3f} |")
    return lines


def _accuracy_paragraph(figures) -> str:
    ranked = sorted(figures, key=lambda f: f.test_accuracy, reverse=True)
    best, rest = ranked[0], ranked[1:]
    gaps = _names(f"{100 * (best.test_accuracy - f.test_accuracy):.1f} points above {f.name} "
                  f"({_percent(f.test_accuracy)})" for f in rest)
    return (f"By test accuracy the order is {' > '.join(f.name for f in ranked)}. {best.name} is the most accurate "
            f"at {_percent(best.test_accuracy)}, {gaps}.")


def _cost_paragraph(figures) -> str:
    sentences = []
    for attribute, what in (("params", "parameters"), ("multiply_adds", "multiply-adds per image")):
        least, most = _extremes(figures, attribute, higher_is_better=False)
        ratio = getattr(most, attribute) / max(getattr(least, attribute), 1)
        sentences.append(f"{least.name} has the fewest {what} ({_millions(getattr(least, attribute))}) and "
                         f"{most.name} the most ({_millions(getattr(most, attribute))}, {ratio:.1f} times as many).")
    fast, slow = _extremes(figures, "ms_batch1", higher_is_better=False)
    sentences.append(f"One image at a time, {fast.name} is the fastest ({fast.ms_batch1:.2f} ms per image) and "
                     f"{slow.name} the slowest ({slow.ms_batch1:.2f} ms, {slow.ms_batch1 / fast.ms_batch1:.1f} "
                     "times as long).")
    fast_batch, slow_batch = _extremes(figures, "ms_large_batch", higher_is_better=False)
    sentences.append(f"In large batches {fast_batch.name} is the fastest ({fast_batch.ms_large_batch:.3f} ms per "
                     f"image) and {slow_batch.name} the slowest ({slow_batch.ms_large_batch:.3f} ms).")
    speed = {f.name: f.ms_large_batch / max(f.mflops, 1e-9) for f in figures}
    least_efficient = max(speed, key=speed.get)
    most_efficient = min(speed, key=speed.get)
    if least_efficient != most_efficient:
        sentences.append(f"Per MFLOP, {most_efficient} runs most efficiently on this CPU and {least_efficient} "
                         f"least ({speed[least_efficient] / speed[most_efficient]:.1f} times the time per "
                         "MFLOP): multiply-adds alone do not predict time.")
    return " ".join(sentences)


def _model_paragraph(figure: ModelFigures, figures, described: ComparedModel | None) -> str:
    good, bad = [], []
    for attribute, higher, best_words, worst_words in MEASURES:
        best, worst = _extremes(figures, attribute, higher)
        if best is figure:
            good.append(best_words)
        elif worst is figure:
            bad.append(worst_words)
    per_param = {f.name: f.test_accuracy / max(f.params, 1) for f in figures}
    if max(per_param, key=per_param.get) == figure.name:
        good.append("has the best accuracy per parameter")
    text = (f"**{figure.name}**" + (f" ({described.design})" if described and described.design else "")
            + f": {_percent(figure.test_accuracy)} test accuracy with {figure.params:,} parameters, "
            f"{figure.mflops:.1f} MFLOPs and {figure.ms_batch1:.2f} ms per image at batch 1. ")
    text += (f"Measured here, it {_names(good)}. " if good else "It is best on none of the measures. ")
    text += (f"Against the others, it {_names(bad)}. " if bad else "It is worst on none of them. ")
    if described and described.strengths:
        text += f"Its strength by design: {described.strengths}. "
    if described and described.weaknesses:
        text += f"Its weakness: {described.weaknesses}."
    return text.strip()


def _choice_paragraph(figures, context) -> str:
    best = max(figures, key=lambda f: f.test_accuracy)
    fastest = min(figures, key=lambda f: f.ms_batch1)
    smallest = min(figures, key=lambda f: f.params)
    text = f"For the best accuracy on this task, choose {best.name}."
    if fastest is not best:
        text += (f" Where each image must be answered quickly on a CPU, {fastest.name} is "
                 f"{best.ms_batch1 / fastest.ms_batch1:.1f} times as fast as {best.name} at "
                 f"{100 * (best.test_accuracy - fastest.test_accuracy):.1f} points less accuracy.")
    if smallest is not best:
        text += (f" Where memory is short, {smallest.name} needs {smallest.params / best.params:.2f} times "
                 f"{best.name}'s parameters.")
    if context.get("quick"):
        text += " These choices rest on a smoke test's figures; a full run is needed before drawing them."
    return text


def discussion_markdown(comparison: Comparison, described: dict[str, ComparedModel]) -> str:
    figures = comparison.figures
    lines = [f"# Comparison: {_names(f.name for f in figures)}", "", _training_sentence(comparison), "",
             *_markdown_table(comparison), "", "## Accuracy", "", _accuracy_paragraph(figures), "",
             "## Computational cost and complexity", "", _cost_paragraph(figures), "",
             "## Strengths and weaknesses", ""]
    for figure in figures:
        lines += [_model_paragraph(figure, figures, described.get(figure.part)), ""]
    lines += ["## Which to choose", "", _choice_paragraph(figures, comparison.context), ""]
    return "\n".join(lines)
