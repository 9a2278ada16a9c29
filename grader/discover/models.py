"""Which part a saved model (a file or a SavedModel folder) belongs to.

A part pattern in the model's own name or its own folder decides: the
student said which part it is. Content (the input shape read from the
metadata, and the dropout / augmentation layers) decides only where the
names are silent or name several parts; where it disagrees with the name it
becomes a `content-disagrees-with-name` warning on the named part, whose
checks then score the model (a 6.2b without dropout fails
architecture_matches; it is never "missing").
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from grader.discover.names import match_parts
from grader.records import FoundFile, ModelMeta, Problem, Role, Severity
from grader.rubric import Part, Rubric

# The files a SavedModel folder is made of; anything else in the folder
# (predictions.csv, metrics.txt, a plot) is the student's, for the same part.
SAVED_MODEL_FILES = {"saved_model.pb", "saved_model.pbtxt", "keras_metadata.pb", "fingerprint.pb"}
SAVED_MODEL_FOLDERS = {"variables", "assets", "assets.extra"}


@dataclass
class ClassifiedModel:
    found: FoundFile
    problem: Problem | None = None     # the content disagrees with the name


def saved_model_dirs(paths: list[str]) -> list[str]:
    dirs = {str(PurePosixPath(p).parent) for p in paths if PurePosixPath(p).name == "saved_model.pb"}
    return sorted(d for d in dirs if d != ".")


def saved_model_of(path: str, dirs: list[str]) -> str | None:
    """The SavedModel folder whose folder ``path`` lies in, if any."""
    holders = [d for d in dirs if path.startswith(d + "/")]
    return max(holders, key=len) if holders else None


def is_saved_model_file(path: str, dirs: list[str]) -> bool:
    """One of a SavedModel's own files (saved_model.pb, variables/...)."""
    holder = saved_model_of(path, dirs)
    if holder is None:
        return False
    inner = PurePosixPath(path[len(holder) + 1:]).parts
    return (len(inner) == 1 and inner[0] in SAVED_MODEL_FILES) or (len(inner) > 1 and inner[0] in SAVED_MODEL_FOLDERS)


def classify_model(path: str, is_dir: bool, root: Path, rubric: Rubric) -> ClassifiedModel:
    from grader.readers import ReadError, layer_summary, read_model_meta

    names = match_parts(path, rubric, is_dir=is_dir)
    reasons = [names.reason] if names.reason else []
    try:
        meta: ModelMeta | None = read_model_meta(root / path)
    except ReadError as exc:
        meta = None
        reasons.append(f"metadata unreadable: {exc}")
    summary = layer_summary(meta) if meta else {}
    by_content = parts_for_model(meta, rubric, summary) if meta else []
    if by_content:
        reasons.append(_content_reason(meta, by_content))
    if names.own:
        return _named_model(path, is_dir, names.own, by_content, reasons, meta, summary, rubric)
    parts, confidence = _combine(names.parts, names.specific, by_content)
    found = FoundFile(path, Role.MODEL, parts[0] if len(parts) == 1 else None, confidence,
                      [r for r in reasons if r], is_dir=is_dir, candidates=parts)
    return ClassifiedModel(found)


def _named_model(path, is_dir, part_id, by_content, reasons, meta, summary, rubric) -> ClassifiedModel:
    """The model's name names ``part_id``: it is that part's, whatever it holds."""
    reasons = [r for r in reasons if r] + [f"its own name names {part_id}, which decides"]
    if not by_content or part_id in by_content:
        found = FoundFile(path, Role.MODEL, part_id, 0.95 if by_content else 0.9, reasons, is_dir=is_dir,
                          candidates=[part_id])
        return ClassifiedModel(found)
    part = rubric.part(part_id)
    what = " and ".join(disagreements(meta, summary, part, rubric)) or f"looks like {' or '.join(by_content)}"
    reasons.append(f"the content disagrees: it {what}")
    found = FoundFile(path, Role.MODEL, part_id, 0.85, reasons, is_dir=is_dir, candidates=[part_id])
    problem = Problem(
        "content-disagrees-with-name",
        f"{path}: its name says {part_id}, but the model {what}; it looks like the "
        f"{' or '.join(by_content)} model. It is graded as {part_id} because its name says so: if it is "
        f"another part's model, rename it; otherwise save the {part_id} model here",
        Severity.WARNING, path, part_id)
    return ClassifiedModel(found, problem)


def same_model_twice(files: list[FoundFile], sha256_by_path: dict[str, str], rubric: Rubric) -> list[Problem]:
    """One model file handed in for two parts (the 6.2a model saved again as
    6.2b): each part is still graded on it, and the student is told."""
    order = [p.id for p in rubric.parts]
    models = sorted((f for f in files if f.role is Role.MODEL and f.part in order and f.path in sha256_by_path),
                    key=lambda f: (order.index(f.part), f.path))
    first: dict[str, FoundFile] = {}
    problems = []
    for found in models:
        earlier = first.setdefault(sha256_by_path[found.path], found)
        if earlier.part != found.part:
            problems.append(Problem(
                "same-model-twice",
                f"{found.path} ({found.part}) is byte for byte the same file as {earlier.path} ({earlier.part}); "
                f"each part needs its own trained model: save the {found.part} model as {found.path}",
                Severity.WARNING, found.path, found.part))
    return problems


