"""The evaluate stage end to end: good and hostile models in the Docker and
bubblewrap sandboxes, real Keras 2 files from ../shared, ResNet50 on a folder
of images, and the host's handling of whatever the sandbox writes back."""

from __future__ import annotations

import json
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

import hostile_models as hm  # noqa: E402
from hostile_models import runtime_image, sandbox  # noqa: E402,F401

from grader.evaluate import ModelEvaluation, ImagenetJob, ModelJob, evaluate_submission, probe_batch  # noqa: E402
from grader.evaluate.jobs import IMAGENET_CLASS_INDEX, IMAGENET_WEIGHTS  # noqa: E402
from grader.evaluate.sandbox import SandboxRun  # noqa: E402
from grader.limits import SandboxLimits  # noqa: E402
from grader import rubric as rubric_module  # noqa: E402

N_TEST = 300


def mnist_job(part: str, path: str, classes: int = 10, **extra) -> ModelJob:
    return ModelJob(part=part, path=path, dataset="mnist", scaling="unit", input_shape=(28, 28, 1),
                    num_classes=classes, **extra)


def cifar_job(part: str, path: str) -> ModelJob:
    return ModelJob(part=part, path=path, dataset="cifar10", scaling="unit", input_shape=(32, 32, 3), num_classes=10)


@pytest.fixture(scope="module")
def images():
    rng = np.random.default_rng(3)
    return {
        "mnist": rng.integers(0, 256, (N_TEST, 28, 28), dtype=np.uint8),    # no channel axis, as keras ships it
        "cifar10": rng.integers(0, 256, (N_TEST, 32, 32, 3), dtype=np.uint8),
    }


@dataclass
class Submission:
    root: Path
    expected: dict[str, np.ndarray]    # part -> probabilities computed on the host from our own models
    params: dict[str, int]
    token: str
    secret: Path
    port: int


@pytest.fixture(scope="module")
def good_models(tmp_path_factory, images):
    """Good models in every format, saved once, with the host's own predictions."""
    root = tmp_path_factory.mktemp("good")
    results = root / "results"
    results.mkdir()
    mnist = images["mnist"].reshape(-1, 28, 28, 1).astype("float32") / 255
    cifar = images["cifar10"].astype("float32") / 255
    expected, params = {}, {}

    convnet = hm.keras3_convnet()
    convnet.save(results / "convnet.keras")
    convnet.save(results / "convnet.h5")
    expected["keras3"] = expected["keras3-h5"] = convnet.predict(mnist, verbose=0)
    params["keras3"] = convnet.count_params()

    augmented = hm.keras3_augmented()
    augmented.save(results / "augmented.keras")
    logits = augmented.predict(cifar, verbose=0)
    expected["augmented"] = np.exp(logits - logits.max(1, keepdims=True))
    expected["augmented"] /= expected["augmented"].sum(1, keepdims=True)

    keras2 = hm.tf_keras_convnet()
    keras2.save(results / "keras2.h5")
    keras2.save(results / "keras2_savedmodel")          # tf_keras: no extension -> SavedModel folder
    expected["keras2-h5"] = expected["keras2-savedmodel"] = keras2.predict(mnist, verbose=0)

    flat = hm.tf_keras_convnet(flat_input=True)
    flat.save(results / "flat.h5")
    expected["flat"] = flat.predict(mnist.reshape(-1, 784), verbose=0)

    hm.keras3_convnet(classes=5).save(results / "five_classes.keras")
    return root, expected, params


def copy_tree(source: Path, target: Path) -> None:
    import shutil

    shutil.copytree(source, target, dirs_exist_ok=True)


@pytest.fixture
def hostile_submission(tmp_path, good_models):
    """A submission mixing good models with hostile ones."""
    good_root, expected, params = good_models
    root = tmp_path / "submission"
    copy_tree(good_root, root)
    token = f"sentinel{os.getpid()}x{time.monotonic_ns() % 10**9}"
    secret = hm.write_secret(tmp_path)
    places = hm.sentinel_places(tmp_path, token)
    body = hm.sentinel_body(places, str(secret), f"/output/{token}-leak")
    hm.hostile_h5(root / "results/lambda_sentinel.h5", body)
    hm.hostile_keras(root / "results/lambda_sentinel.keras", body)
    listener = hm.Listener()
    hm.hostile_h5(root / "results/network.h5", hm.network_body(listener.port))
    hm.hostile_h5(root / "results/fork_bomb.h5", hm.FORK_BOMB_BODY)
    hm.random_bytes(root / "results/random.h5")
    return Submission(root, expected, params, token, secret, listener.port), listener


