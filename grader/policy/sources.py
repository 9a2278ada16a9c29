"""Where a class's policy comes from: the rubric's ``[policy]``, the folder's
``grade.toml`` ``[policy]`` on top (key by key), and the instructor's files
(``--policy-file`` extensions, the submission-times export)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from grader.policy.config import GradingPolicy, PolicyError, merge_policy
from grader.policy.extensions import PolicyFile, SubmissionTimes, read_extensions, read_submission_times

if TYPE_CHECKING:
    from grader.rubric import Rubric


@dataclass
class ClassPolicy:
    policy: GradingPolicy
    extensions: PolicyFile | None = None
    times: SubmissionTimes | None = None

    @property
    def problems(self) -> list[str]:
        zone = self.policy.zone_disagreement()
        return [*([zone] if zone else []), *(self.extensions.problems if self.extensions else []),
                *(self.times.problems if self.times else [])]


def load_class_policy(rubric: "Rubric", folder_policy: dict | None = None, where: str = "grade.toml",
                      policy_file: Path | None = None, times_file: Path | None = None) -> ClassPolicy:
    """The policy for one class. Raises PolicyError for a [policy] table that does not fit
    or a named file that does not exist; a file's bad rows are problems, not errors."""
    base = _with_absolute_files(rubric.policy, Path(rubric.path).parent if rubric.path else Path("."))
    policy = merge_policy(base, folder_policy or {}, where) if folder_policy else base
    extensions_path = Path(policy_file) if policy_file else _path(policy.extensions)
    times_path = Path(times_file) if times_file else _path(policy.submission_times)
    for path, what in ((extensions_path, "extensions file"), (times_path, "submission-times file")):
        if path is not None and not path.is_file():
            raise PolicyError(f"{path}: no such {what}; check the path (relative paths in grade.toml are "
                              "relative to its folder)")
    return ClassPolicy(
        policy,
        read_extensions(extensions_path, policy, rubric.total_points) if extensions_path else None,
        read_submission_times(times_path, policy) if times_path else None,
    )


def _with_absolute_files(policy: GradingPolicy, base: Path) -> GradingPolicy:
    update = {key: str((base / value).resolve()) for key in ("extensions", "submission_times")
              if (value := getattr(policy, key))}
    return policy.model_copy(update=update) if update else policy


def _path(value: str | None) -> Path | None:
    return Path(value) if value else None
