"""Intake: hostile archives stay contained, normal ones land at the right root."""

from __future__ import annotations

import hashlib
import os
import stat
import struct
import time
import tracemalloc
import zipfile
import zlib
from pathlib import Path

import pytest

from grader.intake import identify_student, open_submission, work_dir_name
from grader.records import Intake, Severity
from grader.rubric import Rubric, load

try:
    import hostile_archives as hostile
except ImportError:  # tests/ imported as a package
    from tests import hostile_archives as hostile

SHARED = Path(__file__).resolve().parents[1].parent / "shared"
SAMPLES = SHARED / "real-world-samples"
TIME_LIMIT_S = 10.0
MEMORY_LIMIT = 100 * 1024 * 1024


@pytest.fixture(scope="module")
def rubric() -> Rubric:
    return load()


# ------------------------------------------------------------------ helpers


def snapshot(top: Path, exclude: Path) -> dict[str, tuple[int, int]]:
    """Every path under ``top`` except ``exclude``, with (size, mtime) for files."""
    seen: dict[str, tuple[int, int]] = {}
    for folder, dirs, files in os.walk(top):
        if Path(folder) == exclude or exclude in Path(folder).parents:
            dirs[:] = []
            continue
        for name in dirs + files:
            path = Path(folder) / name
            if path == exclude:
                continue
            info = path.lstat()
            seen[str(path.relative_to(top))] = (info.st_size, info.st_mtime_ns) if not stat.S_ISDIR(info.st_mode) else (0, 0)
    return seen


def assert_only_regular_files(work_dir: Path) -> None:
    for path in work_dir.rglob("*"):
        mode = path.lstat().st_mode
        assert stat.S_ISDIR(mode) or stat.S_ISREG(mode), f"{path} is neither a file nor a folder"
        assert not path.name.startswith(".intake-"), f"temporary file left behind: {path}"
        assert os.path.realpath(path).startswith(os.path.realpath(work_dir) + os.sep)


def assert_files_match_disk(intake: Intake) -> None:
    for extracted in intake.files:
        data = (intake.root / extracted.path).read_bytes()
        assert len(data) == extracted.size
        assert hashlib.sha256(data).hexdigest() == extracted.sha256


def codes(intake: Intake) -> list[str]:
    return [problem.code for problem in intake.problems]


def problem(intake: Intake, code: str):
    found = [p for p in intake.problems if p.code == code]
    assert found, f"no {code!r} problem; got {codes(intake)}"
    return found[0]


def make_zip(path: Path, entries: dict[str, bytes], method: int = zipfile.ZIP_DEFLATED) -> Path:
    with zipfile.ZipFile(path, "w", method) as archive:
        for name, data in entries.items():
            archive.writestr(name, data)
    return path


SUBMISSION = {
    "results/6.1/model.h5": b"\x89HDF\r\n\x1a\n" + bytes(range(256)) * 40,
    "results/6.1/metrics.json": b'{"test_accuracy": 0.9912}\n',
    "results/6.1/accuracy.png": b"\x89PNG\r\n\x1a\n" + bytes(500),
    "results/6.2a/predictions.csv": b"index,label\r\n0,3\r\n1,8\r\n",
    "images/dog.jpg": b"\xff\xd8\xff\xe0" + bytes(300),
}


def with_prefix(prefix: str, entries: dict[str, bytes]) -> dict[str, bytes]:
    return {f"{prefix}{name}": data for name, data in entries.items()}


# ---------------------------------------------------------- hostile corpus


def test_corpus_covers_every_class() -> None:
    assert len(hostile.HOSTILE) >= 25
    assert len({builder.__name__ for builder in hostile.HOSTILE.values()}) == len(hostile.HOSTILE)


