"""The report stage: JSON records, HTML reports, CSV gradebooks, atomic writes.

Grades are built by hand from the real rubric's parts and checks, with real
PNG plots (matplotlib) in a temporary submission root.
"""

from __future__ import annotations

import base64
import io
import json
import os
import re
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote

import pandas as pd
import pytest
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from PIL import Image, PngImagePlugin

from grader import rubric as rubric_module
from grader.records import CheckResult, FoundFile, Problem, Role, Severity, Student
from grader.report import (
    KNOWN_EXPORTS,
    atomic_write_text,
    output_stem,
    render_submission_html,
    write_class_outputs,
    write_submission_outputs,
)
from grader.report import figures, summary, thumbnails
from grader.report.formatting import jsonable, points
from grader.report.templating import csp_hash, template_source
from grader.score.records import PartGrade, SubmissionGrade

SCRIPT_TAG = "<script>alert(1)</script>"
IMG_TAG = "<img src=x onerror=alert(2)>"
# A file name can hold everything but "/", so the hostile archive name has no script tag.
EVIL_ARCHIVE = 'assignment06_<img src=x onerror=alert(3)> "Zoë\'s".zip'
EVIL_TEXT = f'{SCRIPT_TAG}{IMG_TAG} "quoted" \'single\' Zoë ✓'
HASH_SHARED = "a" * 64
HASH_OWN = "b" * 64
PNG_MARKER = "student-secret-marker-1234"


# ------------------------------------------------------------------ builders


@pytest.fixture(scope="module")
def rubric() -> rubric_module.Rubric:
    return rubric_module.load()


def save_plot(path: Path, values: list[float], text_chunk: str | None = None) -> None:
    """A real matplotlib PNG, optionally with a tEXt chunk the report must not carry."""
    figure = Figure(figsize=(4, 3), dpi=80)
    FigureCanvasAgg(figure)
    axes = figure.add_subplot()
    axes.plot(range(1, len(values) + 1), values)
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    path.parent.mkdir(parents=True, exist_ok=True)
    if text_chunk is None:
        path.write_bytes(buffer.getvalue())
        return
    info = PngImagePlugin.PngInfo()
    info.add_text("Comment", text_chunk)
    Image.open(buffer).save(path, pnginfo=info)


