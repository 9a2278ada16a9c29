"""Per-layer weight digests: the sandbox's figures for a model against an
ImageNet weights file in Keras's legacy .h5 layout, and the host's check of
them. The weights are seeded random numbers written the way Keras's
downloads are laid out (tests/transfer_material.py)."""

from __future__ import annotations

import copy
import hashlib
import sys
from pathlib import Path

import h5py
import numpy as np
import pytest

from grader.evaluate import readback
from grader.evaluate.digests import validate_layer_digests
from grader.evaluate.readback import Malformed
from tests.transfer_material import (APPLICATION, REINITIALISED, TOP_BLOCK_AFTER, WEIGHTS_FILE, digests_of,
                                     material)

RUNTIME = Path(__file__).resolve().parents[1] / "grader" / "evaluate" / "runtime"
sys.path.insert(0, str(RUNTIME))
import digests as runtime_digests  # noqa: E402  (the sandbox's module, standard library + numpy + h5py)


@pytest.fixture(scope="module")
def built() -> Path:
    return material()


@pytest.fixture(scope="module")
def weights(built) -> Path:
    return built / "models" / WEIGHTS_FILE


def _validated(built, name):
    return validate_layer_digests(digests_of(built, name))


def _rows(value):
    return {row["name"]: row for row in value["layers"]}


def _top_block(value) -> set[str]:
    order = value["reference_layers"]
    return set(order[order.index(TOP_BLOCK_AFTER) + 1:])


def test_a_frozen_base_has_exactly_the_weights_of_the_file(built):
    value = _validated(built, "frozen")
    assert value["reference"] == APPLICATION and value["reference_file"] == WEIGHTS_FILE
    rows = _rows(value)
    base = [row for row in rows.values() if row["reference_sha256"]]
    assert len(base) == 104 and value["candidates"] == {APPLICATION: 104} and value["missing"] == []
    assert all(row["equal"] and row["trainable"] is False and row["prefix"].startswith("mobilenetv2_0.35")
               for row in base)
    assert all(row["rel_diff"] == 0.0 and row["correlation"] == pytest.approx(1.0) for row in base
               if row["correlation"] is not None)
    head = [row for row in rows.values() if not row["reference_sha256"]]
    assert [(row["name"], row["kind"], row["trainable"], row["params"]) for row in head] == \
        [("dense", "Dense", True, 1280 * 3 + 3)]
    # Every layer of the file, weights or not, in the network's order.
    assert len(value["reference_layers"]) == 154 and value["reference_layers"][:3] == ["input_layer", "Conv1", "bn_Conv1"]


def test_the_digest_is_sha256_of_each_arrays_shape_and_float32_bytes(built, weights):
    rows = _rows(_validated(built, "frozen"))
    with h5py.File(weights, "r") as handle:
        group = handle["block_1_depthwise_BN"]
        arrays = [np.asarray(group[name][()], dtype="<f4") for name in group.attrs["weight_names"]]
    expected = hashlib.sha256()
    for array in arrays:
        expected.update(repr(tuple(array.shape)).encode())
        expected.update(array.tobytes())
    assert [a.shape for a in arrays] == [(48,)] * 4      # gamma, beta, moving mean, moving variance
    assert rows["block_1_depthwise_BN"]["reference_sha256"] == expected.hexdigest()
    assert rows["block_1_depthwise_BN"]["sha256"] == expected.hexdigest()


def test_trained_on_layers_stay_correlated_a_reinitialised_one_does_not(built):
    fine = _rows(_validated(built, "fine_tuned"))
    value = _validated(built, "fine_tuned")
    top = _top_block(value)
    trained = [fine[name] for name in ("block_16_expand", "block_16_depthwise", "block_16_project", "Conv_1")]
    assert all(not row["equal"] and row["trainable"] and row["correlation"] > 0.9 and 0 < row["rel_diff"] < 0.3
               for row in trained), trained
    # The top block's BatchNormalization layers were kept frozen: unchanged.
    assert all(fine[name]["equal"] and fine[name]["trainable"] is False
               for name in ("block_16_expand_BN", "block_16_project_BN", "Conv_1_bn"))
    below = [row for name, row in fine.items() if row["reference_sha256"] and name not in top]
    assert len(below) == 96 and all(row["equal"] and row["trainable"] is False for row in below)

    scratch = [row for row in _validated(built, "scratch")["layers"] if row["reference_sha256"]]
    convolutions = [row for row in scratch if row["kind"] in ("Conv2D", "DepthwiseConv2D")]
    assert not any(row["equal"] for row in scratch)
    assert all(abs(row["correlation"]) < 0.3 and row["rel_diff"] > 0.5 for row in convolutions), convolutions[:3]

    one = _validated(built, "reinit_one")
    differing = [row["name"] for row in one["layers"] if row["reference_sha256"] and not row["equal"]]
    assert differing == [REINITIALISED]
    assert abs(_rows(one)[REINITIALISED]["correlation"]) < 0.3