MAIN_JOBS = [
    mnist_job("keras3", "results/convnet.keras", alternative_scalings=("raw",)),
    mnist_job("lambda-h5", "results/lambda_sentinel.h5"),
    mnist_job("lambda-keras", "results/lambda_sentinel.keras"),
    mnist_job("network", "results/network.h5"),
    mnist_job("random", "results/random.h5"),
    mnist_job("five", "results/five_classes.keras"),
    mnist_job("keras2-h5", "results/keras2.h5"),
    mnist_job("fork-bomb", "results/fork_bomb.h5"),
    mnist_job("keras3-h5", "results/convnet.h5"),
    mnist_job("keras2-savedmodel", "results/keras2_savedmodel"),
    mnist_job("flat", "results/flat.h5"),
    cifar_job("augmented", "results/augmented.keras"),
    mnist_job("outside", "../escape.h5"),
    # As if the MNIST test set were missing: the same model on the probe batch.
    mnist_job("probe", "results/convnet.keras", alternative_scalings=("raw",)).as_probe(),
]


@pytest.mark.slow
def test_hostile_models_are_contained_and_good_ones_in_the_same_run_are_graded(sandbox, hostile_submission,
                                                                                images, tmp_path):
    submission, listener = hostile_submission
    # The limit is far above the run's time here (about a minute for 14 models):
    # this test is about containment, and a slower CI machine must not turn it
    # into a timing test. The failure message lists each model's seconds.
    limits = SandboxLimits(timeout_seconds=600, memory_mb=2048, pids=128)
    work = tmp_path / "work" / "student"
    started = time.monotonic()
    inputs = images | {"mnist-probe": probe_batch((28, 28, 1))}
    with listener:
        evaluation = evaluate_submission(submission.root, MAIN_JOBS, [], inputs, None, sandbox, limits, work)
    elapsed = time.monotonic() - started
    models = evaluation.models
    timings = ", ".join(f"{part} {model.seconds} s" for part, model in models.items())
    assert evaluation.backend == sandbox.name and evaluation.status == "ok", \
        f"{evaluation.message} after {elapsed:.0f} s; finished: {timings}"
    assert elapsed < limits.timeout_seconds

    # Nothing escaped: no sentinel outside the output folder, no secret read, no connection.
    assert hm.host_sentinels(tmp_path, submission.token, work / "output") == []
    assert "TOP SECRET" not in "".join(p.read_text(errors="replace") for p in (work / "output").glob("*leak*"))
    assert listener.connections == 0 and listener.received == b""

    # Plain words for every hostile model.
    assert models["lambda-h5"].ok and models["lambda-h5"].loader == "tf_keras"
    assert "Lambda" in models["lambda-h5"].message and "Rescaling layer" in models["lambda-h5"].message
    assert not models["lambda-keras"].ok
    assert "lambda-keras: the model contains a Lambda layer whose code cannot be loaded safely" in \
        models["lambda-keras"].message
    assert not models["network"].ok and "network connection" in models["network"].message
    assert not models["random"].ok and "the file is not a Keras model" in models["random"].message
    assert not models["five"].ok and "the model's output has 5 classes, 10 were expected" in models["five"].message
    assert not models["fork-bomb"].ok and "more processes than the sandbox allows (128)" in models["fork-bomb"].message
    assert not models["outside"].ok and "outside the submission" in models["outside"].message

    # Good models, before and after the hostile ones, give the host's own predictions.
    for part in ("keras3", "keras3-h5", "keras2-h5", "keras2-savedmodel", "flat", "augmented"):
        model = models[part]
        assert isinstance(model, ModelEvaluation) and model.ok, (part, model.message)
        assert model.probabilities.shape == (N_TEST, 10) and model.probabilities.dtype == np.float32
        np.testing.assert_allclose(model.probabilities, submission.expected[part], atol=2e-4, err_msg=part)
    assert models["keras3"].loader == "keras3-safe" and models["keras2-savedmodel"].loader == "saved_model"
    assert models["keras3"].architecture["params"]["total"] == submission.params["keras3"]
    assert models["keras3"].architecture["has_dropout"] is True
    assert models["keras3"].architecture["has_augmentation"] is False
    assert models["keras3"].alternative_probabilities["raw"].shape == (N_TEST, 10)
    augmented = models["augmented"].architecture
    assert augmented["has_augmentation"] is True and augmented["has_dropout"] is True
    assert augmented["layer_types"]["RandomFlip"] == 1 and "Sequential" not in augmented["layer_types"]
    assert "logits" in models["augmented"].message
    assert "(784,)" in models["flat"].message
    assert models["keras2-savedmodel"].architecture["layer_types"].get("Conv2D") == 1

    # The probe: loaded and run, architecture reported, no probabilities kept, no other scaling tried.
    probe = models["probe"]
    assert probe.ok and probe.loader == "keras3-safe" and probe.probabilities is None
    assert probe.alternative_probabilities == {}
    assert probe.architecture == models["keras3"].architecture
    assert probe.message.startswith("probe: loaded and run on 8 generated images of shape (28, 28, 1) only")
    assert not (work / "output" / "probe.raw.npy").exists()

    # Test inputs only: no labels ever enter the sandbox.
    assert sorted(p.name for p in (work / "inputs").iterdir()) == ["cifar10.npy", "mnist-probe.npy", "mnist.npy"]


