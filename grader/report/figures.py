"""Figures the grader draws itself (matplotlib Agg, no pyplot state), as PNG bytes.

Their inputs partly come from a student's files (class names, history keys and
values), so every function checks shapes and types and returns ``None`` with
a reason instead of raising on bad data.
"""

from __future__ import annotations

import base64
import io
import logging
import math
from dataclasses import dataclass
from typing import Any, Sequence

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.layout_engine import PlaceHolderLayoutEngine
from matplotlib.ticker import EngFormatter, FuncFormatter, MaxNLocator, NullFormatter

log = logging.getLogger(__name__)

DPI = 100
MAX_ANNOTATED_CLASSES = 20     # above this, cells are too small to print counts in
MAX_LABEL_CHARS = 24
MAX_CURVE_SERIES = 8


@dataclass
class Drawn:
    """A figure as a ``data:`` URI, or the reason it could not be drawn."""

    data_uri: str | None = None
    reason: str = ""


def png_data_uri(png: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


def _render(figure: Figure) -> bytes:
    FigureCanvasAgg(figure)
    # tight_layout leaves a placeholder layout engine behind, and savefig answers any engine with
    # a whole extra draw pass (which constrained layout needs): the layout is done, so drop it.
    # Same pixels, a quarter less drawing.
    if isinstance(figure.get_layout_engine(), PlaceHolderLayoutEngine):
        figure.set_layout_engine(None)
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=DPI)
    return buffer.getvalue()


def _label(text: Any) -> str:
    """A student-supplied string made safe for matplotlib text: no mathtext."""
    label = str(text).replace("\n", " ")
    if len(label) > MAX_LABEL_CHARS:
        label = label[: MAX_LABEL_CHARS - 1] + "…"
    return label.replace("$", r"\$")


# ------------------------------------------------------------ confusion matrix


def confusion_matrix(matrix: Any, class_names: Sequence[Any] | None = None) -> Drawn:
    """A labelled confusion matrix (rows: true class, columns: predicted)."""
    rows = _square_counts(matrix)
    if rows is None:
        return Drawn(reason="the confusion matrix is not a square table of counts")
    size = len(rows)
    names = [_label(n) for n in class_names] if class_names and len(class_names) == size else [str(i) for i in range(size)]
    side = min(3.5 + 0.3 * size, 12)
    figure = Figure(figsize=(side + 1.2, side), dpi=DPI)
    axes = figure.add_subplot()
    image = axes.imshow(rows, cmap="Blues")
    figure.colorbar(image, ax=axes, fraction=0.046, pad=0.04)
    if size <= MAX_ANNOTATED_CLASSES:
        axes.set_xticks(range(size), names, rotation=45, ha="right")
        axes.set_yticks(range(size), names)
        _annotate_counts(axes, rows)
    axes.set_xlabel("predicted class")
    axes.set_ylabel("true class")
    axes.set_title("Confusion matrix (recomputed by the grader)")
    figure.tight_layout()
    return Drawn(png_data_uri(_render(figure)))


def _square_counts(matrix: Any) -> list[list[int]] | None:
    if not isinstance(matrix, (list, tuple)) or not matrix:
        return None
    rows: list[list[int]] = []
    for row in matrix:
        if not isinstance(row, (list, tuple)) or len(row) != len(matrix):
            return None
        try:
            rows.append([int(value) for value in row])
        except (TypeError, ValueError, OverflowError):
            return None
    return rows


def _annotate_counts(axes: Any, rows: list[list[int]]) -> None:
    largest = max(max(row) for row in rows) or 1
    for i, row in enumerate(rows):
        for j, count in enumerate(row):
            colour = "white" if count > largest / 2 else "black"
            axes.text(j, i, str(count), ha="center", va="center", fontsize=8, color=colour)


# ------------------------------------------------------------ training curves


