"""The report stage: grades -> JSON records, HTML reports, CSV gradebooks.

Per submission (``write_submission_outputs``), under the output folder:
``results/<stem>.json``, ``reports/<stem>.html`` and
``gradescope/<stem>/results.json``, where ``<stem>`` is the archive name
without its suffix (``output_stem``).

Per class (``write_class_outputs``): ``grades.csv``, ``index.html`` and, on
request, ``blackboard_grades.csv`` / ``canvas_grades.csv``.

Every file is written atomically; every value from a submission that reaches
HTML is escaped, and the pages carry a Content-Security-Policy that allows no
script but the class summary's own sorting code.
"""

from grader.atomic import atomic_write_bytes, atomic_write_text
from grader.report.formatting import output_stem
from grader.report.gradebooks import KNOWN_EXPORTS
from grader.report.gradescope import gradescope_results
from grader.report.submission import output_paths, render_submission_html, write_submission_outputs
from grader.report.summary import render_index_html, write_class_outputs

__all__ = [
    "KNOWN_EXPORTS",
    "atomic_write_bytes",
    "atomic_write_text",
    "gradescope_results",
    "output_paths",
    "output_stem",
    "render_index_html",
    "render_submission_html",
    "write_class_outputs",
    "write_submission_outputs",
]