def make_work_root(root: Path) -> Path:
    save_plot(root / "results/6.1/accuracy.png", [0.9, 0.95, 0.98], text_chunk=PNG_MARKER)
    save_plot(root / "results/6.2a/loss.png", [1.5, 1.0, 0.8])
    (root / "results/6.1/plot.svg").write_text(
        '<svg xmlns="http://www.w3.org/2000/svg" onload="alert(4)"><script>alert(5)</script></svg>'
    )
    (root / "results/6.1/broken.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"not really a png")
    return root


def parts_for(rubric, fraction: float, failing: frozenset[str] = frozenset()) -> dict[str, PartGrade]:
    """One PartGrade per rubric part: each check scores ``fraction`` of its
    points, except the check ids in ``failing``, which score 0."""
    parts = {}
    for part in rubric.parts:
        checks = [
            CheckResult(
                id=spec.id,
                score=0.0 if spec.id in failing else spec.points * fraction,
                max_score=spec.points,
                passed=spec.id not in failing and fraction == 1.0,
                message=f"{spec.id} of {part.id}",
                evidence={"threshold": 0.95, "measured": 0.9912, "files": ["a.png", "b.png"]},
            )
            for spec in part.checks
        ]
        parts[part.id] = PartGrade(
            id=part.id,
            title=part.title,
            score=sum(c.score for c in checks),
            max_score=part.max_points,
            checks=checks,
        )
    return parts


def full_marks_grade(rubric, work_root: Path) -> SubmissionGrade:
    parts = parts_for(rubric, 1.0)
    first = parts[rubric.parts[0].id]
    first.recomputed = {"accuracy": 0.9912, "loss": 0.0301}
    first.reported = {"accuracy": 0.99, "loss": 0.031}
    first.found = [
        FoundFile("results/6.1/model.keras", Role.MODEL, first.id, 0.97, ["canonical path"]),
        FoundFile("results/6.1/accuracy.png", Role.PLOT, first.id, 0.9, ["in results/6.1"]),
    ]
    first.details = {
        "confusion_matrix": [[50 if i == j else 1 for j in range(10)] for i in range(10)],
        "class_names": [f"digit {i}" for i in range(10)],
        "architecture": {"layer_counts": {"Conv2D": 3, "MaxPooling2D": 2, "Dense": 2}, "params": 93322,
                         "input_shape": [28, 28, 1], "output_shape": [10], "has_dropout": False,
                         "has_augmentation": False, "loader": "keras3-safe"},
        "plots": ["results/6.1/accuracy.png", "results/6.1/plot.svg", "results/6.1/broken.png"],
        "history": {"accuracy": [0.9, 0.95, 0.98], "val_accuracy": [0.91, 0.96, 0.985],
                    "loss": [0.3, 0.12, 0.05], "val_loss": [0.25, 0.1, 0.06]},
        "scaling_note": "This model does far better on raw 0-255 input than on x / 255.",
    }
    parts[rubric.parts[1].id].details = {"plots": ["results/6.2a/loss.png"]}
    last = parts[rubric.parts[-1].id]
    last.details = {"imagenet": [
        {"image": "dog.jpg", "reported": "golden_retriever", "rerun": "golden_retriever", "agree": True},
        {"image": "mug.jpg", "reported": "coffee_mug", "rerun": "cup", "agree": False},
    ]}
    return SubmissionGrade(
        archive="assignment06_AdamsAnn.zip",
        student=Student(last="Adams", first="Ann", username="aadams"),
        status="graded",
        score=sum(p.score for p in parts.values()),
        max_score=rubric.total_points,
        rubric=rubric.id,
        parts=parts,
        problems=[Problem("extra-file", "results/notes.txt is not used by the grader; you may delete it",
                          Severity.INFO, path="results/notes.txt")],
        sha256="c" * 64,
        grader_version="9.9.9",
        sandbox="docker",
        seconds=41.5,
        model_hashes={rubric.parts[0].id: HASH_SHARED, rubric.parts[1].id: HASH_OWN},
        work_root=str(work_root),
    )


def partial_grade(rubric, work_root: Path) -> SubmissionGrade:
    parts = parts_for(rubric, 0.5, failing=frozenset({"model_loads"}))
    return SubmissionGrade(
        archive="assignment06_BakerBob.zip",
        student=Student(last="Baker", first="Bob", username="bbaker"),
        status="graded",
        score=sum(p.score for p in parts.values()),
        max_score=rubric.total_points,
        rubric=rubric.id,
        parts=parts,
        problems=[Problem("missing-metrics", "No metrics file for 6.2a: save results/6.2a/metrics.json",
                          Severity.ERROR, path=None, part="6.2a")],
        note="6.2a: no metrics file",
        model_hashes={rubric.parts[0].id: HASH_SHARED},
        work_root=str(work_root),
    )


def error_grade(rubric) -> SubmissionGrade:
    return SubmissionGrade(
        archive="assignment06_ClarkCy.zip",
        student=Student(last="Clark", first="Cy", username=None),
        status="error",
        score=0.0,
        max_score=rubric.total_points,
        rubric=rubric.id,
        problems=[Problem("bad-zip", "assignment06_ClarkCy.zip is not a zip archive: zip the assignment06 folder again",
                          Severity.ERROR, path="assignment06_ClarkCy.zip")],
        note="The archive could not be opened: zip the assignment06 folder again.",
        work_root=None,
    )


def hostile_grade(rubric, work_root: Path) -> SubmissionGrade:
    parts = parts_for(rubric, 0.75)
    first = parts[rubric.parts[0].id]
    first.checks[0].message = f"Could not read {EVIL_TEXT}"
    first.checks[0].evidence = {"file": EVIL_TEXT, "notebook_text": f"print('{SCRIPT_TAG}')", EVIL_TEXT: 1}
    first.found = [FoundFile(f"results/{EVIL_TEXT}.h5", Role.MODEL, first.id, 0.5, [EVIL_TEXT])]
    first.reported = {"accuracy": EVIL_TEXT}
    first.details = {
        "plots": [f"results/{EVIL_TEXT}.png", "results/6.1/accuracy.png"],
        "class_names": [EVIL_TEXT] * 2,
        "confusion_matrix": [[3, 1], [0, 4]],
        "history": {f"{EVIL_TEXT} $\\frac{{1}}{{0}}$": [0.1, 0.2]},
        "architecture": {"layer_counts": {EVIL_TEXT: 1}},
        "imagenet": [{"image": EVIL_TEXT, "reported": SCRIPT_TAG, "rerun": IMG_TAG, "agree": False}],
    }
    return SubmissionGrade(
        archive=EVIL_ARCHIVE,
        student=Student(last=f"Zed{IMG_TAG}", first='Zoë "Z"', username="=HYPERLINK(\"x\")"),
        status="graded",
        score=sum(p.score for p in parts.values()),
        max_score=rubric.total_points,
        rubric=rubric.id,
        parts=parts,
        problems=[Problem("odd-name", f"The file {EVIL_TEXT} has an odd name: rename it",
                          Severity.WARNING, path=f"results/{EVIL_TEXT}", part=rubric.parts[0].id)],
        note=f"=cmd|' /C calc'!A0 {SCRIPT_TAG}",
        model_hashes={rubric.parts[0].id: HASH_SHARED},
        work_root=str(work_root),
    )


@pytest.fixture(scope="module")
def class_outputs(tmp_path_factory, rubric):
    """Four graded archives written the way the CLI writes them."""
    root = make_work_root(tmp_path_factory.mktemp("submission"))
    out = tmp_path_factory.mktemp("out")
    grades = [
        partial_grade(rubric, root),
        hostile_grade(rubric, root),
        error_grade(rubric),
        full_marks_grade(rubric, root),
    ]
    for grade in grades:
        write_submission_outputs(grade, out)
    write_class_outputs(grades, out, rubric, exports=["blackboard", "canvas"])
    return {"out": out, "grades": {g.student.last[:3]: g for g in grades}, "root": root}


# ------------------------------------------------------------- HTML helpers


class Page(HTMLParser):
    """Every start tag with its attributes, and the text, of an HTML page."""

    def __init__(self, html: str) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.texts: list[str] = []
        self.script_bodies: list[str] = []
        self._in_script = False
        self.feed(html)

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))
        self._in_script = tag == "script"

    def handle_endtag(self, tag):
        if tag == "script":
            self._in_script = False

    def handle_data(self, data):
        (self.script_bodies if self._in_script else self.texts).append(data)

    @property
    def text(self) -> str:
        return " ".join(" ".join(self.texts).split())

    def find(self, tag: str, **wanted: str) -> list[dict[str, str | None]]:
        wanted = {key.replace("_", "-"): value for key, value in wanted.items()}
        return [a for t, a in self.tags if t == tag and all(a.get(k) == v for k, v in wanted.items())]


