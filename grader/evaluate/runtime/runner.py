#!/usr/bin/env python3
"""Runs inside the sandbox: loads each model of one submission, predicts the
test inputs, and writes probabilities and an architecture summary to /output.

Standalone on purpose: it imports only the standard library, NumPy,
TensorFlow, Keras 3, tf_keras and Pillow, never the grader, because it is
copied into /job and runs where the grader is not installed. Everything it
writes is read by the host as untrusted data.

    python3 runner.py /job/job.json

job.json: {"models": [{"id", "path", "input", "scaling", "alternative_scalings",
"input_shape", "num_classes", "batch_size", "probe"}], "imagenet": [{"id", "images",
"weights", "class_index", "top", "max_pixels"}], "limits": {...}}.
Paths are relative to the submission (models, images) or to the inputs folder
(datasets as <name>.npy, weights, class index). A "probe" model runs on a
few generated images because the test set is missing: its architecture and
output shape are reported, and no other scaling is tried.
"""

from __future__ import annotations

import collections
import errno
import json
import math
import os
import signal
import sys
import time
import traceback
import warnings
import zipfile
from pathlib import Path

MAIN_PID = os.getpid()
SUBMISSION = Path(os.environ.get("GRADER_SUBMISSION", "/submission"))
INPUTS = Path(os.environ.get("GRADER_INPUTS", "/inputs"))
OUTPUT = Path(os.environ.get("GRADER_OUTPUT", "/output"))
SCRATCH = Path(os.environ.get("TMPDIR", "/tmp"))

ALTERNATIVE_SUBSET = 1000   # the first N test inputs, for the alternative scalings
HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"
AUGMENTATION_LAYERS = {
    "RandomFlip", "RandomRotation", "RandomZoom", "RandomTranslation",
    "RandomContrast", "RandomCrop", "RandomBrightness",
}
IMAGENET_SIZE = (224, 224)
LINE_LIMIT = 400


# ------------------------------------------------------------------ plumbing


def guard_forked_child() -> None:
    """A model's code may fork (a fork bomb in a Lambda): copies of this
    process must never write results or go on to the next model."""
    if os.getpid() != MAIN_PID:
        os._exit(0)


def end_forked_child() -> None:
    """os.register_at_fork's hook: a copy of this process ends the moment it
    is forked, before it runs any of a model's code. Loading and running a
    model never needs a fork (subprocess's fork-and-exec does not call the
    hook), so a Lambda's fork bomb makes only zombies: they fill the
    sandbox's process slots within a few hundred forks, the model's next
    fork fails, and the model fails in well under a second instead of
    sharing one CPU with a hundred forking copies of TensorFlow until the
    whole submission's time is up."""
    os._exit(0)


def _stray_processes() -> set[int]:
    """Live processes this one started, directly or not, or that share its
    session (orphans of a fork bomb are re-parented but stay in the session)."""
    own_session = os.getsid(0) == MAIN_PID
    parents: dict[int, int] = {}
    strays: set[int] = set()
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) == MAIN_PID:
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as handle:
                fields = handle.read().rsplit(b")", 1)[1].split()
        except OSError:
            continue
        if fields[0] == b"Z":
            continue
        pid, ppid, session = int(entry), int(fields[1]), int(fields[3])
        parents[pid] = ppid
        if own_session and session == MAIN_PID:
            strays.add(pid)
    for pid in parents:
        ancestor, hops = parents.get(pid), 0
        while ancestor and ancestor != MAIN_PID and hops < 64:
            ancestor, hops = parents.get(ancestor), hops + 1
        if ancestor == MAIN_PID:
            strays.add(pid)
    return strays


def stop_stray_processes() -> None:
    """Kill what a model's code left running (a fork bomb's copies) and reap
    the dead, so they stop holding the sandbox's process slots and CPU."""
    guard_forked_child()
    for _ in range(200):   # copies may fork between two rounds; each round kills more
        strays = _stray_processes()
        if not strays:
            break
        for pid in strays:
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass
        time.sleep(0.01)
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            break
        if pid == 0:
            break


def say(text: str) -> None:
    guard_forked_child()
    print(f"[runner] {text}", flush=True)


def one_line(exc: BaseException) -> str:
    text = " ".join(f"{exc.__class__.__name__}: {exc}".split())
    return text[:LINE_LIMIT]


def atomic_write_bytes(path: Path, data: bytes) -> None:
    guard_forked_child()
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with open(tmp, "wb") as handle:
        handle.write(data)
    os.replace(tmp, path)


def save_array(path: Path, array) -> None:
    import io

    import numpy as np

    buffer = io.BytesIO()
    np.save(buffer, np.ascontiguousarray(array, dtype=np.float32), allow_pickle=False)
    atomic_write_bytes(path, buffer.getvalue())


class ResultWriter:
    """result.json, rewritten atomically after every model so a run stopped by
    the timeout still leaves what finished."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.data = {"runner": 1, "versions": {}, "models": {}, "imagenet": {}, "finished": False}

    def flush(self) -> None:
        text = json.dumps(self.data, allow_nan=False, default=str)
        atomic_write_bytes(self.path, text.encode("utf-8"))


# ------------------------------------------------------------ explanations


class RunnerError(Exception):
    """An expected failure whose message is already in plain words."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind


