"""The sandbox backends on their own: what a program inside can and cannot do.

These run a small probe program as the job's runner.py (no TensorFlow, so
each run takes about a second) under Docker and bubblewrap alike.
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from hostile_models import Listener, runtime_image, sandbox, write_secret  # noqa: E402,F401

from grader.evaluate import sandbox as sandbox_module  # noqa: E402
from grader.evaluate.bwrap_backend import BwrapSandbox  # noqa: E402
from grader.evaluate.docker_backend import DockerSandbox  # noqa: E402
from grader.evaluate.local_backend import LocalSandbox, UnsafeSandboxWarning  # noqa: E402
from grader.evaluate.sandbox import SandboxUnavailable, choose_backend  # noqa: E402
from grader.evaluate.workspace import make_workspace  # noqa: E402
from grader.limits import SandboxLimits  # noqa: E402

PROBE = r'''
import errno, json, os, socket, sys
job = json.load(open(sys.argv[1]))
mode = job["mode"]
report = {}

def attempt(name, action):
    try:
        report[name] = ["ok", action()]
    except BaseException as exc:
        report[name] = ["error", f"{exc.__class__.__name__}: {exc}"]

def write(path):
    with open(path, "w") as handle:
        handle.write("x")
    return path

if mode == "escape":
    report["uid"] = os.getuid()
    report["env"] = sorted(os.environ)
    report["root"] = sorted(os.listdir("/"))
    attempt("write_submission", lambda: write("/submission/new.txt"))
    attempt("write_inputs", lambda: write("/inputs/new.txt"))
    attempt("write_job", lambda: write("/job/new.txt"))
    attempt("write_root", lambda: write("/escaped.txt"))
    attempt("write_tmp", lambda: write("/tmp/new.txt"))
    attempt("write_host_path", lambda: write(job["host_path"]))
    attempt("read_secret", lambda: open(job["secret"]).read())
    attempt("read_submission", lambda: open("/submission/model.h5").read())
    attempt("connect_host", lambda: socket.create_connection(("127.0.0.1", job["port"]), timeout=3).sendall(b"hi"))
elif mode == "loop":
    while True:
        pass
elif mode == "memory":
    hog = []
    while True:
        hog.append(b"\x01" * (32 << 20))
elif mode == "fork":
    children = 0
    try:
        while True:
            pid = os.fork()
            if pid == 0:
                import time
                time.sleep(30)
                os._exit(0)
            children += 1
    except OSError as exc:
        report["fork_error"] = errno.errorcode.get(exc.errno, str(exc.errno))
    report["children"] = children
elif mode == "fsize":
    attempt("big_file", lambda: open("/output/big.bin", "wb").write(b"\0" * (3 << 20)))
with open("/output/probe.json", "w") as handle:
    json.dump(report, handle)
'''


def run_probe(backend, tmp_path: Path, mode: str, limits: SandboxLimits, **job):
    space = make_workspace(tmp_path / "work")
    submission = tmp_path / "submission"
    submission.mkdir(exist_ok=True)
    (submission / "model.h5").write_text("model bytes")
    (space.job_dir / "runner.py").write_text(PROBE)
    (space.job_dir / "job.json").write_text(json.dumps({"mode": mode, **job}))
    run = backend.run(space.job_dir, submission, space.inputs_dir, space.output_dir, limits)
    probe = space.output_dir / "probe.json"
    report = json.loads(probe.read_text()) if probe.exists() else None
    return run, report, space


def test_inside_the_sandbox_only_output_and_tmp_are_writable_and_nothing_else_is_visible(sandbox, tmp_path,
                                                                                         monkeypatch):
    monkeypatch.setenv("GRADER_TEST_CANARY", "host environment")
    secret = write_secret(tmp_path)
    with Listener() as listener:
        run, report, _ = run_probe(sandbox, tmp_path, "escape", SandboxLimits(timeout_seconds=30),
                                   port=listener.port, secret=str(secret),
                                   host_path=str(tmp_path / "escaped-from-sandbox"))
    assert run.exit_code == 0 and not run.timed_out, run.stderr_tail
    assert report["uid"] == 65534
    for name in ("write_submission", "write_inputs", "write_job", "write_root"):
        assert report[name][0] == "error", name
        assert "Read-only file system" in report[name][1] or "Permission denied" in report[name][1]
    assert report["write_tmp"][0] == "ok"
    assert report["write_host_path"][0] == "error"
    assert report["read_secret"][0] == "error" and "No such file" in report["read_secret"][1]
    assert report["read_submission"] == ["ok", "model bytes"]
    assert report["connect_host"][0] == "error"
    assert listener.connections == 0 and listener.received == b""
    assert "GRADER_TEST_CANARY" not in report["env"]
    # The host's /work (where the checkout lives) is invisible, unless the Python
    # runtime bound into the sandbox lives under it (a .venv in the checkout).
    runtime_tops = {Path(p).parts[1] for p in (sys.prefix, sys.base_prefix) if len(Path(p).parts) > 1}
    if "work" not in runtime_tops:
        assert "work" not in report["root"]
    assert not (tmp_path / "escaped-from-sandbox").exists()
    assert not (tmp_path / "submission" / "new.txt").exists()


def test_an_endless_loop_is_stopped_at_the_timeout(sandbox, tmp_path):
    started = time.monotonic()
    run, report, _ = run_probe(sandbox, tmp_path, "loop", SandboxLimits(timeout_seconds=5))
    elapsed = time.monotonic() - started
    assert run.timed_out
    assert report is None
    assert run.seconds >= 4.5 and elapsed < 20


def test_a_memory_hog_is_stopped_at_the_memory_limit(sandbox, tmp_path):
    run, report, _ = run_probe(sandbox, tmp_path, "memory", SandboxLimits(timeout_seconds=30, memory_mb=256))
    assert run.oom_killed, (run.exit_code, run.stderr_tail[-500:])
    assert not run.timed_out and run.exit_code != 0
    assert report is None


def test_a_fork_bomb_hits_the_process_limit(sandbox, tmp_path):
    run, report, _ = run_probe(sandbox, tmp_path, "fork", SandboxLimits(timeout_seconds=30, pids=40))
    assert run.exit_code == 0 and not run.timed_out, run.stderr_tail
    assert report["fork_error"] == "EAGAIN"
    assert 0 < report["children"] < 40
    assert run.seconds < 25   # the sleeping children were killed with the sandbox


def test_files_the_sandbox_writes_are_capped_in_size(sandbox, tmp_path):
    run, report, space = run_probe(sandbox, tmp_path, "fsize", SandboxLimits(timeout_seconds=30, output_max_mb=1))
    assert report["big_file"][0] == "error" and "File too large" in report["big_file"][1]
    assert (space.output_dir / "big.bin").stat().st_size <= 1 << 20


@pytest.mark.docker
def test_docker_containers_are_always_removed(runtime_image, tmp_path):
    backend = DockerSandbox(image=runtime_image)
    run_probe(backend, tmp_path / "a", "loop", SandboxLimits(timeout_seconds=3))
    run_probe(backend, tmp_path / "b", "escape", SandboxLimits(timeout_seconds=30), port=1, secret="/x",
              host_path="/y")
    from grader.evaluate.docker_backend import RUN_LABEL, run_id

    # This process's containers: another grader on the host may have its own running.
    left = backend.client().containers.list(all=True, filters={"label": ["org.dl-autograder.role=sandbox",
                                                                          f"{RUN_LABEL}={run_id()}"]})
    assert left == []


@pytest.mark.docker
def test_docker_container_settings(runtime_image, tmp_path):
    limits = SandboxLimits(memory_mb=1024, cpus=0.5, pids=99, tmpfs_mb=64)
    job, submission, inputs, output = (tmp_path / name for name in ("job", "sub", "in", "out"))
    from grader.evaluate.docker_backend import Lease, run_id

    lease = Lease()
    try:
        options = DockerSandbox(image=runtime_image)._container_options(job, submission, inputs, output, limits,
                                                                        lease)
    finally:
        lease.end()
    assert options["network_mode"] == "none" and options["read_only"] is True
    assert options["mem_limit"] == options["memswap_limit"] == "1024m"
    assert options["nano_cpus"] == 500_000_000 and options["pids_limit"] == 99
    assert options["user"] == "65534:65534" and options["cap_drop"] == ["ALL"]
    assert options["security_opt"] == ["no-new-privileges"]
    assert options["tmpfs"]["/tmp"].endswith("size=64m,mode=1777")
    assert options["volumes"] == {
        str(submission): {"bind": "/submission", "mode": "ro"}, str(inputs): {"bind": "/inputs", "mode": "ro"},
        str(job): {"bind": "/job", "mode": "ro"}, str(output): {"bind": "/output", "mode": "rw"},
        str(lease.folder): {"bind": "/control", "mode": "ro"},
    }
    # The runner runs under the watchdog, which stops the container when this run dies.
    assert options["command"] == ["python3", "/control/watchdog.py", "/control/lease", "20", "--",
                                  "python3", "/job/runner.py", "/job/job.json"]
    assert options["labels"]["org.dl-autograder.run"] == run_id()
    assert options["labels"]["org.dl-autograder.pid"] == str(os.getpid())


def test_bwrap_command_binds_only_what_python_needs(tmp_path):
    job, submission, inputs, output = (tmp_path / name for name in ("job", "sub", "in", "out"))
    command = BwrapSandbox().command(job, submission, inputs, output, SandboxLimits(tmpfs_mb=32))
    pairs = {(command[i], command[i + 1], command[i + 2]) for i in range(len(command) - 2)}
    assert ("--ro-bind", str(submission), "/submission") in pairs
    assert ("--ro-bind", str(inputs), "/inputs") in pairs
    assert ("--ro-bind", str(job), "/job") in pairs
    assert ("--bind", str(output), "/output") in pairs
    writable = [command[i + 1] for i, arg in enumerate(command) if arg == "--bind"]
    assert writable == [str(output)]
    assert ("--ro-bind", "/", "/") not in pairs and "--ro-bind /home" not in " ".join(command)
    assert "--clearenv" in command and "--die-with-parent" in command and "--unshare-net" in " ".join(command)
    assert str(32 * 1024 * 1024) in command


def test_choose_backend_names_both_remedies_when_nothing_works(monkeypatch):
    monkeypatch.setattr(DockerSandbox, "available", lambda self: (False, "no Docker engine answers"))
    monkeypatch.setattr(BwrapSandbox, "available", lambda self: (False, "bubblewrap is not installed"))
    with pytest.raises(SandboxUnavailable) as error:
        choose_backend("auto")
    message = str(error.value)
    assert "grade image build" in message and "apt-get install bubblewrap" in message
    assert "no Docker engine answers" in message and "bubblewrap is not installed" in message


def test_choose_backend_prefers_docker_then_bwrap_and_never_picks_none(monkeypatch):
    monkeypatch.setattr(DockerSandbox, "available", lambda self: (True, ""))
    assert choose_backend("auto").name == "docker"
    monkeypatch.setattr(DockerSandbox, "available", lambda self: (False, "image missing"))
    monkeypatch.setattr(BwrapSandbox, "available", lambda self: (True, ""))
    assert choose_backend("auto").name == "bwrap"
    with pytest.raises(SandboxUnavailable, match="unknown sandbox 'firejail'"):
        choose_backend("firejail")
    monkeypatch.setattr(DockerSandbox, "available", lambda self: (False, "image missing"))
    with pytest.raises(SandboxUnavailable, match="image missing"):
        choose_backend("docker")


def test_the_none_backend_warns_loudly_and_still_enforces_the_timeout(tmp_path):
    with pytest.warns(UnsafeSandboxWarning, match="NO SANDBOX"):
        run, report, _ = run_probe_local(tmp_path)
    assert run.timed_out and run.seconds < 10


def run_probe_local(tmp_path: Path):
    space = make_workspace(tmp_path / "work")
    (space.job_dir / "runner.py").write_text(PROBE)
    (space.job_dir / "job.json").write_text(json.dumps({"mode": "loop"}))
    run = LocalSandbox().run(space.job_dir, tmp_path, space.inputs_dir, space.output_dir,
                             SandboxLimits(timeout_seconds=3))
    return run, None, space


def test_rlimit_budget_follows_the_limits():
    limits = SandboxLimits(timeout_seconds=100, cpus=2.0, memory_mb=4096)
    assert sandbox_module.cpu_seconds(limits) == 205
    assert sandbox_module.address_space_mb(limits) >= 8192
    assert sandbox_module.ended_by(128 + 24, 24) and sandbox_module.ended_by(-24, 24)
    assert not sandbox_module.ended_by(0, 24)


@pytest.mark.docker
def test_the_runtime_image_is_labelled_matches_the_host_and_is_not_rebuilt(runtime_image):
    import tensorflow as tf

    from grader.evaluate.engine import ensure_docker_engine
    from grader.evaluate.image import build_runtime_image, docker_client, image_is_current
    from hostile_models import BASE_IMAGE

    assert ensure_docker_engine(timeout=5)
    client = docker_client()
    assert image_is_current(client, runtime_image, BASE_IMAGE)
    assert not image_is_current(client, runtime_image, "another-base:1")
    messages: list[str] = []
    started = time.monotonic()
    assert build_runtime_image(BASE_IMAGE, runtime_image, log=messages.append) == runtime_image
    assert messages == [f"runtime image {runtime_image} is up to date"] and time.monotonic() - started < 15
    script = ("import tensorflow, keras, tf_keras; "
              "print(tensorflow.__version__, keras.__version__, tf_keras.__version__)")
    output = client.containers.run(runtime_image, ["python3", "-c", script], network_mode="none", remove=True,
                                   environment={"TF_CPP_MIN_LOG_LEVEL": "3"})
    import keras
    import tf_keras

    assert output.decode().split() == [tf.__version__, keras.__version__, tf_keras.__version__]


def test_wheels_are_fetched_for_the_base_images_platform():
    from grader.evaluate.image import _platform_tags, runtime_hash

    tags = _platform_tags("2.36", "x86_64")
    assert tags[0] == "manylinux2014_x86_64" and "manylinux_2_28_x86_64" in tags
    assert tags[-1] == "manylinux_2_36_x86_64" and "manylinux_2_37_x86_64" not in tags
    assert runtime_hash("a:1") != runtime_hash("b:1") and len(runtime_hash("a:1")) == 16


VENV_PROBE = r'''
import json, sys
import numpy
json.dump({"executable": sys.executable, "prefix": sys.prefix, "numpy": numpy.__version__},
          open("/output/venv.json", "w"))
'''

VENV_JOB = r'''
import json, sys
from pathlib import Path
from grader.evaluate.bwrap_backend import BwrapSandbox
from grader.evaluate.workspace import make_workspace
from grader.limits import SandboxLimits
work, submission = Path(sys.argv[1]), Path(sys.argv[2])
space = make_workspace(work)
(space.job_dir / "runner.py").write_text(sys.argv[3])
(space.job_dir / "job.json").write_text("{}")
run = BwrapSandbox().run(space.job_dir, submission, space.inputs_dir, space.output_dir,
                         SandboxLimits(timeout_seconds=60))
result = space.output_dir / "venv.json"
print(json.dumps({"exit_code": run.exit_code, "stderr": run.stderr_tail[-800:],
                  "inside": json.loads(result.read_text()) if result.exists() else None}))
'''


@pytest.mark.bwrap
def test_bwrap_runs_a_virtual_environment_that_lives_under_tmp(tmp_path):
    """A clone under /tmp has its .venv there too; the sandbox's own tmpfs at
    /tmp must not hide it (it is bound read-only after the tmpfs)."""
    import shutil
    import subprocess
    import sysconfig

    if not shutil.which("bwrap"):
        pytest.skip("bubblewrap is not installed")
    assert str(tmp_path).startswith("/tmp/")
    venv = tmp_path / "clone" / ".venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", "--system-site-packages", str(venv)], check=True)
    python = venv / "bin" / "python"
    site_dir = Path(subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
                                   capture_output=True, text=True, check=True).stdout.strip())
    # Like a venv that reuses the project's packages: numpy comes through the .pth.
    repo = Path(__file__).resolve().parent.parent
    (site_dir / "project.pth").write_text(f"{repo}\n{sysconfig.get_path('purelib')}\n")
    submission = tmp_path / "submission"
    submission.mkdir()
    done = subprocess.run([str(python), "-c", VENV_JOB, str(tmp_path / "work"), str(submission), VENV_PROBE],
                          capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-2000:]
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert report["exit_code"] == 0, report["stderr"]
    import numpy

    assert report["inside"] == {"executable": str(python), "prefix": str(venv), "numpy": numpy.__version__}
