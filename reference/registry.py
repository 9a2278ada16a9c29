"""Which reference solution solves which part of which rubric: ``reference/solutions.toml``, read as data.

The file is keyed by rubric id, so a rubric copied elsewhere (same id) keeps
its solutions, and a new rubric gets reference solutions by adding a table
there; nothing in the runner names a rubric or a part.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

REGISTRY_FILE = Path(__file__).with_name("solutions.toml")
KINDS = ("classifier", "images", "comparison", "transfer")
# Defaults of a rubric's [quick] table: the smoke test assignment06's references were built for.
DEFAULT_QUICK_SAMPLES = 5000
DEFAULT_QUICK_EPOCHS = 1
_SOLUTION_KEYS = {"kind", "module", "function", "notebook", "quick_settings", "starts_from", "name", "design",
                  "strengths", "weaknesses"}


class ReferenceRunError(Exception):
    """A reference run or baseline that cannot go ahead; the message says what to change."""


@dataclass(frozen=True)
class Solution:
    module: str      # where the solution lives
    function: str    # trains and scores a classifier part, classifies an image folder, or compares models
    notebook: str    # the notebook's file name after the part id: <part>_<notebook>.ipynb
    kind: str = "classifier"
    quick_settings: dict[str, Any] = field(default_factory=dict, hash=False)
    # A compared model: its name in the comparison table, and what the discussion says of its design.
    name: str = ""
    design: str = ""
    strengths: str = ""
    weaknesses: str = ""
    # A transfer part that continues another: that part's id (its saved model is where this one starts).
    starts_from: str = ""


@dataclass(frozen=True)
class RubricSolutions:
    rubric: str
    parts: dict[str, Solution] = field(hash=False)
    quick_train_samples: int = DEFAULT_QUICK_SAMPLES
    quick_epochs: int = DEFAULT_QUICK_EPOCHS


def _solution(rubric_id: str, part_id: str, raw: Any, where: Path) -> Solution:
    key = f"{rubric_id}.parts.{part_id}"
    if not isinstance(raw, dict):
        raise ReferenceRunError(f"{where}: [{key}] must be a table")
    unknown = sorted(set(raw) - _SOLUTION_KEYS)
    missing = sorted({"module", "function", "notebook"} - set(raw))
    if unknown or missing:
        raise ReferenceRunError(f"{where}: [{key}] has unknown key(s) {unknown} or lacks {missing}")
    kind = raw.get("kind", "classifier")
    if kind not in KINDS:
        raise ReferenceRunError(f"{where}: [{key}] kind {kind!r} is not one of {list(KINDS)}")
    settings = raw.get("quick_settings", {})
    if not isinstance(settings, dict):
        raise ReferenceRunError(f"{where}: [{key}] quick_settings must be a table of keyword settings")
    return Solution(module=str(raw["module"]), function=str(raw["function"]), notebook=str(raw["notebook"]),
                    kind=kind, quick_settings=_tuples(settings), starts_from=str(raw.get("starts_from", "")),
                    **{name: str(raw.get(name, "")) for name in ("name", "design", "strengths", "weaknesses")})


def _tuples(value: Any) -> Any:
    """TOML arrays as tuples, as the solutions' own defaults are written (FILTERS = (32, 64, 128))."""
    if isinstance(value, dict):
        return {k: _tuples(v) for k, v in value.items()}
    if isinstance(value, list):
        return tuple(_tuples(v) for v in value)
    return value


@lru_cache(maxsize=8)
def _read(path: Path) -> dict[str, Any]:
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ReferenceRunError(f"{path}: cannot read the reference solutions' registry ({exc})") from None


def solutions_for(rubric_id: str, path: Path = REGISTRY_FILE) -> RubricSolutions:
    """The reference solutions of a rubric; ReferenceRunError when it has none."""
    table = _read(Path(path)).get(rubric_id)
    if not isinstance(table, dict) or not isinstance(table.get("parts"), dict):
        raise ReferenceRunError(
            f"no reference solutions for rubric {rubric_id}; add a [{rubric_id}.parts.<part id>] table "
            f"for each part to {path}")
    quick = table.get("quick", {})
    parts = {str(pid): _solution(rubric_id, str(pid), raw, Path(path)) for pid, raw in table["parts"].items()}
    return RubricSolutions(rubric_id, parts, int(quick.get("train_samples", DEFAULT_QUICK_SAMPLES)),
                           int(quick.get("epochs", DEFAULT_QUICK_EPOCHS)))


def rubrics_with_solutions(path: Path = REGISTRY_FILE) -> list[str]:
    """Every rubric id the registry has solutions for, in file order."""
    return [rid for rid, table in _read(Path(path)).items() if isinstance(table, dict) and "parts" in table]
