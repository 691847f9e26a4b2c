"""`portkit check`, the CI gate, end to end: exit codes, text output, agreement with migrate,
output formats, rule selection, inline suppressions, configuration, baselines, file
discovery, parallelism, and the pre-commit hook manifest.

Every test works on copies under tmp_path. Each project gets a `portkit.toml` of its own
(usually empty) so that no configuration above tmp_path can leak in. Most runs are
in-process (click's CliRunner, via conftest's `invoke_cli`); a few use a real process.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET
from collections import Counter
from pathlib import Path
from typing import Any

import click
import pytest
from click.testing import CliRunner, Result

from portkit.cli import main

from conftest import USER_RULE, EXAMPLE_NAMES, EXAMPLES, REPO, example_tree, git, invoke_cli, run_portkit, write

# --- sources used by several tests -----------------------------------------------------------

# two fixable findings (the import portkit would add, the device string) and one manual item
SMALL = 'import torch\nx = torch.device("cuda")\ntorch.backends.cudnn.benchmark = True\n'
SMALL_EXPECTED = [(2, 1, "torch-npu-import"), (2, 18, "device-string"), (3, 1, "cudnn-flags")]

# fixable findings only
FIXABLE_ONLY = 'import torch\nx = torch.device("cuda")\n'

# a syntax error in a file that mentions cuda (files that do not are never parsed)
BROKEN = 'import torch\nx = torch.device("cuda"\n'

# findings of many rules and groups, fixable and manual
MIX = """\
import torch
import torch.nn as nn
from torch.cuda.amp import autocast, GradScaler
import flash_attn
import xformers.ops