def training_curves(history: Any) -> Drawn:
    """Loss and metric curves per epoch, from a history dict of lists."""
    series = _numeric_series(history)
    if not series:
        return Drawn(reason="the history has no per-epoch numbers to draw")
    loss = {key: values for key, values in series.items() if "loss" in key.lower()}
    other = {key: values for key, values in series.items() if key not in loss}
    panels = [(title, group) for title, group in (("metrics", other), ("loss", loss)) if group]
    figure = Figure(figsize=(4.4 * len(panels), 3.3), dpi=DPI)
    for index, (title, group) in enumerate(panels, start=1):
        axes = figure.add_subplot(1, len(panels), index)
        for key, values in list(group.items())[:MAX_CURVE_SERIES]:
            epochs = range(1, len(values) + 1)
            style = "--" if key.lower().startswith("val") else "-"
            axes.plot(epochs, values, style, marker="o", markersize=3, label=_label(key))
        axes.set_xlabel("epoch")
        axes.xaxis.get_major_locator().set_params(integer=True)
        axes.set_title(title)
        axes.grid(alpha=0.3)
        axes.legend(fontsize=8)
    figure.suptitle("Training curves drawn by the grader from your history")
    figure.tight_layout()
    return Drawn(png_data_uri(_render(figure)))


def _numeric_series(history: Any) -> dict[str, list[float]]:
    if not isinstance(history, dict):
        return {}
    series: dict[str, list[float]] = {}
    for key, values in history.items():
        if not isinstance(values, (list, tuple)) or not values:
            continue
        numbers = [_as_float(value) for value in values]
        if any(math.isfinite(n) for n in numbers):
            series[str(key)] = numbers
    return series


def _as_float(value: Any) -> float:
    if isinstance(value, bool):
        return math.nan
    try:
        return float(value)
    except (TypeError, ValueError, OverflowError):
        return math.nan


# ------------------------------------------------------------ class histogram


def score_histogram(edges: Sequence[float], counts: Sequence[int], median: float | None = None) -> Drawn:
    """A bar chart of precomputed bins, so the picture and the table agree; the median as a dashed line."""
    if not counts:
        return Drawn(reason="no graded submissions")
    figure = Figure(figsize=(6.4, 3.2), dpi=DPI)
    axes = figure.add_subplot()
    widths = [high - low for low, high in zip(edges[:-1], edges[1:])]
    axes.bar(edges[:-1], counts, width=widths, align="edge", color="#4a78b0", edgecolor="white")
    axes.set_xlim(edges[0], edges[-1])
    axes.set_xlabel("final score")
    axes.set_ylabel("students")
    axes.yaxis.get_major_locator().set_params(integer=True)
    axes.grid(axis="y", alpha=0.3)
    if median is not None:
        axes.axvline(median, color="#b3261e", linestyle="--", linewidth=1.2, label=f"median {median:g}")
        axes.legend(fontsize=8, loc="upper left")
    figure.tight_layout()
    return Drawn(png_data_uri(_render(figure)))


# ------------------------------------------------------------ models compared

# One colour per architecture (rubric part), in rubric order; colour-blind safe (Okabe-Ito).
PART_COLOURS = ("#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#F0E442", "#000000")


def part_colour(index: int) -> str:
    return PART_COLOURS[index % len(PART_COLOURS)]


def model_tradeoff(models: Sequence[Any]) -> Drawn:
    """One submission's models (grader.report.measured.ComparedModel): accuracy
    against parameters and, when timed, against milliseconds per image; the
    grader's figures filled, the student's hollow and joined to them."""
    panels = [(label, attr) for label, attr in (("parameters", "params"), ("ms per image (batch 1)", "ms_per_image"))
              if any(_pair(m.measured, attr) or _pair(m.reported, attr) for m in models)]
    if not panels:
        return Drawn(reason="no model has both an accuracy and a parameter count or a time")
    figure = Figure(figsize=(4.0 * len(panels), 3.2), dpi=DPI)
    for index, (label, attr) in enumerate(panels, start=1):
        axes = figure.add_subplot(1, len(panels), index)
        for number, model in enumerate(models):
            _plot_model(axes, model, attr, part_colour(number))
        _size_axis(axes, [pair[0] for m in models for pair in (_pair(m.measured, attr), _pair(m.reported, attr))
                          if pair], counts=attr == "params")
        axes.margins(x=0.12, y=0.15)     # room for the labels beside the points
        axes.set_xlabel(label)
        axes.set_ylabel("test accuracy")
        axes.grid(alpha=0.3, which="both")
    handles = [axes.scatter([], [], s=36, color="#555555", label="grader measured"),
               axes.scatter([], [], s=36, facecolors="none", edgecolors="#555555", label="you reported")]
    figure.legend(handles=handles, loc="lower center", ncol=2, fontsize=8, frameon=False)
    # Fixed margins, not tight_layout: its extra layout pass would cost a third of the drawing,
    # and the labels here are short and known (accuracies, 100k, 2.5).
    figure.subplots_adjust(left=0.9 / figure.get_figwidth(), right=0.97, bottom=0.27, top=0.95,
                           wspace=0.32)
    return Drawn(png_data_uri(_render(figure)))


