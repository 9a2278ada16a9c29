"""What a saved Keras model says about itself, read as data.

Nothing here loads a model, deserializes a layer or imports Keras: an HDF5
file is opened with h5py and only its attributes are read; a ``.keras`` zip is
opened with zipfile and its ``config.json`` / ``metadata.json`` are parsed as
JSON; a SavedModel folder's ``keras_metadata.pb`` is scanned for the JSON the
Keras saver wrote into it. Loading and running models is the sandbox's job.
Even that reading runs in a child process (model_process.py): libhdf5 is C,
and a hostile file that crashes or hangs it must cost one file, not the batch.
"""

from __future__ import annotations

import json
import re
import zipfile
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import h5py

from grader.architecture.graph import config_layers, graph_from_config
from grader.limits import MAX_MODEL_CONFIG_BYTES
from grader.readers.errors import ReadError
from grader.readers.model_process import read_in_child
from grader.records import ModelMeta

HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"
ZIP_SIGNATURE = b"PK\x03\x04"

# Containers whose config holds a list of layers: walked, not listed as layers.
MODEL_CLASSES = {"Sequential", "Functional", "Model"}
DROPOUT_CLASSES = {"Dropout", "SpatialDropout1D", "SpatialDropout2D", "SpatialDropout3D", "AlphaDropout", "GaussianDropout"}
AUGMENTATION_CLASSES = {
    "RandomFlip", "RandomRotation", "RandomZoom", "RandomTranslation",
    "RandomContrast", "RandomCrop", "RandomBrightness",
}
_NO_VARIABLES = "the SavedModel has no variables file: re-save the model"


def read_model_meta(path: Path, *, config_cap: int = MAX_MODEL_CONFIG_BYTES) -> ModelMeta:
    """Architecture facts of the model at ``path`` (file or SavedModel folder).

    Raises ReadError("model-unreadable") for anything that is not a readable
    Keras model: corrupt bytes, a folder that is not a SavedModel, an HDF5 file
    that holds no model, and a file that crashes, hangs or exhausts the child
    process the reading runs in (grader/readers/model_process.py). Repeated
    calls for an unchanged file are served from the first read.
    """
    return read_in_child(Path(path), config_cap)


def read_model_meta_here(path: Path, *, config_cap: int = MAX_MODEL_CONFIG_BYTES) -> ModelMeta:
    """:func:`read_model_meta` in this process: only for the child process that
    model_process.py starts, which runs it under memory, CPU and time limits."""
    if path.is_dir():
        return _read_saved_model(path, config_cap)
    if not path.is_file():
        raise ReadError("model-unreadable", f"{path.name} does not exist: save the model with model.save('model.keras').")
    with path.open("rb") as handle:
        head = handle.read(8)
    if head == HDF5_SIGNATURE or _has_hdf5_userblock(path):
        meta = _read_h5(path)
        expected = {".h5", ".hdf5"}
    elif head.startswith(ZIP_SIGNATURE):
        meta = _read_keras_zip(path, config_cap)
        expected = {".keras"}
    else:
        raise ReadError(
            "model-unreadable",
            f"{path.name} is neither an HDF5 (.h5) nor a .keras model file (the bytes are not a model, "
            "or the upload was cut short): save the model again with model.save('model.keras') and submit that file.",
        )
    if path.suffix.lower() not in expected:
        meta.notes.append(
            f"{path.name} is a {meta.format} model under a {path.suffix or 'missing'} extension: "
            f"rename it to end in {sorted(expected)[0]}."
        )
    return meta


def layer_summary(meta: ModelMeta) -> dict[str, Any]:
    """Flags the architecture checks use, and how many layers of each type."""
    types = [_base_class_name(name) for name in meta.layer_types]
    return {
        "has_dropout": any(t in DROPOUT_CLASSES for t in types),
        "has_augmentation": any(t in AUGMENTATION_CLASSES for t in types),
        "has_lambda": any(t.endswith("Lambda") for t in types),
        "counts": dict(Counter(types)),
    }


# ---------------------------------------------------------------------- HDF5


