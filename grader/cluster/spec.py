"""What ``--cluster`` names: a running scheduler, N local worker processes, or Slurm."""

from __future__ import annotations

import re
from dataclasses import dataclass

from grader.cluster.errors import ClusterError

_HOST_PORT = re.compile(r"^[A-Za-z0-9_.\-\[\]:]+:\d{1,5}$")
_SCHEMES = ("tcp://", "tls://")
MAX_LOCAL_WORKERS = 64


@dataclass(frozen=True)
class ClusterSpec:
    kind: str                  # "address" | "local" | "slurm"
    address: str = ""          # the scheduler's, for "address"
    workers: int = 0           # worker processes, for "local"

    def describe(self) -> str:
        if self.kind == "local":
            return f"a local Dask cluster of {self.workers} worker process(es)"
        if self.kind == "slurm":
            return "Dask workers started as Slurm jobs"
        return f"the Dask scheduler at {self.address}"


def parse_cluster(text: str) -> ClusterSpec:
    """``tcp://host:8786`` (or ``host:8786``), ``local:N`` or ``slurm``."""
    value = text.strip()
    if value == "slurm":
        return ClusterSpec("slurm")
    if value.startswith("local:"):
        count = value.removeprefix("local:")
        if not count.isdigit() or not 1 <= int(count) <= MAX_LOCAL_WORKERS:
            raise ClusterError(f"--cluster {text!r}: write local:N with N from 1 to {MAX_LOCAL_WORKERS} "
                               "worker processes, e.g. local:2")
        return ClusterSpec("local", workers=int(count))
    if value.startswith(_SCHEMES):
        rest = value.split("://", 1)[1]
        if _HOST_PORT.match(rest):
            return ClusterSpec("address", address=value)
    elif _HOST_PORT.match(value):
        return ClusterSpec("address", address=f"tcp://{value}")
    raise ClusterError(f"--cluster {text!r}: give a running Dask scheduler's address (tcp://host:8786), "
                       "local:N (N worker processes on this machine) or slurm (workers as Slurm jobs, "
                       "set up in grade.toml's [cluster] table)")
