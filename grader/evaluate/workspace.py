"""The folders one sandboxed run sees, laid out on the host.

    work_dir/job/         job.json, runner.py and its modules     -> /job (ro)
    work_dir/submission/  copies of only the files the jobs name  -> /submission (ro)
    work_dir/inputs/      <dataset>.npy, ImageNet files (links)   -> /inputs (ro)
    work_dir/output/      empty, writable by the sandbox          -> /output
    work_dir/../_inputs/  the inputs cache shared by submissions

The submission is staged as a copy of just the model files and images the jobs
name: the sandbox sees nothing else of the student's archive, and the copies
are readable by the sandbox's user whatever modes intake gave the originals.
Test labels are never written here.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
import stat
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from grader.atomic import atomic_write_bytes

RUNTIME = Path(__file__).resolve().parent / "runtime"
RUNNER = RUNTIME / "runner.py"
# The runner's own helper modules (standard library and the sandbox's
# packages only, never grader): copied beside it into /job, where
# ``python3 /job/runner.py`` finds them on sys.path.
RUNNER_MODULES = ("measure.py", "digests.py")
INPUTS_CACHE = "_inputs"


@dataclass
class Workspace:
    job_dir: Path
    submission_dir: Path
    inputs_dir: Path
    output_dir: Path
    # path (as the job names it) -> why it cannot be staged
    unstageable: dict[str, str] = field(default_factory=dict)


def _temp_beside(path: Path) -> Path:
    """A fresh temporary name in path's folder: unique across processes AND
    threads (-j N grades submissions on threads that share this cache)."""
    handle, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(handle)
    return Path(name)


def fresh_dir(path: Path, mode: int = 0o755) -> Path:
    if path.is_symlink() or path.is_file():
        path.unlink()
    elif path.exists():
        shutil.rmtree(path)
    path.mkdir(parents=True)
    path.chmod(mode)
    return path


def make_workspace(work_dir: Path) -> Workspace:
    work_dir.mkdir(parents=True, exist_ok=True)
    return Workspace(
        job_dir=fresh_dir(work_dir / "job"),
        submission_dir=fresh_dir(work_dir / "submission"),
        inputs_dir=fresh_dir(work_dir / "inputs"),
        output_dir=fresh_dir(work_dir / "output", 0o777),
    )


def write_job(workspace: Workspace, job: dict) -> None:
    atomic_write_bytes(workspace.job_dir / "job.json", json.dumps(job, indent=1).encode("utf-8"))
    atomic_write_bytes(workspace.job_dir / "runner.py", RUNNER.read_bytes())
    for name in RUNNER_MODULES:
        atomic_write_bytes(workspace.job_dir / name, (RUNTIME / name).read_bytes())


# --------------------------------------------------------------- submission


def _inside(root: Path, relative: str) -> Path | None:
    """``root / relative`` when it stays inside root (no .., no absolute path)."""
    candidate = Path(os.path.normpath(root / relative))
    if relative.startswith("/") or not candidate.is_relative_to(root):
        return None
    return candidate


def _copy_regular(source: Path, target: Path) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(source, target, follow_symlinks=False)
    target.chmod(0o644)


def stage(workspace: Workspace, submission_dir: Path, relative: str) -> None:
    """Copy one file, or a SavedModel folder's regular files, into the staged
    submission. Symbolic links and special files are left out; a path that is
    missing or leaves the submission is recorded in ``unstageable``."""
    root = submission_dir.resolve()
    source = _inside(root, relative)
    target = _inside(workspace.submission_dir, relative)
    if source is None or target is None:
        workspace.unstageable[relative] = "the path points outside the submission"
        return
    try:
        info = source.lstat()
    except OSError:
        workspace.unstageable[relative] = "the file is not in the submission"
        return
    try:
        if stat.S_ISREG(info.st_mode):
            _copy_regular(source, target)
        elif stat.S_ISDIR(info.st_mode):
            for folder, _, files in os.walk(source):   # os.walk does not follow symlinks
                for name in files:
                    path = Path(folder) / name
                    if path.is_file() and not path.is_symlink():
                        _copy_regular(path, target / path.relative_to(source))
            target.mkdir(parents=True, exist_ok=True)
        else:
            workspace.unstageable[relative] = "the path is a symbolic link or a special file, not a model"
            return
    except OSError as exc:
        workspace.unstageable[relative] = f"the file could not be copied for the sandbox ({exc.strerror})"
        return
    for folder, dirs, _ in os.walk(workspace.submission_dir):
        for name in dirs:
            (Path(folder) / name).chmod(0o755)


# ------------------------------------------------------------------- inputs


def _link_or_copy(source: Path, target: Path) -> None:
    if target.exists() or target.is_symlink():
        target.unlink()
    try:
        os.link(source, target)
    except OSError:
        shutil.copyfile(source, target)
        target.chmod(0o444)


def cached_inputs(work_dir: Path, dataset: str, images: np.ndarray) -> Path:
    """The test images as ``<dataset>-<sha>.npy`` in the shared cache, written
    once per distinct array."""
    if images.dtype != np.uint8:
        if not np.issubdtype(images.dtype, np.integer) or images.min() < 0 or images.max() > 255:
            raise ValueError(f"inputs[{dataset!r}] must hold 0-255 pixels (uint8), not {images.dtype}")
        images = images.astype(np.uint8)
    images = np.ascontiguousarray(images)
    digest = hashlib.sha256(str(images.shape).encode() + images.tobytes()).hexdigest()[:20]
    cache = work_dir.resolve().parent / INPUTS_CACHE
    cache.mkdir(parents=True, exist_ok=True)
    path = cache / f"{dataset}-{digest}.npy"
    if not path.is_file():
        tmp = _temp_beside(path)
        with open(tmp, "wb") as handle:
            np.save(handle, images, allow_pickle=False)
        tmp.chmod(0o444)
        os.replace(tmp, path)
    return path


def cached_file(work_dir: Path, source: Path) -> Path:
    """A copy of an instructor's file (ResNet50 weights, class index) in the
    shared cache, keyed by its path, size and modification time."""
    info = source.stat()
    key = hashlib.sha256(f"{source.resolve()}|{info.st_size}|{info.st_mtime_ns}".encode()).hexdigest()[:16]
    cache = work_dir.resolve().parent / INPUTS_CACHE
    cache.mkdir(parents=True, exist_ok=True)
    path = cache / f"{key}-{source.name}"
    if not path.is_file():
        tmp = _temp_beside(path)
        shutil.copyfile(source, tmp)
        tmp.chmod(0o444)
        os.replace(tmp, path)
    return path


def add_input(workspace: Workspace, cached: Path, name: str) -> None:
    _link_or_copy(cached, workspace.inputs_dir / name)
