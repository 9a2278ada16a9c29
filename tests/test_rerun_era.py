"""Re-running notebooks as 2020-2023 students wrote them (issue 10): the
runtime chosen from evidence, the Keras 2 runtime's stand-ins, the course's
packages, data and weights from the data folder, Colab and Windows paths, and
why each failing cell fails.

The notebooks and scripts are written by tests/era_notebooks.py. The fast
tests need no sandbox; a few representative notebooks run in the normal suite
(Docker for the Keras 2 runtime, bubblewrap for the others); every era
notebook runs in the slow test, on the real MNIST and CIFAR-10 from ../shared.
"""

from __future__ import annotations

import json
import sys
import zipfile
from pathlib import Path

import nbformat
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

import era_notebooks as era  # noqa: E402
from conftest import CIFAR_CACHE  # noqa: E402
from hostile_models import BASE_IMAGE, runtime_image  # noqa: E402,F401

from grader import rubric as rubric_mod  # noqa: E402
from grader.evaluate import runtimes  # noqa: E402
from grader.evaluate.bwrap_backend import BwrapSandbox  # noqa: E402
from grader.rerun import compare_rerun, rerun_archive, rerun_submission  # noqa: E402
from grader.rerun.causes import ENVIRONMENT_CAUSES, explain  # noqa: E402
from grader.rerun.paths import PathRules, map_path, rewrite_code  # noqa: E402

REAL_KERAS2_H5 = "adanque/assignment06/results/Assignment_6.1_model.h5"   # keras_version 2.4.0
ALLOWED = ["scikit-learn", "pandas", "seaborn", "opencv-python-headless", "Pillow", "matplotlib", "imageio"]


@pytest.fixture(scope="module")
def rubric():
    return rubric_mod.load()


@pytest.fixture(scope="module")
def era_data(shared_dir, shared_cifar10_dir) -> Path:
    """Real MNIST (60,000 + 10,000) and CIFAR-10 (50,000 + 10,000) in Keras's layout; no ResNet50 weights."""
    return era.era_data_dir(shared_dir, shared_cifar10_dir, CIFAR_CACHE.parent)


def cells_of(path: str) -> list:
    notebook = nbformat.read(path, as_version=4)
    return [c for c in notebook.cells if c.cell_type == "code" and c.source.strip()]


def printed(path: str, cell: int) -> str:
    return "".join(o.get("text", "") for o in cells_of(path)[cell - 1].get("outputs", []))


def failures_by_cell(source) -> dict[int, str]:
    return {f.cell: f.cause for f in source.failures}


def sandbox_runner(name: str):
    """A fresh copy of the re-run's in-sandbox runner (the grader's own code) as a module here."""
    import importlib.util

    from grader.rerun.stage import RUNNER

    spec = importlib.util.spec_from_file_location(name, RUNNER)
    runner = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(runner)
    return runner


def rerun_era(folder: Path, sources: list[era.EraSource], backend, data: Path, work: Path, rubric, **options):
    paths = era.write_submission(folder, sources)
    settings = {"max_epochs": 1, "cell_timeout": 300, "total_timeout": 900} | options
    return rerun_submission(folder, paths, backend, rubric.sandbox, data, work, rubric=rubric,
                            source_parts={s.path: s.part for s in sources}, **settings)


def bwrap_backend(runtime: str = "keras3"):
    backend = BwrapSandbox(python=runtimes.get(runtime).host_python())
    ok, why = backend.available()
    if not ok:
        pytest.skip(f"bwrap sandbox for {runtime} unavailable: {why}")
    return backend


@pytest.fixture(scope="module")
def keras2_image(runtime_image) -> str:
    """The Keras 2 runtime image, built (offline, from the wheelhouse) when missing or stale."""
    from grader.evaluate.image import ImageBuildError, build_runtime_image

    try:
        return build_runtime_image(base_image=BASE_IMAGE, runtime="keras2", log=lambda _: None)
    except ImageBuildError as exc:
        pytest.fail(f"building the keras2 runtime image failed: {exc}")


def docker_backend(image: str):
    from grader.evaluate.docker_backend import DockerSandbox

    backend = DockerSandbox(image=image)
    ok, why = backend.available()
    if not ok:
        pytest.skip(f"docker sandbox unavailable: {why}")
    return backend


