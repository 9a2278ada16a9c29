"""Runs in the sandbox beside runner.py (standard library, numpy and
TensorFlow only; never grader): the measurements a comparison of models needs,
taken the same way for every model. Called by runner.run_extras when the job
asks for them (ModelJob.measure: {"repeats", "large_batch", "warmup"}).

    measure_model(model, x, path, options) -> {
        "params": {"total", "trainable", "non_trainable"},
        "latency": {"batch1_ms", "large_batch", "large_batch_ms", "repeats", "threads"},
        "flops": int | None, "size_bytes": int}

Conditions, the same for every model of every student:

- one CPU thread: the runner sets TensorFlow's intra- and inter-op threads to
  1 before any model runs when a job asks for measurements, and while it
  times, every thread of this process is pinned to one CPU (sched_setaffinity),
  so a pool TensorFlow made anyway still runs on one core;
- the forward pass in inference mode (``model(x, training=False)`` as one
  tf.function, or the SavedModel's serving signature), on float32 images made
  from the test inputs (x / 255), traced and run ``warmup`` times untimed,
  then ``repeats`` timed calls; the figure is the median call's time divided
  by the batch size, in milliseconds per image, at batch 1 and at
  ``large_batch`` (the test images repeated if there are fewer);
- FLOPs: TensorFlow's profiler over the batch-1 forward graph (its registered
  per-op counts: a convolution or matrix product counts 2 x its
  multiply-adds, bias additions and other arithmetic their elements), with
  the variables frozen into constants when the graph calls functions (a
  SavedModel), so that every op's shape is known; None when nothing is counted;
- parameters: the weights the forward pass uses (trainable and not);
- size on disk: the model file, or a SavedModel folder's files.
"""

from __future__ import annotations

import contextlib
import os
import statistics
import time
from pathlib import Path

DEFAULT_REPEATS = 5
DEFAULT_LARGE_BATCH = 256
DEFAULT_WARMUP = 2
# Timing one model may take this long at most: past it, fewer repeats (at least one).
MAX_SECONDS = 240.0
CALL_OPS = {"PartitionedCall", "StatefulPartitionedCall"}


def measure_model(model, x, path, options: dict) -> dict:
    import numpy as np

    repeats = _bounded(options.get("repeats"), DEFAULT_REPEATS, 1, 50)
    large = _bounded(options.get("large_batch"), DEFAULT_LARGE_BATCH, 2, 2048)
    warmup = _bounded(options.get("warmup"), DEFAULT_WARMUP, 0, 10)
    forward, sample_shape = _forward(model, x)
    one = _images(x, 1, sample_shape)
    with one_cpu() as pinned:
        batch1_ms, used1 = _time_per_image(forward, one, repeats, warmup)
        large_ms, used_large = _time_per_image(forward, _images(x, large, sample_shape), repeats, warmup)
    threads = 1 if pinned or _tf_threads() == 1 else max(1, _tf_threads() or os.cpu_count() or 1)
    return {
        "params": _params(model),
        "latency": {"batch1_ms": round(batch1_ms, 4), "large_batch": large, "large_batch_ms": round(large_ms, 4),
                    "repeats": min(used1, used_large), "threads": threads},
        "flops": _flops(model, np.asarray(one)),
        "size_bytes": size_on_disk(Path(path)),
    }


def _bounded(value, default: int, low: int, high: int) -> int:
    try:
        number = int(value)
    except (TypeError, ValueError):
        return default
    return min(high, max(low, number))


def _tf_threads() -> int:
    import tensorflow as tf

    return int(tf.config.threading.get_intra_op_parallelism_threads())


# ------------------------------------------------------------------ timing


@contextlib.contextmanager
def one_cpu():
    """Every thread of this process on one CPU (the lowest it may use) while
    inside; yields whether that worked. Threads started inside inherit it."""
    try:
        allowed = os.sched_getaffinity(0)
        tasks = [int(tid) for tid in os.listdir("/proc/self/task")]
    except (AttributeError, OSError):
        yield False
        return
    cpu = {min(allowed)}
    pinned = True
    for tid in tasks:
        try:
            os.sched_setaffinity(tid, cpu)
        except OSError:
            pinned = False
    try:
        yield pinned
    finally:
        for tid in os.listdir("/proc/self/task"):
            try:
                os.sched_setaffinity(int(tid), allowed)
            except (OSError, ValueError):
                pass


