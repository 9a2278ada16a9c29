"""Manual grading (grader/manual): a check of kind "manual" is left pending by
grading; the instructor's CSV merges points and comments into the stored
records, grades.csv, the reports and the LMS files without any sandbox; bad
rows are listed by line and change nothing; a later automatic regrade keeps
the points.

The class is three Blackboard-named archives (real zip files, so the resume
key is the real one) whose records are written the way a batch writes them;
no TensorFlow, no sandbox: every path that could grade is made to fail the test.
"""

from __future__ import annotations

import json
import re
import zipfile
from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner
from markupsafe import escape

from grader import rubric as rubric_module
from grader.batch import grade_batch, rescore, resume_key, up_to_date
from grader.checks import run_check
from grader.cli import main
from grader.hashing import sha256_of
from grader.intake.identity import identify_student
from grader.manual import merge_sheet, read_sheet
from grader.manual.sheet import check_rows
from grader.pipeline import HeldOutData
from grader.records import CheckResult
from grader.report import output_stem, write_submission_outputs
from grader.report.submission import REPORT_CSP
from grader.rubric import RubricError
from grader.score.records import PartGrade, SubmissionGrade, grade_from_dict

RUBRIC_TOML = """
id = "week06_test"
title = "Week 6 test rubric"
folder = "week06"
archive_prefix = "week06"
total_points = 30

[datasets.cifar10]
loader = "cifar10"
input_shape = [32, 32, 3]
num_classes = 10

[[parts]]
id = "cnn"
title = "A CNN on CIFAR-10"
dataset = "cifar10"
patterns = ['cnn']
expects = ["model", "plot"]
canonical_dir = "results/cnn"

[[parts.checks]]
id = "plots_valid"
points = 10

[[parts]]
id = "comparison"
title = "Comparison and discussion"
dataset = "cifar10"
patterns = ['comparison']
expects = ["source"]
canonical_dir = "results"

[[parts.checks]]
id = "layout_complete"
points = 10

[[parts.checks]]
id = "discussion_quality"
kind = "manual"
points = 10
params = { criteria = "the trade-off between accuracy and cost, argued from the measured figures" }
"""
BB = "Week 6_{user}_attempt_2026-10-05-20-00-00_week06_{name}.zip"
# name -> (archive, cnn points, comparison layout points)
CLASS = {
    "doe": (BB.format(user="jdoe", name="DoeJane"), 10.0, 10.0),
    "roe": (BB.format(user="rroe", name="RoeRichard"), 6.0, 5.0),
    "poe": (BB.format(user="ppoe", name="PoeEd"), 0.0, 10.0),
}
DOE, ROE, POE = (CLASS[k][0] for k in ("doe", "roe", "poe"))
COMMENT = 'Names all three models; "the ResNet wins on accuracy, Inception on time" is argued well.'
GOOD_ROWS = f"""archive,part,check,points,comment
{DOE},comparison,discussion_quality,8,"{COMMENT.replace('"', '""')}"
{output_stem(ROE)},comparison,discussion_quality,3.5,Too short: names only the CNN.
"""
BAD_ROWS = f"""week06_NobodyNo.zip,comparison,discussion_quality,5,unknown archive
{POE},comparison,essay_quality,5,unknown check
{POE},comparison,layout_complete,5,an automatic check
{POE},comparison,discussion_quality,12,out of range
{POE},comparison,discussion_quality,eight,not a number
{POE},comparison,discussion_quality,-1,below zero
{DOE},comparison,discussion_quality,9,a second row for Doe
{POE},resnet,discussion_quality,5,unknown part
"""


class SandboxThatMustNotRun:
    name = "must-not-run"

    def __getattr__(self, attribute):
        raise AssertionError(f"a sandbox was used ({attribute}) where none may run")


def must_not_run(*args, **kwargs):
    raise AssertionError("merging manual points graded or evaluated a submission")


