"""`portkit check` output formats (formats.py): each is checked against what reads it.

SARIF against the OASIS schema plus the rules GitHub code scanning adds, workflow commands
by parsing them back the way the runner does, JUnit with an XML parser, JSON by its
documented fields, text line by line. Runs are built directly (small, with awkward paths
and messages) and from a real check of examples/ddp.
"""

from __future__ import annotations

import copy
import hashlib
import json
import re
import shutil
import xml.etree.ElementTree as ET
from collections import Counter
from dataclasses import replace
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import click
import jsonschema
import pytest

from portkit import __version__
from portkit.pipeline.check import CheckOptions, CheckRun, Diagnostic, FileError, Level, check
from portkit.reports.check_formats import FORMATS, SARIF_FINGERPRINT, check_message, render
from portkit.model import Safety, Span
from portkit.ruleset.docs import render_rule
from portkit.ruleset import RuleSet, load_rules
from portkit.pipeline.suppressions import META_RULES, UNUSED

from conftest import EXAMPLES, Cli

SCHEMAS = Path(__file__).parent / "schemas"
SARIF_SCHEMA_FILE = SCHEMAS / "sarif-schema-2.1.0.json"

NASTY = "<script>alert('x')</script>, key: value\nsecond line at 100% & \"quoted\""
SPACED = "src/my model.py"
PUNCTUATED = "lib/a,b:c.py"
BROKEN = "broken/bad file.py"


# --- fixtures ----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def ruleset() -> RuleSet:
    return load_rules()


def diagnostic(path: str, line: int, column: int, rule_id: str, message: str, level: Level,
               line_text: str, end_column: int | None = None, safety: Safety | None = None) -> Diagnostic:
    safety = safety or (Safety.MANUAL if level is Level.MANUAL else Safety.SAFE)
    return Diagnostic(path, Span(line, column, line, end_column or column + 10), rule_id, message, level,
                      safety, line_text)


def small_diagnostics() -> tuple[Diagnostic, ...]:
    """Fixable and manual findings in two files, a meta-rule finding, two findings of one rule on one line."""
    return (
        diagnostic(PUNCTUATED, 2, 10, "device-string", '"cuda" → "npu"', Level.FIXABLE,
                   'x = ("cuda", "cuda")', end_column=16),
        diagnostic(PUNCTUATED, 2, 18, "device-string", '"cuda" → "npu"', Level.FIXABLE,
                   'x = ("cuda", "cuda")', end_column=24),
        diagnostic(SPACED, 3, 5, "cuda-api", "torch.cuda.is_available → torch.npu.is_available", Level.FIXABLE,
                   "    if torch.cuda.is_available():", end_column=28),
        diagnostic(SPACED, 7, 1, "cudnn-flags", NASTY, Level.MANUAL,
                   "torch.backends.cudnn.benchmark = True", end_column=31),
        diagnostic(SPACED, 9, 12, UNUSED, "`# portkit: ignore` silences nothing here", Level.MANUAL,
                   "import os  # portkit: ignore", end_column=30),
    )


@pytest.fixture
def small(ruleset: RuleSet) -> CheckRun:
    return CheckRun(
        diagnostics=small_diagnostics(),
        errors=(FileError(BROKEN, "cannot parse: invalid syntax (line 3, column 1)"),),
        files_checked=5,
        baselined=2,
        elapsed_seconds=0.25,
        ruleset=ruleset,
    )


@pytest.fixture
def clean(ruleset: RuleSet) -> CheckRun:
    return CheckRun(diagnostics=(), errors=(), files_checked=120, baselined=0, elapsed_seconds=1.5, ruleset=ruleset)


@pytest.fixture
def real(tmp_path: Path, ruleset: RuleSet, monkeypatch: pytest.MonkeyPatch) -> CheckRun:
    """A real check of a copy of examples/ddp/original, found as the relative path `ddp`."""
    shutil.copytree(EXAMPLES / "ddp" / "original", tmp_path / "ddp")
    monkeypatch.chdir(tmp_path)
    run = check(CheckOptions(paths=(Path("ddp"),), ruleset=ruleset))
    assert run.diagnostics and not run.errors  # the example has unported CUDA code and parses
    return run


