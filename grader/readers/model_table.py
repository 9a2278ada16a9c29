"""A table comparing models, understood: which row is which model, and its
test accuracy, parameter count, inference time, FLOPs and size as numbers,
each with the precision it was written with.

Columns are recognised by their headers (``Test accuracy (%)``, ``#params``,
``Params (M)``, ``ms/image``, ``latency_ms``, ``Inference time per image (s)``,
``MFLOPs``, ``Size (MB)``); a training time, a validation accuracy or a batch
size is never taken for one of them. Which row is which model is the caller's
``name_of`` (the rubric's patterns): a table may list the models down its
rows or across its header (then it is turned). Units come from the cell or the
header; a time without a unit is taken as milliseconds and says so.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from grader.readers.tables import MAX_TABLES, Table

KINDS = ("accuracy", "params", "trainable", "time", "flops", "size")
MAX_MODEL_ROWS = 200      # a comparison has a handful of models; the rest of a long table is not read
WORDS = {"accuracy": "test accuracy", "params": "parameters", "trainable": "trainable parameters",
         "time": "inference time", "flops": "FLOPs", "size": "size on disk"}

NameOf = Callable[[str], "str | None"]

_NUMBER = re.compile(r"(?P<number>[-+]?(?:\d{1,3}(?:[,_\u202f\u00a0']\d{3})+|\d+)?(?:\.\d+)?(?:[eE][-+]?\d+)?)")
_TRAINING = re.compile(r"\b(?:train|training|trained|fit|fitting|epochs?|val|validation)\b")
_BATCH_ONE = re.compile(r"\b(?:batch ?(?:size ?)?1|b1|bs ?1|single|one image)\b")
_COUNT_WORDS = {"k": 1e3, "thousand": 1e3, "thousands": 1e3, "m": 1e6, "mil": 1e6, "mio": 1e6, "mn": 1e6,
                "million": 1e6, "millions": 1e6, "g": 1e9, "b": 1e9, "bn": 1e9, "billion": 1e9, "billions": 1e9,
                "giga": 1e9, "mega": 1e6, "kilo": 1e3}
_TIME_WORDS = {"ms": 1.0, "msec": 1.0, "millisecond": 1.0, "milliseconds": 1.0, "s": 1000.0, "sec": 1000.0,
               "secs": 1000.0, "second": 1000.0, "seconds": 1000.0, "us": 1e-3, "µs": 1e-3, "μs": 1e-3,
               "microsecond": 1e-3, "microseconds": 1e-3, "ns": 1e-6, "min": 60000.0, "minutes": 60000.0}
_SIZE_WORDS = {"b": 1, "bytes": 1, "byte": 1, "kb": 1e3, "kib": 1024, "mb": 1e6, "mib": 2 ** 20, "gb": 1e9,
               "gib": 2 ** 30}
# On a header or cell made words (_words: "images/s" is "images s").
_THROUGHPUT = re.compile(r"\b(?:img|imgs|images?|samples?|frames?) (?:per )?(?:s|sec|second)\b|\bfps\b|"
                         r"throughput|per second")


@dataclass
class Figure:
    """One number of the table, in the grader's units: accuracy as a
    fraction, parameters and FLOPs as counts, time as ms per image, size in bytes."""

    value: float
    text: str                     # the cell as written
    rounding: float               # half a unit in the last digit written, in the value's units
    unit_known: bool = True
    note: str = ""                # how it was converted ("MACs doubled to FLOPs")

    def to_dict(self) -> dict[str, Any]:
        return {"value": self.value, "text": self.text, "rounding": self.rounding, "unit_known": self.unit_known,
                "note": self.note}


@dataclass
class ModelRow:
    part: str                     # the compared part its label names
    label: str                    # the model's name as written
    figures: dict[str, Figure] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)     # cells that are there but are not numbers


@dataclass
class ModelTable:
    format: str                   # "csv", "json", "markdown", "text"
    where: str                    # "line 3", or a notebook cell
    columns: dict[str, str]       # kind -> the header it was read from
    rows: list[ModelRow]
    unnamed: list[str] = field(default_factory=list)      # row labels that name no model
    notes: list[str] = field(default_factory=list)

    def row(self, part: str) -> ModelRow | None:
        return next((row for row in self.rows if row.part == part), None)


def model_table(tables: list[Table], name_of: NameOf) -> ModelTable | None:
    """The table that names the most models (the last of equals: a notebook's
    final version), understood; None when no table names two models."""
    best: tuple[int, int, ModelTable] | None = None
    for order, table in enumerate(tables[:MAX_TABLES]):
        understood = understand(table, name_of)
        if understood is None:
            continue
        key = (len({row.part for row in understood.rows}), order)
        if best is None or key[:1] >= best[:1]:
            best = (*key, understood)
    return best[2] if best is not None and best[0] >= 2 else None


def understand(table: Table, name_of: NameOf) -> ModelTable | None:
    table = Table(table.header, table.rows[:MAX_MODEL_ROWS], table.format, table.where, table.notes)
    table = _models_down_the_rows(table, name_of)
    label_column = _label_column(table, name_of)
    if label_column is None:
        return None
    columns = _columns(table.header, skip=label_column)
    rows, unnamed, seen = [], [], set()
    for cells in table.rows:
        label = cells[label_column] if label_column < len(cells) else ""
        part = name_of(label)
        if part is None or part in seen:
            if label.strip():
                unnamed.append(label)
            continue
        seen.add(part)
        rows.append(_row(part, label, cells, columns, table.header))
    notes = list(table.notes)
    if "time" in columns and not _time_unit(table.header[columns["time"]])[1]:
        if any(not row.figures["time"].unit_known for row in rows if "time" in row.figures):
            notes.append(f"the column '{table.header[columns['time']]}' names no unit; its times were taken as "
                         "milliseconds per image")
    return ModelTable(table.format, table.where, {kind: table.header[i] for kind, i in columns.items()},
                      rows, unnamed, notes)


# ----------------------------------------------------------------- layout


def _models_down_the_rows(table: Table, name_of: NameOf) -> Table:
    """A table with the models across its header, turned so each model is a row."""
    down = [name_of(row[0]) for row in table.rows if row]
    if sum(p is not None for p in down) >= 2:
        return table
    # The models' names are the header, or a first row under a header of
    # column numbers (a transposed DataFrame prints 0 1 2 above them).
    lines = [table.header, *table.rows]
    at = next((i for i, line in enumerate(lines[:3]) if sum(name_of(cell) is not None for cell in line[1:]) >= 2),
              None)
    if at is None:
        return table
    names, body = lines[at], lines[at + 1:]
    header = [names[0] or "model", *[row[0] if row else "" for row in body]]
    rows = [[label, *[row[i] if i < len(row) else "" for row in body]] for i, label in enumerate(names) if i > 0]
    return Table(header, rows, table.format, table.where, [*table.notes, "the models are the table's columns"])


def _label_column(table: Table, name_of: NameOf) -> int | None:
    """The column whose cells name the most models (the first of equals)."""
    width = max([len(table.header), *map(len, table.rows)] or [0])
    counts = [len({p for p in map(name_of, table.column(i)) if p is not None}) for i in range(width)]
    if not counts or max(counts) == 0:
        return None
    return counts.index(max(counts))


def column_kind(header: str) -> str | None:
    """What a column holds, from its header; None for anything else."""
    text = _words(header)
    if re.search(r"flop|\bmacs?\b|mult\w* ?adds?|\bmadds?\b", text):
        return "flops"
    if re.search(r"param|\bweights\b", text):
        if re.search(r"non ?trainable|frozen", text):
            return None
        return "trainable" if "trainable" in text else "params"
    if re.search(r"\bbatch size\b|\binput size\b|\bimage size\b|\bsize of (?:the )?(?:batch|input|image)", text):
        return None
    if re.search(r"\bsize\b|\b(?:mb|kb|gb|mib|kib)\b|\bdisk\b|\bbytes\b", text):
        return "size"
    if re.search(r"time|latency|\bms\b|millisec|\bsec\b|seconds|speed|inference|" + _THROUGHPUT.pattern, text):
        return None if _TRAINING.search(text) else "time"
    if re.search(r"acc|top ?1\b", text) and not re.search(r"top ?5", text):
        if _TRAINING.search(text) and "test" not in text:
            return None
        return "accuracy"
    if re.search(r"\berr(?:or)?s?\b", text) and not _TRAINING.search(text):
        return "error"
    return None


def _columns(header: list[str], skip: int) -> dict[str, int]:
    """kind -> column, the preferred one where several fit: a test accuracy
    over a plain one, a batch-1 time over other times, the first otherwise."""
    found: dict[str, list[int]] = {}
    for index, name in enumerate(header):
        kind = column_kind(name) if index != skip else None
        if kind is not None:
            found.setdefault(kind, []).append(index)
    chosen: dict[str, int] = {}
    for kind, indexes in found.items():
        if kind == "accuracy":
            indexes = sorted(indexes, key=lambda i: "test" not in _words(header[i]))
        elif kind == "time":
            indexes = sorted(indexes, key=lambda i: not _BATCH_ONE.search(_words(header[i])))
        chosen[kind] = indexes[0]
    if "accuracy" not in chosen and "error" in chosen:
        chosen["accuracy"] = chosen["error"]
    chosen.pop("error", None)
    return chosen


def _words(text: str) -> str:
    return " ".join(re.sub(r"[_\W]+", " ", text.lower().replace("µ", "u").replace("μ", "u")).split())


# ----------------------------------------------------------------- figures


def _row(part: str, label: str, cells: list[str], columns: dict[str, int], header: list[str]) -> ModelRow:
    row = ModelRow(part, label)
    for kind, index in columns.items():
        text = cells[index].strip() if index < len(cells) else ""
        if not text or text.lower() in ("-", "n/a", "na", "nan", "none", "?", "—", "–"):
            continue
        figure = _figure(kind, text, header[index])
        if figure is None:
            row.problems.append(f"'{text}' in column '{header[index]}' is not a number")
        else:
            row.figures[kind] = figure
    return row


def _figure(kind: str, text: str, header: str) -> Figure | None:
    parsed = number_and_unit(text)
    if parsed is None:
        return None
    value, rounding, unit = parsed
    header_words = _words(header)
    if kind == "accuracy":
        return _accuracy(value, rounding, unit, text, header, error=column_kind(header) == "error")
    if kind in ("params", "trainable", "flops"):
        scale = _unit_scale(unit) or _count_scale(header_words)
        note = ""
        if kind == "flops" and re.search(r"\bmacs?\b|mult\w* ?adds?|\bmadds?\b", header_words + " " + unit):
            scale, note = scale * 2, "multiply-adds doubled to FLOPs"
        return Figure(value * scale, text, rounding * scale, note=note)
    if kind == "size":
        scale = _SIZE_WORDS.get(unit) or _size_scale(header_words)
        return Figure(value * scale, text, rounding * scale, unit_known=scale != 1 or unit in ("b", "bytes"))
    return _time(value, rounding, unit, text, header_words)


def number_and_unit(text: str) -> tuple[float, float, str] | None:
    """(value, half a unit in its last digit, the unit word after it) of
    ``91.25 %``, ``0.27M``, ``272,474``, ``1.3 ms``, ``np.float64(0.91)``, ``~2.7e5``."""
    cleaned = re.sub(r"np\.float(?:16|32|64)\((.*)\)", r"\1", text.strip()).strip("~≈ *`\"'")
    match = _NUMBER.match(cleaned)
    if not match or not re.search(r"\d", match.group("number")):
        return None
    number = match.group("number")
    rest = cleaned[match.end():].strip().lower()
    unit = re.match(r"(%|[a-zµμ]+)", rest)
    unit_text = unit.group(1) if unit else ""
    digits = re.sub(r"[,_\u202f\u00a0']", "", number)
    try:
        value = float(digits)
    except ValueError:
        return None
    if not math.isfinite(value):
        return None
    mantissa, _, exponent = digits.lower().partition("e")
    decimals = len(mantissa.split(".")[1]) if "." in mantissa else 0
    rounding = 0.5 * 10.0 ** (-decimals + (int(exponent) if exponent else 0))
    return value, rounding, unit_text


def _accuracy(value: float, rounding: float, unit: str, text: str, header: str, error: bool) -> Figure | None:
    percent = unit == "%" or "%" in header or "percent" in header.lower() or value > 1.0
    if percent:
        value, rounding = value / 100.0, rounding / 100.0
    if error:
        value = 1.0 - value
    if not 0.0 <= value <= 1.0:
        return None
    return Figure(value, text, rounding, note="test error turned into accuracy" if error else "")


def _unit_scale(unit: str) -> float | None:
    """``m``, ``million``, ``mflops``, ``gmacs``: the multiplier a cell's unit word says."""
    if unit in _COUNT_WORDS:
        return _COUNT_WORDS[unit]
    match = re.fullmatch(r"([kmgb])(?:flops?|macs?|params?)", unit)
    return _COUNT_WORDS[match.group(1)] if match else None