@pytest.fixture()
def no_grading(monkeypatch):
    monkeypatch.setattr("grader.batch.grade_submission", must_not_run)
    monkeypatch.setattr("grader.pipeline.grade_submission", must_not_run)
    monkeypatch.setattr("grader.evaluate.evaluate_submission", must_not_run)
    monkeypatch.setattr("grader.cli._choose_sandbox", must_not_run)
    monkeypatch.setattr("grader.pipeline.load_test_data", must_not_run)


@pytest.fixture()
def rubric(tmp_path):
    path = tmp_path / "week06_test.toml"
    path.write_text(RUBRIC_TOML)
    return rubric_module.load(path)


def automatic_grade(rubric, archive: Path, cnn: float, layout: float) -> SubmissionGrade:
    """What grading records: the automatic checks' points, the manual check from run_check (pending)."""
    student, _ = identify_student(archive.name, rubric.archive_prefix)
    scores = {"plots_valid": cnn, "layout_complete": layout}
    parts = {}
    for part in rubric.parts:
        checks = [run_check(spec, None) if spec.kind == "manual" else
                  CheckResult(spec.id, scores[spec.id], spec.points, scores[spec.id] == spec.points, f"{spec.id} scored")
                  for spec in part.checks]
        parts[part.id] = PartGrade(part.id, part.title, sum(c.score for c in checks), part.max_points, checks,
                                   details={"history": {"loss": [1.2, 0.8, 0.6]}} if part.id == "cnn" else {})
    return SubmissionGrade(archive=archive.name, student=student, status="graded",
                           score=sum(p.score for p in parts.values()), max_score=rubric.total_points,
                           rubric=rubric.id, parts=parts, sha256=sha256_of(archive), grader_version="test")


def write_archive(folder: Path, name: str, text: str = "") -> Path:
    path = folder / name
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("week06/comparison.md", text or f"discussion of {name}")
    return path


@pytest.fixture()
def graded_class(tmp_path, rubric):
    """Archives in submissions/, their current records and reports in grades/, class outputs made."""
    submissions, out = tmp_path / "submissions", tmp_path / "grades"
    submissions.mkdir()
    for archive_name, cnn, layout in CLASS.values():
        archive = write_archive(submissions, archive_name)
        grade = automatic_grade(rubric, archive, cnn, layout)
        grade.resume_key = resume_key(archive, rubric)
        write_submission_outputs(grade, out)
    rescore(out, rubric, exports=("blackboard", "canvas"))
    return submissions, out


def record(out: Path, archive: str) -> dict:
    return json.loads((out / "results" / f"{output_stem(archive)}.json").read_text(encoding="utf-8"))


def manual_check(data: dict) -> dict:
    return next(c for c in data["parts"]["comparison"]["checks"] if c["id"] == "discussion_quality")


def grades_rows(out: Path) -> dict[str, dict]:
    table = pd.read_csv(out / "grades.csv", keep_default_na=False, dtype=str)
    return {row["username"]: row for row in table.to_dict("records")}


def report(out: Path, archive: str) -> str:
    return (out / "reports" / f"{output_stem(archive)}.html").read_text(encoding="utf-8")


def manual_row_html(html: str) -> str:
    return re.search(r'<tr class="check manual-check".*?</tr>', html, re.S).group(0)


def write_csv(tmp_path: Path, text: str, name: str = "manual.csv") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


# --------------------------------------------------------------- the rubric