@pytest.mark.parametrize("name", sorted(hostile.HOSTILE))
def test_hostile_archive_is_contained(name: str, tmp_path: Path, rubric: Rubric) -> None:
    corpus, work_root, sentinel = tmp_path / "corpus", tmp_path / "work", tmp_path / "sentinel.txt"
    corpus.mkdir()
    case = hostile.HOSTILE[name](corpus, sentinel)
    limited = rubric.model_copy(update={"extraction": case.extraction_limits(rubric.extraction)})
    before = snapshot(tmp_path, exclude=work_root)

    started = time.monotonic()
    intake = open_submission(case.path, work_root, limited)
    elapsed = time.monotonic() - started

    assert elapsed < TIME_LIMIT_S, f"{name} took {elapsed:.1f} s"
    assert snapshot(tmp_path, exclude=work_root) == before
    assert not sentinel.exists()
    assert intake.work_dir.parent == work_root
    assert_only_regular_files(intake.work_dir)
    assert_files_match_disk(intake)
    found = [p for p in intake.problems if p.code == case.code]
    assert found, f"{name}: expected {case.code!r}, got {codes(intake)}"
    assert any(case.mention in p.message for p in found), [p.message for p in found]
    assert all(p.code == p.code.lower() and " " not in p.code for p in intake.problems)
    if case.usable is not None:
        assert intake.usable is case.usable
    for rel, content in case.kept.items():
        assert (intake.root / rel).read_bytes() == content


@pytest.mark.parametrize("name", ["zip_bomb", "bzip2_bomb"])
def test_zip_bomb_memory_and_disk_stay_small(name: str, tmp_path: Path, rubric: Rubric) -> None:
    case = hostile.HOSTILE[name](tmp_path, tmp_path / "sentinel.txt")
    tracemalloc.start()
    try:
        started = time.monotonic()
        intake = open_submission(case.path, tmp_path / "work", rubric)
        elapsed = time.monotonic() - started
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert elapsed < TIME_LIMIT_S
    assert peak < MEMORY_LIMIT, f"peak {peak / 1e6:.0f} MB"
    assert problem(intake, "compression-ratio").severity == Severity.ERROR
    assert sum(p.stat().st_size for p in intake.work_dir.rglob("*") if p.is_file()) == 0
    assert intake.files == []


def test_repeated_problems_are_summed_up(tmp_path: Path, rubric: Rubric) -> None:
    links = [(hostile.info(f"assignment06/results/link{index}", mode=stat.S_IFLNK | 0o777), b"/etc/passwd") for index in range(25)]
    archive = hostile.write_zip(tmp_path / "assignment06_DoeJane.zip", [hostile.GOOD, *links])
    intake = open_submission(archive, tmp_path / "work", rubric)
    symlinks = [p for p in intake.problems if p.code == "symlink"]
    assert len(symlinks) == 21
    assert symlinks[-1].message == "... and 5 more entries with the same problem (symlink)."
    assert intake.usable


def test_single_nested_zip_is_opened_and_counts_toward_limits(tmp_path: Path, rubric: Rubric) -> None:
    inner = make_zip(tmp_path / "inner.zip", with_prefix("assignment06/", SUBMISSION))
    outer = make_zip(tmp_path / "assignment06_DoeJane.zip", {"assignment06.zip": inner.read_bytes(), "__MACOSX/._assignment06.zip": b"x"})
    intake = open_submission(outer, tmp_path / "work", rubric)
    assert intake.root == intake.work_dir / "assignment06"
    assert sorted(f.path for f in intake.files) == sorted(SUBMISSION)
    assert "nested-archive-opened" in codes(intake)
    assert not (intake.work_dir / "assignment06.zip").exists()

    small = rubric.model_copy(update={"extraction": rubric.extraction.model_copy(update={"max_entries": 4})})
    limited = open_submission(outer, tmp_path / "work", small)
    assert "too-many-entries" in codes(limited)
    assert "assignment06.zip" in problem(limited, "too-many-entries").message


# ------------------------------------------------------------ normal archives


def test_archive_with_assignment_folder(tmp_path: Path, rubric: Rubric) -> None:
    archive = make_zip(tmp_path / "assignment06_DoeJane.zip", with_prefix("assignment06/", SUBMISSION))
    intake = open_submission(archive, tmp_path / "work", rubric)
    assert intake.usable
    assert intake.root == tmp_path / "work" / "assignment06_DoeJane" / "assignment06"
    assert {f.path: f.size for f in intake.files} == {name: len(data) for name, data in SUBMISSION.items()}
    assert intake.sha256 == hashlib.sha256(archive.read_bytes()).hexdigest()
    assert (intake.student.last, intake.student.first) == ("Doe", "Jane")
    assert intake.problems == []
    assert_files_match_disk(intake)


