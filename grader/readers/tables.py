"""Tables a student wrote, read as text: CSV, JSON, markdown (pipe) tables,
and the whitespace-aligned text a notebook shows for a pandas DataFrame
(``print(df)`` or a cell ending with ``df``).

A file or an output may hold several tables, or a table among other lines:
:func:`tables_in_text` returns every one it finds, each a header and rows of
cells (text, nothing evaluated). Which table is the one wanted (the comparison
of the models, say) the caller decides (grader/readers/model_table.py).
"""

from __future__ import annotations

import csv
import io
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from grader.readers._files import decode_text, looks_binary, read_capped
from grader.readers.errors import ReadError

MAX_TABLE_BYTES = 5 * 1024 * 1024   # a comparison table is a few hundred bytes
MAX_ROWS = 2000                     # rows kept from one table
MAX_COLUMNS = 64
MAX_CELL = 300                      # characters kept of one cell
MAX_TABLES = 200                    # tables kept from one file or notebook
TEXT_SUFFIXES = {".md", ".markdown", ".txt", ".rst", ".text"}
JSON_SUFFIXES = {".json"}
DELIMITED_SUFFIXES = {".csv", ".tsv"}

# A markdown separator row: |---|:---:|, or a grid border: +----+----+.
_SEPARATOR_ROW = re.compile(r"^\s*[|+]?\s*:?[-=]{2,}:?\s*(?:[|+]\s*:?[-=]{2,}:?\s*)*[|+]?\s*$")
_BORDER_ROW = re.compile(r"^\s*[+|][-=+|:\s]*$")
_GAP = re.compile(r"\s{2,}")


@dataclass
class Table:
    """A header and rows of cells, as written."""

    header: list[str]
    rows: list[list[str]]
    format: str                   # "csv", "json", "markdown", "text"
    where: str = ""               # within its file: "line 4", "cell 12 (In [9])"
    notes: list[str] = field(default_factory=list)

    def column(self, index: int) -> list[str]:
        return [row[index] if index < len(row) else "" for row in self.rows]


def read_tables(path: Path, *, cap: int = MAX_TABLE_BYTES) -> list[Table]:
    """Every table in a .csv, .tsv, .json, .md or .txt file; a ReadError when none can be read."""
    data = read_capped(path, cap, "table", "a table (CSV, JSON or markdown)")
    if looks_binary(data):
        raise ReadError("table-unreadable", f"{path.name} is not text; save the comparison table as a CSV file "
                                            "(df.to_csv('results/comparison.csv', index=False))")
    text = decode_text(data)
    suffix = path.suffix.lower()
    if suffix in JSON_SUFFIXES:
        tables = _json_tables(text, path.name)
    elif suffix in DELIMITED_SUFFIXES:
        tables = [t for t in [_delimited_table(text, "\t" if suffix == ".tsv" else None)] if t is not None]
    else:
        tables = tables_in_text(text)
    if not tables:
        raise ReadError("table-unreadable", f"{path.name}: no table found in it; write one row per model with a "
                                            "header row (model, test_accuracy, params, ms_per_image)")
    return tables


# ------------------------------------------------------------ delimited text


def _delimited_table(text: str, delimiter: str | None) -> Table | None:
    lines = [line for line in text.splitlines() if line.strip()][: MAX_ROWS + 1]
    if not lines:
        return None
    if delimiter is None:
        delimiter = max((",", ";", "\t", "|"), key=lambda d: lines[0].count(d))
        if lines[0].count(delimiter) == 0:
            return None
    rows = [_cells(row) for row in csv.reader(io.StringIO("\n".join(lines)), delimiter=delimiter)]
    rows = [row for row in rows if any(cell for cell in row)]
    if len(rows) < 2:
        return None
    return Table(rows[0], rows[1:], "csv")


def _cells(row: list[str]) -> list[str]:
    return [cell.strip().strip('"').strip()[:MAX_CELL] for cell in row[:MAX_COLUMNS]]


# ------------------------------------------------------------------- JSON


def _json_tables(text: str, name: str) -> list[Table]:
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ReadError("table-unreadable", f"{name} is not valid JSON ({exc.msg} at line {exc.lineno}); "
                                            "write it with json.dump or df.to_json(orient='records')") from None
    except (ValueError, RecursionError):      # nested thousands deep, or a number too long to read
        raise ReadError("table-unreadable", f"{name} is not a JSON table; write it with "
                                            "df.to_json(orient='records')") from None
    table = json_table(value)
    return [table] if table is not None else []


def json_table(value: Any, depth: int = 0) -> Table | None:
    """A table from the shapes json.dump and DataFrame.to_json write:
    records ``[{"model": .., "accuracy": ..}]``, ``{"columns", "index", "data"}``
    (orient="split"), a dict of rows keyed by model (orient="index") or of columns
    keyed by header (orient="columns"/"list"), or any of these under one key
    (``{"models": [...]}``)."""
    if depth > 3:
        return None
    if isinstance(value, list) and value and all(isinstance(item, dict) for item in value):
        return _records(value)
    if not isinstance(value, dict) or not value:
        return None
    if isinstance(value.get("columns"), list) and isinstance(value.get("data"), list):
        return _split_orient(value)
    inner = list(value.values())
    if all(isinstance(item, dict) for item in inner):
        if _is_index_orient(value):
            return _records([{"model": key, **row} for key, row in value.items()])
        return _columns_orient(value)
    if all(isinstance(item, list) for item in inner) and len({len(item) for item in inner}) == 1:
        return _records([dict(zip(value, cells)) for cells in zip(*inner)])
    nested = [item for item in inner if isinstance(item, (list, dict))]
    return json_table(nested[0], depth + 1) if len(nested) == 1 else None


