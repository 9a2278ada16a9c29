"""Runs in the sandbox beside runner.py (standard library, numpy and
TensorFlow only; never grader): the measurements a comparison of models needs,
taken the same way for every model. Called by runner.run_extras when the job
asks for them (ModelJob.measure)."""


def measure_model(model, x, path, options: dict) -> dict:
    raise NotImplementedError("measurements are not implemented yet")
