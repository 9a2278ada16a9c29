"""Grading policies: one grade per student across attempts, due dates, late
penalties, extensions and overrides (grader/policy), and re-scoring a graded
class from its stored records without any sandbox.

The class below has Blackboard- and Canvas-named archives with known raw
scores, written as the JSON records and reports a batch writes; every final
score, chosen attempt, penalty and CSV/LMS row is worked out by hand.
"""

from __future__ import annotations

import io
import json
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pandas as pd
import pytest

from grader import rubric as rubric_module
from grader.batch import find_archives, grade_batch, rescore, resume_key
from grader.folder_config import apply_folder_config
from grader.intake.identity import identify_student
from grader.pipeline import HeldOutData
from grader.policy import GradingPolicy, PolicyError, apply_policy, merge_policy, read_extensions
from grader.policy.lateness import assess, submission_time
from grader.policy.sources import ClassPolicy, load_class_policy
from grader.records import CheckResult, Student
from grader.report import output_stem, write_submission_outputs
from grader.report.gradebooks import blackboard_column, blackboard_export, grades_table
from grader.score.records import PartGrade, SubmissionGrade

CHICAGO_DUE = "2026-10-06T23:59:00-05:00"
BB = "Assignment 6_{user}_attempt_{when}_assignment06_{name}.zip"


@pytest.fixture(scope="module")
def rubric():
    return rubric_module.load()


class SandboxThatMustNotRun:
    """Any use of it fails the test: re-scoring and grading without data start no sandbox."""

    name = "must-not-run"

    def __getattr__(self, attribute):
        raise AssertionError(f"a sandbox was used ({attribute}) where none may run")


def must_not_run(*args, **kwargs):
    raise AssertionError("re-scoring graded or evaluated a submission")


@pytest.fixture()
def no_grading(monkeypatch):
    """Grading and the evaluate stage fail the test if re-scoring reaches them."""
    monkeypatch.setattr("grader.batch.grade_submission", must_not_run)
    monkeypatch.setattr("grader.pipeline.grade_submission", must_not_run)
    monkeypatch.setattr("grader.evaluate.evaluate_submission", must_not_run)


def graded(rubric, archive: str, raw: float, status: str = "graded") -> SubmissionGrade:
    """An attempt's grade with the student read from its real LMS file name, and part
    scores that add up to ``raw`` (the first part carries whatever is left)."""
    student, _ = identify_student(archive, rubric.archive_prefix)
    parts, left = {}, raw
    for part in reversed(rubric.parts):
        score = min(part.max_points, left) if part is not rubric.parts[0] else left
        left -= score
        parts[part.id] = PartGrade(part.id, part.title, score, part.max_points,
                                   [CheckResult(part.checks[0].id, score, part.max_points, score == part.max_points,
                                                f"{part.id} scored {score:g}")])
    parts = dict(reversed(list(parts.items())))
    return SubmissionGrade(archive=archive, student=student, status=status, score=raw if status == "graded" else 0.0,
                           max_score=rubric.total_points, rubric=rubric.id,
                           parts=parts if status == "graded" else {}, grader_version="test")


# name -> (archive, raw score)
CLASS = {
    "adams-1": (BB.format(user="aadams", when="2026-10-05-20-00-00", name="AdamsAnn"), 80.0),
    "adams-2": (BB.format(user="aadams", when="2026-10-07-01-30-00", name="AdamsAnn"), 95.0),
    "baker": (BB.format(user="bbaker", when="2026-10-07-00-10-00", name="BakerBo"), 70.0),
    "cole": (BB.format(user="ccole", when="2026-10-09-12-00-00", name="ColeCy"), 90.0),
    "diaz-1": (BB.format(user="ddiaz", when="2026-10-01-09-00-00", name="DiazDee"), 0.0),
    "diaz-2": (BB.format(user="ddiaz", when="2026-10-12-09-00-00", name="DiazDee"), 50.0),
    "evans": ("eevans_late_101_9001_assignment06_EvansEve.zip", 88.0),
    "fox": ("ffox_102_9002_assignment06_FoxFay.zip", 66.0),
    "green": ("ggreen_late_103_9003_assignment06_GreenGil.zip", 77.0),
    "hill": ("hhill_104_9004_assignment06_HillHal.zip", 40.0),
}
EXTENSIONS = """username,due,score,reason
ccole,2026-10-10,,medical note
hhill,,75,regraded by hand after a sandbox failure
ddiaz,next friday,,asked by email
ffox,,90,
zzz,2026-10-20,,typo in the username
ccole,,100,second row for ccole
"""
TIMES = "archive,submitted\nggreen_late_103_9003_assignment06_GreenGil.zip,2026-10-08T10:00:00-05:00\n"
POLICY = {"due": CHICAGO_DUE, "timezone": "America/Chicago", "grace_minutes": 15, "late_penalty": "per_day",
          "penalty_percent": 10, "penalty_cap_percent": 30, "late_unknown_time": "minimum"}