def test_rubric_manual_check_kind_and_validation(tmp_path, rubric):
    spec = rubric.part("comparison").manual_checks[0]
    assert (spec.id, spec.kind, spec.points) == ("discussion_quality", "manual", 10)
    assert rubric.part("cnn").manual_checks == []
    zero = RUBRIC_TOML.replace('kind = "manual"\npoints = 10', 'kind = "manual"\npoints = 0').replace(
        "total_points = 30", "total_points = 20")
    (tmp_path / "zero.toml").write_text(zero)
    with pytest.raises(RubricError, match=r"manual check 'discussion_quality' needs points > 0"):
        rubric_module.load(tmp_path / "zero.toml")
    twice = RUBRIC_TOML + '\n[[parts.checks]]\nid = "discussion_quality"\nkind = "manual"\npoints = 5\n'
    (tmp_path / "twice.toml").write_text(twice.replace("total_points = 30", "total_points = 35"))
    with pytest.raises(RubricError, match=r"manual check id\(s\) \['discussion_quality'\] repeat"):
        rubric_module.load(tmp_path / "twice.toml")


def test_grading_leaves_the_manual_check_pending(graded_class, rubric):
    submissions, out = graded_class
    data = record(out, DOE)
    check = manual_check(data)
    assert check["score"] == 0 and check["max_score"] == 10 and not check["passed"]
    assert check["evidence"] == {"manual": "pending"}
    assert "not graded yet" in check["message"] and "trade-off between accuracy" in check["message"]
    assert data["score"] == 20 and data["manual_pending"] == [
        {"part": "comparison", "check": "discussion_quality", "max_score": 10}]
    html = report(out, DOE)
    assert 'id="manual-pending" data-points="10"' in html
    row = manual_row_html(html)
    assert 'data-manual="pending"' in row and "— / 10" in row and "pending: graded by hand" in row
    rows = grades_rows(out)
    assert rows["jdoe"]["comparison/discussion_quality"] == "pending"
    assert rows["jdoe"]["total"] == "20.0"
    assert "10 manual point(s) pending (comparison discussion_quality)" in rows["jdoe"]["note"]
    summary = (out / "index.html").read_text(encoding="utf-8")
    assert 'id="manual" data-pending="3" data-pending-points="30"' in summary
    assert '<a id="manual-template" href="manual_template.csv">' in summary
    assert "Blackboard: Doe, Jane (" + DOE + ") has 10 manual point(s) not given yet" in summary
    assert ("Final scores of the graded students (the attempt that counts, after the policy), without the 30 "
            "manual point(s) still pending") in summary
    template = pd.read_csv(out / "manual_template.csv", keep_default_na=False, dtype=str)
    assert list(template.columns) == ["archive", "part", "check", "points", "comment", "max_points", "student"]
    assert sorted(template["archive"]) == sorted([DOE, ROE, POE])
    assert set(template["check"]) == {"discussion_quality"} and set(template["max_points"]) == {"10"}


# ---------------------------------------------------------------- the merge