class LoadFailed(Exception):
    def __init__(self, failures: dict[str, BaseException]) -> None:
        super().__init__("; ".join(f"{name}: {one_line(exc)}" for name, exc in failures.items()))
        self.failures = failures


def _chain(exc: BaseException) -> list[BaseException]:
    """The exception, what caused it, and every loader's failure inside it."""
    seen: list[BaseException] = []
    stack = [exc]
    while stack:
        current = stack.pop()
        if current is None or any(current is s for s in seen):
            continue
        seen.append(current)
        stack += [current.__cause__, current.__context__]
        if isinstance(current, LoadFailed):
            stack += list(current.failures.values())
    return seen


def explain(exc: BaseException, limits: dict) -> tuple[str, str]:
    """(kind, plain message) for why a model failed."""
    chain = _chain(exc)
    text = " ".join(one_line(e) for e in chain)
    memory_mb = limits.get("memory_mb", "?")
    for e in chain:
        if isinstance(e, RunnerError):
            return e.kind, str(e)
    if any(isinstance(e, MemoryError) for e in chain) or "MemoryError" in text or "bad_alloc" in text:
        return "memory", f"the model ran out of the {memory_mb} MB memory limit"
    if any(isinstance(e, OSError) and e.errno == errno.EAGAIN for e in chain) \
            or "Resource temporarily unavailable" in text:
        return "processes", (
            f"the model tried to start more processes than the sandbox allows ({limits.get('pids', '?')}); "
            "a model must not start processes"
        )
    network_errnos = {errno.ECONNREFUSED, errno.ENETUNREACH, errno.EHOSTUNREACH, errno.EADDRNOTAVAIL}
    if any(isinstance(e, OSError) and e.errno in network_errnos for e in chain) \
            or any(e.__class__.__name__ in ("gaierror", "ConnectionRefusedError") for e in chain) \
            or "Connection refused" in text or "Network is unreachable" in text:
        return "network", "the model tried to open a network connection, which the sandbox blocks"
    if any(e.__class__.__name__ == "SystemExit" for e in chain):
        return "exit", "the model's code tried to end the program while loading"
    if "safe_mode" in text or "arbitrary code execution" in text:
        if "lambda" in text.lower():
            return "lambda", (
                "the model contains a Lambda layer whose code cannot be loaded safely; save the model "
                "without Lambda layers (use a Rescaling layer instead)"
            )
        return "unsafe", (
            "the model refers to Python code outside Keras, which cannot be loaded safely; "
            "save it with built-in Keras layers only"
        )
    filesystem_errnos = {errno.EROFS, errno.EACCES, errno.EPERM}
    if any(isinstance(e, OSError) and e.errno in filesystem_errnos for e in chain) \
            or "Read-only file system" in text or "Permission denied" in text:
        return "filesystem", (
            "the model's code tried to read or write files outside its own folder, which the sandbox blocks"
        )
    if isinstance(exc, LoadFailed):
        return "load", f"the model could not be loaded ({exc})"[: 2 * LINE_LIMIT]
    return "error", f"the model failed while running ({one_line(exc)})"


# ------------------------------------------------------------------ loading


def sniff(path: Path) -> str | None:
    """What the bytes are: "h5", "keras", "keras-dir", "savedmodel", "zip" or None."""
    if path.is_dir():
        if (path / "saved_model.pb").is_file() or (path / "saved_model.pbtxt").is_file():
            return "savedmodel"
        if (path / "config.json").is_file():
            return "keras-dir"
        return None
    size = path.stat().st_size
    with open(path, "rb") as handle:
        if handle.read(4) == b"PK\x03\x04":
            try:
                with zipfile.ZipFile(path) as archive:
                    return "keras" if "config.json" in archive.namelist() else "zip"
            except zipfile.BadZipFile:
                return None
        # HDF5 may sit after a user block of 512, 1024, 2048, ... bytes.
        offset = 0
        while offset < min(size, 1 << 20):
            handle.seek(offset)
            if handle.read(8) == HDF5_SIGNATURE:
                return "h5"
            offset = 512 if offset == 0 else offset * 2
    return None


def named_for_keras(path: Path, kind: str, index: int, notes: list[str]) -> Path:
    """Keras picks a format by the file's extension: give a misnamed file the
    right one through a symlink in /tmp."""
    wanted = {"h5": (".h5", ".hdf5"), "keras": (".keras",)}.get(kind)
    if not wanted or path.suffix.lower() in wanted:
        return path
    link_dir = SCRATCH / "models" / str(index)
    link_dir.mkdir(parents=True, exist_ok=True)
    link = link_dir / f"model{wanted[0]}"
    if link.is_symlink() or link.exists():
        link.unlink()
    link.symlink_to(path)
    label = "HDF5 (.h5)" if kind == "h5" else ".keras zip"
    notes.append(f"the file is a {label} model but is named {path.name!r}; it was loaded as {wanted[0]}")
    return link


def shape_list(shape) -> list[int | None] | None:
    if shape is None:
        return None
    try:
        return [None if d is None else int(d) for d in tuple(shape)]
    except (TypeError, ValueError):
        return None


