"""System clutter that operating systems and editors leave in archives.

Junk is dropped without a problem per file: one info problem says how many
entries were dropped, so a student is not told off for what their OS did.
"""

from __future__ import annotations

from collections.abc import Sequence

# Folders whose whole content is clutter (compared in lower case).
JUNK_DIRS = frozenset({
    "__macosx",            # macOS Archive Utility's resource forks
    ".ipynb_checkpoints",  # Jupyter autosaves
    "__pycache__",
    ".git",
    ".trashes",
    ".spotlight-v100",
    ".fseventsd",
})

# Single files that are clutter wherever they are (lower case).
JUNK_FILES = frozenset({".ds_store", "thumbs.db", "ehthumbs.db", "desktop.ini"})


def is_junk(parts: Sequence[str]) -> bool:
    """True for an entry (split into path components) that is OS or editor clutter."""
    if not parts:
        return False
    lowered = [part.lower() for part in parts]
    if any(part in JUNK_DIRS for part in lowered):
        return True
    name = lowered[-1]
    return (
        name in JUNK_FILES
        or name.startswith("._")                # AppleDouble files
        or name.endswith("zone.identifier")     # Windows download marks (file:Zone.Identifier)
    )
