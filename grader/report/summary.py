"""The class's outputs: grades.csv, index.html (the class summary),
standings.json and the LMS uploads the instructor asked for.

They have one row per student: the grading policy (grader/policy) picks the
attempt that counts and applies the late penalty, extensions and overrides;
each attempt's report is then updated with the student's standing."""

from __future__ import annotations

import statistics
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Sequence
from urllib.parse import quote

import numpy as np
from markupsafe import Markup

import grader
from grader.report import figures, formatting, gradebooks, measured
from grader.atomic import atomic_write_text
from grader.report.templating import csp_hash, render, template_source
from grader.policy.apply import ClassStanding, StudentGrade, apply_policy
from grader.policy.config import GradingPolicy
from grader.policy.extensions import PolicyFile, SubmissionTimes
from grader.report.submission import update_report_standings
from grader.checks.manual import GIVEN, PENDING
from grader.rubric import Rubric
from grader.score.records import SubmissionGrade

HISTOGRAM_BINS = 10
STANDINGS_FILE = "standings.json"   # the policy applied: every student's attempts and final score
SORT_SCRIPT = "sortable.js.j2"
MANUAL_TEMPLATE_FILE = "manual_template.csv"   # the pending manual checks, to fill in (grader/manual)


@dataclass
class HistogramBin:
    low: float
    high: float
    count: int


@dataclass
class CheckRate:
    """How one rubric check went across the graded submissions."""

    part: str
    check: str
    submissions: int          # graded submissions where the check ran
    passed: int
    mean_points: float | None
    max_points: float | None
    manual: bool = False      # graded by hand: "passed" counts the submissions whose points are given

    @property
    def pass_rate(self) -> float | None:
        return self.passed / self.submissions if self.submissions else None


@dataclass
class DuplicateMember:
    student: str
    archive: str
    parts: list[str]


@dataclass
class DuplicateGroup:
    """One model file (by sha256) handed in by two or more archives."""

    sha256: str
    members: list[DuplicateMember] = field(default_factory=list)


@dataclass
class SubmissionRow:
    student: str
    last: str
    first: str
    username: str
    archive: str
    status: str
    total: float
    max_score: float
    part_scores: list[float | None]
    note: str
    report_href: str
    raw: float = 0.0
    penalty: float = 0.0
    lateness: str = ""
    attempts: int = 1


@dataclass(frozen=True)
class PendingManual:
    """A manual check still to be graded by hand, in an attempt that counts."""

    archive: str
    part: str
    check: str
    max_points: float
    student: str


@dataclass
class ManualView:
    """The summary's manual-grading section."""

    checks: list[str]                 # "part check (points)" of the rubric's manual checks
    pending: list[PendingManual]
    given: int                        # manual checks given, in the attempts that count
    problems: list[str]               # rows of the last merged CSV that were not applied
    merged_from: str
    merged: int
    template: str = MANUAL_TEMPLATE_FILE

    @property
    def pending_points(self) -> float:
        return sum(row.max_points for row in self.pending)

    @property
    def pending_students(self) -> int:
        return len({row.student for row in self.pending})


@dataclass
class TradeoffView:
    """The class chart of every student's models by architecture, with the medians in words and figures."""

    chart: figures.Drawn
    medians: list[measured.PartMedian]
    sentence: str
    models: int


def tradeoff_view(grades: Sequence[SubmissionGrade], rubric: Rubric) -> TradeoffView | None:
    """None when no model of the class was measured (assignment 6: no section)."""
    order = [part.id for part in rubric.parts]
    points = measured.class_points(grades, order)
    if not points:
        return None
    medians = measured.part_medians(points, {part.id: part.title for part in rubric.parts})
    chart = figures.drawn_safely(figures.class_tradeoff, points, medians, order)
    return TradeoffView(chart, medians, measured.tradeoff_sentence(medians), len(points))


@dataclass
class LateRow:
    student: str
    archive: str
    lateness: str
    penalty: float
    rejected: bool
    explanation: str


