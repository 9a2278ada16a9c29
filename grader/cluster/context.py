"""What every archive's grading shares, sent once to each worker.

A Dask worker plugin: the scheduler keeps it and gives it to every worker that
joins, including a worker its nanny restarted and a Slurm job that started
late, so the held-out test inputs travel once per worker, never per archive.
It holds the rubric, the test inputs and their labels (the workers score, so
they need the labels; the instructor's workers are as trusted as this machine,
and the labels still never enter a sandbox), the ImageNet files as bytes
(written once into the worker's scratch folder), the re-run options and the
sandbox to use. The sandbox itself is chosen on the worker, once.
"""

from __future__ import annotations

import hashlib
import pickle
import threading
from pathlib import Path

from distributed.diagnostics.plugin import WorkerPlugin

from grader.pipeline import HeldOutData, RerunOptions
from grader.rubric import Rubric


class GradingContext(WorkerPlugin):
    idempotent = True      # registering the same context again (a second run) sends nothing

    def __init__(self, rubric: Rubric, data: HeldOutData, rerun: RerunOptions | None, sandbox_name: str):
        self.rubric = rubric
        self.rerun = rerun
        self.sandbox_name = sandbox_name
        self.inputs = dict(data.inputs)
        self.labels = dict(data.labels)
        self.missing = dict(data.missing)
        self.imagenet = {name: Path(path).read_bytes() for name, path in (data.imagenet_files or {}).items()}
        self.imagenet_names = {name: Path(path).name for name, path in (data.imagenet_files or {}).items()}
        self.data_dir = str(data.data_dir) if data.data_dir else None
        # A test set's images left out (unreadable) and which were kept, so the
        # workers drop the same rows of a student's predictions.
        self.left_out = dict(data.left_out)
        self.kept = dict(data.kept)
        # The pretrained weights files the transfer checks compare with, as
        # bytes like the ImageNet files (a worker has no access to this disk).
        self.weights = {name: Path(path).read_bytes() for name, path in data.weights.items()}
        self.weights_names = {name: Path(path).name for name, path in data.weights.items()}
        self.weights_missing = dict(data.weights_missing)
        self.unofficial = dict(data.unofficial)
        self.name = "grader-context-" + self._digest()

    def _digest(self) -> str:
        digest = hashlib.sha256()
        digest.update(pickle.dumps((self.rubric.model_dump(mode="json"), self.rerun, self.sandbox_name,
                                    sorted(self.missing.items()), self.data_dir, sorted(self.imagenet_names.items()),
                                    sorted(self.left_out.items()), sorted(self.weights_names.items()),
                                    sorted(self.weights_missing.items()), sorted(self.unofficial.items()))))
        kept = {name: indices for name, (_, indices) in self.kept.items()}
        for group in (self.inputs, self.labels, self.imagenet, self.weights, kept):
            for key in sorted(group):
                digest.update(key.encode())
                value = group[key]
                digest.update(value if isinstance(value, bytes) else value.tobytes())
        return digest.hexdigest()[:20]

    # ------------------------------------------------------------ on the worker

    def setup(self, worker) -> None:
        self._lock = threading.Lock()
        self._scratch = Path(worker.local_directory) / self.name
        self._data: HeldOutData | None = None
        self._sandbox = None
        self._sandbox_error = ""

    def teardown(self, worker) -> None:
        import shutil

        shutil.rmtree(self._scratch, ignore_errors=True)

    def held_out(self) -> HeldOutData:
        """The test data as this worker's grading reads it: the ImageNet files written once."""
        from grader.atomic import atomic_write_bytes

        with self._lock:
            if self._data is None:
                files = {name: atomic_write_bytes(self._scratch / "imagenet" / self.imagenet_names[name], data)
                         for name, data in self.imagenet.items()}
                weights = {name: atomic_write_bytes(self._scratch / "weights" / self.weights_names[name], data)
                           for name, data in self.weights.items()}
                self._data = HeldOutData(inputs=self.inputs, labels=self.labels, missing=self.missing,
                                         imagenet_files=files or None,
                                         data_dir=Path(self.data_dir) if self.data_dir else None,
                                         left_out=self.left_out, kept=self.kept,
                                         weights=weights, weights_missing=self.weights_missing,
                                         unofficial=self.unofficial)
            return self._data

    def sandbox(self):
        """This worker's sandbox, chosen once; raises SandboxUnavailable with the reason."""
        from grader.evaluate import SandboxUnavailable, choose_backend

        with self._lock:
            if self._sandbox is None and not self._sandbox_error:
                try:
                    self._sandbox = choose_backend(self.sandbox_name)
                except SandboxUnavailable as exc:
                    self._sandbox_error = str(exc)
            if self._sandbox is None:
                raise SandboxUnavailable(self._sandbox_error)
            return self._sandbox
