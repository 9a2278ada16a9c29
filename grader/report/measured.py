"""Models measured by the grader, side by side: one submission's (measured
against what the student reported) and a class's (every student's models by
architecture, each architecture's median, and what the figures say about the
trade-off between accuracy and size).

Two sources, both optional, both in the shapes of notes/interfaces.md:
- a model part's ``details["measurements"]`` (ModelEvaluation.measurements:
  params, latency, flops, size_bytes), with the part's recomputed accuracy;
- a comparison check's ``evidence["rows"]``: per model ``part``, ``model``
  (the student's name for it), ``measured``, ``reported`` and ``agrees``.
The rows are in the JSON record, the measurements only in memory, so a class
re-scored from its records still has the rows' measured figures.

A submission with neither has no comparison: assignment 6 reports are unchanged.
"""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass, field
from typing import Any, Iterable

from grader.records import CheckResult
from grader.report import formatting
from grader.score.records import PartGrade, SubmissionGrade

MEASUREMENTS_KEY = "measurements"
ROWS_KEY = "rows"
MILLION = 1_000_000


@dataclass
class ModelFigures:
    """One model's figures; None where not known."""

    accuracy: float | None = None
    params: int | None = None
    trainable: int | None = None
    non_trainable: int | None = None
    ms_per_image: float | None = None        # batch 1
    large_batch: int | None = None
    large_batch_ms: float | None = None      # per image, at large_batch
    flops: int | None = None
    size_bytes: int | None = None


@dataclass
class ComparedModel:
    """One model of a submission: the grader's figures and the student's."""

    part: str
    title: str
    name: str                                 # the student's name for it in their table ("" if none)
    measured: ModelFigures
    reported: ModelFigures
    agrees: dict[str, bool] = field(default_factory=dict)   # accuracy, params, ... as the check judged


def number(value: Any) -> float | None:
    """A finite number, or None (bools, text, NaN and infinities are not numbers here)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    value = float(value)
    return value if math.isfinite(value) else None


def count(value: Any) -> int | None:
    """A whole non-negative count, or None."""
    figure = number(value)
    return int(figure) if figure is not None and figure >= 0 and figure.is_integer() else None


def _positive(value: Any) -> float | None:
    figure = number(value)
    return figure if figure is not None and figure > 0 else None


# ---------------------------------------------------------- one submission


def comparison_rows(part: PartGrade) -> list[dict]:
    """A part's comparison-check rows."""
    return [row for check in part.checks for row in rows_of(check)]


def rows_of(check: CheckResult) -> list[dict]:
    """A check's per-model rows, when its evidence has them in the agreed shape (each with a ``measured`` dict)."""
    given = check.evidence.get(ROWS_KEY) if isinstance(check.evidence, dict) else None
    if isinstance(given, list) and given and all(is_comparison_row(row) for row in given):
        return given
    return []


def is_comparison_row(row: Any) -> bool:
    return isinstance(row, dict) and isinstance(row.get("measured"), dict) and "part" in row


def compared_models(grade: SubmissionGrade) -> list[ComparedModel]:
    """The submission's models with measurements or comparison rows, in part order."""
    rows_by_part: dict[str, dict] = {}
    for part in grade.parts.values():
        for row in comparison_rows(part):
            rows_by_part.setdefault(str(row["part"]), row)
    models = []
    for part in grade.parts.values():
        measurements = (part.details or {}).get(MEASUREMENTS_KEY)
        row = rows_by_part.pop(part.id, None)
        if not isinstance(measurements, dict) or not measurements:
            measurements = None
        if measurements is None and row is None:
            continue
        models.append(_compared(part.id, part.title, part, measurements, row))
    for part_id, row in rows_by_part.items():        # a row for a part the grade does not have
        models.append(_compared(part_id, part_id, None, None, row))
    return models


