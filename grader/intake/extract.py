"""Writing a submission's entries into its work folder under the extraction limits.

Both sources, a zip archive and a folder, are turned into ``Member`` records
and judged by one ``Extractor``: name safety, junk, entry type, limits, then
a streamed write to a temporary file that is renamed into place only when the
whole entry was read and checked.
"""

from __future__ import annotations

import calendar
import hashlib
import os
import stat
import tempfile
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

from grader.limits import ExtractionLimits
from grader.records import Severity

from grader.intake.junk import is_junk
from grader.intake.names import UnsafeName, casefold_key, safe_component, split_entry_name
from grader.intake.problems import ProblemLog
from grader.intake.zipread import CHUNK, EntryError, Progress

FILE, DIR, SYMLINK, SPECIAL = "file", "dir", "symlink", "special"


class ExtractionStopped(Exception):
    """A limit on the whole submission was hit: nothing more is extracted."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass
class Member:
    """One entry of an archive or folder, before it is judged."""

    name: str                                   # as stored, decoded: for messages
    kind: str                                   # FILE, DIR, SYMLINK or SPECIAL
    declared_size: int | None = None            # a claim, used only to refuse early
    encrypted: bool = False
    detail: str = ""                            # e.g. a symlink's target
    chunks: Callable[[Progress], Iterator[bytes]] | None = None
    mtime: float | None = None                  # modification time as stored; see ExtractedFile.mtime


@dataclass
class WrittenFile:
    size: int
    sha256: str
    mtime: float | None = None


@dataclass
class Extractor:
    """Judges members and writes the good ones below ``work_dir``."""

    work_dir: Path
    limits: ExtractionLimits
    log: ProblemLog
    label: str                                  # the archive or folder name, for messages
    folder: str                                 # the rubric's assignment folder, for fixes
    archive_size: int | None = None             # for the overall ratio; None for a folder
    files: dict[str, WrittenFile] = field(default_factory=dict)   # work-dir-relative POSIX path
    renamed: list[tuple[str, str]] = field(default_factory=list)
    junk: int = 0
    entries_seen: int = 0
    total_written: int = 0
    _taken: dict[str, str] = field(default_factory=dict, init=False, repr=False)  # case-folded path -> path

    def __post_init__(self) -> None:
        self._real_root = os.path.realpath(self.work_dir)

    # ------------------------------------------------------------- judging

    def add(self, member: Member) -> None:
        """Extract one member or log why not. Raises ExtractionStopped."""
        try:
            parts = split_entry_name(member.name)
        except UnsafeName as unsafe:
            self._refuse(unsafe.code, member, f"{unsafe.reason}, so it was skipped. {self.zip_the_folder}")
            return
        if not parts:
            return
        if is_junk(parts):
            self.junk += 1
            return
        if member.kind in (SYMLINK, SPECIAL):
            self._refuse_non_regular(member)
            return
        if len(parts) > self.limits.max_depth:
            self._refuse("path-too-deep", member, f"is nested {len(parts)} levels deep (the limit is "
                         f"{self.limits.max_depth}), so it was skipped. Move it to a shallower folder.")
            return
        if member.encrypted:
            self._refuse("encrypted-entry", member, "is password-protected, so it was skipped. "
                         "Zip your work again without a password.")
            return
        try:
            safe_parts = [safe_component(part) for part in parts]
        except UnsafeName as unsafe:
            self._refuse(unsafe.code, member, f"{unsafe.reason}, so it was skipped. Rename it and zip again.")
            return
        original, rel = "/".join(parts), "/".join(safe_parts)
        if rel != original:
            self.renamed.append((original, rel))
        if member.kind == DIR:
            self._make_dir(rel, member)
        else:
            self._add_file(rel, member)

    def _refuse_non_regular(self, member: Member) -> None:
        if member.kind == SYMLINK:
            target = f" (to {member.detail})" if member.detail else ""
            self._refuse("symlink", member, f"is a symbolic link{target}; links are never followed or created, "
                         "so it was skipped. Put the real file in the folder instead of a link or shortcut.")
        else:
            self._refuse("special-file", member, f"is a special file ({member.detail or 'device, pipe or socket'}), "
                         "not a regular file, so it was skipped. Submit only ordinary files.")

    def _add_file(self, rel: str, member: Member) -> None:
        key = casefold_key(rel)
        if key in self._taken:
            kept = self._taken[key]
            also = "" if kept == rel else f" (as '{kept}'; the names differ only in upper/lower case)"
            self._refuse("duplicate-name", member, f"appears more than once{also}; the first copy was kept. "
                         "Keep one file per name and zip again.", Severity.WARNING)
            return
        declared = member.declared_size or 0
        if declared > self.limits.max_entry_bytes:
            self._refuse("entry-too-large", member, _too_large(declared, self.limits.max_entry_bytes))
            return
        if self._write(rel, member):
            self._taken[key] = rel

    # ------------------------------------------------------------- writing

    def _make_dir(self, rel: str, member: Member) -> None:
        target = self.work_dir / rel
        try:
            target.mkdir(parents=True, exist_ok=True)
        except OSError:
            self._refuse("path-conflict", member, "is a folder with the same name as a file in the archive, "
                         "so it was skipped. Rename one of them and zip again.")

    def _write(self, rel: str, member: Member) -> bool:
        target = self.work_dir / rel
        if not self._inside(target.parent):  # cannot happen after split_entry_name; kept as a second lock
            self._refuse("zip-slip", member, f"would be written outside the work folder, so it was skipped. {self.zip_the_folder}")
            return False
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
        except OSError:
            self._refuse("path-conflict", member, "sits in a folder whose name is taken by a file in the "
                         "archive, so it was skipped. Rename one of them and zip again.")
            return False
        if target.exists() or target.is_symlink():
            self._refuse("path-conflict", member, "has the same name as a folder in the archive, so it was "
                         "skipped. Rename one of them and zip again.")
            return False
        try:
            handle, temp_name = tempfile.mkstemp(dir=target.parent, prefix=".intake-", suffix=".part")
        except OSError as error:
            self._refuse("write-failed", member, f"could not be written ({error.strerror or error}), so it was skipped.")
            return False
        temp = Path(temp_name)
        try:
            with os.fdopen(handle, "wb") as out:
                written = self._stream(member, out)
            written.mtime = member.mtime
            temp.chmod(0o644)
            os.replace(temp, target)
        except EntryError as error:
            temp.unlink(missing_ok=True)
            self._refuse(error.code, member, f"{error.reason}, so it was skipped. Zip your work again.")
            return False
        except ExtractionStopped:
            temp.unlink(missing_ok=True)
            raise
        except OSError as error:
            temp.unlink(missing_ok=True)
            self._refuse("write-failed", member, f"could not be written ({error.strerror or error}), so it was skipped.")
            return False
        self.files[rel] = written
        return True

    def _stream(self, member: Member, out: BinaryIO) -> WrittenFile:
        assert member.chunks is not None
        progress, digest, size = Progress(), hashlib.sha256(), 0
        for chunk in member.chunks(progress):
            size += len(chunk)
            self.total_written += len(chunk)
            self._check_entry(size, progress.consumed)
            self._check_totals()
            out.write(chunk)
            digest.update(chunk)
        return WrittenFile(size=size, sha256=digest.hexdigest())

    def _check_entry(self, size: int, consumed: int) -> None:
        limits = self.limits
        if size > limits.max_entry_bytes:
            raise EntryError("entry-too-large", _too_large_reason(size, limits.max_entry_bytes))
        if size > limits.ratio_grace_bytes and size > limits.max_ratio * max(consumed, 1):
            raise EntryError(
                "compression-ratio",
                f"expands more than {limits.max_ratio:g} times ({size} bytes from {consumed} so far), "
                "which only a zip bomb does",
            )

    def _check_totals(self) -> None:
        limits, total = self.limits, self.total_written
        if total > limits.max_total_bytes:
            raise ExtractionStopped(
                "total-too-large",
                f"{self.label} unpacks to more than {_mib(limits.max_total_bytes)} (the limit), so extraction "
                "stopped there. Remove datasets, checkpoints and copies and submit only the results.",
            )
        if self.archive_size and total > limits.ratio_grace_bytes and total > limits.max_ratio * self.archive_size:
            raise ExtractionStopped(
                "compression-ratio",
                f"{self.label} expands more than {limits.max_ratio:g} times its size ({total} bytes from "
                f"{self.archive_size}), which only a zip bomb does, so extraction stopped.",
            )

    def _inside(self, folder: Path) -> bool:
        real = os.path.realpath(folder)
        return real == self._real_root or real.startswith(self._real_root + os.sep)

    # --------------------------------------------------------------- helpers

    @property
    def zip_the_folder(self) -> str:
        return f"Zip the {self.folder} folder itself, so that every path inside starts with {self.folder}/."

    def forget(self, rel: str) -> None:
        """Drop a written file from the records (a nested archive once opened)."""
        self.files.pop(rel, None)
        self._taken.pop(casefold_key(rel), None)

    def _refuse(self, code: str, member: Member, what: str, severity: Severity = Severity.ERROR) -> None:
        self.log.add(code, f"{self.label}: '{member.name}' {what}", severity, path=member.name)

    def report_cleanups(self) -> None:
        """One info problem each for dropped junk and renamed entries."""
        if self.junk:
            self.log.add("junk-removed", f"{self.label}: {self.junk} system file(s) such as __MACOSX/, .DS_Store "
                         "or Zone.Identifier were left out; they are not part of the work.", Severity.INFO)
        if self.renamed:
            shown = "; ".join(f"'{old}' -> '{new}'" for old, new in self.renamed[:10])
            more = f" and {len(self.renamed) - 10} more" if len(self.renamed) > 10 else ""
            self.log.add("renamed-entry", f"{self.label}: names that are not valid on every system were "
                         f"renamed: {shown}{more}.", Severity.INFO)


def _mib(size: int) -> str:
    return f"{size / (1024 * 1024):.0f} MiB"


def _too_large_reason(size: int, limit: int) -> str:
    return f"is larger than {_mib(limit)} (the limit for one file; {size} bytes read so far)"


def _too_large(size: int, limit: int) -> str:
    return (f"is {_mib(size)}, larger than {_mib(limit)} (the limit for one file), so it was skipped. "
            "Submit a smaller file (a model saved without the optimizer state, or fewer rows).")


# ----------------------------------------------------------------- members


def zip_member_kind(info: zipfile.ZipInfo) -> tuple[str, str]:
    """(kind, detail) from the entry's Unix mode bits and DOS attributes."""
    mode = info.external_attr >> 16
    file_type = stat.S_IFMT(mode)
    if file_type == stat.S_IFLNK:
        return SYMLINK, ""
    specials = {stat.S_IFCHR: "character device", stat.S_IFBLK: "block device",
                stat.S_IFIFO: "named pipe", stat.S_IFSOCK: "socket"}
    if file_type in specials:
        return SPECIAL, specials[file_type]
    if file_type == stat.S_IFDIR or info.filename.endswith(("/", "\\")) or info.external_attr & 0x10:
        return DIR, ""
    return FILE, ""


def zip_entry_mtime(info: zipfile.ZipInfo) -> float | None:
    """The entry's modification time: the zip's DOS local time (2-second steps)
    read as if UTC, so only the differences between entries mean anything.
    None for the DOS epoch (1980-01-01 00:00), which tools write for "no time"."""
    try:
        stamp = tuple(int(v) for v in info.date_time)
        if len(stamp) != 6 or stamp <= (1980, 1, 1, 0, 0, 0):
            return None
        return float(calendar.timegm((*stamp, 0, 0, 0)))
    except (TypeError, ValueError, OverflowError):
        return None


def folder_file_chunks(path: Path) -> Callable[[Progress], Iterator[bytes]]:
    """Stream a regular file without following a link put in its place meanwhile."""

    def chunks(progress: Progress) -> Iterator[bytes]:
        try:
            handle = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
        except OSError as error:
            raise EntryError("read-failed", f"could not be read ({error.strerror})") from None
        with os.fdopen(handle, "rb") as source:
            if not stat.S_ISREG(os.fstat(source.fileno()).st_mode):
                raise EntryError("special-file", "is not a regular file")
            while chunk := source.read(CHUNK):
                progress.consumed += len(chunk)
                yield chunk

    return chunks
