"""The review formats (portkit.reports.review): HTML, Markdown and msFmkTransplt CSV all come from the one
`Report`, their totals equal the JSON report's, everything from the user's files is escaped,
and the CSV files are exactly msFmkTransplt's."""

from __future__ import annotations

import base64
import csv
import hashlib
import json
import os
import re
import shutil
from collections import Counter
from html.parser import HTMLParser
from importlib import resources
from pathlib import Path
from typing import Any

import pytest

from conftest import EXAMPLE_NAMES, EXAMPLES, REPO, write
from portkit.reports import review
from portkit.reports.next_steps import CANN_SET_ENV, next_steps
from portkit.reports.review.hunks import _replace_blocks
from portkit.reports.review.markdown import _code
from portkit.pipeline.migrate import MigrateOptions, Mode, migrate
from portkit.model import Change, FileResult, FileStatus, Finding, Safety, Span
from portkit.reports.runreport import Report, from_json_data, to_json_data
from portkit.ruleset import load_rules
from portkit.ruleset.npu_api import load_npu_api

KERNELS = """\
import torch
import triton
from torch.utils.cpp_extension import CUDAExtension, BuildExtension

torch.backends.cudnn.deterministic = True
torch.backends.cudnn.benchmark = True
x = torch.cuda.DoubleTensor(3)
torch.cuda.memory._record_memory_history()
model = torch.nn.DataParallel(model)
ext = CUDAExtension("k", ["k.cu"])
major, minor = torch.cuda.get_device_capability()
"""

# a string literal that would end the page's script blocks, open a comment, and run a script
EVIL_TEXT = '</script><script>alert(1)</script><!-- <b>bold</b> & "quotes" \u2028'
EVIL_SOURCE = f"""\
import torch
ok = torch.cuda.is_available(); banner = {EVIL_TEXT!r}
torch.backends.cudnn.benchmark = True  # {EVIL_TEXT}
"""
EVIL_DIR = ("a<", "script>x")  # joined: a</script>x — the path itself closes a <script>


def run_migrate(root: Path, *paths: str) -> tuple[Report, dict[str, tuple[str, str]]]:
    """migrate in-process (dry run, from `root` so paths are relative) and the sources the HTML
    takes: each changed file's original text (still on disk) and migrated text."""
    before = os.getcwd()
    os.chdir(root)
    try:
        options = MigrateOptions(paths=tuple(Path(p) for p in paths), ruleset=load_rules().for_target("npu"),
                                 mode=Mode.DRY_RUN, jobs=1)
        report = migrate(options).report
        sources = {f.path: (Path(f.path).read_text(encoding="utf-8"), f.new_text)
                   for f in report.files if f.status is FileStatus.CHANGED and f.new_text is not None}
    finally:
        os.chdir(before)
    return report, sources


def mixed_tree(root: Path) -> Path:
    """The examples plus a file for most manual rules, a manual-only file and a broken one."""
    for name in EXAMPLE_NAMES:
        shutil.copytree(EXAMPLES / name / "original", root / "src" / name)
    write(root / "src" / "kernels.py", KERNELS)
    write(root / "src" / "manual_only.py", "import torch\ntorch.backends.cudnn.enabled = False\n")
    write(root / "src" / "broken.py", "import torch\ndef f(:\n    torch.cuda.synchronize()\n")
    write(root / "src" / "plain.py", "x = 1\n")
    return root


@pytest.fixture(scope="module")
def mixed(tmp_path_factory: pytest.TempPathFactory) -> tuple[Report, dict[str, tuple[str, str]]]:
    root = mixed_tree(tmp_path_factory.mktemp("mixed"))
    return run_migrate(root, "src")


def synthetic_report(files: int, changes: int, manual_every: int = 4) -> Report:
    """A report shaped like a big real run: every file with `changes` changes, and a manual item
    in every `manual_every`-th file."""
    rules = load_rules()
    table = {r.id: {"kind": r.kind, "safety": str(r.safety), "summary": r.summary} for r in rules.rules}
    results = []
    for n in range(files):
        found = []
        for k in range(changes):
            line = 10 + 7 * k
            found.append(Change("cuda-api", f"torch.cuda.fn{k} → torch.npu.fn{k}", Safety.SAFE,
                                Span(line, 5, line, 20), f"    y{k} = torch.cuda.fn{k}(x, 'a')  # step {k}",
                                f"    y{k} = torch.npu.fn{k}(x, 'a')  # step {k}"))
        manual = ()
        if n % manual_every == 0:
            manual = (Finding("cudnn-flags", "cudnn.benchmark has no effect on NPU: remove it", Safety.MANUAL,
                              Span(3, 1, 3, 31), "torch.backends.cudnn.benchmark = True"),)
        results.append(FileResult(f"pkg{n // 100}/module_{n}.py", FileStatus.CHANGED, tuple(found), manual))
    return Report("migrate", "dry-run", "npu", tuple(results), rules=table, elapsed_seconds=12.5)