# ------------------------------------------------------------ runtime choice


@pytest.mark.parametrize("builder, clue", [
    (era.mnist_keras2_notebook, "cell 1 imports keras.layers.core / keras.layers.convolutional"),
    (era.cifar_colab_notebook, "cell 1 uses Colab's %tensorflow_version magic"),
    (era.cifar_augmented_windows_notebook, "cell 2 imports keras.preprocessing.image.ImageDataGenerator"),
    (lambda: era.resnet_windows_notebook(False), "saved by a Python 3.8.5 kernel"),
    (era.mnist_script, "6.1_mnist_dense.py imports keras.layers.core"),
    (era.keras3_all_parts_notebook, "cell 1 uses keras.ops"),
])
def test_the_runtime_is_chosen_from_the_code_and_the_kernel(builder, clue, tmp_path):
    source = builder()
    path = era.write_source(tmp_path, source)
    choice = runtimes.choose_runtime(tmp_path, [path], models=[])
    assert choice.runtime == source.runtime
    assert clue in choice.reason and not choice.pinned


def test_the_keras_version_in_a_saved_model_outweighs_the_code(tmp_path):
    """A .keras file's metadata.json says Keras 3; the notebook imports ImageDataGenerator."""
    path = era.write_source(tmp_path, era.cifar_augmented_windows_notebook())
    with zipfile.ZipFile(tmp_path / "model.keras", "w") as archive:
        archive.writestr("config.json", json.dumps({"class_name": "Sequential", "config": {"layers": []}}))
        archive.writestr("metadata.json", json.dumps({"keras_version": "3.4.1", "date_saved": "2024-10-01"}))
    choice = runtimes.choose_runtime(tmp_path, [path])
    assert (choice.runtime, choice.reason) == (
        "keras3", "the saved models were written by Keras 3: model.keras records keras_version 3.4.1")
    assert any("ImageDataGenerator" in clue for clue in choice.evidence)


@pytest.mark.shared
def test_a_real_students_keras2_h5_chooses_keras2(shared_dir, tmp_path):
    """A real 6.1 model from the course (Keras 2.4.0, HDF5 attrs read as metadata) with plain Keras 3-style code."""
    model = shared_dir / "real-world-samples" / REAL_KERAS2_H5
    folder = tmp_path / "assignment06"
    (folder / "results").mkdir(parents=True)
    (folder / "results" / model.name).write_bytes(model.read_bytes())
    path = era.write_source(folder, era.EraSource("6.1.ipynb", "6.1", ["import keras\nprint(keras.__version__)"]))
    choice = runtimes.choose_runtime(folder, [path])
    assert choice.runtime == "keras2"
    assert choice.reason == ("the saved models were written by Keras 2: results/Assignment_6.1_model.h5 "
                             "records keras_version 2.4.0")


def test_a_rubric_pin_decides_and_is_validated(tmp_path):
    path = era.write_source(tmp_path, era.cifar_augmented_windows_notebook())
    choice = runtimes.choose_runtime(tmp_path, [path], models=[], pin="keras3")
    assert (choice.runtime, choice.pinned) == ("keras3", True)
    assert "pins the keras3 runtime" in choice.reason and choice.evidence
    rubric = rubric_mod.load()
    assert rubric.sandbox.packages == ALLOWED and rubric.sandbox.runtime == "auto"
    with pytest.raises(ValueError, match="unknown runtime 'keras1'"):
        rubric.sandbox.model_validate({"runtime": "keras1"})
    with pytest.raises(ValueError, match="not pip package names"):
        rubric.sandbox.model_validate({"packages": ["scikit-learn==1.5"]})


def test_each_runtime_has_its_image_and_host_python():
    from grader.evaluate.sandbox import SandboxUnavailable, choose_backend

    keras2 = runtimes.get("keras2")
    assert keras2.image == "dl-autograder-runtime-keras2:0.1.0" and keras2.host_python().endswith(
        ".venv-keras2/bin/python")
    try:
        backend = choose_backend("bwrap", runtime="keras2")
    except SandboxUnavailable as exc:
        assert ".venv-keras2" in str(exc)
    else:
        assert backend.python == keras2.host_python() and backend.runtime == "keras2"
    with pytest.raises(SandboxUnavailable, match="not the keras2 runtime"):
        choose_backend("none", runtime="keras2")