@pytest.fixture()
def graded_class(tmp_path, rubric):
    """The class's records and reports in out/, the way a batch leaves them (diaz-1 is an error)."""
    out = tmp_path / "grades"
    for key, (archive, raw) in CLASS.items():
        write_submission_outputs(graded(rubric, archive, raw, "error" if key == "diaz-1" else "graded"), out)
    (tmp_path / "extensions.csv").write_text(EXTENSIONS)
    (tmp_path / "times.csv").write_text(TIMES)
    return tmp_path, out


def class_policy(tmp_path, rubric, **changes) -> ClassPolicy:
    policy = GradingPolicy.model_validate({**POLICY, **changes})
    return ClassPolicy(policy, read_extensions(tmp_path / "extensions.csv", policy, rubric.total_points),
                       load_class_policy(rubric, {"submission_times": str(tmp_path / "times.csv")}).times)


def read_extensions_text(text: str, policy: GradingPolicy):
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "extensions.csv"
        path.write_text(text)
        return read_extensions(path, policy, 100.0)


def by_username(csv_path: Path, column: str) -> dict[str, dict]:
    table = pd.read_csv(csv_path, keep_default_na=False, dtype=str)
    return {row[column]: row for row in table.to_dict("records")}


# ---------------------------------------------------------------- the class


def test_final_scores_chosen_attempts_and_penalties(graded_class, rubric, no_grading):
    tmp_path, out = graded_class
    standing = rescore(out, rubric, class_policy(tmp_path, rubric), exports=("blackboard", "canvas"))
    students = {s.key: s for s in standing.students}
    # key: (archive that counts, raw, penalty, final, lateness)
    expected = {
        "aadams": (CLASS["adams-2"][0], 95, 10, 85, "late"),            # 1 h 31 min late: one day, 10 %
        "bbaker": (CLASS["baker"][0], 70, 0, 70, "grace"),              # 11 min late, 15 min grace
        "ccole": (CLASS["cole"][0], 90, 0, 90, "on-time"),              # extension to the end of Oct 10
        "ddiaz": (CLASS["diaz-2"][0], 50, 30, 20, "late"),              # 5 d 9 h: 6 days, capped at 30 %
        "eevans": (CLASS["evans"][0], 88, 10, 78, "late-unknown-time"),  # Canvas _late, no time: one day
        "ffox": (CLASS["fox"][0], 66, 0, 66, "on-time"),                # Canvas did not mark it late
        "ggreen": (CLASS["green"][0], 77, 20, 57, "late"),              # times file: 1 d 10 h 1 min, two days
        "hhill": (CLASS["hill"][0], 40, 0, 75, "on-time"),              # override: 75, no penalty
    }
    assert set(students) == set(expected)
    for key, (archive, raw, penalty, final, lateness) in expected.items():
        student = students[key]
        assert (student.archive, student.raw_score, student.penalty, student.final_score,
                student.chosen.lateness.state) == (archive, raw, penalty, final, lateness), key
    assert [a.grade.archive for a in students["aadams"].attempts] == [CLASS["adams-1"][0], CLASS["adams-2"][0]]
    assert students["aadams"].attempts[0].final == 80 and not students["aadams"].attempts[0].counts
    assert "latest of 2 attempts" in students["aadams"].why and "by submission time" in students["aadams"].why
    assert students["ddiaz"].attempts[0].grade.status == "error"       # the latest counts, not the broken first
    assert "1 d 10 h 1 min" in students["ggreen"].chosen.lateness.explanation
    assert "counted as 2 days" in students["ggreen"].chosen.lateness.explanation
    assert "America/Chicago" in students["aadams"].chosen.time.note
    assert "without saying when" in students["eevans"].chosen.time.note
    assert "late_unknown_time = \"minimum\"" in students["eevans"].chosen.lateness.explanation
    assert students["ccole"].due == datetime(2026, 10, 10, 23, 59, 59, tzinfo=GradingPolicy(timezone="America/Chicago").zone)
    assert "regraded by hand" in students["hhill"].why and students["hhill"].override.line == 3


def test_invalid_policy_rows_are_reported_by_line_and_change_nothing(graded_class, rubric):
    tmp_path, out = graded_class
    standing = rescore(out, rubric, class_policy(tmp_path, rubric))
    problems = "\n".join(standing.problems)
    assert "extensions.csv line 4: 'next friday' is not an ISO date-time" in problems
    assert "extensions.csv line 5: a score override needs a reason" in problems
    assert "extensions.csv line 7: ccole already has a row (line 2)" in problems
    assert "extensions.csv line 6: no archive from 'zzz' is in this class" in problems
    assert len(standing.problems) == 4
    students = {s.key: s for s in standing.students}
    assert students["ddiaz"].extension is None and students["ddiaz"].penalty == 30   # its bad row did nothing
    assert students["ffox"].override is None and students["ffox"].final_score == 66
    assert students["ccole"].override is None and students["ccole"].final_score == 90  # the second row is ignored
    index = (out / "index.html").read_text()
    assert "extensions.csv line 4" in index and "extensions.csv line 6: no archive from" in index


