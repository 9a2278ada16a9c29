"""Part assignment on realistic archives (issue 9): a file's own name beats
content sniffing, files beside a SavedModel belong to its part, a nested old
copy of the assignment is set aside, and plots named for no part are
assigned by elimination with the archive's modification times as evidence.

The archives are made from real student files in ../shared (renamed and
rearranged into the shapes students hand in) and, for SavedModel folders,
tiny tf_keras models; zip entries carry real timestamps.
"""

from __future__ import annotations

import io
import os
import zipfile
from pathlib import Path

import pytest

from grader import rubric as rubric_mod
from grader.checks import CheckContext, run_check
from grader.discover.names import match_parts
from grader.intake import open_submission
from grader.pipeline import check_submission
from grader.rubric import CheckSpec
from tests.conftest import SAMPLES

SANTOSH = SAMPLES / "santosh0924" / "assignment06_from_submission_zip" / "results"
AARTI = SAMPLES / "AartiRamani" / "assignment06" / "results"


@pytest.fixture(scope="module")
def rubric():
    return rubric_mod.load()


# ------------------------------------------------------------------ helpers


def write_zip(archive: Path, entries: list[tuple[str, bytes | Path, tuple]]) -> Path:
    """A zip whose entries carry the given (year, month, day, h, m, s) times."""
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data, when in entries:
            info = zipfile.ZipInfo(name, date_time=when)
            info.compress_type = zipfile.ZIP_DEFLATED
            zf.writestr(info, data.read_bytes() if isinstance(data, Path) else data)
    return archive


def folder_entries(folder: Path, prefix: str, when: tuple, skip: str = "") -> list[tuple[str, bytes | Path, tuple]]:
    return [(f"{prefix}/{p.relative_to(folder).as_posix()}", p, when) for p in sorted(folder.rglob("*"))
            if p.is_file() and not (skip and p.name.endswith(skip))]


def jpeg_of(png: Path) -> bytes:
    """A real plot saved as JPEG (plt.savefig('validationplot.jpg'))."""
    from PIL import Image

    out = io.BytesIO()
    with Image.open(png) as image:
        image.convert("RGB").save(out, "JPEG", quality=85)
    return out.getvalue()


def codes(report) -> set[tuple[str, str | None]]:
    return {(p.code, p.part) for p in report.problems}


def problem(report, code: str, path: str | None = None):
    hits = [p for p in report.problems if p.code == code and (path is None or p.path == path)]
    assert len(hits) == 1, (code, path, [p.to_dict() for p in report.problems])
    return hits[0]


def run_part_check(report, rubric, part_id: str, check_id: str):
    """A part's check on what `grade check` read (no model is run), as the pipeline scores it."""
    part = rubric.part(part_id)
    spec = next(c for c in part.checks if c.id == check_id)
    ctx = CheckContext(rubric=rubric, part=part, dataset=rubric.dataset_of(part),
                       files=report.contents.parts[part_id], contents=report.contents, layout=report.layout,
                       problems=list(report.problems), baseline=rubric.baselines.get(part_id),
                       not_run="grade check runs no model")
    return run_check(CheckSpec(id=spec.id, points=spec.points, params=dict(spec.params)), ctx)


T0 = (2023, 2, 10, 14, 30, 0)     # when the student saved the 6.1 model


# --------------------------------------------- the intake carries the times


def test_zip_entry_times_reach_the_extracted_files(tmp_path, rubric):
    archive = write_zip(tmp_path / "assignment06_DoeJane.zip", [
        ("assignment06/results/6.1/metrics.json", b'{"test_accuracy": 0.99}', (2023, 2, 10, 14, 30, 0)),
        ("assignment06/results/6.1/accuracy.png", b"not read here", (2023, 2, 10, 14, 27, 0)),
    ])
    intake = open_submission(archive, tmp_path / "work", rubric)
    times = {f.path: f.mtime for f in intake.files}
    assert times["results/6.1/metrics.json"] - times["results/6.1/accuracy.png"] == 180.0


