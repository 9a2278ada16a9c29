"""Property-based fuzzing of the readers that take a student's bytes on the host.

Real files in the real formats (zips as students make them, Keras History
pickles, metrics and predictions in the formats the course sees), mutated
byte by byte, cut short or replaced by noise. The only outcomes allowed are a
valid record or the project's own error (ReadError, EntryError, UnsafePickle
for the pickle walker), each within a few seconds: never another exception,
never a hang. Hypothesis runs derandomized (the same examples on every run)
with bounded examples, so the file takes well under a minute.
"""

from __future__ import annotations

import io
import json
import math
import pickle
import struct
import time
import zipfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from grader import rubric as rubric_module
from grader.intake import open_submission
from grader.intake.zipread import EntryError, Progress, data_limits, entry_chunks, read_directory_size
from grader.readers import ReadError, read_metrics, read_predictions
from grader.readers.safe_pickle import Opaque, UnsafePickle, _DType, _Global, safe_load
from grader.records import Intake, MetricsFile, PredictionsFile

FUZZ = settings(derandomize=True, max_examples=60, deadline=None, database=None, print_blob=True,
                suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow,
                                       HealthCheck.data_too_large])
SECONDS_PER_EXAMPLE = 10   # far above any real read of these small files: more means a hang
DIGITS = [str(i) for i in range(10)]


@st.composite
def mutated(draw, base: bytes) -> bytes:
    """``base`` with a few bytes overwritten, a run inserted or deleted, or cut short."""
    data = bytearray(base)
    for _ in range(draw(st.integers(0, 6))):
        if not data:
            break
        where = draw(st.integers(0, len(data) - 1))
        action = draw(st.sampled_from(["set", "set", "insert", "delete", "flip"]))
        if action == "set":
            data[where] = draw(st.integers(0, 255))
        elif action == "flip":
            data[where] ^= 1 << draw(st.integers(0, 7))
        elif action == "insert":
            data[where:where] = draw(st.binary(min_size=1, max_size=16))
        else:
            del data[where:where + draw(st.integers(1, 16))]
    if draw(st.booleans()):
        data = data[: draw(st.integers(0, len(data)))]
    return bytes(data)


def samples_and_mutations(bases: dict[str, bytes]):
    """(name, bytes): one of the real files, mutated, or noise under its name."""
    name = st.sampled_from(sorted(bases))
    return name.flatmap(lambda n: st.one_of(mutated(bases[n]), st.binary(max_size=256)).map(lambda d: (n, d)))


def timed(call, *args, **kwargs):
    started = time.monotonic()
    try:
        return call(*args, **kwargs)
    finally:
        assert time.monotonic() - started < SECONDS_PER_EXAMPLE, f"{call.__name__} took too long"


# ---------------------------------------------------------------------- zips


def _zip_bytes() -> bytes:
    """A submission zip as students make them: a folder, each compression method."""
    buffer = io.BytesIO()
    history = json.dumps({"loss": [0.5, 0.3], "accuracy": [0.8, 0.9], "test_accuracy": 0.91}).encode()
    predictions = ("predicted\n" + "\n".join(str(i % 10) for i in range(40)) + "\n").encode()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("DoeJane/results/metrics_6_1.json", history, zipfile.ZIP_DEFLATED)
        archive.writestr("DoeJane/results/predictions_6_1.csv", predictions, zipfile.ZIP_STORED)
        archive.writestr("DoeJane/results/notes.txt", b"trained 10 epochs\n" * 20, zipfile.ZIP_BZIP2)
        archive.writestr("DoeJane/README.md", b"# Assignment 6\n", zipfile.ZIP_LZMA)
    return buffer.getvalue()


REAL_ZIP = _zip_bytes()


def _npy_with_header(header: bytes) -> bytes:
    """A .npy whose header dict is ``header`` (padded as numpy pads it)."""
    header += b" " * (-(10 + len(header) + 1) % 64) + b"\n"
    return b"\x93NUMPY\x01\x00" + struct.pack("<H", len(header)) + header + b"\0" * 240


# Found by this file: np.load's header parser raises tokenize.TokenError.
UNCLOSED_NPY_HEADER = _npy_with_header(b"{'descr': '<i8', 'fortran_order': False, 'shape': (30,")


@FUZZ
@given(mutated(REAL_ZIP))
@example(REAL_ZIP[1:])   # found by this file: the index then points before the archive (offset -1)
def test_zip_entries_read_or_refused_with_an_entry_error(data):
    handle = io.BytesIO(data)
    directory = timed(read_directory_size, handle, len(data))
    assert directory is None or (directory.entries >= 0 and directory.bytes >= 0)
    try:
        infos = zipfile.ZipFile(io.BytesIO(data)).infolist()
    except (zipfile.BadZipFile, OSError, EOFError, ValueError, NotImplementedError, UnicodeDecodeError) as exc:
        # zipfile's own refusals, which intake turns into a problem (sources.py)
        assert not isinstance(exc, (EntryError, ReadError))
        return
    limits = data_limits(infos, len(data))
    for index, info in enumerate(infos):
        progress = Progress()
        try:
            content = b"".join(timed(lambda: list(entry_chunks(handle, info, limits[index], progress))))
        except EntryError as exc:
            assert exc.code and exc.reason
            continue
        assert len(content) == info.file_size   # what entry_chunks yields, whole, is checked
        assert progress.consumed <= info.compress_size