def test_archive_without_top_folder(tmp_path: Path, rubric: Rubric) -> None:
    archive = make_zip(tmp_path / "assignment06_DoeJane.zip", SUBMISSION)
    intake = open_submission(archive, tmp_path / "work", rubric)
    assert intake.root == intake.work_dir
    assert sorted(f.path for f in intake.files) == sorted(SUBMISSION)
    warning = problem(intake, "no-assignment-folder")
    assert warning.severity == Severity.WARNING
    assert "assignment06" in warning.message and "assignment06_DoeJane.zip" in warning.message


def test_single_wrapper_folder_is_the_root(tmp_path: Path, rubric: Rubric) -> None:
    archive = make_zip(tmp_path / "assignment06_DoeJane.zip", with_prefix("DoeJane_week6/", SUBMISSION))
    intake = open_submission(archive, tmp_path / "work", rubric)
    assert intake.root == intake.work_dir / "DoeJane_week6"
    assert len(intake.files) == len(SUBMISSION)
    assert "DoeJane_week6/" in problem(intake, "no-assignment-folder").message


def test_assignment_folder_found_under_a_wrapper_with_strays(tmp_path: Path, rubric: Rubric) -> None:
    entries = with_prefix("Jane/Assignment 6/", SUBMISSION) | {"Jane/notes.txt": b"my notes"}
    intake = open_submission(make_zip(tmp_path / "assignment06_DoeJane.zip", entries), tmp_path / "work", rubric)
    assert intake.root == intake.work_dir / "Jane" / "Assignment 6"
    assert "folder-name" in codes(intake)
    assert "Jane/notes.txt" in problem(intake, "outside-root").message


def test_nested_duplicate_copy_picks_the_fuller_one(tmp_path: Path, rubric: Rubric) -> None:
    entries = with_prefix("assignment06/assignment06/", SUBMISSION) | {"assignment06/results/old_plot.png": b"old"}
    intake = open_submission(make_zip(tmp_path / "assignment06_DoeJane.zip", entries), tmp_path / "work", rubric)
    assert intake.root == intake.work_dir / "assignment06" / "assignment06"
    assert sorted(f.path for f in intake.files) == sorted(SUBMISSION)
    duplicate = problem(intake, "duplicate-copy")
    assert "ignored 'assignment06/'" in duplicate.message
    assert "outside-root" not in codes(intake)


def test_windows_backslash_names(tmp_path: Path, rubric: Rubric) -> None:
    entries = {name.replace("/", "\\"): data for name, data in with_prefix("assignment06/", SUBMISSION).items()}
    intake = open_submission(make_zip(tmp_path / "assignment06_DoeJane.zip", entries), tmp_path / "work", rubric)
    assert intake.root == intake.work_dir / "assignment06"
    assert sorted(f.path for f in intake.files) == sorted(SUBMISSION)
    assert (intake.root / "results" / "6.1" / "model.h5").read_bytes() == SUBMISSION["results/6.1/model.h5"]
    assert intake.problems == []


def test_crlf_text_is_byte_for_byte(tmp_path: Path, rubric: Rubric) -> None:
    text = b"epoch,accuracy\r\n1,0.91\r\n2,0.95\r\n\r\n"
    archive = make_zip(tmp_path / "assignment06_DoeJane.zip", {"assignment06/results/history.csv": text})
    intake = open_submission(archive, tmp_path / "work", rubric)
    assert (intake.root / "results" / "history.csv").read_bytes() == text
    assert intake.files[0].sha256 == hashlib.sha256(text).hexdigest()


@pytest.mark.parametrize("method", [zipfile.ZIP_STORED, zipfile.ZIP_BZIP2, zipfile.ZIP_LZMA])
def test_other_compression_methods(method: int, tmp_path: Path, rubric: Rubric) -> None:
    entries = with_prefix("assignment06/", SUBMISSION) | {"assignment06/results/big.bin": hostile.random_bytes(3 * hostile.MIB)}
    intake = open_submission(make_zip(tmp_path / "assignment06_DoeJane.zip", entries, method), tmp_path / "work", rubric)
    assert intake.problems == []
    assert len(intake.files) == len(SUBMISSION) + 1
    assert_files_match_disk(intake)


