"""Reports of a comparison of models (issue 11): each student's models side by
side (measured against reported) with their chart, the architecture
detectors' evidence, a check's ``table`` evidence, and the class chart of
every student's models by architecture with the medians and the trade-off
sentence.

The records are built by hand in the agreed shapes (notes/interfaces.md):
ModelEvaluation.measurements in each model part's details, the comparison
check's evidence rows, and the architecture check's detector verdicts from the
real detectors run on hand-built layer graphs.
"""

from __future__ import annotations

import json
import re
from html import unescape
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
from test_report import (  # noqa: E402  (builders shared with the report tests)
    IMG_TAG,
    SCRIPT_TAG,
    assert_inert,
    decode_data_uri,
    partial_grade,
    read_page,
)

from grader import rubric as rubric_module  # noqa: E402
from grader.architecture import graph_from_plain, run_detector  # noqa: E402
from grader.records import CheckResult, Student  # noqa: E402
from grader.report import figures, measured, render_index_html, render_submission_html  # noqa: E402
from grader.report import write_class_outputs, write_submission_outputs  # noqa: E402
from grader.report.evidence import detector_views, table_views  # noqa: E402
from grader.score.records import PartGrade, SubmissionGrade, grade_from_dict  # noqa: E402

MODEL_PARTS = ("cnn", "resnet", "inception")
COMPARISON_CHECK = "comparison_table_matches"   # any id: the report reads the rows' shape, not the id

# accuracy, parameters, ms per image at batch 1, per student and part (None: not measured)
CLASS_FIGURES = {
    ("Adams", "Ann"): {"cnn": (0.70, 120_000, 0.40), "resnet": (0.88, 270_000, 2.0), "inception": (0.84, 600_000, 3.0)},
    ("Baker", "Bob"): {"cnn": (0.72, 100_000, 0.50), "resnet": (0.90, 280_000, 2.2), "inception": (0.86, 500_000, 4.0)},
    ("Chen", "Cai"): {"cnn": (0.74, 140_000, 0.30), "resnet": (0.86, 1_200_000, 5.0), "inception": (0.82, 700_000, 3.5)},
    ("Diaz", "Dee"): {"cnn": (0.68, 90_000, 0.45), "resnet": None, "inception": (0.85, 650_000, 3.2)},
}
TRADEOFF_SENTENCE = (
    "Over 11 models, resnet has the highest median accuracy (0.880, with a median of 280 k parameters); "
    "cnn has the highest median accuracy per million parameters (6.52, against 3.21 for resnet): "
    "resnet's median accuracy is 0.170 higher, at 2.55× the median parameters. "
    "At inference cnn is the fastest (0.425 ms per image, median) and inception the slowest (3.35 ms)."
)

RUBRIC_TOML = """
id = "week06_test"
title = "Week 6: CNN, ResNet and Inception (test rubric)"
folder = "week06"
archive_prefix = "week06"
total_points = 40

[datasets.cifar10]
loader = "cifar10"
input_shape = [32, 32, 3]
num_classes = 10
class_names = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]
files = ["cifar-10-batches-py/test_batch"]

[[parts]]
id = "cnn"
patterns = ["cnn"]
canonical_dir = "results/cnn"
title = "A plain CNN"
dataset = "cifar10"
expects = ["model"]
architecture = { detectors = [{ id = "plain" }] }
checks = [{ id = "model_loads", points = 5 }, { id = "architecture_matches", points = 5 }]

[[parts]]
id = "resnet"
patterns = ["resnet"]
canonical_dir = "results/resnet"
title = "A ResNet"
dataset = "cifar10"
expects = ["model"]
architecture = { detectors = [{ id = "residual", min_blocks = 2 }, { id = "application", expect = false }] }
checks = [{ id = "model_loads", points = 5 }, { id = "architecture_matches", points = 5 }]

[[parts]]
id = "inception"
patterns = ["inception"]
canonical_dir = "results/inception"
title = "An Inception network"
dataset = "cifar10"
expects = ["model"]
architecture = { detectors = [{ id = "inception", min_modules = 1 }] }
checks = [{ id = "model_loads", points = 5 }, { id = "architecture_matches", points = 5 }]

[[parts]]
id = "comparison"
patterns = ["comparison"]
canonical_dir = "results/comparison"
title = "The comparison"
dataset = "cifar10"
expects = ["metrics"]
checks = [{ id = "layout_complete", points = 10 }]
"""


