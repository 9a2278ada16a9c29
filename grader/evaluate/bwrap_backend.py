"""The bubblewrap sandbox: the host's own Python and TensorFlow, in new
namespaces that see only the system libraries, the Python installation, the
three read-only folders and the one writable output folder.

No network (a new network namespace holds only its own loopback), no other
processes (a new pid namespace), no host files beyond the read-only binds,
and resource limits set with setrlimit before exec:

- memory: RLIMIT_DATA = memory_mb (see ``sandbox.ADDRESS_SPACE_FLOOR_MB`` for
  why not RLIMIT_AS, which is kept only as a backstop);
- CPU time: RLIMIT_CPU = timeout x cpus; wall clock: the whole process group
  is killed at the timeout;
- processes: RLIMIT_NPROC = pids. The kernel exempts uid 0 from RLIMIT_NPROC,
  so when the grader runs as root, bwrap runs without a user namespace and
  ``setpriv`` drops the runner to the real uid 65534 (nobody) on the host, where
  the limit holds. As another user, bwrap makes a user namespace
  (``--unshare-all``) and the limit counts that user's processes.
"""

from __future__ import annotations

import os
import shutil
import site
import subprocess
import sys
from pathlib import Path

from grader.evaluate.sandbox import (
    INPUTS_MOUNT,
    JOB_MOUNT,
    OUTPUT_MOUNT,
    SANDBOX_GID,
    SANDBOX_UID,
    SUBMISSION_MOUNT,
    SandboxRun,
    run_with_deadline,
    set_rlimits,
)
from grader.limits import SandboxLimits

# What the dynamic linker and Python need from /etc, and nothing else of it.
ETC_FILES = ("/etc/ld.so.cache", "/etc/ld.so.conf", "/etc/ld.so.conf.d", "/etc/localtime",
             "/etc/passwd", "/etc/group", "/etc/nsswitch.conf")
MERGED_USR_DIRS = ("/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32")
SETPRIV = "/usr/bin/setpriv"
SANDBOX_TMP = "/tmp"   # a private tmpfs in the sandbox

_probe_cache: dict[str, tuple[bool, str]] = {}


def python_dirs() -> list[str]:
    """The host Python's installation and site-packages, outermost first."""
    candidates = {sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix,
                  str(Path(sys.executable).resolve().parent.parent)}
    candidates.update(site.getsitepackages())
    # Site folders a .pth file put on the path (a venv that reuses another's packages).
    candidates.update(p for p in sys.path if os.path.basename(p) in ("site-packages", "dist-packages"))
    user_site = site.getusersitepackages()
    if isinstance(user_site, str):
        candidates.add(user_site)
    existing = sorted({os.path.realpath(p) for p in candidates if os.path.isdir(p)})
    outermost: list[str] = []
    for path in existing:   # sorted, so a parent comes before its children
        if not any(path == kept or path.startswith(kept + os.sep) for kept in outermost):
            outermost.append(path)
    return outermost


def _parent_dirs(paths: list[str]) -> list[str]:
    """``--dir`` for every parent of ``paths``, world-readable: the folders bwrap
    would make on its own are 0700, which the runner (nobody) cannot enter."""
    parents: list[str] = []
    for path in paths:
        for parent in reversed(Path(path).parents):
            if str(parent) != "/" and str(parent) not in parents:
                parents.append(str(parent))
    args = []
    for parent in parents:
        args += ["--perms", "0755", "--dir", parent]
    return args


def _system_binds(extra_prefixes: tuple[str, ...] = ()) -> list[str]:
    args = ["--ro-bind", "/usr", "/usr"]
    for path in MERGED_USR_DIRS:
        if os.path.islink(path):
            args += ["--symlink", os.readlink(path), path]
        elif os.path.isdir(path):
            args += ["--ro-bind", path, path]
    etc_files = [path for path in ETC_FILES if os.path.exists(path)]
    prefixes = [path for path in _python_prefixes(extra_prefixes) if not _under_tmp(path)]
    args += _parent_dirs(etc_files + prefixes)
    for path in etc_files:
        args += ["--ro-bind", path, path]
    for path in prefixes:
        args += ["--ro-bind", path, path]
    return args


def _python_prefixes(extra_prefixes: tuple[str, ...]) -> list[str]:
    return [path for path in [*python_dirs(), *extra_prefixes] if not path.startswith("/usr/")]


def _under_tmp(path: str) -> bool:
    return path.startswith(SANDBOX_TMP + "/")


def _binds_under_tmp(extra_prefixes: tuple[str, ...] = ()) -> list[str]:
    """The Python folders under /tmp (the .venv of a clone in /tmp). bwrap
    applies its mounts in order, so they are bound after the sandbox's own
    tmpfs at /tmp, which would otherwise hide them."""
    prefixes = [path for path in _python_prefixes(extra_prefixes) if _under_tmp(path)]
    parents = _parent_dirs(prefixes)
    args = []
    for i in range(0, len(parents), 4):   # "--perms 0755 --dir <parent>"; /tmp is the tmpfs
        if parents[i + 3] != SANDBOX_TMP:
            args += parents[i:i + 4]
    for path in prefixes:
        args += ["--ro-bind", path, path]
    return args


