"""Re-running students' notebooks and scripts in the sandbox (grader/rerun).

The fast tests cover the host-side rules (path rewriting, the ~/.keras layout,
the verdicts, the HTML rendering). The slow ones build small notebooks with
nbformat and re-run them in bubblewrap and Docker on synthetic MNIST.
"""

from __future__ import annotations

import json
import shutil
import sys
import time
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook, new_output

sys.path.insert(0, str(Path(__file__).resolve().parent))

from hostile_models import Listener, runtime_image, sandbox  # noqa: E402,F401

from grader import rubric as rubric_mod  # noqa: E402
from grader.checks import CHECKS  # noqa: E402
from grader.evaluate.bwrap_backend import BwrapSandbox  # noqa: E402
from grader.rerun import (  # noqa: E402
    PartRerun,
    RerunResult,
    SourceRun,
    compare_rerun,
    judge,
    rerun_archive,
    rerun_evidence,
    rerun_submission,
)
from grader.rerun.collect import printed_test_lines  # noqa: E402
from grader.rerun.html import render_html  # noqa: E402
from grader.rerun.paths import PathRules, map_path, rewrite_code  # noqa: E402
from grader.rerun.records import FitCall  # noqa: E402
from grader.rerun.stage import keras_home_links, rewrite_source, stage_data  # noqa: E402

WINDOWS_RESULT = r"C:\Users\jdoe\dsc650\assignments\assignment06\results\x.json"
RULES = PathRules.make(["assignment06"], ["results", "images", "data"])


# ------------------------------------------------------------------ helpers


def write_notebook(folder: Path, name: str, cells: list[str]) -> str:
    notebook = new_notebook(cells=[new_code_cell(code) for code in cells])
    notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    folder.mkdir(parents=True, exist_ok=True)
    nbformat.write(notebook, str(folder / name))
    return name


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory) -> Path:
    """Synthetic MNIST in Keras's cache layout; its files are 0600, as an
    instructor's may be, so staging must make them readable for the sandbox."""
    from grader.datasets import write_synthetic_data

    return write_synthetic_data(tmp_path_factory.mktemp("data"), n_train=1000, n_test=300, seed=3)


@pytest.fixture(scope="module")
def rubric():
    return rubric_mod.load()


def bwrap_backend():
    backend = BwrapSandbox()
    ok, why = backend.available()
    if not ok:
        pytest.skip(f"bwrap sandbox unavailable: {why}")
    return backend


def rerun(folder: Path, sources: list[str], backend, data: Path, work: Path, rubric, **options) -> RerunResult:
    settings = {"max_epochs": None, "cell_timeout": 120, "total_timeout": 240} | options
    return rerun_submission(folder, sources, backend, rubric.sandbox, data, work, rubric=rubric,
                            source_parts={s: "6.1" for s in sources}, **settings)


MNIST_TRAINING = [
    "import json, os\nimport keras\nfrom keras import layers\nkeras.utils.set_random_seed(0)",
    ("(x_train, y_train), (x_test, y_test) = keras.datasets.mnist.load_data()\n"
    "print('loaded from', os.path.realpath(os.path.expanduser('~/.keras/datasets/mnist.npz')))"),
    ("model = keras.Sequential([keras.Input((28, 28)), layers.Flatten(), layers.Dense(64, activation='relu'),\n"
    "                          layers.Dense(10, activation='softmax')])\n"
    "model.compile('adam', 'sparse_categorical_crossentropy', metrics=['accuracy'])\n"
    "history = model.fit(x_train / 255, y_train, epochs=EPOCHS, batch_size=64, verbose=2)\n"
    "print('epochs run:', len(history.history['loss']))"),
    "loss, accuracy = model.evaluate(x_test / 255, y_test, verbose=0)\nprint(f'Test accuracy: {accuracy:.4f}')",
    ("import matplotlib.pyplot as plt\nos.makedirs('results/6.1', exist_ok=True)\n"
    "plt.plot(history.history['accuracy'])\nplt.savefig('results/6.1/accuracy.png')\nplt.show()\n"
    "json.dump({'test_accuracy': accuracy, 'test_loss': loss}, open('results/6.1/metrics.json', 'w'))"),
]


def training_notebook(epochs: int) -> list[str]:
    return [MNIST_TRAINING[0] + f"\nEPOCHS = {epochs}", *MNIST_TRAINING[1:]]


