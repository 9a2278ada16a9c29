"""The rubric: everything assignment-specific, read from a TOML file.

No part id, file pattern, dataset, threshold or point value lives in Python
code; it lives in ``rubrics/<assignment>.toml`` (and the baselines file that
rubric names). A rubric that does not fit the schema is reported with the
file, the key and what was expected.
"""

from __future__ import annotations

import posixpath
import re
import tomllib
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from grader.limits import ExtractionLimits, SandboxLimits
from grader.policy.config import GradingPolicy

# table and discussion: a comparison of the other parts' models (grader/discover/documents.py)
ROLES = ("model", "predictions", "metrics", "plot", "source", "image", "table", "discussion")


class RubricError(Exception):
    """A rubric or baselines file that cannot be used; the message says why."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Dataset(_Strict):
    """A held-out test set the sandbox feeds to the students' models."""

    # A loader registered in grader/datasets (mnist, cifar10, imagenet-images, image-folder).
    loader: str
    input_shape: list[int]
    num_classes: int
    test_size: int | None = None
    # How the book scales pixels before training; "unit" is x / 255.
    scaling: Literal["unit", "raw"] = "unit"
    # Other scalings the sandbox also tries, to tell a student whose model
    # expects them instead of silently failing them.
    alternative_scalings: list[Literal["unit", "raw"]] = Field(default_factory=list)
    class_names: list[str] = Field(default_factory=list)
    # The files the loader needs, looked for in the data folder (for messages).
    files: list[str] = Field(default_factory=list)
    # Regular expressions (searched like a part's patterns) that name the data
    # set but not the part: a hit makes every part on this data set a candidate.
    keywords: list[str] = Field(default_factory=list)
    # image-folder: the data set's folder in the data folder (<folder>/test/<class>/*.jpg),
    # and how the students' pipeline resized the images to input_shape: like
    # image_dataset_from_directory (bilinear or nearest, its tf.image.resize) or
    # like load_img / flow_from_directory (Pillow's filters; nearest is its default).
    folder: str | None = None
    resize_like: Literal["image_dataset_from_directory", "load_img"] = "image_dataset_from_directory"
    interpolation: str = "bilinear"

    @model_validator(mode="after")
    def _loadable(self) -> "Dataset":
        from grader.datasets import dataset_problems

        problems = dataset_problems(self)
        if problems:
            raise ValueError("; ".join(problems))
        return self


# A manual check's id is a cell of the instructor's CSV (grader/manual): a plain name.
MANUAL_CHECK_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")


class CheckSpec(_Strict):
    id: str
    points: float = Field(ge=0)
    params: dict[str, Any] = Field(default_factory=dict)
    # "auto": the registered check function of this id scores it. "manual": the
    # instructor gives up to `points` (`grade --manual FILE.csv`); grading leaves it pending.
    kind: Literal["auto", "manual"] = "auto"

    @model_validator(mode="after")
    def _manual_points(self) -> "CheckSpec":
        if self.kind == "manual":
            if self.points <= 0:
                raise ValueError(f"manual check {self.id!r} needs points > 0: the most the instructor can give")
            if not MANUAL_CHECK_ID.fullmatch(self.id):
                raise ValueError(f"manual check id {self.id!r} must be letters, digits, '_', '.' or '-' "
                                 "(it is the check column of the instructor's CSV)")
        return self


class DetectorSpec(BaseModel):
    """One architecture detector a part declares (grader/architecture), e.g.
    ``{id = "residual", min_blocks = 3}`` or ``{id = "application", expect = false}``.
    Keys other than id, expect and weight are the detector's parameters."""

    model_config = ConfigDict(extra="allow", frozen=True)

    id: str
    expect: bool = True               # the model must (true) or must not (false) show it
    weight: float = Field(default=1.0, gt=0)   # its share of architecture_matches' points

    @property
    def params(self) -> dict[str, Any]:
        return dict(self.model_extra or {})

    @model_validator(mode="after")
    def _known(self) -> "DetectorSpec":
        from grader.architecture.registry import parameter_problems

        problems = parameter_problems(self.id, self.params)
        if problems:
            raise ValueError("; ".join(problems))
        return self


