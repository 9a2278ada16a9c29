"""Dropout and data-augmentation layers: which layers, by name. These need
only the layer kinds, so they work on a graph without edges too."""

from __future__ import annotations

from grader.architecture.graph import LayerGraph
from grader.architecture.registry import Verdict, detector

DROPOUT_KINDS = {"Dropout", "SpatialDropout1D", "SpatialDropout2D", "SpatialDropout3D", "AlphaDropout",
                 "GaussianDropout"}
AUGMENTATION_KINDS = {"RandomFlip", "RandomRotation", "RandomZoom", "RandomTranslation", "RandomContrast",
                      "RandomCrop", "RandomBrightness"}


def _layers_of(graph: LayerGraph, kinds: set[str]) -> list[dict]:
    return [{"name": layer.name, "kind": layer.kind} for layer in graph.layers if layer.kind in kinds]


@detector("dropout", what="have a dropout layer", needs_edges=False)
def dropout(graph: LayerGraph, params: dict) -> Verdict:
    """The model has a dropout layer."""
    found = _layers_of(graph, DROPOUT_KINDS)
    summary = (f"{len(found)} dropout layer(s): {', '.join(f['name'] for f in found[:5])}" if found
               else "no dropout layer")
    return Verdict("dropout", bool(found), summary, len(found), {"layers": found})


@detector("augmentation", what="have data-augmentation layers", needs_edges=False)
def augmentation(graph: LayerGraph, params: dict) -> Verdict:
    """The model has data-augmentation layers (RandomFlip, RandomRotation, ...)."""
    found = _layers_of(graph, AUGMENTATION_KINDS)
    summary = (f"{len(found)} data-augmentation layer(s): {', '.join(f['name'] for f in found[:5])}" if found
               else "no data-augmentation layer")
    return Verdict("augmentation", bool(found), summary, len(found), {"layers": found})
