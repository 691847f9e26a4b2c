"""The HTML review page in a real browser (headless Chromium through Playwright): it opens from
disk with no network, shows the JSON report's totals, and its filters, layouts, lazy diffs,
search and links work; a 2,000-file report opens and becomes interactive.

Needs the `playwright` Python package and a Chromium binary (Debian: `apt-get install chromium`,
found at /usr/bin/chromium, or $PORTKIT_CHROMIUM). `playwright install` is never needed.
A screenshot of the example report goes to test-artifacts/ (git-ignored) for people to look at.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from conftest import REPO
from portkit.reports import review
from portkit.reports.runreport import Report, to_json_data
from test_review import evil_tree, mixed_tree, run_migrate, synthetic_report

from playwright import sync_api  # the test extra; a missing dependency fails, it is never skipped

CHROMIUM = os.environ.get("PORTKIT_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"

ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", "--no-first-run"]
ARTIFACTS = REPO / "test-artifacts"


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    assert os.path.exists(CHROMIUM), (
        f"no Chromium at {CHROMIUM}: the README's test command installs Debian's chromium "
        "(or set PORTKIT_CHROMIUM)")
    with sync_api.sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield chromium
        chromium.close()


class Page:
    """A page with everything that could go wrong recorded: console messages, script errors,
    failed requests, every URL requested, and dialogs (an injected alert() would open one)."""

    def __init__(self, browser: Any, width: int = 1400, height: int = 1000) -> None:
        self.context = browser.new_context(viewport={"width": width, "height": height})
        self.page = self.context.new_page()
        self.console: list[str] = []
        self.errors: list[str] = []
        self.failed: list[str] = []
        self.requests: list[str] = []
        self.dialogs: list[str] = []
        self.page.on("console", lambda m: self.console.append(f"{m.type}: {m.text}"))
        self.page.on("pageerror", lambda e: self.errors.append(str(e)))
        self.page.on("requestfailed", lambda r: self.failed.append(r.url))
        self.page.on("request", lambda r: self.requests.append(r.url))
        self.page.on("dialog", lambda d: (self.dialogs.append(d.message), d.dismiss()))

    def open(self, path: Path) -> float:
        """Load the page; seconds from navigation to `window.portkitReady`."""
        started = time.perf_counter()
        self.page.goto(path.as_uri())
        self.page.wait_for_function("() => window.portkitReady === true", timeout=120_000)
        return time.perf_counter() - started

    def assert_clean(self) -> None:
        assert not self.errors, self.errors
        assert not [m for m in self.console if m.startswith(("error", "warning"))], self.console
        assert not self.failed, self.failed
        assert not self.dialogs, self.dialogs
        assert all(url.startswith(("file://", "data:")) for url in self.requests), self.requests

    def visible_files(self) -> list[str]:
        return self.page.locator("#files .file .fhead .path").all_inner_texts()

    def close(self) -> None:
        self.context.close()


@pytest.fixture(scope="module")
def example(tmp_path_factory: pytest.TempPathFactory) -> tuple[Report, Path]:
    """The examples (plus manual-only, manual-heavy and broken files) migrated with sources."""
    root = mixed_tree(tmp_path_factory.mktemp("browser"))
    report, sources = run_migrate(root, "src")
    page = root / "review.html"
    page.write_text(review.render_html(report, sources), encoding="utf-8")
    return report, page


@pytest.fixture
def page(browser: Any) -> Iterator[Page]:
    opened = Page(browser)
    yield opened
    opened.close()


def test_totals_shown_are_the_json_report_s(example: tuple[Report, Path], page: Page) -> None:
    report, path = example
    page.open(path)
    summary = to_json_data(report)["summary"]
    shown = page.page.eval_on_selector_all(
        "[data-total]", "els => els.map(e => [e.dataset.total, e.querySelector('.num').textContent])")
    assert {key: int(value.replace(",", "")) for key, value in shown} == {key: summary[key] for key, _ in shown}
    assert len(shown) == 7
    listed = [f["path"] for f in to_json_data(report)["files"]]
    assert page.visible_files() == listed  # collapsed, one page
    assert page.page.locator("#files table.diff").count() == 0  # nothing rendered before it is asked for
    converted = page.page.locator("#files .fhead > .num:nth-child(3)").all_inner_texts()
    left = page.page.locator("#files .fhead > .num:nth-child(4)").all_inner_texts()
    assert sum(map(int, converted)) == summary["changes"] and sum(map(int, left)) == summary["manual_items"]
    page.assert_clean()


def test_expanding_a_file_renders_its_annotated_diff(example: tuple[Report, Path], page: Page) -> None:
    report, path = example
    page.open(path)
    result = next(f for f in report.files if f.path.endswith("mnist/train.py"))
    box = page.page.locator(".file", has=page.page.locator(".path", has_text="mnist/train.py"))
    box.locator(".fhead").click()
    assert box.locator("table.diff.split").count() == 1
    assert box.locator("tr.note.change").count() == len(result.changes)
    assert box.locator("tr.note.manual").count() == len(result.findings)
    assert box.locator("tr.hunk").first.inner_text().startswith("@@ -")
    note = box.locator("tr.note.manual").first.inner_text()
    assert "cudnn-flags" in note and "Left for a person" in note and result.findings[0].message in note
    assert box.locator("tr.flagged").count() == len(result.findings)  # the manual item's own line
    assert box.locator("td.add .x").count() > 0  # what changed within a line is marked
    assert box.locator("span.k").count() > 0 and box.locator("span.s").count() > 0  # highlighted
    box.locator(".fhead").click()
    assert box.locator("table.diff").count() == 0
    page.assert_clean()


def test_side_by_side_and_unified(example: tuple[Report, Path], page: Page) -> None:
    _, path = example
    page.open(path)
    box = page.page.locator(".file", has=page.page.locator(".path", has_text="amp/train_amp.py"))
    box.locator(".fhead").click()
    split_rows = box.locator("table.diff.split tr").count()
    assert box.locator("td.sign").count() == 0
    page.page.click("#view-unified")
    assert box.locator("table.diff.split").count() == 0
    assert box.locator("table.diff.unified").count() == 1
    assert box.locator("td.sign.del").count() > 0 and box.locator("td.sign.add").count() > 0
    assert box.locator("table.diff.unified tr").count() > split_rows  # a changed line takes two rows
    assert page.page.get_attribute("#view-unified", "aria-pressed") == "true"
    page.page.click("#view-split")
    assert box.locator("table.diff.split").count() == 1
    page.assert_clean()


def test_filtering_by_a_rule_hides_the_others(example: tuple[Report, Path], page: Page) -> None:
    report, path = example
    page.open(path)
    page.page.select_option("#rule", "env-var")
    with_rule = [f.path for f in report.files if any(e.rule_id == "env-var" for e in (*f.changes, *f.findings))]
    assert page.visible_files() == with_rule
    page.page.locator("#files .fhead").first.click()
    notes = page.page.locator("#files tr.note")
    shown = [notes.nth(i).get_attribute("data-rule") for i in range(notes.count()) if notes.nth(i).is_visible()]
    assert shown and set(shown) == {"env-var"}
    assert page.page.locator("#groups .group").count() == 0  # env-var left nothing for a person here
    page.page.select_option("#rule", "cudnn-flags")
    groups = page.page.locator("#groups .group")
    assert [groups.nth(i).get_attribute("data-rule") for i in range(groups.count())] == ["cudnn-flags"]
    assert set(page.visible_files()) == {f.path for f in report.files if any(m.rule_id == "cudnn-flags"
                                                                             for m in f.findings)}
    # a rule id in the table sets the filter; clicking it again clears it
    page.page.click("#by-rule button.rulelink[data-rule='cuda-api']")
    assert page.page.input_value("#rule") == "cuda-api"
    page.page.click("#by-rule button.rulelink[data-rule='cuda-api']")
    assert page.page.input_value("#rule") == ""
    # fix safety: only `review` changes
    for value in ("0", "2"):
        page.page.uncheck(f"input[name=safety][value='{value}']")
    review_files = {f.path for f in report.files if any(str(c.safety) == "review" for c in f.changes)}
    assert set(page.visible_files()) == review_files
    page.page.click("#reset")
    assert len(page.visible_files()) == len(to_json_data(report)["files"])
    page.assert_clean()


def test_search_box_filters_files_and_manual_items(example: tuple[Report, Path], page: Page) -> None:
    report, path = example
    page.open(path)
    page.page.fill("#q", "train_ddp")
    page.page.wait_for_function("() => document.getElementById('shown').textContent.includes('of 1 file')")
    assert page.visible_files() == ["src/ddp/train_ddp.py"]
    page.page.fill("#q", "DataParallel is not")  # a manual item's message
    page.page.wait_for_function("() => document.querySelector('#files .path').textContent === 'src/kernels.py'")
    assert page.visible_files() == ["src/kernels.py"]
    assert page.page.locator("#groups .group").count() == 1
    page.page.fill("#q", "no such text anywhere")
    page.page.wait_for_function("() => document.getElementById('shown').textContent.startsWith('No file')")
    assert page.visible_files() == []
    page.assert_clean()


def test_manual_item_link_opens_its_line(example: tuple[Report, Path], page: Page) -> None:
    report, path = example
    page.open(path)
    group = page.page.locator("#groups .group[data-rule='cuda-extension']")
    group.locator("summary").click()
    link = group.locator("a").first
    assert link.inner_text() == "src/kernels.py:10"
    link.click()
    target = page.page.locator("tr.note.manual.flash")
    assert target.count() == 1 and "cuda-extension" in target.inner_text()
    assert target.is_visible() and target.evaluate("e => e.getBoundingClientRect().top") > 0
    assert page.page.evaluate("location.hash").startswith("#f")
    page.assert_clean()


def test_screenshot_for_people(example: tuple[Report, Path], page: Page) -> None:
    """Not an assertion on pixels: the page as a reviewer first sees it, and with a file open."""
    _, path = example
    page.open(path)
    ARTIFACTS.mkdir(exist_ok=True)
    page.page.screenshot(path=str(ARTIFACTS / "review-top.png"), full_page=False)
    page.page.locator("#groups .group summary").first.click()
    page.page.locator(".file", has=page.page.locator(".path", has_text="mnist/train.py")).locator(".fhead").click()
    page.page.screenshot(path=str(ARTIFACTS / "review.png"), full_page=True)
    page.page.click("#view-unified")
    page.page.locator("#files-section").screenshot(path=str(ARTIFACTS / "review-unified.png"))
    assert (ARTIFACTS / "review.png").stat().st_size > 10_000
    page.assert_clean()


def test_hostile_names_and_source_stay_text(tmp_path: Path, page: Page) -> None:
    report, sources = run_migrate(evil_tree(tmp_path), "src")
    path = tmp_path / "evil.html"
    path.write_text(review.render_html(report, sources), encoding="utf-8")
    page.open(path)
    (result,) = report.files
    assert page.visible_files() == [result.path]
    page.page.locator("#files .fhead").first.click()
    code = page.page.locator("#files td.code").all_text_contents()
    assert any("</script><script>alert(1)</script><!--" in text for text in code)
    assert page.page.locator("img, b, #files script").count() == 0
    assert page.page.evaluate("document.scripts.length") == 4
    page.assert_clean()


def test_a_2000_file_report_opens_and_stays_responsive(browser: Any, tmp_path: Path) -> None:
    report = synthetic_report(2000, 5)
    started = time.perf_counter()
    text = review.render_html(report)
    rendered = time.perf_counter() - started
    path = tmp_path / "big.html"
    path.write_text(text, encoding="utf-8")
    page = Page(browser)
    try:
        seconds = page.open(path)
        in_page = page.page.evaluate("performance.now()")
        measured = (f"2,000 files x 5 changes: HTML {len(text.encode()) / 1e6:.2f} MB, rendered in {rendered:.2f} s; "
                    f"navigation to portkitReady {seconds:.2f} s (page clock {in_page / 1000:.2f} s)")
        print("\n" + measured)  # shown with `pytest -s`; also kept in test-artifacts/
        ARTIFACTS.mkdir(exist_ok=True)
        (ARTIFACTS / "review-scale.txt").write_text(measured + "\n", encoding="utf-8")
        assert page.page.inner_text("[data-total=changes] .num") == "10,000"
        assert page.page.locator("#files .file").count() == 50  # one page of the list
        assert "of 40" in page.page.inner_text("#pager-top")
        page.page.locator("#pager-top button", has_text="Next").click()
        assert page.visible_files()[0] == "pkg0/module_50.py"
        started = time.perf_counter()
        page.page.locator("#files .fhead").first.click()
        assert page.page.locator("#files tr.note").count() == 5  # module_50: 5 changes, no manual item
        page.page.fill("#q", "module_1999")
        page.page.wait_for_function("() => document.querySelectorAll('#files .file').length === 1")
        print(f"expand + search: {time.perf_counter() - started:.2f} s")
        page.page.fill("#q", "")
        page.page.wait_for_function("() => document.querySelectorAll('#files .file').length === 50")
        page.page.click("#expand")
        assert page.page.locator("#files table.diff").count() == 50
        page.assert_clean()
    finally:
        page.close()