def test_a_reference_in_the_real_downloads_naming_is_read_by_order(tmp_path, weights):
    """Keras's ImageNet files name their arrays as Keras 1 did (block1_conv1_W_1:0)
    and some are whole-model files (a model_weights group): the arrays are taken
    in the order weight_names lists them, whatever they are called."""
    renamed = tmp_path / "old_names.h5"
    with h5py.File(weights, "r") as source, h5py.File(renamed, "w") as target:
        top = target.create_group("model_weights")
        top.attrs["layer_names"] = source.attrs["layer_names"]
        for name in source.attrs["layer_names"]:
            name = name.decode() if isinstance(name, bytes) else name
            group = top.create_group(name)
            old = [n.decode() if isinstance(n, bytes) else n for n in source[name].attrs["weight_names"]]
            new = [f"{name}_{'Wbgm'[i]}_1:0" for i in range(len(old))]
            for was, now in zip(old, new):
                group.create_dataset(now, data=source[name][was][()])
            group.attrs["weight_names"] = [n.encode() for n in new]
    original, old_style = runtime_digests.read_reference(weights), runtime_digests.read_reference(renamed)
    assert old_style["order"] == original["order"] and set(old_style["weights"]) == set(original["weights"])
    assert all(runtime_digests.digest(old_style["weights"][name]) == runtime_digests.digest(arrays)
               for name, arrays in original["weights"].items())


class _Variable:
    def __init__(self, array):
        self.array, self.shape = array, array.shape

    def numpy(self):
        return self.array


class _Layer:
    """What digests.py reads of a Keras layer: its name, weights, flag and class."""

    def __init__(self, name, arrays=(), trainable=False, layers=None):
        self.name, self.trainable = name, trainable
        self.weights = [_Variable(np.asarray(a)) for a in arrays]
        if layers is not None:
            self.layers = layers


class _KerasModel:
    def __init__(self, model):
        self.model = model


def test_a_base_whose_layer_names_are_not_the_files_is_paired_by_order(weights, monkeypatch):
    """InceptionV3 names its layers by the session's counters (conv2d_106 in one
    notebook, conv2d_12 in the file): its layers are paired with the file's by
    order, as Keras's own loader pairs them, and reported under the file's names."""
    reference = runtime_digests.read_reference(weights)
    weighted = [name for name in reference["order"] if name in reference["weights"]]
    renamed = [_Layer(f"layer_{i + 100}", reference["weights"][name]) for i, name in enumerate(weighted)]
    renamed[5].weights[0] = _Variable(reference["weights"][weighted[5]][0] * 1.01)       # trained on a little
    base = _Layer("inception_v3", trainable=False, layers=[_Layer("input_layer_7")] + renamed)
    student = _Layer("model", trainable=True, layers=[_Layer("random_flip"), base,
                                                      _Layer("dense", [np.ones((1280, 3), "f4")], trainable=True)])
    monkeypatch.setattr(runtime_digests, "INPUTS", weights.parent)
    value = validate_layer_digests(runtime_digests.layer_digests(_KerasModel(student), None, None,
                                                                 {"references": {APPLICATION: weights.name}}))
    assert value["reference"] == APPLICATION and value["candidates"] == {APPLICATION: 104} and value["missing"] == []
    rows = value["layers"]
    assert [row["name"] for row in rows[:104]] == weighted
    assert [row["model_name"] for row in rows[:3]] == ["layer_100", "layer_101", "layer_102"]
    assert [row["name"] for row in rows if not row["equal"]] == [weighted[5], "dense"]
    assert rows[5]["correlation"] == pytest.approx(1.0) and rows[5]["rel_diff"] > 0
    assert rows[-1]["reference_sha256"] is None and rows[-1]["model_name"] is None
    # A base cut short is not that network by order: only its namesakes are paired.
    cut = _Layer("model", trainable=True, layers=renamed[:50])
    short = runtime_digests.layer_digests(_KerasModel(cut), None, None, {"references": {APPLICATION: weights.name}})
    assert short["reference"] is None and short["candidates"] == {APPLICATION: 0}


