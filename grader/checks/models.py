"""Checks that need the sandbox's re-run of the student's model."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from grader.architecture import DETECTORS, GraphError, LayerGraph, Verdict, graph_from_plain, run_detector
from grader.architecture.graph import graph_from_layer_kinds
from grader.checks.registry import CheckContext, check
from grader.evaluate import SCALING_WORDS
from grader.records import CheckResult


def _not_verifiable(check_id: str, points: float, why: str) -> CheckResult:
    return CheckResult(check_id, 0.0, points, False, f"not verifiable: {why}", {"not_verifiable": True})


def _no_recomputed_accuracy(ctx: CheckContext) -> str:
    if ctx.files.model is None:
        return f"no saved model for {ctx.part.id}"
    if ctx.evaluation is None:
        return ctx.recomputed.reason or ctx.not_run
    if not ctx.evaluation.ok:
        return "the model did not run in the sandbox (see model_loads for why)"
    return ctx.recomputed.reason or "the model produced no predictions"


@check("model_loads")
def model_loads(ctx: CheckContext, points: float, params: dict) -> CheckResult:
    """The model loads in the sandbox and maps the test images to the classes."""
    model = ctx.files.model
    if model is None:
        return CheckResult("model_loads", 0.0, points, False,
                           f"no saved model found; save it as {ctx.part.canonical_path('model')}")
    shape_problems = ctx.part_problems("wrong-input-shape", "wrong-output-size")
    if ctx.evaluation is None:
        return _not_verifiable("model_loads", points, ctx.not_run)
    evidence = {"path": model.path, "loader": ctx.evaluation.loader,
                "architecture": {k: v for k, v in ctx.evaluation.architecture.items()
                                 if k in ("input_shape", "output_shape", "params", "layer_types")}}
    if not ctx.evaluation.ok:
        why = ctx.evaluation.message.removeprefix(f"{ctx.part.id}: ")
        return CheckResult("model_loads", 0.0, points, False, f"{model.path}: {why}", evidence)
    if shape_problems:
        return CheckResult("model_loads", points / 2, points, False,
                           "loads, but " + "; ".join(p.message for p in shape_problems), evidence)
    # An ok model without probabilities ran on the probe batch only (the test set is missing).
    on_probe = "" if ctx.evaluation.probabilities is not None else \
        " (checked on generated images: the instructor's test set is missing)"
    return CheckResult("model_loads", points, points, True,
                       f"{model.path} loads ({ctx.evaluation.loader}) and predicts {ctx.dataset.num_classes} classes"
                       + on_probe, evidence)


@check("accuracy_vs_baseline", depends_on_training=True)
def accuracy_vs_baseline(ctx: CheckContext, points: float, params: dict) -> CheckResult:
    """Recomputed test accuracy: full credit at the baseline's full_credit_at,
    none at zero_credit_at, a straight line between."""
    baseline = ctx.baseline
    if baseline is None:
        return _not_verifiable("accuracy_vs_baseline", points,
                               f"the baselines file has no entry for {ctx.part.id}; run `grade reference baselines`")
    rec = ctx.recomputed
    accuracy, scaling_note = rec.accuracy, ""
    if accuracy is None:
        return _not_verifiable("accuracy_vs_baseline", points, _no_recomputed_accuracy(ctx))
    better = {s: a for s, a in rec.alternatives.items() if a - accuracy >= params.get("scaling_gap", 0.2)}
    if better and params.get("credit_alternative_scaling", True):
        scaling, accuracy = max(better.items(), key=lambda item: item[1])
        scaling_note = (f" The model does far better on {scaling} pixels ({accuracy:.4f}) than on the "
                        f"{rec.scaling} scaling the assignment uses ({rec.accuracy:.4f}); graded on {scaling}. "
                        f"Scale inputs the way the book does (x / 255) before training and predicting.")
    full, zero = baseline.full_credit_at, baseline.zero_credit_at
    if accuracy >= full:
        fraction = 1.0
    elif accuracy <= zero:
        fraction = 0.0
    else:
        fraction = (accuracy - zero) / (full - zero)
    evidence = {"recomputed_accuracy": round(accuracy, 4), "baseline_accuracy": baseline.accuracy,
                "full_credit_at": full, "zero_credit_at": zero, "baseline_provenance": baseline.provenance,
                "scaling": rec.scaling, "alternative_accuracy": {k: round(v, 4) for k, v in rec.alternatives.items()}}
    message = (f"test accuracy {accuracy:.4f} (reference {baseline.accuracy:.3f}; full credit from {full:.3f}, "
               f"none below {zero:.3f})" + scaling_note)
    return CheckResult("accuracy_vs_baseline", points * fraction, points, fraction >= 1.0, message, evidence)


# reported_metrics_match's defaults; rubrics/assignment06.toml says why these.
DEFAULT_K = 3.0           # standard errors of the recomputed accuracy
DEFAULT_FLOOR = 0.002     # the least difference ever flagged, as a fraction
# A figure written with fewer decimals (1.0, 0.9) gets no rounding allowance:
# json writes an exact 1.0 as "1.0", and a claim of perfect accuracy must not
# pass against a recomputed 0.993 as if it were rounded.
MIN_ROUNDED_DECIMALS = 2


@dataclass
class Reported:
    """The test accuracy the student reported, and where the grader read it."""

    accuracy: float
    source: str               # "results/6.1/metrics.json", or "from the notebook's output (...)"
    decimals: int | None      # decimal places it was written with, as a fraction; None when unknown


@dataclass
class Tolerance:
    """How far a reported accuracy may be from a recomputed one: the binomial
    standard error of the recomputed accuracy on n test images, times k, never
    less than the floor, plus half a unit in the last decimal the student wrote."""

    recomputed: float
    n: int | None
    k: float
    floor: float
    rounding: float

    @property
    def standard_error(self) -> float | None:
        if not self.n:
            return None
        p = min(1.0, max(0.0, self.recomputed))
        return math.sqrt(p * (1.0 - p) / self.n)

    @property
    def threshold(self) -> float:
        return max(self.floor, self.k * (self.standard_error or 0.0)) + self.rounding

    def formula(self) -> str:
        """``max(floor 0.0020, 3 × se 0.00094) + rounding 0.0005 = 0.0033``, with se's own terms."""
        se = self.standard_error
        if se is None:
            return (f"floor {self.floor:.4f} + rounding {self.rounding:.4f} = {self.threshold:.4f} "
                    "(test-set size unknown)")
        return (f"max(floor {self.floor:.4f}, {self.k:g} × se {se:.5f}) + rounding {self.rounding:.4f} = "
                f"{self.threshold:.4f}, where se = √(p(1−p)/n) with p = {self.recomputed:.4f}, n = {self.n:,}")


