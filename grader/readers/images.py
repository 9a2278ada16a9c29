"""Plots and input pictures, opened with a pixel limit checked before decoding.

Pillow reads the size from the header on ``Image.open``; anything over the
limit is refused before a pixel is decoded. Large JPEGs are decoded at reduced
scale (``draft``), so even a 7848x5723 photo is quick to check.
"""

from __future__ import annotations

import hashlib
import io
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from PIL import Image, ImageOps, ImageStat, UnidentifiedImageError

from grader.limits import MAX_IMAGE_PIXELS
from grader.readers.errors import ReadError
from grader.records import ImageInfo

ANALYSIS_SIDE = 256       # blank detection works on a copy this size or smaller
BLANK_STDDEV = 2.0        # per-channel standard deviation under which an image is flat
BLANK_SHARE = 0.995       # share of pixels of one colour above which an image is blank
# Only these decoders are used: some Pillow plugins (EPS) would start a program to decode.
OPENED_FORMATS = ("PNG", "JPEG", "WEBP", "GIF", "BMP", "TIFF")  # JPEG also yields MPO
EXTENSIONS = {
    "JPEG": {".jpg", ".jpeg", ".jpe", ".jfif", ".pjpeg", ".pjp"},
    "MPO": {".jpg", ".jpeg", ".mpo"},  # phone photos: JPEG with extra frames
    "PNG": {".png"},
    "WEBP": {".webp"},
    "GIF": {".gif"},
    "BMP": {".bmp", ".dib"},
    "TIFF": {".tif", ".tiff"},
}


def read_image(path: Path, max_pixels: int = MAX_IMAGE_PIXELS) -> ImageInfo:
    """Format, size, blankness and hash of the image at ``path``.

    Raises ReadError("image-too-large") over ``max_pixels`` and
    ReadError("image-unreadable") for anything Pillow cannot fully decode.
    """
    data = _read_bytes(path)
    with _opened(path, data, max_pixels) as image:
        fmt = image.format or "unknown"
        width, height = image.size
        small = _reduced(image, ANALYSIS_SIDE, path)
    return ImageInfo(
        format=fmt,
        width=width,
        height=height,
        blank=is_blank(small),
        sha256=hashlib.sha256(data).hexdigest(),
        extension_mismatch=path.suffix.lower() not in EXTENSIONS.get(fmt, set()),
    )


def perceptual_hash(path: Path, max_pixels: int = MAX_IMAGE_PIXELS) -> str:
    """A 64-bit average hash as 16 hex digits: near-identical pictures differ in few bits."""
    with _opened(path, _read_bytes(path), max_pixels) as image:
        grey = _flattened(_reduced(image, 64, path)).convert("L").resize((8, 8), Image.Resampling.BOX)
    pixels = list(grey.getdata())
    mean = sum(pixels) / len(pixels)
    bits = "".join("1" if value > mean else "0" for value in pixels)
    return f"{int(bits, 2):016x}"


def hash_distance(first: str, second: str) -> int:
    """How many of the 64 bits two perceptual hashes differ in (0 = same picture)."""
    return bin(int(first, 16) ^ int(second, 16)).count("1")


def thumbnail_png(path: Path, max_side: int = 800, max_pixels: int = MAX_IMAGE_PIXELS) -> bytes:
    """A PNG no larger than ``max_side`` on either side, upright per EXIF, for reports."""
    with _opened(path, _read_bytes(path), max_pixels) as image:
        small = _reduced(image, max_side, path)
        try:
            small = ImageOps.exif_transpose(small)
        except Exception:  # a broken EXIF block should not cost the thumbnail
            pass
    if small.mode not in ("RGB", "RGBA", "L", "LA"):
        small = small.convert("RGBA" if "transparency" in small.info or small.mode in ("P", "PA") else "RGB")
    buffer = io.BytesIO()
    small.save(buffer, format="PNG", optimize=False)
    return buffer.getvalue()


def is_blank(image: Image.Image) -> bool:
    """One colour, or nearly: flat in every channel, or >99.5% of pixels the same."""
    rgb = _flattened(image)
    if max(ImageStat.Stat(rgb).stddev) < BLANK_STDDEV:
        return True
    total = rgb.width * rgb.height
    colours = rgb.getcolors(maxcolors=total)
    return bool(colours) and max(count for count, _ in colours) > BLANK_SHARE * total


# ------------------------------------------------------------------ helpers


def _read_bytes(path: Path) -> bytes:
    if not path.is_file():
        raise ReadError("image-unreadable", f"{path.name} is not a file: submit the image as a PNG or JPEG file.")
    return path.read_bytes()


@contextmanager
def _opened(path: Path, data: bytes, max_pixels: int) -> Iterator[Image.Image]:
    """The image, opened lazily, after its header size passed ``max_pixels``."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)  # the check below replaces it
        try:
            image = Image.open(io.BytesIO(data), formats=OPENED_FORMATS)
        except Image.DecompressionBombError:
            raise _too_large(path, None, max_pixels) from None
        except (UnidentifiedImageError, OSError, ValueError, SyntaxError) as exc:
            raise ReadError(
                "image-unreadable",
                f"{path.name} is not an image Pillow can read ({type(exc).__name__}): "
                "save it again as PNG (plots) or JPEG (photos).",
            ) from None
        with image:
            width, height = image.size
            if width * height > max_pixels:
                raise _too_large(path, (width, height), max_pixels)
            if width == 0 or height == 0:
                raise ReadError("image-unreadable", f"{path.name} has no pixels ({width}x{height}): save the image again.")
            yield image


def _too_large(path: Path, size: tuple[int, int] | None, max_pixels: int) -> ReadError:
    shown = f"{size[0]}x{size[1]} pixels" if size else "too many pixels"
    return ReadError(
        "image-too-large",
        f"{path.name} is {shown}, over the {max_pixels:,} the grader opens: save it smaller "
        "(for a plot, a lower dpi in savefig).",
    )


def _reduced(image: Image.Image, side: int, path: Path) -> Image.Image:
    """A decoded copy at most ``side`` pixels on its longer side (JPEGs decoded at reduced scale)."""
    try:
        if image.format in ("JPEG", "MPO"):
            image.draft("RGB", (side, side))
        image.thumbnail((side, side), Image.Resampling.BILINEAR, reducing_gap=2.0)  # in place: no full-size copy
        image.load()
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as exc:
        raise ReadError(
            "image-unreadable",
            f"{path.name} is damaged or cut short ({exc}): save the image again and resubmit it.",
        ) from None
    return image


def _flattened(image: Image.Image) -> Image.Image:
    """RGB, with any transparency composited onto white (how a viewer shows it)."""
    if image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info):
        rgba = image.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(background, rgba).convert("RGB")
    return image.convert("RGB")
