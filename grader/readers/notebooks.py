"""Notebooks and scripts, read as text: their code, printed outputs and images.

A notebook is JSON; ``nbformat.reads`` parses (and upgrades v3 to v4) without
executing anything. A ``.py`` script is read as text. :func:`source_mentions`
looks for dropout and augmentation written in code, for the 6.2b checks when
they are not visible in the saved model (an ImageDataGenerator, say).
"""

from __future__ import annotations

import base64
import binascii
import io
import re
import tokenize
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import nbformat

from grader.readers._files import decode_text, read_capped
from grader.limits import MAX_NOTEBOOK_BYTES, MAX_NOTEBOOK_IMAGE_BYTES, MAX_NOTEBOOK_IMAGES
from grader.readers.errors import ReadError

SCRIPT_SUFFIXES = {".py", ".pyw"}
IMAGE_MIME_TYPES = ("image/png", "image/jpeg")
# ImageDataGenerator arguments that change the pictures (rescale alone does not augment).
AUGMENTING_ARGUMENTS = {
    "rotation_range", "width_shift_range", "height_shift_range", "shear_range", "zoom_range",
    "horizontal_flip", "vertical_flip", "brightness_range", "channel_shift_range",
}
AUGMENTATION_LAYERS = (
    "RandomFlip", "RandomRotation", "RandomZoom", "RandomTranslation", "RandomContrast", "RandomCrop", "RandomBrightness",
)
_DROPOUT_CALL = re.compile(r"\b(?:Spatial|Alpha|Gaussian)?Dropout(?:1D|2D|3D)?\s*\(")
_AUGMENTATION_CALL = re.compile(rf"\b(?:{'|'.join(AUGMENTATION_LAYERS)})\s*\(")
_GENERATOR_CALL = re.compile(r"\bImageDataGenerator\s*\(")
_DISABLED_VALUES = {"0", "0.0", "0.", "False", "None", "''", '""', "(0, 0)", "[0, 0]"}


@dataclass
class NotebookCell:
    """One cell as saved: its kind, source and the text of its outputs, in order."""

    index: int                                          # 0-based position among all cells
    kind: str                                           # "code" | "markdown" | "raw"
    source: str
    outputs: list[str] = field(default_factory=list)    # stream text, text/plain results, errors
    execution_count: int | None = None                  # the "In [n]" Jupyter showed


@dataclass
class NotebookInfo:
    """A notebook's (or script's) code and what its saved outputs show."""

    cells_source: str                                  # all code cells, joined
    outputs_text: list[str] = field(default_factory=list)
    images: list[bytes] = field(default_factory=list)  # decoded PNG/JPEG outputs, size-capped
    kernel: str | None = None
    n_cells: int = 0
    cells: list[NotebookCell] = field(default_factory=list)  # every cell, markdown too, in order


def read_notebook(path: Path, *, cap: int = MAX_NOTEBOOK_BYTES) -> NotebookInfo:
    """Code, outputs and images of an ``.ipynb`` (v3 or v4), or the text of a ``.py`` script."""
    data = read_capped(path, cap, "notebook", "a notebook or script")
    text = decode_text(data)
    if path.suffix.lower() in SCRIPT_SUFFIXES:
        return NotebookInfo(cells_source=text, n_cells=1, cells=[NotebookCell(0, "code", text)])
    try:
        notebook = nbformat.reads(text, as_version=4)
    except Exception as exc:  # nbformat raises NotJSONError, ValidationError, KeyError... on bad input
        raise ReadError(
            "notebook-unreadable",
            f"{path.name} is not a readable Jupyter notebook ({type(exc).__name__}): "
            "save it again from Jupyter (File > Save) or export the code as a .py file.",
        ) from None
    cells = [cell for cell in notebook.get("cells", []) if isinstance(cell, dict)]
    sources, outputs, images, read_cells = [], [], [], []
    for index, cell in enumerate(cells):
        kind = str(cell.get("cell_type") or "")
        source = _text(cell.get("source", ""))
        if kind != "code":
            read_cells.append(NotebookCell(index, kind, source))
            continue
        sources.append(source)
        cell_outputs = []
        for output in cell.get("outputs", []) or []:
            if isinstance(output, dict):
                cell_outputs.extend(_output_texts(output))
                images.extend(_output_images(output, MAX_NOTEBOOK_IMAGES - len(images)))
        outputs.extend(cell_outputs)
        count = cell.get("execution_count")
        read_cells.append(NotebookCell(index, kind, source, cell_outputs, count if isinstance(count, int) else None))
    return NotebookInfo(
        cells_source="\n\n".join(sources),
        outputs_text=outputs,
        images=images,
        kernel=_kernel(notebook.get("metadata", {})),
        n_cells=len(cells),
        cells=read_cells,
    )