def test_folder_file_times_reach_the_extracted_files(tmp_path, rubric):
    folder = tmp_path / "assignment06"
    (folder / "results").mkdir(parents=True)
    plot = folder / "results" / "accuracy.png"
    plot.write_bytes(b"x")
    os.utime(plot, (1_676_039_000, 1_676_039_000))
    intake = open_submission(folder, tmp_path / "work", rubric)
    assert [(f.path, f.mtime) for f in intake.files] == [("results/accuracy.png", 1_676_039_000.0)]


def test_zip_entries_without_a_time_have_none(tmp_path, rubric):
    archive = write_zip(tmp_path / "assignment06_DoeJane.zip", [
        ("assignment06/results/6.1/metrics.json", b"{}", (1980, 1, 1, 0, 0, 0))])
    intake = open_submission(archive, tmp_path / "work", rubric)
    assert [f.mtime for f in intake.files] == [None]


# --------------------------------------- 1. a file's own name beats content


def test_own_name_or_own_folder_decides_and_far_folders_do_not(rubric):
    assert match_parts("results/6-2B_model.h5", rubric).own == "6.2b"
    assert match_parts("results/model-6-2-b", rubric, is_dir=True).own == "6.2b"
    assert match_parts("results/6.1", rubric, is_dir=True).own == "6.1"          # not "6" with suffix ".1"
    assert match_parts("results/6.2a/model.keras", rubric).own == "6.2a"          # its own folder
    assert match_parts("results/6.2a/checkpoints/model.keras", rubric).own is None
    assert match_parts("results/6.2a_vs_6.2b.h5", rubric).own is None             # names two parts
    assert match_parts("results/cifar10_model.h5", rubric).own is None            # a data set, not a part


@pytest.mark.shared
def test_the_6_2a_model_handed_in_twice_stays_6_2b_and_fails_its_architecture(shared_dir, tmp_path, rubric):
    # The student saved the plain CIFAR-10 model (no Dropout) under both names.
    plain = SANTOSH / "6_2a_model.h5"
    archive = write_zip(tmp_path / "assignment06_DoeJane.zip", [
        ("assignment06/results/6-1_model.h5", SANTOSH / "6_1_model.h5", T0),
        ("assignment06/results/6-2A_model.h5", plain, (2023, 2, 10, 15, 10, 0)),
        ("assignment06/results/6-2A_metrics.txt", SANTOSH / "6_2a_metrics.txt", (2023, 2, 10, 15, 10, 0)),
        ("assignment06/results/6-2B_model.h5", plain, (2023, 2, 10, 16, 5, 0)),
        ("assignment06/results/6-2B_metrics.txt", SANTOSH / "6_2b_metrics.txt", (2023, 2, 10, 16, 5, 0)),
    ])
    report = check_submission(archive, rubric, tmp_path / "work")
    parts = report.parts()
    assert parts["6.2a"]["model"] == ["results/6-2A_model.h5"]
    assert parts["6.2b"]["model"] == ["results/6-2B_model.h5"]
    assert ("missing-model", "6.2b") not in codes(report)
    assert ("several-model", "6.2a") not in codes(report)

    warning = problem(report, "content-disagrees-with-name", "results/6-2B_model.h5")
    assert (warning.part, warning.severity.value) == ("6.2b", "warning")
    assert "its name says 6.2b, but the model has no Dropout layer, which 6.2b asks for" in warning.message
    assert "it looks like the 6.2a model" in warning.message
    assert not [p for p in report.problems if p.code == "content-disagrees-with-name" and p.part != "6.2b"]

    result = run_part_check(report, rubric, "6.2b", "architecture_matches")
    assert (result.score, result.max_score, result.passed) == (0.0, 3.0, False)
    assert result.message == ("dropout absent, augmentation absent; 6.2b: dropout must be used; "
                              "augmentation must be used")
    plain_ok = run_part_check(report, rubric, "6.2a", "architecture_matches")
    assert (plain_ok.score, plain_ok.passed) == (3.0, True)
    twice = problem(report, "same-model-twice")
    assert (twice.path, twice.part, twice.severity.value) == ("results/6-2B_model.h5", "6.2b", "warning")
    assert twice.message.startswith("results/6-2B_model.h5 (6.2b) is byte for byte the same file as "
                                    "results/6-2A_model.h5 (6.2a)")


