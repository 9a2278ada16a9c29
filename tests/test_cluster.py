"""Grading on a Dask cluster (grade --cluster): a real `dask scheduler` and real
`dask worker` processes on localhost over TCP, the bubblewrap sandbox on each
worker, and a single-node Slurm started here for --cluster slurm.

The class is made of the shipped example archive's parts: archives with the 6.1
MNIST model (a sandbox run each), an endless loop in a Keras 2 .h5 Lambda, and
archives that need no sandbox (no model, a broken zip, a RAR, an empty zip),
graded against a small synthetic test set.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
import zipfile
from pathlib import Path

import pandas as pd
import pytest

from grader import rubric as rubric_mod
from grader.batch import find_archives, grade_batch

pytestmark = [pytest.mark.slow, pytest.mark.cluster, pytest.mark.bwrap]

REPO = Path(__file__).resolve().parents[1]
EXAMPLE = REPO / "submissions" / "example" / "assignment06_DoeJane.zip"
DASK = Path(sys.executable).with_name("dask")
RETRIED, OTHER_MODEL = "assignment06_AdamsAda.zip", "assignment06_BakerBen.zip"
KILLED_TWICE = "assignment06_ZimmerZoe.zip"
LOOP = "assignment06_AaronLoop.zip"
LOOP_TIMEOUT = 20      # the hostile class's sandbox limit: its other archives run no model
NO_SANDBOX = ("assignment06_DiazDee.zip", "assignment06_EvansEve.zip", "assignment06_FoxFay.zip",
              "assignment06_GrayGus.rar", "assignment06_HillHan.zip", "assignment06_IvesIra.zip")
# What differs between a local run and a cluster run of the same archive.
RUN_FIELDS = ("seconds", "worker")


# ------------------------------------------------------------------ the class


def _example_members(*prefixes: str) -> dict[str, bytes]:
    with zipfile.ZipFile(EXAMPLE) as archive:
        return {name: archive.read(name) for name in archive.namelist()
                if any(name.startswith(f"assignment06/{prefix}") for prefix in prefixes)}


def _zip(path: Path, members: dict[str, bytes]) -> Path:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return path


PART_61 = ("6.1_", "results/6.1/")


def _cheap_archives(folder: Path) -> None:
    """Archives graded without a sandbox: no model, notebooks only, broken, RAR, empty."""
    no_model = _example_members(*PART_61)
    del no_model["assignment06/results/6.1/model.keras"]
    _zip(folder / "assignment06_DiazDee.zip", no_model)
    _zip(folder / "assignment06_EvansEve.zip", _example_members("6."))
    (folder / "assignment06_FoxFay.zip").write_bytes(b"this was a Word document, not a zip\n" * 30)
    (folder / "assignment06_GrayGus.rar").write_bytes(b"Rar!\x1a\x07\x00 a RAR archive" + bytes(200))
    _zip(folder / "assignment06_HillHan.zip", {})
    predictions_only = _example_members("results/6.2a/")
    del predictions_only["assignment06/results/6.2a/model.keras"]
    _zip(folder / "assignment06_IvesIra.zip", predictions_only)


def _looping_archive(folder: Path, base: Path) -> Path:
    """6.1's model replaced by a Keras 2 .h5 whose Lambda loops for ever once loaded."""
    from tests.hostile_models import LOOP_BODY, hostile_h5

    members = _example_members(*PART_61)
    del members["assignment06/results/6.1/model.keras"]
    members["assignment06/results/6.1/model.h5"] = hostile_h5(base / "loop.h5", LOOP_BODY).read_bytes()
    return _zip(folder / LOOP, members)