def test_grades_csv_and_lms_rows_are_one_per_student(graded_class, rubric):
    tmp_path, out = graded_class
    rescore(out, rubric, class_policy(tmp_path, rubric), exports=("blackboard", "canvas"))
    table = pd.read_csv(out / "grades.csv", keep_default_na=False, dtype=str)
    assert list(table["username"]) == ["aadams", "bbaker", "ccole", "ddiaz", "eevans", "ffox", "ggreen", "hhill"]
    rows = {row["username"]: row for row in table.to_dict("records")}
    assert (rows["aadams"]["archive"], rows["aadams"]["total"], rows["aadams"]["raw"], rows["aadams"]["penalty"],
            rows["aadams"]["attempts"], rows["aadams"]["lateness"]) == (CLASS["adams-2"][0], "85.0", "95.0", "10.0",
                                                                        "2", "late")
    assert rows["aadams"]["submitted"] == "2026-10-07T01:30:00-05:00"
    assert float(rows["aadams"]["6.1"]) + float(rows["aadams"]["6.2a"]) + float(rows["aadams"]["6.2b"]) + \
        float(rows["aadams"]["6.3"]) == 95.0                                # part scores are the raw attempt's
    assert [rows[u]["total"] for u in ("bbaker", "ccole", "ddiaz", "eevans", "ffox", "ggreen", "hhill")] == \
        ["70.0", "90.0", "20.0", "78.0", "66.0", "57.0", "75.0"]
    assert rows["hhill"]["lateness"] == "override" and rows["hhill"]["note"].startswith("score set by the instructor")
    assert rows["ccole"]["note"].startswith("extension to 2026-10-10T23:59:59-05:00")
    assert rows["eevans"]["submitted"] == "" and rows["ggreen"]["submitted"] == "2026-10-08T10:00:00-05:00"

    blackboard = by_username(out / "blackboard_grades.csv", "Username")
    score = [c for c in pd.read_csv(out / "blackboard_grades.csv").columns if c.startswith("DSC 650")][0]
    assert {u: r[score] for u, r in blackboard.items()} == {
        "aadams": "85", "bbaker": "70", "ccole": "90", "ddiaz": "20", "eevans": "78", "ffox": "66", "ggreen": "57",
        "hhill": "75"}
    canvas = by_username(out / "canvas_grades.csv", "SIS Login ID")
    assert canvas[""]["Student"] == "Points Possible"
    assert {u: r[rubric.title] for u, r in canvas.items() if u} == {u: r[score] for u, r in blackboard.items()}
    assert canvas["eevans"]["Student"] == "Evans, Eve"
    # Canvas's import matches rows on its user id, which its download name carries.
    assert {u: r["ID"] for u, r in canvas.items() if u} == {
        "aadams": "", "bbaker": "", "ccole": "", "ddiaz": "", "eevans": "101", "ffox": "102", "ggreen": "103",
        "hhill": "104"}

    standings = json.loads((out / "standings.json").read_text())
    adams = next(s for s in standings["students"] if s["key"] == "aadams")
    assert [a["counts"] for a in adams["attempts"]] == [False, True] and adams["final"] == 85


def test_each_report_lists_every_attempt_and_which_counts(graded_class, rubric):
    tmp_path, out = graded_class
    rescore(out, rubric, class_policy(tmp_path, rubric))
    first = (out / "reports" / f"{output_stem(CLASS['adams-1'][0])}.html").read_text()
    assert 'data-final="85" data-raw="95" data-penalty="10"' in first
    assert "does not count" in first and "latest of 2 attempts" in first
    assert first.count('class="attempt"') == 2
    assert f'data-archive="{CLASS["adams-1"][0]}" data-counts="false" data-raw="80" data-penalty="0" data-final="80"' in first
    assert f'data-archive="{CLASS["adams-2"][0]}" data-counts="true" data-raw="95" data-penalty="10" data-final="85"' in first
    assert "read in the America/Chicago time zone" in first
    fox = (out / "reports" / f"{output_stem(CLASS['fox'][0])}.html").read_text()
    assert "The only attempt counts." in fox and "Canvas did not mark it late" in fox
    index = (out / "index.html").read_text()
    assert 'data-students="8"' in index and 'data-archives="10"' in index
    late = [line for line in index.splitlines() if 'class="late-student"' in line]
    assert len(late) == 4     # adams, diaz, evans, green: bbaker is within the grace period
    assert 'data-kind="extension" data-value="2026-10-10T23:59:59-05:00"' in index
    assert 'data-kind="override" data-value="75"' in index


SECONDS_PER_STUDENT = 0.25      # "well under a second", with the summary's histogram and every report rewritten


