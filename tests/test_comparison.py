"""The week06_architectures comparison part (issue 11, items 1 and 3): the
table of the models in every format a student writes it in, the discussion,
where discovery finds them, and the comparison checks scored against the
grader's own figures for each model (recomputed accuracy, the sandbox's
parameter counts and measurements), given here as the evaluate stage's
records so no sandbox runs. tests/test_measure.py runs the sandbox."""

from __future__ import annotations

import json
from pathlib import Path

import nbformat
import numpy as np
import pandas as pd
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook, new_output

from grader import rubric as rubric_mod
from grader.discover.documents import model_namer, read_part_table
from grader.pipeline import check_submission, inspect
from grader.readers.model_table import model_table
from grader.readers.tables import read_tables, tables_in_text
from grader.records import Evaluation, ModelEvaluation, Role
from grader.score import score_parts

N = 2000                                   # test images in these checks
PARAMS = {"cnn": 122_570, "resnet": 272_474, "inception": 1_649_402}
TRAINABLE = {"cnn": 122_570, "resnet": 271_098, "inception": 1_646_074}
ACCURACY = {"cnn": 0.7120, "resnet": 0.8250, "inception": 0.8010}
LABELS = {"cnn": "CNN", "resnet": "ResNet-20", "inception": "Inception v1 (small)"}

DISCUSSION = """# Comparison

The plain CNN has the fewest parameters (0.12 M) and the shortest time per image, but the lowest
test accuracy (71.2 %). The ResNet's skip connections let its twenty layers train: it is the most
accurate model here (82.5 %) with about twice the CNN's parameters, at a higher cost per image. The
Inception network's parallel 1x1, 3x3 and 5x5 branches make it the largest (1.65 M parameters) and
slowest model; its accuracy (80.1 %) is between the two others. For a small budget the CNN is enough;
the ResNet gives the best accuracy per parameter, and the Inception network would need more epochs
and regularisation to pay for its size. Depth with shortcuts beat width with branches in our runs,
but a longer schedule and data augmentation could change that ranking.

On one CPU thread the times per image follow the multiply-adds more than the parameters: the
Inception network's many small convolutions cost more than their weights suggest.
"""


@pytest.fixture(scope="module")
def rubric():
    return rubric_mod.load("week06_architectures")


@pytest.fixture(scope="module")
def name_of(rubric):
    return model_namer(rubric.part("comparison"), rubric)


def frame(**changes) -> pd.DataFrame:
    rows = {part: {"model": LABELS[part], "test_accuracy": ACCURACY[part], "params": PARAMS[part],
                   "ms_per_image": {"cnn": 0.81, "resnet": 2.1, "inception": 3.4}[part]} for part in LABELS}
    for part, values in changes.items():
        if values is None:
            rows.pop(part)
        else:
            rows[part].update(values)
    return pd.DataFrame(list(rows.values()))


def figures(table) -> dict:
    return {row.part: {kind: round(figure.value, 6) for kind, figure in row.figures.items()} for row in table.rows}


EXPECTED = {part: {"accuracy": ACCURACY[part], "params": PARAMS[part],
                   "time": {"cnn": 0.81, "resnet": 2.1, "inception": 3.4}[part]} for part in LABELS}


# ------------------------------------------------------------ table formats


def write_notebook(path: Path, cells: list) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(new_notebook(cells=cells), str(path))
    return path


@pytest.mark.parametrize("fmt", ["csv", "csv-index", "tsv", "json-records", "json-index", "json-columns",
                                 "json-split", "markdown", "text"])
