"""Batch behaviour that needs no sandbox: error rows, Ctrl-C, resume, folders."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from grader import rubric as rubric_mod
from grader.batch import find_archives, grade_batch
from grader.pipeline import HeldOutData


@pytest.fixture()
def broken_class(tmp_path):
    subs = tmp_path / "submissions"
    subs.mkdir()
    for name in ("assignment06_AbleAnn.zip", "assignment06_BakerBo.zip", "assignment06_CruzCy.zip"):
        (subs / name).write_bytes(b"PK\x03\x04 not really a zip")
    (subs / "assignment06_DiazDee.rar").write_bytes(b"Rar!\x1a\x07\x00 rar archive")
    (subs / "Assignment 6_ableann_attempt_2024-10-06-21-14-05.txt").write_text("Blackboard receipt")
    (subs / "README.md").write_text("notes")
    return subs


def test_find_archives_skips_receipts_but_keeps_wrong_formats(broken_class):
    names = [p.name for p in find_archives(broken_class)]
    assert names == ["assignment06_AbleAnn.zip", "assignment06_BakerBo.zip", "assignment06_CruzCy.zip",
                     "assignment06_DiazDee.rar"]


def test_every_bad_archive_is_an_error_row_and_the_batch_goes_on(broken_class, tmp_path):
    rubric = rubric_mod.load()
    summary = grade_batch(find_archives(broken_class), tmp_path / "out", rubric, None, HeldOutData(), jobs=2)
    assert summary.errors == 4 and summary.graded == 0
    grades = pd.read_csv(tmp_path / "out" / "grades.csv")
    assert list(grades["status"]) == ["error"] * 4
    rar = json.loads((tmp_path / "out" / "results" / "assignment06_DiazDee.json").read_text())
    assert "RAR" in rar["note"] or "rar" in rar["note"].lower()
    assert rar["student"]["last"] == "Diaz"


def test_ctrl_c_stops_cleanly_and_a_rerun_resumes(broken_class, tmp_path):
    rubric = rubric_mod.load()
    out = tmp_path / "out"
    seen = []

    def interrupt_after_first(event, name, grade):
        if event == "finished":
            seen.append(name)
            raise KeyboardInterrupt

    first = grade_batch(find_archives(broken_class), out, rubric, None, HeldOutData(), jobs=1,
                        progress=interrupt_after_first)
    assert first.interrupted
    assert len(seen) == 1 and seen[0] not in first.remaining
    written = sorted(p.name for p in (out / "results").glob("*.json"))
    assert f"{seen[0].removesuffix('.zip')}.json" in written
    assert not list(out.rglob("*.tmp"))            # atomic writes leave no half file
    assert (out / "grades.csv").is_file()           # the class outputs cover what was done
    second = grade_batch(find_archives(broken_class), out, rubric, None, HeldOutData(), jobs=1)
    assert not second.interrupted
    assert second.skipped >= 1 and second.skipped + second.errors == 4


def test_a_cache_folder_is_built_once_and_never_left_half_written(tmp_path):
    """build_folder_once: an interrupted first build leaves no folder and no
    staging copy; the next call builds it; later calls reuse it unread."""
    from grader.atomic import build_folder_once

    target, calls = tmp_path / "cache" / "data-v1", []

    def interrupted(staging):
        (staging / "half.npy").write_bytes(b"x" * 10)
        raise KeyboardInterrupt

    def whole(staging):
        calls.append(staging)
        (staging / "test.npy").write_bytes(b"y" * 10)

    with pytest.raises(KeyboardInterrupt):
        build_folder_once(target, interrupted)
    assert not target.exists() and list((tmp_path / "cache").iterdir()) == []
    assert build_folder_once(target, whole) == target and len(calls) == 1
    assert (target / "test.npy").read_bytes() == b"y" * 10 and (target / "complete").is_file()
    assert build_folder_once(target, whole) == target and len(calls) == 1
