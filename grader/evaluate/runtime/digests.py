"""Runs in the sandbox beside runner.py (standard library, numpy, h5py and
TensorFlow only; never grader): per-layer digests of a loaded model's weights
and of a reference weights file. Called by runner.run_extras when the job asks
for them (ModelJob.digests).

    options = {"references": {"VGG16": "vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5", ...}}

Each reference is an ImageNet weights file in the inputs folder, in Keras's
legacy .h5 layout (what ``VGG16(weights="imagenet")`` downloads): a
``layer_names`` attribute in the network's layer order, and per layer a group
whose ``weight_names`` list its arrays in the layer's own order. The
reference whose layers the model shares most is compared with the model,
layer by layer, paired by name or, where the names are not the file's, by
order (pair_layers):

- ``sha256``: of every array's shape and float32 bytes, in order, for the
  model's layer and the file's; equal digests mean the very same weights;
- ``rel_diff``: ||model - reference|| / ||reference|| over the layer's arrays;
- ``correlation``: the size-weighted mean of each array's Pearson correlation
  with the reference's. A layer trained on from the ImageNet weights stays
  close to 1; one re-initialised or trained from scratch is near 0;
- ``trainable``: the flag the model was saved with (a layer inside a frozen
  nested model counts as frozen, as Keras trains it).

Nothing of the weights themselves leaves the sandbox, only these figures.
"""

from __future__ import annotations

import hashlib
import math
import os
from pathlib import Path

INPUTS = Path(os.environ.get("GRADER_INPUTS", "/inputs"))
MAX_LAYERS = 2000          # per model and per reference file; applications have at most ~800
MAX_NAME = 200


def layer_digests(model, x, path, options: dict) -> dict:
    inner = getattr(model, "model", None)
    if inner is None:
        raise ValueError("the model is a SavedModel folder, which keeps no Keras layers to compare with the "
                         "ImageNet weights; save it with model.save('model.keras')")
    layers = model_layers(inner)
    references = {}
    for application, file_name in sorted((options.get("references") or {}).items()):
        reference = INPUTS / str(file_name)
        if reference.is_file():
            references[str(application)] = (str(file_name), read_reference(reference))
    pairs = {app: pair_layers(layers, ref) for app, (_, ref) in references.items()}
    overlap = {app: len(paired) for app, paired in pairs.items()}
    chosen = max(overlap, key=lambda app: (overlap[app], app)) if overlap and max(overlap.values()) else None
    reference = references[chosen][1] if chosen else {"order": [], "weights": {}}
    paired = pairs.get(chosen, {})
    rows = [layer_row(layer, prefix, trainable, reference["weights"], paired.get(index))
            for index, (layer, prefix, trainable) in enumerate(layers)]
    present = set(paired.values())
    return {
        "reference": chosen,
        "reference_file": references[chosen][0] if chosen else None,
        "candidates": overlap,
        "reference_layers": [short(name) for name in reference["order"][:MAX_LAYERS]],
        "layers": rows[:MAX_LAYERS],
        "missing": [short(name) for name in reference["order"]
                    if name in reference["weights"] and name not in present][:MAX_LAYERS],
    }


def short(text) -> str:
    return str(text)[:MAX_NAME]


# ------------------------------------------------------------------ the model


def model_layers(model) -> list[tuple[object, str, bool]]:
    """(layer, nested-model prefix, effective trainable) of every layer that
    holds weights of its own, nested models opened, in the model's order."""
    found: list[tuple[object, str, bool]] = []

    def walk(container, prefix: str, trainable: bool, depth: int) -> None:
        for layer in getattr(container, "layers", None) or []:
            flag = trainable and bool(getattr(layer, "trainable", True))
            if isinstance(getattr(layer, "layers", None), list) and depth < 10:
                walk(layer, f"{prefix}{layer.name}/", flag, depth + 1)
            elif own_weights(layer):
                found.append((layer, prefix, flag))

    walk(model, "", bool(getattr(model, "trainable", True)), 0)
    return found


def own_weights(layer) -> list:
    return list(getattr(layer, "weights", None) or [])


def model_arrays(layer) -> list:
    import numpy as np

    return [np.asarray(weight.numpy(), dtype=np.float32) for weight in own_weights(layer)]


# -------------------------------------------------------------- the reference


