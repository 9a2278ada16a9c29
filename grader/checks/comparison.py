"""Checks of a part that compares other parts' models (``compares`` in the
rubric): the student's table of the models against the grader's own figures,
and the written discussion.

The grader's figures for each compared model are that part's: the test
accuracy recomputed from the sandbox's predictions, and the parameters the
sandbox counted (with the timings and FLOPs of its ``measure``, shown beside
them). Each check's evidence has a row per model (``rows``): what was
measured, what the table reports, and whether they agree.
"""

from __future__ import annotations

import math
import re

from grader.checks.models import Tolerance
from grader.checks.registry import CheckContext, Peer, check
from grader.discover.names import normalise
from grader.readers.model_table import WORDS, ModelRow
from grader.records import CheckResult

DEFAULT_COLUMNS = ("accuracy", "params", "time")
DEFAULT_PARAMS_RELATIVE = 0.01
DEFAULT_MIN_WORDS = 150


# ------------------------------------------------------------- the grader's side


def measured(peer: Peer) -> dict:
    """The grader's figures for one compared model (None where there are none)."""
    evaluation = peer.evaluation
    measurements = evaluation.measurements if evaluation is not None and evaluation.ok else {}
    counted = (evaluation.architecture.get("params") or {}) if evaluation is not None and evaluation.ok else {}
    params = measurements.get("params") or counted
    latency = measurements.get("latency") or {}
    return {"accuracy": None if peer.recomputed.accuracy is None else round(peer.recomputed.accuracy, 4),
            "params": params.get("total"), "trainable_params": params.get("trainable"),
            "ms_per_image": latency.get("batch1_ms"), "flops": measurements.get("flops")}


def _why_unmeasured(peer: Peer) -> str:
    if peer.files.model is None:
        return f"{peer.part.id} has no saved model"
    if peer.evaluation is None:
        return peer.recomputed.reason or "the models were not run"
    if not peer.evaluation.ok:
        return f"the {peer.part.id} model did not run in the sandbox"
    return peer.recomputed.reason or "no recomputed accuracy"


def _reported(row: ModelRow | None) -> dict:
    figures = row.figures if row is not None else {}

    def value(kind: str):
        figure = figures.get(kind)
        if figure is None:
            return None
        return round(figure.value, 6) if kind in ("accuracy", "time") else int(round(figure.value))

    return {"accuracy": value("accuracy"), "params": value("params") if "params" in figures else value("trainable"),
            "ms_per_image": value("time")}


def _no_table(ctx: CheckContext, check_id: str, points: float) -> CheckResult | None:
    if ctx.files.table is not None:
        return None
    if ctx.files.table_path:
        why = next((p.message for p in ctx.part_problems() if p.path == ctx.files.table_path),
                   f"{ctx.files.table_path} could not be read as a table of the models")
    else:
        why = (f"no table comparing the models: save one row per model ({', '.join(ctx.part.compares)}) with its "
               f"test accuracy, parameters and time per image as {ctx.part.canonical_path('table')}")
    return CheckResult(check_id, 0.0, points, False, why, {"rows": []})


def _source(ctx: CheckContext) -> str:
    table = ctx.files.table
    where = f", {table.where}" if table is not None and table.where and table.where != "line 1" else ""
    return f"{ctx.files.table_path}{where}"


# ------------------------------------------------------------------ the table


