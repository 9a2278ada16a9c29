"""A corpus of hostile and broken submissions, built with zipfile and raw bytes.

Each builder writes one archive into ``folder`` and returns a ``Case`` saying
which problem code intake must report and which name its message must
mention. ``sentinel`` is the path a zip-slip in the corpus aims at: intake
must never create it.
"""

from __future__ import annotations

import io
import random
import stat
import struct
import tarfile
import warnings
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from grader.limits import ExtractionLimits

MIB = 1024 * 1024


@dataclass
class Case:
    path: Path
    code: str                       # the problem code intake must report
    mention: str                    # text that problem's message must contain
    limits: dict[str, Any] = field(default_factory=dict)   # ExtractionLimits overrides
    usable: bool | None = None      # expected Intake.usable, when it is certain
    kept: dict[str, bytes] = field(default_factory=dict)   # root-relative files that must survive, with content

    def extraction_limits(self, base: ExtractionLimits) -> ExtractionLimits:
        return base.model_copy(update=self.limits)


# ------------------------------------------------------------------ helpers


def info(name: str, mode: int | None = None, method: int = zipfile.ZIP_DEFLATED) -> zipfile.ZipInfo:
    entry = zipfile.ZipInfo(name, date_time=(2024, 10, 6, 21, 14, 4))
    entry.compress_type = method
    if mode is not None:
        entry.create_system = 3
        entry.external_attr = mode << 16
    return entry


def write_zip(path: Path, entries: list[tuple[str | zipfile.ZipInfo, bytes]], method: int = zipfile.ZIP_DEFLATED) -> Path:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")          # duplicate names are the point of some cases
        with zipfile.ZipFile(path, "w", method) as archive:
            for name, data in entries:
                archive.writestr(name if isinstance(name, zipfile.ZipInfo) else info(name, method=method), data)
    return path


def random_bytes(size: int, seed: int = 650) -> bytes:
    return random.Random(seed).randbytes(size)


