"""File digests: archives for resuming, models for spotting copies, data files for run records
and for telling the official data sets' files from copies."""

from __future__ import annotations

import hashlib
from pathlib import Path


def file_digest(path: Path, algorithm: str = "sha256") -> str:
    """Hex digest of a file with a hashlib algorithm, read in 1 MiB blocks."""
    digest = hashlib.new(algorithm)
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def sha256_of(path: Path) -> str:
    """Hex sha256 of a file."""
    return file_digest(path, "sha256")
