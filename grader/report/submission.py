"""One submission's outputs: the JSON record, the student's HTML report and
Gradescope's results.json.

The report is built from plain view records (below) so the template only
lays out text; every value reaches the HTML through Jinja's autoescape.

The "Your grade" section (every attempt of the student, which one counts and
why, raw score, penalty, final score) depends on the whole class and the
policy, so it sits between two markers and is replaced in place when the
policy is applied (``update_report_standings``): re-scoring a class never
redraws a report's figures.
"""

from __future__ import annotations

import os
import re

from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from markupsafe import Markup

import grader
from grader.checks.manual import comment_of, manual_state
from grader.records import CheckResult, FoundFile, Severity
from grader.report import evidence as evidence_views
from grader.report import figures, formatting, measured
from grader.atomic import atomic_write_text
from grader.report.gradescope import gradescope_results
from grader.report.templating import render
from grader.report.thumbnails import Thumbnail, thumbnail
from grader.score.records import PartGrade, SubmissionGrade

if TYPE_CHECKING:
    from grader.policy.apply import ClassStanding, StudentGrade

# Which metrics come first in the reported-vs-recomputed table.
METRIC_ORDER = ("accuracy", "loss")
# The check whose computation the report spells out under that table.
REPORTED_CHECK = "reported_metrics_match"
SEVERITY_ORDER = {Severity.ERROR.value: 0, Severity.WARNING.value: 1, Severity.INFO.value: 2}
# Content-Security-Policy of a student's report: no scripts at all, images only as data: URIs.
REPORT_CSP = "default-src 'none'; img-src data:; style-src 'unsafe-inline'; base-uri 'none'; form-action 'none'"
# Around the "Your grade" section; a submission's own text is escaped, so it cannot contain them.
STANDING_START, STANDING_END = "<!--grade-standing-->", "<!--/grade-standing-->"
# Around what manual points change (the total, each part's score, each manual check's row):
# merging them splices these in place (refresh_report_scores), as the standing is.
SCORE_SECTION = re.compile(r"<!--(score:[^<>]*?)-->.*?<!--/\1-->", re.S)
TITLE = re.compile(r"<title>.*?</title>", re.S)


@dataclass
class OutputPaths:
    json: Path
    html: Path
    gradescope: Path


def output_paths(archive: str, out_dir: Path) -> OutputPaths:
    stem = formatting.output_stem(archive)
    return OutputPaths(
        json=out_dir / "results" / f"{stem}.json",
        html=out_dir / "reports" / f"{stem}.html",
        gradescope=out_dir / "gradescope" / stem / "results.json",
    )


def write_submission_outputs(grade: SubmissionGrade, out_dir: Path) -> None:
    """Write results/<stem>.json, reports/<stem>.html and
    gradescope/<stem>/results.json under ``out_dir``, each atomically."""
    paths = output_paths(grade.archive, Path(out_dir))
    atomic_write_text(paths.json, formatting.to_json(grade.to_dict()))
    atomic_write_text(paths.gradescope, formatting.to_json(gradescope_results(grade)))
    atomic_write_text(paths.html, render_submission_html(grade, report_dir=paths.html.parent))


def render_submission_html(grade: SubmissionGrade, generated: datetime | None = None,
                           report_dir: Path | None = None, standing: "StudentGrade | None" = None) -> str:
    when = (generated or datetime.now().astimezone()).strftime("%Y-%m-%d %H:%M %Z").strip()
    problems = sorted(grade.problems, key=lambda p: SEVERITY_ORDER.get(Severity(p.severity).value, 3))
    models = measured.compared_models(grade)
    return render(
        "submission.html.j2",
        grade=grade,
        status_reason=_status_reason(grade),
        problems=problems,
        parts=[_part_view(part, grade.work_root) for part in grade.parts.values()],
        found=_found_rows(grade),
        rerun=_rerun_view(grade.rerun, report_dir),
        generated=when,
        grader_version=grade.grader_version or grader.__version__,
        csp=REPORT_CSP,
        standing_html=Markup(render_standing_html(standing, grade.archive)),
        pending_manual=grade.pending_manual_points,
        models=measured.model_rows(models),
        tradeoff=figures.drawn_safely(figures.model_tradeoff, models) if models else None,
    )