def test_every_table_file_format_gives_each_models_figures(tmp_path, name_of, fmt):
    df = frame()
    path = tmp_path / {"tsv": "t.tsv", "markdown": "t.md", "text": "t.txt"}.get(fmt, "t.json" if "json" in fmt
                                                                               else "t.csv")
    if fmt == "csv":
        df.to_csv(path, index=False)
    elif fmt == "csv-index":
        df.to_csv(path)                                   # pandas' unnamed index column first
    elif fmt == "tsv":
        df.to_csv(path, sep="\t", index=False)
    elif fmt.startswith("json"):
        orient = fmt.split("-")[1]
        if orient in ("index", "columns"):
            df.set_index("model").to_json(path, orient=orient)
        else:
            df.to_json(path, orient=orient, index=orient == "split")
    elif fmt == "markdown":
        lines = ["| Model | Test accuracy (%) | Params | Time per image (ms) |", "|:--|--:|--:|--:|"]
        lines += [f"| **{LABELS[p]}** | {ACCURACY[p] * 100:.2f} | {PARAMS[p]:,} | {EXPECTED[p]['time']} |"
                  for p in LABELS]
        path.write_text("Our results:\n\n" + "\n".join(lines) + "\n\nAs the table shows...\n")
    else:
        path.write_text("Results\n\n" + df.to_string() + "\n")
    table = model_table(read_tables(path), name_of)
    assert table is not None
    assert figures(table) == EXPECTED
    assert table.columns["accuracy"] in ("test_accuracy", "Test accuracy (%)")


def test_a_dataframe_in_a_notebooks_output_and_a_transposed_one(tmp_path, rubric):
    df = frame()
    printed = new_output("stream", name="stdout", text="Comparison of the three models\n" + df.to_string() + "\n")
    shown = new_output("execute_result", data={"text/plain": repr(df.set_index("model").T),
                                               "text/html": "<table>...</table>"}, execution_count=7)
    for outputs, where in (([printed], "cell 2"), ([shown], "cell 2 (In [7])")):
        notebook = write_notebook(tmp_path / f"n{len(where)}.ipynb", [
            new_markdown_cell("## Comparison"),
            new_code_cell("print(df)" if outputs[0].output_type == "stream" else "df.set_index('model').T",
                          outputs=outputs, execution_count=7)])
        table = read_part_table(notebook, rubric.part("comparison"), rubric)
        assert figures(table) == EXPECTED
        assert table.where.startswith(where)


def test_units_rounding_and_columns_that_are_not_the_figures(name_of):
    text = """| Model | Top-1 acc. | Val. accuracy | Params (M) | Training time (s) | Latency (s) | Throughput (img/s) | MFLOPs |
|---|---|---|---|---|---|---|---|
| CNN | 71.2% | 0.99 | 0.12 | 300 | 0.00081 | 1234 | 40.8 |
| ResNet | 0.825 | 0.99 | 0.27M | 900 | 0.0021 | 476 | 81.0 |"""
    table = model_table(tables_in_text(text), name_of)
    cnn, resnet = table.row("cnn"), table.row("resnet")
    assert table.columns == {"accuracy": "Top-1 acc.", "params": "Params (M)", "time": "Latency (s)",
                             "flops": "MFLOPs"}
    assert cnn.figures["accuracy"].value == pytest.approx(0.712)
    assert cnn.figures["accuracy"].rounding == pytest.approx(0.0005)        # "71.2%": 0.7115 to 0.7125
    assert cnn.figures["params"].value == pytest.approx(120_000) and cnn.figures["params"].rounding == 5000
    assert resnet.figures["params"].value == pytest.approx(270_000)
    assert cnn.figures["time"].value == pytest.approx(0.81)                  # seconds -> ms per image
    assert cnn.figures["flops"].value == pytest.approx(40.8e6)
    assert table.unnamed == []


def test_a_table_of_other_things_names_no_models(name_of, tmp_path):
    path = tmp_path / "comparison.csv"
    path.write_text("epoch,accuracy,val_accuracy\n1,0.5,0.4\n2,0.6,0.5\n")
    assert model_table(read_tables(path), name_of) is None
    path.write_text("\x00\x01binary")
    from grader.readers import ReadError

    with pytest.raises(ReadError, match="not text"):
        read_tables(path)


# ------------------------------------------------------------- discovery


