"""A student's reported test metrics and training history.

Handled, decided from the content: JSON (the grader's canonical
``{"test_accuracy": .., "test_loss": .., "history": {..}}`` and looser
shapes), text such as ``Test Accuracy: 0.99`` / ``Training Loss: [..]`` in
many spellings, Keras CSVLogger logs and other CSV tables, whitespace tables
without a header, and pickled History dicts (pickle or ``np.save`` of a dict),
which are walked opcode by opcode and never unpickled (see safe_pickle).

History keys use Keras 2.3+ names: ``loss``, ``accuracy``, ``val_loss``,
``val_accuracy`` (``acc`` and ``Training Accuracy`` are renamed). A test value
is only taken from something that says it is one; validation figures are never
promoted to test figures.
"""

from __future__ import annotations

import ast
import csv
import io
import json
import math
import re
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from grader.readers._files import DAMAGED_NPY_ERRORS, decode_text, looks_binary, numbers_in, parse_number, read_capped
from grader.limits import MAX_METRICS_BYTES
from grader.readers.errors import ReadError
from grader.readers.safe_pickle import Opaque, UnsafePickle, safe_load
from grader.records import MetricsFile

CANONICAL_EXAMPLE = '{"test_accuracy": 0.99, "test_loss": 0.03, "history": {"accuracy": [...], "val_accuracy": [...]}}'
_TEST_WORDS = {"test", "testing", "eval", "evaluation", "evaluate", "holdout"}
_FILLER_WORDS = {"set", "model", "the", "final", "overall", "is", "of", "on", "data", "my", "score", "result", "results", "value"}
_HISTORY_KEYS = {"history", "history_dict", "hist", "training_history", "train_history", "histories", "logs"}
_SKIPPED_COLUMNS = {"epoch", "epochs", "step", "steps", "", "unnamed_0", "index"}
_PICKLE_STARTS = (b"\x80", b"(dp", b"(lp", b"}q", b"]q")
_MAX_NODES = 1_000_000  # items visited while looking for metrics in a pickled value
_MAX_PAIRS = 100_000    # "key: value" separators looked at in a text file

_NUMBER_TEXT = r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?"
# A pair is found from its separator: the value must follow it, the key (at most
# 60 letters, digits and spaces) must end just before it. Anchoring on the
# separator keeps the scan linear even on megabytes of hostile text.
_SEPARATOR = re.compile(r"[:=]")
_VALUE_AFTER = re.compile(rf"[ \t]*(\[[^\[\]]*\]|np\.float(?:16|32|64)\({_NUMBER_TEXT}\)|{_NUMBER_TEXT}[ \t]*%?)")
_KEY_BEFORE = re.compile(r"([A-Za-z][A-Za-z0-9_ \t]{0,60})['\"]?[ \t]*$")


@dataclass
class _Found:
    """Metrics gathered before deciding which scalar is the test figure."""

    scalars: list[tuple[str, float]] = field(default_factory=list)   # (scalar_key, value) in file order
    history: dict[str, list[float]] = field(default_factory=dict)


def read_metrics(path: Path, *, cap: int = MAX_METRICS_BYTES) -> MetricsFile:
    data = read_capped(path, cap, "metrics", "a metrics file")
    if not data.strip():
        raise _empty(path.name, "the file is empty")
    if data.startswith(b"\x93NUMPY"):
        return _from_npy(path.name, data)
    if data.startswith(_PICKLE_STARTS):
        return _from_pickle(path.name, data, "pickle")
    if looks_binary(data):
        raise ReadError(
            "metrics-unreadable",
            f"{path.name} is a binary file the grader cannot read as metrics: write metrics.json like {CANONICAL_EXAMPLE}.",
        )
    text = decode_text(data)
    for reader in (_from_json, _from_csv, _from_number_table, _from_text):
        result = reader(text)
        if result is not None:
            return result
    raise _empty(path.name, "no test accuracy, test loss or per-epoch history was found in it")


