"""Optional `grade.toml` in a submissions folder: the settings a class uses.

    rubric = "assignment06"          # name in rubrics/ or a path
    data_dir = "/srv/dsc650/data"    # the instructor's data folder
    synthetic_data_seed = 0          # grade against the project's synthetic
                                     # data set (the shipped examples do; a rubric
                                     # with image folders gets synthetic ones)

    [policy]                         # this class's grading policy, over the rubric's
    due = 2026-10-06T23:59:00-05:00  # (keys: grader/policy/config.py)
    late_penalty = "per_day"
    penalty_percent = 10
    extensions = "extensions.csv"    # file paths are relative to this folder

    [policy.aliases]                 # group archives of one student under one key
    "doe jane" = "jdoe"              # a plainly named DoeJane.zip with jdoe's attempts

    [cluster]                        # `grade --cluster slurm`: the Slurm jobs that become
    queue = "batch"                  # Dask workers (keys: grader/cluster/config.py)
    workers = 8

Command-line options win over the file.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from pathlib import Path

import click

CONFIG_NAME = "grade.toml"


# [policy] keys that name files, resolved against the folder of the file that sets them
POLICY_FILE_KEYS = ("submission_times", "extensions")


@dataclass
class FolderSettings:
    rubric: str | None
    data_dir: Path | None
    policy: dict = field(default_factory=dict)   # grade.toml's [policy] keys, file paths made absolute
    config_path: Path | None = None
    cluster: dict = field(default_factory=dict)  # grade.toml's [cluster] table, checked by grader.cluster.config


def apply_folder_config(folder: Path, rubric: str | None, data_dir: Path | None) -> FolderSettings:
    path = Path(folder) / CONFIG_NAME
    if not path.is_file():
        return FolderSettings(rubric, data_dir)
    try:
        config = tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise click.UsageError(f"{path}: not valid TOML ({exc}); fix or delete the file") from None
    unknown = set(config) - {"rubric", "data_dir", "synthetic_data_seed", "policy", "cluster"}
    if unknown:
        raise click.UsageError(f"{path}: unknown key(s) {sorted(unknown)}; "
                               "expected rubric, data_dir, synthetic_data_seed, [policy] or [cluster]")
    policy = config.get("policy", {})
    if not isinstance(policy, dict):
        raise click.UsageError(f"{path}: policy must be a table ([policy]), not {policy!r}")
    cluster = config.get("cluster", {})
    if not isinstance(cluster, dict):
        raise click.UsageError(f"{path}: cluster must be a table ([cluster]), not {cluster!r}")
    if data_dir is None and "data_dir" in config:
        data_dir = (path.parent / str(config["data_dir"])).resolve()
    if data_dir is None and "synthetic_data_seed" in config:
        data_dir = synthetic_data_dir(int(config["synthetic_data_seed"]), rubric or config.get("rubric"), path.parent)
    return FolderSettings(rubric or config.get("rubric"), data_dir, resolve_policy_files(policy, path.parent), path,
                          cluster)


def resolve_policy_files(policy: dict, base: Path) -> dict:
    """A [policy] table with its file paths made absolute against ``base``."""
    resolved = dict(policy)
    for key in POLICY_FILE_KEYS:
        if isinstance(resolved.get(key), str):
            resolved[key] = str((Path(base) / resolved[key]).resolve())
    return resolved


def synthetic_data_dir(seed: int, rubric_name: str | None = None, base: Path | None = None) -> Path:
    """The project's synthetic data set for `seed`, made once and cached: MNIST, CIFAR-10 and the
    ResNet50 files, or, for a rubric with image folders (named here, or in grade.toml: a path there
    is relative to it), that rubric's image folders and ImageNet weights files."""
    from grader import rubric as rubric_lib
    from grader.datasets import ensure_synthetic_data
    from grader.datasets.synthetic_images import ensure_synthetic_transfer_data, needs_synthetic_images

    if rubric_name:
        named = Path(rubric_name)
        if base is not None and not named.is_absolute() and (named.suffix == ".toml" or len(named.parts) > 1):
            rubric_name = str(Path(base) / named)
        try:
            rubric = rubric_lib.load(rubric_name)
        except rubric_lib.RubricError as exc:
            raise click.UsageError(str(exc)) from None
        if needs_synthetic_images(rubric):
            return ensure_synthetic_transfer_data(rubric, seed)
    return ensure_synthetic_data(seed)
