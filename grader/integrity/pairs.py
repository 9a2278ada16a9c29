"""The class step: pairs of submissions with similar code or related models.

Runs after grading (and after ``grade rescore``) over every stored record's
evidence (grader/integrity/evidence.py), so a resumed batch compares the
whole class. Writes ``integrity/pairs.json`` (read by the class summary's
Integrity section) and one side-by-side page per pair under
``integrity/pairs/``. Attempts of one student are never paired with each
other. Evidence for the instructor to judge: nothing here changes a score,
and no student's report shows another student.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from grader.atomic import atomic_write_text
from grader.integrity import code as code_sim
from grader.integrity import models as model_sim
from grader.integrity.evidence import Evidence, read_all
from grader.policy.students import student_key
from grader.rubric import IntegritySettings, Rubric

PAIRS_FILE = Path("integrity") / "pairs.json"
PAGES_DIR = Path("integrity") / "pairs"


@dataclass
class PartFigures:
    code: code_sim.CodeMatch | None = None
    weights: model_sim.WeightMatch | None = None
    predictions: model_sim.AgreementMatch | None = None


@dataclass
class Pair:
    left: int
    right: int
    parts: dict[str, PartFigures] = field(default_factory=dict)


@dataclass
class ClassIntegrity:
    evidence: list[Evidence]
    pairs: list[Pair]
    documents: dict[str, dict[int, code_sim.Document]]
    settings: IntegritySettings
    missing: list[str] = field(default_factory=list)        # archives graded without evidence
    problems: list[str] = field(default_factory=list)
    base_files: list[str] = field(default_factory=list)
    seconds: float = 0.0


def base_paths(rubric: Rubric) -> list[Path]:
    """The [integrity] base paths, relative to the rubric file."""
    folder = Path(rubric.path).parent if rubric.path else Path.cwd()
    return [(folder / p).resolve() if not Path(p).is_absolute() else Path(p) for p in rubric.integrity.base]


def _owners(evidence: list[Evidence], rubric: Rubric) -> list[str]:
    return [student_key(e.student, e.archive, rubric.policy.aliases) for e in evidence]


def compare_class(evidence: list[Evidence], rubric: Rubric) -> ClassIntegrity:
    """Every reported pair of the class, per part, from the evidence alone."""
    started = time.monotonic()
    settings = rubric.integrity
    boilerplate = code_sim.boilerplate_hashes(base_paths(rubric), settings.kgram)
    if not settings.base:
        boilerplate.problems.insert(0, code_sim.NO_BASE.format(min_class=settings.common_min_class))
    documents = code_sim.class_documents({i: e.code for i, e in enumerate(evidence)}, settings.kgram,
                                         settings.window, boilerplate.hashes)
    owners = _owners(evidence, rubric)
    pairs: dict[tuple[int, int], Pair] = {}

    def figures(part: str, left: int, right: int) -> PartFigures | None:
        if owners[left] == owners[right]:
            return None   # one student's attempts
        key = (min(left, right), max(left, right))
        return pairs.setdefault(key, Pair(*key)).parts.setdefault(part, PartFigures())

    for part, docs in documents.items():
        for match in code_sim.similar_code(docs, settings.code_threshold, settings.common_share,
                                           settings.common_min_class, settings.min_code_tokens,
                                           settings.kgram, settings.window, boilerplate.hashes):
            if (slot := figures(part, match.left, match.right)) is not None:
                slot.code = match
    for part in rubric.parts:
        part_models = {i: e.models[part.id] for i, e in enumerate(evidence) if part.id in e.models}
        for match in model_sim.similar_weights(part_models, part.id, settings.weight_threshold):
            if (slot := figures(part.id, match.left, match.right)) is not None:
                slot.weights = match
        num_classes = rubric.dataset_of(part).num_classes
        for match in model_sim.agreement_statistics(part_models, part.id, num_classes,
                                                    settings.min_shared_errors, settings.error_overlap):
            if model_sim.far_beyond_chance(match, settings.agreement_alpha, settings.error_overlap,
                                           settings.min_shared_errors):
                if (slot := figures(part.id, match.left, match.right)) is not None:
                    slot.predictions = match
    ordered = sorted(pairs.values(), key=lambda p: (-strongest(p), evidence[p.left].archive, evidence[p.right].archive))
    return ClassIntegrity(
        evidence=evidence, pairs=ordered,
        documents={part: {d.key: d for d in docs} for part, docs in documents.items()},
        settings=settings, problems=boilerplate.problems, base_files=boilerplate.files,
        seconds=time.monotonic() - started)


def strongest(pair: Pair) -> float:
    """For ordering: the highest of a pair's code similarity and weight cosine, or 1 for predictions."""
    values = [0.0]
    for figures in pair.parts.values():
        if figures.code is not None:
            values.append(figures.code.score)
        if figures.weights is not None:
            values.append(figures.weights.median_cosine)
        if figures.predictions is not None:
            values.append(figures.predictions.error_overlap)
    return max(values)