def test_changing_the_policy_rescores_fast_without_a_sandbox(graded_class, rubric, no_grading):
    tmp_path, out = graded_class
    for n in range(32):        # more students, two Blackboard attempts each, so that per-student time shows
        for day in (5, 8):
            archive = BB.format(user=f"extra{n:02d}", when=f"2026-10-0{day}-12-00-00", name=f"Extra{n:02d}Ed")
            write_submission_outputs(graded(rubric, archive, 50 + n), out)
    rescore(out, rubric, class_policy(tmp_path, rubric))
    report = out / "reports" / f"{output_stem(CLASS['adams-1'][0])}.html"
    figures_before = report.read_text().split("<!--/grade-standing-->")[1]
    started = time.perf_counter()
    standing = rescore(out, rubric, class_policy(tmp_path, rubric, attempts="best", late_penalty="reject"))
    seconds = time.perf_counter() - started
    per_student = seconds / len(standing.students)
    print(f"re-scored {len(standing.students)} students in {seconds:.3f} s ({per_student * 1000:.1f} ms each)")
    assert len(standing.students) == 40 and per_student < SECONDS_PER_STUDENT
    extra = next(s for s in standing.students if s.key == "extra07")
    assert (extra.archive, extra.final_score) == (BB.format(user="extra07", when="2026-10-05-12-00-00",
                                                            name="Extra07Ed"), 57)   # the late one is rejected
    finals = {s.key: (s.archive, s.final_score) for s in standing.students if not s.key.startswith("extra")}
    assert finals == {
        "aadams": (CLASS["adams-1"][0], 80),     # the late 95 is rejected; the on-time 80 counts
        "bbaker": (CLASS["baker"][0], 70), "ccole": (CLASS["cole"][0], 90),
        "ddiaz": (CLASS["diaz-1"][0], 0),        # the accepted attempt could not be graded: an error row
        "eevans": (CLASS["evans"][0], 0), "ffox": (CLASS["fox"][0], 66),
        "ggreen": (CLASS["green"][0], 0), "hhill": (CLASS["hill"][0], 75)}
    assert next(s for s in standing.students if s.key == "ddiaz").status == "error"
    adams = next(s for s in standing.students if s.key == "aadams")
    assert "Late attempts the policy rejects count only when there is no accepted one" in adams.why
    assert report.read_text().split("<!--/grade-standing-->")[1] == figures_before   # only the grade section changed
    assert 'data-final="80" data-raw="80" data-penalty="0"' in report.read_text()


# ------------------------------------------------------- batch and resume


def test_batch_groups_real_archives_and_a_policy_change_regrades_nothing(tmp_path, rubric):
    subs = tmp_path / "submissions"
    subs.mkdir()
    names = [BB.format(user="aadams", when=w, name="AdamsAnn") for w in ("2026-10-05-20-00-00", "2026-10-08-09-00-00")]
    names += ["eevans_late_101_9001_assignment06_EvansEve.zip"]
    for name in names:
        (subs / name).write_bytes(b"PK\x03\x04 cut short")     # damaged: an error row, graded without a model
    out = tmp_path / "grades"
    first = grade_batch(find_archives(subs), out, rubric, SandboxThatMustNotRun(), HeldOutData())
    assert first.errors == 3 and len(first.standing.students) == 2
    adams = next(s for s in first.standing.students if s.key == "aadams")
    assert adams.archive == names[1] and len(adams.attempts) == 2
    table = pd.read_csv(out / "grades.csv", keep_default_na=False, dtype=str)
    assert list(table["username"]) == ["aadams", "eevans"] and list(table["status"]) == ["error", "error"]

    late_rubric = rubric.model_copy(update={"policy": GradingPolicy.model_validate(POLICY)})
    assert resume_key(subs / names[0], late_rubric) == resume_key(subs / names[0], rubric)
    second = grade_batch(find_archives(subs), out, late_rubric, SandboxThatMustNotRun(), HeldOutData())
    assert second.skipped == 3 and second.graded == second.errors == 0
    evans = next(s for s in second.standing.students if s.key == "eevans")
    assert evans.chosen.lateness.state == "late-unknown-time"


def test_resume_key_ignores_the_rubric_policy_table_but_not_grading(tmp_path, rubric):
    source = Path(rubric.path).read_text()
    archive = tmp_path / "a.zip"
    archive.write_bytes(b"PK")

    def key_for(text: str) -> str:
        path = tmp_path / "rubric.toml"
        path.write_text(text)
        for name in ("assignment06.baselines.toml",):
            (tmp_path / name).write_text((Path(rubric.path).parent / name).read_text())
        return resume_key(archive, rubric_module.load(path))

    plain = key_for(source)
    with_policy = key_for(source + f'\n[policy]\ndue = {CHICAGO_DUE}\nlate_penalty = "per_hour"\n# a comment\n')
    assert with_policy == plain
    fewer_points = source.replace('id = "layout_complete"\npoints = 4', 'id = "layout_complete"\npoints = 3', 1)
    fewer_points = fewer_points.replace("total_points = 100", "total_points = 99", 1)
    assert key_for(fewer_points) != plain


# ------------------------------------------------------------- the pieces