def reported_figure(ctx: CheckContext) -> Reported | None:
    """The part's reported test accuracy: its metrics file's, else the one a notebook's output shows."""
    metrics = ctx.files.metrics
    if metrics is None or metrics.test_accuracy is None:
        return None
    figure = ctx.files.notebook_figure
    if figure is not None:   # the notebook reader has made it a fraction and counted its decimals
        source = f"from the notebook's output ({ctx.files.notebook_figure_path}, {figure.where}: \"{figure.text}\")"
        return Reported(float(metrics.test_accuracy), source, figure.decimals)
    raw = float(metrics.test_accuracy)
    percent = raw > 1.0   # "99.1%" written as 99.1
    decimals = _decimals(raw)
    return Reported(raw / 100.0 if percent else raw, ctx.files.metrics_path or "the metrics file",
                    None if decimals is None else decimals + (2 if percent else 0))


def reported_accuracy(ctx: CheckContext) -> float | None:
    figure = reported_figure(ctx)
    return None if figure is None else figure.accuracy


def _decimals(value: float) -> int | None:
    """Decimal places of a number as written (0.991 -> 3); float noise from a division is ignored."""
    text = f"{value:.12g}"
    if "e" in text:
        return None
    return len(text.split(".")[1]) if "." in text else 0


def _rounding(decimals: int | None) -> float:
    """Half a unit in the last decimal written: "0.99" stands for 0.985 to 0.995."""
    return 0.0 if decimals is None or decimals < MIN_ROUNDED_DECIMALS else 0.5 * 10.0 ** -decimals