# -------------------------------------------------------- images, packages


def test_image_context_has_the_runtime_pins_and_the_course_packages(tmp_path):
    from grader.evaluate.image import _make_context, runtime_hash

    wheels = tmp_path / "wheels"
    wheels.mkdir()
    context = tmp_path / "context"
    context.mkdir()
    _make_context(context, wheels, runtimes.get("keras2"), ALLOWED)
    assert "tensorflow-cpu==2.15.1" in (context / "requirements.txt").read_text()
    assert "numpy==1.26.4" in (context / "requirements.txt").read_text()
    assert (context / "requirements-course.txt").read_text().splitlines()[:len(ALLOWED)] == ALLOWED
    constraints = (context / "constraints-course.txt").read_text()
    assert "scikit-learn==1.5.2" in constraints and "opencv-python-headless==4.10.0.84" in constraints
    assert (context / "imports.txt").read_text().split() == [
        "tensorflow", "keras", "tf_keras", "h5py", "numpy", "PIL", "sklearn", "pandas", "seaborn", "cv2",
        "matplotlib", "imageio"]
    hashes = {runtime_hash(BASE_IMAGE, name, ALLOWED) for name in ("keras2", "keras3")}
    hashes.add(runtime_hash(BASE_IMAGE, "keras2", [*ALLOWED, "tqdm"]))
    assert len(hashes) == 3      # a runtime or a package added means a rebuild


@pytest.mark.parametrize("ename, evalue, cause, says", [
    ("ModuleNotFoundError", "No module named 'xgboost'", "package-not-allowed",
     'add "xgboost" to packages in the rubric\'s [sandbox] table (rubrics/x.toml), then run `grade image build`'),
    ("ModuleNotFoundError", "No module named 'cv2'", "package-not-in-runtime",
     "opencv-python-headless (import cv2) is allowed by the rubric but not installed in the keras2 runtime"),
    ("ModuleNotFoundError", "No module named 'skimage'", "package-not-allowed", 'add "scikit-image"'),
    ("KeyError", "'acc'", "student-code", "Keras since 2.3 records 'accuracy'"),
    ("AttributeError", "'Sequential' object has no attribute 'predict_classes'", "runtime-lacks-api",
     'runtime = "keras2"'),
    ("FileNotFoundError", "[Errno 2] flower_photos.tgz is not in the instructor's data folder, and the re-run has "
     "no network (Keras would download it from https://example.org/f.tgz). Fix: put flower_photos.tgz in the "
     "data folder, then re-run: '/tmp/home/.keras/datasets/f'", "data-missing",
     "data not on these machines: flower_photos.tgz is not in the instructor's data folder"),
    ("FileNotFoundError", "[Errno 2] No such file or directory: 'images/cat.jpg'", "file-missing", "images/cat.jpg"),
])
def test_failures_are_explained(ename, evalue, cause, says):
    runtime = "keras3" if cause == "runtime-lacks-api" else "keras2"
    found, explanation = explain(ename, evalue, allowed=ALLOWED, runtime=runtime, rubric_path="rubrics/x.toml")
    assert found == cause and says in explanation
    assert (found in ENVIRONMENT_CAUSES) == (cause in ("package-not-in-runtime", "runtime-lacks-api"))


def test_a_name_an_earlier_failed_cell_defines_is_its_consequence():
    assert explain("NameError", "name 'model' is not defined", allowed=[], runtime="keras2",
                   earlier_failures=[2]) == ("earlier-failure", "model is not defined because an earlier cell "
                                                                 "failed (cell 2)")
    assert explain("NameError", "name 'modle' is not defined", allowed=[], runtime="keras2")[0] == "student-code"


# ------------------------------------------------------ reported vs re-run


def _rerun_of_6_2b(rerun_accuracy: float, saved_output: float | None, capped: bool = False):
    from grader.rerun import FitCall, PartRerun, RerunResult, SourceRun

    source = SourceRun(path="6.2b.ipynb", kind="notebook", part="6.2b", status="ok", cells_run=7, cells_total=7,
                       fit_calls=[FitCall("keras", "Sequential", 100, 1 if capped else 100, capped)],
                       saved_test_accuracy=saved_output)
    part = PartRerun(part="6.2b", rerun_accuracy=rerun_accuracy, sources=[source.path],
                     epochs_capped=source.epochs_capped, epochs=source.epochs, saved_output_accuracy=saved_output)
    return RerunResult(submission="x.zip", backend="docker", status="ok", sources=[source], parts={"6.2b": part},
                       runtime="keras2", runtime_choice={"reason": "the code uses APIs Keras 3 removed"})


