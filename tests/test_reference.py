"""The reference solutions: a quick run on synthetic data in the real formats, their
notebooks, the baselines they write, the archive they pack, and one check on real MNIST."""

from __future__ import annotations

import hashlib
import json
import shutil
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

import reference
from grader import datasets
from grader import rubric as rubric_lib
from reference import PartRun, ReferenceRunError, RunRecord
from reference.pack import pack

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"
CLASS_INDEX = SHARED / "data" / "imagenet" / "imagenet_class_index.json"
N_TEST = 1000


@pytest.fixture(scope="module")
def rubric():
    return rubric_lib.load()


def _classifier_parts(rubric):
    return [p for p in rubric.parts if rubric.dataset_of(p).loader != "imagenet-images"]


def _folder_part(rubric):
    return next(p for p in rubric.parts if rubric.dataset_of(p).loader == "imagenet-images")


def _layer_classes(config) -> list[str]:
    """Every class_name in a saved model's config, nested models included."""
    found = []
    if isinstance(config, dict):
        if "class_name" in config:
            found.append(config["class_name"])
        for value in config.values():
            found += _layer_classes(value)
    elif isinstance(config, list):
        for value in config:
            found += _layer_classes(value)
    return found


def _saved_config(path: Path) -> dict:
    with zipfile.ZipFile(path) as archive:
        return json.loads(archive.read("config.json"))


# ------------------------------------------------------------- quick run (slow)


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory, rubric):
    root = tmp_path_factory.mktemp("reference")
    data = datasets.write_synthetic_data(root / "data", n_test=N_TEST, with_resnet_weights=True,
                                         class_index_json=CLASS_INDEX if CLASS_INDEX.is_file() else None)
    images = root / "photos"
    datasets.write_synthetic_images(images, count=3)
    (images / "notes.txt").write_text("not an image")
    record = reference.run(None, root / "out", data, quick=True, images_dir=images, rubric=rubric)
    return record, root / "out" / rubric.folder, data


@pytest.mark.slow
def test_quick_run_writes_every_part_where_the_rubric_says(quick_run, rubric):
    record, tree, _ = quick_run
    assert sorted(record.parts) == sorted(p.id for p in rubric.parts) and record.skipped == {}
    for part in _classifier_parts(rubric):
        folder = tree / part.canonical_dir
        for name in part.canonical_files.values():
            assert (folder / name).is_file(), f"{part.id}: {name}"
        assert (folder / "loss.png").is_file()
    assert sorted(p.name for p in (tree / _folder_part(rubric).input_dirs[0]).iterdir()) == \
        ["photo_1.jpg", "photo_2.png", "photo_3.jpg"]     # the text file was not copied


@pytest.mark.slow
def test_mnist_reference_learns_the_synthetic_digits(quick_run, rubric):
    record, tree, _ = quick_run
    part = rubric.part("6.1")
    metrics = json.loads((tree / part.canonical_dir / part.canonical_files["metrics"]).read_text())
    assert set(metrics) == {"test_accuracy", "test_loss", "history", "epochs", "quick"}
    assert metrics["test_accuracy"] > 0.9
    assert metrics["quick"] is True and metrics["epochs"] == 1
    assert set(metrics["history"]) == {"accuracy", "loss", "val_accuracy", "val_loss"}
    assert metrics["test_accuracy"] == pytest.approx(record.parts["6.1"].test_accuracy)


@pytest.mark.slow
def test_predictions_agree_with_the_reported_accuracy(quick_run, rubric):
    _, tree, data = quick_run
    for part in _classifier_parts(rubric):
        dataset = rubric.dataset_of(part)
        table = pd.read_csv(tree / part.canonical_dir / part.canonical_files["predictions"])
        assert list(table.columns) == ["index", "predicted", *(f"p{k}" for k in range(dataset.num_classes))]
        assert table.shape == (N_TEST, 12)
        probabilities = table[[f"p{k}" for k in range(10)]].to_numpy()
        assert np.allclose(probabilities.sum(axis=1), 1, atol=1e-4)
        assert (table["predicted"].to_numpy() == probabilities.argmax(axis=1)).all()
        _, y_test = datasets.load_test_set(dataset, data)
        metrics = json.loads((tree / part.canonical_dir / part.canonical_files["metrics"]).read_text())
        assert (table["predicted"].to_numpy() == y_test).mean() == pytest.approx(metrics["test_accuracy"], abs=1e-6)