@pytest.fixture(scope="module")
def sarif_schema() -> dict[str, Any]:
    schema: dict[str, Any] = json.loads(SARIF_SCHEMA_FILE.read_text(encoding="utf-8"))
    return schema


def sarif_errors(log: dict[str, Any], schema: dict[str, Any]) -> list[str]:
    validator_class = jsonschema.validators.validator_for(schema, default=None)
    assert validator_class is not None, "the schema's $schema names no validator jsonschema knows"
    validator = validator_class(schema, format_checker=validator_class.FORMAT_CHECKER)
    return [f"{list(e.absolute_path)}: {e.message}" for e in validator.iter_errors(log)]


# --- the committed schema ----------------------------------------------------------------------


def test_sarif_schema_file_is_the_recorded_one() -> None:
    recorded = re.search(r"sha256 \| `([0-9a-f]{64})`", (SCHEMAS / "README.md").read_text(encoding="utf-8"))
    assert recorded, "tests/schemas/README.md must record the schema's sha256"
    assert hashlib.sha256(SARIF_SCHEMA_FILE.read_bytes()).hexdigest() == recorded.group(1)


def test_sarif_schema_is_sarif_2_1_0(sarif_schema: dict[str, Any]) -> None:
    assert "2.1.0" in sarif_schema["$id"] and "SARIF" in sarif_schema["title"] and "2.1.0" in sarif_schema["title"]
    assert sarif_schema["properties"]["version"]["enum"] == ["2.1.0"]


def test_sarif_schema_rejects_what_it_should(small: CheckRun, sarif_schema: dict[str, Any]) -> None:
    """The validation below proves something only if the schema can fail a log."""
    log = json.loads(render(small, "sarif"))
    bad_level = copy.deepcopy(log)
    bad_level["runs"][0]["results"][0]["level"] = "fatal"
    no_message = copy.deepcopy(log)
    del no_message["runs"][0]["results"][0]["message"]
    stray = copy.deepcopy(log)
    stray["runs"][0]["tool"]["driver"]["colour"] = "red"
    for broken in (bad_level, no_message, stray):
        assert sarif_errors(broken, sarif_schema)


# --- dispatch ----------------------------------------------------------------------------------


def test_formats_are_the_cli_choices() -> None:
    from portkit.cli import check_command

    option = next(p for p in check_command.params if p.name == "output_format")
    assert tuple(option.type.choices) == FORMATS  # type: ignore[attr-defined]


def test_unknown_format_is_refused(small: CheckRun) -> None:
    with pytest.raises(ValueError, match="unknown output format 'xml'"):
        render(small, "xml")


@pytest.mark.parametrize("fmt", FORMATS)
def test_every_format_ends_in_one_newline(small: CheckRun, clean: CheckRun, fmt: str) -> None:
    for run in (small, clean):
        out = render(run, fmt)
        if fmt == "github" and not run.diagnostics:
            assert out == ""  # no annotations, and no blank line in the log
            continue
        assert out.endswith("\n") and not out.endswith("\n\n")


# --- sarif -------------------------------------------------------------------------------------


def sarif_run(run: CheckRun) -> dict[str, Any]:
    log = json.loads(render(run, "sarif"))
    assert len(log["runs"]) == 1
    only: dict[str, Any] = log["runs"][0]
    return only


@pytest.mark.parametrize("which", ["small", "clean", "real"])
def test_sarif_validates(which: str, request: pytest.FixtureRequest, sarif_schema: dict[str, Any]) -> None:
    run: CheckRun = request.getfixturevalue(which)
    log = json.loads(render(run, "sarif"))
    assert sarif_errors(log, sarif_schema) == []
    assert log["$schema"] == "https://json.schemastore.org/sarif-2.1.0.json"
    assert log["version"] == "2.1.0"


