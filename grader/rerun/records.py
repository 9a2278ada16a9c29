"""What a re-run of a student's notebooks and scripts found.

Own records (not in grader/records.py) because only this stage and the report
use them. Everything here was read back from the sandbox as untrusted data and
checked; texts (tracebacks above all) are plain text the report must escape.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from grader.rerun.paths import PathRewrite

# How a source's re-run ended, best first; a submission's status is its worst source's.
STATUSES = ("ok", "errors", "timeout", "crashed")


@dataclass
class CellFailure:
    cell: int            # code cell number, 1-based (1 for a script)
    ename: str
    evalue: str
    traceback: str       # ANSI colours removed, cut to its end
    cause: str = ""      # grader/rerun/causes.py: student-code | data-missing | package-not-allowed | ...
    explanation: str = ""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class FitCall:
    """One ``Model.fit`` call: the epochs the code asked for and the epochs run."""

    framework: str       # keras | tf_keras
    model: str           # class name
    epochs: int | None   # asked for (after initial_epoch)
    run: int | None      # run: epochs, or the cap
    capped: bool

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class SourceRun:
    path: str                                  # relative to the submission root
    kind: str                                  # notebook | script
    part: str | None                           # the part discover gave it
    status: str                                # ok | errors | timeout | crashed | not-run
    message: str = ""
    cells_total: int = 0
    cells_run: int = 0
    failures: list[CellFailure] = field(default_factory=list)
    timed_out_cell: int | None = None
    seconds: float = 0.0
    fit_calls: list[FitCall] = field(default_factory=list)
    path_rewrites: list[PathRewrite] = field(default_factory=list)
    executed_notebook: str | None = None       # host path of the executed .ipynb
    html: str | None = None                    # host path of its sanitised HTML rendering
    log: str | None = None                     # host path of a script's stdout
    printed_test_accuracy: float | None = None
    printed_lines: list[str] = field(default_factory=list)   # the output lines it was read from
    images: list[str] = field(default_factory=list)          # host paths of the plots it displayed
    compat: list[str] = field(default_factory=list)          # runtime stand-ins it used ("api: note")
    saved_test_accuracy: float | None = None   # printed in the notebook's own saved outputs (before the re-run)

    @property
    def epochs_capped(self) -> list[tuple[int | None, int | None]]:
        """(asked, run) for every fit call the cap shortened."""
        return [(call.epochs, call.run) for call in self.fit_calls if call.capped]

    @property
    def epochs(self) -> list[tuple[int | None, int | None]]:
        """(asked, run) for every fit call."""
        return [(call.epochs, call.run) for call in self.fit_calls]

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["epochs_capped"] = [list(pair) for pair in self.epochs_capped]
        data["epochs"] = [list(pair) for pair in self.epochs]
        return data


@dataclass
class PartRerun:
    """One part's figures from the re-run."""

    part: str
    rerun_accuracy: float | None = None
    accuracy_source: str = ""                  # where the figure was read
    reported_accuracy: float | None = None     # the submission's own metrics file, when known
    sources: list[str] = field(default_factory=list)        # the sources that ran for this part
    produced: list[str] = field(default_factory=list)       # files the re-run wrote for it
    epochs_capped: list[tuple[int | None, int | None]] = field(default_factory=list)
    epochs: list[tuple[int | None, int | None]] = field(default_factory=list)   # (asked, run), every fit call
    statuses: list[str] = field(default_factory=list)       # of those sources
    saved_output_accuracy: float | None = None  # the test accuracy the notebook's saved outputs print

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["epochs_capped"] = [list(pair) for pair in self.epochs_capped]
        data["epochs"] = [list(pair) for pair in self.epochs]
        return data


@dataclass
class RerunResult:
    submission: str                            # the archive or folder re-run
    backend: str                               # docker | bwrap | none
    status: str                                # ok | errors | timeout | crashed | unavailable | nothing
    message: str = ""
    max_epochs: int | None = None
    cell_timeout: int = 0
    total_timeout: int = 0
    sources: list[SourceRun] = field(default_factory=list)
    parts: dict[str, PartRerun] = field(default_factory=dict)
    produced: list[str] = field(default_factory=list)      # relative to the working copy's root
    produced_root: str | None = None           # host folder holding them, laid out like a submission
    work_dir: str = ""
    notes: list[str] = field(default_factory=list)         # set-up and read-back remarks
    seconds: float = 0.0
    runtime: str = ""                          # keras3 | keras2 (grader/evaluate/runtimes.py)
    runtime_choice: dict[str, Any] = field(default_factory=dict)   # RuntimeChoice.to_dict(): why

    def source(self, path: str) -> SourceRun | None:
        return next((s for s in self.sources if s.path == path), None)

    def to_dict(self) -> dict[str, Any]:
        return {
            "submission": self.submission,
            "backend": self.backend,
            "status": self.status,
            "message": self.message,
            "max_epochs": self.max_epochs,
            "cell_timeout": self.cell_timeout,
            "total_timeout": self.total_timeout,
            "sources": [s.to_dict() for s in self.sources],
            "parts": {pid: p.to_dict() for pid, p in self.parts.items()},
            "produced": list(self.produced),
            "produced_root": self.produced_root,
            "work_dir": self.work_dir,
            "notes": list(self.notes),
            "seconds": round(self.seconds, 2),
            "runtime": self.runtime,
            "runtime_choice": dict(self.runtime_choice),
        }


def worst_status(statuses: list[str]) -> str:
    known = [s for s in statuses if s in STATUSES]
    if not known:
        return "nothing" if not statuses else "crashed"
    return max(known, key=STATUSES.index)
