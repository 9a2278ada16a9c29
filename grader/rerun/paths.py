"""Absolute paths from the student's machine, mapped to the re-run's working copy.

Students write ``C:\\Users\\jdoe\\dsc650\\assignments\\assignment06\\results\\``
or ``/Users/jdoe/dsc650/assignment06/...`` into their notebooks. Before the
re-run, every string literal in the code is looked at (with ``tokenize``, so
comments and code are left alone) and rewritten by these rules, in order; each
rewrite is recorded with its cell, line, old and new text and the rule:

1. ``assignment-folder``: an absolute path (``C:\\``, ``\\\\server``, ``/...``)
   with a component that names the assignment folder (``assignment06``,
   ``Assignment_6``: compared lower-case, without punctuation and leading
   zeros) becomes the working copy's root + what follows that component
   (the last such component).
2. ``known-folder``: an absolute path with a component naming a top-level
   entry of the submission or a folder the rubric names (``results``, ``data``,
   ``images``) becomes the working copy's root + the path from that component
   (the first such component). Paths under the sandbox's own folders
   (/tmp, /output, /inputs, system folders) are never mapped.
3. ``windows-separators``: a relative path written with backslashes
   (``results\\6.1\\metrics.json``, ``images\\tiger.jpg``, ``..\\data\\x.csv``)
   gets forward slashes, which Linux needs, when it is plainly a path: its
   first component is such a folder, ``.`` or ``..``, or it ends in a file
   name with an extension (regular expressions like ``\\d+\\.\\d+`` are
   not); one that names the assignment folder is anchored as in rule 1.

An absolute path from another machine (a drive letter, /Users/, /home/,
/content/...) that fits no rule is left alone and recorded (rule
``unmapped``), so the report can say why a file was not found. Strings in
IPython magic lines (``%``, ``!``) and in cell magics are not rewritten.
"""

from __future__ import annotations

import ast
import io
import re
import tokenize
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from pathlib import PurePosixPath
from typing import Any

WORK_ROOT = "/output/work"   # the working copy, as the sandbox sees it
_DRIVE = re.compile(r"^[A-Za-z]:[\\/]")
_UNC = re.compile(r"^\\\\[^\\]")
_SEPARATORS = re.compile(r"[\\/]+")
_MAGIC_LINE = re.compile(r"^\s*[%!]")
_STRING_PREFIX = re.compile(r"^([A-Za-z]*)(.*)$", re.DOTALL)
# A file or folder name as people write them (no regex or format characters).
_PLAIN_NAME = re.compile(r"[\w .()~,'&{}-]+|\.{1,2}")   # {}: an f-string's fields
_FILE_NAME = re.compile(r"[\w .()~,'&{}-]*[\w}]\.[A-Za-z][A-Za-z0-9]{0,4}")
# Paths that mean something inside the sandbox (or are system files): never mapped.
SANDBOX_ROOTS = ("/tmp", "/output", "/inputs", "/submission", "/job", "/proc", "/dev", "/sys", "/usr",
                 "/etc", "/bin", "/lib", "/opt/venv")
# Where other machines keep people's files: an unmapped path there is recorded.
FOREIGN_ROOTS = ("/Users/", "/home/", "/mnt/", "/media/", "/Volumes/", "/root/", "/content/", "/kaggle/",
                 "/gdrive/", "/drive/")


@dataclass
class PathRewrite:
    source: str                 # the notebook or script, relative to the submission root
    cell: int | None            # code cell number (1-based), None for a script
    line: int                   # line within the cell or script
    original: str               # the literal's value as written
    rewritten: str | None       # the new value; None when left alone
    rule: str                   # assignment-folder | known-folder | windows-separators | unmapped

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def folder_key(name: str) -> str:
    """``Assignment_06`` -> ``assignment6``: how folder names are compared."""
    key = re.sub(r"[^a-z0-9]", "", name.lower())
    return re.sub(r"(?<![0-9])0+(?=[0-9])", "", key)


@dataclass(frozen=True)
class PathRules:
    """What the rules need: the assignment folder's names and the known folders."""

    assignment_folders: frozenset[str]     # folder_key()s
    known_folders: frozenset[str]          # lower-case names of top-level entries / rubric folders
    work_root: str = WORK_ROOT

    @classmethod
    def make(cls, assignment_folders: Iterable[str], known_folders: Iterable[str],
             work_root: str = WORK_ROOT) -> PathRules:
        return cls(frozenset(folder_key(n) for n in assignment_folders if n),
                   frozenset(n.lower() for n in known_folders if n and n not in (".", "..")), work_root)


def _is_absolute(value: str) -> bool:
    if _DRIVE.match(value) or _UNC.match(value):
        return True
    own = any(value == root or value.startswith(root + "/") for root in SANDBOX_ROOTS)
    return value.startswith("/") and len(value) > 1 and not own


def _is_foreign(value: str) -> bool:
    return bool(_DRIVE.match(value) or _UNC.match(value) or value.startswith(FOREIGN_ROOTS))


def map_path(value: str, rules: PathRules) -> tuple[str | None, str]:
    """(new value or None, rule) for one string value; (None, "") when it is no path to map."""
    if "\n" in value or len(value) > 1000 or "://" in value:
        return None, ""
    trailing = "/" if value.endswith(("\\", "/")) else ""
    if _is_absolute(value):
        components = [c for c in _SEPARATORS.split(_DRIVE.sub("", value)) if c]
        keys = [folder_key(c) for c in components]
        hits = [i for i, key in enumerate(keys) if key in rules.assignment_folders]
        if hits:
            return _join(rules.work_root, components[hits[-1] + 1:], trailing), "assignment-folder"
        known = [i for i, c in enumerate(components) if c.lower() in rules.known_folders]
        if known:
            return _join(rules.work_root, components[known[0]:], trailing), "known-folder"
        return None, "unmapped" if _is_foreign(value) else ""
    if "\\" in value:
        return _relative_windows(value, rules, trailing)
    return None, ""