# ------------------------------------------------------------- layer graphs


def _layer(name: str, kind: str, inbound=(), kernel=None, pool=None) -> dict:
    layer = {"name": name, "kind": kind, "inbound": list(inbound)}
    if kernel:
        layer["kernel_size"] = [kernel, kernel]
    if pool:
        layer["pool_size"] = [pool, pool]
    return layer


def resnet_graph(blocks: int = 3, prefix: str = "") -> dict:
    """A ResNet-20-style stack: identity blocks, a 1x1 projection at the second."""
    layers = [_layer("input", "InputLayer"), _layer(f"{prefix}stem", "Conv2D", ["input"], 3)]
    previous = f"{prefix}stem"
    for b in range(1, blocks + 1):
        p = f"{prefix}b{b}_"
        layers += [_layer(p + "conv1", "Conv2D", [previous], 3), _layer(p + "bn1", "BatchNormalization", [p + "conv1"]),
                   _layer(p + "relu1", "ReLU", [p + "bn1"]), _layer(p + "conv2", "Conv2D", [p + "relu1"], 3),
                   _layer(p + "bn2", "BatchNormalization", [p + "conv2"])]
        shortcut = previous
        if b == 2:
            layers.append(_layer(p + "proj", "Conv2D", [previous], 1))
            shortcut = p + "proj"
        layers.append(_layer(p + "add", "Add", [p + "bn2", shortcut]))
        previous = p + "add"
    layers += [_layer("pool", "GlobalAveragePooling2D", [previous]), _layer("dense", "Dense", ["pool"])]
    return {"layers": layers, "source": "config", "connected": True}


def resnet50_graph() -> dict:
    """keras.applications ResNet50's block names and structure (16 bottleneck blocks)."""
    layers = [_layer("input_1", "InputLayer"), _layer("conv1_conv", "Conv2D", ["input_1"], 7),
              _layer("pool1_pool", "MaxPooling2D", ["conv1_conv"], pool=3)]
    previous = "pool1_pool"
    for stage, count in ((2, 3), (3, 4), (4, 6), (5, 3)):
        for block in range(1, count + 1):
            p = f"conv{stage}_block{block}_"
            layers += [_layer(p + "1_conv", "Conv2D", [previous], 1), _layer(p + "2_conv", "Conv2D", [p + "1_conv"], 3),
                       _layer(p + "3_conv", "Conv2D", [p + "2_conv"], 1)]
            shortcut = previous
            if block == 1:
                layers.append(_layer(p + "0_conv", "Conv2D", [previous], 1))
                shortcut = p + "0_conv"
            layers.append(_layer(p + "add", "Add", [p + "3_conv", shortcut]))
            previous = p + "add"
    layers += [_layer("avg_pool", "GlobalAveragePooling2D", [previous]), _layer("predictions", "Dense", ["avg_pool"])]
    return {"layers": layers, "source": "config", "connected": True}


def inception_graph(modules: int = 2, name: str = "mix") -> dict:
    layers = [_layer("input", "InputLayer"), _layer("stem", "Conv2D", ["input"], 3)]
    previous = "stem"
    for m in range(1, modules + 1):
        p = f"m{m}_"
        layers += [_layer(p + "b1", "Conv2D", [previous], 1),
                   _layer(p + "b2a", "Conv2D", [previous], 1), _layer(p + "b2b", "Conv2D", [p + "b2a"], 3),
                   _layer(p + "b3a", "Conv2D", [previous], 1), _layer(p + "b3b", "Conv2D", [p + "b3a"], 5),
                   _layer(p + "b4a", "MaxPooling2D", [previous], pool=3), _layer(p + "b4b", "Conv2D", [p + "b4a"], 1),
                   _layer(f"{name}{m}", "Concatenate", [p + "b1", p + "b2b", p + "b3b", p + "b4b"])]
        previous = f"{name}{m}"
    layers += [_layer("pool", "GlobalAveragePooling2D", [previous]), _layer("dense", "Dense", ["pool"])]
    return {"layers": layers, "source": "config", "connected": True}


