"""Spreadsheets of a class: grades.csv and the LMS gradebook uploads.

Blackboard's Grade Center upload: every field quoted, students matched on
"Username", and a grade column whose header has no column id creates a new
column. Canvas's gradebook import: "Student", "ID", "SIS User ID",
"SIS Login ID", "Section", then one column per assignment, with a
"Points Possible" row second. A grade that could not be computed (status
"error") is left blank in the uploads, so the LMS keeps whatever it had.

Every file has one row per student (grader/policy): the attempt that counts
is named in grades.csv, and the score is the final one, after any late
penalty or the instructor's override.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass, field
from typing import Callable

import pandas as pd

from grader.checks.manual import GIVEN, PENDING, comment_of, manual_state
from grader.report.formatting import points, spreadsheet_text
from grader.rubric import Rubric
from grader.policy.apply import StudentGrade

GRADES_COLUMNS = ("last", "first", "username", "archive", "status", "total", "max")
# After the part scores and the note: how the policy made "total" from the counted attempt's raw score.
POLICY_COLUMNS = ("raw", "penalty", "lateness", "attempts", "submitted")
# Last, for a rubric with manual checks: per check "<part>/<check>" (the points given, or
# "pending") and "<part>/<check> comment" (the instructor's comment).
COMMENT_SUFFIX = " comment"
BLACKBOARD_ID_COLUMNS = ("Last Name", "First Name", "Username")
CANVAS_ID_COLUMNS = ("Student", "ID", "SIS User ID", "SIS Login ID", "Section")


@dataclass
class Export:
    """One LMS upload file and what the instructor must know about it."""

    file_name: str
    csv_text: str
    warnings: list[str] = field(default_factory=list)


def by_last_name(grades: list[StudentGrade]) -> list[StudentGrade]:
    """Sorted by last name, then first name, then archive; unknown names last."""

    def key(grade: StudentGrade) -> tuple[bool, str, str, str]:
        last, first = grade.student.last, grade.student.first
        return (not last, (last or "").casefold(), (first or "").casefold(), grade.archive.casefold())

    return sorted(grades, key=key)


# ------------------------------------------------------------------ grades.csv


def grades_table(grades: list[StudentGrade], rubric: Rubric) -> pd.DataFrame:
    """One row per student (the attempt that counts); one score column per rubric part;
    with manual checks, their points and comments last."""
    part_ids = [part.id for part in rubric.parts]
    manual = manual_columns(rubric)
    rows = []
    for grade in by_last_name(grades):
        row: dict[str, object] = {
            "last": spreadsheet_text(grade.student.last),
            "first": spreadsheet_text(grade.student.first),
            "username": spreadsheet_text(grade.student.username),
            "archive": spreadsheet_text(grade.archive),
            "status": grade.status,
            "total": round(grade.final_score, 2),
            "max": grade.max_score,
        }
        for part_id in part_ids:
            part = grade.grade.parts.get(part_id)
            row[part_id] = round(part.score, 2) if part else None
        row["note"] = spreadsheet_text(row_note(grade))
        row.update(_policy_cells(grade))
        row.update(_manual_cells(grade, manual))
        rows.append(row)
    columns = [name for pair in manual.values() for name in pair]
    return pd.DataFrame(rows, columns=[*GRADES_COLUMNS, *part_ids, "note", *POLICY_COLUMNS, *columns])


def manual_columns(rubric: Rubric) -> dict[tuple[str, str], tuple[str, str]]:
    """(part, check) -> the points and comment column names of each manual check."""
    return {(part.id, check.id): (f"{part.id}/{check.id}", f"{part.id}/{check.id}{COMMENT_SUFFIX}")
            for part in rubric.parts for check in part.manual_checks}


def _manual_cells(grade: StudentGrade, columns: dict[tuple[str, str], tuple[str, str]]) -> dict[str, object]:
    cells: dict[str, object] = {}
    for (part_id, check_id), (points_column, comment_column) in columns.items():
        part = grade.grade.parts.get(part_id)
        check = next((c for c in part.checks if c.id == check_id), None) if part else None
        state = manual_state(check) if check else None
        cells[points_column] = round(check.score, 2) if state == GIVEN else ("pending" if state == PENDING else None)
        cells[comment_column] = spreadsheet_text(comment_of(check)) if check else ""
    return cells


def _policy_cells(grade: StudentGrade) -> dict[str, object]:
    when = grade.chosen.time.when
    return {"raw": round(grade.raw_score, 2), "penalty": round(grade.penalty, 2),
            "lateness": "override" if grade.override is not None else grade.chosen.lateness.state,
            "attempts": len(grade.attempts), "submitted": when.isoformat() if when else ""}


def row_note(grade: StudentGrade) -> str:
    """The counted attempt's note, after what the policy did to it."""
    said = []
    if grade.override is not None:
        said.append(f"score set by the instructor: {grade.override.reason}")
    elif grade.chosen.lateness.rejected:
        said.append("late work not accepted")
    if grade.extension is not None:
        said.append(f"extension to {grade.extension.due.isoformat()}")
    pending = grade.grade.manual(PENDING)
    if pending and grade.override is None:
        said.append(f"{points(grade.grade.pending_manual_points)} manual point(s) pending "
                    f"({', '.join(f'{part.id} {check.id}' for part, check in pending)})")
    return "; ".join(said + ([grade.grade.note] if grade.grade.note else []))


