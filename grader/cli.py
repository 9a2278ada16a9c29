"""The `grade` command: a thin layer over grader.pipeline and grader.batch.

    grade submissions/                 grade every archive in a folder
    grade path/to/one.zip              grade one archive
    grade rescore submissions/         apply a changed policy to the stored results (no sandbox)
    grade check PATH [--json]          a student's pre-submission check (runs no model)
    grade pack FOLDER --name DoeJane   build a correctly named zip, then check it
    grade reference run|baselines      the reference solutions
    grade data fetch                   fill the data folder (needs network, run by hand)
    grade image build                  build the sandbox's Docker runtime image
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click
from rich.console import Console
from rich.markup import escape

from grader import __version__
from grader.rubric import RubricError, Rubric

console = Console(highlight=False)
err = Console(stderr=True, highlight=False)



class _DefaultToGrade(click.Group):
    """`grade PATH...` means `grade run PATH...` (the instructor's main job)."""

    def parse_args(self, ctx, args):
        if args and args[0] not in self.commands and args[0] not in ("--help", "-h", "--version"):
            args = ["run", *args]
        return super().parse_args(ctx, args)


def _load_rubric(name: str | None) -> Rubric:
    from grader import rubric as rubric_mod
    from grader.checks import unknown_checks

    try:
        loaded = rubric_mod.load(name)
    except RubricError as exc:
        raise click.UsageError(str(exc)) from None
    unknown = unknown_checks(loaded)
    if unknown:
        raise click.UsageError(f"{loaded.path}: key parts.checks.id names unknown check(s) {unknown}")
    return loaded


def _rubric_named_by(paths: list[Path]) -> str | None:
    """Without --rubric or grade.toml: the rubric the archives' or folder's names
    point to ("week06_DoeJane.zip" -> week06_architectures), else the default."""
    from grader.rubric_choice import rubric_for

    return rubric_for(list(paths))


def _chosen_rubric(given: str | None, settings, archives: list[Path]) -> str | None:
    """--rubric; else grade.toml's (a path there is relative to that file); else
    the one the archives' names point to; None: the default."""
    if given or not settings.rubric:
        return given or _rubric_named_by(archives)
    named = Path(settings.rubric)
    if settings.config_path is not None and not named.is_absolute() and (named.suffix == ".toml" or len(named.parts) > 1):
        return str(Path(settings.config_path).parent / named)
    return settings.rubric


def _archives_in(folder: Path) -> list[Path]:
    from grader.batch import find_archives

    return find_archives(folder)


@click.group(cls=_DefaultToGrade, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="grade")
def main() -> None:
    """Grade deep-learning assignments: re-run every model in a sandbox, score it against the
    rubric's baselines, write HTML reports and LMS grade files."""


# ---------------------------------------------------------------- grading


@main.command("run")
@click.argument("paths", nargs=-1, required=True, type=click.Path(exists=True, path_type=Path))
@click.option("--out", type=click.Path(path_type=Path), help="Output folder (default: grades/ beside the submissions).")
@click.option("--rubric", "rubric_name", help="Rubric name in rubrics/ or a path to a .toml file.")
@click.option("--data-dir", type=click.Path(path_type=Path), help="Instructor's data folder (default: ~/.keras).")
@click.option("--sandbox", "sandbox_name", type=click.Choice(["auto", "docker", "bwrap", "none"]), default="auto",
              show_default=True, help="Where student models run.")
@click.option("-j", "--jobs", type=click.IntRange(1, 64), help="Archives graded at once (default: what cores and memory allow).")
@click.option("--force", is_flag=True, help="Regrade archives whose results are already up to date.")
@click.option("--export", "exports", multiple=True, type=click.Choice(["blackboard", "canvas"]),
              help="Also write an LMS grade-import file.")
@click.option("--timeout", type=click.IntRange(10, 86400), help="Sandbox wall-clock limit per archive, in seconds.")
@click.option("--rerun", is_flag=True, help="Also re-run each submission's notebooks and scripts in the sandbox.")
@click.option("--max-epochs", type=click.IntRange(1, 10000), help="With --rerun: cap every Model.fit at N epochs.")
@click.option("--cell-timeout", type=click.IntRange(10, 86400), default=600, show_default=True,
              help="With --rerun: seconds per notebook cell.")
@click.option("--total-timeout", type=click.IntRange(10, 86400), default=3600, show_default=True,
              help="With --rerun: seconds per submission.")
@click.option("--policy-file", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="Extensions and overrides: a CSV of username,due,score,reason.")
@click.option("--submission-times", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="Submission times from the LMS: a CSV of archive (or username),submitted.")
@click.option("--manual", "manual_file", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="The instructor's manual points: a CSV of archive,part,check,points,comment "
                   "(the summary links a template). Merged into the stored records; no sandbox runs.")
@click.option("--cluster", "cluster_spec", metavar="ADDRESS|local:N|slurm",
              help="Grade on a Dask cluster: a running scheduler (tcp://host:8786), N worker processes here "
                   "(local:N) or Slurm jobs (grade.toml's [cluster]). Each worker runs its own sandboxes, as "
                   "many at once as its --resources sandbox=K (-j does not apply).")
def run_cmd(paths, out, rubric_name, data_dir, sandbox_name, jobs, force, exports, timeout,
            rerun, max_epochs, cell_timeout, total_timeout, policy_file, submission_times, manual_file,
            cluster_spec) -> None:
    """Grade a folder of archives (or single archives)."""
    from grader.batch import default_jobs, find_archives, grade_batch, up_to_date
    from grader.folder_config import apply_folder_config
    from grader.manual import read_sheet
    from grader.pipeline import HeldOutData, RerunOptions, load_test_data

    archives: list[Path] = []
    for path in paths:
        archives += find_archives(path) if path.is_dir() else [path]
    if not archives:
        raise click.UsageError(f"no archives found in {', '.join(map(str, paths))}; put the students' .zip files there")
    first = Path(paths[0])
    folder = first if first.is_dir() else first.parent
    settings = apply_folder_config(folder, rubric=rubric_name, data_dir=data_dir)
    rubric = _load_rubric(_chosen_rubric(rubric_name, settings, archives))
    class_policy = _load_policy(rubric, settings, policy_file, submission_times)
    if timeout:
        rubric = rubric.model_copy(update={"sandbox": rubric.sandbox.model_copy(update={"timeout_seconds": timeout})})
    out = out or folder.parent / "grades"
    rerun_options = RerunOptions(max_epochs, cell_timeout, total_timeout) if rerun else None
    manual = read_sheet(manual_file) if manual_file else None
    if manual is not None and not force and up_to_date(archives, out, rubric, rerun_options):
        sandbox, data = None, HeldOutData()    # only merging: nothing is graded, nothing runs
        cluster_spec = None
    else:
        sandbox = None if cluster_spec else _choose_sandbox(sandbox_name)   # a cluster's workers choose theirs
        data = load_test_data(rubric, settings.data_dir)
    for name, message in data.missing.items():
        err.print(f"[yellow]warning:[/] {message}")
    for message in [*data.left_out.values(), *data.weights_missing.values(), *data.unofficial.values()]:
        err.print(f"[yellow]warning:[/] {escape(message)}")
    executor = _open_cluster(cluster_spec, settings, rubric, sandbox_name, rerun_options, out) if cluster_spec else None
    jobs = jobs or default_jobs(rubric)
    where = (executor.describe() if executor else
             f"sandbox [bold]{sandbox.name if sandbox else 'not needed (every record is up to date)'}[/], "
             f"{jobs} at a time")
    console.print(f"Grading {len(archives)} archive(s) with rubric [bold]{rubric.id}[/], {where} -> {out}")
    try:
        summary = _with_progress(lambda progress, placed: grade_batch(
            archives, out, rubric, sandbox, data, jobs=jobs, force=force, exports=tuple(exports), progress=progress,
            rerun=rerun_options, policy=class_policy, manual=manual, cluster=executor, placed=placed), len(archives))
    finally:
        if executor is not None:
            executor.close()
    _print_summary(summary, out)
    _print_manual(summary.manual)
    _print_standing(summary.standing, already_warned=class_policy.problems)
    _print_integrity(out)
    if summary.interrupted:
        sys.exit(130)
    sys.exit(1 if summary.errors else 0)


def _open_cluster(spec: str, settings, rubric: Rubric, sandbox_name: str, rerun_options, out: Path):
    """--cluster: the scheduler reached (or the cluster started) and every worker checked."""
    try:
        from grader.cluster.session import ClusterError, open_executor
    except ImportError as exc:
        raise click.ClickException(f"--cluster needs Dask ({exc.name} is missing): run ./install.sh again") from None
    try:
        return open_executor(spec, settings.cluster, str(settings.config_path or "grade.toml"), rubric.sandbox.cpus,
                             sandbox_name, settings.data_dir if rerun_options else None, out)
    except ClusterError as exc:
        failure = click.ClickException(str(exc))
        failure.exit_code = 2
        raise failure from None


def _print_manual(outcome) -> None:
    """What a merge of manual points did, and each row it did not apply (with its line)."""
    if outcome is None:
        return
    console.print(f"Manual points: {len(outcome.applied)} row(s) of {outcome.sheet} merged into "
                  f"{len(outcome.archives)} record(s); {len(outcome.problems)} not applied")
    for problem in outcome.problems:
        err.print(f"[yellow]not applied:[/] {escape(problem)}")


def _load_policy(rubric: Rubric, settings, policy_file: Path | None, submission_times: Path | None):
    """The class's policy: the rubric's [policy], grade.toml's on top, the instructor's files.
    Bad rows in the files are warned about here and listed in the class summary."""
    from grader.policy import PolicyError
    from grader.policy.sources import load_class_policy

    try:
        loaded = load_class_policy(rubric, settings.policy, str(settings.config_path or "grade.toml"),
                                   policy_file, submission_times)
    except PolicyError as exc:
        raise click.UsageError(str(exc)) from None
    for problem in loaded.problems:
        err.print(f"[yellow]warning:[/] {escape(problem)}")
    return loaded


def _print_standing(standing, already_warned: list[str]) -> None:
    if standing is None:
        return
    students = standing.students
    late = [s for s in students if s.late]
    penalised = [s for s in students if s.penalty > 0 or s.chosen.lateness.rejected]
    console.print(f"{len(students)} student(s): {len(late)} late, {len(penalised)} penalised, "
                  f"{len(standing.adjusted)} with an extension or override")
    for problem in standing.problems:
        if problem not in already_warned:
            err.print(f"[yellow]not applied:[/] {escape(problem)}")


def _print_integrity(out: Path) -> None:
    """One line on the class comparison, so pairs to look at are not missed in the summary."""
    from grader.integrity import read_class_integrity

    data = read_class_integrity(out)
    if data is None:
        return
    pairs = len(data["pairs"])
    if pairs:
        console.print(f"Integrity: {pairs} pair(s) of students to look at, in the class summary's Integrity section "
                      f"({out / 'index.html'}); nothing was deducted", soft_wrap=True)
    for problem in data.get("problems") or []:
        err.print(f"[yellow]integrity:[/] {escape(str(problem))}")


@main.command("rescore")
@click.argument("folder", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--out", type=click.Path(file_okay=False, path_type=Path),
              help="The grades folder (default: grades/ beside the submissions).")
@click.option("--rubric", "rubric_name", help="Rubric name in rubrics/ or a path to a .toml file.")
@click.option("--policy-file", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="Extensions and overrides: a CSV of username,due,score,reason.")
@click.option("--submission-times", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="Submission times from the LMS: a CSV of archive (or username),submitted.")
@click.option("--export", "exports", multiple=True, type=click.Choice(["blackboard", "canvas"]),
              help="Also write an LMS grade-import file.")
@click.option("--manual", "manual_file", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="First merge the instructor's manual points: a CSV of archive,part,check,points,comment.")
def rescore_cmd(folder, out, rubric_name, policy_file, submission_times, exports, manual_file) -> None:
    """Apply the grading policy again to a graded class (FOLDER is the submissions folder,
    for its grade.toml): grades.csv, the LMS files, the summary and each report's grade.
    Reads the stored results only; no archive is opened and no sandbox started.
    With --manual, the manual points are merged into those records first."""
    import time

    from grader.batch import rescore
    from grader.folder_config import apply_folder_config
    from grader.manual import merge_sheet, read_sheet

    # data_dir is not used here; giving one keeps grade.toml's synthetic_data_seed from building data.
    settings = apply_folder_config(folder, rubric=rubric_name, data_dir=Path(folder))
    rubric = _load_rubric(_chosen_rubric(rubric_name, settings, _archives_in(folder)))
    class_policy = _load_policy(rubric, settings, policy_file, submission_times)
    out = (out or folder.parent / "grades")
    if not list((out / "results").glob("*.json")):
        raise click.UsageError(f"{out / 'results'}: no graded records; grade the class first with `grade {folder}`")
    started = time.monotonic()
    merged = merge_sheet(read_sheet(manual_file), out, rubric) if manual_file else None
    standing = rescore(out, rubric, class_policy, tuple(exports), merged)
    console.print(f"Re-scored {sum(len(s.attempts) for s in standing.students)} record(s) in "
                  f"{time.monotonic() - started:.2f} s -> {out / 'grades.csv'}")
    _print_manual(merged)
    _print_standing(standing, already_warned=class_policy.problems)
    _print_integrity(out)


def _choose_sandbox(name: str):
    from grader.evaluate import SandboxUnavailable, choose_backend

    try:
        sandbox = choose_backend(name)
    except SandboxUnavailable as exc:
        raise click.ClickException(str(exc)) from None
    if sandbox.name == "none":
        err.print("[bold red]warning:[/] --sandbox none runs the models in this process's user account with only "
                  "resource limits: use it for your own files, never for other people's")
    return sandbox


def _with_progress(work, total: int):
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
                  console=console, transient=False) as bar:
        task = bar.add_task("grading", total=total)
        running: dict[str, str] = {}        # archive -> where it runs ("" in this process)

        def show() -> None:
            names = [f"{name}@{where.removeprefix('tcp://')}" if where else name for name, where in running.items()]
            bar.update(task, description=f"grading {', '.join(names)[:60]}" if names else "grading")

        def progress(event: str, name: str, grade) -> None:
            if event == "started":
                running[name] = ""
            else:
                running.pop(name, None)
                bar.advance(task)
                if grade is not None and event == "finished":
                    status = "[red]error[/]" if grade.status == "error" else f"{grade.score:g}/{grade.max_score:g}"
                    on = f" on {grade.worker}" if grade.worker else ""
                    bar.console.print(f"  {name}: {status} ({grade.seconds:.1f} s{on})")
            show()

        def placed(name: str, worker: str, attempt: int) -> None:
            if attempt > 1:
                bar.console.print(f"  {name}: [yellow]its worker died[/]; graded again on {worker}")
            running[name] = worker
            show()

        return work(progress, placed)


