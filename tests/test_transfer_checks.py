"""The transfer-learning checks (grader/checks/transfer.py) on real students'
models: a MobileNetV2 base with seeded "ImageNet" weights, frozen, fine-tuned,
unfrozen, trained from scratch, with a layer re-initialised or the wrong head
(tests/transfer_material.py), each with the digests and layer graph the
sandbox's own code computes. One sandbox run grades a whole submission."""

from __future__ import annotations

import copy
import dataclasses
import json
from pathlib import Path

import pytest

from grader.checks import CheckContext, Recomputed, run_check
from grader.checks.transfer import digest_request
from grader.discover.contents import Contents, PartFiles
from grader.evaluate import readback
from grader.evaluate.digests import validate_layer_digests
from grader.readers.models import read_model_meta_here
from grader.records import FoundFile, Layout, ModelEvaluation, Role
from grader.rubric import CheckSpec
from tests.transfer_material import (APPLICATION, REINITIALISED, WEIGHTS_FILE, digests_of, graph_of,
                                     load_transfer_rubric, material, write_image_folder)

FE, FT = "feature_extraction", "fine_tuning"
TOP = "block_15_add"


@pytest.fixture(scope="module")
def built() -> Path:
    return material()


@pytest.fixture(scope="module")
def rubric(tmp_path_factory):
    return load_transfer_rubric(tmp_path_factory.mktemp("rubric"))


def _params(rubric, part_id: str, check_id: str) -> dict:
    return dict(next(c for c in rubric.part(part_id).checks if c.id == check_id).params)


def _evaluation(built, name: str, part_id: str, digests: dict | None = None, **changes) -> ModelEvaluation:
    outputs = 5 if name == "wrong_head" else 3
    evaluation = ModelEvaluation(
        part=part_id, path=f"results/{part_id}/model.keras", ok=True, loader="keras3-safe",
        architecture={"output_shape": [outputs], "input_shape": [32, 32, 3]},
        layer_graph=readback.layer_graph(graph_of(built, name)),
        layer_digests=validate_layer_digests(digests if digests is not None else digests_of(built, name)))
    return dataclasses.replace(evaluation, **changes)


def _ctx(rubric, built, name: str, part_id: str, evaluation="sandbox", meta=True) -> CheckContext:
    part = rubric.part(part_id)
    files = PartFiles(part_id, model=FoundFile(f"results/{part_id}/model.keras", Role.MODEL, part_id, 0.95),
                      model_meta=read_model_meta_here(built / f"{name}.keras") if meta else None)
    if evaluation == "sandbox":
        evaluation = _evaluation(built, name, part_id)
    return CheckContext(rubric=rubric, part=part, dataset=rubric.dataset_of(part), files=files,
                        contents=Contents({part_id: files}, []), layout=Layout(Path("/nonexistent")), problems=[],
                        evaluation=evaluation, recomputed=Recomputed(), not_run="grade check runs no model")


def _run(check_id: str, ctx: CheckContext, points: float = 10.0, **params):
    return run_check(CheckSpec(id=check_id, points=points, params=params), ctx)


# ------------------------------------------------------------ pretrained_base


def test_pretrained_base_is_found_in_the_config_and_confirmed_in_the_sandbox(rubric, built):
    result = _run("pretrained_base", _ctx(rubric, built, "frozen", FE))
    assert (result.score, result.passed) == (10.0, True)
    assert result.message == ("keras.applications MobileNetV2 base (nested as mobilenetv2_0.35_32): 10 of its 10 "
                              "blocks, confirmed by the sandbox's trace and the layers of the MobileNetV2 ImageNet "
                              "weights file")
    assert result.evidence["config"]["frozen_layers"] == 153 and result.evidence["sandbox"]["network"] == APPLICATION
    # A base trained from scratch is still that network: its weights are the next check's business.
    assert _run("pretrained_base", _ctx(rubric, built, "scratch", FE)).passed