def test_the_rerun_is_compared_with_the_saved_outputs_and_the_saved_model():
    """Item 5: without a metrics file the notebook's saved outputs are the
    reported figure; with one, the message gives both; rerun_reproduces adds
    what the model the student saved scores on the test set."""
    from types import SimpleNamespace

    from grader.checks.registry import Recomputed
    from grader.rerun import rerun_evidence
    from grader.rerun.check import rerun_reproduces
    from grader.rerun.compare import judge

    inflated = judge(rerun_evidence(_rerun_of_6_2b(0.55, 0.7012), "6.2b"), None, 0.02)
    assert (inflated.outcome, inflated.flagged) == ("not-reproduced", True)
    assert inflated.message.startswith("reported 0.7012 is 0.1512 higher than the re-run's 0.5500")
    both = judge(rerun_evidence(_rerun_of_6_2b(0.715, 0.7012), "6.2b"), 0.72, 0.02)
    assert both.outcome == "reproduced" and both.message.endswith("; the notebook's saved outputs print 0.7012")
    capped = judge(rerun_evidence(_rerun_of_6_2b(0.41, 0.7012, capped=True), "6.2b"), None, 0.02)
    assert capped.outcome == "not-comparable" and "capped 100 -> 1" in capped.message

    ctx = SimpleNamespace(rerun=rerun_evidence(_rerun_of_6_2b(0.715, 0.7012), "6.2b"),
                          files=SimpleNamespace(metrics=SimpleNamespace(test_accuracy=0.72), notebook_figure=None,
                                                metrics_path="results/6.2b/metrics.json"),
                          recomputed=Recomputed(accuracy=0.7188))
    result = rerun_reproduces(ctx, 3, {"tolerance": 0.02})
    assert (result.score, result.evidence["saved_model_accuracy"], result.evidence["reported_accuracy"]) == \
        (3, 0.7188, 0.72)
    assert result.message == ("re-run 0.7150, reported 0.7200: reproduced (within 0.02, or better); the notebook's "
                              "saved outputs print 0.7012; the saved model scores 0.7188 on the test set")


def test_a_failure_line_says_the_data_file_once():
    from grader.rerun.compare import _failure_line
    from grader.rerun.records import CellFailure

    evalue = ("[Errno 2] cifar-10-python.tar.gz is not in the instructor's data folder, and the re-run has no "
              "network (Keras would download it from https://example.org/c.tar.gz). Fix: put cifar-10-python.tar.gz "
              "in the data folder, then re-run: '/tmp/home/.keras/datasets/cifar-10-batches-py.tar.gz'")
    cause, why = explain("FileNotFoundError", evalue, allowed=ALLOWED, runtime="keras2")
    line = _failure_line(CellFailure(4, "FileNotFoundError", evalue, "", cause, why))
    assert line.startswith("cell 4: FileNotFoundError: data not on these machines: cifar-10-python.tar.gz is not")
    assert line.count("is not in the instructor's data folder") == 1
    cause, why = explain("ValueError", "Shapes (None, 10) and (None, 1) are incompatible", allowed=[], runtime="keras2")
    assert _failure_line(CellFailure(5, "ValueError", "Shapes (None, 10) and (None, 1) are incompatible", "", cause,
                                     why)) == ("cell 5: ValueError: the student's code raised ValueError: Shapes "
                                               "(None, 10) and (None, 1) are incompatible")


# -------------------------------------------------------------------- paths


RULES = PathRules.make(["assignment06"], ["results", "images", "data"])


