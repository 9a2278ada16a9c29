"""Residual blocks: an addition that merges a tensor with one from two or
more layers earlier, through an identity or a 1x1 projection shortcut."""

from __future__ import annotations

from grader.architecture.graph import Layer, LayerGraph
from grader.architecture.paths import Ancestry, ancestry, branch_layers
from grader.architecture.registry import Verdict, detector

ADD_KINDS = {"Add"}
# What a projection shortcut may hold besides its 1x1 convolution.
PROJECTION_EXTRAS = {"BatchNormalization", "LayerNormalization", "GroupNormalization", "Activation", "ReLU",
                     "Identity", "AveragePooling2D", "MaxPooling2D", "ZeroPadding2D", "Cropping2D"}
CONV_KINDS = {"Conv2D", "Conv1D", "Conv3D", "SeparableConv2D", "DepthwiseConv2D"}
MIN_MAIN_LAYERS = 2


def residual_blocks(graph: LayerGraph) -> list[dict]:
    """Every addition that is a residual block, with its layers."""
    anc = ancestry(graph)
    blocks = []
    for merge in graph.merges():
        if merge.kind in ADD_KINDS and len(merge.inbound) >= 2:
            block = _as_block(anc, merge)
            if block is not None:
                blocks.append(block)
    return blocks


def _as_block(anc: Ancestry, merge: Layer) -> dict | None:
    """The addition as a block: one input is the long path, another is the shortcut."""
    inputs = [name for name in merge.inbound if name in anc.index]
    for i, main_end in enumerate(inputs):
        for short_end in inputs[:i] + inputs[i + 1:]:
            fork = anc.nearest_common([main_end, short_end])
            if fork is None:
                continue
            main = branch_layers(anc, fork, main_end)
            shortcut = branch_layers(anc, fork, short_end)
            kind = _shortcut_kind(shortcut)
            if kind is None or len(main) < MIN_MAIN_LAYERS or len(main) <= len(shortcut):
                continue
            return {"add": merge.name, "input": fork, "main": [layer.name for layer in main],
                    "shortcut": [layer.name for layer in shortcut], "shortcut_kind": kind}
    return None


def _shortcut_kind(shortcut: list[Layer]) -> str | None:
    """'identity', 'projection' (one 1x1 convolution, maybe normalised), or None."""
    if not shortcut:
        return "identity"
    convs = [layer for layer in shortcut if layer.kind in CONV_KINDS]
    others = [layer for layer in shortcut if layer.kind not in CONV_KINDS]
    if len(convs) != 1 or any(layer.kind not in PROJECTION_EXTRAS for layer in others):
        return None
    kernel = convs[0].kernel_size
    return "projection" if kernel is None or all(k == 1 for k in kernel) else None


@detector("residual", what="have at least {min_blocks} residual block(s)", min_blocks=1)
def residual(graph: LayerGraph, params: dict) -> Verdict:
    """At least min_blocks residual blocks (identity or 1x1 projection shortcuts)."""
    minimum = int(params["min_blocks"])
    blocks = residual_blocks(graph)
    adds = [layer.name for layer in graph.merges() if layer.kind in ADD_KINDS]
    projections = sum(block["shortcut_kind"] == "projection" for block in blocks)
    found = len(blocks) >= minimum
    if blocks:
        summary = (f"{len(blocks)} residual block{'s' * (len(blocks) != 1)} ({projections} with a 1x1 projection "
                   f"shortcut), at least {minimum} required")
    elif adds:
        summary = (f"no residual block: {len(adds)} addition(s) ({', '.join(adds[:4])}) but none adds a layer's "
                   f"input to the output of {MIN_MAIN_LAYERS} or more layers after it")
    else:
        summary = "no residual block: no layer adds a skip connection to a block's output"
    return Verdict("residual", found, summary, len(blocks),
                   {"blocks": blocks, "additions": adds, "min_blocks": minimum})