class Architecture(_Strict):
    """What the part's model must (True) or must not (False) contain.

    ``dropout`` / ``augmentation`` are the short form of the dropout and
    augmentation detectors; ``detectors`` declares any others with their
    parameters."""

    dropout: bool | None = None
    augmentation: bool | None = None
    detectors: list[DetectorSpec] = Field(default_factory=list)

    def declared(self) -> list[DetectorSpec]:
        """Every detector the part asks for: the short-form flags first, then ``detectors``."""
        flags = [DetectorSpec(id=name, expect=value) for name, value in
                 (("dropout", self.dropout), ("augmentation", self.augmentation)) if value is not None]
        named = {spec.id for spec in flags}
        return flags + [spec for spec in self.detectors if spec.id not in named]


class Measurement(_Strict):
    """A part's ``measure`` table: the sandbox measures its model for a
    comparison of models (grader/evaluate/runtime/measure.py), the same way for
    every model of the job: parameters, FLOPs, size on disk, and the median
    time per image at batch 1 and at ``large_batch`` over ``repeats`` timed
    calls after ``warmup`` untimed ones, on one CPU thread."""

    repeats: int = Field(5, ge=1, le=50)
    large_batch: int = Field(256, ge=2, le=2048)
    warmup: int = Field(2, ge=0, le=10)

    def to_job(self) -> dict[str, Any]:
        """ModelJob.measure: passed to the sandbox as is."""
        return self.model_dump()


class Part(_Strict):
    id: str
    title: str
    dataset: str
    # Regular expressions searched in a normalised path (lower case, runs of
    # " -_." turned into "-"); any hit assigns the file to this part.
    patterns: list[str]
    expects: list[str]                      # roles a complete part has
    canonical_dir: str                      # where `grade check` recommends files go
    canonical_files: dict[str, str] = Field(default_factory=dict)  # role -> file name
    architecture: Architecture = Architecture()
    plots_min: int = 1
    # For parts that classify the student's own pictures: folders (relative to
    # the submission root, matched case-insensitively) that hold them.
    input_dirs: list[str] = Field(default_factory=list)
    # The sandbox measures this part's model (timings, FLOPs, size) for a comparison.
    measure: Measurement | None = None
    # For a part that compares other parts' models (a table and a discussion):
    # their ids, in the order the rubric lists them.
    compares: list[str] = Field(default_factory=list)
    checks: list[CheckSpec]

    @field_validator("patterns")
    @classmethod
    def _compiles(cls, value: list[str]) -> list[str]:
        for pattern in value:
            try:
                re.compile(pattern)
            except re.error as exc:
                raise ValueError(f"pattern {pattern!r} is not a regular expression: {exc}") from None
        return value

    @field_validator("expects")
    @classmethod
    def _known_roles(cls, value: list[str]) -> list[str]:
        unknown = [role for role in value if role not in ROLES]
        if unknown:
            raise ValueError(f"unknown role(s) {unknown}; expected some of {list(ROLES)}")
        return value

    @model_validator(mode="after")
    def _manual_ids_unique(self) -> "Part":
        # The instructor's CSV names a manual check by part and id, so that pair must say which one.
        ids = [check.id for check in self.checks]
        repeated = sorted({c.id for c in self.checks if c.kind == "manual" and ids.count(c.id) > 1})
        if repeated:
            raise ValueError(f"part {self.id}: manual check id(s) {repeated} repeat within the part")
        return self

    @property
    def manual_checks(self) -> list[CheckSpec]:
        return [check for check in self.checks if check.kind == "manual"]

    @property
    def max_points(self) -> float:
        return sum(check.points for check in self.checks)

    def canonical_path(self, role: str) -> str:
        if role == "image" and self.input_dirs:
            return self.input_dirs[0] + "/"
        name = self.canonical_files.get(role)
        # normpath: a name may leave the folder ("../comparison.md" beside results/)
        return posixpath.normpath(f"{self.canonical_dir}/{name}") if name else self.canonical_dir + "/"


