"""Connect to a Dask scheduler, or start a LocalCluster or a SLURMCluster, and wait
for workers. Each worker runs at most K sandboxes at once: K is its ``sandbox``
resource (``dask worker ... --resources sandbox=K``; 1 per local process; the
[cluster] table's ``sandboxes`` for Slurm), and each archive's task asks for one.

A worker that dies while grading costs that archive one retry on another worker,
then an error row: the scheduler's allowed failures are set to 1 (its default, 3,
would grade a hostile archive that kills its workers four times)."""

from __future__ import annotations

import logging
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import dask

from grader.cluster.config import ClusterOptions
from grader.cluster.errors import ClusterError
from grader.cluster.probe import RESOURCE
from grader.cluster.spec import ClusterSpec

ALLOWED_FAILURES = 1
CONNECT_SECONDS = 20          # a scheduler that does not answer in this time is not there
WORKER_WAIT_SECONDS = 60      # for a running scheduler's first worker (Slurm: [cluster] start_timeout)
_CONFIG = {"distributed.scheduler.allowed-failures": ALLOWED_FAILURES,
           # Until the first archives are done, the scheduler places tasks (and steals them from a
           # busy worker for an idle one) as if each took this long: archives take minutes, not 0.5 s.
           "distributed.scheduler.default-task-durations.grade-archive": "60s"}

# No dashboard, and the scheduler's small HTTP server (health, metrics) on any free port, not 8787.
_NO_DASHBOARD = {"dashboard_address": ":0", "scheduler_kwargs": {"dashboard": False}}


@dataclass
class Connection:
    client: object                      # distributed.Client
    description: str                    # for the header line and the summary
    address: str                        # the scheduler's
    _closers: list[Callable[[], None]] = field(default_factory=list)

    def close(self) -> None:
        for close in reversed(self._closers):
            try:
                close()
            except Exception:  # noqa: BLE001 - a cluster already gone closes with nothing to do
                pass
        self._closers.clear()


def start_cluster(spec: ClusterSpec, options: ClusterOptions | None = None, sandbox_cpus: float = 1.0,
                  log_directory: Path | None = None) -> Connection:
    options = options or ClusterOptions()
    with dask.config.set(_CONFIG):
        if spec.kind == "local":
            return _local(spec)
        if spec.kind == "slurm":
            return _slurm(options, sandbox_cpus, log_directory)
        return _remote(spec)


def _local(spec: ClusterSpec) -> Connection:
    from distributed import Client, LocalCluster

    cluster = LocalCluster(n_workers=spec.workers, threads_per_worker=1, processes=True,
                           resources={RESOURCE: 1}, host="127.0.0.1", silence_logs=logging.ERROR,
                           **_NO_DASHBOARD)
    client = Client(cluster)
    return Connection(client, spec.describe(), cluster.scheduler_address, [cluster.close, client.close])


def _remote(spec: ClusterSpec) -> Connection:
    from distributed import Client

    try:
        client = Client(spec.address, timeout=CONNECT_SECONDS)
    except (OSError, TimeoutError) as exc:
        raise ClusterError(f"no Dask scheduler answers at {spec.address} ({exc}); start one there with "
                           "`dask scheduler`, or check the address and its port (8786 by default)") from None
    connection = Connection(client, spec.describe(), spec.address, [client.close])
    try:
        client.run_on_scheduler(_set_allowed_failures, ALLOWED_FAILURES)
        _wait_for_workers(client, WORKER_WAIT_SECONDS,
                          f"start them with `dask worker {spec.address} --resources {RESOURCE}=K`")
    except BaseException:
        connection.close()
        raise
    return connection


def _set_allowed_failures(count: int, dask_scheduler=None) -> None:
    dask_scheduler.allowed_failures = count


def _slurm(options: ClusterOptions, sandbox_cpus: float, log_directory: Path | None) -> Connection:
    from distributed import Client

    try:
        from dask_jobqueue import SLURMCluster
    except ImportError:
        raise ClusterError("--cluster slurm needs dask-jobqueue: run ./install.sh again") from None
    sandboxes = options.sandboxes_per_worker(sandbox_cpus)
    try:
        cluster = SLURMCluster(
            queue=options.queue, account=options.account, cores=options.cores, processes=1,
            memory=options.memory, walltime=options.walltime, interface=options.interface,
            local_directory=options.local_directory, python=options.python or sys.executable,
            job_extra_directives=list(options.job_extra), job_name="grade-worker",
            worker_extra_args=["--resources", f"{RESOURCE}={sandboxes}", "--nthreads", str(sandboxes)],
            log_directory=str(log_directory) if log_directory else None,
            scheduler_options={"dashboard": False, "dashboard_address": ":0"}, silence_logs="error")
    except (ValueError, OSError) as exc:
        raise ClusterError(f"grade.toml [cluster]: Slurm workers cannot be set up ({exc})") from None
    description = (f"{options.workers} Slurm job(s) of {options.cores} core(s), {options.memory}, "
                   f"{sandboxes} sandbox(es) each" + (f", partition {options.queue}" if options.queue else ""))
    connection = Connection(None, description, cluster.scheduler_address, [cluster.close])
    try:
        cluster.scale(jobs=options.workers)
        connection.client = Client(cluster)
        connection._closers.append(connection.client.close)
        _wait_for_workers(connection.client, options.start_timeout,
                          "see `squeue --me` for the jobs (pending? wrong partition?) and the worker logs"
                          + (f" in {log_directory}" if log_directory else ""), jobs=cluster)
    except BaseException:
        connection.close()
        raise
    return connection


def _wait_for_workers(client, seconds: float, hint: str, jobs=None) -> None:
    try:
        client.wait_for_workers(1, timeout=seconds)
    except TimeoutError:
        failed = _failed_submissions(jobs)
        raise ClusterError(f"no Dask worker joined the scheduler at {client.scheduler.address} within "
                           f"{seconds:g} s; {hint}{failed}") from None


def _failed_submissions(jobs) -> str:
    """What sbatch said, when the Slurm jobs could not even be submitted."""
    if jobs is None:
        return ""
    try:
        logs = jobs.get_logs(cluster=True, scheduler=False, workers=False)
    except Exception:  # noqa: BLE001 - only a better message is lost
        return ""
    lines = [line for text in logs.values() for line in str(text).splitlines()
             if "sbatch" in line.lower() or "error" in line.lower()]
    return ("; " + " / ".join(lines[-3:])) if lines else ""
