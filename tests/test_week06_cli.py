"""The week06_architectures rubric through the `grade` command (issue 11,
item 7): check, pack (week06_LastnameFirstname.zip), choosing the rubric by
--rubric (a name or a path), by the folder's grade.toml (a name, or a path
relative to it) or by the archives' own names, and a graded class's exports
(grades.csv, Canvas, Gradescope). The archives hold the comparison's files
only, so no model runs and no sandbox starts: the records say the test data
is missing, which is what an instructor without CIFAR-10 sees."""

from __future__ import annotations

import json
import shutil
import zipfile
from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner

from grader.cli import main
from grader.rubric import rubrics_dir
from grader.rubric_choice import rubric_for, rubric_named_by

TABLE = "model,test_accuracy,params,ms_per_image\nCNN,0.712,122570,0.81\nResNet-20,0.825,272474,2.1\n" \
        "Inception,0.801,1649402,3.4\n"
DISCUSSION = ("# Comparison\n\nThe ResNet's skip connections made it the most accurate; the Inception network's "
              "parallel branches cost the most time per image; the plain CNN is the smallest.\n")


def week06_folder(parent: Path) -> Path:
    root = parent / "week06"
    (root / "results").mkdir(parents=True)
    (root / "results" / "comparison.csv").write_text(TABLE)
    (root / "comparison.md").write_text(DISCUSSION)
    (root / ".ipynb_checkpoints").mkdir()
    (root / ".ipynb_checkpoints" / "junk.ipynb").write_text("{}")
    return root


def archive(folder: Path, target: Path) -> Path:
    with zipfile.ZipFile(target, "w") as zf:
        for path in sorted(folder.rglob("*")):
            if path.is_file():
                zf.write(path, f"week06/{path.relative_to(folder).as_posix()}")
    return target


def test_the_rubric_is_chosen_by_the_names_a_student_and_an_lms_give():
    assert rubric_named_by(["week06_DoeJane.zip"]) == "week06_architectures"
    assert rubric_named_by(["Week 6_jdoe_attempt_2026-10-06-21-14-05_week06_DoeJane.zip"]) == "week06_architectures"
    assert rubric_named_by(["Week_6"]) == "week06_architectures"
    assert rubric_named_by(["assignment06_DoeJane.zip", "assignment06_RoeRichard.zip"]) == "assignment06"
    assert rubric_named_by(["assignment06_DoeJane.zip", "week06_RoeRichard.zip"]) is None    # two rubrics
    assert rubric_named_by(["DoeJane.zip"]) is None


def test_check_and_pack_a_week06_folder_without_naming_the_rubric(tmp_path):
    folder = week06_folder(tmp_path)
    assert rubric_for([folder]) == "week06_architectures"
    runner = CliRunner()
    checked = runner.invoke(main, ["check", str(folder), "--json"])
    assert checked.exit_code == 1, checked.output          # no models yet: not ready
    report = json.loads(checked.output)
    assert report["parts"]["comparison"] == {"table": ["results/comparison.csv"], "discussion": ["comparison.md"]}
    codes = {(p["part"], p["code"]) for p in report["problems"]}
    assert ("resnet", "missing-model") in codes and ("comparison", "missing-table") not in codes
    missing = next(p for p in report["problems"] if p["part"] == "inception" and p["code"] == "missing-metrics")
    assert missing["message"] == "inception has no metrics file: save it as results/inception/metrics.json"

    packed = runner.invoke(main, ["pack", str(folder), "--name", "DoeJane", "--out", str(tmp_path / "out")])
    assert "Wrote" in packed.output, packed.output
    zipped = tmp_path / "out" / "week06_DoeJane.zip"
    with zipfile.ZipFile(zipped) as zf:
        names = sorted(zf.namelist())
    assert names == ["week06/comparison.md", "week06/results/comparison.csv"]    # the checkpoint left out
    assert "against DSC 650 Week 6" in packed.output


