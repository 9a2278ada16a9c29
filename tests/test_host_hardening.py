"""The host's defences against hostile files and crashed runs.

- Model metadata is read in a child process (grader/readers/model_process.py):
  a reader that crashes, hangs, spins or allocates without end costs that
  file (a ReadError naming it), never the grader; one child serves a whole
  submission, and a second read of the same file is served from the first.
- Docker sandbox containers carry the run that started them, stop when that
  run dies (kill -9 included), and are removed at the next start.
"""

from __future__ import annotations

import ctypes
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import h5py
import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from hostile_models import runtime_image  # noqa: E402,F401

from grader.limits import MetadataLimits  # noqa: E402
from grader.readers import ReadError, layer_summary, model_process, read_model_meta  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
HERE = __name__   # the child imports the hostile readers below by this name


# ------------------------------------------------ readers run in the child


def hang_reader(path, config_cap):
    time.sleep(3600)


def spin_reader(path, config_cap):
    while True:
        pass


def hog_reader(path, config_cap):
    blocks = []
    while True:
        blocks.append(bytearray(64 << 20))


def segfault_reader(path, config_cap):
    ctypes.string_at(0)   # a real SIGSEGV, as a libhdf5 bug would give


class _Lie:
    def to_dict(self):
        return {"format": "h5", "layer_types": "Dense", "has_weights": True}


def lying_reader(path, config_cap):
    return _Lie()


def noisy_reader(path, config_cap):
    """Prints on fd 1 and 2 the way a C library does: replies must survive it."""
    os.write(1, b"HDF5-DIAG: Error detected\n{not json}\n")
    os.write(2, b"more noise\n")
    from grader.readers.models import read_model_meta_here

    return read_model_meta_here(path, config_cap=config_cap)


# ------------------------------------------------------------------ helpers


def keras2_h5(path: Path, units: int = 10, shape=(28, 28, 1)) -> Path:
    """A Keras 2.x .h5 as a student saves it: config and weights as attributes."""
    config = {"class_name": "Sequential", "config": {"name": "sequential", "layers": [
        {"class_name": "Conv2D", "config": {"batch_input_shape": [None, *shape], "filters": 32}},
        {"class_name": "Flatten", "config": {}},
        {"class_name": "Dropout", "config": {"rate": 0.5}},
        {"class_name": "Dense", "config": {"units": units}},
    ]}}
    with h5py.File(path, "w") as h5:
        h5.attrs["model_config"] = json.dumps(config).encode()
        h5.attrs["keras_version"] = b"2.13.1"
        h5.attrs["backend"] = b"tensorflow"
        group = h5.create_group("model_weights").create_group("dense")
        group.attrs["weight_names"] = [b"dense/kernel:0"]
        group.create_dataset("kernel", data=np.zeros((4, units), dtype="float32"))
    return path


@pytest.fixture
def child_reader(monkeypatch):
    """Point the child at one of the readers above, with small limits."""
    def use(name: str, **limits) -> None:
        monkeypatch.setattr(model_process, "READER", f"{HERE}:{name}")
        monkeypatch.setattr(model_process, "LIMITS", MetadataLimits(**{"timeout_seconds": 20, **limits}))

    yield use
    model_process.close_children()


def unsafe_error(path: Path) -> ReadError:
    with pytest.raises(ReadError) as caught:
        read_model_meta(path)
    error = caught.value
    assert error.code == "model-unreadable"
    assert error.message.startswith(f"{path.name}: the model's metadata could not be read safely")
    assert "model.save('model.keras')" in error.message
    return error


# ------------------------------------------------------ the metadata child


def test_a_reader_that_segfaults_costs_that_file_and_the_next_file_is_read(tmp_path, child_reader):
    child_reader("segfault_reader")
    error = unsafe_error(keras2_h5(tmp_path / "crash.h5"))
    assert "the reader crashed: killed by SIGSEGV" in error.message
    child_reader("noisy_reader")
    meta = read_model_meta(keras2_h5(tmp_path / "fine.h5"))
    assert meta.layer_types == ["Conv2D", "Flatten", "Dropout", "Dense"] and meta.output_units == 10


