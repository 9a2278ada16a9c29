"""Grading a class on a Dask cluster (``grade DIR --cluster ADDRESS|local:N|slurm``).

The coordinator (the ``grade`` process) keeps everything that decides what is
graded and what is kept: the resume keys, the records, the reports, the class
outputs. Dask workers, each with its own sandbox, do the grading itself:

- ``spec``: what ``--cluster`` names; ``config``: grade.toml's ``[cluster]`` table (Slurm);
- ``start``: connect to a scheduler, or start a LocalCluster or a SLURMCluster, and
  check every worker before anything is submitted (``probe``);
- ``context``: the rubric, the held-out test data and the sandbox choice, sent once
  to each worker as a Dask worker plugin;
- ``task``: what a worker does with one archive (sent as bytes): grade it, render its
  outputs into a scratch folder and send the files back;
- ``executor``: one Dask task per archive, keyed by its resume key; retries, worker
  deaths, a lost scheduler and Ctrl-C; the coordinator writes each result as it arrives
  (``store``);
- ``session``: the CLI's one call, from ``--cluster`` to a checked executor.
"""

from grader.cluster.errors import ClusterError
from grader.cluster.executor import ClusterExecutor
from grader.cluster.spec import ClusterSpec, parse_cluster
from grader.cluster.start import start_cluster

__all__ = ["ClusterError", "ClusterExecutor", "ClusterSpec", "parse_cluster", "start_cluster"]