device = torch.device("cuda")
model = nn.DataParallel(Net().cuda())
torch.backends.cudnn.benchmark = True
"""
MIX_RULES = {
    "torch-npu-import": 2, "amp-api": 3, "flash-attn": 4, "xformers": 5, "device-string": 7,
    "data-parallel": 8, "tensor-cuda": 8, "cudnn-flags": 9,
}
MIX_MANUAL = {"flash-attn", "xformers", "data-parallel", "cudnn-flags"}


HINT = "{} fixable with `portkit migrate` (`portkit migrate --diff` shows the patch)."
TEXT_FINDING = re.compile(r"^(?P<path>[^:]+):(?P<line>\d+):(?P<column>\d+): (?P<rule>[a-z0-9-]+) (?P<message>.*)$")
ANSI = "\x1b["


# --- helpers ---------------------------------------------------------------------------------


@pytest.fixture
def proj(tmp_path: Path) -> Path:
    """An empty project: its own (empty) portkit.toml stops the upward search for a config."""
    root = tmp_path / "proj"
    write(root / "portkit.toml", "")
    return root


def check(cwd: Path, *args: object) -> Result:
    return invoke_cli("check", "-j", "1", *args, cwd=cwd)


def check_json(cwd: Path, *args: object) -> tuple[int, dict[str, Any]]:
    result = check(cwd, "--output-format", "json", *args)
    assert result.exit_code in (0, 1, 2), result.output
    return result.exit_code, json.loads(result.stdout)


def found(document: dict[str, Any]) -> list[tuple[int, str]]:
    """(line, rule) of each finding, in output order."""
    return [(f["line"], f["rule"]) for f in document["findings"]]


def rules_of(document: dict[str, Any]) -> set[str]:
    return {f["rule"] for f in document["findings"]}


def one_line(text: str) -> str:
    lines = text.strip().splitlines()
    assert len(lines) == 1, f"expected one line, got:\n{text}"
    return lines[0]


def invoke_in_colour(cwd: Path, *args: object) -> Result:
    """As invoke_cli, but click keeps ANSI styling, as it would for a terminal."""
    before = os.getcwd()
    os.chdir(cwd)
    try:
        return CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False, color=True)
    finally:
        os.chdir(before)


# --- exit codes (as ruff: 0 nothing found, 1 findings, 2 could not check / usage) -----------


def test_exit_0_on_ported_examples_without_manual_items(proj: Path) -> None:
    example_tree(proj, "ported")
    result = check(proj, "amp", "ddp")
    assert result.exit_code == 0, result.output
    assert result.stdout == "All clear: 2 files checked, no unported CUDA usage.\n"


def test_exit_1_on_ported_mnist_because_of_its_manual_item(proj: Path) -> None:
    example_tree(proj, "ported")
    code, document = check_json(proj, "mnist")
    assert code == 1
    assert rules_of(document) == {"cudnn-flags"}
    assert document["summary"]["fixable"] == 0 and document["summary"]["manual"] == 1


def test_exit_1_with_findings(proj: Path) -> None:
    example_tree(proj, "original")
    result = check(proj, ".")
    assert result.exit_code == 1, result.output
    assert result.stdout.splitlines()[-2].startswith("Found ")
    assert re.fullmatch(r"\d+ fixable with `portkit migrate` \(`portkit migrate --diff` shows the patch\)\.",
                        result.stdout.splitlines()[-1])


def test_exit_2_for_an_unparsable_file_which_is_named(proj: Path) -> None:
    write(proj / "bad.py", BROKEN)
    write(proj / "ok.py", SMALL)  # findings elsewhere do not lower the exit code
    result = check(proj, ".")
    assert result.exit_code == 2, result.output
    lines = result.stdout.splitlines()
    assert "bad.py: error: syntax error at line 2: '(' was never closed" in lines
    assert lines[-2] == "Found 3 findings (2 fixable, 1 manual) in 1 file; 1 file could not be checked."


def test_unparsable_file_without_cuda_is_not_parsed(proj: Path) -> None:
    """Triage: a file that never mentions cuda cannot hold a finding, so it is not parsed."""
    write(proj / "py2.py", 'print "hello"\n')
    assert check(proj, ".").exit_code == 0
    write(proj / "py2.py", 'print "cuda"\n')
    result = check(proj, ".")
    assert result.exit_code == 2
    assert "py2.py: error: syntax error" in result.stdout and "Python 2 code?" in result.stdout


def test_exit_2_for_a_nonexistent_path(proj: Path) -> None:
    write(proj / "ok.py", SMALL)
    result = check(proj, "ok.py", "no-such-dir")
    assert result.exit_code == 2
    assert result.stdout == ""
    assert one_line(result.stderr) == "portkit: error: no-such-dir: no such file or directory"


@pytest.mark.parametrize("option", ["--select", "--ignore"])
def test_exit_2_for_an_unknown_rule_id(proj: Path, option: str) -> None:
    write(proj / "ok.py", SMALL)
    result = check(proj, option, "device-string,no-such-rule", ".")
    assert result.exit_code == 2
    assert "unknown rule id or group 'no-such-rule'" in one_line(result.stderr)


def test_exit_zero_with_findings(proj: Path) -> None:
    write(proj / "t.py", SMALL)
    result = check(proj, "--exit-zero", ".")
    assert result.exit_code == 0
    assert "Found 3 findings" in result.stdout  # still reported


def test_exit_zero_with_an_unparsable_file(proj: Path) -> None:
    write(proj / "bad.py", BROKEN)
    result = check(proj, "--exit-zero", ".")
    assert result.exit_code == 0
    assert "bad.py: error: syntax error" in result.stdout


def test_exit_codes_in_a_real_process(proj: Path) -> None:
    write(proj / "clean" / "c.py", "import torch\n")
    write(proj / "dirty" / "d.py", SMALL)
    write(proj / "broken" / "b.py", BROKEN)
    for folder, code in (("clean", 0), ("dirty", 1), ("broken", 2)):
        done = run_portkit("check", "-j", "1", folder, cwd=proj)
        assert done.returncode == code, (folder, done.stdout, done.stderr)
        assert ANSI.encode() not in done.stdout  # a pipe is not a terminal
    missing = run_portkit("check", "nowhere", cwd=proj)
    assert missing.returncode == 2 and missing.stdout == b""
    assert missing.stderr.decode().strip() == "portkit: error: nowhere: no such file or directory"


# --- text output -----------------------------------------------------------------------------


def test_text_lines_and_count_line(proj: Path) -> None:
    write(proj / "t.py", SMALL)
    result = check(proj, "t.py")
    assert result.exit_code == 1
    *lines, summary, hint = result.stdout.splitlines()
    assert summary == "Found 3 findings (2 fixable, 1 manual) in 1 file."
    assert hint == HINT.format(2)
    parsed = [TEXT_FINDING.match(line) for line in lines]
    assert all(parsed), lines
    assert [(int(m["line"]), int(m["column"]), m["rule"]) for m in parsed] == SMALL_EXPECTED
    assert [m["path"] for m in parsed] == ["t.py"] * 3
    assert [line.endswith(" (fixable)") for line in lines] == [True, True, False]
    assert sum(" (fixable)" in line for line in lines) == 2  # never inside a line either

    # each line is exactly the JSON finding, with " (fixable)" only for the fixable level
    _, document = check_json(proj, "t.py")
    expected = [f"{f['path']}:{f['line']}:{f['column']}: {f['rule']} {f['message']}"
                + (" (fixable)" if f["level"] == "fixable" else "") for f in document["findings"]]
    assert lines == expected


def test_text_count_line_plurals_and_files(proj: Path) -> None:
    write(proj / "a.py", FIXABLE_ONLY)
    write(proj / "b" / "c.py", FIXABLE_ONLY)
    result = check(proj, ".")
    assert result.stdout.splitlines()[-2:] == ["Found 4 findings (4 fixable, 0 manual) in 2 files.", HINT.format(4)]
    assert [line.split(":")[0] for line in result.stdout.splitlines()[:-2]] == ["a.py", "a.py", "b/c.py", "b/c.py"]


# --- check and migrate agree -----------------------------------------------------------------


@pytest.mark.parametrize("name", EXAMPLE_NAMES)
def test_check_fixable_findings_are_exactly_the_changes_migrate_makes(proj: Path, name: str) -> None:
    shutil.copytree(EXAMPLES / name / "original", proj / name)
    code, checked = check_json(proj, name)
    assert code == 1
    fixable = Counter((f["path"], f["line"], f["rule"]) for f in checked["findings"] if f["level"] == "fixable")
    manual = Counter((f["path"], f["line"], f["rule"]) for f in checked["findings"] if f["level"] == "manual")
    assert fixable, "every example has something to port"

    migrated = invoke_cli("migrate", "-j", "1", "--report", "r.json", name, cwd=proj)
    assert migrated.exit_code == 0, migrated.output
    report = json.loads((proj / "r.json").read_text(encoding="utf-8"))
    changes = Counter((f["path"], c["line"], c["rule"]) for f in report["files"] for c in f["changes"])
    items = Counter((f["path"], m["line"], m["rule"]) for f in report["files"] for m in f["manual_items"])
    assert set(fixable) == set(changes)
    assert fixable == changes  # as multisets too: no finding counted twice or dropped
    assert manual == items

    # and once migrated, nothing fixable is left for check to report
    _, after = check_json(proj, name)
    assert [f for f in after["findings"] if f["level"] == "fixable"] == []
    assert Counter(f["rule"] for f in after["findings"]) == Counter(rule for _, _, rule in manual.elements())


# --- output formats and --output-file --------------------------------------------------------


@pytest.mark.parametrize("fmt", ["json", "sarif", "github", "junit"])
def test_output_formats(proj: Path, fmt: str) -> None:
    write(proj / "t.py", SMALL)
    result = check(proj, "--output-format", fmt, "t.py")
    assert result.exit_code == 1, result.output
    out = result.stdout
    assert not out.startswith("t.py:") and "Found 3 findings" not in out  # not the text format
    if fmt == "json":
        document = json.loads(out)
        assert document["schema_version"] == 1 and document["tool"]["name"] == "portkit"
        assert [(f["line"], f["column"], f["rule"]) for f in document["findings"]] == SMALL_EXPECTED
    elif fmt == "sarif":
        log = json.loads(out)
        assert log["version"] == "2.1.0"
        results = log["runs"][0]["results"]
        assert [(r["locations"][0]["physicalLocation"]["region"]["startLine"], r["ruleId"]) for r in results] \
            == [(line, rule) for line, _, rule in SMALL_EXPECTED]
    elif fmt == "github":
        lines = out.splitlines()
        assert [line.split(" ", 1)[0] for line in lines] == ["::warning", "::warning", "::error"]
        assert all(line.startswith(("::warning file=t.py,line=", "::error file=t.py,line=")) for line in lines)
    else:
        root = ET.fromstring(out)
        assert root.tag == "testsuites"
        failures = root.findall(".//failure")
        assert len(failures) == 1 and failures[0].get("message") == "3 findings (2 fixable, 1 manual)"


@pytest.mark.parametrize("fmt", ["text", "json", "sarif", "github", "junit"])
def test_output_file_holds_the_output_without_ansi_codes(proj: Path, fmt: str) -> None:
    write(proj / "t.py", SMALL)
    plain = check(proj, "--output-format", fmt, "t.py")
    (proj / "out").mkdir()
    to_file = invoke_in_colour(proj, "check", "-j", "1", "--output-format", fmt, "-o", "out/report.txt", "t.py")
    assert to_file.exit_code == plain.exit_code == 1
    assert to_file.stdout == ""  # the findings went to the file
    written = (proj / "out" / "report.txt").read_text(encoding="utf-8")
    assert ANSI not in written
    if fmt == "junit":  # holds a duration
        written, expected = (re.sub(r'time="[^"]*"', "", t) for t in (written, plain.stdout))
    else:
        expected = plain.stdout
    assert written == expected
    if fmt == "text":  # on a terminal the same text is styled: the file is not
        coloured = invoke_in_colour(proj, "check", "-j", "1", "t.py").stdout
        assert ANSI in coloured and click.unstyle(coloured) == written


@pytest.mark.parametrize("option", ["--output-file", "--write-baseline"])
def test_output_file_in_a_missing_folder_is_not_a_crash(proj: Path, option: str) -> None:
    write(proj / "t.py", SMALL)
    done = run_portkit("check", "-j", "1", option, "missing/out.json", "t.py", cwd=proj)
    assert b"Traceback" not in done.stderr
    written = (proj / "missing" / "out.json").is_file()  # created as ruff does, or refused with one line:
    assert written or (done.returncode == 2 and done.stderr.decode().startswith("portkit: error: ")
                       and len(done.stderr.decode().strip().splitlines()) == 1)


# --- --select / --ignore / --severity --------------------------------------------------------


@pytest.mark.parametrize("options, expected", [
    # a rule whose changes need `import torch_npu` brings the import rule along
    (("--select", "device-string"), {"device-string", "torch-npu-import"}),
    (("--select", "device-string,tensor-cuda"), {"device-string", "tensor-cuda", "torch-npu-import"}),
    (("--select", "amp"), {"amp-api", "torch-npu-import"}),
    (("--select", "third-party"), {"flash-attn", "xformers"}),
    (("--select", "tensor", "--select", "distributed"), {"tensor-cuda", "data-parallel", "torch-npu-import"}),
    (("--select", "fixable"), {"amp-api", "device-string", "tensor-cuda", "torch-npu-import"}),
    (("--select", "manual"), MIX_MANUAL),
    (("--select", "ALL"), set(MIX_RULES)),
    (("--ignore", "device-string"), set(MIX_RULES) - {"device-string"}),
    (("--ignore", "amp,third-party"), set(MIX_RULES) - {"amp-api", "flash-attn", "xformers"}),
    (("--ignore", "manual"), set(MIX_RULES) - MIX_MANUAL),
    (("--ignore", "fixable"), MIX_MANUAL),  # nothing is rewritten, so no import is needed
    (("--select", "manual", "--ignore", "third-party"), {"data-parallel", "cudnn-flags"}),
], ids=["id", "ids", "group-amp", "group-third-party", "two-groups", "fixable", "manual", "ALL",
        "ignore-id", "ignore-groups", "ignore-manual", "ignore-fixable", "select-and-ignore"])
def test_select_and_ignore(proj: Path, options: tuple[str, ...], expected: set[str]) -> None:
    write(proj / "m.py", MIX)
    code, document = check_json(proj, *options, "m.py")
    assert rules_of(document) == expected
    assert code == 1
    for finding in document["findings"]:
        assert finding["line"] == MIX_RULES[finding["rule"]]
        assert finding["level"] == ("manual" if finding["rule"] in MIX_MANUAL else "fixable")


def test_select_nothing_that_is_found_exits_0(proj: Path) -> None:
    write(proj / "m.py", MIX)
    result = check(proj, "--select", "env", "m.py")
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("All clear: 1 file checked")


def test_severity_manual_shows_only_manual_items(proj: Path) -> None:
    write(proj / "m.py", MIX)
    code, document = check_json(proj, "--severity", "manual", "m.py")
    assert code == 1
    assert rules_of(document) == MIX_MANUAL
    assert {f["level"] for f in document["findings"]} == {"manual"}
    assert document["summary"]["fixable"] == 0

    result = check(proj, "--severity", "manual", "m.py")
    assert " (fixable)" not in result.stdout
    assert result.stdout.splitlines()[-1] == "Found 4 findings (0 fixable, 4 manual) in 1 file."


def test_severity_exit_code_follows_what_is_shown(proj: Path) -> None:
    write(proj / "f.py", FIXABLE_ONLY)
    assert check(proj, "f.py").exit_code == 1
    shown = check(proj, "--severity", "manual", "f.py")
    assert shown.exit_code == 0, shown.output
    assert shown.stdout == "All clear: 1 file checked, no unported CUDA usage.\n"
    assert check(proj, "--severity", "fixable", "f.py").exit_code == 1


# --- inline suppressions ---------------------------------------------------------------------

SUPPRESSED = """\
import torch
import torch_npu
a = torch.device("cuda")  # portkit: ignore
b = torch.device("cuda")  # portkit: ignore[device-string]
c = torch.device("cuda").cuda()  # portkit: ignore[device-string]
d = torch.zeros(  # portkit: ignore
    3,
    device="cuda")