def test_a_reader_that_hangs_is_stopped_at_the_wall_clock_timeout(tmp_path, child_reader):
    child_reader("hang_reader", timeout_seconds=1.5)
    started = time.monotonic()
    error = unsafe_error(keras2_h5(tmp_path / "hang.h5"))
    assert "reading it took longer than 1.5 s" in error.message
    assert time.monotonic() - started < 10
    assert not any(_alive(pid) for pid in model_process.started[-1:])


def test_a_reader_that_spins_is_stopped_at_the_cpu_limit(tmp_path, child_reader):
    child_reader("spin_reader", cpu_seconds=1, timeout_seconds=60)
    started = time.monotonic()
    error = unsafe_error(keras2_h5(tmp_path / "spin.h5"))
    assert "used more than 1 s of CPU time" in error.message
    assert time.monotonic() - started < 30


def test_a_reader_that_allocates_without_end_is_stopped_at_the_memory_limit(tmp_path, child_reader):
    child_reader("hog_reader", memory_mb=600)
    error = unsafe_error(keras2_h5(tmp_path / "hog.h5"))
    assert "needed more than the 600 MB the reader may use" in error.message


def test_an_answer_that_is_not_metadata_is_refused(tmp_path, child_reader):
    child_reader("lying_reader")
    error = unsafe_error(keras2_h5(tmp_path / "lie.h5"))
    assert "answered something that is not metadata" in error.message


