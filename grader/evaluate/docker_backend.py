"""The Docker sandbox: the runtime image (see image.py) with no network, a
read-only root, a memory cgroup (no swap), a CPU quota, a pids limit, no
capabilities, no new privileges, running as nobody, and a wall-clock timeout.
The container is always removed.

A container must not outlive the grader that started it, even one killed
with ``kill -9`` (no cleanup code runs then). So every container is labelled
with its run (run id, host, pid, the pid's start time), its command runs under
runtime/watchdog.py, which stops it when the grader stops renewing a lease
file (a read-only bind mount the grader touches every few seconds), and the
first Docker use of each grader process removes the containers of runs whose
process is gone (:func:`reap_leftover_containers`).
"""

from __future__ import annotations

import os
import shutil
import socket
import tempfile
import threading
import time
import uuid
from pathlib import Path

from grader.evaluate.sandbox import (
    DEFAULT_IMAGE,
    INPUTS_MOUNT,
    JOB_MOUNT,
    OUTPUT_MOUNT,
    RUNNER_COMMAND,
    SANDBOX_GID,
    SANDBOX_UID,
    SUBMISSION_MOUNT,
    TAIL_BYTES,
    SandboxRun,
    SandboxUnavailable,
)
from grader.limits import SandboxLimits

LOG_LINES = 400
ENGINE_TIMEOUT = 60  # seconds for one API call other than wait()

WATCHDOG = Path(__file__).resolve().parent / "runtime" / "watchdog.py"
CONTROL_MOUNT = "/control"          # the watchdog and its lease file, read-only
LEASE_SECONDS = 20                  # a container stops this long after its grader died
HEARTBEAT_SECONDS = 2               # how often the grader renews the lease
LEASE_PREFIX = "dl-autograder-lease-"

LABEL = "org.dl-autograder"
ROLE_LABEL, RUN_LABEL = f"{LABEL}.role", f"{LABEL}.run"
HOST_LABEL, PID_LABEL, PID_START_LABEL, BOOT_LABEL = (f"{LABEL}.host", f"{LABEL}.pid", f"{LABEL}.pid-start",
                                                      f"{LABEL}.boot")

_run_ids: dict[int, str] = {}
_reaped_in: set[int] = set()
_reap_lock = threading.Lock()


def run_id() -> str:
    """This grader process's run id (a forked child gets its own)."""
    pid = os.getpid()
    if pid not in _run_ids:
        _run_ids[pid] = f"{socket.gethostname()}-{pid}-{uuid.uuid4().hex[:8]}"
    return _run_ids[pid]


def run_labels() -> dict[str, str]:
    """What ties a container to the process that started it, on this host."""
    pid = os.getpid()
    return {ROLE_LABEL: "sandbox", RUN_LABEL: run_id(), HOST_LABEL: socket.gethostname(), PID_LABEL: str(pid),
            PID_START_LABEL: _process_start(pid) or "", BOOT_LABEL: _boot_id()}


def _process_start(pid: int) -> str | None:
    """The process's start time in clock ticks since boot (/proc/PID/stat field
    22): a pid reused by another process has another start time."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return stat.rsplit(")", 1)[-1].split()[19]


def _boot_id() -> str:
    try:
        return Path("/proc/sys/kernel/random/boot_id").read_text().strip()
    except OSError:
        return ""


def run_is_gone(labels: dict[str, str]) -> bool:
    """Whether the grader process a container's labels name no longer runs.
    Only for containers started on this host (the pid means nothing elsewhere)."""
    pid = labels.get(PID_LABEL, "")
    if not pid.isdigit():
        return True
    if labels.get(BOOT_LABEL) and labels[BOOT_LABEL] != _boot_id():
        return True
    start = _process_start(int(pid))
    return start is None or start != labels.get(PID_START_LABEL)


def reap_leftover_containers(client) -> list[str]:
    """Kill and remove the sandbox containers that earlier, dead runs on this
    host left behind; a container from before runs were labelled is removed
    once it has stopped. Returns the removed containers' names."""
    import docker
    import requests

    removed = []
    for container in client.containers.list(all=True, filters={"label": f"{ROLE_LABEL}=sandbox"}):
        labels = container.labels or {}
        if RUN_LABEL in labels:
            if labels.get(HOST_LABEL) != socket.gethostname() or labels[RUN_LABEL] == run_id():
                continue
            if not run_is_gone(labels):
                continue
        elif container.status == "running":
            continue   # no owner to ask: leave a running one alone
        try:
            container.remove(force=True)
            removed.append(container.name)
        except (docker.errors.DockerException, requests.exceptions.RequestException):
            continue   # removed meanwhile, or the engine is busy: the next start tries again
    _remove_stale_leases()
    return removed