e = torch.zeros(  # portkit: ignore[device-string, tensor-cuda]
    3,
    device="cuda")
f = torch.cuda.device_count(
)  # portkit: ignore
g = torch.zeros(
    3,
    device="cuda")  # portkit: ignore
h = "# portkit: ignore"; k = torch.device("cuda")
i = 1  # portkit: ignore
j = 2  # portkit: ignore[no-such-rule]
"""


def _without_suppressions(text: str) -> str:
    return re.sub(r"  # portkit: ignore(\[[^\]]*\])?", "", text)


@pytest.fixture
def suppressed(proj: Path) -> tuple[Path, dict[str, Any]]:
    write(proj / "s.py", SUPPRESSED)
    code, document = check_json(proj, "s.py")
    assert code == 1
    return proj, document


def test_the_suppressed_lines_do_have_findings(proj: Path) -> None:
    """The control: without the comments every line below reports something."""
    write(proj / "s.py", _without_suppressions(SUPPRESSED))
    _, document = check_json(proj, "s.py")
    assert found(document) == [
        (3, "device-string"), (4, "device-string"), (5, "device-string"), (5, "tensor-cuda"),
        (8, "device-string"), (11, "device-string"), (12, "cuda-api"), (16, "device-string"),
        (17, "device-string"),
    ]


def test_suppressions(suppressed: tuple[Path, dict[str, Any]]) -> None:
    _, document = suppressed
    assert found(document) == [
        (5, "tensor-cuda"),  # ignore[device-string] silences only that rule
        (12, "cuda-api"),  # a comment on the last line of a statement does not reach its first line
        (13, "unused-suppression"),  # ... and so it silences nothing
        (17, "device-string"),  # "# portkit: ignore" in a string is not a suppression
        (18, "unused-suppression"),
        (19, "unknown-suppression"),
    ]


def test_bare_and_rule_suppression_on_the_line(suppressed: tuple[Path, dict[str, Any]]) -> None:
    lines = {line for line, _ in found(suppressed[1])}
    assert not lines & {3, 4}


def test_suppression_on_the_first_line_covers_the_whole_statement(suppressed: tuple[Path, dict[str, Any]]) -> None:
    lines = {line for line, _ in found(suppressed[1])}
    assert not lines & {6, 7, 8, 9, 10, 11}  # the bare one and the one naming two rules (both used)


def test_suppression_on_the_last_line_covers_that_line(suppressed: tuple[Path, dict[str, Any]]) -> None:
    """The finding of `g` is on the statement's last line, where the comment is, so it is silenced."""
    lines = {line for line, _ in found(suppressed[1])}
    assert not lines & {14, 15, 16}