def _test_size(ctx: CheckContext) -> int | None:
    predicted = ctx.recomputed.predicted
    return len(predicted) if predicted is not None else (ctx.dataset.test_size or None)


def _alternative_test_size(ctx: CheckContext, scaling: str) -> int | None:
    """The sandbox runs the alternative scalings on the first images only: their own n."""
    evaluation = ctx.evaluation
    alternative = evaluation.alternative_probabilities.get(scaling) if evaluation is not None else None
    return len(alternative) if alternative is not None else _test_size(ctx)


def _matching_scaling(ctx: CheckContext, reported: Reported, k: float, floor: float,
                      rounding: float) -> tuple[str, float, Tolerance] | None:
    """An alternative scaling whose recomputed accuracy the reported figure matches (the closest)."""
    matches = []
    for scaling, accuracy in ctx.recomputed.alternatives.items():
        tolerance = Tolerance(accuracy, _alternative_test_size(ctx, scaling), k, floor, rounding)
        if abs(reported.accuracy - accuracy) <= tolerance.threshold:
            matches.append((abs(reported.accuracy - accuracy), scaling, accuracy, tolerance))
    if not matches:
        return None
    _, scaling, accuracy, tolerance = min(matches)
    return scaling, accuracy, tolerance


@check("reported_metrics_match")
def reported_metrics_match(ctx: CheckContext, points: float, params: dict) -> CheckResult:
    """The student's reported test accuracy agrees with the recomputed one within
    k binomial standard errors of the test set (never less than the floor)."""
    k = float(params.get("k", DEFAULT_K))
    floor = float(params.get("floor", DEFAULT_FLOOR))
    reported = reported_figure(ctx)
    if reported is None:
        where = ctx.files.metrics_path or "no metrics file, and no test accuracy in a notebook's saved output"
        return CheckResult("reported_metrics_match", 0.0, points, False,
                           f"no reported test accuracy ({where}); write {ctx.part.canonical_path('metrics')} "
                           "with \"test_accuracy\"")
    recomputed = ctx.recomputed.accuracy
    if recomputed is None:
        return _not_verifiable("reported_metrics_match", points, _no_recomputed_accuracy(ctx))
    rounding = _rounding(reported.decimals)
    tolerance = Tolerance(recomputed, _test_size(ctx), k, floor, rounding)
    gap = reported.accuracy - recomputed
    evidence = _tolerance_evidence(reported, tolerance, gap, ctx.recomputed.scaling)
    said = (f"reported {reported.accuracy:.4f} ({reported.source}), recomputed {recomputed:.4f} on "
            f"{_images(tolerance.n)}")
    if abs(gap) <= tolerance.threshold:
        evidence["verdict"] = "consistent"
        return CheckResult("reported_metrics_match", points, points, True,
                           f"{said}: {abs(gap):.4f} apart, within the threshold {tolerance.threshold:.4f}", evidence)
    match = _matching_scaling(ctx, reported, k, floor, rounding)
    if match is not None:
        scaling, accuracy, alt = match
        words = SCALING_WORDS.get(scaling, scaling)
        evidence.update(verdict=f"consistent with {words}", matched_scaling=scaling,
                        matched_accuracy=round(accuracy, 4), matched_n=alt.n, matched_threshold=round(alt.threshold, 4))
        evidence["computation"] += (f"; on {words}: |{reported.accuracy:.4f} − {accuracy:.4f}| = "
                                    f"{abs(reported.accuracy - accuracy):.4f} ≤ {alt.formula()}")
        graded_on = SCALING_WORDS.get(_scaling_used(ctx), _scaling_used(ctx))
        message = (f"{said}; it matches the accuracy recomputed on {words}, {accuracy:.4f} (within "
                   f"{alt.threshold:.4f} on {_images(alt.n)}): consistent, the figure was measured on {words} "
                   f"rather than on {graded_on}")
        return CheckResult("reported_metrics_match", points, points, True, message, evidence)
    evidence["integrity_flag"] = gap > 0
    direction = "higher" if gap > 0 else "lower"
    spread = f" ({abs(gap) / tolerance.standard_error:.1f} standard errors)" if tolerance.standard_error else ""
    message = (f"reported {reported.accuracy:.4f} ({reported.source}) is {abs(gap):.4f} {direction} than the "
               f"recomputed {recomputed:.4f} on {_images(tolerance.n)}{spread}, beyond the threshold "
               f"{tolerance.threshold:.4f}")
    if gap > 0:
        evidence["verdict"] = "flagged: higher than recomputed"
        message += "; flagged for the instructor as a possible integrity issue (or a different model was saved)"
    else:
        evidence["verdict"] = "lower than recomputed (not an integrity concern)"
    return CheckResult("reported_metrics_match", 0.0, points, False, message, evidence)


