"""week06_architectures end to end on a synthetic class graded in the bubblewrap sandbox, with
`grade reference verify` on a broken reference.

- The reference solution packed as a student's archive: full marks apart from the pending manual points.
- A broken reference (its ResNet's blocks lost their shortcuts, its Inception modules are a plain
  stack of 1x1, 3x3 and 5x5 convolutions) through `grade reference verify`: it exits 1 naming both
  checks; its archive then stands in the class for the student whose "ResNet" has no skip
  connection and whose "Inception" is a plain CNN (each part is judged on its own).
- A student who used keras.applications.ResNet50(weights=None) whole, and kept a comparison table
  whose figures are not the models' (the old ResNet's, and a CNN accuracy 15 points low).
- The instructor's manual points merged from a CSV with bad rows.

The reference runs at its quick settings (reference/solutions.toml: narrow variants, 2,000
synthetic CIFAR-10 images in the real pickle format, 2 epochs), which classify the synthetic test
images well above the rubric's thresholds; the broken one trains on 300. A sandbox run per
archive is most of this module's time, hence three archives for the six cases."""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

import pytest

import reference
from grader import rubric as rubric_lib

pytestmark = [pytest.mark.slow]

RUBRIC = "week06_architectures"
N_TRAIN, N_TEST, BROKEN_TRAIN = 2000, 300, 300
CORRECT, BROKEN, APPLICATION = "week06_DoeJane.zip", "week06_ReferenceSolution.zip", "week06_AppsAndy.zip"
CNN_ACCURACY_OFF = -0.15          # the stale table's CNN accuracy, against the CNN's own
RESNET50_PARAMS = 23_608_202      # ResNet50 with a 10-class top on 32x32 images


@pytest.fixture(scope="module")
def rubric():
    return rubric_lib.load(RUBRIC)


@pytest.fixture(scope="module")
def sandbox():
    from grader.evaluate import SandboxUnavailable, choose_backend

    try:
        return choose_backend("bwrap")
    except SandboxUnavailable as exc:
        pytest.skip(f"bwrap sandbox unavailable: {exc}")


def _no_skip_block(resnet20):
    def block(x, filters, strides, name):
        y = resnet20.conv_bn_relu(x, filters, 3, name=f"{name}_1", strides=strides)
        return resnet20.conv_bn_relu(y, filters, 3, name=f"{name}_2")
    return block


def _plain_module(small_inception):
    """1x1, 3x3 and 5x5 convolutions one after another: a module's filters, no branches."""
    def module(x, widths, name):
        one, (_, three), (_, five, _), _ = widths
        x = small_inception.conv_bn_relu(x, one, 1, name=f"{name}_1x1")
        x = small_inception.conv_bn_relu(x, three, 3, name=f"{name}_3x3")
        return small_inception.conv_bn_relu(x, five, 5, name=f"{name}_5x5")
    return module


def _whole_resnet50(week06: Path, data: Path, rubric) -> None:
    """keras.applications.ResNet50(weights=None) as the ResNet part, untrained, its results written
    the way the reference writes them (the training curves are the reference's)."""
    import keras

    from grader import datasets
    from reference.results import write_classifier_results
    from reference.training import TrainedModel, scale_pixels

    part = rubric.part("resnet")
    dataset = rubric.dataset_of(part)
    x_test, y_test = datasets.load_test_set(dataset, data)
    keras.utils.set_random_seed(1)
    model = keras.applications.ResNet50(weights=None, input_shape=tuple(dataset.input_shape),
                                        classes=dataset.num_classes)
    model.compile(loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    loss, accuracy = model.evaluate(scale_pixels(x_test), y_test, verbose=0)
    metrics = json.loads((week06 / part.canonical_dir / "metrics.json").read_text())
    trained = TrainedModel(model, metrics["history"], float(loss), float(accuracy),
                           model.predict(scale_pixels(x_test), verbose=0), metrics["epochs"], N_TRAIN)
    write_classifier_results(trained, part, root=week06, quick=True)


def _stale_table(week06: Path) -> dict[str, dict]:
    """The reference's table kept beside the new ResNet, its CNN accuracy changed; the rows as written."""
    path = week06 / "results" / "comparison.csv"
    rows = list(csv.DictReader(path.read_text().splitlines()))
    for row in rows:
        if row["model"] == "CNN":
            row["test_accuracy"] = f"{float(row['test_accuracy']) + CNN_ACCURACY_OFF:.4f}"
    with path.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]), lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
    return {row["model"]: row for row in rows}