def outputs_of(path: str) -> str:
    notebook = nbformat.read(path, as_version=4)
    return "\n".join(o.get("text", "") for c in notebook.cells for o in c.get("outputs", []))


# ------------------------------------------------------------ path rules


def test_absolute_paths_map_to_the_working_copy():
    assert map_path(WINDOWS_RESULT, RULES) == ("/output/work/results/x.json", "assignment-folder")
    assert map_path("/Users/jdoe/dsc650/Assignment_6/data/raw/images/", RULES) == \
        ("/output/work/data/raw/images/", "assignment-folder")
    assert map_path("/home/jdoe/work/results/6.2a/model.h5", RULES) == \
        ("/output/work/results/6.2a/model.h5", "known-folder")
    assert map_path(r"results\6.1\metrics.json", RULES) == ("results/6.1/metrics.json", "windows-separators")
    assert map_path("/home/jdoe/notes.txt", RULES) == (None, "unmapped")
    # The sandbox's own folders, URLs and plain words are left alone.
    for value in ("/tmp/results/x.json", "https://example.org/assignment06/results", "results", "/"):
        assert map_path(value, RULES) == (None, "")


def test_rewrite_code_changes_only_string_literals_and_logs_each():
    code = (
        f"path = {WINDOWS_RESULT!r}  # {WINDOWS_RESULT}\n"
        "plot = f'C:\\\\Users\\\\jdoe\\\\assignment06\\\\results\\\\{name}.png'\n"
        "!ls 'C:\\\\Users\\\\jdoe\\\\assignment06'\n"
        "other = '/home/jdoe/elsewhere.txt'\n"
    )
    new, records = rewrite_code(code, RULES, "nb.ipynb", 4)
    lines = new.splitlines()
    assert lines[0] == f"path = '/output/work/results/x.json'  # {WINDOWS_RESULT}"
    assert lines[1] == "plot = f'/output/work/results/{name}.png'"
    assert lines[2] == code.splitlines()[2]            # magics are not Python
    assert [(r.cell, r.line, r.rule, r.rewritten) for r in records] == [
        (4, 1, "assignment-folder", "/output/work/results/x.json"),
        (4, 2, "assignment-folder", "/output/work/results/{name}.png"),
        (4, 4, "unmapped", None),
    ]


def test_notebook_sources_are_rewritten_per_code_cell(tmp_path):
    write_notebook(tmp_path, "nb.ipynb", ["x = 1", f"open({WINDOWS_RESULT!r}, 'w')"])
    text, records = rewrite_source(tmp_path / "nb.ipynb", RULES, "nb.ipynb")
    cells = nbformat.reads(text, as_version=4).cells
    assert cells[1].source == "open('/output/work/results/x.json', 'w')"
    assert [(r.source, r.cell, r.original) for r in records] == [("nb.ipynb", 2, WINDOWS_RESULT)]


# ------------------------------------------------------------ data layout


def test_data_folder_is_staged_readable_and_shown_where_keras_looks(data_dir, tmp_path):
    # An instructor's data folder may be private to them (0600): the sandbox's
    # user must still be able to read the staged copy.
    private = tmp_path / "private"
    shutil.copytree(data_dir, private)
    for path in private.rglob("*"):
        if path.is_file():
            path.chmod(0o600)
    data_dir = private
    staged = stage_data(data_dir, tmp_path / "cache")
    assert (staged / "datasets" / "mnist.npz").stat().st_mode & 0o004
    assert stage_data(data_dir, tmp_path / "cache") == staged          # made once
    links = {link["path"]: link["target"] for link in keras_home_links(staged)}
    assert links["datasets/mnist.npz"] == "/inputs/datasets/mnist.npz"
    assert links["models/imagenet_class_index.json"] == "/inputs/models/imagenet_class_index.json"
    # Keras 3's CIFAR-10 loader looks in <dir>-target/ beside an archive; tf_keras wants a .tar.gz.
    assert links["datasets/cifar-10-batches-py-target/cifar-10-batches-py"] == \
        "/inputs/datasets/cifar-10-batches-py"
    assert links["datasets/cifar-10-batches-py-target_archive"] is None
    assert links["datasets/cifar-10-batches-py.tar.gz"] is None