@dataclass
class AdjustmentRow:
    student: str
    username: str
    line: int
    kind: str               # extension | override
    value: str              # the new due date or the score
    reason: str


def write_class_outputs(
    grades: list[SubmissionGrade],
    out_dir: Path,
    rubric: Rubric,
    exports: list[str] | tuple[str, ...] = (),
    policy: GradingPolicy | None = None,
    extensions: PolicyFile | None = None,
    times: SubmissionTimes | None = None,
    manual_merge=None,
) -> ClassStanding:
    """Apply the policy (the rubric's unless given) to every attempt's grade, then
    write grades.csv, index.html, standings.json and the requested LMS uploads
    under ``out_dir``, and put each student's standing into their reports.
    ``manual_merge`` (a grader.manual MergeOutcome) is this run's merge of manual
    points, whose rows not applied the summary lists.

    An upload an earlier run wrote is rewritten too, asked for or not: after a
    re-score it would otherwise still hold the old grades, ready to be imported.
    An unknown export name raises ValueError (listing the known ones) before
    anything is written.
    """
    names = gradebooks.check_export_names(exports)
    out_dir = Path(out_dir)
    standing = apply_policy(grades, policy or rubric.policy, extensions, times)
    students = standing.students
    every_upload = {name: make(students, rubric) for name, make in gradebooks.EXPORTERS.items()}
    uploads = [upload for name, upload in every_upload.items()
               if name in names or (out_dir / upload.file_name).exists()]
    atomic_write_text(out_dir / "grades.csv", gradebooks.grades_csv(students, rubric))
    for upload in uploads:
        atomic_write_text(out_dir / upload.file_name, upload.csv_text)
    atomic_write_text(out_dir / STANDINGS_FILE, formatting.to_json(standing.to_dict()))
    export_warnings = [warning for upload in uploads for warning in upload.warnings]
    atomic_write_text(out_dir / "index.html",
                      render_index_html(grades, rubric, export_warnings, standing, manual_merge,
                                        integrity=integrity_view(out_dir)))
    update_report_standings(standing, out_dir)
    return standing


def render_index_html(
    grades: list[SubmissionGrade], rubric: Rubric, export_warnings: Sequence[str] = (),
    standing: ClassStanding | None = None, manual_merge=None, integrity: "IntegrityView | None" = None,
) -> str:
    """The class summary: counts and statistics over students (the attempt that
    counts, after the policy), the policy itself, late and adjusted students,
    the manual points still to give."""
    standing = standing or apply_policy(grades, rubric.policy)
    students = gradebooks.by_last_name(standing.students)
    graded_archives = [g for g in grades if g.status != "error"]
    counted = [s for s in students if s.status != "error"]
    totals = [s.final_score for s in counted]
    bins = histogram_bins(totals, rubric.total_points)
    edges = [bins[0].low] + [b.high for b in bins] if bins else []
    histogram = None
    if totals and bins:
        histogram = figures.drawn_safely(figures.score_histogram, edges, [b.count for b in bins],
                                         statistics.median(totals))
    script = template_source(SORT_SCRIPT)
    return render(
        "index.html.j2",
        rubric=rubric,
        counts={"archives": len(grades), "graded": len(graded_archives), "error": len(grades) - len(graded_archives),
                "students": len(students)},
        mean=statistics.fmean(totals) if totals else None,
        median=statistics.median(totals) if totals else None,
        bins=bins,
        histogram=histogram,
        tradeoff=tradeoff_view([s.grade for s in counted], rubric),
        rates=check_pass_rates([s.grade for s in students], rubric),
        duplicates=duplicate_models(grades, owner={a: s.key for a, s in standing.by_archive().items()}),
        part_ids=[part.id for part in rubric.parts],
        rows=[_submission_row(s, rubric) for s in students],
        policy_lines=standing.policy.describe(),
        late_rows=[_late_row(s) for s in students if s.late or s.chosen.lateness.rejected],
        adjustments=[_adjustment_row(s) for s in students if s.extension or s.override],
        extensions_file=Path(standing.extensions_file).name if standing.extensions_file else "",
        policy_problems=list(standing.problems),
        export_warnings=list(export_warnings),
        manual=_manual_view(rubric, standing, manual_merge),
        integrity=integrity,   # grader/integrity's pairs (integrity_view), None when not compared
        generated=datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z").strip(),
        grader_version=grader.__version__,
        script=Markup(script),
        csp=(
            "default-src 'none'; img-src data:; style-src 'unsafe-inline'; "
            f"script-src {csp_hash(script)}; base-uri 'none'; form-action 'none'"
        ),
    )