def refresh_report_scores(grade: SubmissionGrade, path: Path) -> None:
    """Put ``grade``'s scores and manual checks into its report at ``path``, in place: the
    sections between score markers and the title, from a fresh rendering of the record (which
    has no figures; the report's own are kept). A report that is missing, or lacks a section,
    is written whole from the record."""
    fresh = render_submission_html(grade, report_dir=path.parent)
    try:
        html = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        html = ""
    updated = html
    for section in SCORE_SECTION.finditer(fresh):
        name = re.escape(section.group(1))
        marked = re.compile(f"<!--{name}-->.*?<!--/{name}-->", re.S)
        if not marked.search(updated):
            updated = fresh
            break
        updated = marked.sub(lambda _: section.group(0), updated, count=1)
    if updated is not fresh:
        updated = TITLE.sub(lambda _: TITLE.search(fresh).group(0), updated, count=1)
    if updated != html:
        atomic_write_text(path, updated)


# ------------------------------------------------------------ the standing


@dataclass
class AttemptRow:
    archive: str
    status: str
    time_note: str
    raw: float
    penalty: float
    final: float | None
    counts: bool
    lateness: str
    explanation: str
    this: bool


@dataclass
class StandingView:
    archive: str                  # the report's own attempt
    counted_archive: str
    this_counts: bool
    final: float
    raw: float
    penalty: float
    max_score: float
    override: bool
    why: str
    attempts: list[AttemptRow]
    policy_lines: list[str]
    pending_manual: float = 0.0       # points the instructor has still to give the attempt that counts
    status: str = "graded"            # the counted attempt's, after any override: "error" has no final score


def standing_view(standing: "StudentGrade", archive: str) -> StandingView:
    return StandingView(
        archive=archive, counted_archive=standing.archive, this_counts=standing.archive == archive,
        final=standing.final_score, raw=standing.raw_score, penalty=standing.penalty,
        max_score=standing.max_score, override=standing.override is not None, why=standing.why,
        attempts=[AttemptRow(a.grade.archive, a.grade.status, a.time.note, a.raw, a.lateness.penalty, a.final,
                             a.counts, a.lateness.state, a.lateness.explanation, a.grade.archive == archive)
                  for a in standing.attempts],
        policy_lines=list(standing.policy_text),
        pending_manual=standing.grade.pending_manual_points,
        status=standing.status,
    )


def render_standing_html(standing: "StudentGrade | None", archive: str) -> str:
    """The "Your grade" section of ``archive``'s report ("" without a standing)."""
    if standing is None:
        return ""
    return render("standing.html.j2", standing=standing_view(standing, archive))


def update_report_standings(standing: "ClassStanding", out_dir: Path) -> int:
    """Put each student's standing into every one of their attempts' reports,
    rewriting only the reports whose section changed. Returns how many were
    rewritten. A report without the markers (written by an older grader) is
    left alone: ``--force`` regrades it."""
    rewritten = 0
    for student in standing.students:
        for attempt in student.attempts:
            path = output_paths(attempt.grade.archive, Path(out_dir)).html
            if _splice_standing(path, render_standing_html(student, attempt.grade.archive)):
                rewritten += 1
    return rewritten


def _splice_standing(path: Path, section: str) -> bool:
    try:
        html = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return False
    start = html.find(STANDING_START)
    end = html.find(STANDING_END, start + len(STANDING_START)) if start >= 0 else -1
    if start < 0 or end < 0:
        return False
    updated = html[: start + len(STANDING_START)] + section + html[end:]
    if updated == html:
        return False
    atomic_write_text(path, updated)
    return True


def _rerun_view(rerun: dict | None, report_dir: Path | None) -> dict | None:
    """The re-run record with each executed notebook's HTML linked relative to
    the report (a file URI when the report's folder is not known)."""
    if not rerun:
        return None
    view = dict(rerun)
    view["sources"] = []
    for source in rerun.get("sources", []):
        source = dict(source)
        html = source.get("html")
        if html and report_dir is not None:
            source["link"] = os.path.relpath(html, report_dir)
        elif html:
            source["link"] = Path(html).as_uri()
        view["sources"].append(source)
    return view


def _status_reason(grade: SubmissionGrade) -> str:
    """Why a submission has the "error" status, in one sentence."""
    if grade.status != "error":
        return ""
    if grade.note:
        return grade.note
    errors = [p for p in grade.problems if Severity(p.severity) == Severity.ERROR]
    return errors[0].message if errors else "The grader could not finish grading this submission."