@pytest.mark.slow
def test_an_endless_loop_is_stopped_and_grading_goes_on(sandbox, good_models, images, tmp_path):
    good_root, expected, _ = good_models
    root = tmp_path / "looping"
    copy_tree(good_root, root)
    hm.hostile_h5(root / "results/loop.h5", hm.LOOP_BODY)
    limits = SandboxLimits(timeout_seconds=20)
    jobs = [mnist_job("first", "results/convnet.keras"), mnist_job("6.2b", "results/loop.h5"),
            mnist_job("third", "results/keras2.h5")]
    started = time.monotonic()
    evaluation = evaluate_submission(root, jobs, [], images, None, sandbox, limits, tmp_path / "work" / "a")
    assert time.monotonic() - started < limits.timeout_seconds + 15
    assert evaluation.status == "timeout"
    assert evaluation.models["first"].ok   # finished before the loop: its partial result was kept
    np.testing.assert_allclose(evaluation.models["first"].probabilities, expected["keras3"], atol=2e-4)
    assert evaluation.models["6.2b"].message == \
        "6.2b: the model did not finish within the 20 s limit (the sandbox was stopped)"
    assert "not evaluated" in evaluation.models["third"].message and "6.2b" in evaluation.models["third"].message

    following = evaluate_submission(good_root, [mnist_job("6.1", "results/keras2.h5")], [], images, None,
                                    sandbox, limits, tmp_path / "work" / "b")
    assert following.status == "ok" and following.models["6.1"].ok
    np.testing.assert_allclose(following.models["6.1"].probabilities, expected["keras2-h5"], atol=2e-4)


@pytest.mark.slow
def test_a_memory_hog_is_stopped_and_grading_goes_on(sandbox, good_models, images, tmp_path):
    good_root, expected, _ = good_models
    root = tmp_path / "hog"
    copy_tree(good_root, root)
    hm.hostile_h5(root / "results/hog.h5", hm.MEMORY_BODY)
    limits = SandboxLimits(timeout_seconds=90, memory_mb=1536)
    jobs = [mnist_job("hog", "results/hog.h5"), mnist_job("after", "results/convnet.keras")]
    evaluation = evaluate_submission(root, jobs, [], images, None, sandbox, limits, tmp_path / "work" / "a")
    assert "hog: the model ran out of the 1536 MB memory limit" in evaluation.models["hog"].message
    if sandbox.name == "docker":   # the cgroup's OOM killer stopped the whole run
        assert evaluation.status == "oom"
        assert evaluation.models["hog"].message.endswith("(the sandbox was stopped)")
        assert "not evaluated" in evaluation.models["after"].message
    else:                          # RLIMIT_DATA raised MemoryError in the runner, which went on
        assert evaluation.status == "ok" and evaluation.models["after"].ok

    following = evaluate_submission(good_root, [mnist_job("6.1", "results/convnet.keras")], [], images, None,
                                    sandbox, limits, tmp_path / "work" / "b")
    assert following.status == "ok" and following.models["6.1"].ok
    np.testing.assert_allclose(following.models["6.1"].probabilities, expected["keras3"], atol=2e-4)


# ------------------------------------------------------------ real files