def read_reference(path: Path) -> dict:
    """{"order": every layer name in the file's order, "weights": name -> [arrays]}."""
    import h5py
    import numpy as np

    order, weights = [], {}
    with h5py.File(path, "r") as handle:
        group = handle["model_weights"] if "model_weights" in handle else handle   # a whole-model .h5 too
        for name in [decoded(n) for n in group.attrs.get("layer_names", [])][:MAX_LAYERS]:
            order.append(name)
            layer = group[name]
            names = [decoded(n) for n in layer.attrs.get("weight_names", [])]
            if names:
                weights[name] = [np.asarray(layer[weight][()], dtype=np.float32) for weight in names]
    return {"order": order, "weights": weights}


def decoded(value) -> str:
    return value.decode("utf-8") if isinstance(value, bytes) else str(value)


def pair_layers(layers: list, reference: dict) -> dict[int, str]:
    """Which reference layer each of the model's layers is: {index in ``layers``: reference name}.

    By name where the model's layers carry the file's names and shapes (VGG16,
    ResNet50 and MobileNetV2 name every layer). Otherwise by order, as Keras's
    own loader pairs a weights file with a network: the file's layers with
    weights against a run of the model's with the same shapes in the same
    order. InceptionV3 names most of its layers by the session's counters
    (conv2d_12 in one notebook is conv2d_106 in another, and the file has
    its own), so only its order says which layer is which."""
    weighted = [name for name in reference["order"] if name in reference["weights"]]
    wanted = [[tuple(a.shape) for a in reference["weights"][name]] for name in weighted]
    have = [shapes(layer) for layer, _, _ in layers]
    by_name = {index: layer.name for index, (layer, _, _) in enumerate(layers)
               if layer.name in reference["weights"]
               and have[index] == [tuple(a.shape) for a in reference["weights"][layer.name]]}
    if len(set(by_name.values())) == len(weighted) or not wanted:
        return by_name
    for start in range(len(have) - len(wanted) + 1):
        if have[start] == wanted[0] and have[start:start + len(wanted)] == wanted:
            return {start + offset: name for offset, name in enumerate(weighted)}
    return by_name


def shapes(layer) -> list[tuple]:
    return [tuple(int(d) for d in weight.shape) for weight in own_weights(layer)]


# ------------------------------------------------------------------- figures


def digest(arrays: list) -> str:
    import numpy as np

    hasher = hashlib.sha256()
    for array in arrays:
        array = np.ascontiguousarray(array, dtype="<f4")
        hasher.update(repr(tuple(array.shape)).encode())
        hasher.update(array.tobytes())
    return hasher.hexdigest()


def layer_row(layer, prefix: str, trainable: bool, reference: dict, reference_name: str | None) -> dict:
    """A layer's figures; ``name`` is the reference layer it was paired with (its own when unpaired)."""
    arrays = model_arrays(layer)
    row = {"name": short(reference_name or layer.name), "prefix": short(prefix),
           "model_name": short(layer.name) if reference_name and reference_name != layer.name else None,
           "kind": short(layer.__class__.__name__), "trainable": trainable,
           "params": int(sum(a.size for a in arrays)), "sha256": digest(arrays),
           "reference_sha256": None, "rel_diff": None, "correlation": None, "note": None}
    expected = reference.get(reference_name) if reference_name else None
    if expected is None:
        return row
    row["reference_sha256"] = digest(expected)
    if [a.shape for a in arrays] != [a.shape for a in expected]:
        row["note"] = (f"its weights are shaped {[list(a.shape) for a in arrays]}, the reference's "
                       f"{[list(a.shape) for a in expected]}")
        return row
    row["rel_diff"], row["correlation"] = compare(arrays, expected)
    return row


def compare(arrays: list, expected: list) -> tuple[float | None, float | None]:
    """(relative difference, size-weighted mean correlation) of a layer's arrays with the reference's."""
    import numpy as np

    difference = sum(float(np.sum((a.astype(np.float64) - e) ** 2)) for a, e in zip(arrays, expected))
    norm = sum(float(np.sum(e.astype(np.float64) ** 2)) for e in expected)
    rel_diff = math.sqrt(difference / norm) if norm > 0 else (0.0 if difference == 0 else None)
    weighted, total = 0.0, 0
    for a, e in zip(arrays, expected):
        a, e = a.astype(np.float64).ravel(), e.astype(np.float64).ravel()
        if a.size < 2 or a.std() == 0 or e.std() == 0:
            continue        # a constant array (a fresh bias, BatchNorm's initial gamma) says nothing here
        weighted += float(np.corrcoef(a, e)[0, 1]) * a.size
        total += a.size
    correlation = weighted / total if total else None
    return (None if rel_diff is None or not math.isfinite(rel_diff) else round(rel_diff, 6),
            None if correlation is None or not math.isfinite(correlation) else round(correlation, 6))