def test_late_arithmetic_hours_days_grace_and_cap():
    due = datetime(2026, 10, 6, 23, 59, tzinfo=timezone(timedelta(hours=-5)))
    per_hour = GradingPolicy(due=due, late_penalty="per_hour", penalty_percent=5, penalty_cap_percent=20,
                             grace_minutes=10)

    def at(delta: timedelta, policy=per_hour):
        time_ = submission_time(Student("Doe", "Jane"), "x.zip", policy, {"x.zip": due + delta})
        return assess(time_, due, 90.0, 100.0, policy)

    assert at(timedelta(minutes=10)).state == "grace" and at(timedelta(minutes=10)).penalty == 0
    assert at(timedelta(minutes=11)).units == 1 and at(timedelta(minutes=11)).penalty == 5     # from the due date
    assert at(timedelta(hours=2, seconds=1)).units == 3 and at(timedelta(hours=2, seconds=1)).penalty == 15
    # the second that makes it a third hour is shown, or "2 h 0 min ... counted as 3 hours" explains nothing
    assert "Submitted 2 h 0 min 1 s after the due date" in at(timedelta(hours=2, seconds=1)).explanation
    assert "counted as 3 hours" in at(timedelta(hours=2, seconds=1)).explanation
    assert at(timedelta(hours=30)).percent == 20 and at(timedelta(hours=30)).penalty == 20     # the cap
    tiny = assess(submission_time(Student("Doe", "Jane"), "x.zip", per_hour, {"x.zip": due + timedelta(hours=5)}),
                  due, 3.0, 100.0, per_hour)
    assert tiny.penalty == 3.0                                    # never below zero
    no_time = assess(submission_time(Student("Doe", "Jane"), "x.zip", per_hour), due, 90.0, 100.0, per_hour)
    assert no_time.state == "unknown" and no_time.penalty == 0 and "no late penalty" in no_time.explanation
    no_due = assess(submission_time(Student("Doe", "Jane", attempt="2026-10-07-00-00-00"), "x.zip", per_hour),
                    None, 90.0, 100.0, per_hour)
    assert no_due.state == "no-due" and no_due.penalty == 0


def test_canvas_late_without_time_follows_the_rule(rubric):
    student, _ = identify_student("eevans_LATE_101_9001_assignment06_EvansEve.zip", "assignment06")
    assert student.lms == "canvas" and student.late and student.username == "eevans"
    due = datetime.fromisoformat(CHICAGO_DUE)
    for rule, penalty in (("minimum", 10), ("cap", 30), ("none", 0)):
        policy = GradingPolicy.model_validate({**POLICY, "late_unknown_time": rule})
        outcome = assess(submission_time(student, "x.zip", policy), due, 88.0, 100.0, policy)
        assert (outcome.state, outcome.penalty) == ("late-unknown-time", penalty), rule
    extended = assess(submission_time(student, "x.zip", GradingPolicy.model_validate(POLICY)), due, 88.0, 100.0,
                      GradingPolicy.model_validate(POLICY), extended=True)
    assert extended.penalty == 0 and "extension" in extended.explanation


def test_best_and_first_and_aliases(rubric):
    grades = [graded(rubric, BB.format(user="jdoe", when="2026-10-01-10-00-00", name="DoeJane"), 60),
              graded(rubric, BB.format(user="jdoe", when="2026-10-03-10-00-00", name="DoeJane"), 90),
              graded(rubric, BB.format(user="jdoe", when="2026-10-05-10-00-00", name="DoeJane"), 70),
              graded(rubric, "assignment06_DoeJane.zip", 100, status="error")]
    aliases = {"doe jane": "jdoe"}
    best = apply_policy(grades, GradingPolicy(attempts="best", aliases=aliases)).students
    assert len(best) == 1 and best[0].archive == grades[1].archive and best[0].final_score == 90
    assert "best of 4 attempts" in best[0].why and best[0].student.username == "jdoe"
    first = apply_policy(grades, GradingPolicy(attempts="first", aliases=aliases)).students[0]
    assert first.archive == grades[0].archive and first.final_score == 60
    latest = apply_policy(grades, GradingPolicy(attempts="latest", aliases=aliases)).students[0]
    assert latest.archive == "assignment06_DoeJane.zip" and latest.status == "error"   # no time: after the timed
    assert "then the 1 attempt(s) of unknown time, by file name" in latest.why
    late = GradingPolicy(due="2026-10-02T00:00:00+00:00", late_penalty="per_day", aliases=aliases)
    extended = apply_policy(grades[:2], late, read_extensions_text("username,due,score,reason\n"
                                                                   "Doe Jane,2026-10-04,,flu\n", late)).students[0]
    assert extended.key == "jdoe" and extended.extension.line == 2 and extended.penalty == 0   # found by its alias
    apart = apply_policy(grades, GradingPolicy(attempts="best")).students
    assert sorted(s.key for s in apart) == ["doe jane", "jdoe"]
    assert next(s for s in apart if s.key == "doe jane").status == "error"