def test_the_recommended_layout_is_found_and_suggested(tmp_path, rubric):
    root = tmp_path / "week06"
    (root / "results").mkdir(parents=True)
    frame().to_csv(root / "results" / "comparison.csv", index=False)
    (root / "comparison.md").write_text(DISCUSSION)
    report = check_submission(root, rubric)
    found = report.parts()["comparison"]
    assert found == {"table": ["results/comparison.csv"], "discussion": ["comparison.md"]}
    table = report.contents.parts["comparison"].table
    assert figures(table) == EXPECTED
    assert report.contents.parts["comparison"].discussion.words > 150
    missing = {p.code: p.message for p in report.problems if p.part == "cnn"}
    assert missing["missing-model"] == "cnn has no saved model: save it as results/cnn/model.keras"


def test_without_files_the_grader_says_where_they_go(tmp_path, rubric):
    root = tmp_path / "week06"
    write_notebook(root / "cnn.ipynb", [new_code_cell("model.fit(x_train, y_train)")])
    report = check_submission(root, rubric)
    messages = {p.code: p.message for p in report.problems if p.part == "comparison"}
    assert messages["missing-table"] == "comparison has no comparison table: save it as results/comparison.csv"
    assert messages["missing-discussion"] == "comparison has no written discussion: save it as comparison.md"


def test_other_names_a_markdown_table_inside_the_discussion_and_a_notebook(tmp_path, rubric):
    root = tmp_path / "week06"
    (root / "results").mkdir(parents=True)
    table = "\n".join(["| Model | Accuracy | Params | ms/image |", "|---|---|---|---|"] +
                      [f"| {LABELS[p]} | {ACCURACY[p]} | {PARAMS[p]} | {EXPECTED[p]['time']} |" for p in LABELS])
    (root / "Model_Comparison_Discussion.md").write_text(DISCUSSION + "\n" + table + "\n")
    report = check_submission(root, rubric)
    assert report.parts()["comparison"] == {"table": ["Model_Comparison_Discussion.md"],
                                            "discussion": ["Model_Comparison_Discussion.md"]}
    assert figures(report.contents.parts["comparison"].table) == EXPECTED

    other = tmp_path / "other" / "week06"
    write_notebook(other / "exercise3.ipynb", [
        new_markdown_cell("# Exercise 3"),
        new_code_cell("df", outputs=[new_output("execute_result", data={"text/plain": repr(frame())},
                                                execution_count=3)], execution_count=3),
        new_markdown_cell(DISCUSSION.replace("# Comparison", "## What the figures say"))])
    (other / "results" / "resnet_vs_cnn.json").parent.mkdir(parents=True)
    frame().to_json(other / "results" / "resnet_vs_cnn.json", orient="records")
    report = check_submission(other, rubric)
    found = report.parts()["comparison"]
    assert found["table"] == ["results/resnet_vs_cnn.json"]
    assert found["discussion"] == ["exercise3.ipynb"]
    discussion = report.contents.parts["comparison"].discussion
    assert discussion.format == "notebook" and discussion.where == "cells 1-3" and discussion.words > 150


def test_a_shared_notebook_speaks_for_the_comparison_under_its_heading(tmp_path, rubric):
    root = tmp_path / "week06"
    write_notebook(root / "week6.ipynb", [
        new_markdown_cell("# CNN\nA plain stack of convolutions trained for twenty epochs on CIFAR-10, "
                          "with words enough to count as a discussion if they were taken for one, which they "
                          "must not be, because this heading names another part."),
        new_markdown_cell("# Comparing the models"),
        new_code_cell("print(df)", outputs=[new_output("stream", name="stdout", text=frame().to_string())]),
        new_markdown_cell(DISCUSSION.replace("# Comparison\n", ""))])
    report = check_submission(root, rubric)
    files = report.contents.parts["comparison"]
    assert report.parts()["comparison"] == {"table": ["week6.ipynb"], "discussion": ["week6.ipynb"]}
    assert "plain stack" not in files.discussion.text and "skip connections" in files.discussion.text
    assert files.table.where.startswith("cell 3")
    found = [f for f in report.layout.files if f.role is Role.TABLE]
    assert found[0].reasons == ["a table of the models in week6.ipynb (cell 3, its output)"]


# ------------------------------------------------------------------ checks


