"""Map every file of a submission to a part and a role.

Names decide first (the rubric's patterns); content decides where names do
not: a model's input shape read from its metadata names its data set, and its
dropout / augmentation layers tell 6.2a from 6.2b. Each guess carries a
confidence and the reasons, and every ambiguity becomes a warning.
"""

from __future__ import annotations

import re
from pathlib import Path, PurePosixPath

from grader.discover.names import match_parts, normalise
from grader.records import FoundFile, Intake, Layout, ModelMeta, Problem, Role, Severity
from grader.rubric import Rubric

MODEL_SUFFIXES = {".h5", ".hdf5", ".keras"}
IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".webp", ".gif", ".bmp", ".jfif", ".tif", ".tiff"}
SOURCE_SUFFIXES = {".ipynb", ".py"}
DATA_SUFFIXES = {".csv", ".txt", ".log", ".json", ".npy", ".tsv", ".pkl", ".pickle", ".hist", ""}
IGNORED_SUFFIXES = {".pdf", ".md", ".html", ".htm", ".docx", ".doc", ".zip", ".pb", ".index"}

_PREDICTIONS_WORDS = re.compile(r"pred|classif|label|output")
_METRICS_WORDS = re.compile(r"metric|histor|score|eval|log|training|accuracy|acc|loss|perf")
_SUMMARY_WORDS = re.compile(r"summary|architecture|readme")
_PICKLE_MAGIC = (b"\x80\x02", b"\x80\x03", b"\x80\x04", b"\x80\x05")


def discover(intake: Intake, rubric: Rubric) -> Layout:
    """Classify the files intake extracted. Reads model metadata as data only."""
    from grader.readers import ReadError, layer_summary, read_model_meta

    root = intake.root
    layout = Layout(root=root)
    saved_models = _saved_model_dirs(intake)
    for directory in saved_models:
        layout.files.append(_classify_model(directory, True, root, rubric, read_model_meta, layer_summary, ReadError))
    for extracted in intake.files:
        path = extracted.path
        if any(path.startswith(d + "/") for d in saved_models):
            continue  # the SavedModel folder stands for all its files
        suffix = PurePosixPath(path).suffix.lower()
        if suffix in MODEL_SUFFIXES:
            found = _classify_model(path, False, root, rubric, read_model_meta, layer_summary, ReadError)
        else:
            found = _classify_other(path, suffix, root, rubric)
        layout.files.append(found)
    _resolve_by_elimination(layout)
    layout.problems.extend(_ambiguities(layout, rubric))
    layout.problems.extend(missing_roles(layout, rubric))
    return layout


# ----------------------------------------------------------------- models


def _saved_model_dirs(intake: Intake) -> list[str]:
    dirs = {str(PurePosixPath(f.path).parent) for f in intake.files if PurePosixPath(f.path).name == "saved_model.pb"}
    return sorted(d for d in dirs if d != ".")


def _classify_model(path, is_dir, root: Path, rubric: Rubric, read_meta, summarise, read_error) -> FoundFile:
    names = match_parts(path, rubric)
    reasons = [names.reason] if names.reason else []
    try:
        meta: ModelMeta | None = read_meta(root / path)
    except read_error as exc:
        meta = None
        reasons.append(f"metadata unreadable: {exc}")
    by_content = _parts_for_model(meta, rubric, summarise) if meta else []
    if by_content:
        reasons.append(_content_reason(meta, by_content))
    parts, confidence = _combine(names.parts, names.specific, by_content)
    return FoundFile(path, Role.MODEL, parts[0] if len(parts) == 1 else None, confidence,
                     [r for r in reasons if r], is_dir=is_dir, candidates=parts)


def _parts_for_model(meta: ModelMeta, rubric: Rubric, summarise) -> list[str]:
    """Parts whose data set fits the model's input shape, narrowed by the
    architecture the rubric asks of each (dropout, augmentation)."""
    shape = meta.input_shape
    if not shape:
        return []
    datasets = {name for name, d in rubric.datasets.items() if shape_fits(shape, d.input_shape)}
    parts = [p for p in rubric.parts if p.dataset in datasets]
    if len(parts) <= 1:
        return [p.id for p in parts]
    summary = summarise(meta)
    fitting = [p for p in parts if _architecture_fits(p.architecture, summary)]
    return [p.id for p in (fitting or parts)]


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
    shape = "x".join("?" if d is None else str(d) for d in meta.input_shape or [])
    return f"input shape {shape} fits {', '.join(parts)}"


def _combine(by_name: list[str], specific: bool, by_content: list[str]) -> tuple[list[str], float]:
    """Candidates and confidence from the name and the content together."""
    if by_name and by_content:
        both = [p for p in by_name if p in by_content]
        if both:
            return both, 0.95 if len(both) == 1 else 0.5
        return by_content, 0.6        # the content is right where the name is not
    if by_content:
        return by_content, 0.8 if len(by_content) == 1 else 0.4
    if by_name:
        return by_name, (0.9 if specific else 0.7) if len(by_name) == 1 else 0.4
    return [], 0.0