@pytest.fixture(scope="module")
def course(tmp_path_factory):
    """The data folder (400 test images per set; ResNet50's files from the shared synthetic
    set, only shipped to the workers) and the class folders."""
    from grader.datasets import RESNET50_WEIGHTS, ensure_synthetic_data, write_synthetic_data

    base = tmp_path_factory.mktemp("cluster-class")
    data_dir = write_synthetic_data(base / "data", n_train=100, n_test=400, seed=0)
    (data_dir / "models" / RESNET50_WEIGHTS).symlink_to(ensure_synthetic_data(0) / "models" / RESNET50_WEIGHTS)
    main = base / "main"          # graded on two workers, with workers killed under it
    main.mkdir()
    _zip(main / RETRIED, _example_members(*PART_61))
    _zip(main / OTHER_MODEL, _example_members(*PART_61, "6.2a_", "results/6.2a/"))
    _zip(main / KILLED_TWICE, _example_members(*PART_61, "results/run.json"))
    _cheap_archives(main)
    hostile = base / "hostile"    # graded on one worker: the loop first, then the others
    hostile.mkdir()
    _looping_archive(hostile, base)
    for name in ("assignment06_DiazDee.zip", "assignment06_IvesIra.zip"):
        shutil.copy(main / name, hostile / name)
    return {"base": base, "data_dir": data_dir, "main": main, "hostile": hostile, "rubric": rubric_mod.load()}


def _records(out: Path) -> dict[str, dict]:
    return {json.loads(p.read_text())["archive"]: json.loads(p.read_text()) for p in (out / "results").glob("*.json")}


def _without_run_fields(record: dict) -> dict:
    return {key: value for key, value in record.items() if key not in RUN_FIELDS}


# ------------------------------------------------------------- dask processes


class DaskProcesses:
    """`dask scheduler` and `dask worker` processes on 127.0.0.1, stopped by their pids."""

    def __init__(self, folder: Path, workers: int, resources: tuple[str, ...] = ("--resources", "sandbox=1")):
        self.folder = folder
        folder.mkdir(parents=True, exist_ok=True)
        scheduler_file = folder / "scheduler.json"
        self.scheduler = self._start([str(DASK), "scheduler", "--host", "127.0.0.1", "--port", "0", "--no-dashboard",
                                      "--scheduler-file", str(scheduler_file)], "scheduler")
        self.address = self._address(scheduler_file)
        self.workers = [self._start([str(DASK), "worker", self.address, "--nthreads", "1", *resources,
                                     "--no-dashboard", "--name", f"w{n}", "--local-directory", str(folder / f"w{n}")],
                                    f"w{n}")
                        for n in range(workers)]
        self._wait_for(workers)

    def _start(self, command: list[str], name: str) -> subprocess.Popen:
        log = open(self.folder / f"{name}.log", "wb")
        return subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, cwd=self.folder,
                                start_new_session=True)

    def _address(self, scheduler_file: Path) -> str:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if scheduler_file.is_file() and scheduler_file.stat().st_size:
                return json.loads(scheduler_file.read_text())["address"]
            if self.scheduler.poll() is not None:
                break
            time.sleep(0.2)
        raise RuntimeError(f"the dask scheduler did not start: {(self.folder / 'scheduler.log').read_text()[-2000:]}")

    def _wait_for(self, count: int) -> None:
        from distributed import Client

        with Client(self.address, timeout=30) as client:
            client.wait_for_workers(count, timeout=120)

    def stop(self) -> None:
        for process in [*self.workers, self.scheduler]:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
        for process in [*self.workers, self.scheduler]:
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()


@pytest.fixture(scope="module")
def two_workers(course):
    processes = DaskProcesses(course["base"] / "dask-two", workers=2)
    yield processes
    processes.stop()


@pytest.fixture(scope="module")
def one_worker(course):
    processes = DaskProcesses(course["base"] / "dask-one", workers=1)
    yield processes
    processes.stop()


def _executor(address: str, course):
    from grader.cluster.session import open_executor

    return open_executor(address, None, "grade.toml", course["rubric"].sandbox.cpus, "bwrap", None,
                         course["base"] / "unused")


# ------------------------------------------------------------------ the runs


