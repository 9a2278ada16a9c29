"""reported_metrics_match: a tolerance that follows the test set's statistics (issue 9, item 5).

Every figure here is recomputed from exact data: labels (synthetic, or the
real MNIST test labels from ../shared) and one-hot probabilities with a chosen
number of right answers, through grader.score.recompute, as in a real grading.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

from grader import rubric as rubric_mod
from grader.checks import CheckContext, run_check
from grader.datasets import read_idx
from grader.discover.contents import Contents, PartFiles
from grader.pipeline import check_submission
from grader.readers import read_metrics
from grader.records import Evaluation, Layout, ModelEvaluation, Student
from grader.report import render_submission_html
from grader.rubric import CheckSpec
from grader.score import recompute, score_parts
from grader.score.records import SubmissionGrade
from tests.test_notebook_outputs import mnist_notebook

N = 10_000
ALTERNATIVE_ROWS = 1_000     # the sandbox runs the alternative scalings on the first 1,000 test images


@pytest.fixture(scope="module")
def rubric():
    return rubric_mod.load()


def synthetic_labels(seed: int = 6) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 10, N)


def probabilities(labels: np.ndarray, correct: int, seed: int = 0) -> np.ndarray:
    """One-hot outputs right on exactly ``correct`` of the images, the wrong ones scattered."""
    wrong = np.random.default_rng(seed).choice(len(labels), len(labels) - correct, replace=False)
    predicted = labels.copy()
    predicted[wrong] = (labels[wrong] + 1) % 10
    return np.eye(10, dtype=np.float32)[predicted]


def evaluation(part_id: str, labels: np.ndarray, correct: int, raw_correct: int | None = None) -> ModelEvaluation:
    alternatives = {}
    if raw_correct is not None:
        alternatives["raw"] = probabilities(labels[:ALTERNATIVE_ROWS], raw_correct, seed=1)
    return ModelEvaluation(part=part_id, path=f"results/{part_id}/model.h5", ok=True, loader="tf_keras",
                           probabilities=probabilities(labels, correct), alternative_probabilities=alternatives,
                           scaling="unit")


def metrics_file(tmp_path: Path, part_id: str, accuracy: float) -> PartFiles:
    """The figure as a student's metrics.json holds it, read by the real reader."""
    path = tmp_path / part_id / "metrics.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"test_accuracy": accuracy, "test_loss": 0.03}))
    return PartFiles(part_id, metrics_path=f"results/{part_id}/metrics.json", metrics=read_metrics(path))


def check(rubric, part_id: str, files: PartFiles, model: ModelEvaluation, labels: np.ndarray):
    part = rubric.part(part_id)
    dataset = rubric.dataset_of(part)
    ctx = CheckContext(rubric=rubric, part=part, dataset=dataset, files=files, contents=Contents({part_id: files}, []),
                       layout=Layout(Path("/nonexistent")), problems=[], evaluation=model,
                       recomputed=recompute(model, labels, dataset), baseline=rubric.baselines.get(part_id))
    spec = next(c for c in part.checks if c.id == "reported_metrics_match")
    return run_check(CheckSpec(id=spec.id, points=spec.points, params=dict(spec.params)), ctx)


def se(p: float, n: int) -> float:
    return math.sqrt(p * (1 - p) / n)


# --------------------------------------------------------- the four outcomes