class Baseline(_Strict):
    """The reference accuracy of a part and where it came from."""

    accuracy: float = Field(ge=0, le=1)
    provenance: str
    full_credit_at: float = Field(ge=0, le=1)
    zero_credit_at: float = Field(ge=0, le=1)
    run: dict[str, Any] = Field(default_factory=dict)  # the run record, when measured

    @model_validator(mode="after")
    def _ordered(self) -> "Baseline":
        if self.zero_credit_at > self.full_credit_at:
            raise ValueError("zero_credit_at must not be above full_credit_at")
        return self


class SandboxSettings(SandboxLimits):
    """The rubric's ``[sandbox]`` table: the limits, and what the students' code may use.

    ``packages``: the extra pip packages the course allows (both runtime images
    include them, `grade image build`); ``runtime``: "auto" (chosen per
    submission from evidence, grader/evaluate/runtimes.py) or a runtime's name."""

    packages: list[str] = Field(default_factory=list)
    runtime: str = "auto"

    @field_validator("runtime")
    @classmethod
    def _known_runtime(cls, value: str) -> str:
        from grader.evaluate.runtimes import AUTO, RUNTIMES

        if value != AUTO and value not in RUNTIMES:
            raise ValueError(f"unknown runtime {value!r}; expected {AUTO!r} or one of {list(RUNTIMES)}")
        return value

    @field_validator("packages")
    @classmethod
    def _package_names(cls, value: list[str]) -> list[str]:
        bad = [name for name in value if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]*", name)]
        if bad:
            raise ValueError(f"not pip package names (no versions here; each runtime pins its own): {bad}")
        return value


class IntegritySettings(_Strict):
    """The rubric's ``[integrity]`` table: the class-wide comparison of code and
    models (grader/integrity). Evidence for the instructor; it never changes a score.

    ``base``: the instructor's own code, excluded as boilerplate like MOSS's
    base files: files or folders (notebooks and .py scripts), relative to the
    rubric file or absolute; a folder of ``grade reference run`` output holds
    the reference notebooks. A missing path is reported on the class summary."""

    enabled: bool = True
    base: list[str] = Field(default_factory=list)
    # A part's code pair is reported at or above this similarity: the share of
    # the smaller side's fingerprinted code that the other side also has.
    code_threshold: float = Field(0.5, ge=0.0, le=1.0)
    # ... and when the matching code is at least this many filtered characters
    # (a few shared lines of one's own code make a high share of nothing).
    min_code_tokens: int = Field(150, ge=1)
    # copydetect's winnowing: k-grams of this many filtered characters, and a
    # window that guarantees any match of k + window - 1 characters is found.
    kgram: int = Field(25, ge=5, le=200)
    window: int = Field(6, ge=1, le=100)
    # In a class of at least common_min_class submissions, a fingerprint that
    # more than this share of them hold is treated as boilerplate too (MOSS's -m).
    common_share: float = Field(0.5, gt=0.0, le=1.0)
    common_min_class: int = Field(20, ge=2)
    # Models of one part: reported when the median per-tensor cosine of the
    # weight fingerprints is at least this (same architecture only) ...
    weight_threshold: float = Field(0.95, ge=-1.0, le=1.0)
    # ... or when their same-wrong-label errors are far beyond independence:
    # the Poisson tail, Bonferroni-corrected over the part's pairs, below
    # agreement_alpha, and at least error_overlap of the fewer errors shared.
    agreement_alpha: float = Field(1e-3, gt=0.0, lt=1.0)
    error_overlap: float = Field(0.5, ge=0.0, le=1.0)
    min_shared_errors: int = Field(10, ge=1)