def read_page(path: Path) -> tuple[str, Page]:
    html = path.read_text(encoding="utf-8")
    return html, Page(html)


def decode_data_uri(uri: str) -> Image.Image:
    assert uri.startswith("data:image/png;base64,")
    image = Image.open(io.BytesIO(base64.b64decode(uri.split(",", 1)[1])))
    assert image.format == "PNG"
    return image


def assert_inert(page: Page) -> None:
    """No script, no event handler, no image but our own PNG data URIs."""
    for tag, attrs in page.tags:
        assert tag not in ("script", "iframe", "object", "embed", "svg", "base"), tag
        assert not [name for name in attrs if name.startswith("on")], (tag, attrs)
        if tag == "img":
            decode_data_uri(attrs["src"])


# ----------------------------------------------------------- per submission


def test_json_record_round_trips(class_outputs, rubric):
    out, grades = class_outputs["out"], class_outputs["grades"]
    for grade in grades.values():
        path = out / "results" / f"{output_stem(grade.archive)}.json"
        record = json.loads(path.read_text(encoding="utf-8"))
        assert record == jsonable(grade.to_dict())
    adams = json.loads((out / "results/assignment06_AdamsAnn.json").read_text())
    total, first_id = rubric.total_points, rubric.parts[0].id
    assert adams["score"] == total and adams["max_score"] == total and adams["status"] == "graded"
    first = adams["parts"][first_id]
    assert [c["id"] for c in first["checks"]] == [c.id for c in grades["Ada"].parts[first_id].checks]
    assert all(c["passed"] for c in first["checks"])
    assert first["recomputed"] == {"accuracy": 0.9912, "loss": 0.0301}
    baker = json.loads((out / "results/assignment06_BakerBob.json").read_text())
    assert baker["score"] == pytest.approx(grades["Bak"].score)
    assert 0 < baker["score"] < total
    assert all(c["score"] == 0 and not c["passed"] for p in baker["parts"].values()
               for c in p["checks"] if c["id"] == "model_loads")
    clark = json.loads((out / "results/assignment06_ClarkCy.json").read_text())
    assert clark["status"] == "error" and clark["parts"] == {}
    assert clark["problems"][0]["code"] == "bad-zip"