def source_mentions(text: str) -> dict[str, Any]:
    """Which regularisation the code writes, comments left out.

    Returns ``image_data_generator`` (an ImageDataGenerator call with an
    augmenting argument), ``dropout`` (a Dropout layer call),
    ``augmentation_layers`` (a RandomFlip/RandomRotation/... call), and
    ``evidence``: for each flag that is set, the first lines that set it.
    """
    code = _without_comments(text)
    generator_lines = [call for call in _calls(code, _GENERATOR_CALL) if _augmenting_arguments(call)]
    dropout_lines = _matching_lines(code, _DROPOUT_CALL)
    augmentation_lines = _matching_lines(code, _AUGMENTATION_CALL)
    return {
        "image_data_generator": bool(generator_lines),
        "dropout": bool(dropout_lines),
        "augmentation_layers": bool(augmentation_lines),
        "evidence": {
            name: lines[:3]
            for name, lines in (
                ("image_data_generator", [" ".join(call.split()) for call in generator_lines]),
                ("dropout", dropout_lines),
                ("augmentation_layers", augmentation_lines),
            )
            if lines
        },
    }


# ------------------------------------------------------------------ outputs


def _text(value: Any) -> str:
    return "".join(value) if isinstance(value, list) else str(value or "")


def _output_texts(output: dict[str, Any]) -> list[str]:
    kind = output.get("output_type")
    if kind == "stream":
        return [_text(output.get("text", ""))]
    if kind in ("execute_result", "display_data"):
        plain = (output.get("data") or {}).get("text/plain")
        return [_text(plain)] if plain else []
    if kind == "error":
        return [f"{output.get('ename', 'Error')}: {output.get('evalue', '')}"]
    return []


def _output_images(output: dict[str, Any], room: int) -> list[bytes]:
    images = []
    data = output.get("data") or {}
    for mime in IMAGE_MIME_TYPES:
        encoded = data.get(mime)
        if room <= 0 or not encoded:
            continue
        encoded = _text(encoded)
        if len(encoded) * 3 // 4 > MAX_NOTEBOOK_IMAGE_BYTES:
            continue
        try:
            images.append(base64.b64decode(encoded, validate=False))
            room -= 1
        except (binascii.Error, ValueError):
            continue
    return images


def _kernel(metadata: dict[str, Any]) -> str | None:
    spec = metadata.get("kernelspec") or {}
    language = metadata.get("language_info") or {}
    name = spec.get("name") or spec.get("display_name") or language.get("name")
    return str(name) if name else None


# --------------------------------------------------------------------- code


def _without_comments(text: str) -> str:
    """The code with ``#`` comments removed; IPython magics and odd cells fall back to a line filter."""
    try:
        tokens = [
            token for token in tokenize.generate_tokens(io.StringIO(text).readline)
            if token.type != tokenize.COMMENT
        ]
        return tokenize.untokenize(tokens)
    except (tokenize.TokenError, IndentationError, SyntaxError):
        return "\n".join(re.sub(r"(^|\s)#.*$", "", line) for line in text.splitlines())


def _matching_lines(code: str, pattern: re.Pattern[str]) -> list[str]:
    return [line.strip() for line in code.splitlines() if pattern.search(line)]


def _calls(code: str, pattern: re.Pattern[str]) -> list[str]:
    """The full text of each call matched by ``pattern``, up to its closing parenthesis."""
    calls = []
    for match in pattern.finditer(code):
        depth, end = 0, match.end() - 1
        for end in range(match.end() - 1, min(len(code), match.end() + 5000)):
            depth += (code[end] == "(") - (code[end] == ")")
            if depth == 0:
                break
        calls.append(code[match.start(): end + 1])
    return calls


def _augmenting_arguments(call: str) -> list[str]:
    found = []
    for name, value in re.findall(r"(\w+)\s*=\s*([^,\n)]+(?:\([^)]*\))?)", call):
        if name in AUGMENTING_ARGUMENTS and value.strip() not in _DISABLED_VALUES:
            found.append(name)
    return found