def _print_summary(summary, out: Path) -> None:
    console.print(
        f"\n{summary.graded} graded, {summary.errors} error(s), {summary.skipped} skipped (unchanged) in "
        f"{summary.seconds:.1f} s ({summary.seconds_per_archive:.1f} s per archive)")
    if summary.workers:
        done = summary.graded + summary.errors
        console.print(f"Graded on {len(summary.workers)} worker(s): "
                      + ", ".join(f"{worker} ({count})" for worker, count in sorted(summary.workers.items()))
                      + (f"; graded again after their worker died: {', '.join(summary.retried)}" if summary.retried
                         else "")
                      + (f"; this machine spent {summary.coordinator_seconds / done * 1000:.0f} ms per archive "
                         "receiving and writing" if done else ""))
    if summary.interrupted:
        why = "Stopped by Ctrl-C" if summary.stopped_by in ("", "Ctrl-C") else f"Stopped: {summary.stopped_by}"
        console.print(f"[yellow]{escape(why)}[/]; not graded: {', '.join(summary.remaining) or 'none'}. "
                      "Run the same command again to resume.")
    console.print(f"Class summary: {out / 'index.html'}\nGrades: {out / 'grades.csv'}")


@main.command("rerun")
@click.argument("archive", type=click.Path(exists=True, path_type=Path))
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), default=Path("grades"), show_default=True)
@click.option("--rubric", "rubric_name", help="Rubric name in rubrics/ or a path to a .toml file.")
@click.option("--data-dir", type=click.Path(path_type=Path), help="Instructor's data folder (default: ~/.keras).")
@click.option("--sandbox", "sandbox_name", type=click.Choice(["auto", "docker", "bwrap", "none"]), default="auto",
              show_default=True)