# Keras 2.x .h5 files that real students submitted (two MNIST, one CIFAR-10).
REAL_MODELS = (
    "santosh0924/assignment06_from_submission_zip/results/6_1_model.h5",
    "AartiRamani/assignment06/results/Assignment_6-1_model.h5",
    "vinaynagaraj88/assignment06_from_submission_zip/results/6_2a_model.h5",
)


@pytest.mark.shared
@pytest.mark.slow
def test_real_keras2_files_load_and_mnist_accuracy_is_recomputed(sandbox, tmp_path):
    if not (hm.SHARED / "real-world-samples").is_dir():
        pytest.skip("../shared is absent")
    mnist_images = hm.read_idx(hm.SHARED / "data/mnist/t10k-images-idx3-ubyte.gz")
    mnist_labels = hm.read_idx(hm.SHARED / "data/mnist/t10k-labels-idx1-ubyte.gz")
    cifar_like = np.random.default_rng(5).integers(0, 256, (500, 32, 32, 3), dtype=np.uint8)
    submission = tmp_path / "real"
    for relative in REAL_MODELS:
        target = submission / "results" / Path(relative).name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes((hm.SHARED / "real-world-samples" / relative).read_bytes())
    jobs = [mnist_job("6.1", "results/6_1_model.h5"), mnist_job("6.1-aarti", "results/Assignment_6-1_model.h5"),
            cifar_job("6.2a", "results/6_2a_model.h5")]
    work = tmp_path / "work" / "real"
    evaluation = evaluate_submission(submission, jobs, [], {"mnist": mnist_images, "cifar10": cifar_like}, None,
                                     sandbox, SandboxLimits(timeout_seconds=240), work)
    assert evaluation.status == "ok", evaluation.message
    for part in ("6.1", "6.1-aarti"):
        model = evaluation.models[part]
        assert model.ok, model.message
        accuracy = float((model.probabilities.argmax(1) == mnist_labels).mean())
        assert accuracy > 0.98, (part, accuracy)
    assert evaluation.models["6.2a"].ok and evaluation.models["6.2a"].probabilities.shape == (500, 10)
    # The labels stayed on the host.
    assert sorted(p.name for p in (work / "inputs").iterdir()) == ["cifar10.npy", "mnist.npy"]
    assert np.array_equal(np.load(work / "inputs" / "mnist.npy", allow_pickle=False), mnist_images)


# -------------------------------------------------------------- ImageNet


@pytest.fixture(scope="module")
def resnet_files(tmp_path_factory):
    """Stand-ins for the instructor's ResNet50 files: random weights in the
    Keras 2 HDF5 layout of resnet50_weights_tf_dim_ordering_tf_kernels.h5, and
    a class index in imagenet_class_index.json's layout."""
    import tf_keras

    folder = tmp_path_factory.mktemp("imagenet")
    tf_keras.utils.set_random_seed(11)
    weights = folder / "resnet50_weights_tf_dim_ordering_tf_kernels.h5"
    tf_keras.applications.ResNet50(weights=None).save_weights(weights)
    class_index = folder / "imagenet_class_index.json"
    class_index.write_text(json.dumps({str(i): [f"n{i:08d}", f"class_{i}"] for i in range(1000)}))
    return {IMAGENET_WEIGHTS: weights, IMAGENET_CLASS_INDEX: class_index}


def make_images(folder: Path) -> dict[str, Path]:
    from PIL import Image

    folder.mkdir(parents=True)
    rng = np.random.default_rng(2)
    paths = {}
    for name, fmt in (("cat.jpg", "JPEG"), ("dog.png", "PNG"), ("misnamed.jpg", "PNG")):
        Image.fromarray(rng.integers(0, 256, (300, 260, 3), dtype=np.uint8)).save(folder / name, format=fmt)
        paths[name] = folder / name
    Image.new("L", (1500, 1500)).save(folder / "bomb.png")       # over the test's pixel limit
    (folder / "notes.jpg").write_text("not an image")
    return paths