def _remove_stale_leases() -> None:
    """Lease folders nobody renews any more (their grader died): their
    containers have stopped, so the folders are only litter in /tmp."""
    for folder in Path(tempfile.gettempdir()).glob(f"{LEASE_PREFIX}*"):
        try:
            stale = time.time() - (folder / "lease").stat().st_mtime > 3 * LEASE_SECONDS
        except OSError:
            stale = time.time() - folder.stat().st_mtime > 3 * LEASE_SECONDS if folder.exists() else False
        if stale:
            shutil.rmtree(folder, ignore_errors=True)


def _reap_once(client) -> None:
    """Reap at this process's first use of Docker, once."""
    with _reap_lock:
        if os.getpid() in _reaped_in:
            return
        _reaped_in.add(os.getpid())
    import docker
    import requests

    try:
        reap_leftover_containers(client)
    except (docker.errors.DockerException, requests.exceptions.RequestException):
        pass   # reaping is housekeeping: it must not stop the run


class Lease:
    """The file the container's watchdog watches, renewed by a thread while
    the grader waits; removing it (or the grader dying) stops the container."""

    def __init__(self) -> None:
        self.folder = Path(tempfile.mkdtemp(prefix=LEASE_PREFIX))
        self.folder.chmod(0o755)            # the watchdog runs as nobody
        shutil.copyfile(WATCHDOG, self.folder / WATCHDOG.name)
        self.file = self.folder / "lease"
        self.file.touch()
        for path in (self.file, self.folder / WATCHDOG.name):
            path.chmod(0o644)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._renew, daemon=True, name="sandbox-lease")
        self._thread.start()

    def _renew(self) -> None:
        while not self._stop.wait(HEARTBEAT_SECONDS):
            try:
                os.utime(self.file)
            except OSError:
                return

    def command(self, command: list[str]) -> list[str]:
        return ["python3", f"{CONTROL_MOUNT}/{WATCHDOG.name}", f"{CONTROL_MOUNT}/lease", str(LEASE_SECONDS),
                "--", *command]

    def end(self) -> None:
        self._stop.set()
        shutil.rmtree(self.folder, ignore_errors=True)


