"""Nested copies: an older copy of the assignment folder kept inside it.

A student who zips the folder after an earlier zip was unpacked into it hands
in `ZIP/assignment06_NameName/results/...` beside the real `results/`. The
files at the top win; the copy is reported once and otherwise ignored, so
its models never compete with the real ones.
"""

from __future__ import annotations

from pathlib import PurePosixPath

from grader.intake.layout import folder_key, marker_folders
from grader.records import FoundFile, Intake, Problem, Role, Severity
from grader.rubric import Rubric

_GRADED = (Role.MODEL, Role.PREDICTIONS, Role.METRICS, Role.PLOT)


def nested_copies(files: list[FoundFile], rubric: Rubric) -> dict[str, str]:
    """Folders below the top that repeat the assignment's layout, outermost
    only, each with why it is taken for a copy. Empty when the top holds no
    work of its own: then the "copy" is the work."""
    markers = marker_folders(rubric)
    names = {folder_key(rubric.folder), folder_key(rubric.archive_prefix)}
    copies: dict[str, str] = {}
    for folder in _folders(files):
        if any(_under(folder, c) for c in copies):
            continue
        inside = [f for f in files if _under(f.path, folder)]
        holds = sorted({PurePosixPath(f.path[len(folder) + 1:]).parts[0] for f in inside
                        if "/" in f.path[len(folder) + 1:]})
        repeated = [h for h in holds if h.lower() in markers]
        if repeated:
            copies[folder] = f"it holds its own {repeated[0]}/ folder"
        elif any(folder_key(PurePosixPath(folder).name).startswith(n) for n in names) and _results(inside):
            copies[folder] = f"it is named like the {rubric.folder} folder and holds models or predictions"
    top = [f for f in files if not any(_under(f.path, c) for c in copies)]
    return copies if _graded(top) else {}


def set_aside(files: list[FoundFile], copies: dict[str, str], rubric: Rubric,
              reported: set[str] = frozenset()) -> list[Problem]:
    """Mark every file of every copy as not graded; one info problem per copy
    that intake has not already reported (``reported``: root-relative folders)."""
    problems = []
    for folder, why in copies.items():
        inside = [f for f in files if _under(f.path, folder)]
        for found in inside:
            found.role, found.part, found.candidates, found.confidence = Role.OTHER, None, [], 0.0
            found.reasons = [f"inside '{folder}/', a nested copy of the {rubric.folder} folder, which is not graded"]
        if folder in reported:
            continue
        problems.append(Problem(
            "duplicate-copy",
            f"'{folder}/' looks like an older copy of the {rubric.folder} folder ({why}); its {len(inside)} "
            f"file(s) were not graded, the files at the top were. Leave old copies out of the zip.",
            Severity.INFO, folder))
    return problems


def copies_reported_by_intake(intake: Intake) -> set[str]:
    """The copies intake's root choice already named (`assignment06/assignment06/`
    beside a fuller `assignment06/`), as folders relative to the root."""
    try:
        prefix = intake.root.relative_to(intake.work_dir).as_posix()
    except ValueError:
        return set()
    prefix = "" if prefix == "." else prefix + "/"
    return {p.path[len(prefix):] for p in intake.problems
            if p.code == "duplicate-copy" and p.path and p.path.startswith(prefix)}


def _folders(files: list[FoundFile]) -> list[str]:
    """Every folder holding a file, outermost first."""
    folders = {str(parent) for f in files for parent in PurePosixPath(f.path).parents if str(parent) != "."}
    return sorted(folders, key=lambda d: (d.count("/"), d))


def _graded(files: list[FoundFile]) -> bool:
    return any(f.role in _GRADED for f in files)


def _results(files: list[FoundFile]) -> bool:
    # Not plots alone: `assignment06_plots/` is a student's own folder of plots.
    return any(f.role in (Role.MODEL, Role.PREDICTIONS) for f in files)


def _under(path: str, folder: str) -> bool:
    return path.startswith(folder + "/")