@pytest.mark.shared
def test_a_6_1_model_with_cifar_inputs_is_scored_as_6_1(shared_dir, tmp_path, rubric):
    archive = write_zip(tmp_path / "assignment06_DoeJane.zip", [
        ("assignment06/results/Assignment_6.1_model.h5", SANTOSH / "6_2b_model.h5", T0),
        ("assignment06/results/Assignment_6.2a_model.h5", SANTOSH / "6_2a_model.h5", T0),
    ])
    report = check_submission(archive, rubric, tmp_path / "work")
    parts = report.parts()
    assert parts["6.1"]["model"] == ["results/Assignment_6.1_model.h5"]
    assert parts["6.2a"]["model"] == ["results/Assignment_6.2a_model.h5"]
    assert "6.2b" not in parts                      # the misfiled model is not moved to 6.2b
    warning = problem(report, "content-disagrees-with-name", "results/Assignment_6.1_model.h5")
    assert warning.part == "6.1"
    assert "takes inputs of shape 32x32x3, not the mnist images (28x28x1) 6.1 is about" in warning.message
    assert problem(report, "wrong-input-shape", "results/Assignment_6.1_model.h5").part == "6.1"
    assert ("missing-model", "6.1") not in codes(report)


@pytest.mark.shared
def test_unnamed_models_are_still_told_apart_by_content(shared_dir, tmp_path, rubric):
    # bkudaimi's cnn.h5 / cnn1.h5: names say nothing, the Dropout layer decides.
    real = SAMPLES / "bkudaimi" / "assignment06" / "results"
    archive = write_zip(tmp_path / "assignment06_DoeJane.zip", [
        ("assignment06/results/cnn.h5", real / "cnn.h5", T0), ("assignment06/results/cnn1.h5", real / "cnn1.h5", T0)])
    report = check_submission(archive, rubric, tmp_path / "work")
    assert report.parts()["6.2a"]["model"] == ["results/cnn.h5"]
    assert report.parts()["6.2b"]["model"] == ["results/cnn1.h5"]
    assert "content-disagrees-with-name" not in {p.code for p in report.problems}


# ---------------------------------------- 2. files inside a SavedModel folder