@check("comparison_table")
def comparison_table(ctx: CheckContext, points: float, params: dict) -> CheckResult:
    """The table has a row per compared model with the columns the rubric asks
    for (test accuracy, parameters, time per image); each cell present earns its share."""
    missing = _no_table(ctx, "comparison_table", points)
    if missing is not None:
        return missing
    table = ctx.files.table
    wanted = [str(c) for c in params.get("columns", DEFAULT_COLUMNS)]
    cells, have, gaps, rows = 0, 0, [], []
    for part_id in ctx.part.compares:
        row = table.row(part_id)
        present = {kind: _has(row, kind) for kind in wanted}
        cells += len(wanted)
        have += sum(present.values())
        if row is None:
            gaps.append(f"no row for {part_id}")
        elif not all(present.values()):
            absent = [WORDS.get(kind, kind) for kind, ok in present.items() if not ok]
            gaps.append(f"{part_id} ('{row.label}') has no {' or '.join(absent)}" +
                        (f" ({'; '.join(row.problems)})" if row.problems else ""))
        rows.append({"part": part_id, "model": row.label if row else None, "present": present,
                     "reported": _reported(row), "cells": {k: f.text for k, f in (row.figures if row else {}).items()}})
    evidence = {"rows": rows, "columns": table.columns, "format": table.format, "source": _source(ctx),
                "unnamed_rows": table.unnamed, "notes": table.notes}
    headers = ", ".join(f"{WORDS.get(k, k)} '{h}'" for k, h in table.columns.items() if k in wanted)
    columns_missing = [WORDS.get(k, k) for k in wanted if k not in table.columns and not
                       (k == "params" and "trainable" in table.columns)]
    if columns_missing:
        gaps.insert(0, f"no column for {', '.join(columns_missing)}")
    score = points * have / cells if cells else 0.0
    if not gaps:
        return CheckResult("comparison_table", score, points, True,
                           f"{_source(ctx)}: a row for each of {', '.join(ctx.part.compares)} with {headers}", evidence)
    hint = (" (columns are found by headers such as test_accuracy, params, ms_per_image)"
            if columns_missing else "")
    return CheckResult("comparison_table", score, points, False, f"{_source(ctx)}: " + "; ".join(gaps) + hint,
                       evidence)


def _has(row: ModelRow | None, kind: str) -> bool:
    if row is None:
        return False
    return kind in row.figures or (kind == "params" and "trainable" in row.figures)


# ---------------------------------------------------------- figures that agree


@check("comparison_figures_agree")
def comparison_figures_agree(ctx: CheckContext, points: float, params: dict) -> CheckResult:
    """Each model's accuracy in the table agrees with the recomputed one (the
    binomial rule of reported_metrics_match) and its parameter count with the
    sandbox's (total or trainable, within params_relative plus the rounding of
    the figure as written). Each of the two figures of each model is an equal share."""
    missing = _no_table(ctx, "comparison_figures_agree", points)
    if missing is not None:
        return missing
    k, floor = float(params.get("k", 3.0)), float(params.get("floor", 0.002))
    relative = float(params.get("params_relative", DEFAULT_PARAMS_RELATIVE))
    rows, said, wrong, agreed = [], [], [], 0
    for part_id in ctx.part.compares:
        peer = ctx.peers.get(part_id)
        row = ctx.files.table.row(part_id)
        figures = measured(peer) if peer is not None else {}
        accuracy = _accuracy_agrees(peer, row, k, floor) if peer is not None else _Verdict(False, False, "")
        count = _params_agree(peer, row, figures, relative) if peer is not None else _Verdict(False, False, "")
        agreed += accuracy.agrees + count.agrees
        for verdict in (accuracy, count):
            (said if verdict.agrees else wrong).append(f"{part_id}: {verdict.message}")
        rows.append({"part": part_id, "model": row.label if row else part_id,
                     "measured": {key: figures.get(key) for key in ("accuracy", "params", "ms_per_image", "flops")},
                     "reported": _reported(row),
                     "agrees": {"accuracy": accuracy.agrees, "params": count.agrees},
                     "verifiable": {"accuracy": accuracy.verifiable, "params": count.verifiable},
                     "notes": [v.message for v in (accuracy, count)]})
    total = 2 * len(ctx.part.compares)
    evidence = {"rows": rows, "source": _source(ctx), "k": k, "floor": floor, "params_relative": relative}
    score = points * agreed / total if total else 0.0
    if not wrong:
        return CheckResult("comparison_figures_agree", score, points, True,
                           f"{_source(ctx)}: every model's accuracy and parameters agree with the grader's ("
                           + "; ".join(said) + ")", evidence)
    return CheckResult("comparison_figures_agree", score, points, False,
                       f"{_source(ctx)}: " + "; ".join(wrong), evidence)


