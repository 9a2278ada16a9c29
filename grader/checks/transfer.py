"""Checks of transfer learning: a keras.applications base pretrained on
ImageNet, frozen or fine-tuned, under a new classifier.

    pretrained_base          the model contains a known base (VGG16, ResNet50, ...), by its
                             topology in the config, confirmed by the sandbox's trace of the loaded model
    base_weights_pretrained  every base layer the part requires frozen holds exactly the
                             ImageNet weights file's weights
    fine_tuned_layers        the base's top block was trained on from the ImageNet weights,
                             the rest is unchanged, and the saved trainable flags say so
    head_replaced            the classifier outputs the data set's classes

The weights comparison uses the sandbox's per-layer digests
(grader/evaluate/runtime/digests.py, validated by grader/evaluate/digests.py):
a layer is unchanged exactly when its digest equals the reference file's;
otherwise its correlation with the reference tells a layer trained on from
the ImageNet weights (close to 1) from one re-initialised or trained from
scratch (near 0). The part's top block is every base layer after the one the
check's ``top_block_after`` names for that network, in the order of the
network's weights file.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from grader.architecture import GraphError, graph_from_plain
from grader.architecture.applications import recognise
from grader.checks.registry import CheckContext, check
from grader.datasets.weights import APPLICATIONS
from grader.records import CheckResult
from grader.rubric import Part

# The checks that need the sandbox's layer digests (ModelJob.digests).
DIGEST_CHECKS = ("pretrained_base", "base_weights_pretrained", "fine_tuned_layers")
DEFAULT_MIN_CORRELATION = 0.5
NAMES_SHOWN = 8

IMAGENET = "imagenet"              # layer states, from the digests
TRAINED = "trained"
REINITIALISED = "reinitialised"
RESHAPED = "reshaped"
MISSING = "missing"
# What a layer's weights are, in the table, and said of several in a message.
STATE_WORDS = {
    IMAGENET: "ImageNet, unchanged",
    TRAINED: "trained on from ImageNet",
    REINITIALISED: "not ImageNet (re-initialised or from scratch)",
    RESHAPED: "shaped unlike the ImageNet file's",
    MISSING: "missing",
}
STATE_SENTENCES = {
    IMAGENET: "hold the ImageNet weights, unchanged",
    TRAINED: "were trained on from the ImageNet weights",
    REINITIALISED: "do not hold the ImageNet weights (re-initialised or trained from scratch)",
    RESHAPED: "have weights shaped unlike the ImageNet file's",
    MISSING: "are missing from the model",
}


# ----------------------------------------------------------- the sandbox job


def digest_request(part: Part, weights: dict[str, Path]) -> dict[str, Any] | None:
    """ModelJob.digests for ``part``: the instructor's ImageNet weights files to
    compare its model with, or None when no check of the part needs them."""
    if not any(spec.id in DIGEST_CHECKS and spec.kind == "auto" for spec in part.checks):
        return None
    return {"reference_files": {name: str(path) for name, path in sorted(weights.items())}}


# ------------------------------------------------------------ what was found


@dataclass
class LayerState:
    name: str
    kind: str
    state: str                       # IMAGENET, TRAINED, REINITIALISED, RESHAPED or MISSING
    trainable: bool | None           # as saved (None: the layer is missing)
    correlation: float | None = None
    rel_diff: float | None = None


@dataclass
class Base:
    """The model's base as the digests show it, against the network's weights file."""

    network: str
    reference_file: str
    order: list[str]                                   # the file's layer names, in order
    layers: list[LayerState] = field(default_factory=list)   # base layers with weights, in the file's order
    head: list[dict] = field(default_factory=list)     # the model's layers the file does not have

    def top_block(self, after: str | None) -> set[str]:
        """The names after ``after`` in the file's order (empty when no top block is named)."""
        if not after:
            return set()
        return set(self.order[self.order.index(after) + 1:]) if after in self.order else set()


