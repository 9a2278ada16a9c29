"""A grade in Gradescope's autograder results format (results.json).

One Gradescope "test" per rubric check, named "<part> <check id>". All output
is declared as plain text, so Gradescope shows student-controlled strings
literally instead of rendering them.
"""

from __future__ import annotations

from typing import Any

from grader.records import Severity
from grader.report import formatting
from grader.score.records import SubmissionGrade

VISIBILITY = "visible"


def gradescope_results(grade: SubmissionGrade) -> dict[str, Any]:
    tests = [
        {
            "name": f"{part.id} {check.id}",
            "score": round(check.score, 2),
            "max_score": check.max_score,
            "status": "passed" if check.passed else "failed",
            "output": _check_output(check.message, check.evidence),
            "visibility": VISIBILITY,
        }
        for part in grade.parts.values()
        for check in part.checks
    ]
    return {
        "score": round(grade.score, 2),
        "output": _summary(grade),
        "output_format": "text",
        "test_output_format": "text",
        "test_name_format": "text",
        "visibility": VISIBILITY,
        "execution_time": round(grade.seconds, 2),
        "tests": tests,
    }


def _check_output(message: str, evidence: dict[str, Any]) -> str:
    lines = [message]
    lines += [f"  {formatting.humanize_key(key)}: {formatting.plain(value)}" for key, value in evidence.items()]
    return "\n".join(lines)


def _summary(grade: SubmissionGrade) -> str:
    lines = [
        f"{grade.archive}: {formatting.points(grade.score)} / {formatting.points(grade.max_score)} ({grade.status})"
    ]
    if grade.note:
        lines.append(grade.note)
    problems = [p for p in grade.problems if Severity(p.severity) != Severity.INFO]
    if problems:
        lines.append("")
        lines.append("What to fix:")
        lines += [f"- [{Severity(p.severity).value}] {p.message}" for p in problems]
    return "\n".join(lines)
