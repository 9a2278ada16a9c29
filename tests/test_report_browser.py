"""The reports in a real browser: headless Debian Chromium driven by Playwright.

Each page must render (title, total score), load every image, run no
injected script (no dialog, no console error) and, for the class summary,
sort its table when a header is clicked. Screenshots go to the test's tmp
folder. When Playwright cannot drive the system Chromium, the checks that
need no clicking are made on ``chromium --headless --dump-dom`` instead.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
from test_report import (  # noqa: E402  (builders shared with the unit tests)
    EVIL_ARCHIVE,
    Page,
    error_grade,
    full_marks_grade,
    hostile_grade,
    make_work_root,
    partial_grade,
)

from grader import rubric as rubric_module  # noqa: E402
from grader.report import output_stem, write_class_outputs, write_submission_outputs  # noqa: E402

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not CHROMIUM.exists(), reason="Debian chromium is not installed (apt-get install chromium)"),
]


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    rubric = rubric_module.load()
    root = make_work_root(tmp_path_factory.mktemp("submission"))
    out = tmp_path_factory.mktemp("site")
    grades = [partial_grade(rubric, root), hostile_grade(rubric, root), error_grade(rubric),
              full_marks_grade(rubric, root)]
    for grade in grades:
        write_submission_outputs(grade, out)
    write_class_outputs(grades, out, rubric)
    reports = {grade.archive: out / "reports" / f"{output_stem(grade.archive)}.html" for grade in grades}
    return {"out": out, "grades": grades, "reports": reports, "rubric": rubric}


@pytest.fixture(scope="module")
def browser_context(tmp_path_factory):
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        yield None
        return
    profile = tmp_path_factory.mktemp("chromium-profile")
    manager = sync_playwright().start()
    try:
        context = manager.chromium.launch_persistent_context(
            str(profile), executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS,
            viewport={"width": 1200, "height": 900},
        )
    except Exception as exc:  # the system browser may not match this Playwright
        print(f"Playwright could not launch {CHROMIUM}: {exc}; falling back to --dump-dom")
        manager.stop()
        yield None
        return
    yield context
    context.close()
    manager.stop()


class Watched:
    """A page with its dialogs, console errors and uncaught errors recorded."""

    def __init__(self, context, path: Path) -> None:
        self.dialogs: list[str] = []
        self.errors: list[str] = []
        self.page = context.new_page()
        self.page.on("dialog", self._dialog)
        self.page.on("console", lambda m: m.type == "error" and self.errors.append(m.text))
        self.page.on("pageerror", lambda e: self.errors.append(str(e)))
        self.page.goto(path.as_uri(), wait_until="load")

    def _dialog(self, dialog) -> None:
        self.dialogs.append(dialog.message)
        dialog.dismiss()

    def broken_images(self) -> list[str]:
        return self.page.eval_on_selector_all(
            "img", "imgs => imgs.filter(i => !(i.complete && i.naturalWidth > 0)).map(i => i.alt)")

    def image_count(self) -> int:
        return self.page.eval_on_selector_all("img", "imgs => imgs.length")


def test_reports_render_safely(site, browser_context, tmp_path):
    if browser_context is None:
        pytest.skip("Playwright unavailable; see test_reports_render_with_dump_dom")
    for grade in site["grades"]:
        watched = Watched(browser_context, site["reports"][grade.archive])
        page = watched.page
        assert grade.student.display in page.title()
        total = page.inner_text("#total")
        assert total.startswith(f"Total: {grade.score:g} / 100"), total
        assert page.inner_text("#archive") == grade.archive
        assert watched.broken_images() == []
        page.wait_for_timeout(200)      # give any injected handler a chance to fire
        assert watched.dialogs == [] and watched.errors == [], (grade.archive, watched.dialogs, watched.errors)
        page.screenshot(path=str(tmp_path / f"{output_stem(grade.archive)}.png"), full_page=True)
        page.close()

    hostile = Watched(browser_context, site["reports"][EVIL_ARCHIVE])
    assert hostile.page.locator("script").count() == 0
    assert hostile.page.locator("img[src='x']").count() == 0
    assert "<script>alert(1)</script>" in hostile.page.inner_text("body")
    assert hostile.image_count() == 3
    full = Watched(browser_context, site["reports"]["assignment06_AdamsAnn.zip"])
    assert full.image_count() == 4 and full.broken_images() == []
    error = Watched(browser_context, site["reports"]["assignment06_ClarkCy.zip"])
    assert "could not be fully graded" in error.page.inner_text("#error-reason")


def test_index_renders_and_sorts(site, browser_context, tmp_path):
    if browser_context is None:
        pytest.skip("Playwright unavailable; sorting needs clicks")
    watched = Watched(browser_context, site["out"] / "index.html")
    page = watched.page
    assert page.title() == f"{site['rubric'].title}: class summary"
    assert watched.broken_images() == [] and watched.image_count() == 1

    def archives() -> list[str]:
        return page.eval_on_selector_all("#submissions tbody tr", "rows => rows.map(r => r.dataset.archive)")

    by_name = ["assignment06_AdamsAnn.zip", "assignment06_BakerBob.zip", "assignment06_ClarkCy.zip", EVIL_ARCHIVE]
    assert archives() == by_name
    by_total = [g.archive for g in sorted(site["grades"], key=lambda g: g.score)]
    page.click("#submissions th:has-text('Total') button")
    assert archives() == by_total
    assert page.get_attribute("#submissions th:has-text('Total')", "aria-sort") == "ascending"
    page.click("#submissions th:has-text('Total') button")
    assert archives() == by_total[::-1]
    page.click("#submissions th:has-text('Student') button")
    assert archives() == by_name
    page.click("#submissions th:has-text('Student') button")
    assert archives() == by_name[::-1]
    page.screenshot(path=str(tmp_path / "index.png"), full_page=True)
    # the report links resolve to the written files
    page.click("a:has-text('assignment06_BakerBob.zip')")
    page.wait_for_load_state("load")
    assert page.url.endswith("/reports/assignment06_BakerBob.html")
    assert "Baker, Bob" in page.title()
    assert watched.dialogs == [] and watched.errors == []


def test_reports_render_with_dump_dom(site, tmp_path):
    """The fallback path, run always: Chromium's own DOM after scripts ran."""
    if shutil.which(str(CHROMIUM)) is None:
        pytest.skip("chromium is not executable")
    pages = [*site["reports"].values(), site["out"] / "index.html"]
    for number, path in enumerate(pages):
        dom = Page(_chromium(tmp_path / f"profile{number}", "--dump-dom", path.as_uri()))
        assert "Total:" in dom.text or "class summary" in dom.text
        handlers = [(tag, name) for tag, attrs in dom.tags for name in attrs if name.startswith("on")]
        assert handlers == []
        scripts = [tag for tag, _ in dom.tags if tag == "script"]
        assert len(scripts) == (1 if path.name == "index.html" else 0)
        assert all(attrs["src"].startswith("data:image/png;base64,") for tag, attrs in dom.tags if tag == "img")
    shot = tmp_path / "report.png"
    _chromium(tmp_path / "profile-shot", f"--screenshot={shot}", "--window-size=1200,2000",
              site["reports"]["assignment06_AdamsAnn.zip"].as_uri())
    assert shot.stat().st_size > 10_000


def _chromium(profile: Path, *args: str) -> str:
    result = subprocess.run(
        [str(CHROMIUM), *CHROMIUM_ARGS, f"--user-data-dir={profile}", *args],
        capture_output=True, text=True, timeout=120,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    return result.stdout
