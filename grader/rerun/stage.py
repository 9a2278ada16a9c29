"""The host side of a re-run's set-up: the job folder, the staged submission
(with absolute paths rewritten in its sources), the instructor's data folder
made readable for the sandbox user, and the ``~/.keras`` layout the runner
builds over it.

    work_dir/sandbox/job/         job.json, runner.py, lib/ (optional)   -> /job (ro)
    work_dir/sandbox/submission/  a copy of the submission                 -> /submission (ro)
    work_dir/sandbox/output/      the working copy and what the run wrote  -> /output
    <cache>/<key>/                the data folder, readable by all         -> /inputs (ro)
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import stat
import tempfile
from collections.abc import Iterable
from pathlib import Path

import nbformat

from grader import datasets
from grader.atomic import atomic_write_bytes, publish_folder
from grader.evaluate.workspace import fresh_dir
from grader.rerun.paths import PathRewrite, PathRules, rewrite_code

RUNNER = Path(__file__).resolve().parent / "runtime" / "nbrunner.py"
STUBS = RUNNER.parent / "stubs"          # google.colab's stand-in, copied beside the runner
INPUTS = "/inputs"
MAX_DATA_FILES = 20_000
NOTEBOOK_SUFFIX = ".ipynb"
# Keras's cache folders under ~/.keras, and the names its CIFAR-10 loaders
# check before they would download: Keras 3 wants <dir>-target/ and an archive
# beside it, tf_keras <dir> and <dir>.tar.gz (see keras.src.datasets.cifar10).
KERAS_CACHE_DIRS = ("datasets", "models")
KERAS3_CIFAR_DIR = datasets.CIFAR_DIR_LAYOUTS[1].split("/")[0]        # cifar-10-batches-py-target
KERAS3_CIFAR_ARCHIVE = f"{KERAS3_CIFAR_DIR}_archive"
TF_KERAS_CIFAR_ARCHIVE = f"{datasets.CIFAR_DIR}.tar.gz"


class RerunSetupError(Exception):
    """The re-run cannot be set up (data folder missing or too big); the message says what to do."""


# ------------------------------------------------------------- submission


def _readable_copy(source: Path, target: Path) -> None:
    """A file the sandbox user can read: a hard link when the original already
    is world-readable, else a copy (a link would share the original's mode)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    if source.stat().st_mode & stat.S_IROTH:
        try:
            os.link(source, target)
            return
        except OSError:
            pass
    shutil.copyfile(source, target)
    target.chmod(0o644)


def stage_submission(root: Path, sources: Iterable[str], rules: PathRules, target: Path) -> list[PathRewrite]:
    """Copy the submission's regular files (symlinks left out) into ``target``,
    the sources with their path literals rewritten; returns every rewrite."""
    sources = set(sources)
    rewrites: list[PathRewrite] = []
    for folder, dirs, files in os.walk(root):
        here = Path(folder)
        for name in dirs:
            (target / here.relative_to(root) / name).mkdir(parents=True, exist_ok=True)
        for name in files:
            path = here / name
            relative = path.relative_to(root).as_posix()
            if not stat.S_ISREG(path.lstat().st_mode):
                continue
            destination = target / relative
            if relative in sources:
                rewritten, records = rewrite_source(path, rules, relative)
                rewrites += records
                if rewritten is not None:
                    atomic_write_bytes(destination, rewritten.encode("utf-8"))
                    continue
            _readable_copy(path, destination)
    for folder, dirs, _ in os.walk(target):
        for name in dirs:
            (Path(folder) / name).chmod(0o755)
    return rewrites


def rewrite_source(path: Path, rules: PathRules, relative: str) -> tuple[str | None, list[PathRewrite]]:
    """The source's new text (None when nothing changed or it cannot be parsed) and the rewrites."""
    try:
        text = path.read_bytes().decode("utf-8-sig")
    except (OSError, UnicodeDecodeError):
        return None, []
    if path.suffix.lower() != NOTEBOOK_SUFFIX:
        new_text, records = rewrite_code(text, rules, relative, None)
        return (new_text if new_text != text else None), records
    try:
        notebook = nbformat.reads(text, as_version=4)
    except Exception:  # noqa: BLE001 - nbformat raises many types; the runner reports the notebook
        return None, []
    records: list[PathRewrite] = []
    changed = False
    number = 0
    for cell in notebook.cells:
        if cell.get("cell_type") != "code" or not str(cell.get("source", "")).strip():
            continue
        number += 1
        new_source, cell_records = rewrite_code(cell.source, rules, relative, number)
        records += cell_records
        if new_source != cell.source:
            cell.source, changed = new_source, True
    return (nbformat.writes(notebook) if changed else None), records


# ------------------------------------------------------------------- data


def _data_files(data_dir: Path) -> list[tuple[str, Path]]:
    """(relative path, file) for the data folder's regular files, symlinked files followed."""
    found = []
    for folder, dirs, files in os.walk(data_dir):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        for name in sorted(files):
            path = Path(folder) / name
            if name.startswith(".") or not path.is_file():
                continue
            found.append((path.relative_to(data_dir).as_posix(), path))
            if len(found) > MAX_DATA_FILES:
                raise RerunSetupError(
                    f"{data_dir}: holds more than {MAX_DATA_FILES:,} files; point --data-dir at the folder "
                    "with Keras's datasets/ and models/ (usually ~/.keras)")
    return found


# What a staged copy holds beyond the data folder's files (part of its cache key):
# 2, an mnist.npz made from the IDX files.
STAGED_LAYOUT = 2


def _mnist_npz_from_idx(staging: Path) -> None:
    """A data folder with the four official MNIST IDX files and no mnist.npz (the
    grader's loader takes either; Keras's ``mnist.load_data()`` only the npz) gets
    one in ``datasets/``, made from them (the instructor's data, trusted), so the
    notebooks' load_data() finds the images the grader scores on. A bad file is
    left for the grader's own loading to name."""
    try:
        made = datasets.npz_from_idx(staging)
    except datasets.DataError:
        return
    if made is not None:
        target = staging / "datasets" / datasets.MNIST_NPZ
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(made)
        target.chmod(0o644)


def stage_data(data_dir: Path, cache_root: Path) -> Path:
    """The data folder as a tree the sandbox user can read, made once per
    content (key: paths, sizes, modification times) and shared by submissions."""
    data_dir = Path(data_dir).expanduser().resolve()
    if not data_dir.is_dir():
        raise RerunSetupError(f"{data_dir}: no such data folder; pass --data-dir (Keras's ~/.keras holds the data)")
    files = _data_files(data_dir)
    digest = hashlib.sha256(f"{STAGED_LAYOUT}\0{data_dir}".encode())
    for relative, path in files:
        info = path.stat()
        digest.update(f"\0{relative}\0{info.st_size}\0{info.st_mtime_ns}".encode())
    target = cache_root / digest.hexdigest()[:20]
    if (target / ".complete").is_file():
        return target
    cache_root.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".data-", dir=cache_root))
    try:
        for relative, path in files:
            _readable_copy(path, staging / relative)
        _mnist_npz_from_idx(staging)
        for folder, dirs, _ in os.walk(staging):
            for name in dirs:
                (Path(folder) / name).chmod(0o755)
        staging.chmod(0o755)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return publish_folder(staging, target, ".complete")


