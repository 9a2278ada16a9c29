"""A student's test-set predictions, in whatever shape they were written.

Handled, decided from the content (not the extension): CSV or whitespace
tables of class probabilities or one-hot rows (with or without a header, with
or without a pandas index column); columns of predicted labels as numbers or
class names, optionally beside an ``actual`` / ``true`` / ``label`` column;
cells holding a whole vector (``[0. 0. 1. ...]``); one label per line; a
printed Python/NumPy list; ``.npy`` arrays (loaded with ``allow_pickle=False``).
"""

from __future__ import annotations

import io
import math
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from grader.readers._files import (
    DAMAGED_NPY_ERRORS,
    decode_text,
    looks_binary,
    numbers_in,
    parse_number,
    read_capped,
)
from grader.limits import MAX_PREDICTION_ROWS, MAX_PREDICTIONS_BYTES
from grader.readers.errors import ReadError
from grader.records import PredictionsFile

_FIX = "write one row per test image to a CSV, either the predicted class or one probability per class"
_ACTUAL_WORDS = {"actual", "true", "truth", "target", "expected", "ground", "groundtruth", "gt", "test", "real", "correct"}
_PRED_WORDS = {"pred", "preds", "prediction", "predictions", "predicted", "ypred", "yhat", "output", "guess", "result"}
_WEAK_ACTUAL = {"label", "labels", "y", "class", "target"}
_INDEX_NAMES = {"", "unnamed0", "index", "id", "idx", "no", "row", "rownum"}


@dataclass
class _Table:
    rows: list[list[str]]
    header: list[str] | None
    delimited: bool          # comma / tab / semicolon, as opposed to whitespace or one column


def read_predictions(
    path: Path,
    num_classes: int,
    class_names: list[str],
    *,
    expected_rows: int | None = None,
    cap: int = MAX_PREDICTIONS_BYTES,
) -> PredictionsFile:
    """Parse ``path`` into predicted labels (and probabilities, true labels when given).

    ``expected_rows`` (the test-set size, when known) settles one ambiguity:
    a lone first line ``0`` is pandas's column name, not a prediction, when
    the file has exactly one line more than the test set.
    """
    data = read_capped(path, cap, "predictions", "a predictions file")
    reader = _Reader(path.name, num_classes, class_names)
    if data.startswith(b"\x93NUMPY"):
        return reader.from_npy(data)
    if data.startswith(b"PK\x03\x04"):
        raise ReadError("predictions-unreadable", f"{path.name} is a zip (.npz?), not a predictions file: {_FIX}.")
    if data[:1] == b"\x80" or looks_binary(data):
        raise ReadError(
            "predictions-unreadable",
            f"{path.name} is a binary file (a pickle?), which the grader does not open: {_FIX}.",
        )
    text = decode_text(data)
    if not text.strip():
        raise ReadError("predictions-empty", f"{path.name} is empty: {_FIX}.")
    if _is_one_bracketed_list(text):
        return reader.from_bracketed(text)
    return reader.from_table(_table(path.name, text, class_names, expected_rows))


# -------------------------------------------------------------------- tables


def _table(shown: str, text: str, class_names: list[str], expected_rows: int | None) -> _Table:
    lines = [line for line in text.splitlines() if line.strip()]
    _check_row_count(shown, len(lines))
    delimiter = _sniff_delimiter(lines[:200])
    rows = [_split(line, delimiter) for line in lines]
    header = rows[0] if _is_header(rows, class_names, expected_rows) else None
    return _Table(rows=rows[1:] if header else rows, header=header, delimited=delimiter is not None)


def _check_row_count(shown: str, rows: int) -> None:
    if rows > MAX_PREDICTION_ROWS + 1:
        raise ReadError(
            "predictions-too-large",
            f"{shown} has {rows:,} rows, more than the {MAX_PREDICTION_ROWS:,} the grader reads: "
            "write one row per test image.",
        )


def _sniff_delimiter(lines: list[str]) -> str | None:
    """The delimiter every sampled line has the same number of, outside brackets and quotes."""
    for delimiter in (",", "\t", ";", "|"):
        counts = {len(_split(line, delimiter)) for line in lines}
        if len(counts) == 1 and counts.pop() > 1:
            return delimiter
    for delimiter in (",", "\t", ";"):  # ragged rows: still the delimiter if most lines have it
        if sum(len(_split(line, delimiter)) > 1 for line in lines) > len(lines) // 2:
            return delimiter
    return None


