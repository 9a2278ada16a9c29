"""Read back what a re-run left in the sandbox's output folder, as untrusted data.

The student's code ran with write access to that folder, so every file may be
a symlink, a FIFO, huge or forged: files are opened with
``readback.open_untrusted`` (no symlinks, regular files, size caps), the
runner's JSON is type-checked field by field, and what the re-run wrote is
copied out (regular files only, counted and capped) into a tree laid out like
a submission, which ``grader.discover`` and the readers then read as they
read any submission.
"""

from __future__ import annotations

import json
import os
import re
import stat
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from grader.evaluate import readback
from grader.evaluate.readback import Malformed
from grader.atomic import atomic_write_bytes
from grader.rerun.records import CellFailure, FitCall, SourceRun

MAX_PRODUCED_FILES = 2000
MAX_FIT_CALLS = 1000
FIT_LOG_BYTES = 1024 * 1024
LOG_BYTES = 2 * 1024 * 1024
TRACEBACK_CHARS = 6000
SKIPPED_DIRS = {".ipynb_checkpoints", "__pycache__"}
_TEST_LINE = re.compile(r"\b(?:test|testing|eval|evaluation|evaluate|holdout)\b", re.IGNORECASE)
_ACCURACY = re.compile(r"acc", re.IGNORECASE)
_PNG, _JPEG = b"\x89PNG\r\n\x1a\n", b"\xff\xd8\xff"


@dataclass
class Produced:
    files: list[str] = field(default_factory=list)        # relative to the working copy root
    skipped: list[str] = field(default_factory=list)      # why some were not taken


# ------------------------------------------------------------- result.json


def _no_constants(name: str):
    raise Malformed(f"result.json holds {name}, which is not valid JSON")


def read_runner_result(output_dir: Path) -> dict | None:
    """The runner's result.json, None when it never wrote one; Malformed when it is not the runner's."""
    try:
        with readback.open_untrusted(output_dir / "result.json", readback.RESULT_MAX_BYTES) as handle:
            raw = handle.read(readback.RESULT_MAX_BYTES + 1)
    except FileNotFoundError:
        return None
    try:
        data = json.loads(raw.decode("utf-8"), parse_constant=_no_constants)
    except (UnicodeDecodeError, ValueError) as exc:
        raise Malformed(f"result.json is not valid JSON ({type(exc).__name__})") from None
    if not isinstance(data, dict) or not isinstance(data.get("sources", {}), dict):
        raise Malformed("result.json is not the runner's object")
    return data


def source_entry(entry, source: SourceRun) -> None:
    """Fill ``source`` from the runner's entry for it, checking every field."""
    entry = readback.mapping(entry, f"the entry for {source.path}")
    status = readback.text(entry.get("status"), 20)
    if status not in ("ok", "errors", "timeout", "crashed", "not-run"):
        raise Malformed(f"unknown status {status!r}")
    source.status = status
    source.message = readback.text(entry.get("message"))
    source.cells_total = readback.integer(entry.get("cells_total", 0), 0, 100_000)
    source.cells_run = readback.integer(entry.get("cells_run", 0), 0, 100_000)
    timed_out = entry.get("timed_out_cell")
    source.timed_out_cell = None if timed_out is None else readback.integer(timed_out, 1, 100_000)
    source.seconds = readback.number(entry.get("seconds", 0.0), 0.0, 10**7)
    failures = entry.get("failures") or []
    if not isinstance(failures, list):
        raise Malformed("failures is not a list")
    source.failures = [
        CellFailure(cell=readback.integer(f.get("cell"), 1, 100_000), ename=readback.text(f.get("ename"), 200),
                    evalue=readback.text(f.get("evalue"), 1000), traceback=readback.text(f.get("traceback"),
                                                                                       TRACEBACK_CHARS))
        for f in (readback.mapping(item, "a failure") for item in failures[:500])
    ]


def output_file(output_dir: Path, relative, expected: str) -> Path | None:
    """A file the runner names, if it is where the runner puts such files."""
    if relative is None:
        return None
    relative = readback.text(relative, 200)
    if not re.fullmatch(expected, relative):
        raise Malformed(f"unexpected output path {relative!r}")
    return output_dir / relative


def _log_lines(path: Path | None) -> list[str]:
    """The fit log's lines (fit calls and runtime stand-ins share it), read as untrusted text."""
    if path is None:
        return []
    try:
        with readback.open_untrusted(path, FIT_LOG_BYTES) as handle:
            return handle.read(FIT_LOG_BYTES).decode("utf-8", errors="replace").splitlines()
    except (FileNotFoundError, Malformed):
        return []


def read_fit_log(path: Path | None) -> list[FitCall]:
    lines = _log_lines(path)
    calls = []
    for line in lines[:MAX_FIT_CALLS]:
        try:
            raw = readback.mapping(json.loads(line), "a fit call")
            if raw.get("kind") == "compat":
                continue
            epochs, run = raw.get("epochs"), raw.get("run")
            calls.append(FitCall(
                framework=readback.text(raw.get("framework"), 20), model=readback.text(raw.get("model"), 100),
                epochs=None if epochs is None else readback.integer(epochs, 0, 10**9),
                run=None if run is None else readback.integer(run, 0, 10**9),
                capped=readback.flag(raw.get("capped")) is True,
            ))
        except (ValueError, Malformed):
            continue
    return calls