@pytest.fixture(scope="module")
def week06_class(tmp_path_factory, rubric, sandbox):
    """The reference, the ResNet50 student and the verified broken reference, all in verify's
    submissions folder (verify graded its own archive there already)."""
    from click.testing import CliRunner

    from grader.cli import main
    from grader.datasets import write_synthetic_data
    from reference import resnet20, small_inception
    from reference.pack import pack

    base = tmp_path_factory.mktemp("week06")
    data = write_synthetic_data(base / "data", n_train=N_TRAIN, n_test=N_TEST)
    record = reference.run(None, base / "reference", data, quick=True, rubric=rubric)
    tree = base / "reference" / rubric.folder
    out = base / "verify"
    subs = out / "submissions"
    pack(tree, subs, "Doe", "Jane", prefix=rubric.archive_prefix)

    applications = base / "application" / rubric.folder
    shutil.copytree(tree, applications)
    _whole_resnet50(applications, data, rubric)
    table = _stale_table(applications)
    pack(applications, subs, "Apps", "Andy", prefix=rubric.archive_prefix)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(resnet20, "residual_block", _no_skip_block(resnet20))
        patch.setattr(small_inception, "inception_module", _plain_module(small_inception))
        verified = CliRunner().invoke(main, [
            "reference", "verify", "--rubric", RUBRIC, "--quick", "--quick-samples", str(BROKEN_TRAIN),
            "--data-dir", str(data), "--sandbox", sandbox.name, "--out", str(out)], catch_exceptions=False)
    return {"base": base, "data": data, "tree": tree, "record": record, "subs": subs, "out": out, "table": table,
            "verified": verified}


@pytest.fixture(scope="module")
def graded(week06_class, rubric, sandbox):
    from grader.batch import find_archives, grade_batch
    from grader.pipeline import load_test_data

    out = week06_class["out"] / "grades"
    summary = grade_batch(find_archives(week06_class["subs"]), out, rubric, sandbox,
                          load_test_data(rubric, week06_class["data"]), jobs=2)
    records = {p.name.replace(".json", ".zip"): json.loads(p.read_text()) for p in (out / "results").glob("*.json")}
    return summary, out, records


def _check(record, part, check_id):
    return next(c for c in record["parts"][part]["checks"] if c["id"] == check_id)


# ------------------------------------------------------------ the reference tree


def test_the_reference_tree_is_the_recommended_layout_with_its_run_record(week06_class, rubric):
    tree, record = week06_class["tree"], week06_class["record"]
    for part_id in ("cnn", "resnet", "inception"):
        for name in ("model.keras", "predictions.csv", "metrics.json", "accuracy.png", "loss.png"):
            assert (tree / "results" / part_id / name).is_file(), (part_id, name)
        assert record.parts[part_id].epochs == 2 and record.parts[part_id].n_train == N_TRAIN
        assert record.parts[part_id].settings["batch_size"] == 32
        assert record.parts[part_id].test_accuracy >= rubric.baselines[part_id].full_credit_at
    assert (tree / "results" / "comparison.csv").is_file() and (tree / "comparison.md").is_file()
    assert record.notebooks == ["cnn_small_cnn.ipynb", "resnet_resnet20.ipynb", "inception_small_inception.ipynb",
                                "comparison_models.ipynb"]
    rows = record.parts["comparison"].figures
    assert [rows[p]["name"] for p in ("cnn", "resnet", "inception")] == ["CNN", "ResNet-20", "Inception"]
    for part_id in ("cnn", "resnet", "inception"):     # the table's figures are the trained models'
        assert rows[part_id]["params"] == record.parts[part_id].figures["params"]
        assert rows[part_id]["test_accuracy"] == pytest.approx(record.parts[part_id].test_accuracy)
    saved = reference.load_run_record(tree / "results" / "run.json")
    assert saved.parts["comparison"].figures == rows and saved.quick and saved.quick_train_samples == N_TRAIN


