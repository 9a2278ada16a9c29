"""Re-run a student's notebooks and scripts in the sandbox and check that the
results reproduce (GitHub issue 5).

    result = rerun_archive(archive, rubric, sandbox, data_dir, out_dir, max_epochs=1)
    checks = compare_rerun(result, reported={"6.1": 0.99}, max_epochs=1)

Each notebook runs cell by cell in an IPython kernel inside the sandbox
(nbclient, errors allowed so later cells still run, a per-cell and a total time
limit), each script with runpy in a subprocess; no network; the instructor's
data folder mounted read-only at /inputs and shown as ``~/.keras`` (Keras's
``load_data()`` and ``ResNet50(weights="imagenet")`` find their files there);
the submission copied to a writable working copy, absolute paths from the
student's machine rewritten to it first (grader/rerun/paths.py); and, with
``max_epochs``, every ``Model.fit`` clamped to that many epochs, which the
result records (asked -> run).

What comes back is untrusted: the executed notebooks (and a sanitised HTML
rendering of each), the files the re-run wrote (laid out like a submission
under ``produced_root``, so ``grader.discover`` and the readers read them),
the test accuracy per part read from those files or from printed
``Test accuracy: x`` lines, and the plots the notebooks displayed.

The runtime (TensorFlow 2.21 / Keras 3, or TensorFlow 2.15 / Keras 2 for
2020-2023 code) is chosen per submission from evidence, or pinned by the
rubric's ``[sandbox] runtime`` (grader/evaluate/runtimes.py); the result says
which and why. Every failed cell gets a cause and an explanation
(grader/rerun/causes.py): the student's bug, data not on these machines, a
package the course does not allow (and how to allow it).

The data folder holds the data sets' public test labels (the notebooks train
and evaluate on them); the grade's recomputed accuracy still comes from the
evaluate stage, which never sees labels. The re-run is evidence.
"""

from __future__ import annotations

import math
import shutil
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from grader import datasets
from grader.evaluate import runtimes
from grader.evaluate.sandbox import (
    INPUTS_MOUNT,
    JOB_MOUNT,
    OUTPUT_MOUNT,
    SUBMISSION_MOUNT,
    SandboxRun,
    SandboxUnavailable,
)
from grader.atomic import atomic_write_bytes
from grader.evaluate.workspace import fresh_dir
from grader.limits import SandboxLimits
from grader.records import ExtractedFile, Intake, Role
from grader.rerun import check as _check  # noqa: F401  (registers rerun_reproduces)
from grader.rerun import collect
from grader.rerun.causes import explain_all
from grader.rerun.compare import Verdict, compare_rerun, judge, rerun_evidence
from grader.rerun.paths import PathRewrite, PathRules
from grader.rerun.records import (
    CellFailure,
    FitCall,
    PartRerun,
    RerunResult,
    SourceRun,
    worst_status,
)
from grader.rerun.stage import RerunSetupError, keras_home_links, stage_data, stage_submission, write_job
from grader.rubric import Rubric

__all__ = [
    "DEFAULT_CELL_TIMEOUT",
    "DEFAULT_TOTAL_TIMEOUT",
    "CellFailure",
    "FitCall",
    "PartRerun",
    "PathRewrite",
    "RerunResult",
    "RerunSetupError",
    "SourceRun",
    "Verdict",
    "compare_rerun",
    "judge",
    "reported_accuracies",
    "rerun_archive",
    "rerun_evidence",
    "rerun_submission",
]

# Defaults for `grade rerun` (they belong in grader.limits with the others).
DEFAULT_CELL_TIMEOUT = 600      # seconds for one notebook cell
DEFAULT_TOTAL_TIMEOUT = 3600    # seconds for all of one submission's sources
SHUTDOWN_SECONDS = 60           # the sandbox's own limit is the total plus this, for the last writes
SOURCE_SUFFIXES = {".ipynb": "notebook", ".py": "script"}
WORK_FOLDER = "work"            # the working copy, in the output folder
RESULT_FILE = "rerun.json"


