"""Architecture detectors: what kind of network a model is, from its layer graph.

graph.py reads a Keras config (or the sandbox's export) into a LayerGraph;
each detector (residual, inception, plain, application, dropout,
augmentation) is registered by id in registry.py and returns a Verdict with
its evidence; a rubric part declares the detectors it needs."""

from grader.architecture import applications, inception, plain, regularisation, residual  # noqa: F401  (registers)
from grader.architecture.graph import GraphError, Layer, LayerGraph, graph_from_config, graph_from_plain
from grader.architecture.registry import DETECTORS, Verdict, parameter_problems, run_detector

__all__ = ["DETECTORS", "GraphError", "Layer", "LayerGraph", "Verdict", "graph_from_config", "graph_from_plain",
           "parameter_problems", "run_detector"]
