"""Read what the sandbox wrote, as untrusted data.

The output folder was writable by a student's code, so every file may be a
symlink to a host file, a FIFO, huge, or hold anything. Files are opened with
O_NOFOLLOW and O_NONBLOCK, must be regular and under a size cap, result.json
is parsed as JSON and every field type-checked, and arrays are read with
allow_pickle=False after their header (dtype, shape, size) is checked.
"""

from __future__ import annotations

import json
import math
import os
import re
import stat
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np

RESULT_MAX_BYTES = 8 * 1024 * 1024
TEXT_LIMIT = 600
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")


class Malformed(Exception):
    """A file or field the sandbox wrote that is not what the runner writes."""


class OutputProblem(Exception):
    """A well-formed prediction array that does not fit the task; the message
    is in plain words for the student."""


def open_untrusted(path: Path, max_bytes: int) -> BinaryIO:
    """A regular file under ``max_bytes``, never through a symlink or a FIFO."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except FileNotFoundError:
        raise
    except OSError as exc:
        raise Malformed(f"{path.name} cannot be opened safely ({exc.strerror})") from None
    info = os.fstat(fd)
    if not stat.S_ISREG(info.st_mode):
        os.close(fd)
        raise Malformed(f"{path.name} is not a regular file")
    if info.st_size > max_bytes:
        os.close(fd)
        raise Malformed(f"{path.name} is {info.st_size} bytes, over the {max_bytes}-byte limit")
    return os.fdopen(fd, "rb")


def _no_constants(name: str) -> Any:
    raise Malformed(f"result.json holds {name}, which is not valid JSON")


def read_result(output_dir: Path) -> dict[str, Any] | None:
    """result.json as a dict, None when the runner never wrote it."""
    try:
        with open_untrusted(output_dir / "result.json", RESULT_MAX_BYTES) as handle:
            raw = handle.read(RESULT_MAX_BYTES + 1)
    except FileNotFoundError:
        return None
    try:
        data = json.loads(raw.decode("utf-8"), parse_constant=_no_constants)
    except (UnicodeDecodeError, ValueError) as exc:
        raise Malformed(f"result.json is not valid JSON ({exc.__class__.__name__})") from None
    if not isinstance(data, dict):
        raise Malformed("result.json does not hold an object")
    for key in ("models", "imagenet"):
        if not isinstance(data.get(key, {}), dict):
            raise Malformed(f"result.json's {key} is not an object")
    return data


# ------------------------------------------------------------- field checks


def text(value: Any, limit: int = TEXT_LIMIT) -> str:
    """A string field, with control characters removed and cut to ``limit``."""
    if value is None:
        return ""
    if not isinstance(value, str):
        raise Malformed(f"expected text, found {type(value).__name__}")
    cleaned = _CONTROL.sub(" ", value).strip()
    return cleaned if len(cleaned) <= limit else cleaned[: limit - 1] + "…"


def optional_text(value: Any, limit: int = TEXT_LIMIT) -> str | None:
    return None if value is None else text(value, limit)


def integer(value: Any, low: int = 0, high: int = 10**12) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise Malformed(f"expected a whole number in {low}..{high}, found {value!r:.40}")
    return value


def flag(value: Any) -> bool | None:
    if value is None or isinstance(value, bool):
        return value
    raise Malformed(f"expected true or false, found {value!r:.40}")


def number(value: Any, low: float, high: float) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) \
            or not low <= value <= high:
        raise Malformed(f"expected a number in {low}..{high}, found {value!r:.40}")
    return float(value)


def shape(value: Any) -> list[int | None] | None:
    if value is None:
        return None
    if not isinstance(value, list) or len(value) > 8:
        raise Malformed("a shape is not a short list")
    return [None if d is None else integer(d, 0, 10**9) for d in value]


def counts(value: Any) -> dict[str, int]:
    if value is None:
        return {}
    if not isinstance(value, dict) or len(value) > 500:
        raise Malformed("layer counts are not a small object")
    return {text(k, 80): integer(v, 0, 10**6) for k, v in value.items()}


def texts(value: Any, limit: int = 20) -> list[str]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise Malformed("expected a list of texts")
    return [text(item) for item in value[:limit]]


def text_map(value: Any) -> dict[str, str]:
    if value is None:
        return {}
    if not isinstance(value, dict) or len(value) > 20:
        raise Malformed("expected a small object of texts")
    return {text(k, 40): text(v) for k, v in value.items()}


def layer_graph(value: Any) -> dict[str, Any] | None:
    """The runner's trace of the model's layers (grader.architecture's plain
    form), re-validated layer by layer; None when absent or not a graph (the
    model is still graded, without the sandbox's view of its architecture)."""
    from grader.architecture.graph import GraphError, graph_from_plain

    if value is None:
        return None
    try:
        return graph_from_plain(value, source="sandbox").to_plain()
    except (GraphError, RecursionError):
        return None


def mapping(value: Any, what: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise Malformed(f"{what} is not an object")
    return value


FINGERPRINT_DIMS = 32            # the runner's FINGERPRINT_DIMS
FINGERPRINT_MAX_TENSORS = 200


def weight_fingerprints(value: Any) -> list[dict[str, Any]]:
    """The runner's per-tensor fingerprints, checked field by field: a name,
    a shape, the sampling stride, a norm and FINGERPRINT_DIMS finite numbers.
    Anything else is Malformed (the model is still graded without them)."""
    if value is None:
        return []
    if not isinstance(value, list) or len(value) > FINGERPRINT_MAX_TENSORS:
        raise Malformed("the weight fingerprints are not a short list")
    prints = []
    for entry in value:
        entry = mapping(entry, "a weight fingerprint")
        projection = entry.get("projection")
        if not isinstance(projection, list) or len(projection) != FINGERPRINT_DIMS:
            raise Malformed(f"a weight fingerprint does not hold {FINGERPRINT_DIMS} numbers")
        dims = entry.get("shape")
        if not isinstance(dims, list) or len(dims) > 8:
            raise Malformed("a weight fingerprint's shape is not a short list")
        prints.append({
            "name": text(entry.get("name"), 120),
            "shape": [integer(d, 0, 10**9) for d in dims],
            "stride": integer(entry.get("stride"), 1, 10**9),
            "norm": number(entry.get("norm"), 0.0, 1e30),
            "projection": [number(v, -1e30, 1e30) for v in projection],
        })
    return prints


def optional_weight_fingerprints(value: Any) -> list[dict[str, Any]]:
    """weight_fingerprints, or [] when they are malformed: they are evidence
    for the instructor, never needed to grade the model."""
    try:
        return weight_fingerprints(value)
    except Malformed:
        return []


# ------------------------------------------------------------------ arrays


def read_probabilities(path: Path, rows: int, num_classes: int, max_bytes: int) -> np.ndarray:
    """A (rows, num_classes) float array, checked from its header before it is
    read. Raises Malformed for a broken file, OutputProblem for a model whose
    output does not fit."""
    with open_untrusted(path, max_bytes) as handle:
        try:
            version = np.lib.format.read_magic(handle)
            if version == (1, 0):
                array_shape, fortran, dtype = np.lib.format.read_array_header_1_0(handle)
            elif version == (2, 0):
                array_shape, fortran, dtype = np.lib.format.read_array_header_2_0(handle)
            else:
                raise Malformed(f"{path.name} has an unsupported .npy version {version}")
        except ValueError as exc:
            raise Malformed(f"{path.name} is not a .npy array ({exc})") from None
        if dtype.hasobject or dtype.kind not in "fiu":
            raise Malformed(f"{path.name} holds {dtype}, not numbers")
        _check_shape(array_shape, rows, num_classes)
        expected = handle.tell() + math.prod(array_shape) * dtype.itemsize
        if os.fstat(handle.fileno()).st_size != expected:
            raise Malformed(f"{path.name} is not the size its header declares")
        handle.seek(0)
        array = np.lib.format.read_array(handle, allow_pickle=False)
    if dtype.kind != "f":
        raise OutputProblem(f"the model's output is {dtype} numbers, not probabilities")
    array = np.asarray(array, dtype=np.float64)
    if not np.all(np.isfinite(array)):
        bad = int(np.sum(~np.isfinite(array).all(axis=1)))
        raise OutputProblem(f"the model's output has NaN or infinite values for {bad} of {rows} images")
    return array


def _check_shape(array_shape: tuple[int, ...], rows: int, num_classes: int) -> None:
    if len(array_shape) != 2:
        raise OutputProblem(f"the model's output has shape {array_shape}; one row of class scores "
                            "per image was expected")
    got_rows, got_classes = array_shape
    if got_classes != num_classes:
        noun = "class" if got_classes == 1 else "classes"
        raise OutputProblem(f"the model's output has {got_classes} {noun}, {num_classes} were expected")
    if got_rows != rows:
        raise OutputProblem(f"the model returned {got_rows} rows of predictions for {rows} test images")


def as_probabilities(scores: np.ndarray) -> tuple[np.ndarray, str | None]:
    """Rows that already are probabilities, or their softmax with a note saying so."""
    sums = scores.sum(axis=1)
    if scores.min() >= -1e-6 and np.allclose(sums, 1.0, atol=1e-3):
        return scores.astype(np.float32), None
    shifted = scores - scores.max(axis=1, keepdims=True)
    exp = np.exp(shifted)
    probabilities = (exp / exp.sum(axis=1, keepdims=True)).astype(np.float32)
    if scores.min() >= 0 and scores.max() <= 1:
        note = ("the model's outputs are not probabilities (its rows do not add up to 1; a sigmoid "
                "last layer?); the grader applied a softmax, which keeps the predicted class")
    else:
        note = ("the model outputs logits (its last layer has no softmax); the grader applied a "
                "softmax to turn them into probabilities")
    return probabilities, note


# ------------------------------------------------------- extras (runner modules)


def measurements(value: Any) -> dict[str, Any]:
    """runtime/measure.py's figures, re-validated on the host; {} when absent
    or malformed (evidence for a comparison check, never needed to grade)."""
    from grader.evaluate.measurements import validate_measurements

    if value is None:
        return {}
    try:
        return validate_measurements(value)
    except Malformed:
        return {}


def layer_digests(value: Any) -> dict[str, Any]:
    """runtime/digests.py's per-layer digests, re-validated on the host; {}
    when absent or malformed."""
    from grader.evaluate.digests import validate_layer_digests

    if value is None:
        return {}
    try:
        return validate_layer_digests(value)
    except Malformed:
        return {}
