"""Does the re-run reproduce what the student reported?

The rule, per part (``judge``):

- no reported test accuracy, or the re-run could not say (the sandbox was
  unavailable, or stopped at a time limit the instructor chose): *not
  verifiable*;
- a ``fit`` call was capped by ``--max-epochs`` (N -> M epochs): *not
  comparable*; a shorter training is expected to score lower, so no verdict;
- the sources ran but produced no test accuracy (no metrics file written, none
  printed): *not reproduced*;
- reported - re-run > tolerance: *not reproduced*, flagged for the instructor
  (the reported figure is higher than the code yields);
- otherwise (within tolerance, or the re-run does better): *reproduced*.

The tolerance comes from the rubric's check params. It is a fixed figure, not
``reported_metrics_match``'s binomial rule: that rule judges one model scored
twice on the same images, where only counting noise separates the figures; a
re-run trains a new model, and seeds, thread scheduling and library versions
move a retrained net's accuracy by far more than the binomial standard error
(tenths of a point on MNIST, a point or two on CIFAR-10).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from grader.records import CheckResult
from grader.rerun.records import PartRerun, RerunResult

CHECK_ID = "rerun_reproduces"
DEFAULT_TOLERANCE = 0.02


@dataclass
class Verdict:
    outcome: str          # reproduced | not-reproduced | not-comparable | not-verifiable
    message: str
    flagged: bool = False

    @property
    def passed(self) -> bool:
        return self.outcome == "reproduced"


def rerun_evidence(rerun: RerunResult, part_id: str) -> dict[str, Any]:
    """What the ``rerun_reproduces`` check needs about one part, as plain data
    (attach it to the part's CheckContext; see grader/rerun/check.py)."""
    part = rerun.parts.get(part_id) or PartRerun(part=part_id)
    sources = [s for s in rerun.sources if s.path in part.sources]
    return {
        "status": rerun.status,
        "backend": rerun.backend,
        "message": rerun.message,
        "max_epochs": rerun.max_epochs,
        "rerun_accuracy": part.rerun_accuracy,
        "accuracy_source": part.accuracy_source,
        "epochs_capped": [list(pair) for pair in part.epochs_capped],
        "epochs": [list(pair) for pair in part.epochs],
        "runtime": rerun.runtime,
        "runtime_reason": rerun.runtime_choice.get("reason", ""),
        "runtime_fallback": rerun.runtime_choice.get("fallback", ""),
        "saved_output_accuracy": part.saved_output_accuracy,
        "sources": [
            {"path": s.path, "status": s.status, "message": s.message, "cells_run": s.cells_run,
             "cells_total": s.cells_total, "failed_cells": [f.cell for f in s.failures],
             "errors": [_failure_line(f) for f in s.failures[:5]],
             "causes": [f.cause for f in s.failures],
             "compat": list(s.compat),
             "html": s.html, "path_rewrites": len(s.path_rewrites)}
            for s in sources
        ],
        "produced": list(part.produced),
    }


def _failure_line(failure) -> str:
    """'cell N: Error: what it said (why)', the why alone where it repeats what it said."""
    said = f"cell {failure.cell}: {failure.ename}: "
    gist = re.sub(r"^\[Errno \d+\]\s*", "", failure.evalue)[:60]
    if failure.explanation and gist and gist in failure.explanation:
        return said + failure.explanation
    return said + failure.evalue + (f" ({failure.explanation})" if failure.explanation else "")


def judge(evidence: dict[str, Any] | None, reported: float | None, tolerance: float) -> Verdict:
    """The verdict for one part; see the module's docstring for the rule. A
    metrics file's figure is the one judged; where the notebook's saved outputs
    print another, the message gives that too."""
    verdict = _judge(evidence, reported, tolerance)
    saved = (evidence or {}).get("saved_output_accuracy")
    if reported is not None and saved is not None and abs(saved - reported) >= 5e-5:
        verdict.message += f"; the notebook's saved outputs print {saved:.4f}"
    return verdict


def _judge(evidence: dict[str, Any] | None, reported: float | None, tolerance: float) -> Verdict:
    if evidence is None:
        return Verdict("not-verifiable", "the notebooks were not re-run (grade with --rerun)")
    if evidence.get("status") == "unavailable":
        return Verdict("not-verifiable", f"the re-run could not start: {evidence.get('message') or 'no sandbox'}")
    saved = evidence.get("saved_output_accuracy")
    if reported is None and saved is not None:
        reported = saved   # no metrics file: the accuracy the notebook's saved outputs print
    if reported is None:
        return Verdict("not-verifiable", "no reported test accuracy to compare with")
    sources = evidence.get("sources") or []
    if not sources:
        return Verdict("not-verifiable", "no notebook or script for this part was re-run")
    rerun = evidence.get("rerun_accuracy")
    capped = evidence.get("epochs_capped") or []
    if capped:
        shown = ", ".join(f"{asked} -> {ran}" for asked, ran in capped[:3])
        figure = f"re-run {rerun:.4f}, " if rerun is not None else ""
        return Verdict("not-comparable", f"not comparable (capped {shown} epochs): {figure}reported {reported:.4f}")
    if rerun is None:
        stopped = [s for s in sources if s["status"] == "timeout"]
        if stopped:
            return Verdict("not-verifiable", "the re-run stopped at a time limit before it produced a test "
                                             f"accuracy ({stopped[0]['path']}: {stopped[0]['message']})")
        broken = [f"{s['path']}: {s['status']}" + (f" ({s['errors'][0]})" if s["errors"] else "")
                  for s in sources if s["status"] != "ok"]
        why = "; ".join(broken) if broken else "it wrote no metrics file and printed no test accuracy"
        return Verdict("not-reproduced", f"the re-run produced no test accuracy to compare with {reported:.4f}: {why}")
    gap = reported - rerun
    where = f" ({evidence.get('accuracy_source')})" if evidence.get("accuracy_source") else ""
    if gap > tolerance:
        return Verdict("not-reproduced",
                       f"reported {reported:.4f} is {gap:.4f} higher than the re-run's {rerun:.4f}{where} "
                       f"(tolerance {tolerance}); flagged for the instructor", flagged=True)
    return Verdict("reproduced", f"re-run {rerun:.4f}{where}, reported {reported:.4f}: reproduced "
                                 f"(within {tolerance}, or better)")


def check_result(verdict: Verdict, points: float, evidence: dict[str, Any] | None, reported: float | None,
                 tolerance: float) -> CheckResult:
    details: dict[str, Any] = {"outcome": verdict.outcome, "reported_accuracy": reported, "tolerance": tolerance}
    if evidence is not None:
        details.update({k: evidence.get(k) for k in ("rerun_accuracy", "accuracy_source", "epochs_capped",
                                                      "max_epochs", "sources", "backend")})
    if verdict.flagged:
        details["integrity_flag"] = True
    if verdict.outcome in ("not-verifiable", "not-comparable"):
        details["not_verifiable"] = True
    return CheckResult(CHECK_ID, points if verdict.passed else 0.0, points, verdict.passed,
                       verdict.message, details)


def compare_rerun(rerun: RerunResult, reported: dict[str, float | None], max_epochs: int | None = None, *,
                  tolerance: float = DEFAULT_TOLERANCE, points: float = 0.0) -> list[CheckResult]:
    """Re-run accuracy against reported accuracy, one CheckResult per part in
    ``reported`` or in the re-run (evidence only: ``points`` is 0 unless given).
    ``max_epochs`` is the cap the re-run used (taken from ``rerun`` when None)."""
    if max_epochs is not None and rerun.max_epochs is None:
        rerun.max_epochs = max_epochs
    results = []
    for part_id in list(dict.fromkeys([*reported, *rerun.parts])):
        evidence = rerun_evidence(rerun, part_id)
        value = reported.get(part_id)
        verdict = judge(evidence, value, tolerance)
        result = check_result(verdict, points, evidence, value, tolerance)
        result.evidence["part"] = part_id
        results.append(result)
    return results
