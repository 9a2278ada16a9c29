"""Academic integrity across a class (grader/integrity): similar code and related models.

A synthetic class built from the shipped example (the reference solutions at
quick settings, submissions/example/assignment06_DoeJane.zip):

- Ada, honest: her own notebooks (not the reference's), the example's models.
- Cole: Ada's notebooks with every name changed and the cells reordered; his
  own 6.2a model, trained from scratch.
- Eve: the reference notebooks plus one cell of her own; Ada's 6.2a model
  trained one more epoch and saved as .h5.
- Sam: only the instructor's starter notebooks, no results.

Graded in the bubblewrap sandbox (the runner returns weight fingerprints), so
the class step runs exactly as after `grade submissions/`. The fast tests at
the end check the statistics and the sandbox figures' validation on their own.
"""

from __future__ import annotations

import json
import math
import re
import shutil
import sys
import zipfile
from pathlib import Path

import nbformat
import numpy as np
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

from grader import rubric as rubric_mod
from grader.evaluate import readback
from grader.integrity import models as model_sim
from grader.integrity.evidence import PartModel

REPO = Path(__file__).resolve().parents[1]
EXAMPLE = REPO / "submissions" / "example" / "assignment06_DoeJane.zip"
ADA, COLE, EVE, SAM = ("assignment06_LovelaceAda.zip", "assignment06_ColeCopy.zip",
                       "assignment06_EpochEve.zip", "assignment06_StarterSam.zip")
HOSTILE_TEXT = "</code></pre><script>alert(1)</script>"
PARTS = {"6.1": "mnist_convnet", "6.2a": "cifar10_convnet", "6.2b": "cifar10_convnet_augmented"}

# ------------------------------------------------------------ the material

STARTER_CELLS = [
    "import numpy as np\nimport matplotlib.pyplot as plt\nimport keras\nfrom keras import layers\n",
    '''def plot_history(history, metric="accuracy", title="training"):
    """Plot a Keras History's training and validation curves and save them."""
    values = history.history[metric]
    validation = history.history["val_" + metric]
    epochs = range(1, len(values) + 1)
    plt.figure(figsize=(6, 4))
    plt.plot(epochs, values, "bo", label="training " + metric)
    plt.plot(epochs, validation, "b", label="validation " + metric)
    plt.title(title + ": " + metric)
    plt.xlabel("epoch")
    plt.legend()
    plt.savefig("results/" + title + "/" + metric + ".png")
    plt.close()
''',
    '''def save_results(model, x_test, y_test, part):
    """Save the model, the predictions and the test metrics where the grader looks."""
    import json, os
    os.makedirs("results/" + part, exist_ok=True)
    model.save("results/" + part + "/model.keras")
    test_loss, test_accuracy = model.evaluate(x_test, y_test, verbose=0)
    with open("results/" + part + "/metrics.json", "w") as handle:
        json.dump({"test_loss": test_loss, "test_accuracy": test_accuracy}, handle)
''',
]