@pytest.mark.slow
def test_saved_models_show_dropout_and_augmentation_only_where_the_rubric_wants(quick_run, rubric):
    _, tree, _ = quick_run
    for part in _classifier_parts(rubric):
        classes = _layer_classes(_saved_config(tree / part.canonical_dir / part.canonical_files["model"]))
        has_dropout = "Dropout" in classes
        has_augmentation = {"RandomFlip", "RandomTranslation"} <= set(classes)
        assert classes.count("Conv2D") == 3, part.id
        if has_dropout:     # 6.2b: dropout after each of the three blocks and before the classifier
            assert classes.count("Dropout") == 4 and classes.count("BatchNormalization") == 3, part.id
        if part.architecture.dropout is not None:
            assert has_dropout == part.architecture.dropout, part.id
        if part.architecture.augmentation is not None:
            assert has_augmentation == part.architecture.augmentation, part.id
        if part.architecture.dropout is None and part.architecture.augmentation is None:
            assert not has_dropout and not has_augmentation   # listing 5.3 has neither


@pytest.mark.slow
def test_plots_are_non_blank_pngs(quick_run, rubric):
    _, tree, _ = quick_run
    for part in _classifier_parts(rubric):
        for name in (part.canonical_files["plot"], "loss.png"):
            image = Image.open(tree / part.canonical_dir / name)
            assert image.format == "PNG" and image.size[0] >= 400
            pixels = np.asarray(image.convert("L"), dtype=float)
            assert pixels.std() > 5 and len(np.unique(pixels)) > 20, f"{part.id} {name} looks blank"


@pytest.mark.slow
def test_resnet_part_ranks_five_classes_per_image(quick_run, rubric):
    record, tree, data = quick_run
    part = _folder_part(rubric)
    table = pd.read_csv(tree / part.canonical_dir / part.canonical_files["predictions"])
    assert list(table.columns) == ["image", "rank", "wnid", "label", "probability"]
    assert len(table) == 15 and record.parts[part.id].n_images == 3
    index = set(datasets.load_imagenet_class_index(data / "models" / datasets.IMAGENET_CLASS_INDEX))
    for image, rows in table.groupby("image"):
        assert rows["rank"].tolist() == [1, 2, 3, 4, 5]
        assert (np.diff(rows["probability"].to_numpy()) <= 0).all()
        assert all((w, l) in index for w, l in zip(rows["wnid"], rows["label"]))


@pytest.mark.slow
def test_run_record_names_versions_data_hashes_and_refuses_to_make_baselines(quick_run, rubric):
    record, tree, data = quick_run
    saved = reference.load_run_record(tree / "results" / "run.json")
    assert saved == record
    assert set(record.versions) >= {"python", "tensorflow", "keras", "numpy"}
    assert record.parts["6.1"].data_files == {"datasets/mnist.npz": datasets.sha256_of(data / "datasets" / "mnist.npz")}
    assert all(run.seconds > 0 for run in record.parts.values())
    with pytest.raises(ReferenceRunError, match="quick run"):
        reference.baselines(saved, rubric.path)


@pytest.mark.slow
@pytest.mark.parametrize("part_id", ["6.1", "6.3"])
def test_the_notebooks_run_top_to_bottom(quick_run, rubric, monkeypatch, tmp_path, part_id):
    import nbformat

    from reference.notebooks import code_of, notebook_name

    _, tree, data = quick_run
    part = rubric.part(part_id)
    notebook = nbformat.read(tree / notebook_name(part, reference.SOLUTIONS[part_id].notebook), as_version=4)
    code = code_of(notebook)
    if part.input_dirs:
        shutil.copytree(tree / part.input_dirs[0], tmp_path / part.input_dirs[0])
    else:
        assert code.count("QUICK = False") == 1
        code = code.replace("QUICK = False", "QUICK = True")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("GRADER_DATA_DIR", str(data))
    exec(compile(code, f"{part_id}.ipynb", "exec"), {"__name__": "__main__"})
    written = tmp_path / part.canonical_dir / part.canonical_files["predictions"]
    assert written.read_text() == (tree / part.canonical_dir / part.canonical_files["predictions"]).read_text()