@pytest.mark.parametrize("part_id, reported, correct, passed, threshold", [
    # 0.999 claimed, 0.991 measured: an error rate nine times lower than the model's.
    ("6.1", 0.999, 9910, False, max(0.002, 3 * se(0.991, N)) + 0.0005),
    # 0.0013 apart, 1.3 standard errors: another Keras version or preprocessing.
    ("6.1", 0.9914, 9901, True, max(0.002, 3 * se(0.9901, N)) + 0.00005),
    ("6.2a", 0.8453, 6453, False, max(0.002, 3 * se(0.6453, N)) + 0.00005),
    ("6.1", 0.9908, 9908, True, max(0.002, 3 * se(0.9908, N)) + 0.00005),
])
def test_required_outcomes(tmp_path, rubric, part_id, reported, correct, passed, threshold):
    labels = synthetic_labels()
    result = check(rubric, part_id, metrics_file(tmp_path, part_id, reported), evaluation(part_id, labels, correct),
                   labels)
    ev = result.evidence
    assert result.passed is passed
    assert result.score == (result.max_score if passed else 0.0)
    assert ev["recomputed_accuracy"] == correct / N and ev["n"] == N
    assert ev["standard_error"] == round(se(correct / N, N), 5)
    assert (ev["k"], ev["floor"]) == (3.0, 0.002)       # the rubric's
    assert ev["threshold"] == round(threshold, 4)
    assert ev["difference"] == round(reported - correct / N, 4)
    if passed:
        assert ev["verdict"] == "consistent" and "integrity_flag" not in ev
        assert f"within the threshold {threshold:.4f}" in result.message
    else:
        assert ev["integrity_flag"] is True and ev["verdict"] == "flagged: higher than recomputed"
        assert "possible integrity issue" in result.message
        assert f"beyond the threshold {threshold:.4f}" in result.message


def test_the_inflated_mnist_figure_is_far_beyond_chance(tmp_path, rubric):
    labels = synthetic_labels()
    result = check(rubric, "6.1", metrics_file(tmp_path, "6.1", 0.999), evaluation("6.1", labels, 9910), labels)
    assert result.evidence["standard_errors"] == 8.5
    assert result.message.startswith(
        "reported 0.9990 (results/6.1/metrics.json) is 0.0080 higher than the recomputed 0.9910 on 10,000 test "
        "images (8.5 standard errors), beyond the threshold 0.0033")
    assert result.evidence["computation"] == (
        "|0.9990 − 0.9910| = 0.0080 > max(floor 0.0020, 3 × se 0.00094) + rounding 0.0005 = 0.0033, "
        "where se = √(p(1−p)/n) with p = 0.9910, n = 10,000")


# ------------------------------------------------------ alternative scaling


def test_a_figure_measured_on_unscaled_images_is_consistent(tmp_path, rubric):
    """A student who evaluated on raw 0-255 pixels reports 0.9860 for a model
    that scores 0.9908 on x / 255: the grader's raw-pixel run agrees."""
    labels = synthetic_labels()
    model = evaluation("6.1", labels, 9908, raw_correct=986)
    result = check(rubric, "6.1", metrics_file(tmp_path, "6.1", 0.9860), model, labels)
    ev = result.evidence
    raw_threshold = max(0.002, 3 * se(0.986, ALTERNATIVE_ROWS)) + 0.0005
    assert result.passed and result.score == result.max_score
    assert (ev["matched_scaling"], ev["matched_accuracy"], ev["matched_n"]) == ("raw", 0.986, ALTERNATIVE_ROWS)
    assert ev["matched_threshold"] == round(raw_threshold, 4)
    assert ev["verdict"] == "consistent with raw 0-255 pixels"
    assert ev["difference"] == -0.0048 and "integrity_flag" not in ev
    assert (f"it matches the accuracy recomputed on raw 0-255 pixels, 0.9860 (within {raw_threshold:.4f} on "
            "1,000 test images): consistent") in result.message
    assert "rather than on pixels scaled to 0-1 (x / 255)" in result.message


def test_a_lower_figure_fails_without_an_integrity_flag(tmp_path, rubric):
    labels = synthetic_labels()
    model = evaluation("6.1", labels, 9900, raw_correct=112)    # far from 0.975 on raw pixels too
    result = check(rubric, "6.1", metrics_file(tmp_path, "6.1", 0.975), model, labels)
    assert not result.passed and result.score == 0
    assert result.evidence["integrity_flag"] is False
    assert result.evidence["verdict"] == "lower than recomputed (not an integrity concern)"
    assert "0.0150 lower than the recomputed 0.9900" in result.message and "integrity" not in result.message