def test_windows_and_colab_paths_of_the_era_are_rewritten():
    assert map_path("/content/drive/My Drive/assignment06", RULES) == ("/output/work", "assignment-folder")
    assert map_path(era.WINDOWS_FORWARD + "/images/bird.jpg", RULES) == \
        ("/output/work/images/bird.jpg", "assignment-folder")
    assert map_path("images\\tiger.jpg", RULES) == ("images/tiger.jpg", "windows-separators")
    assert map_path("my_pictures\\tiger.jpg", RULES) == ("my_pictures/tiger.jpg", "windows-separators")
    assert map_path("..\\data\\labels.csv", RULES) == ("../data/labels.csv", "windows-separators")
    assert map_path("\\predictions.csv", RULES) == ("/predictions.csv", "windows-separators")   # folder + '\\x'
    # Regular expressions and LaTeX are no paths.
    for value in ("\\d+\\.\\d+", "\\d{3}\\w", "$\\alpha$", "a\\b"):
        assert map_path(value, RULES) == (None, ""), value
    code, records = rewrite_code("p = f'pictures\\\\{name}.jpg'\nq = base + '\\\\images\\\\x.jpg'\n", RULES, "nb", 3)
    assert code == "p = f'pictures/{name}.jpg'\nq = base + '/images/x.jpg'\n"
    assert [r.rule for r in records] == ["windows-separators", "windows-separators"]


# ------------------------------------------------------- in the sandbox (CI)


@pytest.mark.docker
def test_keras2_notebook_with_generators_reruns_in_docker(runtime_image, keras2_image, era_data, rubric, tmp_path):
    """6.2b as written on Windows for Keras 2: chosen runtime keras2 (Docker
    image), fit_generator capped 100 -> 1, Adam(lr=, decay=) and
    predict_classes stood in for, the checkpoint and the model written where
    the Windows paths pointed, the saved outputs' figure compared."""
    backend = docker_backend(runtime_image)
    source = era.cifar_augmented_windows_notebook()
    result = rerun_era(tmp_path / "assignment06", [source], backend, era_data, tmp_path / "work", rubric)
    [run] = result.sources
    assert (result.runtime, result.backend, run.status, run.cells_run, run.failures) == ("keras2", "docker", "ok", 7, [])
    assert "runtime keras2 (TensorFlow 2.15 with Keras 2.15) because the code uses APIs Keras 3 removed" in \
        result.message
    assert [c.to_dict() for c in run.fit_calls] == [
        {"framework": "keras", "model": "Sequential", "epochs": 100, "run": 1, "capped": True}]
    assert [c.split(":")[0] for c in run.compat] == ["optimizers.Adam(lr=/decay=)", "Sequential.predict_classes"]
    assert sorted(result.produced) == ["results/6.2b/best_model.h5", "results/6.2b/model.h5"]
    assert {(r.cell, r.rule) for r in run.path_rewrites} >= {(1, "assignment-folder"), (6, "assignment-folder"),
                                                             (7, "windows-separators")}
    part = result.parts["6.2b"]
    assert (part.epochs, part.saved_output_accuracy) == ([(100, 1)], 0.7012)
    assert 0.1 <= run.printed_test_accuracy <= 1.0
    [check] = compare_rerun(result, {}, points=3)
    assert check.evidence["outcome"] == "not-comparable" and "reported 0.7012" in check.message


@pytest.mark.bwrap
def test_resnet_notebook_without_weights_says_which_file_is_missing(era_data, rubric, tmp_path):
    """6.3 with Windows paths in the Keras 2 runtime (bubblewrap, .venv-keras2):
    the pictures open through Keras, OpenCV, imageio and IPython.display; the
    ImageNet weights are not on these machines, so ResNet50 fails naming the
    file and the fix, and the cells that need its model fail after it."""
    backend = bwrap_backend("keras3")
    bwrap_backend("keras2")
    source = era.resnet_windows_notebook(weights_in_data=False)
    result = rerun_era(tmp_path / "assignment06", [source], backend, era_data, tmp_path / "work", rubric)
    [run] = result.sources
    assert (result.runtime, run.status, run.cells_run) == ("keras2", "errors", 6)
    assert failures_by_cell(run) == source.failures
    missing = run.failures[0]
    assert "resnet50_weights_tf_dim_ordering_tf_kernels.h5 is not in the instructor's data folder" in missing.explanation
    assert "`grade data fetch`" in missing.explanation and "no network" in missing.explanation
    assert printed(run.executed_notebook, 3).strip() == "(1, 224, 224, 3)"
    assert printed(run.executed_notebook, 4).startswith("bird (")
    assert not ENVIRONMENT_CAUSES & {f.cause for f in run.failures}


