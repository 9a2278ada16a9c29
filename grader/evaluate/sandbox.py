"""One interface for the sandboxes that load and run students' models.

Loading a student's Keras file can run the student's code (Lambda layers in
legacy .h5 files carry marshalled bytecode, SavedModels carry graph ops, and
safe_mode has known bypasses), so the grader loads models only inside a
sandbox and treats what comes back as untrusted data.

Every backend runs ``python3 /job/runner.py /job/job.json`` with the same view:

    /submission  the student's files, read-only
    /inputs      the test images (never their labels) and ImageNet files, read-only
    /job         job.json and runner.py, read-only
    /output      the one writable folder
    /tmp         a small tmpfs

and enforces ``grader.limits.SandboxLimits``: wall-clock timeout, memory,
CPU, process count, no network.
"""

from __future__ import annotations

import collections
import math
import os
import resource
import signal
import subprocess
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Protocol, runtime_checkable

from grader import __version__
from grader.limits import SandboxLimits

DEFAULT_IMAGE = f"dl-autograder-runtime:{__version__}"
DEFAULT_BASE_IMAGE = "python:3.11-slim"

# The paths every backend shows the runner.
SUBMISSION_MOUNT = "/submission"
INPUTS_MOUNT = "/inputs"
JOB_MOUNT = "/job"
OUTPUT_MOUNT = "/output"
RUNNER_COMMAND = ["python3", f"{JOB_MOUNT}/runner.py", f"{JOB_MOUNT}/job.json"]

# The uid/gid the sandboxed runner runs as (nobody), in Docker and bwrap alike.
SANDBOX_UID = 65534
SANDBOX_GID = 65534

TAIL_BYTES = 16 * 1024  # how much of the runner's stdout/stderr is kept


class SandboxUnavailable(RuntimeError):
    """No sandbox can run here; the message says what to install or build."""


@dataclass
class SandboxRun:
    """How one sandboxed run ended. The output folder holds the rest."""

    exit_code: int | None
    timed_out: bool
    oom_killed: bool
    seconds: float
    stdout_tail: str = ""
    stderr_tail: str = ""


@runtime_checkable
class Sandbox(Protocol):
    name: str

    def available(self) -> tuple[bool, str]:
        """(True, "") when this backend can run here, else (False, why not)."""
        ...

    def run(
        self,
        job_dir: Path,
        submission_dir: Path,
        inputs_dir: Path,
        output_dir: Path,
        limits: SandboxLimits,
    ) -> SandboxRun:
        """Run the runner once over the job; never raises for what the job does."""
        ...


def choose_backend(name: str = "auto", image: str = DEFAULT_IMAGE, runtime: str | None = None) -> Sandbox:
    """The sandbox to use: "docker", "bwrap", "none" or "auto".

    "auto" takes Docker when an engine answers and the runtime image exists,
    else bubblewrap when it works, else raises SandboxUnavailable naming both.
    "none" is never chosen automatically. ``runtime`` (a name from
    grader/evaluate/runtimes.py, e.g. "keras2") picks that runtime's image and
    host Python instead; "none" has only the grader's own.
    """
    from grader.evaluate.bwrap_backend import BwrapSandbox
    from grader.evaluate.docker_backend import DockerSandbox
    from grader.evaluate.local_backend import LocalSandbox

    python = None
    if runtime is not None:
        from grader.evaluate.runtimes import DEFAULT_RUNTIME, get

        chosen = get(runtime)
        image, python = chosen.image, chosen.host_python()
        if runtime != DEFAULT_RUNTIME and name == "none":
            raise SandboxUnavailable(f"the none sandbox runs the grader's own Python, not the {runtime} runtime")
    named: dict[str, Sandbox] = {
        "docker": DockerSandbox(image=image),
        "bwrap": BwrapSandbox(python=python),
        "none": LocalSandbox(),
    }
    for sandbox in named.values():
        sandbox.runtime = runtime or "keras3"   # which runtime it runs, for the re-run's report
    if name != "auto":
        if name not in named:
            raise SandboxUnavailable(f"unknown sandbox {name!r}; choose auto, docker, bwrap or none")
        sandbox = named[name]
        ok, why = sandbox.available()
        if not ok:
            raise SandboxUnavailable(f"the {name} sandbox cannot run here: {why}")
        return sandbox

    reasons = []
    for candidate in ("docker", "bwrap"):
        ok, why = named[candidate].available()
        if ok:
            return named[candidate]
        reasons.append(f"{candidate}: {why}")
    raise SandboxUnavailable(
        "no sandbox is available to load the students' models safely ("
        + "; ".join(reasons)
        + "). Either start Docker and run `grade image build` to build the runtime image, "
        "or install bubblewrap (`apt-get install bubblewrap`). "
        "To check your own work without either, pass --sandbox none (unsafe for others' files)."
    )


# ----------------------------------------------------------- shared helpers


