"""Typed records passed between the pipeline stages.

intake (archive -> files) -> discover (files -> parts and roles) -> evaluate
(sandbox -> predictions and architecture) -> checks (-> evidence) -> score
(rubric -> points) -> report (-> HTML, CSV, JSON)

Every stage returns records from this module; none of them carries live
objects from a student's files (no models, no unpickled data), only plain
values that the host has parsed as data.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from enum import Enum
from pathlib import Path
from typing import Any


class Severity(str, Enum):
    ERROR = "error"      # blocks grading of the thing it names; costs points
    WARNING = "warning"  # the grader had to guess; worth fixing
    INFO = "info"        # said for the record


@dataclass
class Problem:
    """One thing wrong with a submission, in words a student can act on.

    ``code`` is a stable kebab-case id (``zip-slip``, ``missing-metrics``) that
    tests and the JSON output rely on; ``message`` names the file and the fix.
    """

    code: str
    message: str
    severity: Severity = Severity.ERROR
    path: str | None = None
    part: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "code": self.code,
            "severity": Severity(self.severity).value,
            "message": self.message,
            "path": self.path,
            "part": self.part,
        }


# --------------------------------------------------------------------- intake


@dataclass
class Student:
    """Who an archive belongs to, read from its file name only."""

    last: str | None
    first: str | None
    username: str | None = None  # Blackboard user id when the LMS added one
    attempt: str | None = None   # LMS attempt timestamp, if any
    source: str = ""             # the file name it was read from
    lms: str | None = None       # the LMS whose file name wrapped it: blackboard, canvas, moodle
    late: bool = False           # the LMS marked it late (Canvas's "_late"), when it says so
    lms_user_id: str | None = None  # Canvas's numeric user id: its gradebook import matches rows on it

    @property
    def display(self) -> str:
        if self.last or self.first:
            return f"{self.last or '?'}, {self.first or '?'}"
        return self.username or self.source

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class ExtractedFile:
    """A regular file written by intake, relative to ``Intake.root``."""

    path: str     # POSIX, relative to the submission root
    size: int
    sha256: str
    # When the student last changed it, in seconds: a zip entry's stored time
    # (local time read as UTC) or a folder file's mtime. Only differences
    # between files of one submission mean anything; None when not recorded.
    mtime: float | None = None


@dataclass
class Intake:
    """An archive (or folder) made safe to read."""

    source: Path                   # the archive or folder given
    work_dir: Path                 # per-submission folder that intake owns
    root: Path                     # the assignment folder inside work_dir
    files: list[ExtractedFile] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    student: Student | None = None
    sha256: str | None = None      # of the archive; None for a folder

    @property
    def usable(self) -> bool:
        """False when nothing could be extracted (bad zip, empty, ...)."""
        return self.root.is_dir() and bool(self.files)


# ------------------------------------------------------------------- discover


class Role(str, Enum):
    MODEL = "model"
    PREDICTIONS = "predictions"
    METRICS = "metrics"
    PLOT = "plot"
    SOURCE = "source"        # notebook or script
    IMAGE = "image"          # an input image (6.3's folder of pictures)
    TABLE = "table"          # a table comparing models (CSV, JSON, markdown, or a notebook's output)
    DISCUSSION = "discussion"  # a written comparison (markdown, text, or a notebook's markdown cells)
    OTHER = "other"


@dataclass
class FoundFile:
    """A file (or a SavedModel folder) assigned to a part and a role."""

    path: str                     # relative to the submission root, POSIX
    role: Role
    part: str | None              # part id from the rubric, None if unknown
    confidence: float             # 0..1
    reasons: list[str] = field(default_factory=list)
    is_dir: bool = False
    candidates: list[str] = field(default_factory=list)  # parts it could be, when unsure

    def to_dict(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "role": Role(self.role).value,
            "part": self.part,
            "confidence": round(self.confidence, 2),
            "reasons": list(self.reasons),
        }


@dataclass
class Layout:
    root: Path
    files: list[FoundFile] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)

    def find(self, part: str | None, role: Role) -> list[FoundFile]:
        """Files of ``role`` for ``part``, most confident first."""
        hits = [f for f in self.files if f.part == part and f.role == role]
        return sorted(hits, key=lambda f: -f.confidence)

    def best(self, part: str | None, role: Role) -> FoundFile | None:
        hits = self.find(part, role)
        return hits[0] if hits else None


# -------------------------------------------------------------------- readers


@dataclass
class ModelMeta:
    """What the host can learn about a saved model without loading it."""

    format: str                          # "h5" | "keras" | "savedmodel"
    keras_version: str | None = None
    backend: str | None = None
    class_name: str | None = None        # Sequential, Functional, Model
    input_shape: list[int | None] | None = None   # without the batch axis
    output_units: int | None = None
    layer_types: list[str] = field(default_factory=list)
    has_weights: bool = True
    notes: list[str] = field(default_factory=list)
    # grader.architecture's LayerGraph as plain data (layers, edges), None when the
    # config lists no layers; read back with graph_from_plain, which validates it
    layer_graph: dict[str, Any] | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class PredictionsFile:
    """A student's predictions, parsed as data."""

    n_rows: int
    labels: list[int] | None = None              # predicted class index per row
    probabilities: list[list[float]] | None = None
    actual: list[int] | None = None              # a true-label column, if given
    class_names: list[str] | None = None         # when written as names
    format: str = ""                             # "csv-probabilities", "npy", ...