def test_gradescope_results(class_outputs, rubric):
    out, grades = class_outputs["out"], class_outputs["grades"]
    baker = json.loads((out / "gradescope/assignment06_BakerBob/results.json").read_text())
    assert baker["score"] == pytest.approx(grades["Bak"].score)
    assert sum(t["score"] for t in baker["tests"]) == pytest.approx(baker["score"])
    assert sum(t["max_score"] for t in baker["tests"]) == pytest.approx(rubric.total_points)
    names = [t["name"] for t in baker["tests"]]
    assert names[0] == f"{rubric.parts[0].id} {rubric.parts[0].checks[0].id}"
    assert len(names) == sum(len(p.checks) for p in rubric.parts)
    assert {t["visibility"] for t in baker["tests"]} == {"visible"}
    loads = next(t for t in baker["tests"] if t["name"] == f"{rubric.parts[0].id} model_loads")
    assert loads["score"] == 0 and loads["status"] == "failed"
    assert "Threshold: 0.95" in loads["output"]
    assert "save results/6.2a/metrics.json" in baker["output"]
    assert baker["output_format"] == "text"
    clark = json.loads((out / "gradescope/assignment06_ClarkCy/results.json").read_text())
    assert clark["score"] == 0 and clark["tests"] == []
    assert "could not be opened" in clark["output"]


def test_full_marks_report_values(class_outputs, rubric):
    html, page = read_page(class_outputs["out"] / "reports/assignment06_AdamsAnn.html")
    assert_inert(page)
    assert f"Total: {points(rubric.total_points)} / {points(rubric.total_points)}" in page.text
    assert "Adams, Ann" in page.text and "assignment06_AdamsAnn.zip" in page.text
    assert "Grader version 9.9.9" in page.text
    assert re.search(r"Report written \d{4}-\d\d-\d\d \d\d:\d\d", page.text)
    assert page.find("tr", data_check="model_loads", data_passed="true")
    assert not page.find("tr", data_passed="false")
    # reported vs recomputed, side by side
    assert re.search(r"accuracy 0\.99 0\.9912 \+0\.0012", page.text)
    assert re.search(r"loss 0\.031 0\.0301 -0\.0009", page.text)
    # evidence as a key/value table
    assert "Threshold 0.95" in page.text and "Files [a.png, b.png]" in page.text
    # model summary
    assert "Layer counts Conv2D: 3; MaxPooling2D: 2; Dense: 2" in page.text
    assert "Params 93,322" in page.text and "Has dropout no" in page.text
    assert "far better on raw 0-255 input" in page.text
    # what was found where
    assert "results/6.1/model.keras model 6.1 97% canonical path" in page.text
    # 6.3's labels
    assert "mug.jpg coffee_mug cup no" in page.text
    assert page.find("tr", data_agree="yes") and page.find("tr", data_agree="no")
    assert "results/notes.txt is not used by the grader" in page.text


def test_report_figures_and_thumbnails(class_outputs):
    html, page = read_page(class_outputs["out"] / "reports/assignment06_AdamsAnn.html")
    images = page.find("img")
    # confusion matrix + curves (6.1) + accuracy.png (6.1) + loss.png (6.2a)
    assert len(images) == 4
    sizes = [decode_data_uri(img["src"]).size for img in images]
    assert all(w > 100 and h > 100 for w, h in sizes)
    assert all(w <= thumbnails.THUMBNAIL_BOX[0] or img["alt"].startswith(("Confusion", "Training"))
               for (w, _), img in zip(sizes, images))
    alts = [img["alt"] for img in images]
    assert "results/6.1/accuracy.png" in alts and "results/6.2a/loss.png" in alts
    assert sum(alt.startswith("Confusion matrix") for alt in alts) == 1
    assert sum(alt.startswith("Training curves") for alt in alts) == 1
    # re-encoded, never the student's bytes: the tEXt chunk is gone
    thumb = next(img for img in images if img["alt"] == "results/6.1/accuracy.png")
    assert PNG_MARKER.encode() not in base64.b64decode(thumb["src"].split(",", 1)[1])
    assert PNG_MARKER not in html
    # the SVG and the broken PNG are named, not inlined
    assert "results/6.1/plot.svg" in page.text and ".svg files are not embedded" in page.text
    assert "Your plot: results/6.1/broken.png" in page.text
    assert "not an image the grader can read" in page.text
    assert "onload" not in html and "<svg" not in html


def test_error_report_shows_reason_and_partial_information(class_outputs, rubric):
    html, page = read_page(class_outputs["out"] / "reports/assignment06_ClarkCy.html")
    assert_inert(page)
    banner = page.find("section", id="error-reason")
    assert banner
    assert "could not be fully graded" in page.text
    assert "The archive could not be opened: zip the assignment06 folder again." in page.text
    assert page.find("tr", data_code="bad-zip")
    assert f"Total: 0 / {points(rubric.total_points)}" in page.text and "error" in page.text
    assert html.index("error-reason") < html.index('id="problems"')