def test_the_relative_difference_and_correlation():
    base = [np.arange(12, dtype=np.float32).reshape(3, 4), np.ones(4, dtype=np.float32)]
    same, close = runtime_digests.compare(base, base), runtime_digests.compare([base[0] * 1.01, base[1]], base)
    assert same == (0.0, 1.0)
    assert close[0] == pytest.approx(0.01 * np.linalg.norm(base[0]) / np.sqrt(np.sum(base[0] ** 2) + 4), rel=1e-4)
    assert close[1] == pytest.approx(1.0)     # the constant bias says nothing and is left out
    rng = np.random.default_rng(0)
    unrelated = runtime_digests.compare([rng.normal(size=(3, 4)).astype("f4"), base[1]], base)
    assert abs(unrelated[1]) < 0.7 and unrelated[0] > 0.5


# -------------------------------------------------------------- host side


def _sandbox_value(built):
    return copy.deepcopy(digests_of(built, "fine_tuned"))


def test_equality_is_recomputed_on_the_host_never_taken_from_the_sandbox(built):
    value = _sandbox_value(built)
    row = next(row for row in value["layers"] if row["name"] == "block_16_expand")
    row["equal"] = True                       # a claim the host ignores
    assert _rows(validate_layer_digests(value))["block_16_expand"]["equal"] is False
    row["sha256"] = row["reference_sha256"]   # the same digest: the same weights
    assert _rows(validate_layer_digests(value))["block_16_expand"]["equal"] is True


@pytest.mark.parametrize("break_it, expected", [
    (lambda v: v["layers"][0].update(sha256="not a digest"), "not a sha256"),
    (lambda v: v["layers"][0].update(trainable="yes"), "expected true or false"),
    (lambda v: v["layers"][0].update(trainable=None), "no trainable flag"),
    (lambda v: v["layers"][0].update(correlation=3.0), "expected a number"),
    (lambda v: v["layers"][0].update(rel_diff=float("nan")), "expected a number"),
    (lambda v: v.update(layers=v["layers"] * 40), "at most 2000"),
    (lambda v: v.update(candidates=[1]), "candidates is not an object"),
    (lambda v: v.update(reference=7), "expected text"),
])
def test_malformed_digests_are_refused_and_graded_without(built, break_it, expected):
    value = _sandbox_value(built)
    break_it(value)
    with pytest.raises(Malformed, match=expected):
        validate_layer_digests(value)
    assert readback.layer_digests(value) == {}


def test_names_are_cleaned_and_capped(built):
    value = _sandbox_value(built)
    value["layers"][0]["name"] = "<script>\x00" + "x" * 500
    cleaned = validate_layer_digests(value)["layers"][0]["name"]
    assert "\x00" not in cleaned and len(cleaned) <= 200


# ------------------------------------------------------------ in the sandbox


@pytest.mark.slow
def test_the_sandbox_computes_the_digests_against_the_staged_weights_file(built, weights, tmp_path):
    from grader.evaluate import SandboxUnavailable, choose_backend, evaluate_submission
    from grader.evaluate.jobs import ModelJob, probe_batch
    from grader.limits import SandboxLimits

    try:
        backend = choose_backend("auto")
    except SandboxUnavailable as exc:
        pytest.skip(f"no sandbox: {exc}")
    submission = tmp_path / "submission" / "results"
    submission.mkdir(parents=True)
    (submission / "model.keras").write_bytes((built / "fine_tuned.keras").read_bytes())
    job = ModelJob(part="fine_tuning", path="results/model.keras", dataset="images", scaling="raw",
                   input_shape=(32, 32, 3), num_classes=3,
                   digests={"reference_files": {APPLICATION: str(weights), "VGG16": str(tmp_path / "absent.h5")}})
    evaluation = evaluate_submission(tmp_path / "submission", [job], [], {"images": probe_batch((32, 32, 3))}, None,
                                     backend, SandboxLimits(timeout_seconds=300), tmp_path / "work")
    model = evaluation.models["fine_tuning"]
    assert model.ok, model.message
    expected = _validated(built, "fine_tuned")
    assert model.layer_digests["reference"] == APPLICATION
    # Only the file that exists was staged; the absent one is not a candidate.
    assert model.layer_digests["candidates"] == {APPLICATION: 104}
    assert [(r["name"], r["sha256"], r["equal"], r["trainable"]) for r in model.layer_digests["layers"]] == \
        [(r["name"], r["sha256"], r["equal"], r["trainable"]) for r in expected["layers"]]
    staged = tmp_path / "work" / "inputs" / WEIGHTS_FILE
    assert staged.is_file() and staged.stat().st_size == weights.stat().st_size
