"""Measurements for a comparison of models (grader/evaluate/runtime/measure.py
in the sandbox, grader/evaluate/measurements.py on the host): one bubblewrap
run of three small models in the three formats students hand in (Keras 3
.keras, Keras 2 .h5 written by tf_keras, a tf_keras SavedModel folder), and
the host's validation of what comes back."""

from __future__ import annotations

import math
import os
import sys
from pathlib import Path

import numpy as np
import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
sys.path.insert(0, str(Path(__file__).resolve().parent))

from grader.evaluate import readback  # noqa: E402
from grader.evaluate.measurements import validate_measurements  # noqa: E402
from grader.evaluate.readback import Malformed  # noqa: E402

MEASURE = {"repeats": 3, "large_batch": 32, "warmup": 1}


def conv_flops(height: int, width: int, kernel: int, channels_in: int, filters: int) -> int:
    """2 x multiply-adds of a 'valid' convolution plus its bias additions, for one image."""
    out = (height - kernel + 1) * (width - kernel + 1)
    return 2 * out * kernel * kernel * channels_in * filters + out * filters


@pytest.fixture(scope="module")
def measured(tmp_path_factory):
    keras = pytest.importorskip("keras")
    tf_keras = pytest.importorskip("tf_keras")
    from grader.evaluate import ModelJob, evaluate_submission
    from grader.evaluate.bwrap_backend import BwrapSandbox
    from grader.limits import SandboxLimits

    sandbox = BwrapSandbox()
    ok, why = sandbox.available()
    if not ok:
        pytest.skip(f"bwrap sandbox unavailable: {why}")
    root = tmp_path_factory.mktemp("measure")
    (root / "results").mkdir()
    keras.utils.set_random_seed(3)
    small = keras.Sequential([keras.Input((32, 32, 3)), keras.layers.Conv2D(4, 3, activation="relu"),
                              keras.layers.GlobalAveragePooling2D(), keras.layers.Dense(10, activation="softmax")])
    small.save(root / "results" / "small.keras")
    tf_keras.utils.set_random_seed(3)
    bigger = tf_keras.Sequential([tf_keras.Input((32, 32, 3)), tf_keras.layers.Conv2D(16, 3, activation="relu"),
                                  tf_keras.layers.BatchNormalization(), tf_keras.layers.Conv2D(16, 3),
                                  tf_keras.layers.GlobalAveragePooling2D(),
                                  tf_keras.layers.Dense(10, activation="softmax")])
    bigger.save(root / "results" / "bigger.h5")
    bigger.save(root / "results" / "bigger_savedmodel", save_format="tf")
    jobs = [ModelJob(part=part, path=f"results/{name}", dataset="cifar10", scaling="unit", input_shape=(32, 32, 3),
                     num_classes=10, measure=MEASURE)
            for part, name in (("small", "small.keras"), ("bigger", "bigger.h5"), ("saved", "bigger_savedmodel"))]
    images = np.random.default_rng(0).integers(0, 256, (12, 32, 32, 3), dtype=np.uint8)
    evaluation = evaluate_submission(root, jobs, [], {"cifar10": images}, None, sandbox,
                                     SandboxLimits(timeout_seconds=300), root.parent / f"{root.name}-work")
    assert evaluation.status == "ok", evaluation.message
    return {part: model for part, model in evaluation.models.items()}, {
        "small": small.count_params(), "bigger": bigger.count_params(),
        "bigger_trainable": sum(int(np.prod(w.shape)) for w in bigger.trainable_weights),
        "sizes": {"small": (root / "results" / "small.keras").stat().st_size,
                  "bigger": (root / "results" / "bigger.h5").stat().st_size,
                  "saved": sum(p.stat().st_size for p in (root / "results" / "bigger_savedmodel").rglob("*")
                               if p.is_file())}}