@dataclass
class _Dirs:
    """A re-run's folders on the host (see stage.py for the sandbox's view)."""

    work: Path

    @property
    def sandbox(self) -> Path:
        return self.work / "sandbox"

    @property
    def job(self) -> Path:
        return self.sandbox / "job"

    @property
    def submission(self) -> Path:
        return self.sandbox / "submission"

    @property
    def output(self) -> Path:
        return self.sandbox / "output"

    @property
    def produced(self) -> Path:
        return self.work / "produced"

    @property
    def executed(self) -> Path:
        return self.work / "executed"


@dataclass
class _Mounts:
    """The folders as the runner sees them: the sandbox's mount points, or the
    host paths themselves for the "none" backend (no mounts there)."""

    job: str
    submission: str
    inputs: str
    output: str

    @property
    def work_root(self) -> str:
        return f"{self.output}/{WORK_FOLDER}"

    @classmethod
    def of(cls, sandbox, dirs: _Dirs, staged_data: Path) -> _Mounts:
        if getattr(sandbox, "name", "") == "none":
            return cls(str(dirs.job.resolve()), str(dirs.submission.resolve()), str(staged_data.resolve()),
                       str(dirs.output.resolve()))
        return cls(JOB_MOUNT, SUBMISSION_MOUNT, INPUTS_MOUNT, OUTPUT_MOUNT)


def rerun_submission(
    submission_root: Path,
    sources: list[str],
    sandbox,
    limits: SandboxLimits,
    data_dir: Path | None,
    work_dir: Path,
    *,
    max_epochs: int | None,
    cell_timeout: int = DEFAULT_CELL_TIMEOUT,
    total_timeout: int = DEFAULT_TOTAL_TIMEOUT,
    rubric: Rubric | None = None,
    source_parts: Mapping[str, str | None] | None = None,
    reported: Mapping[str, float | None] | None = None,
    assignment_folders: Sequence[str] = (),
    with_grader_library: bool = True,
    keep_sandbox_files: bool = False,
    runtime: str | None = None,
    model_files: Sequence[str] | None = None,
) -> RerunResult:
    """Re-run ``sources`` (paths relative to ``submission_root``) in ``sandbox``.

    ``rubric`` (optional) names the assignment folder and the known folders for
    the path rules and lets the produced files be discovered per part;
    ``data_dir`` None means the default (``datasets.default_data_dir()``);
    ``source_parts`` says which part each source belongs to, ``reported`` the
    test accuracy each part's metrics file reports. The grader's own
    packages are put on the kernel's path unless ``with_grader_library`` is
    False (the reference notebooks import them). ``runtime`` pins a runtime
    (else the rubric's pin, else the evidence: saved models ``model_files``,
    found by name when None, and the sources). Writes ``work_dir/rerun.json``;
    never raises for what the student's code does.
    """
    started = time.monotonic()
    submission_root, work_dir = Path(submission_root), Path(work_dir)
    result = RerunResult(submission=str(submission_root), backend=getattr(sandbox, "name", "?"), status="nothing",
                         max_epochs=max_epochs, cell_timeout=cell_timeout, total_timeout=total_timeout,
                         work_dir=str(work_dir))
    parts = dict(source_parts or {})
    for part_id, value in (reported or {}).items():
        if value is not None:
            result.parts[part_id] = PartRerun(part=part_id, reported_accuracy=float(value))
    runnable = [s for s in sources if PurePosixPath(s).suffix.lower() in SOURCE_SUFFIXES]
    result.sources = [SourceRun(path=s, kind=SOURCE_SUFFIXES[PurePosixPath(s).suffix.lower()], part=parts.get(s),
                                status="not-run") for s in runnable]
    dirs = _Dirs(work_dir)
    for folder in (dirs.sandbox, dirs.produced, dirs.executed, work_dir / "images", work_dir / "logs"):
        shutil.rmtree(folder, ignore_errors=True)
    work_dir.mkdir(parents=True, exist_ok=True)
    if not runnable:
        result.message = "no notebook (.ipynb) or script (.py) to re-run"
        return _finish(result, started, rubric)
    sandbox = _runtime_sandbox(result, sandbox, submission_root, runnable, model_files, runtime, rubric)
    _saved_output_accuracies(result, submission_root, work_dir)
    missing = _missing_host_packages(sandbox)
    if missing:
        return _unavailable(result, f"the host Python, which the {result.backend} sandbox runs, lacks "
                                    f"{', '.join(missing)}: pip install {' '.join(missing)}", started, rubric)
    try:
        staged_data = stage_data(data_dir or datasets.default_data_dir(), work_dir.resolve().parent / "_rerun_data")
    except RerunSetupError as exc:
        return _unavailable(result, str(exc), started, rubric)
    mounts = _Mounts.of(sandbox, dirs, staged_data)
    # Without a rubric or a name given, the submission folder's own name stands for the assignment's.
    folders = [*assignment_folders, *([rubric.folder] if rubric else [])] or [submission_root.name]
    rules = PathRules.make(folders, _known_folders(submission_root, rubric), mounts.work_root)
    fresh_dir(dirs.sandbox)
    fresh_dir(dirs.submission)
    fresh_dir(dirs.output, 0o777)
    rewrites = stage_submission(submission_root, runnable, rules, dirs.submission)
    for source in result.sources:
        source.path_rewrites = [r for r in rewrites if r.source == source.path]
    write_job(dirs.job, _job(result, staged_data, limits, sandbox, mounts), with_grader_library, mounts.job)
    run_limits = limits.model_copy(update={"timeout_seconds": total_timeout + SHUTDOWN_SECONDS})
    try:
        run = sandbox.run(dirs.job, dirs.submission, staged_data, dirs.output, run_limits)
    except SandboxUnavailable as exc:
        return _unavailable(result, str(exc), started, rubric)
    _read_back(result, run, dirs, run_limits, rubric)
    if not keep_sandbox_files:
        shutil.rmtree(dirs.sandbox, ignore_errors=True)
    return _finish(result, started, rubric)