@pytest.mark.slow
def test_full_run_of_one_part_and_its_baseline(quick_run, rubric, tmp_path):
    _, _, data = quick_run
    record = reference.run(["6.1"], tmp_path / "out", data, quick=False, rubric=rubric)
    assert not record.quick and record.parts["6.1"].epochs == 5 and record.parts["6.1"].n_train == 5000
    assert record.notebooks == ["6.1_mnist_convnet.ipynb"]
    shutil.copy(rubric.path, tmp_path / "assignment06.toml")
    shutil.copy(Path(rubric.path).parent / rubric.baselines_file, tmp_path / rubric.baselines_file)
    saved = reference.load_run_record(tmp_path / "out" / rubric.folder / "results" / "run.json")
    original = (tmp_path / rubric.baselines_file).read_bytes()
    # A full run, but on the small synthetic test set: not a baseline for real grading.
    with pytest.raises(ReferenceRunError, match=f"scored on {N_TEST} test images, but the rubric's test set has 10000"):
        reference.baselines(saved, tmp_path / "assignment06.toml")
    assert (tmp_path / rubric.baselines_file).read_bytes() == original
    # Scored on a test set of the rubric's size, the same record becomes the part's baseline.
    saved.parts["6.1"].n_test = rubric.dataset_of(rubric.part("6.1")).test_size
    reference.baselines(saved, tmp_path / "assignment06.toml")
    measured = rubric_lib.load(tmp_path / "assignment06.toml").baselines["6.1"]
    assert measured.accuracy == round(record.parts["6.1"].test_accuracy, 4)
    assert measured.run["data_files"] == record.parts["6.1"].data_files


@pytest.mark.slow
@pytest.mark.shared
def test_mnist_reference_on_real_digits(rubric):
    """One epoch on the real test set's first 8,000 digits, scored on its last 2,000.

    In the book's batches of 64 one epoch of 6,400 images (the rest validate)
    is only 100 steps and lands near 0.88; batches of 16 (400 steps) reach 0.94-0.97.
    """
    import keras

    from reference.mnist_convnet import train_mnist_convnet

    folder = SHARED / "data" / "mnist"
    if not (folder / "t10k-images-idx3-ubyte.gz").is_file():
        pytest.skip("../shared/data/mnist is absent")
    dataset = rubric.dataset_of(rubric.part("6.1"))
    x, y = datasets.load_test_set(dataset, folder)
    keras.utils.set_random_seed(0)
    trained = train_mnist_convnet(x[:8000], y[:8000], x[8000:], y[8000:], num_classes=dataset.num_classes,
                                  epochs=1, batch_size=16)
    assert trained.test_accuracy > 0.9
    assert trained.probabilities.shape == (2000, 10)


# ------------------------------------------------------------ fast checks


def test_unknown_parts_and_missing_images_are_refused(rubric, tmp_path):
    with pytest.raises(ReferenceRunError, match="unknown part"):
        reference.run(["6.9"], tmp_path, tmp_path, quick=True, rubric=rubric)
    folder_part = _folder_part(rubric)
    with pytest.raises(ReferenceRunError, match="no images"):
        reference.run([folder_part.id], tmp_path, tmp_path, quick=True, rubric=rubric)


def test_missing_data_stops_the_run_before_any_training(rubric, tmp_path):
    with pytest.raises(datasets.DataMissing, match="grade data fetch"):
        reference.run(["6.1"], tmp_path / "out", tmp_path / "empty", quick=True, rubric=rubric)
    assert not (tmp_path / "out" / rubric.folder / "results").exists()


def test_every_rubric_part_has_a_solution_and_nothing_else_does(rubric):
    assert set(reference.SOLUTIONS) == {p.id for p in rubric.parts}


def test_decode_top_gives_decode_predictions_tuples(monkeypatch, tmp_path):
    from keras.src.applications import imagenet_utils   # where decode_predictions keeps its index

    from reference.resnet50_images import decode_top

    path = CLASS_INDEX if CLASS_INDEX.is_file() else \
        datasets.write_synthetic_data(tmp_path, n_train=10, n_test=10) / "models" / datasets.IMAGENET_CLASS_INDEX
    monkeypatch.setattr(imagenet_utils, "CLASS_INDEX", json.loads(path.read_text()))   # no download
    probabilities = np.random.default_rng(0).dirichlet(np.ones(1000), size=4).astype("float32")
    ours = decode_top(probabilities, path, top=5)
    theirs = imagenet_utils.decode_predictions(probabilities, top=5)
    assert [[(w, l) for w, l, _ in row] for row in ours] == [[(w, l) for w, l, _ in row] for row in theirs]
    assert np.allclose([[p for *_, p in row] for row in ours], [[p for *_, p in row] for row in theirs])