def keras_home_links(staged_data: Path, inputs: str = INPUTS) -> list[dict[str, str | None]]:
    """What ~/.keras holds in the sandbox: ``{"path": under ~/.keras, "target":
    under the inputs folder (/inputs)}`` symlinks, and ``target: None`` for an
    empty placeholder.

    ``datasets/`` and ``models/`` link every entry of the data folder's own
    ``datasets/`` and ``models/`` and, for a flat folder, its top-level
    entries and those of its subfolders (``mnist/``, ``imagenet/``, as
    grader.datasets accepts); CIFAR-10 also gets the folder names the other Keras version's
    loader checks for."""
    links: dict[str, str | None] = {}
    for cache in KERAS_CACHE_DIRS:
        folder = staged_data / cache
        if folder.is_dir():
            for entry in sorted(folder.iterdir()):
                links[f"{cache}/{entry.name}"] = f"{inputs}/{cache}/{entry.name}"
    top = [e for e in sorted(staged_data.iterdir()) if not e.name.startswith(".") and e.name not in KERAS_CACHE_DIRS]
    nested = [(f"{e.name}/{inner.name}", inner) for e in top if e.is_dir() for inner in sorted(e.iterdir())]
    for relative, entry in [(e.name, e) for e in top] + nested:   # <dir>/x, then <dir>/mnist/x
        for cache in KERAS_CACHE_DIRS:
            links.setdefault(f"{cache}/{entry.name}", f"{inputs}/{relative}")
    cifar = links.get(f"datasets/{datasets.CIFAR_DIR}")
    keras3 = links.get(f"datasets/{KERAS3_CIFAR_DIR}")
    if cifar and not keras3:
        links[f"datasets/{KERAS3_CIFAR_DIR}/{datasets.CIFAR_DIR}"] = cifar
    if keras3 and not cifar:
        links[f"datasets/{datasets.CIFAR_DIR}"] = cifar = f"{keras3}/{datasets.CIFAR_DIR}"
    if cifar:
        links.setdefault(f"datasets/{KERAS3_CIFAR_ARCHIVE}", None)
        links.setdefault(f"datasets/{TF_KERAS_CIFAR_ARCHIVE}", None)
    return [{"path": path, "target": target} for path, target in links.items()]