def read_compat_log(path: Path | None) -> list[str]:
    """The runtime stand-ins the code used ("api: note"), from the same log as the fit calls."""
    lines = _log_lines(path)
    used = []
    for line in lines[:MAX_FIT_CALLS]:
        try:
            raw = readback.mapping(json.loads(line), "a log line")
        except (ValueError, Malformed):
            continue
        if raw.get("kind") == "compat":
            text = f"{readback.text(raw.get('api'), 100)}: {readback.text(raw.get('note'), 200)}"
            if text not in used:
                used.append(text)
    return used[:50]


def copy_out(path: Path, target: Path, max_bytes: int) -> Path:
    """Copy a file the sandbox wrote (regular, no symlink, under ``max_bytes``) to ``target``."""
    with readback.open_untrusted(path, max_bytes) as handle:
        data = handle.read(max_bytes + 1)
    target.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(target, data)
    return target


def read_text_tail(path: Path, max_bytes: int = LOG_BYTES) -> str:
    """The last ``max_bytes`` of a log the sandbox wrote ('' when it is missing or unsafe)."""
    try:
        with readback.open_untrusted(path, 10**12) as handle:
            size = os.fstat(handle.fileno()).st_size
            handle.seek(max(0, size - max_bytes))
            return handle.read(max_bytes).decode("utf-8", errors="replace")
    except (FileNotFoundError, Malformed, OSError):
        return ""


# --------------------------------------------------------------- printed


def printed_test_lines(texts: list[str]) -> list[str]:
    """Output lines that name a test (or evaluation) accuracy: ``Test accuracy: 0.99``."""
    lines = []
    for text in texts:
        for line in re.split(r"[\r\n]+", text):
            if _TEST_LINE.search(line) and _ACCURACY.search(line) and len(line) < 500:
                lines.append(line.strip())
    return lines


def printed_test_accuracy(texts: list[str], scratch: Path) -> tuple[float | None, list[str]]:
    """The last test accuracy the outputs print, read with the metrics reader's text
    rules (only lines that say "test", so per-epoch training figures never count)."""
    from grader.readers import ReadError, read_metrics

    lines = printed_test_lines(texts)
    if not lines:
        return None, []
    scratch.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(scratch, ("\n".join(lines[-50:]) + "\n").encode("utf-8"))
    try:
        accuracy = read_metrics(scratch).test_accuracy
    except ReadError:
        return None, lines[-5:]
    return (accuracy if accuracy is not None and 0.0 <= accuracy <= 1.0 else None), lines[-5:]


def save_images(images: list[bytes], folder: Path) -> list[str]:
    """The plots a notebook displayed, as files (PNG or JPEG by their bytes)."""
    saved = []
    for number, data in enumerate(images, start=1):
        suffix = ".png" if data.startswith(_PNG) else ".jpg" if data.startswith(_JPEG) else None
        if suffix is None:
            continue
        path = folder / f"output-{number:02d}{suffix}"
        folder.mkdir(parents=True, exist_ok=True)
        atomic_write_bytes(path, data)
        saved.append(str(path))
    return saved


# -------------------------------------------------------------- produced


def _original_files(staged: Path) -> dict[str, tuple[int, int]]:
    files = {}
    for folder, _, names in os.walk(staged):
        for name in names:
            path = Path(folder) / name
            info = path.lstat()
            files[path.relative_to(staged).as_posix()] = (info.st_size, info.st_mtime_ns)
    return files


def collect_produced(work_copy: Path, staged: Path, target_root: Path, max_bytes: int) -> Produced:
    """Copy what the re-run wrote (files new or changed in the working copy) to
    ``target_root``; the sandbox has stopped, so nothing changes under us."""
    produced = Produced()
    if not work_copy.is_dir() or work_copy.is_symlink():
        return produced
    originals = _original_files(staged)
    total = 0
    for folder, dirs, names in os.walk(work_copy):   # does not follow symlinked folders
        dirs[:] = sorted(d for d in dirs if d not in SKIPPED_DIRS)
        for name in sorted(names):
            path = Path(folder) / name
            relative = path.relative_to(work_copy).as_posix()
            info = path.lstat()
            if not stat.S_ISREG(info.st_mode):
                if stat.S_ISLNK(info.st_mode):
                    produced.skipped.append(f"{relative}: a symbolic link, not copied")
                continue
            if originals.get(relative) == (info.st_size, info.st_mtime_ns):
                continue
            if len(produced.files) >= MAX_PRODUCED_FILES:
                produced.skipped.append(f"more than {MAX_PRODUCED_FILES} files were written; the rest were not kept")
                return produced
            if total + info.st_size > max_bytes:
                produced.skipped.append(f"{relative}: over the {max_bytes // 2**20} MB read-back limit, not kept")
                continue
            try:
                copy_out(path, target_root / PurePosixPath(relative), max_bytes)
            except (Malformed, OSError) as exc:
                produced.skipped.append(f"{relative}: {exc}")
                continue
            total += info.st_size
            produced.files.append(relative)
    return produced
