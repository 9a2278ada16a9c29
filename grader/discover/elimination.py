"""Files whose names leave their part open, settled by elimination.

A file that could be 6.2a or 6.2b goes to the one no other file of its role
claims. A plot whose name names no part at all (`accuracyPNG.png`) goes to
the part that has no plot, with the archive's modification times as
evidence: a plot saved minutes before the 6.1 model, while 6.2a and 6.2b
have their own plots, is 6.1's. Every such guess is a warning that says how
it was made.
"""

from __future__ import annotations

from dataclasses import dataclass
from grader.records import FoundFile, Layout, Problem, Role, Severity
from grader.rubric import Rubric

# Times closer than this to two parts' files tell the parts apart not at all:
# files unpacked or checked out together differ by seconds.
DECISIVE_GAP_SECONDS = 120.0


def resolve_by_elimination(layout: Layout) -> None:
    """A file that could be 6.2a or 6.2b goes to the one no other file of the
    same role already claims (cifar10_model.log beside cifar10_model_augmented.log)."""
    for found in layout.files:
        if found.part is not None or len(found.candidates) < 2:
            continue
        claimed = {f.part for f in layout.files if f.role == found.role and f.part and f.confidence >= 0.7}
        free = [p for p in found.candidates if p not in claimed]
        if len(free) == 1:
            found.part = free[0]
            found.confidence = 0.5
            found.reasons.append(f"by elimination: the other candidates already have a {found.role.value} file")


@dataclass
class _Nearest:
    part: str
    seconds: float          # signed: the plot's time minus the file's
    path: str               # the part's file nearest in time


def assign_unnamed_plots(layout: Layout, rubric: Rubric, mtimes: dict[str, float]) -> list[Problem]:
    """Plots that name no part go to the part without a plot, by elimination
    and by time; where neither decides they stay unassigned with the parts
    they could be (an ambiguity warning follows)."""
    unnamed = [f for f in layout.files if f.role is Role.PLOT and f.part is None and not f.candidates]
    wanting = [p.id for p in rubric.parts if "plot" in p.expects]
    lacking = [p for p in wanting if not layout.find(p, Role.PLOT)]
    if not unnamed or not lacking:
        return []
    anchors = {p: [f for f in layout.files if f.part == p and f.role is not Role.OTHER] for p in wanting}
    problems = []
    for plot in unnamed:
        decision = _decide(lacking, wanting, _nearest_in_time(plot, anchors, mtimes))
        if decision.part is None:
            plot.candidates = sorted(set(lacking) | set(decision.also), key=wanting.index)
            continue
        plot.part, plot.confidence, plot.candidates = decision.part, 0.5, [decision.part]
        plot.reasons.append(decision.how)
        problems.append(Problem(
            "plot-by-elimination",
            f"{plot.path} names no part; it was taken as a {decision.part} plot {decision.how}. Put the part "
            f"in its name (for example {rubric.part(decision.part).canonical_path('plot')})",
            Severity.WARNING, plot.path, decision.part))
    return problems


@dataclass
class _Decision:
    part: str | None        # None: nothing decides
    how: str = ""
    also: tuple[str, ...] = ()   # undecided: a part with plots that the times point to


def _decide(lacking: list[str], wanting: list[str], nearest: list[_Nearest]) -> _Decision:
    others = [p for p in wanting if p not in lacking]
    elimination = (f"by elimination ({_and(others)} {'has its' if len(others) == 1 else 'have their'} own plots)"
                   if others else "by elimination")
    # Times are evidence only between parts: one part with times tells nothing.
    decisive = len(nearest) >= 2 and abs(nearest[1].seconds) - abs(nearest[0].seconds) >= DECISIVE_GAP_SECONDS
    if decisive:
        best = nearest[0]
        if best.part not in lacking:      # saved with a part that has plots: maybe one more of its own
            return _Decision(None, also=(best.part,))
        when = f"it was saved {_duration(best.seconds)} {'after' if best.seconds >= 0 else 'before'} {best.path}"
        if len(lacking) == 1:
            return _Decision(best.part, f"{elimination} and because {when}")
        return _Decision(best.part, f"because, of the parts without a plot ({_and(lacking)}), {when}, "
                                    "the nearest in time")
    if len(lacking) == 1:
        why = "the archive's times do not tell the parts apart" if nearest else "the archive records no times"
        return _Decision(lacking[0], f"{elimination}; {why}")
    return _Decision(None)


def _nearest_in_time(plot: FoundFile, anchors: dict[str, list[FoundFile]], mtimes: dict[str, float]) -> list[_Nearest]:
    """Per part, its file nearest in time to ``plot``; nearest part first."""
    when = _time_of(plot, mtimes)
    if when is None:
        return []
    nearest = []
    for part, files in anchors.items():
        timed = [(when - t, f) for f in files if (t := _time_of(f, mtimes)) is not None]
        if timed:
            # On a tie the model is named: "saved 3 minutes before the model" says most.
            seconds, found = min(timed, key=lambda item: (abs(item[0]), item[1].role is not Role.MODEL))
            nearest.append(_Nearest(part, seconds, found.path))
    return sorted(nearest, key=lambda n: abs(n.seconds))


def _time_of(found: FoundFile, mtimes: dict[str, float]) -> float | None:
    """A file's time; a SavedModel folder's is its newest file's."""
    if not found.is_dir:
        return mtimes.get(found.path)
    inside = [t for p, t in mtimes.items() if p.startswith(found.path + "/")]
    return max(inside) if inside else None


def _duration(seconds: float) -> str:
    seconds = abs(seconds)
    for unit, size in (("day", 86400), ("hour", 3600), ("minute", 60)):
        if seconds >= 1.5 * size:
            count = round(seconds / size)
            return f"{count} {unit}s"
    if seconds >= 60:
        return "1 minute"
    return f"{round(seconds)} seconds"


def _and(items: list[str]) -> str:
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]