@dataclass
class MetricsFile:
    test_accuracy: float | None = None
    test_loss: float | None = None
    history: dict[str, list[float]] = field(default_factory=dict)
    format: str = ""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class ImageInfo:
    """A plot or input image checked with a pixel limit."""

    format: str              # what the bytes are: PNG, JPEG, WEBP, ...
    width: int
    height: int
    blank: bool              # one colour, or nearly
    sha256: str
    extension_mismatch: bool = False


@dataclass
class ImagenetPrediction:
    """One row of a 6.3-style ImageNet classification."""

    image: str               # base name of the image file
    rank: int                # 1 = top
    label: str
    probability: float | None = None
    wnid: str | None = None


# ------------------------------------------------------------------- evaluate


@dataclass
class ModelEvaluation:
    """What the sandbox reported for one model. Untrusted until checked."""

    part: str
    path: str
    ok: bool
    loader: str | None = None             # keras3-safe, tf_keras, saved_model (never unsafe Keras 3)
    message: str = ""                     # plain words when not ok
    probabilities: Any = None             # numpy array (n, classes) once validated
    # The same inputs at the rubric's alternative scalings ("raw": 0-255),
    # scaling -> numpy array, to notice a model trained on another scaling.
    alternative_probabilities: dict[str, Any] = field(default_factory=dict)
    architecture: dict[str, Any] = field(default_factory=dict)
    # The loaded model's layers and edges as the runner traced them (a LayerGraph's
    # plain data, validated by grader.architecture.graph_from_plain); None when not traced
    layer_graph: dict[str, Any] | None = None
    scaling: str | None = None            # the input scaling used
    scaling_note: str | None = None       # "does far better on raw 0-255 input"
    seconds: float | None = None
    # Per weight tensor, figures only: {"name", "shape", "stride", "norm",
    # "projection"} (grader/evaluate/readback.weight_fingerprints), for the
    # class's model-similarity step (grader/integrity/models.py).
    weight_fingerprints: list[dict[str, Any]] = field(default_factory=list)
    # What ModelJob.measure asked for (runtime/measure.py), validated by
    # grader/evaluate/readback.measurements; {} when not asked or not taken.
    measurements: dict[str, Any] = field(default_factory=dict)
    # What ModelJob.digests asked for (runtime/digests.py), validated by
    # grader/evaluate/readback.layer_digests; {} when not asked or not taken.
    layer_digests: dict[str, Any] = field(default_factory=dict)


@dataclass
class ImagenetEvaluation:
    ok: bool
    message: str = ""
    predictions: list[ImagenetPrediction] = field(default_factory=list)


@dataclass
class Evaluation:
    backend: str
    status: str                           # ok | timeout | oom | crashed | unavailable
    message: str = ""
    models: dict[str, ModelEvaluation] = field(default_factory=dict)   # by part
    imagenet: dict[str, ImagenetEvaluation] = field(default_factory=dict)  # by part
    seconds: float = 0.0


# --------------------------------------------------------------- checks/score


@dataclass
class CheckResult:
    id: str
    score: float
    max_score: float
    passed: bool
    message: str
    evidence: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "score": round(self.score, 2),
            "max_score": self.max_score,
            "passed": self.passed,
            "message": self.message,
            "evidence": self.evidence,
        }
