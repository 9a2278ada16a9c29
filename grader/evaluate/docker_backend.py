"""The Docker sandbox: the runtime image (see image.py) with no network, a
read-only root, a memory cgroup (no swap), a CPU quota, a pids limit, no
capabilities, no new privileges, running as nobody, and a wall-clock timeout.
The container is always removed.
"""

from __future__ import annotations

import time
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
        return True, ""

    def _container_options(self, job_dir: Path, submission_dir: Path, inputs_dir: Path,
                           output_dir: Path, limits: SandboxLimits) -> dict:
        from docker.types import LogConfig, Ulimit

        output_bytes = limits.output_max_mb * 1024 * 1024
        return dict(
            image=self.image,
            command=RUNNER_COMMAND,
            volumes={
                str(Path(submission_dir).resolve()): {"bind": SUBMISSION_MOUNT, "mode": "ro"},
                str(Path(inputs_dir).resolve()): {"bind": INPUTS_MOUNT, "mode": "ro"},
                str(Path(job_dir).resolve()): {"bind": JOB_MOUNT, "mode": "ro"},
                str(Path(output_dir).resolve()): {"bind": OUTPUT_MOUNT, "mode": "rw"},
            },
            network_mode="none",
            mem_limit=f"{limits.memory_mb}m",
            memswap_limit=f"{limits.memory_mb}m",   # equal: no swap
            nano_cpus=int(limits.cpus * 1e9),
            pids_limit=limits.pids,
            read_only=True,
            tmpfs={"/tmp": f"rw,nosuid,nodev,size={limits.tmpfs_mb}m,mode=1777"},
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
            labels={"org.dl-autograder.role": "sandbox"},
            detach=True,
        )

    def run(self, job_dir: Path, submission_dir: Path, inputs_dir: Path, output_dir: Path,
            limits: SandboxLimits) -> SandboxRun:
        import docker
        import requests

        output_dir.chmod(0o777)   # the container writes as nobody
        started = time.monotonic()
        container = None
        try:
            container = self.client().containers.create(
                **self._container_options(job_dir, submission_dir, inputs_dir, output_dir, limits))
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


def _tail(data: bytes) -> str:
    return data[-TAIL_BYTES:].decode("utf-8", errors="replace")