def _count_scale(header: str) -> float:
    for word, scale in _COUNT_WORDS.items():
        if re.search(rf"\b{word}\b", header) or re.search(rf"\b{word}(?:flops?|macs?|params?)\b", header):
            return scale
    return 1.0


def _size_scale(header: str) -> float:
    for word, scale in _SIZE_WORDS.items():
        if word != "b" and re.search(rf"\b{word}\b", header):
            return scale
    return 1.0


def _time_unit(header: str) -> tuple[float, bool]:
    words = _words(header)
    for word, scale in _TIME_WORDS.items():
        if word != "min" and re.search(rf"\b{word.replace('µ', 'u').replace('μ', 'u')}\b", words):
            return scale, True
    return 1.0, False


def _time(value: float, rounding: float, unit: str, text: str, header: str) -> Figure | None:
    if _THROUGHPUT.search(header) or _THROUGHPUT.search(_words(text)):
        if value <= 0:
            return None
        ms = 1000.0 / value
        return Figure(ms, text, ms * rounding / value, note="images per second turned into ms per image")
    scale = _TIME_WORDS.get(unit.replace("μ", "µ"))
    known = scale is not None
    if scale is None:
        scale, known = _time_unit(header)
    return Figure(value * scale, text, rounding * scale, unit_known=known)
