"""The grade of one submission: what the reports and exports are made from."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from grader.checks.manual import GIVEN, PENDING, manual_state
from grader.records import CheckResult, FoundFile, Problem, Student


@dataclass
class PartGrade:
    id: str
    title: str
    score: float
    max_score: float
    checks: list[CheckResult] = field(default_factory=list)
    # Figures the grader measured itself, e.g. {"accuracy": 0.991, "loss": None}.
    recomputed: dict[str, Any] | None = None
    # The student's own figures from their metrics file.
    reported: dict[str, Any] | None = None
    found: list[FoundFile] = field(default_factory=list)
    # Extra material for the HTML report (never needed by the CSV):
    # "confusion_matrix": list[list[int]], "class_names": list[str],
    # "architecture": dict, "plots": list[str] (paths relative to the
    # submission root), "history": dict[str, list[float]],
    # "imagenet": list of {"image", "reported", "rerun", "agree"}
    details: dict[str, Any] = field(default_factory=dict)

    def manual_checks(self, state: str | None = None) -> list[CheckResult]:
        """The part's manual checks (grader/checks/manual.py), or those in ``state``."""
        return [c for c in self.checks if manual_state(c) is not None and (state is None or manual_state(c) == state)]

    def recount(self) -> None:
        """The part's score from its checks, after a manual check's points changed."""
        self.score = sum(check.score for check in self.checks)

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "title": self.title,
            "score": round(self.score, 2),
            "max_score": self.max_score,
            "checks": [check.to_dict() for check in self.checks],
            "recomputed": self.recomputed,
            "reported": self.reported,
            "found": [f.to_dict() for f in self.found],
        }


@dataclass
class SubmissionGrade:
    archive: str                       # file name of the archive
    student: Student
    status: str                        # "graded" | "error"
    score: float
    max_score: float
    rubric: str                        # rubric id
    parts: dict[str, PartGrade] = field(default_factory=dict)
    problems: list[Problem] = field(default_factory=list)
    note: str = ""                     # one line for the CSV
    sha256: str | None = None
    grader_version: str = ""
    sandbox: str | None = None         # backend used
    seconds: float = 0.0
    model_hashes: dict[str, str] = field(default_factory=dict)  # part -> sha256 of model file
    work_root: str | None = None       # where the extracted files are (for the report's images)
    # sha256 of archive + rubric + baselines + grader version: a rerun skips the
    # archive when this is unchanged.
    resume_key: str = ""
    rerun: dict[str, Any] | None = None  # RerunResult.to_dict(), with --rerun
    worker: str | None = None          # the Dask worker that graded it (grade --cluster); None: this machine

    def manual(self, state: str) -> list[tuple[PartGrade, CheckResult]]:
        """(part, check) of every manual check in ``state`` ("pending" or "given")."""
        return [(part, check) for part in self.parts.values() for check in part.manual_checks(state)]

    @property
    def pending_manual_points(self) -> float:
        """Points the instructor has still to give: left out of ``score`` until then."""
        return sum(check.max_score for _, check in self.manual(PENDING))

    def recount(self) -> None:
        """Part and total scores from the checks (the pipeline's sum), after manual points changed."""
        for part in self.parts.values():
            part.recount()
        self.score = sum(part.score for part in self.parts.values())

    def to_dict(self) -> dict[str, Any]:
        return {
            "student": self.student.to_dict(),
            "archive": self.archive,
            "status": self.status,
            "score": round(self.score, 2),
            "max_score": self.max_score,
            "rubric": self.rubric,
            "parts": {pid: part.to_dict() for pid, part in self.parts.items()},
            "problems": [p.to_dict() for p in self.problems],
            "note": self.note,
            "sha256": self.sha256,
            "grader_version": self.grader_version,
            "sandbox": self.sandbox,
            "seconds": round(self.seconds, 2),
            "model_hashes": self.model_hashes,
            "resume_key": self.resume_key,
            "rerun": self.rerun,
            # derived from the checks, for readers of the JSON: what the instructor has still to grade
            "manual_pending": [{"part": part.id, "check": check.id, "max_score": check.max_score}
                               for part, check in self.manual(PENDING)],
            "manual_given": len(self.manual(GIVEN)),
            **({"worker": self.worker} if self.worker else {}),
        }


def grade_from_dict(data: dict[str, Any]) -> SubmissionGrade:
    """Rebuild a grade from its JSON record (a resumed batch reuses them)."""
    from grader.records import Role, Severity

    parts = {}
    for pid, raw in data.get("parts", {}).items():
        parts[pid] = PartGrade(
            id=raw["id"], title=raw.get("title", pid), score=raw["score"], max_score=raw["max_score"],
            checks=[CheckResult(**c) for c in raw.get("checks", [])],
            recomputed=raw.get("recomputed"), reported=raw.get("reported"),
            found=[FoundFile(f["path"], Role(f["role"]), f["part"], f["confidence"], list(f.get("reasons", [])))
                   for f in raw.get("found", [])],
        )
    return SubmissionGrade(
        archive=data["archive"], student=Student(**data["student"]), status=data["status"],
        score=data["score"], max_score=data["max_score"], rubric=data.get("rubric", ""), parts=parts,
        problems=[Problem(p["code"], p["message"], Severity(p["severity"]), p.get("path"), p.get("part"))
                  for p in data.get("problems", [])],
        note=data.get("note", ""), sha256=data.get("sha256"), grader_version=data.get("grader_version", ""),
        sandbox=data.get("sandbox"), seconds=data.get("seconds", 0.0), model_hashes=data.get("model_hashes", {}),
        resume_key=data.get("resume_key", ""), rerun=data.get("rerun"), worker=data.get("worker"),
    )