# ------------------------------------------------------------------ output


def page_name(evidence: list[Evidence], pair: Pair) -> str:
    from grader.report.formatting import output_stem

    return f"{output_stem(evidence[pair.left].archive)}__{output_stem(evidence[pair.right].archive)}.html"


def _round(value: float, digits: int = 4) -> float:
    return round(float(value), digits)


def part_to_dict(figures: PartFigures) -> dict[str, Any]:
    out: dict[str, Any] = {"code": None, "weights": None, "predictions": None}
    if (c := figures.code) is not None:
        out["code"] = {"similarity": [_round(c.similarity[0]), _round(c.similarity[1])], "score": _round(c.score),
                       "matching_characters": c.overlap_tokens}
    if (w := figures.weights) is not None:
        out["weights"] = {"median_cosine": _round(w.median_cosine), "min_cosine": _round(w.min_cosine),
                          "tensors": w.tensors}
    if (p := figures.predictions) is not None:
        out["predictions"] = {
            "n": p.n, "accuracy": [_round(p.accuracy[0]), _round(p.accuracy[1])],
            "agreement": _round(p.agreement), "expected_agreement": _round(p.expected_agreement),
            "errors": list(p.errors), "shared_errors": p.shared_errors,
            "expected_shared_errors": _round(p.expected_shared, 3), "error_overlap": _round(p.error_overlap),
            "z": _round(p.z, 2) if p.z != float("inf") else None, "log10_p": _round(p.log10_p, 2),
            "pairs_tested": p.pairs_tested}
    return out


def to_dict(result: ClassIntegrity, part_ids: list[str]) -> dict[str, Any]:
    def side(index: int) -> dict[str, str]:
        e = result.evidence[index]
        return {"archive": e.archive, "student": e.student.display}

    return {
        "version": 1,
        "submissions": len(result.evidence),
        "without_evidence": result.missing,
        "problems": result.problems,
        "base_files": result.base_files,
        "seconds": round(result.seconds, 2),
        "settings": result.settings.model_dump(),
        "pairs": [{
            "left": side(pair.left), "right": side(pair.right),
            "page": (PAGES_DIR / page_name(result.evidence, pair)).as_posix(),
            "parts": {pid: part_to_dict(pair.parts[pid])
                      for pid in code_sim.part_order(list(pair.parts), part_ids)},
        } for pair in result.pairs],
    }


def write_class_integrity(out_dir: Path, rubric: Rubric, archives: list[str]) -> dict[str, Any] | None:
    """Compare the stored evidence of these archives; write pairs.json and the
    side-by-side pages. None (and nothing written) when the rubric turns it off."""
    from grader.integrity.side_by_side import write_pages
    from grader.report.formatting import output_stem

    out_dir = Path(out_dir)
    if not rubric.integrity.enabled:
        (out_dir / PAIRS_FILE).unlink(missing_ok=True)    # no stale pairs on the summary
        return None
    stems = {output_stem(a): a for a in archives}
    evidence, missing = read_all(out_dir, list(stems))
    result = compare_class(evidence, rubric)
    result.missing = sorted(stems[s] for s in missing)
    part_ids = [p.id for p in rubric.parts]
    write_pages(result, out_dir, part_ids)
    data = to_dict(result, part_ids)
    atomic_write_text(out_dir / PAIRS_FILE, json.dumps(data, indent=1))
    return data


def read_class_integrity(out_dir: Path) -> dict[str, Any] | None:
    """pairs.json as written, or None when there is none (or it is unreadable)."""
    try:
        data = json.loads((Path(out_dir) / PAIRS_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) and isinstance(data.get("pairs"), list) else None


def write_failure(out_dir: Path, message: str) -> None:
    """A pairs.json that says the comparison failed, so the summary says so instead of showing old pairs."""
    data = {"version": 1, "submissions": 0, "without_evidence": [], "problems": [message], "base_files": [],
            "seconds": 0.0, "settings": {}, "pairs": []}
    atomic_write_text(Path(out_dir) / PAIRS_FILE, json.dumps(data, indent=1))