def test_the_comparison_notebook_rewrites_the_table_from_the_saved_models(week06_class, monkeypatch, tmp_path):
    import nbformat

    from reference.notebooks import code_of

    tree = week06_class["tree"]
    for part_id in ("cnn", "resnet", "inception"):
        shutil.copytree(tree / "results" / part_id, tmp_path / "results" / part_id)
    code = code_of(nbformat.read(tree / "comparison_models.ipynb", as_version=4))
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("GRADER_DATA_DIR", str(week06_class["data"]))
    exec(compile(code, "comparison_models.ipynb", "exec"), {"__name__": "__main__"})

    def measured(path):      # the timings differ from run to run; the rest must not
        return [{k: v for k, v in row.items() if not k.startswith("ms_")}
                for row in csv.DictReader(path.read_text().splitlines())]

    assert measured(tmp_path / "results" / "comparison.csv") == measured(tree / "results" / "comparison.csv")
    assert "## Strengths and weaknesses" in (tmp_path / "comparison.md").read_text()


# ------------------------------------------------------------ verify, broken


def test_verify_exits_1_naming_each_check_a_broken_reference_no_longer_earns(week06_class):
    verified, out = week06_class["verified"], week06_class["out"]
    assert verified.exit_code == 1, verified.output
    said = " ".join(verified.output.split())        # rich wraps long lines
    assert f"{RUBRIC} resnet/architecture_matches earned 1.33 of 4" in said
    assert f"{RUBRIC} inception/architecture_matches earned 1.33 of 4" in said
    assert "no residual block" in said and "no Inception module" in said
    saved = json.loads((out / "verify.json").read_text())
    assert saved["ok"] is False and saved["failures"] == ["resnet/architecture_matches",
                                                          "inception/architecture_matches"]
    statuses = {f"{v['part']}/{v['check']}": v["status"] for v in saved["verdicts"]}
    assert statuses["comparison/discussion_quality"] == "pending"
    assert [name for name, status in statuses.items() if status == "not judged"] == \
        ["cnn/accuracy_vs_baseline", "resnet/accuracy_vs_baseline", "inception/accuracy_vs_baseline"]
    assert sum(status == "earned" for status in statuses.values()) == len(statuses) - 6
    assert (out / "grades" / "reports" / BROKEN.replace(".zip", ".html")).is_file()


# ---------------------------------------------------------------- the class


def test_the_reference_submission_scores_full_marks_apart_from_the_manual_points(graded, rubric):
    summary, out, records = graded
    assert summary.errors == 0 and summary.skipped == 1        # verify's archive was graded already
    doe = records[CORRECT]
    assert doe["status"] == "graded"
    manual = sum(spec.points for part in rubric.parts for spec in part.manual_checks)
    assert manual == 8
    assert doe["score"] == pytest.approx(rubric.total_points - manual)
    for part in rubric.parts:
        for spec in part.checks:
            check = _check(doe, part.id, spec.id)
            if spec.kind == "manual":
                assert check["score"] == 0 and check["evidence"]["manual"] == "pending"
            else:
                assert check["passed"] and check["score"] == pytest.approx(spec.points), (part.id, spec.id)
    detectors = _check(doe, "resnet", "architecture_matches")["evidence"]["detectors"]
    assert detectors["residual"]["found"] and detectors["residual"]["count"] == 3     # quick: one block per stage
    assert detectors["application"]["found"] is False
    assert _check(doe, "inception", "architecture_matches")["evidence"]["detectors"]["inception"]["count"] == 2
    rows = _check(doe, "comparison", "comparison_figures_agree")["evidence"]["rows"]
    assert [row["part"] for row in rows] == ["cnn", "resnet", "inception"]
    assert all(row["agrees"] == {"accuracy": True, "params": True} for row in rows)


def test_a_resnet_without_skip_connections_loses_the_residual_detectors_share(graded):
    _, _, records = graded
    broken = records[BROKEN]
    check = _check(broken, "resnet", "architecture_matches")
    assert check["score"] == pytest.approx(4 * 1 / 3, abs=0.01)      # residual (weight 2) missed, application (1) fine
    assert "no residual block" in check["message"]
    assert check["evidence"]["detectors"]["residual"]["count"] == 0
    assert _check(broken, "cnn", "architecture_matches")["score"] == 4
    assert _check(broken, "comparison", "comparison_figures_agree")["score"] == 6   # its table is of its own models


def test_an_inception_that_is_a_plain_stack_has_no_inception_module(graded):
    _, _, records = graded
    check = _check(records[BROKEN], "inception", "architecture_matches")
    assert check["score"] == pytest.approx(4 * 1 / 3, abs=0.01)
    assert "no Inception module" in check["message"]
    assert check["evidence"]["detectors"]["inception"]["count"] == 0