def plain_graph() -> dict:
    names = [("input", "InputLayer", None), ("conv1", "Conv2D", 3), ("pool1", "MaxPooling2D", None),
             ("conv2", "Conv2D", 3), ("flatten", "Flatten", None), ("dense", "Dense", None)]
    layers, previous = [], []
    for name, kind, kernel in names:
        layers.append(_layer(name, kind, previous, kernel))
        previous = [name]
    return {"layers": layers, "source": "config", "connected": True}


def architecture_check(graph: dict, rules: dict[str, dict]) -> CheckResult:
    """The architecture check's result in its shape: each rule's real verdict, on the config's graph."""
    layer_graph = graph_from_plain(graph, source="config")
    detectors, found = {}, {}
    for rule_id, params in rules.items():
        verdict = run_detector(rule_id, layer_graph, params)
        detectors[rule_id] = {**verdict.to_dict(), "graph": "config", "sandbox_agrees": True,
                              "sandbox_summary": verdict.summary}
        found[rule_id] = verdict.found
    return CheckResult("architecture_matches", 5.0, 5.0, True, "; ".join(d["summary"] for d in detectors.values()),
                       {"found": found, "required": {rule: True for rule in rules}, "detectors": detectors})


# ------------------------------------------------------------- the records


def measurements(params: int, ms: float) -> dict:
    """ModelEvaluation.measurements in the agreed shape."""
    return {"params": {"total": params, "trainable": params - 1_000, "non_trainable": 1_000},
            "latency": {"batch1_ms": ms, "large_batch": 256, "large_batch_ms": round(ms / 5, 4), "repeats": 5,
                        "threads": 1},
            "flops": params * 300, "size_bytes": params * 4 + 40_000}


def comparison_row(part: str, model: str, accuracy: float, params: int, ms: float,
                   reported: tuple[float | None, int | None, float | None]) -> dict:
    """A comparison check's evidence row in the agreed shape."""
    said_accuracy, said_params, said_ms = reported
    return {"part": part, "model": model,
            "measured": {"accuracy": accuracy, "params": params, "ms_per_image": ms, "flops": params * 300},
            "reported": {"accuracy": said_accuracy, "params": said_params, "ms_per_image": said_ms},
            "agrees": {"accuracy": said_accuracy is not None and abs(said_accuracy - accuracy) <= 0.01,
                       "params": said_params == params}}


def student_grade(last: str, first: str, figures_by_part: dict, model_names: dict[str, str] | None = None,
                  reported_shift: float = 0.0, resnet_graph_plain: dict | None = None) -> SubmissionGrade:
    model_names = model_names or {"cnn": "CNN", "resnet": "ResNet-20", "inception": "Mini-Inception"}
    graphs = {"cnn": (plain_graph(), {"plain": {}}),
              "resnet": (resnet_graph_plain or resnet_graph(), {"residual": {"min_blocks": 2}, "application": {}}),
              "inception": (inception_graph(), {"inception": {"min_modules": 1}})}
    parts, rows = {}, []
    for part_id in MODEL_PARTS:
        graph, rules = graphs[part_id]
        part = PartGrade(part_id, part_id.title(), 10.0, 10.0,
                         checks=[CheckResult("model_loads", 5.0, 5.0, True, "loads"), architecture_check(graph, rules)])
        figures_here = figures_by_part.get(part_id)
        if figures_here is not None:
            accuracy, params, ms = figures_here
            part.recomputed = {"accuracy": accuracy, "loss": 0.5}
            part.details = {"measurements": measurements(params, ms)}
            rows.append(comparison_row(part_id, model_names[part_id], accuracy, params, ms,
                                       (round(accuracy + reported_shift, 3), params, round(ms * 1.1, 3))))
        parts[part_id] = part
    comparison = PartGrade("comparison", "The comparison", 10.0, 10.0, checks=[
        CheckResult(COMPARISON_CHECK, 10.0, 10.0, True, "the table agrees with the measured models",
                    {"rows": rows, "file": "results/comparison.csv"})])
    parts["comparison"] = comparison
    return SubmissionGrade(
        archive=f"week06_{last}{first}.zip", student=Student(last=last, first=first, username=last.lower()),
        status="graded", score=sum(p.score for p in parts.values()), max_score=40.0, rubric="week06_test",
        parts=parts, grader_version="9.9.9", sandbox="docker", seconds=30.0,
    )


