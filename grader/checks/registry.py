"""Checks are small named functions; the rubric chooses and weights them.

    @check("plots_valid")
    def plots_valid(ctx: CheckContext, points: float, params: dict) -> CheckResult: ...

A check never raises for bad student input: it returns a result that says
what was wrong. The registry turns an unexpected exception into a zero with
the error named, so one broken check cannot stop a batch.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np

from grader.checks.manual import pending_result
from grader.discover.contents import Contents, PartFiles
from grader.records import CheckResult, ImagenetEvaluation, Layout, ModelEvaluation, Problem
from grader.rubric import Baseline, CheckSpec, Dataset, Part, Rubric


@dataclass
class Recomputed:
    """What the grader measured itself from the sandbox's probabilities."""

    accuracy: float | None = None
    loss: float | None = None
    predicted: np.ndarray | None = None         # class index per test image
    confusion: list[list[int]] | None = None
    scaling: str | None = None                  # the scaling these figures are for
    alternatives: dict[str, float] = field(default_factory=dict)  # scaling -> accuracy
    reason: str = ""                            # why accuracy is None

    def to_dict(self) -> dict[str, Any]:
        return {
            "accuracy": _round(self.accuracy),
            "loss": _round(self.loss),
            "scaling": self.scaling,
            "alternative_accuracy": {k: _round(v) for k, v in self.alternatives.items()},
            "reason": self.reason or None,
        }


def _round(value: float | None) -> float | None:
    return None if value is None else round(float(value), 4)


@dataclass
class Peer:
    """Another part's files and results, for a check that compares parts
    (grader/checks/comparison.py): what its own checks see."""

    part: Part
    files: PartFiles
    evaluation: ModelEvaluation | None
    recomputed: Recomputed


@dataclass
class CheckContext:
    rubric: Rubric
    part: Part
    dataset: Dataset
    files: PartFiles
    contents: Contents
    layout: Layout
    problems: list[Problem]                      # every problem found so far
    evaluation: ModelEvaluation | None = None    # None when nothing ran in a sandbox
    imagenet: ImagenetEvaluation | None = None
    recomputed: Recomputed = field(default_factory=Recomputed)
    baseline: Baseline | None = None
    # Why the sandbox results are absent, in words ("grade check runs no model").
    not_run: str = "the models were not run"
    # The notebook re-run's evidence for this part (grader.rerun.rerun_evidence),
    # None when the notebooks were not re-run.
    rerun: dict[str, Any] | None = None
    # Every part of the rubric by id (this one too), for a part that compares others.
    peers: dict[str, Peer] = field(default_factory=dict)

    def part_problems(self, *codes: str) -> list[Problem]:
        return [p for p in self.problems if p.part == self.part.id and (not codes or p.code in codes)]


CheckFn = Callable[[CheckContext, float, dict], CheckResult]
CHECKS: dict[str, CheckFn] = {}
# Checks whose verdict depends on how long the model trained (a figure against a
# baseline's thresholds): a smoke test of the reference solutions, `grade
# reference verify --quick`, trains briefly and does not judge them.
TRAINING_DEPENDENT: set[str] = set()


def check(check_id: str, *, depends_on_training: bool = False) -> Callable[[CheckFn], CheckFn]:
    def register(fn: CheckFn) -> CheckFn:
        if check_id in CHECKS:
            raise ValueError(f"check {check_id!r} registered twice")
        CHECKS[check_id] = fn
        if depends_on_training:
            TRAINING_DEPENDENT.add(check_id)
        return fn

    return register


def depends_on_training(spec: CheckSpec) -> bool:
    """Whether a rubric's check is judged only after full training (manual checks never are: they wait)."""
    return spec.kind != "manual" and spec.id in TRAINING_DEPENDENT


def run_check(spec: CheckSpec, ctx: CheckContext) -> CheckResult:
    if spec.kind == "manual":
        return pending_result(spec)   # the instructor's points, merged later (grader/manual)
    fn = CHECKS.get(spec.id)
    if fn is None:
        known = ", ".join(sorted(CHECKS))
        return CheckResult(spec.id, 0.0, spec.points, False,
                           f"the rubric names check {spec.id!r}, which does not exist (known: {known})")
    try:
        result = fn(ctx, spec.points, dict(spec.params))
    except Exception as exc:  # noqa: BLE001 - a grader bug must not stop the batch
        return CheckResult(spec.id, 0.0, spec.points, False,
                           f"the grader failed while running this check ({type(exc).__name__}: {exc}); "
                           "tell the instructor", {"internal_error": True})
    result.score = max(0.0, min(spec.points, result.score))
    return result


def unknown_checks(rubric: Rubric) -> list[str]:
    """Check ids the rubric names that no function implements (manual checks need none)."""
    return sorted({c.id for p in rubric.parts for c in p.checks if c.kind != "manual"} - set(CHECKS))