@pytest.mark.parametrize("which", ["small", "real"])
def test_sarif_results_and_rule_indexes(which: str, request: pytest.FixtureRequest) -> None:
    run: CheckRun = request.getfixturevalue(which)
    sarif = sarif_run(run)
    driver = sarif["tool"]["driver"]
    rules, results = driver["rules"], sarif["results"]
    assert driver["name"] == "portkit" and driver["version"] == __version__
    assert len(results) == len(run.diagnostics)
    assert [r["ruleId"] for r in results] == [d.rule_id for d in run.diagnostics]
    for result in results:
        assert rules[result["ruleIndex"]]["id"] == result["ruleId"]
    ids = [rule["id"] for rule in rules]
    assert len(ids) == len(set(ids))
    assert set(ids) == {d.rule_id for d in run.diagnostics}  # only rules that have results


def test_sarif_levels(small: CheckRun) -> None:
    sarif = sarif_run(small)
    expected = ["error" if d.level is Level.MANUAL else "warning" for d in small.diagnostics]
    assert [r["level"] for r in sarif["results"]] == expected
    defaults = {rule["id"]: rule["defaultConfiguration"]["level"] for rule in sarif["tool"]["driver"]["rules"]}
    assert defaults == {"device-string": "warning", "cuda-api": "warning", "cudnn-flags": "error", UNUSED: "error"}


def test_sarif_rule_documentation(small: CheckRun, ruleset: RuleSet) -> None:
    rules = {rule["id"]: rule for rule in sarif_run(small)["tool"]["driver"]["rules"]}
    cuda_api = ruleset.get("cuda-api")
    descriptor = rules["cuda-api"]
    assert descriptor["shortDescription"]["text"] == cuda_api.summary
    assert descriptor["fullDescription"]["text"] == " ".join(cuda_api.why.split())
    assert descriptor["help"]["markdown"] == render_rule(cuda_api)
    assert descriptor["help"]["text"]
    assert descriptor["properties"]["fix-safety"] == str(cuda_api.safety)
    assert cuda_api.group in descriptor["properties"]["tags"]
    meta = rules[UNUSED]
    assert META_RULES[UNUSED][1:] in meta["shortDescription"]["text"]
    assert meta["help"]["text"] and meta["help"]["markdown"].startswith(f"## {UNUSED}")


def test_sarif_messages_and_regions(small: CheckRun) -> None:
    for d, result in zip(small.diagnostics, sarif_run(small)["results"]):
        assert result["message"]["text"] == check_message(d)
        region = result["locations"][0]["physicalLocation"]["region"]
        assert (region["startLine"], region["startColumn"], region["endLine"], region["endColumn"]) == (
            d.span.line, d.span.column, d.span.end_line, d.span.end_column)


URI_CHARACTERS = re.compile(r"^[A-Za-z0-9\-._~/%!$&'()*+,;=@]+$")  # RFC 3986 path characters


@pytest.mark.parametrize("which", ["small", "real"])
def test_sarif_uris_are_relative_forward_slash(which: str, request: pytest.FixtureRequest) -> None:
    run: CheckRun = request.getfixturevalue(which)
    sarif = sarif_run(run)
    locations = [r["locations"][0]["physicalLocation"]["artifactLocation"] for r in sarif["results"]]
    locations += [n["locations"][0]["physicalLocation"]["artifactLocation"]
                  for n in sarif["invocations"][0]["toolExecutionNotifications"]]
    paths = [d.path for d in run.diagnostics] + [e.path for e in run.errors]
    assert len(locations) == len(paths)
    for location, path in zip(locations, paths):
        uri = location["uri"]
        assert location["uriBaseId"] == "%SRCROOT%"
        assert "\\" not in uri and not uri.startswith(("/", "./")) and "://" not in uri
        assert URI_CHARACTERS.match(uri), uri
        assert unquote(uri) == path