@pytest.fixture(scope="module")
def local_run(course):
    """The main class graded in this process, as without --cluster (the archive whose
    workers are killed twice is left out: on the cluster it becomes an error row)."""
    from grader.evaluate import choose_backend
    from grader.pipeline import load_test_data

    rubric = course["rubric"]
    out = course["base"] / "local"
    archives = [a for a in find_archives(course["main"]) if a.name != KILLED_TWICE]
    grade_batch(archives, out, rubric, choose_backend("bwrap"), load_test_data(rubric, course["data_dir"]), jobs=2)
    return _records(out)


@pytest.fixture(scope="module")
def cluster_run(course, two_workers):
    """The main class graded on the two workers, killing (SIGKILL, by pid) the worker that
    has just taken RETRIED once, and each worker that takes KILLED_TWICE."""
    from grader.pipeline import load_test_data

    rubric = course["rubric"]
    out = course["base"] / "cluster"
    executor = _executor(two_workers.address, course)
    client = executor.connection.client
    placements: list[tuple[str, str, int, int]] = []          # archive, worker, attempt, pid killed (0: none)

    def placed(name: str, worker: str, attempt: int) -> None:
        pid = 0
        if name == KILLED_TWICE or (name == RETRIED and attempt == 1):
            pid = client.run(os.getpid, workers=[worker])[worker]
            threading.Timer(1.0, os.kill, (pid, signal.SIGKILL)).start()   # once it is well into the archive
        placements.append((name, worker, attempt, pid))

    try:
        summary = grade_batch(find_archives(course["main"]), out, rubric, None,
                              load_test_data(rubric, course["data_dir"]), cluster=executor, placed=placed)
    finally:
        executor.close()
    return {"summary": summary, "out": out, "records": _records(out), "placements": placements}


# ------------------------------------------------------------------ the tests


def test_cluster_records_are_the_local_run_s_apart_from_timings_and_the_worker(local_run, cluster_run, two_workers):
    records = cluster_run["records"]
    assert set(records) == {p.name for p in find_archives(cluster_run["out"].parent / "main")}
    assert set(local_run) == set(records) - {KILLED_TWICE}
    for archive, local in local_run.items():
        assert _without_run_fields(records[archive]) == _without_run_fields(local), archive
        assert "worker" not in local
    graded_on = {record["worker"] for record in records.values()}
    assert all(worker.startswith("tcp://127.0.0.1:") for worker in graded_on)
    # The models ran in each worker's own sandbox and were scored there.
    assert records[RETRIED]["sandbox"] == "bwrap" and records[RETRIED]["parts"]["6.1"]["recomputed"]["accuracy"] > 0
    assert records[OTHER_MODEL]["parts"]["6.2a"]["recomputed"]["accuracy"] is not None
    # The report a worker rendered says where it was graded; the coordinator wrote it as it came.
    report = (cluster_run["out"] / "reports" / "assignment06_BakerBen.html").read_text()
    assert f" s on {records[OTHER_MODEL]['worker']} · grader" in report
    summary = cluster_run["summary"]
    assert sum(summary.workers.values()) == len(records) and set(summary.workers) == graded_on
    assert summary.to_dict()["coordinator_seconds_per_archive"] < 0.05 * records[RETRIED]["seconds"]