def test_non_utf8_names_are_decoded(tmp_path: Path, rubric: Rubric) -> None:
    archive = hostile.raw_name_zip(tmp_path / "assignment06_DoeJane.zip", {
        "assignment06/results/cafX.txt": b"assignment06/results/caf\xe9.txt",           # cp1252
        "assignment06/results/rXsumX.txt": b"assignment06/results/r\x82sum\x82.txt",    # cp437 (Windows Explorer)
        "assignment06/results/naXXve.txt": "assignment06/results/naïve.txt".encode(),  # UTF-8 without the flag
    })
    intake = open_submission(archive, tmp_path / "work", rubric)
    assert sorted(f.path for f in intake.files) == ["results/café.txt", "results/naïve.txt", "results/résumé.txt"]
    assert (intake.root / "results" / "café.txt").read_bytes() == b"content"


def test_infozip_unicode_path_field_wins_over_the_raw_name(tmp_path: Path, rubric: Rubric) -> None:
    raw = b"assignment06/results/na?ve.txt"
    field = "assignment06/results/naïve.txt".encode()
    entry = zipfile.ZipInfo(raw.decode("ascii"))
    entry.extra = struct.pack("<HHB", 0x7075, 5 + len(field), 1) + struct.pack("<I", zlib.crc32(raw)) + field
    archive = tmp_path / "assignment06_DoeJane.zip"
    with zipfile.ZipFile(archive, "w") as out:
        out.writestr(entry, b"content")
    intake = open_submission(archive, tmp_path / "work", rubric)
    assert [f.path for f in intake.files] == ["results/naïve.txt"]
    assert "renamed-entry" not in codes(intake)


def test_rerun_starts_from_a_clean_folder(tmp_path: Path, rubric: Rubric) -> None:
    archive = make_zip(tmp_path / "assignment06_DoeJane.zip", with_prefix("assignment06/", SUBMISSION))
    first = open_submission(archive, tmp_path / "work", rubric)
    stale = first.root / "results" / "stale.txt"
    stale.write_text("left by an earlier run")
    second = open_submission(archive, tmp_path / "work", rubric)
    assert second.work_dir == first.work_dir
    assert not stale.exists()
    assert len(second.files) == len(SUBMISSION)


def test_missing_and_odd_sources_do_not_raise(tmp_path: Path, rubric: Rubric) -> None:
    missing = open_submission(tmp_path / "assignment06_Ghost.zip", tmp_path / "work", rubric)
    assert not missing.usable
    assert "assignment06_Ghost.zip" in problem(missing, "missing-source").message
    inside = tmp_path / "work" / "assignment06_Inside"
    inside.mkdir(parents=True)
    (inside / "x.txt").write_text("x")
    refused = open_submission(inside, tmp_path / "work", rubric)
    assert "source-in-work-folder" in codes(refused)
    assert (inside / "x.txt").exists()


def test_not_a_zip_message_says_what_it_is_and_how_to_rezip(tmp_path: Path, rubric: Rubric) -> None:
    case = hostile.png_renamed(tmp_path, tmp_path / "sentinel.txt")
    unnamed = problem(open_submission(case.path, tmp_path / "work", rubric), "not-a-zip").message
    assert "assignment06_Picture.zip is not a zip archive: it is a PNG image" in unnamed
    assert "right-click the assignment06 folder > Send to > Compressed (zipped) folder" in unnamed
    assert "`zip -r assignment06_LastnameFirstname.zip assignment06`" in unnamed

    named = case.path.rename(tmp_path / "assignment06_DoeJane.zip")
    message = problem(open_submission(named, tmp_path / "work", rubric), "not-a-zip").message
    assert "`zip -r assignment06_DoeJane.zip assignment06`" in message


def test_work_folder_names_are_safe_and_distinct() -> None:
    names = ["assignment06_DoeJane.zip", "assignment06_DoeJane (1).zip", "assignment06_García.zip",
             "assignment06_Garcia.zip", "../../etc.zip", "assignment06_DoeJane"]
    made = [work_dir_name(Path(name)) for name in names]
    assert made[0] == "assignment06_DoeJane"
    assert len(set(made[:4])) == 4
    assert all(part not in ("", ".", "..") and "/" not in part for part in made)
    assert made[5] == "assignment06_DoeJane"


# ------------------------------------------------------------- folder sources