def _scaling_used(ctx: CheckContext) -> str:
    return ctx.recomputed.scaling or ctx.dataset.scaling


def _images(n: int | None) -> str:
    return f"{n:,} test images" if n else "the test set"


def _tolerance_evidence(reported: Reported, tolerance: Tolerance, gap: float, scaling: str | None) -> dict:
    """The whole computation, for the report: every term and how they combine."""
    se = tolerance.standard_error
    relation = "≤" if abs(gap) <= tolerance.threshold else ">"
    return {
        "reported_accuracy": round(reported.accuracy, 4),
        "reported_source": reported.source,
        "recomputed_accuracy": round(tolerance.recomputed, 4),
        "scaling": scaling,
        "n": tolerance.n,
        "standard_error": None if se is None else round(se, 5),
        "k": tolerance.k,
        "floor": tolerance.floor,
        "rounding": round(tolerance.rounding, 6),
        "threshold": round(tolerance.threshold, 4),
        "difference": round(gap, 4),
        "standard_errors": None if not se else round(abs(gap) / se, 1),
        "computation": (f"|{reported.accuracy:.4f} − {tolerance.recomputed:.4f}| = {abs(gap):.4f} {relation} "
                        f"{tolerance.formula()}"),
    }


@check("predictions_match_model")
def predictions_match_model(ctx: CheckContext, points: float, params: dict) -> CheckResult:
    """The submitted predictions are what the submitted model predicts."""
    minimum = float(params.get("min_agreement", 0.95))
    submitted = ctx.files.predictions
    if submitted is None or submitted.labels is None:
        return CheckResult("predictions_match_model", 0.0, points, False,
                           f"no readable predictions file; save model.predict(x_test) as "
                           f"{ctx.part.canonical_path('predictions')}")
    predicted = ctx.recomputed.predicted
    if predicted is None:
        return _not_verifiable("predictions_match_model", points, _no_recomputed_accuracy(ctx))
    if len(submitted.labels) != len(predicted):
        return CheckResult("predictions_match_model", 0.0, points, False,
                           f"{ctx.files.predictions_path} has {len(submitted.labels):,} rows; the test set has "
                           f"{len(predicted):,}", {"rows": len(submitted.labels), "expected_rows": len(predicted)})
    agree = _agreement(submitted.labels, predicted)
    evidence = {"agreement": round(agree, 4), "min_agreement": minimum, "file": ctx.files.predictions_path}
    message = f"{agree:.1%} of the submitted predictions match the model's own"
    if agree >= minimum:
        return CheckResult("predictions_match_model", points, points, True, message, evidence)
    message += f" (at least {minimum:.0%} expected)"
    best = _best_alternative_agreement(ctx, submitted.labels)
    if best is None or best[1] <= agree:
        message += ": were they made by a different model, or shuffled?"
        return CheckResult("predictions_match_model", 0.0, points, False, message, evidence)
    # Predicted by this very model on other pixels (a notebook that skipped x / 255),
    # as reported_metrics_match allows for the reported figure.
    scaling, alt_agree, rows = best
    words = SCALING_WORDS.get(scaling, scaling)
    evidence.update(matched_scaling=scaling, matched_agreement=round(alt_agree, 4), matched_n=rows)
    said = f"{message}; {alt_agree:.1%} of the first {rows:,} match its predictions on {words}"
    if alt_agree >= minimum:
        graded_on = SCALING_WORDS.get(_scaling_used(ctx), _scaling_used(ctx))
        return CheckResult("predictions_match_model", points, points, True,
                           f"{said}: consistent, they were made by this model on {words} rather than on {graded_on}",
                           evidence)
    return CheckResult("predictions_match_model", 0.0, points, False,
                       f"{said}, closer but still short of {minimum:.0%}", evidence)


