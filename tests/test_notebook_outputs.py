"""Reported test accuracy read from notebooks' saved outputs (issue 9, item 6).

The notebooks are written here with nbformat, in the style students wrote in
2020-2023 (Keras 2, Chollet's listings, TensorFlow 2 progress bars); they are
read as JSON and never executed.
"""

from __future__ import annotations

import json
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook, new_output

from grader import rubric as rubric_mod
from grader.pipeline import check_submission
from grader.readers import read_notebook, reported_figures
from grader.rerun import reported_accuracies

BAR = "=" * 30


@pytest.fixture(scope="module")
def rubric():
    return rubric_mod.load()


# ------------------------------------------------------------------ builders


def stream(text: str):
    return new_output("stream", name="stdout", text=text)


def value(text: str, count: int):
    return new_output("execute_result", data={"text/plain": text}, execution_count=count)


def code(source: str, *outputs, count: int | None = None):
    return new_code_cell(source, outputs=list(outputs), execution_count=count)


def write_notebook(path: Path, cells: list) -> Path:
    notebook = new_notebook(cells=cells, metadata={
        "kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"},
        "language_info": {"name": "python", "version": "3.8.10"}})
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(notebook, str(path))
    return path


def fit_output(epochs: list[tuple[float, float, float, float]], steps: int = 750) -> str:
    """What `model.fit(..., validation_split=0.2)` saves in a TF 2 notebook: each
    epoch's bar redrawn with \\r, its last drawing carrying val_ figures."""
    text = ""
    for number, (loss, acc, val_loss, val_acc) in enumerate(epochs, 1):
        text += (f"Epoch {number}/{len(epochs)}\n"
                 f"  1/{steps} [..............................] - ETA: 4:02 - loss: 2.3051 - accuracy: 0.0938\r"
                 f" 40/{steps} [>.............................] - ETA: 9s - loss: 1.2240 - accuracy: 0.6129\r"
                 f"{steps}/{steps} [{BAR}] - 12s 16ms/step - loss: {loss:.4f} - accuracy: {acc:.4f} "
                 f"- val_loss: {val_loss:.4f} - val_accuracy: {val_acc:.4f}\n")
    return text


def evaluate_output(loss: float, accuracy: float, steps: int = 313) -> str:
    return (f"  1/{steps} [..............................] - ETA: 0s - loss: 0.0011 - accuracy: 1.0000\r"
            f"{steps}/{steps} [{BAR}] - 1s 3ms/step - loss: {loss:.4f} - accuracy: {accuracy:.4f}\n")


MNIST_IMPORTS = ("from keras import layers\nfrom keras import models\nfrom keras.datasets import mnist\n"
                 "from keras.utils import to_categorical")
MNIST_LOAD = ("(train_images, train_labels), (test_images, test_labels) = mnist.load_data()\n"
              "train_images = train_images.reshape((60000, 28, 28, 1)).astype('float32') / 255\n"
              "test_images = test_images.reshape((10000, 28, 28, 1)).astype('float32') / 255\n"
              "train_labels = to_categorical(train_labels)\ntest_labels = to_categorical(test_labels)")
MNIST_MODEL = ("model = models.Sequential()\n"
               "model.add(layers.Conv2D(32, (3, 3), activation='relu', input_shape=(28, 28, 1)))\n"
               "model.add(layers.MaxPooling2D((2, 2)))\nmodel.add(layers.Conv2D(64, (3, 3), activation='relu'))\n"
               "model.add(layers.Flatten())\nmodel.add(layers.Dense(10, activation='softmax'))\n"
               "model.compile(optimizer='rmsprop', loss='categorical_crossentropy', metrics=['accuracy'])")


def mnist_notebook(path: Path, test_accuracy: float = 0.9911) -> Path:
    """Listing 5.3 as a student ran it: fit with validation, evaluate, print."""
    return write_notebook(path, [
        new_markdown_cell("# Assignment 6.1\n## Using convnets with small datasets: MNIST"),
        code(MNIST_IMPORTS, count=1),
        code(MNIST_LOAD, count=2),
        code(MNIST_MODEL, count=3),
        code("history = model.fit(train_images, train_labels, epochs=3, batch_size=64, validation_split=0.2)",
             stream(fit_output([(0.1795, 0.9447, 0.0659, 0.9801), (0.0480, 0.9852, 0.0452, 0.9866),
                                (0.0322, 0.9952, 0.0401, 0.9930)])),
             value("<keras.callbacks.History at 0x7f3a5c2e1d30>", 4), count=4),
        code("test_loss, test_acc = model.evaluate(test_images, test_labels)",
             stream(evaluate_output(0.0297, test_accuracy)), count=5),
        code("print('Test accuracy:', test_acc)", stream(f"Test accuracy: {test_accuracy!r}\n"), count=6),
        code("model.save('results/6.1/model.h5')", count=7),
    ])


