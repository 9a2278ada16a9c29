"""The Python API the CLI is a thin layer over, and the tests call directly.

    check_submission(path)                    -> CheckReport       (students, no model is run)
    grade_submission(path, ...)               -> SubmissionGrade   (one archive, sandboxed)
    grade_batch(paths, out_dir, ...)          -> BatchSummary      (instructors)
"""

from __future__ import annotations

import dataclasses
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from grader import __version__
from grader.discover import discover
from grader.discover.contents import Contents, read_contents
from grader.intake import open_submission
from grader.records import Evaluation, Intake, Layout, Problem, Role, Severity
from grader.rubric import Rubric
from grader.score import score_parts
from grader.score.records import SubmissionGrade


# ------------------------------------------------------------------ test data


@dataclass
class HeldOutData:
    """The held-out test sets of a batch, loaded once.

    ``inputs`` go into the sandbox; ``labels`` never leave this process (on a
    cluster they go to the workers, which score, and still never into a sandbox:
    grader/cluster/context.py).
    A data set in ``missing`` still has its models run, on a probe batch, so
    that what does not need the test set is graded (see _model_jobs).
    """

    inputs: dict[str, np.ndarray] = field(default_factory=dict)
    labels: dict[str, np.ndarray] = field(default_factory=dict)
    missing: dict[str, str] = field(default_factory=dict)       # data set -> what to do
    imagenet_files: dict[str, Path] | None = None
    data_dir: Path | None = None                                # where they were read from
    # Files of a test set left out (an unreadable image): data set -> one line
    # listing them, and -> (images indexed, indices of those in inputs).
    left_out: dict[str, str] = field(default_factory=dict)
    kept: dict[str, tuple[int, np.ndarray]] = field(default_factory=dict)
    # The rubric's ImageNet weights files (transfer learning): application ->
    # path, or -> where it was looked for and how to get it.
    weights: dict[str, Path] = field(default_factory=dict)
    weights_missing: dict[str, str] = field(default_factory=dict)
    # A test set of the official size whose files are not the official ones
    # (grader/datasets/official.py): data set -> the note its parts carry.
    unofficial: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class RerunOptions:
    """`--rerun`: re-run each submission's notebooks and scripts in the sandbox."""

    max_epochs: int | None = None
    cell_timeout: int = 600
    total_timeout: int = 3600

    def key(self) -> str:
        return f"rerun:{self.max_epochs}:{self.cell_timeout}:{self.total_timeout}"


def load_test_data(rubric: Rubric, data_dir: Path | None = None) -> HeldOutData:
    from grader import datasets

    data_dir = Path(data_dir) if data_dir else datasets.default_data_dir()
    data = HeldOutData(data_dir=data_dir)
    for name, dataset in rubric.datasets.items():
        if not any(p.dataset == name for p in rubric.parts):
            continue
        try:
            if dataset.loader == "imagenet-images":
                data.imagenet_files = datasets.imagenet_files(data_dir)
            else:
                loaded = datasets.load_split(dataset, data_dir, "test")
                data.inputs[name], data.labels[name] = loaded.x, loaded.y
                if loaded.left_out:
                    data.left_out[name] = loaded.left_out_summary()
                if loaded.kept is not None:
                    data.kept[name] = (loaded.indexed, loaded.kept)
                note = datasets.unofficial_test_files(dataset, data_dir, len(loaded.x))
                if note:
                    data.unofficial[name] = note
        except datasets.DataError as exc:  # missing, or there but unusable
            data.missing[name] = str(exc)
    for application, file_name in rubric.pretrained_weights.items():
        try:
            data.weights[application] = datasets.find_weights(application, file_name, data_dir)
        except datasets.DataError as exc:
            data.weights_missing[application] = str(exc)
    return data


# -------------------------------------------------------------- self-check


@dataclass
class CheckReport:
    source: str
    intake: Intake
    layout: Layout | None
    contents: Contents | None
    problems: list[Problem]

    @property
    def ready(self) -> bool:
        return not any(Severity(p.severity) is Severity.ERROR for p in self.problems)

    def parts(self) -> dict[str, Any]:
        if self.layout is None:
            return {}
        found: dict[str, Any] = {}
        for f in self.layout.files:
            if f.part is not None and f.role is not Role.OTHER:
                found.setdefault(f.part, {}).setdefault(f.role.value, []).append(f.path)
        return found

    def to_dict(self) -> dict[str, Any]:
        unassigned = [f.to_dict() for f in (self.layout.files if self.layout else [])
                      if f.part is None and f.role is not Role.OTHER]
        return {
            "ready": self.ready,
            "source": self.source,
            "student": self.intake.student.to_dict() if self.intake.student else None,
            "problems": [p.to_dict() for p in self.problems],
            "parts": self.parts(),
            "unassigned": unassigned,
            "files": [f.to_dict() for f in self.layout.files] if self.layout else [],
        }