def test_hostile_text_is_escaped_everywhere(class_outputs):
    out = class_outputs["out"]
    path = out / "reports" / f"{output_stem(EVIL_ARCHIVE)}.html"
    html, page = read_page(path)
    assert_inert(page)
    for raw in (SCRIPT_TAG, IMG_TAG, "<img src=x onerror=alert(3)>"):
        assert raw not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    # Shown to the reader as text, not dropped: message, evidence key and value,
    # notebook text, found file, plot path, problem, 6.3 row, student name, archive.
    assert page.text.count(SCRIPT_TAG) >= 8
    assert f"Could not read {EVIL_TEXT}" in page.text
    assert f"print('{SCRIPT_TAG}')" in page.text
    assert "Zed<img src=x onerror=alert(2)>, Zoë \"Z\"" in page.text
    assert EVIL_ARCHIVE in page.text
    assert f"results/{EVIL_TEXT}.png" in page.text          # plot that does not exist
    assert "could not be shown: the file is missing" in page.text
    # figures drawn from hostile class names and history keys still render
    assert len(page.find("img")) == 3  # confusion matrix, curves, accuracy.png

    index_html, index = read_page(out / "index.html")
    for raw in (SCRIPT_TAG, IMG_TAG, "<img src=x onerror=alert(3)>"):
        assert raw not in index_html
    assert f"=cmd|' /C calc'!A0 {SCRIPT_TAG}" in index.text
    scripts = [attrs for tag, attrs in index.tags if tag == "script"]
    assert len(scripts) == 1 and index.script_bodies == [template_source(summary.SORT_SCRIPT)]
    assert not [a for _, a in index.tags for name in a if name.startswith("on")]
    csp = index.find("meta", http_equiv="Content-Security-Policy")[0]["content"]
    assert f"script-src {csp_hash(template_source(summary.SORT_SCRIPT))};" in csp
    report_csp = page.find("meta", http_equiv="Content-Security-Policy")[0]["content"]
    assert "script-src" not in report_csp and "default-src 'none'" in report_csp


def test_report_links_in_index_point_to_written_reports(class_outputs):
    out = class_outputs["out"]
    _, index = read_page(out / "index.html")
    links = [a["href"] for a in index.find("a")]
    assert len(links) == 4
    for href in links:
        assert href.startswith("reports/")
        assert (out / unquote(href)).is_file(), href


# ----------------------------------------------------------------- class CSV


def test_grades_csv_columns_and_values(class_outputs, rubric):
    out, grades = class_outputs["out"], class_outputs["grades"]
    table = pd.read_csv(out / "grades.csv", dtype={"username": str, "note": str})
    part_ids = [p.id for p in rubric.parts]
    assert list(table.columns) == ["last", "first", "username", "archive", "status", "total", "max", *part_ids, "note",
                                   "raw", "penalty", "lateness", "attempts", "submitted"]
    assert list(table["last"]) == ["Adams", "Baker", "Clark", f"Zed{IMG_TAG}"]
    assert list(table["status"]) == ["graded", "graded", "error", "graded"]
    total = rubric.total_points
    assert list(table["total"]) == pytest.approx([total, round(grades["Bak"].score, 2), 0.0, round(grades["Zed"].score, 2)])
    assert list(table["max"]) == [total] * 4
    for part_id in part_ids:
        assert table.loc[0, part_id] == pytest.approx(rubric.part(part_id).max_points)
        assert table.loc[1, part_id] == pytest.approx(grades["Bak"].parts[part_id].score)
        assert pd.isna(table.loc[2, part_id])     # the error archive has no part scores
    assert table.loc[1, "note"] == "6.2a: no metrics file"
    assert pd.isna(table.loc[2, "username"])
    # cells a spreadsheet would run as formulas are defused
    assert table.loc[3, "username"] == "'=HYPERLINK(\"x\")"
    assert table.loc[3, "note"].startswith("'=cmd|")


def test_blackboard_export(class_outputs, rubric):
    out, grades = class_outputs["out"], class_outputs["grades"]
    lines = (out / "blackboard_grades.csv").read_text(encoding="utf-8").splitlines()
    total = points(rubric.total_points)
    assert rubric.title == "DSC 650 Assignment 6: Convnets" and total == "100"   # what the literal below spells
    assert lines[0] == '"Last Name","First Name","Username","DSC 650 Assignment 6: Convnets [Total Pts: 100 Score] |"'
    assert all(line.startswith('"') and line.endswith('"') for line in lines)   # every field quoted
    table = pd.read_csv(out / "blackboard_grades.csv", keep_default_na=False, dtype=str)
    score_column = table.columns[3]
    assert list(table["Last Name"]) == ["Adams", "Baker", "Clark", f"Zed{IMG_TAG}"]
    assert list(table["Username"]) == ["aadams", "bbaker", "", "'=HYPERLINK(\"x\")"]
    assert table.loc[0, score_column] == total
    assert float(table.loc[1, score_column]) == pytest.approx(round(grades["Bak"].score, 2))
    assert table.loc[2, score_column] == ""      # not graded: left blank, the LMS keeps its value
    _, index = read_page(out / "index.html")
    assert "Blackboard: Clark, Cy (assignment06_ClarkCy.zip) has no username" in index.text
    assert "Blackboard: Clark, Cy (assignment06_ClarkCy.zip) could not be graded" in index.text