class Rubric(_Strict):
    id: str
    title: str
    folder: str                        # the top-level folder inside the archive
    archive_prefix: str                # assignment06 in assignment06_DoeJane.zip
    total_points: float
    baselines_file: str = ""          # relative to the rubric file
    datasets: dict[str, Dataset]
    parts: list[Part]
    sandbox: SandboxSettings = SandboxSettings()
    extraction: ExtractionLimits = ExtractionLimits()
    # one grade per student: attempts, due date, late penalty (grade.toml can override it);
    # not part of the resume key, so changing it re-scores without regrading
    policy: GradingPolicy = GradingPolicy()
    # the class-wide code and model comparison; computed from stored records, not part of the resume key
    integrity: IntegritySettings = IntegritySettings()
    # tolerance for the reported-vs-recomputed comparison, etc., in checks' params
    baselines: dict[str, Baseline] = Field(default_factory=dict)
    # keras.applications bases a transfer-learning part may build on -> the
    # ImageNet weights file (Keras's notop file name; "" for Keras's default)
    # their layers are compared with (grader/datasets/weights.py).
    pretrained_weights: dict[str, str] = Field(default_factory=dict)
    path: str = ""                     # where it was read from (filled by load)

    @field_validator("pretrained_weights")
    @classmethod
    def _known_applications(cls, value: dict[str, str]) -> dict[str, str]:
        from grader.datasets import APPLICATIONS

        unknown = sorted(set(value) - set(APPLICATIONS))
        if unknown:
            raise ValueError(f"no ImageNet weights known for {unknown}; expected some of {sorted(APPLICATIONS)}")
        return {name: file or APPLICATIONS[name].notop_file for name, file in value.items()}

    @model_validator(mode="after")
    def _consistent(self) -> "Rubric":
        ids = [part.id for part in self.parts]
        if len(set(ids)) != len(ids):
            raise ValueError(f"part ids repeat: {ids}")
        for part in self.parts:
            if part.dataset not in self.datasets:
                raise ValueError(
                    f"part {part.id} uses dataset {part.dataset!r}, which [datasets] does not define"
                )
        for part in self.parts:
            unknown = [other for other in part.compares if other not in ids or other == part.id]
            if unknown:
                raise ValueError(f"part {part.id} compares {unknown}, which are not other parts of this rubric")
        points = sum(part.max_points for part in self.parts)
        if abs(points - self.total_points) > 1e-6:
            raise ValueError(f"the checks' points add up to {points:g}, not total_points = {self.total_points:g}")
        return self

    def part(self, part_id: str) -> Part:
        for part in self.parts:
            if part.id == part_id:
                return part
        raise KeyError(part_id)

    def dataset_of(self, part: Part) -> Dataset:
        return self.datasets[part.dataset]


DEFAULT_RUBRIC = "assignment06"


def rubrics_dir() -> Path:
    """The repository's rubrics/ folder, or the copy shipped inside the package."""
    repo = Path(__file__).resolve().parent.parent / "rubrics"
    if repo.is_dir():
        return repo
    return Path(__file__).resolve().parent / "rubrics"


def resolve(name_or_path: str | Path | None) -> Path:
    if name_or_path is None:
        name_or_path = DEFAULT_RUBRIC
    candidate = Path(name_or_path)
    if candidate.suffix == ".toml" or candidate.exists():
        return candidate
    return rubrics_dir() / f"{name_or_path}.toml"


def _describe(exc: ValidationError, path: Path) -> str:
    lines = [f"{path}: the rubric does not fit the schema:"]
    for error in exc.errors():
        key = ".".join(str(p) for p in error["loc"]) or "(top level)"
        lines.append(f"  - key {key}: {error['msg']}")
    return "\n".join(lines)


def load(name_or_path: str | Path | None = None) -> Rubric:
    """Read and validate a rubric and its baselines. Raises RubricError."""
    path = resolve(name_or_path)
    if not path.is_file():
        raise RubricError(f"{path}: no such rubric file; pass --rubric with a path to a .toml file")
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise RubricError(f"{path}: not valid TOML: {exc}") from None
    baselines_name = data.get("baselines_file")
    if baselines_name:
        data["baselines"] = _load_baselines(path.parent / baselines_name)
    data["path"] = str(path)
    try:
        rubric = Rubric.model_validate(data)
    except ValidationError as exc:
        raise RubricError(_describe(exc, path)) from None
    return rubric


def _load_baselines(path: Path) -> dict[str, Any]:
    if not path.is_file():
        raise RubricError(f"{path}: the baselines file named by the rubric is missing; run `grade reference baselines`")
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise RubricError(f"{path}: not valid TOML: {exc}") from None
    parts = data.get("parts", {})
    out = {}
    for part_id, raw in parts.items():
        try:
            out[part_id] = Baseline.model_validate(raw)
        except ValidationError as exc:
            raise RubricError(_describe(exc, path).replace("rubric", f"baseline for part {part_id}")) from None
    return out
