"""The host's check of what runtime/digests.py reports.

It came out of a sandbox that ran a student's model, so every field is
type-checked and bounded, and what the checks rely on is recomputed here:
a layer has the reference's weights exactly when its digest equals the
reference's (``equal``), never because the sandbox says so.

    {"reference": "VGG16" | None, "reference_file": str | None,
     "candidates": {application: layers shared},
     "reference_layers": [every layer name of the reference file, in its order],
     "layers": [{"name" (the reference layer it was paired with), "prefix", "model_name" (its own
                 name when that differs), "kind", "trainable", "params", "sha256",
                 "reference_sha256" (None: no namesake in the reference),
                 "equal", "rel_diff", "correlation", "note"}],
     "missing": [reference layers with weights that the model lacks]}
"""

from __future__ import annotations

import re
from typing import Any

from grader.evaluate import readback
from grader.evaluate.readback import Malformed

MAX_LAYERS = 2000
NAME_LIMIT = 200
SHA256 = re.compile(r"[0-9a-f]{64}")


def validate_layer_digests(value: Any) -> dict[str, Any]:
    data = readback.mapping(value, "layer digests")
    reference = readback.optional_text(data.get("reference"), 40)
    layers = _list(data.get("layers"), "layers")
    return {
        "reference": reference,
        "reference_file": readback.optional_text(data.get("reference_file"), NAME_LIMIT),
        "candidates": {readback.text(k, 40): readback.integer(v, 0, MAX_LAYERS)
                       for k, v in readback.mapping(data.get("candidates") or {}, "candidates").items()},
        "reference_layers": [readback.text(n, NAME_LIMIT) for n in _list(data.get("reference_layers"), "names")],
        "layers": [_layer(row) for row in layers],
        "missing": [readback.text(n, NAME_LIMIT) for n in _list(data.get("missing"), "missing")],
    }


def _list(value: Any, what: str) -> list:
    if value is None:
        return []
    if not isinstance(value, list) or len(value) > MAX_LAYERS:
        raise Malformed(f"the digests' {what} is not a list of at most {MAX_LAYERS}")
    return value


def _digest(value: Any) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or not SHA256.fullmatch(value):
        raise Malformed("a layer digest is not a sha256 in hex")
    return value


def _figure(value: Any, low: float, high: float) -> float | None:
    return None if value is None else readback.number(value, low, high)


def _layer(value: Any) -> dict[str, Any]:
    row = readback.mapping(value, "a layer's digests")
    sha, reference = _digest(row.get("sha256")), _digest(row.get("reference_sha256"))
    if sha is None:
        raise Malformed("a layer has no digest")
    trainable = readback.flag(row.get("trainable"))
    if trainable is None:
        raise Malformed("a layer has no trainable flag")
    return {
        "name": readback.text(row.get("name"), NAME_LIMIT),
        "prefix": readback.text(row.get("prefix"), NAME_LIMIT),
        "model_name": readback.optional_text(row.get("model_name"), NAME_LIMIT),
        "kind": readback.text(row.get("kind"), 60),
        "trainable": trainable,
        "params": readback.integer(row.get("params"), 0, 10**10),
        "sha256": sha,
        "reference_sha256": reference,
        "equal": reference is not None and sha == reference,
        "rel_diff": _figure(row.get("rel_diff"), 0.0, 1e12),
        "correlation": _figure(row.get("correlation"), -1.0 - 1e-6, 1.0 + 1e-6),
        "note": readback.optional_text(row.get("note"), 300),
    }


# ------------------------------------------------------------------ staging


def stage_references(space, job, work_dir):
    """The job with its reference weights files linked into the sandbox's inputs.

    The host asks with ``digests = {"reference_files": {application: host path}}``;
    the sandbox gets ``{"references": {application: file name in /inputs}}``, the
    files coming from the shared inputs cache like the ResNet50 weights. A path
    that is not a file is left out (the check says which file is missing)."""
    import dataclasses
    from pathlib import Path

    from grader.evaluate import workspace

    if not job.digests or "reference_files" not in job.digests:
        return job
    options = {key: value for key, value in job.digests.items() if key != "reference_files"}
    names = {}
    for application, host_path in sorted(job.digests["reference_files"].items()):
        source = Path(host_path)
        if not source.is_file():
            continue
        names[application] = source.name
        workspace.add_input(space, workspace.cached_file(Path(work_dir), source), source.name)
    return dataclasses.replace(job, digests={**options, "references": names})