# -------------------------------------------------------------------- job


def support_library(target: Path, job_mount: str) -> list[str]:
    """The grader's own ``grader`` and ``reference`` packages and ``rubrics/``
    (plain source, no data), for notebooks that import them: the reference
    solutions' notebooks do. Returns the folders for PYTHONPATH, as mounted."""
    import grader
    import reference
    from grader.rubric import rubrics_dir

    wanted = {".py", ".toml", ".json"}
    for package in (Path(grader.__file__).parent, Path(reference.__file__).parent):
        for path in package.rglob("*"):
            if path.is_file() and path.suffix in wanted and "__pycache__" not in path.parts:
                destination = target / package.name / path.relative_to(package)
                destination.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(path, destination)
    rubrics = rubrics_dir()
    if rubrics.is_dir():
        for path in rubrics.glob("*.toml"):
            (target / "rubrics").mkdir(parents=True, exist_ok=True)
            shutil.copyfile(path, target / "rubrics" / path.name)
    for folder, dirs, files in os.walk(target):
        for name in dirs:
            (Path(folder) / name).chmod(0o755)
        for name in files:
            (Path(folder) / name).chmod(0o644)
    return [f"{job_mount}/{target.name}"]


def write_job(job_dir: Path, job: dict, with_support_library: bool, job_mount: str = "/job") -> None:
    fresh_dir(job_dir)
    if with_support_library:
        job["python_path"] = support_library(job_dir / "lib", job_mount)
    atomic_write_bytes(job_dir / "job.json", json.dumps(job, indent=1).encode("utf-8"))
    atomic_write_bytes(job_dir / "runner.py", RUNNER.read_bytes())
    shutil.copytree(STUBS, job_dir / "stubs", ignore=shutil.ignore_patterns("__pycache__"))
    for folder, dirs, files in os.walk(job_dir / "stubs"):
        for name in dirs:
            (Path(folder) / name).chmod(0o755)
        for name in files:
            (Path(folder) / name).chmod(0o644)