def _records(records: list[dict]) -> Table | None:
    header: list[str] = []
    for record in records[:MAX_ROWS]:
        header.extend(str(key) for key in record if str(key) not in header)
    header = header[:MAX_COLUMNS]
    rows = [[_text(record.get(key, record.get(_original_key(record, key)))) for key in header]
            for record in records[:MAX_ROWS]]
    return Table([h[:MAX_CELL] for h in header], rows, "json") if header and rows else None


def _original_key(record: dict, key: str):
    return next((k for k in record if str(k) == key), key)


def _split_orient(value: dict) -> Table | None:
    columns = [_text(c) for c in value["columns"]][:MAX_COLUMNS]
    index = value.get("index") if isinstance(value.get("index"), list) else None
    rows = []
    for number, row in enumerate(value["data"][:MAX_ROWS]):
        cells = [_text(c) for c in row] if isinstance(row, list) else [_text(row)]
        rows.append(([_text(index[number])] if index and number < len(index) else []) + cells)
    header = (["model"] if index else []) + columns
    return Table(header, rows, "json") if rows else None


def _is_index_orient(value: dict) -> bool:
    """{"CNN": {"accuracy": ..}, ...}: the inner keys are the same few metric names."""
    inner_keys = [set(map(str, row)) for row in value.values()]
    outer = set(map(str, value))
    shared = set.intersection(*inner_keys) if inner_keys else set()
    return bool(shared) and not (outer & shared) and not _looks_like_metric_names(outer)


def _looks_like_metric_names(keys: set[str]) -> bool:
    return any(re.search(r"acc|param|time|latency|flop|loss", key.lower()) for key in keys)


def _columns_orient(value: dict) -> Table | None:
    """{"accuracy": {"CNN": .7, "ResNet": .8}, "params": {...}}: one row per inner key."""
    labels: list[str] = []
    for column in value.values():
        labels.extend(str(key) for key in column if str(key) not in labels)
    header = ["model", *map(str, value)][:MAX_COLUMNS]
    rows = [[label, *(_text(column.get(label, _original_key(column, label)) if label in map(str, column) else "")
                      for column in value.values())][:MAX_COLUMNS] for label in labels[:MAX_ROWS]]
    return Table(header, rows, "json") if rows else None


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer() and abs(value) >= 1e3:
        return str(int(value))
    return str(value)[:MAX_CELL]


# ------------------------------------------------------- markdown and text


def tables_in_text(text: str) -> list[Table]:
    """Every pipe table (markdown, or a tabulate grid) and every aligned
    whitespace table (a printed DataFrame) in ``text``, in order."""
    lines = text.splitlines()[: 20 * MAX_ROWS]
    tables: list[Table] = []
    for start, block in _blocks(lines):
        if sum("|" in line for line in block) >= 2:
            table = _pipe_table(block)
        else:
            table = _aligned_table(block)
        if table is not None:
            table.where = f"line {start + 1}"
            tables.append(table)
            if len(tables) >= MAX_TABLES:
                break
    return tables


def _blocks(lines: list[str]) -> list[tuple[int, list[str]]]:
    """Runs of lines that could be one table: pipe lines together, other
    non-empty lines together (a DataFrame's lines are never blank between)."""
    blocks: list[tuple[int, list[str]]] = []
    current: list[str] = []
    start = 0
    piped = False
    for number, line in enumerate(lines + [""]):
        is_pipe = "|" in line
        if not line.strip() or (current and is_pipe != piped):
            if len(current) >= 2:
                blocks.append((start, current))
            current = []
        if line.strip():
            if not current:
                start, piped = number, is_pipe
            current.append(line.rstrip())
    return blocks


def _pipe_table(block: list[str]) -> Table | None:
    rows = []
    for line in block:
        if _SEPARATOR_ROW.match(line) or _BORDER_ROW.match(line) and not re.search(r"[A-Za-z0-9]", line):
            continue
        if "|" not in line:
            continue
        cells = line.strip()
        cells = cells[1:] if cells.startswith("|") else cells
        cells = cells[:-1] if cells.endswith("|") else cells
        rows.append([cell.strip().strip("*`").strip()[:MAX_CELL] for cell in cells.split("|")][:MAX_COLUMNS])
    if len(rows) < 2 or len(rows[0]) < 2:
        return None
    return Table(rows[0], rows[1 : MAX_ROWS + 1], "markdown")


def _aligned_table(block: list[str]) -> Table | None:
    """A printed DataFrame, maybe under a title line or two printed with it."""
    for start in range(min(3, len(block) - 1)):
        table = _aligned_from(block[start:])
        if table is not None:
            return table
    return None


def _aligned_from(lines: list[str]) -> Table | None:
    """A header line, maybe an index-name line, then rows whose cells are at
    least two spaces apart; a leading index column (0, 1, 2) has no header."""
    if len(lines) < 2:
        return None
    header = _GAP.split(lines[0].strip())
    body = lines[1:]
    index_name = None
    if body and len(_GAP.split(body[0].strip())) == 1 and len(header) > 1 and body[0].startswith(body[0].strip()):
        index_name, body = body[0].strip(), body[1:]     # df.set_index("model") prints its name alone
    rows = [_GAP.split(line.strip())[:MAX_COLUMNS] for line in body[:MAX_ROWS]]
    if len(rows) < 1 or len(header) < 2:
        return None
    widths = {len(row) for row in rows}
    if len(widths) != 1:
        return None
    width = widths.pop()
    if width == len(header) + 1:
        header = [index_name or "", *header]
    elif width != len(header):
        return None
    return Table([h[:MAX_CELL] for h in header], [[c[:MAX_CELL] for c in row] for row in rows], "text")
