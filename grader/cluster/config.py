"""The ``[cluster]`` table of a class folder's grade.toml: how ``--cluster slurm`` asks
Slurm for workers (each Slurm job is one Dask worker with its own sandboxes).

    [cluster]
    queue = "batch"             # the partition (sbatch -p)
    account = "dsc650"          # optional (sbatch -A)
    cores = 4                   # per job: CPUs for its sandboxes
    memory = "16GB"             # per job
    walltime = "02:00:00"       # per job
    workers = 8                 # jobs to start
    sandboxes = 4               # sandboxes each worker runs at once (default: cores / the rubric's cpus)
    interface = "ib0"           # optional: the network the scheduler and the workers share
    local_directory = "/tmp"    # optional: each worker's scratch folder (archives are unpacked there)
    job_extra = ["--constraint=avx2"]   # optional: more #SBATCH lines
    start_timeout = 600         # seconds to wait for the first worker (jobs may queue)
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from grader.cluster.errors import ClusterError


class ClusterOptions(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    queue: str | None = None
    account: str | None = None
    cores: int = Field(default=2, ge=1, le=1024)
    memory: str = "8GB"
    walltime: str = "02:00:00"
    workers: int = Field(default=2, ge=1, le=10_000)
    sandboxes: int | None = Field(default=None, ge=1, le=1024)
    interface: str | None = None
    local_directory: str | None = None
    python: str | None = None          # the Python on the nodes (default: this one, a shared install)
    job_extra: list[str] = Field(default_factory=list)
    start_timeout: int = Field(default=600, ge=1)

    def sandboxes_per_worker(self, sandbox_cpus: float) -> int:
        return self.sandboxes or max(1, int(self.cores // max(sandbox_cpus, 1.0)))


def cluster_options(table: dict | None, source: str = "grade.toml") -> ClusterOptions:
    """grade.toml's [cluster] table, checked: an error names the key and what it must be."""
    try:
        return ClusterOptions(**(table or {}))
    except (ValidationError, TypeError) as exc:
        details = "; ".join(f"{'.'.join(map(str, e['loc'])) or 'cluster'}: {e['msg']}"
                            for e in getattr(exc, "errors", lambda: [])()) or str(exc)
        raise ClusterError(f"{source}: [cluster] {details} (keys: {', '.join(ClusterOptions.model_fields)})") \
            from None