def class_grades() -> list[SubmissionGrade]:
    grades = [student_grade(last, first, figures_by_part) for (last, first), figures_by_part in CLASS_FIGURES.items()]
    grades[1] = student_grade("Baker", "Bob", CLASS_FIGURES[("Baker", "Bob")], reported_shift=0.05,
                              resnet_graph_plain=resnet50_graph())
    broken = SubmissionGrade("week06_EvansEve.zip", Student("Evans", "Eve"), "error", 0.0, 40.0, "week06_test",
                             note="The archive could not be opened.")
    return [*grades, broken]


@pytest.fixture(scope="module")
def rubric(tmp_path_factory) -> rubric_module.Rubric:
    path = tmp_path_factory.mktemp("rubric") / "week06_test.toml"
    path.write_text(RUBRIC_TOML, encoding="utf-8")
    return rubric_module.load(path)


@pytest.fixture(scope="module")
def site(tmp_path_factory, rubric):
    """The class's reports and summary, written the way the CLI writes them."""
    out = tmp_path_factory.mktemp("site")
    grades = class_grades()
    for grade in grades:
        write_submission_outputs(grade, out)
    write_class_outputs(grades, out, rubric)
    return {"out": out, "grades": grades}


def report_of(site, last: str):
    grade = next(g for g in site["grades"] if g.student.last == last)
    return read_page(site["out"] / "reports" / (grade.archive.removesuffix(".zip") + ".html"))


# ------------------------------------------------------ one student's models


def test_compared_models_put_measured_beside_reported():
    grade = student_grade("Adams", "Ann", CLASS_FIGURES[("Adams", "Ann")], reported_shift=0.05)
    models = measured.compared_models(grade)
    assert [m.part for m in models] == ["cnn", "resnet", "inception"]
    resnet = models[1]
    assert (resnet.measured.accuracy, resnet.measured.params, resnet.measured.ms_per_image) == (0.88, 270_000, 2.0)
    assert (resnet.measured.trainable, resnet.measured.non_trainable) == (269_000, 1_000)
    assert (resnet.measured.large_batch, resnet.measured.large_batch_ms) == (256, 0.4)
    assert (resnet.measured.flops, resnet.measured.size_bytes) == (81_000_000, 1_120_000)
    assert (resnet.reported.accuracy, resnet.reported.params, resnet.reported.ms_per_image) == (0.93, 270_000, 2.2)
    assert resnet.agrees == {"accuracy": False, "params": True}
    assert resnet.name == "ResNet-20"
    row = measured.model_rows(models)[1]
    assert (row.accuracy.measured, row.accuracy.reported, row.params.measured) == ("0.8800", "0.9300", "270,000")
    assert (row.flops, row.size, row.large_batch) == ("81 MFLOPs", "1.12 MB", "0.4 ms at batch 256")


def test_rows_alone_give_the_measured_figures():
    """A record re-read from JSON has the rows but no measurements: the rows' figures are used."""
    grade = grade_from_dict(json.loads(json.dumps(student_grade("Chen", "Cai", CLASS_FIGURES[("Chen", "Cai")])
                                                  .to_dict())))
    assert all("measurements" not in part.details for part in grade.parts.values())
    resnet = measured.compared_models(grade)[1]
    assert (resnet.measured.accuracy, resnet.measured.params, resnet.measured.ms_per_image) == (0.86, 1_200_000, 5.0)
    assert resnet.measured.size_bytes is None and resnet.measured.flops == 360_000_000


def test_bad_figures_are_left_out_not_drawn():
    grade = student_grade("Adams", "Ann", CLASS_FIGURES[("Adams", "Ann")])
    cnn = grade.parts["cnn"]
    cnn.recomputed = {"accuracy": float("nan")}
    cnn.details["measurements"] = {"params": {"total": True, "trainable": -5}, "latency": {"batch1_ms": float("inf")},
                                   "flops": "many", "size_bytes": 1.5}
    grade.parts["comparison"].checks[0].evidence["rows"][0]["measured"] = {"accuracy": 7.0, "params": "x"}
    model = measured.compared_models(grade)[0]
    assert (model.measured.accuracy, model.measured.params, model.measured.ms_per_image) == (None, None, None)
    assert (model.measured.flops, model.measured.size_bytes, model.measured.trainable) == (None, None, None)
    assert measured.class_points([grade], MODEL_PARTS)[0].part == "resnet"   # the cnn has nothing to plot


