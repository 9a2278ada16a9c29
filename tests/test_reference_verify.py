"""`grade reference verify` and what it stands on: the registry of reference solutions (data,
keyed by rubric id), the comparison's table and discussion written from measured figures,
and the judging of a graded reference. A broken reference verified end to end (the real
pipeline, in the sandbox) is in tests/test_week06_class.py, where its archive joins the class."""

from __future__ import annotations

import importlib
import inspect

import pytest

import reference
from grader import rubric as rubric_lib
from grader.records import CheckResult, Student
from grader.score.records import PartGrade, SubmissionGrade
from reference import ReferenceRunError, rubrics_with_solutions, solutions_for
from reference.registry import KINDS
from reference.verify import EARNED, MISSED, NOT_JUDGED, PENDING, Verification, judge

WEEK06 = "week06_architectures"


# ------------------------------------------------------------------ registry


def test_every_rubric_with_references_has_one_solution_per_part_each_callable():
    assert {"assignment06", WEEK06} <= set(rubrics_with_solutions())
    for rubric_id in rubrics_with_solutions():
        rubric = rubric_lib.load(rubric_id)
        solutions = solutions_for(rubric_id)
        assert set(solutions.parts) == {p.id for p in rubric.parts}, rubric_id
        for part_id, solution in solutions.parts.items():
            assert solution.kind in KINDS
            function = getattr(importlib.import_module(solution.module), solution.function)
            accepted = inspect.signature(function).parameters
            for setting in solution.quick_settings:      # a quick setting the solution does not take is a typo
                assert setting in accepted, f"{rubric_id} {part_id}: {setting}"
        for part in rubric.parts:                        # a comparison compares models the registry names
            for compared in part.compares:
                assert solutions.parts[compared].kind == "classifier" and solutions.parts[compared].name


def test_the_default_rubric_keeps_its_solutions_table_and_quick_settings():
    assert reference.SOLUTIONS == solutions_for("assignment06").parts
    assert reference.SOLUTIONS["6.3"].kind == "images"
    week06 = solutions_for(WEEK06)
    assert (week06.quick_train_samples, week06.quick_epochs) == (2000, 2)
    assert week06.parts["resnet"].quick_settings == {"stage_filters": (8, 16, 32), "blocks_per_stage": 1,
                                                     "batch_size": 32}
    assert [week06.parts[p].name for p in ("cnn", "resnet", "inception")] == ["CNN", "ResNet-20", "Inception"]


@pytest.mark.parametrize("text, message", [
    ('[r.parts.a]\nmodule = "m"\nfunction = "f"\nnotebook = "n"\nkind = "regression"\n',
     r"\[r.parts.a\] kind 'regression' is not one of"),
    ('[r.parts.a]\nmodule = "m"\nnotebook = "n"\n', r"\[r.parts.a\] has unknown key\(s\) \[\] or lacks \['function'\]"),
    ('[r.parts.a]\nmodule = "m"\nfunction = "f"\nnotebook = "n"\nepochs = 3\n', r"unknown key\(s\) \['epochs'\]"),
    ('[other.parts.a]\nmodule = "m"\nfunction = "f"\nnotebook = "n"\n', r"no reference solutions for rubric r; add"),
    ('[r.parts.a\n', "cannot read the reference solutions' registry"),
])
def test_a_bad_registry_is_refused_naming_the_table(tmp_path, text, message):
    path = tmp_path / "solutions.toml"
    path.write_text(text)
    with pytest.raises(ReferenceRunError, match=message):
        solutions_for("r", path)


def test_a_run_of_a_rubric_without_references_names_the_registry(tmp_path):
    rubric = rubric_lib.load(WEEK06).model_copy(update={"id": "week07_nothing_yet"})
    with pytest.raises(ReferenceRunError, match=r"no reference solutions for rubric week07_nothing_yet.*solutions.toml"):
        reference.run(None, tmp_path, tmp_path, quick=True, rubric=rubric)


# ------------------------------------------------------------ the comparison