@pytest.mark.slow
def test_resnet50_classifies_the_students_images(sandbox, resnet_files, tmp_path):
    import keras
    from PIL import Image

    submission = tmp_path / "submission"
    good = make_images(submission / "images")
    job = ImagenetJob(part="6.3", images=("images/cat.jpg", "images/dog.png", "images/misnamed.jpg",
                                          "images/bomb.png", "images/notes.jpg", "images/absent.jpg"), top=3)
    limits = SandboxLimits(timeout_seconds=180, max_image_pixels=1_000_000)
    evaluation = evaluate_submission(submission, [], [job], {}, resnet_files, sandbox, limits, tmp_path / "work" / "s")
    result = evaluation.imagenet["6.3"]
    assert evaluation.status == "ok" and result.ok, result.message
    assert "bomb.png" in result.message and "over the 1000000 limit" in result.message
    assert "notes.jpg: the file is not an image that Pillow can read" in result.message
    assert "absent.jpg: the file is not in the submission" in result.message

    model = keras.applications.ResNet50(weights=str(resnet_files[IMAGENET_WEIGHTS]))
    for name, path in good.items():
        rows = [p for p in result.predictions if p.image == name]
        assert [p.rank for p in rows] == [1, 2, 3]
        pixels = np.asarray(Image.open(path).convert("RGB").resize((224, 224), Image.NEAREST), dtype="float32")
        host = model.predict(keras.applications.resnet50.preprocess_input(pixels[None]), verbose=0)[0]
        assert [p.wnid for p in rows] == [f"n{i:08d}" for i in np.argsort(-host)[:3]]
        assert rows[0].label == f"class_{int(np.argmax(host))}"
        assert abs(rows[0].probability - float(host.max())) < 1e-4


def test_missing_resnet_weights_are_reported_without_running_anything(tmp_path):
    job = ImagenetJob(part="6.3", images=("images/a.jpg",))
    evaluation = evaluate_submission(tmp_path, [], [job], {}, None, ExplodingSandbox(), SandboxLimits(),
                                     tmp_path / "work" / "s")
    assert not evaluation.imagenet["6.3"].ok
    assert "6.3: weights missing" in evaluation.imagenet["6.3"].message


# ---------------------------------------- the host reads untrusted output


class ExplodingSandbox:
    name = "exploding"

    def available(self):
        return True, ""

    def run(self, *args, **kwargs):
        raise AssertionError("the sandbox must not run")


class ScriptedSandbox:
    """Writes the given files into the output folder, as a hostile runner could."""

    name = "scripted"

    def __init__(self, write, run: SandboxRun | None = None) -> None:
        self.write = write
        self.result = run or SandboxRun(exit_code=0, timed_out=False, oom_killed=False, seconds=1.0)
        self.job = None

    def available(self):
        return True, ""

    def run(self, job_dir, submission_dir, inputs_dir, output_dir, limits):
        self.job = json.loads((job_dir / "job.json").read_text())
        self.inputs = sorted(p.name for p in inputs_dir.iterdir())
        self.write(output_dir)
        return self.result


def entry(**fields):
    base = {"ok": True, "loader": "keras3-safe", "message": "", "notes": [], "layer_types": {"Dense": 1},
            "params": {"total": 10, "trainable": 10}, "input_shape": [28, 28, 1], "output_shape": [10]}
    return base | fields


def result_json(models: dict, finished: bool = True) -> bytes:
    return json.dumps({"models": models, "imagenet": {}, "finished": finished}).encode()


def npy(array) -> bytes:
    import io

    buffer = io.BytesIO()
    np.save(buffer, array)
    return buffer.getvalue()


@pytest.fixture
def small_submission(tmp_path):
    root = tmp_path / "submission"
    (root / "results").mkdir(parents=True)
    (root / "results" / "model.h5").write_bytes(b"\x89HDF\r\n\x1a\n" + b"\0" * 100)
    return root


def run_scripted(tmp_path, submission, write, run=None, rows=20, classes=10, alternative=()):
    sandbox = ScriptedSandbox(write, run)
    x = np.zeros((rows, 28, 28), dtype=np.uint8)
    job = mnist_job("6.1", "results/model.h5", classes=classes, alternative_scalings=alternative)
    evaluation = evaluate_submission(submission, [job], [], {"mnist": x}, None, sandbox,
                                     SandboxLimits(timeout_seconds=900, memory_mb=4096), tmp_path / "work" / "s")
    return evaluation, sandbox


