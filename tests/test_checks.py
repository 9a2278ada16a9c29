"""Checks and scoring on hand-built evidence: every number a grade is made of."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest

from grader import rubric as rubric_mod
from grader.checks import CheckContext, Recomputed, run_check
from grader.discover.contents import Contents, PartFiles, PlotFile
from grader.records import (
    FoundFile,
    ImageInfo,
    ImagenetEvaluation,
    ImagenetPrediction,
    Layout,
    MetricsFile,
    ModelEvaluation,
    PredictionsFile,
    Problem,
    Role,
)
from grader.rubric import CheckSpec, RubricError
from grader.score import recompute


@pytest.fixture(scope="module")
def rubric():
    return rubric_mod.load()


def _ctx(rubric, part_id, files=None, problems=(), evaluation=None, recomputed=None, imagenet=None, layout=None):
    part = rubric.part(part_id)
    files = files or PartFiles(part_id)
    return CheckContext(
        rubric=rubric, part=part, dataset=rubric.dataset_of(part), files=files,
        contents=Contents({part_id: files}, []), layout=layout or Layout(Path("/nonexistent")),
        problems=list(problems), evaluation=evaluation, imagenet=imagenet,
        recomputed=recomputed or Recomputed(), baseline=rubric.baselines.get(part_id),
        not_run="grade check runs no model")


def _run(check_id, ctx, points=10.0, **params):
    return run_check(CheckSpec(id=check_id, points=points, params=params), ctx)


# ----------------------------------------------------------- accuracy


@pytest.mark.parametrize("where, expected", [
    ("above", 8.0),         # above full_credit_at
    ("full", 8.0),
    ("middle", 4.0),        # halfway along the straight line between the thresholds
    ("zero", 0.0),
    ("far below", 0.0),
])
def test_accuracy_partial_credit_follows_the_baselines_file(rubric, where, expected):
    baseline = rubric.baselines["6.1"]
    full, zero = baseline.full_credit_at, baseline.zero_credit_at
    accuracy = {"above": full + 0.01, "full": full, "middle": (full + zero) / 2, "zero": zero,
                "far below": 0.50}[where]
    result = _run("accuracy_vs_baseline", _ctx(rubric, "6.1", recomputed=Recomputed(accuracy=accuracy, scaling="unit")),
                  points=8)
    assert result.score == pytest.approx(expected)
    assert result.evidence["baseline_accuracy"] == baseline.accuracy
    assert (result.evidence["full_credit_at"], result.evidence["zero_credit_at"]) == (full, zero)
    # The measured 6.1 baseline: the reference on the official MNIST files.
    assert result.evidence["baseline_provenance"].startswith("measured: full reference run")
    assert "official MNIST files" in result.evidence["baseline_provenance"]
    assert zero < full < baseline.accuracy


def test_model_trained_on_raw_pixels_is_noted_and_graded_on_its_scaling(rubric):
    rec = Recomputed(accuracy=0.11, scaling="unit", alternatives={"raw": 0.99})
    result = _run("accuracy_vs_baseline", _ctx(rubric, "6.1", recomputed=rec), points=8)
    assert result.score == pytest.approx(8.0)
    assert "far better on raw pixels" in result.message
    assert "x / 255" in result.message


def test_accuracy_without_a_model_run_is_not_verifiable(rubric):
    result = _run("accuracy_vs_baseline", _ctx(rubric, "6.1"))
    assert result.score == 0 and not result.passed
    assert result.message.startswith("not verifiable")
    assert result.evidence["not_verifiable"] is True


# ----------------------------------------------------- reported metrics


def _with_metrics(part_id, accuracy):
    files = PartFiles(part_id, metrics_path="results/m.txt", metrics=MetricsFile(test_accuracy=accuracy))
    return files


# Within k = 3 standard errors (0.003 at 0.99 on 10,000 images) plus rounding; see tests/test_integrity.py.
@pytest.mark.parametrize("reported, passed", [(0.991, True), (99.1, True), (0.9925, True), (0.975, False), (0.95, False)])
def test_reported_accuracy_within_tolerance(rubric, reported, passed):
    ctx = _ctx(rubric, "6.1", files=_with_metrics("6.1", reported), recomputed=Recomputed(accuracy=0.99))
    result = _run("reported_metrics_match", ctx, points=4, k=3.0, floor=0.002)
    assert result.passed is passed
    assert result.score == (4 if passed else 0)


def test_inflated_report_is_flagged_as_integrity_issue(rubric):
    ctx = _ctx(rubric, "6.2a", files=_with_metrics("6.2a", 0.93), recomputed=Recomputed(accuracy=0.41))
    result = _run("reported_metrics_match", ctx, points=3)
    assert result.score == 0
    assert result.evidence["integrity_flag"] is True
    assert result.evidence["difference"] == pytest.approx(0.52)
    assert "possible integrity issue" in result.message


def test_no_reported_accuracy_names_the_file_to_write(rubric):
    result = _run("reported_metrics_match", _ctx(rubric, "6.2b", recomputed=Recomputed(accuracy=0.7)))
    assert result.score == 0
    assert "results/6.2b/metrics.json" in result.message


# ----------------------------------------------------------- predictions


def test_predictions_agreement(rubric):
    labels = np.arange(100) % 10
    files = PartFiles("6.1", predictions_path="results/p.csv",
                      predictions=PredictionsFile(n_rows=100, labels=labels.tolist()))
    ctx = _ctx(rubric, "6.1", files=files, recomputed=Recomputed(accuracy=1.0, predicted=labels))
    assert _run("predictions_match_model", ctx, points=4).score == 4
    shuffled = np.roll(labels, 1)
    ctx = _ctx(rubric, "6.1", files=files, recomputed=Recomputed(accuracy=1.0, predicted=shuffled))
    result = _run("predictions_match_model", ctx, points=4)
    assert not result.passed and result.evidence["agreement"] == 0.0
    assert "different model" in result.message


def _predictions_on_raw_pixels(raw_agree: int):
    """A 6.2b model (santosh0924's shape): 10,000 submitted predictions made on raw
    0-255 pixels; the model's own on x / 255 differ on 4,000 of them, and its
    predictions on raw pixels (the sandbox's first 1,000 images) differ on
    1,000 - raw_agree."""
    submitted = np.arange(10_000) % 10
    unit = submitted.copy()
    unit[:4000] = (unit[:4000] + 1) % 10
    raw = submitted[:1000].copy()
    raw[raw_agree:] = (raw[raw_agree:] + 3) % 10
    files = PartFiles("6.2b", predictions_path="results/6_2b_predictions.csv",
                      predictions=PredictionsFile(n_rows=10_000, labels=submitted.tolist()))
    evaluation = ModelEvaluation("6.2b", "results/6_2b_model.h5", True, probabilities=np.eye(10)[unit],
                                 scaling="unit", alternative_probabilities={"raw": np.eye(10)[raw]})
    return _ctx(rubric_mod.load(), "6.2b", files=files, evaluation=evaluation,
                recomputed=Recomputed(accuracy=0.55, predicted=unit, scaling="unit"))


def test_predictions_made_on_raw_pixels_by_this_model_are_its_own(rubric):
    result = _run("predictions_match_model", _predictions_on_raw_pixels(raw_agree=980), points=3)
    assert (result.score, result.passed) == (3, True)
    assert result.message == (
        "60.0% of the submitted predictions match the model's own (at least 95% expected); 98.0% of the first "
        "1,000 match its predictions on raw 0-255 pixels: consistent, they were made by this model on raw 0-255 "
        "pixels rather than on pixels scaled to 0-1 (x / 255)")
    assert (result.evidence["agreement"], result.evidence["matched_scaling"], result.evidence["matched_agreement"],
            result.evidence["matched_n"]) == (0.6, "raw", 0.98, 1000)


def test_predictions_closer_on_raw_pixels_but_short_still_fail_and_say_so(rubric):
    result = _run("predictions_match_model", _predictions_on_raw_pixels(raw_agree=908), points=3)
    assert (result.score, result.passed) == (0, False)
    assert result.message == (
        "60.0% of the submitted predictions match the model's own (at least 95% expected); 90.8% of the first "
        "1,000 match its predictions on raw 0-255 pixels, closer but still short of 95%")
    assert "different model" not in result.message


def test_predictions_no_closer_on_raw_pixels_are_another_models(rubric):
    result = _run("predictions_match_model", _predictions_on_raw_pixels(raw_agree=500), points=3)
    assert (result.score, result.passed) == (0, False)
    assert result.message == ("60.0% of the submitted predictions match the model's own (at least 95% expected): "
                              "were they made by a different model, or shuffled?")
    assert "matched_scaling" not in result.evidence


def test_predictions_of_the_wrong_length(rubric):
    files = PartFiles("6.1", predictions_path="results/p.csv", predictions=PredictionsFile(n_rows=5, labels=[1] * 5))
    ctx = _ctx(rubric, "6.1", files=files, recomputed=Recomputed(accuracy=1.0, predicted=np.zeros(10, int)))
    result = _run("predictions_match_model", ctx, points=4)
    assert result.score == 0 and "5 rows" in result.message


# ---------------------------------------------------------- architecture


def _model_files(part_id, dropout, augmentation, flags=None):
    files = PartFiles(part_id, model=FoundFile("results/m.h5", Role.MODEL, part_id, 0.9))
    files.architecture = {"has_dropout": dropout, "has_augmentation": augmentation}
    files.source_flags = flags or {}
    return files


@pytest.mark.parametrize("part, dropout, aug, flags, score", [
    ("6.2a", False, False, None, 3.0),
    ("6.2a", True, False, None, 1.5),
    ("6.2b", True, True, None, 3.0),
    ("6.2b", True, False, None, 1.5),
    ("6.2b", True, False, {"image_data_generator": True}, 3.0),   # augmentation in an ImageDataGenerator
    ("6.2b", False, False, None, 0.0),
])
def test_architecture_rules_from_the_rubric(rubric, part, dropout, aug, flags, score):
    ctx = _ctx(rubric, part, files=_model_files(part, dropout, aug, flags))
    result = _run("architecture_matches", ctx, points=3)
    assert result.score == pytest.approx(score)
    assert result.passed is (score == 3.0)


# ------------------------------------------------------------------ plots


def _plot(path, blank=False, digest="a"):
    return PlotFile(path, ImageInfo("PNG", 640, 480, blank, digest))


def test_plots_blank_and_duplicate_lose_their_share(rubric):
    files = PartFiles("6.1", plots=[_plot("results/acc.png", digest="1"), _plot("results/loss.png", blank=True)])
    result = _run("plots_valid", _ctx(rubric, "6.1", files=files), points=5)
    assert result.score == pytest.approx(2.5)
    assert "results/loss.png: blank" in result.message
    dup = Problem("duplicate-plot", "same image", path="results/acc.png", part="6.1")
    files = PartFiles("6.1", plots=[_plot("results/acc.png")])
    result = _run("plots_valid", _ctx(rubric, "6.1", files=files, problems=[dup]), points=5)
    assert result.score == 0 and "copy of another part" in result.message


def test_no_plots_says_where_to_save_them(rubric):
    result = _run("plots_valid", _ctx(rubric, "6.2a"), points=3)
    assert result.score == 0 and "results/6.2a/accuracy.png" in result.message


# --------------------------------------------------------------- layout


def test_layout_complete_counts_roles(rubric):
    layout = Layout(Path("/x"), files=[
        FoundFile("results/6.1/model.keras", Role.MODEL, "6.1", 0.95),
        FoundFile("results/6.1/metrics.json", Role.METRICS, "6.1", 0.5, ["by elimination"]),
    ])
    missing = [Problem("missing-predictions", "6.1 has no predictions file: save it as results/6.1/predictions.csv",
                       part="6.1"), Problem("missing-plot", "6.1 has no validation plot: save it as x", part="6.1")]
    result = _run("layout_complete", _ctx(rubric, "6.1", layout=layout, problems=missing), points=4)
    assert result.score == pytest.approx(2.0)
    assert "missing predictions, plot" in result.message
    assert "results/6.1/predictions.csv" in result.message
    assert result.evidence["guessed"] == ["results/6.1/metrics.json (as metrics, confidence 0.50)"]


# ---------------------------------------------------------------- 6.3


def _imagenet(image, *labels):
    return [ImagenetPrediction(image, rank, label) for rank, label in enumerate(labels, start=1)]


def test_imagenet_labels_agree_with_rerun(rubric):
    reported = _imagenet(r"C:\Users\me\images\cat.jpg", "tabby") + _imagenet("dog.jpg", "beagle")
    rerun = ImagenetEvaluation(True, predictions=_imagenet("images/cat.jpg", "tiger_cat", "Tabby", "Egyptian_cat")
                               + _imagenet("images/dog.jpg", "basset", "bluetick"))
    files = PartFiles("6.3", imagenet_path="results/p.txt", imagenet=reported)
    result = _run("imagenet_labels_match", _ctx(rubric, "6.3", files=files, imagenet=rerun), points=15,
                  min_agreement=0.8)
    assert result.evidence["agreement"] == 0.5
    assert result.score == pytest.approx(15 * 0.5 / 0.8)
    assert "1 of 2 reported labels agree" in result.message


def test_imagenet_labels_without_the_images_say_why_they_are_not_verifiable(rubric):
    # Labels but no pictures in the archive: nothing ran for 6.3, whatever ran for the other parts.
    files = PartFiles("6.3", imagenet_path="results/p.txt", imagenet=_imagenet("cat.jpg", "tabby"))
    ctx = dataclasses.replace(_ctx(rubric, "6.3", files=files), not_run="2 of 2 evaluated in the docker sandbox in 12 s")
    result = _run("imagenet_labels_match", ctx, points=15)
    assert (result.score, result.evidence["not_verifiable"]) == (0.0, True)
    assert result.message == ("not verifiable: the submission holds none of the images it classified, so they "
                              "cannot be classified again; include them in images/")


def test_imagenet_without_weights_is_never_passed_silently(rubric):
    files = PartFiles("6.3", imagenet_path="results/p.txt", imagenet=_imagenet("cat.jpg", "tabby"))
    missing = ImagenetEvaluation(False, "weights missing: resnet50_weights_tf_dim_ordering_tf_kernels.h5 not found")
    result = _run("imagenet_labels_match", _ctx(rubric, "6.3", files=files, imagenet=missing), points=15)
    assert result.score == 0 and result.message.startswith("not verifiable: weights missing")


# ------------------------------------------------------------- recompute


def test_recompute_accuracy_loss_and_confusion(rubric):
    dataset = rubric.datasets["mnist"]
    labels = np.array([0, 1, 2, 2])
    probs = np.full((4, 10), 0.01)
    for row, cls in enumerate([0, 1, 2, 3]):
        probs[row, cls] = 0.91
    evaluation = ModelEvaluation("6.1", "m.keras", True, probabilities=probs, scaling="unit",
                                 alternative_probabilities={"raw": probs[:2]})
    rec = recompute(evaluation, labels, dataset)
    assert rec.accuracy == pytest.approx(0.75)
    assert rec.loss == pytest.approx((3 * -np.log(0.91) - np.log(0.01)) / 4)
    assert rec.confusion[2][3] == 1 and rec.confusion[2][2] == 1
    assert rec.alternatives == {"raw": 1.0}
    wrong = ModelEvaluation("6.1", "m.keras", True, probabilities=np.ones((4, 5)) / 5)
    assert recompute(wrong, labels, dataset).accuracy is None


def test_a_check_that_crashes_costs_its_points_not_the_batch(rubric):
    from grader.checks.registry import CHECKS

    CHECKS["_explodes"] = lambda ctx, points, params: 1 / 0
    try:
        result = _run("_explodes", _ctx(rubric, "6.1"))
    finally:
        del CHECKS["_explodes"]
    assert result.score == 0 and "ZeroDivisionError" in result.message


# ---------------------------------------------------------------- rubric


def test_rubric_points_add_up_to_total(rubric):
    assert sum(p.max_points for p in rubric.parts) == rubric.total_points == 100


def test_rubric_schema_error_names_file_and_key(tmp_path):
    text = (rubric_mod.rubrics_dir() / "assignment06.toml").read_text()
    bad = tmp_path / "bad.toml"
    bad.write_text(text.replace('num_classes = 10\ntest_size = 10000\nscaling = "unit"\nalternative_scalings = ["raw"]'
                                '\nclass_names = ["0"',
                                'num_classes = "ten"\ntest_size = 10000\nscaling = "unit"\nalternative_scalings = '
                                '["raw"]\nclass_names = ["0"', 1))
    (tmp_path / "assignment06.baselines.toml").write_text(
        (rubric_mod.rubrics_dir() / "assignment06.baselines.toml").read_text())
    with pytest.raises(RubricError) as info:
        rubric_mod.load(bad)
    assert str(bad) in str(info.value)
    assert "datasets.mnist.num_classes" in str(info.value)


def test_rubric_points_that_do_not_add_up_are_refused(tmp_path):
    text = (rubric_mod.rubrics_dir() / "assignment06.toml").read_text()
    (tmp_path / "r.toml").write_text(text.replace("total_points = 100", "total_points = 90"))
    (tmp_path / "assignment06.baselines.toml").write_text(
        (rubric_mod.rubrics_dir() / "assignment06.baselines.toml").read_text())
    with pytest.raises(RubricError, match="add up to 100, not total_points = 90"):
        rubric_mod.load(tmp_path / "r.toml")


def test_missing_baselines_file_says_how_to_make_it(tmp_path):
    text = (rubric_mod.rubrics_dir() / "assignment06.toml").read_text()
    (tmp_path / "r.toml").write_text(text)
    with pytest.raises(RubricError, match="grade reference baselines"):
        rubric_mod.load(tmp_path / "r.toml")