def _empty(shown: str, why: str) -> ReadError:
    return ReadError("metrics-empty", f"{shown}: {why}; write metrics.json like {CANONICAL_EXAMPLE}.")


# ------------------------------------------------------------- keys, values


@lru_cache(maxsize=4096)
def scalar_key(key: str) -> str:
    """``Test Set Acc`` -> ``test_set_accuracy``, ``Validation Loss`` -> ``val_loss``; ``training`` is kept."""
    name = re.sub(r"[^a-z0-9]+", "_", key.strip().lower()).strip("_")
    name = re.sub(r"^(?:validation|valid)_", "val_", name)
    return re.sub(r"(^|_)acc$", r"\1accuracy", name)


def canonical_key(key: str) -> str:
    """A history key in Keras 2.3+ names: ``Training Accuracy`` -> ``accuracy``, ``val_acc`` -> ``val_accuracy``."""
    return re.sub(r"^(?:training|train)_", "", scalar_key(key))


def _test_role(key: str) -> tuple[str, int] | None:
    """("test_accuracy" | "test_loss", priority) for a scalar key that names a test figure."""
    words = {word for word in key.split("_") if not word.isdigit()}  # "6_1_test_accuracy" is fine
    if words & {"val", "validation", "train", "training"}:
        return None
    measures = {word for word in words if word.startswith("acc") or word == "loss"}
    if len(measures) != 1 or not words - measures <= _TEST_WORDS | _FILLER_WORDS:
        return None
    role = "test_loss" if "loss" in measures else "test_accuracy"
    return role, 2 if words & _TEST_WORDS else 1


def _is_epoch_figure(key: str) -> bool:
    words = set(key.split("_"))
    return bool(words & {"val", "train", "training"}) and bool(words & {"loss", "accuracy"})


def _as_fraction(role: str, value: float) -> float:
    """Accuracies written as percentages (``99.1``) become fractions."""
    return value / 100 if role == "test_accuracy" and 1 < value <= 100 else value


def _result(found: _Found, fmt: str) -> MetricsFile | None:
    best: dict[str, tuple[int, float]] = {}
    for key, value in found.scalars:
        role = _test_role(key)
        if role and role[1] >= best.get(role[0], (0, 0.0))[0]:
            best[role[0]] = (role[1], _as_fraction(role[0], value))  # the last of equals wins
    history = {key: values for key, values in found.history.items() if values and key not in _SKIPPED_COLUMNS}
    for key, value in found.scalars:  # one training/validation figure: the last epoch's, kept as such
        if _is_epoch_figure(key) and canonical_key(key) not in history:
            history[canonical_key(key)] = [value]
    if not best and not history:
        return None
    return MetricsFile(
        test_accuracy=best["test_accuracy"][1] if "test_accuracy" in best else None,
        test_loss=best["test_loss"][1] if "test_loss" in best else None,
        history=history,
        format=fmt,
    )


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


# -------------------------------------------------------- JSON and pickles


def _from_json(text: str) -> MetricsFile | None:
    body = text.strip()
    if not body.startswith(("{", "[")):
        return None
    try:
        return _from_value(json.loads(body), "json")
    except (json.JSONDecodeError, RecursionError):
        pass
    value = _python_literal(body)
    return _from_value(value, "python-literal") if value is not None else None


def _python_literal(body: str) -> Any:
    """``str(history.history)`` written to a file: a Python literal, read with literal_eval (no code runs)."""
    if len(body) > 5 * 2**20:
        return None
    cleaned = re.sub(r"np\.float(?:16|32|64)\(([^()]*)\)", r"\1", body)
    try:
        return ast.literal_eval(cleaned)
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        return None


def _from_pickle(shown: str, data: bytes, fmt: str) -> MetricsFile:
    try:
        value = safe_load(data)
    except UnsafePickle as exc:
        raise ReadError(
            "metrics-unreadable",
            f"{shown} looks like a pickle but cannot be read as data ({exc}): write metrics.json like {CANONICAL_EXAMPLE}.",
        ) from None
    result = _from_value(value, fmt)
    if result is None:
        raise _empty(shown, "the pickle holds no dict of metric names to numbers the grader can read without unpickling it")
    return result


