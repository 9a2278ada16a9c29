"""Which extracted folder is the submission's root.

In order: a folder named like the rubric's assignment folder (``assignment06``,
also ``Assignment 6``); else a folder that holds the rubric's results folder;
else the top, after stepping through single wrapper folders. Among several
folders named for the assignment (``assignment06/assignment06/``), the one
holding ``results/`` and the most files wins; among folders found by their
``results/`` alone, the outermost wins (a nested one is a kept old copy). The
others are reported.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import PurePosixPath

from grader.records import Problem, Severity
from grader.rubric import Rubric

_LISTED = 5   # file names quoted in a message before "and N more"


@dataclass
class RootChoice:
    root: str                      # POSIX path relative to the work folder; "" is the top
    problems: list[Problem]


def folder_key(name: str) -> str:
    """``Assignment 06`` and ``assignment_6`` both -> ``assignment6``."""
    compact = re.sub(r"[\W_]+", "", name.lower())
    return re.sub(r"\d+", lambda run: str(int(run.group())), compact)


def marker_folders(rubric: Rubric) -> set[str]:
    """Top folders of the parts' canonical places (``results``), lower case."""
    return {PurePosixPath(part.canonical_dir).parts[0].lower() for part in rubric.parts if part.canonical_dir}


def choose_root(paths: Iterable[str], rubric: Rubric, label: str, top_name: str | None = None) -> RootChoice:
    """Pick the root among the folders holding ``paths`` (work-folder-relative POSIX files).

    ``top_name`` is the name of the top itself when it is a folder the
    instructor gave (a folder named assignment06 is its own root).
    """
    files = sorted(paths)
    tree = _Tree(files)
    wanted = folder_key(rubric.folder)
    named = [d for d in tree.dirs if d and folder_key(PurePosixPath(d).name) == wanted]
    if top_name is not None and folder_key(top_name) == wanted:
        named.append("")
    markers = marker_folders(rubric)
    candidates = named or sorted({tree.parent(d) for d in tree.dirs if d and PurePosixPath(d).name.lower() in markers})
    candidates = candidates or [tree.unwrap()]
    # Without a folder named for the assignment, a results/ tree nested inside
    # another one is an old copy the student kept (ZIP/assignment06_DoeJane/
    # beside results/): the outer one is the work, however many files each has.
    outermost = (lambda c: not any(o != c and _under(c, o) for o in candidates)) if not named else (lambda c: True)
    root = max(candidates, key=lambda c: (tree.holds_marker(c, markers), outermost(c), tree.own_files(c, candidates),
                                          -c.count("/")))
    problems = _root_problems(root, named, candidates, tree, rubric, label)
    return RootChoice(root=root, problems=problems)


def _root_problems(root: str, named: list[str], candidates: list[str], tree: "_Tree", rubric: Rubric, label: str) -> list[Problem]:
    folder, problems = rubric.folder, []
    shown = f"the files in '{root}/'" if root else "the files at its top"
    if not named and tree.files:
        problems.append(Problem(
            code="no-assignment-folder", severity=Severity.WARNING,
            message=(f"{label} has no {folder}/ folder; {shown} were graded instead. "
                     f"Put your work in a folder named {folder} and zip that folder."),
        ))
    elif root and PurePosixPath(root).name != folder:
        problems.append(Problem(
            code="folder-name", severity=Severity.INFO, path=root,
            message=f"{label}: the folder '{root}/' was taken as the {folder} folder; name it exactly {folder}.",
        ))
    others = [c for c in candidates if c != root and tree.own_files(c, candidates)]
    for other in others:
        problems.append(Problem(
            code="duplicate-copy", severity=Severity.WARNING, path=other or None,
            message=(f"{label} holds more than one copy of {folder}/: graded '{root or '.'}/' "
                     f"({tree.own_files(root, candidates)} files) and ignored '{other or '.'}/' "
                     f"({tree.own_files(other, candidates)} files). Zip a single copy of the folder."),
        ))
    outside = [f for f in tree.files if not _under(f, root) and not any(_under(f, c) for c in others)]
    if outside:
        listed = ", ".join(f"'{f}'" for f in outside[:_LISTED])
        more = f" and {len(outside) - _LISTED} more" if len(outside) > _LISTED else ""
        problems.append(Problem(
            code="outside-root", severity=Severity.WARNING,
            message=(f"{label}: {len(outside)} file(s) outside '{root or '.'}/' were not graded: {listed}{more}. "
                     f"Put everything inside the {folder} folder before zipping."),
        ))
    return problems


def _under(path: str, folder: str) -> bool:
    return not folder or path.startswith(folder + "/")


class _Tree:
    """The folders that hold the extracted files, with file counts."""

    def __init__(self, files: list[str]) -> None:
        self.files = files
        self.counts: Counter[str] = Counter()
        for path in files:
            for parent in PurePosixPath(path).parents:
                self.counts["" if str(parent) == "." else str(parent)] += 1
        self.dirs = sorted(self.counts)

    @staticmethod
    def parent(folder: str) -> str:
        parent = str(PurePosixPath(folder).parent)
        return "" if parent == "." else parent

    def children(self, folder: str) -> list[str]:
        return [d for d in self.dirs if d and self.parent(d) == folder]

    def direct_files(self, folder: str) -> int:
        return sum(1 for f in self.files if self.parent(f) == folder)

    def holds_marker(self, folder: str, markers: set[str]) -> bool:
        return any(PurePosixPath(child).name.lower() in markers for child in self.children(folder))

    def own_files(self, folder: str, candidates: list[str]) -> int:
        """Files under ``folder`` that are not under another candidate nested inside it."""
        nested = [c for c in candidates if c != folder and _under(c, folder)]
        return sum(1 for f in self.files if _under(f, folder) and not any(_under(f, n) for n in nested))

    def unwrap(self) -> str:
        """Step down through folders that hold nothing but one folder."""
        current = ""
        while not self.direct_files(current) and len(self.children(current)) == 1:
            current = self.children(current)[0]
        return current
