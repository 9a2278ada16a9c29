"""Inception modules: a concatenation of three or more parallel branches from
the same input with different receptive fields (1x1, 3x3, 5x5 or factorised
1x7 + 7x1, pooling)."""

from __future__ import annotations

from grader.architecture.graph import Layer, LayerGraph
from grader.architecture.paths import Ancestry, ancestry, branch_layers
from grader.architecture.registry import Verdict, detector

CONCAT_KINDS = {"Concatenate"}
POOL_PREFIXES = ("MaxPool", "AveragePool", "AvgPool")
MIN_BRANCHES = 3


def inception_modules(graph: LayerGraph) -> list[dict]:
    anc = ancestry(graph)
    modules = []
    for merge in graph.merges():
        if merge.kind in CONCAT_KINDS and len(merge.inbound) >= MIN_BRANCHES:
            module = _as_module(anc, merge)
            if module is not None:
                modules.append(module)
    return modules


def _as_module(anc: Ancestry, merge: Layer) -> dict | None:
    ends = [name for name in merge.inbound if name in anc.index]
    fork = anc.nearest_common(ends)
    if fork is None:
        return None
    branches = [branch_layers(anc, fork, end) for end in ends]
    seen: set[str] = set()
    for branch in branches:   # parallel: no layer in two branches
        names = {layer.name for layer in branch}
        if names & seen:
            return None
        seen |= names
    described = [_describe(anc, fork, branch) for branch in branches]
    distinct = {(d["receptive_field"], d["pooling"]) for d in described}
    if len(distinct) < MIN_BRANCHES:
        return None
    return {"concatenate": merge.name, "input": fork, "branches": described}


def _describe(anc: Ancestry, fork: str, branch: list[Layer]) -> dict:
    """A branch's layers, windows ("1x1 -> 3x3") and receptive field in the
    module's input (the largest along any path; strides left out)."""
    names = {layer.name for layer in branch}
    field: dict[str, tuple[int, ...]] = {fork: (1, 1)}
    for layer in branch:
        before = [field[n] for n in layer.inbound if n in field and (n in names or n == fork)] or [(1, 1)]
        widest = tuple(max(f[axis] if axis < len(f) else f[-1] for f in before) for axis in range(2))
        window = layer.window()
        if window:
            dilation = layer.dilation or (1,)
            window2 = tuple(window[axis] if axis < len(window) else window[-1] for axis in range(2))
            dil2 = tuple(dilation[axis] if axis < len(dilation) else dilation[-1] for axis in range(2))
            widest = tuple(w + (k - 1) * d for w, k, d in zip(widest, window2, dil2))
        field[layer.name] = widest
    windows = [f"{'x'.join(map(str, layer.window()))} {layer.kind}" for layer in branch if layer.window()]
    end = field[branch[-1].name] if branch else (1, 1)
    return {"layers": [layer.name for layer in branch], "windows": windows,
            "receptive_field": "x".join(map(str, end)),
            "pooling": any(layer.kind.startswith(POOL_PREFIXES) for layer in branch)}


@detector("inception", what="have at least {min_modules} Inception module(s)", min_modules=1)
def inception(graph: LayerGraph, params: dict) -> Verdict:
    """At least min_modules Inception modules (3+ parallel branches, different receptive fields, concatenated)."""
    minimum = int(params["min_modules"])
    modules = inception_modules(graph)
    concats = [layer.name for layer in graph.merges() if layer.kind in CONCAT_KINDS]
    if modules:
        fields = ", ".join(" / ".join(b["receptive_field"] + (" pool" if b["pooling"] else "") for b in m["branches"])
                           for m in modules[:2])
        summary = (f"{len(modules)} Inception module{'s' * (len(modules) != 1)} (branch receptive fields: {fields}"
                   f"{', ...' if len(modules) > 2 else ''}), at least {minimum} required")
    elif concats:
        summary = (f"no Inception module: {len(concats)} concatenation(s) ({', '.join(concats[:4])}) but none joins "
                   f"{MIN_BRANCHES} or more parallel branches of different receptive fields from one input")
    else:
        summary = "no Inception module: no layer concatenates parallel branches"
    return Verdict("inception", len(modules) >= minimum, summary, len(modules),
                   {"modules": modules, "concatenations": concats, "min_modules": minimum})