def rerun_archive(archive: Path, rubric: Rubric, sandbox, data_dir: Path | None, out_dir: Path, *,
                  max_epochs: int | None = None, cell_timeout: int = DEFAULT_CELL_TIMEOUT,
                  total_timeout: int = DEFAULT_TOTAL_TIMEOUT, limits: SandboxLimits | None = None,
                  keep_sandbox_files: bool = False, runtime: str | None = None) -> RerunResult:
    """Intake and discover ``archive`` (a zip or folder), then re-run its
    sources (every file discover calls a SOURCE) into ``out_dir/rerun/<stem>/``:
    rerun.json, executed/ (notebooks and their HTML), produced/ (what the re-run
    wrote), images/ (the plots the notebooks displayed). The parts' reported
    accuracies (the submission's metrics files) are filled in for comparison."""
    from grader.pipeline import inspect

    archive = Path(archive)
    stem = archive.name[:-4] if archive.name.lower().endswith(".zip") else archive.name
    work_dir = Path(out_dir) / "rerun" / stem
    started = time.monotonic()
    intake_root = work_dir / "intake"
    shutil.rmtree(intake_root, ignore_errors=True)
    report = inspect(archive, rubric, intake_root)
    if report.layout is None:
        problems = "; ".join(p.message for p in report.problems[:3]) or "nothing could be read from it"
        result = RerunResult(submission=str(archive), backend=getattr(sandbox, "name", "?"), status="nothing",
                             message=f"{archive.name}: {problems}", max_epochs=max_epochs,
                             cell_timeout=cell_timeout, total_timeout=total_timeout, work_dir=str(work_dir))
        work_dir.mkdir(parents=True, exist_ok=True)
        shutil.rmtree(intake_root, ignore_errors=True)
        return _finish(result, started, None)
    found = [f for f in report.layout.files if f.role is Role.SOURCE]
    models = [f.path for f in report.layout.files if f.role is Role.MODEL]
    result = rerun_submission(
        report.intake.root, [f.path for f in found], sandbox, limits or rubric.sandbox, data_dir, work_dir,
        max_epochs=max_epochs, cell_timeout=cell_timeout, total_timeout=total_timeout, rubric=rubric,
        source_parts={f.path: f.part for f in found}, reported=reported_accuracies(report.contents),
        assignment_folders=[rubric.folder], keep_sandbox_files=keep_sandbox_files, runtime=runtime,
        model_files=models,
    )
    result.submission = str(archive)
    shutil.rmtree(intake_root, ignore_errors=True)
    _write_result(result)
    return result


def reported_accuracies(contents) -> dict[str, float | None]:
    """Each part's reported test accuracy (its metrics file), as a fraction."""
    reported = {}
    for part_id, files in contents.parts.items():
        value = files.metrics.test_accuracy if files.metrics is not None else None
        reported[part_id] = None if value is None else (value / 100.0 if value > 1.0 else float(value))
    return reported