class _Verdict:
    def __init__(self, agrees: bool, verifiable: bool, message: str) -> None:
        self.agrees, self.verifiable, self.message = agrees, verifiable, message


def _accuracy_agrees(peer: Peer, row: ModelRow | None, k: float, floor: float) -> _Verdict:
    figure = row.figures.get("accuracy") if row is not None else None
    if figure is None:
        return _Verdict(False, peer.recomputed.accuracy is not None, "the table gives no test accuracy")
    recomputed = peer.recomputed.accuracy
    if recomputed is None:
        return _Verdict(False, False, f"the table's accuracy {figure.text} cannot be checked: {_why_unmeasured(peer)}")
    n = len(peer.recomputed.predicted) if peer.recomputed.predicted is not None else None
    tolerance = Tolerance(recomputed, n, k, floor, figure.rounding)
    gap = figure.value - recomputed
    if abs(gap) <= tolerance.threshold:
        return _Verdict(True, True, f"accuracy {figure.text} agrees with the recomputed {recomputed:.4f} "
                                    f"(within {tolerance.threshold:.4f})")
    for scaling, alternative in peer.recomputed.alternatives.items():
        if abs(figure.value - alternative) <= Tolerance(alternative, n, k, floor, figure.rounding).threshold:
            return _Verdict(True, True, f"accuracy {figure.text} agrees with the accuracy recomputed on {scaling} "
                                        f"pixels, {alternative:.4f}")
    direction = "above" if gap > 0 else "below"
    return _Verdict(False, True, f"the table's accuracy {figure.text} is {abs(gap):.4f} {direction} the recomputed "
                                 f"{recomputed:.4f}, beyond the threshold {tolerance.threshold:.4f}")


def _params_agree(peer: Peer, row: ModelRow | None, figures: dict, relative: float) -> _Verdict:
    figure = None
    if row is not None:
        figure = row.figures.get("params") or row.figures.get("trainable")
    counts = {"total": figures.get("params"), "trainable": figures.get("trainable_params")}
    counts = {name: value for name, value in counts.items() if value is not None}
    if figure is None:
        return _Verdict(False, bool(counts), "the table gives no parameter count")
    if not counts:
        return _Verdict(False, False, f"the table's {figure.text} parameters cannot be checked: {_why_unmeasured(peer)}")
    name, value = min(counts.items(), key=lambda item: abs(figure.value - item[1]))    # the nearer count
    if abs(figure.value - value) <= max(relative * value, figure.rounding):
        return _Verdict(True, True, f"{figure.text} parameters agree with the model's {value:,} ({name})")
    total = counts.get("total", next(iter(counts.values())))
    share = (figure.value - total) / total if total else math.inf
    trainable = f", {counts['trainable']:,} trainable" if "trainable" in counts and "total" in counts else ""
    return _Verdict(False, True, f"the table's {figure.text} parameters ({figure.value:,.0f}) are not the model's "
                                 f"{total:,}{trainable} ({abs(share):.0%} {'more' if share > 0 else 'fewer'})")


# ------------------------------------------------------------------- ranking