# ------------------------------------------------------------------ reader


def test_evaluate_line_and_print_are_read_not_the_training_epochs(tmp_path):
    info = read_notebook(mnist_notebook(tmp_path / "6.1_mnist.ipynb", 0.991100013256073))
    figures = reported_figures(info)
    assert [(f.kind, f.cell, f.execution_count) for f in figures] == [
        ("evaluate-progress", 5, 5), ("printed", 6, 6)]
    assert figures[0].accuracy == pytest.approx(0.9911) and figures[0].loss == pytest.approx(0.0297)
    assert figures[0].text == f"313/313 [{BAR}] - 1s 3ms/step - loss: 0.0297 - accuracy: 0.9911"
    assert figures[1].accuracy == 0.991100013256073 and figures[1].decimals == 15
    assert figures[1].where == "cell 7 (In [6])"
    # The last epoch's 0.9952 (training) and 0.9930 (validation) are never taken.
    assert not {0.9952, 0.9930} & {round(f.accuracy, 4) for f in figures}


def test_evaluate_value_and_chollets_bare_test_acc(tmp_path):
    """Keras 2.2 (TF 1.x) shows no metrics on evaluate's bar; the cell's value holds them."""
    path = write_notebook(tmp_path / "nb.ipynb", [
        code("score = model.evaluate(x_test, y_test, verbose=1)\nscore",
             stream(f"10000/10000 [{BAR}] - 1s 89us/step\n"), value("[0.029737198, 0.9911]", 11), count=11),
        code("test_loss, test_acc = model.evaluate(test_images, test_labels)\ntest_acc",
             stream(f"10000/10000 [{BAR}] - 1s 72us/step\n"), value("0.9908000230789185", 12), count=12),
        code("model.evaluate(x_test, y_test, return_dict=True)",
             value("{'loss': 0.0301, 'accuracy': 0.9905}", 13), count=13),
        code("test_loss, test_acc", value("(0.03158, 0.9902)", 14), count=14),
        code("train_loss, train_acc", value("(0.0102, 0.9968)", 15), count=15),
    ])
    figures = reported_figures(read_notebook(path))
    assert [(f.kind, round(f.accuracy, 4), f.loss) for f in figures] == [
        ("evaluate-result", 0.9911, pytest.approx(0.029737198)),
        ("printed", 0.9908, None),
        ("evaluate-result", 0.9905, pytest.approx(0.0301)),
        ("evaluate-result", 0.9902, pytest.approx(0.03158)),
    ]


@pytest.mark.parametrize("printed, accuracy, decimals", [
    ("Test accuracy: 0.9911", 0.9911, 4),
    ("Test accuracy: 99.11%", 0.9911, 4),
    ("test_acc: 0.99", 0.99, 2),
    ("Accuracy on the test set = 98.6 %", 0.986, 3),
    ("Test loss: 0.0297 Test accuracy: 0.9911", 0.9911, 4),
    ("test_loss, test_acc: [0.0297, 0.9911]", 0.9911, 4),
    ("Test Accuracy 0.7012", 0.7012, 4),
    ("Validation accuracy: 0.9930", None, None),
    ("Training accuracy: 0.9952", None, None),
    ("val_accuracy: 0.9930", None, None),
    ("Test loss: 0.0297", None, None),
])
def test_printed_forms(tmp_path, printed, accuracy, decimals):
    path = write_notebook(tmp_path / "nb.ipynb", [code("print(...)", stream(printed + "\n"), count=3)])
    figures = reported_figures(read_notebook(path))
    if accuracy is None:
        assert figures == []
    else:
        assert [(round(f.accuracy, 6), f.decimals, f.kind) for f in figures] == [(accuracy, decimals, "printed")]