def test_a_string_holding_the_comment_text_is_not_a_suppression(proj: Path) -> None:
    write(proj / "s.py", 'import torch\nimport torch_npu\nx = (torch.device("cuda"), "# portkit: ignore")\n'
                         's = """\n# portkit: ignore"""; y = torch.device("cuda")\n')
    _, document = check_json(proj, "s.py")
    assert found(document) == [(3, "device-string"), (5, "device-string")]


def test_unused_and_unknown_suppressions_are_findings(suppressed: tuple[Path, dict[str, Any]]) -> None:
    meta = [f for f in suppressed[1]["findings"] if f["rule"].endswith("-suppression")]
    assert [(f["line"], f["column"], f["rule"], f["level"]) for f in meta] == [
        (13, 4, "unused-suppression", "manual"),
        (18, 8, "unused-suppression", "manual"),
        (19, 8, "unknown-suppression", "manual"),
    ]
    assert meta[0]["message"] == "`# portkit: ignore` silences nothing here"
    assert "'no-such-rule'" in meta[2]["message"]


def test_ignore_unused_suppression_hides_those(suppressed: tuple[Path, dict[str, Any]]) -> None:
    proj, _ = suppressed
    _, document = check_json(proj, "--ignore", "unused-suppression", "s.py")
    assert found(document) == [(5, "tensor-cuda"), (12, "cuda-api"), (17, "device-string"),
                               (19, "unknown-suppression")]
    _, document = check_json(proj, "--ignore", "unused-suppression,unknown-suppression", "s.py")
    assert not {rule for _, rule in found(document)} & {"unused-suppression", "unknown-suppression"}
    # selecting rules hides the suppression findings unless they are selected too
    _, document = check_json(proj, "--select", "device-string,tensor-cuda", "s.py")
    assert found(document) == [(5, "tensor-cuda"), (17, "device-string")]


def test_only_unused_suppressions_still_fail(proj: Path) -> None:
    write(proj / "s.py", "import torch\nx = 1  # portkit: ignore\n")
    result = check(proj, "s.py")
    assert result.exit_code == 1
    assert result.stdout.splitlines()[0] == "s.py:2:8: unused-suppression `# portkit: ignore` silences nothing here"


def test_suppressions_do_not_stop_migrate(proj: Path) -> None:
    """Suppressions silence `check`; `migrate` rewrites suppressed lines all the same."""
    source = 'import torch\nimport torch_npu\nx = torch.device("cuda")  # portkit: ignore\n'
    write(proj / "s.py", source)
    assert check(proj, "s.py").exit_code == 0
    assert invoke_cli("migrate", "s.py", cwd=proj).exit_code == 0
    assert (proj / "s.py").read_text() == source.replace('"cuda"', '"npu"')


@pytest.mark.parametrize("options", [("--ignore", "device-string"), ("--select", "unknown-suppression")])
def test_suppression_naming_a_deselected_rule_is_not_unknown(proj: Path, options: tuple[str, ...]) -> None:
    write(proj / "s.py", 'import torch\nx = torch.device("cuda")  # portkit: ignore[device-string]\n')
    _, document = check_json(proj, *options, "s.py")
    assert "unknown-suppression" not in rules_of(document)