@click.option("--max-epochs", type=click.IntRange(1, 10000), help="Cap every Model.fit at N epochs.")
@click.option("--cell-timeout", type=click.IntRange(10, 86400), default=600, show_default=True)
@click.option("--total-timeout", type=click.IntRange(10, 86400), default=3600, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Print the re-run record as JSON.")
def rerun_cmd(archive, out, rubric_name, data_dir, sandbox_name, max_epochs, cell_timeout, total_timeout,
              as_json) -> None:
    """Re-run one submission's notebooks and scripts in the sandbox and compare
    what they produce with what the student reported."""
    from grader.rerun import compare_rerun, rerun_archive

    rubric = _load_rubric(rubric_name or _rubric_named_by([archive]))
    sandbox = _choose_sandbox(sandbox_name)
    result = rerun_archive(archive, rubric, sandbox, data_dir, out, max_epochs=max_epochs,
                           cell_timeout=cell_timeout, total_timeout=total_timeout)
    if as_json:
        click.echo(json.dumps(result.to_dict(), indent=2))
    else:
        console.print(f"Re-ran {escape(archive.name)} in the {result.backend} sandbox: [bold]{result.status}[/]"
                      + (f" ({escape(result.message)})" if result.message else ""), soft_wrap=True)
        for source in result.sources:
            executed = f", executed notebook: {escape(str(source.html))}" if source.html else ""
            console.print(f"  {escape(source.path)}: {source.status}, {source.cells_run}/{source.cells_total} cells"
                          f"{executed}", soft_wrap=True)
            for failure in source.failures:     # why each failing cell failed, as the report says
                console.print(f"    cell {failure.cell}: {escape(failure.cause or failure.ename)}: "
                              f"{escape(failure.explanation or failure.evalue)}", soft_wrap=True)
        reported = {pid: part.reported_accuracy for pid, part in result.parts.items()}
        parts = list(dict.fromkeys([*reported, *result.parts]))
        for part_id, verdict in zip(parts, compare_rerun(result, reported, max_epochs)):
            console.print(f"  {part_id}: {escape(verdict.message)}")
    sys.exit(0 if result.status == "ok" else 1)


# ------------------------------------------------------------ self-check


@main.command("check")
@click.argument("path", type=click.Path(path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object instead of the checklist.")
@click.option("--rubric", "rubric_name", help="Rubric name in rubrics/ or a path to a .toml file.")
def check_cmd(path: Path, as_json: bool, rubric_name: str | None) -> None:
    """Check a submission (zip or folder) before you hand it in. Runs no model."""
    from grader.checklist import print_checklist
    from grader.pipeline import check_submission

    if not path.exists():
        raise click.UsageError(f"{path}: no such file or folder; give the .zip you will submit or your assignment folder")
    rubric = _load_rubric(rubric_name or _rubric_named_by([path]))
    report = check_submission(path, rubric)
    if as_json:
        click.echo(json.dumps(report.to_dict(), indent=2))
    else:
        print_checklist(report, rubric, console)
    sys.exit(0 if report.ready else 1)


@main.command("pack")
@click.argument("folder", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--name", "name", required=True, help="Your name as LastnameFirstname, e.g. DoeJane.")
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), default=Path("."), show_default=True)
@click.option("--rubric", "rubric_name", help="Rubric name in rubrics/ or a path to a .toml file.")
def pack_cmd(folder: Path, name: str, out: Path, rubric_name: str | None) -> None:
    """Zip an assignment folder as <prefix>_LastnameFirstname.zip, junk left out, then check it."""
    from grader.checklist import print_checklist
    from grader.pipeline import check_submission
    from reference.pack import pack

    rubric = _load_rubric(rubric_name or _rubric_named_by([folder]))
    last, first = _split_name(name)
    archive = pack(folder, out, last, first, prefix=rubric.archive_prefix)
    console.print(f"Wrote {archive}")
    report = check_submission(archive, rubric)
    print_checklist(report, rubric, console)
    sys.exit(0 if report.ready else 1)


def _split_name(name: str) -> tuple[str, str]:
    import re

    words = re.findall(r"[A-Z][^A-Z\s_-]*|[^A-Z\s_-]+", name.strip())
    if len(words) < 2:
        raise click.UsageError(f"--name {name!r}: write it as LastnameFirstname, e.g. DoeJane")
    return "".join(words[:-1]), words[-1]


# ------------------------------------------------------ reference solutions


@main.group("reference")
def reference_group() -> None:
    """Run the reference solutions and record their baselines."""


@reference_group.command("run")
@click.argument("parts", nargs=-1)
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), required=True)
@click.option("--data-dir", type=click.Path(path_type=Path), help="Instructor's data folder (default: ~/.keras).")
@click.option("--images", "images_dir", type=click.Path(exists=True, file_okay=False, path_type=Path),
              help="Folder of pictures for the ImageNet part.")
