"""A student's written discussion, read as text: a markdown or text file, or
the markdown cells of a notebook (all of them, or the sections under the
headings the caller wants). Only the prose counts: tables, code blocks,
images, links' addresses and HTML tags are left out of the words."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from grader.readers._files import decode_text, looks_binary, read_capped
from grader.readers.errors import ReadError
from grader.readers.notebooks import NotebookInfo

MAX_DISCUSSION_BYTES = 2 * 1024 * 1024
MAX_PROSE_CHARS = 200_000          # kept for the checks and the report
_FENCE = re.compile(r"^\s*(```|~~~)")
_TABLE_LINE = re.compile(r"^\s*\|.*\|\s*$|^\s*[|+]?\s*:?-{3,}")
_IMAGE = re.compile(r"!\[[^\]]*\]\([^)]*\)")
_LINK = re.compile(r"\[([^\]]*)\]\([^)]*\)")
_TAG = re.compile(r"<[^>]{0,200}>")
_WORD = re.compile(r"[A-Za-z][A-Za-z'’-]*|\d+(?:[.,]\d+)*%?")
_HEADING = re.compile(r"^\s{0,3}(#{1,6})\s+(.*)$")


@dataclass
class Discussion:
    text: str            # the prose, tables and code left out
    words: int
    format: str          # "markdown", "text", "notebook"
    where: str = ""      # in a notebook: which cells


def read_discussion(path: Path, *, cap: int = MAX_DISCUSSION_BYTES) -> Discussion:
    data = read_capped(path, cap, "discussion", "a written discussion (markdown or text)")
    if looks_binary(data):
        raise ReadError("discussion-unreadable", f"{path.name} is not text; write the discussion as a markdown "
                                                 "file (comparison.md)")
    text = prose(decode_text(data))
    return Discussion(text, word_count(text), "markdown" if path.suffix.lower() in (".md", ".markdown") else "text")


def prose(text: str) -> str:
    """The text without tables, fenced code, images, link addresses or HTML tags."""
    kept, fenced = [], False
    for line in text.splitlines():
        if _FENCE.match(line):
            fenced = not fenced
            continue
        if fenced or _TABLE_LINE.match(line):
            continue
        line = _LINK.sub(r"\1", _IMAGE.sub(" ", line))
        kept.append(_TAG.sub(" ", line))
    return "\n".join(kept).strip()[:MAX_PROSE_CHARS]


def word_count(text: str) -> int:
    return len(_WORD.findall(text))


def notebook_discussion(info: NotebookInfo, wanted: Callable[[str], bool] | None = None) -> Discussion | None:
    """The notebook's markdown prose: every markdown cell (``wanted`` None), or
    the cells of the sections whose heading ``wanted`` accepts, each running to
    the next heading of the same or a higher level. None when there is no prose."""
    cells, in_section, level = [], wanted is None, 0
    for cell in info.cells:
        if cell.kind != "markdown":
            continue
        keep = in_section
        for line in cell.source.splitlines():
            heading = _HEADING.match(line)
            if heading is None or wanted is None:
                continue
            depth = len(heading.group(1))
            if wanted(heading.group(2)):
                in_section, level, keep = True, depth, True
            elif in_section and depth <= level:
                in_section = False
        if keep:
            cells.append(cell)
    text = prose("\n\n".join(cell.source for cell in cells))
    if not text:
        return None
    numbers = [cell.index + 1 for cell in cells]
    where = f"cell {numbers[0]}" if len(numbers) == 1 else f"cells {numbers[0]}-{numbers[-1]}"
    return Discussion(text, word_count(text), "notebook", where)