def test_pretrained_base_not_allowed_or_absent_or_contradicted(rubric, built):
    only_vgg = _run("pretrained_base", _ctx(rubric, built, "frozen", FE), applications=["VGG16"])
    assert (only_vgg.score, only_vgg.message) == (0.0, "the base is keras.applications MobileNetV2; this part asks "
                                                       "for one of VGG16")
    plain = {"source": "sandbox", "layers": [
        {"name": "input", "kind": "InputLayer", "inbound": []},
        {"name": "conv2d", "kind": "Conv2D", "inbound": ["input"], "kernel_size": [3, 3]},
        {"name": "dense", "kind": "Dense", "inbound": ["conv2d"]}]}
    claimed = _ctx(rubric, built, "frozen", FE,
                   evaluation=_evaluation(built, "frozen", FE, layer_graph=readback.layer_graph(plain)))
    contradicted = _run("pretrained_base", claimed)
    assert contradicted.score == 0.0
    assert "but the sandbox's trace of the loaded model finds no such base" in contradicted.message
    absent = _ctx(rubric, built, "frozen", FE, meta=False,
                  evaluation=_evaluation(built, "frozen", FE, layer_graph=readback.layer_graph(plain)))
    result = _run("pretrained_base", absent)
    assert result.score == 0.0 and result.message.startswith("no keras.applications base found in the model (one "
                                                             "of MobileNetV2)")


def test_pretrained_base_without_the_sandbox_is_not_verifiable(rubric, built):
    result = _run("pretrained_base", _ctx(rubric, built, "frozen", FE, evaluation=None))
    assert result.score == 0.0 and result.evidence["not_verifiable"] is True
    assert result.message.endswith("in the config, not confirmed: grade check runs no model")


# ----------------------------------------------------- base_weights_pretrained


def test_a_frozen_pretrained_base_passes(rubric, built):
    result = _run("base_weights_pretrained", _ctx(rubric, built, "frozen", FE), **_params(rubric, FE, "base_weights_pretrained"))
    assert (result.score, result.passed) == (10.0, True)
    assert result.message == f"all 104 layers of the MobileNetV2 base hold exactly the ImageNet weights ({WEIGHTS_FILE})"
    assert result.evidence["states"] == {"imagenet": 104}
    # Fine-tuned, graded as fine-tuning: only the layers below the top block must be unchanged.
    fine = _run("base_weights_pretrained", _ctx(rubric, built, "fine_tuned", FT), **_params(rubric, FT, "base_weights_pretrained"))
    assert fine.passed and fine.message.startswith("all 96 layers of the MobileNetV2 base below its top block hold")


def test_a_base_trained_from_scratch_fails_naming_the_layers(rubric, built):
    result = _run("base_weights_pretrained", _ctx(rubric, built, "scratch", FE))
    assert (result.score, result.passed) == (0.0, False)
    assert result.evidence["states"] == {"reinitialised": 104}
    assert result.message.startswith(f"104 of the 104 layers of the MobileNetV2 base differ from the ImageNet weights "
                                     f"({WEIGHTS_FILE}): 104 do not hold the ImageNet weights (re-initialised or "
                                     f"trained from scratch), correlation with ImageNet -0.")
    assert "Conv1 (Conv1, bn_Conv1), expanded_conv (expanded_conv_depthwise, expanded_conv_depthwise_BN, " \
           "expanded_conv_project and 1 more), block_1 (" in result.message
    assert "and 11 more blocks" in result.message and result.message.endswith("(base.trainable = False) before "
                                                                              "training the new classifier")
    assert result.evidence["differing"][:3] == ["Conv1", "bn_Conv1", "expanded_conv_depthwise"]


def test_one_reinitialised_layer_is_named(rubric, built):
    result = _run("base_weights_pretrained", _ctx(rubric, built, "reinit_one", FE))
    assert result.score == 0.0 and result.evidence["differing"] == [REINITIALISED]
    assert f"1 of the 104 layers of the MobileNetV2 base differ from the ImageNet weights ({WEIGHTS_FILE}): 1 do " \
           f"not hold the ImageNet weights (re-initialised or trained from scratch), correlation with ImageNet" in result.message
    assert f": block_3 ({REINITIALISED})." in result.message


def test_a_fine_tuned_base_graded_as_feature_extraction_names_the_trained_layers(rubric, built):
    result = _run("base_weights_pretrained", _ctx(rubric, built, "fine_tuned", FE))
    assert result.score == 0.0
    assert result.evidence["differing"] == ["block_16_expand", "block_16_depthwise", "block_16_project", "Conv_1"]
    assert "4 were trained on from the ImageNet weights, correlation with ImageNet 1.00: block_16 (block_16_expand, " \
           "block_16_depthwise, block_16_project), Conv_1 (Conv_1)" in result.message


