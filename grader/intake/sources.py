"""The two kinds of source: a zip archive and a folder, read into an Extractor."""

from __future__ import annotations

import os
import stat
import struct
import tempfile
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import BinaryIO

from grader.records import Severity

from grader.intake.extract import (
    DIR, FILE, SPECIAL, SYMLINK, ExtractionStopped, Extractor, Member, folder_file_chunks, zip_entry_mtime,
    zip_member_kind,
)
from grader.intake.junk import is_junk
from grader.intake.names import UnsafeName, decode_name_bytes, decode_zip_name, split_entry_name
from grader.intake.sniff import describe_content, looks_like_zip
from grader.intake.zipread import ENCRYPTED_FLAG, EntryError, Progress, data_limits, entry_chunks, read_directory_size

# Bytes of central directory allowed per permitted entry (a 46-byte record plus
# name and extra fields, generously): a directory larger than this cannot hold
# an acceptable archive, and zipfile would read all of it into memory.
_DIRECTORY_BYTES_PER_ENTRY = 1024
_HEAD_BYTES = 512


def read_archive(path: Path, extractor: Extractor, rezip: str, open_nested: bool = True) -> None:
    """Extract the zip at ``path`` through ``extractor``; every failure becomes a problem."""
    log, limits, label = extractor.log, extractor.limits, extractor.label
    try:
        size = path.stat().st_size
        if extractor.archive_size is None:      # the outer archive: the overall ratio's base
            extractor.archive_size = size
        if size == 0:
            log.add("empty-archive", f"{label} is empty (0 bytes): the upload or download did not finish. {rezip}")
            return
        if size > limits.max_archive_bytes:
            log.add("archive-too-large", f"{label} is {size} bytes, more than the limit of "
                    f"{limits.max_archive_bytes} bytes. Leave out datasets and checkpoints and zip only your results. {rezip}")
            return
        with path.open("rb") as fh:
            infos = _list_entries(fh, size, extractor, rezip)
            if infos is None:
                return
            _extract_entries(fh, infos, size, extractor)
    except ExtractionStopped as stop:
        log.add(stop.code, stop.message)
        return
    except OSError as error:   # reading the archive itself failed; writes are handled per entry
        log.add("read-failed", f"{label} could not be read ({error.strerror or error}).")
        return
    if open_nested:
        _open_single_nested(extractor, rezip)


def _list_entries(fh: BinaryIO, size: int, extractor: Extractor, rezip: str) -> list[zipfile.ZipInfo] | None:
    log, limits, label = extractor.log, extractor.limits, extractor.label
    head = fh.read(_HEAD_BYTES)
    directory = read_directory_size(fh, size)
    allowed = limits.max_entries - extractor.entries_seen
    if directory and (directory.entries > allowed or directory.bytes > allowed * _DIRECTORY_BYTES_PER_ENTRY):
        log.add("too-many-entries", _too_many(label, extractor.entries_seen + directory.entries, limits.max_entries))
        return None
    try:
        with zipfile.ZipFile(fh) as archive:
            infos = archive.infolist()
    except UnicodeDecodeError:
        log.add("corrupt-archive", f"{label} is a damaged zip archive: it says its file names are UTF-8 but "
                f"they are not. {rezip}")
        return None
    except (zipfile.BadZipFile, OSError, EOFError, ValueError, struct.error, NotImplementedError) as exc:
        if looks_like_zip(head):
            log.add("corrupt-archive", f"{label} is a damaged zip archive ({exc}); it may have been cut short "
                    f"during upload or download. {rezip}")
        else:
            log.add("not-a-zip", f"{label} is not a zip archive: it is {describe_content(head)}. {rezip}")
        return None
    if len(infos) > allowed:
        log.add("too-many-entries", _too_many(label, extractor.entries_seen + len(infos), limits.max_entries))
        return None
    if not infos:
        log.add("empty-archive", f"{label} is a zip archive with nothing in it. {rezip}")
        return None
    extractor.entries_seen += len(infos)
    return infos


def _too_many(label: str, count: int, limit: int) -> str:
    # A nested archive's label is "outer.zip > inner.zip": the count covers both.
    return (f"{label} holds {count} entries, more than the limit of {limit}, so nothing was extracted. "
            "Leave out datasets, image folders you did not make, virtual environments and checkpoints.")


def _extract_entries(fh: BinaryIO, infos: list[zipfile.ZipInfo], size: int, extractor: Extractor) -> None:
    limits = data_limits(infos, size)
    used_offsets: set[int] = set()
    for index, info in enumerate(infos):
        kind, detail = zip_member_kind(info)
        shared = info.header_offset in used_offsets
        used_offsets.add(info.header_offset)
        extractor.add(Member(
            name=decode_zip_name(info),
            kind=kind,
            detail=detail,
            declared_size=info.file_size,
            encrypted=bool(info.flag_bits & ENCRYPTED_FLAG),
            chunks=_zip_chunks(fh, info, limits[index], shared),
            mtime=zip_entry_mtime(info),
        ))