def test_keras_applications_resnet50_used_whole_is_recognised_and_not_allowed(graded):
    _, _, records = graded
    andy = records[APPLICATION]
    check = _check(andy, "resnet", "architecture_matches")
    detectors = check["evidence"]["detectors"]
    assert detectors["application"]["found"] and "ResNet50" in detectors["application"]["summary"]
    assert detectors["residual"]["found"] and detectors["residual"]["count"] >= 16
    assert check["score"] == pytest.approx(4 * 2 / 3, abs=0.01)     # residual blocks yes, the whole application no
    assert "ResNet50" in check["message"]
    assert _check(andy, "resnet", "accuracy_vs_baseline")["score"] == 0          # untrained: a guess


def test_a_table_whose_figures_are_not_the_models_loses_the_agreement(graded, week06_class):
    _, _, records = graded
    andy = records[APPLICATION]
    agree = _check(andy, "comparison", "comparison_figures_agree")
    rows = {row["part"]: row for row in agree["evidence"]["rows"]}
    assert rows["cnn"]["agrees"] == {"accuracy": False, "params": True}
    assert rows["resnet"]["agrees"] == {"accuracy": False, "params": False}       # ResNet-20's figures, not ResNet50's
    assert rows["inception"]["agrees"] == {"accuracy": True, "params": True}
    written = week06_class["table"]
    assert rows["cnn"]["reported"]["accuracy"] == pytest.approx(float(written["CNN"]["test_accuracy"]))
    assert rows["cnn"]["measured"]["accuracy"] - rows["cnn"]["reported"]["accuracy"] == \
        pytest.approx(-CNN_ACCURACY_OFF, abs=1e-3)
    assert rows["resnet"]["reported"]["params"] == int(written["ResNet-20"]["params"])
    assert rows["resnet"]["measured"]["params"] == RESNET50_PARAMS
    assert agree["score"] == pytest.approx(6 * 3 / 6, abs=0.01) and not agree["passed"]   # 3 of 6 figures agree
    assert _check(andy, "comparison", "comparison_table")["score"] == 5          # the table itself is complete
    assert _check(andy, "comparison", "discussion_names_models")["score"] == 3


def test_manual_points_merge_from_a_csv_and_bad_rows_change_nothing(graded, week06_class):
    from click.testing import CliRunner

    from grader.cli import main

    _, out, records = graded
    sheet = week06_class["base"] / "manual.csv"
    sheet.write_text(
        "archive,part,check,points,comment\n"
        f"{CORRECT},comparison,discussion_quality,7,\"Argued from the measured figures; say why Inception is slow\"\n"
        "week06_NobodyHere.zip,comparison,discussion_quality,5,no such archive\n"
        f"{BROKEN},comparison,discussion_quality,12,more than the check's 8 points\n"
        f"{APPLICATION},comparison,discussion_depth,3,no such check\n")
    before = {name: json.loads((out / "results" / name.replace(".zip", ".json")).read_text()) for name in records}
    result = CliRunner().invoke(main, ["rescore", str(week06_class["subs"]), "--out", str(out), "--rubric", RUBRIC,
                                       "--manual", str(sheet)], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    said = " ".join(result.output.split())
    for line in (3, 4, 5):
        assert f"line {line}" in said, said
    after = {name: json.loads((out / "results" / name.replace(".zip", ".json")).read_text()) for name in records}
    given = _check(after[CORRECT], "comparison", "discussion_quality")
    assert given["score"] == 7 and given["evidence"]["manual"] == "given"
    assert given["evidence"]["comment"] == "Argued from the measured figures; say why Inception is slow"
    assert after[CORRECT]["score"] == pytest.approx(before[CORRECT]["score"] + 7) == pytest.approx(99)
    for name in (BROKEN, APPLICATION):                  # their rows were bad
        assert after[name]["score"] == pytest.approx(before[name]["score"])
        assert _check(after[name], "comparison", "discussion_quality")["evidence"]["manual"] == "pending"
    grades = {row["archive"]: row for row in csv.DictReader((out / "grades.csv").read_text().splitlines())}
    assert float(grades[CORRECT]["total"]) == pytest.approx(99)
    assert grades[BROKEN]["comparison/discussion_quality"] == "pending"
    assert "Argued from the measured figures" in (out / "reports" / CORRECT.replace(".zip", ".html")).read_text()