def evaluation(accuracies: dict[str, float], labels: np.ndarray, measured: bool = True) -> Evaluation:
    """The evaluate stage's records: one-hot probabilities right on the first
    accuracy x N images, the sandbox's parameter counts and measurements."""
    result = Evaluation(backend="bwrap", status="ok")
    for number, (part, accuracy) in enumerate(accuracies.items()):
        predicted = labels.copy()
        wrong = np.arange(N) >= round(accuracy * N)
        predicted[wrong] = (labels[wrong] + 1 + number) % 10
        probabilities = np.eye(10, dtype=np.float32)[predicted]
        measurements = {"params": {"total": PARAMS[part], "trainable": TRAINABLE[part],
                                   "non_trainable": PARAMS[part] - TRAINABLE[part]},
                        "latency": {"batch1_ms": {"cnn": 0.9, "resnet": 2.4, "inception": 3.1}[part],
                                    "large_batch": 256, "large_batch_ms": 0.3, "repeats": 5, "threads": 1},
                        "flops": {"cnn": 41_000_000, "resnet": 81_000_000, "inception": 310_000_000}[part],
                        "size_bytes": PARAMS[part] * 4} if measured else {}
        result.models[part] = ModelEvaluation(
            part=part, path=f"results/{part}/model.keras", ok=True, loader="keras3-safe", probabilities=probabilities,
            architecture={"params": {"total": PARAMS[part], "trainable": TRAINABLE[part]}}, measurements=measurements,
            scaling="unit")
    return result


@pytest.fixture(scope="module")
def labels():
    return np.random.default_rng(5).integers(0, 10, N)


def grade(tmp_path: Path, rubric, labels, table: pd.DataFrame | None, discussion: str | None = DISCUSSION,
          accuracies: dict[str, float] = ACCURACY, measured: bool = True):
    root = tmp_path / "week06"
    (root / "results").mkdir(parents=True, exist_ok=True)
    if table is not None:
        table.to_csv(root / "results" / "comparison.csv", index=False)
    if discussion is not None:
        (root / "comparison.md").write_text(discussion)
    report = inspect(root, rubric, tmp_path / "work")
    parts = score_parts(rubric, report.layout, report.contents, report.problems, evaluation(accuracies, labels, measured),
                        {"cifar10": labels}, {}, "the models were not run")
    return {check.id: check for check in parts["comparison"].checks}


def test_a_table_that_matches_the_models_earns_every_automatic_point(tmp_path, rubric, labels):
    checks = grade(tmp_path, rubric, labels, frame())
    assert {i: (c.score, c.max_score) for i, c in checks.items()} == {
        "comparison_table": (5, 5), "comparison_figures_agree": (6, 6), "comparison_ranking": (3, 3),
        "discussion_names_models": (3, 3), "discussion_quality": (0, 8)}
    assert checks["discussion_quality"].evidence == {"manual": "pending"}
    rows = {row["part"]: row for row in checks["comparison_figures_agree"].evidence["rows"]}
    assert rows["resnet"] == {
        "part": "resnet", "model": "ResNet-20",
        "measured": {"accuracy": 0.825, "params": 272_474, "ms_per_image": 2.4, "flops": 81_000_000},
        "reported": {"accuracy": 0.825, "params": 272_474, "ms_per_image": 2.1},
        "agrees": {"accuracy": True, "params": True}, "verifiable": {"accuracy": True, "params": True},
        "notes": rows["resnet"]["notes"]}
    assert checks["comparison_ranking"].message.startswith("the table ranks resnet > inception > cnn")


def test_figures_that_do_not_match_fail_naming_the_model_and_the_figure(tmp_path, rubric, labels):
    table = frame(resnet={"test_accuracy": 0.91}, inception={"params": 1_200_000})
    checks = grade(tmp_path, rubric, labels, table)
    agree = checks["comparison_figures_agree"]
    assert not agree.passed and agree.score == pytest.approx(6 * 4 / 6)
    assert "resnet: the table's accuracy 0.91 is 0.0850 above the recomputed 0.8250" in agree.message
    assert ("inception: the table's 1200000 parameters (1,200,000) are not the model's 1,649,402, "
            "1,646,074 trainable (27% fewer)") in agree.message
    assert "cnn" not in agree.message
    rows = {row["part"]: row["agrees"] for row in agree.evidence["rows"]}
    assert rows == {"cnn": {"accuracy": True, "params": True}, "resnet": {"accuracy": False, "params": True},
                    "inception": {"accuracy": True, "params": False}}