@pytest.mark.bwrap
def test_keras3_notebook_gets_mnist_by_url_and_names_the_package_to_allow(era_data, rubric, tmp_path):
    """One notebook for all parts in Keras 3: get_file with Keras's own URL is
    answered from the data folder; a data set from elsewhere fails for want of
    data; xgboost is not allowed, and the message says how to allow it."""
    source = era.keras3_all_parts_notebook()
    result = rerun_era(tmp_path / "assignment06", [source], bwrap_backend("keras3"), era_data, tmp_path / "work",
                       rubric)
    [run] = result.sources
    assert (result.runtime, run.cells_run, failures_by_cell(run)) == ("keras3", 6, source.failures)
    assert printed(run.executed_notebook, 2).strip() == "(60000, 28, 28)"
    not_allowed = run.failures[1].explanation
    assert not_allowed.startswith("xgboost (import xgboost) is not among the course's allowed packages")
    assert f'add "xgboost" to packages in the rubric\'s [sandbox] table ({rubric.path})' in not_allowed
    assert "then run `grade image build`" in not_allowed
    assert "flower_photos" in run.failures[0].explanation
    assert result.produced == ["results/6.1/model.keras"] and run.epochs == [(3, 1)]


@pytest.mark.bwrap
def test_generator_workers_do_not_hang_in_bubblewrap(era_data, rubric, tmp_path):
    """fit_generator(workers=4, use_multiprocessing=True), fit(generator,
    steps_per_epoch=, workers=2) and evaluate_generator in the Keras 2 runtime
    under bubblewrap, whose /dev/shm its user cannot write: Keras 2's pool
    would wait for ever (found by re-running a 6.2b notebook: its cell hit the
    per-cell limit). Where the pool cannot be made, one worker reads the
    batches, and the report says so; every cell runs."""
    bwrap_backend("keras2")
    source = era.generator_workers_notebook()
    result = rerun_era(tmp_path / "assignment06", [source], bwrap_backend("keras3"), era_data, tmp_path / "work",
                       rubric, cell_timeout=120, total_timeout=400)
    [run] = result.sources
    assert (result.runtime, run.status, run.cells_run, run.failures) == ("keras2", "ok", 5, [])
    assert run.epochs == [(30, 1), (20, 1)]
    assert "epochs run: 1" in printed(run.executed_notebook, 3).splitlines()     # after Keras's warning
    assert printed(run.executed_notebook, 4).splitlines()[-1] == "epochs run: 1"
    assert [line for line in printed(run.executed_notebook, 5).splitlines() if line.startswith("Test accuracy: ")]
    # The sandbox gives /dev/shm a tmpfs of its own: the pools are made, nothing stood in.
    assert [c for c in run.compat if "one worker and no pool" in c] == []


def test_without_semaphores_a_pool_of_workers_becomes_one_worker(tmp_path, monkeypatch):
    """The runner's fallback where a sandbox cannot make multiprocessing's locks:
    Keras 2 would wait for ever on its pool; one worker reads the same batches."""
    runner = sandbox_runner("era_runner_pools")
    log = tmp_path / "fit.jsonl"
    monkeypatch.setenv(runner.FIT_LOG_ENV, str(log))
    monkeypatch.setattr(runner, "_SEMAPHORES", False)
    pooled = {"workers": 4, "use_multiprocessing": True}
    runner._threads_when_no_semaphores(pooled, "fit")
    passed_on = {"kwargs": {"workers": 2}}             # fit(**kwargs) in Keras 2's generator methods
    runner._threads_when_no_semaphores(passed_on, "evaluate")
    alone = {"workers": 1, "use_multiprocessing": False}
    runner._threads_when_no_semaphores(alone, "predict")
    assert pooled == {"workers": 1, "use_multiprocessing": False}
    assert passed_on == {"kwargs": {"workers": 1, "use_multiprocessing": False}}
    assert alone == {"workers": 1, "use_multiprocessing": False}
    logged = [json.loads(line) for line in log.read_text().splitlines()]
    assert [(r["kind"], r["api"]) for r in logged] == [("compat", "fit(workers=4, use_multiprocessing=True)"),
                                                        ("compat", "evaluate(workers=2, use_multiprocessing=False)")]
    assert logged[0]["note"].startswith("ran with one worker and no pool: this sandbox cannot make")


