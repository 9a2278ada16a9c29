"""Students' own plots as small PNG thumbnails for the report.

A student's bytes never reach the HTML as they are: each image is decoded by
Pillow under a pixel cap and re-encoded as a fresh PNG. Anything that is not a
raster image Pillow can read (an SVG, a PDF, a broken file, a file outside the
submission) is reported as "could not be shown" with the reason.
"""

from __future__ import annotations

import io
import logging
import warnings
from dataclasses import dataclass
from pathlib import Path

from PIL import Image

from grader.limits import MAX_IMAGE_PIXELS
from grader.report.figures import png_data_uri

log = logging.getLogger(__name__)

THUMBNAIL_BOX = (800, 600)
RASTER_FORMATS = {"PNG", "JPEG", "GIF", "WEBP", "BMP", "TIFF"}
# Vector formats can carry scripts and links; they are never embedded.
VECTOR_SUFFIXES = {".svg", ".svgz", ".pdf", ".eps", ".ps"}


@dataclass
class Thumbnail:
    path: str                     # as the grade gave it, relative to the submission root
    data_uri: str | None = None
    reason: str = ""              # why it could not be shown
    width: int | None = None      # of the original image
    height: int | None = None


def thumbnail(root: str | Path | None, relative: str, max_pixels: int = MAX_IMAGE_PIXELS) -> Thumbnail:
    """Read ``root/relative`` as an image and return it as a PNG data URI."""
    shown = Thumbnail(path=str(relative))
    located = _locate(root, str(relative))
    if isinstance(located, str):
        shown.reason = located
        return shown
    try:
        _encode(located, max_pixels, shown)
    except Image.DecompressionBombError:
        shown.data_uri = None
        shown.reason = f"could not be shown: over the {max_pixels:,}-pixel limit"
    except Exception as exc:  # Pillow's decoders raise many kinds of errors on bad files
        log.info("plot %s could not be read: %s", located, exc)
        shown.data_uri = None
        shown.reason = "could not be shown: not an image the grader can read"
    return shown


def _locate(root: str | Path | None, relative: str) -> Path | str:
    """The file to read, or the reason there is none."""
    if root is None:
        return "could not be shown: the extracted files are no longer available"
    base = Path(root).resolve()
    candidate = (base / relative).resolve()
    if not candidate.is_relative_to(base):
        return "could not be shown: the path points outside the submission"
    if candidate.suffix.lower() in VECTOR_SUFFIXES:
        return f"could not be shown: {candidate.suffix.lower()} files are not embedded; save the plot as PNG"
    if not candidate.is_file():
        return "could not be shown: the file is missing"
    return candidate


def _encode(path: Path, max_pixels: int, shown: Thumbnail) -> None:
    with warnings.catch_warnings():
        # The pixel cap is enforced below, before any decoding, with our own limit.
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        with Image.open(path) as image:
            if image.format not in RASTER_FORMATS:
                shown.reason = f"could not be shown: {image.format or 'unknown'} images are not embedded"
                return
            shown.width, shown.height = image.size
            _shrink_before_decoding(image)
            if image.width * image.height > max_pixels:
                shown.reason = (
                    f"could not be shown: {shown.width}×{shown.height} pixels is over the "
                    f"{max_pixels:,}-pixel limit"
                )
                return
            small = _reduce(image)
            small.thumbnail(THUMBNAIL_BOX, Image.Resampling.LANCZOS)
            if small.mode not in ("RGB", "RGBA", "L", "LA"):
                small = small.convert("RGBA")
            buffer = io.BytesIO()
            small.save(buffer, format="PNG")
    shown.data_uri = png_data_uri(buffer.getvalue())


def _shrink_before_decoding(image: Image.Image) -> None:
    """JPEG can be decoded at 1/2, 1/4 or 1/8 scale; ask for the smallest that
    still fills the thumbnail, so a huge photo never decodes at full size."""
    if image.format == "JPEG":
        image.draft("RGB", THUMBNAIL_BOX)


def _reduce(image: Image.Image) -> Image.Image:
    """A cheap integer downscale of a large image before the careful resize."""
    factor = min(image.width // THUMBNAIL_BOX[0], image.height // THUMBNAIL_BOX[1])
    image.load()
    if factor >= 2 and image.mode in ("RGB", "RGBA", "L", "LA", "I", "F"):
        return image.reduce(factor)
    return image.copy()