@pytest.fixture()
def week06_class(tmp_path):
    subs = tmp_path / "submissions"
    subs.mkdir()
    archive(week06_folder(tmp_path / "doe"), subs / "week06_DoeJane.zip")
    return subs


def graded_rubric(out: Path) -> str:
    record = json.loads((out / "results" / "week06_DoeJane.json").read_text())
    return record["rubric"]


@pytest.mark.parametrize("how", ["name", "path", "grade.toml name", "grade.toml relative path", "archive names"])
def test_grade_selects_the_week06_rubric(week06_class, tmp_path, how, monkeypatch):
    args = [str(week06_class), "--out", str(tmp_path / "grades"), "--sandbox", "bwrap",
            "--data-dir", str(tmp_path / "no-data")]
    if how == "name":
        args += ["--rubric", "week06_architectures"]
    elif how == "path":
        monkeypatch.chdir(tmp_path)
        shutil.copy(rubrics_dir() / "week06_architectures.toml", tmp_path / "mine.toml")
        shutil.copy(rubrics_dir() / "week06_architectures.baselines.toml", tmp_path)
        args += ["--rubric", "mine.toml"]
    elif how == "grade.toml name":
        (week06_class / "grade.toml").write_text('rubric = "week06_architectures"\n')
    elif how == "grade.toml relative path":
        course = tmp_path / "course" / "rubrics"
        course.mkdir(parents=True)
        shutil.copy(rubrics_dir() / "week06_architectures.toml", course / "week6.toml")
        shutil.copy(rubrics_dir() / "week06_architectures.baselines.toml", course)
        (week06_class / "grade.toml").write_text('rubric = "../course/rubrics/week6.toml"\n')
        monkeypatch.chdir(tmp_path / "course")                      # not where grade.toml is
    result = CliRunner().invoke(main, args)
    assert "with rubric week06_architectures" in result.output, result.output
    assert graded_rubric(tmp_path / "grades") == "week06_architectures"


def test_a_graded_week06_class_exports_to_canvas_and_gradescope(week06_class, tmp_path):
    out = tmp_path / "grades"
    result = CliRunner().invoke(main, [str(week06_class), "--out", str(out), "--sandbox", "bwrap",
                                       "--data-dir", str(tmp_path / "no-data"), "--export", "canvas"])
    assert result.exit_code == 1, result.output             # the instructor's CIFAR-10 is missing: an error row
    grades = pd.read_csv(out / "grades.csv")
    assert list(grades.columns[:7]) == ["last", "first", "username", "archive", "status", "total", "max"]
    assert {"cnn", "resnet", "inception", "comparison", "comparison/discussion_quality"} <= set(grades.columns)
    row = grades.iloc[0]
    assert (row["last"], row["archive"], row["max"]) == ("Doe", "week06_DoeJane.zip", 100.0)
    assert row["comparison/discussion_quality"] == "pending"
    record = json.loads((out / "results" / "week06_DoeJane.json").read_text())
    comparison = {check["id"]: check for check in record["parts"]["comparison"]["checks"]}
    assert comparison["comparison_table"]["score"] == 5.0          # the table is the student's, complete
    assert comparison["comparison_figures_agree"]["score"] == 0.0
    assert "cannot be checked" in comparison["comparison_figures_agree"]["message"]
    assert record["manual_pending"] == [{"part": "comparison", "check": "discussion_quality", "max_score": 8.0}]
    gradescope = json.loads((out / "gradescope" / "week06_DoeJane" / "results.json").read_text())
    names = [test["name"] for test in gradescope["tests"]]
    assert "comparison comparison_figures_agree" in names and "resnet architecture_matches" in names
    assert len(names) == 7 * 3 + 5
    canvas = (out / "canvas_grades.csv").read_text().splitlines()
    assert canvas[0].endswith(',"DSC 650 Week 6: CNN, ResNet and Inception on CIFAR-10, compared"')
    assert canvas[1:] == ["Points Possible,,,,,100", '"Doe, Jane",,,,,']       # an error row leaves it blank
