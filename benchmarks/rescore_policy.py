"""Re-scoring a graded class after a policy change. A benchmark, not a test: it prints figures.

    python benchmarks/rescore_policy.py [--students 200] [--attempts 2]

It writes a graded class the way a batch leaves it: one JSON record per
attempt (Blackboard-named, so each has a submission time) and one full HTML
report per attempt (with the figures of a real report: confusion matrix,
training curves), then changes the policy (due date, late penalty, attempt
rule) and times ``grade rescore``'s work (grader.batch.rescore): grades.csv,
the LMS uploads, the class summary, standings.json and every report's grade
section. Grading and the evaluate stage are replaced by functions that raise,
so the figures also show that no sandbox was needed.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

BB = "Assignment 6_{user}_attempt_2026-10-{day:02d}-{hour:02d}-00-00_assignment06_{name}.zip"


def refuse(*args, **kwargs):
    raise AssertionError("re-scoring graded or evaluated a submission")


def build_class(out: Path, students: int, attempts: int) -> int:
    """Records and reports for students x attempts; returns the number of attempts."""
    from grader import rubric as rubric_module
    from grader.intake.identity import identify_student
    from grader.records import CheckResult
    from grader.report import output_paths, write_submission_outputs
    from grader.report.formatting import to_json
    from grader.atomic import atomic_write_text
    from grader.score.records import PartGrade, SubmissionGrade

    rubric = rubric_module.load()
    template_html = None
    count = 0
    for n in range(students):
        for attempt in range(attempts):
            archive = BB.format(user=f"s{n:04d}", day=4 + 2 * attempt, hour=10 + n % 12, name=f"Student{n:04d}Sam")
            student, _ = identify_student(archive, rubric.archive_prefix)
            parts = {}
            for part in rubric.parts:
                score = part.max_points * (0.5 + 0.5 * ((n + attempt) % 5) / 4)
                parts[part.id] = PartGrade(part.id, part.title, score, part.max_points,
                                           [CheckResult(c.id, score * c.points / part.max_points, c.points, True, "ok")
                                            for c in part.checks],
                                           details={"confusion_matrix": [[90 if i == j else 1 for j in range(10)]
                                                                         for i in range(10)],
                                                    "history": {"accuracy": [0.8, 0.9, 0.95],
                                                                "val_accuracy": [0.79, 0.88, 0.93]}})
            grade = SubmissionGrade(archive=archive, student=student, status="graded",
                                    score=sum(p.score for p in parts.values()), max_score=rubric.total_points,
                                    rubric=rubric.id, parts=parts, grader_version="benchmark")
            if template_html is None:      # draw the figures once; every report has the same size
                write_submission_outputs(grade, out)
                template_html = output_paths(archive, out).html.read_text(encoding="utf-8")
            else:
                paths = output_paths(archive, out)
                atomic_write_text(paths.json, to_json(grade.to_dict()))
                atomic_write_text(paths.html, template_html.replace(grade_archive_of(template_html), archive))
            count += 1
    return count


def grade_archive_of(html: str) -> str:
    start = html.index('<code id="archive">') + len('<code id="archive">')
    return html[start: html.index("</code>", start)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--students", type=int, default=200)
    parser.add_argument("--attempts", type=int, default=2)
    args = parser.parse_args()

    import grader.batch
    import grader.evaluate
    import grader.pipeline
    from grader import rubric as rubric_module
    from grader.batch import rescore
    from grader.policy import GradingPolicy
    from grader.policy.sources import ClassPolicy

    grader.batch.grade_submission = grader.pipeline.grade_submission = refuse
    grader.evaluate.evaluate_submission = refuse
    rubric = rubric_module.load()
    with tempfile.TemporaryDirectory(prefix="rescore-bench-") as tmp:
        out = Path(tmp) / "grades"
        started = time.perf_counter()
        records = build_class(out, args.students, args.attempts)
        print(f"built {records} records and reports in {time.perf_counter() - started:.1f} s")
        report_mb = sum(p.stat().st_size for p in (out / "reports").glob("*.html")) / records / 1e6
        lenient = GradingPolicy(due="2026-10-09T23:59:00-05:00", timezone="America/Chicago")
        strict = GradingPolicy(due="2026-10-06T15:00:00-05:00", timezone="America/Chicago", attempts="latest",
                               late_penalty="per_hour", penalty_percent=2, penalty_cap_percent=40, grace_minutes=10)
        timings = []
        for policy in (lenient, strict, lenient):
            started = time.perf_counter()
            standing = rescore(out, rubric, ClassPolicy(policy), exports=("blackboard", "canvas"))
            timings.append(time.perf_counter() - started)
        students = len(standing.students)
        late = sum(1 for s in rescore(out, rubric, ClassPolicy(strict)).students if s.late)
    print(f"students:                 {students} ({records} attempts, reports {report_mb:.2f} MB each)")
    print(f"re-score after a change:  {', '.join(f'{t:.2f} s' for t in timings[1:])}")
    print(f"per student:              {max(timings[1:]) / students * 1000:.1f} ms (target: well under 1 s)")
    print(f"late under the strict policy: {late} of {students}")
    print("sandbox runs:             0 (grading and evaluation raise if called)")


if __name__ == "__main__":
    main()