def _agreement(labels, predicted) -> float:
    """The share of rows where the submitted class is the model's (over the shorter of the two)."""
    return sum(int(a == b) for a, b in zip(labels, predicted.tolist())) / len(predicted)


def _best_alternative_agreement(ctx: CheckContext, labels) -> tuple[str, float, int] | None:
    """(scaling, agreement, rows) for the alternative scaling whose predictions, on the
    first images the sandbox ran it on, agree best with the submitted ones."""
    evaluation = ctx.evaluation
    best = None
    for scaling, probabilities in (evaluation.alternative_probabilities if evaluation is not None else {}).items():
        alternative = np.asarray(probabilities)
        if alternative.ndim != 2 or not 0 < len(alternative) <= len(labels):
            continue
        agree = _agreement(labels[: len(alternative)], alternative.argmax(axis=1))
        if best is None or agree > best[1]:
            best = (scaling, agree, len(alternative))
    return best


@check("architecture_matches")
def architecture_matches(ctx: CheckContext, points: float, params: dict) -> CheckResult:
    """The architecture detectors the part declares (grader/architecture):
    dropout and data augmentation present or absent (augmentation also from an
    ImageDataGenerator in the notebook or script), residual blocks, Inception
    modules, a plain stack, a keras.applications network used whole. Each
    rule's verdict comes with the layers that form each block."""
    wanted = ctx.part.architecture
    rules = wanted.declared()
    if ctx.files.model is None:
        return CheckResult("architecture_matches", 0.0, points, False, "no saved model to inspect")
    if not rules:
        return CheckResult("architecture_matches", points, points, True, "no architecture rule for this part")
    graphs = _layer_graphs(ctx)
    flags = ctx.files.source_flags
    in_code_aug = bool(flags.get("image_data_generator") or flags.get("augmentation_layers"))
    found = _layer_flags(ctx, in_code_aug)
    verdicts: dict[str, dict] = {}
    said, fixes, earned = [], [], 0.0
    for rule in rules:
        verdict, second = _verdicts(rule, graphs)
        if verdict is not None:
            verdicts[rule.id] = {**verdict.to_dict(), "graph": graphs[0].source}
            if second is not None:
                verdicts[rule.id][f"{graphs[1].source}_agrees"] = _agree(verdict, second)
                verdicts[rule.id][f"{graphs[1].source}_summary"] = second.summary
        if rule.id in found:     # the short form: today's flags decide, the graph gives the layers
            present, verifiable = found[rule.id], True
            said.append(f"{rule.id} {'present' if present else 'absent'}")
        else:
            present, verifiable = (verdict.found, verdict.verifiable) if verdict else (False, False)
            found[rule.id] = present
            said.append(_said(rule.id, verdict, second, graphs))
        if verifiable and present == rule.expect:
            earned += rule.weight
        else:
            fixes.append(_fix(rule, present, verifiable))
    total = sum(rule.weight for rule in rules)
    score = points * earned / total
    evidence = {"found": found, "required": {rule.id: rule.expect for rule in rules},
                "augmentation_in_code": in_code_aug, "sources": ctx.files.sources}
    if verdicts:
        evidence["detectors"] = verdicts
    if not fixes:
        return CheckResult("architecture_matches", score, points, True, ", ".join(said) + " as required", evidence)
    return CheckResult("architecture_matches", score, points, False,
                       ", ".join(said) + f"; {ctx.part.id}: " + "; ".join(fixes), evidence)


