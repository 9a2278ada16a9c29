"""The one error a cluster set-up raises: its message names what to do."""


class ClusterError(RuntimeError):
    """The cluster cannot grade: no scheduler, no worker, a worker without a sandbox..."""
