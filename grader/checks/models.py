"""Checks that need the sandbox's re-run of the student's model."""

from __future__ import annotations

from grader.checks.registry import CheckContext, check
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


@check("accuracy_vs_baseline")
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


def reported_accuracy(ctx: CheckContext) -> float | None:
    metrics = ctx.files.metrics
    if metrics is None or metrics.test_accuracy is None:
        return None
    value = float(metrics.test_accuracy)
    return value / 100.0 if value > 1.0 else value   # "99.1%" written as 99.1


@check("reported_metrics_match")
def reported_metrics_match(ctx: CheckContext, points: float, params: dict) -> CheckResult:
    """The student's reported test accuracy is within tolerance of the re-run."""
    tolerance = float(params.get("tolerance", 0.02))
    reported = reported_accuracy(ctx)
    if reported is None:
        where = ctx.files.metrics_path or "no metrics file"
        return CheckResult("reported_metrics_match", 0.0, points, False,
                           f"no reported test accuracy ({where}); write {ctx.part.canonical_path('metrics')} "
                           "with \"test_accuracy\"")
    recomputed = ctx.recomputed.accuracy
    if recomputed is None:
        return _not_verifiable("reported_metrics_match", points, _no_recomputed_accuracy(ctx))
    gap = reported - recomputed
    evidence = {"reported_accuracy": round(reported, 4), "recomputed_accuracy": round(recomputed, 4),
                "difference": round(gap, 4), "tolerance": tolerance, "metrics_file": ctx.files.metrics_path}
    if abs(gap) <= tolerance:
        return CheckResult("reported_metrics_match", points, points, True,
                           f"reported {reported:.4f}, recomputed {recomputed:.4f}: within {tolerance}", evidence)
    evidence["integrity_flag"] = gap > 0
    direction = "higher" if gap > 0 else "lower"
    message = (f"reported {reported:.4f} is {abs(gap):.4f} {direction} than the recomputed {recomputed:.4f} "
               f"(tolerance {tolerance})")
    if gap > 0:
        message += "; flagged for the instructor as a possible integrity issue (or a different model was saved)"
    return CheckResult("reported_metrics_match", 0.0, points, False, message, evidence)


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
    agree = sum(int(a == b) for a, b in zip(submitted.labels, predicted.tolist())) / len(predicted)
    evidence = {"agreement": round(agree, 4), "min_agreement": minimum, "file": ctx.files.predictions_path}
    passed = agree >= minimum
    message = f"{agree:.1%} of the submitted predictions match the model's own"
    if not passed:
        message += f" (at least {minimum:.0%} expected): were they made by a different model, or shuffled?"
    return CheckResult("predictions_match_model", points if passed else 0.0, points, passed, message, evidence)


@check("architecture_matches")
def architecture_matches(ctx: CheckContext, points: float, params: dict) -> CheckResult:
    """Dropout and data augmentation present or absent as the part asks,
    in the model or, for ImageDataGenerator, in the notebook or script."""
    wanted = ctx.part.architecture
    arch = dict(ctx.files.architecture)
    if ctx.evaluation is not None and ctx.evaluation.ok:
        arch.update({k: v for k, v in ctx.evaluation.architecture.items() if k.startswith("has_")})
    if ctx.files.model is None:
        return CheckResult("architecture_matches", 0.0, points, False, "no saved model to inspect")
    flags = ctx.files.source_flags
    in_code_aug = bool(flags.get("image_data_generator") or flags.get("augmentation_layers"))
    found = {
        "dropout": bool(arch.get("has_dropout")),
        "augmentation": bool(arch.get("has_augmentation")) or (wanted.augmentation is True and in_code_aug),
    }
    rules = {name: value for name, value in (("dropout", wanted.dropout), ("augmentation", wanted.augmentation))
             if value is not None}
    if not rules:
        return CheckResult("architecture_matches", points, points, True, "no architecture rule for this part")
    wrong = [name for name, value in rules.items() if found[name] != value]
    score = points * (len(rules) - len(wrong)) / len(rules)
    said = [f"{name} {'present' if found[name] else 'absent'}" for name in rules]
    evidence = {"found": found, "required": rules, "augmentation_in_code": in_code_aug,
                "sources": ctx.files.sources}
    if not wrong:
        return CheckResult("architecture_matches", score, points, True, ", ".join(said) + " as required", evidence)
    fixes = [f"{name} must be {'used' if rules[name] else 'left out'}" for name in wrong]
    return CheckResult("architecture_matches", score, points, False,
                       ", ".join(said) + f"; {ctx.part.id}: " + "; ".join(fixes), evidence)