def _size_axis(axes: Any, values: Sequence[float], counts: bool) -> None:
    """A log axis when the values span ten times or more, else a linear one with
    few ticks; counts as 10k, 1M, times as written (never crowded minor labels)."""
    positive = [v for v in values if v > 0]
    if positive and max(positive) >= 10 * min(positive):
        axes.set_xscale("log")
        axes.xaxis.set_minor_formatter(NullFormatter())
    else:
        axes.xaxis.set_major_locator(MaxNLocator(5))
    axes.xaxis.set_major_formatter(EngFormatter(sep="") if counts else FuncFormatter(lambda value, _: f"{value:g}"))


def _pair(figures: Any, attr: str) -> tuple[float, float] | None:
    x, y = getattr(figures, attr, None), getattr(figures, "accuracy", None)
    return (float(x), float(y)) if x and y is not None else None


def _plot_model(axes: Any, model: Any, attr: str, colour: str) -> None:
    measured, reported = _pair(model.measured, attr), _pair(model.reported, attr)
    if measured:
        axes.scatter(*measured, s=40, color=colour, zorder=3)
        axes.annotate(_label(model.part), measured, textcoords="offset points", xytext=(5, 4), fontsize=8, color=colour)
    if reported:
        axes.scatter(*reported, s=40, facecolors="none", edgecolors=colour, zorder=3)
    if measured and reported:
        axes.plot(*zip(measured, reported), ":", color=colour, linewidth=1)


def class_tradeoff(points: Sequence[Any], medians: Sequence[Any], order: Sequence[str]) -> Drawn:
    """Every student's models (grader.report.measured.ClassPoint) on accuracy
    against parameters, one colour per architecture, each one's median marked."""
    if not points:
        return Drawn(reason="no model has both a measured accuracy and a parameter count")
    figure = Figure(figsize=(6.4, 3.8), dpi=DPI)
    axes = figure.add_subplot()
    for index, part in enumerate(order):
        mine = [p for p in points if p.part == part]
        if not mine:
            continue
        colour = part_colour(index)
        axes.scatter([p.params for p in mine], [p.accuracy for p in mine], s=18, color=colour, alpha=0.6,
                     label=f"{_label(part)} ({len(mine)})")
        for median in medians:
            if median.part == part:
                axes.scatter([median.params], [median.accuracy], s=130, marker="D", color=colour,
                             edgecolors="black", linewidths=1.2, zorder=4)
    axes.scatter([], [], s=60, marker="D", color="white", edgecolors="black", label="median")
    _size_axis(axes, [p.params for p in points], counts=True)
    axes.set_xlabel("parameters")
    axes.set_ylabel("test accuracy (recomputed)")
    axes.grid(alpha=0.3, which="both")
    axes.legend(fontsize=8, loc="lower right")      # "best" would search every point for a place
    figure.subplots_adjust(left=0.12, right=0.97, bottom=0.14, top=0.96)   # as in model_tradeoff
    return Drawn(png_data_uri(_render(figure)))


def drawn_safely(draw: Any, *args: Any) -> Drawn:
    """Call a drawing function on untrusted data; a failure becomes a reason."""
    try:
        return draw(*args)
    except Exception as exc:  # matplotlib can fail in many ways on odd data
        log.warning("could not draw %s: %s", getattr(draw, "__name__", draw), exc)
        return Drawn(reason=f"could not be drawn ({type(exc).__name__})")
