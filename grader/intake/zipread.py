"""Reading zip entries with bounded memory and honest byte counts.

``zipfile`` parses the central directory; the entry data is read here, from
the local header on, so that (1) every decompressor is asked for at most
``CHUNK`` bytes at a time (zipfile's bzip2 and LZMA readers are not bounded:
a few kilobytes of bzip2 can expand to gigabytes in one call), (2) the
compressed bytes actually consumed are counted, never the header's claim, and
(3) entries whose data overlaps the next entry (the "overlapping zip bomb")
are refused.
"""

from __future__ import annotations

import bz2
import lzma
import struct
import zipfile
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import BinaryIO, Protocol

CHUNK = 1024 * 1024                 # most bytes produced per step
INPUT_CHUNK = 64 * 1024             # compressed bytes read per step: ratios are measured finely
ENCRYPTED_FLAG = 0x1
_LOCAL_HEADER = struct.Struct("<4s22xHH")   # signature ... name length, extra length
_LOCAL_SIGNATURE = b"PK\x03\x04"
_EOCD = struct.Struct("<4sHHHHIIH")
_EOCD_SIGNATURE = b"PK\x05\x06"
_ZIP64_EOCD = struct.Struct("<4sQHHIIQQQQ")
_ZIP64_EOCD_SIGNATURE = b"PK\x06\x06"
_ZIP64_LOCATOR_SIZE = 20
_MAX_COMMENT = 0xFFFF


class EntryError(Exception):
    """One entry cannot be read; ``code`` is the problem code, ``reason`` plain words."""

    def __init__(self, code: str, reason: str) -> None:
        super().__init__(reason)
        self.code = code
        self.reason = reason


@dataclass
class Progress:
    consumed: int = 0     # compressed bytes read from the archive so far


@dataclass
class DirectorySize:
    """The end-of-central-directory record's claims, read before zipfile parses."""

    entries: int
    bytes: int


def read_directory_size(fh: BinaryIO, archive_size: int) -> DirectorySize | None:
    """Entry count and central-directory size from the end record, or None if absent."""
    tail_size = min(archive_size, _EOCD.size + _MAX_COMMENT)
    fh.seek(archive_size - tail_size)
    tail = fh.read(tail_size)
    at = tail.rfind(_EOCD_SIGNATURE)
    if at < 0 or len(tail) - at < _EOCD.size:
        return None
    record = _EOCD.unpack_from(tail, at)
    entries, size = record[4], record[5]
    zip64_at = at - _ZIP64_LOCATOR_SIZE - _ZIP64_EOCD.size
    if (entries == 0xFFFF or size == 0xFFFFFFFF) and zip64_at >= 0:
        record64 = _ZIP64_EOCD.unpack_from(tail, zip64_at)
        if record64[0] == _ZIP64_EOCD_SIGNATURE:
            entries, size = record64[7], record64[8]
    return DirectorySize(entries=entries, bytes=size)


def data_limits(infos: list[zipfile.ZipInfo], archive_size: int) -> dict[int, int]:
    """For each entry (by index), the offset its data must end before: the next local header."""
    offsets = sorted({info.header_offset for info in infos})
    following = {offset: nxt for offset, nxt in zip(offsets, offsets[1:] + [archive_size])}
    return {index: following[info.header_offset] for index, info in enumerate(infos)}


def entry_chunks(fh: BinaryIO, info: zipfile.ZipInfo, limit: int, progress: Progress) -> Iterator[bytes]:
    """Yield the entry's decompressed bytes, CHUNK at most at a time; raise EntryError.

    The CRC and the uncompressed size are checked at the end: a caller must
    discard what it wrote if this raises.
    """
    start = _data_start(fh, info)
    if start + info.compress_size > limit:
        raise EntryError(
            "overlapping-entries",
            "has data that runs into the next entry (a trick used by zip bombs, or a damaged archive)",
        )
    decompressor = _decompressor(info.compress_type, info.compress_size)
    remaining, crc, produced, stalls = info.compress_size, 0, 0, 0
    while not decompressor.eof:
        data = b""
        if decompressor.needs_input:
            if remaining == 0:
                if decompressor.ends_with_input:
                    break
                raise EntryError("corrupt-entry", "is cut short: its compressed data ends too early")
            fh.seek(start + progress.consumed)
            data = fh.read(min(INPUT_CHUNK, remaining))
            if not data:
                raise EntryError("corrupt-entry", "is cut short: the archive ends inside it")
            remaining -= len(data)
            progress.consumed += len(data)
        try:
            out = decompressor.decompress(data, CHUNK)
        except (zlib.error, OSError, EOFError, lzma.LZMAError, ValueError) as exc:
            raise EntryError("corrupt-entry", f"cannot be decompressed ({exc})") from None
        stalls = 0 if (out or data) else stalls + 1
        if stalls > 2:
            raise EntryError("corrupt-entry", "cannot be decompressed (the data stops making progress)")
        if out:
            crc = zlib.crc32(out, crc)
            produced += len(out)
            yield out
    if crc != info.CRC:
        raise EntryError("bad-crc", "is damaged: its checksum (CRC) does not match its content")
    if produced != info.file_size:
        raise EntryError(
            "size-mismatch",
            f"says it holds {info.file_size} bytes but holds {produced} (a damaged or crafted archive)",
        )