def test_a_damaged_hdf5_file_is_still_the_readers_own_message(tmp_path):
    data = keras2_h5(tmp_path / "good.h5").read_bytes()
    cut = tmp_path / "cut.h5"
    cut.write_bytes(data[: len(data) // 3])
    with pytest.raises(ReadError) as caught:
        read_model_meta(cut)
    assert caught.value.message.startswith("cut.h5 could not be read as HDF5")


def test_a_submission_is_read_in_one_child_and_each_model_once(tmp_path, monkeypatch):
    """check_submission reads each model twice (discovery, then contents); the
    child is started once for the whole archive and sees each model once."""
    from grader import rubric as rubric_module
    from grader.pipeline import check_submission

    model_process.close_children()
    model_process.clear_cache()
    requests: list[str] = []
    real_request = model_process.MetadataChild.request

    def counted(self, message):
        requests.append(Path(message["path"]).name)
        return real_request(self, message)

    monkeypatch.setattr(model_process.MetadataChild, "request", counted)
    folder = tmp_path / "DSC650_assignment06_DoeJane"
    (folder / "results").mkdir(parents=True)
    keras2_h5(folder / "results" / "model_6_1.h5")
    keras2_h5(folder / "results" / "model_6_2a.h5", shape=(32, 32, 3))
    keras2_h5(folder / "results" / "model_6_2b.h5", shape=(32, 32, 3))
    before = len(model_process.started)
    report = check_submission(folder, rubric_module.load(), tmp_path / "work")
    assert len(model_process.started) - before == 1
    assert sorted(requests) == ["model_6_1.h5", "model_6_2a.h5", "model_6_2b.h5"]
    metas = {part: files.model_meta for part, files in report.contents.parts.items() if files.model_meta}
    assert sorted(metas) == ["6.1", "6.2a", "6.2b"]
    assert metas["6.2a"].input_shape == [32, 32, 3] and metas["6.1"].input_shape == [28, 28, 1]
    assert layer_summary(metas["6.1"])["has_dropout"] is True


def test_a_file_changed_in_place_is_read_again(tmp_path):
    path = keras2_h5(tmp_path / "model.h5", units=10)
    assert read_model_meta(path).output_units == 10
    first = read_model_meta(path)
    first.notes.append("changed by a caller")
    assert read_model_meta(path).notes == []   # each call gets its own record
    time.sleep(0.01)
    keras2_h5(path, units=100)
    assert read_model_meta(path).output_units == 100


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


# ------------------------------------------- Docker containers of dead runs

GRADE_LIKE = r'''
import sys
from pathlib import Path
from grader.evaluate import docker_backend
from grader.evaluate.docker_backend import DockerSandbox
from grader.evaluate.workspace import make_workspace
from grader.limits import SandboxLimits
docker_backend.LEASE_SECONDS = 6   # the default (20 s) would only make the test wait longer
work = Path(sys.argv[2])
space = make_workspace(work / "work")
(work / "submission").mkdir()
(space.job_dir / "runner.py").write_text("import time\ntime.sleep(600)\n")
(space.job_dir / "job.json").write_text("{}")
DockerSandbox(image=sys.argv[1]).run(space.job_dir, work / "submission", space.inputs_dir, space.output_dir,
                                     SandboxLimits(timeout_seconds=900))
'''


def _containers_of(client, pid: int, **filters):
    return client.containers.list(all=True, filters={"label": f"org.dl-autograder.pid={pid}", **filters})


def _wait_for(condition, seconds: float):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.5)
    return condition()


@pytest.mark.docker
def test_a_killed_grade_leaves_no_running_container_and_the_next_start_removes_it(runtime_image, tmp_path):
    from grader.evaluate.docker_backend import DockerSandbox, reap_leftover_containers

    client = DockerSandbox(image=runtime_image).client()
    grade = subprocess.Popen([sys.executable, "-c", GRADE_LIKE, runtime_image, str(tmp_path)], cwd=REPO,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        running = _wait_for(lambda: _containers_of(client, grade.pid, status="running"), 90)
        assert len(running) == 1, grade.stderr.read().decode()[-2000:] if grade.poll() is not None else "none"
        labels = running[0].labels
        assert labels["org.dl-autograder.role"] == "sandbox"
        assert labels["org.dl-autograder.run"].startswith(f"{os.uname().nodename}-{grade.pid}-")
        assert labels["org.dl-autograder.host"] == os.uname().nodename
        time.sleep(3)   # the job runs; the lease is being renewed
        assert _containers_of(client, grade.pid, status="running")
    finally:
        os.kill(grade.pid, signal.SIGKILL)
        grade.wait()
    killed = time.monotonic()
    assert _wait_for(lambda: not _containers_of(client, grade.pid, status="running"), 45)
    assert time.monotonic() - killed < 45
    left = _containers_of(client, grade.pid)
    if not left:
        # Another grader process on this host started meanwhile and reaped it,
        # as this one would: the container is gone, which is the point.
        return
    assert [c.status for c in left] == ["exited"]   # stopped, not removed: nobody was left to remove it
    assert "the grader stopped renewing" in left[0].logs().decode()
    assert left[0].attrs["State"]["ExitCode"] == 137

    lease = Path(left[0].attrs["HostConfig"]["Binds"][-1].split(":")[0])
    assert lease.name.startswith("dl-autograder-lease-") and lease.is_dir()
    os.utime(lease / "lease", (time.time() - 600, time.time() - 600))   # as after a minute or more

    removed = reap_leftover_containers(client)   # what the next `grade` does first
    assert left[0].name in removed
    assert _containers_of(client, grade.pid) == []
    assert not lease.exists()


@pytest.mark.docker
def test_the_reaper_spares_containers_of_live_runs(runtime_image):
    from grader.evaluate import docker_backend

    client = docker_backend.DockerSandbox(image=runtime_image).client()
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    live_labels = {**docker_backend.run_labels(), "org.dl-autograder.run": "another-run-of-this-process"}
    dead_labels = {**docker_backend.run_labels(), "org.dl-autograder.run": "a-dead-run",
                   "org.dl-autograder.pid": str(dead.pid)}
    live = client.containers.create(runtime_image, ["true"], labels=live_labels, network_mode="none")
    gone = client.containers.create(runtime_image, ["true"], labels=dead_labels, network_mode="none")
    try:
        removed = docker_backend.reap_leftover_containers(client)
        assert gone.name in removed and live.name not in removed
        live.reload()
        assert live.status == "created"
    finally:
        for container in (live, gone):
            try:
                container.remove(force=True)
            except Exception:  # noqa: BLE001 - already removed by the reaper
                pass


def test_threads_reading_at_once_each_get_their_own_child_and_the_right_record(tmp_path):
    """batch.py grades submissions in threads: the pool gives each concurrent
    reader its own child, and every record matches its file."""
    from concurrent.futures import ThreadPoolExecutor

    model_process.close_children()
    paths = [keras2_h5(tmp_path / f"model_{units}.h5", units=units) for units in range(2, 10)]
    before = len(model_process.started)
    with ThreadPoolExecutor(max_workers=3) as pool:
        units = list(pool.map(lambda path: read_model_meta(path).output_units, paths))
    assert units == list(range(2, 10))
    assert 1 <= len(model_process.started) - before <= 3