class KerasModel:
    """A model loaded by Keras 3 or tf_keras: the same API for what we need."""

    def __init__(self, model) -> None:
        self.model = model

    def predict(self, batch):
        return self.model.predict_on_batch(batch)

    @property
    def input_shape(self) -> list[int | None] | None:
        inputs = getattr(self.model, "inputs", None) or []
        if len(inputs) > 1:
            raise RunnerError("inputs", f"the model has {len(inputs)} inputs; one image input was expected")
        if not inputs:
            return None
        return shape_list(inputs[0].shape)[1:]

    def architecture(self) -> dict:
        import numpy as np

        types: collections.Counter[str] = collections.Counter()

        def walk(container) -> None:
            for layer in getattr(container, "layers", []):
                if isinstance(getattr(layer, "layers", None), list):
                    walk(layer)   # a nested model (e.g. a data-augmentation Sequential)
                elif layer.__class__.__name__ != "InputLayer":
                    types[layer.__class__.__name__] += 1

        walk(self.model)
        outputs = getattr(self.model, "outputs", None) or []
        trainable = sum(int(np.prod(w.shape)) for w in self.model.trainable_weights)
        return {
            "input_shape": self.input_shape,
            "output_shape": shape_list(outputs[0].shape)[1:] if outputs else None,
            "params": {"total": int(self.model.count_params()), "trainable": trainable},
            "layer_types": dict(types),
        }


class SavedModel:
    """A TensorFlow SavedModel folder, run through its serving signature."""

    def __init__(self, path: Path) -> None:
        import tensorflow as tf

        self.path = path
        self.loaded = tf.saved_model.load(str(path))
        signatures = dict(self.loaded.signatures)
        if not signatures:
            raise RunnerError("load", "the SavedModel has no serving signature to call")
        self.signature = signatures.get("serving_default") or signatures[sorted(signatures)[0]]
        specs = self.signature.structured_input_signature[1]
        if len(specs) != 1:
            raise RunnerError("inputs", f"the SavedModel's signature takes {len(specs)} inputs; one was expected")
        (self.input_name, self.input_spec), = specs.items()

    def predict(self, batch):
        import tensorflow as tf

        outputs = self.signature(**{self.input_name: tf.constant(batch, dtype=self.input_spec.dtype)})
        if isinstance(outputs, dict):
            outputs = outputs[sorted(outputs)[0]]
        return outputs.numpy()

    @property
    def input_shape(self) -> list[int | None] | None:
        shape = shape_list(self.input_spec.shape)
        return shape[1:] if shape else None

    def architecture(self) -> dict:
        import numpy as np

        outputs = self.signature.structured_outputs
        output = outputs[sorted(outputs)[0]] if isinstance(outputs, dict) else outputs
        variables = list(getattr(self.loaded, "variables", []))
        trainable = list(getattr(self.loaded, "trainable_variables", []))
        return {
            "input_shape": self.input_shape,
            "output_shape": (shape_list(getattr(output, "shape", None)) or [None])[1:],
            "params": {
                "total": sum(int(np.prod(v.shape)) for v in variables),
                "trainable": sum(int(np.prod(v.shape)) for v in trainable),
            },
            "layer_types": self._keras_layer_types(),
        }

    def _keras_layer_types(self) -> dict[str, int]:
        """Layer class names from keras_metadata.pb (written by tf.keras), read as data."""
        metadata = self.path / "keras_metadata.pb"
        if not metadata.is_file():
            return {}
        try:
            from tf_keras.protobuf import saved_metadata_pb2
        except ImportError:
            return {}
        parsed = saved_metadata_pb2.SavedMetadata()
        parsed.ParseFromString(metadata.read_bytes())
        types: collections.Counter[str] = collections.Counter()
        for node in parsed.nodes:
            if node.identifier != "_tf_keras_layer":
                continue
            try:
                types[str(json.loads(node.metadata).get("class_name", "?"))] += 1
            except (ValueError, AttributeError):
                continue
        return dict(types)


def load_model(path: Path, index: int, record: dict):
    """Keras 3 in safe mode, then (for .h5) tf_keras, or tf.saved_model.load for
    a SavedModel folder. Never Keras 3 with safe_mode=False."""
    if not path.exists():
        raise RunnerError("missing", f"the file {record['path']} is not in the submission")
    kind = sniff(path)
    if kind is None or kind == "zip":
        what = "a zip archive without a Keras config.json" if kind == "zip" else (
            "a folder that is not a SavedModel (no saved_model.pb)" if path.is_dir()
            else "neither HDF5, a .keras zip nor a SavedModel folder (random bytes?)")
        raise RunnerError("not-a-model", f"the file is not a Keras model: it is {what}")
    record["format"] = kind
    failures: dict[str, BaseException] = {}
    if kind in ("h5", "keras", "keras-dir"):
        target = named_for_keras(path, kind, index, record["notes"])
        try:
            import keras

            model = keras.models.load_model(target, safe_mode=True, compile=False)
            return "keras3-safe", KerasModel(model)
        except BaseException as exc:  # noqa: BLE001 - a model may raise anything
            guard_forked_child()
            failures["keras3-safe"] = exc
        if kind == "h5":
            try:
                import tf_keras

                model = tf_keras.models.load_model(target, compile=False)
                return "tf_keras", KerasModel(model)
            except BaseException as exc:  # noqa: BLE001
                guard_forked_child()
                failures["tf_keras"] = exc
    if kind == "savedmodel":
        try:
            return "saved_model", SavedModel(path)
        except RunnerError:
            raise
        except BaseException as exc:  # noqa: BLE001
            guard_forked_child()
            failures["saved_model"] = exc
    raise LoadFailed(failures)


