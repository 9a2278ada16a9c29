"""Apply the policy to stored attempt records: one grade per student.

Every attempt keeps its own record and raw score; this module only reads
them (nothing here runs or loads a model), so a changed policy, due date or
extensions file re-scores a class from ``results/*.json`` in milliseconds.

For each student: the due date (the policy's, or the student's extension),
each attempt's submission time and penalty, then the attempt that counts:
``latest`` or ``first`` by submission time (by file name when no times are
known), ``best`` by the score after penalty (ties go to the later attempt).
An attempt the policy rejects as late counts only when the student has no
accepted one; an attempt that could not be graded is never "best". A score
override replaces the final score and no penalty applies to it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from grader.policy.config import GradingPolicy
from grader.policy.extensions import Extension, PolicyFile, SubmissionTimes
from grader.policy.lateness import Lateness, SubmissionTime, assess, submission_time
from grader.policy.students import group_by_student, merged_student, resolve_alias
from grader.records import Student
from grader.score.records import SubmissionGrade


@dataclass
class AttemptOutcome:
    grade: SubmissionGrade
    time: SubmissionTime
    lateness: Lateness
    counts: bool = False

    @property
    def raw(self) -> float:
        return self.grade.score

    @property
    def final(self) -> float | None:
        if self.grade.status == "error":
            return None
        return round(max(self.grade.score - self.lateness.penalty, 0.0), 2)

    def to_dict(self) -> dict:
        return {"archive": self.grade.archive, "status": self.grade.status, "raw": round(self.raw, 2),
                "submitted": self.time.when.isoformat() if self.time.when else None,
                "time_source": self.time.source, "time_note": self.time.note,
                "lateness": self.lateness.state, "late_units": self.lateness.units,
                "penalty_percent": self.lateness.percent, "penalty": self.lateness.penalty,
                "rejected": self.lateness.rejected, "explanation": self.lateness.explanation,
                "final": self.final, "counts": self.counts}


@dataclass
class StudentGrade:
    """One student's grade: every attempt, the one that counts and why."""

    key: str
    student: Student
    attempts: list[AttemptOutcome]     # in submission order
    chosen: AttemptOutcome
    why: str
    due: datetime | None
    extension: Extension | None = None  # a new due date
    override: Extension | None = None   # a fixed score
    policy_text: list[str] = field(default_factory=list)  # the policy in words, for the report

    @property
    def grade(self) -> SubmissionGrade:
        return self.chosen.grade

    @property
    def archive(self) -> str:
        return self.chosen.grade.archive

    @property
    def status(self) -> str:
        return "graded" if self.override is not None else self.chosen.grade.status

    @property
    def max_score(self) -> float:
        return self.chosen.grade.max_score

    @property
    def raw_score(self) -> float:
        return self.chosen.raw

    @property
    def penalty(self) -> float:
        return 0.0 if self.override is not None else self.chosen.lateness.penalty

    @property
    def final_score(self) -> float:
        if self.override is not None:
            return float(self.override.score)
        return self.chosen.final if self.chosen.final is not None else 0.0

    @property
    def late(self) -> bool:
        return self.override is None and self.chosen.lateness.late

    def to_dict(self) -> dict:
        return {"key": self.key, "student": self.student.to_dict(), "archive": self.archive,
                "status": self.status, "raw": round(self.raw_score, 2), "penalty": self.penalty,
                "final": round(self.final_score, 2), "max_score": self.max_score, "why": self.why,
                "due": self.due.isoformat() if self.due else None,
                "extension": _entry_dict(self.extension), "override": _entry_dict(self.override),
                "attempts": [attempt.to_dict() for attempt in self.attempts]}


@dataclass
class ClassStanding:
    """The policy applied to a whole class."""

    policy: GradingPolicy
    students: list[StudentGrade] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)      # invalid or unmatched policy-file rows
    extensions_file: str = ""

    def by_archive(self) -> dict[str, StudentGrade]:
        return {attempt.grade.archive: student for student in self.students for attempt in student.attempts}

    @property
    def adjusted(self) -> list[StudentGrade]:
        return [s for s in self.students if s.extension is not None or s.override is not None]

    @property
    def late(self) -> list[StudentGrade]:
        return [s for s in self.students if s.late]

    def to_dict(self) -> dict:
        return {"policy": self.policy.model_dump(mode="json"), "policy_text": self.policy.describe(),
                "extensions_file": self.extensions_file, "problems": list(self.problems),
                "students": [student.to_dict() for student in self.students]}