def _compared(part_id: str, title: str, part: PartGrade | None, measurements: dict | None,
              row: dict | None) -> ComparedModel:
    measured = figures_from_measurements(measurements) if measurements else ModelFigures()
    row_measured = row.get("measured") if row else None
    _fill_from_row(measured, row_measured if isinstance(row_measured, dict) else {})
    recomputed = number((part.recomputed or {}).get("accuracy")) if part is not None else None
    if recomputed is not None:
        measured.accuracy = recomputed
    reported = ModelFigures()
    if row and isinstance(row.get("reported"), dict):
        _fill_from_row(reported, row["reported"])
    agrees = row.get("agrees") if row else None
    return ComparedModel(
        part=part_id, title=title, name=formatting.plain(row.get("model")) if row and row.get("model") else "",
        measured=measured, reported=reported,
        agrees={str(k): v for k, v in agrees.items() if isinstance(v, bool)} if isinstance(agrees, dict) else {},
    )


def figures_from_measurements(measurements: dict) -> ModelFigures:
    """ModelEvaluation.measurements (validated on the host, re-checked here) as figures."""
    params = measurements.get("params") if isinstance(measurements.get("params"), dict) else {}
    latency = measurements.get("latency") if isinstance(measurements.get("latency"), dict) else {}
    return ModelFigures(
        params=count(params.get("total")), trainable=count(params.get("trainable")),
        non_trainable=count(params.get("non_trainable")),
        ms_per_image=_positive(latency.get("batch1_ms")), large_batch=count(latency.get("large_batch")),
        large_batch_ms=_positive(latency.get("large_batch_ms")),
        flops=count(measurements.get("flops")), size_bytes=count(measurements.get("size_bytes")),
    )


def _fill_from_row(figures: ModelFigures, values: dict) -> None:
    """A row's figures where the measurements gave none."""
    if figures.accuracy is None:
        figures.accuracy = _accuracy(values.get("accuracy"))
    if figures.params is None:
        figures.params = count(values.get("params"))
    if figures.ms_per_image is None:
        figures.ms_per_image = _positive(values.get("ms_per_image"))
    if figures.flops is None:
        figures.flops = count(values.get("flops"))


def _accuracy(value: Any) -> float | None:
    figure = number(value)
    return figure if figure is not None and 0.0 <= figure <= 1.0 else None


# -------------------------------------------------------------- a class


@dataclass(frozen=True)
class ClassPoint:
    """One student's model on the class chart (no name: the chart needs none)."""

    part: str
    accuracy: float
    params: int
    ms_per_image: float | None = None


@dataclass
class PartMedian:
    part: str
    title: str
    models: int
    accuracy: float
    params: float
    ms_per_image: float | None
    accuracy_per_million: float          # median over models of accuracy / (params / 1e6)


def class_points(grades: Iterable[SubmissionGrade], part_ids: Iterable[str]) -> list[ClassPoint]:
    """Every model with an accuracy and a parameter count, of the rubric's parts only."""
    wanted = set(part_ids)
    points = []
    for grade in grades:
        if grade.status == "error":
            continue
        for model in compared_models(grade):
            figures = model.measured
            if model.part in wanted and figures.accuracy is not None and figures.params:
                points.append(ClassPoint(model.part, figures.accuracy, figures.params, figures.ms_per_image))
    return points


def part_medians(points: list[ClassPoint], titles: dict[str, str]) -> list[PartMedian]:
    """Each part's median accuracy, parameters, time and accuracy per million parameters, in rubric order."""
    medians = []
    for part_id, title in titles.items():
        mine = [p for p in points if p.part == part_id]
        if not mine:
            continue
        times = [p.ms_per_image for p in mine if p.ms_per_image is not None]
        medians.append(PartMedian(
            part=part_id, title=title, models=len(mine),
            accuracy=statistics.median(p.accuracy for p in mine),
            params=statistics.median(p.params for p in mine),
            ms_per_image=statistics.median(times) if times else None,
            accuracy_per_million=statistics.median(p.accuracy / (p.params / MILLION) for p in mine),
        ))
    return medians