def test_notebooks_carry_the_solution_source(rubric):
    import inspect

    import nbformat

    from reference.cifar10_convnet import (adam_with_cosine_decay, build_plain_convnet, build_regularised_convnet,
                                           regularised_block)
    from reference.notebooks import build_notebook, code_of
    from reference.runner import _solution_function
    from reference.training import training_steps

    for part in rubric.parts:
        notebook = build_notebook(part, rubric, _solution_function(reference.SOLUTIONS[part.id]),
                                  folder_part=part is _folder_part(rubric), seed=0, quick_samples=10, quick_epochs=1)
        nbformat.validate(notebook)
        code = code_of(notebook)
        compile(code, part.id, "exec")
        assert f"PART = RUBRIC.part({part.id!r})" in code
    plain = code_of(build_notebook(rubric.part("6.2a"), rubric, _solution_function(reference.SOLUTIONS["6.2a"]),
                                   folder_part=False, seed=0, quick_samples=10, quick_epochs=1))
    assert inspect.getsource(build_plain_convnet).strip() in plain
    assert "build_regularised_convnet" not in plain and "data_augmentation" not in plain
    assert "def fit_and_evaluate" in plain and "class TrainedModel" in plain
    assert inspect.getsource(build_regularised_convnet) not in plain
    assert "adam_with_cosine_decay" not in plain and "BatchNormalization" not in plain
    regularised = code_of(build_notebook(rubric.part("6.2b"), rubric, _solution_function(reference.SOLUTIONS["6.2b"]),
                                         folder_part=False, seed=0, quick_samples=10, quick_epochs=1))
    for function in (build_regularised_convnet, regularised_block, adam_with_cosine_decay, training_steps):
        assert inspect.getsource(function).strip() in regularised, function.__name__
    assert "LEARNING_RATE = " in regularised and "VALIDATION_SPLIT = " in regularised


def test_the_regularised_schedule_decays_to_zero_over_the_steps_keras_takes():
    from reference.cifar10_convnet import adam_with_cosine_decay
    from reference.training import training_steps

    # 50,000 images less the 20% validation split, in batches of 64: 625 steps an epoch.
    assert training_steps(50_000, 20, 64) == 12_500
    assert training_steps(5_000, 1, 64) == 63          # 4,000 images: the last batch is partial
    import keras

    optimizer = adam_with_cosine_decay(50_000, 20, 64)
    schedule = keras.optimizers.schedules.deserialize(optimizer.get_config()["learning_rate"])   # as saved
    assert isinstance(optimizer, keras.optimizers.Adam)
    assert float(schedule(0)) == pytest.approx(1e-3)
    assert float(schedule(6_250)) == pytest.approx(5e-4, rel=1e-3)
    assert float(schedule(12_500)) == pytest.approx(0, abs=1e-9)


def _record(quick: bool, accuracy: float) -> RunRecord:
    return RunRecord(
        rubric="assignment06", started="2026-01-02T03:04:05+00:00", quick=quick, seed=0,
        versions={"python": "3.11.7", "tensorflow": "2.21.0", "keras": "3.15.1", "numpy": "2.4.6"},
        data_dir="/data", tree="/out/assignment06",
        parts={"6.1": PartRun(part="6.1", seconds=120.5, test_accuracy=accuracy, test_loss=0.03, epochs=5,
                              n_train=60000, n_test=10000, data_files={"datasets/mnist.npz": "ab" * 32})},
    )


def test_baselines_measured_keep_the_margins_and_leave_other_parts(rubric, tmp_path):
    shutil.copy(rubric.path, tmp_path / "assignment06.toml")
    shutil.copy(Path(rubric.path).parent / rubric.baselines_file, tmp_path / rubric.baselines_file)
    before = rubric.baselines["6.1"]
    written = reference.baselines(_record(False, 0.9912), tmp_path / "assignment06.toml")
    assert written == tmp_path / rubric.baselines_file
    after = rubric_lib.load(tmp_path / "assignment06.toml").baselines
    measured = after["6.1"]
    assert measured.accuracy == 0.9912
    assert measured.full_credit_at == pytest.approx(0.9912 - (before.accuracy - before.full_credit_at), abs=1e-4)
    assert measured.zero_credit_at == pytest.approx(0.9912 - (before.accuracy - before.zero_credit_at), abs=1e-4)
    assert measured.provenance.startswith("measured: full reference run on 2026-01-02")
    assert "datasets/mnist.npz " + "ab" * 32 in measured.provenance and "keras 3.15.1" in measured.provenance
    assert measured.run["data_files"] == {"datasets/mnist.npz": "ab" * 32} and measured.run["epochs"] == 5
    for part_id, baseline in rubric.baselines.items():
        if part_id != "6.1":
            assert after[part_id] == baseline
    text = written.read_text()
    assert "keep the margins below the baseline" in text
    reference.baselines(_record(False, 0.9912), tmp_path / "assignment06.toml")
    assert written.read_text() == text      # the rule is stable: rewriting changes nothing