# ------------------------------------------------------------ other files


def _classify_other(path: str, suffix: str, root: Path, rubric: Rubric) -> FoundFile:
    names = match_parts(path, rubric)
    reasons = [names.reason] if names.reason else []
    input_part = _input_dir_part(path, rubric)
    if suffix in IMAGE_SUFFIXES and input_part:
        return FoundFile(path, Role.IMAGE, input_part, 0.9, [f"an image in an input folder of {input_part}"])
    role = _role_for(path, suffix, root, names.parts, rubric)
    if role is Role.OTHER:
        return FoundFile(path, role, None, 0.0, reasons)
    parts = [p for p in names.parts if role.value in rubric.part(p).expects or role is Role.SOURCE]
    confidence = (0.9 if names.specific else 0.7) if len(parts) == 1 else (0.4 if parts else 0.0)
    return FoundFile(path, role, parts[0] if len(parts) == 1 else None, confidence, reasons, candidates=parts)


def _input_dir_part(path: str, rubric: Rubric) -> str | None:
    lowered = path.lower()
    for part in rubric.parts:
        for folder in part.input_dirs:
            if lowered.startswith(folder.lower().rstrip("/") + "/"):
                return part.id
    return None


def _role_for(path: str, suffix: str, root: Path, parts: list[str], rubric: Rubric) -> Role:
    if suffix in IMAGE_SUFFIXES:
        return Role.PLOT
    if suffix in SOURCE_SUFFIXES:
        return Role.SOURCE
    if suffix in IGNORED_SUFFIXES or suffix not in DATA_SUFFIXES:
        return Role.OTHER
    name = normalise(PurePosixPath(path).name)
    if _SUMMARY_WORDS.search(name):
        return Role.OTHER
    if suffix == "" and _looks_pickled(root / path):
        return Role.METRICS  # a pickled Keras History; read by opcodes, never unpickled
    if _PREDICTIONS_WORDS.search(name) and not re.search(r"metric", name):
        return Role.PREDICTIONS
    if _METRICS_WORDS.search(name):
        return Role.METRICS
    # No word in the name: a part that expects only one of the two decides
    # (6.3's `Resnet50/results.txt` can only be predictions).
    expected = {r for p in parts for r in rubric.part(p).expects} & {"predictions", "metrics"}
    if len(expected) == 1:
        return Role(expected.pop())
    if suffix == ".npy":
        return Role.PREDICTIONS
    return Role.OTHER


def _looks_pickled(path: Path) -> bool:
    try:
        with path.open("rb") as handle:
            return handle.read(2) in _PICKLE_MAGIC
    except OSError:
        return False


# -------------------------------------------------------- resolving clashes


def _resolve_by_elimination(layout: Layout) -> None:
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


def _ambiguities(layout: Layout, rubric: Rubric) -> list[Problem]:
    problems = []
    for found in layout.files:
        if found.part is None and len(found.candidates) > 1:
            problems.append(Problem(
                "ambiguous-part",
                f"{found.path}: could belong to {' or '.join(found.candidates)}; put the part in its name "
                f"(for example {rubric.part(found.candidates[0]).canonical_path(found.role.value)})",
                Severity.WARNING, found.path))
    for part in rubric.parts:
        for role in (Role.MODEL, Role.PREDICTIONS, Role.METRICS):
            hits = layout.find(part.id, role)
            if len(hits) > 1:
                chosen, others = hits[0], hits[1:]
                problems.append(Problem(
                    f"several-{role.value}",
                    f"{part.id} has {len(hits)} {role.value} files; the grader uses {chosen.path} "
                    f"(the likeliest) and ignores {', '.join(o.path for o in others)}. Keep one, or name it "
                    f"{part.canonical_path(role.value)}",
                    Severity.WARNING, chosen.path, part.id))
    return problems


_ROLE_WORDS = {
    "model": "saved model",
    "predictions": "predictions file",
    "metrics": "metrics file",
    "plot": "validation plot",
    "source": "notebook or script",
    "image": "input images",
}


def missing_roles(layout: Layout, rubric: Rubric) -> list[Problem]:
    """One problem per expected role a part has no file for, with where to put it."""
    problems = []
    for part in rubric.parts:
        for role in part.expects:
            if layout.find(part.id, Role(role)):
                continue
            if role == "image":
                where = f"put the pictures you classified in {part.canonical_path(role)}"
            else:
                where = f"save it as {part.canonical_path(role)}"
            problems.append(Problem(
                f"missing-{role}", f"{part.id} has no {_ROLE_WORDS[role]}: {where}", Severity.ERROR, None, part.id))
    return problems
