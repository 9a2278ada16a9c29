"""Check evidence laid out for the report: the architecture detectors' verdicts
(which layers form which residual block or Inception module, the application
recognised, the plain stack) and any check's ``table``.

A check's evidence may carry ``"table": {"columns": [...], "rows": [...]}``
(rows as lists in column order, or dicts keyed by column; an optional
``"caption"``), or a list of such tables under ``"tables"``: the report shows
each as an escaped table, so a check needs no report code to show one.

Everything here is plain text built from a student's layer names, so it is
shortened and left to Jinja's autoescape; nothing builds markup.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from grader.report import formatting

MAX_NAME_CHARS = 40          # one layer name
MAX_CHAIN_LAYERS = 6         # a block's main path: first ones … last one
MAX_BLOCKS_SHOWN = 12        # residual blocks or Inception modules listed per detector
MAX_TABLE_ROWS = 200
MAX_TABLE_COLUMNS = 20
# Evidence keys the report lays out itself instead of in the key-value list.
DETECTORS_KEY = "detectors"
TABLE_KEYS = ("table", "tables")


@dataclass
class DetectorView:
    """One detector's verdict, compactly: a line, and one line per block it found."""

    id: str
    found: bool
    verifiable: bool
    summary: str
    graph: str                        # "config" or "sandbox": whose graph the verdict is on
    confirmation: str = ""            # what the other graph says, when there is one
    items: list[str] = field(default_factory=list)   # "block 1: add_3 = conv_a → … → bn_b + identity from pool_1"
    more: int = 0                     # blocks not listed


@dataclass
class TableView:
    columns: list[str]
    rows: list[list[str]]
    caption: str = ""
    more: int = 0                     # rows not shown


def detector_views(evidence: Any) -> list[DetectorView]:
    """The architecture check's ``detectors`` evidence (grader/checks/models.py), one view per rule."""
    detectors = evidence.get(DETECTORS_KEY) if isinstance(evidence, dict) else None
    if not isinstance(detectors, dict):
        return []
    views = []
    for rule_id, verdict in detectors.items():
        if isinstance(verdict, dict):
            views.append(_detector_view(str(rule_id), verdict))
    return views


def _detector_view(rule_id: str, verdict: dict) -> DetectorView:
    graph = str(verdict.get("graph") or "")
    other = [key[: -len("_agrees")] for key in verdict if isinstance(key, str) and key.endswith("_agrees")]
    confirmation = ""
    if other:
        source = other[0]
        agrees = verdict.get(f"{source}_agrees")
        confirmation = (f"the {source}'s trace agrees" if agrees is True
                        else f"the {source}'s trace finds: {formatting.plain(verdict.get(f'{source}_summary'))}")
    items = _items(str(verdict.get("detector") or rule_id), verdict.get("evidence"))
    return DetectorView(
        id=rule_id, found=verdict.get("found") is True, verifiable=verdict.get("verifiable") is not False,
        summary=formatting.plain(verdict.get("summary")), graph=graph, confirmation=confirmation,
        items=items[:MAX_BLOCKS_SHOWN], more=max(0, len(items) - MAX_BLOCKS_SHOWN),
    )


def _items(detector: str, evidence: Any) -> list[str]:
    """One line per block the detector lists (its evidence shape is the detector's own)."""
    if not isinstance(evidence, dict):
        return []
    describe = {
        "residual": lambda: [_residual_block(i, b) for i, b in enumerate(_dicts(evidence.get("blocks")), 1)],
        "inception": lambda: [_inception_module(i, m) for i, m in enumerate(_dicts(evidence.get("modules")), 1)],
        "application": lambda: [_application(n) for n in _dicts(evidence.get("networks"))],
        "plain": lambda: _plain_stack(evidence),
        "dropout": lambda: _named_layers(evidence),
        "augmentation": lambda: _named_layers(evidence),
    }.get(detector)
    return describe() if describe else []


def _residual_block(number: int, block: dict) -> str:
    shortcut = _names(block.get("shortcut"))
    kind = formatting.plain(block.get("shortcut_kind"))
    via = f"{kind} shortcut" + (f" ({' → '.join(shortcut)})" if shortcut else "")
    return (f"block {number}: {_name(block.get('add'))} = {_chain(block.get('main'))} + {via}, "
            f"from {_name(block.get('input'))}")


def _inception_module(number: int, module: dict) -> str:
    branches = []
    for branch in _dicts(module.get("branches")):
        windows = [formatting.plain(w) for w in branch.get("windows") or [] if isinstance(w, str)]
        field_ = formatting.plain(branch.get("receptive_field"))
        pooled = " pool" if branch.get("pooling") is True else ""
        shape = " → ".join(windows[:4]) if windows else "no window"
        branches.append(f"{shape} ({field_}{pooled}; {_chain(branch.get('layers'), limit=3)})")
    return (f"module {number}: {_name(module.get('concatenate'))} from {_name(module.get('input'))}, "
            f"{len(branches)} branches: " + " | ".join(branches))


