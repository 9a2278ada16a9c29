"""Readers on synthetic files in the real formats: every branch, and damaged input."""

from __future__ import annotations

import hashlib
import io
import json
import os
import pickle
import struct
import subprocess
import sys
import time
import zipfile
import zlib
from pathlib import Path

import h5py
import nbformat
import numpy as np
import pytest
from PIL import Image, ImageDraw

from grader.readers import (
    NotebookInfo,
    ReadError,
    hash_distance,
    layer_summary,
    perceptual_hash,
    read_image,
    read_imagenet_predictions,
    read_metrics,
    read_model_meta,
    read_notebook,
    read_predictions,
    source_mentions,
    thumbnail_png,
)
from grader.readers.safe_pickle import Opaque, UnsafePickle, safe_load

DIGITS = [str(i) for i in range(10)]
CIFAR = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]


def write(path: Path, content: str | bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(content, str):
        path.write_text(content, encoding="utf-8", newline="")
    else:
        path.write_bytes(content)
    return path


def read_error(call, *args, **kwargs) -> ReadError:
    with pytest.raises(ReadError) as caught:
        call(*args, **kwargs)
    return caught.value


# =================================================================== models


@pytest.fixture(scope="session")
def keras3_models(tmp_path_factory) -> dict[str, Path]:
    """Tiny Keras 3 models saved the ways students save them (Keras only makes the fixtures)."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    keras = pytest.importorskip("keras")
    from keras import layers

    folder = tmp_path_factory.mktemp("keras3")
    sequential = keras.Sequential(
        [keras.Input((28, 28, 1)), layers.Conv2D(4, 3, activation="relu"), layers.MaxPooling2D(),
         layers.Flatten(), layers.Dense(10, activation="softmax")]
    )
    augmentation = keras.Sequential(
        [layers.RandomFlip("horizontal"), layers.RandomRotation(0.1), layers.RandomZoom(0.1)], name="data_augmentation"
    )
    inputs = keras.Input((32, 32, 3))
    x = augmentation(inputs)
    x = layers.Rescaling(1 / 255)(x)
    x = layers.Conv2D(4, 3, activation="relu")(x)
    x = layers.Flatten()(x)
    x = layers.Dropout(0.5)(x)
    functional = keras.Model(inputs, layers.Dense(10, activation="softmax")(x))
    paths = {
        "seq.keras": folder / "seq.keras",
        "seq.h5": folder / "seq.h5",
        "fn.keras": folder / "fn.keras",
        "fn.h5": folder / "fn.h5",
        "weights": folder / "fn.weights.h5",
    }
    sequential.save(paths["seq.keras"])
    sequential.save(paths["seq.h5"])
    functional.save(paths["fn.keras"])
    functional.save(paths["fn.h5"])
    functional.save_weights(paths["weights"])
    return paths


def test_keras3_sequential_keras_zip(keras3_models):
    meta = read_model_meta(keras3_models["seq.keras"])
    assert meta.format == "keras"
    assert meta.class_name == "Sequential"
    assert meta.keras_version and meta.keras_version.startswith("3.")
    assert meta.input_shape == [28, 28, 1]
    assert meta.output_units == 10
    assert meta.layer_types == ["Conv2D", "MaxPooling2D", "Flatten", "Dense"]
    assert meta.has_weights is True
    assert meta.notes == []


def test_keras3_functional_with_nested_augmentation(keras3_models):
    for name, fmt in (("fn.keras", "keras"), ("fn.h5", "h5")):
        meta = read_model_meta(keras3_models[name])
        assert meta.format == fmt
        assert meta.class_name == "Functional"
        assert meta.input_shape == [32, 32, 3]
        assert meta.layer_types == ["RandomFlip", "RandomRotation", "RandomZoom", "Rescaling", "Conv2D", "Flatten", "Dropout", "Dense"]
        summary = layer_summary(meta)
        assert summary["has_dropout"] and summary["has_augmentation"] and not summary["has_lambda"]
        assert summary["counts"]["Dense"] == 1 and summary["counts"]["RandomFlip"] == 1


def test_keras3_h5_reads_backend_and_version(keras3_models):
    meta = read_model_meta(keras3_models["seq.h5"])
    assert (meta.format, meta.backend, meta.output_units) == ("h5", "tensorflow", 10)
    assert meta.keras_version.startswith("3.")
    assert meta.has_weights is True


def test_keras3_weights_only_file(keras3_models):
    meta = read_model_meta(keras3_models["weights"])
    assert meta.format == "h5" and meta.has_weights is True
    assert meta.class_name is None and meta.layer_types == []
    assert "weights only" in meta.notes[0] and "model.save('model.keras')" in meta.notes[0]
    assert "sequential" in meta.notes[0]  # the layer names are listed


def test_keras_zip_renamed_h5_is_read_by_content(keras3_models, tmp_path):
    renamed = write(tmp_path / "model.h5", keras3_models["seq.keras"].read_bytes())
    meta = read_model_meta(renamed)
    assert meta.format == "keras" and meta.input_shape == [28, 28, 1]
    assert any("rename it to end in .keras" in note for note in meta.notes)


def _h5_with_config(path: Path, config: dict | list, *, as_bytes: bool, version: str = "2.2.4", weights: bool = True) -> Path:
    with h5py.File(path, "w") as h5:
        text = json.dumps(config)
        h5.attrs["model_config"] = text.encode() if as_bytes else text
        h5.attrs["keras_version"] = version.encode() if as_bytes else version
        h5.attrs["backend"] = b"tensorflow" if as_bytes else "tensorflow"
        group = h5.create_group("model_weights").create_group("dense_1")
        group.attrs["weight_names"] = [b"dense_1/kernel:0"] if weights else np.array([], dtype="S1")
    return path


def test_keras_21_list_config_in_bytes_attributes(tmp_path):
    config = {"class_name": "Sequential", "config": [
        {"class_name": "Conv2D", "config": {"batch_input_shape": [None, 28, 28, 1], "filters": 32}},
        {"class_name": "MaxPooling2D", "config": {}},
        {"class_name": "Flatten", "config": {}},
        {"class_name": "Dense", "config": {"units": 64}},
        {"class_name": "Dense", "config": {"units": 10}},
    ]}
    meta = read_model_meta(_h5_with_config(tmp_path / "old.h5", config, as_bytes=True))
    assert meta.keras_version == "2.2.4" and meta.backend == "tensorflow"
    assert meta.input_shape == [28, 28, 1] and meta.output_units == 10
    assert meta.layer_types == ["Conv2D", "MaxPooling2D", "Flatten", "Dense", "Dense"]


def test_keras2_functional_model_with_nested_sequential_and_experimental_names(tmp_path):
    augmentation = {"class_name": "Sequential", "config": {"name": "data_augmentation", "layers": [
        {"class_name": "InputLayer", "config": {"batch_input_shape": [None, 32, 32, 3]}},
        {"class_name": "keras.layers.experimental.preprocessing.RandomFlip", "config": {"mode": "horizontal"}},
        {"class_name": "RandomTranslation", "config": {}},
    ]}}
    config = {"class_name": "Model", "config": {"name": "model", "layers": [
        {"class_name": "InputLayer", "name": "input_1", "config": {"batch_input_shape": [None, 32, 32, 3]}},
        augmentation,
        {"class_name": "Lambda", "config": {"function": "..."}},
        {"class_name": "Conv2D", "config": {"filters": 8}},
        {"class_name": "SpatialDropout2D", "config": {"rate": 0.1}},
        {"class_name": "GlobalAveragePooling2D", "config": {}},
        {"class_name": "Dense", "config": {"units": 10}},
        {"class_name": "Activation", "config": {"activation": "softmax"}},
    ], "input_layers": [["input_1", 0, 0]]}}
    meta = read_model_meta(_h5_with_config(tmp_path / "fn.hdf5", config, as_bytes=False, version="2.13.1"))
    assert meta.class_name == "Model"
    assert meta.input_shape == [32, 32, 3]
    assert meta.output_units == 10
    assert meta.layer_types[:3] == ["RandomFlip", "RandomTranslation", "Lambda"]
    summary = layer_summary(meta)
    assert summary == {
        "has_dropout": True, "has_augmentation": True, "has_lambda": True,
        "counts": {"RandomFlip": 1, "RandomTranslation": 1, "Lambda": 1, "Conv2D": 1, "SpatialDropout2D": 1,
                   "GlobalAveragePooling2D": 1, "Dense": 1, "Activation": 1},
    }


def test_input_shape_from_build_input_shape_and_no_dense(tmp_path):
    config = {"class_name": "Sequential", "config": {"name": "s", "build_input_shape": [None, 28, 28, 1], "layers": [
        {"class_name": "Conv2D", "config": {"filters": 10}},
        {"class_name": "GlobalMaxPooling2D", "config": {}},
    ]}}
    meta = read_model_meta(_h5_with_config(tmp_path / "m.h5", config, as_bytes=False, weights=False))
    assert meta.input_shape == [28, 28, 1]
    assert meta.output_units is None
    assert meta.has_weights is False


def test_keras2_weights_only_h5(tmp_path):
    path = tmp_path / "weights.h5"
    with h5py.File(path, "w") as h5:
        h5.attrs["layer_names"] = [b"conv2d", b"dense"]
        h5.attrs["keras_version"] = b"2.4.0"
        h5.create_group("conv2d")
    meta = read_model_meta(path)
    assert meta.has_weights and meta.keras_version == "2.4.0" and meta.layer_types == []
    assert "layers named: conv2d, dense" in meta.notes[0]


def test_hdf5_without_a_model(tmp_path):
    path = tmp_path / "data.h5"
    with h5py.File(path, "w") as h5:
        h5["x"] = np.arange(3)
    error = read_error(read_model_meta, path)
    assert error.code == "model-unreadable" and "data.h5" in error.message and "no Keras model" in error.message


def test_folder_named_h5_is_not_a_model(tmp_path):
    folder = tmp_path / "mnist.h5"
    write(folder / "mnist" / "mnist.h5", b"x")
    error = read_error(read_model_meta, folder)
    assert error.code == "model-unreadable"
    assert "mnist.h5 is a folder" in error.message and "model.save('model.keras')" in error.message


@pytest.mark.parametrize("content", [os.urandom(4096), b"", b"\x89HDF\r\n\x1a\n" + os.urandom(600)])
def test_corrupt_model_bytes(tmp_path, content):
    error = read_error(read_model_meta, write(tmp_path / "model.h5", content))
    assert error.code == "model-unreadable" and "model.h5" in error.message


def test_truncated_h5(keras3_models, tmp_path):
    data = keras3_models["seq.h5"].read_bytes()
    error = read_error(read_model_meta, write(tmp_path / "cut.h5", data[: len(data) // 3]))
    assert error.code == "model-unreadable" and "damaged" in error.message


def test_keras_zip_faults(tmp_path):
    def zipped(name: str, members: dict[str, bytes]) -> Path:
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w") as archive:
            for member, data in members.items():
                archive.writestr(member, data)
        return write(tmp_path / name, buffer.getvalue())

    assert "without config.json" in read_error(read_model_meta, zipped("a.keras", {"x.txt": b"1"})).message
    assert "not valid JSON" in read_error(read_model_meta, zipped("b.keras", {"config.json": b"{nope"})).message
    big = zipped("c.keras", {"config.json": b" " * 5000})
    assert "over the" in read_error(read_model_meta, big, config_cap=1000).message
    no_layers = zipped("d.keras", {"config.json": b'{"class_name": "Sequential", "config": {}}'})
    assert "lists no layers" in read_error(read_model_meta, no_layers).message
    cut = zipped("e.keras", {"config.json": json.dumps({"class_name": "Sequential", "config": {"layers": []}}).encode()})
    write(cut, cut.read_bytes()[:40])
    assert read_error(read_model_meta, cut).code == "model-unreadable"


def test_keras_zip_without_weights_gets_a_note(tmp_path):
    config = {"class_name": "Sequential", "config": {"layers": [
        {"class_name": "InputLayer", "config": {"batch_shape": [None, 32, 32, 3]}},
        {"class_name": "Dense", "config": {"units": 10}}]}}
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("config.json", json.dumps(config))
        archive.writestr("metadata.json", json.dumps({"keras_version": "3.1.0"}))
    meta = read_model_meta(write(tmp_path / "m.keras", buffer.getvalue()))
    assert meta.has_weights is False and meta.keras_version == "3.1.0" and meta.input_shape == [32, 32, 3]
    assert "no model.weights file" in meta.notes[0]


def _saved_model(folder: Path, *, variables: bool, metadata: bool = True) -> Path:
    root = {"name": "sequential", "trainable": True, "batch_input_shape": None, "class_name": "Sequential",
            "config": {"name": "sequential", "layers": [
                {"class_name": "InputLayer", "config": {"batch_input_shape": {"class_name": "__tuple__", "items": [None, 32, 32, 3]}}},
                {"class_name": "Conv2D", "config": {"filters": 8}},
                {"class_name": "Dropout", "config": {"rate": 0.5}},
                {"class_name": "Dense", "config": {"units": 10}}]},
            "keras_version": "2.9.0"}
    layer = {"name": "conv2d", "class_name": "Conv2D", "config": {"filters": 8}}
    payload = b'\n\xca%\x1a\x04root"\x14_tf_keras_sequential*\xa5%' + json.dumps(root).encode()
    payload += b'\n\x8a\x03\x1a\x05layer*' + json.dumps(layer).encode() + b"\x00\xff{broken"
    write(folder / "saved_model.pb", b"\x08\x01\x12\x00graph" + os.urandom(64))
    if metadata:
        write(folder / "keras_metadata.pb", payload)
    if variables:
        write(folder / "variables" / "variables.index", b"idx")
        write(folder / "variables" / "variables.data-00000-of-00001", b"data")
    return folder


def test_saved_model_folder_reads_keras_metadata(tmp_path):
    meta = read_model_meta(_saved_model(tmp_path / "model_62b", variables=True))
    assert meta.format == "savedmodel" and meta.backend == "tensorflow"
    assert meta.class_name == "Sequential" and meta.keras_version == "2.9.0"
    assert meta.input_shape == [32, 32, 3] and meta.output_units == 10
    assert meta.layer_types == ["Conv2D", "Dropout", "Dense"]
    assert meta.has_weights is True and meta.notes == []


def test_saved_model_without_variables(tmp_path):
    meta = read_model_meta(_saved_model(tmp_path / "sm", variables=False))
    assert meta.has_weights is False
    assert meta.notes == ["the SavedModel has no variables file: re-save the model"]


def test_saved_model_without_keras_metadata(tmp_path):
    meta = read_model_meta(_saved_model(tmp_path / "sm", variables=True, metadata=False))
    assert meta.format == "savedmodel" and meta.layer_types == [] and meta.class_name is None
    assert "no Keras architecture" in meta.notes[0]


def test_real_tf_keras_saved_model(tmp_path):
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    tf_keras = pytest.importorskip("tf_keras")
    model = tf_keras.Sequential([
        tf_keras.layers.Conv2D(4, 3, input_shape=(28, 28, 1)), tf_keras.layers.Flatten(),
        tf_keras.layers.Dropout(0.2), tf_keras.layers.Dense(10)])
    model.save(tmp_path / "sm")
    meta = read_model_meta(tmp_path / "sm")
    assert meta.format == "savedmodel" and meta.class_name == "Sequential"
    assert meta.input_shape == [28, 28, 1] and meta.output_units == 10
    assert meta.layer_types == ["Conv2D", "Flatten", "Dropout", "Dense"]
    assert meta.has_weights is True


def test_readers_do_not_import_keras_or_tensorflow():
    code = (
        "import sys, grader.readers\n"
        "bad = [m for m in sys.modules if m.split('.')[0] in ('keras', 'tensorflow', 'tf_keras', 'torch')]\n"
        "print(bad)\n"
        "sys.exit(1 if bad else 0)\n"
    )
    root = Path(__file__).resolve().parents[1]
    env = {**os.environ, "PYTHONPATH": f"{root}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, cwd=root, env=env)
    assert result.returncode == 0, result.stdout + result.stderr


# ============================================================== predictions


def _probabilities(n: int = 12, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    raw = rng.random((n, 10))
    return raw / raw.sum(axis=1, keepdims=True)


def test_probabilities_csv_with_pandas_numeric_header(tmp_path):
    probs = _probabilities()
    text = ",".join(DIGITS) + "\n" + "\n".join(",".join(f"{v:.8g}" for v in row) for row in probs) + "\n"
    result = read_predictions(write(tmp_path / "p.csv", text), 10, DIGITS)
    assert result.format == "csv-probabilities" and result.n_rows == 12
    assert result.labels == probs.argmax(axis=1).tolist()
    assert np.allclose(result.probabilities, probs, atol=1e-7)
    assert result.actual is None and result.class_names is None


def test_probabilities_csv_with_pandas_index_column(tmp_path):
    probs = _probabilities(seed=1)
    text = "," + ",".join(DIGITS) + "\n" + "\n".join(f"{i}," + ",".join(map(str, row)) for i, row in enumerate(probs))
    result = read_predictions(write(tmp_path / "p.csv", text), 10, DIGITS)
    assert result.n_rows == 12 and result.labels == probs.argmax(axis=1).tolist()
    assert len(result.probabilities[0]) == 10


def test_probabilities_without_header_and_crlf(tmp_path):
    probs = _probabilities(seed=2)
    text = "\r\n".join(",".join(map(str, row)) for row in probs) + "\r\n"
    result = read_predictions(write(tmp_path / "p.txt", text), 10, DIGITS)
    assert result.format == "csv-probabilities" and result.labels == probs.argmax(axis=1).tolist()


def test_whitespace_probabilities_from_savetxt(tmp_path):
    probs = _probabilities(seed=3)
    buffer = io.StringIO()
    np.savetxt(buffer, probs)
    result = read_predictions(write(tmp_path / "p.txt", buffer.getvalue()), 10, DIGITS)
    assert result.format == "text-probabilities" and result.labels == probs.argmax(axis=1).tolist()


def test_one_hot_rows(tmp_path):
    labels = [3, 0, 9, 9, 1]
    text = "\n".join(",".join("1.0" if c == label else "0.0" for c in range(10)) for label in labels)
    result = read_predictions(write(tmp_path / "p.csv", text), 10, CIFAR)
    assert result.format == "csv-one-hot" and result.labels == labels


def test_probability_columns_named_by_class_in_any_order(tmp_path):
    order = list(reversed(CIFAR))
    rows = [[0.0] * 10 for _ in range(3)]
    rows[0][order.index("cat")] = 0.9
    rows[1][order.index("truck")] = 0.8
    rows[2][order.index("airplane")] = 0.7
    text = ",".join(order) + "\n" + "\n".join(",".join(map(str, row)) for row in rows)
    result = read_predictions(write(tmp_path / "p.csv", text), 10, CIFAR)
    assert result.labels == [3, 9, 0]
    assert result.probabilities[0][3] == 0.9


def test_actual_and_predicted_numbers(tmp_path):
    text = "Actual,Predictions\n3,3\n8,0\n8,8\n"
    result = read_predictions(write(tmp_path / "p.csv", text), 10, CIFAR)
    assert result.format == "csv-labels" and result.labels == [3, 0, 8] and result.actual == [3, 8, 8]


def test_class_names_with_true_column_first(tmp_path):
    text = "y_true,y_pred\ncat,dog\nship,ship\nTruck,automobile\n"
    result = read_predictions(write(tmp_path / "p.csv", text), 10, CIFAR)
    assert result.format == "csv-names"
    assert result.labels == [5, 8, 1] and result.actual == [3, 8, 9]
    assert result.class_names == CIFAR


def test_label_column_is_the_truth_beside_a_prediction_column(tmp_path):
    text = "label,prediction\n1,1\n2,7\n"
    result = read_predictions(write(tmp_path / "p.csv", text), 10, DIGITS)
    assert result.actual == [1, 2] and result.labels == [1, 7]


def test_single_label_column_with_header_is_the_prediction(tmp_path):
    result = read_predictions(write(tmp_path / "p.csv", "label\ncat\ndog\n"), 10, CIFAR)
    assert result.labels == [3, 5] and result.actual is None and result.n_rows == 2


def test_one_label_per_line_numbers_and_names(tmp_path):
    numbers = read_predictions(write(tmp_path / "n.txt", "7\n2\n1\n0\n"), 10, DIGITS)
    assert numbers.format == "text-labels" and numbers.labels == [7, 2, 1, 0]
    names = read_predictions(write(tmp_path / "names.txt", "cat\nship\nship\nairplane\n"), 10, CIFAR)
    assert names.format == "text-names" and names.labels == [3, 8, 8, 0]
    floats = read_predictions(write(tmp_path / "f.txt", "7.0\n2.0\n"), 10, DIGITS)
    assert floats.labels == [7, 2]


def test_index_column_without_header_and_double_cr(tmp_path):
    text = "".join(f"{i},{i % 10}\r\r\n" for i in range(25))
    result = read_predictions(write(tmp_path / "p.csv", text), 10, DIGITS)
    assert result.n_rows == 25 and result.labels[:12] == [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 0, 1]


def test_lone_pandas_header_zero_needs_expected_rows(tmp_path):
    path = write(tmp_path / "p.csv", "0\n7\n2\n1\n")
    assert read_predictions(path, 10, DIGITS, expected_rows=3).labels == [7, 2, 1]
    assert read_predictions(path, 10, DIGITS).labels == [0, 7, 2, 1]  # without it, "0" is a prediction


def test_vector_cells_give_true_labels(tmp_path):
    text = "Actual,Predictions\n[0. 0. 0. 0. 0. 0. 0. 1. 0. 0.],7\n[0. 0. 1. 0. 0. 0. 0. 0. 0. 0.],3\n"
    result = read_predictions(write(tmp_path / "p.csv", text), 10, DIGITS)
    assert result.actual == [7, 2] and result.labels == [7, 3]


def test_one_vector_per_line(tmp_path):
    probs = _probabilities(4, seed=4)
    text = "\n".join(np.array2string(row, max_line_width=10_000) for row in probs)
    result = read_predictions(write(tmp_path / "p.txt", text), 10, DIGITS)
    assert result.labels == probs.argmax(axis=1).tolist()


def test_printed_lists(tmp_path):
    flat = read_predictions(write(tmp_path / "a.txt", "[7 2 1 0\n 4 1]\n"), 10, DIGITS)
    assert flat.format == "text-list-labels" and flat.labels == [7, 2, 1, 0, 4, 1]
    python = read_predictions(write(tmp_path / "b.txt", "['cat', 'dog']"), 10, CIFAR)
    assert python.labels == [3, 5] and python.format == "text-list-names"
    probs = _probabilities(3, seed=5)
    nested = read_predictions(write(tmp_path / "c.txt", np.array2string(probs, separator=" ")), 10, DIGITS)
    assert nested.format == "text-list-probabilities" and nested.labels == probs.argmax(axis=1).tolist()


def test_one_row_of_many_labels(tmp_path):
    result = read_predictions(write(tmp_path / "p.txt", " ".join(str(i % 10) for i in range(30))), 10, DIGITS)
    assert result.n_rows == 30 and result.labels[10:13] == [0, 1, 2]


def test_npy_labels_probabilities_and_names(tmp_path):
    labels = np.array([3, 1, 4, 1, 5])
    np.save(tmp_path / "labels.npy", labels)
    assert read_predictions(tmp_path / "labels.npy", 10, DIGITS).labels == labels.tolist()
    np.save(tmp_path / "column.npy", labels.reshape(-1, 1).astype("float32"))
    assert read_predictions(tmp_path / "column.npy", 10, DIGITS).labels == labels.tolist()
    probs = _probabilities(6, seed=6)
    np.save(tmp_path / "probs.npy", probs)
    result = read_predictions(tmp_path / "probs.npy", 10, DIGITS)
    assert result.format == "npy-probabilities" and result.labels == probs.argmax(axis=1).tolist()
    np.save(tmp_path / "names.npy", np.array(["cat", "frog"]))
    named = read_predictions(tmp_path / "names.npy", 10, CIFAR)
    assert named.labels == [3, 6] and named.format == "npy-names"
    # The extension does not decide: an .npy saved under .csv is still read as .npy
    write(tmp_path / "renamed.csv", (tmp_path / "probs.npy").read_bytes())
    assert read_predictions(tmp_path / "renamed.csv", 10, DIGITS).format == "npy-probabilities"


def test_npy_object_array_is_refused(tmp_path):
    np.save(tmp_path / "objects.npy", np.array([{"a": 1}, None], dtype=object), allow_pickle=True)
    error = read_error(read_predictions, tmp_path / "objects.npy", 10, DIGITS)
    assert error.code == "predictions-unreadable" and "does not unpickle" in error.message


def test_npy_wrong_shape(tmp_path):
    np.save(tmp_path / "cube.npy", np.zeros((2, 3, 4)))
    assert read_error(read_predictions, tmp_path / "cube.npy", 10, DIGITS).code == "predictions-shape"
    np.save(tmp_path / "narrow.npy", np.zeros((5, 3)))
    error = read_error(read_predictions, tmp_path / "narrow.npy", 10, DIGITS)
    assert error.code == "predictions-shape" and "expected 10" in error.message


def test_prediction_errors_name_the_file_and_row(tmp_path):
    bad_label = read_error(read_predictions, write(tmp_path / "bad.csv", "predicted\n3\n12\n"), 10, DIGITS)
    assert bad_label.code == "predictions-bad-label"
    assert "bad.csv" in bad_label.message and "'12' on row 2" in bad_label.message
    unknown_name = read_error(read_predictions, write(tmp_path / "n.txt", "cat\nunicorn\n"), 10, CIFAR)
    assert "'unicorn' on row 2" in unknown_name.message
    two_columns = read_error(read_predictions, write(tmp_path / "two.csv", "3,4\n5,6\n"), 10, DIGITS)
    assert two_columns.code == "predictions-columns" and "header row" in two_columns.message
    narrow = read_error(read_predictions, write(tmp_path / "w.csv", "0.1,0.2,0.7\n0.3,0.3,0.4\n0.5,0.5,0\n"), 10, DIGITS)
    assert narrow.code == "predictions-columns"
    nan = read_error(read_predictions, write(tmp_path / "nan.csv", ",".join(["nan"] + ["0.1"] * 9)), 10, DIGITS)
    assert nan.code == "predictions-bad-value"
    ragged = read_error(read_predictions, write(tmp_path / "r.csv", "1,2,3\n1,2\n1,2,3\n"), 10, DIGITS)
    assert ragged.code == "predictions-ragged" and "row 2" in ragged.message


def test_prediction_files_that_are_not_tables(tmp_path):
    assert read_error(read_predictions, write(tmp_path / "e.csv", "\n\n  \n"), 10, DIGITS).code == "predictions-empty"
    pickled = write(tmp_path / "p.csv", pickle.dumps([1, 2, 3]))
    assert "binary" in read_error(read_predictions, pickled, 10, DIGITS).message
    assert read_error(read_predictions, tmp_path / "missing.csv", 10, DIGITS).code == "predictions-unreadable"
    big = write(tmp_path / "big.csv", "1\n" * 600)
    error = read_error(read_predictions, big, 10, DIGITS, cap=1000)
    assert error.code == "predictions-too-large" and "big.csv" in error.message


def test_row_cap(tmp_path, monkeypatch):
    monkeypatch.setattr("grader.readers.predictions.MAX_PREDICTION_ROWS", 100)
    error = read_error(read_predictions, write(tmp_path / "many.txt", "1\n" * 150), 10, DIGITS)
    assert error.code == "predictions-too-large" and error.message.startswith("many.txt has 150 rows")
    np.save(tmp_path / "many.npy", np.zeros(150, dtype=int))
    assert read_error(read_predictions, tmp_path / "many.npy", 10, DIGITS).code == "predictions-too-large"


def test_utf8_bom_and_semicolons(tmp_path):
    text = "\ufeffactual;predicted\n1;1\n2;3\n"
    result = read_predictions(write(tmp_path / "p.csv", text), 10, DIGITS)
    assert result.actual == [1, 2] and result.labels == [1, 3]


# ================================================================== metrics


@pytest.mark.parametrize(
    ("text", "accuracy", "loss"),
    [
        ("Test Accuracy: 0.9917\nTest Loss: 0.0515", 0.9917, 0.0515),
        ("Test Set Loss: 0.03\n Test Set Accuracy: 0.99", 0.99, 0.03),
        ("test_acc = 0.981\ntest_loss = 0.07\n", 0.981, 0.07),
        ("Accuracy = 0.95\r\nLoss = 0.2\r\n", 0.95, 0.2),
        ("Test accuracy: 99.1%\nTest loss: 0.031", 0.991, 0.031),
        ("   Test Accuracy: 0.75\n   Test Loss: 0.9", 0.75, 0.9),
        ("test accuracy: 98.5", 0.985, None),
        ("Evaluation accuracy: 0.6, evaluation loss: 1.2", 0.6, 1.2),
        ("Validation accuracy: 0.9\nTest accuracy: 0.8", 0.8, None),
        ("Test Loss: np.float64(0.25)", None, 0.25),
    ],
)
def test_metric_spellings(tmp_path, text, accuracy, loss):
    result = read_metrics(write(tmp_path / "metrics.txt", text))
    assert result.format == "text"
    assert result.test_accuracy == pytest.approx(accuracy) if accuracy is not None else result.test_accuracy is None
    assert result.test_loss == pytest.approx(loss) if loss is not None else result.test_loss is None


def test_per_epoch_lists_and_test_values(tmp_path):
    text = (
        "Training Loss: [0.18, 0.05, 0.03]\nTraining Accuracy: [0.94, 0.98, 0.99]\n"
        "val_accuracy: [0.97 0.98\n 0.985]\nValidation Loss: [0.1, 0.08, 0.07]\n"
        "Test Loss: 0.0515\nTest Accuracy: 0.9917"
    )
    result = read_metrics(write(tmp_path / "m.txt", text))
    assert result.history == {
        "loss": [0.18, 0.05, 0.03], "accuracy": [0.94, 0.98, 0.99],
        "val_accuracy": [0.97, 0.98, 0.985], "val_loss": [0.1, 0.08, 0.07],
    }
    assert (result.test_accuracy, result.test_loss) == (0.9917, 0.0515)


def test_validation_history_is_never_promoted_to_test(tmp_path):
    result = read_metrics(write(tmp_path / "m.txt", "val_accuracy: [0.5, 0.7]\nval_loss: [1.0, 0.8]\n"))
    assert result.test_accuracy is None and result.test_loss is None
    assert result.history["val_accuracy"] == [0.5, 0.7]
    single = read_metrics(write(tmp_path / "v.txt", "Validation Accuracy: 0.91\nTraining accuracy: 0.99"))
    assert single.test_accuracy is None
    assert single.history == {"val_accuracy": [0.91], "accuracy": [0.99]}  # kept as last-epoch figures


def test_keras_fit_log_becomes_history(tmp_path):
    text = (
        "Epoch 1/2\n1875/1875 [==============================] - 5s 2ms/step - loss: 0.2000 - accuracy: 0.9400 "
        "- val_loss: 0.1000 - val_accuracy: 0.9700\n"
        "Epoch 2/2\n1875/1875 [==============================] - 4s 2ms/step - loss: 0.0500 - accuracy: 0.9850 "
        "- val_loss: 0.0800 - val_accuracy: 0.9800\n"
        "Test accuracy: 0.9812\n"
    )
    result = read_metrics(write(tmp_path / "log.txt", text))
    assert result.history["loss"] == [0.2, 0.05] and result.history["val_accuracy"] == [0.97, 0.98]
    assert result.test_accuracy == 0.9812 and result.test_loss is None


def test_csv_logger_with_keras_22_names(tmp_path):
    text = "epoch,acc,loss,val_acc,val_loss\n0,0.5,1.5,0.55,1.4\n1,0.6,1.2,0.58,1.3\n"
    result = read_metrics(write(tmp_path / "training.log", text))
    assert result.format == "csv-log"
    assert result.history == {"accuracy": [0.5, 0.6], "loss": [1.5, 1.2], "val_accuracy": [0.55, 0.58], "val_loss": [1.4, 1.3]}
    assert result.test_accuracy is None


def test_pandas_history_csv_and_one_row_csv(tmp_path):
    history = read_metrics(write(tmp_path / "h.csv", ",loss,accuracy\n0,0.3,0.9\n1,0.2,0.95\n"))
    assert history.history == {"loss": [0.3, 0.2], "accuracy": [0.9, 0.95]}
    one_row = read_metrics(write(tmp_path / "s.csv", "Test Loss,Test Accuracy\n0.04,0.988\n"))
    assert (one_row.test_loss, one_row.test_accuracy, one_row.history) == (0.04, 0.988, {})
    key_value = read_metrics(write(tmp_path / "kv.csv", "metric,value\ntest_accuracy,0.97\ntest_loss,0.1\n"))
    assert key_value.format == "csv-key-value" and key_value.test_accuracy == 0.97 and key_value.test_loss == 0.1


def test_headerless_number_tables(tmp_path):
    four = "0.015307 0.995292 0.015182 0.995250\n0.012250 0.996271 0.016857 0.994667\n"
    result = read_metrics(write(tmp_path / "m.txt", four))
    assert result.format == "text-table-guessed" and result.test_accuracy is None
    assert result.history == {"loss": [0.015307, 0.01225], "accuracy": [0.995292, 0.996271],
                              "val_loss": [0.015182, 0.016857], "val_accuracy": [0.99525, 0.994667]}
    three = read_metrics(write(tmp_path / "t.txt", "1 2 3\n4 5 6\n"))
    assert three.format == "text-table" and three.history == {"column_1": [1, 4], "column_2": [2, 5], "column_3": [3, 6]}
    not_accuracy = read_metrics(write(tmp_path / "n.txt", "1.5 2.0\n1.2 3.0\n"))
    assert not_accuracy.format == "text-table" and "accuracy" not in not_accuracy.history


@pytest.mark.parametrize(
    ("content", "accuracy", "loss", "history"),
    [
        ({"test_accuracy": 0.99, "test_loss": 0.03, "history": {"accuracy": [0.9, 0.95], "val_accuracy": [0.91, 0.96]}},
         0.99, 0.03, {"accuracy": [0.9, 0.95], "val_accuracy": [0.91, 0.96]}),
        ({"accuracy": 0.97}, 0.97, None, {}),
        ({"acc": 0.96, "loss": 0.12}, 0.96, 0.12, {}),
        ({"test": {"accuracy": 0.93, "loss": 0.2}}, 0.93, 0.2, {}),
        ({"6.1": {"test_accuracy": 0.991}}, 0.991, None, {}),
        ({"val_accuracy": [0.8, 0.9], "loss": [1.0, 0.5]}, None, None, {"val_accuracy": [0.8, 0.9], "loss": [1.0, 0.5]}),
        ([0.031, 0.9912], 0.9912, 0.031, {}),
    ],
)
def test_json_metrics(tmp_path, content, accuracy, loss, history):
    result = read_metrics(write(tmp_path / "metrics.json", json.dumps(content)))
    assert result.format.startswith("json")
    assert (result.test_accuracy, result.test_loss, result.history) == (accuracy, loss, history)


def test_python_dict_repr(tmp_path):
    text = "{'loss': [0.5, np.float64(0.25)], 'accuracy': [0.8, 0.9], 'test_accuracy': np.float32(0.91)}"
    result = read_metrics(write(tmp_path / "history.txt", text))
    assert result.format == "python-literal"
    assert result.history == {"loss": [0.5, 0.25], "accuracy": [0.8, 0.9]} and result.test_accuracy == 0.91


@pytest.mark.parametrize("protocol", [2, 3, 4, 5])
def test_pickled_history_dict_every_protocol(tmp_path, protocol):
    payload = {
        "test_accuracy": np.float64(0.9914),
        "test_loss": 0.031,
        "history_dict": {"loss": [0.2, np.float64(0.05)], "val_accuracy": [np.float32(0.5), 0.75], "lr": [0.001, 0.001]},
    }
    result = read_metrics(write(tmp_path / "training_metrics", pickle.dumps(payload, protocol=protocol)))
    assert result.format == "pickle"
    assert result.test_accuracy == 0.9914 and result.test_loss == 0.031
    assert result.history == {"loss": [0.2, 0.05], "val_accuracy": [0.5, 0.75], "lr": [0.001, 0.001]}


def test_pickled_object_keeps_only_its_plain_data(tmp_path):
    result = read_metrics(write(tmp_path / "h.pkl", pickle.dumps(_FakeHistory(), protocol=4)))
    assert result.history == {"loss": [0.4, 0.3], "accuracy": [0.7, 0.8]}


class _FakeHistory:
    def __init__(self) -> None:
        self.history = {"loss": [0.4, 0.3], "accuracy": [0.7, 0.8]}
        self.epoch = [0, 1]


class _Exploit:
    def __init__(self, sentinel: Path) -> None:
        self.sentinel = sentinel

    def __reduce__(self):
        return (os.system, (f"touch {self.sentinel}",))


def test_malicious_pickle_is_never_executed(tmp_path):
    sentinel = tmp_path / "pwned"
    alone = write(tmp_path / "alone", pickle.dumps(_Exploit(sentinel)))
    error = read_error(read_metrics, alone)
    assert error.code == "metrics-empty"
    mixed = write(tmp_path / "mixed", pickle.dumps({"loss": [0.5, 0.4], "payload": _Exploit(sentinel), "test_acc": 0.9}))
    result = read_metrics(mixed)
    assert result.history == {"loss": [0.5, 0.4]} and result.test_accuracy == 0.9
    assert not sentinel.exists()


def test_safe_load_replaces_calls_with_opaque():
    value = safe_load(pickle.dumps({"call": _Exploit(Path("/nonexistent")), "n": 1}, protocol=2))
    assert isinstance(value["call"], Opaque) and value["call"].what.endswith(".system") and value["n"] == 1
    with pytest.raises(UnsafePickle):
        safe_load(pickle.dumps({"a": [1.0] * 50})[:30])


def test_truncated_and_binary_metrics(tmp_path):
    cut = write(tmp_path / "training_metrics", pickle.dumps({"loss": [0.1] * 100})[:60])
    error = read_error(read_metrics, cut)
    assert error.code == "metrics-unreadable" and "metrics.json" in error.message
    assert read_error(read_metrics, write(tmp_path / "blob", b"\x00\x01\x02" * 50)).code == "metrics-unreadable"
    empty = read_error(read_metrics, write(tmp_path / "e.txt", "  \n"))
    assert empty.code == "metrics-empty" and "e.txt" in empty.message
    prose = read_error(read_metrics, write(tmp_path / "p.txt", "The model did well on MNIST.\n"))
    assert prose.code == "metrics-empty" and '"test_accuracy"' in prose.message
    assert read_error(read_metrics, write(tmp_path / "big.txt", "x" * 2000), cap=1000).code == "metrics-too-large"


def test_np_save_of_history_dict_and_evaluate_scores(tmp_path):
    np.save(tmp_path / "history.npy", {"loss": [0.5, 0.25], "accuracy": [0.8, 0.9]}, allow_pickle=True)
    result = read_metrics(tmp_path / "history.npy")
    assert result.format == "npy-pickle" and result.history == {"loss": [0.5, 0.25], "accuracy": [0.8, 0.9]}
    np.save(tmp_path / "scores.npy", np.array([0.04, 0.987]))
    scores = read_metrics(tmp_path / "scores.npy")
    assert scores.format == "npy-evaluate-guessed" and (scores.test_loss, scores.test_accuracy) == (0.04, 0.987)


# =================================================================== images


def _png(path: Path, image: Image.Image) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    image.save(path, format="PNG")
    return path


def _plot_like(size=(640, 480)) -> Image.Image:
    image = Image.new("RGB", size, "white")
    draw = ImageDraw.Draw(image)
    draw.rectangle([60, 40, size[0] - 20, size[1] - 50], outline="black", width=2)
    draw.line([(60, 400), (200, 200), (400, 150), (600, 120)], fill=(31, 119, 180), width=3)
    draw.line([(60, 420), (200, 300), (400, 260), (600, 250)], fill=(255, 127, 14), width=3)
    draw.text((300, 450), "epochs", fill="black")
    return image


def test_plot_is_not_blank_and_hash_matches(tmp_path):
    path = _png(tmp_path / "accuracy.png", _plot_like())
    info = read_image(path)
    assert (info.format, info.width, info.height, info.blank, info.extension_mismatch) == ("PNG", 640, 480, False, False)
    assert info.sha256 == hashlib.sha256(path.read_bytes()).hexdigest()


def test_blank_images(tmp_path):
    assert read_image(_png(tmp_path / "white.png", Image.new("RGBA", (432, 288), (255, 255, 255, 255)))).blank
    assert read_image(_png(tmp_path / "clear.png", Image.new("RGBA", (432, 288), (0, 0, 0, 0)))).blank
    dotted = Image.new("RGB", (640, 480), "white")
    ImageDraw.Draw(dotted).rectangle([10, 10, 14, 14], fill="black")  # 25 of 307,200 pixels
    assert read_image(_png(tmp_path / "dot.png", dotted)).blank
    noise = Image.fromarray(np.random.default_rng(0).integers(0, 255, (100, 100, 3), dtype=np.uint8))
    assert not read_image(_png(tmp_path / "noise.png", noise)).blank


def test_extension_mismatch_is_sniffed(tmp_path):
    fake_jpg = _png(tmp_path / "photo.jpg", _plot_like())
    info = read_image(fake_jpg)
    assert info.format == "PNG" and info.extension_mismatch is True
    real_jpg = tmp_path / "photo.jpeg"
    _plot_like().save(real_jpg, format="JPEG")
    assert read_image(real_jpg).extension_mismatch is False
    jfif = tmp_path / "bird.jfif"
    _plot_like().save(jfif, format="JPEG")
    assert read_image(jfif).format == "JPEG" and not read_image(jfif).extension_mismatch
    no_extension = write(tmp_path / "picture", real_jpg.read_bytes())
    assert read_image(no_extension).extension_mismatch is True


def test_too_large_is_refused_before_decoding(tmp_path):
    path = _png(tmp_path / "big.png", Image.new("RGB", (2000, 1000), "white"))
    error = read_error(read_image, path, max_pixels=1_000_000)
    assert error.code == "image-too-large" and "2000x1000" in error.message and "big.png" in error.message
    # A tiny PNG whose header claims 100000 x 100000: refused from the header alone, quickly.
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
    header = struct.pack(">IIBBBBB", 100_000, 100_000, 8, 2, 0, 0, 0)
    bomb = write(tmp_path / "bomb.png", b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"\x00" * 100)) + chunk(b"IEND", b""))
    started = time.monotonic()
    assert read_error(read_image, bomb).code == "image-too-large"
    assert read_error(thumbnail_png, bomb).code == "image-too-large"
    assert time.monotonic() - started < 2


def test_corrupt_and_truncated_images(tmp_path):
    assert read_error(read_image, write(tmp_path / "x.png", os.urandom(500))).code == "image-unreadable"
    jpeg = io.BytesIO()
    Image.fromarray(np.random.default_rng(1).integers(0, 255, (400, 400, 3), dtype=np.uint8)).save(jpeg, format="JPEG")
    cut = write(tmp_path / "cut.jpg", jpeg.getvalue()[: len(jpeg.getvalue()) // 2])
    error = read_error(read_image, cut)
    assert error.code == "image-unreadable" and "cut.jpg" in error.message
    png = _png(tmp_path / "full.png", _plot_like())
    cut_png = write(tmp_path / "cut.png", png.read_bytes()[:3000])
    assert read_error(read_image, cut_png).code == "image-unreadable"
    assert read_error(read_image, tmp_path / "missing.png").code == "image-unreadable"


def test_only_plain_image_decoders_are_used(tmp_path):
    """An EPS file (which Pillow would hand to Ghostscript) under a .png name is refused, not rendered."""
    eps = write(tmp_path / "plot.png", "%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 10 10\nshowpage\n")
    error = read_error(read_image, eps)
    assert error.code == "image-unreadable" and "plot.png" in error.message


@pytest.mark.slow
def test_big_png_plot_is_checked_and_thumbnailed_quickly(tmp_path):
    plot = Image.new("RGB", (7848, 5723), "white")
    draw = ImageDraw.Draw(plot)
    for x in range(0, 7848, 400):
        draw.line([(x, 5723), (7848, 5723 - x // 2)], fill=(31, 119, 180), width=12)
    path = _png(tmp_path / "accuracy.png", plot)
    started = time.monotonic()
    info = read_image(path)
    thumb = Image.open(io.BytesIO(thumbnail_png(path)))
    assert time.monotonic() - started < 6
    assert (info.width, info.height, info.blank) == (7848, 5723, False)
    assert thumb.size == (800, 583)


def test_perceptual_hash_finds_near_duplicates(tmp_path):
    original = _png(tmp_path / "a.png", _plot_like())
    smaller = tmp_path / "b.jpg"
    _plot_like().resize((320, 240)).save(smaller, format="JPEG", quality=80)
    other = _png(tmp_path / "c.png", Image.fromarray(np.random.default_rng(2).integers(0, 255, (64, 64, 3), dtype=np.uint8)))
    first, second, third = perceptual_hash(original), perceptual_hash(smaller), perceptual_hash(other)
    assert len(first) == 16 and int(first, 16) >= 0
    assert hash_distance(first, second) <= 4
    assert hash_distance(first, third) > 10


def test_thumbnail_of_a_big_photo_is_fast(tmp_path):
    big = tmp_path / "big.jpg"
    gradient = np.linspace(0, 255, 4000, dtype=np.uint8)
    Image.fromarray(np.stack([np.tile(gradient, (3000, 1))] * 3, axis=-1)).save(big, format="JPEG", quality=85)
    started = time.monotonic()
    data = thumbnail_png(big)
    assert time.monotonic() - started < 3
    thumb = Image.open(io.BytesIO(data))
    assert thumb.format == "PNG" and max(thumb.size) <= 800 and thumb.size[0] > thumb.size[1]
    small = Image.open(io.BytesIO(thumbnail_png(big, max_side=100)))
    assert max(small.size) <= 100


# ================================================================= imagenet


def test_canonical_csv_ordered_by_rank(tmp_path):
    text = (
        "image,rank,wnid,label,probability\n"
        "dog.jpg,2,n02108089,boxer,0.2\n"
        "dog.jpg,1,n02108422,bull_mastiff,0.51\n"
        "cat.png,1,n02124075,Egyptian_cat,0.62\n"
    )
    predictions = read_imagenet_predictions(write(tmp_path / "predictions.csv", text))
    assert [(p.image, p.rank, p.label, p.wnid, p.probability) for p in predictions] == [
        ("dog.jpg", 1, "bull_mastiff", "n02108422", 0.51),
        ("dog.jpg", 2, "boxer", "n02108089", 0.2),
        ("cat.png", 1, "Egyptian_cat", "n02124075", 0.62),
    ]


def test_other_csv_headers_and_paths(tmp_path):
    text = "Filename,Prediction,Confidence\nC:\\Users\\me\\images\\a b.jpg,golden_retriever,96.5\n/home/me/pics/c.png,tabby,0.4\n"
    predictions = read_imagenet_predictions(write(tmp_path / "p.csv", text))
    assert [(p.image, p.rank, p.label, p.probability) for p in predictions] == [
        ("a b.jpg", 1, "golden_retriever", 0.965), ("c.png", 1, "tabby", 0.4)]


def test_decode_predictions_on_the_image_line(tmp_path):
    text = (
        "dog.jpg: [[('n02108422', 'bull_mastiff', 0.510823)]]\n"
        "mug.jpg: [[('n07930864', 'cup', 0.7891268), ('n03063599', 'coffee_mug', 0.1)]]\n"
    )
    predictions = read_imagenet_predictions(write(tmp_path / "p.txt", text))
    assert [(p.image, p.rank, p.label, p.wnid) for p in predictions] == [
        ("dog.jpg", 1, "bull_mastiff", "n02108422"), ("mug.jpg", 1, "cup", "n07930864"), ("mug.jpg", 2, "coffee_mug", "n03063599")]
    assert predictions[0].probability == 0.510823


def test_decode_predictions_on_the_line_after_a_windows_path(tmp_path):
    text = (
        "images\\Image01 - barnabas-unsplash.jpg\r\n"
        "Predicted: [('n04418357', 'theater_curtain', 0.4265667), ('n10148035', 'groom', np.float32(0.15))]\r\n"
        "images\\Image02 - corn.JPG\r\n"
        "Predicted:[('n12144580', 'corn', 0.82925004)]\r\n"
    )
    predictions = read_imagenet_predictions(write(tmp_path / "p.txt", text))
    assert [(p.image, p.rank, p.label, p.probability) for p in predictions] == [
        ("Image01 - barnabas-unsplash.jpg", 1, "theater_curtain", 0.4265667),
        ("Image01 - barnabas-unsplash.jpg", 2, "groom", 0.15),
        ("Image02 - corn.JPG", 1, "corn", 0.82925004),
    ]


def test_predictions_without_image_names_are_numbered(tmp_path):
    text = "Predicted: [('n02108422', 'bull_mastiff', 0.5)]\nPredicted: [('n07747607', 'orange', 0.9), ('n07749582', 'lemon', 0.05)]\n"
    predictions = read_imagenet_predictions(write(tmp_path / "p.txt", text))
    assert [(p.image, p.rank, p.label) for p in predictions] == [("#1", 1, "bull_mastiff"), ("#2", 1, "orange"), ("#2", 2, "lemon")]


def test_description_probability_lines(tmp_path):
    text = (
        "C:\\Users\\aarti\\Big Data (2241-1)\\Week 6\\images\\penguin.jpg -- Description : king_penguin-- Probability : 0.9999255\n"
        "C:\\Users\\aarti\\images\\phone.webp -- Description : pay-phone-- Probability : 0.5\n"
    )
    predictions = read_imagenet_predictions(write(tmp_path / "p.txt", text))
    assert [(p.image, p.label, p.probability, p.rank) for p in predictions] == [
        ("penguin.jpg", "king_penguin", 0.9999255, 1), ("phone.webp", "pay-phone", 0.5, 1)]


def test_item_match_blocks(tmp_path):
    text = (
        "Image: images/dog.jpg\nItem: bull_mastiff Match: 0.51\nItem: boxer Match: 0.20\n\n"
        "Image: images/cat.jpg\nItem: tabby Match: 45.5%\n"
    )
    predictions = read_imagenet_predictions(write(tmp_path / "p.txt", text))
    assert [(p.image, p.rank, p.label, p.probability) for p in predictions] == [
        ("dog.jpg", 1, "bull_mastiff", 0.51), ("dog.jpg", 2, "boxer", 0.2), ("cat.jpg", 1, "tabby", 0.455)]


def test_json_imagenet_predictions(tmp_path):
    content = {"dog.jpg": [["n02108422", "bull_mastiff", 0.51], ["n02108089", "boxer", 0.2]],
               "cat.jpg": [{"label": "tabby", "probability": 0.4}]}
    predictions = read_imagenet_predictions(write(tmp_path / "p.json", json.dumps(content)))
    assert [(p.image, p.rank, p.label, p.wnid) for p in predictions] == [
        ("dog.jpg", 1, "bull_mastiff", "n02108422"), ("dog.jpg", 2, "boxer", "n02108089"), ("cat.jpg", 1, "tabby", None)]


def test_image_names_without_labels(tmp_path):
    error = read_error(read_imagenet_predictions, write(tmp_path / "6_3_predictions.txt", "car_race.jpg\nface.jpg\n"))
    assert error.code == "no-labels"
    assert "6_3_predictions.txt lists 2 image names" in error.message and "predictions are missing" in error.message
    assert "image,rank,wnid,label,probability" in error.message
    other = read_error(read_imagenet_predictions, write(tmp_path / "x.txt", "nothing useful here\n"))
    assert other.code == "imagenet-unreadable"
    assert read_error(read_imagenet_predictions, write(tmp_path / "b.txt", b"\x00\x01" * 10)).code == "imagenet-unreadable"


# ============================================================ hostile text


def test_long_hostile_lines_are_read_quickly(tmp_path):
    """Patterns are bounded, so a few MB of near-matches cannot make a reader crawl."""
    started = time.monotonic()
    words = write(tmp_path / "words.txt", "test accuracy is high " * 100_000)
    assert read_error(read_metrics, words).code == "metrics-empty"
    descriptions = write(tmp_path / "d.txt", "x.jpg -- Description : " * 100_000)
    assert read_error(read_imagenet_predictions, descriptions).code == "no-labels"
    tuples = write(tmp_path / "t.txt", "a.jpg: [('n01234567', '" + "a" * 2_000_000)
    assert read_error(read_imagenet_predictions, tuples).code == "no-labels"
    assert time.monotonic() - started < 10


# ================================================================ notebooks


def _notebook(tmp_path: Path) -> Path:
    png = io.BytesIO()
    _plot_like().resize((64, 48)).save(png, format="PNG")
    notebook = nbformat.v4.new_notebook()
    notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    notebook.cells = [
        nbformat.v4.new_markdown_cell("# Assignment 6"),
        nbformat.v4.new_code_cell("import keras\nmodel.add(layers.Dropout(0.5))", outputs=[
            nbformat.v4.new_output("stream", name="stdout", text="Test accuracy: 0.99\n"),
        ]),
        nbformat.v4.new_code_cell("plt.plot(history.history['accuracy'])", outputs=[
            nbformat.v4.new_output("display_data", data={"image/png": __import__("base64").b64encode(png.getvalue()).decode(),
                                                         "text/plain": "<Figure size 640x480>"}),
            nbformat.v4.new_output("error", ename="ValueError", evalue="bad shape", traceback=[]),
        ]),
    ]
    path = tmp_path / "assignment06.ipynb"
    path.write_text(nbformat.writes(notebook), encoding="utf-8")
    return path


def test_read_notebook_v4(tmp_path):
    info = read_notebook(_notebook(tmp_path))
    assert isinstance(info, NotebookInfo)
    assert info.n_cells == 3 and info.kernel == "python3"
    assert "layers.Dropout(0.5)" in info.cells_source and "plt.plot" in info.cells_source
    assert "# Assignment 6" not in info.cells_source
    assert info.outputs_text == ["Test accuracy: 0.99\n", "<Figure size 640x480>", "ValueError: bad shape"]
    assert len(info.images) == 1 and Image.open(io.BytesIO(info.images[0])).size == (64, 48)


def test_read_notebook_v3(tmp_path):
    v3 = {
        "metadata": {"name": "old"}, "nbformat": 3, "nbformat_minor": 0,
        "worksheets": [{"cells": [
            {"cell_type": "code", "input": "x = Dropout(0.25)", "language": "python", "outputs": [
                {"output_type": "stream", "stream": "stdout", "text": "done\n"}]},
            {"cell_type": "markdown", "source": "text"},
        ], "metadata": {}}],
    }
    info = read_notebook(write(tmp_path / "old.ipynb", json.dumps(v3)))
    assert info.cells_source == "x = Dropout(0.25)" and info.outputs_text == ["done\n"] and info.n_cells == 2


def test_unreadable_notebook_and_script(tmp_path):
    error = read_error(read_notebook, write(tmp_path / "broken.ipynb", '{"cells": [ '))
    assert error.code == "notebook-unreadable" and "broken.ipynb" in error.message
    script = read_notebook(write(tmp_path / "train.py", "model.add(Dropout(0.5))\n"))
    assert script.cells_source == "model.add(Dropout(0.5))\n" and script.images == [] and script.kernel is None


@pytest.mark.parametrize(
    ("code", "generator", "dropout", "layers"),
    [
        ("datagen = ImageDataGenerator(rescale=1./255)", False, False, False),
        ("datagen = ImageDataGenerator(\n    rescale=1./255,\n    rotation_range=40,\n    horizontal_flip=True)", True, False, False),
        ("ImageDataGenerator(horizontal_flip=False, zoom_range=0)", False, False, False),
        ("ImageDataGenerator(width_shift_range=0.1)", True, False, False),
        ("# model.add(layers.Dropout(0.5))\nmodel.add(layers.Dense(10))", False, False, False),
        ("model.add(layers.Dropout(0.5))  # regularise", False, True, False),
        ("x = layers.SpatialDropout2D(0.2)(x)", False, True, False),
        ("%matplotlib inline\naug = keras.Sequential([layers.RandomFlip('horizontal'), layers.RandomRotation(0.1)])", False, False, True),
        ("x = tf.keras.layers.experimental.preprocessing.RandomZoom(0.1)(x)", False, False, True),
    ],
)
def test_source_mentions(code, generator, dropout, layers):
    mentions = source_mentions(code)
    assert (mentions["image_data_generator"], mentions["dropout"], mentions["augmentation_layers"]) == (generator, dropout, layers)
    if dropout:
        assert "Dropout" in mentions["evidence"]["dropout"][0]
    if generator:
        assert mentions["evidence"]["image_data_generator"][0].startswith("ImageDataGenerator(")