# --- reading the formats back ------------------------------------------------------------------


def script_blocks(page: str) -> dict[str, Any]:
    """The JSON blocks embedded in the page, parsed."""
    blocks = re.findall(r'<script type="application/json" id="([^"]+)">(.*?)</script>', page, re.DOTALL)
    return {name: json.loads(body) for name, body in blocks}


class Tags(HTMLParser):
    """Every start tag of a page with its attributes, as a browser's tokenizer sees them."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.data: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))

    def handle_data(self, data: str) -> None:
        self.data.append(data)

    def handle_comment(self, data: str) -> None:
        raise AssertionError(f"an HTML comment in the page: {data[:80]!r}")


def parse_html(page: str) -> Tags:
    parser = Tags()
    parser.feed(page)
    parser.close()
    return parser


def markdown_table(text: str) -> dict[str, tuple[int, int]]:
    """rule -> (changes, manual items) from the Markdown table by rule (the total row as 'total')."""
    rows = {}
    for match in re.finditer(r"^\| (?:`([^`]+)`|\*\*total\*\*) \|[^|]*\| \**(\d+)\** \| \**(\d+)\** \|$", text, re.M):
        rows[match.group(1) or "total"] = (int(match.group(2)), int(match.group(3)))
    return rows


def read_csv_dir(folder: Path) -> dict[str, list[list[str]]]:
    out = {}
    for name in review.CSV_FILES:
        with open(folder / name, encoding="utf-8", newline="") as stream:
            out[name] = list(csv.reader(stream))
    return out


# --- one model, equal totals -------------------------------------------------------------------


def test_all_formats_agree_with_the_json_report(mixed: tuple[Report, Any], tmp_path: Path) -> None:
    report, sources = mixed
    data = to_json_data(report)
    summary = data["summary"]
    assert summary["files_failed"] == 1 and summary["manual_items"] >= 10 and summary["changes"] >= 26

    page = review.render_html(report, sources)
    blocks = script_blocks(page)
    assert blocks["portkit-summary"] == summary
    shown = dict(re.findall(r'data-total="(\w+)"><span class="num">([\d,]+)</span>', page))
    assert {k: int(v.replace(",", "")) for k, v in shown.items()} == {k: summary[k] for k in shown}
    assert set(shown) == {"files_scanned", "files_changed", "files_unchanged", "files_failed", "problems",
                          "changes", "manual_items"}
    index = blocks["portkit-index"]
    assert [f["p"] for f in index["files"]] == [f["path"] for f in data["files"]]
    assert sum(f["c"] for f in index["files"]) == summary["changes"]
    assert sum(f["m"] for f in index["files"]) == summary["manual_items"]
    assert sum(len(todo[1]) for g in index["groups"] for todo in g[2]) == summary["manual_items"]
    assert sum(len(g[2]) for g in index["groups"]) == sum(len(g.todos) for g in review.effort_groups(report))
    details = [blocks[f"portkit-file-{i}"] for i in range(len(index["files"]))]
    noted = Counter()
    for detail in details:  # every change and manual item is annotated exactly once in its diff
        ids = [i for hunk in detail["h"] for _, ids in hunk[5] for i in ids]
        assert sorted(ids) == list(range(len(detail["e"]))) or not detail["h"]
        for entry in detail["e"]:
            noted[("change", "manual")[entry[0]], index["rules"][entry[1]]] += 1
    assert {r: n for (kind, r), n in noted.items() if kind == "change"} == summary["changes_by_rule"]
    assert {r: n for (kind, r), n in noted.items() if kind == "manual"} == summary["manual_items_by_rule"]
    rows = re.findall(r'<tr data-rule="([^"]+)">.*?<td class="num">(\d+)</td><td class="num">(\d+)</td>', page)
    by_rule = {rule: (int(c), int(m)) for rule, c, m in rows}
    assert {r: c for r, (c, _) in by_rule.items() if c} == summary["changes_by_rule"]
    assert {r: m for r, (_, m) in by_rule.items() if m} == summary["manual_items_by_rule"]

    text = review.render_markdown(report)
    table = markdown_table(text)
    assert table.pop("total") == (summary["changes"], summary["manual_items"])
    assert {r: c for r, (c, _) in table.items() if c} == summary["changes_by_rule"]
    assert {r: m for r, (_, m) in table.items() if m} == summary["manual_items_by_rule"]
    todos = [todo for group in review.effort_groups(report) for todo in group.todos]
    assert text.count("\n- [ ] ") == len(todos) < summary["manual_items"]  # one to-do per rule and file
    listed = [int(n) for n in re.findall(r"^- \[ \] `[^`]+`(?: \((\d+) items|:\d+)", text, re.M) if n]
    assert sum(listed) + sum(1 for todo in todos if len(todo.items) == 1) == summary["manual_items"]
    assert f"**{summary['files_scanned']}** files scanned" in text
    assert text.count("<details>") == summary["files_changed"]

    counts = review.write_csv_dir(report, tmp_path / "csv")
    tables = read_csv_dir(tmp_path / "csv")
    assert {name: len(rows) - 1 for name, rows in tables.items()} == counts
    assert counts["change_list.csv"] == summary["changes"]
    assert sum(counts.values()) - counts["change_list.csv"] == summary["manual_items"]
    changed_rules = Counter(row[4].split(":")[0] for row in tables["change_list.csv"][1:])
    assert dict(changed_rules) == summary["changes_by_rule"]


def test_formats_from_the_json_report_alone_are_the_same(mixed: tuple[Report, Any], tmp_path: Path) -> None:
    """`portkit report r.json` has only the JSON: it renders what migrate renders without sources."""
    report, _ = mixed
    again = from_json_data(json.loads(json.dumps(to_json_data(report))))
    assert review.render_html(again) == review.render_html(report)
    assert review.render_markdown(again) == review.render_markdown(report)
    review.write_csv_dir(report, tmp_path / "a")
    review.write_csv_dir(again, tmp_path / "b")
    for name in review.CSV_FILES:
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()


def test_report_only_diffs_number_lines_as_the_real_files(mixed: tuple[Report, Any]) -> None:
    """Without sources each change shows its own lines; their line numbers are still the real
    ones in the original and the migrated file, and every line's text is the real text."""
    report, sources = mixed
    checked = 0
    for result in report.files:
        if result.path not in sources:
            continue
        old, new = (text.splitlines() for text in sources[result.path])
        for builder in (review._hunks_from_report, lambda r: review._hunks(r, sources)):
            for hunk in builder(result):
                for row in hunk.rows:
                    if row.old is not None:
                        assert old[row.old - 1] == row.text, (result.path, row)
                    if row.new is not None:
                        assert new[row.new - 1] == row.text, (result.path, row)
                    assert "".join(t if isinstance(t, str) else t[1] for t in row.tokens) == row.text
                    checked += 1
    assert checked > 100


