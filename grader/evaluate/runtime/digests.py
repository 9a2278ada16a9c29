"""Runs in the sandbox beside runner.py (standard library, numpy, h5py and
TensorFlow only; never grader): per-layer digests of a loaded model's weights
and of a reference weights file. Called by runner.run_extras when the job asks
for them (ModelJob.digests)."""


def layer_digests(model, x, path, options: dict) -> dict:
    raise NotImplementedError("layer digests are not implemented yet")