def test_trainable_parameters_and_rounded_figures_agree(tmp_path, rubric, labels):
    table = frame(resnet={"params": TRAINABLE["resnet"]}, inception={"params": "1.65M", "test_accuracy": "80.1%"})
    checks = grade(tmp_path, rubric, labels, table)
    assert checks["comparison_figures_agree"].passed, checks["comparison_figures_agree"].message
    assert "271,098 (trainable)" in checks["comparison_figures_agree"].message


def test_a_wrong_ranking_fails_and_close_pairs_may_be_in_either_order(tmp_path, rubric, labels):
    swapped = frame(cnn={"test_accuracy": 0.83}, resnet={"test_accuracy": 0.70})
    ranking = grade(tmp_path / "a", rubric, labels, swapped)["comparison_ranking"]
    assert not ranking.passed and ranking.score == 0
    assert ("the table puts cnn above resnet, but the recomputed accuracies are cnn 0.7120 < resnet 0.8250"
            in ranking.message)
    # inception 0.8010 and resnet 0.8250 are 0.024 apart: under 3 standard errors of the difference (0.037)
    close = frame(inception={"test_accuracy": 0.826}, resnet={"test_accuracy": 0.824})
    assert grade(tmp_path / "b", rubric, labels, close)["comparison_ranking"].passed


def test_a_missing_model_row_and_a_missing_column_cost_their_cells(tmp_path, rubric, labels):
    checks = grade(tmp_path / "a", rubric, labels, frame(inception=None))
    table = checks["comparison_table"]
    assert not table.passed and table.score == pytest.approx(5 * 6 / 9)
    assert table.message == "results/comparison.csv: no row for inception"
    assert checks["comparison_figures_agree"].score == pytest.approx(6 * 4 / 6)
    assert "inception: the table gives no test accuracy" in checks["comparison_figures_agree"].message
    no_time = frame().drop(columns=["ms_per_image"])
    table = grade(tmp_path / "b", rubric, labels, no_time)["comparison_table"]
    assert table.score == pytest.approx(5 * 6 / 9)
    assert table.message.startswith("results/comparison.csv: no column for inference time; cnn ('CNN') has no "
                                    "inference time")


def test_without_a_table_or_measurements_the_checks_say_why(tmp_path, rubric, labels):
    checks = grade(tmp_path / "a", rubric, labels, None)
    assert checks["comparison_table"].score == 0
    assert checks["comparison_table"].message == (
        "no table comparing the models: save one row per model (cnn, resnet, inception) with its test accuracy, "
        "parameters and time per image as results/comparison.csv")
    unmeasured = grade(tmp_path / "b", rubric, labels, frame(), measured=False)
    rows = {row["part"]: row for row in unmeasured["comparison_figures_agree"].evidence["rows"]}
    assert unmeasured["comparison_figures_agree"].passed       # parameters the runner always counts
    assert rows["cnn"]["measured"] == {"accuracy": 0.712, "params": 122_570, "ms_per_image": None, "flops": None}


def test_the_discussion_must_be_long_enough_and_name_each_model(tmp_path, rubric, labels):
    short = "The ResNet was better than the CNN because of its skip connections."
    check = grade(tmp_path / "a", rubric, labels, frame(), discussion=short)["discussion_names_models"]
    assert not check.passed
    assert check.message == "comparison.md: 12 words, at least 150 asked for; it does not name inception"
    assert check.score == pytest.approx(3 * (0.5 * 12 / 150 + 0.5 * 2 / 3))
    assert check.evidence["named"] == {"cnn": True, "resnet": True, "inception": False}
    missing = grade(tmp_path / "b", rubric, labels, frame(), discussion=None)["discussion_names_models"]
    assert missing.score == 0 and "comparison.md" in missing.message