def test_sarif_uri_spelling(ruleset: RuleSet) -> None:
    paths = ["./lead.py", "win\\dir\\x.py", "my dir/100%.py", "/abs/olute.py"]
    run = CheckRun(tuple(diagnostic(p, 1, 1, "cuda-api", "m", Level.FIXABLE, "t") for p in paths),
                   (), 4, 0, 0.0, ruleset)
    locations = [r["locations"][0]["physicalLocation"]["artifactLocation"] for r in sarif_run(run)["results"]]
    assert [loc["uri"] for loc in locations] == [
        "lead.py", "win/dir/x.py", "my%20dir/100%25.py", "file:///abs/olute.py"]
    assert [loc.get("uriBaseId") for loc in locations] == ["%SRCROOT%"] * 3 + [None]


def fingerprints(run: CheckRun) -> list[str]:
    return [r["partialFingerprints"][SARIF_FINGERPRINT] for r in sarif_run(run)["results"]]


@pytest.mark.parametrize("which", ["small", "real"])
def test_sarif_fingerprints_stable_and_distinct(which: str, request: pytest.FixtureRequest) -> None:
    run: CheckRun = request.getfixturevalue(which)
    first = fingerprints(run)
    assert first == fingerprints(replace(run, elapsed_seconds=run.elapsed_seconds + 3))
    assert len(set(first)) == len(first) == len(run.diagnostics)


def test_sarif_fingerprints_survive_moved_lines_but_not_changed_ones(small: CheckRun) -> None:
    moved = tuple(replace(d, span=replace(d.span, line=d.span.line + 40, end_line=d.span.end_line + 40))
                  for d in small.diagnostics)
    assert fingerprints(replace(small, diagnostics=moved)) == fingerprints(small)
    edited = tuple(replace(d, line_text=d.line_text + "  # edited") for d in small.diagnostics)
    assert not set(fingerprints(replace(small, diagnostics=edited))) & set(fingerprints(small))
    # the two same-rule findings on one line differ only by their occurrence number
    same_line = fingerprints(small)[:2]
    assert same_line[0] != same_line[1] and same_line[0].split(":")[0] == same_line[1].split(":")[0]


def test_sarif_invocation_reports_file_errors(small: CheckRun, clean: CheckRun) -> None:
    invocation = sarif_run(small)["invocations"][0]
    assert invocation["executionSuccessful"] is False
    [notification] = invocation["toolExecutionNotifications"]
    assert notification["level"] == "error"
    assert small.errors[0].reason in notification["message"]["text"]
    assert unquote(notification["locations"][0]["physicalLocation"]["artifactLocation"]["uri"]) == BROKEN
    assert sarif_run(clean)["invocations"][0] == {"executionSuccessful": True, "toolExecutionNotifications": []}
    assert sarif_run(clean)["results"] == [] and sarif_run(clean)["tool"]["driver"]["rules"] == []


# --- github ------------------------------------------------------------------------------------

COMMAND = re.compile(r"^::(?P<command>error|warning|notice) (?P<properties>[^:]*)::(?P<message>.*)$")


def unescape_data(text: str) -> str:
    return text.replace("%0D", "\r").replace("%0A", "\n").replace("%25", "%")


def unescape_property(text: str) -> str:
    return unescape_data(text.replace("%3A", ":").replace("%2C", ","))


def parse_commands(out: str) -> list[tuple[str, dict[str, str], str]]:
    """Each line as the Actions runner reads it: command, properties, message."""
    parsed = []
    for line in out.split("\n")[:-1]:
        match = COMMAND.match(line)
        assert match, line
        properties = dict(item.split("=", 1) for item in match["properties"].split(","))
        parsed.append((match["command"], {k: unescape_property(v) for k, v in properties.items()},
                       unescape_data(match["message"])))
    return parsed