class TailReader:
    """Drains a pipe in a thread, keeping only its last ``limit`` bytes, so a
    model that prints without end can neither block the runner nor fill memory."""

    def __init__(self, stream: IO[bytes], limit: int = TAIL_BYTES) -> None:
        self._stream = stream
        self._limit = limit
        self._chunks: collections.deque[bytes] = collections.deque()
        self._size = 0
        self._thread = threading.Thread(target=self._drain, daemon=True)
        self._thread.start()

    def _drain(self) -> None:
        for chunk in iter(lambda: self._stream.read(8192), b""):
            self._chunks.append(chunk)
            self._size += len(chunk)
            while self._size - len(self._chunks[0]) >= self._limit:
                self._size -= len(self._chunks.popleft())

    def text(self, join_timeout: float = 5.0) -> str:
        self._thread.join(join_timeout)
        data = b"".join(self._chunks)[-self._limit:]
        return data.decode("utf-8", errors="replace")


def kill_process_group(process: subprocess.Popen) -> None:
    """SIGKILL the whole process group the sandbox was started in."""
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    try:
        process.kill()
    except ProcessLookupError:
        pass


def memory_error_in(text: str) -> bool:
    """Whether a runner's stderr shows it died for want of memory (rlimit backends)."""
    markers = ("MemoryError", "std::bad_alloc", "Cannot allocate memory", "out of memory")
    return any(marker in text for marker in markers)


# RLIMIT_DATA (private writable memory: the heap, anonymous mmaps) is the
# memory cap of the rlimit backends: TensorFlow reserves far more address space
# than it uses (measured: VmPeak 2.5 GB, VmData 1.0 GB for ResNet50 inference
# with 8 threads), so RLIMIT_AS at memory_mb would stop models that fit. AS is
# kept only as a backstop, with room for TF's reservations and per-thread arenas.
ADDRESS_SPACE_FLOOR_MB = 8192
ADDRESS_SPACE_PER_CPU_MB = 256


def address_space_mb(limits: SandboxLimits) -> int:
    return max(2 * limits.memory_mb, ADDRESS_SPACE_FLOOR_MB + ADDRESS_SPACE_PER_CPU_MB * (os.cpu_count() or 1))


def cpu_seconds(limits: SandboxLimits) -> int:
    """CPU-time budget: the wall-clock timeout times the CPUs allowed."""
    return math.ceil(limits.timeout_seconds * max(limits.cpus, 1.0)) + 5


def set_rlimits(limits: SandboxLimits, nproc: int | None) -> None:
    """Called in the child before exec (preexec_fn): memory, CPU time, file
    size, no core dumps, and (when given) the process count."""
    mb = 1024 * 1024
    rules = {
        resource.RLIMIT_DATA: limits.memory_mb * mb,
        resource.RLIMIT_AS: address_space_mb(limits) * mb,
        resource.RLIMIT_CPU: cpu_seconds(limits),
        resource.RLIMIT_FSIZE: limits.output_max_mb * mb,
        resource.RLIMIT_CORE: 0,
    }
    if nproc is not None:
        rules[resource.RLIMIT_NPROC] = nproc
    for rule, value in rules.items():
        hard = value + 5 if rule == resource.RLIMIT_CPU else value
        resource.setrlimit(rule, (value, hard))


def ended_by(returncode: int | None, *signals: int) -> bool:
    """Whether a process (or bwrap, which reports 128+N) died by one of ``signals``."""
    if returncode is None:
        return False
    return any(returncode in (-sig, 128 + sig) for sig in signals)


def _exited_by(process: subprocess.Popen, deadline: float) -> bool:
    """Wait until the process exits (without reaping it) or the deadline passes."""
    while True:
        if os.waitid(os.P_PID, process.pid, os.WEXITED | os.WNOWAIT | os.WNOHANG) is not None:
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.1)


def run_with_deadline(command: list[str], limits: SandboxLimits, **popen) -> SandboxRun:
    """Run ``command`` in a new session with a wall-clock deadline; on timeout
    SIGKILL its whole process group. For the rlimit backends (bwrap, none)."""
    started = time.monotonic()
    process = subprocess.Popen(
        command, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        start_new_session=True, **popen,
    )
    stdout, stderr = TailReader(process.stdout), TailReader(process.stderr)
    timed_out = not _exited_by(process, started + limits.timeout_seconds)
    # The leader is not reaped yet, so its group id is still ours to kill; this
    # also ends anything the runner left behind.
    kill_process_group(process)
    process.wait()
    stderr_text = stderr.text()
    code = process.returncode
    out_of_cpu = ended_by(code, signal.SIGXCPU)
    return SandboxRun(
        exit_code=code,
        timed_out=timed_out or out_of_cpu,
        oom_killed=not timed_out and code != 0 and memory_error_in(stderr_text),
        seconds=round(time.monotonic() - started, 3),
        stdout_tail=stdout.text(),
        stderr_tail=stderr_text + ("\n[the CPU-time limit was reached]" if out_of_cpu else ""),
    )
