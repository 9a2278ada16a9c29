"""6.3's ImageNet predictions: which label ResNet50 gave each of the student's images.

Handled: the canonical CSV (``image,rank,wnid,label,probability``) and CSVs
with other column names; JSON maps of image -> predictions; and text in the
shapes students print: ``decode_predictions`` tuple lists (``[('n02108422',
'bull_mastiff', 0.51)]``, nested or not) on the image's line or on the line
after it; ``<path> -- Description : king_penguin-- Probability : 0.99``;
``Item: <label> Match: <p>`` blocks under an image line. Image paths (Windows
or POSIX) are reduced to base names; rank is the order within an image.
"""

from __future__ import annotations

import csv
import io
import json
import ntpath
import re
from pathlib import Path
from typing import Any

from grader.readers._files import decode_text, looks_binary, parse_number, read_capped
from grader.limits import MAX_IMAGENET_BYTES
from grader.readers.errors import ReadError
from grader.records import ImagenetPrediction

CANONICAL_HEADER = "image,rank,wnid,label,probability"
_FIX = f"write results/predictions/resnet50/predictions.csv with the header {CANONICAL_HEADER}, one row per image and label"
_IMAGE_EXTENSIONS = r"jpe?g|jfif|png|webp|gif|bmp|tiff?|heic|avif"
_NUMBER = r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?"
_PROBABILITY = rf"(?:np\.float(?:16|32|64)\()?(?P<p>{_NUMBER})\)?"

_IMAGE = re.compile(rf"^\s*(?:[A-Za-z ]{{2,12}}:\s*)?(?P<image>.{{0,400}}?\.(?:{_IMAGE_EXTENSIONS}))(?=$|[\s:,;'\"\])\-])", re.IGNORECASE)
_TUPLE = re.compile(rf"\(\s*['\"](?P<wnid>n\d{{8}})['\"]\s*,\s*['\"](?P<label>[^'\"]{{1,120}})['\"]\s*,\s*{_PROBABILITY}\s*\)")
_DESCRIPTION = re.compile(
    rf"Description\s*:\s*(?P<label>.{{1,120}}?)\s*-+\s*Probability\s*:\s*(?P<p>{_NUMBER})\s*(?P<pct>%)?", re.IGNORECASE
)
_ITEM = re.compile(rf"Item\s*:\s*(?P<label>.{{1,120}}?)\s+Match\s*:\s*(?P<p>{_NUMBER})\s*(?P<pct>%)?", re.IGNORECASE)

_COLUMNS = {
    "image": {"image", "img", "file", "filename", "imagename", "imagefile", "path", "imagepath", "filepath",
              "picture", "photo", "name"},
    "rank": {"rank", "top", "k", "position", "order"},
    "wnid": {"wnid", "synset", "classid", "imagenetid", "id", "code"},
    "label": {"label", "class", "classname", "prediction", "predicted", "predictedlabel", "predictedclass",
              "description", "category", "top1", "labelname"},
    "probability": {"probability", "prob", "score", "confidence", "p", "likelihood", "percent", "percentage", "match"},
}


def read_imagenet_predictions(path: Path, *, cap: int = MAX_IMAGENET_BYTES) -> list[ImagenetPrediction]:
    data = read_capped(path, cap, "imagenet", "a predictions listing")
    if looks_binary(data):
        raise ReadError("imagenet-unreadable", f"{path.name} is a binary file, not a predictions listing: {_FIX}.")
    text = decode_text(data)
    for parser in (_from_json, _from_csv, _from_text):
        predictions = parser(text)
        if predictions:
            return predictions
    images = _image_names(text)
    if images:
        raise ReadError(
            "no-labels",
            f"{path.name} lists {len(images)} image name{'s' if len(images) > 1 else ''} ({', '.join(images[:3])}) "
            f"but no predicted labels, so the predictions are missing: {_FIX}.",
        )
    raise ReadError("imagenet-unreadable", f"{path.name} holds no image names with predicted labels the grader can read: {_FIX}.")


def base_name(image: str) -> str:
    """``C:\\Users\\a\\images\\x.jpg`` or ``images/x.jpg`` -> ``x.jpg``."""
    return ntpath.basename(image.strip().strip("'\"").replace("/", "\\"))


def _probability(raw: str | None, percent: bool = False) -> float | None:
    value = parse_number(raw) if raw is not None else None
    if value is None:
        return None
    return value / 100 if percent or value > 1 else value


def _ranked(rows: list[tuple[str, str, float | None, str | None]]) -> list[ImagenetPrediction]:
    """Predictions numbered by order of appearance within each image."""
    ranks: dict[str, int] = {}
    predictions = []
    for image, label, probability, wnid in rows:
        ranks[image] = ranks.get(image, 0) + 1
        predictions.append(ImagenetPrediction(image=image, rank=ranks[image], label=label.strip(), probability=probability, wnid=wnid))
    return predictions


# -------------------------------------------------------------------- text


def _from_text(text: str) -> list[ImagenetPrediction]:
    rows: list[tuple[str, str, float | None, str | None]] = []
    current: str | None = None
    unnamed = 0
    for line in text.splitlines():
        image = _IMAGE.match(line)
        if image:  # on this line, or on a line of its own before the predictions
            current = base_name(image.group("image"))
        found = _line_predictions(line)
        if not found:
            continue
        name = current
        if name is None:  # predictions printed with no image name at all: numbered in order
            unnamed += 1
            name = f"#{unnamed}"
        rows.extend((name, label, probability, wnid) for label, probability, wnid in found)
    return _ranked(rows)