# ------------------------------------------------------------------ set-up


def _known_folders(root: Path, rubric: Rubric | None) -> list[str]:
    """Top-level folders of the submission and the folders the rubric names."""
    names = [entry.name for entry in root.iterdir() if entry.is_dir()] if root.is_dir() else []
    if rubric is not None:
        for part in rubric.parts:
            for folder in [part.canonical_dir, *part.input_dirs]:
                if folder:
                    names.append(PurePosixPath(folder).parts[0])
    return names


def _runtime_sandbox(result: RerunResult, sandbox, root: Path, sources: list[str],
                     model_files: Sequence[str] | None, pin: str | None, rubric: Rubric | None):
    """Choose the runtime (grader/evaluate/runtimes.py), record why, and return
    the sandbox that runs it: the given one's backend with that runtime's image
    or host Python. When this machine lacks it, the given sandbox, and a note."""
    pin = pin or (getattr(rubric.sandbox, "runtime", runtimes.AUTO) if rubric is not None else runtimes.AUTO)
    choice = runtimes.choose_runtime(root, sources, model_files, pin)
    chosen, why = runtimes.sandbox_for(sandbox, runtimes.get(choice.runtime))
    if chosen is None:
        actual = getattr(sandbox, "runtime", runtimes.DEFAULT_RUNTIME)
        choice.fallback = (f"the {choice.runtime} runtime is not available here ({why}); re-run in {actual} "
                           f"instead. Build it: `grade image build --runtime {choice.runtime}`"
                           + (" (for bwrap: ./install.sh makes its host Python)" if choice.runtime == "keras2" else ""))
        result.notes.append(choice.fallback)
        chosen = sandbox
    result.runtime = getattr(chosen, "runtime", runtimes.DEFAULT_RUNTIME)
    result.runtime_choice = choice.to_dict()
    result.backend = getattr(chosen, "name", result.backend)
    return chosen


def _saved_output_accuracies(result: RerunResult, root: Path, work_dir: Path) -> None:
    """The test accuracy each notebook's own saved outputs print (before the re-run), for comparison."""
    from grader.readers import ReadError, read_notebook

    for source in result.sources:
        if source.kind != "notebook":
            continue
        try:
            info = read_notebook(root / source.path)
        except (ReadError, OSError):
            continue
        source.saved_test_accuracy, _ = collect.printed_test_accuracy(
            info.outputs_text, work_dir / "logs" / f"{source.path}.saved-test-lines.txt")


def _missing_host_packages(sandbox) -> list[str]:
    """bwrap and "none" run the host's own Python: it needs the kernel and nbclient."""
    import importlib.util

    if getattr(sandbox, "name", "") not in ("bwrap", "none"):
        return []
    if getattr(sandbox, "runtime", runtimes.DEFAULT_RUNTIME) != runtimes.DEFAULT_RUNTIME:
        return []   # another runtime's host Python: install.sh made it with both
    return [name for name in ("ipykernel", "nbclient") if importlib.util.find_spec(name) is None]


def _job(result: RerunResult, staged_data: Path, limits: SandboxLimits, sandbox, mounts: _Mounts) -> dict:
    return {
        "sources": [{"path": s.path, "kind": s.kind} for s in result.sources],
        "submission": mounts.submission,
        "inputs": mounts.inputs,
        "output": mounts.output,
        "work_dir": mounts.work_root,
        "max_epochs": result.max_epochs,
        "cell_timeout": result.cell_timeout,
        "total_timeout": result.total_timeout,
        "keras_home": keras_home_links(staged_data, mounts.inputs),
        "threads": max(1, math.ceil(limits.cpus)),
        # Docker and bwrap give the runner its own pid namespace, so it may end
        # every leftover process of the sandbox user; "none" must not.
        "own_pid_namespace": getattr(sandbox, "name", "") in ("docker", "bwrap"),
    }


# --------------------------------------------------------------- read back