def inspect(source: Path, rubric: Rubric, work_root: Path) -> CheckReport:
    """Intake, discovery and host-side reading: everything short of running models."""
    intake = open_submission(Path(source), work_root, rubric)
    problems = list(intake.problems)
    if Path(source).is_dir():
        # A folder is checked before it is zipped: its name is not the archive's.
        problems = [p for p in problems if p.code != "archive-name"]
        problems.append(Problem(
            "folder-checked", f"checked the folder {Path(source).name}/; make the zip with "
            f"`grade pack {source} --name LastnameFirstname`, which names it {rubric.archive_prefix}_"
            "LastnameFirstname.zip and checks it again", Severity.INFO))
    if not intake.usable:
        return CheckReport(str(source), intake, None, None, problems)
    layout = discover(intake, rubric)
    contents = read_contents(layout, rubric)
    problems += layout.problems + contents.problems
    return CheckReport(str(source), intake, layout, contents, _dedupe(problems))


def check_submission(source: Path, rubric: Rubric, work_root: Path | None = None) -> CheckReport:
    """`grade check`: is this archive or folder ready to submit? Runs no model."""
    if work_root is not None:
        return inspect(source, rubric, work_root)
    with tempfile.TemporaryDirectory(prefix="grade-check-") as tmp:
        return inspect(source, rubric, Path(tmp))


def _dedupe(problems: list[Problem]) -> list[Problem]:
    seen, out = set(), []
    for p in problems:
        key = (p.code, p.path, p.part, p.message)
        if key not in seen:
            seen.add(key)
            out.append(p)
    return out


# ------------------------------------------------------------------ grading


def grade_submission(source: Path, rubric: Rubric, sandbox, data: HeldOutData, work_root: Path,
                     rerun: RerunOptions | None = None, rerun_dir: Path | None = None) -> SubmissionGrade:
    """Grade one archive. Never raises for anything wrong with the archive.

    With ``rerun``, the submission's notebooks and scripts are also re-run in
    the sandbox, into ``rerun_dir/<archive stem>/``, as evidence for the
    ``rerun_reproduces`` check and the report."""
    started = time.monotonic()
    report = inspect(Path(source), rubric, work_root)
    intake = report.intake
    grade = SubmissionGrade(
        archive=Path(source).name, student=intake.student or _unknown_student(source), status="graded",
        score=0.0, max_score=rubric.total_points, rubric=rubric.id, problems=list(report.problems),
        sha256=intake.sha256, grader_version=__version__, sandbox=getattr(sandbox, "name", None),
        work_root=str(intake.root),
    )
    if report.layout is None:
        grade.status = "error"
        grade.note = _first_error(report.problems) or "nothing could be read from the archive"
        grade.seconds = time.monotonic() - started
        return grade
    grade.problems += _left_out_problems(report, rubric, data) + _unofficial_data_problems(rubric, data)
    evaluation = _evaluate(report, rubric, sandbox, data, work_root)
    rerun_result = _rerun(report, rubric, sandbox, data, rerun, rerun_dir or work_root / "_rerun") if rerun else None
    not_run = "the models were not run"
    grade.parts = score_parts(rubric, report.layout, report.contents, grade.problems, evaluation,
                              data.labels, data.missing, not_run, rerun=rerun_result)
    grade.rerun = rerun_result.to_dict() if rerun_result is not None else None
    grade.score = sum(p.score for p in grade.parts.values())
    grade.model_hashes = {pid: f.model_sha256 for pid, f in report.contents.parts.items() if f.model_sha256}
    grade.status, grade.note = _status(grade, evaluation, data)
    grade.seconds = time.monotonic() - started
    return grade


def _evaluate(report: CheckReport, rubric: Rubric, sandbox, data: HeldOutData, work_root: Path) -> Evaluation | None:
    """Run the submission's models (and 6.3's images) in the sandbox, once."""
    from grader.evaluate import evaluate_submission

    models, inputs = _model_jobs(report, rubric, data)
    imagenet, imagenet_missing = _imagenet_jobs(report, rubric, data)
    if not models and not imagenet:
        return Evaluation(backend=sandbox.name, status="ok", imagenet=imagenet_missing) if imagenet_missing else None
    evaluation = evaluate_submission(
        report.intake.root, models, imagenet, inputs, data.imagenet_files if imagenet else None,
        sandbox, rubric.sandbox, work_root / "_sandbox" / report.intake.work_dir.name)
    evaluation.imagenet.update(imagenet_missing)
    from grader.evaluate.runtimes import retry_failed_loads   # a model only Keras 2 loads: the keras2 runtime

    return retry_failed_loads(evaluation, sandbox, lambda other, parts: evaluate_submission(
        report.intake.root, [m for m in models if m.part in parts], [], inputs, None, other, rubric.sandbox,
        work_root / "_sandbox" / f"{report.intake.work_dir.name}-keras2"), root=report.intake.root)