def _data_start(fh: BinaryIO, info: zipfile.ZipInfo) -> int:
    if info.header_offset < 0:   # zipfile computes it from the index; a damaged index gives less than 0
        raise EntryError("corrupt-entry", "is missing from the archive (the index points before its start)")
    fh.seek(info.header_offset)
    header = fh.read(_LOCAL_HEADER.size)
    if len(header) != _LOCAL_HEADER.size or not header.startswith(_LOCAL_SIGNATURE):
        raise EntryError("corrupt-entry", "is missing from the archive (its local header is not where the index says)")
    _, name_length, extra_length = _LOCAL_HEADER.unpack(header)
    return info.header_offset + _LOCAL_HEADER.size + name_length + extra_length


class _Decompressor(Protocol):
    eof: bool
    needs_input: bool
    ends_with_input: bool   # True when running out of input is a normal end

    def decompress(self, data: bytes, max_length: int) -> bytes: ...


def _decompressor(method: int, compressed_size: int) -> _Decompressor:
    if method == zipfile.ZIP_STORED:
        return _Stored(compressed_size)
    if method == zipfile.ZIP_DEFLATED:
        return _Inflate()
    if method == zipfile.ZIP_BZIP2:
        return _Bounded(bz2.BZ2Decompressor())
    if method == zipfile.ZIP_LZMA:
        return _ZipLzma()
    raise EntryError(
        "unsupported-compression",
        f"uses compression method {method}, which the grader cannot read (only store, deflate, bzip2 and LZMA)",
    )


class _Stored:
    ends_with_input = True
    needs_input = True

    def __init__(self, size: int) -> None:
        self._left = size

    @property
    def eof(self) -> bool:
        return self._left <= 0

    def decompress(self, data: bytes, max_length: int) -> bytes:
        self._left -= len(data)
        return data


class _Inflate:
    """zlib's raw inflate with the bz2-style needs_input interface."""

    ends_with_input = False

    def __init__(self) -> None:
        self._zlib = zlib.decompressobj(-zlib.MAX_WBITS)
        self._full = False     # the last call hit max_length: more output may be pending

    @property
    def eof(self) -> bool:
        return self._zlib.eof

    @property
    def needs_input(self) -> bool:
        return not self._zlib.unconsumed_tail and not self._full

    def decompress(self, data: bytes, max_length: int) -> bytes:
        out = self._zlib.decompress(self._zlib.unconsumed_tail + data, max_length)
        self._full = len(out) == max_length
        return out


class _Bounded:
    """bz2/lzma decompressors already bound their output; only the flag differs."""

    def __init__(self, inner: bz2.BZ2Decompressor | lzma.LZMADecompressor, ends_with_input: bool = False) -> None:
        self._inner = inner
        self.ends_with_input = ends_with_input

    @property
    def eof(self) -> bool:
        return self._inner.eof

    @property
    def needs_input(self) -> bool:
        return self._inner.needs_input

    def decompress(self, data: bytes, max_length: int) -> bytes:
        return self._inner.decompress(data, max_length)


class _ZipLzma:
    """LZMA as zip stores it: a 4-byte version/size header, 5 property bytes, raw LZMA1.

    The stream may lack an end marker (general purpose bit 1 unset), so the
    end of the compressed data is a normal end.
    """

    ends_with_input = True

    def __init__(self) -> None:
        self._header = b""
        self._inner: _Bounded | None = None

    @property
    def eof(self) -> bool:
        return self._inner is not None and self._inner.eof

    @property
    def needs_input(self) -> bool:
        return self._inner is None or self._inner.needs_input

    def decompress(self, data: bytes, max_length: int) -> bytes:
        if self._inner is None:
            self._header += data
            if len(self._header) < 9:
                return b""
            props_size = struct.unpack("<H", self._header[2:4])[0]
            if props_size != 5:
                raise ValueError(f"LZMA properties of {props_size} bytes")
            self._inner = _Bounded(lzma.LZMADecompressor(lzma.FORMAT_RAW, filters=[_lzma1_filter(self._header[4:9])]))
            data, self._header = self._header[9:], b""
        return self._inner.decompress(data, max_length)


def _lzma1_filter(props: bytes) -> dict[str, int]:
    packed, dict_size = props[0], struct.unpack("<I", props[1:5])[0]
    if packed >= 9 * 5 * 5:
        raise ValueError("bad LZMA properties")
    pb, rest = divmod(packed, 45)
    lp, lc = divmod(rest, 9)
    return {"id": lzma.FILTER_LZMA1, "dict_size": dict_size, "lc": lc, "lp": lp, "pb": pb}