def test_full_hunks_have_three_lines_of_context(mixed: tuple[Report, Any]) -> None:
    report, sources = mixed
    result = next(f for f in report.files if f.path.endswith("mnist/train.py"))
    hunks = review._hunks(result, sources)
    first = hunks[0]
    changed = [i for i, row in enumerate(first.rows) if row.kind != review.CTX]
    assert changed[0] == 3 and len(first.rows) - 1 - changed[-1] == 3
    manual = next(h for h in hunks if any(isinstance(review._entries(result)[i], Finding)
                                          for ids in h.notes.values() for i in ids))
    assert len(manual.rows) == 7 and all(row.kind == review.CTX for row in manual.rows)


# --- escaping ----------------------------------------------------------------------------------


def evil_tree(root: Path) -> Path:
    folder = root.joinpath("src", *EVIL_DIR)
    write(folder / "evil<img src=x onerror=alert(2)>.py", EVIL_SOURCE)
    return root


def test_user_text_is_escaped_everywhere(tmp_path: Path) -> None:
    report, sources = run_migrate(evil_tree(tmp_path), "src")
    (result,) = report.files
    assert "</script>" in result.path and result.changes and result.findings
    assert any("</script>" in c.old_text for c in result.changes)

    for page in (review.render_html(report, sources), review.render_html(report)):
        tags = parse_html(page)  # fails on any <!-- in the page
        scripts = [attrs for tag, attrs in tags.tags if tag == "script"]
        assert len(scripts) == 4  # summary, index, this file's diff, the page's own script
        assert [a.get("type") for a in scripts] == ["application/json"] * 3 + [None]
        assert {tag for tag, _ in tags.tags} <= {
            "html", "head", "meta", "title", "style", "body", "header", "h1", "h2", "p", "code", "main", "section",
            "div", "span", "table", "thead", "tbody", "tfoot", "tr", "th", "td", "button", "noscript", "input",
            "select", "option", "label", "details", "summary", "ul", "ol", "li", "script", "i", "aside",
        }
        assert "<img" not in page and "<b>" not in page and "<script>alert" not in page
        assert page.count("</script>") == 4
        blocks = script_blocks(page)
        assert blocks["portkit-index"]["files"][0]["p"] == result.path  # the data survive exactly
        rows = [row for hunk in blocks["portkit-file-0"]["h"] for row in hunk[4]]
        texts = ["".join(t if isinstance(t, str) else t[1] for t in row[3]) for row in rows]
        assert any(repr(EVIL_TEXT) in text for text in texts)
        assert "\u2028" not in page and "\u2029" not in page
        csp = next(a["content"] for t, a in tags.tags if t == "meta" and a.get("http-equiv"))
        assert "default-src 'none'" in csp and "unsafe-inline" not in csp

    text = review.render_markdown(report)
    outside_code = re.sub(r"```.*?```", "", text, flags=re.DOTALL)
    span = re.compile(r"(?<!`)(`+)(?!`)(.+?)(?<!`)\1(?!`)")  # a code span: its text shows as it is
    assert f"{result.path}:3" in [body for _, body in span.findall(outside_code)]
    outside_code = span.sub("", outside_code)
    assert "<script" not in outside_code and "<img" not in outside_code and "<b>" not in outside_code
    assert "a&lt;/script&gt;x/evil&lt;img" in outside_code
    assert EVIL_TEXT.replace("\u2028", "") in text.replace("\u2028", "")  # verbatim inside the diff fence

    review.write_csv_dir(report, tmp_path / "csv")
    tables = read_csv_dir(tmp_path / "csv")
    assert tables["change_list.csv"][1][0] == result.path
    assert tables["api_performance_advice.csv"][1][0] == result.path


