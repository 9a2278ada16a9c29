"""From ``--cluster`` to a checked executor: the CLI's one call."""

from __future__ import annotations

from pathlib import Path

from grader.cluster.config import cluster_options
from grader.cluster.errors import ClusterError
from grader.cluster.executor import ClusterExecutor
from grader.cluster.probe import check_workers
from grader.cluster.spec import parse_cluster
from grader.cluster.start import start_cluster


def open_executor(text: str, table: dict | None, table_source: str, sandbox_cpus: float, sandbox_name: str,
                  rerun_data_dir: Path | None, out_dir: Path) -> ClusterExecutor:
    """Start or reach the cluster ``text`` names and check its workers; raises ClusterError."""
    spec = parse_cluster(text)
    options = cluster_options(table, table_source)
    connection = start_cluster(spec, options, sandbox_cpus,
                               log_directory=Path(out_dir).resolve() / "cluster-logs" if spec.kind == "slurm" else None)
    try:
        workers = check_workers(connection.client, sandbox_name, str(rerun_data_dir) if rerun_data_dir else None)
    except BaseException:
        connection.close()
        raise
    return ClusterExecutor(connection, sandbox_name, workers)


__all__ = ["ClusterError", "open_executor"]