def test_suppression_of_an_analysis_rule_is_not_unused_under_check(proj: Path) -> None:
    """`portkit analyze` reads float64; `check` never runs it, so the comment is not stale."""
    write(proj / "s.py", "import torch\nimport torch_npu\nx = torch.ones(2).double()  # portkit: ignore[float64]\n"
                         "y = 1  # portkit: ignore[float64, device-string]\n")
    _, document = check_json(proj, "s.py")
    assert found(document) == [(4, "unused-suppression")]  # device-string runs here and silences nothing


@pytest.mark.parametrize("newline", ["\r", "\r\n", "\n"])
def test_suppressions_are_found_whatever_the_line_ending(proj: Path, newline: str) -> None:
    text = 'import torch\nimport torch_npu\nx = torch.device("cuda")  # portkit: ignore\ny = torch.device("cuda")\n'
    (proj / "s.py").write_bytes(text.replace("\n", newline).encode())
    _, document = check_json(proj, "s.py")
    assert found(document) == [(4, "device-string")]


# --- configuration ---------------------------------------------------------------------------


def test_pyproject_tool_portkit_is_read(proj: Path) -> None:
    (proj / "portkit.toml").unlink()
    write(proj / "pyproject.toml", '[project]\nname = "x"\n\n[tool.portkit]\nselect = ["amp"]\n')
    write(proj / "m.py", MIX)
    _, document = check_json(proj, "m.py")
    assert rules_of(document) == {"amp-api", "torch-npu-import"}


def test_portkit_toml_wins_over_pyproject_in_the_same_folder(proj: Path) -> None:
    write(proj / "pyproject.toml", '[tool.portkit]\nselect = ["amp"]\n')
    write(proj / "portkit.toml", 'select = ["device-string"]\n')
    write(proj / "m.py", MIX)
    _, document = check_json(proj, "m.py")
    assert rules_of(document) == {"device-string", "torch-npu-import"}


def test_nearest_config_upward_from_the_working_folder(proj: Path) -> None:
    write(proj / "portkit.toml", 'select = ["amp"]\n')
    write(proj / "inner" / "pyproject.toml", '[tool.portkit]\nselect = ["device-string"]\n')
    write(proj / "inner" / "deep" / "pyproject.toml", '[project]\nname = "no-portkit-section"\n')
    code = write(proj / "inner" / "deep" / "m.py", MIX)
    # deep/pyproject.toml has no [tool.portkit]: the search goes on to inner/
    _, document = check_json(code.parent, "m.py")
    assert rules_of(document) == {"device-string", "torch-npu-import"}
    _, document = check_json(proj / "inner", "deep")
    assert rules_of(document) == {"device-string", "torch-npu-import"}
    # from the top, the top's config applies, whatever folder is checked
    _, document = check_json(proj, "inner/deep")
    assert rules_of(document) == {"amp-api", "torch-npu-import"}


def test_config_include(proj: Path) -> None:
    write(proj / "portkit.toml", 'include = ["src/"]\n')
    write(proj / "src" / "a.py", FIXABLE_ONLY)
    write(proj / "scripts" / "b.py", FIXABLE_ONLY)
    _, document = check_json(proj, ".")
    assert {f["path"] for f in document["findings"]} == {"src/a.py"}
    assert document["summary"]["files_checked"] == 1
    # include applies to files named on the command line too (it is relative to the config's folder)
    _, document = check_json(proj, "scripts/b.py")
    assert document["summary"]["files_checked"] == 0 and document["findings"] == []


def test_config_exclude(proj: Path) -> None:
    write(proj / "portkit.toml", 'exclude = ["gen/", "*_pb2.py"]\n')
    write(proj / "gen" / "a.py", FIXABLE_ONLY)
    write(proj / "x_pb2.py", FIXABLE_ONLY)
    write(proj / "keep.py", FIXABLE_ONLY)
    _, document = check_json(proj, ".")
    assert {f["path"] for f in document["findings"]} == {"keep.py"}
    _, document = check_json(proj, "--no-config", ".")
    assert {f["path"] for f in document["findings"]} == {"gen/a.py", "keep.py", "x_pb2.py"}


def test_config_exclude_is_relative_to_the_config_folder(proj: Path) -> None:
    write(proj / "portkit.toml", 'exclude = ["sub/gen/"]\n')
    write(proj / "sub" / "gen" / "a.py", FIXABLE_ONLY)
    write(proj / "sub" / "keep.py", FIXABLE_ONLY)
    _, document = check_json(proj, "sub")
    assert {f["path"] for f in document["findings"]} == {"sub/keep.py"}


def test_config_per_file_ignores(proj: Path) -> None:
    write(proj / "portkit.toml", '[per-file-ignores]\n"legacy/*.py" = ["device-string"]\n'
                                 '"m.py" = ["flash-attn", "xformers", "amp-api"]\n')
    write(proj / "legacy" / "old.py", FIXABLE_ONLY)
    write(proj / "new" / "n.py", FIXABLE_ONLY)
    write(proj / "m.py", MIX)
    _, document = check_json(proj, ".")
    by_path: dict[str, set[str]] = {}
    for f in document["findings"]:
        by_path.setdefault(f["path"], set()).add(f["rule"])
    assert by_path == {
        "legacy/old.py": {"torch-npu-import"},
        "new/n.py": {"torch-npu-import", "device-string"},
        "m.py": set(MIX_RULES) - {"flash-attn", "xformers", "amp-api"},
    }
    # the globs are relative to the config's folder, wherever check runs from
    _, document = check_json(proj / "legacy", ".")
    assert rules_of(document) == {"torch-npu-import"}


def test_config_per_file_ignores_accept_groups(proj: Path) -> None:
    write(proj / "portkit.toml", '[per-file-ignores]\n"m.py" = ["third-party"]\n')
    write(proj / "m.py", MIX)
    _, document = check_json(proj, "m.py")
    assert rules_of(document) == set(MIX_RULES) - {"flash-attn", "xformers"}