@pytest.fixture(scope="module")
def rubric():
    return rubric_module.load()


@FUZZ
@given(data=mutated(REAL_ZIP))
@example(data=REAL_ZIP[1:])
def test_a_mutated_submission_zip_gives_an_intake_with_problems_never_an_exception(data, tmp_path_factory, rubric):
    folder = tmp_path_factory.mktemp("fuzz-zip")
    source = folder / "DSC650_assignment06_DoeJane.zip"
    source.write_bytes(data)
    intake = timed(open_submission, source, folder / "work", rubric)
    assert isinstance(intake, Intake)
    assert intake.usable or intake.problems
    for problem in intake.problems:
        assert problem.code and problem.message


# ------------------------------------------------------------------ pickles


def _pickles() -> dict[str, bytes]:
    history = {"loss": [0.61, 0.32, 0.21], "accuracy": [0.81, 0.9, 0.94],
               "val_loss": [0.4, 0.33, 0.3], "val_accuracy": [0.88, 0.9, 0.91]}
    numpy_history = {key: [np.float64(v) for v in values] for key, values in history.items()}
    samples = {f"history-p{protocol}": pickle.dumps(history, protocol=protocol) for protocol in (0, 2, 4, 5)}
    samples["numpy-floats"] = pickle.dumps(numpy_history, protocol=4)
    samples["numpy-floats-p2"] = pickle.dumps(numpy_history, protocol=2)
    samples["nested"] = pickle.dumps({"history": history, "params": {"epochs": 3, "steps": 10},
                                      "test": (0.29, 0.915)}, protocol=3)
    samples["array"] = pickle.dumps(np.array([0.1, 0.2, 0.3]), protocol=4)
    return samples


PICKLES = _pickles()


def _plain(value, depth=0) -> bool:
    """Only plain data and Opaque placeholders come out of the walker."""
    assert depth < 200
    if isinstance(value, dict):
        return all(_plain(k, depth + 1) and _plain(v, depth + 1) for k, v in value.items())
    if isinstance(value, (list, tuple, set, frozenset)):
        return all(_plain(v, depth + 1) for v in value)
    if isinstance(value, Opaque):
        return all(_plain(v, depth + 1) for v in value.contents)
    if isinstance(value, (_Global, _DType)):
        return True   # inert names the walker met (a class, a dtype) kept inside an Opaque, never imported
    return value is None or isinstance(value, (bool, int, float, complex, str, bytes, bytearray))


def test_the_real_pickles_walk_to_their_values():
    assert safe_load(PICKLES["history-p0"])["val_accuracy"] == [0.88, 0.9, 0.91]
    assert safe_load(PICKLES["numpy-floats"])["loss"] == [0.61, 0.32, 0.21]
    assert safe_load(PICKLES["nested"])["test"] == (0.29, 0.915)


@FUZZ
@given(samples_and_mutations(PICKLES))
def test_the_pickle_walker_returns_plain_data_or_refuses(sample):
    _, data = sample
    try:
        value = timed(safe_load, data)
    except UnsafePickle as exc:
        assert str(exc)
        return
    assert _plain(value)


@FUZZ
@given(sample=samples_and_mutations(PICKLES))
def test_a_mutated_history_pickle_is_metrics_or_a_read_error(sample, tmp_path_factory):
    name, data = sample
    path = tmp_path_factory.mktemp("fuzz-pkl") / "history_6_1.pkl"
    path.write_bytes(data)
    _metrics_or_read_error(path)


# ------------------------------------------------------------------ metrics


def _metrics_files() -> dict[str, bytes]:
    history_csv = "epoch,loss,accuracy,val_loss,val_accuracy\n" + "".join(
        f"{e},{0.5 - e / 20:.3f},{0.8 + e / 100:.3f},{0.45 - e / 30:.3f},{0.82 + e / 90:.3f}\n" for e in range(6))
    buffer = io.BytesIO()
    np.save(buffer, np.array([0.293, 0.9141]))
    return {
        "metrics.json": json.dumps({"test_accuracy": 0.9141, "test_loss": 0.293,
                                    "history": {"loss": [0.5, 0.3], "val_accuracy": [0.8, 0.9]}}).encode(),
        "history.csv": history_csv.encode(),
        "results.txt": b"Test loss: 0.2930\nTest accuracy: 0.9141\n",
        "log.txt": b"Epoch 1/2\n469/469 - 12s - loss: 0.41 - accuracy: 0.87 - val_loss: 0.2 - val_accuracy: 0.94\n"
                   b"Epoch 2/2\n469/469 - 11s - loss: 0.21 - accuracy: 0.93 - val_loss: 0.1 - val_accuracy: 0.96\n",
        "python-dict.txt": b"{'loss': [0.5, 0.3], 'accuracy': [0.81, 0.9]}\n",
        "scores.npy": buffer.getvalue(),
    }


