"""keras.applications networks used whole, recognised by their topology: the
layer names those builders give (``conv2_block1_add``, ``mixed5``,
``block3_conv2``...) and the block structure behind them (the residual
additions really are residual blocks, the ``mixed`` concatenations really are
Inception modules), not the model's name, which a student may set to anything.
A network nested in a student's Sequential (``resnet50/...``) is found too."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Callable

from grader.architecture.graph import LayerGraph
from grader.architecture.inception import inception_modules
from grader.architecture.registry import Verdict, detector
from grader.architecture.residual import residual_blocks

# Share of a signature's named blocks that must be present (and structurally
# confirmed): a network cut short (include_top=False, a few blocks dropped)
# is still that network used whole.
MIN_SHARE = 0.8


@dataclass(frozen=True)
class Signature:
    name: str
    pattern: str                    # the block-defining layers' names
    expected: int                   # how many such blocks the builder makes
    confirm: str                    # "residual", "inception" or "layers": what the named layers must be

    def matches(self, short_name: str) -> bool:
        return re.fullmatch(self.pattern, short_name) is not None


SIGNATURES = (
    Signature("ResNet50", r"conv[2-5]_block\d+_add", 16, "residual"),
    Signature("ResNet101", r"conv[2-5]_block\d+_add", 33, "residual"),
    Signature("ResNet152", r"conv[2-5]_block\d+_add", 50, "residual"),
    Signature("ResNet50V2", r"conv[2-5]_block\d+_out", 16, "layers"),
    Signature("InceptionV3", r"mixed(10|[0-9])", 11, "inception"),
    Signature("InceptionResNetV2", r"block(35|17|8)_\d+_mixed", 40, "layers"),
    Signature("Xception", r"add(_\d+)?", 12, "residual"),
    Signature("VGG16", r"block[1-5]_conv[1-3]", 13, "layers"),
    Signature("VGG19", r"block[1-5]_conv[1-4]", 16, "layers"),
    Signature("MobileNetV2", r"block_\d+_add", 10, "residual"),
    Signature("MobileNet", r"conv_pw_\d+", 13, "layers"),
    Signature("DenseNet121", r"conv[2-5]_block\d+_concat", 58, "layers"),
    Signature("DenseNet169", r"conv[2-5]_block\d+_concat", 82, "layers"),
    Signature("DenseNet201", r"conv[2-5]_block\d+_concat", 98, "layers"),
    Signature("EfficientNetB0", r"block\d[a-z]_project_conv", 16, "layers"),
)
# Names some signatures share with student code (Xception's add_N is Keras's default
# name for any Add layer): these also need a stem that only that builder makes.
STEMS = {"Xception": r"block1_conv1", "MobileNetV2": r"expanded_conv_project", "VGG16": r"block1_conv1",
         "VGG19": r"block5_conv4", "EfficientNetB0": r"stem_conv", "MobileNet": r"conv_dw_1",
         "ResNet50V2": r"post_bn", "InceptionResNetV2": r"conv_7b"}


def _confirmed(graph: LayerGraph, signature: Signature) -> tuple[list[str], Callable[[str], bool]]:
    """The layers that match the signature's names and are what they claim to be."""
    named = [layer.name for layer in graph.layers if signature.matches(layer.short_name)]
    if signature.confirm == "residual":
        real = {block["add"] for block in residual_blocks(graph)}
    elif signature.confirm == "inception":
        real = {module["concatenate"] for module in inception_modules(graph)}
        # mixed0..mixed10 are modules; in InceptionV3 the reduction modules (mixed3, mixed8) have 3 branches too
    else:
        real = set(named)
    return [name for name in named if name in real], lambda name: name in real


def recognise(graph: LayerGraph) -> list[dict]:
    """Every keras.applications network the graph contains whole, best match first."""
    found = []
    short_names = [layer.short_name for layer in graph.layers]
    for signature in SIGNATURES:
        stem = STEMS.get(signature.name)
        if stem is not None and not any(re.fullmatch(stem, name) for name in short_names):
            continue
        named = [layer.name for layer in graph.layers if signature.matches(layer.short_name)]
        if len(named) < MIN_SHARE * signature.expected or len(named) > signature.expected / MIN_SHARE:
            continue
        confirmed, _ = _confirmed(graph, signature)
        if len(confirmed) < MIN_SHARE * signature.expected:
            continue
        prefix = _prefix(named[0])
        inside = [layer for layer in graph.layers if _prefix(layer.name) == prefix]
        frozen = [layer.name for layer in inside if layer.trainable is False]
        found.append({"network": signature.name, "blocks": len(confirmed), "expected_blocks": signature.expected,
                      "block_layers": confirmed, "prefix": prefix,
                      "layers": len(inside), "frozen_layers": len(frozen),
                      "closeness": abs(len(named) - signature.expected) / signature.expected})
    found.sort(key=lambda item: item["closeness"])
    return found[:1]


def _prefix(name: str) -> str:
    """The nested model a layer belongs to: ``mobilenetv2_1.00_32/block_2_add`` -> ``mobilenetv2_1.00_32``."""
    return name.rsplit("/", 1)[0] if "/" in name else ""


@detector("application", what="be a keras.applications network used whole")
def application(graph: LayerGraph, params: dict) -> Verdict:
    """A keras.applications network (ResNet50, InceptionV3, VGG16, MobileNetV2...) used whole."""
    networks = recognise(graph)
    if not networks:
        return Verdict("application", False, "no keras.applications network used whole", 0, {"networks": []})
    best = networks[0]
    where = f" (nested as {best['prefix']})" if best["prefix"] else ""
    frozen = f", {best['frozen_layers']} of its {best['layers']} layers frozen" if best["frozen_layers"] else ""
    summary = (f"keras.applications {best['network']} used whole{where}: {best['blocks']} of its "
               f"{best['expected_blocks']} blocks found by name and structure{frozen}")
    return Verdict("application", True, summary, 1, {"networks": networks})
