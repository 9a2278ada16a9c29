"""A comparison's documents: the table of the models and the written
discussion, for a part that ``compares`` other parts (its rubric entry
expects the roles ``table`` and ``discussion``).

A file the part's patterns name is a table when it is CSV, TSV or JSON; a
markdown or text file is the table when it is mostly a table of the models,
and the discussion otherwise. Where the part has no table file, the table may
be inside its discussion file (a markdown table) or a notebook (a printed
DataFrame, or a markdown table in a cell); where it has no discussion file,
the discussion may be a notebook's markdown cells (the part's own notebook,
or the sections of any notebook under a heading the part's patterns name).
Such a find is the notebook (or file) again, in the new role, with the cell
it came from in its reasons. Which row of a table is which model is told by
the compared parts' own patterns ("CNN", "ResNet-20", "Inception").
"""

from __future__ import annotations

import re
from pathlib import Path, PurePosixPath

from grader.discover.names import _parts_named_by, normalise
from grader.readers import ReadError, read_notebook
from grader.readers.discussions import Discussion, notebook_discussion, prose, read_discussion, word_count
from grader.readers.model_table import ModelTable, NameOf, model_table
from grader.readers.notebooks import NotebookInfo
from grader.readers.tables import (
    DELIMITED_SUFFIXES, JSON_SUFFIXES, MAX_TABLES, TEXT_SUFFIXES, Table, read_tables, tables_in_text,
)
from grader.readers._files import decode_text, read_capped
from grader.records import FoundFile, Layout, Role
from grader.rubric import Part, Rubric

DOCUMENT_ROLES = ("table", "discussion")
# A markdown or text file with a table of the models and fewer words of prose
# than this is the table; with more, it is the discussion (which may hold the table).
TABLE_FILE_MAX_PROSE = 60
# A notebook's markdown is taken for the discussion from this many words.
MIN_NOTEBOOK_DISCUSSION_WORDS = 25
SNIFF_BYTES = 1024 * 1024


def document_parts(rubric: Rubric) -> list[Part]:
    return [part for part in rubric.parts if set(DOCUMENT_ROLES) & set(part.expects)]


def model_namer(part: Part, rubric: Rubric) -> NameOf:
    """The compared part a model's name (a table's row label) names, by those
    parts' patterns: "ResNet-20" -> resnet; None for no part or several."""
    compared = set(part.compares)

    def name_of(text: str) -> str | None:
        if not text or not text.strip():
            return None
        named, specific = _parts_named_by(normalise(text), rubric)
        named = named & compared if specific else set()
        return next(iter(named)) if len(named) == 1 else None

    return name_of


def heading_names(part: Part):
    """Whether a notebook heading names ``part`` by its own patterns."""
    def wanted(heading: str) -> bool:
        text = normalise(heading)
        return any(re.search(pattern, text) for pattern in part.patterns)

    return wanted


# ------------------------------------------------------------- by file name


def document_role(path: str, suffix: str, root: Path, candidates: list[str], rubric: Rubric) -> Role | None:
    """TABLE or DISCUSSION for a file whose name names a part that expects
    one of them; None when it is neither (a model, a plot, another part's file)."""
    expecting = [rubric.part(p) for p in candidates if set(DOCUMENT_ROLES) & set(rubric.part(p).expects)]
    if not expecting:
        return None
    if not any(_named_by_own_patterns(path, part) for part in expecting):
        # Only a data-set word names it (cifar10_predictions.csv): it is the
        # table only if it holds one of the models.
        readable = suffix in DELIMITED_SUFFIXES | JSON_SUFFIXES | TEXT_SUFFIXES
        holds = readable and _mostly_a_table(root / path, expecting, rubric, suffix)
        return Role.TABLE if holds and any("table" in part.expects for part in expecting) else None
    roles = {role for part in expecting for role in DOCUMENT_ROLES if role in part.expects}
    if suffix in DELIMITED_SUFFIXES or suffix in JSON_SUFFIXES:
        return Role.TABLE if "table" in roles else None
    if suffix not in TEXT_SUFFIXES:
        return None
    if roles == {"table"}:
        return Role.TABLE
    if roles == {"discussion"}:
        return Role.DISCUSSION
    return Role.TABLE if _mostly_a_table(root / path, expecting, rubric, suffix) else Role.DISCUSSION


def _named_by_own_patterns(path: str, part: Part) -> bool:
    """The part's own patterns (not only its data set's words) name the file or a folder it is in."""
    pure = PurePosixPath(path)
    text = normalise(str(pure.with_suffix("")) if pure.suffix else path)
    return any(re.search(pattern, text) for pattern in part.patterns)