def test_merge_puts_points_and_comment_everywhere_without_a_sandbox(graded_class, rubric, tmp_path, no_grading):
    submissions, out = graded_class
    archives = sorted(submissions.iterdir())
    keys_before = {a: record(out, a)["resume_key"] for a in (DOE, ROE, POE)}
    summary = grade_batch(archives, out, rubric, SandboxThatMustNotRun(), HeldOutData(),
                          exports=("blackboard", "canvas"), manual=read_sheet(write_csv(tmp_path, GOOD_ROWS)))
    assert summary.skipped == 3 and summary.graded == 0
    assert summary.manual.problems == [] and summary.manual.archives == sorted([DOE, ROE])

    doe, roe, poe = record(out, DOE), record(out, ROE), record(out, POE)
    check = manual_check(doe)
    assert (check["score"], check["passed"], check["evidence"]["manual"]) == (8, True, "given")
    assert check["evidence"]["comment"] == COMMENT and check["evidence"]["given_in"] == "manual.csv line 2"
    assert doe["parts"]["comparison"]["score"] == 18 and doe["score"] == 28 and doe["manual_pending"] == []
    assert manual_check(roe)["score"] == 3.5 and roe["score"] == 14.5
    assert manual_check(poe)["evidence"] == {"manual": "pending"} and poe["score"] == 10
    # the resume key is untouched: the next run still skips the archive, keeping the points
    assert {a: record(out, a)["resume_key"] for a in (DOE, ROE, POE)} == keys_before
    assert up_to_date(archives, out, rubric)
    again = merge_sheet(read_sheet(write_csv(tmp_path, GOOD_ROWS)), out, rubric)      # the same file once more
    assert len(again.applied) == 2 and record(out, DOE) == doe                          # nothing rewritten

    rows = grades_rows(out)
    assert rows["jdoe"]["total"] == "28.0" and rows["jdoe"]["comparison"] == "18.0"
    assert rows["jdoe"]["comparison/discussion_quality"] == "8.0"
    assert rows["jdoe"]["comparison/discussion_quality comment"] == COMMENT
    assert rows["rroe"]["total"] == "14.5" and rows["ppoe"]["comparison/discussion_quality"] == "pending"
    blackboard = pd.read_csv(out / "blackboard_grades.csv", dtype=str, keep_default_na=False)
    column = "Week 6 test rubric [Total Pts: 30 Score] |"
    assert dict(zip(blackboard["Username"], blackboard[column])) == {"jdoe": "28", "rroe": "14.5", "ppoe": "10"}
    canvas = pd.read_csv(out / "canvas_grades.csv", dtype=str, keep_default_na=False)
    assert dict(zip(canvas["SIS Login ID"], canvas["Week 6 test rubric"])) == {
        "": "30", "jdoe": "28", "rroe": "14.5", "ppoe": "10"}

    html = report(out, DOE)
    row = manual_row_html(html)
    assert 'data-manual="given"' in row and "8 / 10" in row and "graded by hand" in row
    assert "Instructor's comment: Names all three models; &#34;the ResNet wins" in row
    assert 'id="manual-pending"' not in html and "<title>Doe, Jane: 28 / 30" in html
    assert 'data-score="28"' in html and "<!--score:part:comparison-->18 / 20<!--/score:part:comparison-->" in html
    assert 'data-final="28" data-raw="28"' in html                      # the policy's standing
    # spliced in place: the figures drawn at grading (not in the JSON record) are still there
    assert 'data-figure="curves"' in html and "<script" not in html
    assert f'http-equiv="Content-Security-Policy" content="{escape(REPORT_CSP)}"' in html
    gradescope = json.loads((out / "gradescope" / output_stem(DOE) / "results.json").read_text())
    assert gradescope["score"] == 28
    summary_html = (out / "index.html").read_text(encoding="utf-8")
    assert 'data-pending="1" data-pending-points="10" data-given="2"' in summary_html
    assert 'data-merged="2"' in summary_html
    rate = re.search(r'<tr class="rate" data-part="comparison" data-check="discussion_quality"[^>]*>', summary_html).group(0)
    # given in 2 of 3; the mean is over the points given, (8 + 3.5) / 2, not over the pending zero
    assert 'data-submissions="3" data-passed="2"' in rate and 'data-mean-points="5.7500"' in rate
    assert "the upload carries the scores, manual points included" in summary_html
    template = pd.read_csv(out / "manual_template.csv", keep_default_na=False, dtype=str)
    assert list(template["archive"]) == [POE]


