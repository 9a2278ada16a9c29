"""What one graded archive contributes to the class's integrity step.

Written beside the archive's record, as ``integrity/records/<stem>.json``,
when the archive is graded, so that the class step works from stored files
alone (a resumed batch and ``grade rescore`` open no archive): the code the
student wrote, per part (notebook code cells and scripts), each part's
recomputed predictions (label per test image, and whether it was right), its
confusion matrix, and the sandbox's weight fingerprints (figures only).

The code is stored as one document per part, with copydetect's normalised
form of it (Pygments tokens, names and strings replaced): tokenizing is the
slow step of fingerprinting, so it is done once per submission, here, and the
class step only hashes (copydetect's hashes are salted per process, so they
cannot be stored themselves).
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from copydetect.utils import filter_code

from grader.atomic import atomic_write_text
from grader.records import Role, Student
from grader.readers.errors import ReadError
from grader.readers.notebooks import read_notebook

EVIDENCE_VERSION = 1
RECORDS_DIR = Path("integrity") / "records"
SOURCE_SUFFIXES = {".ipynb", ".py"}
MAX_SOURCE_CHARS = 200_000     # per file: more is not code a student typed
MAX_SOURCES = 40               # per submission
OTHER_PART = "other"           # code whose part is not known


@dataclass
class SourceFile:
    path: str          # relative to the submission root
    part: str          # a part id, or OTHER_PART
    code: str          # code cells joined (a notebook) or the script


@dataclass
class PartCode:
    """One submission's code for one part: its files one after another, and
    copydetect's normalised text with the offsets that map it back."""

    text: str
    files: list[tuple[int, str]] = field(default_factory=list)    # (offset in text, path)
    filtered: str = ""
    offsets: np.ndarray = field(default_factory=lambda: np.zeros((0, 2), dtype=np.int64))


LEXER_NAME = "document.py"      # copydetect picks the Python lexer from this name


def part_code(sources: list[SourceFile]) -> PartCode:
    pieces, files, offset = [], [], 0
    for source in sources:
        files.append((offset, source.path))
        pieces.append(f"# ==== {source.path} ====\n{source.code}\n\n")
        offset += len(pieces[-1])
    text = "".join(pieces)
    return PartCode(text, files, *part_code_normalised(text))


def part_code_normalised(text: str) -> tuple[str, np.ndarray]:
    filtered, offsets = filter_code(text, LEXER_NAME)
    return filtered, np.asarray(offsets, dtype=np.int64).reshape(-1, 2)


def code_by_part(sources: list[SourceFile]) -> dict[str, PartCode]:
    grouped: dict[str, list[SourceFile]] = {}
    for source in sources:
        grouped.setdefault(source.part, []).append(source)
    return {part: part_code(files) for part, files in grouped.items()}


@dataclass
class PartModel:
    predicted: np.ndarray | None = None     # int, one per test image
    correct: np.ndarray | None = None       # bool, one per test image
    confusion: list[list[int]] | None = None
    accuracy: float | None = None
    fingerprints: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class Evidence:
    archive: str
    student: Student
    code: dict[str, PartCode] = field(default_factory=dict)
    models: dict[str, PartModel] = field(default_factory=dict)


# ------------------------------------------------------------------ collect


def notebook_code(path: Path) -> str:
    """A notebook's code cells (or a script's text), one cell after another,
    each after an ``# In[n]:`` line (a comment, so it never counts as code)."""
    info = read_notebook(path)
    if path.suffix.lower() == ".py":
        return info.cells_source[:MAX_SOURCE_CHARS]
    cells = [cell.source for cell in info.cells if cell.kind == "code" and cell.source.strip()]
    return "\n\n".join(f"# In[{n}]:\n{code}" for n, code in enumerate(cells, start=1))[:MAX_SOURCE_CHARS]


def _source_parts(grade) -> dict[str, str]:
    """Source path -> part, from discovery's assignment of the graded parts."""
    return {found.path: part_id for part_id, part in grade.parts.items()
            for found in part.found if Role(found.role) is Role.SOURCE}


def collect_sources(root: Path, parts_of: dict[str, str]) -> list[SourceFile]:
    sources = []
    for path in sorted(root.rglob("*")):
        relative = path.relative_to(root).as_posix()
        if path.suffix.lower() not in SOURCE_SUFFIXES or not path.is_file() or path.is_symlink() \
                or any(piece.startswith(".") for piece in relative.split("/")):
            continue
        try:
            code = notebook_code(path)
        except (ReadError, OSError, ValueError):
            continue   # the report already says the notebook is unreadable
        if code.strip():
            sources.append(SourceFile(relative, parts_of.get(relative, OTHER_PART), code))
        if len(sources) >= MAX_SOURCES:
            break
    return sources