def _state(row: dict, min_correlation: float) -> str:
    if row["equal"]:
        return IMAGENET
    if row.get("note") and row.get("rel_diff") is None:
        return RESHAPED
    correlation = row.get("correlation")
    return TRAINED if correlation is not None and correlation >= min_correlation else REINITIALISED


def read_base(digests: dict, min_correlation: float) -> Base | None:
    network = digests.get("reference")
    if not network:
        return None
    rows = {row["name"]: row for row in digests.get("layers", []) if row.get("reference_sha256")}
    base = Base(network, digests.get("reference_file") or "", list(digests.get("reference_layers", [])))
    missing = set(digests.get("missing", []))
    for name in base.order:
        if name in rows:
            row = rows[name]
            base.layers.append(LayerState(name, row["kind"], _state(row, min_correlation), row["trainable"],
                                          row.get("correlation"), row.get("rel_diff")))
        elif name in missing:
            base.layers.append(LayerState(name, "", MISSING, None))
    base.head = [row for row in digests.get("layers", []) if not row.get("reference_sha256")]
    return base


def _loaded(ctx: CheckContext) -> bool:
    """The sandbox loaded and ran the model, whether or not its predictions
    fit the test set: a head with the wrong number of classes fails
    head_replaced and the accuracy checks, but its base's layers, traced and
    digested once the model ran, are still evidence for the base checks."""
    evaluation = ctx.evaluation
    return evaluation is not None and (evaluation.ok or evaluation.layer_graph is not None
                                       or bool(evaluation.layer_digests))


def _digests_unavailable(ctx: CheckContext, check_id: str, points: float) -> CheckResult | None:
    """A result when the digests cannot say anything (no model, not run, no reference), else None."""
    if ctx.files.model is None:
        return CheckResult(check_id, 0.0, points, False,
                           f"no saved model found; save it as {ctx.part.canonical_path('model')}")
    if ctx.evaluation is None:
        return _not_verifiable(check_id, points, ctx.not_run)
    if not _loaded(ctx):
        return _not_verifiable(check_id, points, "the model did not run in the sandbox (see model_loads for why)")
    digests = ctx.evaluation.layer_digests
    if not digests:
        return _not_verifiable(check_id, points, "the sandbox could not compare the model's layers with the "
                                                 "ImageNet weights (see the model's notes)")
    if digests.get("reference"):
        return None
    staged = set(digests.get("candidates", {}))
    absent = [f"{name} ({file})" for name, file in ctx.rubric.pretrained_weights.items() if name not in staged]
    if not staged:
        return _not_verifiable(check_id, points, "the instructor's data folder has none of the ImageNet weights "
                                                 f"files to compare with: {', '.join(absent)}; `grade data fetch` "
                                                 "lists where they were looked for and how to get them")
    also = f" (the instructor's data folder lacks {', '.join(absent)})" if absent else ""
    return CheckResult(check_id, 0.0, points, False,
                       f"none of the model's layers are those of the ImageNet weights of {', '.join(sorted(staged))}"
                       f"{also}: build the base with keras.applications (e.g. VGG16(weights='imagenet', "
                       "include_top=False)) and keep its layer names", {"candidates": digests.get("candidates", {})})


def _not_verifiable(check_id: str, points: float, why: str) -> CheckResult:
    return CheckResult(check_id, 0.0, points, False, f"not verifiable: {why}", {"not_verifiable": True})


def _top_after(params: dict, network: str) -> str | None:
    return (params.get("top_block_after") or {}).get(network)


def _min_correlation(params: dict) -> float:
    return float(params.get("min_correlation", DEFAULT_MIN_CORRELATION))


# ---------------------------------------------------------- compact evidence