@pytest.mark.parametrize("which", ["small", "real"])
def test_github_commands_round_trip(which: str, request: pytest.FixtureRequest) -> None:
    run: CheckRun = request.getfixturevalue(which)
    commands = parse_commands(render(run, "github"))
    assert len(commands) == len(run.diagnostics) + len(run.errors)
    for d, (command, properties, message) in zip(run.diagnostics, commands):
        assert command == ("error" if d.level is Level.MANUAL else "warning")
        assert properties == {
            "file": d.path, "line": str(d.span.line), "col": str(d.span.column),
            "endLine": str(d.span.end_line), "endColumn": str(d.span.end_column), "title": f"portkit {d.rule_id}",
        }
        assert message == check_message(d)
    for e, (command, properties, message) in zip(run.errors, commands[len(run.diagnostics):]):
        assert command == "error" and properties == {"file": e.path} and e.reason in message


def test_github_escapes(small: CheckRun) -> None:
    out = render(small, "github")
    assert len(out.splitlines()) == len(small.diagnostics) + len(small.errors)  # the \n in NASTY is escaped
    assert "file=lib/a%2Cb%3Ac.py," in out
    nasty_line = next(line for line in out.splitlines() if "cudnn-flags" in line)
    assert nasty_line.endswith("::<script>alert('x')</script>, key: value%0Asecond line at 100%25 & \"quoted\"")


# --- junit -------------------------------------------------------------------------------------


def junit(run: CheckRun) -> ET.Element:
    return ET.fromstring(render(run, "junit"))


def test_junit_counts(small: CheckRun) -> None:
    root = junit(small)
    [suite] = root.findall("testsuite")
    cases = suite.findall("testcase")
    # two files with findings, one that could not be read, and the summary case
    assert [c.get("name") for c in cases] == [PUNCTUATED, SPACED, BROKEN, "portkit check"]
    assert [c.get("classname") for c in cases[:3]] == [PUNCTUATED, SPACED, BROKEN]
    for element in (root, suite):
        assert element.get("tests") == str(len(cases)) == "4"
        assert element.get("failures") == str(len(suite.findall("testcase/failure"))) == "2"
        assert element.get("errors") == str(len(suite.findall("testcase/error"))) == "1"
    assert suite.get("name") == "portkit"
    assert cases[-1].find("failure") is None and cases[-1].find("error") is None
    assert cases[-1].findtext("system-out", "").startswith("2 files checked with no findings")  # 5 - 3


def test_junit_failure_lists_findings(small: CheckRun) -> None:
    cases = {c.get("name"): c for c in junit(small).iter("testcase")}
    failure = cases[SPACED].find("failure")
    assert failure is not None
    assert failure.get("message") == "3 findings (1 fixable, 2 manual)"
    lines = (failure.text or "").split("\n")
    assert len(lines) == 3
    assert lines[0] == "3:5: cuda-api torch.cuda.is_available → torch.npu.is_available (fixable)"
    assert lines[1] == "7:1: cudnn-flags " + NASTY.replace("\n", " ")  # escaping held: the parser gives it back
    error = cases[BROKEN].find("error")
    assert error is not None and error.text == small.errors[0].reason


def test_junit_escaping(small: CheckRun, ruleset: RuleSet) -> None:
    out = render(small, "junit")
    assert "<script>" not in out and "&lt;script&gt;" in out
    control = replace(small, diagnostics=(diagnostic("f.py", 1, 1, "cuda-api", "form\x0cfeed & \x00", Level.FIXABLE, ""),))
    failure = junit(control).find("testsuite/testcase/failure")  # parses despite the control characters
    assert failure is not None and "form\ufffdfeed & \ufffd" in (failure.text or "")


def test_junit_real_and_clean(real: CheckRun, clean: CheckRun) -> None:
    suite = junit(real).find("testsuite")
    assert suite is not None
    paths = {d.path for d in real.diagnostics}
    assert suite.get("tests") == str(len(paths) + 1) and suite.get("failures") == str(len(paths))
    clean_suite = junit(clean).find("testsuite")
    assert clean_suite is not None
    assert (clean_suite.get("tests"), clean_suite.get("failures"), clean_suite.get("errors")) == ("1", "0", "0")
    assert clean_suite.findtext("testcase/system-out", "").startswith("120 files checked with no findings")