def test_a_killed_worker_costs_a_retry_then_an_error_row_and_nothing_finished_is_lost(cluster_run):
    summary, out, records = cluster_run["summary"], cluster_run["out"], cluster_run["records"]
    placements = cluster_run["placements"]
    retried = [p for p in placements if p[0] == RETRIED]
    assert [p[2] for p in retried] == [1, 2] and retried[0][3] > 0 and retried[1][3] == 0
    assert RETRIED in summary.retried
    assert records[RETRIED]["status"] == "graded" and records[RETRIED]["worker"] == retried[1][1]

    killed = [p for p in placements if p[0] == KILLED_TWICE]
    assert [p[2] for p in killed] == [1, 2] and all(p[3] > 0 for p in killed)
    row = records[KILLED_TWICE]
    assert row["status"] == "error" and row["resume_key"] == ""     # the next run grades it again
    assert "the Dask worker grading it died 2 time(s)" in row["note"]
    for _, worker, _, pid in killed:
        assert f"{worker} (pid {pid})" in row["note"]
    assert "Run the same command again to retry it" in row["note"]

    # Every archive ends with one row; every record on disk is whole; no temporary file is left.
    grades = pd.read_csv(out / "grades.csv")
    assert sorted(grades["archive"]) == sorted(records)
    assert not summary.interrupted and summary.graded + summary.errors == len(records)
    assert not list(out.rglob("*.tmp"))
    assert not (out / "work").exists()       # unpacked archives stay on the workers' scratch disks


def test_ctrl_c_on_a_cluster_keeps_what_was_running_and_a_rerun_grades_the_rest(course, two_workers, cluster_run):
    from grader.pipeline import load_test_data

    rubric, data = course["rubric"], load_test_data(course["rubric"], course["data_dir"])
    out = course["base"] / "interrupted"
    archives = [course["main"] / name for name in NO_SANDBOX]
    finished: list[str] = []

    def interrupt_after_first(event: str, name: str, grade) -> None:
        if event == "finished":
            finished.append(name)
            if len(finished) == 1:
                raise KeyboardInterrupt

    executor = _executor(two_workers.address, course)
    try:
        first = grade_batch(archives, out, rubric, None, data, cluster=executor, progress=interrupt_after_first)
        assert first.interrupted and first.stopped_by == "Ctrl-C"
        assert 1 <= first.graded + first.errors < len(archives)
        assert first.remaining == sorted(a.name for a in archives if a.name not in _records(out))
        assert (out / "grades.csv").is_file() and not list(out.rglob("*.tmp"))
        second = grade_batch(archives, out, rubric, None, data, cluster=executor)
    finally:
        executor.close()
    assert not second.interrupted and second.skipped == first.graded + first.errors
    assert second.graded + second.errors == len(first.remaining)
    assert set(_records(out)) == {a.name for a in archives}


@pytest.fixture(scope="module")
def hostile_run(course, one_worker):
    from grader.pipeline import load_test_data

    rubric = course["rubric"]
    rubric = rubric.model_copy(update={"sandbox": rubric.sandbox.model_copy(update={"timeout_seconds": LOOP_TIMEOUT})})
    out = course["base"] / "hostile-out"
    executor = _executor(one_worker.address, course)
    started: list[str] = []
    held: dict = {}

    def grading_contexts(dask_worker=None) -> list[dict]:
        """Run on the worker (a nested function travels by value): the grading contexts it holds."""
        return [{"inputs": {name: array.shape for name, array in plugin.inputs.items()},
                 "labels": sorted(plugin.labels), "imagenet_bytes": {k: len(v) for k, v in plugin.imagenet.items()}}
                for name, plugin in dask_worker.plugins.items() if name.startswith("grader-context-")]

    def placed(name: str, worker: str, attempt: int) -> None:
        if not started:
            held.update(executor.connection.client.run(grading_contexts))
        started.append(name)

    try:
        summary = grade_batch(find_archives(course["hostile"]), out, rubric, None,
                              load_test_data(rubric, course["data_dir"]), cluster=executor, placed=placed)
    finally:
        executor.close()
    return {"summary": summary, "out": out, "records": _records(out), "started": started, "held": held}