def _from_npy(shown: str, data: bytes) -> MetricsFile:
    """``np.save`` of a History dict (an object array: its payload is a pickle) or of evaluate()'s [loss, acc]."""
    header_end = data.find(b"\n", 10) + 1
    if b"'|O'" in data[:header_end]:
        return _from_pickle(shown, data[header_end:], "npy-pickle")
    try:
        array = np.load(io.BytesIO(data), allow_pickle=False)
    except DAMAGED_NPY_ERRORS as exc:
        raise ReadError(
            "metrics-unreadable", f"{shown} is a damaged .npy file ({exc}): write metrics.json like {CANONICAL_EXAMPLE}."
        ) from None
    if array.dtype.kind in "iuf" and array.shape == (2,):
        loss, accuracy = (float(v) for v in array)
        return MetricsFile(test_accuracy=_as_fraction("test_accuracy", accuracy), test_loss=loss, format="npy-evaluate-guessed")
    raise _empty(shown, f"the .npy array has shape {array.shape}, not the [loss, accuracy] model.evaluate returns")


def _from_value(value: Any, fmt: str) -> MetricsFile | None:
    if isinstance(value, (list, tuple)) and len(value) == 2 and all(_is_number(v) for v in value):
        loss, accuracy = (float(v) for v in value)  # model.evaluate's [loss, accuracy]
        return MetricsFile(test_accuracy=_as_fraction("test_accuracy", accuracy), test_loss=loss, format=f"{fmt}-evaluate-guessed")
    found = _Found()
    for mapping in _mappings_in(value):
        _collect(mapping, "", found, depth=0)
        if found.scalars or found.history:
            break
    return _result(found, fmt)


def _mappings_in(value: Any) -> list[dict[Any, Any]]:
    """Dicts in ``value``, outermost first; looks inside lists and Opaque placeholders."""
    found: list[dict[Any, Any]] = []
    pending, seen, visited = deque([value]), set(), 0
    while pending and visited < _MAX_NODES:
        item = pending.popleft()
        visited += 1
        if id(item) in seen:
            continue
        seen.add(id(item))
        if isinstance(item, dict):
            found.append(item)
        elif isinstance(item, (list, tuple)):
            pending.extend(part for part in item if isinstance(part, (dict, list, tuple, Opaque)))
        elif isinstance(item, Opaque):
            pending.extend(item.contents)
    return found


def _collect(mapping: dict[Any, Any], prefix: str, found: _Found, depth: int) -> None:
    if depth > 4:
        return
    for raw_key, value in mapping.items():
        if not isinstance(raw_key, str):
            continue
        if _is_number(value):
            found.scalars.append((scalar_key(prefix + raw_key), float(value)))
        elif isinstance(value, (list, tuple)) and value and all(_is_number(v) for v in value):
            found.history[canonical_key(prefix + raw_key)] = [float(v) for v in value]
        elif isinstance(value, dict):  # {"history": {...}} adds no prefix, {"test": {...}} does
            nested = "" if canonical_key(raw_key) in _HISTORY_KEYS else f"{raw_key}_"
            _collect(value, prefix + nested, found, depth + 1)


# --------------------------------------------------------------------- CSV


