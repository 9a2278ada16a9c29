"""What --cluster and grade.toml's [cluster] table accept, and what they say otherwise."""

from __future__ import annotations

import pytest

from grader.cluster import ClusterError, ClusterSpec, parse_cluster
from grader.cluster.config import cluster_options


@pytest.mark.parametrize("text, spec", [
    ("tcp://lab01:8786", ClusterSpec("address", address="tcp://lab01:8786")),
    ("lab01.example.edu:8786", ClusterSpec("address", address="tcp://lab01.example.edu:8786")),
    ("tls://10.0.0.5:8786", ClusterSpec("address", address="tls://10.0.0.5:8786")),
    ("local:3", ClusterSpec("local", workers=3)),
    ("slurm", ClusterSpec("slurm")),
])
def test_cluster_specs(text, spec):
    assert parse_cluster(text) == spec


@pytest.mark.parametrize("text", ["local:0", "local:two", "lab01", "http://lab01:8786", "tcp://lab01", "sge"])
def test_a_bad_cluster_spec_says_what_to_write(text):
    with pytest.raises(ClusterError) as raised:
        parse_cluster(text)
    message = str(raised.value)
    assert message.startswith(f"--cluster {text!r}: ")
    assert ("local:N with N from 1 to 64" in message if text.startswith("local:") else
            "tcp://host:8786" in message and "local:N" in message and "slurm" in message)


def test_the_cluster_table_defaults_and_sandboxes_per_worker():
    options = cluster_options({"queue": "short", "cores": 8, "memory": "32GB", "workers": 4})
    assert (options.queue, options.cores, options.memory, options.workers) == ("short", 8, "32GB", 4)
    assert options.walltime == "02:00:00" and options.start_timeout == 600
    assert options.sandboxes_per_worker(sandbox_cpus=1.0) == 8
    assert options.sandboxes_per_worker(sandbox_cpus=2.0) == 4
    assert cluster_options({"cores": 8, "sandboxes": 3}).sandboxes_per_worker(1.0) == 3


def test_a_bad_cluster_table_names_the_key_and_the_file():
    with pytest.raises(ClusterError) as raised:
        cluster_options({"cores": 0, "partition": "short"}, "submissions/grade.toml")
    message = str(raised.value)
    assert message.startswith("submissions/grade.toml: [cluster] ")
    assert "cores: Input should be greater than or equal to 1" in message
    assert "partition: Extra inputs are not permitted" in message
    assert "(keys: queue, account, cores, memory, walltime, workers, sandboxes" in message


def test_a_re_run_record_s_paths_are_moved_from_the_worker_s_scratch_to_the_class_folder(tmp_path):
    import json

    from grader.cluster.task import _relocate_record
    from grader.records import Student
    from grader.score.records import SubmissionGrade

    scratch, out_dir = tmp_path / "grade-x1" / "out", tmp_path / "class" / "grades"
    html = f"{scratch}/rerun/assignment06_DoeJane/6.1_mnist.html"
    grade = SubmissionGrade(archive="assignment06_DoeJane.zip", student=Student("Doe", "Jane"), status="graded",
                            score=90.0, max_score=100.0, rubric="assignment06",
                            rerun={"work_dir": f"{scratch}/work/assignment06_DoeJane",
                                   "sources": [{"path": "6.1_mnist.ipynb", "html": html,
                                                "images": [f"{scratch}/a.png"]}],
                                   "notes": [f"{scratch}-elsewhere/kept.txt", "plain words"]})
    _relocate_record(grade, scratch, out_dir)
    expected = {"work_dir": f"{out_dir}/work/assignment06_DoeJane",
                "sources": [{"path": "6.1_mnist.ipynb", "html": f"{out_dir}/rerun/assignment06_DoeJane/6.1_mnist.html",
                             "images": [f"{out_dir}/a.png"]}],
                "notes": [f"{scratch}-elsewhere/kept.txt", "plain words"]}
    assert grade.rerun == expected
    assert json.loads((scratch / "results" / "assignment06_DoeJane.json").read_text())["rerun"] == expected


def test_the_worker_context_carries_the_transfer_checks_data(tmp_path):
    """What a worker grades with is what the coordinator loaded: the test set's
    left-out images and kept rows, and the pretrained weights files (as bytes,
    written once into the worker's scratch folder) or why they are missing."""
    from types import SimpleNamespace

    import numpy as np

    from grader.cluster.context import GradingContext
    from grader.pipeline import HeldOutData
    from grader import rubric as rubrics

    weights_file = tmp_path / "data" / "mobilenet_v2_weights.h5"
    weights_file.parent.mkdir()
    weights_file.write_bytes(b"\x89HDF\r\n\x1a\n" + bytes(range(256)) * 4)
    kept = np.array([0, 1, 3], dtype=np.int64)
    data = HeldOutData(inputs={"flowers": np.zeros((3, 4, 4, 3), np.uint8)},
                       labels={"flowers": np.array([0, 1, 1])},
                       left_out={"flowers": "1 of 4 test images left out: b/bad.jpg (not an image)"},
                       kept={"flowers": (4, kept)},
                       weights={"mobilenetv2": weights_file},
                       weights_missing={"vgg16": "vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5 is not in data/"})
    context = GradingContext(rubrics.load("transfer_learning"), data, None, "bwrap")
    weights_file.unlink()                       # the worker never reads the coordinator's disk
    context.setup(SimpleNamespace(local_directory=str(tmp_path / "worker")))
    on_worker = context.held_out()

    assert on_worker.left_out == data.left_out and on_worker.weights_missing == data.weights_missing
    assert on_worker.kept["flowers"][0] == 4 and on_worker.kept["flowers"][1].tolist() == [0, 1, 3]
    copy = on_worker.weights["mobilenetv2"]
    assert copy.is_relative_to(tmp_path / "worker") and copy.name == "mobilenet_v2_weights.h5"
    assert copy.read_bytes() == b"\x89HDF\r\n\x1a\n" + bytes(range(256)) * 4
    # Another weights file is another context (the scheduler must not keep the old one).
    other = HeldOutData(inputs=data.inputs, labels=data.labels, weights={"mobilenetv2": copy})
    assert GradingContext(rubrics.load("transfer_learning"), other, None, "bwrap").name != context.name