def test_an_endless_loop_is_stopped_on_its_worker_which_grades_the_next_archives(course, hostile_run, local_run):
    records, started = hostile_run["records"], hostile_run["started"]
    assert started[0] == LOOP and len(started) == 3          # one worker, the loop first, nothing retried
    loop = records[LOOP]
    assert loop["status"] == "error" and loop["note"].startswith("sandbox timeout:")
    loads = next(c for c in loop["parts"]["6.1"]["checks"] if c["id"] == "model_loads")
    assert loads["score"] == 0 and f"did not finish within the {LOOP_TIMEOUT} s limit" in loads["message"]
    assert loop["seconds"] < LOOP_TIMEOUT + 30
    assert len({record["worker"] for record in records.values()}) == 1
    # The test data reached the worker once, with the context, not with each archive's task.
    (contexts,) = hostile_run["held"].values()
    weights = (course["data_dir"] / "models" / "resnet50_weights_tf_dim_ordering_tf_kernels.h5").stat().st_size
    assert contexts == [{"inputs": {"mnist": (400, 28, 28, 1), "cifar10": (400, 32, 32, 3)},
                         "labels": ["cifar10", "mnist"], "imagenet_bytes": {"weights": weights, "class_index": 44890}}]
    for archive in ("assignment06_DiazDee.zip", "assignment06_IvesIra.zip"):
        assert records[archive]["status"] == "graded"
        assert _without_run_fields(records[archive]) == _without_run_fields(local_run[archive])


def test_rerunning_the_same_command_grades_nothing_again(course, hostile_run, one_worker):
    from click.testing import CliRunner

    from grader.cli import main

    out = hostile_run["out"]
    before = {p.name: p.read_bytes() for p in (out / "results").glob("*.json")}
    result = CliRunner().invoke(main, [str(course["hostile"]), "--out", str(out), "--cluster", one_worker.address,
                                       "--sandbox", "bwrap", "--data-dir", str(course["data_dir"])])
    assert result.exit_code == 0, result.output
    assert "0 graded, 0 error(s), 3 skipped (unchanged)" in result.output
    assert f"the Dask scheduler at {one_worker.address}: 1 worker(s), 1 sandbox(es) at once" in " ".join(
        result.output.split())
    assert {p.name: p.read_bytes() for p in (out / "results").glob("*.json")} == before


def test_a_scheduler_that_goes_away_ends_the_run_like_ctrl_c(course, one_worker, hostile_run):
    from grader.pipeline import load_test_data

    rubric = course["rubric"]
    out = course["base"] / "scheduler-gone"
    archives = [course["main"] / name for name in NO_SANDBOX]
    finished: list[str] = []

    def progress(event: str, name: str, grade) -> None:
        if event == "finished":
            finished.append(name)
            if len(finished) == 1:
                os.kill(one_worker.scheduler.pid, signal.SIGKILL)

    executor = _executor(one_worker.address, course)
    try:
        summary = grade_batch(archives, out, rubric, None, load_test_data(rubric, course["data_dir"]),
                              cluster=executor, progress=progress)
    finally:
        executor.close()
    assert summary.interrupted
    assert summary.stopped_by == f"the Dask scheduler at {one_worker.address} went away"
    assert finished[0] == archives[0].name and len(finished) < len(archives)
    assert summary.remaining == sorted(a.name for a in archives if a.name not in finished)
    records = _records(out)
    assert set(records) == set(finished)                           # what finished is kept, and only that
    assert not any("was not graded" in record["note"] for record in records.values())   # no row for the lost ones
    assert sorted(pd.read_csv(out / "grades.csv")["archive"]) == sorted(finished)
    assert not list(out.rglob("*.tmp"))