# ------------------------------------------------------------------ statistics


def histogram_bins(totals: list[float], total_points: float, bins: int = HISTOGRAM_BINS) -> list[HistogramBin]:
    """Equal-width bins from 0 to the rubric's total; the last bin includes the
    top score, and scores outside the range count in the nearest end bin."""
    if total_points <= 0:
        return []
    edges = np.linspace(0.0, float(total_points), bins + 1)
    counts, _ = np.histogram(np.clip(np.asarray(totals, dtype=float), 0.0, float(total_points)), bins=edges)
    return [
        HistogramBin(low=round(float(low), 2), high=round(float(high), 2), count=int(count))
        for low, high, count in zip(edges[:-1], edges[1:], counts)
    ]


def check_pass_rates(grades: list[SubmissionGrade], rubric: Rubric) -> list[CheckRate]:
    """Pass rate and mean points of each check, over graded submissions that
    ran it; rubric order first, then any check the rubric does not list."""
    outcomes: dict[tuple[str, str], list[tuple[bool, float, float]]] = defaultdict(list)
    for grade in grades:
        if grade.status == "error":
            continue
        for part in grade.parts.values():
            for check in part.checks:
                outcomes[(part.id, check.id)].append((bool(check.passed), check.score, check.max_score))
    rubric_points = {(part.id, check.id): check.points for part in rubric.parts for check in part.checks}
    manual = {(part.id, check.id) for part in rubric.parts for check in part.manual_checks}
    order = list(rubric_points)
    order += [key for key in outcomes if key not in order]
    rates = []
    for part_id, check_id in order:
        runs = outcomes.get((part_id, check_id), [])
        rates.append(
            CheckRate(
                part=part_id,
                check=check_id,
                submissions=len(runs),
                passed=sum(1 for passed, _, _ in runs if passed),
                # a manual check's mean is over the points given: a pending one has no score yet
                mean_points=_mean([score for passed, score, _ in runs
                                   if passed or (part_id, check_id) not in manual]),
                max_points=rubric_points.get((part_id, check_id), max((top for _, _, top in runs), default=None)),
                manual=(part_id, check_id) in manual,
            )
        )
    return rates


def _mean(values: list[float]) -> float | None:
    return statistics.fmean(values) if values else None


def duplicate_models(grades: list[SubmissionGrade], owner: dict[str, str] | None = None) -> list[DuplicateGroup]:
    """Model files with the same sha256 in two or more archives; with ``owner``
    (archive -> student key), archives of two or more students: a student's
    resubmission of their own model is not a duplicate."""
    owner = owner or {}
    by_hash: dict[str, dict[str, DuplicateMember]] = defaultdict(dict)
    for grade in grades:
        for part_id, sha256 in grade.model_hashes.items():
            if not sha256:
                continue
            member = by_hash[sha256].setdefault(
                grade.archive, DuplicateMember(grade.student.display, grade.archive, [])
            )
            member.parts.append(part_id)
    groups = [
        DuplicateGroup(sha256, sorted(members.values(), key=lambda m: m.archive.casefold()))
        for sha256, members in by_hash.items()
        if len({owner.get(archive, archive) for archive in members}) >= 2
    ]
    return sorted(groups, key=lambda g: (-len(g.members), g.sha256))