def test_page_inlines_its_assets_under_their_csp_hashes() -> None:
    """The style sheet and the script are package data, inlined whole, and the page's
    Content-Security-Policy lets exactly them run (a browser refuses an inline script or style
    whose hash it does not list)."""
    page = review.render_html(synthetic_report(3, 2))
    assets = resources.files("portkit.reports.review") / "assets"
    csp = next(a["content"] for t, a in parse_html(page).tags if t == "meta" and a.get("http-equiv")) or ""
    for tag, name, directive in (("style", "review.css", "style-src"), ("script", "review.js", "script-src")):
        text = (assets / name).read_text(encoding="utf-8")
        assert page.count(f"<{tag}>{text}</{tag}>") == 1, name
        digest = base64.b64encode(hashlib.sha256(text.encode("utf-8")).digest()).decode("ascii")
        assert f"{directive} 'sha256-{digest}';" in csp, (name, csp)
    assert "${" not in page


def test_script_json_cannot_close_its_block() -> None:
    text = review._script_json({"s": "</script><!--<script>&\u2028\u2029"})
    assert "<" not in text and ">" not in text and "&" not in text and "\u2028" not in text
    assert json.loads(text) == {"s": "</script><!--<script>&\u2028\u2029"}


def test_spreadsheet_formulas_are_neutralised(tmp_path: Path) -> None:
    finding = Finding("cuda-only-api", "=HYPERLINK(\"http://x\")", Safety.MANUAL, Span(1, 1, 1, 5), "=cmd")
    report = Report("migrate", "dry-run", "npu", (FileResult("=evil.py", FileStatus.UNCHANGED, (), (finding,)),))
    review.write_csv_dir(report, tmp_path)
    (row,) = read_csv_dir(tmp_path)["unsupported_api.csv"][1:]
    assert row[0] == "'=evil.py" and row[3] == "'=cmd"


# --- CSV ---------------------------------------------------------------------------------------


