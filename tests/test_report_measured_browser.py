"""A comparison of models' reports in a real browser (headless Debian Chromium,
driven by Playwright): a student's report with the models side by side, the
detectors' evidence and the trade-off chart, a report whose model names and
layer names are hostile, and the class summary with the class chart. Every
image loads, no script from a submission runs (no dialog, no console error,
no script element in a report), the detectors' blocks open without script.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
from test_report import IMG_TAG, SCRIPT_TAG, Page  # noqa: E402
from test_report_browser import CHROMIUM, Watched, _chromium, browser_context  # noqa: E402,F401  (a fixture)
from test_report_measured import (  # noqa: E402
    CLASS_FIGURES,
    RUBRIC_TOML,
    TRADEOFF_SENTENCE,
    class_grades,
    student_grade,
)

from grader import rubric as rubric_module  # noqa: E402
from grader.report import output_stem, write_class_outputs, write_submission_outputs  # noqa: E402

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not CHROMIUM.exists(), reason="Debian chromium is not installed (apt-get install chromium)"),
]
HOSTILE_LAYER = f"{IMG_TAG}conv"


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    rubric_path = tmp_path_factory.mktemp("rubric") / "week06_test.toml"
    rubric_path.write_text(RUBRIC_TOML, encoding="utf-8")
    rubric = rubric_module.load(rubric_path)
    out = tmp_path_factory.mktemp("site")
    grades = class_grades()
    hostile = student_grade("Diaz", "Dee", CLASS_FIGURES[("Diaz", "Dee")],
                            model_names={"cnn": SCRIPT_TAG, "resnet": "x", "inception": IMG_TAG})
    evidence = hostile.parts["cnn"].checks[1].evidence["detectors"]["plain"]["evidence"]
    evidence["stack"][0] = HOSTILE_LAYER
    grades[3] = hostile
    for grade in grades:
        write_submission_outputs(grade, out)
    write_class_outputs(grades, out, rubric)
    reports = {grade.student.last: out / "reports" / f"{output_stem(grade.archive)}.html" for grade in grades}
    return {"out": out, "reports": reports}


def test_student_reports_render_safely(site, browser_context, tmp_path):
    if browser_context is None:
        pytest.skip("Playwright unavailable; see test_pages_render_with_dump_dom")
    baker = Watched(browser_context, site["reports"]["Baker"])
    page = baker.page
    assert page.title().startswith("Baker, Bob: 40 / 40")
    assert page.locator("tr.compared-model").count() == 3
    assert baker.image_count() == 1 and baker.broken_images() == []
    assert page.locator("img").first.evaluate("i => i.naturalWidth") == 800
    residual = page.locator("#part-resnet div.detector[data-detector='residual'] details")
    assert residual.evaluate("d => d.open") is False          # 16 blocks: closed until asked
    residual.locator("summary").click()
    assert residual.evaluate("d => d.open") is True
    assert residual.locator("li").count() == 13                # 12 blocks and "… and 4 more"
    assert page.locator("script").count() == 0
    page.screenshot(path=str(tmp_path / "baker.png"), full_page=True)

    diaz = Watched(browser_context, site["reports"]["Diaz"])
    text = diaz.page.inner_text("#models-compared")
    assert f"your row: {SCRIPT_TAG}" in text and f"your row: {IMG_TAG}" in text
    assert HOSTILE_LAYER in diaz.page.inner_text("#part-cnn")
    assert diaz.page.locator("img[src='x']").count() == 0 and diaz.page.locator("script").count() == 0
    assert diaz.broken_images() == []
    for watched in (baker, diaz):
        watched.page.wait_for_timeout(200)    # give any injected handler a chance to fire
        assert watched.dialogs == [] and watched.errors == []
        watched.page.close()


def test_class_summary_renders_its_charts(site, browser_context, tmp_path):
    if browser_context is None:
        pytest.skip("Playwright unavailable; see test_pages_render_with_dump_dom")
    watched = Watched(browser_context, site["out"] / "index.html")
    page = watched.page
    assert watched.image_count() == 2 and watched.broken_images() == []   # the histogram and the class chart
    assert page.locator("#tradeoff img").evaluate("i => [i.naturalWidth, i.naturalHeight]") == [640, 380]
    assert page.inner_text("#tradeoff-sentence") == TRADEOFF_SENTENCE
    assert page.locator("#tradeoff-medians tr.part-median").count() == 3
    assert page.locator("script").count() == 1                             # the summary's own sorting code
    page.screenshot(path=str(tmp_path / "index.png"), full_page=True)
    assert watched.dialogs == [] and watched.errors == []


def test_pages_render_with_dump_dom(site, browser_context, tmp_path):
    """Without Playwright: Chromium's own DOM after any script ran."""
    if browser_context is not None:
        pytest.skip("Playwright drove the browser")
    for number, path in enumerate([site["reports"]["Baker"], site["reports"]["Diaz"], site["out"] / "index.html"]):
        dom = Page(_chromium(tmp_path / f"profile{number}", "--dump-dom", path.as_uri()))
        assert [(tag, name) for tag, attrs in dom.tags for name in attrs if name.startswith("on")] == []
        assert len([tag for tag, _ in dom.tags if tag == "script"]) == (1 if path.name == "index.html" else 0)
        assert all(attrs["src"].startswith("data:image/png;base64,") for tag, attrs in dom.tags if tag == "img")
