"""`grade reference verify`: do a rubric's reference solutions still earn their points?

The real pipeline, end to end: the reference solutions run into a tree
(``reference.run``), the tree is packed as a student would pack it
(``reference.pack``, the rubric's archive prefix), and the archive is graded
in the sandbox (``grader.batch.grade_batch``: the records, the report and
the class summary a course would see). Then every check is judged:

- an automatic check must earn all its points;
- a manual check is pending (the instructor's points), which is fine;
- with ``quick``, a check registered as depending on how long the model
  trained (``accuracy_vs_baseline``, grader.checks TRAINING_DEPENDENT) is
  not judged: a quick run is a smoke test, far from the baselines.

Everything goes under one folder (``out``): ``data/`` when synthetic data is
made, ``reference/`` (the tree and its run record), ``submissions/`` (the
archive), ``grades/`` (records, report, summary) and ``verify.json``.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from grader.rubric import Rubric
from reference.registry import ReferenceRunError, solutions_for

# The packed archive's name: <prefix>_ReferenceSolution.zip.
ARCHIVE_NAME = ("Reference", "Solution")
SYNTHETIC_TEST_IMAGES = 1000
SYNTHETIC_PICTURES = 3
EARNED, MISSED, PENDING, NOT_JUDGED = "earned", "missed", "pending", "not judged"
TOLERANCE = 1e-6


@dataclass
class CheckVerdict:
    part: str
    check: str
    status: str            # earned | missed | pending | not judged
    score: float
    points: float
    message: str

    @property
    def name(self) -> str:
        return f"{self.part}/{self.check}"


@dataclass
class Verification:
    rubric: str
    quick: bool
    archive: str
    status: str                           # the grade's status: graded | error
    note: str
    score: float
    max_score: float
    verdicts: list[CheckVerdict] = field(default_factory=list)
    out: str = ""
    report: str = ""
    seconds: dict[str, float] = field(default_factory=dict)   # run, grade
    data: str = ""

    @property
    def failures(self) -> list[CheckVerdict]:
        return [v for v in self.verdicts if v.status == MISSED]

    @property
    def ok(self) -> bool:
        return self.status == "graded" and not self.failures

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "ok": self.ok, "failures": [v.name for v in self.failures]}


def judge(grade, rubric: Rubric, quick: bool) -> list[CheckVerdict]:
    """Every check of the rubric, as the graded reference earned it."""
    from grader.checks import depends_on_training
    from grader.checks.manual import PENDING as MANUAL_PENDING, manual_state

    verdicts = []
    for part in rubric.parts:
        graded = grade.parts.get(part.id)
        results = {c.id: c for c in graded.checks} if graded is not None else {}
        for spec in part.checks:
            result = results.get(spec.id)
            if result is None:
                verdicts.append(CheckVerdict(part.id, spec.id, MISSED, 0.0, spec.points,
                                             "the grade has no result for this check"))
                continue
            if spec.kind == "manual":
                status = PENDING if manual_state(result) == MANUAL_PENDING else EARNED
            elif quick and depends_on_training(spec):
                status = NOT_JUDGED
            else:
                status = EARNED if result.score >= spec.points - TOLERANCE else MISSED
            verdicts.append(CheckVerdict(part.id, spec.id, status, result.score, spec.points, result.message))
    return verdicts


def synthetic_data(folder: Path, rubric: Rubric, quick_samples: int, seed: int = 0) -> Path:
    """The project's synthetic data in the real formats, sized for a quick run of this rubric
    (its training images, a test set of SYNTHETIC_TEST_IMAGES), with ResNet50 weights when a part
    classifies pictures; for a rubric with image folders, synthetic ones and the ImageNet weights
    files its reference solutions' bases load."""
    from grader import datasets
    from grader.datasets.synthetic_images import needs_synthetic_images, write_synthetic_transfer_data
    from reference.transfer_runner import reference_applications

    pictures = any(s.kind == "images" for s in solutions_for(rubric.id).parts.values())
    marker = folder / f"complete-{quick_samples}-{seed}"
    if marker.is_file():
        return folder
    if needs_synthetic_images(rubric):     # image folders, and the weights files of the bases the references use
        write_synthetic_transfer_data(folder, rubric, seed=seed, applications=reference_applications(rubric.id))
    else:
        datasets.write_synthetic_data(folder, n_train=quick_samples, n_test=SYNTHETIC_TEST_IMAGES, seed=seed,
                                      with_resnet_weights=pictures)
    marker.write_text("")
    return folder


def _pictures(out: Path, rubric: Rubric, images_dir: Path | None) -> Path | None:
    """A folder of pictures for a part that classifies them: the given one, else synthetic photos."""
    from grader import datasets

    if images_dir is not None or not any(s.kind == "images" for s in solutions_for(rubric.id).parts.values()):
        return images_dir
    folder = out / "pictures"
    if not any(folder.glob("photo_*")):
        datasets.write_synthetic_images(folder, count=SYNTHETIC_PICTURES)
    return folder


def verify(rubric: Rubric, out: Path, data_dir: Path, sandbox, *, quick: bool, images_dir: Path | None = None,
           quick_samples: int | None = None) -> Verification:
    """Run, pack and grade the rubric's reference solutions into ``out``; judge every check."""
    import reference
    from grader.batch import grade_batch
    from grader.pipeline import load_test_data
    from reference.pack import pack

    out = Path(out)
    clock = time.monotonic()
    tree_parent = out / "reference"
    reference.run(None, tree_parent, data_dir, quick, images_dir=_pictures(out, rubric, images_dir),
                  rubric=rubric, quick_samples=quick_samples)
    ran = time.monotonic() - clock
    archive = pack(tree_parent / rubric.folder, out / "submissions", *ARCHIVE_NAME, prefix=rubric.archive_prefix)
    data = load_test_data(rubric, data_dir)
    grades = out / "grades"
    summary = grade_batch([archive], grades, rubric, sandbox, data, jobs=1, force=True)
    grade = next(g for g in summary.grades if g.archive == archive.name)
    verification = Verification(
        rubric=rubric.id, quick=quick, archive=str(archive), status=grade.status, note=grade.note,
        score=grade.score, max_score=grade.max_score, verdicts=judge(grade, rubric, quick), out=str(out),
        report=str(grades / "reports" / f"{archive.stem}.html"), data=str(data_dir),
        seconds={"run": round(ran, 1), "grade": round(time.monotonic() - clock - ran, 1)},
    )
    from grader.atomic import atomic_write_text

    atomic_write_text(out / "verify.json", json.dumps(verification.to_dict(), indent=2))
    return verification


__all__ = ["CheckVerdict", "Verification", "ReferenceRunError", "judge", "synthetic_data", "verify",
           "EARNED", "MISSED", "PENDING", "NOT_JUDGED"]
