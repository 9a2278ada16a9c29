"""`grade submissions/` end to end on a synthetic class: correct, partial,
broken, hostile, inflated and duplicate submissions, graded in a real sandbox."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner

from grader import rubric as rubric_mod
from grader.batch import find_archives, grade_batch
from grader.cli import main
from grader.pipeline import load_test_data

pytestmark = [pytest.mark.slow]

CORRECT, PARTIAL, BROKEN, HOSTILE, INFLATED, COPY = (
    "assignment06_DoeJane.zip", "assignment06_RoePartial.zip", "assignment06_BrokenBob.zip",
    "assignment06_HackerHal.zip", "assignment06_InflatedIvy.zip", "assignment06_CopyCat.zip")


def _blank_png(path: Path) -> None:
    from PIL import Image

    Image.new("RGB", (640, 480), "white").save(path)


def _untrained_copy(model_path: Path, target: Path) -> None:
    """The same architecture with fresh random weights: a model that guesses."""
    import keras

    model = keras.models.load_model(model_path)
    fresh = keras.models.clone_model(model)
    fresh.save(target)


@pytest.fixture(scope="session")
def synthetic_class(tmp_path_factory):
    """A data folder and a submissions folder of six archives (built once)."""
    import reference
    from grader.datasets import ensure_synthetic_data, write_synthetic_images
    from reference.pack import pack
    from tests.hostile_models import hostile_keras

    base = tmp_path_factory.mktemp("class")
    data_dir = ensure_synthetic_data(0, cache_dir=base / "cache")
    images = base / "images"
    write_synthetic_images(images, count=3)
    tree_parent = base / "reference"
    reference.run(None, tree_parent, data_dir, quick=True, images_dir=images)
    tree = tree_parent / "assignment06"
    subs = base / "submissions"
    subs.mkdir()

    pack(tree, subs, "Doe", "Jane")
    pack(tree, subs, "Copy", "Cat")

    partial = base / "partial" / "assignment06"
    shutil.copytree(tree, partial)
    (partial / "results/6.2b/model.keras").unlink()
    _blank_png(partial / "results/6.1/accuracy.png")
    pack(partial, subs, "Roe", "Partial")

    (subs / BROKEN).write_bytes(b"this is not a zip file, it was a Word document\n" * 20)

    hostile = base / "hostile" / "assignment06"
    shutil.copytree(tree, hostile)
    sentinel = base / "HOSTILE_RAN"
    (hostile / "results/6.1/model.keras").unlink()
    hostile_keras(hostile / "results/6.1/model.keras", f"open({str(sentinel)!r}, 'w').write('ran')\n")
    pack(hostile, subs, "Hacker", "Hal")

    inflated = base / "inflated" / "assignment06"
    shutil.copytree(tree, inflated)
    _untrained_copy(tree / "results/6.2a/model.keras", inflated / "results/6.2a/model.keras")
    metrics = json.loads((inflated / "results/6.2a/metrics.json").read_text())
    metrics["test_accuracy"] = 0.93
    (inflated / "results/6.2a/metrics.json").write_text(json.dumps(metrics))
    pack(inflated, subs, "Inflated", "Ivy")
    return {"data_dir": data_dir, "subs": subs, "sentinel": sentinel, "tree": tree, "base": base}


def _backend(name: str):
    from grader.evaluate import SandboxUnavailable, choose_backend

    try:
        return choose_backend(name)
    except SandboxUnavailable as exc:
        pytest.skip(f"{name} sandbox unavailable: {exc}")


@pytest.fixture(scope="session")
def graded(synthetic_class):
    """The class graded once with bubblewrap (the Docker run is its own test)."""
    rubric = rubric_mod.load()
    out = synthetic_class["base"] / "grades"
    data = load_test_data(rubric, synthetic_class["data_dir"])
    summary = grade_batch(find_archives(synthetic_class["subs"]), out, rubric, _backend("bwrap"), data, jobs=2,
                          exports=("blackboard", "canvas"))
    records = {p.name: json.loads(p.read_text()) for p in (out / "results").glob("*.json")}
    return summary, out, records


def _record(records, archive):
    return records[archive.replace(".zip", ".json")]


def _check(record, part, check_id):
    return next(c for c in record["parts"][part]["checks"] if c["id"] == check_id)


def test_correct_submission_gets_full_marks(graded):
    summary, out, records = graded
    doe = _record(records, CORRECT)
    assert doe["status"] == "graded"
    assert doe["score"] == pytest.approx(100.0)
    assert doe["student"]["last"] == "Doe" and doe["student"]["first"] == "Jane"
    baselines = rubric_mod.load().baselines
    for part in ("6.1", "6.2a", "6.2b"):
        assert doe["parts"][part]["recomputed"]["accuracy"] >= baselines[part].full_credit_at
        assert doe["parts"][part]["reported"]["accuracy"] == pytest.approx(
            doe["parts"][part]["recomputed"]["accuracy"], abs=0.02)
    assert _check(doe, "6.3", "imagenet_labels_match")["passed"]


def test_partial_submission_loses_the_missing_model_and_the_blank_plot(graded):
    _, _, records = graded
    roe = _record(records, PARTIAL)
    assert roe["status"] == "graded"
    part = roe["parts"]["6.2b"]
    assert _check(roe, "6.2b", "layout_complete")["score"] == pytest.approx(3 * 3 / 4)
    assert _check(roe, "6.2b", "model_loads")["score"] == 0
    assert part["recomputed"]["accuracy"] is None
    plots = _check(roe, "6.1", "plots_valid")
    assert plots["score"] == pytest.approx(5 * 0.5)
    assert "blank" in plots["message"]
    assert roe["score"] == pytest.approx(100 - 3 / 4 - 4 - 6 - 3 - 3 - 3 - 2.5)


def test_broken_archive_is_an_error_row_with_the_reason(graded):
    summary, out, records = graded
    bob = _record(records, BROKEN)
    assert bob["status"] == "error"
    assert "zip" in bob["note"].lower()
    grades = pd.read_csv(out / "grades.csv")
    row = grades[grades["archive"] == BROKEN].iloc[0]
    assert row["status"] == "error"


def test_hostile_model_is_contained_and_scored_zero(graded, synthetic_class):
    _, _, records = graded
    hal = _record(records, HOSTILE)
    assert not synthetic_class["sentinel"].exists()
    loads = _check(hal, "6.1", "model_loads")
    assert loads["score"] == 0
    assert "lambda" in loads["message"].lower()
    # The other parts of the same archive are graded as usual.
    assert hal["parts"]["6.2a"]["score"] == 25


def test_inflated_report_is_flagged(graded):
    _, _, records = graded
    ivy = _record(records, INFLATED)
    check = _check(ivy, "6.2a", "reported_metrics_match")
    assert check["score"] == 0
    assert check["evidence"]["integrity_flag"] is True
    assert "integrity" in check["message"]
    assert ivy["parts"]["6.2a"]["recomputed"]["accuracy"] < 0.5
    assert _check(ivy, "6.2a", "accuracy_vs_baseline")["score"] == 0


def test_class_outputs_and_duplicates(graded):
    summary, out, records = graded
    assert summary.graded + summary.errors == 6 and summary.errors == 1
    grades = pd.read_csv(out / "grades.csv")
    assert len(grades) == 6
    doe = grades[grades["archive"] == CORRECT].iloc[0]
    assert doe["total"] == pytest.approx(100.0)
    index = (out / "index.html").read_text()
    # The copied submission shares every model file with the original.
    assert "assignment06_CopyCat.zip" in index and "assignment06_DoeJane.zip" in index
    dup = _record(records, COPY)
    assert dup["model_hashes"] == _record(records, CORRECT)["model_hashes"]
    assert (out / "blackboard_grades.csv").is_file() and (out / "canvas_grades.csv").is_file()
    assert (out / "reports" / "assignment06_DoeJane.html").read_text().count("6.2b") >= 1


def test_rerun_skips_unchanged_archives_and_force_regrades(graded, synthetic_class):
    _, out, records = graded
    rubric = rubric_mod.load()
    data = load_test_data(rubric, synthetic_class["data_dir"])
    again = grade_batch(find_archives(synthetic_class["subs"]), out, rubric, _backend("bwrap"), data, jobs=2)
    assert again.skipped == 6 and again.graded == 0
    one = [synthetic_class["subs"] / BROKEN]
    forced = grade_batch(one, out, rubric, _backend("bwrap"), data, force=True)
    assert forced.skipped == 0 and forced.errors == 1


def test_cli_grades_one_archive_with_docker(synthetic_class, tmp_path):
    _backend("docker")
    archive = synthetic_class["subs"] / CORRECT
    result = CliRunner().invoke(main, [str(archive), "--out", str(tmp_path / "g"), "--sandbox", "docker",
                                       "--data-dir", str(synthetic_class["data_dir"])])
    assert result.exit_code == 0, result.output
    record = json.loads((tmp_path / "g" / "results" / "assignment06_DoeJane.json").read_text())
    assert record["sandbox"] == "docker"
    assert record["score"] == pytest.approx(100.0)
    assert "1 graded, 0 error(s)" in result.output


def test_reference_submission_is_ready_for_grade_check(synthetic_class):
    result = CliRunner().invoke(main, ["check", str(synthetic_class["subs"] / CORRECT)])
    assert result.exit_code == 0, result.output
    assert "Ready to submit." in result.output
    partial = CliRunner().invoke(main, ["check", "--json", str(synthetic_class["subs"] / PARTIAL)])
    assert partial.exit_code == 1
    report = json.loads(partial.output)
    codes = {(p["code"], p["part"]) for p in report["problems"]}
    assert ("missing-model", "6.2b") in codes and ("blank-plot", "6.1") in codes


@pytest.mark.browser
def test_graded_reports_render_in_chromium(graded, tmp_path):
    from tests.test_report_browser import CHROMIUM, CHROMIUM_ARGS, Watched

    if not CHROMIUM.exists():
        pytest.skip("Debian chromium is not installed (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    _, out, records = graded
    with sync_playwright() as manager:
        context = manager.chromium.launch_persistent_context(
            str(tmp_path / "profile"), executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
        try:
            for stem in ("assignment06_DoeJane", "assignment06_RoePartial", "assignment06_HackerHal"):
                watched = Watched(context, out / "reports" / f"{stem}.html")
                assert watched.broken_images() == []
                # the student's two plots per part and the grader's confusion matrices
                assert watched.image_count() >= 6
                assert watched.errors == [] and watched.dialogs == []
                total = records[f"{stem}.json"]["score"]
                assert watched.page.inner_text("#total").startswith(f"Total: {total:g} / 100")
            index = Watched(context, out / "index.html")
            assert index.broken_images() == [] and index.errors == []
            links = index.page.eval_on_selector_all("a[href^='reports/']", "as => as.map(a => a.getAttribute('href'))")
            assert sorted(links) == sorted(f"reports/{Path(a).stem}.html" for a in
                                           (CORRECT, PARTIAL, BROKEN, HOSTILE, INFLATED, COPY))
        finally:
            context.close()


def test_pack_makes_a_named_zip_without_junk_and_checks_it(synthetic_class, tmp_path):
    import zipfile

    tree = tmp_path / "assignment06"
    shutil.copytree(synthetic_class["tree"], tree)
    (tree / ".ipynb_checkpoints").mkdir()
    (tree / ".ipynb_checkpoints" / "x-checkpoint.ipynb").write_text("{}")
    (tree / ".DS_Store").write_bytes(b"\0\0\0\1Bud1")
    result = CliRunner().invoke(main, ["pack", str(tree), "--name", "DoeJane", "--out", str(tmp_path / "zips")])
    assert result.exit_code == 0, result.output
    archive = tmp_path / "zips" / "assignment06_DoeJane.zip"
    names = zipfile.ZipFile(archive).namelist()
    assert all(n.startswith("assignment06/") for n in names)
    assert not any(".ipynb_checkpoints" in n or ".DS_Store" in n for n in names)
    assert "assignment06/results/6.1/model.keras" in names
    assert "Ready to submit." in result.output
    bad = CliRunner().invoke(main, ["pack", str(tree), "--name", "jane"])
    assert bad.exit_code == 2 and "LastnameFirstname" in bad.output


def test_rerun_wires_into_checks_records_and_report(synthetic_class, tmp_path):
    """`--rerun`: the 6.1 notebook is re-run with an epoch cap, its evidence reaches
    the rubric's rerun_reproduces check, the JSON record and the report's link."""
    from grader.pipeline import RerunOptions
    from reference.pack import pack

    text = (rubric_mod.rubrics_dir() / "assignment06.toml").read_text()
    marker = 'id = "plots_valid"\npoints = 5\n'
    assert marker in text
    text = text.replace(marker, 'id = "plots_valid"\npoints = 3\n\n[[parts.checks]]\nid = "rerun_reproduces"\n'
                                'points = 2\nparams = { tolerance = 0.02 }\n', 1)
    (tmp_path / "rubric.toml").write_text(text)
    shutil.copy(rubric_mod.rubrics_dir() / "assignment06.baselines.toml", tmp_path)
    rubric = rubric_mod.load(tmp_path / "rubric.toml")

    tree = tmp_path / "one" / "assignment06"
    shutil.copytree(synthetic_class["tree"], tree)
    for notebook in tree.glob("*.ipynb"):
        if not notebook.name.startswith("6.1"):
            notebook.unlink()
    subs = tmp_path / "subs"
    pack(tree, subs, "Doe", "Jane")
    out = tmp_path / "grades"
    data = load_test_data(rubric, synthetic_class["data_dir"])
    summary = grade_batch(find_archives(subs), out, rubric, _backend("bwrap"), data,
                          rerun=RerunOptions(max_epochs=1, cell_timeout=300, total_timeout=600))
    assert summary.graded == 1
    record = json.loads((out / "results" / "assignment06_DoeJane.json").read_text())
    assert record["rerun"]["status"] == "ok"
    [source] = record["rerun"]["sources"]
    assert source["path"].startswith("6.1") and source["status"] == "ok"
    assert [call["run"] for call in source["fit_calls"]] == [1]
    check = _check(record, "6.1", "rerun_reproduces")
    assert check["max_score"] == 2
    assert "capped" in check["message"] or check["passed"], check
    html = (out / "reports" / "assignment06_DoeJane.html").read_text()
    assert 'id="rerun"' in html
    link = Path(source["html"])
    assert link.is_file() and 'href="../rerun/' in html
    # a rerun with other options is not skipped as unchanged
    again = grade_batch(find_archives(subs), out, rubric, _backend("bwrap"), data)
    assert again.skipped == 0
