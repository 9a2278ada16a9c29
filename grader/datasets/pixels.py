"""One image of an instructor's data set as Keras would give it to a model.

Decoded with Pillow under the grader's pixel cap (checked from the header,
before a pixel is decoded), converted to the data set's channels, and
resized the way the student's own input pipeline did:

- ``image_dataset_from_directory`` (Keras's default, and the default here):
  ``tf.image.resize`` without antialiasing, half-pixel centres, computed here
  in numpy in float32 exactly as TensorFlow's kernels do ("bilinear",
  "nearest"). Pillow's own bilinear filter antialiases when it shrinks an
  image, which Keras's does not: up to 50 levels of 255 apart.
- ``load_img`` (``ImageDataGenerator.flow_from_directory``): Pillow's resize,
  which is what that utility calls ("nearest" is its default).

PNG, BMP and GIF pixels then equal Keras's (to the rounding to uint8). A
JPEG differs by a few levels: TensorFlow decodes with libjpeg's fast integer
IDCT, Pillow with its accurate one (which equals TensorFlow's
``dct_method="INTEGER_ACCURATE"``), noise far below what moves a prediction.
"""

from __future__ import annotations

import io
import warnings
from pathlib import Path

import numpy as np

from grader.limits import MAX_IMAGE_PIXELS

# What Keras's image_dataset_from_directory lists (and decodes); other files are skipped, as Keras does.
KERAS_IMAGE_EXTENSIONS = (".bmp", ".gif", ".jpeg", ".jpg", ".png")
# The decoders for those; no other Pillow plugin is ever used on these files.
OPENED_FORMATS = ("PNG", "JPEG", "GIF", "BMP")
MAX_IMAGE_BYTES = 64 * 1024 * 1024
MODES_FOR_CHANNELS = {1: "L", 3: "RGB", 4: "RGBA"}
# Pillow modes Keras's decoder also reads as 8-bit images.
EIGHT_BIT_MODES = {"1", "L", "LA", "P", "PA", "RGB", "RGBA", "RGBX", "YCbCr"}

RESIZERS = ("image_dataset_from_directory", "load_img")
INTERPOLATIONS = {
    "image_dataset_from_directory": ("bilinear", "nearest"),
    "load_img": ("nearest", "bilinear", "bicubic", "hamming", "box", "lanczos"),
}


class OddImage(Exception):
    """An image left out of the data set; the message is the reason, in a few words."""


def decode(path: Path, size: tuple[int, int], channels: int, resize_like: str = RESIZERS[0],
           interpolation: str = "bilinear", max_pixels: int = MAX_IMAGE_PIXELS) -> np.ndarray:
    """``path`` as uint8 (height, width, channels); raises OddImage saying why not."""
    from PIL import Image, UnidentifiedImageError

    data = _read(path)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")   # the pixel cap below replaces the bomb warning; palette notes are noise
        try:
            image = Image.open(io.BytesIO(data), formats=OPENED_FORMATS)
        except Image.DecompressionBombError:
            raise OddImage(f"over the {max_pixels:,}-pixel limit") from None
        except (UnidentifiedImageError, OSError, ValueError, SyntaxError) as exc:
            raise OddImage(f"not an image Pillow can read ({type(exc).__name__})") from None
        with image:
            width, height = image.size
            if width * height > max_pixels:
                raise OddImage(f"{width}x{height} pixels, over the {max_pixels:,}-pixel limit")
            if width == 0 or height == 0:
                raise OddImage(f"no pixels ({width}x{height})")
            if image.mode not in EIGHT_BIT_MODES:
                raise OddImage(f"{image.mode} pixels (not 8-bit grey, palette or RGB), which Keras's "
                               "decoder does not read; save it again as an 8-bit PNG or an RGB JPEG")
            try:
                converted = image.convert(MODES_FOR_CHANNELS[channels])
                if resize_like == "load_img":
                    return _as_array(_pillow_resize(converted, size, interpolation), channels)
                pixels = _as_array(converted, channels)
            except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as exc:
                raise OddImage(f"damaged or cut short ({_short(exc)})") from None
    return tf_resize(pixels, size, interpolation)


def _read(path: Path) -> bytes:
    try:
        if path.stat().st_size > MAX_IMAGE_BYTES:
            raise OddImage(f"{path.stat().st_size:,} bytes, over the {MAX_IMAGE_BYTES:,}-byte limit")
        return path.read_bytes()
    except OSError as exc:
        raise OddImage(f"cannot be read ({exc.strerror or type(exc).__name__})") from None


def _short(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return text[:120]


def _as_array(image, channels: int) -> np.ndarray:
    pixels = np.asarray(image, dtype=np.uint8)
    return pixels.reshape(pixels.shape[0], pixels.shape[1], channels)


def _pillow_resize(image, size: tuple[int, int], interpolation: str):
    """keras.utils.load_img: Pillow's resize when the size differs, with that utility's filter names."""
    from PIL import Image

    height, width = size
    if image.size == (width, height):
        return image
    return image.resize((width, height), getattr(Image.Resampling, interpolation.upper()))


# ------------------------------------------------------- tf.image.resize in numpy


def _source_positions(in_size: int, out_size: int) -> np.ndarray:
    """TensorFlow's half-pixel-centre source coordinate of each output pixel, in float32."""
    scale = np.float32(in_size) / np.float32(out_size)
    return (np.arange(out_size, dtype=np.float32) + np.float32(0.5)) * scale


def _bilinear_axis(in_size: int, out_size: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(lower index, upper index, weight of the upper) per output pixel, as resize_bilinear computes them."""
    position = _source_positions(in_size, out_size) - np.float32(0.5)
    floor = np.floor(position)
    lower = np.maximum(floor, 0).astype(np.intp)
    upper = np.minimum(np.ceil(position), in_size - 1).astype(np.intp)
    return lower, upper, (position - floor).astype(np.float32)


def tf_resize(pixels: np.ndarray, size: tuple[int, int], interpolation: str = "bilinear") -> np.ndarray:
    """``tf.image.resize(pixels, size, method=interpolation)`` (no antialiasing), rounded to uint8."""
    height, width = size
    if interpolation == "nearest":
        rows = np.minimum(np.floor(_source_positions(pixels.shape[0], height)), pixels.shape[0] - 1).astype(np.intp)
        cols = np.minimum(np.floor(_source_positions(pixels.shape[1], width)), pixels.shape[1] - 1).astype(np.intp)
        return np.ascontiguousarray(pixels[rows][:, cols])
    if interpolation != "bilinear":
        raise ValueError(f"interpolation {interpolation!r} is not one of {INTERPOLATIONS[RESIZERS[0]]}")
    source = pixels.astype(np.float32)
    top_row, bottom_row, y_weight = _bilinear_axis(pixels.shape[0], height)
    left, right, x_weight = _bilinear_axis(pixels.shape[1], width)
    x_weight = x_weight[None, :, None]
    top, bottom = source[top_row], source[bottom_row]
    upper = top[:, left] + (top[:, right] - top[:, left]) * x_weight
    lower = bottom[:, left] + (bottom[:, right] - bottom[:, left]) * x_weight
    resized = upper + (lower - upper) * y_weight[:, None, None]
    return np.clip(np.rint(resized), 0, 255).astype(np.uint8)