# A layer's block in a keras.applications network, by the builders' names.
BLOCK_PATTERNS = [re.compile(p) for p in (
    r"^(conv\d+_block\d+)_", r"^(block_\d+)_", r"^(block\d+)_", r"^(mixed\d+)(?:_\d+)?$",
    r"^(?:bn_)?(Conv1)(?:_|$)", r"^(Conv_1)(?:_|$)", r"^(expanded_conv)_", r"^(conv\d+)_",
)]


def block_of(name: str) -> str | None:
    for pattern in BLOCK_PATTERNS:
        match = pattern.match(name)
        if match:
            return match.group(1)
    return None


def blocks(names: list[str]) -> dict[str, str]:
    """Each name's block; a name of no block (InceptionV3's conv2d_12) goes with
    the next named one in the file's order (the module it feeds), else the last."""
    found = {name: block_of(name) for name in names}
    following = None
    for name in reversed(names):
        following = found[name] or following
        found[name] = found[name] or following
    last = next((block for block in reversed(list(found.values())) if block), "base")
    return {name: block or last for name, block in found.items()}


def _summary(values: list[str]) -> str:
    counted: dict[str, int] = {}
    for value in values:
        counted[value] = counted.get(value, 0) + 1
    if len(counted) == 1:
        return next(iter(counted))
    return ", ".join(f"{count} {value}" for value, count in counted.items())


def _range(values: list[float | None]) -> str:
    known = [v for v in values if v is not None]
    if not known:
        return ""
    low, high = min(known), max(known)
    return f"{low:.2f}" if abs(high - low) < 0.005 else f"{low:.2f} to {high:.2f}"


def layer_table(base: Base, required: dict[str, str]) -> dict[str, Any]:
    """One row per block of the base (and one for the new head): what the
    layers hold, their saved flags, what the part requires."""
    by_block: dict[str, list[LayerState]] = {}
    names = blocks([layer.name for layer in base.layers])
    for layer in base.layers:
        by_block.setdefault(names[layer.name], []).append(layer)
    rows = []
    for block, layers in by_block.items():
        states = [STATE_WORDS[layer.state] for layer in layers]
        flags = ["missing" if layer.trainable is None else "trainable" if layer.trainable else "frozen"
                 for layer in layers]
        correlation = _range([layer.correlation for layer in layers if layer.state != IMAGENET])
        rows.append([block, len(layers), _summary(flags), _summary(states), correlation,
                     _summary([required[layer.name] for layer in layers])])
    if base.head:
        rows.append(["new layers (not in the base)", len(base.head),
                     _summary(["trainable" if row["trainable"] else "frozen" for row in base.head]),
                     _summary([row["kind"] for row in base.head]), "", "any"])
    return {"columns": ["block", "layers", "saved as", "weights", "correlation with ImageNet", "required"],
            "rows": rows}


def _names(layers: list[LayerState]) -> str:
    """Layers by block, a few names each: "block1 (block1_conv1, block1_conv2), block2 (...)"."""
    names = blocks([layer.name for layer in layers])
    grouped: dict[str, list[str]] = {}
    for layer in layers:
        grouped.setdefault(names[layer.name], []).append(layer.name)
    parts = []
    for block, members in list(grouped.items())[:NAMES_SHOWN]:
        shown = ", ".join(members[:3]) + (f" and {len(members) - 3} more" if len(members) > 3 else "")
        parts.append(f"{block} ({shown})")
    more = f", and {len(grouped) - NAMES_SHOWN} more blocks" if len(grouped) > NAMES_SHOWN else ""
    return ", ".join(parts) + more


def _by_state(layers: list[LayerState]) -> str:
    """The layers grouped by what they hold, named compactly, with their correlation range."""
    said = []
    for state in (REINITIALISED, TRAINED, RESHAPED, MISSING, IMAGENET):
        members = [layer for layer in layers if layer.state == state]
        if members:
            figure = _range([layer.correlation for layer in members])
            figure = f", correlation with ImageNet {figure}" if figure and state in (TRAINED, REINITIALISED) else ""
            said.append(f"{len(members)} {STATE_SENTENCES[state]}{figure}: {_names(members)}")
    return "; ".join(said)