# Ada's own solutions: cells in order (imports and helpers first, then the work).
ADA_CELLS = {
    "6.1": [
        '''(train_images, train_labels), (test_images, test_labels) = keras.datasets.mnist.load_data()
train_images = train_images.reshape((-1, 28, 28, 1)).astype("float32") / 255.0
test_images = test_images.reshape((-1, 28, 28, 1)).astype("float32") / 255.0
print(train_images.shape, test_images.shape)
''',
        '''def conv_block(tensor, filters, pool=True):
    tensor = layers.Conv2D(filters, 3, padding="valid", activation="relu")(tensor)
    if pool:
        tensor = layers.MaxPooling2D(pool_size=2)(tensor)
    return tensor


def make_digit_network(num_classes=10):
    inputs = keras.Input(shape=(28, 28, 1))
    hidden = conv_block(inputs, 32)
    hidden = conv_block(hidden, 64)
    hidden = conv_block(hidden, 64, pool=False)
    hidden = layers.Flatten()(hidden)
    hidden = layers.Dense(64, activation="relu")(hidden)
    outputs = layers.Dense(num_classes, activation="softmax")(hidden)
    return keras.Model(inputs, outputs)
''',
        f'''digit_network = make_digit_network()
digit_network.compile(optimizer=keras.optimizers.RMSprop(learning_rate=1e-3),
                      loss="sparse_categorical_crossentropy", metrics=["accuracy"])
digit_history = digit_network.fit(train_images, train_labels, epochs=5, batch_size=64,
                                  validation_split=0.2)
plot_history(digit_history, "accuracy", "6.1")
plot_history(digit_history, "loss", "6.1")
note = "{HOSTILE_TEXT}"
''',
        '''probabilities = digit_network.predict(test_images)
predicted_digits = np.argmax(probabilities, axis=1)
for index in range(5):
    print("image", index, "true", test_labels[index], "predicted", predicted_digits[index])
save_results(digit_network, test_images, test_labels, "6.1")
''',
    ],
    "6.2a": [
        '''(cifar_train_x, cifar_train_y), (cifar_test_x, cifar_test_y) = keras.datasets.cifar10.load_data()
cifar_train_x = cifar_train_x.astype("float32") / 255.0
cifar_test_x = cifar_test_x.astype("float32") / 255.0
cifar_train_y = cifar_train_y.ravel()
cifar_test_y = cifar_test_y.ravel()
''',
        '''def stacked_blocks(widths, input_shape=(32, 32, 3)):
    network = keras.Sequential([keras.Input(shape=input_shape)])
    for width in widths:
        network.add(layers.Conv2D(width, (3, 3), activation="relu"))
        network.add(layers.MaxPooling2D((2, 2)))
    network.add(layers.Flatten())
    network.add(layers.Dense(512, activation="relu"))
    network.add(layers.Dense(10, activation="softmax"))
    return network
''',
        '''plain_network = stacked_blocks([32, 64, 128])
plain_network.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
plain_history = plain_network.fit(cifar_train_x, cifar_train_y, epochs=20, batch_size=64,
                                  validation_data=(cifar_test_x[:2000], cifar_test_y[:2000]))
plot_history(plain_history, "accuracy", "6.2a")
plot_history(plain_history, "loss", "6.2a")
save_results(plain_network, cifar_test_x, cifar_test_y, "6.2a")
''',
    ],
    "6.2b": [
        '''augmenter = keras.Sequential([layers.RandomFlip("horizontal"), layers.RandomRotation(0.1),
                             layers.RandomZoom(0.2)], name="augmenter")
regular_inputs = keras.Input(shape=(32, 32, 3))
regular_hidden = augmenter(regular_inputs)
for regular_width in (32, 64, 128):
    regular_hidden = layers.Conv2D(regular_width, 3, activation="relu")(regular_hidden)
    regular_hidden = layers.MaxPooling2D(2)(regular_hidden)
regular_hidden = layers.Flatten()(regular_hidden)
regular_hidden = layers.Dropout(0.5)(regular_hidden)
regular_hidden = layers.Dense(512, activation="relu")(regular_hidden)
regular_outputs = layers.Dense(10, activation="softmax")(regular_hidden)
regular_network = keras.Model(regular_inputs, regular_outputs)
''',
        '''regular_network.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
regular_history = regular_network.fit(cifar_train_x, cifar_train_y, epochs=40, batch_size=64,
                                      validation_split=0.2)
plot_history(regular_history, "accuracy", "6.2b")
plot_history(regular_history, "loss", "6.2b")
save_results(regular_network, cifar_test_x, cifar_test_y, "6.2b")
''',
    ],
}

# How Cole hid the copy: other names for everything Ada named.
COLE_NAMES = {
    "train_images": "x_tr", "train_labels": "y_tr", "test_images": "x_te", "test_labels": "y_te",
    "conv_block": "add_conv", "tensor": "t", "filters": "n_filters", "pool": "do_pool",
    "make_digit_network": "get_model", "hidden": "h", "outputs": "out", "inputs": "inp",
    "digit_network": "net", "digit_history": "hist", "probabilities": "probs", "predicted_digits": "preds",
    "index": "i", "cifar_train_x": "xtrain", "cifar_train_y": "ytrain", "cifar_test_x": "xtest",
    "cifar_test_y": "ytest", "stacked_blocks": "build_cnn", "widths": "sizes", "width": "size",
    "network": "cnn", "plain_network": "model_a", "plain_history": "history_a", "augmenter": "aug",
    "regular_inputs": "inputs_b", "regular_hidden": "x_b", "regular_width": "w_b",
    "regular_outputs": "outputs_b", "regular_network": "model_b", "regular_history": "history_b",
}


def _renamed(code: str) -> str:
    for old in sorted(COLE_NAMES, key=len, reverse=True):
        code = re.sub(rf"\b{old}\b", COLE_NAMES[old], code)
    return code


def _notebook(path: Path, title: str, cells: list[str]) -> None:
    notebook = new_notebook(cells=[new_markdown_cell(f"# {title}")] + [new_code_cell(c) for c in cells])
    notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(notebook, str(path))


def _strip_to_classifiers(tree: Path) -> None:
    """No 6.3 (its ResNet50 run is not what these tests are about) and no run record."""
    for path in ["6.3_resnet50_images.ipynb", "images", "results/predictions", "results/run.json"]:
        target = tree / path
        if target.is_dir():
            shutil.rmtree(target)
        elif target.exists():
            target.unlink()


def _cifar_training(data_dir: Path, count: int = 5000):
    from grader.datasets import load_train_set

    rubric = rubric_mod.load()
    x, y = load_train_set(rubric.datasets[rubric.part("6.2a").dataset], data_dir)
    return x[:count].astype("float32") / 255.0, y[:count]