def test_rerun_on_a_cluster_worker_gives_the_local_rerun_and_links_its_notebook(course, tmp_path):
    """--rerun on a cluster: the worker re-runs the notebook on the data folder (at the same
    path), and the record and report point at the executed notebook under the
    coordinator's output folder, not the worker's scratch one."""
    from grader.cluster.session import open_executor
    from grader.evaluate import choose_backend
    from grader.pipeline import RerunOptions, load_test_data

    rubric = course["rubric"]
    folder = tmp_path / "class"
    folder.mkdir()
    _zip(folder / "assignment06_RossRay.zip", _example_members(*PART_61))
    options = RerunOptions(max_epochs=1, cell_timeout=300, total_timeout=600)
    data = load_test_data(rubric, course["data_dir"])
    grade_batch(find_archives(folder), tmp_path / "local", rubric, choose_backend("bwrap"), data, rerun=options)
    processes = DaskProcesses(tmp_path / "dask", workers=1)
    try:
        executor = open_executor(processes.address, None, "grade.toml", rubric.sandbox.cpus, "bwrap",
                                 course["data_dir"], tmp_path / "cluster")
        try:
            summary = grade_batch(find_archives(folder), tmp_path / "cluster", rubric, None, data, rerun=options,
                                  cluster=executor)
        finally:
            executor.close()
    finally:
        processes.stop()
    assert summary.graded == 1 and summary.errors == 0
    local, remote = (_records(tmp_path / where)["assignment06_RossRay.zip"]["rerun"] for where in ("local", "cluster"))
    assert remote["status"] == local["status"] == "ok"
    assert [(s["path"], s["status"], s["cells_run"], [c["run"] for c in s["fit_calls"]]) for s in remote["sources"]] \
        == [(s["path"], s["status"], s["cells_run"], [c["run"] for c in s["fit_calls"]]) for s in local["sources"]]
    assert [c["run"] for c in remote["sources"][0]["fit_calls"]] == [1]
    executed = Path(remote["sources"][0]["html"])
    assert executed.is_file() and executed.is_relative_to(tmp_path / "cluster")
    report = (tmp_path / "cluster" / "reports" / "assignment06_RossRay.html").read_text()
    assert 'id="rerun"' in report and 'href="../rerun/' in report
    assert 0.0 <= remote["parts"]["6.1"]["rerun_accuracy"] <= 1.0


def test_a_worker_without_the_sandbox_resource_is_named_before_anything_is_graded(course):
    from grader.cluster import ClusterError

    processes = DaskProcesses(course["base"] / "dask-no-resource", workers=1, resources=())
    try:
        with pytest.raises(ClusterError) as raised:
            _executor(processes.address, course)
    finally:
        processes.stop()
    message = str(raised.value)
    assert message.startswith("1 of 1 worker(s) cannot grade:\n  tcp://127.0.0.1:")
    assert "it offers no sandbox resource: start it with `dask worker SCHEDULER --resources sandbox=K`" in message


# -------------------------------------------------------------------- Slurm


SLURM_CONF = """\
ClusterName=gradertest
SlurmctldHost=localhost(127.0.0.1)
SlurmctldPort={ctld_port}
SlurmdPort={d_port}
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket={root}/munge.socket
SlurmUser=root
SlurmdUser=root
StateSaveLocation={root}/state
SlurmdSpoolDir={root}/spool
SlurmctldPidFile={root}/slurmctld.pid
SlurmdPidFile={root}/slurmd.pid
SlurmctldLogFile={root}/slurmctld.log
SlurmdLogFile={root}/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
ReturnToService=2
MpiDefault=none
KillWait=5
NodeName=localhost NodeAddr=127.0.0.1 CPUs={cpus} RealMemory=8000 State=UNKNOWN
PartitionName=debug Nodes=localhost Default=YES MaxTime=INFINITE State=UP
"""


