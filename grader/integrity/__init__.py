"""Academic integrity across a class: similar code and related models.

evidence (per archive, at grading) -> code (copydetect fingerprints) and
models (weight fingerprints, prediction agreement) -> pairs (the class step,
pairs.json) -> side_by_side (a page per pair). Evidence for the instructor;
nothing here changes a score.
"""

from grader.integrity.pairs import read_class_integrity, write_class_integrity

__all__ = ["read_class_integrity", "write_class_integrity"]