def test_folder_source_copies_regular_files_only(tmp_path: Path, rubric: Rubric) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.txt").write_text("instructor secret")
    source = tmp_path / "submissions" / "assignment06_DoeJane"
    for name, data in with_prefix("assignment06/", SUBMISSION).items():
        (source / name).parent.mkdir(parents=True, exist_ok=True)
        (source / name).write_bytes(data)
    (source / "assignment06" / "results" / "stolen.txt").symlink_to(outside / "secret.txt")
    (source / "assignment06" / "linked_dir").symlink_to(outside, target_is_directory=True)
    (source / "assignment06" / ".DS_Store").write_bytes(b"junk")
    (source / "assignment06" / "__pycache__").mkdir()
    (source / "assignment06" / "__pycache__" / "x.pyc").write_bytes(b"junk")
    os.mkfifo(source / "assignment06" / "results" / "pipe")

    started = time.monotonic()
    intake = open_submission(source, tmp_path / "work", rubric)
    assert time.monotonic() - started < TIME_LIMIT_S

    assert intake.sha256 is None
    assert intake.root == intake.work_dir / "assignment06"
    assert sorted(f.path for f in intake.files) == sorted(SUBMISSION)
    links = [p for p in intake.problems if p.code == "symlink"]
    assert len(links) == 2
    assert any("stolen.txt" in p.message and str(outside / "secret.txt") in p.message for p in links)
    assert "results/pipe" in problem(intake, "special-file").message
    assert "2 system file(s)" in problem(intake, "junk-removed").message
    assert_only_regular_files(intake.work_dir)
    assert not any(b"instructor secret" in p.read_bytes() for p in intake.work_dir.rglob("*") if p.is_file())
    assert (intake.student.last, intake.student.first) == ("Doe", "Jane")


def test_folder_named_like_the_assignment_is_its_own_root(tmp_path: Path, rubric: Rubric) -> None:
    source = tmp_path / "assignment06"
    for name, data in SUBMISSION.items():
        (source / name).parent.mkdir(parents=True, exist_ok=True)
        (source / name).write_bytes(data)
    intake = open_submission(source, tmp_path / "work", rubric)
    assert intake.root == intake.work_dir
    assert len(intake.files) == len(SUBMISSION)
    assert "no-assignment-folder" not in codes(intake)


def test_folder_source_limits_apply(tmp_path: Path, rubric: Rubric) -> None:
    source = tmp_path / "assignment06_DoeJane" / "assignment06" / "results"
    source.mkdir(parents=True)
    (source / "big.bin").write_bytes(hostile.random_bytes(300_000))
    (source / "small.txt").write_bytes(b"ok")
    small = rubric.model_copy(update={"extraction": rubric.extraction.model_copy(update={"max_entry_bytes": 100_000})})
    intake = open_submission(tmp_path / "assignment06_DoeJane", tmp_path / "work", small)
    assert [f.path for f in intake.files] == ["results/small.txt"]
    assert "big.bin" in problem(intake, "entry-too-large").message


# ------------------------------------------------------------------- identity


IDENTITIES = [
    # file name, last, first, username, warned
    ("assignment06_DoeJane.zip", "Doe", "Jane", None, False),
    ("assignment06_DoeJane (1).zip", "Doe", "Jane", None, False),
    ("assignment06_DoeJane-1.zip", "Doe", "Jane", None, False),
    ("assignment06_doejane.zip", "doejane", None, None, True),
    ("assignment06_Doe_Jane.zip", "Doe", "Jane", None, False),
    ("assignment06-DoeJane.zip", "Doe", "Jane", None, False),
    ("Assignment 6_jdoe12_attempt_2024-10-06-21-14-05_assignment06_DoeJane.zip", "Doe", "Jane", "jdoe12", False),
    ("doejane_12345_6789012_assignment06_DoeJane.zip", "Doe", "Jane", "doejane", False),
    ("doejane_late_12345_6789012_assignment06_DoeJane-1.zip", "Doe", "Jane", "doejane", False),
    ("assignment06_O'BrienPatrick.zip", "O'Brien", "Patrick", None, False),
    ("assignment06_García-LópezMaría.zip", "García-López", "María", None, False),
    ("Assignment06_McDonaldRonald.ZIP", "McDonald", "Ronald", None, False),
    ("assignment06_DOEJane.zip", "DOE", "Jane", None, False),
    ("assignment06_DoeMary-Jane.zip", "Doe", "Mary-Jane", None, False),
    ("assignment06_Doe Jane - Copy.zip", "Doe", "Jane", None, False),
    ("assignment6_DoeJane_final.zip", "Doe", "Jane", None, False),
    ("DoeJane_assignment06.zip", "Doe", "Jane", None, True),
    ("assignment06.zip", None, None, None, True),
    ("homework.zip", None, None, None, True),
    ("Assignment 6_jdoe12_attempt_2024-10-06-21-14-05_submission.zip", None, None, "jdoe12", True),
    ("Jane Doe_4242_assignsubmission_file_assignment06_DoeJane.zip", "Doe", "Jane", "Jane Doe", False),
    ("C:\\Users\\me\\Downloads\\assignment06_DoeJane.zip", "Doe", "Jane", None, False),
    ("assignment06_DoeJane", "Doe", "Jane", None, False),
]


