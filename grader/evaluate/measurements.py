"""The host's check of what runtime/measure.py reports: the sandbox wrote it,
so every field is type- and range-checked and rebuilt into the record's
shape (grader.records.ModelEvaluation.measurements); anything else is
Malformed, and the model is graded without measurements."""

from __future__ import annotations

from typing import Any

from grader.evaluate.readback import Malformed, integer, mapping, number

MAX_PARAMS = 10**11               # a hundred billion: no CIFAR-10 model comes near
MAX_FLOPS = 10**15
MAX_SIZE_BYTES = 1 << 40
MAX_MS_PER_IMAGE = 3_600_000.0    # an hour per image
MAX_BATCH = 4096
MAX_REPEATS = 100
MAX_THREADS = 1024


def validate_measurements(value: Any) -> dict[str, Any]:
    value = mapping(value, "measurements")
    params = mapping(value.get("params"), "measurements.params")
    total = integer(params.get("total"), 0, MAX_PARAMS)
    trainable = integer(params.get("trainable"), 0, MAX_PARAMS)
    non_trainable = integer(params.get("non_trainable"), 0, MAX_PARAMS)
    if trainable + non_trainable != total:
        raise Malformed(f"measurements.params: {trainable} trainable + {non_trainable} non-trainable is not "
                        f"the total {total}")
    latency = mapping(value.get("latency"), "measurements.latency")
    flops = value.get("flops")
    return {
        "params": {"total": total, "trainable": trainable, "non_trainable": non_trainable},
        "latency": {"batch1_ms": number(latency.get("batch1_ms"), 0.0, MAX_MS_PER_IMAGE),
                    "large_batch": integer(latency.get("large_batch"), 2, MAX_BATCH),
                    "large_batch_ms": number(latency.get("large_batch_ms"), 0.0, MAX_MS_PER_IMAGE),
                    "repeats": integer(latency.get("repeats"), 1, MAX_REPEATS),
                    "threads": integer(latency.get("threads"), 1, MAX_THREADS)},
        "flops": None if flops is None else integer(flops, 1, MAX_FLOPS),
        "size_bytes": integer(value.get("size_bytes"), 0, MAX_SIZE_BYTES),
    }
