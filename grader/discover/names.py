"""Matching file names against the rubric's part patterns and data-set keywords."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import PurePosixPath

from grader.rubric import Rubric

_SEPARATORS = re.compile(r"[\s\-_.]+")


def normalise(text: str) -> str:
    """Lower case, every run of spaces, dashes, underscores and dots as one '-'.

    `Assignment_6.2A Loss ` -> `assignment-6-2a-loss-`; so one pattern such as
    `6-?2-?a` covers 6.2a, 6-2A, 6_2a, 6-2-a and 62a.
    """
    return _SEPARATORS.sub("-", text.strip().lower())


@dataclass(frozen=True)
class NameMatch:
    parts: list[str]      # candidate part ids, empty when nothing matched
    specific: bool        # narrowed by a part pattern, not only a data-set word
    reason: str           # for the report: which names said so
    own: str | None = None  # the one part the file's own name or own folder names by a part pattern


def _parts_named_by(text: str, rubric: Rubric) -> tuple[set[str], bool]:
    specific = {p.id for p in rubric.parts if any(re.search(x, text) for x in p.patterns)}
    if specific:
        return specific, True
    datasets = {n for n, d in rubric.datasets.items() if any(re.search(k, text) for k in d.keywords)}
    return {p.id for p in rubric.parts if p.dataset in datasets}, False


def match_parts(path: str, rubric: Rubric, is_dir: bool = False) -> NameMatch:
    """The parts a path names, reading the file name first, then its folders
    from the innermost out; each name narrows the candidates, and a name that
    contradicts what is already known is ignored (a model saved in a folder
    called `mnist.h5/` next to CIFAR-10 files happens).

    A folder (a SavedModel) keeps its whole name: `results/6.1` is not `6`
    with the suffix `.1`."""
    pure = PurePosixPath(path)
    has_suffix = not is_dir and pure.suffix and len(pure.suffix) <= 7
    stem = pure.name[: -len(pure.suffix)] if has_suffix else pure.name
    places = [stem, *reversed(pure.parts[:-1])]
    candidates: set[str] | None = None
    specific = False
    reasons: list[str] = []
    for place in places:
        named, is_specific = _parts_named_by(normalise(place), rubric)
        if not named:
            continue
        narrowed = named if candidates is None else candidates & named
        if not narrowed:
            continue
        if narrowed != candidates:
            reasons.append(f"'{place}' names {', '.join(sorted(named))}")
        candidates = narrowed
        specific = specific or is_specific
    order = [p.id for p in rubric.parts]
    parts = sorted(candidates or (), key=order.index)
    own = _own_part(places[:2], rubric)
    return NameMatch(parts, specific, "; ".join(reasons), own if own in parts else None)


def _own_part(places: list[str], rubric: Rubric) -> str | None:
    """The part a part pattern names in the file's own name, else in the
    folder it sits in; such a name is the student's word and decides. A name
    that names several parts (`6.2a_vs_6.2b`) decides nothing."""
    for place in places:
        named, specific = _parts_named_by(normalise(place), rubric)
        if specific:
            return next(iter(named)) if len(named) == 1 else None
    return None