def _layer_flags(ctx: CheckContext, in_code_aug: bool) -> dict[str, bool]:
    """Dropout and augmentation as the reader and the sandbox report them (the loaded model wins)."""
    arch = dict(ctx.files.architecture)
    if ctx.evaluation is not None and ctx.evaluation.ok:
        arch.update({k: v for k, v in ctx.evaluation.architecture.items() if k.startswith("has_")})
    return {
        "dropout": bool(arch.get("has_dropout")),
        "augmentation": bool(arch.get("has_augmentation")) or (ctx.part.architecture.augmentation is True
                                                                 and in_code_aug),
    }


def _layer_graphs(ctx: CheckContext) -> list[LayerGraph]:
    """The model's layer graphs, best first: the config's as the host read it
    (the names the student gave), then the loaded model's as the sandbox traced
    it (its confirmation, and the only view of a subclassed model saved without
    a config), else (no edges) only the layer kinds. Both are validated again:
    they came from a student's file."""
    graphs = []
    sandboxed = ctx.evaluation.layer_graph if ctx.evaluation is not None and ctx.evaluation.ok else None
    meta = ctx.files.model_meta
    for plain, source in ((meta.layer_graph if meta is not None else None, "config"), (sandboxed, "sandbox")):
        if plain is None:
            continue
        try:
            graphs.append(graph_from_plain(plain, source=source))
        except (GraphError, RecursionError):
            continue
    if not graphs and meta is not None and meta.layer_types:
        graphs.append(graph_from_layer_kinds(meta.layer_types))
    return graphs


def _verdicts(rule, graphs: list[LayerGraph]) -> tuple[Verdict | None, Verdict | None]:
    """The rule's verdict on the best graph, and on the second (None: no second graph)."""
    if not graphs:
        return None, None
    verdict = run_detector(rule.id, graphs[0], rule.params)
    second = run_detector(rule.id, graphs[1], rule.params) if len(graphs) > 1 else None
    return verdict, second


def _agree(first: Verdict, second: Verdict) -> bool:
    return (first.found, first.count) == (second.found, second.count)


def _said(detector_id: str, verdict: Verdict | None, second: Verdict | None, graphs: list[LayerGraph]) -> str:
    """The verdict in words; a sandbox trace that finds otherwise is said too."""
    if verdict is None:
        return f"{detector_id}: the saved model does not show its layers (a subclassed model saved without a config?)"
    if second is None or _agree(verdict, second) or not second.verifiable:
        return verdict.summary
    return f"{verdict.summary} (but the {graphs[1].source}'s trace of the loaded model finds: {second.summary})"


def _fix(rule, present: bool, verifiable: bool) -> str:
    if rule.id in ("dropout", "augmentation"):
        return f"{rule.id} must be {'used' if rule.expect else 'left out'}"
    what = DETECTORS[rule.id].wanted(rule.params) if rule.id in DETECTORS else rule.id
    if not verifiable:
        return (f"could not check that the model does {what}: build it with the functional API or Sequential "
                "and save it with model.save('model.keras'), so its layers can be read")
    if rule.expect:
        return f"the model must {what}"
    return f"the model must not {what}" + (": build the network yourself" if rule.id == "application" else "")
