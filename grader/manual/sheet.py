"""The instructor's manual-points CSV: reading it and checking every row.

    archive,part,check,points,comment
    week06_DoeJane.zip,comparison,discussion_quality,8,"Names all three models; the trade-off is argued well."

``archive`` is the archive's file name as graded (or its name without the
suffix), ``part`` and ``check`` name a check of kind ``manual`` in the rubric,
``points`` is a number from 0 to that check's points. Other columns (the
template's ``max_points`` and ``student``) are ignored. A row with neither
points nor a comment is a check not graded yet and is skipped. Every other row
that does not fit (an unknown archive, part or check, points that are not a
number or out of range, a second row for the same check) is reported with its
line number and changes nothing; the good rows still apply.
"""

from __future__ import annotations

import csv
import io
import math
from dataclasses import dataclass, field
from pathlib import Path

from grader.rubric import Rubric
from grader.score.records import SubmissionGrade

COLUMNS = ("archive", "part", "check", "points", "comment")
REQUIRED = ("archive", "part", "check", "points")


@dataclass(frozen=True)
class ManualRow:
    """One row as written, with the line it starts on."""

    line: int
    archive: str
    part: str
    check: str
    points: str
    comment: str


@dataclass(frozen=True)
class ManualEntry:
    """A row that fits: points for one manual check of one stored record."""

    line: int
    archive: str              # the record's archive name
    part: str
    check: str
    points: float
    comment: str


@dataclass
class ManualSheet:
    path: str
    rows: list[ManualRow] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)   # the file itself (unreadable, no header)

    @property
    def name(self) -> str:
        return Path(self.path).name


def read_sheet(path: Path) -> ManualSheet:
    """Parse the CSV. Never raises for its content: an unreadable file or a bad header is one problem."""
    sheet = ManualSheet(str(path))
    try:
        text = Path(path).read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        sheet.problems.append(f"{sheet.name}: cannot be read ({exc}); save it as UTF-8 CSV. Nothing in it was applied.")
        return sheet
    reader = csv.reader(io.StringIO(text))
    header = [cell.strip().lower() for cell in next(reader, [])]
    missing = [column for column in REQUIRED if column not in header]
    if missing:
        sheet.problems.append(
            f"{sheet.name} line 1: the header must name the columns {','.join(COLUMNS)} (it has "
            f"{','.join(header) or 'nothing'}; missing {','.join(missing)}). Nothing in it was applied.")
        return sheet
    start = reader.line_num + 1
    for cells in reader:
        # line_num counts physical lines, so a comment with line breaks still gives the row's first line
        line, start = start, reader.line_num + 1
        values = dict(zip(header, (cell.strip() for cell in cells)))
        if not any(values.get(column) for column in COLUMNS):
            continue                                  # a blank line, or only the template's extra columns
        sheet.rows.append(ManualRow(line, *(values.get(column, "") for column in COLUMNS)))
    return sheet


def check_rows(sheet: ManualSheet, rubric: Rubric, records: dict[str, SubmissionGrade],
               stems: dict[str, str] | None = None) -> tuple[list[ManualEntry], list[str]]:
    """The rows that fit the rubric and the stored records (by archive name, or by the record's
    file stem in ``stems``: stem -> archive), and a line-numbered problem for each other row.
    A row with no points and no comment is a check not graded yet: neither."""
    archives = {**(stems or {}), **{archive: archive for archive in records}}
    entries: list[ManualEntry] = []
    problems = list(sheet.problems)
    first_line: dict[tuple[str, str, str], int] = {}
    for row in sheet.rows:
        if not row.points and not row.comment:
            continue
        entry, problem = _entry(row, rubric, records, archives)
        if entry is not None:
            key = (entry.archive, entry.part, entry.check)
            if key in first_line:
                problem = (f"{entry.archive} {entry.part} {entry.check} already has points on line "
                           f"{first_line[key]}")
            else:
                first_line[key] = row.line
                entries.append(entry)
                continue
        problems.append(f"{sheet.name} line {row.line}: {problem}; the row was not applied.")
    return entries, problems


def _entry(row: ManualRow, rubric: Rubric, records: dict[str, SubmissionGrade],
           archives: dict[str, str]) -> tuple[ManualEntry | None, str]:
    archive = archives.get(row.archive)
    if archive is None and row.archive.startswith("'"):
        archive = archives.get(row.archive[1:])      # the template's defusing quote (a name starting "=")
    if archive is None:
        return None, (f"no graded archive is named '{row.archive}' in this class; copy the name from the "
                      "summary's manual-points template")
    spec, problem = _manual_spec(rubric, row.part, row.check)
    if spec is None:
        return None, problem
    grade = records[archive]
    part = grade.parts.get(row.part)
    if grade.status == "error" or part is None or not any(c.id == row.check for c in part.manual_checks()):
        return None, (f"{archive} has no graded {row.part} {row.check} in its record (it could not be graded, "
                      "or was graded with an older rubric); grade it again first")
    if not row.points:
        return None, "a comment without points; give the points too"
    try:
        points = float(row.points)
    except ValueError:
        return None, f"points '{row.points}' is not a number"
    if not math.isfinite(points):
        return None, f"points '{row.points}' is not a number"
    if not 0 <= points <= spec.points:
        return None, f"points {points:g} is outside 0 to {spec.points:g} for {row.part} {row.check}"
    return ManualEntry(row.line, archive, row.part, row.check, round(points, 2), row.comment), ""


def _manual_spec(rubric: Rubric, part_id: str, check_id: str):
    """The rubric's manual check ``check_id`` of part ``part_id``, or why there is none."""
    part = next((p for p in rubric.parts if p.id == part_id), None)
    if part is None:
        return None, f"the rubric has no part '{part_id}' (parts: {', '.join(p.id for p in rubric.parts)})"
    manual = part.manual_checks
    spec = next((c for c in manual if c.id == check_id), None)
    if spec is not None:
        return spec, ""
    listed = ", ".join(c.id for c in manual) or "none"
    kind = "is an automatic check" if any(c.id == check_id for c in part.checks) else "is not a check of that part"
    return None, f"'{check_id}' {kind} (part {part_id}'s manual checks: {listed})"
