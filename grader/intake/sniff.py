"""Say what a file really is from its first bytes, for 'this is not a zip' messages."""

from __future__ import annotations

ZIP_SIGNATURES = (b"PK\x03\x04", b"PK\x05\x06", b"PK\x07\x08")

_SIGNATURES: tuple[tuple[bytes, str], ...] = (
    (b"\x89PNG\r\n\x1a\n", "a PNG image"),
    (b"\xff\xd8\xff", "a JPEG image"),
    (b"GIF87a", "a GIF image"),
    (b"GIF89a", "a GIF image"),
    (b"%PDF", "a PDF document"),
    (b"Rar!\x1a\x07", "a RAR archive"),
    (b"7z\xbc\xaf\x27\x1c", "a 7-Zip (.7z) archive"),
    (b"\x1f\x8b", "a gzip-compressed file (such as a .tar.gz)"),
    (b"BZh", "a bzip2-compressed file (such as a .tar.bz2)"),
    (b"\xfd7zXZ\x00", "an xz-compressed file (such as a .tar.xz)"),
    (b"\x89HDF\r\n\x1a\n", "an HDF5 file (such as a Keras .h5 model)"),
    (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", "an old-style Microsoft Office document"),
    (b"MSCF", "a Windows cabinet (.cab) file"),
    (b"MZ", "a Windows program (.exe)"),
)


def looks_like_zip(head: bytes) -> bool:
    return head.startswith(ZIP_SIGNATURES)


def describe_content(head: bytes) -> str:
    """A short phrase naming what ``head`` (the first bytes of a file) is."""
    if not head:
        return "an empty file"
    for signature, what in _SIGNATURES:
        if head.startswith(signature):
            return what
    if head[8:12] == b"WEBP" and head.startswith(b"RIFF"):
        return "a WebP image"
    if head[257:262] == b"ustar":
        return "a tar archive"
    if looks_like_zip(head):
        return "a damaged zip archive"
    text = head.lstrip().lower()
    if text.startswith((b"<!doctype html", b"<html")):
        return "a web page (HTML), perhaps an error page saved instead of the download"
    if text.startswith(b"{"):
        return "a text file in JSON format (such as a notebook)"
    if _is_text(head):
        return "a plain text file"
    return "a file of a kind the grader does not recognise"


def _is_text(head: bytes) -> bool:
    if b"\x00" in head:
        return False
    # The sample may end in the middle of a multi-byte character.
    for cut in range(4):
        try:
            head[: len(head) - cut].decode("utf-8")
            return True
        except UnicodeDecodeError:
            continue
    return False