def test_csv_files_and_columns_are_msfmktransplt_s(mixed: tuple[Report, Any], tmp_path: Path) -> None:
    report, _ = mixed
    review.write_csv_dir(report, tmp_path / "out")
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == sorted([
        "change_list.csv", "unsupported_api.csv", "unknown_api.csv", "cuda_op_list.csv",
        "api_precision_advice.csv", "api_performance_advice.csv",
    ])
    first_lines = {p.name: p.read_bytes().split(b"\n")[0] for p in (tmp_path / "out").iterdir()}
    assert first_lines.pop("change_list.csv") == b"File,Start Line,End Line,Operation Type,Message"
    assert set(first_lines.values()) == {b"File,Start Line,End Line,OP,Tips"}
    tables = read_csv_dir(tmp_path / "out")
    changes = tables["change_list.csv"][1:]
    assert {row[3] for row in changes} == {"INSERT", "MODIFY"}
    assert all(row[3] == "INSERT" for row in changes if row[4].startswith("torch-npu-import:"))
    assert all(row[3] == "MODIFY" for row in changes if not row[4].startswith("torch-npu-import:"))
    kernels = "src/kernels.py"
    routed = {(name, row[3]) for name, rows in tables.items() for row in rows[1:] if row[0] == kernels
              and name != "change_list.csv"}
    assert routed == {
        ("cuda_op_list.csv", "import triton"),
        ("cuda_op_list.csv", "from torch.utils.cpp_extension import CUDAExtension, BuildExtension"),  # the import is the item
        ("api_precision_advice.csv", "torch.backends.cudnn.deterministic"),
        ("api_performance_advice.csv", "torch.backends.cudnn.benchmark"),
        ("api_precision_advice.csv", "torch.cuda.DoubleTensor"),
        ("unknown_api.csv", "torch.cuda.memory._record_memory_history"),
        ("unsupported_api.csv", "torch.nn.DataParallel"),
        ("unsupported_api.csv", "torch.cuda.get_device_capability"),
    }
    assert all(row[4].split(":")[0] in report.rules for rows in tables.values() for row in rows[1:])
    assert all(int(row[1]) <= int(row[2]) for rows in tables.values() for row in rows[1:])


def test_all_six_csv_files_are_written_even_when_empty(tmp_path: Path) -> None:
    counts = review.write_csv_dir(Report("migrate", "dry-run", "npu", ()), tmp_path / "new" / "dir")
    assert counts == dict.fromkeys(review.CSV_FILES, 0)
    for name in review.CSV_FILES:
        assert (tmp_path / "new" / "dir" / name).read_text(encoding="utf-8").count("\n") == 1


def test_every_rule_maps_to_a_csv_file() -> None:
    rules = load_rules(target=None)
    reporting = {r.id for r in rules.rules if str(r.safety) == "manual"} | {"env-var"}  # env-var also reports
    assert reporting <= set(review.CSV_ROUTES), "decide where the new rule's manual items go"
    assert reporting <= set(review.EFFORT_WEIGHTS), "give the new rule an effort weight"
    generated = {"cuda-op-call"}  # made at run time from the CUDA extensions a tree registers (cudaops)
    assert set(review.CSV_ROUTES) | set(review.EFFORT_WEIGHTS) <= set(rules.ids) | generated, "a renamed rule?"
    for rule in rules.rules:
        item = Finding(rule.id, "m", Safety.MANUAL, Span(1, 1, 1, 4), "abc")
        assert review.csv_file_for(item) in review.CSV_FILES[1:]
    user = Finding("my-own-rule", "m", Safety.MANUAL, Span(1, 1, 1, 4), "abc")
    assert review.csv_file_for(user) == "unsupported_api.csv"
    for default, by_name in review.CSV_ROUTES.values():
        assert {default, *by_name.values()} <= set(review.CSV_FILES[1:])


def test_docs_describe_the_csv_mapping_and_effort_weights() -> None:
    text = (REPO / "docs" / "reports.md").read_text(encoding="utf-8")
    documented = dict(re.findall(r"^\| `([a-z0-9-]+)` \| (`[a-z_]+\.csv`.*?) \|$", text, re.M))
    for rule, (default, by_name) in review.CSV_ROUTES.items():
        cell = documented.pop(rule)
        assert f"`{default}`" in cell, rule
        for name, target in by_name.items():
            assert f"`{name}` → `{target}`" in cell, (rule, name)
    assert not documented, f"docs/reports.md routes rules the code does not: {sorted(documented)}"
    weights = dict(re.findall(r"^\| `([a-z0-9-]+)` \| (\d+) \|$", text, re.M))
    assert {k: int(v) for k, v in weights.items()} == review.EFFORT_WEIGHTS
    assert f"{review.DEFAULT_EFFORT} points" in text