def _evidence(base: Base, required: dict[str, str], **extra) -> dict[str, Any]:
    counts: dict[str, int] = {}
    for layer in base.layers:
        counts[layer.state] = counts.get(layer.state, 0) + 1
    return {"network": base.network, "reference_file": base.reference_file, "layers": len(base.layers),
            "states": counts, "table": layer_table(base, required), **extra}


# -------------------------------------------------------------------- checks


def _graphs(ctx: CheckContext) -> dict[str, Any]:
    """The config's layer graph (as the host read it) and the sandbox's trace, each None when absent."""
    found = {}
    meta = ctx.files.model_meta
    sandboxed = ctx.evaluation.layer_graph if _loaded(ctx) else None
    for source, plain in (("config", meta.layer_graph if meta is not None else None), ("sandbox", sandboxed)):
        try:
            found[source] = graph_from_plain(plain, source=source) if plain is not None else None
        except (GraphError, RecursionError):
            found[source] = None
    return found


def _network(graph) -> dict | None:
    if graph is None:
        return None
    networks = recognise(graph)
    return networks[0] if networks else None


def _brief(network: dict | None) -> dict | None:
    if network is None:
        return None
    return {key: network[key] for key in ("network", "blocks", "expected_blocks", "prefix", "layers",
                                          "frozen_layers")}


@check("pretrained_base")
def pretrained_base(ctx: CheckContext, points: float, params: dict) -> CheckResult:
    """A keras.applications base the part allows, recognised by its topology in
    the model's config and confirmed in the sandbox: by its trace of the loaded
    model, and by its layers matching that network's ImageNet weights file."""
    allowed = list(params.get("applications") or ctx.rubric.pretrained_weights or APPLICATIONS)
    if ctx.files.model is None:
        return CheckResult("pretrained_base", 0.0, points, False,
                           f"no saved model found; save it as {ctx.part.canonical_path('model')}")
    graphs = _graphs(ctx)
    config, traced = _network(graphs["config"]), _network(graphs["sandbox"])
    digests = ctx.evaluation.layer_digests if ctx.evaluation is not None else {}
    matched = (digests or {}).get("reference")
    evidence = {"allowed": allowed, "config": _brief(config), "sandbox": _brief(traced),
                "weights_file_matched": matched, "candidates": (digests or {}).get("candidates", {})}
    found = config or traced
    if found is None:
        if ctx.evaluation is None and graphs["config"] is None:
            return _not_verifiable("pretrained_base", points, f"the saved model shows no layers to read, and "
                                                             f"{ctx.not_run}")
        return CheckResult("pretrained_base", 0.0, points, False,
                           f"no keras.applications base found in the model (one of {', '.join(allowed)}): build "
                           "on keras.applications, e.g. VGG16(weights='imagenet', include_top=False)", evidence)
    network = found["network"]
    if network not in allowed:
        return CheckResult("pretrained_base", 0.0, points, False,
                           f"the base is keras.applications {network}; this part asks for one of "
                           f"{', '.join(allowed)}", evidence)
    where = f" (nested as {found['prefix']})" if found["prefix"] else ""
    said = f"keras.applications {network} base{where}: {found['blocks']} of its {found['expected_blocks']} blocks"
    if not _loaded(ctx):
        why = ctx.not_run if ctx.evaluation is None else "the model did not run in the sandbox (see model_loads)"
        return _not_verifiable("pretrained_base", points, f"{said} in the config, not confirmed: {why}")
    disagree = []
    if graphs["sandbox"] is not None and (traced or {}).get("network") != network:
        disagree.append(f"the sandbox's trace of the loaded model finds {traced['network'] if traced else 'no such base'}")
    if matched and matched != network:
        disagree.append(f"its layers match the {matched} ImageNet weights file, not {network}'s")
    if disagree:
        return CheckResult("pretrained_base", 0.0, points, False,
                           f"the config shows a {said}, but " + " and ".join(disagree) +
                           ": the saved model is not what it claims to be", evidence)
    confirmed = [what for what, ok in (("the sandbox's trace", traced is not None),
                                       (f"the layers of the {network} ImageNet weights file", matched == network))
                 if ok]
    if not confirmed:
        return _not_verifiable("pretrained_base", points, f"{said} in the config, but the sandbox could neither "
                                                          "trace the loaded model nor compare it with the ImageNet "
                                                          "weights file")
    return CheckResult("pretrained_base", points, points, True,
                       f"{said}, confirmed by {' and '.join(confirmed)}", evidence)