def apply_policy(grades: list[SubmissionGrade], policy: GradingPolicy, extensions: PolicyFile | None = None,
                 times: SubmissionTimes | None = None) -> ClassStanding:
    """One StudentGrade per student, from the attempts' stored grades alone."""
    extensions = extensions or PolicyFile()
    times = times or SubmissionTimes()
    standing = ClassStanding(policy, problems=list(extensions.problems) + list(times.problems),
                             extensions_file=extensions.path)
    groups = group_by_student(grades, policy.aliases)
    entries = _by_student(extensions, policy, standing.problems)
    by_username = {resolve_alias(key, policy.aliases): when for key, when in times.by_username.items()}
    for key, attempts in groups.items():
        standing.students.append(_student_grade(key, attempts, policy, entries.get(key),
                                                _recorded_times(key, attempts, times, by_username,
                                                                standing.problems)))
    for key, entry in entries.items():
        if key not in groups:
            standing.problems.append(f"{_where(extensions, entry)}: no archive from '{entry.username}' is in this "
                                     f"class, so the {entry.kind} was not applied; check the username (or add an alias).")
    return standing


def _by_student(extensions: PolicyFile, policy: GradingPolicy, problems: list[str]) -> dict[str, Extension]:
    """The extensions file's rows under the students' keys (aliases applied)."""
    entries: dict[str, Extension] = {}
    for entry in extensions.entries.values():
        key = resolve_alias(entry.key, policy.aliases)
        if key in entries:
            problems.append(f"{_where(extensions, entry)}: {entry.username} is the same student as line "
                            f"{entries[key].line} (an alias); the row was ignored.")
        else:
            entries[key] = entry
    return entries


def _where(extensions: PolicyFile, entry: Extension) -> str:
    return f"{Path(extensions.path).name} line {entry.line}" if extensions.path else f"line {entry.line}"


def _recorded_times(key: str, attempts: list[SubmissionGrade], times: SubmissionTimes,
                    by_username: dict[str, datetime], problems: list[str]) -> dict[str, datetime]:
    recorded = {g.archive: times.by_archive[g.archive] for g in attempts if g.archive in times.by_archive}
    if key in by_username:
        untimed = [g for g in attempts if g.archive not in recorded]
        if len(untimed) == 1:
            recorded[untimed[0].archive] = by_username[key]
        elif untimed:
            problems.append(f"submission times: '{key}' has {len(untimed)} archives, so a username row cannot say "
                            "which one it times; give the archive column instead.")
    return recorded


def _student_grade(key: str, grades: list[SubmissionGrade], policy: GradingPolicy, entry: Extension | None,
                   recorded: dict[str, datetime]) -> StudentGrade:
    extension = entry if entry is not None and entry.due is not None else None
    override = entry if entry is not None and entry.score is not None else None
    due = extension.due if extension is not None else policy.due
    attempts = []
    for grade in grades:
        time = submission_time(grade.student, grade.archive, policy, recorded)
        lateness = assess(time, due, grade.score, grade.max_score, policy, extended=extension is not None)
        attempts.append(AttemptOutcome(grade, time, lateness))
    attempts.sort(key=_submission_order)
    chosen, why = _choose(attempts, policy)
    chosen.counts = True
    if extension is not None:
        reason = extension.reason or "no reason given"
        why += f" The due date is {extension.due.isoformat()} for this student (extension: {reason})."
    if override is not None:
        why += f" The instructor set the score to {override.score:g} ({override.reason}); no penalty applies to it."
    student = merged_student(chosen.grade.student, [a.grade.student for a in attempts])
    return StudentGrade(key, student, attempts, chosen, why, due, extension, override, policy.describe())


def _submission_order(attempt: AttemptOutcome) -> tuple:
    when = attempt.time.when
    return (when is None, when.timestamp() if when else 0.0, attempt.grade.archive.casefold())


def _choose(attempts: list[AttemptOutcome], policy: GradingPolicy) -> tuple[AttemptOutcome, str]:
    if len(attempts) == 1:
        return attempts[0], "The only attempt counts."
    untimed = sum(1 for a in attempts if a.time.when is None)
    if not untimed:
        order = "by submission time"
    elif untimed == len(attempts):
        order = "by file name, since no submission time is known"
    else:
        order = f"by submission time, then the {untimed} attempt(s) of unknown time, by file name"
    accepted = [a for a in attempts if not a.lateness.rejected]
    pool = accepted or attempts
    note = (" Late attempts the policy rejects count only when there is no accepted one."
            if len(accepted) < len(attempts) else "")
    if policy.attempts == "best":
        graded = [a for a in pool if a.final is not None]
        if graded:
            best = max(graded, key=lambda a: (a.final, attempts.index(a)))
            return best, (f"The best of {len(attempts)} attempts counts (policy: best, after penalties; "
                          f"ties go to the later one).{note}")
        pool = pool[-1:]
    if policy.attempts == "first":
        return pool[0], f"The first of {len(attempts)} attempts counts (policy: first, ordered {order}).{note}"
    return pool[-1], f"The latest of {len(attempts)} attempts counts (policy: latest, ordered {order}).{note}"


def _entry_dict(entry: Extension | None) -> dict | None:
    if entry is None:
        return None
    return {"line": entry.line, "username": entry.username, "due": entry.due.isoformat() if entry.due else None,
            "score": entry.score, "reason": entry.reason}