def test_canvas_export(class_outputs, rubric):
    out, grades = class_outputs["out"], class_outputs["grades"]
    table = pd.read_csv(out / "canvas_grades.csv", keep_default_na=False, dtype=str)
    total = points(rubric.total_points)
    assert list(table.columns) == ["Student", "ID", "SIS User ID", "SIS Login ID", "Section", rubric.title]
    assert list(table.iloc[0]) == ["Points Possible", "", "", "", "", total]
    assert list(table["Student"][1:]) == ["Adams, Ann", "Baker, Bob", "Clark, Cy", f'Zed{IMG_TAG}, Zoë "Z"']
    assert list(table["SIS Login ID"][1:3]) == ["aadams", "bbaker"]
    assert list(table[rubric.title][1:4]) == [total, f"{round(grades['Bak'].score, 2):g}", ""]
    _, index = read_page(out / "index.html")
    assert "Canvas: Clark, Cy (assignment06_ClarkCy.zip) has no username" in index.text


def test_unknown_export_is_refused_before_writing(tmp_path, rubric):
    with pytest.raises(ValueError) as caught:
        write_class_outputs([error_grade(rubric)], tmp_path, rubric, exports=["moodle"])
    message = str(caught.value)
    assert "'moodle'" in message
    assert all(name in message for name in KNOWN_EXPORTS) and set(KNOWN_EXPORTS) == {"blackboard", "canvas"}
    assert list(tmp_path.iterdir()) == []


# --------------------------------------------------------------- class index