@check("base_weights_pretrained")
def base_weights_pretrained(ctx: CheckContext, points: float, params: dict) -> CheckResult:
    """Every base layer the part requires frozen (all of it, or all below the
    top block named by ``top_block_after``) holds exactly the ImageNet weights."""
    unavailable = _digests_unavailable(ctx, "base_weights_pretrained", points)
    if unavailable is not None:
        return unavailable
    base = read_base(ctx.evaluation.layer_digests, _min_correlation(params))
    top = base.top_block(_top_after(params, base.network))
    frozen = [layer for layer in base.layers if layer.name not in top]
    required = {layer.name: "trainable, trained" if layer.name in top else "frozen, ImageNet" for layer in base.layers}
    wrong = [layer for layer in frozen if layer.state != IMAGENET]
    which = f"{len(frozen)} layers of the {base.network} base" + (" below its top block" if top else "")
    evidence = _evidence(base, required, differing=[layer.name for layer in wrong][:50])
    if not frozen:
        return CheckResult("base_weights_pretrained", 0.0, points, False,
                           f"the {base.network} base has no layers with weights in the model", evidence)
    if not wrong:
        return CheckResult("base_weights_pretrained", points, points, True,
                           f"all {which} hold exactly the ImageNet weights ({base.reference_file})", evidence)
    return CheckResult("base_weights_pretrained", 0.0, points, False,
                       f"{len(wrong)} of the {which} differ from the ImageNet weights ({base.reference_file}): "
                       f"{_by_state(wrong)}. Build the base with weights='imagenet' and freeze it "
                       "(base.trainable = False) before training the new classifier", evidence)