def _line_predictions(line: str) -> list[tuple[str, float | None, str | None]]:
    tuples = [(m.group("label"), _probability(m.group("p")), m.group("wnid")) for m in _TUPLE.finditer(line)]
    if tuples:
        return tuples
    for pattern in (_DESCRIPTION, _ITEM):
        matches = [(m.group("label"), _probability(m.group("p"), bool(m.group("pct"))), None) for m in pattern.finditer(line)]
        if matches:
            return matches
    return []


def _image_names(text: str) -> list[str]:
    names = []
    for line in text.splitlines():
        match = _IMAGE.match(line)
        if match:
            names.append(base_name(match.group("image")))
    return names


# --------------------------------------------------------------------- CSV


def _from_csv(text: str) -> list[ImagenetPrediction]:
    lines = [line for line in text.splitlines() if line.strip()]
    if len(lines) < 2:
        return []
    delimiter = next((d for d in (",", "\t", ";") if d in lines[0]), None)
    if delimiter is None:
        return []
    try:
        rows = list(csv.reader(io.StringIO("\n".join(lines)), delimiter=delimiter))
    except csv.Error:  # e.g. an unclosed quote running past the field limit
        return []
    columns = _header_columns(rows[0])
    if "image" not in columns or "label" not in columns:
        return []

    def cell(row: list[str], role: str) -> str | None:
        index = columns.get(role)
        return row[index].strip() if index is not None and index < len(row) else None

    found: list[tuple[float, tuple[str, str, float | None, str | None]]] = []
    for row in rows[1:]:
        image, label = cell(row, "image"), cell(row, "label")
        if not image or not label:
            continue
        rank = parse_number(cell(row, "rank") or "")
        tuples = _line_predictions(label)
        if tuples:  # a decode_predictions list inside the label cell
            found.extend((len(found), (base_name(image), lab, p, w)) for lab, p, w in tuples)
        else:
            prediction = (base_name(image), label, _probability(cell(row, "probability")), cell(row, "wnid") or None)
            found.append((rank if rank is not None else len(found), prediction))
    first_seen: dict[str, int] = {}
    for _, prediction in found:
        first_seen.setdefault(prediction[0], len(first_seen))
    found.sort(key=lambda item: (first_seen[item[1][0]], item[0]))  # images in file order, each by its rank
    return _ranked([prediction for _, prediction in found])


def _header_columns(header: list[str]) -> dict[str, int]:
    columns: dict[str, int] = {}
    for index, name in enumerate(header):
        key = re.sub(r"[^a-z0-9]", "", name.lower())
        for role, names in _COLUMNS.items():
            if key in names and role not in columns:
                columns[role] = index
                break
    return columns


# -------------------------------------------------------------------- JSON


def _from_json(text: str) -> list[ImagenetPrediction]:
    body = text.strip()
    if not body.startswith(("{", "[")):
        return []
    try:
        value = json.loads(body)
    except (json.JSONDecodeError, RecursionError):
        return []
    found: list[tuple[str, str, float | None, str | None]] = []
    if isinstance(value, dict):  # {"dog.jpg": [["n02108422", "bull_mastiff", 0.51], ...]}
        for image, entries in value.items():
            found.extend((base_name(str(image)), *entry) for entry in _json_entries(entries))
    elif isinstance(value, list):  # [{"image": ..., "label": ..., "probability": ...}, ...]
        for record in value:
            if isinstance(record, dict):
                keys = {re.sub(r"[^a-z0-9]", "", str(k).lower()): v for k, v in record.items()}
                image = next((keys[k] for k in _COLUMNS["image"] if k in keys), None)
                if image is not None:
                    found.extend((base_name(str(image)), *entry) for entry in _json_entries([record]))
    return _ranked([row for row in found if row[1]])


def _json_entries(entries: Any) -> list[tuple[str, float | None, str | None]]:
    if isinstance(entries, (list, tuple)) and entries and all(isinstance(e, (list, tuple)) for e in entries):
        if all(isinstance(e, (list, tuple)) and e and isinstance(e[0], (list, tuple)) for e in entries):
            entries = [item for group in entries for item in group]  # [[(...), ...]] from decode_predictions
    if not isinstance(entries, (list, tuple)):
        entries = [entries]
    result: list[tuple[str, float | None, str | None]] = []
    for entry in entries:
        if isinstance(entry, (list, tuple)) and len(entry) == 3:
            wnid, label, probability = entry
            result.append((str(label), _probability(str(probability)), str(wnid)))
        elif isinstance(entry, dict):
            keys = {re.sub(r"[^a-z0-9]", "", str(k).lower()): v for k, v in entry.items()}
            label = next((keys[k] for k in _COLUMNS["label"] if k in keys), None)
            probability = next((keys[k] for k in _COLUMNS["probability"] if k in keys), None)
            wnid = next((keys[k] for k in _COLUMNS["wnid"] if k in keys), None)
            if label is not None:
                shown_probability = _probability(str(probability)) if probability is not None else None
                result.append((str(label), shown_probability, str(wnid) if wnid else None))
        elif isinstance(entry, str):
            result.append((entry, None, None))
    return result