# --------------------------------------------------------------- predicting


_INPUT_CACHE: dict[str, object] = {}


def load_inputs(name: str):
    import numpy as np

    if name not in _INPUT_CACHE:
        path = INPUTS / f"{name}.npy"
        if not path.is_file():
            raise RunnerError("inputs", f"the test inputs {name}.npy are missing from the sandbox (a grader bug)")
        _INPUT_CACHE[name] = np.load(path, mmap_mode="r", allow_pickle=False)
    return _INPUT_CACHE[name]


def fit_to_model(x, declared: list[int], wanted: list[int | None] | None):
    """The test inputs reshaped to what the model takes, and a note saying how."""
    import numpy as np

    n = x.shape[0]
    if declared and math.prod(declared) == math.prod(x.shape[1:]):
        x = x.reshape((n, *declared))
    have = list(x.shape[1:])
    if not wanted:
        return x, None
    if len(wanted) == len(have) and all(w is None or w == h for w, h in zip(wanted, have)):
        return x, None
    if None not in wanted and math.prod(wanted) == math.prod(have):
        return x.reshape((n, *wanted)), f"reshaped the {tuple(have)} test images to {tuple(wanted)}, the model's input"
    if None not in wanted and wanted[:-1] == have[:-1] and wanted[-1] == 3 and have[-1] == 1:
        return np.repeat(x, 3, axis=-1), "repeated the grayscale channel 3 times, as the model takes RGB input"
    raise RunnerError(
        "input-shape",
        f"the model expects input of shape {tuple(wanted)}, but the test images are {tuple(have)}",
    )


def scaled(batch, scaling: str):
    import numpy as np

    batch = np.asarray(batch, dtype=np.float32)
    if scaling == "unit":
        return batch / np.float32(255.0)
    if scaling == "raw":
        return batch
    raise RunnerError("scaling", f"unknown input scaling {scaling!r}")


def predict_all(model, x, scaling: str, batch_size: int):
    import numpy as np

    outputs = []
    for start in range(0, x.shape[0], batch_size):
        result = model.predict(scaled(x[start:start + batch_size], scaling))
        guard_forked_child()
        if isinstance(result, (list, tuple)):
            result = result[0]
        if isinstance(result, dict):
            result = result[sorted(result)[0]]
        result = np.asarray(result, dtype=np.float32)
        outputs.append(result.reshape(result.shape[0], -1))
    if not outputs:
        raise RunnerError("inputs", "there are no test inputs")
    return np.concatenate(outputs, axis=0)


# Per-layer weight fingerprints, for the class's integrity step on the host
# (grader/integrity/models.py): only figures leave the sandbox, never weights.
# The projection is the same for every student (it depends only on the
# element index), so two students' vectors of one tensor are comparable; it is
# computed with integer arithmetic, not a NumPy random stream, so the keras2
# and keras3 runtimes (NumPy 1 and 2) give the same figures.
FINGERPRINT_DIMS = 32
FINGERPRINT_MAX_TENSORS = 200
FINGERPRINT_MAX_ELEMENTS = 1 << 18   # a larger tensor is sampled at a fixed stride
FINGERPRINT_CHUNK = 1 << 16
_SIGNS: dict[int, object] = {}        # chunk number -> int8 signs, shared by every tensor
FINGERPRINT_SEED = 0x9E3779B97F4A7C15


def _projection_signs(chunk: int):
    """±1 (int8) of shape (FINGERPRINT_CHUNK, FINGERPRINT_DIMS) for elements of one chunk,
    from a splitmix64 hash of each (element, dim)."""
    import numpy as np

    if chunk in _SIGNS:
        return _SIGNS[chunk]
    start, stop = chunk * FINGERPRINT_CHUNK, (chunk + 1) * FINGERPRINT_CHUNK
    with np.errstate(over="ignore"):
        index = (np.arange(start, stop, dtype=np.uint64)[:, None] * np.uint64(FINGERPRINT_DIMS)
                 + np.arange(FINGERPRINT_DIMS, dtype=np.uint64)[None, :]) ^ np.uint64(FINGERPRINT_SEED)
        z = index + np.uint64(0x9E3779B97F4A7C15)
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        z = z ^ (z >> np.uint64(31))
    _SIGNS[chunk] = np.where((z >> np.uint64(63)) == 1, np.int8(1), np.int8(-1))
    return _SIGNS[chunk]