@check("fine_tuned_layers")
def fine_tuned_layers(ctx: CheckContext, points: float, params: dict) -> CheckResult:
    """The base's top block (after ``top_block_after``) was trained on from the
    ImageNet weights, the layers below it are unchanged, and the saved
    trainable flags agree: a third of the points for each."""
    unavailable = _digests_unavailable(ctx, "fine_tuned_layers", points)
    if unavailable is not None:
        return unavailable
    base = read_base(ctx.evaluation.layer_digests, _min_correlation(params))
    after = _top_after(params, base.network)
    top = base.top_block(after)
    if not top:
        why = (f"the rubric names no top block for {base.network} (top_block_after)" if not after else
               f"{after!r}, which the rubric names as the end of the frozen layers, is not a layer of {base.network}")
        return _not_verifiable("fine_tuned_layers", points, why + "; tell the instructor")
    may_stay_frozen = set(params.get("may_stay_frozen", []))
    required = {layer.name: "trainable, trained" if layer.name in top else "frozen, ImageNet" for layer in base.layers}
    upper = [layer for layer in base.layers if layer.name in top]
    lower = [layer for layer in base.layers if layer.name not in top]
    excused = [layer for layer in upper if layer.kind in may_stay_frozen and layer.state == IMAGENET
               and layer.trainable is False]
    untrained = [layer for layer in upper if layer.state != TRAINED and layer not in excused]
    changed = [layer for layer in lower if layer.state != IMAGENET]
    flags = [layer for layer in upper if layer.trainable is not True and layer not in excused] + \
            [layer for layer in lower if layer.trainable is not False]
    said, fixes = [], []
    if untrained:
        fixes.append(f"of its top block ({len(upper)} layers after {after}), {_by_state(untrained)}: "
                     "unfreeze the top block of the pretrained base and train it on with a small learning rate")
    else:
        said.append(f"its top block ({len(upper)} layers after {after}) was trained on from the ImageNet weights")
    if changed:
        fixes.append(f"of the {len(lower)} layers below it, {_by_state(changed)}: keep them frozen")
    else:
        said.append(f"the {len(lower)} layers below it are unchanged")
    if flags:
        trainable_low = [layer.name for layer in lower if layer.trainable]
        frozen_top = [layer.name for layer in upper if layer.trainable is False and layer not in excused]
        wrong = ([f"{len(trainable_low)} layers below the top block saved trainable ({_names_plain(trainable_low)})"]
                 if trainable_low else []) + \
                ([f"{len(frozen_top)} top-block layers saved frozen ({_names_plain(frozen_top)})"] if frozen_top else [])
        fixes.append("the saved trainable flags disagree: " + "; ".join(wrong or ["some layers are missing"]))
    else:
        said.append("the saved trainable flags agree")
    earned = sum(not problem for problem in (untrained, changed, flags)) / 3
    evidence = _evidence(base, required, top_block_after=after, untrained=[layer.name for layer in untrained][:50],
                         changed=[layer.name for layer in changed][:50], flags_wrong=[layer.name for layer in flags][:50],
                         excused=[layer.name for layer in excused][:50])
    head = f"{base.network} base ({base.reference_file}): "
    if not fixes:
        return CheckResult("fine_tuned_layers", points, points, True, head + "; ".join(said), evidence)
    return CheckResult("fine_tuned_layers", points * earned, points, False,
                       head + "; ".join(fixes) + (f" ({'; '.join(said)})" if said else ""), evidence)


def _names_plain(names: list[str]) -> str:
    return ", ".join(names[:4]) + (f" and {len(names) - 4} more" if len(names) > 4 else "")


@check("head_replaced")
def head_replaced(ctx: CheckContext, points: float, params: dict) -> CheckResult:
    """The classifier on top of the base outputs the data set's classes (not
    ImageNet's 1000: include_top=False and a new head)."""
    wanted = ctx.dataset.num_classes
    if ctx.files.model is None:
        return CheckResult("head_replaced", 0.0, points, False,
                           f"no saved model found; save it as {ctx.part.canonical_path('model')}")
    shape, source = None, None
    if ctx.evaluation is not None and ctx.evaluation.ok:
        shape, source = ctx.evaluation.architecture.get("output_shape"), "the loaded model"
    meta = ctx.files.model_meta
    if not shape and meta is not None and meta.output_units:
        shape, source = [meta.output_units], "the saved config"
    if not shape:
        if ctx.evaluation is None:
            return _not_verifiable("head_replaced", points, f"the saved model does not show its output, and {ctx.not_run}")
        return _not_verifiable("head_replaced", points, "neither the saved model nor the sandbox shows its output shape")
    evidence = {"output_shape": list(shape), "from": source, "classes": wanted}
    outputs = shape[-1]
    if len(shape) == 1 and outputs == wanted:
        return CheckResult("head_replaced", points, points, True,
                           f"the classifier outputs {wanted} classes, the data set's (per {source})", evidence)
    if outputs == 1000:
        fix = "it still outputs ImageNet's 1000 classes: build the base with include_top=False and put a new " \
              f"Dense({wanted}, activation='softmax') head on it"
    elif len(shape) > 1:
        fix = f"its output is {list(shape)}, not one score per class: put a classifier (a pooling or Flatten " \
              f"layer and Dense({wanted}, activation='softmax')) on the base"
    else:
        fix = f"it outputs {outputs}, the data set has {wanted} classes: end with Dense({wanted}, activation='softmax')"
    return CheckResult("head_replaced", 0.0, points, False, f"{fix} (per {source})", evidence)
