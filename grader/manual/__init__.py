"""Manual grading: points the instructor gives for what no program should score.

    sheet     the instructor's CSV (archive, part, check, points, comment), checked row by row
    merge     the rows into the stored records; kept across an automatic regrade
    template  the CSV of pending manual checks the class summary links

A check of kind ``manual`` in the rubric is left pending by grading
(grader/checks/manual.py); ``grade submissions/ --manual FILE.csv`` (or
``grade rescore ... --manual FILE.csv``) merges the points without running any
sandbox, then the class outputs are made again from the records.

Nothing is imported eagerly: ``merge`` writes reports (grader.report), and
loading it only when used keeps the report stage free of this package.
"""

from importlib import import_module

_LAZY = {
    "MergeOutcome": "merge", "keep_given_points": "merge", "merge_sheet": "merge",
    "ManualSheet": "sheet", "read_sheet": "sheet", "write_template": "template",
}

__all__ = list(_LAZY)


def __getattr__(name: str):
    if name in _LAZY:
        return getattr(import_module(f"grader.manual.{_LAZY[name]}"), name)
    raise AttributeError(f"module 'grader.manual' has no attribute {name!r}")
