"""Atomic file writes: a reader sees the old file or the new one, never half of one.

The data goes to a temporary file in the destination's own folder (so the
final rename stays on one file system), is flushed to disk, and then
``os.replace`` swaps it in. If anything fails, the temporary file is removed
and the destination is left as it was.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path
from typing import Callable

# mkstemp creates files readable by the owner only; what the grader writes is
# meant to be shared (reports) or read by the sandbox's user (inputs).
_FILE_MODE = 0o644


def atomic_write_bytes(path: str | os.PathLike[str], data: bytes, mode: int = _FILE_MODE) -> Path:
    """Write ``data`` to ``path`` atomically, creating parent folders; returns the path."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, temp_name = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(temp_name, mode)
        os.replace(temp_name, target)
    except BaseException:
        try:
            os.unlink(temp_name)
        except FileNotFoundError:
            pass
        raise
    _sync_folder(target.parent)
    return target


def atomic_write_text(path: str | os.PathLike[str], text: str, encoding: str = "utf-8") -> Path:
    """Write ``text`` to ``path`` atomically (no newline translation); returns the path."""
    return atomic_write_bytes(path, text.encode(encoding))


def publish_folder(staging: Path, target: Path, marker: str) -> Path:
    """Rename a fully written ``staging`` folder to ``target``, marked complete.

    A cache folder made this way is either absent or whole. When another
    process or thread published the same target first, its copy is kept and
    ``staging`` is discarded; ``staging`` never outlives the call.
    """
    try:
        (staging / marker).write_text("ok\n")
        try:
            os.replace(staging, target)
        except OSError:
            if not (target / marker).is_file():   # nobody else won the race: a real failure
                raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return target


def build_folder_once(target: Path, write: Callable[[Path], object], marker: str = "complete") -> Path:
    """``target``, made by ``write(staging)`` the first time and published
    whole (publish_folder): an interrupted first run leaves nothing
    half-written, and later calls find the finished folder."""
    target = Path(target)
    if (target / marker).is_file():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}-", dir=target.parent))
    try:
        write(staging)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return publish_folder(staging, target, marker)


def _sync_folder(folder: Path) -> None:
    """Make the rename itself durable; not possible on every platform, so best effort."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