def _read_back(result: RerunResult, run: SandboxRun, dirs: _Dirs, limits: SandboxLimits,
               rubric: Rubric | None) -> None:
    try:
        runner = collect.read_runner_result(dirs.output)
    except collect.Malformed as exc:
        runner = None
        result.notes.append(f"the runner's report could not be read ({exc})")
    entries = runner.get("sources", {}) if isinstance(runner, dict) else {}
    for number, source in enumerate(result.sources):
        entry = entries.get(source.path)
        if entry is not None:
            try:
                collect.source_entry(entry, source)
                _source_files(source, entry, number, dirs, limits)
            except collect.Malformed as exc:
                source.status, source.message = "crashed", f"the runner's report on it was malformed ({exc})"
        if source.status == "not-run":
            source.status, source.message = _unfinished(run, limits)
        explain_all(source.failures, allowed=getattr(rubric.sandbox, "packages", []) if rubric else [],
                    runtime=result.runtime or runtimes.DEFAULT_RUNTIME, rubric_path=rubric.path if rubric else "")
    if isinstance(runner, dict) and runner.get("copy_errors"):
        result.notes.append("some files could not be copied to the working copy: "
                            + "; ".join(collect.readback.texts(runner["copy_errors"], 5)))
    produced = collect.collect_produced(dirs.output / WORK_FOLDER, dirs.submission,
                                        dirs.produced / _tree_name(result, rubric), limits.output_max_mb * 2**20)
    result.produced = produced.files
    result.notes += produced.skipped[:20]
    result.produced_root = str(dirs.produced / _tree_name(result, rubric)) if produced.files else None


def _tree_name(result: RerunResult, rubric: Rubric | None) -> str:
    return rubric.folder if rubric is not None else Path(result.submission).name or "submission"


def _unfinished(run: SandboxRun, limits: SandboxLimits) -> tuple[str, str]:
    """Why a source has no entry: the sandbox stopped before the runner reached it."""
    if run.timed_out:
        return "timeout", f"not finished: the sandbox was stopped at its {limits.timeout_seconds} s limit"
    if run.oom_killed:
        return "crashed", f"not finished: the sandbox ran out of its {limits.memory_mb} MB memory limit"
    last = next((line for line in reversed(run.stderr_tail.splitlines()) if line.strip()), "")
    return "crashed", (f"not finished: the sandbox stopped with exit code {run.exit_code}"
                       + (f" ({collect.readback.text(last, 200)})" if last else ""))


def _source_files(source: SourceRun, entry: dict, number: int, dirs: _Dirs, limits: SandboxLimits) -> None:
    """The executed notebook (and its HTML, printed accuracy and plots) or the script's log, and the fit calls."""
    from grader.readers import ReadError, read_notebook
    from grader.rerun.html import write_html

    fit_log = collect.output_file(dirs.output, entry.get("fit_log"), r"fit/\d+\.jsonl")
    source.fit_calls = collect.read_fit_log(fit_log)
    source.compat = collect.read_compat_log(fit_log)
    stem = PurePosixPath(source.path)
    executed = collect.output_file(dirs.output, entry.get("executed"), r"executed/\d+\.ipynb")
    if executed is not None:
        target = dirs.executed / stem
        try:
            collect.copy_out(executed, target, limits.output_max_mb * 2**20)
        except (collect.Malformed, FileNotFoundError, OSError) as exc:
            source.message = (source.message + "; " if source.message else "") + f"no executed notebook ({exc})"
            return
        source.executed_notebook = str(target)
        try:
            info = read_notebook(target)
        except ReadError as exc:
            source.message = (source.message + "; " if source.message else "") + exc.message
            return
        source.images = collect.save_images(info.images, dirs.work / "images" / stem.with_suffix(""))
        source.printed_test_accuracy, source.printed_lines = collect.printed_test_accuracy(
            info.outputs_text, dirs.work / "logs" / f"{stem}.test-lines.txt")
        try:
            source.html = str(write_html(target, target.with_suffix(".html"), source.path))
        except Exception as exc:  # noqa: BLE001 - nbconvert raises many types on odd notebooks
            source.message = (source.message + "; " if source.message else "") + \
                f"the notebook could not be rendered to HTML ({type(exc).__name__})"
    stdout = collect.output_file(dirs.output, entry.get("stdout"), r"logs/\d+/stdout\.txt")
    if stdout is not None:
        text = collect.read_text_tail(stdout)
        log = dirs.work / "logs" / f"{stem}.stdout.txt"
        log.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_bytes(log, text.encode("utf-8"))
        source.log = str(log)
        source.printed_test_accuracy, source.printed_lines = collect.printed_test_accuracy(
            [text], dirs.work / "logs" / f"{stem}.test-lines.txt")


