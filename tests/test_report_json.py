"""The JSON report: real reports validate against docs/report.schema.json, their counts add up,
and they read back (from_json_data) into the same document."""

from __future__ import annotations

import copy
import json
import os
import re
import shutil
from collections import Counter
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from conftest import EXAMPLE_NAMES, EXAMPLES, REPO, Cli, example_tree, invoke_cli, write
from portkit.reports.runreport import SCHEMA_VERSION, ReportFormatError, from_json_data, to_json_data

SCHEMA = json.loads((REPO / "docs" / "report.schema.json").read_text(encoding="utf-8"))
VALIDATOR = jsonschema.Draft202012Validator(SCHEMA)


def broken_tree(root: Path) -> Path:
    """A tree with every kind of file a report lists (or only counts)."""
    write(root / "good.py", "import torch\nx = torch.cuda.is_available()\n")
    write(root / "syntax.py", "import torch\ndef f(:\n    torch.cuda.synchronize()\n")
    write(root / "binary.py", b"import torch\0\1\2 cuda")
    write(root / "manual_only.py", "import torch\ntorch.backends.cudnn.benchmark = True\n")
    write(root / "plain.py", "x = 1\n")
    os.symlink("missing.py", root / "link.py")
    return root


SCENARIOS = {
    **{f"{name}-in-place": (lambda root, name=name: shutil.copytree(EXAMPLES / name / "original", root), ())
       for name in EXAMPLE_NAMES},
    "examples-diff": (example_tree, ("--diff",)),
    "examples-dry-run": (example_tree, ("--dry-run",)),
    "examples-output": (example_tree, ("--output", "out")),
    "broken-tree": (broken_tree, ()),
    "examples-accelerator": (example_tree, ("--dry-run", "--target", "accelerator")),
    "examples-shim": (example_tree, ("--dry-run", "--strategy", "shim")),
    "examples-torch-npu-2.6": (example_tree, ("--dry-run", "--torch-npu", "2.6.0")),
}