def test_config_select_and_ignore(proj: Path) -> None:
    write(proj / "m.py", MIX)
    write(proj / "portkit.toml", 'select = ["manual", "device-string"]\nignore = ["third-party"]\n')
    _, document = check_json(proj, "m.py")
    assert rules_of(document) == {"data-parallel", "cudnn-flags", "device-string", "torch-npu-import"}


def test_command_line_overrides_config_select_and_ignore(proj: Path) -> None:
    write(proj / "m.py", MIX)
    write(proj / "portkit.toml", 'select = ["amp"]\n')
    _, document = check_json(proj, "--select", "device-string", "m.py")
    assert rules_of(document) == {"device-string", "torch-npu-import"}
    # --ignore replaces the config's ignore list, it does not extend it
    write(proj / "portkit.toml", 'ignore = ["device-string"]\n')
    _, document = check_json(proj, "m.py")
    assert "device-string" not in rules_of(document)
    _, document = check_json(proj, "--ignore", "tensor-cuda", "m.py")
    assert "device-string" in rules_of(document) and "tensor-cuda" not in rules_of(document)


def test_command_line_exclude_overrides_config_exclude(proj: Path) -> None:
    write(proj / "portkit.toml", 'exclude = ["gen/"]\n')
    write(proj / "gen" / "a.py", FIXABLE_ONLY)
    write(proj / "other" / "b.py", FIXABLE_ONLY)
    _, document = check_json(proj, "--exclude", "other/", ".")
    assert {f["path"] for f in document["findings"]} == {"gen/a.py"}


def test_config_target(proj: Path) -> None:
    write(proj / "t.py", SMALL)
    write(proj / "portkit.toml", 'target = "npu"\n')
    assert check(proj, "t.py").exit_code == 1
    write(proj / "portkit.toml", 'target = "gpu"\n')
    result = check(proj, "t.py")
    assert result.exit_code == 2
    assert "unknown target 'gpu'" in one_line(result.stderr)


def test_config_target_no_rule_supports_is_refused(proj: Path) -> None:
    write(proj / "m.py", MIX)
    write(proj / "portkit.toml", 'target = "accelerator"\n')
    result = check(proj, "m.py")
    assert result.exit_code != 0, result.output  # today: "All clear", exit 0, on CUDA code


def test_config_rules_folder_is_relative_to_the_config(proj: Path) -> None:
    write(proj / "portkit.toml", 'rules = ["house-rules"]\n')
    write(proj / "house-rules" / "mine.toml", USER_RULE)
    write(proj / "sub" / "s.py", "s = dev.cuda_stream()\n")
    _, document = check_json(proj / "sub", "s.py")  # the config is found upward; the folder resolved from it
    assert (1, "my-stream") in found(document)
    _, document = check_json(proj / "sub", "--no-config", "s.py")
    assert found(document) == []


def test_config_baseline(proj: Path) -> None:
    write(proj / "portkit.toml", 'baseline = "ci/portkit-baseline.json"\n')
    write(proj / "t.py", SMALL)
    write(proj / "ci" / ".keep", "")
    assert check(proj, "--write-baseline", "ci/portkit-baseline.json", ".").exit_code == 0
    result = check(proj, ".")
    assert result.exit_code == 0, result.output
    assert "(3 matched the baseline)" in result.stdout
    # --baseline on the command line wins over the config's
    write(proj / "empty.json", '{"portkit_baseline": 1, "findings": []}\n')
    assert check(proj, "--baseline", "empty.json", ".").exit_code == 1


@pytest.mark.parametrize("name, text, where", [
    ("portkit.toml", 'select = ["amp"]\nbogus = 1\n', "portkit.toml"),
    ("pyproject.toml", '[tool.portkit]\nselect = ["amp"]\nbogus = 1\n', "pyproject.toml: [tool.portkit]"),
])
def test_unknown_config_key_exits_2_naming_it(proj: Path, name: str, text: str, where: str) -> None:
    (proj / "portkit.toml").unlink()
    write(proj / name, text)
    write(proj / "t.py", SMALL)
    result = check(proj, "t.py")
    assert result.exit_code == 2
    assert result.stdout == ""
    line = one_line(result.stderr)
    assert line.startswith("portkit: error: ") and where in line and "unknown key 'bogus'" in line


@pytest.mark.parametrize("text, said", [
    ('selct = ["amp"]\n', "unknown key 'selct'; did you mean 'select'?"),
    ('target = "acelerator"\n', "unknown target 'acelerator'; did you mean 'accelerator'?"),
    ('torch-npu = "2.6"\n', "unknown torch-npu '2.6'; did you mean '2.6.0'?"),
])
def test_config_errors_suggest_the_closest_key_or_value(proj: Path, text: str, said: str) -> None:
    write(proj / "portkit.toml", text)
    write(proj / "t.py", SMALL)
    result = check(proj, "t.py")
    assert result.exit_code == 2 and said in one_line(result.stderr)


@pytest.mark.parametrize("text, key", [
    ('select = "amp"\n', "select"),
    ("exclude = [1]\n", "exclude"),
    ('per-file-ignores = {"a.py" = "amp"}\n', "per-file-ignores"),
    ('baseline = ["b.json"]\n', "baseline"),
    ("select = [\n", None),
])
def test_malformed_config_exits_2_with_one_line(proj: Path, text: str, key: str | None) -> None:
    write(proj / "portkit.toml", text)
    write(proj / "t.py", SMALL)
    result = check(proj, "t.py")
    assert result.exit_code == 2
    line = one_line(result.stderr)
    assert "portkit.toml" in line
    assert f"'{key}'" in line if key else "not valid TOML" in line


def test_config_option_and_no_config(proj: Path) -> None:
    write(proj / "portkit.toml", "bogus = 1\n")  # broken: used unless told otherwise
    write(proj / "ci" / "strict.toml", 'select = ["amp"]\n')
    write(proj / "m.py", MIX)
    assert check(proj, "m.py").exit_code == 2
    _, document = check_json(proj, "--config", "ci/strict.toml", "m.py")
    assert rules_of(document) == {"amp-api", "torch-npu-import"}
    _, document = check_json(proj, "--no-config", "m.py")
    assert rules_of(document) == set(MIX_RULES)
    missing = check(proj, "--config", "nope.toml", "m.py")
    assert missing.exit_code == 2 and "nope.toml" in one_line(missing.stderr)