def _mostly_a_table(path: Path, parts: list[Part], rubric: Rubric, suffix: str) -> bool:
    """A table of the compared models, with little prose around it."""
    if suffix not in TEXT_SUFFIXES:
        try:
            tables = read_tables(path, cap=SNIFF_BYTES)
        except ReadError:
            return False
        return any(model_table(tables, model_namer(part, rubric)) is not None for part in parts)
    try:
        text = decode_text(read_capped(path, SNIFF_BYTES, "table", "a table"))
    except ReadError:
        return False
    has_table = any(model_table(tables_in_text(text), model_namer(part, rubric)) is not None for part in parts)
    return has_table and word_count(prose(text)) < TABLE_FILE_MAX_PROSE


# --------------------------------------------------------- inside other files


def embedded_documents(layout: Layout, rubric: Rubric) -> None:
    """A table or discussion the part has no file for, found inside another
    file: added to the layout as that file in the new role."""
    notebooks = [f for f in layout.files if f.role is Role.SOURCE and f.path.lower().endswith(".ipynb")]
    for part in document_parts(rubric):
        if "table" in part.expects and not layout.find(part.id, Role.TABLE):
            found = _embedded_table(layout, part, rubric, notebooks)
            if found is not None:
                layout.files.append(found)
        if "discussion" in part.expects and not layout.find(part.id, Role.DISCUSSION):
            found = _embedded_discussion(layout, part, notebooks)
            if found is not None:
                layout.files.append(found)


def _in_order(part: Part, notebooks: list[FoundFile]) -> list[FoundFile]:
    """The part's own notebooks, then shared ones, then other parts'."""
    return sorted(notebooks, key=lambda f: (f.part != part.id, f.part is not None, f.path))


def _embedded_table(layout: Layout, part: Part, rubric: Rubric, notebooks: list[FoundFile]) -> FoundFile | None:
    holders = [f for f in layout.find(part.id, Role.DISCUSSION) if PurePosixPath(f.path).suffix.lower() in TEXT_SUFFIXES]
    for holder in [*holders, *_in_order(part, notebooks)]:
        try:
            table = read_part_table(layout.root / holder.path, part, rubric)
        except ReadError:
            continue
        if table is not None:
            return FoundFile(holder.path, Role.TABLE, part.id, 0.7,
                             [f"a table of the models in {holder.path} ({table.where})"], candidates=[part.id])
    return None


def _embedded_discussion(layout: Layout, part: Part, notebooks: list[FoundFile]) -> FoundFile | None:
    for holder in _in_order(part, notebooks):
        try:
            discussion = read_part_discussion(layout.root / holder.path, part, own=holder.part == part.id)
        except ReadError:
            continue
        if discussion is not None and discussion.words >= MIN_NOTEBOOK_DISCUSSION_WORDS:
            return FoundFile(holder.path, Role.DISCUSSION, part.id, 0.7,
                             [f"the markdown of {holder.path} ({discussion.where}, {discussion.words} words)"],
                             candidates=[part.id])
    return None


# ---------------------------------------------------------------- reading


def read_part_table(path: Path, part: Part, rubric: Rubric) -> ModelTable | None:
    """The table of the compared models in a file (CSV, JSON, markdown, text)
    or a notebook (markdown cells and saved outputs); None when it has none.
    A ReadError when the file cannot be read."""
    if path.suffix.lower() == ".ipynb":
        tables = _notebook_tables(read_notebook(path))
    else:
        tables = read_tables(path)
    return model_table(tables, model_namer(part, rubric))


def _notebook_tables(info: NotebookInfo) -> list[Table]:
    tables = []
    for cell in info.cells:
        texts = [cell.source] if cell.kind == "markdown" else cell.outputs
        where = f"cell {cell.index + 1}" + (f" (In [{cell.execution_count}])" if cell.execution_count else "")
        kind = "markdown cell" if cell.kind == "markdown" else "output"
        for text in texts:
            for table in tables_in_text(text):
                table.where = f"{where}, its {kind}"
                tables.append(table)
            if len(tables) >= MAX_TABLES:
                return tables
    return tables


def read_part_discussion(path: Path, part: Part, own: bool) -> Discussion | None:
    """The discussion in a markdown or text file, or a notebook's markdown:
    all of it in the part's ``own`` notebook, else the sections under headings
    that name the part. A ReadError when the file cannot be read."""
    if path.suffix.lower() == ".ipynb":
        return notebook_discussion(read_notebook(path), None if own else heading_names(part))
    return read_discussion(path)
