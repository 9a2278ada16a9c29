"""Optional `grade.toml` in a submissions folder: the settings a class uses.

    rubric = "assignment06"          # name in rubrics/ or a path
    data_dir = "/srv/dsc650/data"    # the instructor's data folder
    synthetic_data_seed = 0          # grade against the project's synthetic
                                     # data set (the shipped examples do)

Command-line options win over the file.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from pathlib import Path

import click

CONFIG_NAME = "grade.toml"


@dataclass
class FolderSettings:
    rubric: str | None
    data_dir: Path | None


def apply_folder_config(folder: Path, rubric: str | None, data_dir: Path | None) -> FolderSettings:
    path = Path(folder) / CONFIG_NAME
    if not path.is_file():
        return FolderSettings(rubric, data_dir)
    try:
        config = tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise click.UsageError(f"{path}: not valid TOML ({exc}); fix or delete the file") from None
    unknown = set(config) - {"rubric", "data_dir", "synthetic_data_seed"}
    if unknown:
        raise click.UsageError(f"{path}: unknown key(s) {sorted(unknown)}; "
                               "expected rubric, data_dir or synthetic_data_seed")
    if data_dir is None and "data_dir" in config:
        data_dir = (path.parent / str(config["data_dir"])).resolve()
    if data_dir is None and "synthetic_data_seed" in config:
        data_dir = synthetic_data_dir(int(config["synthetic_data_seed"]))
    return FolderSettings(rubric or config.get("rubric"), data_dir)


def synthetic_data_dir(seed: int) -> Path:
    """The project's synthetic data set for `seed`, made once and cached."""
    from grader.datasets import ensure_synthetic_data

    return ensure_synthetic_data(seed)