def tradeoff_sentence(medians: list[PartMedian]) -> str:
    """What the class's medians say: the most accurate architecture, the most
    accurate per parameter, and what the extra accuracy costs."""
    if not medians:
        return ""
    total = sum(m.models for m in medians)
    best = max(medians, key=lambda m: (m.accuracy, -m.params))
    frugal = max(medians, key=lambda m: (m.accuracy_per_million, m.accuracy))
    sentence = (f"Over {total} model{'s' * (total != 1)}, {best.part} has the highest median accuracy "
                f"({best.accuracy:.3f}, with a median of {millions(best.params)} parameters)")
    if frugal is best:
        sentence += f" and also the highest median accuracy per million parameters ({best.accuracy_per_million:.3g})."
    else:
        ratio = best.params / frugal.params
        sentence += (f"; {frugal.part} has the highest median accuracy per million parameters "
                     f"({frugal.accuracy_per_million:.3g}, against {best.accuracy_per_million:.3g} for {best.part}): "
                     f"{best.part}'s median accuracy is {best.accuracy - frugal.accuracy:.3f} higher, "
                     f"at {ratio:.3g}× the median parameters.")
    timed = [m for m in medians if m.ms_per_image is not None]
    if len(timed) >= 2:
        fastest = min(timed, key=lambda m: m.ms_per_image)
        slowest = max(timed, key=lambda m: m.ms_per_image)
        sentence += (f" At inference {fastest.part} is the fastest ({fastest.ms_per_image:.3g} ms per image, median) "
                     f"and {slowest.part} the slowest ({slowest.ms_per_image:.3g} ms).")
    return sentence


def millions(params: float) -> str:
    """1_234_567 -> "1.23 M", 45_000 -> "45 k"."""
    if params >= MILLION:
        return f"{params / MILLION:.3g} M"
    if params >= 1000:
        return f"{params / 1000:.3g} k"
    return f"{params:.0f}"


# ------------------------------------------------------------ the table


@dataclass
class Cell:
    """A measured figure beside the reported one, as text."""

    measured: str
    reported: str = ""
    agrees: bool | None = None            # the check's verdict on this figure, when it judged it
    value: float | None = None            # the measured figure, for data attributes


@dataclass
class ModelRow:
    part: str
    title: str
    name: str
    accuracy: Cell
    params: Cell
    params_split: str                     # "trainable 270,410 · not trainable 2,064"
    ms_per_image: Cell
    large_batch: str                      # "0.21 ms at batch 256"
    flops: str
    size: str


def model_rows(models: list[ComparedModel]) -> list[ModelRow]:
    return [_model_row(model) for model in models]


def _model_row(model: ComparedModel) -> ModelRow:
    measured, reported = model.measured, model.reported
    split = []
    if measured.trainable is not None:
        split.append(f"trainable {measured.trainable:,}")
    if measured.non_trainable is not None:
        split.append(f"not trainable {measured.non_trainable:,}")
    large = ""
    if measured.large_batch_ms is not None:
        large = f"{measured.large_batch_ms:.3g} ms" + (f" at batch {measured.large_batch:,}" if measured.large_batch else "")
    return ModelRow(
        part=model.part, title=model.title, name=model.name,
        accuracy=Cell(_fixed(measured.accuracy), _fixed(reported.accuracy), model.agrees.get("accuracy"),
                      measured.accuracy),
        params=Cell(_whole(measured.params), _whole(reported.params), model.agrees.get("params"),
                    None if measured.params is None else float(measured.params)),
        params_split=" · ".join(split),
        ms_per_image=Cell(_ms(measured.ms_per_image), _ms(reported.ms_per_image),
                          model.agrees.get("ms_per_image"), measured.ms_per_image),
        large_batch=large,
        flops="—" if measured.flops is None else si(measured.flops, "FLOPs"),
        size="—" if measured.size_bytes is None else si(measured.size_bytes, "B", base=1000),
    )


def _fixed(value: float | None) -> str:
    return "—" if value is None else f"{value:.4f}"


def _whole(value: int | None) -> str:
    return "—" if value is None else f"{value:,}"


def _ms(value: float | None) -> str:
    return "—" if value is None else f"{value:.3g}"


def si(value: float, unit: str, base: int = 1000) -> str:
    """81_300_000 FLOPs -> "81.3 MFLOPs"; 1_100_000 B -> "1.1 MB"."""
    for prefix in ("", "k", "M", "G", "T"):
        if abs(value) < base or prefix == "T":
            return f"{value:.3g} {prefix}{unit}" if prefix else f"{value:,.0f} {unit}"
        value /= base
    return f"{value:.3g} {unit}"