def test_bad_rows_are_listed_by_line_and_change_nothing(graded_class, rubric, tmp_path, no_grading):
    submissions, out = graded_class
    before = {a: (out / "results" / f"{output_stem(a)}.json").read_bytes() for a in (DOE, ROE, POE)}
    sheet = read_sheet(write_csv(tmp_path, GOOD_ROWS + BAD_ROWS))
    outcome = merge_sheet(sheet, out, rubric)
    rescore(out, rubric, manual_merge=outcome)
    assert [e.line for e in outcome.applied] == [2, 3]
    assert outcome.problems == [
        "manual.csv line 4: no graded archive is named 'week06_NobodyNo.zip' in this class; copy the name from the "
        "summary's manual-points template; the row was not applied.",
        "manual.csv line 5: 'essay_quality' is not a check of that part (part comparison's manual checks: "
        "discussion_quality); the row was not applied.",
        "manual.csv line 6: 'layout_complete' is an automatic check (part comparison's manual checks: "
        "discussion_quality); the row was not applied.",
        "manual.csv line 7: points 12 is outside 0 to 10 for comparison discussion_quality; the row was not applied.",
        "manual.csv line 8: points 'eight' is not a number; the row was not applied.",
        "manual.csv line 9: points -1 is outside 0 to 10 for comparison discussion_quality; the row was not applied.",
        f"manual.csv line 10: {DOE} comparison discussion_quality already has points on line 2; "
        "the row was not applied.",
        "manual.csv line 11: the rubric has no part 'resnet' (parts: cnn, comparison); the row was not applied.",
    ]
    poe = record(out, POE)
    assert (out / "results" / f"{output_stem(POE)}.json").read_bytes() == before[POE]   # not even rewritten
    assert manual_check(poe)["evidence"] == {"manual": "pending"} and poe["score"] == 10
    assert manual_check(record(out, DOE))["score"] == 8                                # line 10 changed nothing
    summary_html = (out / "index.html").read_text(encoding="utf-8")
    assert summary_html.count('class="manual-problem fail"') == 8
    assert "manual.csv line 8: points &#39;eight&#39; is not a number" in summary_html


def test_only_bad_rows_change_no_file(graded_class, rubric, tmp_path, no_grading):
    submissions, out = graded_class
    files = sorted(p for p in out.rglob("*") if p.is_file())
    before = {p: p.read_bytes() for p in files}
    bad_only = "".join(line + "\n" for line in BAD_ROWS.splitlines() if "second row" not in line)
    outcome = merge_sheet(read_sheet(write_csv(tmp_path, "archive,part,check,points,comment\n" + bad_only)), out, rubric)
    assert outcome.applied == [] and len(outcome.problems) == 7
    assert {p: p.read_bytes() for p in files} == before


def test_sheet_header_multiline_comments_and_blank_rows(tmp_path, graded_class, rubric):
    _, out = graded_class
    bad_header = read_sheet(write_csv(tmp_path, "student;points\nDoe;8\n", "semicolons.csv"))
    assert bad_header.problems == ["semicolons.csv line 1: the header must name the columns "
                                   "archive,part,check,points,comment (it has student;points; missing archive,part,"
                                   "check,points). Nothing in it was applied."]
    text = (f"Archive,Part,Check,Points,Comment,max_points,student\n"
            f"{DOE},comparison,discussion_quality,,,10,\"Doe, Jane\"\n"          # not graded yet: skipped
            f"\n"
            f"{ROE},comparison,discussion_quality,7,\"first line\nsecond line\",10,\n"
            f"{POE},comparison,discussion_quality,,a comment without points,10,\n"
            f"'{DOE},comparison,discussion_quality,9,,10,\n")                   # the template's defusing quote
    sheet = read_sheet(write_csv(tmp_path, text))
    records = {a: grade_from_dict(record(out, a)) for a in (DOE, ROE, POE)}
    entries, problems = check_rows(sheet, rubric, records)
    assert [(e.line, e.archive, e.points, e.comment) for e in entries] == [(4, ROE, 7.0, "first line\nsecond line"),
                                                                            (7, DOE, 9.0, "")]
    assert problems == ["manual.csv line 6: a comment without points; give the points too; the row was not applied."]


# ------------------------------------------------------- regrade and rescore


