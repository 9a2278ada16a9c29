"""Checks of kind ``manual``: points the instructor gives by hand (the quality
of a written discussion), never a program.

Grading leaves them pending: score 0 of the rubric's points, with the state in
the result's evidence (``{"manual": "pending"}``), so the record, the report
and the spreadsheets can say so. ``grade --manual FILE.csv`` (grader/manual)
replaces a pending result with the given one (``given_result``), which a later
automatic regrade carries over.
"""

from __future__ import annotations

from typing import Any

from grader.records import CheckResult
from grader.rubric import CheckSpec

MANUAL = "manual"              # the evidence key that marks a manual check's result
PENDING, GIVEN = "pending", "given"


def manual_state(check: CheckResult) -> str | None:
    """"pending" or "given" for a manual check's result, None for an automatic one."""
    evidence = check.evidence if isinstance(check.evidence, dict) else {}
    state = evidence.get(MANUAL)
    return state if state in (PENDING, GIVEN) else None


def pending_result(spec: CheckSpec, note: str = "") -> CheckResult:
    """What grading records for a manual check: nothing given yet."""
    criteria = str(spec.params.get("criteria", "")).strip()
    message = f"Graded by hand by the instructor (up to {spec.points:g} points); not graded yet."
    if criteria:
        message += f" What is looked for: {criteria}"
    if note:
        message += f" {note}"
    return CheckResult(spec.id, 0.0, spec.points, False, message, {MANUAL: PENDING})


def given_result(check_id: str, max_points: float, points: float, comment: str, source: str,
                 given_at: str, archive_sha256: str | None) -> CheckResult:
    """The instructor's points and comment; ``source`` says where they came from ("manual.csv line 3")."""
    evidence: dict[str, Any] = {MANUAL: GIVEN, "comment": comment, "given_in": source, "given_at": given_at,
                                "archive_sha256": archive_sha256}
    message = f"Graded by hand by the instructor: {points:g} of {max_points:g} points."
    return CheckResult(check_id, round(float(points), 2), max_points, True, message, evidence)


def comment_of(check: CheckResult) -> str:
    """The instructor's comment on a given manual check ("" when none or pending)."""
    if manual_state(check) != GIVEN:
        return ""
    return str(check.evidence.get("comment") or "")
