"""Which rubric a submission is for, when nobody said: the one whose archive
prefix or assignment folder its name carries.

    grade check week06_DoeJane.zip      -> week06_architectures (archive prefix "week06")
    grade pack week06/ --name DoeJane   -> week06_architectures (folder "week06")
    grade submissions/                  -> the rubric every archive's name names, if they agree

``--rubric`` and a folder's grade.toml always win; names that point to no
rubric, or to several, leave the default (assignment06). Names are compared
as the intake compares folders (grader.intake.layout.folder_key): "Week 6",
"week_06" and "Week06" are one name. The rubric files are read as TOML for
their three keys only; the chosen one is then loaded and validated as usual.
"""

from __future__ import annotations

import tomllib
from pathlib import Path

from grader.intake.layout import folder_key
from grader.rubric import rubrics_dir


def _rubric_names(folder: Path) -> dict[str, set[str]]:
    """rubric id -> the keys of its archive prefix and folder."""
    names: dict[str, set[str]] = {}
    for path in sorted(Path(folder).glob("*.toml")):
        if path.name.endswith(".baselines.toml"):
            continue
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError):
            continue
        keys = {folder_key(str(data.get(key, ""))) for key in ("archive_prefix", "folder")}
        keys.discard("")
        if keys and isinstance(data.get("id"), str):
            names[path.stem] = keys
    return names


def rubric_named_by(names: list[str], folder: Path | None = None) -> str | None:
    """The one rubric these file or folder names point to, or None."""
    rubrics = _rubric_names(folder or rubrics_dir())
    pointed: set[str] = set()
    for name in names:
        key = folder_key(Path(name).stem if name.lower().endswith(".zip") else name)
        hits = {rubric for rubric, keys in rubrics.items() if any(k in key for k in keys)}
        # "week06" is in "week06_architectures" too: the longest match is the one meant
        if len(hits) > 1:
            longest = max(len(k) for rubric in hits for k in rubrics[rubric] if k in key)
            hits = {rubric for rubric in hits if any(len(k) == longest and k in key for k in rubrics[rubric])}
        pointed |= hits
    return next(iter(pointed)) if len(pointed) == 1 else None


def rubric_for(paths: list[Path]) -> str | None:
    """The rubric for archives or folders: their own names, and for a folder
    the names of the folders in it (a folder that holds week06/)."""
    names: list[str] = []
    for path in paths:
        path = Path(path)
        names.append(path.name)
        if path.is_dir():
            names.extend(child.name for child in sorted(path.iterdir())[:200] if child.is_dir())
    return rubric_named_by([name for name in names if name])