def _application(network: dict) -> str:
    nested = f", nested as {_name(network.get('prefix'))}" if network.get("prefix") else ""
    frozen = network.get("frozen_layers")
    return (f"{formatting.plain(network.get('network'))}: {formatting.plain(network.get('blocks'))} of its "
            f"{formatting.plain(network.get('expected_blocks'))} blocks{nested}; "
            f"{formatting.plain(network.get('layers'))} layers, {formatting.plain(frozen or 0)} frozen")


def _plain_stack(evidence: dict) -> list[str]:
    if "stack" in evidence:
        stack = _names(evidence.get("stack"))
        return [f"{len(stack)} layers: {_chain(stack, limit=10)}"] if stack else []
    lines = []
    for key, said in (("merges", "merge layers"), ("forks", "layers feeding several branches"),
                      ("joins", "layers taking several inputs")):
        names = _names(evidence.get(key))
        if names:
            lines.append(f"{said}: {', '.join(names[:8])}" + (f", … ({len(names) - 8} more)" if len(names) > 8 else ""))
    return lines


def _named_layers(evidence: dict) -> list[str]:
    layers = _dicts(evidence.get("layers"))
    return [f"{_name(layer.get('name'))} ({formatting.plain(layer.get('kind'))})" for layer in layers]


def _chain(names: Any, limit: int = MAX_CHAIN_LAYERS) -> str:
    """conv_a → bn_a → … → add: the first layers and the last one of a path."""
    shown = _names(names)
    if len(shown) > limit:
        shown = shown[: limit - 1] + [f"… ({len(shown) - limit} more)", shown[-1]]
    return " → ".join(shown) if shown else "—"


def _names(value: Any) -> list[str]:
    return [_name(item) for item in value] if isinstance(value, (list, tuple)) else []


def _name(value: Any) -> str:
    text = formatting.plain(value)
    return text if len(text) <= MAX_NAME_CHARS else text[: MAX_NAME_CHARS - 1] + "…"


def _dicts(value: Any) -> list[dict]:
    return [item for item in value if isinstance(item, dict)] if isinstance(value, (list, tuple)) else []


# ------------------------------------------------------------------ tables


def table_views(evidence: Any) -> list[TableView]:
    """The evidence's ``table`` (one) and ``tables`` (a list), each checked for shape."""
    if not isinstance(evidence, dict):
        return []
    given = []
    if isinstance(evidence.get("table"), dict):
        given.append(evidence["table"])
    if isinstance(evidence.get("tables"), (list, tuple)):
        given.extend(table for table in evidence["tables"] if isinstance(table, dict))
    views = [_table_view(table) for table in given]
    return [view for view in views if view is not None]


def is_table(value: Any) -> bool:
    return isinstance(value, dict) and isinstance(value.get("columns"), (list, tuple)) and bool(value["columns"])


def _table_view(table: dict) -> TableView | None:
    if not is_table(table):
        return None
    keys = list(table["columns"])[:MAX_TABLE_COLUMNS]
    rows = table.get("rows") if isinstance(table.get("rows"), (list, tuple)) else []
    cells = []
    for row in rows[:MAX_TABLE_ROWS]:
        if isinstance(row, dict):
            cells.append([formatting.plain(row.get(key)) for key in keys])
        elif isinstance(row, (list, tuple)):
            values = list(row)[: len(keys)]
            cells.append([formatting.plain(value) for value in values] + [""] * (len(keys) - len(values)))
    return TableView(columns=[formatting.plain(key) for key in keys], rows=cells,
                     caption=formatting.plain(table.get("caption")) if table.get("caption") else "",
                     more=max(0, len(rows) - MAX_TABLE_ROWS))


def rows_table(rows: Any) -> TableView | None:
    """A check's per-model ``rows`` (dicts that each name their ``part``) as a table, a column per
    key (a nested dict in one cell, "accuracy: 0.71; params: 122,570", so the table wraps in its
    cell); None for anything else (other checks' rows, e.g. the ImageNet labels, keep their layout)."""
    if (not isinstance(rows, (list, tuple)) or not rows
            or not all(isinstance(row, dict) and "part" in row for row in rows)):
        return None
    shown = rows[:MAX_TABLE_ROWS]
    columns: list[str] = []
    for row in shown:
        columns += [str(key) for key in row if str(key) not in columns]
    columns = columns[:MAX_TABLE_COLUMNS]
    return TableView(columns=[formatting.humanize_key(c) for c in columns],
                     rows=[[formatting.plain(row[c]) if c in row else "" for c in columns] for row in shown],
                     more=max(0, len(rows) - MAX_TABLE_ROWS))


def remaining_evidence(evidence: Any, laid_out: set[str]) -> dict:
    """The evidence without the keys the report lays out on its own."""
    if not isinstance(evidence, dict):
        return {}
    return {key: value for key, value in evidence.items() if key not in laid_out}