@click.option("--quick", is_flag=True, help="Train on a small subset for one epoch (for CI).")
@click.option("--rubric", "rubric_name")
def reference_run(parts, out, data_dir, images_dir, quick, rubric_name) -> None:
    """Train the reference solutions and write a complete assignment tree in OUT."""
    import reference
    from grader import datasets

    rubric = _load_rubric(rubric_name)
    try:
        record = reference.run(list(parts) or None, out, data_dir or datasets.default_data_dir(), quick,
                               images_dir=images_dir, rubric=rubric)
    except (datasets.DataError, reference.ReferenceRunError) as exc:
        raise click.ClickException(str(exc)) from None
    console.print(json.dumps(record.to_dict(), indent=2))


@reference_group.command("baselines")
@click.argument("run_json", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--rubric", "rubric_name")
def reference_baselines(run_json: Path, rubric_name: str | None) -> None:
    """Write the rubric's baselines from a full reference run's results/run.json."""
    import reference

    rubric = _load_rubric(rubric_name)
    try:
        path = reference.baselines(reference.load_run_record(run_json), Path(rubric.path))
    except (ValueError, reference.ReferenceRunError) as exc:
        raise click.ClickException(str(exc)) from None
    console.print(f"Wrote {path}")


@reference_group.command("verify")
@click.option("--rubric", "rubric_name", help="Rubric name in rubrics/ or a path to a .toml file.")
@click.option("--quick", is_flag=True, help="A smoke test: train briefly and leave unjudged the checks that "
                                             "depend on training length (accuracy against the baselines).")
@click.option("--out", type=click.Path(file_okay=False, path_type=Path),
              help="Where the tree, the archive, the grades and verify.json go (default: verify-<rubric id>/).")
@click.option("--data-dir", type=click.Path(path_type=Path), help="Instructor's data folder (default: ~/.keras).")
@click.option("--synthetic", is_flag=True, help="Use the project's synthetic data in the real formats (for CI).")
@click.option("--images", "images_dir", type=click.Path(exists=True, file_okay=False, path_type=Path),
              help="Pictures for a part that classifies them (default: synthetic photos).")
@click.option("--sandbox", "sandbox_name", type=click.Choice(["auto", "docker", "bwrap", "none"]), default="auto",
              show_default=True, help="Where the packed reference is graded.")
@click.option("--quick-samples", type=click.IntRange(1), help="With --quick: train on the first N images "
                                                              "(default: the rubric's, reference/solutions.toml).")
def reference_verify(rubric_name, quick, out, data_dir, synthetic, images_dir, sandbox_name, quick_samples) -> None:
    """Run the rubric's reference solutions, pack them, grade the archive in the sandbox, and exit 1
    naming every check that did not earn its points (manual checks may stay pending)."""
    from grader import datasets
    from reference import ReferenceRunError, solutions_for
    from reference.verify import NOT_JUDGED, PENDING, synthetic_data, verify

    rubric = _load_rubric(rubric_name)
    if synthetic and data_dir:
        raise click.UsageError("give --data-dir or --synthetic, not both")
    out = out or Path(f"verify-{rubric.id}")
    sandbox = _choose_sandbox(sandbox_name)
    try:
        solutions = solutions_for(rubric.id)
        if synthetic:
            data_dir = synthetic_data(out / "data", rubric, quick_samples or solutions.quick_train_samples)
        result = verify(rubric, out, data_dir or datasets.default_data_dir(), sandbox, quick=quick,
                        images_dir=images_dir, quick_samples=quick_samples)
    except (datasets.DataError, ReferenceRunError) as exc:
        raise click.ClickException(str(exc)) from None
    for verdict in result.verdicts:
        mark = {PENDING: "[yellow]pending[/]", NOT_JUDGED: "[dim]not judged (quick)[/]"}.get(
            verdict.status, "[green]ok[/]" if verdict.status == "earned" else "[bold red]MISSED[/]")
        console.print(f"  {escape(verdict.name)}: {round(verdict.score, 2):g}/{verdict.points:g} {mark}")
    console.print(f"{result.archive}: {result.status}, {round(result.score, 2):g}/{result.max_score:g} "
                  f"(run {result.seconds['run']:.0f} s, grade {result.seconds['grade']:.0f} s); report {result.report}")
    if result.status != "graded":
        err.print(f"[bold red]The reference of {rubric.id} could not be graded:[/] {escape(result.note)}")
    for verdict in result.failures:
        err.print(f"[bold red]{rubric.id} {escape(verdict.name)}[/] earned {round(verdict.score, 2):g} of "
                  f"{verdict.points:g}: {escape(verdict.message)}")
    sys.exit(0 if result.ok else 1)


# ------------------------------------------------------------ data, image


@main.group("data")
def data_group() -> None:
    """The instructor's data folder."""


@data_group.command("fetch")
@click.option("--data-dir", type=click.Path(path_type=Path))
@click.option("--rubric", "rubric_name", help="The rubric whose data and weights files to fetch (default: assignment06).")
@click.option("--list", "list_only", is_flag=True, help="Only list what the rubric needs and where it was looked for.")
def data_fetch(data_dir, rubric_name, list_only) -> None:
    """List what a rubric needs from the data folder and download what is missing (needs network)."""
    from grader import datasets

    rubric = _load_rubric(rubric_name)
    data_dir = Path(data_dir or datasets.default_data_dir()).expanduser()
    console.print(f"Data folder {escape(str(data_dir))}, rubric [bold]{escape(rubric.id)}[/]:", soft_wrap=True)
    needed = datasets.needed(rubric, data_dir)
    for item in needed:
        if item.missing:
            console.print(f"  [red]missing[/] {escape(item.what)}", highlight=False, soft_wrap=True)
            console.print("    " + item.missing.replace("\n", "\n    "), markup=False, highlight=False,
                          soft_wrap=True)
        else:
            shown = ", ".join(str(p) for p in item.files[:3]) + (f" and {len(item.files) - 3} more"
                                                                  if len(item.files) > 3 else "")
            console.print(f"  [green]found[/]   {escape(item.what)}: {escape(shown)}", highlight=False, soft_wrap=True)
    if list_only or not any(item.missing for item in needed):
        return
    try:
        datasets.fetch(data_dir, rubric)
    except datasets.DataError as exc:
        raise click.ClickException(str(exc)) from None
    console.print("Fetched; every file the rubric needs is in the data folder.")


@main.group("image")
def image_group() -> None:
    """The sandbox's Docker runtime image."""


@image_group.command("build")
@click.option("--base-image", default="python:3.11-slim", show_default=True)
@click.option("--tag", default=None, help="Image tag (default: the runtime's tag).")
@click.option("--runtime", "runtime_name", type=click.Choice(["keras3", "keras2"]), default="keras3",
              show_default=True, help="keras3: TensorFlow 2.21 / Keras 3; keras2: TensorFlow 2.15 / Keras 2.15.")
@click.option("--rubric", "rubric_name", default=None,
              help="The rubric whose [sandbox] packages the image includes (default: assignment06).")
def image_build(base_image: str, tag: str | None, runtime_name: str, rubric_name: str | None) -> None:
    """Build a runtime image from the Dockerfile shipped with the grader, with
    the course's packages (the rubric's [sandbox] packages)."""
    from grader.evaluate.image import build_runtime_image

    packages = _load_rubric(rubric_name).sandbox.packages if rubric_name else None
    built = build_runtime_image(base_image=base_image, tag=tag, runtime=runtime_name, packages=packages)
    console.print(f"Built {built}")


if __name__ == "__main__":
    main()