def test_student_report_shows_models_side_by_side(site):
    html, page = report_of(site, "Baker")
    rows = page.find("tr", **{"class": "compared-model"})
    assert [r["data-part"] for r in rows] == ["cnn", "resnet", "inception"]
    assert [(float(r["data-accuracy"]), int(r["data-params"]), float(r["data-ms"])) for r in rows] == [
        (0.72, 100_000, 0.5), (0.90, 280_000, 2.2), (0.86, 500_000, 4.0)]
    # Baker reported every accuracy 0.05 too high: each disagrees, the parameter counts agree
    assert [(r["data-accuracy-agrees"], r["data-params-agrees"]) for r in rows] == [("false", "true")] * 3
    text = flat(html)
    assert "0.9000 (you: 0.9500, differs)" in text
    assert "280,000 (you: 280,000, agrees)" in text
    assert "trainable 279,000 · not trainable 1,000" in text
    assert "your row: ResNet-20" in text
    chart = page.find("figure", data_figure="tradeoff")
    assert len(chart) == 1
    images = [img for img in page.find("img") if img["alt"].startswith("Test accuracy against parameters")]
    image = decode_data_uri(images[0]["src"])
    assert image.size == (800, 320)          # two panels, 8.0 x 3.2 inches at 100 dpi
    assert "1 model row(s)" not in page.text and "3 model row(s): see Models compared" in page.text
    assert_inert(page)


def test_student_report_shows_no_other_student(site):
    for grade in site["grades"]:
        html, _ = report_of(site, grade.student.last)
        others = [g.student for g in site["grades"] if g is not grade]
        assert [s.last for s in others if s.last in html or s.display in html] == []
        assert 'id="tradeoff"' not in html


def test_architecture_evidence_is_compact(site):
    _, page = report_of(site, "Adams")
    detectors = {d["data-detector"]: d for d in page.find("div", **{"class": "detector"})}
    assert set(detectors) == {"plain", "residual", "application", "inception"}
    assert (detectors["residual"]["data-found"], detectors["residual"]["data-blocks"]) == ("true", "3")
    assert detectors["application"]["data-found"] == "false"
    assert detectors["inception"]["data-blocks"] == "2"
    text = page.text
    assert "block 1: b1_add = b1_conv1 → b1_bn1 → b1_relu1 → b1_conv2 → b1_bn2 + identity shortcut, from stem" in text
    assert "block 2: b2_add = b2_conv1 → b2_bn1 → b2_relu1 → b2_conv2 → b2_bn2 + projection shortcut (b2_proj), " \
           "from b1_add" in text
    assert ("module 1: mix1 from stem, 4 branches: 1x1 Conv2D (1x1; m1_b1) | 1x1 Conv2D → 3x3 Conv2D "
            "(3x3; m1_b2a → m1_b2b) | 1x1 Conv2D → 5x5 Conv2D (5x5; m1_b3a → m1_b3b) | "
            "3x3 MaxPooling2D → 1x1 Conv2D (3x3 pool; m1_b4a → m1_b4b)") in text
    assert "5 layers: conv1 → pool1 → conv2 → flatten → dense" in text
    assert "(the sandbox's trace agrees)" in text
    assert "Detectors" not in text        # the raw evidence dict is not dumped as well


def test_application_recognised_in_the_report(site):
    _, page = report_of(site, "Baker")
    application = [d for d in page.find("div", **{"class": "detector"}) if d["data-detector"] == "application"]
    assert application[0]["data-found"] == "true"
    assert "ResNet50: 16 of its 16 blocks; 73 layers, 0 frozen" in page.text
    residual = [d for d in page.find("div", **{"class": "detector"}) if d["data-detector"] == "residual"][0]
    assert residual["data-blocks"] == "16"
    assert "… and 4 more" in page.text      # 12 blocks listed, the rest counted


def test_detector_views_shorten_hostile_names():
    hostile = f"{SCRIPT_TAG}{IMG_TAG}" * 3
    graph = resnet_graph(blocks=1)
    for layer in graph["layers"]:
        if layer["name"] == "b1_add":
            layer["name"] = hostile
    graph["layers"][-2]["inbound"] = [hostile]
    view = detector_views(architecture_check(graph, {"residual": {"min_blocks": 1}}).evidence)[0]
    assert view.items == ["block 1: <script>alert(1)</script><img src=x one… = b1_conv1 → b1_bn1 → b1_relu1 "
                          "→ b1_conv2 → b1_bn2 + identity shortcut, from stem"]
    assert detector_views({"detectors": {"residual": "not a verdict"}}) == []
    assert detector_views({"detectors": {"inception": {"found": True, "evidence": {"modules": [7, None]}}}})[0].items == []