def _relative_windows(value: str, rules: PathRules, trailing: str) -> tuple[str | None, str]:
    """A relative path written with backslashes: forward slashes, when it is a
    path (every component a plain file name, and it starts at a known folder,
    ``.`` or ``..``, or ends in a file name with an extension); one that names
    the assignment folder is anchored at the working copy."""
    components = [c for c in _SEPARATORS.split(value) if c]
    lead = "/" if value.startswith(("\\", "/")) else ""   # 'folder + "\\x.jpg"' keeps its separator
    if not components or not all(_PLAIN_NAME.fullmatch(c) for c in components):
        return None, ""
    if len(components) == 1:   # '\\predictions.csv', appended to a folder's path
        return (lead + components[0], "windows-separators") if lead and _FILE_NAME.fullmatch(components[0]) \
            else (None, "")
    keys = [folder_key(c) for c in components]
    hits = [i for i, key in enumerate(keys) if key in rules.assignment_folders]
    if hits:
        return _join(rules.work_root, components[hits[-1] + 1:], trailing), "assignment-folder"
    first = components[0]
    if first.lower() in rules.known_folders or first in (".", "..") or _FILE_NAME.fullmatch(components[-1]):
        return lead + "/".join(components) + trailing, "windows-separators"
    return None, ""


def _join(root: str, rest: list[str], trailing: str) -> str:
    path = str(PurePosixPath(root, *rest)) if rest else root
    return path + trailing if rest else path + "/" if trailing else path


# ------------------------------------------------------------ code rewriting


def rewrite_code(code: str, rules: PathRules, source: str, cell: int | None) -> tuple[str, list[PathRewrite]]:
    """The code with path literals rewritten, and the record of every rewrite."""
    lines = code.splitlines(keepends=True)
    if lines and lines[0].lstrip().startswith("%%"):
        return code, []   # a cell magic: not Python
    # A magic line becomes a comment of the same length, so token positions still fit the cell.
    masked = "".join(re.sub(r"[%!]", "#", line, count=1) if _MAGIC_LINE.match(line) else line for line in lines)
    try:
        tokens = [t for t in tokenize.generate_tokens(io.StringIO(masked).readline) if t.type == tokenize.STRING]
    except (tokenize.TokenError, IndentationError, SyntaxError):
        return code, []
    edits: list[tuple[tuple[int, int], tuple[int, int], str]] = []
    records: list[PathRewrite] = []
    for token in tokens:
        replacement, value, new_value, rule = _rewrite_literal(token.string, rules)
        if not rule:
            continue
        records.append(PathRewrite(source, cell, token.start[0], value, new_value, rule))
        if replacement is not None:
            edits.append((token.start, token.end, replacement))
    return _apply(lines, edits), records


def _rewrite_literal(literal: str, rules: PathRules) -> tuple[str | None, str, str | None, str]:
    """(new literal, value, new value, rule) for one STRING token."""
    prefix, body = _STRING_PREFIX.match(literal).groups()
    lowered = prefix.lower()
    if "b" in lowered:
        return None, "", None, ""
    quote = body[:3] if body[:3] in ('"""', "'''") else body[:1]
    inner = body[len(quote):-len(quote)]
    if "f" in lowered:
        return _rewrite_fstring(prefix, quote, inner, rules)
    try:
        value = ast.literal_eval(literal)
    except (ValueError, SyntaxError, MemoryError, RecursionError):
        return None, "", None, ""
    if not isinstance(value, str):
        return None, "", None, ""
    new_value, rule = map_path(value, rules)
    if new_value is None:
        return None, value, None, rule
    return repr(new_value), value, new_value, rule


def _rewrite_fstring(prefix: str, quote: str, inner: str, rules: PathRules) -> tuple[str | None, str, str | None, str]:
    """An f-string is mapped as text: its literal backslashes are the separators,
    and the replacement fields ({epoch}) stay where they are."""
    raw = "r" in prefix.lower()
    value = inner if raw else inner.replace("\\\\", "\\")
    head = re.split(r"[{}]", value, maxsplit=1)[0]
    new_value, rule = map_path(value, rules)
    if new_value is None or not rule:
        return None, value, None, rule
    # The part before the anchor must hold no replacement field to be dropped.
    if rule in ("assignment-folder", "known-folder") and "{" in value and not _anchor_in(head, rules):
        return None, value, None, "unmapped"
    escaped = new_value if raw else new_value.replace("\\", "\\\\")
    return f"{prefix}{quote}{escaped}{quote}", value, new_value, rule


def _anchor_in(text: str, rules: PathRules) -> bool:
    components = [c for c in _SEPARATORS.split(text) if c]
    return any(folder_key(c) in rules.assignment_folders or c.lower() in rules.known_folders
               for c in components[:-1] or components)


def _apply(lines: list[str], edits: list[tuple[tuple[int, int], tuple[int, int], str]]) -> str:
    """Replace (start, end) token ranges, last first so earlier positions hold."""
    offsets, total = [], 0
    for line in lines:
        offsets.append(total)
        total += len(line)
    text = "".join(lines)
    for (row, col), (end_row, end_col), replacement in sorted(edits, reverse=True):
        start, end = offsets[row - 1] + col, offsets[end_row - 1] + end_col
        text = text[:start] + replacement + text[end:]
    return text