def test_evaluating_the_training_data_is_not_the_test_figure(tmp_path):
    path = write_notebook(tmp_path / "nb.ipynb", [
        code("train_loss, train_acc = model.evaluate(train_images, train_labels)",
             stream(evaluate_output(0.0102, 0.9968, steps=1875)), count=8),
        code("model.evaluate(x_val, y_val)", stream(evaluate_output(0.0400, 0.9931)),
             value("[0.0400, 0.9931]", 9), count=9),
    ])
    assert reported_figures(read_notebook(path)) == []


def test_a_backspace_redrawn_keras_bar_reads_as_its_last_drawing(tmp_path):
    first = "   32/10000 [..............................] - ETA: 2s - loss: 0.0005 - acc: 1.0000"
    last = f"10000/10000 [{BAR}] - 1s 101us/step - loss: 0.0297 - acc: 0.9911"
    path = write_notebook(tmp_path / "nb.ipynb", [
        code("model.evaluate(x_test, y_test)", stream(first + "\b" * len(first) + last + "\n"), count=4)])
    [figure] = reported_figures(read_notebook(path))
    assert (figure.accuracy, figure.kind, figure.text) == (0.9911, "evaluate-progress", last)


# ----------------------------------------------------------- in a submission


def _submission(tmp_path: Path) -> Path:
    root = tmp_path / "assignment06"
    (root / "results" / "6.1").mkdir(parents=True)
    return root


def test_the_notebook_figure_is_the_reported_one_without_a_metrics_file(tmp_path, rubric):
    root = _submission(tmp_path)
    mnist_notebook(root / "6.1_mnist_convnet.ipynb")
    report = check_submission(root, rubric, tmp_path / "work")
    files = report.contents.parts["6.1"]
    assert files.metrics_path is None
    assert files.metrics.test_accuracy == pytest.approx(0.9911) and files.metrics.format == "notebook-output"
    assert files.notebook_figure_path == "6.1_mnist_convnet.ipynb"
    assert files.notebook_figure.where == "cell 7 (In [6])"
    # The missing metrics file is still a layout problem.
    missing = [p for p in report.problems if p.code == "missing-metrics" and p.part == "6.1"]
    assert len(missing) == 1 and "results/6.1/metrics.json" in missing[0].message
    # The notebook re-run compares against the same figure, read through contents.
    assert reported_accuracies(report.contents)["6.1"] == pytest.approx(0.9911)


def test_a_metrics_file_wins_over_the_notebook(tmp_path, rubric):
    root = _submission(tmp_path)
    mnist_notebook(root / "6.1_mnist_convnet.ipynb", 0.9911)
    (root / "results" / "6.1" / "metrics.json").write_text(json.dumps({"test_accuracy": 0.9905, "test_loss": 0.031}))
    report = check_submission(root, rubric, tmp_path / "work")
    files = report.contents.parts["6.1"]
    assert files.metrics.test_accuracy == 0.9905 and files.metrics_path == "results/6.1/metrics.json"
    assert files.notebook_figure is None
    assert reported_accuracies(report.contents)["6.1"] == 0.9905
    assert not [p for p in report.problems if p.code == "missing-metrics" and p.part == "6.1"]


def test_a_metrics_file_without_test_accuracy_takes_the_notebooks(tmp_path, rubric):
    root = _submission(tmp_path)
    mnist_notebook(root / "6.1_mnist_convnet.ipynb", 0.9911)
    history = {"loss": [0.1795, 0.0480], "accuracy": [0.9447, 0.9852], "val_accuracy": [0.9801, 0.9866]}
    (root / "results" / "6.1" / "history.json").write_text(json.dumps(history))
    report = check_submission(root, rubric, tmp_path / "work")
    files = report.contents.parts["6.1"]
    assert files.metrics_path == "results/6.1/history.json"
    assert files.metrics.test_accuracy == pytest.approx(0.9911)
    assert files.metrics.history["val_accuracy"] == [0.9801, 0.9866]     # the file's history is kept
    [warning] = [p for p in report.problems if p.code == "no-test-accuracy"]
    assert "the grader used 0.9911 from the notebook's output, 6.1_mnist_convnet.ipynb cell 7 (In [6])" \
        in warning.message