def grades_csv(grades: list[StudentGrade], rubric: Rubric) -> str:
    return grades_table(grades, rubric).to_csv(index=False, lineterminator="\n")


# ---------------------------------------------------------------- LMS uploads


def blackboard_column(rubric: Rubric) -> str:
    """A new Grade Center column: its title and points, no column id after "|"."""
    return f"{rubric.title} [Total Pts: {points(rubric.total_points)} Score] |"


def blackboard_export(grades: list[StudentGrade], rubric: Rubric) -> Export:
    column = blackboard_column(rubric)
    rows = [
        {
            "Last Name": spreadsheet_text(grade.student.last),
            "First Name": spreadsheet_text(grade.student.first),
            "Username": spreadsheet_text(grade.student.username),
            column: _lms_score(grade),
        }
        for grade in by_last_name(grades)
    ]
    table = pd.DataFrame(rows, columns=[*BLACKBOARD_ID_COLUMNS, column])
    text = table.to_csv(index=False, quoting=csv.QUOTE_ALL, lineterminator="\n")
    return Export("blackboard_grades.csv", text, _lms_warnings(grades, "Blackboard"))


def canvas_export(grades: list[StudentGrade], rubric: Rubric) -> Export:
    column = rubric.title
    points_possible = {"Student": "Points Possible", "ID": "", "SIS User ID": "",
                       "SIS Login ID": "", "Section": "", column: points(rubric.total_points)}
    rows = [points_possible] + [
        {
            "Student": spreadsheet_text(_canvas_name(grade)),
            "ID": spreadsheet_text(grade.student.lms_user_id or ""),
            "SIS User ID": "",
            "SIS Login ID": spreadsheet_text(grade.student.username),
            "Section": "",
            column: _lms_score(grade),
        }
        for grade in by_last_name(grades)
    ]
    table = pd.DataFrame(rows, columns=[*CANVAS_ID_COLUMNS, column])
    text = table.to_csv(index=False, lineterminator="\n")
    return Export("canvas_grades.csv", text, _lms_warnings(grades, "Canvas"))


EXPORTERS: dict[str, Callable[[list[StudentGrade], Rubric], Export]] = {
    "blackboard": blackboard_export,
    "canvas": canvas_export,
}
KNOWN_EXPORTS = tuple(EXPORTERS)


def check_export_names(exports: list[str] | tuple[str, ...]) -> list[str]:
    """The requested exports, lower-cased; ValueError names any unknown one."""
    names = [str(name).strip().lower() for name in exports]
    unknown = [name for name in names if name not in EXPORTERS]
    if unknown:
        raise ValueError(
            f"unknown export {', '.join(repr(n) for n in unknown)}; known exports: {', '.join(KNOWN_EXPORTS)}"
        )
    return list(dict.fromkeys(names))


def _lms_score(grade: StudentGrade) -> str:
    return "" if grade.status == "error" else points(grade.final_score)


def _canvas_name(grade: StudentGrade) -> str:
    student = grade.student
    if student.last or student.first:
        return ", ".join(part for part in (student.last, student.first) if part)
    return student.username or ""


def _lms_warnings(grades: list[StudentGrade], lms: str) -> list[str]:
    warnings = []
    for grade in by_last_name(grades):
        if not grade.student.username:
            warnings.append(
                f"{lms}: {grade.student.display} ({grade.archive}) has no username in the archive name, "
                f"so its username cell is blank; enter this grade in {lms} by hand."
            )
        if grade.status == "error":
            warnings.append(
                f"{lms}: {grade.student.display} ({grade.archive}) could not be graded, so the score is blank."
            )
        elif grade.override is None and grade.grade.pending_manual_points:
            warnings.append(
                f"{lms}: {grade.student.display} ({grade.archive}) has {points(grade.grade.pending_manual_points)} "
                "manual point(s) not given yet, so the score leaves them out; merge them with --manual first."
            )
    commented = sum(1 for g in grades for _, check in g.grade.manual(GIVEN) if comment_of(check))
    if commented:
        # The upload is one score column; a text column would be imported as a grade.
        warnings.append(f"{lms}: the upload carries the scores, manual points included; the instructor's "
                        f"{commented} comment(s) are in each student's report and in grades.csv, not in the upload.")
    return warnings