def stream_zeros(archive: zipfile.ZipFile, name: str, size: int, method: int = zipfile.ZIP_DEFLATED) -> None:
    zeros = bytes(MIB)
    with archive.open(info(name, method=method), "w", force_zip64=size > 2 * 1024 * MIB) as out:
        for _ in range(size // MIB):
            out.write(zeros)


def patch_entry(path: Path, name: str, **fields: int) -> None:
    """Rewrite header fields of entry ``name`` in both its local and central headers.

    Fields: flags, method, crc, compressed_size, file_size, offset (central only).
    """
    local_at = {"flags": 6, "method": 8, "crc": 14, "compressed_size": 18, "file_size": 22}
    central_at = {"flags": 8, "method": 10, "crc": 16, "compressed_size": 20, "file_size": 24, "offset": 42}
    formats = {"flags": "<H", "method": "<H", "crc": "<I", "compressed_size": "<I", "file_size": "<I", "offset": "<I"}
    data = bytearray(path.read_bytes())
    for record, header_offset in _central_records(data):
        name_length = struct.unpack_from("<H", data, record + 28)[0]
        if data[record + 46 : record + 46 + name_length].decode("cp437") != name:
            continue
        for key, value in fields.items():
            struct.pack_into(formats[key], data, record + central_at[key], value)
            if key in local_at:
                struct.pack_into(formats[key], data, header_offset + local_at[key], value)
    path.write_bytes(bytes(data))


def _central_records(data: bytearray) -> list[tuple[int, int]]:
    end = data.rfind(b"PK\x05\x06")
    count, _size, start = struct.unpack_from("<HII", data, end + 10)
    records, at = [], start
    for _ in range(count):
        name_length, extra_length, comment_length = struct.unpack_from("<HHH", data, at + 28)
        records.append((at, struct.unpack_from("<I", data, at + 42)[0]))
        at += 46 + name_length + extra_length + comment_length
    return records


def entry_offset(path: Path, name: str) -> int:
    with zipfile.ZipFile(path) as archive:
        return archive.getinfo(name).header_offset


GOOD = ("assignment06/results/metrics.txt", b"test accuracy: 0.99\n")


# ----------------------------------------------------------------- builders


def zip_slip(folder: Path, sentinel: Path) -> Case:
    target = "assignment06/../../../" + sentinel.name
    path = write_zip(folder / "assignment06_SlipZip.zip", [GOOD, (target, b"pwned")])
    return Case(path, "zip-slip", sentinel.name, kept={"results/metrics.txt": GOOD[1]})


def zip_slip_backslash(folder: Path, sentinel: Path) -> Case:
    path = write_zip(folder / "assignment06_SlipBack.zip", [GOOD, ("assignment06\\..\\..\\..\\" + sentinel.name, b"pwned")])
    return Case(path, "zip-slip", sentinel.name)


def absolute_path(folder: Path, sentinel: Path) -> Case:
    path = write_zip(folder / "assignment06_AbsPath.zip", [GOOD, (str(sentinel), b"pwned")])
    return Case(path, "absolute-path", sentinel.name)


def drive_letter(folder: Path, sentinel: Path) -> Case:
    path = write_zip(folder / "assignment06_DriveLetter.zip", [GOOD, ("C:\\Windows\\" + sentinel.name, b"pwned")])
    return Case(path, "absolute-path", "C:")


def symlink_escape(folder: Path, sentinel: Path) -> Case:
    """A link to the sentinel's folder, then a file written 'through' it."""
    link = info("assignment06/escape", mode=stat.S_IFLNK | 0o777)
    path = write_zip(folder / "assignment06_LinkEscape.zip", [
        GOOD, (link, str(sentinel.parent).encode()), ("assignment06/escape/" + sentinel.name, b"pwned"),
    ])
    return Case(path, "symlink", "assignment06/escape")


def symlink_file(folder: Path, sentinel: Path) -> Case:
    link = info("assignment06/results/model.h5", mode=stat.S_IFLNK | 0o777)
    path = write_zip(folder / "assignment06_LinkFile.zip", [GOOD, (link, b"/etc/passwd")])
    return Case(path, "symlink", "model.h5")


def fifo(folder: Path, sentinel: Path) -> Case:
    path = write_zip(folder / "assignment06_Fifo.zip", [GOOD, (info("assignment06/results/pipe", mode=stat.S_IFIFO | 0o644), b"")])
    return Case(path, "special-file", "results/pipe")


def char_device(folder: Path, sentinel: Path) -> Case:
    path = write_zip(folder / "assignment06_Device.zip", [GOOD, (info("assignment06/results/zero", mode=stat.S_IFCHR | 0o644), b"")])
    return Case(path, "special-file", "results/zero")


def encrypted(folder: Path, sentinel: Path) -> Case:
    path = write_zip(folder / "assignment06_Encrypted.zip", [GOOD, ("assignment06/results/secret.h5", b"\x01" * 100)])
    patch_entry(path, "assignment06/results/secret.h5", flags=0x1)
    return Case(path, "encrypted-entry", "secret.h5", kept={"results/metrics.txt": GOOD[1]})


def duplicate_name(folder: Path, sentinel: Path) -> Case:
    path = write_zip(folder / "assignment06_Duplicate.zip", [GOOD, (GOOD[0], b"second copy\n")])
    return Case(path, "duplicate-name", "metrics.txt", kept={"results/metrics.txt": GOOD[1]})


def case_duplicate(folder: Path, sentinel: Path) -> Case:
    path = write_zip(folder / "assignment06_CaseDuplicate.zip", [
        ("assignment06/results/Model.h5", b"first"), ("assignment06/results/model.h5", b"second"),
    ])
    return Case(path, "duplicate-name", "results/model.h5", kept={"results/Model.h5": b"first"})


def too_many_entries(folder: Path, sentinel: Path) -> Case:
    count = ExtractionLimits().max_entries + 1
    path = folder / "assignment06_ManyEntries.zip"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as archive:
        for index in range(count):
            archive.writestr(info(f"assignment06/results/f{index}.txt", method=zipfile.ZIP_STORED), b"")
    return Case(path, "too-many-entries", path.name, usable=False)


def lying_size_large(folder: Path, sentinel: Path) -> Case:
    """Header claims 100 bytes; the entry really holds 3 MiB (limit 1 MiB)."""
    path = write_zip(folder / "assignment06_LyingSize.zip", [GOOD, ("assignment06/results/model.h5", random_bytes(3 * MIB))])
    patch_entry(path, "assignment06/results/model.h5", file_size=100)
    return Case(path, "entry-too-large", "model.h5", limits={"max_entry_bytes": MIB}, kept={"results/metrics.txt": GOOD[1]})


def lying_size_bomb(folder: Path, sentinel: Path) -> Case:
    """Header claims 100 bytes; the entry is 64 MiB of zeros."""
    path = folder / "assignment06_LyingBomb.zip"
    with zipfile.ZipFile(path, "w") as archive:
        stream_zeros(archive, "assignment06/results/predictions.csv", 64 * MIB)
    patch_entry(path, "assignment06/results/predictions.csv", file_size=100)
    return Case(path, "compression-ratio", "predictions.csv")


def size_mismatch(folder: Path, sentinel: Path) -> Case:
    path = write_zip(folder / "assignment06_SizeMismatch.zip", [GOOD, ("assignment06/results/model.h5", random_bytes(4000))])
    patch_entry(path, "assignment06/results/model.h5", file_size=9000)
    return Case(path, "size-mismatch", "model.h5")


def archive_too_large(folder: Path, sentinel: Path) -> Case:
    path = write_zip(folder / "assignment06_BigArchive.zip", [("assignment06/results/model.h5", random_bytes(64 * 1024))])
    return Case(path, "archive-too-large", path.name, limits={"max_archive_bytes": 16 * 1024}, usable=False)


def total_too_large(folder: Path, sentinel: Path) -> Case:
    entries = [(f"assignment06/results/part{index}.bin", random_bytes(MIB, seed=index)) for index in range(4)]
    path = write_zip(folder / "assignment06_BigTotal.zip", entries)
    return Case(path, "total-too-large", path.name, limits={"max_total_bytes": 2 * MIB + 1000})


def zip_bomb(folder: Path, sentinel: Path) -> Case:
    """200 MiB of zeros deflated to about 200 kB."""
    path = folder / "assignment06_Bomb.zip"
    with zipfile.ZipFile(path, "w") as archive:
        stream_zeros(archive, "assignment06/results/model.h5", 200 * MIB)
    return Case(path, "compression-ratio", "model.h5", usable=False)


def bzip2_bomb(folder: Path, sentinel: Path) -> Case:
    """bzip2 expands further than deflate; zipfile's own reader would not bound it."""
    path = folder / "assignment06_Bzip2Bomb.zip"
    with zipfile.ZipFile(path, "w") as archive:
        stream_zeros(archive, "assignment06/results/model.h5", 96 * MIB, method=zipfile.ZIP_BZIP2)
    return Case(path, "compression-ratio", "model.h5", usable=False)


def many_small_bombs(folder: Path, sentinel: Path) -> Case:
    """Each entry stays under the per-entry grace; together they blow the overall ratio."""
    path = folder / "assignment06_SmallBombs.zip"
    with zipfile.ZipFile(path, "w") as archive:
        for index in range(40):
            stream_zeros(archive, f"assignment06/results/part{index}.bin", MIB)
    return Case(path, "compression-ratio", path.name)


def nested_42(folder: Path, sentinel: Path) -> Case:
    """42.zip in miniature: zips of zips of zips of zeros. None may be opened."""
    leaf = io.BytesIO()
    with zipfile.ZipFile(leaf, "w") as archive:
        stream_zeros(archive, "zeros.bin", 4 * MIB)
    level = leaf.getvalue()
    for depth in range(2):
        outer = io.BytesIO()
        with zipfile.ZipFile(outer, "w", zipfile.ZIP_STORED) as archive:
            for index in range(4):
                archive.writestr(f"lib{depth}_{index}.zip", level)
        level = outer.getvalue()
    path = folder / "assignment06_FortyTwo.zip"
    path.write_bytes(level)
    return Case(path, "nested-archive", "lib1_0.zip")


def nested_chain(folder: Path, sentinel: Path) -> Case:
    """A zip holding only a zip holding only a zip: exactly one level is opened."""
    innermost = io.BytesIO()
    with zipfile.ZipFile(innermost, "w") as archive:
        archive.writestr("assignment06/results/metrics.txt", GOOD[1])
    middle = io.BytesIO()
    with zipfile.ZipFile(middle, "w") as archive:
        archive.writestr("assignment06_deeper.zip", innermost.getvalue())
    path = write_zip(folder / "assignment06_Chain.zip", [("assignment06_DoeJane.zip", middle.getvalue())])
    return Case(path, "nested-archive", "assignment06_deeper.zip", kept={"assignment06_deeper.zip": innermost.getvalue()})


def path_too_deep(folder: Path, sentinel: Path) -> Case:
    deep = "/".join(["d"] * (ExtractionLimits().max_depth + 5))
    path = write_zip(folder / "assignment06_Deep.zip", [GOOD, (f"assignment06/{deep}/x.txt", b"deep")])
    return Case(path, "path-too-deep", "d/d/d/x.txt")


def bad_crc(folder: Path, sentinel: Path) -> Case:
    path = write_zip(folder / "assignment06_BadCrc.zip", [GOOD, ("assignment06/results/model.h5", random_bytes(5000))])
    with zipfile.ZipFile(path) as archive:
        crc = archive.getinfo("assignment06/results/model.h5").CRC
    patch_entry(path, "assignment06/results/model.h5", crc=crc ^ 0xFFFF)
    return Case(path, "bad-crc", "model.h5", usable=True, kept={"results/metrics.txt": GOOD[1]})


def corrupt_entry_data(folder: Path, sentinel: Path) -> Case:
    path = write_zip(folder / "assignment06_CorruptData.zip", [("assignment06/results/model.h5", b"abc" * 2000), GOOD])
    data = bytearray(path.read_bytes())
    start = 30 + len("assignment06/results/model.h5")
    data[start : start + 8] = b"\xff" * 8           # deflate block type 3 does not exist
    path.write_bytes(bytes(data))
    return Case(path, "corrupt-entry", "model.h5", kept={"results/metrics.txt": GOOD[1]})


def truncated(folder: Path, sentinel: Path) -> Case:
    full = write_zip(folder / "full.zip", [GOOD, ("assignment06/results/model.h5", random_bytes(20000))])
    path = folder / "assignment06_Truncated.zip"
    path.write_bytes(full.read_bytes()[:12000])
    full.unlink()
    return Case(path, "corrupt-archive", path.name, usable=False)


def corrupt_garbage(folder: Path, sentinel: Path) -> Case:
    path = folder / "assignment06_Garbage.zip"
    path.write_bytes(b"PK\x03\x04" + random_bytes(3000))
    return Case(path, "corrupt-archive", path.name, usable=False)


def empty_file(folder: Path, sentinel: Path) -> Case:
    path = folder / "assignment06_EmptyFile.zip"
    path.write_bytes(b"")
    return Case(path, "empty-archive", path.name, usable=False)


def empty_zip(folder: Path, sentinel: Path) -> Case:
    path = write_zip(folder / "assignment06_EmptyZip.zip", [])
    return Case(path, "empty-archive", path.name, usable=False)


def junk_only(folder: Path, sentinel: Path) -> Case:
    path = write_zip(folder / "assignment06_JunkOnly.zip", [
        ("__MACOSX/assignment06/._metrics.txt", b"\x00\x05\x16\x07"), ("assignment06/.DS_Store", b"\x00\x00\x00\x01Bud1"),
        ("assignment06/results/model.h5:Zone.Identifier", b"[ZoneTransfer]\r\nZoneId=3\r\n"), ("Thumbs.db", b"x"),
    ])
    return Case(path, "empty-archive", path.name, usable=False)


def png_renamed(folder: Path, sentinel: Path) -> Case:
    from PIL import Image

    path = folder / "assignment06_Picture.zip"
    Image.new("RGB", (8, 8), "red").save(path, format="PNG")
    return Case(path, "not-a-zip", "PNG image", usable=False)


def rar(folder: Path, sentinel: Path) -> Case:
    path = folder / "assignment06_Rar.zip"
    path.write_bytes(b"Rar!\x1a\x07\x01\x00" + random_bytes(500))
    return Case(path, "not-a-zip", "RAR archive", usable=False)


def seven_zip(folder: Path, sentinel: Path) -> Case:
    path = folder / "assignment06_Seven.zip"
    path.write_bytes(b"7z\xbc\xaf\x27\x1c\x00\x04" + random_bytes(500))
    return Case(path, "not-a-zip", "7-Zip", usable=False)


def tar_gz(folder: Path, sentinel: Path) -> Case:
    path = folder / "assignment06_Tarball.zip"
    with tarfile.open(path, "w:gz") as archive:
        data = GOOD[1]
        member = tarfile.TarInfo(GOOD[0])
        member.size = len(data)
        archive.addfile(member, io.BytesIO(data))
    return Case(path, "not-a-zip", "gzip", usable=False)


def unsupported_method(folder: Path, sentinel: Path) -> Case:
    path = write_zip(folder / "assignment06_Deflate64.zip", [GOOD, ("assignment06/results/model.h5", random_bytes(3000))])
    patch_entry(path, "assignment06/results/model.h5", method=9)
    return Case(path, "unsupported-compression", "model.h5", kept={"results/metrics.txt": GOOD[1]})


def overlap_shared(folder: Path, sentinel: Path) -> Case:
    """Two index entries pointing at one stored body (a full-overlap zip bomb)."""
    path = write_zip(folder / "assignment06_Shared.zip", [
        ("assignment06/results/a.bin", random_bytes(2000)), ("assignment06/results/b.bin", random_bytes(2000, seed=2)),
    ])
    patch_entry(path, "assignment06/results/b.bin", offset=entry_offset(path, "assignment06/results/a.bin"))
    return Case(path, "overlapping-entries", "b.bin")


def overlap_quoted(folder: Path, sentinel: Path) -> Case:
    """The first entry's data is claimed to run over the second entry's header."""
    path = write_zip(folder / "assignment06_Quoted.zip", [
        ("assignment06/results/a.bin", random_bytes(2000)), ("assignment06/results/b.bin", random_bytes(2000, seed=2)),
    ], method=zipfile.ZIP_STORED)
    patch_entry(path, "assignment06/results/a.bin", compressed_size=3000)
    return Case(path, "overlapping-entries", "a.bin")


def unsafe_name(folder: Path, sentinel: Path) -> Case:
    path = write_zip(folder / "assignment06_Blank.zip", [GOOD, ("assignment06/   /notes.txt", b"x")])
    return Case(path, "unsafe-name", "notes.txt")


def windows_illegal(folder: Path, sentinel: Path) -> Case:
    path = write_zip(folder / "assignment06_Illegal.zip", [
        GOOD, ("assignment06/results/acc:val?.png ", b"png"), ("assignment06/CON.txt", b"con"),
    ])
    return Case(path, "renamed-entry", "acc:val?.png", kept={"results/acc_val_.png": b"png", "_CON.txt": b"con"})


def path_conflict(folder: Path, sentinel: Path) -> Case:
    path = write_zip(folder / "assignment06_Conflict.zip", [
        ("assignment06/results", b"a file named like a folder"), ("assignment06/results/metrics.txt", b"x"),
    ])
    return Case(path, "path-conflict", "results/metrics.txt")


def bad_utf8_flag(folder: Path, sentinel: Path) -> Case:
    path = write_zip(folder / "assignment06_BadUtf8.zip", [("assignment06/results/caf\u00e9.txt", b"x")])
    data = path.read_bytes().replace("caf\u00e9".encode("utf-8"), b"caf\xff\xfe")
    path.write_bytes(data)
    return Case(path, "corrupt-archive", path.name, usable=False)


HOSTILE: dict[str, Callable[[Path, Path], Case]] = {
    builder.__name__: builder
    for builder in (
        zip_slip, zip_slip_backslash, absolute_path, drive_letter, symlink_escape, symlink_file, fifo, char_device,
        encrypted, duplicate_name, case_duplicate, too_many_entries, lying_size_large, lying_size_bomb,
        size_mismatch, archive_too_large, total_too_large, zip_bomb, bzip2_bomb, many_small_bombs, nested_42,
        nested_chain, path_too_deep, bad_crc, corrupt_entry_data, truncated, corrupt_garbage, empty_file,
        empty_zip, junk_only, png_renamed, rar, seven_zip, tar_gz, unsupported_method, overlap_shared,
        overlap_quoted, unsafe_name, windows_illegal, path_conflict, bad_utf8_flag,
    )
}


def raw_name_zip(path: Path, names: dict[str, bytes]) -> Path:
    """A zip whose names are stored as the given raw bytes, without the UTF-8 flag.

    Each key is an ASCII placeholder exactly as long as its raw bytes.
    """
    write_zip(path, [(placeholder, b"content") for placeholder in names], method=zipfile.ZIP_STORED)
    data = path.read_bytes()
    for placeholder, raw in names.items():
        assert len(placeholder.encode()) == len(raw)
        data = data.replace(placeholder.encode(), raw)
    path.write_bytes(data)
    return path