def _forward(model, x):
    """A callable running the model's inference pass on a float32 batch, and
    the shape of one input (without the batch axis)."""
    import tensorflow as tf

    sample_shape = tuple(int(d) for d in x.shape[1:])
    if hasattr(model, "signature"):          # runner.SavedModel
        dtype = model.input_spec.dtype
        return (lambda batch: model.signature(**{model.input_name: tf.constant(batch, dtype=dtype)})), sample_shape
    keras_model = model.model
    function = tf.function(lambda batch: keras_model(batch, training=False))
    return (lambda batch: function(tf.constant(batch))), sample_shape


def _images(x, count: int, sample_shape: tuple):
    """``count`` test images as float32 in 0..1, the test set repeated when it has fewer."""
    import numpy as np

    n = int(x.shape[0])
    rows = np.asarray(x[: min(n, count)], dtype=np.float32) / np.float32(255.0)
    if count > rows.shape[0]:
        rows = rows[np.arange(count) % rows.shape[0]]
    return np.ascontiguousarray(rows.reshape((count, *sample_shape)))


def _finish(result) -> None:
    """Wait for the result: turn every output tensor into numpy."""
    if isinstance(result, dict):
        for value in result.values():
            _finish(value)
    elif isinstance(result, (list, tuple)):
        for value in result:
            _finish(value)
    elif hasattr(result, "numpy"):
        result.numpy()


def _time_per_image(forward, batch, repeats: int, warmup: int) -> tuple[float, int]:
    """Median milliseconds per image over the timed calls, and how many were timed."""
    started = time.perf_counter()
    for _ in range(max(1, warmup)):      # the first call traces the function
        _finish(forward(batch))
    per_call = (time.perf_counter() - started) / max(1, warmup)
    repeats = max(1, min(repeats, int(MAX_SECONDS / 2 / max(per_call, 1e-6))))
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        _finish(forward(batch))
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1000.0 / batch.shape[0], repeats


# ------------------------------------------------------------- what it is


def _params(model) -> dict:
    """The weights the forward pass uses: trainable and not."""
    import numpy as np

    if hasattr(model, "signature"):
        every = list(getattr(model.signature, "variables", None) or getattr(model.loaded, "variables", []))
        trainable_ids = {id(v) for v in (getattr(model.signature, "trainable_variables", None)
                                         or getattr(model.loaded, "trainable_variables", []))}
        trainable = sum(int(np.prod(v.shape)) for v in every if id(v) in trainable_ids)
        total = sum(int(np.prod(v.shape)) for v in every)
    else:
        keras_model = model.model
        trainable = sum(int(np.prod(w.shape)) for w in keras_model.trainable_weights)
        total = trainable + sum(int(np.prod(w.shape)) for w in keras_model.non_trainable_weights)
    return {"total": total, "trainable": trainable, "non_trainable": total - trainable}


def _flops(model, one) -> int | None:
    """Floating-point operations of one image's forward pass, from the graph."""
    import tensorflow as tf

    spec = tf.TensorSpec(one.shape, model.input_spec.dtype if hasattr(model, "signature") else tf.float32)
    if hasattr(model, "signature"):
        function = tf.function(lambda batch: model.signature(**{model.input_name: batch}))
    else:
        keras_model = model.model
        function = tf.function(lambda batch: keras_model(batch, training=False))
    concrete = function.get_concrete_function(spec)
    graph = concrete.graph
    if any(op.type in CALL_OPS for op in graph.get_operations()):
        from tensorflow.python.framework.convert_to_constants import convert_variables_to_constants_v2

        graph = convert_variables_to_constants_v2(concrete).graph    # inlines the calls; every shape known
    profiler = tf.compat.v1.profiler
    options = profiler.ProfileOptionBuilder(profiler.ProfileOptionBuilder.float_operation()).with_empty_output().build()
    logger = tf.get_logger()
    level = logger.level
    logger.setLevel("ERROR")        # the profiler's deprecation notices
    try:
        total = int(profiler.profile(graph, options=options).total_float_ops)
    finally:
        logger.setLevel(level)
    return total or None


def size_on_disk(path: Path) -> int:
    """Bytes of the model file, or of every file in a SavedModel folder (links not followed)."""
    if path.is_file():
        return int(path.stat().st_size)
    total = 0
    for folder, _, names in os.walk(path, followlinks=False):
        for name in names:
            try:
                info = os.lstat(os.path.join(folder, name))
            except OSError:
                continue
            if not os.path.islink(os.path.join(folder, name)):
                total += int(info.st_size)
    return total
