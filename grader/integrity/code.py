"""Code similarity across a class, with copydetect's winnowing fingerprints.

Each submission's code for a part (its notebooks' code cells and scripts,
joined into one document) is fingerprinted once: copydetect tokenizes it with
Pygments, replaces every variable, function and class name and every string
by one letter (so renaming does not hide a copy; comments and layout drop
out), hashes every k-gram and keeps the winnowed ones. The instructor's base
code (starter notebooks, the reference solutions) is fingerprinted the same
way and its hashes are removed from everyone's, so keeping the template is
not similarity. Candidate pairs come from an index of fingerprint hashes (a
pair is only compared when it shares enough of them); copydetect then gives
each candidate's similarity and the matching regions for the side-by-side page.

copydetect hashes with Python's ``hash()``, which is salted per process, so
fingerprints are never stored: they are made again, fast, in each class step.
"""

from __future__ import annotations

import io
import itertools
import logging
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from copydetect import CodeFingerprint, compare_files

from grader.integrity import evidence
from grader.integrity.evidence import LEXER_NAME, OTHER_PART, SOURCE_SUFFIXES, PartCode, notebook_code
from grader.readers.errors import ReadError

# copydetect logs a warning for any document it cannot tokenize; a class of
# 300 would print hundreds. What matters is reported on the summary instead.
logging.getLogger("copydetect").setLevel(logging.ERROR)
# A pair is compared in full when the index shows it shares at least this share
# of the smaller side's fingerprints, relative to the threshold (winnowing
# keeps a sample, so the index's figure is a little rougher than copydetect's).
CANDIDATE_FACTOR = 0.5


@dataclass
class Document:
    """One submission's fingerprinted code for one part."""

    key: int                                    # the submission's index in the class
    part: str
    code: PartCode
    fingerprint: CodeFingerprint | None = None

    @property
    def text(self) -> str:
        return self.code.text

    @property
    def files(self) -> list[tuple[int, str]]:
        return self.code.files

    @property
    def hashes(self) -> set:
        return self.fingerprint.hashes if self.fingerprint is not None else set()


@dataclass
class CodeMatch:
    part: str
    left: int
    right: int
    similarity: tuple[float, float]             # share of each side's fingerprinted code found in the other
    slices: tuple[np.ndarray, np.ndarray]       # matching regions in each side's text: 2 x n (starts, ends)
    overlap_tokens: int

    @property
    def score(self) -> float:
        return max(self.similarity)


def fingerprint(document: Document, kgram: int, window: int, boilerplate: np.ndarray) -> Document:
    """copydetect's fingerprint of the stored normalised text (no tokenizing
    here: evidence.part_code did it once), mapped back to the text shown."""
    code = document.code
    if not code.filtered and code.text:
        code.filtered, code.offsets = evidence.part_code_normalised(code.text)
    printed = CodeFingerprint(LEXER_NAME, kgram, window, boilerplate=boilerplate, filter=False,
                              fp=io.StringIO(code.filtered))
    printed.raw_code, printed.offsets = code.text, code.offsets
    document.fingerprint = printed
    return document


# ------------------------------------------------------------- boilerplate


@dataclass
class Boilerplate:
    hashes: np.ndarray
    files: list[str] = field(default_factory=list)       # what was read
    problems: list[str] = field(default_factory=list)    # base paths that could not be used


NO_BASE = ("no base files are named in the rubric's [integrity] table, so code kept from the starter notebooks "
           "counts as similarity (in a class of {min_class} or more, code most of the class holds is left out): "
           "name the starter and reference notebooks, e.g. base = [\"../starter\", \"../ref\"]")


def base_files(paths: list[Path]) -> tuple[list[Path], list[str]]:
    files, problems = [], []
    for path in paths:
        if path.is_file():
            files.append(path)
        elif path.is_dir():
            found = sorted(p for p in path.rglob("*") if p.suffix.lower() in SOURCE_SUFFIXES and p.is_file()
                           and ".ipynb_checkpoints" not in p.parts)
            files += found
            if not found:
                problems.append(f"{path}: the [integrity] base folder holds no notebook or .py file")
        else:
            problems.append(f"{path}: the [integrity] base path does not exist; fix base in the rubric's "
                            "[integrity] table (paths are relative to the rubric file)")
    return files, problems


