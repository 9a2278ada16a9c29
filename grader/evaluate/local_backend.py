"""The "none" sandbox: the runner in a plain subprocess of the host's Python,
with only resource limits and the timeout. A model's code can read and write
the user's files and use the network. Meant for a student checking their own
work on a machine with neither Docker nor bubblewrap; never chosen by "auto".
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import warnings
from pathlib import Path

from grader.evaluate.sandbox import SandboxRun, run_with_deadline, set_rlimits
from grader.limits import SandboxLimits

UNSAFE_WARNING = (
    "NO SANDBOX: models run as plain Python with your permissions; a model's code can read and "
    "write your files and use the network. Use --sandbox none only for your own models."
)


class UnsafeSandboxWarning(UserWarning):
    """Raised (as a warning) every time models run without a sandbox."""


class LocalSandbox:
    name = "none"

    def available(self) -> tuple[bool, str]:
        check = [sys.executable, "-c", "import importlib.util as u; "
                 "raise SystemExit(0 if u.find_spec('tensorflow') and u.find_spec('tf_keras') else 1)"]
        if subprocess.run(check, capture_output=True).returncode != 0:
            return False, "the host Python has no TensorFlow/tf_keras: pip install 'dl-autograder[tf]'"
        return True, ""

    def run(self, job_dir: Path, submission_dir: Path, inputs_dir: Path, output_dir: Path,
            limits: SandboxLimits) -> SandboxRun:
        warnings.warn(UNSAFE_WARNING, UnsafeSandboxWarning, stacklevel=2)
        print(f"WARNING: {UNSAFE_WARNING}", file=sys.stderr)
        scratch = Path(tempfile.mkdtemp(prefix="grader-none-"))
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "HOME": str(scratch), "TMPDIR": str(scratch), "LANG": "C.UTF-8",
            "TF_CPP_MIN_LOG_LEVEL": "2", "CUDA_VISIBLE_DEVICES": "-1",
            "KERAS_HOME": str(scratch / ".keras"), "MPLCONFIGDIR": str(scratch),
            "GRADER_SUBMISSION": str(submission_dir), "GRADER_INPUTS": str(inputs_dir),
            "GRADER_OUTPUT": str(output_dir),
        }
        command = [sys.executable, "-s", str(job_dir / "runner.py"), str(job_dir / "job.json")]
        # RLIMIT_NPROC counts all of the user's processes, so it is not set here.
        try:
            return run_with_deadline(command, limits, env=env, cwd=scratch,
                                     preexec_fn=lambda: set_rlimits(limits, None))
        finally:
            shutil.rmtree(scratch, ignore_errors=True)