def test_policy_tables_are_validated_with_the_key_named(tmp_path, rubric):
    with pytest.raises(PolicyError) as caught:
        merge_policy(rubric.policy, {"due": "2026-10-06T23:59:00", "attempts": "most"}, "subs/grade.toml")
    message = str(caught.value)
    assert "subs/grade.toml" in message and "policy.due" in message and "has no time zone" in message
    assert "policy.attempts" in message
    with pytest.raises(PolicyError, match="not a known time zone"):
        merge_policy(rubric.policy, {"timezone": "Mars/Olympus"}, "grade.toml")
    subs = tmp_path / "subs"
    subs.mkdir()
    (subs / "grade.toml").write_text(f'[policy]\ndue = {CHICAGO_DUE}\nlate_penalty = "per_day"\n'
                                     'extensions = "ext.csv"\n[policy.aliases]\n"Doe Jane" = "JDoe"\n')
    (subs / "ext.csv").write_text("username,due,score,reason\njdoe,2026-10-09,,flu\n")
    settings = apply_folder_config(subs, rubric=None, data_dir=tmp_path)
    loaded = load_class_policy(rubric, settings.policy, str(settings.config_path))
    assert loaded.policy.late_penalty == "per_day" and loaded.policy.aliases == {"doe jane": "jdoe"}
    assert loaded.policy.due == datetime.fromisoformat(CHICAGO_DUE)
    assert list(loaded.extensions.entries) == ["jdoe"] and loaded.extensions.problems == []
    (subs / "grade.toml").write_text('[policy]\nextensions = "missing.csv"\n')
    with pytest.raises(PolicyError, match="missing.csv: no such extensions file"):
        load_class_policy(rubric, apply_folder_config(subs, None, tmp_path).policy)


def test_extensions_file_header_must_fit(tmp_path, rubric):
    path = tmp_path / "ext.csv"
    path.write_text("student,when\njdoe,2026-10-09\n")
    parsed = read_extensions(path, GradingPolicy(), rubric.total_points)
    assert parsed.entries == {} and parsed.problems == [
        "ext.csv line 1: the header must name the columns username,due,score (it has student,when). "
        "Nothing in it was applied."]
    path.write_text('\ufeffUsername,Due,Score,Reason\n"jdoe",,101,too many\n\nrroe,,85.5,"regraded, by hand"\n')
    parsed = read_extensions(path, GradingPolicy(), rubric.total_points)
    assert parsed.problems == ["ext.csv line 2: score 101 is outside 0 to 100; the row was ignored."]
    assert parsed.entries["rroe"].score == 85.5 and parsed.entries["rroe"].line == 4


def test_a_students_own_resubmitted_model_is_not_a_duplicate(rubric):
    from grader.report.summary import duplicate_models

    first, second = (graded(rubric, BB.format(user="jdoe", when=w, name="DoeJane"), 50)
                     for w in ("2026-10-01-10-00-00", "2026-10-02-10-00-00"))
    other = graded(rubric, BB.format(user="rroe", when="2026-10-02-11-00-00", name="RoeRay"), 50)
    for grade in (first, second, other):
        grade.model_hashes = {"6.1": "f" * 64}
    owners = {a: s.key for a, s in apply_policy([first, second], GradingPolicy()).by_archive().items()}
    assert duplicate_models([first, second], owner=owners) == []
    owners = {a: s.key for a, s in apply_policy([first, second, other], GradingPolicy()).by_archive().items()}
    groups = duplicate_models([first, second, other], owner=owners)
    assert len(groups) == 1 and len(groups[0].members) == 3


def test_grade_rescore_command_uses_the_folder_policy(graded_class, rubric, no_grading):
    from click.testing import CliRunner

    from grader.cli import main

    tmp_path, out = graded_class
    subs = tmp_path / "submissions"
    subs.mkdir()
    policy_lines = "\n".join(f"{key} = {json.dumps(value)}" for key, value in POLICY.items() if key != "due")
    (subs / "grade.toml").write_text(f"[policy]\ndue = {CHICAGO_DUE}\n{policy_lines}\n"
                                     'submission_times = "../times.csv"\n')
    result = CliRunner().invoke(main, ["rescore", str(subs), "--out", str(out),
                                       "--policy-file", str(tmp_path / "extensions.csv"), "--export", "canvas"])
    assert result.exit_code == 0, result.output
    assert "Re-scored 10 record(s)" in result.output
    assert "8 student(s): 4 late, 4 penalised, 2 with an extension or override" in result.output
    canvas = by_username(out / "canvas_grades.csv", "SIS Login ID")
    assert (canvas["ggreen"][rubric.title], canvas["eevans"][rubric.title], canvas["hhill"][rubric.title]) == \
        ("57", "78", "75")
    (subs / "grade.toml").write_text('[policy]\nattempts = "most"\n')
    result = CliRunner().invoke(main, ["rescore", str(subs), "--out", str(out)])
    assert result.exit_code == 2 and "policy.attempts" in result.output and "grade.toml" in result.output


# ------------------------------------------------- audit: times and overrides