def test_a_flat_data_folder_with_named_subfolders_is_linked_too(tmp_path):
    flat = tmp_path / "flat"
    (flat / "imagenet").mkdir(parents=True)
    (flat / "imagenet" / "imagenet_class_index.json").write_text("{}")
    (flat / "mnist.npz").write_bytes(b"PK")
    links = {link["path"]: link["target"] for link in keras_home_links(stage_data(flat, tmp_path / "cache"))}
    assert links["datasets/mnist.npz"] == "/inputs/mnist.npz"
    assert links["models/imagenet_class_index.json"] == "/inputs/imagenet/imagenet_class_index.json"


def test_mnist_in_idx_files_is_given_to_load_data_as_mnist_npz(tmp_path):
    """keras.datasets.mnist.load_data() reads only mnist.npz; a data folder with the
    four official IDX files (as the grader's loader takes them) gets one made from them."""
    import numpy as np

    from grader import datasets

    folder = datasets.write_synthetic_data(tmp_path / "idx", n_train=30, n_test=20, seed=2)
    (folder / "datasets" / "mnist.npz").unlink()
    mnist = tmp_path / "flat" / "mnist"                      # ../shared's layout: data/mnist/*.gz
    mnist.mkdir(parents=True)
    for path in (folder / "datasets").glob("*-ubyte.gz"):
        shutil.copyfile(path, mnist / path.name)
    staged = stage_data(tmp_path / "flat", tmp_path / "cache")
    with np.load(staged / "datasets" / "mnist.npz") as made:
        assert sorted(made.files) == ["x_test", "x_train", "y_test", "y_train"]
        assert made["x_train"].shape == (30, 28, 28) and made["y_test"].shape == (20,)
        assert np.array_equal(made["x_test"], datasets.read_idx(mnist / "t10k-images-idx3-ubyte.gz",
                                                                 datasets.IDX_IMAGES_MAGIC))
    assert (staged / "datasets" / "mnist.npz").stat().st_mode & 0o004
    links = {link["path"]: link["target"] for link in keras_home_links(staged)}
    assert links["datasets/mnist.npz"] == "/inputs/datasets/mnist.npz"
    # Only three of the four: nothing is made, and load_data() names what is missing.
    (mnist / "train-labels-idx1-ubyte.gz").unlink()
    assert not (stage_data(tmp_path / "flat", tmp_path / "cache2") / "datasets" / "mnist.npz").exists()


# ---------------------------------------------------------------- verdicts


def _evidence(rerun_accuracy, capped=(), status="ok", source_status="ok"):
    result = RerunResult(submission="s", backend="bwrap", status=status, max_epochs=1 if capped else None)
    source = SourceRun(path="6.1.ipynb", kind="notebook", part="6.1", status=source_status,
                       fit_calls=[FitCall("keras", "Sequential", a, r, True) for a, r in capped])
    result.sources = [source]
    result.parts["6.1"] = PartRerun(part="6.1", rerun_accuracy=rerun_accuracy, sources=[source.path],
                                    epochs_capped=list(capped), accuracy_source="results/6.1/metrics.json")
    return result


def test_verdicts_follow_the_documented_rule():
    assert judge(rerun_evidence(_evidence(0.975), "6.1"), 0.98, 0.02).outcome == "reproduced"
    assert judge(rerun_evidence(_evidence(0.99), "6.1"), 0.90, 0.02).outcome == "reproduced"   # better
    inflated = judge(rerun_evidence(_evidence(0.90), "6.1"), 0.99, 0.02)
    assert (inflated.outcome, inflated.flagged) == ("not-reproduced", True)
    assert "0.0900 higher" in inflated.message
    capped = judge(rerun_evidence(_evidence(0.60, capped=[(50, 1)]), "6.1"), 0.99, 0.02)
    assert capped.outcome == "not-comparable" and "capped 50 -> 1" in capped.message
    none = judge(rerun_evidence(_evidence(None, source_status="errors"), "6.1"), 0.99, 0.02)
    assert none.outcome == "not-reproduced" and "errors" in none.message
    stopped = judge(rerun_evidence(_evidence(None, source_status="timeout"), "6.1"), 0.99, 0.02)
    assert stopped.outcome == "not-verifiable"
    assert judge(None, 0.99, 0.02).outcome == "not-verifiable"
    assert judge(rerun_evidence(_evidence(0.9), "6.1"), None, 0.02).outcome == "not-verifiable"


def test_compare_rerun_and_the_registered_check():
    [result] = compare_rerun(_evidence(0.90), {"6.1": 0.99}, None, tolerance=0.02, points=4)
    assert (result.id, result.score, result.passed, result.evidence["integrity_flag"]) == \
        ("rerun_reproduces", 0.0, False, True)
    [result] = compare_rerun(_evidence(0.985), {"6.1": 0.99}, None, points=4)
    assert (result.score, result.passed) == (4, True)
    assert "rerun_reproduces" in CHECKS