@dataclass
class IntegrityPairRow:
    left: str
    right: str
    left_archive: str
    right_archive: str
    page_href: str
    parts: list[tuple[str, dict]]        # (part id, {"code", "weights", "predictions"}) as pairs.json has them


@dataclass
class IntegrityView:
    submissions: int
    pairs: list[IntegrityPairRow]
    problems: list[str]
    without_evidence: list[str]
    base_files: int


def integrity_view(out_dir: Path) -> IntegrityView | None:
    """The Integrity section's rows, from grader/integrity's pairs.json (None when it was not run)."""
    from grader.integrity import read_class_integrity

    data = read_class_integrity(out_dir)
    if data is None:
        return None
    rows = []
    for pair in data["pairs"]:
        try:
            parts = [(str(pid), {k: figures.get(k) for k in ("code", "weights", "predictions")})
                     for pid, figures in pair["parts"].items()]
            rows.append(IntegrityPairRow(str(pair["left"]["student"]), str(pair["right"]["student"]),
                                         str(pair["left"]["archive"]), str(pair["right"]["archive"]),
                                         quote(str(pair["page"])), parts))
        except (KeyError, TypeError, AttributeError):
            continue   # a hand-edited file: the row is left out
    return IntegrityView(int(data.get("submissions") or 0), rows, [str(p) for p in data.get("problems") or []],
                         [str(a) for a in data.get("without_evidence") or []], len(data.get("base_files") or []))


def _submission_row(student: StudentGrade, rubric: Rubric) -> SubmissionRow:
    grade = student.grade
    stem = formatting.output_stem(grade.archive)
    return SubmissionRow(
        student=student.student.display,
        last=student.student.last or "",
        first=student.student.first or "",
        username=student.student.username or "",
        archive=grade.archive,
        status=student.status,
        total=student.final_score,
        max_score=grade.max_score,
        part_scores=[grade.parts[p.id].score if p.id in grade.parts else None for p in rubric.parts],
        note=gradebooks.row_note(student),
        report_href="reports/" + quote(stem + ".html"),
        raw=student.raw_score,
        penalty=student.penalty,
        lateness="override" if student.override is not None else student.chosen.lateness.state,
        attempts=len(student.attempts),
    )


def _late_row(student: StudentGrade) -> LateRow:
    lateness = student.chosen.lateness
    return LateRow(student.student.display, student.archive, lateness.state, student.penalty, lateness.rejected,
                   lateness.explanation)


def _adjustment_row(student: StudentGrade) -> AdjustmentRow:
    entry = student.override or student.extension
    value = formatting.points(entry.score) if entry.score is not None else entry.due.isoformat()
    return AdjustmentRow(student.student.display, entry.username, entry.line, entry.kind, value, entry.reason)


# ------------------------------------------------------------- manual points


def pending_manual_rows(standing: ClassStanding) -> list[PendingManual]:
    """Every manual check still pending in the attempts that count; under the ``best``
    policy in every attempt, since the points given can change which one is best."""
    rows = []
    every_attempt = standing.policy.attempts == "best"
    for student in standing.students:
        for grade in [a.grade for a in student.attempts] if every_attempt else [student.grade]:
            for part, check in grade.manual(PENDING):
                rows.append(PendingManual(grade.archive, part.id, check.id, check.max_score, student.student.display))
    return sorted(rows, key=lambda r: (r.student.casefold(), r.archive.casefold(), r.part, r.check))


def _manual_view(rubric: Rubric, standing: ClassStanding, merge) -> ManualView | None:
    checks = [f"{part.id} {check.id} ({formatting.points(check.points)} points)"
              for part in rubric.parts for check in part.manual_checks]
    if not checks:
        return None
    return ManualView(
        checks=checks, pending=pending_manual_rows(standing),
        given=sum(len(s.grade.manual(GIVEN)) for s in standing.students),
        problems=list(merge.problems) if merge else [], merged_from=merge.sheet if merge else "",
        merged=len(merge.applied) if merge else 0,
    )