def test_a_cell_not_reached_keeps_none_of_the_students_outputs(tmp_path):
    """The student's saved 'Test accuracy: 0.7012' in a cell the re-run never
    reached (a time limit) must not pass for the re-run's figure: the runner
    clears every code cell's outputs before it starts."""
    runner = sandbox_runner("era_runner")
    path = tmp_path / era.write_source(tmp_path, era.cifar_augmented_windows_notebook())
    notebook = nbformat.read(str(path), as_version=4)
    notebook.cells.append(nbformat.v4.new_code_cell("  ", outputs=[nbformat.v4.new_output(
        "stream", name="stdout", text="Test accuracy: 0.99\n")]))      # a blank cell is never run
    nbformat.write(notebook, str(path))
    entry = {"failures": []}
    runner.run_notebook(path, tmp_path / "executed.ipynb", deadline=0.0, cell_timeout=10, entry=entry,
                        sessions=set())
    # No kernel here (the sandbox's kernel spec is not on the host) and no time left: no cell ran.
    assert entry["status"] in ("crashed", "timeout") and entry.get("cells_run", 0) == 0
    executed = nbformat.read(str(tmp_path / "executed.ipynb"), as_version=4)
    assert cells_of(str(path))[6].outputs and not any(c.get("outputs") for c in executed.cells)


# ------------------------------------------------------------- all of them


@pytest.mark.slow
@pytest.mark.docker
def test_every_era_notebook_reruns_with_only_the_students_failures(runtime_image, keras2_image, shared_dir,
                                                                   shared_cifar10_dir, rubric, tmp_path):
    """The whole Keras 2 era submission (five sources: three notebooks, one
    with Colab, one on Windows, 6.3 with ResNet50 weights in the data folder,
    and a script) as a zip, through rerun_archive: per source, only the
    failures its author caused; per part, the epochs asked and run."""
    from conftest import zip_folder

    data = era.era_data_dir(shared_dir, shared_cifar10_dir, CIFAR_CACHE.parent, with_resnet_weights=True)
    sources = era.keras2_submission_sources(weights_in_data=True)
    folder = tmp_path / "src" / "assignment06"
    era.write_submission(folder, sources)
    archive = zip_folder(folder, tmp_path / "assignment06_DoeJane.zip", top="assignment06")
    result = rerun_archive(archive, rubric, docker_backend(runtime_image), data, tmp_path / "out", max_epochs=1,
                           cell_timeout=300, total_timeout=1500)
    assert result.runtime == "keras2", result.runtime_choice
    runs = {run.path: run for run in result.sources}
    for source in sources:
        run = runs[source.path]
        assert failures_by_cell(run) == source.failures, (source.path, [(f.cell, f.ename, f.evalue[:200])
                                                                        for f in run.failures])
        assert run.cells_run == run.cells_total == (1 if source.is_script else len(source.cells))
    assert result.parts["6.1"].epochs == [(5, 1), (10, 1)]          # the notebook, then the script
    assert result.parts["6.2a"].epochs == [(20, 1)] and result.parts["6.2b"].epochs == [(100, 1)]
    assert result.parts["6.1"].rerun_accuracy > 0.9                   # one epoch on the real MNIST
    colab = runs["6.2a_cifar10_colab.ipynb"]
    assert "drive.mount('/content/drive') did nothing: this is not Colab" in printed(colab.executed_notebook, 1)
    assert printed(colab.executed_notebook, 2).strip() == "/output/work"
    assert "Keras since 2.3 records 'accuracy'" in colab.failures[0].explanation
    resnet = runs["6.3_resnet50.ipynb"]
    assert "Predicted: [(" in printed(resnet.executed_notebook, 5)
    assert "results/predictions/resnet50/predictions.csv" in result.produced
    assert "epochs run: 1" in Path(runs["6.1_mnist_dense.py"].log).read_text()
    assert json.loads((tmp_path / "out" / "rerun" / "assignment06_DoeJane" / "rerun.json").read_text())[
        "runtime_choice"]["runtime"] == "keras2"