def test_index_counts_histogram_and_sorting(class_outputs, rubric):
    out, grades = class_outputs["out"], class_outputs["grades"]
    _, index = read_page(out / "index.html")
    counts = index.find("table", id="counts")[0]
    assert counts["data-archives"] == "4" and counts["data-graded"] == "3" and counts["data-error"] == "1"
    totals = sorted(g.score for g in grades.values() if g.status == "graded")
    assert float(counts["data-mean"]) == pytest.approx(sum(totals) / 3, abs=0.01)
    assert float(counts["data-median"]) == pytest.approx(totals[1], abs=0.01)
    bins = index.find("tr", **{"class": "bin"})
    assert len(bins) == summary.HISTOGRAM_BINS
    counted = {(float(b["data-low"]), float(b["data-high"])): int(b["data-count"]) for b in bins}
    width = rubric.total_points / summary.HISTOGRAM_BINS
    expected = {(round(i * width, 2), round((i + 1) * width, 2)): 0 for i in range(summary.HISTOGRAM_BINS)}
    for total in totals:
        i = min(int(total // width), summary.HISTOGRAM_BINS - 1)
        expected[(round(i * width, 2), round((i + 1) * width, 2))] += 1
    assert counted == expected
    assert sum(counted.values()) == 3
    histogram_image = [img for img in index.find("img") if img["alt"] == "Histogram of total scores"]
    assert decode_data_uri(histogram_image[0]["src"]).size[0] > 100
    rows = index.find("tr", **{"class": "submission"})
    assert [r["data-archive"] for r in rows] == [
        "assignment06_AdamsAnn.zip", "assignment06_BakerBob.zip", "assignment06_ClarkCy.zip", EVIL_ARCHIVE]


def test_index_pass_rates(class_outputs, rubric):
    out = class_outputs["out"]
    _, index = read_page(out / "index.html")
    rates = {(r["data-part"], r["data-check"]): r for r in index.find("tr", **{"class": "rate"})}
    assert set(rates) == {(p.id, c.id) for p in rubric.parts for c in p.checks}
    first = rubric.parts[0]
    loads = rates[(first.id, "model_loads")]
    # graded: Adams (full, passed), Baker (failed, 0), Zed (0.75, not passed); Clark is an error
    points = first.checks[[c.id for c in first.checks].index("model_loads")].points
    assert loads["data-submissions"] == "3" and loads["data-passed"] == "1"
    assert float(loads["data-pass-rate"]) == pytest.approx(1 / 3, abs=1e-4)
    assert float(loads["data-mean-points"]) == pytest.approx((points + 0 + 0.75 * points) / 3, abs=1e-4)
    layout = rates[(first.id, "layout_complete")]
    assert float(layout["data-pass-rate"]) == pytest.approx(1 / 3, abs=1e-4)
    spec = first.checks[0]
    assert float(layout["data-mean-points"]) == pytest.approx((spec.points + 0.5 * spec.points + 0.75 * spec.points) / 3, abs=1e-4)


def test_index_lists_identical_model_files(class_outputs, rubric):
    _, index = read_page(class_outputs["out"] / "index.html")
    groups = index.find("li", **{"class": "duplicate-group"})
    assert [g["data-sha256"] for g in groups] == [HASH_SHARED]
    members = index.find("li", **{"class": "duplicate-member"})
    assert sorted(m["data-archive"] for m in members) == sorted(
        ["assignment06_AdamsAnn.zip", "assignment06_BakerBob.zip", EVIL_ARCHIVE])
    assert {m["data-parts"] for m in members} == {rubric.parts[0].id}


def test_duplicate_groups_need_two_archives():
    def grade(archive, hashes):
        return SubmissionGrade(archive=archive, student=Student("L", "F"), status="graded", score=1,
                               max_score=1, rubric="r", model_hashes=hashes)
    groups = summary.duplicate_models([
        grade("one.zip", {"6.2a": "x" * 64, "6.2b": "x" * 64}),   # same file twice in one archive only
        grade("two.zip", {"6.1": "y" * 64}),
        grade("three.zip", {"6.1": "y" * 64, "6.3": ""}),
    ])
    assert [(g.sha256, [(m.archive, m.parts) for m in g.members]) for g in groups] == [
        ("y" * 64, [("three.zip", ["6.1"]), ("two.zip", ["6.1"])])]


def test_histogram_bins_edges_and_clipping():
    bins = summary.histogram_bins([0, 9.99, 10, 55, 100, 120, -3], 100)
    assert [b.count for b in bins] == [3, 1, 0, 0, 0, 1, 0, 0, 0, 2]
    assert (bins[0].low, bins[-1].high) == (0, 100)
    assert summary.histogram_bins([], 100)[0].count == 0


# ------------------------------------------------------------------- atomic


def test_atomic_write_keeps_old_file_when_replace_fails(tmp_path, monkeypatch):
    target = tmp_path / "reports" / "a.html"
    atomic_write_text(target, "old report")
    assert oct(target.stat().st_mode & 0o777) == "0o644"

    def broken_replace(src, dst):
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", broken_replace)
    with pytest.raises(OSError, match="disk full"):
        atomic_write_text(target, "new report")
    assert target.read_text() == "old report"
    assert [p.name for p in target.parent.iterdir()] == ["a.html"]


def test_submission_outputs_survive_a_failed_write(tmp_path, monkeypatch, rubric):
    grade = error_grade(rubric)
    write_submission_outputs(grade, tmp_path)
    json_path = tmp_path / "results/assignment06_ClarkCy.json"
    before = json_path.read_text()
    changed = error_grade(rubric)
    changed.note = "a newer note"
    calls = []

    def failing_replace(src, dst):
        calls.append(dst)
        raise OSError("simulated crash mid-write")

    monkeypatch.setattr(os, "replace", failing_replace)
    with pytest.raises(OSError):
        write_submission_outputs(changed, tmp_path)
    assert calls and json_path.read_text() == before
    leftovers = [p for p in tmp_path.rglob("*") if p.is_file() and p.name.endswith(".tmp")]
    assert leftovers == []


def test_atomic_write_on_success_leaves_no_temp_files(tmp_path):
    target = tmp_path / "x.json"
    for text in ("1", "22", "333"):
        atomic_write_text(target, text)
    assert target.read_text() == "333"
    assert [p.name for p in tmp_path.iterdir()] == ["x.json"]


# ------------------------------------------------------- images and figures


def test_thumbnail_refuses_what_it_cannot_show_safely(tmp_path):
    save_plot(tmp_path / "ok.png", [1, 2, 3])
    (tmp_path / "vector.svg").write_text("<svg xmlns='http://www.w3.org/2000/svg'/>")
    (tmp_path / "svg_named.png").write_text("<svg xmlns='http://www.w3.org/2000/svg'/>")
    Image.new("1", (8000, 8000)).save(tmp_path / "huge.png")   # 64 M pixels, a few KB on disk
    outside = tmp_path.parent / "outside.png"
    save_plot(outside, [1, 2])

    ok = thumbnails.thumbnail(tmp_path, "ok.png")
    assert ok.data_uri and (ok.width, ok.height) == (320, 240)
    assert ".svg files are not embedded" in thumbnails.thumbnail(tmp_path, "vector.svg").reason
    assert "not an image the grader can read" in thumbnails.thumbnail(tmp_path, "svg_named.png").reason
    huge = thumbnails.thumbnail(tmp_path, "huge.png")
    assert huge.data_uri is None and "8000×8000 pixels is over the 60,000,000-pixel limit" in huge.reason
    assert "outside the submission" in thumbnails.thumbnail(tmp_path, "../outside.png").reason
    assert "missing" in thumbnails.thumbnail(tmp_path, "nope.png").reason
    assert "no longer available" in thumbnails.thumbnail(None, "ok.png").reason


def test_thumbnail_decodes_large_jpeg_at_reduced_scale(tmp_path):
    photo = Image.new("RGB", (2400, 1800), (200, 30, 30))
    photo.save(tmp_path / "photo.jpg", quality=80)
    photo.save(tmp_path / "photo.png")
    cap = 1_100_000        # under the full 4.3 M pixels, over the half-scale 1.08 M
    from_jpeg = thumbnails.thumbnail(tmp_path, "photo.jpg", max_pixels=cap)
    assert from_jpeg.data_uri, from_jpeg.reason
    small = decode_data_uri(from_jpeg.data_uri)
    assert small.size == (800, 600)
    assert small.convert("RGB").getpixel((400, 300))[0] > 150
    from_png = thumbnails.thumbnail(tmp_path, "photo.png", max_pixels=cap)
    assert from_png.data_uri is None and "2400×1800" in from_png.reason


def test_figures_report_bad_data_instead_of_raising():
    assert "not a square table" in figures.confusion_matrix([[1, 2], [3]]).reason
    assert "not a square table" in figures.confusion_matrix([["a", "b"], ["c", "d"]]).reason
    assert "no per-epoch numbers" in figures.training_curves({"acc": ["x", None]}).reason
    assert "no per-epoch numbers" in figures.training_curves(["not", "a", "dict"]).reason
    drawn = figures.training_curves({"accuracy": [0.5, "bad", 0.7], "val_loss": [1.0, 0.8, float("nan")]})
    assert decode_data_uri(drawn.data_uri).size[0] > 100
    matrix = figures.confusion_matrix([[5, 1], [2, 7]], ["$cat$", "dog"])
    assert decode_data_uri(matrix.data_uri).size[1] > 100

    def explode(*_):
        raise RuntimeError("boom")

    assert figures.drawn_safely(explode).reason == "could not be drawn (RuntimeError)"


def test_output_stem():
    assert output_stem("assignment06_DoeJane.zip") == "assignment06_DoeJane"
    assert output_stem("Assignment06_DoeJane.ZIP") == "Assignment06_DoeJane"
    assert output_stem("folder.v2") == "folder.v2"
    assert output_stem("some/dir/assignment06_X.zip") == "assignment06_X"
    assert output_stem("..") == "submission" and output_stem(".zip") == ".zip"
    assert output_stem("a\x00b\nc.zip") == "a_b_c"


def test_rendering_does_not_depend_on_the_extracted_files(tmp_path, rubric):
    grade = full_marks_grade(rubric, tmp_path / "gone")
    page = Page(render_submission_html(grade))
    assert "the file is missing" in page.text
    assert len(page.find("img")) == 2        # only the grader's own figures


# ------------------------------------------------------ real students' plots

SHARED = Path(__file__).resolve().parents[1].parent / "shared"
SAMPLES = SHARED / "real-world-samples"
LARGEST_PHOTO = "GabeAvinaz/assignment06/images/Image08 - obi-pixel7propix-SCUPx5far-M-unsplash.jpg"


@pytest.mark.shared
@pytest.mark.skipif(not SAMPLES.is_dir(), reason="../shared/real-world-samples is not available")
def test_real_student_plots_become_thumbnails():
    """Every raster plot students committed (not their 6.3 input photos) is
    shown, re-encoded within the thumbnail box; the largest photo too."""
    plots = [
        path for path in sorted(SAMPLES.rglob("*"))
        if path.suffix.lower() in (".png", ".jpg", ".jpeg") and not {"images", "data", "Data"} & set(path.parts)
    ]
    assert len(plots) > 20
    for path in plots + [SAMPLES / LARGEST_PHOTO]:
        shown = thumbnails.thumbnail(SAMPLES, str(path.relative_to(SAMPLES)))
        assert shown.data_uri, (path, shown.reason)
        width, height = decode_data_uri(shown.data_uri).size
        assert width <= thumbnails.THUMBNAIL_BOX[0] and height <= thumbnails.THUMBNAIL_BOX[1]
        assert (width, height) != (0, 0)
    assert (shown.width, shown.height) == (7848, 5723)