METRICS = _metrics_files()


def _metrics_or_read_error(path: Path) -> None:
    try:
        result = timed(read_metrics, path)
    except ReadError as exc:
        assert exc.code.startswith("metrics") and path.name in exc.message
        return
    assert isinstance(result, MetricsFile)
    for value in (result.test_accuracy, result.test_loss):
        assert value is None or isinstance(value, float)
    for key, values in result.history.items():
        assert isinstance(key, str) and all(isinstance(v, float) for v in values)


@pytest.mark.parametrize("name", sorted(METRICS))
def test_the_real_metrics_files_read(name, tmp_path):
    path = tmp_path / name
    path.write_bytes(METRICS[name])
    result = read_metrics(path)
    expected = {  # (test accuracy, last loss in the history, format)
        "metrics.json": (0.9141, 0.3, "json"), "history.csv": (None, 0.25, "csv-log"),
        "results.txt": (0.9141, None, "text"), "log.txt": (None, 0.21, "text"),
        "python-dict.txt": (None, 0.3, "python-literal"), "scores.npy": (0.9141, None, "npy-evaluate-guessed"),
    }[name]
    assert (result.test_accuracy, (result.history.get("loss") or [None])[-1], result.format) == expected


@FUZZ
@given(sample=samples_and_mutations(METRICS))
@example(sample=("scores.npy", UNCLOSED_NPY_HEADER))
def test_mutated_metrics_are_metrics_or_a_read_error(sample, tmp_path_factory):
    name, data = sample
    path = tmp_path_factory.mktemp("fuzz-metrics") / name
    path.write_bytes(data)
    _metrics_or_read_error(path)


# -------------------------------------------------------------- predictions


def _prediction_files() -> dict[str, bytes]:
    rows = 30
    labels = [(i * 7) % 10 for i in range(rows)]
    probabilities = np.full((rows, 10), 0.01)
    probabilities[np.arange(rows), labels] = 0.91
    labels_npy, probabilities_npy = io.BytesIO(), io.BytesIO()
    np.save(labels_npy, np.array(labels, dtype="int64"))
    np.save(probabilities_npy, probabilities.astype("float32"))
    return {
        "predictions.csv": ("predicted,actual\n"
                            + "".join(f"{p},{(p + i) % 10}\n" for i, p in enumerate(labels))).encode(),
        "probabilities.csv": ",".join(DIGITS).encode() + b"\n" + "".join(
            ",".join(f"{v:.2f}" for v in row) + "\n" for row in probabilities).encode(),
        "labels.txt": "".join(f"{p}\n" for p in labels).encode(),
        "bracketed.txt": str(labels).encode(),
        "pandas.csv": (",0\n" + "".join(f"{i},{p}\n" for i, p in enumerate(labels))).encode(),
        "labels.npy": labels_npy.getvalue(),
        "probabilities.npy": probabilities_npy.getvalue(),
    }


PREDICTIONS = _prediction_files()


@pytest.mark.parametrize("name", sorted(PREDICTIONS))
def test_the_real_prediction_files_read(name, tmp_path):
    path = tmp_path / name
    path.write_bytes(PREDICTIONS[name])
    result = read_predictions(path, 10, DIGITS, expected_rows=30)
    assert result.n_rows == 30 and result.labels[:3] == [0, 7, 4]


@FUZZ
@given(sample=samples_and_mutations(PREDICTIONS))
@example(sample=("labels.npy", UNCLOSED_NPY_HEADER))
def test_mutated_predictions_are_predictions_or_a_read_error(sample, tmp_path_factory):
    name, data = sample
    path = tmp_path_factory.mktemp("fuzz-predictions") / name
    path.write_bytes(data)
    try:
        result = timed(read_predictions, path, 10, DIGITS, expected_rows=30)
    except ReadError as exc:
        assert exc.code.startswith("predictions") and path.name in exc.message
        return
    assert isinstance(result, PredictionsFile) and result.n_rows >= 0
    if result.labels is not None:
        assert len(result.labels) == result.n_rows and all(0 <= label < 10 for label in result.labels)
    if result.probabilities is not None:
        assert len(result.probabilities) == result.n_rows
        assert all(len(row) == 10 and all(math.isfinite(v) for v in row) for row in result.probabilities)