def test_the_zips_own_timestamps_never_give_the_submission_time(tmp_path, rubric):
    """Entries and the archive file itself dated long after the due date: a plainly named
    archive has no trustworthy time (no penalty, and its report says why); a Blackboard one
    is timed by its name alone, so an on-time name stays on time."""
    import os
    import zipfile

    subs = tmp_path / "submissions"
    subs.mkdir()
    names = ("assignment06_DoeJane.zip", BB.format(user="rroe", when="2026-10-06-20-00-00", name="RoeRay"),
             BB.format(user="ssmith", when="2026-10-08-09-00-00", name="SmithSue"))
    late_stamp = datetime(2030, 1, 1, tzinfo=timezone.utc).timestamp()
    for name in names:
        with zipfile.ZipFile(subs / name, "w") as archive:
            dated = (1981, 1, 1, 0, 0, 0) if "ssmith" in name else (2030, 1, 1, 0, 0, 0)   # ssmith: "early"
            archive.writestr(zipfile.ZipInfo("notes.txt", date_time=dated), "no notebook")
        os.utime(subs / name, (late_stamp, late_stamp))
    policy = GradingPolicy.model_validate(POLICY)
    out = tmp_path / "grades"
    summary = grade_batch(find_archives(subs), out, rubric, SandboxThatMustNotRun(), HeldOutData(),
                          policy=ClassPolicy(policy))
    students = {s.key: s for s in summary.standing.students}
    doe, roe, smith = students["doe jane"], students["rroe"], students["ssmith"]
    assert (doe.chosen.time.source, doe.chosen.lateness.state, doe.penalty) == ("none", "unknown", 0)
    assert (roe.chosen.time.source, roe.chosen.lateness.state, roe.penalty) == ("blackboard", "on-time", 0)
    assert roe.chosen.time.when == datetime(2026, 10, 6, 20, tzinfo=policy.zone)
    assert (smith.chosen.lateness.state, smith.chosen.lateness.units) == ("late", 2)   # 1 d 9 h by its name
    report = (out / "reports" / f"{output_stem(names[0])}.html").read_text()
    assert "the zip&#39;s own timestamps come from the student&#39;s computer, so they are not used" in report
    assert "No trustworthy submission time, so no late penalty applies." in report
    table = pd.read_csv(out / "grades.csv", keep_default_na=False, dtype=str)
    doe_row = table[table["archive"] == names[0]].iloc[0]
    assert (doe_row["lateness"], doe_row["penalty"], doe_row["submitted"]) == ("unknown", "0.0", "")


def test_blackboard_times_without_a_timezone_are_read_at_the_due_dates_offset(rubric):
    """An instructor at UTC+02:00 who writes the due date with its offset and no timezone:
    a Blackboard attempt named 23:00 (their server's local time) is on time, not an hour late
    as reading it in UTC would make it; a bare extension date ends at their midnight."""
    policy = GradingPolicy.model_validate({"due": "2026-10-06T23:59:00+02:00", "late_penalty": "per_hour",
                                           "penalty_percent": 5})
    on_time = graded(rubric, BB.format(user="jdoe", when="2026-10-06-23-00-00", name="DoeJane"), 90)
    late = graded(rubric, BB.format(user="rroe", when="2026-10-07-01-30-00", name="RoeRay"), 90)
    standing = apply_policy([on_time, late], policy)
    students = {s.key: s for s in standing.students}
    assert (students["jdoe"].chosen.lateness.state, students["jdoe"].final_score) == ("on-time", 90)
    assert (students["rroe"].chosen.lateness.units, students["rroe"].penalty, students["rroe"].final_score) == \
        (2, 10, 80)                                       # 1 h 31 min late: two hours at 5 %
    assert "read in the UTC+02:00 (the due date's offset) time zone" in students["jdoe"].chosen.time.note
    assert any("set timezone (e.g. America/Chicago) to follow daylight saving" in line for line in policy.describe())
    extension = read_extensions_text("username,due,score,reason\nrroe,2026-10-07,,flu\n", policy)
    assert extension.entries["rroe"].due.isoformat() == "2026-10-07T23:59:59+02:00"
    named = GradingPolicy.model_validate({"due": "2026-10-06T23:59:00+02:00", "timezone": "UTC"})
    assert apply_policy([on_time], named).students[0].chosen.time.when.utcoffset() == timedelta(0)  # said: obeyed


def test_an_override_replaces_a_late_score_and_takes_no_penalty(tmp_path, rubric):
    """A late student whose score the instructor sets: the override is the final score in
    grades.csv and both LMS uploads, no penalty, not listed as late; the extension of a
    second late student moves the due date so their penalty goes."""
    policy = GradingPolicy.model_validate(POLICY)
    grades = [graded(rubric, BB.format(user="llate", when="2026-10-09-10-00-00", name="LateLou"), 60),
              graded(rubric, BB.format(user="llate", when="2026-10-05-10-00-00", name="LateLou"), 40),
              graded(rubric, BB.format(user="mmore", when="2026-10-08-10-00-00", name="MoreMo"), 80)]
    extensions = read_extensions_text("username,due,score,reason\nllate,,70,late because of a sandbox outage\n"
                                      "mmore,2026-10-08T12:00:00-05:00,,family emergency\n", policy)
    standing = apply_policy(grades, policy, extensions)
    lou, mo = (next(s for s in standing.students if s.key == key) for key in ("llate", "mmore"))
    assert lou.archive == grades[0].archive and lou.chosen.lateness.state == "late"    # the latest attempt, 3 days late
    assert (lou.raw_score, lou.chosen.lateness.penalty, lou.penalty, lou.final_score, lou.late) == \
        (60, 30, 0, 70, False)
    assert (mo.raw_score, mo.penalty, mo.final_score, mo.chosen.lateness.state) == (80, 0, 80, "on-time")
    assert [s.key for s in standing.late] == [] and {s.key for s in standing.adjusted} == {"llate", "mmore"}
    rows = {row["username"]: row for row in grades_table(standing.students, rubric).to_dict("records")}
    assert (rows["llate"]["total"], rows["llate"]["raw"], rows["llate"]["penalty"], rows["llate"]["lateness"]) == \
        (70, 60, 0, "override")
    assert rows["llate"]["note"] == "score set by the instructor: late because of a sandbox outage"
    upload = pd.read_csv(io.StringIO(blackboard_export(standing.students, rubric).csv_text), dtype=str)
    assert dict(zip(upload["Username"], upload[blackboard_column(rubric)])) == {"llate": "70", "mmore": "80"}