def test_evidence_table_hook(tmp_path, rubric):
    """A check's evidence ``table`` is rendered escaped, with no report code of its own (issue 12's layers)."""
    grade = student_grade("Adams", "Ann", CLASS_FIGURES[("Adams", "Ann")])
    grade.parts["resnet"].checks[0].evidence = {
        "file": "results/resnet/model.keras",
        "table": {"columns": ["layer", "state", "params"], "caption": "Layers: frozen, trained, pretrained",
                  "rows": [["conv1_conv", "frozen", 9472], {"layer": SCRIPT_TAG, "state": "trained", "params": 1.5},
                           ["short"]]},
        "tables": [{"columns": ["x"], "rows": [[i] for i in range(205)]}, {"no": "columns"}],
    }
    tables = table_views(grade.parts["resnet"].checks[0].evidence)
    assert [t.columns for t in tables] == [["layer", "state", "params"], ["x"]]
    assert tables[0].rows == [["conv1_conv", "frozen", "9,472"], [SCRIPT_TAG, "trained", "1.5"], ["short", "", ""]]
    assert (len(tables[1].rows), tables[1].more) == (200, 5)
    html = render_submission_html(grade)
    assert SCRIPT_TAG not in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "<caption>Layers: frozen, trained, pretrained</caption>" in html
    assert "… and 5 more row(s), in the JSON record" in html
    assert "<th>File</th><td>results/resnet/model.keras</td>" in html       # the rest of the evidence as before
    # a "table" that is not one stays in the key-value list
    grade.parts["resnet"].checks[0].evidence = {"table": "results/comparison.csv"}
    assert "<th>Table</th><td>results/comparison.csv</td>" in render_submission_html(grade)


def test_hostile_model_names_are_escaped(tmp_path):
    grade = student_grade("Diaz", "Dee", CLASS_FIGURES[("Diaz", "Dee")],
                          model_names={"cnn": SCRIPT_TAG, "resnet": "x", "inception": IMG_TAG})
    html = render_submission_html(grade)
    assert SCRIPT_TAG not in html and IMG_TAG not in html
    path = tmp_path / "report.html"
    path.write_text(html, encoding="utf-8")
    _, page = read_page(path)
    assert_inert(page)
    assert f"your row: {SCRIPT_TAG}" in page.text


def test_assignment06_report_has_no_comparison(tmp_path):
    rubric = rubric_module.load()
    grade = partial_grade(rubric, tmp_path)      # assignment 6's checks and evidence, without figures to draw
    grade.parts[rubric.parts[0].id].recomputed = {"accuracy": 0.99, "loss": 0.03}
    html = render_submission_html(grade)
    assert "models-compared" not in html and 'data-figure="tradeoff"' not in html
    index = render_index_html([grade], rubric)
    assert 'id="tradeoff"' not in index


# --------------------------------------------------------------- the class


def test_part_medians_and_the_tradeoff_sentence():
    points = measured.class_points(class_grades(), MODEL_PARTS)
    assert len(points) == 11
    medians = measured.part_medians(points, {p: p for p in MODEL_PARTS})
    got = {m.part: (m.models, round(m.accuracy, 4), m.params, round(m.ms_per_image, 4),
                    round(m.accuracy_per_million, 4)) for m in medians}
    assert got == {"cnn": (4, 0.71, 110_000, 0.425, 6.5167), "resnet": (3, 0.88, 280_000, 2.2, 3.2143),
                   "inception": (4, 0.845, 625_000, 3.35, 1.3538)}
    assert measured.tradeoff_sentence(medians) == TRADEOFF_SENTENCE


def test_tradeoff_sentence_when_one_architecture_wins_both():
    points = [measured.ClassPoint("small", 0.9, 100_000, None), measured.ClassPoint("big", 0.8, 1_000_000, None)]
    medians = measured.part_medians(points, {"small": "S", "big": "B"})
    assert measured.tradeoff_sentence(medians) == (
        "Over 2 models, small has the highest median accuracy (0.900, with a median of 100 k parameters) "
        "and also the highest median accuracy per million parameters (9).")
    assert measured.tradeoff_sentence([]) == ""