def tensor_fingerprint(name: str, values) -> dict:
    import numpy as np

    flat = np.asarray(values, dtype=np.float32).reshape(-1)
    shape = [int(d) for d in np.shape(values)]
    stride = max(1, math.ceil(flat.size / FINGERPRINT_MAX_ELEMENTS))
    flat = np.nan_to_num(flat[::stride], nan=0.0, posinf=0.0, neginf=0.0)
    projection = np.zeros(FINGERPRINT_DIMS, dtype=np.float64)
    for number, start in enumerate(range(0, flat.size, FINGERPRINT_CHUNK)):
        chunk = flat[start:start + FINGERPRINT_CHUNK].astype(np.float64)
        projection += chunk @ _projection_signs(number)[:chunk.size].astype(np.float64)
    projection /= math.sqrt(FINGERPRINT_DIMS)
    return {"name": str(name)[:120], "shape": shape, "stride": stride,
            "norm": float(np.linalg.norm(flat.astype(np.float64))),
            "projection": [round(float(v), 6) for v in projection]}


def weight_fingerprints(model) -> list[dict]:
    """One fingerprint per weight tensor, in the model's own order; [] when the
    weights cannot be read (the model still gets graded)."""
    inner = getattr(model, "model", None)
    variables = list(getattr(inner, "weights", None) or getattr(getattr(model, "loaded", None), "variables", []) or [])
    prints = []
    for variable in variables[:FINGERPRINT_MAX_TENSORS]:
        try:
            name = getattr(variable, "path", None) or getattr(variable, "name", "?")
            prints.append(tensor_fingerprint(name, variable.numpy()))
        except Exception:  # noqa: BLE001 - a figure we cannot take is left out
            guard_forked_child()
            return []
    return prints


# ------------------------------------------------------------- layer graph
# The loaded model's layers and their connections, as plain data the host's
# grader/architecture reads (after validating it): the only view of a
# subclassed model saved without a config. Traced, never run on data: one
# tf.function trace of the model's call, with each leaf layer's call recorded
# (Keras), or the ops of the SavedModel's serving function grouped by the
# layer name scopes they were saved under.

GRAPH_LIMIT = 5000
MERGE_OPS = {"AddV2": "Add", "Add": "Add", "AddN": "Add", "ConcatV2": "Concatenate", "Concat": "Concatenate",
             "Sub": "Subtract", "Mul": "Multiply"}
SCOPE_KINDS = (("Conv2D", "Conv2D"), ("DepthwiseConv2dNative", "DepthwiseConv2D"), ("Conv3D", "Conv3D"),
               ("MatMul", "Dense"), ("MaxPool", "MaxPooling2D"), ("AvgPool", "AveragePooling2D"),
               ("FusedBatchNormV3", "BatchNormalization"), ("Mean", "GlobalAveragePooling2D"),
               ("ConcatV2", "Concatenate"), ("AddV2", "Add"), ("Relu", "Activation"), ("Softmax", "Activation"))
PASS_THROUGH = {"Placeholder", "Const", "VarHandleOp", "ReadVariableOp", "NoOp", "Identity"}


def graph_sizes(value):
    if value is None:
        return None
    if isinstance(value, int):
        value = (value,)
    try:
        sizes = [int(v) for v in value]
    except (TypeError, ValueError):
        return None
    return sizes if 1 <= len(sizes) <= 3 and all(0 < v <= 10000 for v in sizes) else None


def trace_layer_graph(model, declared_shape: list | None = None) -> dict | None:
    """{"layers": [...], "model_class": ...} for the host, or None when it cannot be traced.
    ``declared_shape``: the data set's input shape, for a subclassed model that states none."""
    try:
        if isinstance(model, SavedModel):
            layers = saved_model_graph(model.signature)
            model_class = None
        else:
            layers = keras_model_graph(model.model, model.input_shape or declared_shape or [])
            model_class = model.model.__class__.__name__
    except BaseException as exc:  # noqa: BLE001 - the graph is evidence, never a reason to fail
        guard_forked_child()
        say(f"the layer graph could not be traced: {one_line(exc)}")
        return None
    if not layers or len(layers) > GRAPH_LIMIT:
        return None
    return {"source": "sandbox", "model_class": model_class, "layers": layers}


def leaf_layers(model) -> list:
    """Every layer without sublayers: nested models and custom blocks opened."""
    seen, leaves = set(), []

    def walk(layer, depth: int) -> None:
        for child in layer._flatten_layers(include_self=False, recursive=False):
            if id(child) in seen or depth > 20:
                continue
            seen.add(id(child))
            if list(child._flatten_layers(include_self=False, recursive=False)):
                walk(child, depth + 1)
            else:
                leaves.append(child)

    walk(model, 0)
    return leaves


