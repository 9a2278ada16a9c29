"""Issue 12, done when: the transfer_learning rubric's reference solutions score
full marks on the synthetic image folder, and a synthetic class is graded in
one sandbox batch with assertions on values.

The rubric is the shipped one with the tiny base the tests can afford
(MobileNetV2 at alpha 0.35 on 48x48 images, 0.4 M weights: Keras's file for it
is ``..._0.35_224_no_top.h5``) and its baselines. The data folder is the
synthetic image folder (circles, squares and triangles) with the seeded
random "ImageNet" weights file, made as on first use. The class:

    SolutionReference   the reference run (quick), packed as a student packs it
    DoeJane             correct, the same models under her own file names and
                        formats (metrics as text, printed by her notebook too)
    RoeRichard          a base built with weights=None and trained from scratch
    PoeEdgar            fine-tuning with every layer unfrozen
    HeadHarry           feature extraction with a 5-class head on 3 classes

and, after the students made their predictions, the instructor's copy of one
test image is damaged: it is listed on every part, the rest is graded.
"""

from __future__ import annotations

import json
import shutil
import zipfile
from pathlib import Path

import nbformat
import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner
from nbformat.v4 import new_code_cell, new_notebook, new_output

from grader import rubric as rubric_lib
from grader.cli import main

pytestmark = [pytest.mark.slow]

REPO = Path(__file__).resolve().parents[1]
SIZE = 48
WEIGHTS_FILE = "mobilenet_v2_weights_tf_dim_ordering_tf_kernels_0.35_224_no_top.h5"
PER_CLASS = {"train": 60, "validation": 10, "test": 20}
FE, FT = "feature_extraction", "fine_tuning"
CORRUPT = "square/square_0003.jpg"
TRAINED_ON = 64        # images a student's own training steps see: any training changes every trained layer
REFERENCE, DOE, ROE, POE, HARRY = ("transfer_learning_SolutionReference", "transfer_learning_DoeJane",
                                   "transfer_learning_RoeRichard", "transfer_learning_PoeEdgar",
                                   "transfer_learning_HeadHarry")


def tiny_rubric_text() -> str:
    """rubrics/transfer_learning.toml at 48x48 with only MobileNetV2 0.35's weights file (same id and checks)."""
    text = (REPO / "rubrics" / "transfer_learning.toml").read_text(encoding="utf-8")
    start, end = text.index("\n[pretrained_weights]") + 1, text.index("\n[datasets.images]") + 1
    text = text[:start] + f'[pretrained_weights]\nMobileNetV2 = "{WEIGHTS_FILE}"\n\n' + text[end:]
    assert "input_shape = [96, 96, 3]" in text
    text = text.replace("input_shape = [96, 96, 3]", f"input_shape = [{SIZE}, {SIZE}, 3]")
    baselines = REPO / "rubrics" / "transfer_learning.baselines.toml"
    return text.replace('baselines_file = "transfer_learning.baselines.toml"', f'baselines_file = "{baselines}"')


# ------------------------------------------------------------------ the class


def _copy_part(tree: Path, part: str, target: Path, names: dict[str, str]) -> None:
    """The reference's files of ``part`` under the student's own names (role -> path in ``target``)."""
    sources = {"model": "model.keras", "predictions": "predictions.csv", "metrics": "metrics.json",
               "plot": "accuracy.png"}
    for role, name in names.items():
        destination = target / name
        destination.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(tree / "results" / part / sources[role], destination)


def _write_part(model, x_test, y_test, tree: Path, part: str, folder: Path) -> None:
    """A student's own model of ``part`` with its predictions and metrics (the plot is the reference's)."""
    from reference.results import predictions_csv

    target = folder / "results" / part
    target.mkdir(parents=True, exist_ok=True)
    model.save(target / "model.keras")
    probabilities = np.asarray(model(x_test.astype("float32"), training=False))      # no predict step to trace
    (target / "predictions.csv").write_text(predictions_csv(probabilities))
    accuracy = float(np.mean(np.argmax(probabilities, axis=1) == y_test))
    (target / "metrics.json").write_text(json.dumps({"test_accuracy": accuracy}))
    shutil.copy(tree / "results" / part / "accuracy.png", target / "accuracy.png")


def _notebook(path: Path, code: str, printed: str) -> None:
    cell = new_code_cell(code, execution_count=1, outputs=[new_output("stream", name="stdout", text=printed)])
    notebook = new_notebook(cells=[cell])
    notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(notebook, str(path))


