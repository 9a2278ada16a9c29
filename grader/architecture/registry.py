"""Architecture detectors are small named functions over a LayerGraph; a
rubric part declares which it needs and with what parameters.

    @detector("residual", min_blocks=1)
    def residual(graph: LayerGraph, params: dict) -> Verdict: ...

A detector never raises for a student's model: run_detector turns a bad
parameter or an unexpected exception into a verdict that says so."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

from grader.architecture.graph import LayerGraph


@dataclass
class Verdict:
    detector: str
    found: bool                      # what the detector looks for is in the model
    summary: str                     # one line, in words, for the report
    count: int | None = None         # blocks, modules, layers found
    evidence: dict[str, Any] = field(default_factory=dict)   # which layers form which block
    verifiable: bool = True          # False: the graph lacks what the detector needs

    def to_dict(self) -> dict[str, Any]:
        return {"detector": self.detector, "found": self.found, "summary": self.summary, "count": self.count,
                "verifiable": self.verifiable, "evidence": self.evidence}


DetectorFn = Callable[[LayerGraph, dict], Verdict]


@dataclass(frozen=True)
class Detector:
    id: str
    fn: DetectorFn
    defaults: dict[str, Any]
    needs_edges: bool                # residual, inception, plain need connections; dropout does not
    what: str                        # what it looks for, as a predicate: "have at least {min_blocks} ..."

    def wanted(self, params: dict[str, Any]) -> str:
        """``have at least 3 residual blocks``: what the rubric asks for, for a message."""
        try:
            return self.what.format(**{**self.defaults, **params})
        except (KeyError, IndexError, ValueError):
            return self.what

    @property
    def doc(self) -> str:
        return (self.fn.__doc__ or "").strip().splitlines()[0] if self.fn.__doc__ else ""


DETECTORS: dict[str, Detector] = {}


def detector(detector_id: str, *, what: str, needs_edges: bool = True,
             **defaults: Any) -> Callable[[DetectorFn], DetectorFn]:
    """Registers a detector with its parameters and their defaults (the only
    ones it accepts); ``what`` says what it looks for ("have at least {min_blocks} residual blocks")."""
    def register(fn: DetectorFn) -> DetectorFn:
        if detector_id in DETECTORS:
            raise ValueError(f"detector {detector_id!r} registered twice")
        DETECTORS[detector_id] = Detector(detector_id, fn, dict(defaults), needs_edges, what)
        return fn

    return register


def parameter_problems(detector_id: str, params: dict[str, Any]) -> list[str]:
    """What is wrong with a rubric's declaration of a detector (unknown id or parameter)."""
    found = DETECTORS.get(detector_id)
    if found is None:
        return [f"unknown architecture detector {detector_id!r} (known: {', '.join(sorted(DETECTORS))})"]
    unknown = sorted(set(params) - set(found.defaults))
    if unknown:
        accepted = ", ".join(sorted(found.defaults)) or "none"
        return [f"detector {detector_id!r} has no parameter {', '.join(unknown)} (it takes: {accepted})"]
    return [f"detector {detector_id!r}: {key} must be a whole number of at least 0, not {value!r}"
            for key, value in params.items()
            if isinstance(found.defaults[key], int) and (not isinstance(value, int) or isinstance(value, bool)
                                                          or value < 0)]


def run_detector(detector_id: str, graph: LayerGraph, params: dict[str, Any] | None = None) -> Verdict:
    found = DETECTORS.get(detector_id)
    problems = parameter_problems(detector_id, dict(params or {}))
    if found is None or problems:
        return Verdict(detector_id, False, "; ".join(problems), verifiable=False, evidence={"rubric_error": True})
    if found.needs_edges and not graph.connected:
        return Verdict(detector_id, False, "the saved model does not say how its layers connect "
                       "(only which layers it has), so this cannot be checked", verifiable=False)
    settings = {**found.defaults, **(params or {})}
    try:
        return found.fn(graph, settings)
    except Exception as exc:  # noqa: BLE001 - a grader bug must not stop the batch
        return Verdict(detector_id, False, f"the grader failed while looking ({type(exc).__name__}: {exc}); "
                       "tell the instructor", verifiable=False, evidence={"internal_error": True})
