"""Capped reads and text decoding shared by the readers."""

from __future__ import annotations

import re
import tokenize
from pathlib import Path

from grader.readers.errors import ReadError

# What np.load raises for a damaged .npy: its header is parsed with tokenize
# and ast, which raise their own errors besides numpy's ValueError.
DAMAGED_NPY_ERRORS = (ValueError, OSError, EOFError, tokenize.TokenError, SyntaxError)

_NUMBER = re.compile(r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?|[-+]?(?:nan|inf)", re.IGNORECASE)


def read_capped(path: Path, cap: int, code: str, what: str) -> bytes:
    """The bytes of ``path``, refusing files over ``cap`` bytes.

    ``code`` prefixes the error codes: ``<code>-unreadable`` (missing, or a
    folder) and ``<code>-too-large``.
    """
    if not path.is_file():
        kind = "a folder" if path.is_dir() else "missing"
        raise ReadError(f"{code}-unreadable", f"{path.name}: expected {what}, but it is {kind}. Submit {what} as one file.")
    size = path.stat().st_size
    if size > cap:
        raise ReadError(
            f"{code}-too-large",
            f"{path.name} is {size / 2**20:.1f} MB, over the {cap / 2**20:.0f} MB the grader reads for {what}: "
            "submit a smaller file.",
        )
    with path.open("rb") as handle:
        data = handle.read(cap + 1)
    if len(data) > cap:  # the file grew while we read it
        raise ReadError(f"{code}-too-large", f"{path.name} is over {cap / 2**20:.0f} MB: submit a smaller file.")
    return data


def looks_binary(data: bytes) -> bool:
    return b"\x00" in data[:8192]


def decode_text(data: bytes) -> str:
    """UTF-8 (with or without BOM, or UTF-16 with BOM); Latin-1 as a last resort."""
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        return data.decode("utf-16", errors="replace")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        return data.decode("latin-1")


def parse_number(text: str) -> float | None:
    """A float from a cell like ``0.99``, `` 1e-3 ``, ``np.float32(0.5)``; None if it is not one."""
    cell = text.strip().strip("\"'")
    match = re.fullmatch(r"np\.float(?:16|32|64)\((.*)\)", cell)
    if match:
        cell = match.group(1).strip()
    if not cell or not _NUMBER.fullmatch(cell):
        return None
    try:
        return float(cell)
    except ValueError:
        return None


def numbers_in(text: str) -> list[float]:
    """Every number in ``text`` in order (``np.float32(…)`` wrappers allowed)."""
    cleaned = re.sub(r"np\.float(?:16|32|64)\(([^()]*)\)", r"\1", text)
    return [float(m) for m in _NUMBER.findall(cleaned)]