# ----------------------------------------------------------------- part views


@dataclass
class CheckView:
    id: str
    score: float
    max_score: float
    passed: bool
    message: str
    evidence: list[tuple[str, str]]
    manual: str | None = None        # "pending" | "given" for a check the instructor grades by hand
    comment: str = ""                # the instructor's comment
    given_at: str = ""
    detectors: list[evidence_views.DetectorView] = field(default_factory=list)
    tables: list[evidence_views.TableView] = field(default_factory=list)
    compared: int = 0                # per-model rows shown in the "Models compared" section


@dataclass
class MetricRow:
    name: str
    reported: str
    recomputed: str
    difference: str


@dataclass
class ImagenetRow:
    image: str
    reported: str
    rerun: str
    agree: bool | None


@dataclass
class PartView:
    id: str
    title: str
    score: float
    max_score: float
    checks: list[CheckView]
    metrics: list[MetricRow]
    confusion: figures.Drawn | None
    curves: figures.Drawn | None
    plots: list[Thumbnail]
    architecture: list[tuple[str, str]]
    imagenet: list[ImagenetRow]
    notes: list[str] = field(default_factory=list)
    reported_check: ReportedCheckView | None = None


@dataclass
class ReportedCheckView:
    """How the reported test accuracy was held against the recomputed one (reported_metrics_match)."""

    rows: list[tuple[str, str]]   # (term, value), in the order the computation uses them
    computation: str              # the inequality with every number in it
    verdict: str
    flagged: bool


def _part_view(part: PartGrade, work_root: str | None) -> PartView:
    details = part.details or {}
    confusion = None
    if details.get("confusion_matrix") is not None:
        confusion = figures.drawn_safely(
            figures.confusion_matrix, details["confusion_matrix"], details.get("class_names")
        )
    curves = figures.drawn_safely(figures.training_curves, details["history"]) if details.get("history") else None
    reported_check = _reported_check_evidence(part)
    return PartView(
        id=part.id,
        title=part.title,
        score=part.score,
        max_score=part.max_score,
        checks=[_check_view(check) for check in part.checks],
        metrics=_metric_rows(_with_source(part.reported, reported_check), part.recomputed),
        confusion=confusion,
        curves=curves,
        plots=[thumbnail(work_root, str(path)) for path in _as_list(details.get("plots"))],
        architecture=_key_values(details.get("architecture")),
        imagenet=[_imagenet_row(row) for row in _as_list(details.get("imagenet")) if isinstance(row, dict)],
        notes=[str(details["scaling_note"])] if details.get("scaling_note") else [],
        reported_check=_reported_check_view(reported_check),
    )


def _reported_check_evidence(part: PartGrade) -> dict[str, Any] | None:
    for check in part.checks:
        if check.id == REPORTED_CHECK and isinstance(check.evidence, dict) and "computation" in check.evidence:
            return check.evidence
    return None


def _with_source(reported: dict[str, Any] | None, evidence: dict[str, Any] | None) -> dict[str, Any] | None:
    """The reported figures, their file said even when it is a notebook's output (no metrics file)."""
    if not reported or not evidence or reported.get("file"):
        return reported
    return {**reported, "file": evidence.get("reported_source")}


def _fixed(value: Any) -> str:
    """An accuracy or threshold with four decimals, as the check's message writes it."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return formatting.plain(value)
    return f"{value:.4f}"


def _small(value: Any) -> str:
    """0.00005 as written, not 5e-05."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return formatting.plain(value)
    return f"{value:.6f}".rstrip("0").rstrip(".") or "0"


