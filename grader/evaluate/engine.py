"""Make sure a Docker engine answers, starting ``dockerd`` when we may.

CI machines come with Docker installed but not running; ``python -m
grader.evaluate.engine`` starts it (as root) and waits until it answers.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def engine_answers(timeout: float = 10.0) -> bool:
    """Whether ``docker info`` succeeds (the CLI, so no SDK is needed)."""
    if not shutil.which("docker"):
        return False
    try:
        done = subprocess.run(["docker", "info"], capture_output=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return False
    return done.returncode == 0


def ensure_docker_engine(timeout: float = 60.0) -> bool:
    """True when an engine answers; starts dockerd in the background first when
    none does and we are root. Waits up to ``timeout`` seconds for it."""
    if engine_answers():
        return True
    if os.geteuid() != 0 or not shutil.which("dockerd"):
        return False
    log_path = Path(tempfile.gettempdir()) / "grader-dockerd.log"
    with open(log_path, "ab") as log:
        subprocess.Popen(
            ["dockerd"], stdin=subprocess.DEVNULL, stdout=log, stderr=log, start_new_session=True
        )
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if engine_answers():
            return True
        time.sleep(1.0)
    return False


if __name__ == "__main__":
    if ensure_docker_engine():
        print("docker engine is running")
        sys.exit(0)
    print("no docker engine: install docker.io and run this as root, or start dockerd yourself", file=sys.stderr)
    sys.exit(1)