def test_one_notebook_for_every_part_is_split_by_headings_and_data_sets(tmp_path, rubric):
    root = _submission(tmp_path)
    cifar_load = ("from keras.datasets import cifar10\n"
                  "(x_train, y_train), (x_test, y_test) = cifar10.load_data()\n"
                  "x_train, x_test = x_train.astype('float32') / 255, x_test.astype('float32') / 255")
    write_notebook(root / "Assignment06_Doe.ipynb", [
        new_markdown_cell("# DSC 650 Week 6"),
        code("import numpy as np\nfrom keras.datasets import mnist, cifar10\nfrom keras import layers, models",
             count=1),
        new_markdown_cell("## Convnet on handwritten digits"),
        code(MNIST_LOAD, count=2),
        code(MNIST_MODEL + "\nmodel.fit(train_images, train_labels, epochs=5, batch_size=64)", count=3),
        code("test_loss, test_acc = model.evaluate(test_images, test_labels)\nprint('test_acc:', test_acc)",
             stream(evaluate_output(0.0290, 0.9912) + "test_acc: 0.9911999702453613\n"), count=4),
        new_markdown_cell("## 6.2a CIFAR-10 without dropout or augmentation"),
        code(cifar_load, count=5),
        code("model = models.Sequential()\n# ... Conv2D / MaxPooling2D blocks ...\n"
             "history = model.fit(x_train, y_train, epochs=2, validation_data=(x_test, y_test))",
             stream(fit_output([(1.5, 0.45, 1.2, 0.57), (1.0, 0.65, 0.9, 0.6912)], steps=1563)), count=6),
        code("model.evaluate(x_test, y_test)", stream(evaluate_output(0.9051, 0.7012)),
             value("[0.9051, 0.7012]", 7), count=7),
        new_markdown_cell("## 6.2b With dropout and data augmentation\nSame data, `ImageDataGenerator` and Dropout."),
        new_markdown_cell("### Model"),
        code("datagen = ImageDataGenerator(rotation_range=15, horizontal_flip=True)\n"
             "model.add(layers.Dropout(0.5))", count=8),
        code("test_loss, test_acc = model.evaluate(x_test, y_test, verbose=2)\n"
             "print(f'Test accuracy: {test_acc:.2%}')",
             stream("313/313 - 2s - loss: 0.6816 - accuracy: 0.7655 - 2s/epoch - 6ms/step\nTest accuracy: 76.55%\n"),
             count=9),
    ])
    contents = check_submission(root, rubric, tmp_path / "work").contents
    figures = {pid: (round(files.notebook_figure.accuracy, 4), files.notebook_figure.where)
               for pid, files in contents.parts.items() if files.notebook_figure is not None}
    assert figures == {"6.1": (0.9912, "cell 6 (In [4])"), "6.2a": (0.7012, "cell 10 (In [7])"),
                       "6.2b": (0.7655, "cell 14 (In [9])")}
    assert contents.parts["6.1"].notebook_figure.text == "test_acc: 0.9911999702453613"
    assert contents.parts["6.2b"].notebook_figure.decimals == 4
    assert reported_accuracies(contents) == {"6.1": pytest.approx(0.9912), "6.2a": 0.7012,
                                             "6.2b": pytest.approx(0.7655), "6.3": None}


def test_a_shared_cifar_figure_without_a_heading_is_not_guessed(tmp_path, rubric):
    """6.2a and 6.2b share CIFAR-10: without a heading naming one, the figure is left out."""
    root = _submission(tmp_path)
    write_notebook(root / "cifar.ipynb", [
        code("from keras.datasets import cifar10\n(x_train, y_train), (x_test, y_test) = cifar10.load_data()", count=1),
        code("model.evaluate(x_test, y_test)", value("[0.9051, 0.7012]", 2), count=2),
    ])
    contents = check_submission(root, rubric, tmp_path / "work").contents
    assert all(files.notebook_figure is None for files in contents.parts.values())


def test_an_unreadable_notebook_is_a_warning_that_names_it(tmp_path, rubric):
    root = _submission(tmp_path)
    (root / "6.1_mnist.ipynb").write_text('{"cells": [ {"cell_type": "code", "source": "x = 1"')
    report = check_submission(root, rubric, tmp_path / "work")
    [problem] = [p for p in report.problems if p.code == "notebook-unreadable"]
    assert problem.path == "6.1_mnist.ipynb" and "File > Save" in problem.message
    assert report.contents.parts["6.1"].metrics is None