def _split(line: str, delimiter: str | None) -> list[str]:
    """Cells of ``line``; delimiters inside ``[...]`` or quotes do not split."""
    if not any(char in line for char in "[\"'"):  # the common case, kept fast for 10,000-row files
        return [cell.strip() for cell in (line.strip().split(delimiter) if delimiter else line.split())]
    cells: list[str] = []
    current: list[str] = []
    depth, quote = 0, ""
    for char in line.strip():
        if quote:
            if char == quote:
                quote = ""
            else:
                current.append(char)
            continue
        if char in "\"'" and depth == 0:
            quote = char
            continue
        depth += (char == "[") - (char == "]")
        is_break = char == delimiter if delimiter else char.isspace()
        if is_break and depth <= 0:
            if delimiter or current:
                cells.append("".join(current).strip())
            current = []
        else:
            current.append(char)
    if delimiter or current:
        cells.append("".join(current).strip())
    return cells


def _is_header(rows: list[list[str]], class_names: list[str], expected_rows: int | None) -> bool:
    first = rows[0]
    names = {name.strip().lower() for name in class_names}
    words = [cell for cell in first if _is_wordy(cell)]
    if words:
        # Words that are not class names name columns; class names are a header
        # only when the row below is numbers (probability columns named by class).
        if any(word.strip().lower() not in names for word in words) or len(rows) < 2:
            return True
        return [_is_wordy(cell) for cell in first] != [_is_wordy(cell) for cell in rows[1]]
    numbers = [parse_number(cell) for cell in first]
    if all(n is not None and n.is_integer() for n in numbers) and numbers == list(range(len(first))):
        # pandas writes column names 0..k-1; with 1 or 2 columns that is also a plausible data row
        return len(first) >= 3 or (expected_rows is not None and len(rows) == expected_rows + 1)
    return False


def _is_wordy(cell: str) -> bool:
    return parse_number(cell) is None and not cell.strip().startswith("[")


def _is_one_bracketed_list(text: str) -> bool:
    """True when the whole file is one printed list/array, e.g. ``[7 2 1 ...]`` or ``[[0.1 ...] ...]``."""
    body = text.strip()
    if not (body.startswith("[") and body.endswith("]")):
        return False
    depth = 0
    for index, char in enumerate(body):
        depth += (char == "[") - (char == "]")
        if depth == 0:
            return index == len(body) - 1
    return False


def _normalised(name: str) -> str:
    return re.sub(r"[^a-z0-9]", "", name.lower())


def _words(name: str) -> set[str]:
    spaced = re.sub(r"([a-z])([A-Z])", r"\1 \2", name)
    return {word for word in re.split(r"[^a-z0-9]+", spaced.lower()) if word} | {_normalised(name)}


# ------------------------------------------------------------------- reading