def _zip_chunks(fh: BinaryIO, info: zipfile.ZipInfo, limit: int, shared: bool) -> Callable[[Progress], Iterator[bytes]]:
    def chunks(progress: Progress) -> Iterator[bytes]:
        if shared:
            raise EntryError("overlapping-entries", "shares its data with another entry (a trick used by zip bombs)")
        yield from entry_chunks(fh, info, limit, progress)

    return chunks


def _open_single_nested(extractor: Extractor, rezip: str) -> None:
    """An archive holding only one .zip (besides junk) is opened one level down."""
    if len(extractor.files) != 1:
        return
    (rel, record), = extractor.files.items()
    if not rel.lower().endswith(".zip"):
        return
    nested = extractor.work_dir / rel
    handle, temp_name = tempfile.mkstemp(dir=extractor.work_dir, prefix=".intake-nested-", suffix=".zip")
    os.close(handle)
    temp = Path(temp_name)
    os.replace(nested, temp)        # out of the way of what it holds
    extractor.forget(rel)
    outer_label = extractor.label
    extractor.label = f"{outer_label} > {rel}"
    try:
        read_archive(temp, extractor, rezip, open_nested=False)
    finally:
        extractor.label = outer_label
    if extractor.files:
        temp.unlink()
        extractor.log.add("nested-archive-opened", f"{outer_label} held only another zip, '{rel}'; it was opened "
                          "one level down. Next time zip the folder itself, not a zip of it.", Severity.INFO, path=rel)
    else:                           # nothing usable inside: keep the student's file as it was
        os.replace(temp, nested)
        extractor.files[rel] = record


def read_folder(source: Path, extractor: Extractor, skip: Path | None = None) -> None:
    """Copy the regular files of ``source`` through ``extractor``; links are never followed."""
    members = _folder_members(source, extractor, skip)
    if members is None:
        return
    try:
        for member in members:
            extractor.add(member)
    except ExtractionStopped as stop:
        extractor.log.add(stop.code, stop.message)


def _folder_members(source: Path, extractor: Extractor, skip: Path | None) -> list[Member] | None:
    limits, skip_real = extractor.limits, os.path.realpath(skip) if skip else None
    members: list[Member] = []
    pending = [(str(source), "")]
    while pending:
        folder, prefix = pending.pop()
        try:
            entries = sorted(os.scandir(folder), key=lambda entry: entry.name)
        except OSError as error:
            extractor.log.add("read-failed", f"{extractor.label}: the folder '{prefix or '.'}' could not be read "
                              f"({error.strerror}).", path=prefix or None)
            continue
        for entry in entries:
            name = f"{prefix}/{decode_name_bytes(os.fsencode(entry.name))}".lstrip("/")
            if skip_real and os.path.realpath(entry.path) == skip_real:
                continue            # the work folder itself lives inside the source
            member = _folder_member(entry, name)
            members.append(member)
            if member.kind == DIR and _should_descend(name, limits.max_depth):
                pending.append((entry.path, name))
            if len(members) > limits.max_entries:
                extractor.log.add("too-many-entries", _too_many(extractor.label, len(members), limits.max_entries)
                                  .replace(" holds ", " holds at least "))
                return None
    return members


def _should_descend(name: str, max_depth: int) -> bool:
    try:
        parts = split_entry_name(name)
    except UnsafeName:
        return False
    return not is_junk(parts) and len(parts) <= max_depth


def _folder_member(entry: os.DirEntry, name: str) -> Member:
    try:
        info = entry.stat(follow_symlinks=False)
    except OSError as error:
        return Member(name=name, kind=SPECIAL, detail=f"unreadable: {error.strerror}")
    if stat.S_ISLNK(info.st_mode):
        try:
            target = os.readlink(entry.path)
        except OSError:
            target = ""
        return Member(name=name, kind=SYMLINK, detail=target)
    if stat.S_ISDIR(info.st_mode):
        return Member(name=name, kind=DIR)
    if stat.S_ISREG(info.st_mode):
        return Member(name=name, kind=FILE, declared_size=info.st_size, chunks=folder_file_chunks(Path(entry.path)),
                      mtime=info.st_mtime)
    return Member(name=name, kind=SPECIAL, detail=_special_kind(info.st_mode))


def _special_kind(mode: int) -> str:
    for test, what in ((stat.S_ISFIFO, "named pipe"), (stat.S_ISSOCK, "socket"),
                       (stat.S_ISCHR, "character device"), (stat.S_ISBLK, "block device")):
        if test(mode):
            return what
    return "not a regular file"
