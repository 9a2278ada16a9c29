"""Zips an assignment folder the way students must submit it.

``assignment06_LastFirst.zip`` holds one top-level ``assignment06/`` folder.
Editor and OS clutter is left out, and the archive is deterministic: entries
sorted, fixed timestamps and permissions, so the same folder always gives
the same bytes (and the same sha256).
"""

from __future__ import annotations

import os
import tempfile
import unicodedata
import zipfile
from pathlib import Path

JUNK_DIRS = {".ipynb_checkpoints", "__pycache__", "__MACOSX", ".git"}
JUNK_FILES = {".DS_Store", "Thumbs.db", "desktop.ini"}
FIXED_TIME = (1980, 1, 1, 0, 0, 0)   # the earliest time a zip entry can hold


def is_junk(relative: Path) -> bool:
    """Clutter no grader wants: notebook checkpoints, caches, macOS and Windows metadata."""
    if any(part in JUNK_DIRS for part in relative.parts[:-1]) or relative.name in JUNK_DIRS:
        return True
    return relative.name in JUNK_FILES or relative.name.startswith("._")


def name_part(text: str) -> str:
    """``"De la Cruz"`` -> ``"DelaCruz"``: letters and digits only, accents dropped."""
    plain = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii")
    kept = "".join(ch for ch in plain if ch.isalnum())
    if not kept:
        raise ValueError(f"{text!r} has no letters or digits to put in the archive name")
    return kept[0].upper() + kept[1:]


def _files(folder: Path) -> list[Path]:
    """Regular files under ``folder``, relative, sorted; symlinks and junk left out."""
    found = []
    for directory, subdirs, names in os.walk(folder):
        subdirs[:] = sorted(d for d in subdirs if d not in JUNK_DIRS and not (Path(directory) / d).is_symlink())
        for name in names:
            path = Path(directory) / name
            relative = path.relative_to(folder)
            if path.is_file() and not path.is_symlink() and not is_junk(relative):
                found.append(relative)
    return sorted(found, key=lambda p: p.as_posix())


def pack(folder: Path, out_dir: Path, last: str, first: str, prefix: str = "assignment06") -> Path:
    """Zip ``folder`` (the assignment folder, or one that holds ``<prefix>/``) into ``<prefix>_LastFirst.zip``."""
    folder = Path(folder)
    if folder.name != prefix and (folder / prefix).is_dir():
        folder = folder / prefix
    if not folder.is_dir():
        raise FileNotFoundError(f"{folder}: no such folder to pack")
    files = _files(folder)
    if not files:
        raise ValueError(f"{folder}: nothing to pack (no files besides clutter)")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    target = out_dir / f"{prefix}_{name_part(last)}{name_part(first)}.zip"
    handle, temp = tempfile.mkstemp(dir=out_dir, prefix=f".{target.name}.", suffix=".tmp")
    os.close(handle)
    try:
        with zipfile.ZipFile(temp, "w", compression=zipfile.ZIP_DEFLATED) as archive:
            for relative in files:
                entry = zipfile.ZipInfo(f"{prefix}/{relative.as_posix()}", date_time=FIXED_TIME)
                entry.compress_type = zipfile.ZIP_DEFLATED
                entry.external_attr = 0o100644 << 16   # a regular file, rw-r--r--
                entry.create_system = 3                 # Unix, so the mode above is read
                archive.writestr(entry, (folder / relative).read_bytes())
        os.replace(temp, target)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise
    return target