# ---------------------------------------------------------------------- html


def test_html_rendering_runs_none_of_the_students_markup():
    notebook = new_notebook(cells=[
        new_markdown_cell("# Title <script>alert('md')</script>"),
        new_code_cell("x", outputs=[
            new_output("display_data", data={"text/html": "<b onclick=alert(1)>bold</b><script>alert(2)</script>",
                                             "application/javascript": "alert(3)",
                                             "image/svg+xml": "<svg onload=alert(4)></svg>"}),
            new_output("stream", name="stdout", text="<script>alert(5)</script>Test accuracy: 0.98"),
        ]),
    ])
    html = render_html(notebook, "nb")
    assert "<script" not in html.lower()
    assert "onclick" not in html and "onload" not in html and "alert(3)" not in html
    assert "&lt;script&gt;alert(5)&lt;/script&gt;Test accuracy: 0.98" in html
    assert "Content-Security-Policy" in html.split("</head>")[0]


def test_printed_test_lines_skip_training_figures():
    texts = ["Epoch 1/1\n16/16 - 1s - accuracy: 0.91 - loss: 0.3\r", "Test accuracy: 0.8800\nval_acc: 0.9\n"]
    assert printed_test_lines(texts) == ["Test accuracy: 0.8800"]


# -------------------------------------------------------- in the sandbox


@pytest.mark.slow
def test_notebook_reproduces_with_keras_data_from_the_mounted_folder(sandbox, data_dir, rubric, tmp_path):
    """(a) mnist.load_data() finds the instructor's file through ~/.keras;
    metrics.json and a plot are written into the working copy and read back."""
    folder = tmp_path / "assignment06"
    name = write_notebook(folder, "6.1_mnist.ipynb", training_notebook(1))
    result = rerun(folder, [name], sandbox, data_dir, tmp_path / "work", rubric)
    [source] = result.sources
    assert (result.status, source.status, source.cells_run, source.failures) == ("ok", "ok", 5, [])
    text = outputs_of(source.executed_notebook)
    assert "loaded from /inputs/datasets/mnist.npz" in text
    part = result.parts["6.1"]
    assert part.accuracy_source == "results/6.1/metrics.json, written by the re-run"
    assert 0.1 < part.rerun_accuracy <= 1.0
    assert source.printed_test_accuracy == pytest.approx(part.rerun_accuracy, abs=1e-4)
    assert sorted(part.produced) == ["results/6.1/accuracy.png", "results/6.1/metrics.json"]
    assert len(source.images) == 1 and Path(source.images[0]).read_bytes().startswith(b"\x89PNG")
    metrics = json.loads((Path(result.produced_root) / "results/6.1/metrics.json").read_text())
    assert metrics["test_accuracy"] == pytest.approx(part.rerun_accuracy)
    assert [c.to_dict() for c in source.fit_calls] == [
        {"framework": "keras", "model": "Sequential", "epochs": 1, "run": 1, "capped": False}]
    html = Path(source.html).read_text()
    assert "Test accuracy:" in html and "<script" not in html.lower()
    [check] = compare_rerun(result, {"6.1": part.rerun_accuracy - 0.01}, points=4)
    assert (check.passed, check.score) == (True, 4)
    assert json.loads((tmp_path / "work" / "rerun.json").read_text())["parts"]["6.1"]["rerun_accuracy"] == \
        pytest.approx(part.rerun_accuracy)


@pytest.mark.slow
def test_inflated_reported_accuracy_is_flagged(data_dir, rubric, tmp_path):
    """(b) the submission's metrics file claims more than its notebook yields."""
    folder = tmp_path / "in" / "assignment06"
    write_notebook(folder, "6.1_mnist.ipynb", training_notebook(1))
    (folder / "results" / "6.1").mkdir(parents=True)
    (folder / "results" / "6.1" / "metrics.json").write_text(json.dumps({"test_accuracy": 0.995}))
    result = rerun_archive(folder, rubric, bwrap_backend(), data_dir, tmp_path / "out", max_epochs=None,
                           cell_timeout=120, total_timeout=240)
    part = result.parts["6.1"]
    assert part.reported_accuracy == 0.995 and part.rerun_accuracy < 0.9
    [check] = compare_rerun(result, {"6.1": part.reported_accuracy}, points=4)
    assert (check.passed, check.score, check.evidence["integrity_flag"]) == (False, 0.0, True)
    assert f"reported 0.9950 is {0.995 - part.rerun_accuracy:.4f} higher" in check.message
    assert (tmp_path / "out" / "rerun" / "assignment06" / "rerun.json").is_file()
    assert not (tmp_path / "out" / "rerun" / "assignment06" / "sandbox").exists()