def _has_hdf5_userblock(path: Path) -> bool:
    """HDF5 allows a user block of 512, 1024, ... bytes before the signature."""
    with path.open("rb") as handle:
        for offset in (512, 1024, 2048):
            handle.seek(offset)
            if handle.read(8) == HDF5_SIGNATURE:
                return True
    return False


def _read_h5(path: Path) -> ModelMeta:
    try:
        with h5py.File(path, "r") as h5:
            attrs = {key: _attr_text(h5.attrs[key]) for key in ("model_config", "keras_version", "backend") if key in h5.attrs}
            if "model_config" in attrs:
                meta = ModelMeta(format="h5", keras_version=attrs.get("keras_version"), backend=attrs.get("backend"))
                meta.has_weights = _h5_has_weights(h5)
                config = _parse_json(attrs["model_config"], path.name, "its model_config attribute")
                _fill_from_config(meta, config, path.name)
                return meta
            layer_names = _weights_only_layer_names(h5)
    except ReadError:
        raise
    except Exception as exc:  # h5py raises OSError, KeyError, ValueError... on damaged files
        raise ReadError(
            "model-unreadable",
            f"{path.name} could not be read as HDF5 ({type(exc).__name__}): the file is damaged or incomplete; "
            "save the model again with model.save('model.keras') and submit that file.",
        ) from None
    if layer_names is None:
        raise ReadError(
            "model-unreadable",
            f"{path.name} is an HDF5 file but holds no Keras model (no model_config, no layer weights): "
            "save the whole model with model.save('model.keras').",
        )
    meta = ModelMeta(format="h5", keras_version=attrs.get("keras_version"), backend=attrs.get("backend"), has_weights=True)
    shown = ", ".join(layer_names[:12]) + (", ..." if len(layer_names) > 12 else "")
    meta.notes.append(
        f"{path.name} holds weights only (saved with save_weights), no architecture; layers named: {shown or 'none'}. "
        "Save the whole model with model.save('model.keras') so it can be loaded and evaluated."
    )
    return meta


def _attr_text(value: Any) -> str:
    if isinstance(value, bytes):
        return value.decode("utf-8", errors="replace")
    if hasattr(value, "tolist") and not isinstance(value, str):
        value = value.tolist()
        if isinstance(value, bytes):
            return value.decode("utf-8", errors="replace")
    return str(value)


def _h5_has_weights(h5: h5py.File) -> bool:
    """True when some layer group under model_weights names a weight."""
    group = h5.get("model_weights")
    if not isinstance(group, h5py.Group):
        return False
    for name in group:
        layer = group[name]
        if isinstance(layer, h5py.Group) and len(layer.attrs.get("weight_names", [])) > 0:
            return True
    return False


def _weights_only_layer_names(h5: h5py.File) -> list[str] | None:
    """Layer names of a save_weights file (Keras 2 ``layer_names`` or Keras 3 ``layers/``)."""
    if "layer_names" in h5.attrs:
        return [_attr_text(name) for name in h5.attrs["layer_names"]]
    if isinstance(h5.get("layers"), h5py.Group) and "vars" in h5:
        return list(h5["layers"].keys())
    return None


# ------------------------------------------------------------------- .keras


def _read_keras_zip(path: Path, cap: int) -> ModelMeta:
    try:
        with zipfile.ZipFile(path) as archive:
            names = set(archive.namelist())
            if "config.json" not in names:
                raise ReadError(
                    "model-unreadable",
                    f"{path.name} is a zip file without config.json, so not a .keras model: "
                    "save the model with model.save('model.keras').",
                )
            config = _parse_json(_zip_member_text(archive, "config.json", cap, path.name), path.name, "config.json")
            metadata: Any = {}
            if "metadata.json" in names:
                metadata = _parse_json(_zip_member_text(archive, "metadata.json", cap, path.name), path.name, "metadata.json")
            weights = [info for info in archive.infolist() if info.filename.startswith("model.weights.")]
    except ReadError:
        raise
    except (zipfile.BadZipFile, OSError, EOFError, RuntimeError, NotImplementedError) as exc:
        raise ReadError(
            "model-unreadable",
            f"{path.name} is a damaged zip ({exc}): save the model again with model.save('model.keras').",
        ) from None
    meta = ModelMeta(format="keras")
    if isinstance(metadata, dict):
        meta.keras_version = _str_or_none(metadata.get("keras_version"))
        meta.backend = _str_or_none(metadata.get("backend"))
    meta.has_weights = any(info.file_size > 0 for info in weights)
    if not meta.has_weights:
        meta.notes.append(f"{path.name} has no model.weights file: save the trained model with model.save('model.keras').")
    _fill_from_config(meta, config, path.name)
    return meta