def test_good_output_is_read_and_logits_are_softmaxed(tmp_path, small_submission):
    logits = np.random.default_rng(0).normal(size=(20, 10)).astype("float32") * 3

    def write(output):
        (output / "result.json").write_bytes(result_json({"6.1": entry()}))
        (output / "6.1.npy").write_bytes(npy(logits))

    evaluation, sandbox = run_scripted(tmp_path, small_submission, write)
    model = evaluation.models["6.1"]
    assert model.ok and "logits" in model.message
    np.testing.assert_allclose(model.probabilities.sum(1), 1.0, atol=1e-5)
    assert (model.probabilities.argmax(1) == logits.argmax(1)).all()
    assert sandbox.job["models"][0] == {"id": "6.1", "path": "results/model.h5", "input": "mnist", "scaling": "unit",
                                        "alternative_scalings": [], "input_shape": [28, 28, 1], "num_classes": 10,
                                        "batch_size": 256, "probe": False, "measure": None, "digests": None}
    assert sandbox.inputs == ["mnist.npy"]


def test_a_symlinked_result_is_refused(tmp_path, small_submission):
    secret = hm.write_secret(tmp_path)

    def write(output):
        (output / "result.json").symlink_to(secret)

    evaluation, _ = run_scripted(tmp_path, small_submission, write)
    assert evaluation.status == "crashed"
    assert "cannot be opened safely" in evaluation.models["6.1"].message
    assert "TOP SECRET" not in evaluation.message + evaluation.models["6.1"].message


def test_a_fifo_instead_of_predictions_does_not_hang_the_host(tmp_path, small_submission):
    def write(output):
        (output / "result.json").write_bytes(result_json({"6.1": entry()}))
        os.mkfifo(output / "6.1.npy")

    evaluation, _ = run_scripted(tmp_path, small_submission, write)
    assert not evaluation.models["6.1"].ok
    assert "not a regular file" in evaluation.models["6.1"].message


@pytest.mark.parametrize("bad, words", [
    ({"ok": "yes"}, "malformed"),
    ({"params": {"total": -3, "trainable": 0}}, "malformed"),
    ({"loader": "pickle"}, "unknown loader"),
    ({"layer_types": ["Dense"]}, "malformed"),
])
def test_malformed_fields_fail_only_that_model_in_plain_words(tmp_path, small_submission, bad, words):
    def write(output):
        (output / "result.json").write_bytes(result_json({"6.1": entry(**bad)}))
        (output / "6.1.npy").write_bytes(npy(np.full((20, 10), 0.1, dtype="float32")))

    evaluation, _ = run_scripted(tmp_path, small_submission, write)
    assert not evaluation.models["6.1"].ok and words in evaluation.models["6.1"].message
    assert evaluation.models["6.1"].message.startswith("6.1: the sandbox's report for this model was malformed")


@pytest.mark.parametrize("array, words", [
    (np.full((20, 5), 0.2, dtype="float32"), "the model's output has 5 classes, 10 were expected"),
    (np.full((19, 10), 0.1, dtype="float32"), "returned 19 rows of predictions for 20 test images"),
    (np.full((20, 10, 1), 0.1, dtype="float32"), "one row of class scores per image"),
    (np.full((20, 10), np.nan, dtype="float32"), "NaN or infinite values for 20 of 20 images"),
    (np.array([["a"] * 10] * 20), "not numbers"),
])
def test_predictions_that_do_not_fit_are_explained(tmp_path, small_submission, array, words):
    def write(output):
        (output / "result.json").write_bytes(result_json({"6.1": entry()}))
        (output / "6.1.npy").write_bytes(npy(array))

    evaluation, _ = run_scripted(tmp_path, small_submission, write)
    assert not evaluation.models["6.1"].ok and words in evaluation.models["6.1"].message


def test_invalid_json_and_an_unfinished_run_are_reported(tmp_path, small_submission):
    def write(output):
        (output / "result.json").write_bytes(b'{"models": {"6.1": NaN}}')

    evaluation, _ = run_scripted(tmp_path, small_submission, write,
                                 SandboxRun(exit_code=1, timed_out=False, oom_killed=False, seconds=2.0,
                                            stderr_tail="Traceback...\nSystemError: boom"))
    assert evaluation.status == "crashed"
    assert evaluation.models["6.1"].message == ("6.1: the sandbox's report could not be read (result.json holds "
                                                "NaN, which is not valid JSON); the model was not graded")


