"""Decoded data sets kept on disk, keyed by the content they were decoded from.

Decoding a folder of JPEGs costs seconds to minutes; every process of a batch
(and the next batch) reads the same arrays back instead. The key is a digest
of every source file's bytes and every setting that changes the pixels, so an
edited, added or removed image, or another image size, is a miss, while a
copied or moved folder is a hit. Entries are written atomically (a reader
sees a whole file or none) and read back without pickle.

Labels are stored here, on the instructor's side; only the images ever go
into a sandbox (grader/evaluate/workspace.py's inputs cache).
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
import time
import zipfile
from pathlib import Path
from typing import Any, Iterable

import numpy as np

from grader.datasets.locations import cache_dir

CACHE_FOLDER = "decoded"
# Bump when the decoding changes, so old entries are never read.
DECODER_VERSION = 1
# An entry not read for this long is removed when another is written (an edited
# folder leaves its old decoding behind, which would otherwise stay for ever).
UNUSED_DAYS = 30


def content_key(settings: dict[str, Any], files: Iterable[tuple[str, Path]]) -> str:
    """A digest of the settings and of each (name, file)'s name and bytes."""
    digest = hashlib.sha256(json.dumps({"version": DECODER_VERSION, **settings}, sort_keys=True).encode())
    for name, path in files:
        file_digest = hashlib.sha256()
        with open(path, "rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                file_digest.update(block)
        digest.update(f"{name}\0{file_digest.hexdigest()}\n".encode("utf-8", "surrogateescape"))
    return digest.hexdigest()[:32]


def entry_path(kind: str, key: str, root: Path | None = None) -> Path:
    return Path(root or cache_dir()) / CACHE_FOLDER / f"{kind}-{key}.npz"


def read_entry(path: Path) -> tuple[dict[str, np.ndarray], dict[str, Any]] | None:
    """(arrays, metadata) of a cached entry, or None when it is absent or unreadable (then decoded again)."""
    if not path.is_file():
        return None
    try:
        with np.load(path, allow_pickle=False) as archive:
            arrays = {name: archive[name] for name in archive.files if name != "meta"}
            meta = json.loads(bytes(archive["meta"]).decode("utf-8"))
    except (OSError, ValueError, KeyError, zipfile.BadZipFile, EOFError, UnicodeDecodeError):
        return None
    if not isinstance(meta, dict):
        return None
    try:
        os.utime(path)           # read: kept by the pruning below
    except OSError:
        pass
    return arrays, meta


def prune(folder: Path, kind: str, keep: Path, days: float = UNUSED_DAYS) -> None:
    """Remove entries of ``kind`` not read for ``days`` (never ``keep``)."""
    cutoff = time.time() - days * 86400
    for entry in folder.glob(f"{kind}-*.npz"):
        try:
            if entry != keep and entry.stat().st_mtime < cutoff:
                entry.unlink()
        except OSError:
            continue


def write_entry(path: Path, arrays: dict[str, np.ndarray], meta: dict[str, Any]) -> Path | None:
    """Store arrays and JSON metadata atomically; None when it could not be
    stored (a failure to cache is not a failure to load)."""
    temp = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        handle, temp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
        with os.fdopen(handle, "wb") as out:
            meta_bytes = np.frombuffer(json.dumps(meta).encode("utf-8"), dtype=np.uint8)
            np.savez(out, meta=meta_bytes, **arrays)
        os.chmod(temp, 0o644)
        os.replace(temp, path)
    except OSError:
        if temp is not None:
            Path(temp).unlink(missing_ok=True)
        return None
    prune(path.parent, path.name.rsplit("-", 1)[0], keep=path)
    return path
