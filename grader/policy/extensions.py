"""The instructor's policy files: extensions and overrides, and submission times.

Extensions (``--policy-file extensions.csv``), one row per student::

    username,due,score,reason
    jdoe,2026-10-09T23:59:00-05:00,,medical note
    rroe,,85,regraded by hand after a sandbox failure

``username`` is the student key (the LMS username, else "last first"; the
policy's aliases apply). A row gives either a new ``due`` (an ISO date-time;
without a zone it is read in the policy's timezone; a bare date means the end
of that day) or a fixed ``score`` (the final grade, no penalty applied, with a
``reason``). A row that does not fit is reported with its line number and
ignored; it changes nothing else.

Submission times (``[policy] submission_times``), from an LMS export::

    archive,submitted            (or username,submitted)
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from datetime import datetime, time as dt_time
from pathlib import Path

from grader.policy.config import GradingPolicy, fold

EXTENSION_COLUMNS = ("username", "due", "score", "reason")


@dataclass(frozen=True)
class Extension:
    line: int
    key: str                       # the student key, folded
    username: str                  # as written
    due: datetime | None = None
    score: float | None = None
    reason: str = ""

    @property
    def kind(self) -> str:
        return "override" if self.score is not None else "extension"


@dataclass
class PolicyFile:
    """A parsed extensions file: the usable rows, and what was wrong with the others."""

    path: str = ""
    entries: dict[str, Extension] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)


@dataclass
class SubmissionTimes:
    path: str = ""
    by_archive: dict[str, datetime] = field(default_factory=dict)
    by_username: dict[str, datetime] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)


def read_extensions(path: Path, policy: GradingPolicy, total_points: float) -> PolicyFile:
    """Parse an extensions file. Never raises for its content; an unreadable file is one problem."""
    parsed = PolicyFile(path=str(path))
    rows = _rows(path, parsed.problems, required=("username",), one_of=("due", "score"))
    for line, row in rows:
        entry, problem = _extension(line, row, policy, total_points)
        where = f"{Path(path).name} line {line}"
        if problem:
            parsed.problems.append(f"{where}: {problem}; the row was ignored.")
        elif entry.key in parsed.entries:
            first = parsed.entries[entry.key].line
            parsed.problems.append(f"{where}: {entry.username} already has a row (line {first}); "
                                   "the row was ignored.")
        else:
            parsed.entries[entry.key] = entry
    return parsed


def read_submission_times(path: Path, policy: GradingPolicy) -> SubmissionTimes:
    parsed = SubmissionTimes(path=str(path))
    for line, row in _rows(path, parsed.problems, required=("submitted",), one_of=("archive", "username")):
        where = f"{Path(path).name} line {line}"
        when, problem = parse_time(row.get("submitted", ""), policy, end_of_day=False)
        archive, username = (row.get("archive") or "").strip(), (row.get("username") or "").strip()
        if problem or not (archive or username):
            parsed.problems.append(f"{where}: {problem or 'give an archive or a username'}; the row was ignored.")
        elif archive:
            parsed.by_archive[archive] = when
        else:
            parsed.by_username[fold(username)] = when
    return parsed


def parse_time(text: str, policy: GradingPolicy, end_of_day: bool) -> tuple[datetime | None, str]:
    """An ISO date-time; naive ones are in the policy's zone; a bare date is the end of that day."""
    text = (text or "").strip()
    try:
        when = datetime.fromisoformat(text.replace("Z", "+00:00") if text.endswith("Z") else text)
    except ValueError:
        return None, (f"'{text}' is not an ISO date-time (write e.g. 2026-10-09T23:59:00-05:00, "
                      "or 2026-10-09 for the end of that day)")
    if end_of_day and len(text) == 10:
        when = datetime.combine(when.date(), dt_time(23, 59, 59))
    if when.utcoffset() is None:
        when = when.replace(tzinfo=policy.zone)
    return when, ""


def _extension(line: int, row: dict[str, str], policy: GradingPolicy,
               total_points: float) -> tuple[Extension | None, str]:
    username = (row.get("username") or "").strip()
    due_text, score_text = (row.get("due") or "").strip(), (row.get("score") or "").strip()
    reason = (row.get("reason") or "").strip()
    if not username:
        return None, "no username"
    if due_text and score_text:
        return None, "give either a new due date or a score, not both"
    if not due_text and not score_text:
        return None, "give a new due date or a score"
    key = fold(username)
    if due_text:
        due, problem = parse_time(due_text, policy, end_of_day=True)
        if problem:
            return None, problem
        return Extension(line, key, username, due=due, reason=reason), ""
    try:
        score = float(score_text)
    except ValueError:
        return None, f"score '{score_text}' is not a number"
    if not 0 <= score <= total_points:
        return None, f"score {score:g} is outside 0 to {total_points:g}"
    if not reason:
        return None, "a score override needs a reason"
    return Extension(line, key, username, score=score, reason=reason), ""


def _rows(path: Path, problems: list[str], required: tuple[str, ...],
          one_of: tuple[str, ...]) -> list[tuple[int, dict[str, str]]]:
    """(line number, row) of a CSV file with a header; header problems go to ``problems``."""
    name = Path(path).name
    try:
        text = Path(path).read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        problems.append(f"{name}: cannot be read ({exc}); save it as UTF-8 CSV. Nothing in it was applied.")
        return []
    reader = csv.DictReader(io.StringIO(text))
    header = [fold(column) for column in (reader.fieldnames or [])]
    missing = [column for column in required if column not in header]
    if missing or not any(column in header for column in one_of):
        expected = ",".join(required + one_of)
        problems.append(f"{name} line 1: the header must name the columns {expected} (it has "
                        f"{','.join(reader.fieldnames or []) or 'nothing'}). Nothing in it was applied.")
        return []
    reader.fieldnames = header
    rows = []
    for row in reader:
        if not any((value or "").strip() for key, value in row.items() if key is not None):
            continue                              # a blank line
        rows.append((reader.line_num, {key: value for key, value in row.items() if key is not None}))
    return rows