# --- Markdown ----------------------------------------------------------------------------------


def test_markdown_is_capped_and_says_what_was_cut() -> None:
    report = synthetic_report(2000, 5, manual_every=1)
    text = review.render_markdown(report)
    assert len(text) <= review.MARKDOWN_LIMIT
    assert "Cut to stay under 60,000 characters" in text
    assert re.search(r"\d+ of 2000 manual items are not listed", text)
    assert re.search(r"the diffs of \d+ of 2000 changed files are not shown", text)
    assert markdown_table(text)["total"] == (10_000, 2000)
    assert text.count("<details>") == text.count("</details>") > 0
    small = review.render_markdown(synthetic_report(3, 2))
    assert "Cut to stay" not in small and small.count("<details>") == 3
    for limit in (3_000, 10_000):
        assert len(review.render_markdown(report, limit=limit)) <= limit


def test_markdown_links_need_a_base() -> None:
    """A relative link in a pull-request description leads nowhere: without a base address the
    checklist names files in code spans; with one, it links each line."""
    report = synthetic_report(2, 1, manual_every=1)
    text = review.render_markdown(report)
    assert "- [ ] `pkg0/module_0.py:3` cudnn.benchmark has no effect" in text
    assert "](" not in text.split("### Left for a person")[1].split("### Next steps")[0]
    assert "```diff\n@@ -10,1 +10,1 @@ cuda-api: torch.cuda.fn0 → torch.npu.fn0\n-    y0 = torch.cuda.fn0" in text
    linked = review.render_markdown(report, link_base="https://github.com/o/r/blob/abc123/")
    assert ("- [ ] [pkg0/module\\_0.py:3](https://github.com/o/r/blob/abc123/pkg0/module_0.py#L3) "
            "cudnn.benchmark has no effect") in linked
    outside = Report("migrate", "dry-run", "npu", (FileResult("../up.py", FileStatus.UNCHANGED, (), (
        Finding("cudnn-flags", "m", Safety.MANUAL, Span(2, 1, 2, 5), "x"),)),))
    assert "- [ ] `../up.py:2` m" in review.render_markdown(outside, link_base="https://x")  # not under the base


def test_markdown_code_spans_hold_any_text() -> None:
    assert _code("a/b.py:3") == "`a/b.py:3`"
    assert _code("a`b") == "``a`b``"
    assert _code("`x") == "`` `x ``" and _code(" y ") == "`  y  `"


# --- pieces ------------------------------------------------------------------------------------


def test_highlighter_keeps_text_and_marks_tokens() -> None:
    lines = review.highlight('@dec\ndef f(x=1):  # c\n    return len("s") if x else None\n')
    assert lines[0][0] == ["d", "@"]
    assert ["k", "def"] in lines[1] and ["f", "f"] in lines[1] and ["n", "1"] in lines[1] and ["c", "# c"] in lines[1]
    assert ["b", "len"] in lines[2] and ["s", '"s"'] in lines[2] and ["k", "None"] in lines[2]
    for snippet in ['    foo(a,\n  "b"', '"""doc\nstill doc', "  x = 1\n y = 2\nz = 'q", "\ttab\x0cfeed\r\nnext\rold",
                    "", "\n\n", 's = """a\nb"""; t = 1\n    u(']:
        got = review.highlight(snippet)
        assert len(got) == len(snippet.splitlines())
        assert ["".join(t if isinstance(t, str) else t[1] for t in line) for line in got] == snippet.splitlines()
    multi = review.highlight('s = """a\nb"""; t = 1')
    assert multi[0][-1] == ["s", '"""a'] and multi[1][0] == ["s", 'b"""']
    for name in EXAMPLE_NAMES:
        for path in (EXAMPLES / name / "original").glob("*.py"):
            text = path.read_text(encoding="utf-8")
            got = review.highlight(text)
            assert ["".join(t if isinstance(t, str) else t[1] for t in line) for line in got] == text.splitlines()


def test_effort_order(mixed: tuple[Report, Any]) -> None:
    report, _ = mixed
    groups = review.effort_groups(report)
    scores = [g.score for g in groups]
    assert scores == sorted(scores, reverse=True)
    assert groups[0].rule_id in ("cuda-extension", "triton")  # 8 points each
    assert sum(len(g.items) for g in groups) == len(report.findings)