def _figures():
    from reference.comparison import ModelFigures

    return [
        ModelFigures("cnn", "CNN", 0.7812, 289_642, 288_746, 38_900_000, 0.91, 0.12, 1_200_000),
        ModelFigures("resnet", "ResNet-20", 0.8803, 274_042, 272_730, 41_200_000, 2.40, 0.21, 1_300_000),
        ModelFigures("inception", "Inception", 0.8410, 210_762, 208_330, 23_100_000, 3.10, 0.19, 1_100_000),
    ]


def _comparison(quick: bool):
    from reference.comparison import ComparedModel, Comparison, comparison_table_csv, discussion_markdown

    figures = _figures()
    comparison = Comparison(figures, 256, 5, 10_000, context={"epochs": 30, "quick": quick})
    comparison.table_csv = comparison_table_csv(figures, 256)
    described = {f.part: ComparedModel(f.part, f.name, None, f.test_accuracy, design=f"design of {f.part}",
                                       strengths=f"strength of {f.part}", weaknesses=f"weakness of {f.part}")
                 for f in figures}
    comparison.discussion = discussion_markdown(comparison, described)
    return comparison


def test_the_discussion_is_written_from_the_measured_figures():
    from grader.readers.discussions import word_count

    rubric = rubric_lib.load(WEEK06)
    text = _comparison(quick=False).discussion
    min_words = next(c.params["min_words"] for c in rubric.part("comparison").checks if c.id == "discussion_names_models")
    assert word_count(text) >= min_words
    assert "By test accuracy the order is ResNet-20 > Inception > CNN." in text
    assert "ResNet-20 is the most accurate at 88.0%, 3.9 points above Inception (84.1%) and 9.9 points above CNN" in text
    assert "Inception has the fewest parameters (0.21M) and CNN the most (0.29M, 1.4 times as many)." in text
    assert "One image at a time, CNN is the fastest (0.91 ms per image) and Inception the slowest (3.10 ms, 3.4" in text
    # Per model: what the figures show, then what the design implies (the registry's words).
    resnet = next(p for p in text.split("\n\n") if p.startswith("**ResNet-20**"))
    assert resnet.startswith("**ResNet-20** (design of resnet): 88.0% test accuracy with 274,042 parameters, 82.4 MFLOPs")
    assert "Measured here, it is the most accurate." in resnet
    assert "Against the others, it needs the most multiply-adds per image and is the slowest in large batches." in resnet
    assert "strength of resnet" in resnet and "weakness of resnet" in resnet
    cnn = next(p for p in text.split("\n\n") if p.startswith("**CNN**"))
    assert "Measured here, it is the fastest one image at a time and is the fastest in large batches. Against the " \
           "others, it is the least accurate and has the most parameters." in cnn
    assert "For the best accuracy on this task, choose ResNet-20. Where each image must be answered quickly on a " \
           "CPU, CNN is 2.6 times as fast as ResNet-20 at 9.9 points less accuracy." in text
    assert "smoke test" not in text
    quick = _comparison(quick=True).discussion
    assert "This was a quick run, a smoke test" in quick and "a full run is needed before drawing them" in quick


def test_the_table_reads_back_through_the_graders_reader_as_written(tmp_path):
    from grader.discover.documents import model_namer
    from grader.readers.model_table import model_table
    from grader.readers.tables import read_tables

    rubric = rubric_lib.load(WEEK06)
    path = tmp_path / "comparison.csv"
    path.write_text(_comparison(quick=False).table_csv)
    table = model_table(read_tables(path), model_namer(rubric.part("comparison"), rubric))
    assert [row.part for row in table.rows] == ["cnn", "resnet", "inception"]
    for row, figure in zip(table.rows, _figures()):
        assert row.figures["accuracy"].value == pytest.approx(figure.test_accuracy)
        assert row.figures["params"].value == figure.params
        assert row.figures["time"].value == pytest.approx(figure.ms_batch1)      # the batch-1 column is preferred
        assert row.figures["flops"].value == pytest.approx(figure.mflops * 1e6, rel=1e-3)
    assert table.columns["time"] == "ms_per_image_batch1"