@pytest.mark.slow
@pytest.mark.docker
def test_grade_image_build_keras2_is_idempotent(keras2_image):
    from click.testing import CliRunner

    from grader.cli import main

    done = CliRunner().invoke(main, ["image", "build", "--runtime", "keras2", "--base-image", BASE_IMAGE])
    assert done.exit_code == 0, done.output
    assert f"Built {keras2_image}" in done.output


# ------------------------------------------------- evaluation's fallback


def test_a_model_no_current_loader_reads_is_retried_in_keras2(shared_dir, tmp_path):
    """The evaluate stage's hook: only a Keras 2 model every loader rejected
    goes to the keras2 runtime (a damaged file does not); what that run loads
    replaces the failure, with a note."""
    from grader.records import Evaluation, ModelEvaluation

    backend = bwrap_backend("keras3")
    bwrap_backend("keras2")
    rejected = ModelEvaluation(part="6.1", path="results/old.h5", ok=False, message="6.1: no loader read it",
                               architecture={"loader_errors": {"keras3-safe": "ValueError: bad config",
                                                               "tf_keras": "TypeError: unknown argument"}})
    missing = ModelEvaluation(part="6.2a", path="results/gone.h5", ok=False, message="6.2a: not in the submission")
    evaluation = Evaluation(backend="bwrap", status="ok", models={"6.1": rejected, "6.2a": missing})
    asked = []

    def evaluate(other, parts):
        asked.append((other.runtime, other.python, parts))
        return Evaluation(backend="bwrap", status="ok", models={"6.1": ModelEvaluation(
            part="6.1", path="results/old.h5", ok=True, loader="tf_keras")})

    (tmp_path / "results").mkdir()
    (tmp_path / "results" / "old.h5").write_bytes(b"\x89HDF\r\n\x1a\n" + b"\0" * 100)   # cut short
    assert runtimes.retry_failed_loads(evaluation, backend, evaluate, root=tmp_path).models["6.1"] is rejected
    assert asked == []
    (tmp_path / "results" / "old.h5").write_bytes((shared_dir / "real-world-samples" / REAL_KERAS2_H5).read_bytes())
    merged = runtimes.retry_failed_loads(evaluation, backend, evaluate, root=tmp_path)
    assert asked == [("keras2", runtimes.get("keras2").host_python(), ["6.1"])]
    assert merged.models["6.1"].ok and merged.models["6.1"].message == (
        "6.1: loaded in the Keras 2 runtime (TensorFlow 2.15 with Keras 2.15); every loader of the keras3 "
        "runtime rejected it")
    assert merged.models["6.2a"] is missing


def test_grade_rerun_prints_why_each_failing_cell_failed(tmp_path, monkeypatch):
    """The console says per failing cell what the report says, and prints a student's
    file names and the rubric's [sandbox] table as text, not as console markup."""
    from click.testing import CliRunner

    from grader.cli import main
    from grader.rerun.records import CellFailure, RerunResult, SourceRun

    archive = tmp_path / "assignment06_DoeJane.zip"
    archive.write_bytes(b"PK\x05\x06" + b"\0" * 18)      # not opened: the re-run is stood in for
    failure = CellFailure(3, "ModuleNotFoundError", "No module named 'xgboost'", "", "package-not-allowed",
                          'xgboost is not among the course\'s allowed packages; add "xgboost" to packages in the '
                          "rubric's [sandbox] table")
    result = RerunResult(str(archive), "bwrap", "errors",
                         message="the rubric pins the keras3 runtime ([sandbox] runtime)",
                         sources=[SourceRun("6.1 [final].ipynb", "notebook", "6.1", "errors", cells_run=4, cells_total=4,
                                            failures=[failure])])
    monkeypatch.setattr("grader.rerun.rerun_archive", lambda *args, **kwargs: result)
    monkeypatch.setattr("grader.cli._choose_sandbox", lambda name: None)
    output = CliRunner().invoke(main, ["rerun", str(archive), "--rubric", "assignment06"]).output
    assert "(the rubric pins the keras3 runtime ([sandbox] runtime))" in output
    assert "  6.1 [final].ipynb: errors, 4/4 cells" in output
    assert ("    cell 3: package-not-allowed: xgboost is not among the course's allowed packages; add \"xgboost\" "
            "to packages in the rubric's [sandbox] table") in output
