"""Map every file of a submission to a part and a role.

Names decide first: a part pattern in a file's own name or its own folder is
the student's word (grader/discover/models.py); content decides where names
are silent or name several parts: a model's input shape read from its
metadata names its data set, and its dropout / augmentation layers tell 6.2a
from 6.2b. A SavedModel folder stands for its own files, and the other files
in it are the same part's. A nested older copy of the assignment folder is
set aside (grader/discover/copies.py); what names leave open is settled by
elimination and the archive's times (grader/discover/elimination.py). Each
guess carries a confidence and the reasons, and every ambiguity becomes a
warning.
"""

from __future__ import annotations

import re
from pathlib import Path, PurePosixPath

from grader.discover.copies import copies_reported_by_intake, nested_copies, set_aside
from grader.discover.documents import document_role, embedded_documents
from grader.discover.elimination import assign_unnamed_plots, resolve_by_elimination
from grader.discover.models import (
    classify_model, is_saved_model_file, same_model_twice, saved_model_dirs, saved_model_of, shape_fits,
)
from grader.discover.names import match_parts, normalise
from grader.records import FoundFile, Intake, Layout, Problem, Role, Severity
from grader.rubric import Rubric

__all__ = ["discover", "missing_roles", "shape_fits"]

MODEL_SUFFIXES = {".h5", ".hdf5", ".keras"}
IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".webp", ".gif", ".bmp", ".jfif", ".tif", ".tiff"}
SOURCE_SUFFIXES = {".ipynb", ".py"}
DATA_SUFFIXES = {".csv", ".txt", ".log", ".json", ".npy", ".tsv", ".pkl", ".pickle", ".hist", ""}
IGNORED_SUFFIXES = {".pdf", ".md", ".html", ".htm", ".docx", ".doc", ".zip", ".pb", ".index"}
_BESIDE_MODEL = (Role.PREDICTIONS, Role.METRICS, Role.PLOT)

_PREDICTIONS_WORDS = re.compile(r"pred|classif|label|output")
_METRICS_WORDS = re.compile(r"metric|histor|score|eval|log|training|accuracy|acc|loss|perf")
_SUMMARY_WORDS = re.compile(r"summary|architecture|readme")
_PICKLE_MAGIC = (b"\x80\x02", b"\x80\x03", b"\x80\x04", b"\x80\x05")


def discover(intake: Intake, rubric: Rubric) -> Layout:
    """Classify the files intake extracted. Reads model metadata as data only."""
    layout = Layout(root=intake.root)
    saved_models = saved_model_dirs([f.path for f in intake.files])
    layout.files, disagreements = _classify(intake, rubric, saved_models)
    copies = nested_copies(layout.files, rubric)
    layout.problems.extend(set_aside(layout.files, copies, rubric, copies_reported_by_intake(intake)))
    _beside_saved_models(layout, saved_models)
    resolve_by_elimination(layout)
    mtimes = {f.path: f.mtime for f in intake.files if f.mtime is not None}
    layout.problems.extend(assign_unnamed_plots(layout, rubric, mtimes))
    layout.problems.extend(p for p in disagreements if not any(p.path.startswith(c + "/") for c in copies))
    layout.problems.extend(same_model_twice(layout.files, {f.path: f.sha256 for f in intake.files if f.sha256}, rubric))
    embedded_documents(layout, rubric)   # a comparison's table or discussion inside another file
    layout.problems.extend(_ambiguities(layout, rubric))
    layout.problems.extend(missing_roles(layout, rubric))
    return layout


def _classify(intake: Intake, rubric: Rubric, saved_models: list[str]) -> tuple[list[FoundFile], list[Problem]]:
    """Every file (a SavedModel folder as one) with its part and role by name
    and content, and the models whose content disagrees with their name."""
    files, disagreements = [], []

    def add_model(path: str, is_dir: bool) -> None:
        classified = classify_model(path, is_dir, intake.root, rubric)
        files.append(classified.found)
        disagreements.extend([classified.problem] if classified.problem else [])

    for directory in saved_models:
        add_model(directory, True)
    for extracted in intake.files:
        path = extracted.path
        if is_saved_model_file(path, saved_models):
            continue  # the SavedModel folder stands for its own files
        suffix = PurePosixPath(path).suffix.lower()
        if suffix in MODEL_SUFFIXES:
            add_model(path, False)
        else:
            files.append(_classify_other(path, suffix, intake.root, rubric))
    return files, disagreements


def _beside_saved_models(layout: Layout, saved_models: list[str]) -> None:
    """Predictions, metrics and plots kept in a SavedModel's folder are that
    model's part's, unless their own names say otherwise."""
    models = {f.path: f for f in layout.files if f.role is Role.MODEL and f.is_dir}
    for found in layout.files:
        holder = models.get(saved_model_of(found.path, saved_models) or "")
        if holder is None or holder.part is None or found.role not in _BESIDE_MODEL:
            continue
        if found.part is None and (not found.candidates or holder.part in found.candidates):
            found.part, found.confidence, found.candidates = holder.part, 0.8, [holder.part]
            found.reasons.append(f"in the folder of the {holder.part} SavedModel {holder.path}")


# ------------------------------------------------------------ other files


def _classify_other(path: str, suffix: str, root: Path, rubric: Rubric) -> FoundFile:
    names = match_parts(path, rubric)
    reasons = [names.reason] if names.reason else []
    input_part = _input_dir_part(path, rubric)
    if suffix in IMAGE_SUFFIXES and input_part:
        return FoundFile(path, Role.IMAGE, input_part, 0.9, [f"an image in an input folder of {input_part}"])
    role = document_role(path, suffix, root, names.parts, rubric) or _role_for(path, suffix, root, names.parts, rubric)
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
        for role in (Role.MODEL, Role.PREDICTIONS, Role.METRICS, Role.TABLE, Role.DISCUSSION):
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
    "table": "comparison table",
    "discussion": "written discussion",
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