def test_class_summary_chart_medians_and_sentence(site, rubric):
    _, index = read_page(site["out"] / "index.html")
    section = index.find("section", id="tradeoff")
    assert section[0]["data-models"] == "11"
    rows = index.find("tr", **{"class": "part-median"})
    assert [(r["data-part"], r["data-models"], r["data-accuracy"], r["data-params"], r["data-ms"],
             r["data-accuracy-per-million"]) for r in rows] == [
        ("cnn", "4", "0.7100", "110000", "0.4250", "6.5167"), ("resnet", "3", "0.8800", "280000", "2.2000", "3.2143"),
        ("inception", "4", "0.8450", "625000", "3.3500", "1.3538")]
    assert TRADEOFF_SENTENCE in index.text
    chart = [img for img in index.find("img") if img["alt"].startswith("Every student's models")]
    assert decode_data_uri(chart[0]["src"]).size == (640, 380)
    assert chart[0]["aria-describedby"] == "tradeoff-medians"
    histogram = [img for img in index.find("img") if img["alt"] == "Histogram of total scores"]
    assert histogram[0]["aria-describedby"] == "histogram"


def test_class_chart_survives_a_rescore_from_the_records(site, rubric):
    """Re-scoring reads the JSON records (no measurements): the rows give the same medians."""
    records = [grade_from_dict(json.loads(path.read_text(encoding="utf-8")))
               for path in sorted((site["out"] / "results").glob("*.json"))]
    _, index = read_page(_written(site["out"].parent / "rescored.html", render_index_html(records, rubric)))
    rows = index.find("tr", **{"class": "part-median"})
    assert [(r["data-part"], r["data-accuracy"], r["data-params"], r["data-ms"]) for r in rows] == [
        ("cnn", "0.7100", "110000", "0.4250"), ("resnet", "0.8800", "280000", "2.2000"),
        ("inception", "0.8450", "625000", "3.3500")]


def test_class_chart_draws_each_architecture_and_its_median():
    points = measured.class_points(class_grades(), MODEL_PARTS)
    medians = measured.part_medians(points, {p: p for p in MODEL_PARTS})
    drawn = figures.class_tradeoff(points, medians, MODEL_PARTS)
    image = decode_data_uri(drawn.data_uri).convert("RGB")
    colours = set(image.getdata())
    for index in range(3):     # each architecture's colour is on the chart
        hex_colour = figures.part_colour(index)
        assert tuple(int(hex_colour[i:i + 2], 16) for i in (1, 3, 5)) in colours
    assert figures.class_tradeoff([], [], MODEL_PARTS).reason.startswith("no model")


def test_score_histogram_marks_the_median():
    drawn = figures.score_histogram([0, 10, 20, 30, 40], [1, 0, 2, 1], 25.0)
    plain = figures.score_histogram([0, 10, 20, 30, 40], [1, 0, 2, 1])
    assert red_pixels(drawn) > 100 and red_pixels(plain) == 0     # the median's dashed line, only when asked


def red_pixels(drawn: figures.Drawn) -> int:
    image = decode_data_uri(drawn.data_uri).convert("RGB")
    return sum(1 for r, g, b in image.getdata() if r > 150 and g < 90 and b < 90)


def flat(html: str) -> str:
    """The page's text as a reader sees it: tags dropped, spaces collapsed."""
    return " ".join(unescape(re.sub(r"<[^>]+>", "", html.replace("<br>", " "))).split())


def _written(path: Path, html: str) -> Path:
    path.write_text(html, encoding="utf-8")
    return path


def test_each_figure_is_drawn_once(monkeypatch):
    """Render cost: savefig after tight_layout would draw every figure twice (the placeholder
    layout engine tight_layout leaves asks for a layout pass); _render drops it."""
    from matplotlib.figure import Figure

    draws = []
    original = Figure.draw
    monkeypatch.setattr(Figure, "draw", lambda self, renderer: draws.append(1) or original(self, renderer))
    assert figures.confusion_matrix([[3, 1], [0, 4]], ["a", "b"]).data_uri
    assert figures.training_curves({"loss": [1.0, 0.5], "val_loss": [1.1, 0.7]}).data_uri
    assert figures.score_histogram([0, 5, 10], [1, 2], 6.0).data_uri
    assert len(draws) == 3