def test_gradescope_files_stay_per_attempt_with_the_raw_score(graded_class, rubric):
    """Gradescope's results.json is its autograder's answer for one submission (Gradescope
    applies its own late policy), so each attempt keeps its raw score there."""
    tmp_path, out = graded_class
    rescore(out, rubric, class_policy(tmp_path, rubric))
    for key in ("adams-1", "adams-2", "diaz-2", "green", "hill"):
        archive, raw = CLASS[key]
        results = json.loads((out / "gradescope" / output_stem(archive) / "results.json").read_text())
        assert results["score"] == raw, key


def test_a_rescore_rewrites_the_uploads_an_earlier_run_wrote(graded_class, rubric, no_grading):
    """An upload left from the first run must not keep the old grades after the
    policy changed, even when the re-score does not ask for it again."""
    tmp_path, out = graded_class
    rescore(out, rubric, class_policy(tmp_path, rubric), exports=("blackboard", "canvas"))
    assert by_username(out / "grades.csv", "username")["aadams"]["total"] == "85.0"
    rescore(out, rubric, class_policy(tmp_path, rubric, attempts="best", penalty_percent=20))   # no export asked
    assert by_username(out / "grades.csv", "username")["aadams"]["total"] == "80.0"   # on-time 80 beats 95 - 20
    blackboard = by_username(out / "blackboard_grades.csv", "Username")
    score = blackboard_column(rubric)
    # ggreen: 77, two days late at 20 % a day = 40, capped at 30
    assert (blackboard["aadams"][score], blackboard["ggreen"][score]) == ("80", "47")
    canvas = by_username(out / "canvas_grades.csv", "SIS Login ID")
    assert (canvas["aadams"][rubric.title], canvas["ggreen"][rubric.title]) == ("80", "47")


def test_a_rescore_writes_no_upload_nobody_asked_for(graded_class, rubric, no_grading):
    tmp_path, out = graded_class
    rescore(out, rubric, class_policy(tmp_path, rubric))
    assert (out / "grades.csv").exists()
    assert not (out / "blackboard_grades.csv").exists() and not (out / "canvas_grades.csv").exists()


def test_an_error_attempt_that_counts_has_no_final_score_in_its_report(tmp_path, rubric, no_grading):
    """An error row (here: its parts were read and scored, the instructor's data was
    missing) is not finalised: the report must not say "0 = raw 62 - penalty 0"."""
    import dataclasses

    out = tmp_path / "grades"
    archive = BB.format(user="iivy", when="2026-10-05-10-00-00", name="IvyIda")
    write_submission_outputs(dataclasses.replace(graded(rubric, archive, 62.0), status="error"), out)
    rescore(out, rubric, ClassPolicy(GradingPolicy.model_validate(POLICY)), exports=("blackboard",))
    report = (out / "reports" / f"{output_stem(archive)}.html").read_text()
    assert 'id="standing-not-final"' in report and "<strong>not given</strong> / 100" in report
    assert "The parts that were graded come to 62." in report
    assert "= raw score" not in report
    assert by_username(out / "blackboard_grades.csv", "Username")["iivy"][blackboard_column(rubric)] == ""


def test_a_due_offset_the_timezone_does_not_have_then_is_warned_about():
    """23:59-05:00 on 6 November is 22:59 in Chicago (daylight saving ended on the 1st):
    the last hour's Blackboard attempts, read in Chicago's time, would all be late."""
    winter = GradingPolicy.model_validate({"due": "2026-11-06T23:59:00-05:00", "timezone": "America/Chicago"})
    assert winter.zone_disagreement() == (
        "[policy] due = 2026-11-06T23:59:00-05:00 is written with offset -05:00, but America/Chicago is at -06:00 "
        "then (due 2026-11-06T22:59:00-06:00 there), and Blackboard attempt times are read in America/Chicago: "
        "write the due date with -06:00 if 23:59 local time is meant")
    assert ClassPolicy(winter).problems == [winter.zone_disagreement()]
    summer = GradingPolicy.model_validate(POLICY)        # 6 October, -05:00: Chicago's daylight time
    assert summer.zone_disagreement() == "" and ClassPolicy(summer).problems == []
    assert GradingPolicy.model_validate({"due": "2026-11-06T23:59:00-05:00"}).zone_disagreement() == ""
