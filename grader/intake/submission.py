"""open_submission: one archive or folder -> an Intake record."""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import stat
import sys
import unicodedata
from collections.abc import Callable
from pathlib import Path

from grader.records import ExtractedFile, Intake, Severity, Student
from grader.rubric import Rubric

from grader.intake.extract import Extractor
from grader.intake.identity import identify_student
from grader.intake.layout import choose_root
from grader.intake.problems import EXPECTED_NAME, ProblemLog, rezip_hint
from grader.intake.sources import read_archive, read_folder

ARCHIVE_SUFFIXES = (".zip", ".rar", ".7z", ".tar", ".tgz", ".tar.gz", ".tar.bz2", ".tar.xz")


def open_submission(source: Path, work_root: Path, rubric: Rubric) -> Intake:
    """Extract (or copy) ``source`` into a fresh folder under ``work_root``.

    Never raises for bad input: every failure is a Problem on the returned
    Intake, whose ``usable`` is False when nothing could be extracted.
    """
    source, work_root = Path(source), Path(work_root)
    work_dir = work_root / work_dir_name(source)
    student, name_problems = identify_student(source.name, rubric.archive_prefix)
    intake = Intake(source=source, work_dir=work_dir, root=work_dir, student=student)
    log = ProblemLog()
    log.extend(name_problems)
    try:
        _fill(intake, rubric, log)
    except Exception as exc:  # noqa: BLE001 - one submission must never stop a batch
        log.add("intake-failed", f"{source.name} could not be read because of an error in the grader "
                f"({type(exc).__name__}: {exc}). Please report it with this file.")
    intake.problems = log.problems()
    return intake


def work_dir_name(source: Path) -> str:
    """A portable folder name for ``source``: readable, and unique for different names."""
    name = source.name
    if name.lower().endswith(".zip"):
        name = name[:-4]
    ascii_name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    safe = re.sub(r"[^A-Za-z0-9._-]+", "_", ascii_name).strip("._-")[:80] or "submission"
    if safe != name:
        safe += "-" + hashlib.sha1(name.encode("utf-8", "surrogateescape")).hexdigest()[:8]
    return safe


def _fill(intake: Intake, rubric: Rubric, log: ProblemLog) -> None:
    source, label = intake.source, intake.source.name
    rezip = rezip_hint(rubric.folder, _zip_name(intake.student, rubric.archive_prefix))
    if not source.exists():
        log.add("missing-source", f"{label} does not exist (looked at {source}).")
        return
    if _inside(source, intake.work_dir):
        log.add("source-in-work-folder", f"{label} lies inside the grader's work folder {intake.work_dir}, which "
                "is wiped on every run; move it elsewhere first.")
        return
    _fresh_folder(intake.work_dir)
    extractor = Extractor(work_dir=intake.work_dir, limits=rubric.extraction, log=log, label=label, folder=rubric.folder)
    if source.is_dir():
        read_folder(source, extractor, skip=intake.work_dir.parent)
    else:
        intake.sha256 = _sha256(source, rubric.extraction.max_archive_bytes)
        read_archive(source, extractor, rezip)
    extractor.report_cleanups()
    _warn_nested_archives(extractor, log)
    if not extractor.files and not log.has_errors():
        what = "folder" if source.is_dir() else "archive"
        log.add(f"empty-{what}", f"{label} holds no files besides folders and system clutter. {rezip}")
    _place_root(intake, extractor, rubric, log)


def _place_root(intake: Intake, extractor: Extractor, rubric: Rubric, log: ProblemLog) -> None:
    """Set the root and list the files below it, relative to it."""
    top_name = intake.source.name if intake.source.is_dir() else None
    choice = choose_root(extractor.files, rubric, extractor.label, top_name=top_name)
    for problem in choice.problems:
        log.add(problem.code, problem.message, Severity(problem.severity), problem.path)
    intake.root = intake.work_dir / choice.root if choice.root else intake.work_dir
    prefix = f"{choice.root}/" if choice.root else ""
    intake.files = [
        ExtractedFile(path=rel[len(prefix):], size=written.size, sha256=written.sha256, mtime=written.mtime)
        for rel, written in sorted(extractor.files.items())
        if rel.startswith(prefix)
    ]


def _zip_name(student: Student | None, prefix: str) -> str:
    if student and student.last and student.first:
        return f"{prefix}_{student.last}{student.first}.zip".replace(" ", "")
    return EXPECTED_NAME.format(prefix=prefix)


def _warn_nested_archives(extractor: Extractor, log: ProblemLog) -> None:
    nested = [rel for rel in sorted(extractor.files) if rel.lower().endswith(ARCHIVE_SUFFIXES)]
    if nested:
        listed = ", ".join(f"'{rel}'" for rel in nested[:5]) + (f" and {len(nested) - 5} more" if len(nested) > 5 else "")
        log.add("nested-archive", f"{extractor.label} holds archives inside it that were not opened: {listed}. "
                f"Put their contents in the {extractor.folder} folder instead of zipping them separately.",
                Severity.WARNING, path=nested[0])


def _inside(path: Path, folder: Path) -> bool:
    path_real, folder_real = os.path.realpath(path), os.path.realpath(folder)
    return path_real == folder_real or path_real.startswith(folder_real + os.sep)


def _fresh_folder(work_dir: Path) -> None:
    """Reruns must be clean: remove what an earlier run left, then create the folder."""
    work_dir.parent.mkdir(parents=True, exist_ok=True)
    if work_dir.is_symlink() or work_dir.is_file():
        work_dir.unlink()
    elif work_dir.exists():
        # A folder made read-only (by a student's archive or a sandbox) must not block the wipe.
        if sys.version_info >= (3, 12):
            shutil.rmtree(work_dir, onexc=_make_writable_and_retry)
        else:
            shutil.rmtree(work_dir, onerror=_make_writable_and_retry)
    work_dir.mkdir()


def _make_writable_and_retry(function: Callable[[str], object], path: str, _error: object) -> None:
    parent = os.path.dirname(path)
    os.chmod(parent, os.stat(parent).st_mode | stat.S_IRWXU)
    function(path)


def _sha256(path: Path, max_bytes: int) -> str | None:
    """The archive's hash, or None when it is too large to be read or cannot be read."""
    digest = hashlib.sha256()
    try:
        if path.stat().st_size > max_bytes:
            return None
        with path.open("rb") as fh:
            while chunk := fh.read(1024 * 1024):
                digest.update(chunk)
    except OSError:
        return None  # read_archive reports why
    return digest.hexdigest()
