"""Grade a folder of archives: parallel, resumable, one failure never stops the rest.

After grading, the class's policy (grader/policy) makes one grade per student
from every attempt's record; ``rescore`` does only that, from the stored
records, so a changed due date or extensions file needs no sandbox. The resume
key covers the archive and the rubric's grading part, never its [policy].

Manual points (grader/manual) live in the records: ``--manual FILE.csv`` merges
them after grading (into the records only, no sandbox), and a regrade that
rewrites a record gives it back the points its previous record had; neither
touches the resume key.

Archives are graded by a pool of threads here, or on a Dask cluster
(``--cluster``, grader/cluster): either way each archive goes through
grade_and_write, and resume, Ctrl-C and the class outputs are the same."""

from __future__ import annotations

import hashlib
import json
import os
import time
import tomllib
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from grader import __version__
from grader.hashing import sha256_of
from grader.pipeline import HeldOutData, RerunOptions, grade_submission
from grader.policy.sources import ClassPolicy
from grader.records import Problem, Severity, Student
from grader.rubric import Rubric
from grader.score.records import SubmissionGrade, grade_from_dict

# What an LMS download folder holds besides archives: receipts and notes.
_NOT_SUBMISSIONS = {".txt", ".md", ".toml", ".csv", ".json", ".html", ".gitignore", ".gitkeep"}


@dataclass
class BatchSummary:
    graded: int = 0
    errors: int = 0
    skipped: int = 0
    interrupted: bool = False
    seconds: float = 0.0
    remaining: list[str] = field(default_factory=list)
    grades: list[SubmissionGrade] = field(default_factory=list)
    standing: object = None           # the ClassStanding the class outputs were made from
    manual: object = None             # the grader.manual MergeOutcome, with --manual
    stopped_by: str = ""              # why an interrupted run stopped: "Ctrl-C", or the scheduler went away
    # On a cluster (grader/cluster): archives graded per worker address, those graded again
    # after their worker died, and this process's own wall time spent receiving and writing results.
    workers: dict[str, int] = field(default_factory=dict)
    retried: list[str] = field(default_factory=list)
    coordinator_seconds: float = 0.0

    @property
    def seconds_per_archive(self) -> float:
        done = self.graded + self.errors
        return self.seconds / done if done else 0.0

    def add(self, grade: SubmissionGrade) -> SubmissionGrade:
        """Count a result that has just been written."""
        self.grades.append(grade)
        if grade.status == "error":
            self.errors += 1
        else:
            self.graded += 1
        if grade.worker:
            self.workers[grade.worker] = self.workers.get(grade.worker, 0) + 1
        return grade

    def to_dict(self) -> dict:
        data = {"graded": self.graded, "errors": self.errors, "skipped": self.skipped,
                "interrupted": self.interrupted, "seconds": round(self.seconds, 1),
                "seconds_per_archive": round(self.seconds_per_archive, 2), "remaining": self.remaining}
        if self.workers or self.retried or self.coordinator_seconds:
            done = self.graded + self.errors
            data.update(workers=dict(self.workers), retried=list(self.retried),
                        coordinator_seconds_per_archive=round(self.coordinator_seconds / done, 4) if done else 0.0)
        return data


def find_archives(folder: Path) -> list[Path]:
    """Every submission in a drop folder: zips, and anything else that is not an
    LMS receipt, so that a .rar or a stray file gets its own error row."""
    found = []
    for path in sorted(Path(folder).iterdir()):
        if path.name.startswith(".") or path.name.lower().startswith("readme"):
            continue
        if path.is_file() and path.suffix.lower() not in _NOT_SUBMISSIONS:
            found.append(path)
    return found


def resume_key(archive: Path, rubric: Rubric, rerun: RerunOptions | None = None) -> str:
    digest = hashlib.sha256()
    digest.update(rerun.key().encode() if rerun else b"no-rerun")
    digest.update(sha256_of(archive).encode() if archive.is_file() else str(archive).encode())
    rubric_path = Path(rubric.path)
    if rubric_path.is_file():
        digest.update(rubric_grading_part(rubric_path))
    baselines = rubric_path.parent / rubric.baselines_file
    if rubric.baselines_file and baselines.is_file():
        digest.update(baselines.read_bytes())
    digest.update(__version__.encode())
    return digest.hexdigest()