@pytest.mark.slow
def test_each_format_is_measured_in_the_interface_shape(measured):
    models, expected = measured
    for part, model in models.items():
        assert model.ok, model.message
        figures = model.measurements
        assert sorted(figures) == ["flops", "latency", "params", "size_bytes"], part
        latency = figures["latency"]
        assert sorted(latency) == ["batch1_ms", "large_batch", "large_batch_ms", "repeats", "threads"]
        assert (latency["large_batch"], latency["repeats"], latency["threads"]) == (32, 3, 1)
        assert latency["batch1_ms"] > 0 and latency["large_batch_ms"] > 0
        # one image at a time pays the per-call overhead that a batch of 32 shares
        assert latency["large_batch_ms"] < latency["batch1_ms"]
        assert figures["size_bytes"] == expected["sizes"][part]
    small, bigger, saved = (models[p].measurements for p in ("small", "bigger", "saved"))
    assert small["params"] == {"total": expected["small"], "trainable": expected["small"], "non_trainable": 0}
    assert bigger["params"] == saved["params"] == {
        "total": expected["bigger"], "trainable": expected["bigger_trainable"],
        "non_trainable": expected["bigger"] - expected["bigger_trainable"]}
    assert bigger["params"]["non_trainable"] == 32        # the batch normalisation's moving mean and variance


@pytest.mark.slow
def test_flops_come_from_the_graph_and_grow_with_the_model(measured):
    models, _ = measured
    small, bigger, saved = (models[p].measurements["flops"] for p in ("small", "bigger", "saved"))
    # the convolutions, plus the pooling's mean, the dense layer and the softmax (a few percent)
    convolution = conv_flops(32, 32, 3, 3, 4)
    assert convolution <= small <= convolution * 1.03
    two_convolutions = conv_flops(32, 32, 3, 3, 16) + conv_flops(30, 30, 3, 16, 16)
    assert two_convolutions <= bigger <= two_convolutions * 1.03
    # The SavedModel's graph (its variables frozen) runs the same network; its batch
    # normalisation is one fused op, which the profiler does not count, where the
    # .h5's graph writes it out: a multiply and an add per element (2 x 30 x 30 x 16)
    # and its scale and offset from the moving statistics (a few per channel).
    assert 2 * 30 * 30 * 16 <= bigger - saved <= 2 * 30 * 30 * 16 + 8 * 16
    assert bigger > 10 * small


# ------------------------------------------------------------------ host


def good() -> dict:
    return {"params": {"total": 100, "trainable": 90, "non_trainable": 10},
            "latency": {"batch1_ms": 1.5, "large_batch": 256, "large_batch_ms": 0.2, "repeats": 5, "threads": 1},
            "flops": 12345, "size_bytes": 4096}


def test_the_host_keeps_exactly_the_interface_fields():
    value = good()
    value["latency"]["extra"] = "x" * 10_000
    value["extra"] = {"nested": True}
    assert validate_measurements(value) == good()
    unknown_flops = good()
    unknown_flops["flops"] = None
    assert validate_measurements(unknown_flops)["flops"] is None


@pytest.mark.parametrize("change, message", [
    (lambda v: v["params"].update(total=101), "is not the total"),
    (lambda v: v["params"].update(trainable=True), "whole number"),
    (lambda v: v["latency"].update(batch1_ms=-1.0), "number in"),
    (lambda v: v["latency"].update(batch1_ms=math.inf), "number in"),
    (lambda v: v["latency"].update(large_batch_ms="0.2"), "number in"),
    (lambda v: v["latency"].update(threads=0), "whole number"),
    (lambda v: v.update(flops=0), "whole number"),
    (lambda v: v.update(flops=10**20), "whole number"),
    (lambda v: v.update(size_bytes=-5), "whole number"),
    (lambda v: v.pop("latency"), "measurements.latency is not an object"),
    (lambda v: v.update(params=[1, 2]), "measurements.params is not an object"),
])
def test_anything_else_is_malformed_and_the_model_graded_without(change, message):
    value = good()
    change(value)
    with pytest.raises(Malformed, match=message):
        validate_measurements(value)
    assert readback.measurements(value) == {}
    assert readback.measurements("not even an object") == {}


def test_the_rubric_switches_measurement_on_per_part():
    from grader import rubric as rubric_mod
    from grader.evaluate import ModelJob

    week06 = rubric_mod.load("week06_architectures")
    for part_id in ("cnn", "resnet", "inception"):
        part = week06.part(part_id)
        job = ModelJob.for_part(part, week06.dataset_of(part), f"results/{part_id}/model.keras")
        assert job.measure == {"repeats": 5, "large_batch": 256, "warmup": 2}
        assert job.to_json()["measure"] == job.measure and job.as_probe().measure == job.measure
    assignment06 = rubric_mod.load("assignment06")
    part = assignment06.part("6.2a")
    assert ModelJob.for_part(part, assignment06.dataset_of(part), "results/6.2a/model.keras").measure is None