# ------------------------------------------------- models named by nothing


def test_unnamed_models_go_to_the_part_whose_detectors_they_satisfy(tmp_path, rubric):
    keras = pytest.importorskip("keras")
    import sys

    sys.path.insert(0, str(Path(__file__).resolve().parent))
    import week06_material as material

    root = tmp_path / "week06" / "results"
    root.mkdir(parents=True)
    models = material.build_models(keras)
    for number, part in enumerate(("inception", "cnn", "resnet"), start=1):
        models[part].save(root / f"model{number}.keras")
    material.resnet(keras, skip=False).save(root / "resnet_final.keras")
    report = check_submission(tmp_path / "week06", rubric)
    parts = {f.path: f.part for f in report.layout.files if f.role is Role.MODEL}
    assert parts == {"results/model1.keras": "inception", "results/model2.keras": "cnn",
                     "results/model3.keras": "resnet", "results/resnet_final.keras": "resnet"}
    disagree = next(p for p in report.problems if p.code == "content-disagrees-with-name")
    assert disagree.path == "results/resnet_final.keras"
    assert ("its name says resnet, but the model does not have at least 3 residual block(s), which resnet asks "
            "for; it looks like the cnn model") in disagree.message


# ------------------------------------------------------------ hostile text

from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

_CELLS = st.sampled_from(["CNN", "ResNet", "Inception", "0.7", "12,345", "1.2M", "71 %", "nan", "|", "---", ",",
                          "  ", "\t", "\n", "model", "accuracy", "params", "ms", "\x00", "{", "[", '"', "é"])


@settings(max_examples=60, deadline=None)
@given(text=st.lists(_CELLS, max_size=80).map("".join), suffix=st.sampled_from([".csv", ".json", ".md", ".tsv"]))
def test_any_text_is_a_table_or_a_read_error_never_a_crash(tmp_path_factory, name_of, text, suffix):
    from grader.readers import ReadError

    path = tmp_path_factory.mktemp("fuzz") / f"t{suffix}"
    path.write_text(text, encoding="utf-8")
    try:
        tables = read_tables(path)
    except ReadError as exc:
        assert exc.code == "table-unreadable"
        return
    table = model_table(tables, name_of)
    if table is not None:
        assert len({row.part for row in table.rows}) == len(table.rows) >= 2


def test_json_nested_too_deep_is_a_read_error(tmp_path):
    from grader.readers import ReadError

    path = tmp_path / "comparison.json"
    path.write_text("[" * 200_000)
    with pytest.raises(ReadError, match="not a JSON table|not valid JSON"):
        read_tables(path)


def test_two_tables_the_grader_says_which_it_uses(tmp_path, rubric):
    root = tmp_path / "week06"
    (root / "results").mkdir(parents=True)
    frame().to_csv(root / "results" / "comparison.csv", index=False)
    frame().to_json(root / "results" / "comparison_v1.json", orient="records")
    report = check_submission(root, rubric)
    several = next(p for p in report.problems if p.code == "several-table")
    assert several.message == ("comparison has 2 table files; the grader uses results/comparison.csv (the likeliest) "
                               "and ignores results/comparison_v1.json. Keep one, or name it results/comparison.csv")


def test_a_data_set_word_alone_makes_no_table_unless_the_file_holds_the_models(tmp_path, rubric):
    root = tmp_path / "week06"
    (root / "results").mkdir(parents=True)
    (root / "results" / "cifar10_predictions.csv").write_text("predicted\n" + "3\n" * 20)
    frame().to_csv(root / "results" / "cifar10_results.csv", index=False)
    (root / "comparison.md").write_text(DISCUSSION)
    report = check_submission(root, rubric)
    roles = {f.path: (f.role.value, f.part) for f in report.layout.files}
    assert roles["results/cifar10_predictions.csv"][0] == "predictions"
    assert roles["results/cifar10_results.csv"] == ("table", "comparison")