def _free_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(scope="module")
def slurm(tmp_path_factory):
    """A one-node Slurm on localhost: munged, slurmctld and slurmd in the foreground, in a
    folder of their own (key, socket, state, logs), and SLURM_CONF for sbatch and friends."""
    missing = [tool for tool in ("munged", "slurmctld", "slurmd", "sbatch", "sinfo") if not shutil.which(tool)]
    if missing:
        pytest.skip(f"Slurm is not installed ({', '.join(missing)} missing): ./install.sh installs slurm-wlm and munge")
    if os.geteuid() != 0:
        pytest.skip("a test Slurm runs its daemons as root (slurmd starts jobs as their user)")
    root = tmp_path_factory.mktemp("slurm")
    root.chmod(0o755)
    for folder in ("state", "spool"):
        (root / folder).mkdir()
    key = root / "munge.key"
    key.write_bytes(os.urandom(1024))
    key.chmod(0o600)
    conf = root / "slurm.conf"
    conf.write_text(SLURM_CONF.format(root=root, ctld_port=_free_port(), d_port=_free_port(), cpus=os.cpu_count()))
    env = {**os.environ, "SLURM_CONF": str(conf)}
    logs = open(root / "daemons.log", "wb")

    def start(command: list[str]) -> subprocess.Popen:
        return subprocess.Popen(command, stdout=logs, stderr=subprocess.STDOUT, env=env, start_new_session=True)

    daemons = [start(["munged", "--foreground", "--force", f"--key-file={key}", f"--socket={root}/munge.socket",
                      f"--pid-file={root}/munged.pid", f"--log-file={root}/munged.log",
                      f"--seed-file={root}/munged.seed"])]
    _wait_until(lambda: (root / "munge.socket").exists(), 20, "munged", root)
    daemons += [start(["slurmctld", "-D", "-i", "-f", str(conf)]),
                start(["slurmd", "-D", "-f", str(conf), "-N", "localhost"])]
    _wait_until(lambda: subprocess.run(["sinfo", "-h", "-o", "%T"], env=env, capture_output=True, text=True)
                .stdout.strip() == "idle", 60, "slurmctld and slurmd", root)
    previous = os.environ.get("SLURM_CONF")
    os.environ["SLURM_CONF"] = str(conf)
    yield root
    subprocess.run(["scancel", "--full", "--partition", "debug"], env=env, capture_output=True)
    for daemon in reversed(daemons):
        os.killpg(daemon.pid, signal.SIGTERM)
        try:
            daemon.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(daemon.pid, signal.SIGKILL)
            daemon.wait()
    if previous is None:
        os.environ.pop("SLURM_CONF", None)
    else:
        os.environ["SLURM_CONF"] = previous


def _wait_until(ready, seconds: float, what: str, root: Path) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if ready():
            return
        time.sleep(0.3)
    logs = "\n".join(p.read_text(errors="replace")[-1500:] for p in sorted(root.glob("*.log")))
    raise RuntimeError(f"{what} did not start in {seconds} s:\n{logs}")


@pytest.mark.slurm
def test_slurm_jobs_become_workers_that_grade_as_locally(course, slurm, local_run):
    from click.testing import CliRunner

    from grader.cli import main

    folder = course["base"] / "slurm-class"
    folder.mkdir()
    for name in (RETRIED, "assignment06_FoxFay.zip", "assignment06_IvesIra.zip"):
        shutil.copy(course["main"] / name, folder / name)
    (folder / "grade.toml").write_text(
        f'data_dir = "{course["data_dir"]}"\n\n[cluster]\nqueue = "debug"\ncores = 1\nmemory = "3GB"\n'
        'walltime = "00:20:00"\nworkers = 1\ninterface = "lo"\nstart_timeout = 120\n')
    out = course["base"] / "slurm-out"
    result = CliRunner().invoke(main, [str(folder), "--out", str(out), "--cluster", "slurm", "--sandbox", "bwrap"])
    assert result.exit_code == 1, result.output          # the broken zip is an error row
    text = " ".join(result.output.split())
    assert "1 Slurm job(s) of 1 core(s), 3GB, 1 sandbox(es) each, partition debug: 1 worker(s)" in text
    assert "2 graded, 1 error(s), 0 skipped" in text
    records = _records(out)
    for archive, record in records.items():
        assert _without_run_fields(record) == _without_run_fields(local_run[archive]), archive
    # The worker was the Slurm job's: its log (sbatch -e) names the address that graded.
    worker = records[RETRIED]["worker"]
    logs = " ".join(p.read_text(errors="replace") for p in (out / "cluster-logs").glob("grade-worker-*.err"))
    assert f"Start worker at: {worker}" in " ".join(logs.split())