@pytest.fixture(scope="module")
def saved_models(tmp_path_factory) -> dict[str, Path]:
    """Tiny real tf_keras SavedModel folders: a 6.1 MNIST convnet and a CIFAR-10 one without Dropout."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    tf_keras = pytest.importorskip("tf_keras")
    out = tmp_path_factory.mktemp("saved-models")
    tf_keras.utils.set_random_seed(11)
    shapes = {"mnist": (28, 28, 1), "cifar10-plain": (32, 32, 3)}
    for name, shape in shapes.items():
        model = tf_keras.Sequential([
            tf_keras.layers.Conv2D(4, 3, activation="relu", input_shape=shape),
            tf_keras.layers.MaxPooling2D(), tf_keras.layers.Flatten(),
            tf_keras.layers.Dense(10, activation="softmax")])
        model.save(out / name)
    return {name: out / name for name in shapes}


@pytest.mark.slow
@pytest.mark.shared
def test_files_in_a_saved_model_folder_are_that_parts(shared_dir, tmp_path, rubric, saved_models):
    folder = "assignment06/results/model-6-1"
    archive = write_zip(tmp_path / "assignment06_DoeJane.zip", [
        *folder_entries(saved_models["mnist"], folder, T0),
        (f"{folder}/predictions.csv", SANTOSH / "6_1_predictions.csv", T0),
        (f"{folder}/metrics.txt", SANTOSH / "6_1_metrics.txt", T0),
        (f"{folder}/validationplot.jpg", jpeg_of(AARTI / "Assignment_6-2b_Accuracy.png"), T0),
    ])
    report = check_submission(archive, rubric, tmp_path / "work")
    assert report.parts()["6.1"] == {
        "model": ["results/model-6-1"],
        "predictions": ["results/model-6-1/predictions.csv"],
        "metrics": ["results/model-6-1/metrics.txt"],
        "plot": ["results/model-6-1/validationplot.jpg"],
    }
    assert not {("missing-predictions", "6.1"), ("missing-metrics", "6.1"), ("missing-plot", "6.1")} & codes(report)
    # The SavedModel's own files are the model, never a part's data.
    listed = {f["path"] for f in report.to_dict()["files"]}
    assert not {p for p in listed if p.endswith((".pb", "variables.index")) or "/variables/" in p}
    six_one = report.contents.parts["6.1"]
    assert six_one.model_meta.format == "savedmodel" and six_one.model_meta.input_shape == [28, 28, 1]
    assert six_one.metrics.test_accuracy == pytest.approx(0.9913, abs=1e-4)
    assert six_one.predictions.n_rows == 10_000
    layout = run_part_check(report, rubric, "6.1", "layout_complete")
    assert (layout.score, layout.passed, layout.message) == (4.0, True, "all 4 expected files found")
    plots = run_part_check(report, rubric, "6.1", "plots_valid")
    assert (plots.score, plots.passed) == (5.0, True)


@pytest.mark.slow
@pytest.mark.shared
def test_saved_model_named_6_2b_without_dropout_is_6_2b(shared_dir, tmp_path, rubric, saved_models):
    archive = write_zip(tmp_path / "assignment06_DoeJane.zip", [
        *folder_entries(saved_models["cifar10-plain"], "assignment06/results/model-6-2-b", T0),
        ("assignment06/results/model-6-2-b/predictions.csv", SANTOSH / "6_2b_predictions.csv", T0),
        ("assignment06/results/6_2a_model.h5", SANTOSH / "6_2a_model.h5", T0),
    ])
    report = check_submission(archive, rubric, tmp_path / "work")
    parts = report.parts()
    assert parts["6.2b"]["model"] == ["results/model-6-2-b"]
    assert parts["6.2b"]["predictions"] == ["results/model-6-2-b/predictions.csv"]
    assert parts["6.2a"]["model"] == ["results/6_2a_model.h5"]
    assert ("missing-model", "6.2b") not in codes(report) and ("several-model", "6.2a") not in codes(report)
    warning = problem(report, "content-disagrees-with-name", "results/model-6-2-b")
    assert warning.part == "6.2b" and "has no Dropout layer, which 6.2b asks for" in warning.message
    result = run_part_check(report, rubric, "6.2b", "architecture_matches")
    assert (result.score, result.passed) == (0.0, False)
    assert "6.2b: dropout must be used" in result.message


# --------------------------------------------------------- 3. nested copies


@pytest.mark.shared
def test_a_nested_old_copy_is_reported_once_and_ignored(shared_dir, tmp_path, rubric):
    old = "assignment06/ZIP/assignment06_DoeJane/results"
    older = (2023, 2, 3, 9, 0, 0)
    archive = write_zip(tmp_path / "assignment06_DoeJane.zip", [
        *folder_entries(SANTOSH, "assignment06/results", T0, skip="_predictions.csv"),
        # Last week's zip, unpacked inside the folder: other models, other numbers.
        (f"{old}/Assignment_6.1_model.h5", AARTI / "Assignment_6-1_model.h5", older),
        (f"{old}/Assignment_6.1_metrics.txt", AARTI / "Assignment_6-1_metrics.txt", older),
        (f"{old}/Assignment_6.2a_model.h5", AARTI / "Assignment_6-2a_model.h5", older),
        (f"{old}/Assignment_6.2b_Accuracy.png", AARTI / "Assignment_6-2b_Accuracy.png", older),
    ])
    report = check_submission(archive, rubric, tmp_path / "work")
    parts = report.parts()
    assert parts["6.1"]["model"] == ["results/6_1_model.h5"]
    assert parts["6.1"]["metrics"] == ["results/6_1_metrics.txt"]
    assert parts["6.2a"]["model"] == ["results/6_2a_model.h5"]
    assert parts["6.2b"]["plot"] == ["results/6_2b_accplot.png", "results/6_2b_lossplot.png"]
    copy = problem(report, "duplicate-copy")
    assert (copy.path, copy.severity.value, copy.part) == ("ZIP/assignment06_DoeJane", "info", None)
    assert copy.message.startswith("'ZIP/assignment06_DoeJane/' looks like an older copy of the assignment06 "
                                   "folder (it holds its own results/ folder); its 4 file(s) were not graded")
    assert not {c for c, _ in codes(report)} & {"several-model", "several-metrics", "ambiguous-part"}
    nested = [f for f in report.to_dict()["files"] if f["path"].startswith("ZIP/")]
    assert len(nested) == 4 and {(f["role"], f["part"]) for f in nested} == {("other", None)}
    assert report.contents.parts["6.1"].metrics.test_accuracy == pytest.approx(0.9913, abs=1e-4)


@pytest.mark.shared
def test_a_copy_intake_already_named_is_ignored_and_reported_once(shared_dir, tmp_path, rubric):
    # assignment06/assignment06/: intake grades the fuller outer folder and says
    # it ignores the inner one; discovery must then really ignore it.
    archive = write_zip(tmp_path / "assignment06_DoeJane.zip", [
        *folder_entries(SANTOSH, "assignment06/results", T0, skip="_predictions.csv"),
        ("assignment06/assignment06/results/Assignment_6-1_model.h5", AARTI / "Assignment_6-1_model.h5", T0),
        ("assignment06/assignment06/results/Assignment_6-2a_model.h5", AARTI / "Assignment_6-2a_model.h5", T0),
    ])
    report = check_submission(archive, rubric, tmp_path / "work")
    assert report.parts()["6.1"]["model"] == ["results/6_1_model.h5"]
    assert report.parts()["6.2a"]["model"] == ["results/6_2a_model.h5"]
    copy = problem(report, "duplicate-copy")
    assert "ignored 'assignment06/assignment06/' (2 files)" in copy.message
    assert "several-model" not in {p.code for p in report.problems}


@pytest.mark.shared
def test_a_lone_copy_below_the_top_is_the_work(shared_dir, tmp_path, rubric):
    # Nothing at the top: the folder named like the archive is what was handed in.
    archive = write_zip(tmp_path / "assignment06_DoeJane.zip",
                        folder_entries(SANTOSH, "assignment06/assignment06_DoeJane/results", T0,
                                       skip="_predictions.csv"))
    report = check_submission(archive, rubric, tmp_path / "work")
    assert report.parts()["6.1"]["model"] == ["assignment06_DoeJane/results/6_1_model.h5"]
    assert "duplicate-copy" not in {p.code for p in report.problems}


# ---------------------------------------------- 4. plots named for no part


def _plots_archive(tmp_path: Path, when_unnamed: tuple, when_6_1: tuple = T0) -> Path:
    """6.2a and 6.2b with their own named plots; two plots named for no part."""
    return write_zip(tmp_path / "assignment06_DoeJane.zip", [
        ("assignment06/results/accuracyPNG.png", AARTI / "Assignment_6.2a_Accuracy.png", when_unnamed),
        ("assignment06/results/assignment06PNG.png", AARTI / "Assignment_6-2a_Loss.png",
         when_unnamed[:4] + (when_unnamed[4] + 1,) + when_unnamed[5:]),
        ("assignment06/results/6-1_model.h5", SANTOSH / "6_1_model.h5", when_6_1),
        ("assignment06/results/6-1_metrics.txt", SANTOSH / "6_1_metrics.txt", when_6_1),
        ("assignment06/results/6-2a_model.h5", SANTOSH / "6_2a_model.h5", (2023, 2, 10, 15, 10, 0)),
        ("assignment06/results/6-2a_accuracy.png", AARTI / "Assignment_6-2b_Accuracy.png", (2023, 2, 10, 15, 10, 0)),
        ("assignment06/results/6-2b_model.h5", SANTOSH / "6_2b_model.h5", (2023, 2, 10, 16, 5, 0)),
        ("assignment06/results/6-2b_accuracy.png", AARTI / "Assignment_6-2b_Loss.png", (2023, 2, 10, 16, 5, 0)),
    ])


@pytest.mark.shared
def test_plots_named_for_no_part_go_to_the_part_without_one(shared_dir, tmp_path, rubric):
    report = check_submission(_plots_archive(tmp_path, (2023, 2, 10, 14, 27, 0)), rubric, tmp_path / "work")
    parts = report.parts()
    assert parts["6.1"]["plot"] == ["results/accuracyPNG.png", "results/assignment06PNG.png"]
    assert parts["6.2a"]["plot"] == ["results/6-2a_accuracy.png"]
    assert parts["6.2b"]["plot"] == ["results/6-2b_accuracy.png"]
    assert ("missing-plot", "6.1") not in codes(report)
    first = problem(report, "plot-by-elimination", "results/accuracyPNG.png")
    assert (first.part, first.severity.value) == ("6.1", "warning")
    assert first.message == (
        "results/accuracyPNG.png names no part; it was taken as a 6.1 plot by elimination (6.2a and 6.2b have "
        "their own plots) and because it was saved 3 minutes before results/6-1_model.h5. Put the part in its "
        "name (for example results/6.1/accuracy.png)")
    second = problem(report, "plot-by-elimination", "results/assignment06PNG.png")
    assert "saved 2 minutes before results/6-1_model.h5" in second.message
    plots = run_part_check(report, rubric, "6.1", "plots_valid")
    assert (plots.score, plots.max_score, plots.passed) == (5.0, 5.0, True)


@pytest.mark.shared
def test_a_plot_saved_with_another_part_is_not_given_away(shared_dir, tmp_path, rubric):
    # Saved a minute after the 6.2a model, hours from the 6.1 one: more likely
    # a third 6.2a plot than 6.1's, so it stays unassigned and is asked about.
    report = check_submission(_plots_archive(tmp_path, (2023, 2, 10, 15, 11, 0), when_6_1=(2023, 2, 10, 9, 0, 0)),
                              rubric, tmp_path / "work")
    assert "plot" not in report.parts().get("6.1", {})
    assert ("missing-plot", "6.1") in codes(report)
    ambiguous = problem(report, "ambiguous-part", "results/accuracyPNG.png")
    assert ambiguous.message.startswith("results/accuracyPNG.png: could belong to 6.1 or 6.2a")


@pytest.mark.shared
def test_without_usable_times_elimination_alone_decides_and_says_so(shared_dir, tmp_path, rubric):
    # Every entry stamped within seconds (a zip made by a script): times tell nothing.
    same = (2023, 2, 10, 14, 30, 0)
    archive = write_zip(tmp_path / "assignment06_DoeJane.zip", [
        ("assignment06/results/accuracyPNG.png", AARTI / "Assignment_6.2a_Accuracy.png", same),
        ("assignment06/results/6-1_model.h5", SANTOSH / "6_1_model.h5", same),
        ("assignment06/results/6-2a_accuracy.png", AARTI / "Assignment_6-2b_Accuracy.png", same),
        ("assignment06/results/6-2b_accuracy.png", AARTI / "Assignment_6-2b_Loss.png", same),
    ])
    report = check_submission(archive, rubric, tmp_path / "work")
    assert report.parts()["6.1"]["plot"] == ["results/accuracyPNG.png"]
    assert problem(report, "plot-by-elimination").message.startswith(
        "results/accuracyPNG.png names no part; it was taken as a 6.1 plot by elimination (6.2a and 6.2b have "
        "their own plots); the archive's times do not tell the parts apart.")


@pytest.mark.shared
def test_of_several_parts_without_a_plot_the_nearest_in_time_gets_it(shared_dir, tmp_path, rubric):
    archive = write_zip(tmp_path / "assignment06_DoeJane.zip", [
        ("assignment06/results/accuracyPNG.png", AARTI / "Assignment_6.2a_Accuracy.png", (2023, 2, 10, 14, 27, 0)),
        ("assignment06/results/6-1_model.h5", SANTOSH / "6_1_model.h5", T0),
        ("assignment06/results/6-2a_model.h5", SANTOSH / "6_2a_model.h5", (2023, 2, 10, 15, 10, 0)),
        ("assignment06/results/6-2a_accuracy.png", AARTI / "Assignment_6-2b_Accuracy.png", (2023, 2, 10, 15, 10, 0)),
        ("assignment06/results/6-2b_model.h5", SANTOSH / "6_2b_model.h5", (2023, 2, 10, 16, 5, 0)),
    ])
    report = check_submission(archive, rubric, tmp_path / "work")
    assert report.parts()["6.1"]["plot"] == ["results/accuracyPNG.png"]
    assert ("missing-plot", "6.2b") in codes(report) and ("missing-plot", "6.1") not in codes(report)
    assert problem(report, "plot-by-elimination").message.startswith(
        "results/accuracyPNG.png names no part; it was taken as a 6.1 plot because, of the parts without a plot "
        "(6.1 and 6.2b), it was saved 3 minutes before results/6-1_model.h5, the nearest in time.")


# ------------------------------------------- plots copied between parts


@pytest.mark.shared
def test_blank_plots_are_blank_not_copies_of_each_other(shared_dir, tmp_path, rubric):
    # santosh0924's six plots are one empty 432x288 canvas (saved after plt.show()):
    # identical bytes, but blank is the fault; a copy warning would only repeat it.
    archive = write_zip(tmp_path / "assignment06_DoeJane.zip",
                        folder_entries(SANTOSH, "assignment06/results", T0, skip="_predictions.csv"))
    report = check_submission(archive, rubric, tmp_path / "work")
    blank = sorted(p.path for p in report.problems if p.code == "blank-plot")
    assert blank == sorted(f"results/{name}" for name in (
        "6_1_accplot.png", "6_1_lossplot.png", "6_2a_accplot.png", "6_2a_lossplot.png",
        "6_2b_accplot.png", "6_2b_lossplot.png"))
    assert "duplicate-plot" not in {p.code for p in report.problems}
    plots = run_part_check(report, rubric, "6.2a", "plots_valid")
    assert (plots.score, plots.passed) == (0.0, False)
    assert plots.message == ("0 usable plot(s) (1 required); rejected: results/6_2a_accplot.png: blank; "
                             "results/6_2a_lossplot.png: blank")


@pytest.mark.shared
def test_a_real_plot_handed_in_for_two_parts_is_a_copy(shared_dir, tmp_path, rubric):
    plot = AARTI / "Assignment_6-2b_Accuracy.png"
    archive = write_zip(tmp_path / "assignment06_DoeJane.zip", [
        ("assignment06/results/6.2a/accuracy.png", plot, T0),
        ("assignment06/results/6.2b/accuracy.png", plot, T0),
    ])
    report = check_submission(archive, rubric, tmp_path / "work")
    copy = problem(report, "duplicate-plot")
    assert (copy.path, copy.part, copy.severity.value) == ("results/6.2b/accuracy.png", "6.2b", "error")
    assert copy.message == ("results/6.2b/accuracy.png (6.2b) is the same image as results/6.2a/accuracy.png "
                            "(6.2a); save each part's own training curves")
    copied = run_part_check(report, rubric, "6.2b", "plots_valid")
    assert (copied.score, copied.passed) == (0.0, False)
    assert "results/6.2b/accuracy.png: a copy of another part's plot" in copied.message
    first = run_part_check(report, rubric, "6.2a", "plots_valid")
    assert first.passed and first.score == first.max_score


def test_a_metrics_file_saved_again_for_another_part_is_called_a_copy(tmp_path, rubric):
    """One metrics file saved three times, as 6.1's, 6.2a's and 6.2b's (seen in a real
    archive): the copies give 6.1's figures, and each copy's part is told so."""
    epochs = b"0.015307 0.995292 0.015182 0.995250\n0.012250 0.996271 0.016857 0.994667\n"
    labels = b"3\n" * 10_000
    archive = write_zip(tmp_path / "assignment06_DoeJane.zip", [
        *[(f"assignment06/results/{name}", epochs, T0)
          for name in ("metrics-6-1.txt", "metrics-6-2-a.txt", "metrics-6-2-b.txt")],
        ("assignment06/results/predictions-6-1.txt", labels, T0),
        ("assignment06/results/predictions-6-2-a.txt", labels, T0),     # the same labels, as its own file
    ])
    report = check_submission(archive, rubric, tmp_path / "work")
    copied = sorted((p.code, p.part, p.path, p.severity.value) for p in report.problems if p.code.startswith("copied-"))
    assert copied == [("copied-metrics", "6.2a", "results/metrics-6-2-a.txt", "warning"),
                      ("copied-metrics", "6.2b", "results/metrics-6-2-b.txt", "warning"),
                      ("copied-predictions", "6.2a", "results/predictions-6-2-a.txt", "warning")]
    assert problem(report, "copied-metrics", "results/metrics-6-2-b.txt").message == (
        "results/metrics-6-2-b.txt (6.2b) has the same contents as results/metrics-6-1.txt (6.1): the "
        "metrics it gives are 6.1's, not 6.2b's; save each part's own metrics from its own model")