def _zip_member_text(archive: zipfile.ZipFile, name: str, cap: int, shown: str) -> str:
    info = archive.getinfo(name)
    if info.file_size > cap:
        raise ReadError("model-unreadable", f"{shown}: {name} is {info.file_size} bytes, over the {cap} the grader reads.")
    with archive.open(info) as member:
        data = member.read(cap + 1)  # the header's size may lie
    if len(data) > cap:
        raise ReadError("model-unreadable", f"{shown}: {name} is over the {cap} bytes the grader reads.")
    return data.decode("utf-8", errors="replace")


# --------------------------------------------------------------- SavedModel


def _read_saved_model(path: Path, cap: int) -> ModelMeta:
    if not (path / "saved_model.pb").is_file() and not (path / "saved_model.pbtxt").is_file():
        inside = sorted(child.name for child in path.iterdir())[:6]
        raise ReadError(
            "model-unreadable",
            f"{path.name} is a folder, not a model file, and not a SavedModel (no saved_model.pb; it holds "
            f"{', '.join(inside) or 'nothing'}): submit the model as one file saved with model.save('model.keras').",
        )
    meta = ModelMeta(format="savedmodel", backend="tensorflow")
    variables = path / "variables"
    meta.has_weights = (variables / "variables.index").is_file() and any(variables.glob("variables.data-*"))
    if not meta.has_weights:
        meta.notes.append(_NO_VARIABLES)
    source = path / "keras_metadata.pb"
    if not source.is_file():
        source = path / "saved_model.pb"  # TF < 2.5 kept the Keras metadata in the object graph
    text = _read_capped_text(source, cap, path.name)
    config = _keras_config_in(text)
    if config is None:
        meta.notes.append(
            f"{path.name} has no Keras architecture in {source.name} (saved with tf.saved_model.save?): "
            "save the model with model.save('model.keras')."
        )
        return meta
    version = re.search(r'"keras_version"\s*:\s*"([^"]+)"', text)
    meta.keras_version = version.group(1) if version else None
    _fill_from_config(meta, config, path.name)
    return meta


def _read_capped_text(path: Path, cap: int, shown: str) -> str:
    if path.stat().st_size > cap:
        raise ReadError("model-unreadable", f"{shown}: {path.name} is over the {cap // 2**20} MB the grader reads.")
    return path.read_bytes().decode("utf-8", errors="replace")


def _keras_config_in(text: str) -> dict[str, Any] | None:
    """The first JSON object in ``text`` that describes a model (has layers).

    keras_metadata.pb is a protobuf whose string fields are JSON; the root
    object's metadata comes first and holds ``class_name`` and ``config``.
    """
    decoder = json.JSONDecoder()
    position = 0
    while True:
        start = text.find('{"', position)
        if start < 0:
            return None
        try:
            obj, end = decoder.raw_decode(text, start)
        except json.JSONDecodeError:
            position = start + 1
            continue
        if isinstance(obj, dict) and "class_name" in obj and config_layers(obj) is not None:
            return obj
        position = end


# ------------------------------------------------------------ config walking


def _parse_json(text: str, shown: str, what: str) -> Any:
    try:
        return json.loads(text)
    except (json.JSONDecodeError, RecursionError) as exc:
        raise ReadError(
            "model-unreadable",
            f"{shown}: {what} is not valid JSON ({exc}): save the model again with model.save('model.keras').",
        ) from None