@pytest.mark.parametrize("reported, correct, passed, rounding, shown", [
    (0.99, 9856, True, 0.005, 0.99),      # "0.99" stands for 0.985..0.995: 0.9856 rounds to it
    (0.99, 9800, False, 0.005, 0.99),     # 0.980 does not
    (99.1, 9908, True, 0.0005, 0.991),    # a percentage
    (1.0, 9935, False, 0.0, 1.0),         # "1.0" is no rounded figure: perfect accuracy claimed
])
def test_the_figure_is_allowed_its_rounding(tmp_path, rubric, reported, correct, passed, rounding, shown):
    labels = synthetic_labels()
    result = check(rubric, "6.1", metrics_file(tmp_path, "6.1", reported), evaluation("6.1", labels, correct), labels)
    assert result.passed is passed
    assert result.evidence["rounding"] == rounding
    assert result.evidence["reported_accuracy"] == shown
    assert result.evidence.get("integrity_flag", False) is (not passed)


@pytest.mark.shared
def test_required_mnist_outcomes_on_the_real_test_labels(tmp_path, rubric, shared_dir):
    labels = read_idx(shared_dir / "data" / "mnist" / "t10k-labels-idx1-ubyte.gz", 0x00000801).astype(np.int64)
    assert len(labels) == N
    outcomes = {}
    for reported, correct in ((0.999, 9910), (0.9914, 9901), (0.9908, 9908)):
        result = check(rubric, "6.1", metrics_file(tmp_path, "6.1", reported), evaluation("6.1", labels, correct),
                       labels)
        outcomes[reported] = (result.passed, result.evidence.get("integrity_flag"), result.evidence["threshold"])
    assert outcomes == {0.999: (False, True, 0.0033), 0.9914: (True, None, 0.003), 0.9908: (True, None, 0.0029)}


# ------------------------------------------------ the notebook's figure, end to end


def test_a_notebook_figure_is_checked_and_the_report_shows_the_computation(tmp_path, rubric):
    root = tmp_path / "assignment06"
    (root / "results" / "6.1").mkdir(parents=True)
    mnist_notebook(root / "6.1_mnist_convnet.ipynb", test_accuracy=0.999)
    report = check_submission(root, rubric, tmp_path / "work")
    labels = synthetic_labels()
    grades = score_parts(rubric, report.layout, report.contents, report.problems,
                         Evaluation(backend="none", status="ok", models={"6.1": evaluation("6.1", labels, 9910)}),
                         {"mnist": labels, "cifar10": None}, {}, "the models were not run")
    part = grades["6.1"]
    result = next(c for c in part.checks if c.id == "reported_metrics_match")
    source = 'from the notebook\'s output (6.1_mnist_convnet.ipynb, cell 7 (In [6]): "Test accuracy: 0.999")'
    assert result.evidence["reported_source"] == source
    assert result.message.startswith(f"reported 0.9990 ({source}) is 0.0080 higher than the recomputed 0.9910")
    assert result.evidence["integrity_flag"] is True
    layout = next(c for c in part.checks if c.id == "layout_complete")
    assert "6.1 has no metrics file: save it as results/6.1/metrics.json" in layout.message
    assert part.reported == {"accuracy": 0.999, "loss": None, "file": None, "source": "notebook output",
                             "notebook": "6.1_mnist_convnet.ipynb", "cell": "cell 7 (In [6])",
                             "text": "Test accuracy: 0.999"}

    grade = SubmissionGrade(archive="assignment06_DoeJane.zip", student=Student(last="Doe", first="Jane"),
                            status="graded", score=part.score, max_score=rubric.total_points, rubric=rubric.id,
                            parts={"6.1": part}, problems=report.problems)
    html = render_submission_html(grade)
    shown = html.replace("&#39;", "'").replace("&#34;", '"')
    assert 'data-flagged="true"' in html
    for text in ("How your reported accuracy was checked", source, "<th>Test images, n</th><td>10,000</td>",
                 "<td>0.00094</td>", "<th>k (standard errors allowed)</th><td>3</td>", "<th>Floor</th><td>0.002</td>",
                 "<th>Rounding of the reported figure</th><td>0.0005</td>",
                 "<th>Threshold, max(floor, k × se) + rounding</th><td>0.0033</td>", "<td>0.9990, from the notebook",
                 "<td>+0.0080 (8.5 se)</td>", "flagged: higher than recomputed",
                 "|0.9990 − 0.9910| = 0.0080 &gt; max(floor 0.0020, 3 × se 0.00094)"):
        assert text in shown, text