def keras_model_graph(model, input_shape: list) -> list[dict]:
    """Traces one call with every leaf layer's call recorded; each layer's
    inputs are followed back through the traced ops to the layers (or the
    un-layered merges, such as ``x + y`` in a subclassed call) they came from."""
    import tensorflow as tf

    calls = []
    wrapped = []
    for layer in leaf_layers(model):
        if layer.__class__.__name__ == "InputLayer":
            continue
        original = layer.call

        def recording(*args, _layer=layer, _original=original, **kwargs):
            out = _original(*args, **kwargs)
            inputs = [t for t in tf.nest.flatten((args, kwargs)) if tf.is_tensor(t)]
            calls.append((_layer, inputs, [t for t in tf.nest.flatten(out) if tf.is_tensor(t)]))
            return out

        layer.call = recording
        wrapped.append(layer)
    try:
        shape = [1] + [d if d is not None else 32 for d in input_shape]
        concrete = tf.function(lambda x: model(x, training=False), autograph=False).get_concrete_function(
            tf.TensorSpec(shape, tf.float32))
    finally:
        for layer in wrapped:
            layer.__dict__.pop("call", None)   # the class's call again
    produced, nodes = {}, []
    names: collections.Counter[str] = collections.Counter()
    for layer, _, outputs in calls:
        names[layer.name] += 1
        name = layer.name if names[layer.name] == 1 else f"{layer.name}#{names[layer.name]}"
        for tensor in outputs:
            produced.setdefault(tensor.name, name)
        nodes.append({"name": name, "kind": layer.__class__.__name__,
                      "kernel_size": graph_sizes(getattr(layer, "kernel_size", None)),
                      "pool_size": graph_sizes(getattr(layer, "pool_size", None)),
                      "strides": graph_sizes(getattr(layer, "strides", None)),
                      "dilation": graph_sizes(getattr(layer, "dilation_rate", None)),
                      "trainable": bool(getattr(layer, "trainable", True))})
    tracer = OpTracer(produced, {concrete.inputs[0].name} if concrete.inputs else set())
    graph = [{"name": "input", "kind": "InputLayer", "inbound": []}]
    for node, (_, inputs, _) in zip(nodes, calls):
        inbound = [name for tensor in inputs for name in tracer.sources(tensor)]
        graph.extend(tracer.take_merges())
        node["inbound"] = list(dict.fromkeys(n for n in inbound if n != node["name"]))
        graph.append({k: v for k, v in node.items() if v is not None})
    return graph


class OpTracer:
    """Follows a graph tensor back to the nodes that produced it."""

    def __init__(self, produced: dict, inputs: set) -> None:
        self.produced, self.inputs = produced, inputs
        self.memo: dict[str, list[str]] = {}
        self.merges: dict[str, dict] = {}
        self.fresh: list[dict] = []

    def take_merges(self) -> list[dict]:
        fresh, self.fresh = self.fresh, []
        return fresh

    def sources(self, tensor, depth: int = 0) -> list[str]:
        key = tensor.name
        if key in self.produced:
            return [self.produced[key]]
        if key in self.inputs:
            return ["input"]
        if key in self.memo or depth > 400:
            return self.memo.get(key, [])
        self.memo[key] = []
        op = tensor.op
        if op.type in PASS_THROUGH - {"Identity"} or tensor.dtype.name == "resource":
            found: list[str] = []
        else:
            groups = [self.sources(t, depth + 1) for t in op.inputs]
            found = list(dict.fromkeys(n for group in groups for n in group))
            if op.type in MERGE_OPS and sum(bool(group) for group in groups) >= 2:
                if op.name not in self.merges:
                    self.merges[op.name] = {"name": op.name, "kind": MERGE_OPS[op.type], "inbound": found}
                    self.fresh.append(self.merges[op.name])
                found = [op.name]
        self.memo[key] = found
        return found


def saved_model_graph(signature) -> list[dict]:
    """The serving function's ops, grouped by the layer scopes tf.keras saved
    them under (``net/block/conv2d_1/Conv2D`` belongs to ``net/block/conv2d_1``)."""
    from tensorflow.python.framework import function_def_to_graph

    library = {f.signature.name: f for f in signature.graph.as_graph_def().library.function}
    if not library:
        return []
    biggest = max(library.values(), key=lambda f: len(f.node_def))
    graph = function_def_to_graph.function_def_to_graph(biggest)
    operations = [op for op in graph.get_operations() if op.type not in PASS_THROUGH]
    scopes = {op.name.rsplit("/", 1)[0] for op in operations if "/" in op.name}
    leaves = {s for s in scopes if not any(other.startswith(s + "/") for other in scopes)}
    produced, order, kinds, kernels = {}, [], collections.defaultdict(set), {}
    for op in operations:
        scope = op.name.rsplit("/", 1)[0] if "/" in op.name else ""
        if scope not in leaves:
            continue
        if scope not in kinds:
            order.append(scope)
        kinds[scope].add(op.type)
        for tensor in op.outputs:
            produced[tensor.name] = scope
        if op.type in ("Conv2D", "DepthwiseConv2dNative") and len(op.inputs) > 1 and op.inputs[1].shape.rank == 4:
            kernels[scope] = {"kernel_size": graph_sizes(op.inputs[1].shape.as_list()[:2])}
        elif op.type in ("MaxPool", "AvgPool"):
            kernels[scope] = {"pool_size": graph_sizes(list(op.get_attr("ksize"))[1:3]),
                              "strides": graph_sizes(list(op.get_attr("strides"))[1:3])}
    inputs = {t.name for t in graph.inputs if t.dtype.name != "resource"}
    tracer = OpTracer(produced, inputs)
    nodes = [{"name": "input", "kind": "InputLayer", "inbound": []}]
    first_op = {}
    for op in operations:
        scope = op.name.rsplit("/", 1)[0] if "/" in op.name else ""
        if scope in kinds:
            first_op.setdefault(scope, []).append(op)
    for scope in order:
        inbound = []
        for op in first_op[scope]:
            for tensor in op.inputs:
                if produced.get(tensor.name) != scope:
                    inbound.extend(tracer.sources(tensor))
        nodes.extend(tracer.take_merges())
        kind = next((name for op_type, name in SCOPE_KINDS if op_type in kinds[scope]), "Layer")
        nodes.append({"name": scope, "kind": kind, "inbound": list(dict.fromkeys(n for n in inbound if n != scope)),
                      **{k: v for k, v in kernels.get(scope, {}).items() if v is not None}})
    return nodes