def test_the_evidence_table_is_one_row_per_block(rubric, built):
    result = _run("base_weights_pretrained", _ctx(rubric, built, "fine_tuned", FT), **_params(rubric, FT, "base_weights_pretrained"))
    table = result.evidence["table"]
    assert table["columns"] == ["block", "layers", "saved as", "weights", "correlation with ImageNet", "required"]
    blocks = [row[0] for row in table["rows"]]
    assert blocks == ["Conv1", "expanded_conv"] + [f"block_{i}" for i in range(1, 17)] + \
        ["Conv_1", "new layers (not in the base)"]
    rows = {row[0]: row for row in table["rows"]}
    assert rows["block_3"] == ["block_3", 6, "frozen", "ImageNet, unchanged", "", "frozen, ImageNet"]
    assert rows["block_16"] == ["block_16", 6, "3 trainable, 3 frozen",
                                "3 trained on from ImageNet, 3 ImageNet, unchanged", "1.00", "trainable, trained"]
    assert rows["new layers (not in the base)"] == ["new layers (not in the base)", 1, "trainable", "Dense", "", "any"]
    assert len(json.dumps(result.evidence)) < 6000     # compact: 104 layers in 20 rows


# ---------------------------------------------------------- fine_tuned_layers


def test_the_top_block_fine_tuned_passes(rubric, built):
    result = _run("fine_tuned_layers", _ctx(rubric, built, "fine_tuned", FT), **_params(rubric, FT, "fine_tuned_layers"))
    assert (result.score, result.passed) == (10.0, True), result.message
    assert result.message == (f"MobileNetV2 base ({WEIGHTS_FILE}): its top block (8 layers after {TOP}) was trained "
                              "on from the ImageNet weights; the 96 layers below it are unchanged; the saved "
                              "trainable flags agree")
    # Its BatchNormalization layers stayed frozen, as the book advises, and the rubric allows.
    assert result.evidence["excused"] == ["block_16_expand_BN", "block_16_depthwise_BN", "block_16_project_BN",
                                          "Conv_1_bn"]
    strict = _run("fine_tuned_layers", _ctx(rubric, built, "fine_tuned", FT),
                  **{**_params(rubric, FT, "fine_tuned_layers"), "may_stay_frozen": []})
    assert strict.score == pytest.approx(10 / 3) and not strict.passed
    assert strict.evidence["excused"] == [] and strict.evidence["untrained"] == [
        "block_16_expand_BN", "block_16_depthwise_BN", "block_16_project_BN", "Conv_1_bn"]


def test_everything_unfrozen_fails_with_the_layers_and_flags(rubric, built):
    result = _run("fine_tuned_layers", _ctx(rubric, built, "unfrozen", FT), **_params(rubric, FT, "fine_tuned_layers"))
    assert result.score == pytest.approx(10 / 3) and not result.passed        # only the top block is right
    assert result.evidence["changed"][:2] == ["Conv1", "bn_Conv1"] and len(result.evidence["changed"]) == 50
    assert "of the 96 layers below it, 96 were trained on from the ImageNet weights, correlation with ImageNet" in \
        result.message
    assert "keep them frozen" in result.message
    assert "the saved trainable flags disagree: 96 layers below the top block saved trainable (Conv1, bn_Conv1, " \
           "expanded_conv_depthwise, expanded_conv_depthwise_BN and 92 more)" in result.message
    assert result.message.endswith(f"(its top block (8 layers after {TOP}) was trained on from the ImageNet weights)")


def test_a_frozen_model_handed_in_as_fine_tuning_fails(rubric, built):
    result = _run("fine_tuned_layers", _ctx(rubric, built, "frozen", FT), **_params(rubric, FT, "fine_tuned_layers"))
    assert result.score == pytest.approx(10 / 3)                               # the lower layers are right
    assert result.evidence["untrained"] == ["block_16_expand", "block_16_depthwise", "block_16_project", "Conv_1"]
    assert "4 hold the ImageNet weights, unchanged: block_16 (block_16_expand, block_16_depthwise, block_16_project)" \
           ", Conv_1 (Conv_1): unfreeze the top block" in result.message
    assert "4 top-block layers saved frozen (block_16_expand, block_16_depthwise, block_16_project, Conv_1)" in \
        result.message
    scratch = _run("fine_tuned_layers", _ctx(rubric, built, "scratch", FT), **_params(rubric, FT, "fine_tuned_layers"))
    assert scratch.score == 0.0
    assert "of its top block (8 layers after block_15_add), 8 do not hold the ImageNet weights" in scratch.message