def _from_csv(text: str) -> MetricsFile | None:
    """CSVLogger logs, ``pd.DataFrame(history.history).to_csv()``, and ``metric,value`` rows."""
    lines = [line for line in text.splitlines() if line.strip()]
    if len(lines) < 2 or "," not in lines[0]:
        return None
    try:
        rows = list(csv.reader(lines))
    except csv.Error:  # e.g. an unclosed quote running past the field limit
        return None
    if all(len(row) == 2 and parse_number(row[0]) is None and parse_number(row[1]) is not None for row in rows[1:]):
        pairs = [(scalar_key(row[0]), parse_number(row[1])) for row in rows if len(row) == 2]  # row 1 may be a header
        return _result(_Found(scalars=[(key, value) for key, value in pairs if value is not None]), "csv-key-value")
    header, body = rows[0], rows[1:]
    if any(parse_number(cell) is not None or ":" in cell or "[" in cell for cell in header if cell.strip()):
        return None
    columns: dict[str, list[float]] = {}
    for index, name in enumerate(header):
        values = [parse_number(row[index]) if index < len(row) else None for row in body]
        if all(value is not None for value in values):
            columns[name] = [float(v) for v in values]  # type: ignore[arg-type]
    if not columns:
        return None
    if len(body) == 1:
        return _result(_Found(scalars=[(scalar_key(name), values[0]) for name, values in columns.items()]), "csv")
    columns = {canonical_key(name): values for name, values in columns.items()}
    fmt = "csv-log" if "epoch" in columns else "csv"
    return _result(_Found(history=columns), fmt)


def _from_number_table(text: str) -> MetricsFile | None:
    """Rows of numbers with no header, e.g. ``0.0153 0.9953 0.0152 0.9952`` per epoch.

    The columns are named only when the numbers fit Keras's own order
    (loss, accuracy[, val_loss, val_accuracy]) with accuracies within 0..1;
    the format says the names were guessed.
    """
    lines = [line for line in text.splitlines() if line.strip()]
    rows = [re.split(r"[\s,;]+", line.strip()) for line in lines]
    if not rows or any(parse_number(cell) is None for row in rows for cell in row):
        return None
    widths = {len(row) for row in rows}
    if len(widths) != 1:
        return None
    width = widths.pop()
    columns = [[float(parse_number(row[i])) for row in rows] for i in range(width)]  # type: ignore[arg-type]
    if len(rows) == 1 and width == 2:
        return _from_value(columns[0] + columns[1], "text")
    if len(rows) < 2 or width < 2:
        return None
    names = {2: ["loss", "accuracy"], 4: ["loss", "accuracy", "val_loss", "val_accuracy"]}.get(width)
    if names and all(0 <= v <= 1 for i, name in enumerate(names) if "accuracy" in name for v in columns[i]):
        return MetricsFile(history=dict(zip(names, columns)), format="text-table-guessed")
    return MetricsFile(history={f"column_{i + 1}": column for i, column in enumerate(columns)}, format="text-table")


# -------------------------------------------------------------------- text


def _from_text(text: str) -> MetricsFile | None:
    """``key: value`` and ``key = [v1, v2, ...]`` pairs anywhere in the text."""
    occurrences: dict[str, list[float]] = {}
    found = _Found()
    for key, raw in _pairs(text):
        if raw.startswith("["):
            values = numbers_in(raw[1:-1])
            if values:
                found.history[canonical_key(key)] = values
            continue
        number = parse_number(raw.rstrip().rstrip("%"))
        if number is None or not math.isfinite(number):
            continue
        value = number / 100 if raw.rstrip().endswith("%") else number
        occurrences.setdefault(key, []).append(value)
        found.scalars.append((key, value))
    for key, values in occurrences.items():  # a key printed every epoch is a history
        role = _test_role(key)
        if len(values) > 1 and not (role and role[1] == 2) and canonical_key(key) not in found.history:
            found.history[canonical_key(key)] = values
            found.scalars = [(k, v) for k, v in found.scalars if k != key]
    return _result(found, "text")


def _pairs(text: str) -> Iterator[tuple[str, str]]:
    """(scalar key, raw value) for each ``key: value`` / ``key = value`` in ``text`` (the first _MAX_PAIRS)."""
    for count, separator in enumerate(_SEPARATOR.finditer(text)):
        if count >= _MAX_PAIRS:
            return
        value = _VALUE_AFTER.match(text, separator.end())
        if not value:
            continue
        key = _KEY_BEFORE.search(text, max(0, separator.start() - 64), separator.start())
        if key:
            yield scalar_key(key.group(1)), value.group(1)