# --- baselines -------------------------------------------------------------------------------

BASELINED = 'import torch\nx = torch.device("cuda")\nm = model.cuda()\n'


@pytest.fixture
def baselined(proj: Path) -> Path:
    write(proj / "t.py", BASELINED)
    result = check(proj, "--write-baseline", "b.json", ".")
    assert result.exit_code == 0, result.output
    assert result.stdout == ""
    assert one_line(result.stderr) == "portkit: recorded 3 findings in b.json"
    return proj


def test_write_baseline_records_the_findings(baselined: Path) -> None:
    data = json.loads((baselined / "b.json").read_text(encoding="utf-8"))
    assert data == {"portkit_baseline": 1, "findings": [
        {"path": "t.py", "rule": "device-string", "text": 'x = torch.device("cuda")'},
        {"path": "t.py", "rule": "tensor-cuda", "text": "m = model.cuda()"},
        {"path": "t.py", "rule": "torch-npu-import", "text": "import torch_npu"},
    ]}


def test_baseline_hides_what_it_records(baselined: Path) -> None:
    assert check(baselined, ".").exit_code == 1  # the findings are still there ...
    result = check(baselined, "--baseline", "b.json", ".")
    assert result.exit_code == 0, result.output  # ... but baselined
    assert result.stdout == "All clear: 1 file checked, no new unported CUDA usage (3 matched the baseline).\n"
    _, document = check_json(baselined, "--baseline", "b.json", ".")
    assert document["findings"] == [] and document["summary"]["baselined"] == 3


def test_baseline_new_line_is_the_only_finding(baselined: Path) -> None:
    write(baselined / "t.py", BASELINED + "n = net.cuda()\n")
    result = check(baselined, "--baseline", "b.json", ".")
    assert result.exit_code == 1
    assert result.stdout.splitlines() == [
        "t.py:4:9: tensor-cuda .cuda() → .npu() (fixable)",
        "Found 1 finding (1 fixable, 0 manual) in 1 file; 3 matched the baseline.",
        HINT.format(1),
    ]


def test_baseline_removed_line_still_passes(baselined: Path) -> None:
    write(baselined / "t.py", 'import torch\nx = torch.device("cuda")\n')
    result = check(baselined, "--baseline", "b.json", ".")
    assert result.exit_code == 0, result.output
    assert "(2 matched the baseline)" in result.stdout


def test_baseline_survives_edits_elsewhere(baselined: Path) -> None:
    # ten lines inserted above, and the spacing inside a baselined line changed
    moved = "".join(f"# note {i}\n" for i in range(10)) + BASELINED.replace("x = torch", "x  =   torch")
    write(baselined / "t.py", moved)
    _, document = check_json(baselined, ".")
    assert [line for line, _ in found(document)] == [12, 12, 13]  # the findings moved down ...
    result = check(baselined, "--baseline", "b.json", ".")
    assert result.exit_code == 0, result.output  # ... and whitespace changed: still matched
    assert "(3 matched the baseline)" in result.stdout


def test_baseline_duplicated_line_is_new(baselined: Path) -> None:
    write(baselined / "t.py", BASELINED + "m = model.cuda()\n")
    result = check(baselined, "--baseline", "b.json", ".")
    assert result.exit_code == 1
    assert result.stdout.splitlines()[0] == "t.py:4:11: tensor-cuda .cuda() → .npu() (fixable)"
    assert len(result.stdout.splitlines()) == 3  # the finding, the count, the hint


def test_baseline_changed_line_is_new(baselined: Path) -> None:
    write(baselined / "t.py", BASELINED.replace("model.cuda()", "model.cuda(0)"))
    _, document = check_json(baselined, "--baseline", "b.json", ".")
    assert found(document) == [(3, "tensor-cuda")]


@pytest.mark.parametrize("content, says", [
    ("not json at all\n", "invalid JSON"),
    ('{"portkit_baseline": 2, "findings": []}\n', '"portkit_baseline": 1'),
    ('{"findings": []}\n', '"portkit_baseline": 1'),
    ("[]\n", '"portkit_baseline": 1'),
    ('{"portkit_baseline": 1, "findings": {}}\n', "'findings' must be a list"),
    ('{"portkit_baseline": 1, "findings": [{"path": "t.py", "rule": "x"}]}\n', "finding 1 needs"),
    ('{"portkit_baseline": 1, "findings": [["t.py", "x", "y"]]}\n', "finding 1 needs"),
], ids=["not-json", "version-2", "no-version", "a-list", "findings-not-a-list", "missing-text", "entry-not-object"])
def test_malformed_baseline_exits_2_with_one_line(proj: Path, content: str, says: str) -> None:
    write(proj / "t.py", SMALL)
    write(proj / "b.json", content)
    result = check(proj, "--baseline", "b.json", ".")
    assert result.exit_code == 2
    assert result.stdout == ""
    line = one_line(result.stderr)
    assert line.startswith("portkit: error: b.json: ") and says in line


def test_missing_baseline_exits_2(proj: Path) -> None:
    write(proj / "t.py", SMALL)
    result = check(proj, "--baseline", "nope.json", ".")
    assert result.exit_code == 2
    assert "nope.json: cannot read baseline" in one_line(result.stderr)


def test_project_baseline_matches_from_a_subfolder(proj: Path) -> None:
    write(proj / "portkit.toml", 'baseline = "portkit-baseline.json"\n')
    write(proj / "sub" / "t.py", SMALL)
    assert check(proj, "--write-baseline", "portkit-baseline.json", ".").exit_code == 0
    assert check(proj, ".").exit_code == 0
    assert check(proj / "sub", ".").exit_code == 0


# --- which files -----------------------------------------------------------------------------


