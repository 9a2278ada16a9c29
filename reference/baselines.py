"""Turns a full reference run into the rubric's baselines file.

The rule for the thresholds, also written into the file: a part keeps the
margins below its baseline that the file already gave it, so
``full_credit_at = measured - (old accuracy - old full_credit_at)`` and
``zero_credit_at = measured - (old accuracy - old zero_credit_at)``
(clipped to 0..1). Parts the run did not measure keep their entries.
"""

from __future__ import annotations

import json
import re
from datetime import datetime
from pathlib import Path
from typing import Any

from grader import rubric as rubric_lib
from grader.rubric import Baseline
from reference.runner import ReferenceRunError, RunRecord

HEADER = """\
# Reference accuracy per part, and the grading thresholds derived from it.
# Written by `grade reference baselines` from a full reference run; entries
# whose provenance starts with "published" were not measured here.
#
# accuracy_vs_baseline gives full credit at or above full_credit_at, none at
# or below zero_credit_at, and a straight line in between.
#
# Rule for a measured part: keep the margins below the baseline that the part
# already had: full_credit_at = accuracy - (previous accuracy - previous
# full_credit_at), and the same for zero_credit_at; clipped to 0..1.
"""


def _clip(value: float) -> float:
    return round(min(1.0, max(0.0, value)), 4)


# Data files the provenance names by what they are, recognised by sha256; any other
# file is named by its digest alone. A figure means little without knowing which
# copy of a data set it was measured on (the JPEG copy scores below the official files).
KNOWN_DATA = {
    "3bc0d3fcc8594e0bbcc98d1591faffa220973a324f9a4803081f43873b980b0f":
        "the JPEG copy of CIFAR-10 from ../shared (data/cifar10, test_batch built by build_batches.py)",
    "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6":
        "the official MNIST files (t10k-images-idx3-ubyte.gz)",
}


def _data_named(data_files: dict[str, str]) -> str:
    known = [f"{KNOWN_DATA[digest]}, sha256 {digest[:8]}…" for digest in data_files.values() if digest in KNOWN_DATA]
    return f"on {'; '.join(dict.fromkeys(known))}, " if known else ""


def _provenance(record: RunRecord, part_id: str) -> str:
    part = record.parts[part_id]
    day = datetime.fromisoformat(record.started).date().isoformat()
    data = ", ".join(f"{name} {digest}" for name, digest in part.data_files.items())
    versions = ", ".join(f"{name} {version}" for name, version in record.versions.items())
    return (f"measured: full reference run on {day}, {part.epochs} epochs on {part.n_train} training images, "
            f"{part.seconds:.0f} s, {_data_named(part.data_files)}data sha256 {data}, versions {versions}")


def measured_baseline(record: RunRecord, part_id: str, previous: Baseline) -> Baseline:
    part = record.parts[part_id]
    accuracy = float(part.test_accuracy)
    return Baseline(
        accuracy=_clip(accuracy),
        provenance=_provenance(record, part_id),
        full_credit_at=_clip(accuracy - (previous.accuracy - previous.full_credit_at)),
        zero_credit_at=_clip(accuracy - (previous.accuracy - previous.zero_credit_at)),
        run={
            "started": record.started, "seconds": part.seconds, "epochs": part.epochs,
            "n_train": part.n_train, "n_test": part.n_test, "test_loss": part.test_loss,
            "seed": record.seed, "versions": dict(record.versions), "data_files": dict(part.data_files),
        },
    )


def baselines(record: RunRecord, rubric_path: Path | str | None = None) -> Path:
    """Write the rubric's baselines file from ``record``; refuses a quick run. Returns its path."""
    if record.quick:
        raise ReferenceRunError(
            "a quick run is a smoke test (a few thousand images, one epoch), not a measurement; "
            "run `grade reference run` without --quick, then write the baselines from it"
        )
    rubric = rubric_lib.load(rubric_path)
    if record.rubric != rubric.id:
        raise ReferenceRunError(f"the run is of rubric {record.rubric}, not {rubric.id}; pass the rubric it ran")
    if not rubric.baselines_file:
        raise ReferenceRunError(f"{rubric.path}: names no baselines_file; add one to the rubric")
    measured = [pid for pid, part in record.parts.items() if part.test_accuracy is not None]
    if not measured:
        raise ReferenceRunError("the run measured no part's test accuracy; nothing to write")
    for part_id in measured:
        expected = rubric.dataset_of(rubric.part(part_id)).test_size
        scored = record.parts[part_id].n_test
        if expected and scored != expected:
            raise ReferenceRunError(
                f"part {part_id} was scored on {scored} test images, but the rubric's test set has {expected}: "
                "that was not the real data (synthetic data for tests?); run on the real data folder"
            )
    entries = dict(rubric.baselines)
    for part_id in measured:
        previous = rubric.baselines.get(part_id)
        if previous is None:
            raise ReferenceRunError(
                f"part {part_id} has no entry in {rubric.baselines_file} whose margins the rule keeps; "
                "add a published baseline with full_credit_at and zero_credit_at for it first"
            )
        entries[part_id] = measured_baseline(record, part_id, previous)
    path = Path(rubric.path).parent / rubric.baselines_file
    _write_checked(path, render(entries))
    return path


def _write_checked(path: Path, text: str) -> None:
    """Write atomically, then make sure the rubric loader accepts what was written."""
    import tomllib

    from reference.results import atomic_write_text

    parsed = tomllib.loads(text)   # a bug here must not replace a good file
    for part_id, raw in parsed.get("parts", {}).items():
        Baseline.model_validate(raw)
    atomic_write_text(path, text)


# ------------------------------------------------------------- TOML writing

_BARE_KEY = re.compile(r"[A-Za-z0-9_-]+")


def _key(name: str) -> str:
    return name if _BARE_KEY.fullmatch(name) else json.dumps(name, ensure_ascii=False)


def _value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)   # JSON's escapes are valid TOML basic-string escapes
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_value(v) for v in value) + "]"
    raise TypeError(f"cannot write {type(value).__name__} to TOML")


def _table(header: str, mapping: dict[str, Any], lines: list[str]) -> None:
    lines.append(f"[{header}]")
    nested = {}
    for name, value in mapping.items():
        if value is None:
            continue
        if isinstance(value, dict):
            nested[name] = value
        else:
            lines.append(f"{_key(name)} = {_value(value)}")
    lines.append("")
    for name, value in nested.items():
        if value:
            _table(f"{header}.{_key(name)}", value, lines)


def render(entries: dict[str, Baseline]) -> str:
    lines = [HEADER]
    for part_id, baseline in entries.items():
        data = baseline.model_dump()
        if not data.get("run"):
            data.pop("run", None)
        _table(f"parts.{_key(part_id)}", data, lines)
    return "\n".join(lines)