class BwrapSandbox:
    name = "bwrap"

    def __init__(self, bwrap: str = "bwrap", python: str | None = None) -> None:
        self.bwrap = bwrap
        # Another runtime's host Python (a venv, grader/evaluate/runtimes.py); None: this one.
        self.python = python or sys.executable

    def _python_prefixes(self) -> tuple[str, ...]:
        if self.python == sys.executable:
            return ()
        return (os.path.realpath(Path(self.python).parent.parent),)

    @property
    def as_root(self) -> bool:
        return os.geteuid() == 0

    def available(self) -> tuple[bool, str]:
        key = f"{self.bwrap}\0{self.python}"
        if key in _probe_cache:
            return _probe_cache[key]
        _probe_cache[key] = verdict = self._probe()
        return verdict

    def _probe(self) -> tuple[bool, str]:
        if not shutil.which(self.bwrap):
            return False, "bubblewrap is not installed (apt-get install bubblewrap)"
        try:
            done = subprocess.run([self.bwrap, "--unshare-all", "--ro-bind", "/", "/", "true"],
                                  capture_output=True, text=True, timeout=20)
        except (OSError, subprocess.TimeoutExpired) as exc:
            return False, f"bubblewrap does not run here ({exc})"
        if done.returncode != 0:
            return False, f"bubblewrap cannot create namespaces here: {done.stderr.strip()[:200]}"
        if self.as_root and not os.access(SETPRIV, os.X_OK):
            return False, f"{SETPRIV} is missing (apt-get install util-linux), needed to drop root"
        if not os.access(self.python, os.X_OK):
            return False, f"{self.python} is missing (install.sh makes the runtimes' host Pythons)"
        check = [self.python, "-c", "import importlib.util as u; "
                 "raise SystemExit(0 if u.find_spec('tensorflow') and u.find_spec('tf_keras') else 1)"]
        if subprocess.run(check, capture_output=True).returncode != 0:
            return False, ("the host Python has no TensorFlow/tf_keras, which the bwrap sandbox runs: "
                           "pip install 'dl-autograder[tf]'")
        return True, ""

    def command(self, job_dir: Path, submission_dir: Path, inputs_dir: Path, output_dir: Path,
                limits: SandboxLimits) -> list[str]:
        if self.as_root:
            # Every namespace but the user one: the runner must be the real uid
            # 65534 for RLIMIT_NPROC to hold, which setpriv does with these caps.
            args = [self.bwrap, "--unshare-ipc", "--unshare-pid", "--unshare-net", "--unshare-uts",
                    "--unshare-cgroup-try", "--cap-add", "CAP_SETUID", "--cap-add", "CAP_SETGID"]
        else:
            args = [self.bwrap, "--unshare-all"]
        args += ["--die-with-parent", "--new-session"]
        args += _system_binds(self._python_prefixes())
        args += [
            "--ro-bind", str(submission_dir), SUBMISSION_MOUNT,
            "--ro-bind", str(inputs_dir), INPUTS_MOUNT,
            "--ro-bind", str(job_dir), JOB_MOUNT,
            "--bind", str(output_dir), OUTPUT_MOUNT,
            "--perms", "1777", "--size", str(limits.tmpfs_mb * 1024 * 1024), "--tmpfs", SANDBOX_TMP,
            *_binds_under_tmp(self._python_prefixes()),
            "--proc", "/proc",
            "--dev", "/dev",
            # bwrap's /dev/shm is root's: without a tmpfs of its own there,
            # multiprocessing cannot make a lock and Keras 2's worker pools hang.
            "--perms", "1777", "--size", str(limits.shm_mb * 1024 * 1024), "--tmpfs", "/dev/shm",
            "--remount-ro", "/",
            "--chdir", "/tmp",
            "--clearenv",
            "--setenv", "HOME", "/tmp",
            "--setenv", "TMPDIR", "/tmp",
            "--setenv", "PATH", "/usr/bin:/bin",
            "--setenv", "LANG", "C.UTF-8",
            "--setenv", "PYTHONDONTWRITEBYTECODE", "1",
            "--setenv", "PYTHONNOUSERSITE", "1",
            "--setenv", "TF_CPP_MIN_LOG_LEVEL", "2",
            "--setenv", "CUDA_VISIBLE_DEVICES", "-1",
            "--setenv", "KERAS_HOME", "/tmp/.keras",
            "--setenv", "MPLCONFIGDIR", "/tmp",
            "--",
        ]
        if self.as_root:
            args += [SETPRIV, f"--reuid={SANDBOX_UID}", f"--regid={SANDBOX_GID}", "--clear-groups",
                     "--inh-caps=-all", "--no-new-privs"]
        args += [self.python, "-I", f"{JOB_MOUNT}/runner.py", f"{JOB_MOUNT}/job.json"]
        return args

    def run(self, job_dir: Path, submission_dir: Path, inputs_dir: Path, output_dir: Path,
            limits: SandboxLimits) -> SandboxRun:
        output_dir.chmod(0o777)   # the runner writes as nobody
        command = self.command(job_dir, submission_dir, inputs_dir, output_dir, limits)
        nproc = limits.pids if self.as_root else _own_process_count() + limits.pids
        return run_with_deadline(command, limits, preexec_fn=lambda: set_rlimits(limits, nproc))


def _own_process_count() -> int:
    """Processes and threads of the current user: RLIMIT_NPROC counts them all."""
    uid = os.getuid()
    count = 0
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if entry.stat().st_uid == uid:
                    count += len(list((entry / "task").iterdir()))
            except OSError:
                continue
    return count