@pytest.mark.parametrize("filename,last,first,username,warned", IDENTITIES)
def test_identify_student(filename: str, last: str | None, first: str | None, username: str | None, warned: bool) -> None:
    student, problems = identify_student(filename, "assignment06")
    assert (student.last, student.first, student.username) == (last, first, username)
    assert student.source == Path(filename.replace("\\", "/")).name
    assert [p.code for p in problems] == (["archive-name"] if warned else [])
    for warning in problems:
        assert warning.severity == Severity.WARNING
        assert student.source in warning.message
        assert "assignment06_LastnameFirstname.zip" in warning.message


def test_blackboard_attempt_is_kept() -> None:
    student, _ = identify_student("Assignment 6_jdoe12_attempt_2024-10-06-21-14-05_assignment06_DoeJane.zip", "assignment06")
    assert student.attempt == "2024-10-06-21-14-05"


@pytest.mark.parametrize("filename", ["", ".zip", "\x00", "_" * 5000, "assignment06_" + "\udcff" * 3, "(1).zip"])
def test_identify_student_never_raises(filename: str) -> None:
    student, problems = identify_student(filename, "assignment06")
    assert student.source == Path(filename).name or filename == ""
    assert [p.code for p in problems] == ["archive-name"]


# --------------------------------------------------------- real-world samples


def _sample_sets() -> list[Path]:
    if not SAMPLES.is_dir():
        return []
    return sorted(folder for owner in SAMPLES.iterdir() if owner.is_dir() for folder in owner.iterdir() if folder.is_dir())


@pytest.mark.shared
@pytest.mark.skipif(not SAMPLES.is_dir(), reason="../shared/real-world-samples is not present")
@pytest.mark.parametrize("folder", _sample_sets(), ids=lambda folder: f"{folder.parent.name}/{folder.name}")
def test_real_world_samples_zip_and_extract(folder: Path, tmp_path: Path, rubric: Rubric) -> None:
    at_top = folder.name == "repo_root"       # files a student kept at the repository root
    regular = sorted(p for p in folder.rglob("*") if p.is_file() and not p.is_symlink())
    archive = tmp_path / f"assignment06_{folder.parent.name.replace('-', '')}.zip"
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as out:
        for path in regular:
            relative = path.relative_to(folder if at_top else folder.parent).as_posix()
            out.write(path, relative)

    intake = open_submission(archive, tmp_path / "work", rubric)

    assert intake.root == (intake.work_dir if at_top else intake.work_dir / folder.name)
    assert len(intake.files) == len(regular)
    expected = {p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest() for p in regular}
    assert {f.path: f.sha256 for f in intake.files} == expected
    assert not [p for p in intake.problems if p.severity == Severity.ERROR]
    if folder.name != rubric.folder:
        assert "no-assignment-folder" in codes(intake)


def test_without_an_assignment_folder_the_top_results_beat_a_fuller_nested_copy(tmp_path: Path, rubric: Rubric) -> None:
    # Seen in real archives: the student zipped the folder's contents, and an old
    # submission zip they had unpacked inside it came along.
    old_copy = with_prefix("ZIP/assignment06_DoeJane/", SUBMISSION) | {
        "ZIP/assignment06_DoeJane/results/6.1/extra_plot.png": b"old", "ZIP/assignment06_DoeJane/results/notes.txt": b"x"}
    entries = dict(SUBMISSION) | old_copy
    intake = open_submission(make_zip(tmp_path / "assignment06_DoeJane.zip", entries), tmp_path / "work", rubric)
    assert intake.root == intake.work_dir
    duplicate = problem(intake, "duplicate-copy")
    assert "graded './'" in duplicate.message and "ignored 'ZIP/assignment06_DoeJane/'" in duplicate.message
    assert "no-assignment-folder" in codes(intake)