def _model_jobs(report: CheckReport, rubric: Rubric, data: HeldOutData):
    """A job per part with a saved model, and the images they run on.

    Without the instructor's test set a model still runs, on a probe batch of
    the rubric's input shape: whether it loads and its architecture are
    graded; what needs the test set is "not verifiable"."""
    from grader.checks.transfer import digest_request
    from grader.evaluate.jobs import ModelJob, probe_batch

    jobs, inputs = [], {}
    for part in rubric.parts:
        model = report.contents.parts[part.id].model
        dataset = rubric.dataset_of(part)
        if model is None or dataset.loader == "imagenet-images":
            continue
        job = ModelJob.for_part(part, dataset, model.path)
        digests = digest_request(part, data.weights)    # the ImageNet weights files to compare it with
        if digests is not None:
            job = dataclasses.replace(job, digests=digests)
        if part.dataset in data.inputs:
            inputs[job.dataset] = data.inputs[part.dataset]
        elif part.dataset in data.missing:
            job = job.as_probe()
            inputs[job.dataset] = probe_batch(dataset.input_shape)
        else:
            continue
        jobs.append(job)
    return jobs, inputs


def _unofficial_data_problems(rubric: Rubric, data: HeldOutData) -> list[Problem]:
    """A note on each part graded on a test set that is not the official files."""
    return [Problem("test-set-not-official", data.unofficial[part.dataset], Severity.INFO, part=part.id)
            for part in rubric.parts if part.dataset in data.unofficial]


def _left_out_problems(report: CheckReport, rubric: Rubric, data: HeldOutData) -> list[Problem]:
    """The instructor's test images that were left out, said on each part graded on them.

    A student's predictions file with a row per image of the folder (the
    instructor's copy lost some) keeps only the rows of the images graded, so
    that it is compared with the model's predictions on the same images."""
    problems = []
    for part in rubric.parts:
        if part.dataset not in data.left_out:
            continue
        problems.append(Problem("test-images-left-out", data.left_out[part.dataset], Severity.INFO, part=part.id))
        files = report.contents.parts[part.id]
        indexed, kept = data.kept.get(part.dataset, (None, None))
        predictions = files.predictions
        if kept is None or predictions is None or predictions.n_rows != indexed:
            continue
        for name in ("labels", "probabilities", "actual"):
            rows = getattr(predictions, name)
            if rows is not None and len(rows) == indexed:
                setattr(predictions, name, [rows[i] for i in kept.tolist()])
        predictions.n_rows = len(kept)
        problems.append(Problem(
            "predictions-rows-left-out", f"{files.predictions_path}: the rows of the {indexed - len(kept)} test "
            "image(s) left out were not compared", Severity.INFO, path=files.predictions_path, part=part.id))
    return problems


def _imagenet_jobs(report: CheckReport, rubric: Rubric, data: HeldOutData):
    """The ImageNet jobs to run, and the parts that cannot run without the
    weights (said so, never passed silently)."""
    from grader.evaluate.jobs import ImagenetJob

    jobs = []
    for part in rubric.parts:
        files = report.contents.parts[part.id]
        if "image" in part.expects and files.images and rubric.dataset_of(part).loader == "imagenet-images":
            jobs.append(ImagenetJob(part=part.id, images=list(files.images), top=5))
    if not jobs or data.imagenet_files is not None:
        return jobs, {}
    missing = data.missing.get(rubric.part(jobs[0].part).dataset, "the ImageNet weights are missing")
    return [], {job.part: _imagenet_missing(missing) for job in jobs}


def _rerun(report: CheckReport, rubric: Rubric, sandbox, data: HeldOutData, options: RerunOptions, rerun_dir: Path):
    from grader.rerun import reported_accuracies, rerun_submission

    sources = [f for f in report.layout.files if f.role is Role.SOURCE]
    stem = report.intake.work_dir.name
    return rerun_submission(
        report.intake.root, [f.path for f in sources], sandbox, rubric.sandbox, data.data_dir, Path(rerun_dir) / stem,
        max_epochs=options.max_epochs, cell_timeout=options.cell_timeout, total_timeout=options.total_timeout,
        rubric=rubric, source_parts={f.path: f.part for f in sources},
        reported=reported_accuracies(report.contents), assignment_folders=[rubric.folder])


def _imagenet_missing(message: str):
    from grader.records import ImagenetEvaluation

    return ImagenetEvaluation(ok=False, message=f"weights missing: {message}")


def _status(grade: SubmissionGrade, evaluation: Evaluation | None, data: HeldOutData) -> tuple[str, str]:
    """`error` when something outside the student's control stopped grading."""
    if evaluation is not None and evaluation.status != "ok":
        return "error", f"sandbox {evaluation.status}: {evaluation.message}"
    if data.missing:
        first = next(iter(data.missing.values()))
        return "error", "instructor data missing: " + " ".join(line.strip() for line in first.splitlines())
    return "graded", _first_error(grade.problems)


def _first_error(problems: list[Problem]) -> str:
    for p in problems:
        if Severity(p.severity) is Severity.ERROR:
            return p.message
    return ""


def _unknown_student(source: Path):
    from grader.records import Student

    return Student(last=None, first=None, source=Path(source).name)