def boilerplate_hashes(paths: list[Path], kgram: int) -> Boilerplate:
    """Every k-gram hash of the instructor's code (window 1, as copydetect does for its boilerplate)."""
    files, problems = base_files(paths)
    hashes: set = set()
    for path in files:
        try:
            code = notebook_code(path)
        except (ReadError, OSError, ValueError) as exc:
            problems.append(f"{path}: not read as base code ({exc})")
            continue
        hashes |= CodeFingerprint(LEXER_NAME, kgram, 1, fp=io.StringIO(code)).hashes
    return Boilerplate(np.array(sorted(hashes), dtype=np.int64), [str(p) for p in files], problems)


# ------------------------------------------------------------------ pairs


def class_documents(code_by_key: dict[int, dict[str, PartCode]], kgram: int, window: int,
                    boilerplate: np.ndarray) -> dict[str, list[Document]]:
    """Part -> one fingerprinted document per submission that has code for it."""
    by_part: dict[str, list[Document]] = defaultdict(list)
    for key, parts in code_by_key.items():
        for part, code in parts.items():
            by_part[part].append(fingerprint(Document(key, part, code), kgram, window, boilerplate))
    return by_part


def common_hashes(documents: list[Document], share: float, min_class: int) -> set:
    """Fingerprints that more than ``share`` of a large class hold: idioms, not copies."""
    if len(documents) < min_class:
        return set()
    counts = Counter(h for document in documents for h in document.hashes)
    limit = share * len(documents)
    return {h for h, n in counts.items() if n > limit}


def candidate_pairs(documents: list[Document], ignored: set, min_share: float) -> list[tuple[int, int]]:
    """Index positions of document pairs sharing at least ``min_share`` of the
    smaller one's fingerprints, found through an inverted index of hashes."""
    postings: dict[int, list[int]] = defaultdict(list)
    sizes = []
    for position, document in enumerate(documents):
        kept = document.hashes - ignored
        sizes.append(len(kept))
        for h in kept:
            postings[h].append(position)
    shared: Counter = Counter()
    for holders in postings.values():
        if len(holders) > 1:
            shared.update(itertools.combinations(holders, 2))
    return sorted(pair for pair, n in shared.items()
                  if n >= max(1.0, min_share * min(sizes[pair[0]], sizes[pair[1]])))


def without_common(documents: list[Document], positions: set[int], ignored: set, kgram: int, window: int,
                   boilerplate: np.ndarray) -> None:
    """Fingerprint these documents again with the class's common fingerprints
    as boilerplate too, so copydetect's similarity (and the highlighting) leaves
    out what most of the class holds, as MOSS's -m does, not only the index."""
    extended = np.union1d(boilerplate, np.fromiter(ignored, dtype=np.int64, count=len(ignored)))
    for position in positions:
        fingerprint(documents[position], kgram, window, extended)


def similar_code(documents: list[Document], threshold: float, share: float, min_class: int,
                 min_tokens: int, kgram: int, window: int, boilerplate: np.ndarray) -> list[CodeMatch]:
    """The pairs of one part's documents at or above ``threshold`` (copydetect's
    similarity) whose matching code is at least ``min_tokens`` filtered characters.
    ``kgram``, ``window`` and ``boilerplate`` are those the documents were fingerprinted with."""
    ignored = common_hashes(documents, share, min_class)
    candidates = candidate_pairs(documents, ignored, threshold * CANDIDATE_FACTOR)
    if ignored:
        without_common(documents, {p for pair in candidates for p in pair}, ignored, kgram, window, boilerplate)
    matches = []
    for i, j in candidates:
        left, right = documents[i], documents[j]
        tokens, similarity, slices = compare_files(left.fingerprint, right.fingerprint)
        match = CodeMatch(left.part, left.key, right.key, (float(similarity[0]), float(similarity[1])),
                          (np.asarray(slices[0], dtype=np.int64).reshape(2, -1) if len(slices[0]) else
                           np.zeros((2, 0), dtype=np.int64),
                           np.asarray(slices[1], dtype=np.int64).reshape(2, -1) if len(slices[1]) else
                           np.zeros((2, 0), dtype=np.int64)),
                          int(tokens))
        if match.score >= threshold and match.overlap_tokens >= min_tokens:
            matches.append(match)
    return matches


def part_order(parts: list[str], rubric_parts: list[str]) -> list[str]:
    return [p for p in rubric_parts if p in parts] + sorted(p for p in parts if p not in rubric_parts and p != OTHER_PART) \
        + ([OTHER_PART] if OTHER_PART in parts else [])