def test_a_rubric_without_the_networks_top_block_says_so(rubric, built):
    result = _run("fine_tuned_layers", _ctx(rubric, built, "fine_tuned", FT), top_block_after={"VGG16": "block4_pool"})
    assert result.message == ("not verifiable: the rubric names no top block for MobileNetV2 (top_block_after); "
                              "tell the instructor")
    wrong = _run("fine_tuned_layers", _ctx(rubric, built, "fine_tuned", FT), top_block_after={APPLICATION: "block4_pool"})
    assert "'block4_pool', which the rubric names as the end of the frozen layers, is not a layer of MobileNetV2" in \
        wrong.message


# ------------------------------------------------------------------ no reference


def test_without_the_weights_file_the_checks_say_which_file(rubric, built):
    unstaged = copy.deepcopy(digests_of(built, "frozen"))
    unstaged.update(reference=None, reference_file=None, candidates={}, reference_layers=[], missing=[])
    for row in unstaged["layers"]:
        row.update(reference_sha256=None, rel_diff=None, correlation=None)
    ctx = _ctx(rubric, built, "frozen", FE, evaluation=_evaluation(built, "frozen", FE, digests=unstaged))
    for check_id in ("base_weights_pretrained", "fine_tuned_layers"):
        result = _run(check_id, ctx)
        assert result.evidence == {"not_verifiable": True}
        assert result.message == ("not verifiable: the instructor's data folder has none of the ImageNet weights files "
                                  f"to compare with: MobileNetV2 ({WEIGHTS_FILE}); `grade data fetch` lists where "
                                  "they were looked for and how to get them")
    other = copy.deepcopy(unstaged)
    other["candidates"] = {APPLICATION: 0}
    unmatched = _run("base_weights_pretrained", _ctx(rubric, built, "frozen", FE,
                                                     evaluation=_evaluation(built, "frozen", FE, digests=other)))
    assert unmatched.score == 0.0 and unmatched.message.startswith(
        "none of the model's layers are those of the ImageNet weights of MobileNetV2: build the base with "
        "keras.applications")


def test_a_model_that_did_not_run_is_not_judged(rubric, built):
    # A crash leaves no trace and no digests: nothing to judge the base by.
    failed = _evaluation(built, "frozen", FE, ok=False, message="feature_extraction: it crashed",
                         layer_graph=None, layer_digests={})
    result = _run("base_weights_pretrained", _ctx(rubric, built, "frozen", FE, evaluation=failed))
    assert result.message == "not verifiable: the model did not run in the sandbox (see model_loads for why)"


def test_a_model_that_ran_but_whose_head_is_wrong_still_has_its_base_judged(rubric, built):
    # The sandbox loaded and ran it (trace and digests came back); only its 5
    # outputs do not fit the 3 classes. The base is still the ImageNet one.
    wrong = _evaluation(built, "wrong_head", FE, ok=False,
                        message="feature_extraction: the model's output has 5 classes, 3 were expected")
    ctx = _ctx(rubric, built, "wrong_head", FE, evaluation=wrong)
    assert _run("base_weights_pretrained", ctx).passed
    assert _run("pretrained_base", ctx).passed
    assert not _run("head_replaced", ctx).passed


# --------------------------------------------------------------- head_replaced


def test_head_replaced(rubric, built):
    good = _run("head_replaced", _ctx(rubric, built, "frozen", FE), points=4)
    assert (good.score, good.message) == (4.0, "the classifier outputs 3 classes, the data set's (per the loaded model)")
    wrong = _run("head_replaced", _ctx(rubric, built, "wrong_head", FE), points=4)
    assert (wrong.score, wrong.message) == (0.0, "it outputs 5, the data set has 3 classes: end with Dense(3, "
                                                 "activation='softmax') (per the loaded model)")
    imagenet = _evaluation(built, "frozen", FE, architecture={"output_shape": [1000]})
    top = _run("head_replaced", _ctx(rubric, built, "frozen", FE, evaluation=imagenet), points=4)
    assert top.message.startswith("it still outputs ImageNet's 1000 classes: build the base with include_top=False")
    bare = _evaluation(built, "frozen", FE, architecture={"output_shape": [1, 1, 1280]})
    assert "its output is [1, 1, 1280], not one score per class" in \
        _run("head_replaced", _ctx(rubric, built, "frozen", FE, evaluation=bare), points=4).message
    config_only = _run("head_replaced", _ctx(rubric, built, "wrong_head", FE, evaluation=None), points=4)
    assert config_only.message.endswith("(per the saved config)") and config_only.score == 0.0


