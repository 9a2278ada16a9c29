"""Entry names -> safe relative paths.

An archive stores names as bytes in some code page and may use ``\\`` as the
separator (Windows), ``..`` or a leading ``/`` or ``C:`` to climb out of the
folder it is extracted to, and characters Windows cannot store. Every name is
decoded, split on both separators, refused when it would leave the folder, and
made portable component by component.
"""

from __future__ import annotations

import hashlib
import re
import struct
import unicodedata
import zipfile
import zlib

UTF8_FLAG = 0x800                       # general purpose bit 11: names are UTF-8
INFOZIP_UNICODE_PATH = 0x7075           # extra field holding a UTF-8 copy of the name

_WINDOWS_ILLEGAL = re.compile(r'[<>:"|?*\x00-\x1f\x7f]')
_DRIVE = re.compile(r"^[A-Za-z]:")
_RESERVED = frozenset(
    ["con", "prn", "aux", "nul"] + [f"com{i}" for i in range(1, 10)] + [f"lpt{i}" for i in range(1, 10)]
)
_MAX_COMPONENT_BYTES = 255              # what common file systems accept


class UnsafeName(Exception):
    """A name that cannot be extracted; ``code`` is the problem code."""

    def __init__(self, code: str, reason: str) -> None:
        super().__init__(reason)
        self.code = code
        self.reason = reason


def decode_zip_name(info: zipfile.ZipInfo) -> str:
    """The entry's name as text, guessing the code page when the zip does not say."""
    if info.flag_bits & UTF8_FLAG:
        return info.orig_filename
    raw = info.orig_filename.encode("cp437")  # zipfile decoded with cp437: undo it exactly
    return _infozip_unicode_name(info.extra, raw) or decode_name_bytes(raw)


def decode_name_bytes(raw: bytes) -> str:
    """Bytes of a file name in an unknown encoding -> the most plausible text.

    UTF-8 first (macOS and Linux write it without setting the flag), then the
    DOS code page cp437 (Windows Explorer) or cp1252, whichever reads as more
    Latin letters than symbols (cp437 puts Greek letters and box drawing where
    cp1252 has accented letters).
    """
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        pass
    readings = []
    for prefer, codec in enumerate(("cp1252", "cp437")):  # cp437 wins ties: it is the zip default
        try:
            text = raw.decode(codec)
        except UnicodeDecodeError:
            continue
        readings.append((_letter_score(text), prefer, text))
    return max(readings)[2]


def _letter_score(text: str) -> int:
    non_ascii = [ch for ch in text if ord(ch) > 127]
    latin = sum(unicodedata.name(ch, "").startswith("LATIN") for ch in non_ascii)
    return 2 * latin - len(non_ascii)


def _infozip_unicode_name(extra: bytes, raw: bytes) -> str | None:
    """The UTF-8 name from an Info-ZIP Unicode Path extra field, if valid for ``raw``."""
    at = 0
    while at + 4 <= len(extra):
        field_id, size = struct.unpack("<HH", extra[at : at + 4])
        body = extra[at + 4 : at + 4 + size]
        at += 4 + size
        if field_id != INFOZIP_UNICODE_PATH or len(body) < 5 or body[0] != 1:
            continue
        if struct.unpack("<I", body[1:5])[0] != zlib.crc32(raw):
            continue  # the name was changed after the field was written
        try:
            return body[5:].decode("utf-8")
        except UnicodeDecodeError:
            return None
    return None


def split_entry_name(name: str) -> list[str]:
    """Split a stored name into path components, refusing names that leave the folder.

    ``\\`` counts as a separator (Windows zips store ``results\\model.h5``);
    empty and ``.`` components are dropped. Raises UnsafeName.
    """
    text = unicodedata.normalize("NFC", name).replace("\\", "/")
    if text.startswith("/"):
        raise UnsafeName("absolute-path", "is an absolute path (it starts with '/')")
    if _DRIVE.match(text):
        raise UnsafeName("absolute-path", f"is an absolute path (it starts with the drive letter '{text[:2]}')")
    parts = [part for part in text.split("/") if part not in ("", ".")]
    if ".." in parts:
        raise UnsafeName("zip-slip", "climbs out of the archive's folder with '..'")
    return parts


def safe_component(part: str) -> str:
    """A file or folder name every common file system accepts, as close to ``part`` as possible.

    Characters Windows forbids become ``_``; trailing spaces and dots go;
    device names (CON, NUL, ...) get a leading ``_``; over-long names are
    shortened with a hash. Raises UnsafeName when nothing is left.
    """
    cleaned = _WINDOWS_ILLEGAL.sub("_", part).rstrip(" .")
    if not cleaned:
        raise UnsafeName("unsafe-name", f"has a folder or file name ({part!r}) made only of spaces or dots")
    if cleaned.split(".")[0].rstrip().lower() in _RESERVED:
        cleaned = "_" + cleaned
    if len(cleaned.encode("utf-8")) > _MAX_COMPONENT_BYTES:
        cleaned = _shorten(cleaned)
    return cleaned


def _shorten(name: str) -> str:
    stem, dot, suffix = name.rpartition(".")
    if not dot or len(suffix) > 16:
        stem, suffix = name, ""
    tag = "-" + hashlib.sha1(name.encode("utf-8")).hexdigest()[:8] + (f".{suffix}" if suffix else "")
    budget = _MAX_COMPONENT_BYTES - len(tag.encode("utf-8"))
    short = stem.encode("utf-8")[:budget].decode("utf-8", errors="ignore")
    return short + tag


def casefold_key(path: str) -> str:
    """Key under which two paths collide on a case-insensitive file system."""
    return unicodedata.normalize("NFC", path).casefold()