class _Reader:
    def __init__(self, shown: str, num_classes: int, class_names: list[str]) -> None:
        self.shown = shown
        self.num_classes = num_classes
        self.class_names = list(class_names)
        self.by_name = {name.strip().lower(): index for index, name in enumerate(class_names)}
        self.used_names = False

    def fail(self, code: str, detail: str) -> ReadError:
        return ReadError(code, f"{self.shown}: {detail}; {_FIX}.")

    # ----------------------------------------------------------- npy
    def from_npy(self, data: bytes) -> PredictionsFile:
        try:
            array = np.load(io.BytesIO(data), allow_pickle=False)
        except ValueError as exc:
            if "allow_pickle" in str(exc) or "Object arrays" in str(exc):
                detail = "the .npy holds Python objects, which the grader does not unpickle"
                raise self.fail("predictions-unreadable", detail) from None
            raise self.fail("predictions-unreadable", f"the .npy file is damaged ({exc})") from None
        except DAMAGED_NPY_ERRORS as exc:
            raise self.fail("predictions-unreadable", f"the .npy file is damaged ({exc})") from None
        if array.ndim >= 1:
            _check_row_count(self.shown, array.shape[0])
        if array.ndim == 2 and array.shape[1] == 1:
            array = array[:, 0]
        if array.dtype.kind in "US" and array.ndim == 1:
            cells = [str(value.decode() if isinstance(value, bytes) else value) for value in array.tolist()]
            return self._labels_result(cells, None, "npy")
        if array.dtype.kind not in "biuf":
            raise self.fail("predictions-unreadable", f"the .npy array has dtype {array.dtype}, not numbers")
        if array.ndim == 1:
            return self._labels_result([repr(float(v)) for v in array.tolist()], None, "npy")
        if array.ndim == 2:
            return self._probabilities_result(array.astype(float).tolist(), None, "npy")
        raise self.fail(
            "predictions-shape",
            f"the .npy array has shape {array.shape}; expected (n,) labels or (n, {self.num_classes}) probabilities",
        )

    # ----------------------------------------------------- bracketed list
    def from_bracketed(self, text: str) -> PredictionsFile:
        inner = re.findall(r"\[([^\[\]]*)\]", text.strip()[1:-1])
        if not inner:  # one flat list: labels
            cells = [cell for cell in re.split(r"[\s,]+", text.strip()[1:-1]) if cell]
            return self._labels_result([cell.strip("\"'") for cell in cells], None, "text-list")
        vectors = [numbers_in(group) for group in inner]
        if all(len(vector) == 1 for vector in vectors):
            return self._labels_result([repr(vector[0]) for vector in vectors], None, "text-list")
        return self._probabilities_result(vectors, None, "text-list")

    # ---------------------------------------------------------- tables
    def from_table(self, table: _Table) -> PredictionsFile:
        if not table.rows:
            raise self.fail("predictions-empty", "there are no rows after the header")
        rows, header = self._drop_index_column(table.rows, table.header)
        width = max(len(row) for row in rows)
        if any(len(row) != width for row in rows):
            bad = next(i for i, row in enumerate(rows) if len(row) != width)
            raise self.fail("predictions-ragged", f"row {bad + 1} has {len(rows[bad])} values where others have {width}")
        container = "csv" if table.delimited or header else "text"
        if header:
            return self._from_named_columns(rows, header, container)
        return self._from_unnamed_columns(rows, container)

    def _drop_index_column(self, rows: list[list[str]], header: list[str] | None) -> tuple[list[list[str]], list[str] | None]:
        if min(len(row) for row in rows) < 2:
            return rows, header
        firsts = [parse_number(row[0]) for row in rows]
        if any(value is None or not value.is_integer() for value in firsts):
            return rows, header
        named_index = header is not None and _normalised(header[0]) in _INDEX_NAMES
        start = int(firsts[0])  # type: ignore[arg-type]
        counting = start in (0, 1) and all(int(v) == start + i for i, v in enumerate(firsts))  # type: ignore[arg-type]
        if named_index or (counting and len(rows) > self.num_classes):
            return [row[1:] for row in rows], header[1:] if header else None
        return rows, header

    def _from_named_columns(self, rows: list[list[str]], header: list[str], container: str) -> PredictionsFile:
        columns = list(zip(*rows))
        pred = next((i for i, name in enumerate(header) if _words(name) & _PRED_WORDS), None)
        actual = next((i for i, name in enumerate(header) if i != pred and _words(name) & _ACTUAL_WORDS), None)
        others = [i for i in range(len(header)) if i not in (pred, actual)]
        if actual is None and (pred is not None or len(others) == self.num_classes + 1):
            actual = next((i for i in others if _normalised(header[i]) in _WEAK_ACTUAL), None)
            others = [i for i in others if i != actual]
        actual_labels = self._labels(list(columns[actual]), "the true-label column") if actual is not None else None
        if pred is None and len(others) == 1:
            pred = others.pop()
        if pred is not None:
            probabilities = None
            if len(others) == self.num_classes:
                probabilities = self._probability_rows([[row[i] for i in others] for row in rows])
            return self._labels_result(list(columns[pred]), actual_labels, container, probabilities)
        if len(others) == self.num_classes:
            order = self._class_order([header[i] for i in others])
            matrix = [[row[others[k]] for k in order] for row in rows]
            return self._probabilities_result(self._probability_rows(matrix), actual_labels, container)
        raise self.fail(
            "predictions-columns",
            f"the columns {header} name no predicted-label column and are not {self.num_classes} class probabilities",
        )

    def _class_order(self, names: list[str]) -> list[int]:
        """Column positions in class order, when the header names the classes (in any order)."""
        wanted = [name.strip().lower() for name in names]
        if sorted(wanted) == sorted(self.by_name) and len(set(wanted)) == len(wanted):
            return [wanted.index(name.strip().lower()) for name in self.class_names]
        return list(range(len(names)))

    def _from_unnamed_columns(self, rows: list[list[str]], container: str) -> PredictionsFile:
        width = len(rows[0])
        if width == 1:
            cells = [row[0] for row in rows]
            vectors = [numbers_in(cell) if cell.startswith("[") else None for cell in cells]
            if all(vector is not None and len(vector) == self.num_classes for vector in vectors):
                return self._probabilities_result(vectors, None, container)  # type: ignore[arg-type]
            return self._labels_result(cells, None, container)
        if width == self.num_classes:
            return self._probabilities_result(self._probability_rows(rows), None, container)
        if len(rows) == 1 and width > self.num_classes:
            return self._labels_result(rows[0], None, container)
        raise self.fail(
            "predictions-columns",
            f"rows have {width} unnamed values; add a header row naming the columns "
            f"(e.g. actual,predicted) or write {self.num_classes} probabilities per row",
        )

    # ------------------------------------------------------------ cells
    def _class_index(self, cell: str) -> int | None:
        text = cell.strip().strip("\"'")
        if text.startswith("["):
            vector = numbers_in(text)
            return int(np.argmax(vector)) if len(vector) == self.num_classes else None
        number = parse_number(text)
        if number is not None:
            if number.is_integer() and 0 <= number < self.num_classes:
                return int(number)
            return None
        index = self.by_name.get(text.lower())
        if index is not None:
            self.used_names = True
        return index

    def _labels(self, cells: list[str], what: str) -> list[int]:
        labels = []
        for row, cell in enumerate(cells, start=1):
            index = self._class_index(cell)
            if index is None:
                raise self.fail(
                    "predictions-bad-label",
                    f"{what} has {cell.strip()[:40]!r} on row {row}, which is not a class number 0-{self.num_classes - 1} "
                    f"or a class name ({', '.join(self.class_names[:10])})",
                )
            labels.append(index)
        return labels

    def _probability_rows(self, rows: list[list[str]]) -> list[list[float]]:
        matrix = []
        for number, row in enumerate(rows, start=1):
            values = [parse_number(cell) for cell in row]
            if any(value is None or not math.isfinite(value) for value in values):
                raise self.fail("predictions-bad-value", f"row {number} holds a value that is not a finite number: {row[:4]}")
            matrix.append([float(v) for v in values])  # type: ignore[arg-type]
        return matrix

    # ---------------------------------------------------------- results
    def _labels_result(
        self,
        cells: list[str],
        actual: list[int] | None,
        container: str,
        probabilities: list[list[float]] | None = None,
    ) -> PredictionsFile:
        labels = self._labels(cells, "the predicted-label column")
        kind = "names" if self.used_names else "labels"
        return PredictionsFile(
            n_rows=len(labels),
            labels=labels,
            probabilities=probabilities,
            actual=actual,
            class_names=self.class_names if self.used_names else None,
            format=f"{container}-{kind}",
        )

    def _probabilities_result(
        self,
        matrix: list[list[float]],
        actual: list[int] | None,
        container: str,
    ) -> PredictionsFile:
        widths = {len(row) for row in matrix}
        if widths != {self.num_classes}:
            raise self.fail(
                "predictions-shape",
                f"rows have {sorted(widths)[0]} values, expected {self.num_classes} (one probability per class)",
            )
        if any(not math.isfinite(value) for row in matrix for value in row):
            raise self.fail("predictions-bad-value", "some probabilities are NaN or infinite")
        one_hot = all(value in (0.0, 1.0) for row in matrix for value in row) and all(sum(row) == 1.0 for row in matrix)
        return PredictionsFile(
            n_rows=len(matrix),
            labels=[int(np.argmax(row)) for row in matrix],
            probabilities=matrix,
            actual=actual,
            format=f"{container}-{'one-hot' if one_hot else 'probabilities'}",
        )