# --- json --------------------------------------------------------------------------------------


@pytest.mark.parametrize("which", ["small", "clean", "real"])
def test_json_counts_add_up(which: str, request: pytest.FixtureRequest) -> None:
    run: CheckRun = request.getfixturevalue(which)
    doc = json.loads(render(run, "json"))
    summary = doc["summary"]
    assert doc["schema_version"] == 1
    assert doc["tool"] == {"name": "portkit", "version": __version__}
    assert summary["findings"] == len(doc["findings"]) == len(run.diagnostics)
    assert summary["fixable"] + summary["manual"] == summary["findings"]
    assert summary["fixable"] == sum(1 for f in doc["findings"] if f["level"] == "fixable")
    assert summary["by_rule"] == dict(Counter(f["rule"] for f in doc["findings"]))
    assert sum(summary["by_rule"].values()) == summary["findings"]
    assert summary["errors"] == len(doc["errors"]) == len(run.errors)
    assert (summary["files_checked"], summary["baselined"]) == (run.files_checked, run.baselined)


def test_json_round_trips(small: CheckRun) -> None:
    doc = json.loads(render(small, "json"))
    back = tuple(
        Diagnostic(f["path"], Span(f["line"], f["column"], f["end_line"], f["end_column"]), f["rule"], f["message"],
                   Level(f["level"]), Safety(f["safety"]), f["line_text"])
        for f in doc["findings"]
    )
    assert back == small.diagnostics
    assert tuple(FileError(e["path"], e["reason"]) for e in doc["errors"]) == small.errors
    assert set(doc) == {"schema_version", "tool", "summary", "findings", "errors"}


def test_json_is_deterministic(small: CheckRun) -> None:
    assert render(small, "json") == render(replace(small, elapsed_seconds=99.0), "json")


# --- text --------------------------------------------------------------------------------------


def text_lines(run: CheckRun) -> list[str]:
    return click.unstyle(render(run, "text")).split("\n")[:-1]


@pytest.mark.parametrize("which", ["small", "real"])
def test_text_one_line_per_diagnostic(which: str, request: pytest.FixtureRequest) -> None:
    run: CheckRun = request.getfixturevalue(which)
    lines = text_lines(run)
    assert len(lines) == len(run.diagnostics) + len(run.errors) + 1 + (1 if run.fixable else 0)  # summary, hint
    for d, line in zip(run.diagnostics, lines):
        expected = f"{d.path}:{d.span.line}:{d.span.column}: {d.rule_id} {' '.join(check_message(d).splitlines())}"
        assert line == expected + (" (fixable)" if d.fixable else "")
    for e, line in zip(run.errors, lines[len(run.diagnostics):]):
        assert line == f"{e.path}: error: {e.reason}"


def test_text_summary_lines(small: CheckRun, clean: CheckRun, real: CheckRun) -> None:
    assert text_lines(small)[-2:] == [
        "Found 5 findings (3 fixable, 2 manual) in 2 files; 2 matched the baseline; 1 file could not be checked.",
        "3 fixable with `portkit migrate` (`portkit migrate --diff` shows the patch)."]
    assert text_lines(clean) == ["All clear: 120 files checked, no unported CUDA usage."]
    assert text_lines(replace(clean, baselined=3)) == [
        "All clear: 120 files checked, no new unported CUDA usage (3 matched the baseline)."]
    assert text_lines(replace(clean, errors=small.errors)) == [
        f"{BROKEN}: error: {small.errors[0].reason}",
        "No findings in 120 files checked; 1 file could not be checked."]
    manual = sum(1 for d in real.diagnostics if not d.fixable)
    assert text_lines(real)[-2] == (
        f"Found {len(real.diagnostics)} findings ({real.fixable} fixable, {manual} manual) in 1 file.")
    assert text_lines(real)[-1].startswith(f"{real.fixable} fixable with `portkit migrate`")
    assert not any("fixable with" in line for line in text_lines(replace(small, diagnostics=small.diagnostics[3:])))


