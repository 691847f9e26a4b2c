"""The HTML review page in a real browser (headless Chromium through Playwright): it opens from
disk with no network, shows the JSON report's totals, and its filters, layouts, lazy diffs,
search and links work; the to-do list is on the first screen, "viewed" marks survive a reload,
within a changed line whole words are marked; a 2,000-file report opens and becomes interactive.

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
from test_review import evil_tree, mixed_tree, reading_tree, run_migrate, synthetic_report

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


def rendered(root: Path, name: str) -> tuple[Report, Path]:
    """Migrate root/src (with sources) and write its review page to root/name."""
    report, sources = run_migrate(root, "src")
    page = root / name
    page.write_text(review.render_html(report, sources), encoding="utf-8")
    return report, page


@pytest.fixture(scope="module")
def example(tmp_path_factory: pytest.TempPathFactory) -> tuple[Report, Path]:
    """The examples (plus manual-only, manual-heavy and broken files) migrated with sources."""
    return rendered(mixed_tree(tmp_path_factory.mktemp("browser")), "review.html")


@pytest.fixture(scope="module")
def reading(tmp_path_factory: pytest.TempPathFactory) -> tuple[Report, Path]:
    """Files that read badly once (an import added above a changed line, triton imports, nccl)."""
    return rendered(reading_tree(tmp_path_factory.mktemp("reading")), "reading.html")


def file_box(page: Page, path: str) -> Any:
    return page.page.locator(".file", has=page.page.locator(".path", has_text=path))


def expanded(page: Page, path: str) -> Any:
    """The file whose path holds `path`, opened to its diff."""
    box = file_box(page, path)
    box.locator(".fhead").click()
    assert box.locator("table.diff").count() == 1
    return box


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
    # the import of the build API is the item (once per import statement, not per call)
    assert link.inner_text() == "src/kernels.py:3"
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


def test_the_to_do_list_is_on_the_first_screen(example: tuple[Report, Path], browser: Any) -> None:
    """At 1280×800 a reviewer sees the to-do list (and the next steps) without scrolling; the
    totals are one line above it, the tables by rule below it."""
    _, path = example
    page = Page(browser, 1280, 800)
    try:
        page.open(path)
        boxes = {name: page.page.locator(selector).bounding_box() for name, selector in (
            ("totals", "header .totals"), ("todo", "#manual h2"), ("group", "#groups .group >> nth=0"),
            ("last group", "#groups .group >> nth=-1"), ("steps", "#next-steps h2"), ("tables", "#by-rule"))}
        for name in ("totals", "todo", "group", "last group", "steps"):
            box = boxes[name]
            assert box and 0 <= box["y"] and box["y"] + box["height"] <= 800, (name, box)
        assert boxes["tables"]["y"] > boxes["last group"]["y"]
        ARTIFACTS.mkdir(exist_ok=True)
        page.page.screenshot(path=str(ARTIFACTS / "review-first-screen.png"))
        page.assert_clean()
    finally:
        page.close()


def test_viewed_marks_persist_across_reloads(example: tuple[Report, Path], page: Page) -> None:
    _, path = example
    page.open(path)
    box = expanded(page, "mnist/train.py")
    box.locator("label.viewed input").check()  # as GitHub: marking a file viewed collapses it
    assert box.locator("table.diff").count() == 0 and "viewed" in (box.get_attribute("class") or "")
    total = len(page.visible_files())
    assert page.page.inner_text("#viewed-count") == f"1 of {total} viewed"
    key = page.page.evaluate("JSON.parse(document.getElementById('portkit-index').textContent).key")
    stored = page.page.evaluate("Object.keys(localStorage)")
    assert stored == [f"portkit-viewed:{key}:src/mnist/train.py"]
    page.page.reload()
    page.page.wait_for_function("() => window.portkitReady === true")
    box = file_box(page, "mnist/train.py")
    assert box.locator("label.viewed input").is_checked() and "viewed" in (box.get_attribute("class") or "")
    assert page.page.inner_text("#viewed-count") == f"1 of {total} viewed"
    assert not file_box(page, "amp/train_amp.py").locator("label.viewed input").is_checked()
    box.locator("label.viewed input").uncheck()  # unmarked, it opens again
    assert box.locator("table.diff").count() == 1
    page.page.reload()
    page.page.wait_for_function("() => window.portkitReady === true")
    assert not file_box(page, "mnist/train.py").locator("label.viewed input").is_checked()
    assert page.page.evaluate("localStorage.length") == 0
    page.assert_clean()


def test_whole_words_are_marked_within_a_changed_line(reading: tuple[Report, Path], page: Page) -> None:
    """`nccl` → `hccl` marks the word, not the one letter that differs."""
    _, path = reading
    page.open(path)
    box = expanded(page, "ddp/train_ddp.py")
    cells = box.locator("td.code.del", has_text='backend = "nccl"')
    assert cells.count() == 1
    assert cells.locator(".x").all_inner_texts() == ["nccl", "cuda"]
    added = box.locator("td.code.add", has_text='backend = "hccl"')
    assert added.locator(".x").all_inner_texts() == ["hccl", "npu"]
    env = box.locator("td.code.add", has_text="ASCEND_RT_VISIBLE_DEVICES")
    assert env.locator(".x").all_inner_texts() == ["ASCEND_RT_VISIBLE_DEVICES"]
    page.assert_clean()


def test_the_import_note_follows_the_added_line(reading: tuple[Report, Path], page: Page) -> None:
    _, path = reading
    page.open(path)
    for name in ("before_change.py", "before_blanks.py"):
        note = expanded(page, name).locator("tr.note[data-rule='torch-npu-import']")
        assert note.count() == 1
        above = note.evaluate("tr => tr.previousElementSibling.textContent")
        assert "import torch_npu" in above and "cuda" not in above, (name, above)
    # the changed import is shown against its new spelling, not against `import torch_npu`
    amp = file_box(page, "before_change.py").locator("tr:not(.note)", has_text="from torch.cuda.amp import autocast")
    assert "from torch_npu.npu.amp import autocast" in amp.inner_text()
    page.assert_clean()


def test_a_file_s_repeated_items_are_one_to_do(reading: tuple[Report, Path], page: Page) -> None:
    _, path = reading
    page.open(path)
    group = page.page.locator("#groups .group[data-rule='triton']")
    assert "3 items in 1 file" in group.locator("summary").first.inner_text()
    group.locator("summary").first.click()
    group.locator("ol > li").first.wait_for()  # the page's script builds the list on opening
    (todo,) = group.locator("ol > li").all()
    assert "src/kernels.py" in todo.inner_text() and "3 items" in todo.inner_text() and "lines 2, 3, 4" in todo.inner_text()
    todo.locator("details.todo > summary .tag").click()  # opens the list of lines
    links = todo.locator("ul.lines a")
    assert links.all_inner_texts() == ["line 2", "line 3", "line 4"]
    links.nth(1).click()
    target = page.page.locator("tr.note.manual.flash")
    assert target.count() == 1 and "line 3:1" in target.inner_text()
    page.assert_clean()