def test_multiply_adds_count_every_convolution_and_dense_layer():
    import keras

    from reference.comparison import multiply_adds

    inputs = keras.Input((8, 8, 3))
    x = keras.Sequential([keras.layers.RandomFlip("horizontal")], name="augmentation")(inputs)   # nested: opened
    x = keras.layers.Conv2D(4, 3, padding="same")(x)                 # 8*8 positions * 9 * 3 * 4 = 6,912
    x = keras.layers.Conv2D(6, 1, strides=2)(x)                      # 4*4 * 1 * 4 * 6 = 384
    x = keras.layers.DepthwiseConv2D(3, padding="same")(x)           # 4*4 * 9 * 6 = 864
    x = keras.layers.GlobalAveragePooling2D()(x)
    outputs = keras.layers.Dense(10)(x)                              # 6 * 10 = 60
    assert multiply_adds(keras.Model(inputs, outputs)) == 6912 + 384 + 864 + 60


# ------------------------------------------------------------------- judging


def _graded(rubric, scores: dict[tuple[str, str], float], status="graded") -> SubmissionGrade:
    from grader.checks.manual import pending_result

    parts = {}
    for part in rubric.parts:
        checks = []
        for spec in part.checks:
            if spec.kind == "manual":
                checks.append(pending_result(spec))
            else:
                score = scores.get((part.id, spec.id), spec.points)
                checks.append(CheckResult(spec.id, score, spec.points, score == spec.points, f"{spec.id} said so"))
        parts[part.id] = PartGrade(part.id, part.title, sum(c.score for c in checks), part.max_points, checks)
    return SubmissionGrade(archive="week06_ReferenceSolution.zip", student=Student("Reference", "Solution", "x"),
                           status=status, score=sum(p.score for p in parts.values()), max_score=rubric.total_points,
                           rubric=rubric.id, parts=parts)


def test_judging_a_graded_reference():
    rubric = rubric_lib.load(WEEK06)
    grade = _graded(rubric, {("resnet", "accuracy_vs_baseline"): 2.5, ("inception", "architecture_matches"): 1.33})
    quick = {v.name: v for v in judge(grade, rubric, quick=True)}
    assert len(quick) == sum(len(p.checks) for p in rubric.parts)
    assert quick["comparison/discussion_quality"].status == PENDING
    assert {n for n, v in quick.items() if v.status == NOT_JUDGED} == \
        {"cnn/accuracy_vs_baseline", "resnet/accuracy_vs_baseline", "inception/accuracy_vs_baseline"}
    assert [n for n, v in quick.items() if v.status == MISSED] == ["inception/architecture_matches"]
    assert quick["inception/architecture_matches"].message == "architecture_matches said so"
    assert quick["cnn/plots_valid"].status == EARNED
    full = [v.name for v in judge(grade, rubric, quick=False) if v.status == MISSED]
    assert full == ["resnet/accuracy_vs_baseline", "inception/architecture_matches"]
    result = Verification(rubric.id, True, "a.zip", "graded", "", 0, 100, judge(grade, rubric, quick=True))
    assert not result.ok and result.to_dict()["failures"] == ["inception/architecture_matches"]
    clean = Verification(rubric.id, True, "a.zip", "graded", "", 0, 100, judge(_graded(rubric, {}), rubric, True))
    assert clean.ok and clean.failures == []
    errored = Verification(rubric.id, True, "a.zip", "error", "sandbox crashed", 0, 100, clean.verdicts)
    assert not errored.ok


def test_a_check_missing_from_the_grade_is_missed():
    rubric = rubric_lib.load(WEEK06)
    grade = _graded(rubric, {})
    grade.parts["comparison"].checks = [c for c in grade.parts["comparison"].checks if c.id != "comparison_ranking"]
    missed = [v for v in judge(grade, rubric, quick=True) if v.status == MISSED]
    assert [(v.name, v.message) for v in missed] == [("comparison/comparison_ranking",
                                                       "the grade has no result for this check")]