def test_text_is_styled_for_terminals(small: CheckRun) -> None:
    out = render(small, "text")
    assert "\x1b[" in out and click.unstyle(out) != out


# --- through the CLI ---------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", FORMATS)
def test_cli_renders_each_format(fmt: str, cli: Cli, tmp_path: Path) -> None:
    shutil.copytree(EXAMPLES / "ddp" / "original", tmp_path / "ddp")
    result = cli("check", "--output-format", fmt, "--jobs", "1", "ddp")
    assert result.exit_code == 1, result.output  # findings
    assert result.output == click.unstyle(result.output)  # not a terminal: no colour
    assert result.output.strip()
    if fmt in ("json", "sarif"):
        json.loads(result.output)
    if fmt == "junit":
        ET.fromstring(result.output)


# --- check says "needed" for an import it does not add ---------------------------------------------


@pytest.mark.parametrize(("message", "level", "expected"), [
    ("import torch_npu added", Level.FIXABLE, "import torch_npu needed"),
    ("cell 3, line 3: import torch_npu added", Level.FIXABLE, "cell 3, line 3: import torch_npu needed"),
    ("import torch added (the rewritten name needs it)", Level.FIXABLE,
     "import torch needed (the rewritten name needs it)"),
    ('"cuda" → "npu"', Level.FIXABLE, '"cuda" → "npu"'),
    ("import torch_npu added", Level.MANUAL, "import torch_npu added"),  # not a change check describes
])
def test_check_message_describes_a_change_not_made(message: str, level: Level, expected: str) -> None:
    assert check_message(diagnostic("t.py", 2, 1, "torch-npu-import", message, level, "x = 1")) == expected


@pytest.mark.parametrize("fmt", FORMATS)
def test_no_format_claims_the_import_was_added(fmt: str, real: CheckRun) -> None:
    assert any(d.rule_id == "torch-npu-import" for d in real.diagnostics)
    out = render(real, fmt)
    assert "import torch_npu needed" in out and "import torch_npu added" not in out


# --- SARIF and GitHub's limits -------------------------------------------------------------------


def test_sarif_kept_takes_manual_items_first_in_order() -> None:
    from portkit.reports.check_formats import sarif_kept

    levels = [Level.FIXABLE, Level.MANUAL, Level.FIXABLE, Level.MANUAL, Level.FIXABLE]
    found = tuple(diagnostic("t.py", i + 1, 1, "r", "m", level, "x") for i, level in enumerate(levels))
    assert sarif_kept(found, limit=5) == [0, 1, 2, 3, 4]
    assert sarif_kept(found, limit=3) == [0, 1, 3]
    assert sarif_kept(found, limit=1) == [1]
    assert sarif_kept(found, limit=0) == []


def test_sarif_over_the_limit_is_capped_and_says_so(small: CheckRun, sarif_schema: dict[str, Any],
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    from portkit.reports import check_formats

    uncapped = dict(zip(fingerprints(small), [d.level for d in small.diagnostics]))
    monkeypatch.setattr(check_formats, "SARIF_MAX_RESULTS", 3)
    log = json.loads(render(small, "sarif"))
    results = log["runs"][0]["results"]
    assert len(results) == 3 and [r["level"] for r in results].count("error") == 2  # both manual items kept
    assert {r["partialFingerprints"][SARIF_FINGERPRINT] for r in results} <= set(uncapped)  # the same fingerprints
    notes = log["runs"][0]["invocations"][0]["toolExecutionNotifications"]
    assert [n["level"] for n in notes] == ["error", "warning"]
    assert notes[1]["message"]["text"].startswith("2 findings left out: GitHub code scanning rejects a run of more than 3")
    assert sarif_errors(log, sarif_schema) == []
