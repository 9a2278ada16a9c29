"""What goes wrong with the instructor's data files, in words that say the fix."""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

from grader.datasets.locations import DATA_DIR_ENV


class DataError(Exception):
    """A data file that is there but cannot be used; the message says which and why."""


class DataMissing(DataError):
    """A data file the grader needs is not in the data folder."""

    def __init__(self, what: str, files: Sequence[str], places: Sequence[Path], data_dir: Path,
                 how: str | None = None):
        self.files = list(files)
        self.places = [Path(p) for p in places]
        looked = "\n".join(f"  {place}" for place in self.places)
        how = how or (
            f"To get it: run `grade data fetch` on a machine with network access "
            f"(Keras's own downloaders fill the data folder), then copy that folder here; "
            f"or copy the file(s) into {Path(data_dir) / 'datasets'}/ yourself.")
        super().__init__(
            f"{what}: not found. Looked for {' or '.join(self.files)} in:\n{looked}\n"
            f"{how} Set {DATA_DIR_ENV} to use another data folder."
        )