@pytest.mark.parametrize(("target", "expected"), [
    ("r.json", "json"), ("R.HTML", "html"), ("r.htm", "html"), ("pr.md", "md"), ("out/", "csv"),
    ("r.txt", None), ("r", None),
])
def test_report_format(target: str, expected: str | None) -> None:
    assert review.report_format(target) == expected


def test_existing_directory_is_csv(tmp_path: Path) -> None:
    assert review.report_format(str(tmp_path)) == "csv"


# --- read as a reviewer ------------------------------------------------------------------------

IMPORT_BEFORE_CHANGE = "import torch\nfrom torch.cuda.amp import autocast\nx = torch.cuda.is_available()\n"
IMPORT_BEFORE_BLANKS = '"""doc"""\nimport os\nimport torch\n\n\ndef f():\n    return torch.cuda.is_available()\n'
TRITON = "import torch\nimport triton\nimport triton.language as tl\nfrom triton import jit\nx = torch.cuda.is_available()\n"


def reading_tree(root: Path) -> Path:
    """Files that read badly once: `import torch_npu` added above a changed import and above
    blank lines, three triton imports in one file, and the DDP example (its `nccl`)."""
    write(root / "src" / "before_change.py", IMPORT_BEFORE_CHANGE)
    write(root / "src" / "before_blanks.py", IMPORT_BEFORE_BLANKS)
    write(root / "src" / "kernels.py", TRITON)
    shutil.copytree(EXAMPLES / "ddp" / "original", root / "src" / "ddp")
    return root


@pytest.fixture(scope="module")
def reading(tmp_path_factory: pytest.TempPathFactory) -> tuple[Report, dict[str, tuple[str, str]]]:
    return run_migrate(reading_tree(tmp_path_factory.mktemp("reading")), "src")


def test_the_import_note_is_under_the_inserted_line(reading: tuple[Report, Any]) -> None:
    """The `torch-npu-import` note follows `import torch_npu` itself, in a block of its own, with
    or without the sources, also when the line is added above a changed one or above blank lines
    (its span is the statement after it)."""
    report, sources = reading
    checked = 0
    for result in report.files:
        entries = review._entries(result)
        (index,) = [i for i, e in enumerate(entries) if e.rule_id == "torch-npu-import"]
        for hunks in (review._hunks(result, sources), review._hunks_from_report(result)):
            (hunk, row), = [(h, t) for h in hunks for t, ids in h.notes.items() if index in ids]
            rows = hunk.rows
            assert rows[row].kind == review.ADD and rows[row].text == "import torch_npu", result.path
            assert row + 1 == len(rows) or rows[row + 1].kind == review.CTX or rows[row + 1].split, result.path
            assert row == 0 or rows[row - 1].kind == review.CTX or rows[row].split, result.path
            checked += 1
    assert checked == 2 * len(report.files) == 8


def test_changed_lines_are_paired_with_the_lines_they_change() -> None:
    old = ["from torch.cuda.amp import autocast", "x = torch.cuda.is_available()"]
    new = ["import torch_npu", "from torch_npu.npu.amp import autocast", "x = torch.npu.is_available()"]
    assert _replace_blocks(old, new, 0, 2, 0, 3) == [([], [0]), ([0, 1], [1, 2])]
    assert _replace_blocks(new, old, 0, 3, 0, 2) == [([0], []), ([1, 2], [0, 1])]
    assert _replace_blocks(["a = 1"], ["zzz()"], 0, 1, 0, 1) == [([0], [0])]  # nothing alike: one block