def test_automatic_regrade_keeps_the_given_points(graded_class, rubric, tmp_path, monkeypatch):
    submissions, out = graded_class
    merge_sheet(read_sheet(write_csv(tmp_path, GOOD_ROWS)), out, rubric)
    # Poe hands in a new version under the same name: points given to the old one must not carry over.
    poe_row = f"archive,part,check,points,comment\n{POE},comparison,discussion_quality,6,fine\n"
    merge_sheet(read_sheet(write_csv(tmp_path, poe_row, "poe.csv")), out, rubric)
    write_archive(submissions, POE, "a different discussion")
    regraded = []

    def regrade(archive, rubric_, sandbox, data, work_root, rerun=None, rerun_dir=None):
        regraded.append(archive.name)
        automatic = {name: (cnn, layout) for name, cnn, layout in CLASS.values()}
        cnn, layout = automatic[archive.name]
        return automatic_grade(rubric_, archive, cnn - 1 if cnn else cnn, layout)   # the models score a bit less

    monkeypatch.setattr("grader.batch.grade_submission", regrade)
    summary = grade_batch(sorted(submissions.iterdir()), out, rubric, SandboxThatMustNotRun(), HeldOutData(),
                          force=True)
    assert sorted(regraded) == sorted([DOE, ROE, POE]) and summary.graded == 3
    doe, roe, poe = record(out, DOE), record(out, ROE), record(out, POE)
    assert manual_check(doe)["score"] == 8 and manual_check(doe)["evidence"]["comment"] == COMMENT
    assert doe["parts"]["cnn"]["score"] == 9 and doe["score"] == 9 + 10 + 8
    assert manual_check(roe)["score"] == 3.5 and roe["score"] == 5 + 5 + 3.5
    assert manual_check(poe)["evidence"] == {"manual": "pending"} and poe["score"] == 10
    assert "were for another version of this archive" in manual_check(poe)["message"]
    rows = grades_rows(out)
    assert rows["jdoe"]["total"] == "27.0" and rows["jdoe"]["comparison/discussion_quality comment"] == COMMENT
    assert rows["ppoe"]["comparison/discussion_quality"] == "pending"
    assert "Instructor's comment: Names all three models" in report(out, DOE)


def test_cli_manual_merge_and_rescore_compose(graded_class, rubric, tmp_path, no_grading):
    submissions, out = graded_class
    runner = CliRunner()
    csv_path = write_csv(tmp_path, GOOD_ROWS + BAD_ROWS)
    result = runner.invoke(main, [str(submissions), "--rubric", rubric.path, "--out", str(out),
                                  "--manual", str(csv_path), "--export", "blackboard"])
    assert result.exit_code == 0, result.output
    said = " ".join(result.output.split())           # rich wraps lines at the terminal's width
    assert "sandbox not needed (every record is up to date)" in said
    assert "Manual points: 2 row(s) of manual.csv merged into 2 record(s); 8 not applied" in said
    assert "manual.csv line 7: points 12 is outside 0 to 10" in said
    assert record(out, DOE)["score"] == 28
    # rescore with a late penalty afterwards: the final score is the raw score, manual points included, less it
    (submissions / "grade.toml").write_text(
        '[policy]\ndue = 2026-10-01T23:59:00+00:00\nlate_penalty = "per_day"\npenalty_percent = 10\n'
        "penalty_cap_percent = 50\n")
    result = runner.invoke(main, ["rescore", str(submissions), "--rubric", rubric.path, "--out", str(out),
                                  "--manual", str(write_csv(tmp_path, f"archive,part,check,points,comment\n"
                                                                      f"{POE},comparison,discussion_quality,10,\n",
                                                            "poe.csv"))])
    assert result.exit_code == 0, result.output
    rows = grades_rows(out)
    # due Oct 1, submitted Oct 5 20:00 UTC: 4 days late, 40% of 30 points
    assert (rows["jdoe"]["raw"], rows["jdoe"]["penalty"], rows["jdoe"]["total"]) == ("28.0", "12.0", "16.0")
    assert (rows["ppoe"]["raw"], rows["ppoe"]["total"]) == ("20.0", "8.0")
    assert rows["rroe"]["comparison/discussion_quality"] == "3.5"
    assert 'data-final="16" data-raw="28" data-penalty="12"' in report(out, DOE)