def test_a_result_whose_sections_are_not_objects_is_refused(tmp_path, small_submission):
    def write(output):
        (output / "result.json").write_bytes(b'{"models": ["6.1"], "imagenet": {}, "finished": true}')

    evaluation, _ = run_scripted(tmp_path, small_submission, write)
    assert evaluation.status == "crashed"
    assert evaluation.models["6.1"].message == ("6.1: the sandbox's report could not be read (result.json's models "
                                                "is not an object); the model was not graded")


def test_an_oom_kill_is_told_with_the_memory_limit(tmp_path, small_submission):
    def write(output):
        (output / "result.json").write_bytes(result_json({}, finished=False))

    evaluation, _ = run_scripted(tmp_path, small_submission, write,
                                 SandboxRun(exit_code=137, timed_out=False, oom_killed=True, seconds=9.0))
    assert evaluation.status == "oom"
    assert evaluation.models["6.1"].message == \
        "6.1: the model ran out of the 4096 MB memory limit (the sandbox was stopped)"


def test_a_model_trained_on_raw_pixels_gets_a_scaling_note(tmp_path, small_submission):
    rng = np.random.default_rng(1)
    collapsed = np.full((20, 10), 0.01, dtype="float32")
    collapsed[:, 3] = 0.91
    spread = np.eye(10, dtype="float32")[rng.permutation(np.arange(20) % 10)]

    def write(output):
        (output / "result.json").write_bytes(result_json(
            {"6.1": entry(alternatives={"raw": {"file": "6.1.raw.npy", "n": 20}})}))
        (output / "6.1.npy").write_bytes(npy(collapsed))
        (output / "6.1.raw.npy").write_bytes(npy(spread))

    evaluation, _ = run_scripted(tmp_path, small_submission, write, alternative=("raw",))
    model = evaluation.models["6.1"]
    assert model.ok and model.alternative_probabilities["raw"].shape == (20, 10)
    assert "far better on raw 0-255 pixels" in model.scaling_note
    assert "class 3 for 100% of the images" in model.scaling_note


def run_probe(tmp_path, submission, array):
    def write(output):
        (output / "result.json").write_bytes(result_json({"6.1": entry(output_shape=[array.shape[-1]])}))
        (output / "6.1.npy").write_bytes(npy(array))

    sandbox = ScriptedSandbox(write)
    job = mnist_job("6.1", "results/model.h5", alternative_scalings=("raw",)).as_probe()
    evaluation = evaluate_submission(submission, [job], [], {job.dataset: probe_batch(job.input_shape)}, None,
                                     sandbox, SandboxLimits(), tmp_path / "work" / "s")
    return evaluation.models["6.1"], sandbox


def test_a_probe_checks_the_output_and_keeps_no_probabilities(tmp_path, small_submission):
    model, sandbox = run_probe(tmp_path, small_submission, np.full((8, 10), 0.1, dtype="float32"))
    assert model.ok and model.probabilities is None and model.alternative_probabilities == {}
    assert model.architecture["output_shape"] == [10]
    assert model.message == ("6.1: loaded and run on 8 generated images of shape (28, 28, 1) only: the "
                             "instructor's test set is missing, so there is no accuracy")
    spec = sandbox.job["models"][0]
    assert spec["probe"] is True and spec["input"] == "mnist-probe" and spec["alternative_scalings"] == []
    assert sandbox.inputs == ["mnist-probe.npy"]


def test_a_probe_whose_output_does_not_fit_fails_model_loads_plainly(tmp_path, small_submission):
    model, _ = run_probe(tmp_path, small_submission, np.full((8, 5), 0.2, dtype="float32"))
    assert not model.ok and model.message == "6.1: the model's output has 5 classes, 10 were expected"


def test_the_probe_batch_is_deterministic_uint8_of_the_input_shape():
    first, second = probe_batch((32, 32, 3)), probe_batch([32, 32, 3])
    assert first.shape == (8, 32, 32, 3) and first.dtype == np.uint8
    assert np.array_equal(first, second) and len(np.unique(first)) > 200   # noise, not a blank image


def test_jobs_come_from_the_rubric():
    rubric = rubric_module.load()
    part = rubric.part("6.2b")
    job = ModelJob.for_part(part, rubric.dataset_of(part), "results/m.keras")
    dataset = rubric.dataset_of(part)
    assert job.dataset == part.dataset and job.num_classes == dataset.num_classes
    assert list(job.input_shape) == dataset.input_shape and job.scaling == dataset.scaling
    assert set(job.alternative_scalings) == set(dataset.alternative_scalings) - {dataset.scaling}
    with pytest.raises(ValueError, match="part id"):
        ModelJob(part="../x", path="m.h5", dataset="mnist", scaling="unit", input_shape=(1,), num_classes=2)