@check("comparison_ranking")
def comparison_ranking(ctx: CheckContext, points: float, params: dict) -> CheckResult:
    """The models ranked by the table's accuracies are ranked so by the
    recomputed ones: no pair in the opposite order beyond k standard errors of
    their difference (closer pairs may be in either order)."""
    missing = _no_table(ctx, "comparison_ranking", points)
    if missing is not None:
        return missing
    k = float(params.get("k", 3.0))
    pairs = []
    for part_id in ctx.part.compares:
        row, peer = ctx.files.table.row(part_id), ctx.peers.get(part_id)
        figure = row.figures.get("accuracy") if row is not None else None
        if figure is not None and peer is not None and peer.recomputed.accuracy is not None:
            pairs.append((part_id, figure, peer.recomputed.accuracy, _se(peer)))
    rows = [{"part": part, "reported": round(figure.value, 6), "measured": round(recomputed, 4)}
            for part, figure, recomputed, _ in pairs]
    if len(pairs) < 2:
        return CheckResult("comparison_ranking", 0.0, points, False,
                           "not verifiable: fewer than two models have both an accuracy in the table and a "
                           "recomputed accuracy", {"rows": rows, "not_verifiable": True})
    inverted = []
    for i, (a, fa, ra, sa) in enumerate(pairs):
        for b, fb, rb, sb in pairs[i + 1:]:
            claimed = fa.value - fb.value
            if abs(claimed) <= fa.rounding + fb.rounding:
                continue     # the table calls them equal
            actual = ra - rb
            if math.copysign(1, claimed) != math.copysign(1, actual) and abs(actual) > k * math.hypot(sa, sb):
                high, low = (a, b) if claimed > 0 else (b, a)
                inverted.append(f"the table puts {high} above {low}, but the recomputed accuracies are "
                                f"{high} {dict((p, r) for p, _, r, _ in pairs)[high]:.4f} < {low} "
                                f"{dict((p, r) for p, _, r, _ in pairs)[low]:.4f}")
    table_order = " > ".join(p for p, *_ in sorted(pairs, key=lambda item: -item[1].value))
    measured_order = " > ".join(f"{p} {r:.4f}" for p, _, r, _ in sorted(pairs, key=lambda item: -item[2]))
    evidence = {"rows": rows, "table_order": table_order, "measured_order": measured_order, "k": k,
                "inverted": inverted}
    if inverted:
        return CheckResult("comparison_ranking", 0.0, points, False, "; ".join(inverted), evidence)
    return CheckResult("comparison_ranking", points, points, True,
                       f"the table ranks {table_order}; recomputed: {measured_order}: the same order "
                       f"(pairs within {k:g} standard errors count as ties)", evidence)


def _se(peer: Peer) -> float:
    accuracy = peer.recomputed.accuracy or 0.0
    n = len(peer.recomputed.predicted) if peer.recomputed.predicted is not None else 0
    return math.sqrt(accuracy * (1 - accuracy) / n) if n else 0.0


# ---------------------------------------------------------------- discussion


@check("discussion_names_models")
def discussion_names_models(ctx: CheckContext, points: float, params: dict) -> CheckResult:
    """A written discussion of at least min_words words that names each
    compared model: half the points for its length, half shared among the models it names."""
    minimum = int(params.get("min_words", DEFAULT_MIN_WORDS))
    discussion = ctx.files.discussion
    if discussion is None:
        where = (next((p.message for p in ctx.part_problems() if p.path == ctx.files.discussion_path), "")
                 if ctx.files.discussion_path else "")
        return CheckResult("discussion_names_models", 0.0, points, False,
                           where or f"no written discussion: compare the models' accuracy, parameters and time per "
                                    f"image in {ctx.part.canonical_path('discussion')}",
                           {"words": 0, "min_words": minimum, "named": {}})
    text = normalise(discussion.text)
    named = {part_id: any(re.search(pattern, text) for pattern in ctx.rubric.part(part_id).patterns)
             for part_id in ctx.part.compares}
    length_share = min(1.0, discussion.words / minimum) if minimum else 1.0
    named_share = sum(named.values()) / len(named) if named else 1.0
    score = points * (0.5 * length_share + 0.5 * named_share)
    where = ctx.files.discussion_path + (f" ({discussion.where})" if discussion.where else "")
    evidence = {"words": discussion.words, "min_words": minimum, "named": named, "source": where,
                "excerpt": discussion.text[:400]}
    gaps = []
    if discussion.words < minimum:
        gaps.append(f"{discussion.words} words, at least {minimum} asked for")
    unnamed = [part_id for part_id, yes in named.items() if not yes]
    if unnamed:
        gaps.append(f"it does not name {', '.join(unnamed)}")
    if not gaps:
        return CheckResult("discussion_names_models", score, points, True,
                           f"{where}: {discussion.words} words, naming {', '.join(named)}", evidence)
    return CheckResult("discussion_names_models", score, points, False, f"{where}: " + "; ".join(gaps), evidence)