@pytest.fixture(scope="module", params=sorted(SCENARIOS))
def report(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """One real report per scenario, made once and shared by the checks below (read-only)."""
    make, options = SCENARIOS[request.param]
    where = tmp_path_factory.mktemp(request.param)
    make(where / "src")
    result = invoke_cli("migrate", "src", "-j", "1", "--report", "report.json", *options, cwd=where)
    assert result.exit_code in (0, 1), result.output
    return json.loads((where / "report.json").read_text(encoding="utf-8"))


def test_schema_is_valid_draft_2020_12() -> None:
    jsonschema.Draft202012Validator.check_schema(SCHEMA)
    assert SCHEMA["$schema"] == "https://json-schema.org/draft/2020-12/schema"


def test_real_reports_validate(report: dict[str, Any]) -> None:
    errors = sorted(VALIDATOR.iter_errors(report), key=lambda e: list(e.absolute_path))
    assert not errors, "\n".join(f"{list(e.absolute_path)}: {e.message}" for e in errors)


def test_counts_add_up(report: dict[str, Any]) -> None:
    assert_counts_add_up(report)


def assert_counts_add_up(report: dict[str, Any]) -> None:
    summary, files = report["summary"], report["files"]
    changes = [c for f in files for c in f["changes"]]
    manual = [m for f in files for m in f["manual_items"]]
    assert summary["changes"] == len(changes) == sum(summary["changes_by_rule"].values())
    assert summary["manual_items"] == len(manual) == sum(summary["manual_items_by_rule"].values())
    assert summary["changes_by_rule"] == dict(Counter(c["rule"] for c in changes))
    assert summary["manual_items_by_rule"] == dict(Counter(m["rule"] for m in manual))
    assert summary["changes_by_safety"] == dict(Counter(c["safety"] for c in changes))
    assert summary["files_scanned"] == summary["files_changed"] + summary["files_unchanged"] + summary["files_failed"]
    statuses = Counter(f["status"] for f in files)
    # changed and failed files are always listed; unchanged ones only with manual items
    assert statuses["changed"] == summary["files_changed"]
    assert statuses["failed"] == summary["files_failed"]
    assert statuses["unchanged"] <= summary["files_unchanged"]
    assert summary["problems"] == len(report["problems"])
    assert {item["rule"] for item in changes + manual} <= set(report["rules"])
    assert len({f["path"] for f in files}) == len(files)


def test_documented_example_is_a_real_report(cli: Cli, tmp_path: Path) -> None:
    text = (REPO / "docs" / "report-schema.md").read_text(encoding="utf-8")
    blocks = re.findall(r"```json\n(.*?)```", text, re.DOTALL)
    assert len(blocks) == 1
    documented = json.loads(blocks[0])
    VALIDATOR.validate(documented)
    assert_counts_add_up(documented)
    command = re.search(r"```sh\n(portkit migrate .*)\n```", text)
    assert command, "the example's command line is not in the document"
    shutil.copytree(EXAMPLES / "mnist" / "original", tmp_path / "mnist")
    cli(*command.group(1).split()[1:])
    fresh = json.loads((tmp_path / "report.json").read_text(encoding="utf-8"))
    for report in (documented, fresh):
        report["summary"].pop("elapsed_seconds")
    assert documented["summary"] == fresh["summary"]
    assert [(f["path"], f["status"]) for f in documented["files"]] == [(f["path"], f["status"]) for f in fresh["files"]]


def test_round_trip(report: dict[str, Any]) -> None:
    assert to_json_data(from_json_data(copy.deepcopy(report))) == report


def test_broken_tree_report_lists_what_it_should(cli: Cli, tmp_path: Path) -> None:
    broken_tree(tmp_path / "src")
    assert cli("migrate", "src", "-j", "1", "--report", "r.json").exit_code == 1
    data = json.loads((tmp_path / "r.json").read_text(encoding="utf-8"))
    listed = {f["path"]: f["status"] for f in data["files"]}
    assert listed == {"src/good.py": "changed", "src/syntax.py": "failed", "src/binary.py": "failed",
                      "src/manual_only.py": "unchanged"}
    assert data["summary"]["files_unchanged"] == 2  # plain.py is counted, not listed
    assert data["problems"] == [{"path": "src/link.py", "reason": "broken symlink"}]


@pytest.mark.parametrize("mutate", [
    pytest.param(lambda d: d["files"][0].update(extra=1), id="extra-file-field"),
    pytest.param(lambda d: d["files"][0].update(status="skipped"), id="unknown-status"),
    pytest.param(lambda d: d["files"][0]["changes"][0].update(safety="risky"), id="unknown-safety"),
    pytest.param(lambda d: d.update(mode="inplace"), id="unknown-mode"),
    pytest.param(lambda d: d["summary"].pop("changes"), id="missing-summary-count"),
    pytest.param(lambda d: d["files"][0].update(error="boom"), id="error-on-changed-file"),
])
def test_schema_is_strict(cli: Cli, tmp_path: Path, mutate: Any) -> None:
    shutil.copytree(EXAMPLES / "mnist" / "original", tmp_path / "src")
    cli("migrate", "src", "--dry-run", "--report", "r.json")
    data = json.loads((tmp_path / "r.json").read_text(encoding="utf-8"))
    VALIDATOR.validate(data)
    mutate(data)
    assert not VALIDATOR.is_valid(data)


@pytest.mark.parametrize("version", [1, 3, 0, "2", True, None], ids=["1", "3", "0", "string", "true", "null"])
def test_refuses_other_schema_versions(cli: Cli, tmp_path: Path, version: Any) -> None:
    shutil.copytree(EXAMPLES / "mnist" / "original", tmp_path / "src")
    cli("migrate", "src", "--dry-run", "--report", "r.json")
    data = json.loads((tmp_path / "r.json").read_text(encoding="utf-8"))
    assert data["schema_version"] == SCHEMA_VERSION == 2
    from_json_data(copy.deepcopy(data))  # the real version is read
    data["schema_version"] = version
    assert not VALIDATOR.is_valid(data)
    with pytest.raises(ReportFormatError, match="schema version"):
        from_json_data(data)


@pytest.mark.parametrize("data", [
    {"files": [], "summary": {}},
    [],
    "report",
    None,
    {"schema_version": 1, "files": "nope"},
], ids=["no-version", "list", "string", "null", "version-1-malformed"])
def test_refuses_what_is_not_a_report(data: Any) -> None:
    with pytest.raises(ReportFormatError):
        from_json_data(data)


@pytest.mark.parametrize(("options", "recorded"), [
    ((), ("npu", "port", "2.13.0")),
    (("--torch-npu", "2.6.0"), ("npu", "port", "2.6.0")),
    (("--target", "accelerator"), ("accelerator", "port", None)),
    (("--strategy", "shim"), ("npu", "shim", None)),
])
def test_the_report_says_what_the_run_ported_to(cli: Cli, tmp_path: Path, options: tuple[str, ...],
                                                recorded: tuple[str, str, str | None]) -> None:
    shutil.copytree(EXAMPLES / "mnist" / "original", tmp_path / "mnist")
    result = cli("migrate", "mnist", "--dry-run", "--report", "r.json", *options)
    assert result.exit_code == 0, result.output
    data = json.loads((tmp_path / "r.json").read_text(encoding="utf-8"))
    assert (data["target"], data["strategy"], data.get("torch_npu")) == recorded
    report = from_json_data(data)
    assert (report.target, report.strategy, report.torch_npu) == recorded
