"""The ``rerun_reproduces`` check: the part's notebook, re-run in the sandbox,
reproduces the test accuracy the student reported.

    [[parts.checks]]
    id = "rerun_reproduces"
    points = 4
    params = { tolerance = 0.02 }

The message also gives the third figure, what the model the student saved
scores on the held-out test set (the evaluate stage's recomputed accuracy).

The check is pure: it reads the re-run's evidence for the part, the dict
``grader.rerun.rerun_evidence(rerun, part_id)`` makes, from
``ctx.rerun`` (a field CheckContext does not have yet: until the pipeline sets
it, the check says the notebooks were not re-run). The reported accuracy is
the submission's metrics file, as for ``reported_metrics_match``. The rule is
in grader/rerun/compare.py.
"""

from __future__ import annotations

from grader.checks.models import reported_accuracy
from grader.checks.registry import CheckContext, check
from grader.records import CheckResult
from grader.rerun.compare import CHECK_ID, DEFAULT_TOLERANCE, check_result, judge


@check(CHECK_ID)
def rerun_reproduces(ctx: CheckContext, points: float, params: dict) -> CheckResult:
    tolerance = float(params.get("tolerance", DEFAULT_TOLERANCE))
    evidence = getattr(ctx, "rerun", None)
    reported = reported_accuracy(ctx)
    result = check_result(judge(evidence, reported, tolerance), points, evidence, reported, tolerance)
    # The third figure: what the model the student saved scores on the held-out test set.
    saved_model = getattr(getattr(ctx, "recomputed", None), "accuracy", None)
    if evidence is not None and saved_model is not None:
        result.evidence["saved_model_accuracy"] = saved_model
        result.message += f"; the saved model scores {saved_model:.4f} on the test set"
    return result