def summarise(architecture: dict) -> dict:
    types = architecture.get("layer_types") or {}
    architecture["has_dropout"] = any("Dropout" in name for name in types)
    architecture["has_augmentation"] = any(name in AUGMENTATION_LAYERS for name in types)
    return architecture


def evaluate_model(spec: dict, index: int, limits: dict) -> dict:
    model_id = str(spec["id"])
    record = {
        "ok": False, "path": str(spec.get("path", "")), "loader": None, "format": None,
        "errors": {}, "message": "", "kind": None, "notes": [], "seconds": None,
        "input_shape": None, "output_shape": None, "params": None, "layer_types": {},
        "has_dropout": None, "has_augmentation": None, "scaling_used": None,
        "reshape_note": None, "n": 0, "alternatives": {},
    }
    started = time.monotonic()
    try:
        path = SUBMISSION / record["path"]
        loader, model = load_model(path, index, record)
        record["loader"] = loader
        say(f"{model_id}: loaded {record['path']} with {loader}")
        record.update(summarise(model.architecture()))
        record["layer_graph"] = trace_layer_graph(model, spec.get("input_shape"))
        record["fingerprints"] = weight_fingerprints(model)
        if loader == "tf_keras" and "Lambda" in record["layer_types"]:
            record["notes"].append(
                "Keras 3 refused the model's Lambda layer; tf_keras loaded it, which ran the layer's "
                "Python code (inside the sandbox). Save the model without Lambda layers "
                "(use a Rescaling layer instead)"
            )
        x, record["reshape_note"] = fit_to_model(load_inputs(spec["input"]), spec.get("input_shape") or [],
                                                 model.input_shape)
        batch_size = int(spec.get("batch_size") or 256)
        probabilities = predict_all(model, x, spec["scaling"], batch_size)
        save_array(OUTPUT / f"{model_id}.npy", probabilities)
        record.update(ok=True, scaling_used=spec["scaling"], n=int(probabilities.shape[0]))
        run_extras(model, x, path, spec, record)
        if spec.get("probe"):
            say(f"{model_id}: ran on {record['n']} probe images (no test set), output {record['output_shape']}")
            return record
        for alternative in spec.get("alternative_scalings") or []:
            try:
                subset = predict_all(model, x[:ALTERNATIVE_SUBSET], alternative, batch_size)
                name = f"{model_id}.{alternative}.npy"
                save_array(OUTPUT / name, subset)
                record["alternatives"][alternative] = {"file": name, "n": int(subset.shape[0])}
            except Exception as exc:  # noqa: BLE001
                guard_forked_child()
                record["notes"].append(f"the {alternative} scaling could not be tried: {one_line(exc)}")
    except BaseException as exc:  # noqa: BLE001 - whatever a model does, the next one runs
        guard_forked_child()
        record["kind"], record["message"] = explain(exc, limits)
        failures = exc.failures if isinstance(exc, LoadFailed) else {"run": exc}
        record["errors"] = {name: one_line(e) for name, e in failures.items()}
        say(f"{model_id}: failed: {record['message']}")
        if not isinstance(exc, (RunnerError, LoadFailed)):
            traceback.print_exc(limit=8, file=sys.stderr)
    finally:
        record["seconds"] = round(time.monotonic() - started, 3)
    return record


def run_extras(model, x, path: Path, spec: dict, record: dict) -> None:
    """What a rubric asks of a model beyond its predictions, each in its own
    module beside this one: measurements for a comparison of models
    (measure.py) and per-layer weight digests against a reference weights file
    (digests.py). Each is evidence for a check; one that fails leaves a note
    and the model is still graded."""
    sys.path.insert(0, str(Path(__file__).resolve().parent))    # -I leaves the script's folder out
    extras = (("measure", "measurements", "measure", "measure_model"),
              ("digests", "layer_digests", "digests", "layer_digests"))
    for key, field, module_name, function in extras:
        if not spec.get(key):
            continue
        try:
            module = __import__(module_name)
            record[field] = getattr(module, function)(model, x, path, spec[key])
        except Exception as exc:  # noqa: BLE001 - evidence only: the model is graded without it
            guard_forked_child()
            record["notes"].append(f"the {field.replace('_', ' ')} could not be taken: {one_line(exc)}")


# ----------------------------------------------------------------- ImageNet


