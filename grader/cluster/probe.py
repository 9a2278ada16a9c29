"""Every worker checked before anything is submitted: the same grader version, a
sandbox that runs there, the ``sandbox`` resource, room in its scratch folder, and,
for ``--rerun``, the data folder at the same path (the notebooks train on it)."""

from __future__ import annotations

import shutil
from dataclasses import dataclass

from grader.cluster.errors import ClusterError

RESOURCE = "sandbox"             # the Dask resource a worker offers per sandbox it may run at once
MIN_SCRATCH_MB = 2048            # an archive unpacked, its sandbox's output and its reports


@dataclass
class WorkerState:
    address: str
    sandboxes: int               # its "sandbox" resource
    problems: list[str]


def probe_worker(sandbox_name: str, data_dir: str | None, dask_worker=None) -> dict:
    """Run on each worker by ``Client.run``: what it has, in plain values."""
    from pathlib import Path

    from grader import __version__
    from grader.evaluate import SandboxUnavailable, choose_backend

    found = {"version": __version__, "sandbox": "", "sandbox_error": "", "scratch": dask_worker.local_directory}
    try:
        found["sandbox"] = choose_backend(sandbox_name).name
    except SandboxUnavailable as exc:
        found["sandbox_error"] = str(exc)
    found["scratch_free_mb"] = shutil.disk_usage(dask_worker.local_directory).free // (1024 * 1024)
    found["data_dir"] = bool(data_dir) and Path(data_dir).is_dir()
    return found


def check_workers(client, sandbox_name: str, rerun_data_dir: str | None) -> list[WorkerState]:
    """Each worker's state; raises ClusterError naming every worker that cannot grade."""
    from grader import __version__

    info = client.scheduler_info()["workers"]
    try:
        found = client.run(probe_worker, sandbox_name, rerun_data_dir, on_error="return")
    except Exception as exc:  # noqa: BLE001 - a worker that cannot even run the probe
        raise ClusterError(f"the workers could not be asked what they have ({type(exc).__name__}: {exc}); "
                           "check that each has the grader installed (./install.sh)") from None
    states = []
    for address, worker in sorted(info.items()):
        answer = found.get(address)
        states.append(WorkerState(address, int(worker.get("resources", {}).get(RESOURCE, 0)),
                                  _problems(answer, worker, __version__, rerun_data_dir)))
    bad = [s for s in states if s.problems]
    if bad:
        lines = "\n".join(f"  {s.address}: {'; '.join(s.problems)}" for s in bad)
        raise ClusterError(f"{len(bad)} of {len(states)} worker(s) cannot grade:\n{lines}")
    return states


def _problems(answer, worker: dict, version: str, rerun_data_dir: str | None) -> list[str]:
    if isinstance(answer, BaseException) or answer is None:
        return [f"the check failed on it ({type(answer).__name__}: {answer}); install the grader there "
                "(./install.sh) and start the worker from its .venv"]
    problems = []
    if answer["version"] != version:
        problems.append(f"it runs grader {answer['version']}, this machine {version}: install the same version")
    if answer["sandbox_error"]:
        problems.append(answer["sandbox_error"])
    if int(worker.get("resources", {}).get(RESOURCE, 0)) < 1:
        problems.append(f"it offers no {RESOURCE} resource: start it with "
                        f"`dask worker SCHEDULER --resources {RESOURCE}=K` (K sandboxes at once)")
    if answer["scratch_free_mb"] < MIN_SCRATCH_MB:
        problems.append(f"its scratch folder {answer['scratch']} has {answer['scratch_free_mb']} MB free, "
                        f"under {MIN_SCRATCH_MB} MB: give it --local-directory on a larger disk")
    if rerun_data_dir and not answer["data_dir"]:
        problems.append(f"--rerun needs the data folder {rerun_data_dir} at the same path on every worker "
                        "(the notebooks train on it): put it on a shared file system or copy it there")
    return problems