def _reported_check_view(evidence: dict[str, Any] | None) -> ReportedCheckView | None:
    if evidence is None:
        return None
    number = formatting.plain
    se, spread = evidence.get("standard_error"), evidence.get("standard_errors")
    difference = evidence.get("difference")
    rows = [
        ("You reported", f"{_fixed(evidence.get('reported_accuracy'))}, {number(evidence.get('reported_source'))}"),
        ("Grader recomputed", f"{_fixed(evidence.get('recomputed_accuracy'))}"
                              + (f" ({evidence['scaling']} scaling)" if evidence.get("scaling") else "")),
        ("Test images, n", number(evidence.get("n"))),
        ("Standard error, se = √(p(1−p)/n)", "—" if se is None else f"{se:.5f}"),
        ("k (standard errors allowed)", number(evidence.get("k"))),
        ("Floor", number(evidence.get("floor"))),
        ("Rounding of the reported figure", _small(evidence.get("rounding"))),
        ("Threshold, max(floor, k × se) + rounding", _fixed(evidence.get("threshold"))),
        ("Difference, reported − recomputed",
         ("—" if difference is None else f"{difference:+.4f}") + (f" ({spread} se)" if spread is not None else "")),
    ]
    if evidence.get("matched_scaling"):
        rows.append((f"Recomputed on {evidence['matched_scaling']} scaling",
                     f"{_fixed(evidence.get('matched_accuracy'))} on {number(evidence.get('matched_n'))} images, "
                     f"threshold {_fixed(evidence.get('matched_threshold'))}"))
    return ReportedCheckView(rows=rows, computation=number(evidence.get("computation")),
                             verdict=number(evidence.get("verdict")), flagged=bool(evidence.get("integrity_flag")))


def _check_view(check: CheckResult) -> CheckView:
    manual = manual_state(check)
    if manual:   # a manual check's evidence is bookkeeping (where the points came from), not evidence
        return CheckView(id=check.id, score=check.score, max_score=check.max_score, passed=bool(check.passed),
                         message=check.message, evidence=[], manual=manual, comment=comment_of(check),
                         given_at=str(check.evidence.get("given_at") or "")[:10])
    detectors = evidence_views.detector_views(check.evidence)
    tables = evidence_views.table_views(check.evidence)
    laid_out = ({evidence_views.DETECTORS_KEY} if detectors else set()) | (set(evidence_views.TABLE_KEYS) if tables
                                                                           else set())
    # per-model rows: in the agreed shape they are the "Models compared" section; others a table here
    compared = len(measured.rows_of(check))
    rows = None if compared else evidence_views.rows_table(check.evidence.get(measured.ROWS_KEY))
    if rows is not None:
        tables.append(rows)
    if compared or rows is not None:
        laid_out.add(measured.ROWS_KEY)
    return CheckView(
        id=check.id,
        score=check.score,
        max_score=check.max_score,
        passed=bool(check.passed),
        message=check.message,
        evidence=_key_values(evidence_views.remaining_evidence(check.evidence, laid_out)),
        detectors=detectors,
        tables=tables,
        compared=compared,
    )


def _key_values(mapping: Any) -> list[tuple[str, str]]:
    if not isinstance(mapping, dict):
        return []
    return [(formatting.humanize_key(key), formatting.plain(value)) for key, value in mapping.items()]


def _metric_rows(reported: dict[str, Any] | None, recomputed: dict[str, Any] | None) -> list[MetricRow]:
    reported, recomputed = reported or {}, recomputed or {}
    names = [n for n in METRIC_ORDER if n in reported or n in recomputed]
    names += [n for n in {**reported, **recomputed} if n not in names]
    return [
        MetricRow(
            name=str(name),
            reported=formatting.metric(reported.get(name)),
            recomputed=formatting.metric(recomputed.get(name)),
            difference=_difference(reported.get(name), recomputed.get(name)),
        )
        for name in names
    ]


def _difference(reported: Any, recomputed: Any) -> str:
    numbers = (int, float)
    if isinstance(reported, bool) or isinstance(recomputed, bool):
        return ""
    if isinstance(reported, numbers) and isinstance(recomputed, numbers):
        return f"{recomputed - reported:+.4f}"
    return ""


def _imagenet_row(row: dict[str, Any]) -> ImagenetRow:
    agree = row.get("agree")
    return ImagenetRow(
        image=formatting.plain(row.get("image")),
        reported=formatting.plain(row.get("reported")),
        rerun=formatting.plain(row.get("rerun")),
        agree=agree if isinstance(agree, bool) else None,
    )


def _as_list(value: Any) -> list[Any]:
    return list(value) if isinstance(value, (list, tuple)) else []


def _found_rows(grade: SubmissionGrade) -> list[FoundFile]:
    """Every file the grader assigned, once, in part order."""
    seen: set[tuple[str, str, str | None]] = set()
    rows: list[FoundFile] = []
    for part in grade.parts.values():
        for found in part.found:
            key = (found.path, str(found.role), found.part)
            if key not in seen:
                seen.add(key)
                rows.append(found)
    return rows
