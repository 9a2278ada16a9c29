"""What a Dask worker does with one archive: the same grade_and_write as a local
run, into a scratch folder laid out like the class's output folder, whose files
(record, report, Gradescope file, integrity evidence, re-run outputs; not the
unpacked archive) go back to the coordinator, which only writes them.

The archive arrives as bytes in the task (no shared file system is needed); the
record this one replaces comes along, so that manual points are kept as locally.
Paths the record holds (a re-run's notebooks) are rewritten from the scratch
folder to the coordinator's output folder, where those files will be."""

from __future__ import annotations

import os
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from grader.score.records import SubmissionGrade

STARTED_TOPIC = "grader-started"     # + the run's id: a worker says which archive it took


@dataclass
class RemoteJob:
    name: str                  # the archive's file name
    key: str                   # its resume key
    archive: bytes
    previous: bytes | None     # the record it replaces, if any


@dataclass
class ReturnedGrade:
    grade: SubmissionGrade
    files: dict[str, bytes]    # out-dir-relative POSIX path -> content
    worker: str
    seconds: float             # on the worker, unpacking to rendering


def grade_on_worker(job: RemoteJob, context_name: str, topic: str, out_dir: str) -> ReturnedGrade:
    """The Dask task: runs on a worker, in one of its threads, holding one sandbox."""
    from distributed import get_worker

    from grader.batch import grade_and_write

    started = time.monotonic()
    worker = get_worker()
    worker.log_event(topic, {"archive": job.name, "worker": worker.address, "pid": os.getpid()})
    context = worker.plugins[context_name]
    with tempfile.TemporaryDirectory(prefix="grade-", dir=worker.local_directory, ignore_cleanup_errors=True) as tmp:
        scratch = Path(tmp)
        archive = scratch / "in" / job.name
        archive.parent.mkdir()
        archive.write_bytes(job.archive)
        previous = scratch / "previous.json"
        if job.previous is not None:
            previous.write_bytes(job.previous)
        out = scratch / "out"
        sandbox = context.sandbox()    # SandboxUnavailable: the task fails, Dask retries it (another worker?)
        grade = grade_and_write(archive, job.key, out, context.rubric, sandbox, context.held_out(), context.rerun,
                                previous, worker=worker.address)
        if grade.rerun:
            _relocate_record(grade, out, Path(out_dir))
        files = _collect(out)
    _drop_per_image_arrays(grade)
    return ReturnedGrade(grade, files, worker.address, time.monotonic() - started)


def _drop_per_image_arrays(grade: SubmissionGrade) -> None:
    """Each part's prediction per test image went into the integrity evidence file just
    written; the coordinator, which keeps every grade of the class, needs them no more."""
    for part in grade.parts.values():
        for key in ("predicted", "correct"):
            (part.details or {}).pop(key, None)


def _relocate_record(grade: SubmissionGrade, scratch_out: Path, out_dir: Path) -> None:
    """The re-run's host paths as the coordinator will have them; the record written again
    (the report, already rendered, links them relatively)."""
    from grader.atomic import atomic_write_text
    from grader.report import output_paths
    from grader.report.formatting import to_json

    grade.rerun = _rewrite(grade.rerun, str(scratch_out), str(out_dir))
    atomic_write_text(output_paths(grade.archive, scratch_out).json, to_json(grade.to_dict()))


def _rewrite(value, old: str, new: str):
    if isinstance(value, str):
        return new + value[len(old):] if value == old or value.startswith(old + os.sep) else value
    if isinstance(value, dict):
        return {key: _rewrite(item, old, new) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(_rewrite(item, old, new) for item in value)
    return value


def _collect(out: Path) -> dict[str, bytes]:
    """Every file written under ``out`` but the unpacked archive and its sandbox folders (work/)."""
    files = {}
    for folder, subfolders, names in os.walk(out):
        here = Path(folder)
        if here == out and "work" in subfolders:
            subfolders.remove("work")
        for name in names:
            path = here / name
            if path.is_file() and not path.is_symlink():
                files[path.relative_to(out).as_posix()] = path.read_bytes()
    return files