def test_repeated_manual_items_are_one_to_do_per_file(reading: tuple[Report, Any]) -> None:
    """Three triton imports in one file are one to-do with its three lines, in the page and in
    the checklist; the JSON report keeps one item per line."""
    report, sources = reading
    (result,) = [f for f in report.files if f.path.endswith("kernels.py")]
    assert [m.span.line for m in result.findings if m.rule_id == "triton"] == [2, 3, 4]
    (data,) = [f for f in to_json_data(report)["files"] if f["path"] == result.path]
    assert len(data["manual_items"]) == 3
    (group,) = [g for g in review.effort_groups(report) if g.rule_id == "triton"]
    (todo,) = group.todos
    assert todo.lines == [2, 3, 4] and todo.result is result and group.score == 3 * 8
    index = script_blocks(review.render_html(report, sources))["portkit-index"]
    (coded,) = [g for g in index["groups"] if index["rules"][g[0]] == "triton"]
    assert [[item[1] for item in items] for _, items in coded[2]] == [[2, 3, 4]]
    text = review.render_markdown(report)
    assert text.count("\n- [ ] ") == 1
    assert "**`triton`** (manual, 3 item(s) in 1 file(s), effort 24)" in text
    assert "- [ ] `src/kernels.py` (3 items, lines 2, 3, 4) Triton kernels: install triton-ascend" in text
    linked = review.render_markdown(report, link_base="https://h/r")
    assert ("- [ ] [src/kernels.py](https://h/r/src/kernels.py) (3 items, lines [2](https://h/r/src/kernels.py#L2), "
            "[3](https://h/r/src/kernels.py#L3), [4](https://h/r/src/kernels.py#L4)) Triton") in linked


def test_tables_by_rule_are_sorted_by_count(mixed: tuple[Report, Any]) -> None:
    report, sources = mixed
    counts = Counter(report.changes_by_rule) + Counter(report.findings_by_rule)
    expected = sorted(counts, key=lambda rule: (-counts[rule], rule))
    assert len(set(counts.values())) > 2  # the order says something
    assert re.findall(r'<tr data-rule="([^"]+)">', review.render_html(report, sources)) == expected
    assert re.findall(r"^\| `([^`]+)` \|", review.render_markdown(report), re.M) == expected


def test_the_to_do_list_comes_before_the_tables(mixed: tuple[Report, Any]) -> None:
    """Totals are one line in the header; then the toolbar, the to-do list and the next steps;
    the tables by rule and the files after them (tests/test_review_browser.py checks the screen)."""
    report, sources = mixed
    page = review.render_html(report, sources)
    header = page[page.index("<header"):page.index("</header>")]
    assert header.count("data-total=") == 7 and '<p class="totals">' in header
    order = [page.index(marker) for marker in ('class="toolbar"', 'id="manual"', 'id="next-steps"', 'id="by-rule"',
                                                'id="files-section"')]
    assert order == sorted(order)


def test_next_steps_in_the_page_and_the_markdown(mixed: tuple[Report, Any]) -> None:
    report, sources = mixed
    lines = next_steps(report)
    assert report.torch_npu and any(f"torch-npu=={report.torch_npu}" in line for line in lines)
    reports = ["run.json", "out/a<b>.html"]
    page = review.render_html(report, sources, reports=reports)
    aside = re.search(r'<aside id="next-steps".*?</aside>', page, re.S).group(0)
    assert aside.count("<li>") == len(lines) + 1
    assert f"<code>source {CANN_SET_ENV}</code>" in aside and "<code>portkit check" in aside
    torch = load_npu_api(report.torch_npu).torch
    assert f"pip install torch=={torch} torch-npu=={report.torch_npu}</code>" in aside
    assert "<code>run.json</code>, <code>out/a&lt;b&gt;.html</code>" in aside
    plain = re.search(r'<aside id="next-steps".*?</aside>', review.render_html(report, sources), re.S).group(0)
    assert plain.count("<li>") == len(lines) and "Reports of this run" not in plain
    text = review.render_markdown(report, reports=reports)
    section = text.split("\n### Next steps\n\n")[1].split("\n\n")[0].splitlines()
    assert [line.split(". ", 1)[0] for line in section] == [str(n) for n in range(1, len(lines) + 2)]
    assert f"`source {CANN_SET_ENV}`" in text
    assert section[-1] == f"{len(lines) + 1}. Reports of this run: `run.json`, `out/a<b>.html`"
    assert text.index("### Left for a person") < text.index("### Next steps") < text.index("### Diffs")


def test_viewed_marks_are_kept_per_report(mixed: tuple[Report, Any]) -> None:
    """The page's "viewed" marks are stored under a key of the report: the same run rendered
    again (from its JSON) has the same key, another run another."""
    report, sources = mixed
    key = script_blocks(review.render_html(report, sources))["portkit-index"]["key"]
    again = from_json_data(json.loads(json.dumps(to_json_data(report))))
    assert script_blocks(review.render_html(again))["portkit-index"]["key"] == key
    assert re.fullmatch(r"[0-9a-f]{16}", key)
    assert script_blocks(review.render_html(synthetic_report(3, 2)))["portkit-index"]["key"] != key