def test_gitignore_is_respected_unless_no_ignore(proj: Path) -> None:
    git(proj, "init", "-q")
    write(proj / ".gitignore", "generated/\n")
    write(proj / "generated" / "g.py", FIXABLE_ONLY)
    write(proj / "kept.py", "import torch\n")
    result = check(proj, ".")
    assert result.exit_code == 0, result.output
    assert result.stdout == "All clear: 1 file checked, no unported CUDA usage.\n"
    _, document = check_json(proj, "--no-ignore", ".")
    assert {f["path"] for f in document["findings"]} == {"generated/g.py"}
    assert document["summary"]["files_checked"] == 2


def test_jobs_do_not_change_the_output(proj: Path) -> None:
    example_tree(proj / "src", "original")
    write(proj / "src" / "more" / "t.py", SMALL)
    write(proj / "src" / "more" / "bad.py", BROKEN)
    outputs = {}
    for jobs in ("1", "2"):
        for fmt in ("text", "json"):
            result = invoke_cli("check", "-j", jobs, "--output-format", fmt, "src", cwd=proj)
            assert result.exit_code == 2
            outputs[jobs, fmt] = result.stdout
    assert outputs["1", "text"] == outputs["2", "text"]
    assert outputs["1", "json"] == outputs["2", "json"]
    assert json.loads(outputs["1", "json"])["summary"]["files_checked"] == len(EXAMPLE_NAMES) + 2


# --- the pre-commit hook manifest ------------------------------------------------------------

MANIFEST = REPO / ".pre-commit-hooks.yaml"


def read_manifest() -> list[dict[str, Any]]:
    """The hooks as pre-commit itself loads them: its schema validates every key and value."""
    from pre_commit.clientlib import load_manifest

    return load_manifest(str(MANIFEST))


def test_pre_commit_hooks_manifest() -> None:
    hooks = read_manifest()
    by_id = {hook["id"]: hook for hook in hooks}
    assert list(by_id) == ["portkit-check", "portkit-migrate"]
    for hook in hooks:
        assert hook["language"] == "python"
        assert hook["types"] == ["file"]  # the files regex picks the kinds (tests/test_precommit_hook.py)
    check_hook, migrate_hook = by_id["portkit-check"], by_id["portkit-migrate"]
    assert check_hook["files"] == migrate_hook["files"]
    assert check_hook["entry"] == "portkit check"
    assert check_hook["require_serial"] is False
    assert check_hook["stages"] == []  # runs at commit time (pre-commit's default: every stage)
    assert migrate_hook["entry"] == "portkit migrate --allow-dirty"
    assert migrate_hook["stages"] == ["manual"]


@pytest.mark.parametrize("hook_id", ["portkit-check", "portkit-migrate"])
def test_pre_commit_hook_entry_runs(hook_id: str, tmp_path: Path) -> None:
    """The entry is what pre-commit runs (with file names appended) in the hook's virtualenv,
    where the package's console script is installed: it must be a working command line."""
    entry = {h["id"]: h["entry"] for h in read_manifest()}[hook_id]
    argv = shlex.split(entry)
    assert argv[0] == "portkit"
    script = Path(sys.executable).with_name("portkit")
    command = [str(script)] if script.exists() else [sys.executable, "-m", "portkit"]
    done = subprocess.run([*command, *argv[1:], "--help"], cwd=tmp_path, capture_output=True, text=True,
                          timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith(f"Usage: portkit {argv[1]} [OPTIONS]")
    for option in argv[2:]:
        assert option in done.stdout


def test_pre_commit_hook_runs_on_staged_file_names(proj: Path) -> None:
    """What pre-commit does: the entry with the matching file names appended."""
    write(proj / "a.py", FIXABLE_ONLY)
    write(proj / "b.py", "import torch\n")
    entry = {h["id"]: h["entry"] for h in read_manifest()}
    argv = shlex.split(entry["portkit-check"])
    assert invoke_cli(*argv[1:], "b.py", cwd=proj).exit_code == 0
    assert invoke_cli(*argv[1:], "a.py", "b.py", cwd=proj).exit_code == 1
    migrate = shlex.split(entry["portkit-migrate"])
    assert invoke_cli(*migrate[1:], "a.py", cwd=proj).exit_code == 0
    assert invoke_cli(*argv[1:], "a.py", "b.py", cwd=proj).exit_code == 0


# --- the documentation stays true ------------------------------------------------------------

DOCS = REPO / "docs"


def _fenced(text: str, language: str) -> list[str]:
    return re.findall(rf"^```{language}\n(.*?)^```$", text, flags=re.S | re.M)


def test_check_json_doc_example_is_real_output(tmp_path: Path) -> None:
    """docs/check-json.md shows a source file and `portkit check --output-format json` of it: they must match."""
    text = (DOCS / "check-json.md").read_text(encoding="utf-8")
    source, = [block for block in _fenced(text, "python") if "cuda" in block]
    shown, = _fenced(text, "json")
    write(tmp_path / "portkit.toml", "")
    write(tmp_path / "train.py", source)
    code, document = check_json(tmp_path, "train.py")
    assert code == 1
    expected = json.loads(shown)
    assert expected["tool"].pop("version") and document["tool"].pop("version")
    assert document == expected


def test_configuration_doc_covers_every_key() -> None:
    from portkit.pipeline.config import _KEYS

    text = (DOCS / "configuration.md").read_text(encoding="utf-8")
    documented = set(re.findall(r"^### `([a-z-]+)`$", text, flags=re.M))
    assert documented == _KEYS


def test_ci_doc_uses_the_manifest_hooks() -> None:
    text = (DOCS / "ci.md").read_text(encoding="utf-8")
    ids = {h["id"] for h in read_manifest()}
    mentioned = set(re.findall(r"- id: (portkit-[a-z-]+)", text))
    assert mentioned and mentioned <= ids
    assert "github/codeql-action/upload-sarif@v4" in text and "security-events: write" in text
    assert "uses: github/codeql-action/upload-sarif@v3" not in text  # being retired (December 2026)
