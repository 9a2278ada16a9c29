"""The coordinator's side of a result: write the files a worker rendered, atomically,
the record last (a record on disk is what resume trusts, so it must come after the rest)."""

from __future__ import annotations

from pathlib import Path, PurePosixPath

from grader.atomic import atomic_write_bytes
from grader.cluster.task import ReturnedGrade


def write_returned(returned: ReturnedGrade, out_dir: Path) -> None:
    from grader.report import output_paths, write_submission_outputs

    if not returned.files:                       # a row the worker could not grade: render it here
        write_submission_outputs(returned.grade, out_dir)
        return
    record = output_paths(returned.grade.archive, out_dir).json.relative_to(out_dir).as_posix()
    targets = {relative: inside(out_dir, relative) for relative in returned.files}
    for relative in sorted(returned.files, key=lambda r: r == record):
        atomic_write_bytes(targets[relative], returned.files[relative])


def inside(out_dir: Path, relative: str) -> Path:
    """``out_dir/relative``, refusing a path that would leave it."""
    path = PurePosixPath(relative)
    if path.is_absolute() or not path.parts or any(part in ("", ".", "..") for part in path.parts):
        raise ValueError(f"a worker returned the file {relative!r}, which is not inside the output folder")
    return Path(out_dir).joinpath(*path.parts)