def _one_more_epoch(model_path: Path, target: Path, data_dir: Path) -> None:
    import keras

    keras.utils.set_random_seed(7)
    model = keras.models.load_model(model_path)
    model.compile(optimizer="rmsprop", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    x, y = _cifar_training(data_dir)
    model.fit(x, y, epochs=1, batch_size=64, verbose=0)
    model.save(target)     # .h5: the copy is re-saved in another format too


def _trained_from_scratch(model_path: Path, target: Path, data_dir: Path) -> None:
    import keras

    keras.utils.set_random_seed(1234)
    fresh = keras.models.clone_model(keras.models.load_model(model_path))
    fresh.compile(optimizer="rmsprop", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    x, y = _cifar_training(data_dir)
    fresh.fit(x, y, epochs=1, batch_size=64, verbose=0)
    fresh.save(target)


@pytest.fixture(scope="module")
def material(tmp_path_factory):
    """The starter notebooks, the reference notebooks and the four archives."""
    from grader.datasets import ensure_synthetic_data
    from reference.pack import pack

    base = tmp_path_factory.mktemp("integrity")
    data_dir = ensure_synthetic_data(0)
    example = base / "example"
    with zipfile.ZipFile(EXAMPLE) as archive:
        archive.extractall(example)
    tree = example / "assignment06"
    _strip_to_classifiers(tree)
    reference_dir = base / "instructor" / "reference"
    starter_dir = base / "instructor" / "starter"
    reference_dir.mkdir(parents=True)
    starter_dir.mkdir(parents=True)
    for part, stem in PARTS.items():
        shutil.copy(tree / f"{part}_{stem}.ipynb", reference_dir)
        _notebook(starter_dir / f"{part}_{stem}.ipynb", f"Assignment {part} (starter)", STARTER_CELLS)
    subs = base / "submissions"
    subs.mkdir()

    def student(name: str) -> Path:
        folder = base / name / "assignment06"
        shutil.copytree(tree, folder)
        return folder

    ada = student("ada")
    for part, stem in PARTS.items():
        _notebook(ada / f"{part}_{stem}.ipynb", f"Assignment {part}", STARTER_CELLS + ADA_CELLS[part])
    pack(ada, subs, "Lovelace", "Ada")

    cole = student("cole")
    for part, stem in PARTS.items():
        own = [_renamed(c) for c in ADA_CELLS[part]]
        own = own[1:] + own[:1]          # the cells in another order
        _notebook(cole / f"{part}_{stem}.ipynb", f"Assignment {part}", STARTER_CELLS[::-1] + own)
    for part in ("6.1", "6.2b"):
        shutil.rmtree(cole / "results" / part)
    _trained_from_scratch(tree / "results/6.2a/model.keras", base / "cole.keras", data_dir)
    shutil.move(base / "cole.keras", cole / "results/6.2a/model.keras")
    pack(cole, subs, "Cole", "Copy")

    eve = student("eve")
    for part in ("6.1", "6.2b"):
        shutil.rmtree(eve / "results" / part)
    (eve / "results/6.2a/model.keras").unlink()
    _one_more_epoch(tree / "results/6.2a/model.keras", eve / "results/6.2a/model.h5", data_dir)
    notebook = nbformat.read(str(eve / "6.2a_cifar10_convnet.ipynb"), as_version=4)
    notebook.cells.append(new_code_cell(
        "model = keras.models.load_model('results/6.2a/model.keras')\n"
        "model.fit(x_train, y_train, epochs=1)\nmodel.save('results/6.2a/model.h5')\n"))
    nbformat.write(notebook, str(eve / "6.2a_cifar10_convnet.ipynb"))
    pack(eve, subs, "Epoch", "Eve")

    sam = base / "sam" / "assignment06"
    sam.mkdir(parents=True)
    for part, stem in PARTS.items():
        shutil.copy(starter_dir / f"{part}_{stem}.ipynb", sam)
    pack(sam, subs, "Starter", "Sam")
    return {"base": base, "subs": subs, "data_dir": data_dir, "reference": reference_dir, "starter": starter_dir}


def _rubric(material, base=None):
    rubric = rubric_mod.load()
    paths = [str(material["starter"]), str(material["reference"])] if base is None else base
    return rubric.model_copy(update={"integrity": rubric.integrity.model_copy(update={"base": paths})})


@pytest.fixture(scope="module")
def graded(material):
    from grader.batch import find_archives, grade_batch
    from grader.evaluate import SandboxUnavailable, choose_backend
    from grader.pipeline import load_test_data

    try:
        backend = choose_backend("bwrap")
    except SandboxUnavailable as exc:
        pytest.skip(f"bwrap sandbox unavailable: {exc}")
    rubric = _rubric(material)
    out = material["base"] / "grades"
    summary = grade_batch(find_archives(material["subs"]), out, rubric, backend,
                          load_test_data(rubric, material["data_dir"]), jobs=2)
    pairs = json.loads((out / "integrity" / "pairs.json").read_text())
    return {"summary": summary, "out": out, "pairs": pairs, "rubric": rubric}


def _pair(pairs: dict, one: str, other: str) -> dict | None:
    for pair in pairs["pairs"]:
        if {pair["left"]["archive"], pair["right"]["archive"]} == {one, other}:
            return pair
    return None


def _paired(pairs: dict) -> set[frozenset[str]]:
    return {frozenset((p["left"]["archive"], p["right"]["archive"])) for p in pairs["pairs"]}


@pytest.mark.slow
@pytest.mark.bwrap
def test_exactly_the_copier_and_the_extra_epoch_are_paired(graded):
    pairs = graded["pairs"]
    assert pairs["submissions"] == 4 and pairs["without_evidence"] == [] and pairs["problems"] == []
    assert len(pairs["base_files"]) == 6
    assert _paired(pairs) == {frozenset((ADA, COLE)), frozenset((ADA, EVE))}


@pytest.mark.slow
@pytest.mark.bwrap
def test_renamed_and_reordered_code_is_found_per_part(graded):
    pair = _pair(graded["pairs"], ADA, COLE)
    assert sorted(pair["parts"]) == ["6.1", "6.2a", "6.2b"]
    for part, figures in pair["parts"].items():
        code = figures["code"]
        assert code["score"] >= 0.8, (part, code)           # of the smaller side's code (±0.02 between runs: copydetect hashes with the salted hash())
        assert min(code["similarity"]) >= 0.6, (part, code)  # the cell boundaries moved
        assert code["matching_characters"] >= 200
        assert figures["weights"] is None and figures["predictions"] is None   # Cole trained his own 6.2a
    print("Ada-Cole code:", {p: f["code"]["similarity"] for p, f in pair["parts"].items()})


@pytest.mark.slow
@pytest.mark.bwrap
def test_a_model_trained_one_more_epoch_is_related_by_weights_and_errors(graded):
    pair = _pair(graded["pairs"], ADA, EVE)
    assert list(pair["parts"]) == ["6.2a"]
    figures = pair["parts"]["6.2a"]
    assert figures["code"] is None        # Eve's notebook is the reference's, which is boilerplate
    weights, predictions = figures["weights"], figures["predictions"]
    print("Ada-Eve 6.2a:", weights, predictions)
    assert weights["tensors"] == 10                      # 5 layers with weights, kernel and bias each
    assert weights["median_cosine"] >= 0.95 and weights["min_cosine"] > 0.5, weights
    assert predictions["n"] == 10_000 and predictions["pairs_tested"] == 3    # Ada, Cole, Eve have 6.2a models
    # The synthetic CIFAR errors crowd into a few confusions, so even independence
    # expects hundreds of shared wrong labels; the copy shares far more.
    assert predictions["shared_errors"] >= 100
    assert predictions["z"] >= 5
    assert predictions["error_overlap"] >= 0.5
    assert predictions["log10_p"] < -5
    assert predictions["agreement"] > predictions["expected_agreement"]


@pytest.mark.slow
@pytest.mark.bwrap
def test_independent_models_are_not_related(graded):
    """Cole's 6.2a was trained from scratch: the figures that would pair it stay low."""
    from grader.integrity.evidence import read_all
    from grader.integrity.pairs import compare_class

    evidence, missing = read_all(graded["out"], ["assignment06_LovelaceAda", "assignment06_ColeCopy"])
    assert missing == []
    ada, cole = (e.models["6.2a"] for e in evidence)
    assert len(ada.fingerprints) == len(cole.fingerprints) == 10
    cosines = [np.dot(a["projection"], b["projection"])
               / (np.linalg.norm(a["projection"]) * np.linalg.norm(b["projection"]))
               for a, b in zip(ada.fingerprints, cole.fingerprints)]
    assert abs(float(np.median(cosines))) < 0.5, cosines
    [stats] = model_sim.agreement_statistics({0: ada, 1: cole}, "6.2a", 10)
    assert stats.error_overlap < 0.5, stats
    assert compare_class(evidence, graded["rubric"]).pairs[0].parts["6.2a"].predictions is None


@pytest.mark.slow
@pytest.mark.bwrap
def test_the_starter_code_only_student_is_paired_with_no_one(graded, material):
    from grader.integrity.evidence import read_all
    from grader.integrity.pairs import compare_class

    assert not any(SAM in pair for pair in _paired(graded["pairs"]))
    # Without the base files, keeping the template would pair Sam with everyone who kept it
    # (Eve started from the reference notebooks instead).
    stems = ["assignment06_LovelaceAda", "assignment06_ColeCopy", "assignment06_EpochEve", "assignment06_StarterSam"]
    evidence, _ = read_all(graded["out"], stems)
    unguarded = compare_class(evidence, _rubric(material, base=[]))
    sams = {frozenset((evidence[p.left].archive, evidence[p.right].archive)) for p in unguarded.pairs
            if SAM in (evidence[p.left].archive, evidence[p.right].archive)}
    assert sams == {frozenset((SAM, other)) for other in (ADA, COLE)}


@pytest.mark.slow
@pytest.mark.bwrap
def test_scores_and_student_reports_are_untouched(graded):
    out = graded["out"]
    records = {p.name: json.loads(p.read_text()) for p in (out / "results").glob("*.json")}
    part_keys = {"id", "title", "score", "max_score", "checks", "recomputed", "reported", "found"}
    for record in records.values():
        assert all(set(part) <= part_keys for part in record["parts"].values())
        assert "fingerprint" not in json.dumps(record)
    # Eve's 6.2a (Ada's model one epoch on) keeps its own grade
    assert records["assignment06_EpochEve.json"]["parts"]["6.2a"]["recomputed"]["accuracy"] > 0.85
    # Every student's own files (report, Gradescope results) name no other student and show none of their code.
    own_words = {ADA: ("Lovelace", "digit_network", "make_digit_network"), COLE: ("Cole", "get_model", "net.compile"),
                 EVE: ("Epoch",), SAM: ("Starter",)}
    for archive in own_words:
        stem = archive.removesuffix(".zip")
        for path in (out / "reports" / f"{stem}.html", out / "gradescope" / stem / "results.json"):
            text = path.read_text()
            assert own_words[archive][0] in text, path
            for other in set(own_words) - {archive}:
                for word in own_words[other] + (other.removesuffix(".zip"),):
                    assert word not in text, (path, word)
            assert 'id="integrity"' not in text and "integrity/pairs" not in text, path
    summary = (out / "index.html").read_text()
    assert 'id="integrity"' in summary
    assert summary.count('class="integrity-pair"') == 4          # Ada-Cole in 3 parts, Ada-Eve in one
    # Each row shows the figures pairs.json holds, and the base files were named, so no note about them.
    rows = re.findall(r'data-left="([^"]+)" data-right="([^"]+)" data-part="([^"]+)"\s+data-code="([^"]*)" '
                      r'data-weights="([^"]*)"\s+data-shared-errors="([^"]*)"', summary)
    shown = {(frozenset((left, right)), part): (code, weights, shared) for left, right, part, code, weights, shared in rows}
    expected = {}
    for pair in graded["pairs"]["pairs"]:
        for part, f in pair["parts"].items():
            expected[(frozenset((pair["left"]["archive"], pair["right"]["archive"])), part)] = (
                f"{f['code']['score']:.4f}" if f["code"] else "", f"{f['weights']['median_cosine']:.4f}" if f["weights"] else "",
                str(f["predictions"]["shared_errors"]) if f["predictions"] else "")
    assert shown == expected and len(shown) == 4
    # The share of the fewer errors, the figure that decides a predictions pair, is in its cell.
    for pair in graded["pairs"]["pairs"]:
        for f in pair["parts"].values():
            if f["predictions"]:
                assert f"{f['predictions']['shared_errors']} same wrong labels, " \
                       f"{100 * f['predictions']['error_overlap']:.0f}% of the fewer errors (expected" in summary
    assert "integrity-problem" not in summary
    assert "assignment06_LovelaceAda__assignment06_ColeCopy.html" in summary \
        or "assignment06_ColeCopy__assignment06_LovelaceAda.html" in summary


@pytest.mark.slow
@pytest.mark.bwrap
def test_rescore_compares_the_class_again_from_stored_records(graded):
    from grader.batch import rescore

    out = graded["out"]
    before = graded["pairs"]
    (out / "integrity" / "pairs.json").unlink()
    shutil.rmtree(out / "work")          # no extracted file is needed any more
    grades_csv = (out / "grades.csv").read_text()
    rescore(out, graded["rubric"])
    after = json.loads((out / "integrity" / "pairs.json").read_text())
    assert after["pairs"] == before["pairs"]
    # Nothing the comparison finds changes a score: without it, every grade is the same.
    rubric = graded["rubric"]
    rescore(out, rubric.model_copy(update={"integrity": rubric.integrity.model_copy(update={"enabled": False})}))
    assert not (out / "integrity" / "pairs.json").exists()
    assert (out / "grades.csv").read_text() == grades_csv
    assert "Code and models were not compared across the class" in (out / "index.html").read_text()
    rescore(out, rubric)
    assert (out / "grades.csv").read_text() == grades_csv
    assert json.loads((out / "integrity" / "pairs.json").read_text())["pairs"] == before["pairs"]


@pytest.mark.slow
@pytest.mark.bwrap
@pytest.mark.browser
def test_side_by_side_page_renders_escaped_in_chromium(graded, tmp_path):
    pytest.importorskip("playwright.sync_api")
    from playwright.sync_api import sync_playwright

    chromium = Path("/usr/bin/chromium")
    if not chromium.exists():
        pytest.skip("Debian chromium is not installed (apt-get install chromium)")
    out = graded["out"]
    page_path = out / _pair(graded["pairs"], ADA, COLE)["page"]
    html = page_path.read_text()
    assert "<script" not in html and "script-src" not in html
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from test_report_browser import CHROMIUM_ARGS

    with sync_playwright() as manager:
        try:
            browser = manager.chromium.launch(executable_path=str(chromium), headless=True, args=CHROMIUM_ARGS)
        except Exception as exc:  # the system browser may not match this Playwright
            pytest.skip(f"Playwright could not launch {chromium}: {exc}")
        page = browser.new_page(viewport={"width": 1400, "height": 900})
        dialogs, errors = [], []
        page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.goto(page_path.as_uri(), wait_until="load")
        page.wait_for_timeout(200)
        assert "Lovelace, Ada" in page.title() and "Cole, Copy" in page.title()
        assert page.locator("section.integrity-part").count() == 3
        assert page.locator("script").count() == 0
        assert page.locator("#part-6\\.1 .code-column").count() == 2
        assert page.locator("#part-6\\.1 mark.match").count() >= 2
        ada_column = page.locator(f"#part-6\\.1 .code-column[data-archive='{ADA}']")
        cole_column = page.locator(f"#part-6\\.1 .code-column[data-archive='{COLE}']")
        ada_text = ada_column.inner_text()
        assert HOSTILE_TEXT in ada_text and "digit_network" in ada_text
        assert "net.compile" in cole_column.inner_text()
        marked = " ".join(ada_column.locator("mark.match").all_inner_texts())
        assert "Conv2D" in marked and "digit_network" in marked
        assert dialogs == [] and errors == []
        page.screenshot(path=str(tmp_path / "side_by_side.png"), full_page=True)
        page.click("a:has-text('back to the class summary')")
        page.wait_for_load_state("load")
        assert page.url.endswith("/index.html#integrity")
        browser.close()


# ---------------------------------------------------- fast: the statistics


def _runner():
    sys.path.insert(0, str(REPO / "grader" / "evaluate" / "runtime"))
    import runner

    return runner


def test_weight_fingerprints_keep_cosines_and_ignore_scale():
    runner = _runner()
    rng = np.random.default_rng(0)
    kernel = rng.standard_normal((3, 3, 32, 64)).astype("float32")
    nudged = kernel + 0.05 * rng.standard_normal(kernel.shape).astype("float32")
    other = rng.standard_normal(kernel.shape).astype("float32")
    prints = [runner.tensor_fingerprint("conv/kernel", w) for w in (kernel, nudged, other, 3 * kernel)]
    unit = [np.array(p["projection"]) / np.linalg.norm(p["projection"]) for p in prints]
    assert unit[0] @ unit[1] > 0.99
    assert abs(unit[0] @ unit[2]) < 0.6
    assert unit[0] @ unit[3] == pytest.approx(1.0)
    assert prints[0]["norm"] == pytest.approx(float(np.linalg.norm(kernel)), rel=1e-5)
    assert prints[0]["shape"] == [3, 3, 32, 64] and prints[0]["stride"] == 1
    assert readback.weight_fingerprints(json.loads(json.dumps(prints))) == json.loads(json.dumps(prints))


@pytest.mark.parametrize("bad", [
    "not a list", [{"name": "k", "shape": [3], "stride": 1, "norm": 1.0, "projection": [0.0] * 5}],
    [{"name": "k", "shape": [3], "stride": 1, "norm": -1.0, "projection": [0.0] * 32}],
    [{"name": "k", "shape": "3x3", "stride": 1, "norm": 1.0, "projection": [0.0] * 32}],
    [{"name": "k", "shape": [3], "stride": 1, "norm": 1.0, "projection": ["1"] * 32}],
    [{"name": "k", "shape": [3], "stride": 1, "norm": 1.0, "projection": [0.0] * 32}] * 201,
])
def test_malformed_fingerprints_from_the_sandbox_are_dropped(bad):
    with pytest.raises(readback.Malformed):
        readback.weight_fingerprints(bad)
    assert readback.optional_weight_fingerprints(bad) == []


def test_poisson_tail_matches_the_closed_form():
    # P(X >= 1) = 1 - e^-m; P(X >= 2) = 1 - e^-m (1 + m)
    assert 10 ** model_sim.poisson_log10_tail(1, 0.5) == pytest.approx(1 - math.exp(-0.5))
    assert 10 ** model_sim.poisson_log10_tail(2, 3.0) == pytest.approx(1 - math.exp(-3.0) * 4.0)
    assert model_sim.poisson_log10_tail(300, 2.0) < -300     # far tails stay finite in log space


def _part_model(predicted, truth, num_classes=10) -> PartModel:
    confusion = np.zeros((num_classes, num_classes), dtype=int)
    np.add.at(confusion, (truth, predicted), 1)
    return PartModel(predicted=np.asarray(predicted), correct=np.asarray(predicted) == truth,
                     confusion=confusion.tolist())


def test_agreement_statistic_separates_a_copy_from_independent_errors():
    rng = np.random.default_rng(3)
    truth = rng.integers(0, 10, 5000)

    def erring(rate, seed):
        own = np.random.default_rng(seed)
        predicted = truth.copy()
        wrong = own.random(truth.size) < rate
        predicted[wrong] = (truth[wrong] + own.integers(1, 10, wrong.sum())) % 10
        return predicted

    honest_a, honest_b = erring(0.1, 1), erring(0.1, 2)
    copy = honest_a.copy()
    flip = rng.random(truth.size) < 0.02          # a few images changed by the extra epoch
    copy[flip] = truth[flip]
    stats = {frozenset((m.left, m.right)): m for m in model_sim.agreement_statistics(
        {0: _part_model(honest_a, truth), 1: _part_model(honest_b, truth), 2: _part_model(copy, truth)}, "p", 10)}
    honest, copied = stats[frozenset((0, 1))], stats[frozenset((0, 2))]
    # independent errors: about n (1-a1)(1-a2)/(K-1) = 5000 * 0.01 / 9 ≈ 5.6 shared wrong labels
    assert honest.expected_shared == pytest.approx(5.6, abs=1.5)
    assert abs(honest.shared_errors - honest.expected_shared) < 4 * math.sqrt(honest.expected_shared) + 1
    assert not model_sim.far_beyond_chance(honest, 1e-3, 0.5, 10)
    assert copied.error_overlap > 0.75 and copied.log10_p < -100
    assert model_sim.far_beyond_chance(copied, 1e-3, 0.5, 10)
    assert copied.expected_agreement == pytest.approx(copied.accuracy[0] * copied.accuracy[1]
                                                      + (1 - copied.accuracy[0]) * (1 - copied.accuracy[1]) / 9)


# ------------------------------------------- real: the pair the issue names


@pytest.mark.slow
@pytest.mark.shared
@pytest.mark.bwrap
def test_two_real_submissions_with_models_of_identical_size(shared_dir, shared_cifar10_dir, tmp_path):
    """santosh0924 and vinaynagaraj88 handed in models of byte-identical sizes
    (793,080 / 637,208 / 638,048 bytes), never byte-identical files. The sample
    holds no notebooks, so only the models can be compared: graded on the real
    MNIST test set and the JPEG copy of CIFAR-10, these are the figures."""
    from grader.batch import find_archives, grade_batch
    from grader.evaluate import SandboxUnavailable, choose_backend
    from grader.pipeline import load_test_data
    from tests.conftest import zip_folder
    from tests.test_real_cifar import _data_folder

    try:
        backend = choose_backend("bwrap")
    except SandboxUnavailable as exc:
        pytest.skip(f"bwrap sandbox unavailable: {exc}")
    samples = shared_dir / "real-world-samples"
    subs = tmp_path / "subs"
    subs.mkdir()
    for owner, name in (("santosh0924", "SantoshStudent"), ("vinaynagaraj88", "VinayStudent")):
        zip_folder(samples / owner / "assignment06_from_submission_zip", subs / f"assignment06_{name}.zip",
                   top="assignment06")
    rubric = rubric_mod.load()
    out = tmp_path / "grades"
    grade_batch(find_archives(subs), out, rubric, backend,
                load_test_data(rubric, _data_folder(tmp_path / "data", shared_cifar10_dir)), jobs=2)
    pairs = json.loads((out / "integrity" / "pairs.json").read_text())
    from grader.integrity.evidence import read_all

    evidence, missing = read_all(out, ["assignment06_SantoshStudent", "assignment06_VinayStudent"])
    assert missing == []
    figures = {}
    for part in ("6.1", "6.2a", "6.2b"):
        left, right = evidence[0].models[part], evidence[1].models[part]
        cosines = [np.dot(a["projection"], b["projection"])
                   / (np.linalg.norm(a["projection"]) * np.linalg.norm(b["projection"]) or 1.0)
                   for a, b in zip(left.fingerprints, right.fingerprints)]
        [stats] = model_sim.agreement_statistics({0: left, 1: right}, part, 10)
        print(part, "tensors", len(left.fingerprints), len(right.fingerprints), "median cosine",
              round(float(np.median(cosines)), 4), "shared errors", stats.shared_errors, "expected",
              round(stats.expected_shared, 1), "errors", stats.errors, "overlap", round(stats.error_overlap, 3),
              "log10 p", round(stats.log10_p, 1))
        assert len(left.fingerprints) == len(right.fingerprints) == 10    # the same architecture
        assert abs(float(np.median(cosines))) < 0.4                          # but not the same weights
        figures[part] = stats
    # Measured here: 6.1, 33 of the fewer 68 errors shared (0.1 expected): the hard digits are hard for
    # everyone, which is why the statistic alone flags nothing; 6.2a, 1,084 of 4,078 (26%).
    assert figures["6.1"].shared_errors == pytest.approx(33, abs=3)
    assert figures["6.2a"].error_overlap == pytest.approx(0.266, abs=0.02)
    # 6.2b: both 55% accurate, the same label on 78% of the images (32% expected), 2,969 of the
    # fewer 4,478 errors with the same wrong label (589 expected): reported, on predictions only.
    [pair] = pairs["pairs"]
    assert "6.2a" not in pair["parts"]
    reported = pair["parts"]["6.2b"]
    assert reported["code"] is None and reported["weights"] is None
    assert reported["predictions"]["shared_errors"] == pytest.approx(2969, abs=15)
    assert reported["predictions"]["expected_shared_errors"] == pytest.approx(589.2, abs=5)
    assert reported["predictions"]["agreement"] == pytest.approx(0.7827, abs=0.003)
    assert reported["predictions"]["log10_p"] < -1000


# ------------------------------------ fast: a large class without base files


def _benchmark():
    import importlib.util

    spec = importlib.util.spec_from_file_location("integrity_scale", REPO / "benchmarks" / "integrity_scale.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_code_most_of_a_large_class_holds_is_left_out_of_the_similarity(tmp_path):
    """25 students who all kept the starter cells, which the rubric does not name
    as base files: 22 wrote 60 lines of their own, S22 only six, S23 copied five
    of S22's lines (and wrote two), S24 renamed S00's code. The template is held
    by the whole class, so it is left out of copydetect's figures as well as the
    candidate index (MOSS's -m): S24-S00 is reported with the figures the named
    base file gives, and S22-S23, whose shared own code is 100 characters, is not
    (with the template counted it was 82% with 282 matching characters)."""
    from grader.integrity.code import NO_BASE
    from grader.integrity.evidence import Evidence, SourceFile, code_by_part
    from grader.integrity.pairs import compare_class, to_dict
    from grader.records import Student

    bench = _benchmark()
    rng = __import__("random").Random(1)
    own = [bench.student_code(rng, 60) for _ in range(22)]
    own.append(bench.student_code(rng, 6))
    own.append("\n".join(own[22].splitlines()[:5]) + "\n" + bench.student_code(rng, 2))
    own.append(bench.renamed(own[0], rng))
    evidence = []
    for n, code in enumerate(own):
        e = Evidence(f"assignment06_S{n:02d}.zip", Student(f"S{n:02d}", "Test", source=f"S{n:02d}"))
        e.code = code_by_part([SourceFile("6.1.ipynb", "6.1", f"# In[1]:\n{bench.STARTER}\n\n# In[2]:\n{code}")])
        evidence.append(e)
    rubric = rubric_mod.load()
    starter = tmp_path / "starter.py"
    starter.write_text(bench.STARTER)

    def reported(base: list[str], **settings) -> tuple[dict, dict]:
        integrity = rubric.integrity.model_copy(update={"base": base, **settings})
        data = to_dict(compare_class(evidence, rubric.model_copy(update={"integrity": integrity})), ["6.1"])
        return {frozenset(int(p[s]["archive"][14:16]) for s in ("left", "right")): p["parts"]["6.1"]["code"]
                for p in data["pairs"]}, data

    unnamed, data = reported([])
    assert data["problems"] == [NO_BASE.format(min_class=20)]
    named, data = reported([str(starter)])
    assert data["problems"] == []
    assert set(unnamed) == set(named) == {frozenset((0, 24))}
    assert unnamed[frozenset((0, 24))] == named[frozenset((0, 24))]
    assert named[frozenset((0, 24))]["score"] == 1.0 and named[frozenset((0, 24))]["matching_characters"] > 1500
    # A class too small for "most of the class" to mean anything: the template counts, S22-S23 is reported.
    small, _ = reported([], common_min_class=100)
    assert small[frozenset((22, 23))]["score"] > 0.75 and small[frozenset((22, 23))]["matching_characters"] > 250


def test_grade_says_how_many_pairs_to_look_at(tmp_path, capsys):
    """The run's last lines name the pairs and where they are, and what the comparison could not do."""
    from grader.cli import _print_integrity

    integrity = tmp_path / "integrity"
    integrity.mkdir()
    pair = {"left": {"student": "Lovelace, Ada", "archive": "a.zip"},
            "right": {"student": "Cole, Copy", "archive": "b.zip"}, "parts": {}, "page": "pairs/a__b.html"}
    (integrity / "pairs.json").write_text(json.dumps({"pairs": [pair, pair], "problems": ["no base files are named"]}))
    _print_integrity(tmp_path)
    captured = capsys.readouterr()
    assert "Integrity: 2 pair(s) of students to look at" in captured.out and "nothing was deducted" in captured.out
    assert "integrity: no base files are named" in captured.err
    (integrity / "pairs.json").write_text(json.dumps({"pairs": [], "problems": []}))
    _print_integrity(tmp_path)
    assert "Integrity" not in capsys.readouterr().out