def test_the_runner_imports_nothing_but_the_standard_library_and_the_ml_stack():
    import ast

    runner = Path(__file__).resolve().parents[1] / "grader" / "evaluate" / "runtime" / "runner.py"
    imported = set()
    for node in ast.walk(ast.parse(runner.read_text())):
        if isinstance(node, ast.Import):
            imported |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0:
            imported.add(node.module.split(".")[0])
    third_party = imported - set(sys.stdlib_module_names) - {"__future__"}
    assert third_party == {"numpy", "tensorflow", "keras", "tf_keras", "PIL"}


@pytest.mark.slow
def test_the_none_backend_grades_a_students_own_model_with_a_loud_warning(good_models, images, tmp_path):
    from grader.evaluate.local_backend import LocalSandbox, UnsafeSandboxWarning

    good_root, expected, _ = good_models
    with pytest.warns(UnsafeSandboxWarning):
        evaluation = evaluate_submission(good_root, [mnist_job("6.1", "results/convnet.h5")], [], images, None,
                                         LocalSandbox(), SandboxLimits(timeout_seconds=120), tmp_path / "work" / "s")
    assert evaluation.backend == "none" and evaluation.status == "ok"
    assert "NO SANDBOX" in evaluation.message
    np.testing.assert_allclose(evaluation.models["6.1"].probabilities, expected["keras3-h5"], atol=2e-4)


# ------------------------------------------------- missing instructor data


ACCURACY_CHECKS = ("accuracy_vs_baseline", "reported_metrics_match", "predictions_match_model")


def check_of(part, check_id: str):
    return next(c for c in part.checks if c.id == check_id)


@pytest.mark.slow
def test_without_the_test_sets_models_still_load_and_their_architecture_is_graded(tmp_path):
    """The shipped correct example graded with an empty data folder: every
    model runs on a probe batch, so model_loads and architecture_matches are
    scored; what needs a test set says why not, with the file and the fix."""
    from grader.evaluate import SandboxUnavailable, choose_backend
    from grader.pipeline import grade_submission, load_test_data

    try:
        backend = choose_backend("auto")
    except SandboxUnavailable as exc:
        pytest.skip(f"no sandbox: {exc}")
    rubric = rubric_module.load()
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    data = load_test_data(rubric, data_dir)
    assert set(data.missing) == {"mnist", "cifar10", "imagenet"} and not data.inputs
    archive = Path(__file__).resolve().parents[1] / "submissions" / "example" / "assignment06_DoeJane.zip"
    grade = grade_submission(archive, rubric, backend, data, tmp_path / "work")

    assert grade.status == "error"
    assert grade.note.startswith("instructor data missing: MNIST test set: not found.")
    assert "grade data fetch" in grade.note
    for part_id, dataset_words in (("6.1", "MNIST test set"), ("6.2a", "CIFAR-10 test set"),
                                   ("6.2b", "CIFAR-10 test set")):
        part = grade.parts[part_id]
        loads = check_of(part, "model_loads")
        assert loads.score == loads.max_score and loads.passed, loads.message
        assert loads.message == (f"results/{part_id}/model.keras loads (keras3-safe) and predicts 10 classes "
                                 "(checked on generated images: the instructor's test set is missing)")
        assert loads.evidence["architecture"]["output_shape"] == [10]
        for check_id in ACCURACY_CHECKS:
            result = check_of(part, check_id)
            assert result.score == 0 and result.evidence == {"not_verifiable": True}, result.message
            assert result.message.startswith(f"not verifiable: the instructor's test data is missing: "
                                             f"{dataset_words}: not found. Looked for")
            assert f"{data_dir / 'datasets'}" in result.message and "grade data fetch" in result.message
        assert part.recomputed["accuracy"] is None
    for part_id, dropout in (("6.2a", False), ("6.2b", True)):
        architecture = check_of(grade.parts[part_id], "architecture_matches")
        assert architecture.score == architecture.max_score, architecture.message
        assert architecture.evidence["found"]["dropout"] is dropout
    # Nothing needs a test set here: these keep their points.
    assert check_of(grade.parts["6.1"], "plots_valid").score == check_of(grade.parts["6.1"], "plots_valid").max_score
