"""A plain stack: every layer takes one input and feeds one layer; no merge."""

from __future__ import annotations

from grader.architecture.graph import LayerGraph
from grader.architecture.registry import Verdict, detector


@detector("plain", what="be a plain stack of layers (no merge, no branch)")
def plain(graph: LayerGraph, params: dict) -> Verdict:
    """A stack of layers with no merge layers and no branches."""
    merges = [layer.name for layer in graph.merges()]
    joins = [layer.name for layer in graph.layers if len(layer.inbound) > 1 and layer.name not in merges]
    forks = [name for name, users in graph.consumers().items() if len(users) > 1]
    stack = [layer.name for layer in graph.layers if layer.kind != "InputLayer"]
    if not merges and not joins and not forks:
        return Verdict("plain", True, f"a plain stack of {len(stack)} layers, no merge or branch", len(stack),
                       {"stack": stack})
    said = []
    if merges:
        said.append(f"{len(merges)} merge layer(s): {', '.join(merges[:5])}{', ...' if len(merges) > 5 else ''}")
    if forks:
        said.append(f"{len(forks)} layer(s) feeding several branches: {', '.join(forks[:5])}"
                    f"{', ...' if len(forks) > 5 else ''}")
    if joins:
        said.append(f"{len(joins)} layer(s) taking several inputs: {', '.join(joins[:5])}")
    return Verdict("plain", False, "not a plain stack: " + "; ".join(said), len(stack),
                   {"merges": merges, "forks": forks, "joins": joins})
