"""Shared fixtures: the ../shared folder of real data, and zipping helpers."""

from __future__ import annotations

import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"
SAMPLES = SHARED / "real-world-samples"


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    if not SHARED.is_dir():
        pytest.skip("../shared is absent (real data and student samples are only on the team's machines)")
    return SHARED


def zip_folder(folder: Path, archive: Path, top: str | None = None) -> Path:
    """Zip `folder`'s files under `top/` (or at the archive's root when None)."""
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as zf:
        for path in sorted(folder.rglob("*")):
            if path.is_file():
                rel = path.relative_to(folder).as_posix()
                zf.write(path, f"{top}/{rel}" if top else rel)
    return archive
