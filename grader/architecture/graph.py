"""A model's layers and their connections, as plain data.

Built from the Keras config a saved model carries, read as JSON and never
deserialized: Keras 3 ``.keras`` config.json, the ``model_config`` attribute
of a Keras 2 / Keras 3 legacy ``.h5`` file, the JSON in a SavedModel's
keras_metadata.pb (functional and Sequential models, nested models flattened
with their name as a prefix), or from the list the sandbox's runner exports
for the loaded model (the only way to see inside a subclassed model that was
saved without a config). Everything here is data: names, classes, edges.

Three generations of ``inbound_nodes`` are read:
- Keras 2.2-2.13 / tf_keras: ``[[["conv2d", 0, 0, {}], ["add", 0, 0, {"y": ["proj", 0, 0]}]]]``
  (a TFOpLambda's other operands sit in the kwargs);
- Keras 3: ``[{"args": [{"class_name": "__keras_tensor__", "config": {"keras_history": ["conv2d", 0, 0]}}],
  "kwargs": {}}]``;
- Sequential models (any version): no inbound nodes; each layer feeds the next.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Iterable, Iterator

from grader.limits import MAX_CONFIG_LAYERS as MAX_LAYERS

MAX_NAME = 200
MAX_DEPTH = 20

MERGE_KINDS = {"Add", "Concatenate", "Subtract", "Multiply", "Average", "Maximum", "Minimum", "Dot"}
# Keras 2 wraps `x + y` on symbolic tensors in a TFOpLambda named after the function.
_OP_LAMBDA_KINDS = {
    "__operators__.add": "Add", "math.add": "Add", "add": "Add", "math.add_n": "Add",
    "concat": "Concatenate", "concat_v2": "Concatenate", "__operators__.sub": "Subtract",
    "math.multiply": "Multiply", "math.subtract": "Subtract",
}
MODEL_KINDS = {"Sequential", "Functional", "Model"}


@dataclass(frozen=True)
class Layer:
    """One layer (or one merging operation) of the model."""

    name: str
    kind: str                                  # base class name: Conv2D, Add, BatchNormalization...
    inbound: tuple[str, ...] = ()              # names of the layers whose outputs it takes
    kernel_size: tuple[int, ...] | None = None  # convolutions
    pool_size: tuple[int, ...] | None = None    # pooling layers
    strides: tuple[int, ...] | None = None
    dilation: tuple[int, ...] | None = None
    trainable: bool | None = None

    @property
    def short_name(self) -> str:
        """The name inside its own (nested) model: ``resnet50/conv1_conv`` -> ``conv1_conv``."""
        return self.name.rsplit("/", 1)[-1]

    def window(self) -> tuple[int, ...] | None:
        """The spatial window this layer looks at: its kernel or its pool."""
        return self.kernel_size or self.pool_size

    def to_plain(self) -> dict[str, Any]:
        plain: dict[str, Any] = {"name": self.name, "kind": self.kind, "inbound": list(self.inbound)}
        for key in ("kernel_size", "pool_size", "strides", "dilation"):
            value = getattr(self, key)
            if value is not None:
                plain[key] = list(value)
        if self.trainable is not None:
            plain["trainable"] = self.trainable
        return plain


@dataclass
class LayerGraph:
    """The layers in the order the config lists them (inputs before their consumers)."""

    layers: list[Layer]
    source: str                       # "config" (read on the host) or "sandbox" (the loaded model)
    model_class: str | None = None    # Sequential, Functional, or a subclass's name
    connected: bool = True            # False when only the layer kinds are known, not the edges
    notes: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._by_name = {layer.name: layer for layer in self.layers}

    def __len__(self) -> int:
        return len(self.layers)

    def get(self, name: str) -> Layer | None:
        return self._by_name.get(name)

    def kinds(self) -> list[str]:
        return [layer.kind for layer in self.layers]

    def consumers(self) -> dict[str, list[str]]:
        out: dict[str, list[str]] = {layer.name: [] for layer in self.layers}
        for layer in self.layers:
            for source in layer.inbound:
                out.setdefault(source, []).append(layer.name)
        return out

    def merges(self) -> list[Layer]:
        return [layer for layer in self.layers if layer.kind in MERGE_KINDS]

    def to_plain(self) -> dict[str, Any]:
        return {"source": self.source, "model_class": self.model_class, "connected": self.connected,
                "layers": [layer.to_plain() for layer in self.layers], "notes": list(self.notes)}


class GraphError(ValueError):
    """Plain data that is not a layer graph; the message says what is wrong."""


# ------------------------------------------------------------ plain data


def graph_from_plain(value: Any, source: str | None = None) -> LayerGraph:
    """A LayerGraph from untrusted plain data (the sandbox's, or a cached reader's).

    Raises GraphError for anything of the wrong shape or size; names are
    capped, numbers must be small positive integers, edges must name layers
    listed earlier or later in the same graph (others are dropped)."""
    if not isinstance(value, dict) or not isinstance(value.get("layers"), list):
        raise GraphError("the layer graph is not an object with a list of layers")
    raw_layers = value["layers"]
    if len(raw_layers) > MAX_LAYERS:
        raise GraphError(f"the layer graph lists {len(raw_layers)} layers, over the {MAX_LAYERS} read")
    layers = [_layer_from_plain(item, index) for index, item in enumerate(raw_layers)]
    names = {layer.name for layer in layers}
    if len(names) != len(layers):
        raise GraphError("the layer graph repeats a layer name")
    layers = [Layer(**{**layer.__dict__, "inbound": tuple(n for n in layer.inbound if n in names and n != layer.name)})
              for layer in layers]
    model_class = value.get("model_class")
    notes = value.get("notes") if isinstance(value.get("notes"), list) else []
    given = value.get("source")
    return LayerGraph(layers, source or (given if given in ("config", "sandbox") else "sandbox"),
                      model_class=_text(model_class, "model_class") if model_class is not None else None,
                      connected=value.get("connected", True) is True,
                      notes=[_text(note, "note", 400) for note in notes[:20] if isinstance(note, str)])


def _layer_from_plain(item: Any, index: int) -> Layer:
    if not isinstance(item, dict):
        raise GraphError(f"layer {index} is not an object")
    name, kind = _text(item.get("name"), f"layer {index}'s name"), _text(item.get("kind"), f"layer {index}'s kind")
    inbound = item.get("inbound", [])
    if not isinstance(inbound, list) or len(inbound) > 64:
        raise GraphError(f"layer {name}'s inbound is not a short list of names")
    trainable = item.get("trainable")
    return Layer(name=name, kind=kind, inbound=tuple(_text(n, f"an inbound of {name}") for n in inbound),
                 kernel_size=_plain_dims(item.get("kernel_size"), name),
                 pool_size=_plain_dims(item.get("pool_size"), name),
                 strides=_plain_dims(item.get("strides"), name),
                 dilation=_plain_dims(item.get("dilation"), name),
                 trainable=trainable if isinstance(trainable, bool) else None)


def _text(value: Any, what: str, limit: int = MAX_NAME) -> str:
    if not isinstance(value, str) or not value or len(value) > limit:
        raise GraphError(f"{what} is not a name of at most {limit} characters")
    return value


def _plain_dims(value: Any, name: str) -> tuple[int, ...] | None:
    if value is None:
        return None
    if (not isinstance(value, list) or not 1 <= len(value) <= 3
            or not all(isinstance(v, int) and not isinstance(v, bool) and 0 < v <= 10_000 for v in value)):
        raise GraphError(f"layer {name}'s sizes are not 1 to 3 positive integers")
    return tuple(value)


# ------------------------------------------------------------ Keras configs


def graph_from_config(config: Any) -> LayerGraph | None:
    """The layer graph of a Keras model config (``{"class_name", "config"}``), or
    None when the config lists no layers (a subclassed model, a bare layer)."""
    if not isinstance(config, dict) or config_layers(config) is None:
        return None
    builder = _Builder()
    builder.add_model(config, prefix="", inputs=())
    return LayerGraph(builder.layers, "config", model_class=_base(config.get("class_name")),
                      notes=builder.notes)


def graph_from_layer_kinds(kinds: Iterable[str], source: str = "config") -> LayerGraph:
    """Only which layers there are (a weights-only file, an old reader's record): no edges."""
    layers = [Layer(f"layer_{i}", _base(kind)) for i, kind in enumerate(kinds)]
    return LayerGraph(layers, source, connected=False)


class _Builder:
    """Flattens a (possibly nested) functional or Sequential config into layers."""

    def __init__(self) -> None:
        self.layers: list[Layer] = []
        self.notes: list[str] = []
        self._names: set[str] = set()

    def add_model(self, model: dict[str, Any], prefix: str, inputs: tuple[str, ...], depth: int = 0) -> tuple[str, ...]:
        """Adds the model's layers; returns the names of its output layers.

        ``inputs``: what feeds the model from outside (the outer layers its
        own input layers stand for)."""
        layers = config_layers(model) or []
        if depth > MAX_DEPTH:
            self.notes.append(f"{prefix or 'the model'}: nested more than {MAX_DEPTH} deep; not read further")
            return inputs
        if not any(_inbound_nodes(layer) for layer in layers):
            return self._add_sequential(layers, prefix, inputs, depth)
        return self._add_functional(model, layers, prefix, inputs, depth)

    def _add_sequential(self, layers: list[dict], prefix: str, inputs: tuple[str, ...], depth: int) -> tuple[str, ...]:
        previous = inputs
        for layer in layers:
            if _base(layer.get("class_name")) == "InputLayer":
                if not previous:
                    previous = (self._add(layer, prefix, ()),)
                continue
            previous = self._add_any(layer, prefix, previous, depth)
        return previous

    def _add_functional(self, model: dict[str, Any], layers: list[dict], prefix: str, inputs: tuple[str, ...],
                        depth: int) -> tuple[str, ...]:
        outputs_of: dict[str, tuple[str, ...]] = {}   # a layer's name in the config -> graph names it stands for
        input_names = _config_names(_inner(model).get("input_layers"))
        feed = dict(zip(input_names, [(name,) for name in inputs])) if len(inputs) == len(input_names) else {}
        if inputs and not feed:   # one outer tensor for several inputs: each gets all of it
            feed = {name: inputs for name in input_names}
        for layer in layers:
            raw_name = _layer_name(layer)
            if raw_name is None:
                continue
            if _base(layer.get("class_name")) == "InputLayer" and raw_name in feed:
                outputs_of[raw_name] = feed[raw_name]
                continue
            sources: list[str] = []
            for parent in _inbound_names(layer):
                sources.extend(outputs_of.get(parent, ()))
            outputs_of[raw_name] = self._add_any(layer, prefix, tuple(dict.fromkeys(sources)), depth)
        outputs: list[str] = []
        for name in _config_names(_inner(model).get("output_layers")):
            outputs.extend(outputs_of.get(name, ()))
        if not outputs and layers:
            last = _layer_name(layers[-1])
            outputs.extend(outputs_of.get(last or "", ()))
        return tuple(dict.fromkeys(outputs))

    def _add_any(self, layer: dict[str, Any], prefix: str, inbound: tuple[str, ...], depth: int) -> tuple[str, ...]:
        if config_layers(layer) is not None:   # a nested model: its layers, under its name
            name = _layer_name(layer) or "model"
            return self.add_model(layer, f"{prefix}{name}/", inbound, depth + 1)
        return (self._add(layer, prefix, inbound),)

    def _add(self, layer: dict[str, Any], prefix: str, inbound: tuple[str, ...]) -> str:
        if len(self.layers) >= MAX_LAYERS:
            if not self.notes or "layers" not in self.notes[-1]:
                self.notes.append(f"the model has over {MAX_LAYERS} layers; the rest were not read")
            return inbound[0] if inbound else ""
        config = layer.get("config") if isinstance(layer.get("config"), dict) else {}
        name = _unique(f"{prefix}{(_layer_name(layer) or 'layer')[:MAX_NAME]}", self._names)
        self._names.add(name)
        kind = _kind(layer, config)
        trainable = config.get("trainable")
        self.layers.append(Layer(
            name=name, kind=kind, inbound=tuple(n for n in inbound if n),
            kernel_size=_dims(config.get("kernel_size")),
            pool_size=_dims(config.get("pool_size")),
            strides=_dims(config.get("strides")),
            dilation=_dims(config.get("dilation_rate")),
            trainable=trainable if isinstance(trainable, bool) else None,
        ))
        return name


def _kind(layer: dict[str, Any], config: dict[str, Any]) -> str:
    kind = _base(layer.get("class_name"))
    if kind in ("TFOpLambda", "SlicingOpLambda"):
        function = config.get("function")
        return _OP_LAMBDA_KINDS.get(function.removeprefix("tf.") if isinstance(function, str) else "", kind)
    return kind


def _inner(model: dict[str, Any]) -> dict[str, Any]:
    inner = model.get("config")
    return inner if isinstance(inner, dict) else {}


def config_layers(model: Any) -> list[dict[str, Any]] | None:
    """A model config's layers: ``config.layers`` or, in Keras < 2.2, ``config`` itself."""
    if not isinstance(model, dict):
        return None
    inner = model.get("config")
    if isinstance(inner, dict) and isinstance(inner.get("layers"), list):
        layers = inner["layers"]
    elif isinstance(inner, list):
        layers = inner
    else:
        return None
    return [layer for layer in layers if isinstance(layer, dict)]


def _layer_name(layer: dict[str, Any]) -> str | None:
    name = layer.get("name")
    if not isinstance(name, str):
        config = layer.get("config")
        name = config.get("name") if isinstance(config, dict) else None
    return name if isinstance(name, str) and name else None


def _inbound_nodes(layer: dict[str, Any]) -> list[Any]:
    nodes = layer.get("inbound_nodes")
    return nodes if isinstance(nodes, list) else []


def _inbound_names(layer: dict[str, Any]) -> list[str]:
    """The layers a layer's calls take tensors from, in every inbound_nodes format."""
    names: list[str] = []
    for node in _inbound_nodes(layer):
        names.extend(_history_names(node, 0))
    return list(dict.fromkeys(names))


def _history_names(value: Any, depth: int) -> Iterator[str]:
    """Layer names referred to in one node: Keras 3 ``keras_history`` triples,
    Keras 2 ``[name, node_index, tensor_index, kwargs]`` lists (and their kwargs)."""
    if depth > MAX_DEPTH:
        return
    if isinstance(value, dict):
        if value.get("class_name") == "__keras_tensor__":
            history = (value.get("config") or {}).get("keras_history") if isinstance(value.get("config"), dict) else None
            if isinstance(history, list) and history and isinstance(history[0], str):
                yield history[0]
            return
        for item in value.values():
            yield from _history_names(item, depth + 1)
    elif isinstance(value, list):
        if len(value) >= 3 and isinstance(value[0], str) and isinstance(value[1], int) and isinstance(value[2], int):
            yield value[0]
            if len(value) > 3:
                yield from _history_names(value[3], depth + 1)
            return
        for item in value:
            yield from _history_names(item, depth + 1)


def _config_names(value: Any) -> list[str]:
    """Names in ``input_layers`` / ``output_layers``: ``[["dense", 0, 0]]`` or ``["dense", 0, 0]``."""
    return list(dict.fromkeys(_history_names(value, 0)))


def _dims(value: Any) -> tuple[int, ...] | None:
    if isinstance(value, int) and not isinstance(value, bool) and value > 0:
        return (value,)
    if isinstance(value, dict) and value.get("class_name") == "__tuple__":
        value = value.get("items")
    if isinstance(value, list) and 1 <= len(value) <= 3 and all(
            isinstance(v, int) and not isinstance(v, bool) and 0 < v <= 10_000 for v in value):
        return tuple(value)
    return None


def _base(name: Any) -> str:
    """``keras.layers.Conv2D`` or ``Custom>Conv2D`` -> ``Conv2D``."""
    return re.split(r"[.>]", name)[-1] if isinstance(name, str) and name else "?"


def _unique(name: str, taken: set[str]) -> str:
    if name not in taken:
        return name
    index = 2
    while f"{name}#{index}" in taken:
        index += 1
    return f"{name}#{index}"
