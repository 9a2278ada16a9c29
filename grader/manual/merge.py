"""Manual points into the stored records, and kept across an automatic regrade.

``merge_sheet`` reads every record in ``results/``, applies the sheet's rows
that fit (grader/manual/sheet.py) and rewrites, for each archive it changed,
the JSON record, Gradescope's results.json and the report's score sections
(spliced in place: figures are not redrawn). It opens no archive and starts no
sandbox; the class outputs (grades.csv, the LMS files, the summary, each
report's standing) are then made again from the records by the caller, so the
policy's final score includes the points. The resume key is left as it is: the
next run still skips the archive, keeping the points.

``keep_given_points`` is the regrade half: a fresh automatic grade gets back
the points its previous record had, when they were given to the same archive
(by sha256) and still fit the rubric's check.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

from grader.atomic import atomic_write_text
from grader.checks.manual import GIVEN, PENDING, comment_of, given_result, manual_state
from grader.manual.sheet import ManualEntry, ManualSheet, check_rows
from grader.records import CheckResult
from grader.report import formatting
from grader.report.gradescope import gradescope_results
from grader.report.submission import output_paths, refresh_report_scores
from grader.rubric import Rubric
from grader.score.records import SubmissionGrade, grade_from_dict


@dataclass
class MergeOutcome:
    sheet: str                                           # the CSV's file name
    applied: list[ManualEntry] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)    # rows not applied, each with its line number
    grades: dict[str, SubmissionGrade] = field(default_factory=dict)   # archive -> grade after the merge

    @property
    def archives(self) -> list[str]:
        return sorted({entry.archive for entry in self.applied})


def stored_records(out_dir: Path) -> dict[str, tuple[Path, dict]]:
    """archive -> (record path, record as stored) for every readable record in out_dir/results."""
    records: dict[str, tuple[Path, dict]] = {}
    for path in sorted((Path(out_dir) / "results").glob("*.json")):
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            records[str(data["archive"])] = (path, data)
        except (OSError, ValueError, KeyError, TypeError):
            continue      # not a record; the class outputs skip it too
    return records


def merge_sheet(sheet: ManualSheet, out_dir: Path, rubric: Rubric, now: datetime | None = None) -> MergeOutcome:
    """Apply the sheet's good rows to the stored records; list the others. See the module docstring."""
    out_dir = Path(out_dir)
    outcome = MergeOutcome(sheet.name)
    stored = stored_records(out_dir)
    grades = {archive: _grade(data) for archive, (_, data) in stored.items()}
    readable = {archive: grade for archive, grade in grades.items() if grade is not None}
    stems = {path.stem: archive for archive, (path, _) in stored.items() if archive in readable}
    entries, outcome.problems = check_rows(sheet, rubric, readable, stems)
    given_at = (now or datetime.now(timezone.utc)).isoformat(timespec="seconds")
    by_archive: dict[str, list[ManualEntry]] = {}
    for entry in entries:
        by_archive.setdefault(entry.archive, []).append(entry)
    for archive, archive_entries in by_archive.items():
        path, data = stored[archive]
        grade = grades[archive]
        changed = [_give(grade, entry, f"{sheet.name} line {entry.line}", given_at) for entry in archive_entries]
        if any(changed):                 # merging the same file again rewrites nothing
            grade.recount()
            _write_merged(grade, data, path, out_dir)
        outcome.applied += archive_entries
        outcome.grades[archive] = grade
    return outcome


def _grade(data: dict) -> SubmissionGrade | None:
    try:
        return grade_from_dict(data)
    except (KeyError, TypeError, ValueError):
        return None


def _give(grade: SubmissionGrade, entry: ManualEntry, source: str, given_at: str) -> bool:
    """Put the entry's points in; False when they (and the comment) were already given."""
    part = grade.parts[entry.part]
    for index, check in enumerate(part.checks):
        if check.id == entry.check:
            if manual_state(check) == GIVEN and check.score == entry.points and comment_of(check) == entry.comment:
                return False
            part.checks[index] = given_result(check.id, check.max_score, entry.points, entry.comment, source,
                                              given_at, grade.sha256)
            return True
    return False


def _write_merged(grade: SubmissionGrade, data: dict, path: Path, out_dir: Path) -> None:
    """The record with the new manual results and scores, every other key as it was stored
    (a field this module does not know survives); then Gradescope's file and the report."""
    updated = grade.to_dict()
    for part_id, part in updated["parts"].items():
        stored_part = data["parts"][part_id]
        stored_part["score"] = part["score"]
        stored_part["checks"] = part["checks"]
    for key in ("score", "manual_pending", "manual_given"):
        data[key] = updated[key]
    atomic_write_text(path, formatting.to_json(data))
    paths = output_paths(grade.archive, out_dir)
    atomic_write_text(paths.gradescope, formatting.to_json(gradescope_results(grade)))
    refresh_report_scores(grade, paths.html)


# ------------------------------------------------------------------ regrade


def keep_given_points(grade: SubmissionGrade, previous_record: Path) -> int:
    """Give ``grade`` (a fresh automatic grade, not yet written) the manual points of the record it
    replaces. Points given to another version of the archive, or that no longer fit the rubric's
    check, are not kept: the check stays pending and says why. Returns how many were kept."""
    given = _given_before(previous_record)
    kept = 0
    for part in grade.parts.values():
        for index, check in enumerate(part.checks):
            before = given.get((part.id, check.id))
            if before is None or manual_state(check) != PENDING:
                continue
            reason = _why_not_kept(before, check, grade.sha256)
            if reason:
                part.checks[index] = _pending_again(check, reason)
                continue
            part.checks[index] = CheckResult(check.id, before.score, check.max_score, True, before.message,
                                             dict(before.evidence))
            kept += 1
    if kept:
        grade.recount()
    return kept


def _given_before(path: Path) -> dict[tuple[str, str], CheckResult]:
    try:
        previous = grade_from_dict(json.loads(Path(path).read_text(encoding="utf-8")))
        return {(part.id, check.id): check for part, check in previous.manual(GIVEN)}
    except FileNotFoundError:
        return {}        # graded for the first time
    except Exception:  # noqa: BLE001 - an odd earlier record must not cost the regrade (it runs in the batch)
        return {}


def _why_not_kept(before: CheckResult, check: CheckResult, sha256: str | None) -> str:
    where = before.evidence.get("given_in") or "an earlier merge"
    given_to = before.evidence.get("archive_sha256")
    if given_to and sha256 and given_to != sha256:
        return (f"The {before.score:g} points given earlier ({where}) were for another version of this archive "
                f"(sha256 {str(given_to)[:12]}…); grade it again by hand.")
    if before.score > check.max_score:
        return (f"The {before.score:g} points given earlier ({where}) are more than this check's "
                f"{check.max_score:g} now; grade it again by hand.")
    return ""


def _pending_again(check: CheckResult, reason: str) -> CheckResult:
    return CheckResult(check.id, 0.0, check.max_score, False, f"{check.message} {reason}", dict(check.evidence))