def collect(grade) -> Evidence:
    """The evidence of a freshly graded archive (its extracted files still on disk)."""
    evidence = Evidence(archive=grade.archive, student=grade.student)
    root = Path(grade.work_root) if grade.work_root else None
    if root is not None and root.is_dir():
        evidence.code = code_by_part(collect_sources(root, _source_parts(grade)))
    for part_id, part in grade.parts.items():
        details = part.details or {}
        model = PartModel(fingerprints=list(details.get("weight_fingerprints") or []),
                          confusion=details.get("confusion_matrix"),
                          accuracy=(part.recomputed or {}).get("accuracy"))
        if details.get("predicted") is not None and details.get("correct") is not None:
            model.predicted = np.asarray(details["predicted"], dtype=np.int64)
            model.correct = np.asarray(details["correct"], dtype=bool)
        if model.predicted is not None or model.fingerprints:
            evidence.models[part_id] = model
    return evidence


# ------------------------------------------------------------- store, read


def _packed_labels(labels: np.ndarray) -> str:
    return base64.b64encode(np.asarray(labels, dtype="<u2").tobytes()).decode("ascii")


def _packed_flags(flags: np.ndarray) -> str:
    return base64.b64encode(np.packbits(np.asarray(flags, dtype=bool))).decode("ascii")


def to_dict(evidence: Evidence) -> dict[str, Any]:
    models = {}
    for part_id, model in evidence.models.items():
        models[part_id] = {
            "n": None if model.predicted is None else int(model.predicted.size),
            "predicted": None if model.predicted is None else _packed_labels(model.predicted),
            "correct": None if model.correct is None else _packed_flags(model.correct),
            "confusion": model.confusion, "accuracy": model.accuracy, "fingerprints": model.fingerprints,
        }
    return {"version": EVIDENCE_VERSION, "archive": evidence.archive, "student": evidence.student.to_dict(),
            "code": {part: {"text": c.text, "files": c.files, "filtered": c.filtered, "offsets": c.offsets.tolist()}
                     for part, c in evidence.code.items()},
            "models": models}


def from_dict(data: dict[str, Any]) -> Evidence:
    evidence = Evidence(archive=str(data["archive"]), student=Student(**data["student"]))
    for part, raw in (data.get("code") or {}).items():
        evidence.code[str(part)] = PartCode(
            str(raw["text"]), [(int(o), str(p)) for o, p in raw.get("files", [])], str(raw.get("filtered", "")),
            np.asarray(raw.get("offsets") or [], dtype=np.int64).reshape(-1, 2))
    for part_id, raw in (data.get("models") or {}).items():
        model = PartModel(confusion=raw.get("confusion"), accuracy=raw.get("accuracy"),
                          fingerprints=list(raw.get("fingerprints") or []))
        n = raw.get("n")
        if n and raw.get("predicted") and raw.get("correct"):
            model.predicted = np.frombuffer(base64.b64decode(raw["predicted"]), dtype="<u2").astype(np.int64)
            model.correct = np.unpackbits(np.frombuffer(base64.b64decode(raw["correct"]), dtype=np.uint8))[:n]
            model.correct = model.correct.astype(bool)
            if model.predicted.size != n or model.correct.size != n:
                model.predicted = model.correct = None
        evidence.models[str(part_id)] = model
    return evidence


def evidence_path(out_dir: Path, stem: str) -> Path:
    return Path(out_dir) / RECORDS_DIR / f"{stem}.json"


def write(grade, out_dir: Path, stem: str) -> None:
    """Store a graded archive's evidence. An archive nothing could be read from
    has none (and any older one goes); an error row whose parts were read (a
    model that crashed, the instructor's data missing) has its code and figures."""
    path = evidence_path(out_dir, stem)
    if not grade.parts:
        path.unlink(missing_ok=True)
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(path, json.dumps(to_dict(collect(grade))))


def read_all(out_dir: Path, stems: list[str]) -> tuple[list[Evidence], list[str]]:
    """The evidence of these archives (by output stem), and the stems that have none."""
    found, missing = [], []
    for stem in stems:
        try:
            found.append(from_dict(json.loads(evidence_path(out_dir, stem).read_text(encoding="utf-8"))))
        except (OSError, ValueError, KeyError, TypeError):
            missing.append(stem)
    return found, missing