def test_baselines_name_known_data_by_what_it_is(rubric, tmp_path):
    from reference.baselines import KNOWN_DATA

    shutil.copy(rubric.path, tmp_path / "assignment06.toml")
    shutil.copy(Path(rubric.path).parent / rubric.baselines_file, tmp_path / rubric.baselines_file)
    jpeg_test_batch = next(digest for digest, what in KNOWN_DATA.items() if "JPEG copy of CIFAR-10" in what)
    record = _record(False, 0.7789)
    record.parts["6.2b"] = PartRun(part="6.2b", seconds=1834.4, test_accuracy=0.7789, test_loss=0.65, epochs=20,
                                   n_train=50000, n_test=10000,
                                   data_files={"datasets/cifar-10-batches-py/data_batch_1": "cd" * 32,
                                               "datasets/cifar-10-batches-py/test_batch": jpeg_test_batch})
    reference.baselines(record, tmp_path / "assignment06.toml")
    after = rubric_lib.load(tmp_path / "assignment06.toml").baselines
    provenance = after["6.2b"].provenance
    assert "20 epochs on 50000 training images, 1834 s, on the JPEG copy of CIFAR-10 from ../shared" in provenance
    assert f"sha256 {jpeg_test_batch[:8]}…" in provenance and f"test_batch {jpeg_test_batch}" in provenance
    assert after["6.2b"].full_credit_at == pytest.approx(
        0.7789 - (rubric.baselines["6.2b"].accuracy - rubric.baselines["6.2b"].full_credit_at), abs=1e-4)
    assert ", on " not in after["6.1"].provenance       # digests nobody recognises: named by digest alone


def test_baselines_refuse_a_quick_run_and_leave_the_file(rubric, tmp_path):
    shutil.copy(rubric.path, tmp_path / "assignment06.toml")
    shutil.copy(Path(rubric.path).parent / rubric.baselines_file, tmp_path / rubric.baselines_file)
    original = (tmp_path / rubric.baselines_file).read_bytes()
    with pytest.raises(ReferenceRunError, match="without --quick"):
        reference.baselines(_record(True, 0.99), tmp_path / "assignment06.toml")
    assert (tmp_path / rubric.baselines_file).read_bytes() == original


# -------------------------------------------------------------------- pack


def _tree(root: Path) -> Path:
    folder = root / "assignment06"
    for name, content in {
        "results/6.1/metrics.json": "{}",
        "results/6.1/accuracy.png": "png",
        "6.1_mnist_convnet.ipynb": "{}",
        ".ipynb_checkpoints/6.1_mnist_convnet-checkpoint.ipynb": "{}",
        "results/__pycache__/x.pyc": "pyc",
        "results/.DS_Store": "ds",
        "__MACOSX/results/._metrics.json": "mac",
        "results/._accuracy.png": "mac",
    }.items():
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(content)
    return folder


def test_pack_is_deterministic_and_leaves_out_clutter(tmp_path):
    folder = _tree(tmp_path / "src")
    first = pack(folder, tmp_path / "a", "De la Cruz", "José")
    assert first.name == "assignment06_DelaCruzJose.zip"
    with zipfile.ZipFile(first) as archive:
        names = archive.namelist()
        assert names == ["assignment06/6.1_mnist_convnet.ipynb", "assignment06/results/6.1/accuracy.png",
                         "assignment06/results/6.1/metrics.json"]
        assert all(info.date_time == (1980, 1, 1, 0, 0, 0) for info in archive.infolist())
        assert archive.read("assignment06/results/6.1/metrics.json") == b"{}"
    (folder / "results/6.1/metrics.json").touch()    # a new mtime must not change the bytes
    second = pack(tmp_path / "src", tmp_path / "b", "De la Cruz", "José")   # the parent folder works too
    assert hashlib.sha256(first.read_bytes()).digest() == hashlib.sha256(second.read_bytes()).digest()


def test_pack_refuses_a_missing_folder_or_an_empty_name(tmp_path):
    with pytest.raises(FileNotFoundError, match="no such folder"):
        pack(tmp_path / "nothing", tmp_path, "Doe", "Jane")
    folder = _tree(tmp_path)
    with pytest.raises(ValueError, match="no letters or digits"):
        pack(folder, tmp_path, "--", "Jane")