def rubric_grading_part(path: Path) -> bytes:
    """The rubric as parsed, without its [policy] table: what grading depends on.
    (Comments and layout do not count either; an unreadable file counts as its bytes.)"""
    raw = path.read_bytes()
    try:
        data = tomllib.loads(raw.decode("utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError):
        return raw
    data.pop("policy", None)
    data.pop("integrity", None)   # compared from the stored records: a new threshold needs no regrading
    return json.dumps(data, sort_keys=True, default=str).encode()


def default_jobs(rubric: Rubric) -> int:
    """As many sandboxes as cores and memory allow under the rubric's limits."""
    cores = os.cpu_count() or 1
    try:
        available_mb = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_AVPHYS_PAGES") // (1024 * 1024)
    except (ValueError, OSError):
        available_mb = rubric.sandbox.memory_mb
    by_memory = max(1, int(available_mb * 0.8) // rubric.sandbox.memory_mb)
    by_cores = max(1, int(cores // max(rubric.sandbox.cpus, 1.0)))
    return max(1, min(by_cores, by_memory))


def record_path(out_dir: Path, archive: Path) -> Path:
    return out_dir / "results" / f"{archive.stem}.json"


def _previous(out_dir: Path, archive: Path, key: str) -> SubmissionGrade | None:
    path = record_path(out_dir, archive)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        if data.get("resume_key") == key:
            return grade_from_dict(data)
    except (OSError, ValueError, KeyError, TypeError):
        pass  # a missing or unreadable record is simply graded again
    return None


def up_to_date(archives: list[Path], out_dir: Path, rubric: Rubric, rerun: RerunOptions | None = None) -> bool:
    """Every archive has a current record, so a run grades nothing: merging manual points
    into such a class needs no sandbox and no test data."""
    out_dir = Path(out_dir).resolve()
    return all(_previous(out_dir, archive, resume_key(archive, rubric, rerun)) is not None for archive in archives)


def internal_error(archive: Path, exc: BaseException) -> SubmissionGrade:
    message = (f"the grader failed on this archive ({type(exc).__name__}: {exc}); it was not graded. "
               "Rerun it with `grade <archive>` and report the problem if it persists")
    return SubmissionGrade(archive=archive.name, student=Student(None, None, source=archive.name), status="error",
                           score=0.0, max_score=0.0, rubric="", note=message,
                           problems=[Problem("internal-error", message, Severity.ERROR, archive.name)],
                           grader_version=__version__)


Progress = Callable[[str, str, SubmissionGrade | None], None]   # event, archive name, grade
Placed = Callable[[str, str, int], None]    # archive name, worker address, attempt (1, then 2 after a worker died)


def grade_and_write(archive: Path, key: str, out_dir: Path, rubric: Rubric, sandbox, data: HeldOutData,
                    rerun: RerunOptions | None, previous_record: Path, worker: str | None = None) -> SubmissionGrade:
    """Grade one archive and write its outputs (record, report, Gradescope file, integrity
    evidence) under out_dir. The same steps run in this process and on a Dask worker
    (grader/cluster/task.py), which writes into a scratch folder the coordinator copies.
    ``previous_record``: the record this one replaces, whose manual points are kept."""
    from grader.manual.merge import keep_given_points
    from grader.report import write_submission_outputs

    try:
        grade = grade_submission(archive, rubric, sandbox, data, out_dir / "work", rerun, out_dir / "rerun")
    except Exception as exc:  # noqa: BLE001 - a grader bug costs one row, not the batch
        grade = internal_error(archive, exc)
    grade.resume_key = key
    grade.worker = worker
    keep_given_points(grade, previous_record)   # before it is replaced
    write_submission_outputs(grade, out_dir)
    _store_integrity_evidence(grade, out_dir)
    return grade


def grade_batch(archives: list[Path], out_dir: Path, rubric: Rubric, sandbox, data: HeldOutData, *,
                jobs: int = 1, force: bool = False, exports: tuple[str, ...] = (),
                progress: Progress | None = None, rerun: RerunOptions | None = None,
                policy: ClassPolicy | None = None, manual=None, cluster=None,
                placed: Placed | None = None) -> BatchSummary:
    """Grade archives into out_dir; write each result as soon as it is known;
    merge the instructor's manual points (``manual``, a grader.manual ManualSheet) into
    the stored records; then apply the class's policy (the rubric's unless given) to every record.

    With ``cluster`` (a grader.cluster.ClusterExecutor) the archives are graded on Dask
    workers, each with its own sandbox (``sandbox`` is not used), and this process only
    writes what they return; ``placed`` hears where each archive started."""
    out_dir = Path(out_dir).resolve()
    summary = BatchSummary()
    started = time.monotonic()
    notify = progress or (lambda event, name, grade: None)
    todo: list[tuple[Path, str]] = []
    for archive in archives:
        key = resume_key(archive, rubric, rerun)
        previous = None if force else _previous(out_dir, archive, key)
        if previous is not None:
            summary.skipped += 1
            summary.grades.append(previous)
            notify("skipped", archive.name, previous)
        else:
            todo.append((archive, key))

    if cluster is not None:
        cluster.grade(todo, out_dir, rubric, data, rerun, summary, notify, placed)
    else:
        _grade_here(todo, out_dir, rubric, sandbox, data, rerun, jobs, summary, notify)
    summary.seconds = time.monotonic() - started
    order = {a.name: i for i, a in enumerate(archives)}
    summary.grades.sort(key=lambda g: order.get(g.archive, len(order)))
    if manual is not None and not summary.interrupted:
        from grader.manual.merge import merge_sheet

        summary.manual = merge_sheet(manual, out_dir, rubric)
        summary.grades = [summary.manual.grades.get(g.archive, g) for g in summary.grades]
    summary.standing = _write_class(_whole_class(out_dir, summary.grades), out_dir, rubric, exports, policy,
                                    summary.manual)
    return summary


def _grade_here(todo: list[tuple[Path, str]], out_dir: Path, rubric: Rubric, sandbox, data: HeldOutData,
                rerun: RerunOptions | None, jobs: int, summary: BatchSummary, notify: Progress) -> None:
    """Grade in this process, ``jobs`` archives at a time, each written by its own thread."""
    from grader.report import output_paths

    def grade_one(archive: Path, key: str) -> SubmissionGrade:
        notify("started", archive.name, None)
        return grade_and_write(archive, key, out_dir, rubric, sandbox, data, rerun,
                               output_paths(archive.name, out_dir).json)

    pool = ThreadPoolExecutor(max_workers=max(1, jobs), thread_name_prefix="grade")
    pending: dict[Future, Path] = {pool.submit(grade_one, a, k): a for a, k in todo}
    try:
        while pending:
            done, _ = wait(pending, return_when=FIRST_COMPLETED)
            for future in done:
                notify("finished", pending.pop(future).name, summary.add(future.result()))
    except KeyboardInterrupt:
        # Archives not started are dropped; those running finish (their
        # sandboxes are bounded by the timeout) and are kept.
        summary.interrupted, summary.stopped_by = True, "Ctrl-C"
        for future in pending:
            future.cancel()
        pool.shutdown(wait=True, cancel_futures=True)
        summary.remaining = sorted(a.name for f, a in pending.items() if f.cancelled())
        for future in pending:
            if not future.cancelled():
                summary.add(future.result())
    else:
        pool.shutdown(wait=True)


def rescore(out_dir: Path, rubric: Rubric, policy: ClassPolicy | None = None, exports: tuple[str, ...] = (),
            manual_merge=None):
    """Apply the policy again to the records in out_dir/results: grades.csv, the
    LMS uploads, the class summary and each report's standing. Opens no archive
    and starts no sandbox. Returns the ClassStanding. ``manual_merge``: a merge of
    manual points just made into those records (grader.manual.merge_sheet), for the summary."""
    out_dir = Path(out_dir).resolve()
    return _write_class(_whole_class(out_dir, []), out_dir, rubric, exports, policy, manual_merge)


def _write_class(grades: list[SubmissionGrade], out_dir: Path, rubric: Rubric, exports, policy: ClassPolicy | None,
                 manual_merge=None):
    from grader.manual.template import write_template
    from grader.report import write_class_outputs

    policy = policy or ClassPolicy(rubric.policy)
    _class_integrity(grades, out_dir, rubric)
    standing = write_class_outputs(grades, out_dir, rubric, list(exports), policy=policy.policy,
                                   extensions=policy.extensions, times=policy.times, manual_merge=manual_merge)
    write_template(out_dir, standing, any(part.manual_checks for part in rubric.parts))   # the summary links it
    return standing


def _store_integrity_evidence(grade: SubmissionGrade, out_dir: Path) -> None:
    """The archive's code, predictions and weight fingerprints for the class's
    integrity step (grader/integrity), while its extracted files are on disk."""
    from grader.integrity import evidence
    from grader.report import output_stem

    try:
        evidence.write(grade, out_dir, output_stem(grade.archive))
    except Exception:  # noqa: BLE001 - evidence for the instructor never costs a grade;
        pass           # the class summary lists the archive as compared without evidence


def _class_integrity(grades: list[SubmissionGrade], out_dir: Path, rubric: Rubric) -> None:
    """Pairs of submissions with similar code or related models, over every stored record."""
    from grader.integrity.pairs import write_class_integrity, write_failure

    try:
        write_class_integrity(out_dir, rubric, [g.archive for g in grades if g.parts])
    except Exception as exc:  # noqa: BLE001 - never stops the class outputs
        write_failure(out_dir, f"the integrity comparison failed ({type(exc).__name__}: {exc})")


def _whole_class(out_dir: Path, grades: list[SubmissionGrade]) -> list[SubmissionGrade]:
    """This run's grades plus every earlier record in out_dir, so grading one
    late archive into a class folder updates the summary instead of replacing it."""
    fresh = {g.archive for g in grades}
    everyone = list(grades)
    for path in sorted((out_dir / "results").glob("*.json")):
        try:
            earlier = grade_from_dict(json.loads(path.read_text(encoding="utf-8")))
        except (OSError, ValueError, KeyError, TypeError):
            continue
        if earlier.archive not in fresh:
            everyone.append(earlier)
    return everyone