@pytest.mark.slow
def test_windows_paths_write_into_the_working_copy(data_dir, rubric, tmp_path):
    """(c) a path from the student's Windows machine still lands in the re-run's results/."""
    folder = tmp_path / "assignment06"
    name = write_notebook(folder, "6.1_paths.ipynb", [
        f"import json, os\npath = {WINDOWS_RESULT!r}\nos.makedirs(os.path.dirname(path), exist_ok=True)",
        "json.dump({'where': path}, open(path, 'w'))\nprint(path)",
    ])
    result = rerun(folder, [name], bwrap_backend(), data_dir, tmp_path / "work", rubric)
    [source] = result.sources
    assert source.status == "ok"
    assert "results/x.json" in result.produced
    written = json.loads((Path(result.produced_root) / "results" / "x.json").read_text())
    assert written == {"where": "/output/work/results/x.json"}
    assert [(r.cell, r.original, r.rewritten, r.rule) for r in source.path_rewrites] == [
        (1, WINDOWS_RESULT, "/output/work/results/x.json", "assignment-folder")]


@pytest.mark.slow
def test_without_a_sandbox_the_working_copy_is_on_the_host(data_dir, rubric, tmp_path):
    """--sandbox none has no mounts: paths are mapped to the host's working copy."""
    from grader.evaluate.local_backend import LocalSandbox, UnsafeSandboxWarning

    folder = tmp_path / "assignment06"
    name = write_notebook(folder, "6.1_paths.ipynb", [
        (f"import os\npath = {WINDOWS_RESULT!r}\nos.makedirs(os.path.dirname(path), exist_ok=True)\n"
        "open(path, 'w').write('ok')"),
        "print(open(os.path.expanduser('~/.keras/datasets/mnist.npz'), 'rb').read(2))",
    ])
    with pytest.warns(UnsafeSandboxWarning):
        result = rerun(folder, [name], LocalSandbox(), data_dir, tmp_path / "work", rubric)
    [source] = result.sources
    assert (source.status, result.produced) == ("ok", ["results/x.json"])
    assert source.path_rewrites[0].rewritten == str((tmp_path / "work/sandbox/output/work/results/x.json").resolve())
    assert "b'PK'" in outputs_of(source.executed_notebook)


@pytest.mark.slow
def test_endless_cell_times_out_and_the_next_source_still_runs(data_dir, rubric, tmp_path):
    """(d) a cell that never ends is stopped at the per-cell limit; wall time stays bounded."""
    folder = tmp_path / "assignment06"
    loop = write_notebook(folder, "6.1_loop.ipynb", ["print('before')", "while True:\n    pass", "print('after')"])
    fine = write_notebook(folder, "6.1_fine.ipynb", ["print('Test accuracy: 0.5')"])
    cell_timeout = 5
    started = time.monotonic()
    result = rerun(folder, [loop, fine], bwrap_backend(), data_dir, tmp_path / "work", rubric,
                   cell_timeout=cell_timeout, total_timeout=120)
    elapsed = time.monotonic() - started
    looping, other = result.sources
    assert (looping.status, looping.timed_out_cell, looping.cells_run) == ("timeout", 2, 2)
    assert "per-cell limit" in looping.message
    assert "after" not in outputs_of(looping.executed_notebook)
    assert (other.status, other.printed_test_accuracy) == ("ok", 0.5)
    assert result.status == "timeout"
    assert elapsed < cell_timeout + 60


@pytest.mark.slow
def test_network_is_refused_and_later_cells_run(sandbox, data_dir, rubric, tmp_path):
    """(e) a cell that calls a listener on the host's loopback fails; the listener hears nothing."""
    folder = tmp_path / "assignment06"
    with Listener() as listener:
        name = write_notebook(folder, "6.1_net.ipynb", [
            f"import urllib.request\nurllib.request.urlopen('http://127.0.0.1:{listener.port}/', timeout=5).read()",
            "print('still running')",
        ])
        result = rerun(folder, [name], sandbox, data_dir, tmp_path / "work", rubric)
        time.sleep(0.5)
        assert (listener.connections, listener.received) == (0, b"")
    [source] = result.sources
    assert (source.status, source.cells_run) == ("errors", 2)
    [failure] = source.failures
    assert failure.cell == 1 and failure.ename in ("URLError", "ConnectionRefusedError", "OSError")
    assert "still running" in outputs_of(source.executed_notebook)