# ------------------------------------------------------------------- parts


def _part_figures(result: RerunResult, rubric: Rubric | None) -> None:
    """Per part: the re-run's test accuracy (a metrics file it wrote, else what
    the part's own source printed), its sources, its files and capped epochs."""
    if rubric is None:
        return
    layout = _produced_layout(result, rubric)
    for part in rubric.parts:
        own = [s for s in result.sources if s.part == part.id]
        related = own or [s for s in result.sources if s.part is None]
        entry = result.parts.get(part.id) or PartRerun(part=part.id)
        entry.sources = [s.path for s in related]
        entry.statuses = [s.status for s in related]
        entry.epochs_capped = [pair for s in related for pair in s.epochs_capped]
        entry.epochs = [pair for s in related for pair in s.epochs]
        saved = [s.saved_test_accuracy for s in own if s.saved_test_accuracy is not None]
        entry.saved_output_accuracy = saved[-1] if saved else None
        if layout is not None:
            entry.produced = [f.path for f in layout.files if f.part == part.id]
            entry.rerun_accuracy, entry.accuracy_source = _produced_accuracy(layout, part.id)
        if entry.rerun_accuracy is None:
            printed = [s for s in own if s.printed_test_accuracy is not None]
            if printed:
                entry.rerun_accuracy = printed[-1].printed_test_accuracy
                entry.accuracy_source = f"printed by {printed[-1].path}"
        if entry.sources or entry.produced or entry.reported_accuracy is not None:
            result.parts[part.id] = entry


def _produced_layout(result: RerunResult, rubric: Rubric):
    from grader.discover import discover

    if not result.produced_root:
        return None
    root = Path(result.produced_root)
    files = []
    for relative in result.produced:
        path = root / relative
        files.append(ExtractedFile(path=relative, size=path.stat().st_size, sha256=""))
    intake = Intake(source=root, work_dir=root.parent, root=root, files=files)
    return discover(intake, rubric)


def _produced_accuracy(layout, part_id: str) -> tuple[float | None, str]:
    from grader.readers import ReadError, read_metrics

    for found in layout.find(part_id, Role.METRICS):
        try:
            value = read_metrics(Path(layout.root) / found.path).test_accuracy
        except ReadError:
            continue
        if value is not None:
            value = value / 100.0 if value > 1.0 else value
            if 0.0 <= value <= 1.0:
                return value, f"{found.path}, written by the re-run"
    return None, ""


# ------------------------------------------------------------------ finish


def _unavailable(result: RerunResult, why: str, started: float, rubric: Rubric | None) -> RerunResult:
    result.status = "unavailable"
    result.message = f"the re-run could not start: {why}"
    for source in result.sources:
        source.message = "not run: the re-run could not start"
    return _finish(result, started, rubric)


def _finish(result: RerunResult, started: float, rubric: Rubric | None) -> RerunResult:
    _part_figures(result, rubric)
    if result.status != "unavailable" and result.sources:
        result.status = worst_status([s.status for s in result.sources])
        result.message = _summary(result)
    result.seconds = time.monotonic() - started
    _write_result(result)
    return result


def _summary(result: RerunResult) -> str:
    counts: dict[str, int] = {}
    for source in result.sources:
        counts[source.status] = counts.get(source.status, 0) + 1
    said = ", ".join(f"{n} {status}" for status, n in counts.items())
    capped = [pair for s in result.sources for pair in s.epochs_capped]
    text = f"{len(result.sources)} source(s) re-run in the {result.backend} sandbox: {said}"
    if result.runtime:
        title = runtimes.get(result.runtime).title
        why = result.runtime_choice.get("reason", "")
        text += f"; runtime {result.runtime} ({title})" + (f" because {why}" if why else "")
    if capped:
        text += f"; epochs capped at {result.max_epochs} (" + ", ".join(f"{a} -> {r}" for a, r in capped[:4]) + ")"
    if result.produced:
        text += f"; {len(result.produced)} file(s) written"
    return text


def _write_result(result: RerunResult) -> None:
    import json

    path = Path(result.work_dir) / RESULT_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(path, json.dumps(result.to_dict(), indent=1, default=str).encode("utf-8"))
