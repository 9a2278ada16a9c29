"""The reports of the real week06_architectures rubric from the real stages:
a student's folder (a comparison table as CSV, a discussion) read by
discovery, the parts scored by the rubric's checks (the comparison checks
among them) against the evaluate stage's records (recomputed predictions, the
sandbox's measurements, given here as records so no sandbox runs), then the
student's report and the class summary rendered from those grades."""

from __future__ import annotations

import re
from html import unescape
from pathlib import Path

import numpy as np
import pytest

from grader import rubric as rubric_module
from grader.pipeline import inspect
from grader.records import Evaluation, ModelEvaluation, Student
from grader.report import render_index_html, render_submission_html
from grader.score import score_parts
from grader.score.records import SubmissionGrade

N = 500
PARAMS = {"cnn": 122_570, "resnet": 272_474, "inception": 1_649_402}
TRAINABLE = {"cnn": 122_570, "resnet": 271_098, "inception": 1_646_074}
BATCH1_MS = {"cnn": 0.9, "resnet": 2.4, "inception": 3.1}
FLOPS = {"cnn": 41_000_000, "resnet": 81_000_000, "inception": 310_000_000}
LABELS = {"cnn": "CNN", "resnet": "ResNet-20", "inception": "Inception"}
DISCUSSION = ("# Comparison\n\n" + "The plain CNN is small and fast but the least accurate; the ResNet's skip "
              "connections make it the most accurate per parameter; the Inception network's parallel branches "
              "make it the largest and slowest. " * 8)


@pytest.fixture(scope="module")
def rubric():
    return rubric_module.load("week06_architectures")


@pytest.fixture(scope="module")
def labels():
    return np.random.default_rng(11).integers(0, 10, N)


def evaluation(accuracies: dict[str, float], labels: np.ndarray) -> Evaluation:
    """The evaluate stage's records: probabilities right on accuracy x N images, and measurements."""
    result = Evaluation(backend="bwrap", status="ok")
    for number, (part, accuracy) in enumerate(accuracies.items()):
        predicted = labels.copy()
        wrong = np.arange(N) >= round(accuracy * N)
        predicted[wrong] = (labels[wrong] + 1 + number) % 10
        result.models[part] = ModelEvaluation(
            part=part, path=f"results/{part}/model.keras", ok=True, loader="keras3-safe",
            probabilities=np.eye(10, dtype=np.float32)[predicted], scaling="unit",
            architecture={"params": {"total": PARAMS[part], "trainable": TRAINABLE[part]}},
            measurements={"params": {"total": PARAMS[part], "trainable": TRAINABLE[part],
                                     "non_trainable": PARAMS[part] - TRAINABLE[part]},
                          "latency": {"batch1_ms": BATCH1_MS[part], "large_batch": 256, "large_batch_ms": 0.3,
                                      "repeats": 5, "threads": 1},
                          "flops": FLOPS[part], "size_bytes": PARAMS[part] * 4})
    return result


def graded(tmp_path: Path, rubric, labels, last: str, accuracies: dict[str, float],
           table: dict[str, float]) -> SubmissionGrade:
    """One student's grade: the comparison table says ``table`` (accuracy per model)."""
    root = tmp_path / last / "week06"
    (root / "results").mkdir(parents=True)
    lines = ["model,test_accuracy,params,ms_per_image"]
    lines += [f"{LABELS[p]},{table[p]},{PARAMS[p]},{round(BATCH1_MS[p] + 0.2, 3)}" for p in LABELS]
    (root / "results" / "comparison.csv").write_text("\n".join(lines) + "\n")
    (root / "comparison.md").write_text(DISCUSSION)
    report = inspect(root, rubric, tmp_path / last / "work")
    parts = score_parts(rubric, report.layout, report.contents, report.problems, evaluation(accuracies, labels),
                        {"cifar10": labels}, {}, "the models were not run")
    return SubmissionGrade(archive=f"week06_{last}Ann.zip", student=Student(last=last, first="Ann"),
                           status="graded", score=sum(p.score for p in parts.values()),
                           max_score=rubric.total_points, rubric=rubric.id, parts=parts)


def flat(html: str) -> str:
    return " ".join(unescape(re.sub(r"<[^>]+>", "", html.replace("<br>", " "))).split())


@pytest.fixture(scope="module")
def adams(tmp_path_factory, rubric, labels) -> SubmissionGrade:
    """Her table's ResNet accuracy (0.95) is far above the recomputed 0.826."""
    return graded(tmp_path_factory.mktemp("adams"), rubric, labels, "Adams",
                  {"cnn": 0.712, "resnet": 0.826, "inception": 0.802}, {"cnn": 0.712, "resnet": 0.95, "inception": 0.802})


def test_a_real_grade_shows_the_models_side_by_side(adams):
    grade = adams
    agree = next(c for c in grade.parts["comparison"].checks if c.id == "comparison_figures_agree")
    assert [row["agrees"]["accuracy"] for row in agree.evidence["rows"]] == [True, False, True]
    html = render_submission_html(grade)
    rows = re.findall(r'<tr class="compared-model" data-part="(\w+)" data-accuracy="([\d.]+)"\s+data-params="(\d+)" '
                      r'data-ms="([\d.]+)"\s+data-accuracy-agrees="(\w*)" data-params-agrees="(\w*)"', html)
    assert rows == [("cnn", "0.712", "122570", "0.9", "true", "true"),
                    ("resnet", "0.826", "272474", "2.4", "false", "true"),
                    ("inception", "0.802", "1649402", "3.1", "true", "true")]
    text = flat(html)
    assert "0.8260 (you: 0.9500, differs)" in text
    assert "272,474 (you: 272,474, agrees) trainable 271,098 · not trainable 1,376" in text
    assert "2.4 (you: 2.6)" in text and "81 MFLOPs" in text and "6.6 MB" in text
    assert "your row: ResNet-20" in text
    assert 'data-figure="tradeoff"' in html
    # the other comparison checks' rows are tables in their check, the agreeing check's rows a link
    assert "3 model row(s): see Models compared" in text
    assert re.search(r"<th>Part</th><th>Reported</th><th>Measured</th>", html)      # comparison_ranking
    assert re.search(r"<th>Part</th><th>Model</th><th>Present</th><th>Reported</th><th>Cells</th>", html)
    assert "<td>resnet</td><td>ResNet-20</td><td>accuracy: yes; params: yes; time: yes</td>" in html
    assert "pending: graded by hand" in text                                        # discussion_quality


def test_a_real_class_summary_has_the_tradeoff(tmp_path, rubric, labels, adams):
    baker = {"cnn": 0.70, "resnet": 0.85, "inception": 0.79}
    grades = [adams, graded(tmp_path, rubric, labels, "Baker", baker, baker)]
    html = render_index_html(grades, rubric)
    medians = re.findall(r'<tr class="part-median" data-part="(\w+)" data-models="(\d+)" data-accuracy="([\d.]+)"', html)
    assert medians == [("cnn", "2", "0.7060"), ("resnet", "2", "0.8380"), ("inception", "2", "0.7960")]
    assert ("Over 6 models, resnet has the highest median accuracy (0.838, with a median of 272 k parameters); "
            "cnn has the highest median accuracy per million parameters (5.76, against 3.08 for resnet): resnet's "
            "median accuracy is 0.132 higher, at 2.22× the median parameters. At inference cnn is the fastest "
            "(0.9 ms per image, median) and inception the slowest (3.1 ms).") in flat(html)