def disagreements(meta: ModelMeta | None, summary: dict, part: Part, rubric: Rubric) -> list[str]:
    """In words, what in the model does not fit what ``part`` asks for."""
    if meta is None:
        return []
    dataset = rubric.dataset_of(part)
    if meta.input_shape and not shape_fits(list(meta.input_shape), dataset.input_shape):
        return [f"takes inputs of shape {_shape(meta.input_shape)}, not the {part.dataset} images "
                f"({_shape(dataset.input_shape)}) {part.id} is about"]
    wanted, found = part.architecture, []
    if wanted.dropout is True and not summary.get("has_dropout"):
        found.append(f"has no Dropout layer, which {part.id} asks for")
    if wanted.dropout is False and summary.get("has_dropout"):
        found.append(f"has a Dropout layer, which {part.id} must leave out")
    if wanted.augmentation is False and summary.get("has_augmentation"):
        found.append(f"has data-augmentation layers, which {part.id} must leave out")
    return found + _detector_disagreements(part, _layer_graph(meta))


def _detector_disagreements(part: Part, graph) -> list[str]:
    """In words, what the part's own detectors ask for and the model does not show."""
    from grader.architecture import DETECTORS, run_detector

    if graph is None:
        return []
    said = []
    for spec in part.architecture.detectors:
        if spec.expect and spec.id not in ("dropout", "augmentation") and spec.id in DETECTORS:
            verdict = run_detector(spec.id, graph, spec.params)
            if verdict.verifiable and not verdict.found:
                said.append(f"does not {DETECTORS[spec.id].wanted(spec.params)}, which {part.id} asks for")
    return said


def parts_for_model(meta: ModelMeta, rubric: Rubric, summary: dict) -> list[str]:
    """Parts whose data set fits the model's input shape, narrowed by the
    architecture the rubric asks of each (dropout, augmentation)."""
    shape = meta.input_shape
    if not shape:
        return []
    datasets = {name for name, d in rubric.datasets.items() if shape_fits(shape, d.input_shape)}
    # A part that compares others' models (a table and a discussion) has no model of its own.
    parts = [p for p in rubric.parts if p.dataset in datasets and not p.compares]
    if len(parts) <= 1:
        return [p.id for p in parts]
    graph = _layer_graph(meta)
    fitting = [p for p in parts if _architecture_fits(p.architecture, summary) and _detectors_fit(p, graph)]
    return [p.id for p in (fitting or parts)]


def _layer_graph(meta: ModelMeta):
    """The config's layer graph as the detectors read it, or None."""
    from grader.architecture import GraphError, graph_from_plain

    if not meta.layer_graph:
        return None
    try:
        return graph_from_plain(meta.layer_graph, source="config")
    except (GraphError, RecursionError):
        return None


def _detectors_fit(part: Part, graph) -> bool:
    """The model shows what the part's own detectors ask it to have (residual
    blocks, Inception modules, a plain stack): a ResNet is not the CNN part's.
    What a part must not have (a keras.applications network) rules nothing
    out here: the part's checks score it."""
    from grader.architecture import run_detector

    if graph is None:
        return True
    for spec in part.architecture.detectors:
        if spec.expect and spec.id not in ("dropout", "augmentation"):
            verdict = run_detector(spec.id, graph, spec.params)
            if verdict.verifiable and not verdict.found:
                return False
    return True


def shape_fits(shape: list, expected: list[int]) -> bool:
    """28x28x1 fits (28, 28, 1), (28, 28) and (784,); None matches anything."""
    dims = [d for d in shape]
    if len(dims) == len(expected) and all(d is None or d == e for d, e in zip(dims, expected)):
        return True
    if len(dims) == len(expected) - 1 and expected[-1] == 1:
        return all(d is None or d == e for d, e in zip(dims, expected[:-1]))
    size = 1
    for e in expected:
        size *= e
    return dims == [size]


def _architecture_fits(wanted, summary: dict) -> bool:
    if wanted.dropout is not None and bool(summary.get("has_dropout")) != wanted.dropout:
        return False
    # Augmentation layers in the model rule out a part that must not have
    # them; their absence rules out nothing, since augmentation often lives in
    # an ImageDataGenerator rather than in the model.
    if wanted.augmentation is False and summary.get("has_augmentation"):
        return False
    return True


def _content_reason(meta: ModelMeta, parts: list[str]) -> str:
    return f"input shape {_shape(meta.input_shape or [])} fits {', '.join(parts)}"


def _shape(shape) -> str:
    return "x".join("?" if d is None else str(d) for d in shape)


def _combine(by_name: list[str], specific: bool, by_content: list[str]) -> tuple[list[str], float]:
    """Candidates and confidence when no name decides: the name narrows, the
    content breaks the tie."""
    if by_name and by_content:
        both = [p for p in by_name if p in by_content]
        if both:
            return both, 0.95 if len(both) == 1 else 0.5
        return by_content, 0.6        # a data-set word in a folder name is often wrong (`mnist.h5/`)
    if by_content:
        return by_content, 0.8 if len(by_content) == 1 else 0.4
    if by_name:
        return by_name, (0.9 if specific else 0.7) if len(by_name) == 1 else 0.4
    return [], 0.0
