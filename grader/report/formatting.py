"""Turning record values into short plain text for reports and spreadsheets.

Everything here returns plain ``str``; HTML escaping is Jinja's job
(autoescape is on), so nothing in this module builds markup.
"""

from __future__ import annotations

import json
import math
import re
from enum import Enum
from pathlib import Path, PurePath
from typing import Any

ARCHIVE_SUFFIXES = (".tar.gz", ".tar.bz2", ".tar.xz", ".zip", ".tgz", ".tar", ".7z", ".rar")
MAX_TEXT_CHARS = 500          # one evidence value or message in a table cell
MAX_LIST_ITEMS = 20
# Characters that make a spreadsheet treat a cell as a formula.
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_UNSAFE_IN_FILE_NAME = re.compile(r"[\x00-\x1f/\\]")


def output_stem(archive: str) -> str:
    """The name the outputs of ``archive`` are filed under: its base name
    without the archive suffix, made safe to use as one path component."""
    name = PurePath(archive.replace("\\", "/")).name
    lowered = name.lower()
    for suffix in ARCHIVE_SUFFIXES:
        if lowered.endswith(suffix) and len(name) > len(suffix):
            name = name[: -len(suffix)]
            break
    name = _UNSAFE_IN_FILE_NAME.sub("_", name).strip()
    if name in ("", ".", ".."):
        return "submission"
    return name


def points(value: float | None) -> str:
    """87.5 -> "87.5", 100.0 -> "100", None -> "—"."""
    if value is None or not _finite(value):
        return "—"
    rounded = round(float(value), 2)
    return f"{rounded:g}" if abs(rounded) < 1e6 else f"{rounded:.0f}"


def metric(value: Any) -> str:
    """An accuracy or a loss: four significant digits."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return plain(value)
    if not _finite(value):
        return str(value)
    return f"{float(value):.4g}"


def percent(fraction: float | None) -> str:
    if fraction is None or not _finite(fraction):
        return "—"
    return f"{100 * fraction:.0f}%"


def flag(value: Any) -> str:
    """A yes/no for a data attribute: "true", "false", or "" when not known."""
    return {True: "true", False: "false"}.get(value, "") if isinstance(value, bool) else ""


def plain(value: Any, limit: int = MAX_TEXT_CHARS) -> str:
    """Any JSON-like value as one short line of text."""
    text = _plain(value, depth=0)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _plain(value: Any, depth: int) -> str:
    if value is None:
        return "—"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, Enum):
        return str(value.value)
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        return _float(value)
    if isinstance(value, (str, PurePath)):
        return str(value)
    if hasattr(value, "item") and callable(value.item) and getattr(value, "ndim", 1) == 0:
        return _plain(value.item(), depth)   # a numpy scalar
    if hasattr(value, "tolist"):
        return _plain(value.tolist(), depth)  # a numpy array
    if depth >= 3:
        return "…"
    if isinstance(value, dict):
        return "; ".join(f"{key}: {_plain(item, depth + 1)}" for key, item in value.items())
    if isinstance(value, (list, tuple, set)):
        items = list(value)
        shown = ", ".join(_plain(item, depth + 1) for item in items[:MAX_LIST_ITEMS])
        more = f" … ({len(items) - MAX_LIST_ITEMS} more)" if len(items) > MAX_LIST_ITEMS else ""
        return f"[{shown}{more}]"
    return str(value)


def _float(value: float) -> str:
    if not math.isfinite(value):
        return str(value)
    if value.is_integer() and abs(value) < 1e15:
        return f"{int(value):,}"
    if abs(value) >= 100:
        return f"{value:,.2f}"
    return f"{value:.4g}"


def _finite(value: Any) -> bool:
    try:
        return math.isfinite(float(value))
    except (TypeError, ValueError):
        return False


def humanize_key(key: str) -> str:
    """"has_dropout" -> "Has dropout"."""
    text = str(key).replace("_", " ").strip()
    return text[:1].upper() + text[1:]


def spreadsheet_text(value: Any) -> str:
    """A text cell that Excel or LibreOffice will not run as a formula.

    Student names and notes come from file names a student chose; one that
    starts with "=" would otherwise be evaluated when the CSV is opened.
    """
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(_FORMULA_START) else text


def jsonable(value: Any) -> Any:
    """A copy of ``value`` that strict JSON parsers accept: numpy values
    become Python ones, NaN and infinities become null, paths and enums text."""
    if isinstance(value, dict):
        return {str(key): jsonable(item) for key, item in value.items()}
    if isinstance(value, (list, tuple, set)):
        return [jsonable(item) for item in value]
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if value is None or isinstance(value, (str, int, bool)):
        return value
    if isinstance(value, Path):
        return str(value)
    if hasattr(value, "tolist"):        # numpy scalar or array
        return jsonable(value.tolist())
    return str(value)


def to_json(value: Any) -> str:
    return json.dumps(jsonable(value), indent=2, ensure_ascii=False, allow_nan=False) + "\n"