def _fit(model, x, y, learning_rate: float, epochs: int) -> None:
    import keras

    # Eagerly: a dozen steps cost less than tracing the training step of a 150-layer network.
    model.compile(optimizer=keras.optimizers.Adam(learning_rate), loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"], run_eagerly=True)
    order = np.random.default_rng(1).permutation(len(x))[:TRAINED_ON]
    model.fit(x[order].astype("float32"), y[order], epochs=epochs, batch_size=32, verbose=0)


def _doe(tree: Path, root: Path) -> None:
    """Correct: the reference's models under her own names; feature extraction's figure in a text file."""
    _copy_part(tree, FE, root, {"model": "models/frozen_base_model.keras",
                                "predictions": "results/frozen_base_predictions.csv",
                                "plot": "plots/frozen_base_accuracy.png"})
    _copy_part(tree, FT, root, {"model": "models/fine_tuned_model.keras",
                                "predictions": "results/fine_tuned_predictions.csv",
                                "metrics": "results/fine_tuned_metrics.json", "plot": "plots/fine_tuned_accuracy.png"})
    accuracy = json.loads((tree / "results" / FE / "metrics.json").read_text())["test_accuracy"]
    (root / "results" / "frozen_base_metrics.txt").write_text(f"test accuracy: {accuracy:.4f}\n")
    _notebook(root / "feature_extraction.ipynb",
              "loss, acc = model.evaluate(test_ds)\nprint(f'Test accuracy: {acc:.4f}')",
              f"Test accuracy: {accuracy:.4f}\n")


def _roe(tree: Path, root: Path, x_train, y_train, x_test, y_test) -> None:
    """A MobileNetV2 built with weights=None and trained from scratch, handed in for both parts."""
    import keras

    from reference.transfer_learning import PREPROCESSING, data_augmentation

    keras.utils.set_random_seed(3)
    base = keras.applications.MobileNetV2(weights=None, include_top=False, input_shape=(SIZE, SIZE, 3), alpha=0.35)
    inputs = keras.Input((SIZE, SIZE, 3))
    x = base(PREPROCESSING["MobileNetV2"](data_augmentation()(inputs)))
    outputs = keras.layers.Dense(3, activation="softmax")(keras.layers.GlobalAveragePooling2D()(x))
    model = keras.Model(inputs, outputs)
    _fit(model, x_train, y_train, 1e-3, epochs=1)
    for part in (FE, FT):
        _write_part(model, x_test, y_test, tree, part, root)


def _poe(tree: Path, root: Path, x_train, y_train, x_test, y_test) -> None:
    """Feature extraction as the reference; fine-tuning with every layer of the base unfrozen."""
    import keras

    from reference.transfer_learning import convolutional_base

    _copy_part(tree, FE, root / "results" / FE, {"model": "model.keras", "predictions": "predictions.csv",
                                                 "metrics": "metrics.json", "plot": "accuracy.png"})
    model = keras.models.load_model(tree / "results" / FE / "model.keras")
    base = convolutional_base(model)
    base.trainable = True
    for layer in base.layers:
        layer.trainable = True
    _fit(model, x_train, y_train, 1e-4, epochs=1)
    _write_part(model, x_test, y_test, tree, FT, root)


def _harry(tree: Path, root: Path, x_train, y_train, x_test, y_test) -> None:
    """Feature extraction with a 5-class head (the frozen base kept); fine-tuning as the reference."""
    import keras

    reference_model = keras.models.load_model(tree / "results" / FE / "model.keras")
    outputs = keras.layers.Dense(5, activation="softmax", name="five_classes")(reference_model.layers[-2].output)
    model = keras.Model(reference_model.input, outputs)
    _fit(model, x_train, y_train, 1e-3, epochs=1)
    _write_part(model, x_test, y_test, tree, FE, root)
    _copy_part(tree, FT, root / "results" / FT, {"model": "model.keras", "predictions": "predictions.csv",
                                                 "metrics": "metrics.json", "plot": "accuracy.png"})


def _zip(folder: Path, archive: Path) -> Path:
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as zf:
        for path in sorted(folder.rglob("*")):
            if path.is_file():
                zf.write(path, f"transfer_learning/{path.relative_to(folder).as_posix()}")
    return archive


@pytest.fixture(scope="module")
def transfer_class(tmp_path_factory):
    """The data folder, the reference run and five archives (built once)."""
    import keras

    import reference
    from grader import datasets
    from grader.datasets.synthetic_images import write_synthetic_transfer_data
    from reference.pack import pack

    base = tmp_path_factory.mktemp("transfer")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("GRADER_CACHE_DIR", str(base / "cache"))      # the decoded-array cache, not the user's
        rubric_path = base / "transfer_learning.toml"
        rubric_path.write_text(tiny_rubric_text(), encoding="utf-8")
        rubric = rubric_lib.load(rubric_path)
        data_dir = write_synthetic_transfer_data(base / "data", rubric, seed=0, per_class=PER_CLASS)
        record = reference.run(None, base / "reference", data_dir, quick=True, rubric=rubric)
        tree = base / "reference" / "transfer_learning"
        subs = base / "submissions"
        pack(tree, subs, "Solution", "Reference", prefix=rubric.archive_prefix)

        dataset = rubric.datasets["images"]
        x_train, y_train = datasets.load_train_set(dataset, data_dir)
        x_test, y_test = datasets.load_test_set(dataset, data_dir)
        students = base / "students"
        _doe(tree, students / DOE)
        for name, build in ((ROE, _roe), (POE, _poe), (HARRY, _harry)):
            build(tree, students / name, x_train, y_train, x_test, y_test)
            keras.backend.clear_session()
        for name in (DOE, ROE, POE, HARRY):
            _zip(students / name, subs / f"{name}.zip")

        # The instructor's copy of one test image is damaged after the students made their predictions.
        damaged = data_dir / "datasets" / "transfer_images" / "test" / CORRUPT
        damaged.write_bytes(damaged.read_bytes()[:300])
        yield {"base": base, "rubric": rubric, "rubric_path": rubric_path, "data_dir": data_dir, "record": record,
               "tree": tree, "subs": subs, "n_test": len(x_test)}


@pytest.fixture(scope="module")
def graded(transfer_class):
    """The class graded in one sandbox batch, with the LMS exports."""
    from grader.batch import find_archives, grade_batch
    from grader.evaluate import SandboxUnavailable, choose_backend
    from grader.pipeline import load_test_data

    try:
        backend = choose_backend("auto")
    except SandboxUnavailable as exc:
        pytest.skip(f"no sandbox: {exc}")
    rubric, out = transfer_class["rubric"], transfer_class["base"] / "grades"
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("GRADER_CACHE_DIR", str(transfer_class["base"] / "cache"))
        data = load_test_data(rubric, transfer_class["data_dir"])
        summary = grade_batch(find_archives(transfer_class["subs"]), out, rubric, backend, data, jobs=2,
                              exports=("canvas", "blackboard"))
    records = {p.stem: json.loads(p.read_text()) for p in (out / "results").glob("*.json")}
    return {"summary": summary, "out": out, "records": records, "data": data}


def _check(record: dict, part: str, check_id: str) -> dict:
    return next(c for c in record["parts"][part]["checks"] if c["id"] == check_id)


def _points(rubric, part: str, check_id: str) -> float:
    return next(c.points for c in rubric.part(part).checks if c.id == check_id)


# ---------------------------------------------------------------- the reference


def test_the_reference_run_records_its_bases_data_and_notebooks(transfer_class):
    import keras

    record, tree = transfer_class["record"], transfer_class["tree"]
    baselines = transfer_class["rubric"].baselines
    for part in (FE, FT):
        run = record.parts[part]
        assert run.test_accuracy >= baselines[part].full_credit_at and run.n_test == transfer_class["n_test"] == 60
        assert run.n_train == 180 and run.settings == {"epochs": 8, "application": "MobileNetV2"}
        # Each split of the image folder is one digest with its count; the weights file by its own.
        assert run.data_files["datasets/transfer_images/train/"].endswith(" (180 files)")
        assert run.data_files["datasets/transfer_images/test/"].endswith(" (60 files)")
        assert len(run.data_files[f"models/{WEIGHTS_FILE}"]) == 64
    assert record.parts[FE].figures["trainable_params"] < record.parts[FT].figures["trainable_params"]
    assert record.notebooks == ["feature_extraction_pretrained_base.ipynb", "fine_tuning_top_block.ipynb"]
    code = "\n".join(c.source for c in nbformat.read(tree / record.notebooks[1], as_version=4).cells)
    assert "def unfreeze_top_block(" in code and "train_fine_tuning(x_train, y_train" in code
    assert 'canonical_file(RUBRIC.part(\'feature_extraction\'), "model", Path("."))' in code

    # Fine-tuning unfroze the layers after block_15_add but their BatchNormalization; the rest stayed frozen.
    model = keras.models.load_model(tree / "results" / FT / "model.keras")
    base = next(layer for layer in model.layers if layer.name.startswith("mobilenetv2"))
    names = [layer.name for layer in base.layers]
    top = names[names.index("block_15_add") + 1:]
    trainable = sorted(layer.name for layer in base.layers if layer.trainable and layer.weights)
    assert trainable == sorted(n for n in top if base.get_layer(n).weights
                               and not isinstance(base.get_layer(n), keras.layers.BatchNormalization))
    assert trainable == ["Conv_1", "block_16_depthwise", "block_16_expand", "block_16_project"]


def test_the_reference_submission_scores_full_marks(graded, transfer_class):
    record = graded["records"][REFERENCE]
    assert (record["status"], record["score"], record["max_score"]) == ("graded", 100.0, 100.0)
    rubric = transfer_class["rubric"]
    for part in (FE, FT):
        for check in record["parts"][part]["checks"]:
            assert check["score"] == _points(rubric, part, check["id"]), (part, check["id"], check["message"])
        recomputed = record["parts"][part]["recomputed"]["accuracy"]
        assert recomputed >= rubric.baselines[part].full_credit_at
    assert _check(record, FE, "pretrained_base")["message"].startswith("keras.applications MobileNetV2 base")
    assert _check(record, FE, "base_weights_pretrained")["message"] == (
        f"all 104 layers of the MobileNetV2 base hold exactly the ImageNet weights ({WEIGHTS_FILE})")
    assert _check(record, FT, "fine_tuned_layers")["message"].startswith(
        f"MobileNetV2 base ({WEIGHTS_FILE}): its top block (8 layers after block_15_add) was trained on from the "
        "ImageNet weights; the 96 layers below it are unchanged; the saved trainable flags agree")


def test_the_report_shows_which_layers_were_frozen_trained_and_pretrained(graded):
    record = graded["records"][REFERENCE]
    table = _check(record, FT, "fine_tuned_layers")["evidence"]["table"]
    assert table["columns"][:4] == ["block", "layers", "saved as", "weights"]
    rows = {row[0]: row for row in table["rows"]}
    assert rows["block_15"][2:4] == ["frozen", "ImageNet, unchanged"]
    assert rows["block_16"][2] != "frozen" and rows["block_16"][3] != "ImageNet, unchanged"
    html = (graded["out"] / "reports" / f"{REFERENCE}.html").read_text(encoding="utf-8")
    header = "".join(f"<th>{name}</th>" for name in table["columns"])
    assert header in html                                     # rendered as a table, one row per block
    assert "<tr><td>block_15</td><td>6</td><td>frozen</td><td>ImageNet, unchanged</td>" in html


# ------------------------------------------------------------------- the class


def test_a_correct_student_with_her_own_file_names_scores_full_marks(graded):
    record = graded["records"][DOE]
    assert (record["status"], record["score"]) == ("graded", 100.0)
    reported = record["parts"][FE]["reported"]
    assert (reported["file"], reported["source"]) == ("results/frozen_base_metrics.txt", "metrics file")
    assert reported["accuracy"] == pytest.approx(record["parts"][FE]["recomputed"]["accuracy"], abs=0.02)


def test_a_base_trained_from_scratch_fails_base_weights_pretrained_naming_layers(graded, transfer_class):
    record = graded["records"][ROE]
    for part in (FE, FT):
        assert _check(record, part, "pretrained_base")["passed"]       # the topology is MobileNetV2's
        weights = _check(record, part, "base_weights_pretrained")
        assert (weights["score"], weights["passed"]) == (0.0, False)
        assert "do not hold the ImageNet weights (re-initialised or trained from scratch)" in weights["message"]
        assert "Conv1 (Conv1, bn_Conv1)" in weights["message"]
    lost = sum(_points(transfer_class["rubric"], part, "base_weights_pretrained") for part in (FE, FT))
    assert record["score"] <= 100 - lost


def test_everything_unfrozen_fails_fine_tuned_layers(graded, transfer_class):
    record = graded["records"][POE]
    rubric = transfer_class["rubric"]
    fe = record["parts"][FE]
    assert sum(c["score"] for c in fe["checks"]) == rubric.part(FE).max_points
    tuned = _check(record, FT, "fine_tuned_layers")
    assert not tuned["passed"] and tuned["score"] == pytest.approx(10 / 3, abs=0.01)     # only the top block is right
    assert "of the 96 layers below it, 96 were trained on from the ImageNet weights" in tuned["message"]
    assert "the saved trainable flags disagree: 96 layers below the top block saved trainable" in tuned["message"]
    assert _check(record, FT, "base_weights_pretrained")["score"] == 0.0


def test_a_head_with_the_wrong_number_of_classes_fails_head_replaced(graded, transfer_class):
    record = graded["records"][HARRY]
    head = _check(record, FE, "head_replaced")
    assert (head["score"], head["passed"]) == (0.0, False)
    assert head["message"].startswith("it outputs 5, the data set has 3 classes: "
                                      "end with Dense(3, activation='softmax')")
    assert sum(c["score"] for c in record["parts"][FT]["checks"]) == transfer_class["rubric"].part(FT).max_points
    # Its base was kept frozen with the ImageNet weights: the model ran in the
    # sandbox, so the base checks judge it although its predictions cannot be scored.
    for check in ("pretrained_base", "base_weights_pretrained"):
        result = _check(record, FE, check)
        assert result["passed"] and result["score"] == result["max_score"], (check, result["message"])


def test_the_damaged_test_image_is_listed_and_the_rest_graded(graded, transfer_class):
    assert f"{CORRUPT} (not an image Pillow can read" in graded["data"].left_out["images"]
    assert graded["data"].inputs["images"].shape == (59, SIZE, SIZE, 3)
    for name, record in graded["records"].items():
        assert record["status"] == "graded", name
        codes = {(p["code"], p.get("part")) for p in record["problems"]}
        assert {("test-images-left-out", FE), ("test-images-left-out", FT)} <= codes, name
        assert ("predictions-rows-left-out", FE) in codes, name    # 60 rows made on the intact folder, 59 compared
        left_out = next(p for p in record["problems"] if p["code"] == "test-images-left-out")
        assert CORRUPT in left_out["message"] and "59 images graded" in left_out["message"]
        ran = [part for part in (FE, FT) if _check(record, part, "model_loads")["passed"]]
        assert ran == ([FT] if name == HARRY else [FE, FT]), name          # Harry's 5-class model is not run
        for part in ran:
            assert _check(record, part, "predictions_match_model")["evidence"]["agreement"] >= 0.95, (name, part)


# --------------------------------------------------------- outputs and commands


def test_the_class_outputs_and_lms_exports(graded):
    out, summary = graded["out"], graded["summary"]
    assert (summary.graded, summary.errors) == (5, 0)
    grades = pd.read_csv(out / "grades.csv")
    assert sorted(grades["archive"]) == sorted(f"{name}.zip" for name in (REFERENCE, DOE, ROE, POE, HARRY))
    by_archive = grades.set_index("archive")
    for name, record in graded["records"].items():
        for part in (FE, FT):
            scored = sum(c["score"] for c in record["parts"][part]["checks"])
            assert by_archive.loc[f"{name}.zip", part] == pytest.approx(scored, abs=0.01), (name, part)
    assert by_archive.loc[f"{REFERENCE}.zip", "total"] == 100.0
    canvas = pd.read_csv(out / "canvas_grades.csv")
    assert canvas.iloc[0, 0].strip() == "Points Possible" and len(canvas) == 6   # the header row, then a row each
    assert len(pd.read_csv(out / "blackboard_grades.csv")) == 5
    gradescope = json.loads((out / "gradescope" / REFERENCE / "results.json").read_text())
    assert gradescope["score"] == 100.0
    assert (out / "index.html").is_file()


def test_grade_check_and_pack_know_the_rubric_by_its_folder(transfer_class, tmp_path):
    from grader.rubric_choice import rubric_for

    assert rubric_for([transfer_class["tree"]]) == rubric_for([transfer_class["subs"] / f"{DOE}.zip"]) == \
        "transfer_learning"
    runner = CliRunner()
    archive = transfer_class["subs"] / f"{REFERENCE}.zip"
    checked = runner.invoke(main, ["check", str(archive), "--rubric", str(transfer_class["rubric_path"]), "--json"])
    assert checked.exit_code == 0, checked.output
    report = json.loads(checked.output)
    assert report["ready"] is True
    assert report["parts"][FE]["model"] == ["results/feature_extraction/model.keras"]
    packed = runner.invoke(main, ["pack", str(transfer_class["tree"]), "--name", "Lee Ann", "--out", str(tmp_path),
                                  "--rubric", str(transfer_class["rubric_path"])])
    assert packed.exit_code == 0, packed.output
    with zipfile.ZipFile(tmp_path / "transfer_learning_LeeAnn.zip") as zf:
        names = zf.namelist()
    assert "transfer_learning/results/fine_tuning/model.keras" in names
    assert "transfer_learning/fine_tuning_top_block.ipynb" in names


# A student's own feature-extraction notebook, as the book writes it: the images from the folder
# Keras's downloads extract into, the base's weights="imagenet" (answered from the data folder by
# the file name Keras asks for), augmentation and the frozen base in the model.
STUDENT_NOTEBOOK = [
    "import json, os\nimport keras\nfrom keras import layers\nkeras.utils.set_random_seed(0)",
    ("base_dir = os.path.join(os.path.expanduser('~/.keras/datasets'), 'transfer_images')\n"
     "train_ds = keras.utils.image_dataset_from_directory(os.path.join(base_dir, 'train'),"
     f" image_size=({SIZE}, {SIZE}))\n"
     f"test_ds = keras.utils.image_dataset_from_directory(os.path.join(base_dir, 'test'), image_size=({SIZE}, {SIZE}),"
     " shuffle=False)"),
    (f"conv_base = keras.applications.MobileNetV2(weights='imagenet', include_top=False, alpha=0.35,"
     f" input_shape=({SIZE}, {SIZE}, 3))\n"
     "conv_base.trainable = False\n"
     f"inputs = keras.Input(shape=({SIZE}, {SIZE}, 3))\n"
     "x = layers.RandomFlip('horizontal')(inputs)\n"
     "x = layers.Rescaling(1 / 127.5, offset=-1)(x)\n"
     "x = conv_base(x)\n"
     "outputs = layers.Dense(3, activation='softmax')(layers.GlobalAveragePooling2D()(x))\n"
     "model = keras.Model(inputs, outputs)\n"
     "model.compile(optimizer='adam', loss='sparse_categorical_crossentropy', metrics=['accuracy'])\n"
     "history = model.fit(train_ds, epochs=5)"),
    ("loss, accuracy = model.evaluate(test_ds)\nprint(f'Test accuracy: {accuracy:.4f}')\n"
     "os.makedirs('results/feature_extraction', exist_ok=True)\n"
     "json.dump({'test_accuracy': accuracy}, open('results/feature_extraction/metrics.json', 'w'))"),
]


def test_grade_rerun_runs_a_students_transfer_notebook_on_the_instructors_folder(transfer_class, tmp_path):
    """The damaged image is the instructor's copy, so Keras's loader in the notebook stops at it as the
    student's would not: the re-run is given an intact copy of the data folder."""
    from grader.datasets.synthetic_images import write_synthetic_image_folder

    data_dir = tmp_path / "data"
    shutil.copytree(transfer_class["data_dir"], data_dir)
    write_synthetic_image_folder(data_dir / "datasets" / "transfer_images", ["circle", "square", "triangle"],
                                 seed=0, per_class={"test": PER_CLASS["test"]})
    folder = tmp_path / "transfer_learning"
    folder.mkdir()
    notebook = new_notebook(cells=[new_code_cell(code) for code in STUDENT_NOTEBOOK])
    notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(notebook, str(folder / "feature_extraction.ipynb"))
    (folder / "results" / FE).mkdir(parents=True)
    (folder / "results" / FE / "metrics.json").write_text(json.dumps({"test_accuracy": 0.97}))
    archive = _zip(folder, tmp_path / "transfer_learning_LeeAnn.zip")

    result = CliRunner().invoke(main, ["rerun", str(archive), "--rubric", str(transfer_class["rubric_path"]),
                                       "--data-dir", str(data_dir), "--out", str(tmp_path / "out"),
                                       "--max-epochs", "1", "--json"])
    record = json.loads(result.output[result.output.index("{"):])
    assert result.exit_code == 0, result.output
    [source] = record["sources"]
    assert (source["status"], source["cells_run"], source["failures"]) == ("ok", 4, [])
    part = record["parts"][FE]
    assert part["reported_accuracy"] == 0.97 and 0.0 < part["rerun_accuracy"] <= 1.0
    assert part["epochs_capped"] == [[5, 1]]
    executed = nbformat.read(source["executed_notebook"], as_version=4)
    printed = "".join(o.get("text", "") for cell in executed.cells for o in cell.get("outputs", []))
    assert "Found 180 files belonging to 3 classes." in printed and "Found 60 files belonging to 3 classes." in printed
    assert f"Test accuracy: {part['rerun_accuracy']:.4f}" in printed