def decode_image(path: Path, max_pixels: int):
    """An image as 224x224 RGB float32, decoded by content whatever its
    extension claims; its size is checked from the header before any pixel
    is decoded (decompression bombs)."""
    import numpy as np
    from PIL import Image, UnidentifiedImageError

    Image.MAX_IMAGE_PIXELS = None   # checked below, with a plainer message
    try:
        image = Image.open(path)
    except UnidentifiedImageError:
        raise RunnerError("not-an-image", "the file is not an image that Pillow can read") from None
    with image:
        if image.width * image.height > max_pixels:
            raise RunnerError("too-large", f"{image.width}x{image.height} pixels is over the {max_pixels} limit")
        # keras.utils.load_img's defaults, as the students used: RGB, nearest.
        rgb = image.convert("RGB").resize(IMAGENET_SIZE, Image.NEAREST)
        return np.asarray(rgb, dtype=np.float32)


def evaluate_imagenet(spec: dict, limits: dict) -> dict:
    import numpy as np

    record = {"ok": False, "status": "", "message": "", "predictions": [], "image_errors": [], "seconds": None}
    started = time.monotonic()
    try:
        weights = INPUTS / str(spec.get("weights", ""))
        class_index = INPUTS / str(spec.get("class_index", ""))
        if not spec.get("weights") or not weights.is_file():
            record.update(status="weights missing",
                          message="the ResNet50 ImageNet weights file is missing (weights missing)")
            return record
        if not spec.get("class_index") or not class_index.is_file():
            record.update(status="class index missing",
                          message="the ImageNet class index (imagenet_class_index.json) is missing")
            return record
        index = json.loads(class_index.read_text(encoding="utf-8"))
        classes = {int(key): (str(value[0]), str(value[1])) for key, value in index.items()}
        names, arrays = [], []
        max_pixels = int(spec.get("max_pixels") or limits.get("max_image_pixels") or 50_000_000)
        for relative in spec.get("images", []):
            try:
                arrays.append(decode_image(SUBMISSION / relative, max_pixels))
                names.append(relative)
            except BaseException as exc:  # noqa: BLE001
                guard_forked_child()
                reason = str(exc) if isinstance(exc, RunnerError) else one_line(exc)
                record["image_errors"].append({"image": relative, "error": reason})
        if not arrays:
            record.update(status="no images", message="none of the images could be read")
            return record
        import keras

        model = keras.applications.ResNet50(weights=str(weights))
        batch = keras.applications.resnet50.preprocess_input(np.stack(arrays))
        probabilities = np.asarray(model.predict(batch, batch_size=16, verbose=0), dtype=np.float64)
        top = int(spec.get("top") or 5)
        for name, row in zip(names, probabilities):
            for rank, class_id in enumerate(np.argsort(-row)[:top], start=1):
                wnid, label = classes.get(int(class_id), ("", str(int(class_id))))
                record["predictions"].append({
                    "image": name, "rank": rank, "wnid": wnid, "label": label,
                    "probability": float(row[class_id]),
                })
        record.update(ok=True, status="ok")
    except BaseException as exc:  # noqa: BLE001
        guard_forked_child()
        record.update(status="error", message=f"ResNet50 could not classify the images ({one_line(exc)})")
    finally:
        record["seconds"] = round(time.monotonic() - started, 3)
    return record


# --------------------------------------------------------------------- main


def release_memory() -> None:
    """Free what the last model held before the next one loads. A model that
    failed (a memory hog's MemoryError) leaves its frames, and what they
    allocated, in reference cycles with the traceback until collected."""
    import gc

    for name in ("keras", "tf_keras"):
        module = sys.modules.get(name)
        if module is not None:
            try:
                module.backend.clear_session()
            except Exception:  # noqa: BLE001 - best effort between models
                pass
    gc.collect()


def main(argv: list[str]) -> int:
    os.register_at_fork(after_in_child=end_forked_child)
    job = json.loads(Path(argv[1]).read_text(encoding="utf-8"))
    limits = job.get("limits") or {}
    writer = ResultWriter(OUTPUT / "result.json")
    writer.flush()
    started = time.monotonic()
    import numpy
    import tensorflow as tf

    writer.data["versions"] = {"python": sys.version.split()[0], "numpy": numpy.__version__,
                               "tensorflow": tf.__version__}
    say(f"TensorFlow {tf.__version__} imported in {time.monotonic() - started:.1f} s")
    if any(spec.get("measure") for spec in job.get("models", [])):
        # Timings compare models only under one condition: one thread for every
        # model, set before any op runs (TensorFlow refuses it later). See measure.py.
        try:
            tf.config.threading.set_intra_op_parallelism_threads(1)
            tf.config.threading.set_inter_op_parallelism_threads(1)
        except RuntimeError as exc:   # measure.py still pins the timed calls to one CPU
            say(f"TensorFlow's threads could not be set to one ({one_line(exc)})")
    for index, spec in enumerate(job.get("models", [])):
        writer.data["models"][str(spec["id"])] = evaluate_model(spec, index, limits)
        stop_stray_processes()
        release_memory()
        writer.flush()
    for spec in job.get("imagenet", []):
        writer.data["imagenet"][str(spec["id"])] = evaluate_imagenet(spec, limits)
        writer.flush()
    writer.data["finished"] = True
    writer.data["seconds"] = round(time.monotonic() - started, 3)
    writer.flush()
    say("finished")
    sys.stdout.flush()
    sys.stderr.flush()
    # Skip atexit handlers: a model's code may have registered some.
    os._exit(0)


if __name__ == "__main__":
    warnings.filterwarnings("ignore")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    sys.exit(main(sys.argv))
