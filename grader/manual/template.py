"""The pending-points template: a CSV with a row per manual check still to grade,
ready to fill in and merge with ``grade submissions/ --manual FILE.csv``.

Its first five columns are the ones the merge reads (archive, part, check,
points, comment); ``max_points`` and ``student`` are there to help and are
ignored. Which checks are listed (the attempts that count) is the class
summary's rule (grader/report/summary.py ``pending_manual_rows``), so the page
and the file it links agree.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path

from grader.atomic import atomic_write_text
from grader.manual.sheet import COLUMNS
from grader.report.formatting import points, spreadsheet_text
from grader.report.summary import MANUAL_TEMPLATE_FILE as TEMPLATE_FILE
from grader.report.summary import PendingManual, pending_manual_rows

EXTRA_COLUMNS = ("max_points", "student")

__all__ = ["TEMPLATE_FILE", "pending_manual_rows", "template_csv", "write_template"]


def template_csv(rows: list[PendingManual]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow([*COLUMNS, *EXTRA_COLUMNS])
    for row in rows:
        # Archive and student names come from file names a student chose: defused, and the
        # reader takes an archive back without the defusing quote.
        writer.writerow([spreadsheet_text(row.archive), row.part, row.check, "", "", points(row.max_points),
                         spreadsheet_text(row.student)])
    return buffer.getvalue()


def write_template(out_dir: Path, standing, has_manual_checks: bool) -> Path | None:
    """Write out_dir/manual_template.csv from the class's standing (header only when nothing is
    pending); a rubric without manual checks gets none. Returns the path written."""
    if not has_manual_checks:
        return None
    path = Path(out_dir) / TEMPLATE_FILE
    atomic_write_text(path, template_csv(pending_manual_rows(standing)))
    return path