@pytest.mark.slow
def test_max_epochs_caps_fit_and_says_so(data_dir, rubric, tmp_path):
    """(f) fit(epochs=50) runs one epoch under max_epochs=1, in a notebook and in a script."""
    folder = tmp_path / "assignment06"
    name = write_notebook(folder, "6.1_mnist.ipynb", training_notebook(50))
    (folder / "6.1_train.py").write_text(
        "import keras, numpy as np\n"
        "model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2, activation='softmax')])\n"
        "model.compile('sgd', 'sparse_categorical_crossentropy', metrics=['accuracy'])\n"
        "h = model.fit(np.zeros((8, 4)), np.zeros(8), epochs=20, verbose=0)\n"
        "print('script epochs:', len(h.history['loss']))\nprint('Test accuracy: 0.75')\n")
    result = rerun(folder, [name, "6.1_train.py"], bwrap_backend(), data_dir, tmp_path / "work", rubric,
                   max_epochs=1)
    notebook, script = result.sources
    assert notebook.epochs_capped == [(50, 1)] and script.epochs_capped == [(20, 1)]
    assert "epochs run: 1" in outputs_of(notebook.executed_notebook)
    assert (script.status, script.printed_test_accuracy) == ("ok", 0.75)
    assert "script epochs: 1" in Path(script.log).read_text()
    assert "epochs capped at 1 (50 -> 1, 20 -> 1)" in result.message
    [check] = compare_rerun(result, {"6.1": 0.99}, 1, points=4)
    assert check.evidence["outcome"] == "not-comparable" and "capped 50 -> 1" in check.message


@pytest.mark.slow
def test_failing_script_reports_its_traceback(data_dir, rubric, tmp_path):
    folder = tmp_path / "assignment06"
    (folder).mkdir(parents=True)
    (folder / "6.1.py").write_text("print('start')\nraise KeyError('missing')\n")
    result = rerun(folder, ["6.1.py"], bwrap_backend(), data_dir, tmp_path / "work", rubric)
    [source] = result.sources
    assert source.status == "errors"
    [failure] = source.failures
    assert "KeyError: 'missing'" in failure.traceback and "line 2" in failure.traceback


@pytest.mark.slow
@pytest.mark.parametrize("backend_name", [pytest.param("docker", marks=pytest.mark.docker),
                                          pytest.param("bwrap", marks=pytest.mark.bwrap)])
def test_reference_notebook_reproduces(backend_name, data_dir, rubric, tmp_path, request):
    """The reference solution's own notebook, re-run: capped to the quick run's
    one epoch it scores what the quick run reported; uncapped it does at least as well."""
    import reference
    from grader.evaluate.docker_backend import DockerSandbox

    if backend_name == "docker":
        backend = DockerSandbox(image=request.getfixturevalue("runtime_image"))
        if not backend.available()[0]:
            pytest.skip(f"docker sandbox unavailable: {backend.available()[1]}")
    else:
        backend = bwrap_backend()
    reference.run(["6.1"], tmp_path / "ref", data_dir, quick=True)
    tree = tmp_path / "ref" / "assignment06"
    reported = json.loads((tree / "results" / "6.1" / "metrics.json").read_text())["test_accuracy"]
    max_epochs = 1 if backend_name == "docker" else None
    result = rerun_archive(tree, rubric, backend, data_dir, tmp_path / "out", max_epochs=max_epochs,
                           cell_timeout=300, total_timeout=400)
    part = result.parts["6.1"]
    assert result.status == "ok" and part.reported_accuracy == pytest.approx(reported)
    [check] = compare_rerun(result, {"6.1": part.reported_accuracy}, max_epochs)
    if max_epochs == 1:
        assert part.epochs_capped == [(5, 1)]
        assert abs(part.rerun_accuracy - reported) <= 0.02
        assert check.evidence["outcome"] == "not-comparable"
    else:
        assert part.epochs_capped == []
        assert part.rerun_accuracy >= reported - 0.02
        assert check.passed and check.evidence["outcome"] == "reproduced"