def _fill_from_config(meta: ModelMeta, config: Any, shown: str) -> None:
    if not isinstance(config, dict) or config_layers(config) is None:
        raise ReadError(
            "model-unreadable",
            f"{shown}: the saved model config lists no layers: save the model with model.save('model.keras').",
        )
    meta.class_name = _str_or_none(config.get("class_name"))
    layers = list(_flat_layers(config))
    meta.layer_types = [_base_class_name(str(layer.get("class_name", "?"))) for layer in layers]
    meta.input_shape = _input_shape(config)
    dense = [layer for layer in layers if _base_class_name(str(layer.get("class_name"))) == "Dense"]
    units = dense[-1].get("config", {}).get("units") if dense else None
    meta.output_units = units if isinstance(units, int) else None
    meta.layer_graph = _layer_graph(config, shown, meta.notes)


def _layer_graph(config: dict[str, Any], shown: str, notes: list[str]) -> dict[str, Any] | None:
    """The config's layer graph (grader/architecture) as plain data. A config the
    graph cannot be built from still leaves the rest of the metadata usable."""
    try:
        graph = graph_from_config(config)
    except (RecursionError, ValueError, TypeError, AttributeError) as exc:
        notes.append(f"{shown}: how the layers connect could not be read ({type(exc).__name__}); "
                     "the architecture checks see only which layers there are")
        return None
    return graph.to_plain() if graph is not None else None


def _is_model(layer: dict[str, Any]) -> bool:
    return _base_class_name(str(layer.get("class_name"))) in MODEL_CLASSES or config_layers(layer) is not None


def _flat_layers(model: dict[str, Any], depth: int = 0) -> Iterator[dict[str, Any]]:
    """Every layer, nested models expanded in place; InputLayers left out."""
    if depth > 20:
        return
    for layer in config_layers(model) or []:
        if _is_model(layer) and config_layers(layer) is not None:
            yield from _flat_layers(layer, depth + 1)
        elif _base_class_name(str(layer.get("class_name"))) != "InputLayer":
            yield layer


def _input_shape(model: dict[str, Any], depth: int = 0) -> list[int | None] | None:
    """The model's input shape without the batch axis, from the first place that states it."""
    layers = config_layers(model) or []
    inputs = [layer for layer in layers if _base_class_name(str(layer.get("class_name"))) == "InputLayer"]
    for layer in inputs + layers[:1]:
        if _is_model(layer) and depth < 20:
            nested = _input_shape(layer, depth + 1)
            if nested:
                return nested
        shape = _batch_shape(layer.get("config", {}))
        if shape is None and isinstance(layer.get("build_config"), dict):
            shape = _shape_list(layer["build_config"].get("input_shape"))
        if shape is not None:
            return shape[1:]
    inner = model.get("config") if isinstance(model.get("config"), dict) else {}
    for candidate in (inner.get("build_input_shape"), (model.get("build_config") or {}).get("input_shape")):
        shape = _shape_list(candidate)
        if shape is not None:
            return shape[1:]
    return None


def _batch_shape(config: Any) -> list[int | None] | None:
    if not isinstance(config, dict):
        return None
    for key in ("batch_shape", "batch_input_shape"):
        shape = _shape_list(config.get(key))
        if shape is not None:
            return shape
    shape = _shape_list(config.get("input_shape"))
    return [None, *shape] if shape is not None else None


def _shape_list(value: Any) -> list[int | None] | None:
    """A shape as a list; Keras 2 SavedModel metadata wraps tuples as ``{"class_name": "__tuple__", "items": [...]}``."""
    if isinstance(value, dict) and value.get("class_name") == "__tuple__":
        value = value.get("items")
    if isinstance(value, list) and value and all(item is None or isinstance(item, int) for item in value):
        return list(value)
    return None


def _base_class_name(name: str) -> str:
    """``keras.layers.experimental.preprocessing.RandomFlip`` or ``Custom>RandomFlip`` -> ``RandomFlip``."""
    return re.split(r"[.>]", name)[-1]


def _str_or_none(value: Any) -> str | None:
    return value if isinstance(value, str) else None