class DockerSandbox:
    name = "docker"

    def __init__(self, image: str = DEFAULT_IMAGE) -> None:
        self.image = image
        self._client = None

    def client(self):
        if self._client is None:
            import docker

            self._client = docker.from_env(timeout=ENGINE_TIMEOUT)
        return self._client

    def available(self) -> tuple[bool, str]:
        try:
            import docker
        except ImportError:
            return False, "the docker Python package is missing (pip install docker)"
        try:
            self.client().ping()
        except Exception as exc:  # noqa: BLE001 - any failure means no engine
            self._client = None
            return False, f"no Docker engine answers ({exc.__class__.__name__}); start dockerd"
        try:
            self.client().images.get(self.image)
        except docker.errors.ImageNotFound:
            return False, f"the runtime image {self.image} is missing; build it with `grade image build`"
        except docker.errors.APIError as exc:
            return False, f"the Docker engine failed to answer about {self.image}: {exc.explanation}"
        _reap_once(self.client())   # the start of a run: clear what dead runs left
        return True, ""

    def _container_options(self, job_dir: Path, submission_dir: Path, inputs_dir: Path,
                           output_dir: Path, limits: SandboxLimits, lease: Lease) -> dict:
        from docker.types import LogConfig, Ulimit

        output_bytes = limits.output_max_mb * 1024 * 1024
        return dict(
            image=self.image,
            command=lease.command(RUNNER_COMMAND),
            volumes={
                str(Path(submission_dir).resolve()): {"bind": SUBMISSION_MOUNT, "mode": "ro"},
                str(Path(inputs_dir).resolve()): {"bind": INPUTS_MOUNT, "mode": "ro"},
                str(Path(job_dir).resolve()): {"bind": JOB_MOUNT, "mode": "ro"},
                str(Path(output_dir).resolve()): {"bind": OUTPUT_MOUNT, "mode": "rw"},
                str(lease.folder.resolve()): {"bind": CONTROL_MOUNT, "mode": "ro"},
            },
            network_mode="none",
            mem_limit=f"{limits.memory_mb}m",
            memswap_limit=f"{limits.memory_mb}m",   # equal: no swap
            nano_cpus=int(limits.cpus * 1e9),
            pids_limit=limits.pids,
            read_only=True,
            tmpfs={"/tmp": f"rw,nosuid,nodev,size={limits.tmpfs_mb}m,mode=1777"},
            shm_size=f"{limits.shm_mb}m",
            user=f"{SANDBOX_UID}:{SANDBOX_GID}",
            cap_drop=["ALL"],
            security_opt=["no-new-privileges"],
            ulimits=[Ulimit(name="core", soft=0, hard=0),
                     Ulimit(name="fsize", soft=output_bytes, hard=output_bytes)],
            environment={
                "HOME": "/tmp", "TMPDIR": "/tmp", "TF_CPP_MIN_LOG_LEVEL": "2",
                "CUDA_VISIBLE_DEVICES": "-1", "KERAS_HOME": "/tmp/.keras", "MPLCONFIGDIR": "/tmp",
                "PYTHONDONTWRITEBYTECODE": "1",
            },
            working_dir="/tmp",
            # A model that prints without end must not fill the host's disk.
            log_config=LogConfig(type="json-file", config={"max-size": "1m", "max-file": "1"}),
            labels=run_labels(),
            detach=True,
        )

    def run(self, job_dir: Path, submission_dir: Path, inputs_dir: Path, output_dir: Path,
            limits: SandboxLimits) -> SandboxRun:
        import docker
        import requests

        output_dir.chmod(0o777)   # the container writes as nobody
        started = time.monotonic()
        container = None
        lease = Lease()
        try:
            _reap_once(self.client())
            container = self.client().containers.create(
                **self._container_options(job_dir, submission_dir, inputs_dir, output_dir, limits, lease))
            container.start()
            timed_out = False
            try:
                container.wait(timeout=limits.timeout_seconds)
            except (requests.exceptions.ReadTimeout, requests.exceptions.ConnectionError):
                timed_out = True
                container.kill()
                container.wait(timeout=ENGINE_TIMEOUT)
            seconds = time.monotonic() - started
            container.reload()
            state = container.attrs.get("State", {})
            return SandboxRun(
                exit_code=state.get("ExitCode"),
                timed_out=timed_out,
                oom_killed=bool(state.get("OOMKilled")) and not timed_out,
                seconds=round(seconds, 3),
                stdout_tail=_tail(container.logs(stdout=True, stderr=False, tail=LOG_LINES)),
                stderr_tail=_tail(container.logs(stdout=False, stderr=True, tail=LOG_LINES)),
            )
        except (docker.errors.DockerException, requests.exceptions.RequestException) as exc:
            raise SandboxUnavailable(f"the Docker engine failed while running the sandbox: {exc}") from None
        finally:
            if container is not None:
                try:
                    container.remove(force=True)
                except (docker.errors.DockerException, requests.exceptions.RequestException):
                    pass
            lease.end()


def _tail(data: bytes) -> str:
    return data[-TAIL_BYTES:].decode("utf-8", errors="replace")