# ------------------------------------------------------------------ the job


def test_digests_are_asked_for_only_by_parts_with_those_checks(rubric, tmp_path):
    weights = {APPLICATION: tmp_path / WEIGHTS_FILE}
    assert digest_request(rubric.part(FT), weights) == {"reference_files": {APPLICATION: str(tmp_path / WEIGHTS_FILE)}}
    from grader import rubric as rubric_lib

    assert digest_request(rubric_lib.load().part("6.1"), weights) is None


# ------------------------------------------------------- one submission, sandboxed


def _student(tmp_path: Path, built: Path, n_test: int) -> Path:
    """A submission: the frozen model as feature extraction, the everything-unfrozen one as fine-tuning,
    each with predictions for every image of the instructor's folder."""
    root = tmp_path / "student" / "transfer_learning"
    for part_id, name in ((FE, "frozen"), (FT, "unfrozen")):
        folder = root / "results" / part_id
        folder.mkdir(parents=True)
        (folder / "model.keras").write_bytes((built / f"{name}.keras").read_bytes())
        (folder / "predictions.csv").write_text("predicted\n" + "\n".join(str(i % 3) for i in range(n_test)) + "\n")
    return tmp_path / "student"


@pytest.mark.slow
def test_a_submission_graded_in_the_sandbox_with_one_corrupt_test_image(rubric, built, tmp_path, monkeypatch):
    from grader.evaluate import SandboxUnavailable, choose_backend
    from grader.pipeline import grade_submission, load_test_data

    try:
        backend = choose_backend("auto")
    except SandboxUnavailable as exc:
        pytest.skip(f"no sandbox: {exc}")
    monkeypatch.setenv("GRADER_CACHE_DIR", str(tmp_path / "cache"))
    data_dir = tmp_path / "data"
    (data_dir / "models").mkdir(parents=True)
    (data_dir / "models" / WEIGHTS_FILE).write_bytes((built / "models" / WEIGHTS_FILE).read_bytes())
    images = write_image_folder(data_dir / "datasets" / "tiny_images" / "test", per_class=3)
    images[4].write_bytes(images[4].read_bytes()[:200])           # the instructor's copy of square_01.png, cut short
    data = load_test_data(rubric, data_dir)
    assert data.inputs["images"].shape == (8, 32, 32, 3) and data.weights == {APPLICATION: data_dir / "models" / WEIGHTS_FILE}
    grade = grade_submission(_student(tmp_path, built, n_test=9), rubric, backend, data, tmp_path / "work")

    fe, ft = grade.parts[FE], grade.parts[FT]
    checks = {(part, c.id): c for part, grade_part in ((FE, fe), (FT, ft)) for c in grade_part.checks}
    for key in ((FE, "model_loads"), (FE, "pretrained_base"), (FE, "base_weights_pretrained"), (FE, "head_replaced"),
                (FT, "pretrained_base"), (FT, "head_replaced")):
        assert checks[key].passed, (key, checks[key].message)
    assert not checks[(FT, "base_weights_pretrained")].passed
    assert checks[(FT, "fine_tuned_layers")].score == pytest.approx(10 / 3)
    assert checks[(FT, "fine_tuned_layers")].evidence["table"]["rows"][0][2] == "trainable"
    # The corrupt image is listed on each part; the rest is graded, the student's 9 rows cut to the 8 graded.
    left_out = [p for p in grade.problems if p.code == "test-images-left-out"]
    assert [p.part for p in left_out] == [FE, FT]
    assert "square/square_01.png (damaged or cut short" in left_out[0].message and "8 images graded" in left_out[0].message
    assert [p.part for p in grade.problems if p.code == "predictions-rows-left-out"] == [FE, FT]
    agreement = checks[(FE, "predictions_match_model")]
    assert "rows; the test set has" not in agreement.message and "agreement" in agreement.evidence
    assert fe.recomputed["accuracy"] is not None
