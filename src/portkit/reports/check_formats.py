"""Output formats of `portkit check`: each is a pure function of a `CheckRun` to text.

`render(run, fmt)` picks one of `FORMATS`:

text
    One line per finding, `path:line:col: rule-id message`, with ` (fixable)` when
    `portkit migrate` would make the change; one line per file that could not be checked,
    `path: error: reason`; one summary line; `N fixable with `portkit migrate`` when some are.
    Styled with click.style (click.echo drops it when the output is not a terminal or colour is off).

json
    A versioned document for scripts and dashboards (schema_version 1). Fields:

    ``schema_version`` (int)
        1. Grows only when a field changes meaning or goes away; new fields may be added
        within a version, so readers must ignore fields they do not know.
    ``tool`` (object)
        ``name``: "portkit"; ``version``: the portkit version that wrote the document.
    ``summary`` (object)
        ``files_checked`` (int): Python files read and analysed (including the ones that
        then failed to parse). ``findings`` (int): length of ``findings``. ``fixable``
        (int) and ``manual`` (int): findings by level; they add up to ``findings``.
        ``by_rule`` (object): rule id -> number of findings, sorted by rule id; the
        counts add up to ``findings``. ``baselined`` (int): findings hidden because the
        baseline file records them (not in ``findings``). ``errors`` (int): length of
        ``errors``.
    ``findings`` (array of objects), in path, line, column order
        ``path`` (str): the file as portkit displays it (relative to the current directory
        when it was given that way). ``line``, ``column``, ``end_line``, ``end_column``
        (int): 1-based; columns count Unicode code points; ``end_column`` is the column
        just after the finding. ``rule`` (str): the rule id, or `unused-suppression` /
        `unknown-suppression` for a `# portkit: ignore` comment that silences nothing or
        names an unknown rule. ``level`` (str): "fixable" (migrate makes this change) or
        "manual" (a person must port it). ``safety`` (str): the fix safety, "safe",
        "review" or "manual". ``message`` (str): one human-readable sentence.
        ``line_text`` (str): the source line the finding is on, as it is in the file.
    ``errors`` (array of objects)
        ``path`` (str) and ``reason`` (str, one line): a file or folder portkit could not
        read or parse; such files make `portkit check` exit 2.

    There is no timestamp or duration in the document, so two runs over the same code
    write byte-identical files.

sarif
    SARIF 2.1.0 for GitHub code scanning (`github/codeql-action/upload-sarif`): one run,
    a rule descriptor per rule that has results (documentation from the rule files),
    results with stable `partialFingerprints`, and files that could not be checked as
    tool execution notifications. Over SARIF_MAX_RESULTS (GitHub rejects the run) manual
    items are kept first and a warning notification counts the rest (`sarif_kept`).

Check changes nothing, so the ensure-import message "import torch_npu added" reads
"import torch_npu needed" in every format (`check_message`).

github
    GitHub Actions workflow commands, so findings appear as annotations on the pull
    request: `::error` for manual findings and unreadable files, `::warning` for fixable
    ones.

junit
    JUnit XML for CI systems that show test reports: one failing test case per file with
    findings, one erroring test case per file that could not be checked, and one passing
    test case, "portkit check", that counts the clean files.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import xml.etree.ElementTree as ET
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from typing import Any
from urllib.parse import quote

import click

from portkit import __version__
from portkit.model import counted
from portkit.pipeline.discovery import unprintable_path
from portkit.pipeline import baseline as baselines
from portkit.pipeline.check import CheckRun, Diagnostic, FileError, Level
from portkit.ruleset.docs import render_rule
from portkit.ruleset import Rule
from portkit.pipeline.suppressions import META_RULES

FORMATS = ("text", "json", "sarif", "github", "junit")
JSON_SCHEMA_VERSION = 1
SARIF_SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"
SARIF_FINGERPRINT = "portkitFingerprint/v1"
SRCROOT = "%SRCROOT%"
SARIF_MAX_RESULTS = 25_000  # GitHub code scanning rejects a run with more results
SARIF_KEPT_RESULTS = 5_000  # and keeps only this many of them, the most severe first


def render(run: CheckRun, fmt: str) -> str:
    """The whole output of `portkit check --output-format FMT`, ending in a newline."""
    renderers: dict[str, Callable[[CheckRun], str]] = {
        "text": render_text,
        "json": render_json,
        "sarif": render_sarif,
        "github": render_github,
        "junit": render_junit,
    }
    if fmt not in renderers:
        raise ValueError(f"unknown output format '{fmt}' (choose from {', '.join(FORMATS)})")
    return renderers[fmt](run)


# --- shared helpers --------------------------------------------------------------------------


def _one_line(text: str) -> str:
    """Formats that promise one line per finding must not let a message break that."""
    return " ".join(text.splitlines()) if ("\n" in text or "\r" in text) else text


_DONE_IMPORT = re.compile(r"\bimport ([\w.]+) added\b")


def check_message(d: Diagnostic) -> str:
    """The message as check says it: nothing is changed yet, so an import a fix would add is
    "needed", not "added"."""
    return _DONE_IMPORT.sub(r"import \1 needed", d.message) if d.fixable else d.message


def _paths(items: Iterable[Diagnostic | FileError]) -> list[str]:
    """Distinct paths in first-seen order (diagnostics arrive sorted by path)."""
    return list(dict.fromkeys(item.path for item in items))


def _manual(run: CheckRun) -> int:
    return len(run.diagnostics) - run.fixable


# --- text ------------------------------------------------------------------------------------


def render_text(run: CheckRun, *, list_findings: bool = True) -> str:
    """Without list_findings (check --statistics): only the unreadable files, the summary and the hint."""
    lines = [_text_diagnostic(d) for d in run.diagnostics] if list_findings else []
    lines += [_text_error(e) for e in run.errors]
    lines += [_text_summary(run), *([fixable_hint(run.fixable)] if run.fixable else [])]
    return "\n".join(lines) + "\n"


def fixable_hint(fixable: int) -> str:
    return f"{fixable} fixable with `portkit migrate` (`portkit migrate --diff` shows the patch)."


def _text_diagnostic(d: Diagnostic) -> str:
    where = click.style(_one_line(d.path), bold=True) + f":{d.span.line}:{d.span.column}:"
    rule = click.style(d.rule_id, fg="red" if d.level is Level.MANUAL else "yellow", bold=True)
    fixable = click.style(" (fixable)", fg="cyan") if d.fixable else ""
    return f"{where} {rule} {_one_line(check_message(d))}{fixable}"


def _text_error(e: FileError) -> str:
    return f"{click.style(_one_line(e.path), bold=True)}: {click.style('error', fg='red', bold=True)}: {_one_line(e.reason)}"


def _text_summary(run: CheckRun) -> str:
    unreadable = len(_paths(run.errors))
    if run.diagnostics:
        parts = [f"Found {counted(len(run.diagnostics), 'finding')} ({run.fixable} fixable, {_manual(run)} manual)"
                 f" in {counted(len(_paths(run.diagnostics)), 'file')}"]
        if run.baselined:
            parts.append(f"{run.baselined} matched the baseline")
        if unreadable:
            parts.append(f"{counted(unreadable, 'file')} could not be checked")
        return click.style("; ".join(parts) + ".", bold=True)
    baselined = f" ({run.baselined} matched the baseline)" if run.baselined else ""
    if unreadable:
        # not "all clear": the files that could not be read may hold CUDA code
        return click.style(f"No findings in {counted(run.files_checked, 'file')} checked{baselined}; "
                           f"{counted(unreadable, 'file')} could not be checked.", fg="red", bold=True)
    new = "new " if run.baselined else ""
    return click.style(f"All clear: {counted(run.files_checked, 'file')} checked, "
                       f"no {new}unported CUDA usage{baselined}.", fg="green", bold=True)


# --- json ------------------------------------------------------------------------------------


def render_json(run: CheckRun) -> str:
    return json.dumps(json_document(run), indent=2, ensure_ascii=False) + "\n"


def json_document(run: CheckRun) -> dict[str, Any]:
    """The `-o json` document as Python values (the module docstring documents each field)."""
    return {
        "schema_version": JSON_SCHEMA_VERSION,
        "tool": {"name": "portkit", "version": __version__},
        "summary": {
            "files_checked": run.files_checked,
            "findings": len(run.diagnostics),
            "fixable": run.fixable,
            "manual": _manual(run),
            "by_rule": run.by_rule,
            "baselined": run.baselined,
            "errors": len(run.errors),
        },
        "findings": [
            {
                "path": d.path,
                "line": d.span.line,
                "column": d.span.column,
                "end_line": d.span.end_line,
                "end_column": d.span.end_column,
                "rule": d.rule_id,
                "level": str(d.level),
                "safety": str(d.safety),
                "message": check_message(d),
                "line_text": d.line_text,
            }
            for d in run.diagnostics
        ],
        "errors": [{"path": e.path, "reason": e.reason} for e in run.errors],
    }


# --- sarif -----------------------------------------------------------------------------------


def render_sarif(run: CheckRun) -> str:
    return json.dumps(sarif_log(run), indent=2, ensure_ascii=False) + "\n"


def sarif_log(run: CheckRun) -> dict[str, Any]:
    """The `-o sarif` log as Python values."""
    rule_ids = _sarif_rule_ids(run)
    index = {rule_id: i for i, rule_id in enumerate(rule_ids)}
    rules = {rule.id: rule for rule in run.ruleset.rules}
    fingerprints = _fingerprints(run.diagnostics)  # of every finding, so that a cap moves none
    kept = sarif_kept(run.diagnostics)
    return {
        "$schema": SARIF_SCHEMA,
        "version": "2.1.0",
        "runs": [
            {
                "tool": {
                    "driver": {
                        "name": "portkit",
                        "version": __version__,
                        "semanticVersion": __version__,
                        "rules": [_sarif_rule(rule_id, rules.get(rule_id)) for rule_id in rule_ids],
                    }
                },
                "invocations": [_sarif_invocation(run.errors, len(run.diagnostics) - len(kept))],
                # libcst columns count code points, not the UTF-16 units SARIF viewers may assume
                "columnKind": "unicodeCodePoints",
                "results": [_sarif_result(run.diagnostics[i], index[run.diagnostics[i].rule_id], fingerprints[i])
                            for i in kept],
            }
        ],
    }


def _sarif_rule_ids(run: CheckRun) -> list[str]:
    """Rules with results, in rule-file order, then meta rules, then anything unknown:
    a descriptor for every result so each ruleIndex resolves."""
    used = set(run.by_rule)
    ordered = [rule.id for rule in run.ruleset.rules if rule.id in used]
    ordered += [rule_id for rule_id in META_RULES if rule_id in used and rule_id not in ordered]
    ordered += sorted(used - set(ordered))
    return ordered


def _sarif_rule(rule_id: str, rule: Rule | None) -> dict[str, Any]:
    if rule is None:
        return _sarif_meta_rule(rule_id)
    why = " ".join(rule.why.split())
    level = "error" if str(rule.safety) == "manual" else "warning"
    return {
        "id": rule.id,
        "name": _pascal(rule.id),
        "shortDescription": {"text": rule.summary},
        "fullDescription": {"text": why},
        "help": {"text": f"{rule.summary}\n\n{why}", "markdown": render_rule(rule)},
        "defaultConfiguration": {"level": level},
        "properties": {
            "tags": ["portkit", rule.group, rule.kind],
            "fix-safety": str(rule.safety),
        },
    }


def _sarif_meta_rule(rule_id: str) -> dict[str, Any]:
    """Suppression hygiene (and, defensively, a rule id the ruleset does not have)."""
    if rule_id in META_RULES:
        summary = META_RULES[rule_id][:1].upper() + META_RULES[rule_id][1:]
        advice = "Remove the comment, or name the rule it is meant to silence."
        tags = ["portkit", "suppressions"]
    else:
        summary = f"Findings of portkit rule {rule_id}"
        advice = "See `portkit rules show` for the rules this portkit knows."
        tags = ["portkit"]
    return {
        "id": rule_id,
        "name": _pascal(rule_id),
        "shortDescription": {"text": summary},
        "fullDescription": {"text": f"{summary}. {advice}"},
        "help": {"text": f"{summary}.\n\n{advice}", "markdown": f"## {rule_id}\n\n{summary}.\n\n{advice}\n"},
        "defaultConfiguration": {"level": "error"},
        "properties": {"tags": tags, "fix-safety": "manual"},
    }


def _pascal(rule_id: str) -> str:
    return "".join(part[:1].upper() + part[1:] for part in re.split(r"[^A-Za-z0-9]+", rule_id))


def _sarif_result(d: Diagnostic, rule_index: int, fingerprint: str) -> dict[str, Any]:
    return {
        "ruleId": d.rule_id,
        "ruleIndex": rule_index,
        "level": "error" if d.level is Level.MANUAL else "warning",
        "message": {"text": check_message(d) or d.rule_id},  # GitHub rejects an empty message
        "locations": [{"physicalLocation": {"artifactLocation": _artifact(d.path), "region": _region(d)}}],
        "partialFingerprints": {SARIF_FINGERPRINT: fingerprint},
        "properties": {"fixable": d.fixable, "fix-safety": str(d.safety)},
    }


def _region(d: Diagnostic) -> dict[str, int]:
    """A region the schema accepts even from an odd span: 1-based and never ending before it starts."""
    line = max(1, d.span.line)
    column = max(1, d.span.column)
    end_line = max(line, d.span.end_line)
    end_column = max(1, d.span.end_column)
    if end_line == line:
        end_column = max(column, end_column)
    return {"startLine": line, "startColumn": column, "endLine": end_line, "endColumn": end_column}


def _artifact(path: str) -> dict[str, str]:
    """A relative URI against %SRCROOT% (what code scanning matches to repository files), or
    a file: URI for an absolute path, which code scanning cannot map to the repository anyway."""
    posix = unprintable_path(path).replace("\\", "/")  # the name itself: display paths escape it
    while posix.startswith("./"):
        posix = posix[2:]
    if posix.startswith("/"):
        return {"uri": "file://" + quote(os.fsencode(posix))}
    if re.match(r"^[A-Za-z]:/", posix):  # a Windows drive
        return {"uri": "file:///" + posix[:2] + quote(os.fsencode(posix[2:]))}
    # percent-encode spaces, '%', ':' (a colon in the first segment would read as a scheme) ...
    return {"uri": quote(os.fsencode(posix), safe="/"), "uriBaseId": SRCROOT}


def _fingerprints(diagnostics: Sequence[Diagnostic]) -> list[str]:
    """Stable across runs and line moves: path, rule and whitespace-normalised line text (the
    baseline's key), plus the occurrence number among identical keys so that two findings of
    one rule on one line (or on two identical lines) stay distinct."""
    seen: Counter[baselines.Key] = Counter()
    found = []
    for d in diagnostics:
        key = baselines.key(d.path, d.rule_id, d.line_text)
        seen[key] += 1
        digest = hashlib.sha256("\0".join(key).encode("utf-8")).hexdigest()[:32]
        found.append(f"{digest}:{seen[key]}")
    return found


def sarif_kept(diagnostics: Sequence[Diagnostic], limit: int | None = None) -> list[int]:
    """Indexes of the findings a SARIF log carries: all of them up to `limit` (default
    SARIF_MAX_RESULTS, over which GitHub rejects the upload), else manual items first, then
    fixable ones, each in path order."""
    limit = SARIF_MAX_RESULTS if limit is None else limit
    if len(diagnostics) <= limit:
        return list(range(len(diagnostics)))
    manual = [i for i, d in enumerate(diagnostics) if d.level is Level.MANUAL]
    fixable = [i for i, d in enumerate(diagnostics) if d.level is not Level.MANUAL]
    return sorted(manual[:limit] + fixable[:max(0, limit - len(manual))])


def _sarif_invocation(errors: Sequence[FileError], left_out: int = 0) -> dict[str, Any]:
    notifications: list[dict[str, Any]] = [
        {"level": "error", "message": {"text": f"could not be checked: {e.reason}"},
         "locations": [{"physicalLocation": {"artifactLocation": _artifact(e.path)}}]}
        for e in errors
    ]
    if left_out:
        notifications.append({"level": "warning", "message": {"text": (
            f"{counted(left_out, 'finding')} left out: GitHub code scanning rejects a run of more than "
            f"{SARIF_MAX_RESULTS:,} results (see `portkit check --severity manual` and --baseline)")}})
    return {"executionSuccessful": not errors, "toolExecutionNotifications": notifications}


# --- github ----------------------------------------------------------------------------------


def render_github(run: CheckRun) -> str:
    lines = [_github_diagnostic(d) for d in run.diagnostics]
    lines += [f"::error file={_github_property(e.path)}::{_github_data(f'portkit could not check this file: {e.reason}')}"
              for e in run.errors]
    return "".join(line + "\n" for line in lines)


def _github_diagnostic(d: Diagnostic) -> str:
    command = "error" if d.level is Level.MANUAL else "warning"
    properties = {
        "file": d.path if os.sep == "/" else d.path.replace(os.sep, "/"),  # "\\" escapes on POSIX
        "line": str(d.span.line),
        "col": str(d.span.column),
        "endLine": str(d.span.end_line),
        "endColumn": str(d.span.end_column),
        "title": f"portkit {d.rule_id}",
    }
    joined = ",".join(f"{name}={_github_property(value)}" for name, value in properties.items())
    return f"::{command} {joined}::{_github_data(check_message(d))}"


def _github_data(text: str) -> str:
    """The runner's escaping for a command's message; '%' first so escapes are not re-escaped."""
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _github_property(text: str) -> str:
    """Property values end at ',' and the properties at '::', so those are escaped too."""
    return _github_data(text).replace(":", "%3A").replace(",", "%2C")


# --- junit -----------------------------------------------------------------------------------

# XML 1.0 cannot carry most control characters even escaped; a stray form feed must not
# make the whole report unparseable.
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


def _xml(text: str) -> str:
    return _NOT_XML.sub("\ufffd", text)


def render_junit(run: CheckRun) -> str:
    by_path: dict[str, list[Diagnostic]] = {}
    for d in run.diagnostics:
        by_path.setdefault(d.path, []).append(d)
    errors: dict[str, list[FileError]] = {}
    for e in run.errors:
        errors.setdefault(e.path, []).append(e)
    paths = list(dict.fromkeys([*by_path, *errors]))
    failures = len(by_path)
    erroring = len([p for p in errors if p not in by_path])  # a testcase counts once
    tests = len(paths) + 1
    suite = ET.Element("testsuite", {
        "name": "portkit", "tests": str(tests), "failures": str(failures), "errors": str(erroring),
        "skipped": "0", "time": f"{run.elapsed_seconds:.3f}",
    })
    for path in paths:
        case = ET.SubElement(suite, "testcase", {"classname": _xml(path), "name": _xml(path)})
        reasons = "\n".join(e.reason for e in errors.get(path, ()))
        if path in by_path:
            _junit_failure(case, by_path[path])
            if reasons:  # one verdict per testcase; the reason still shows
                ET.SubElement(case, "system-err").text = _xml(reasons)
        else:
            error = ET.SubElement(case, "error", {"message": _xml(_one_line(reasons)), "type": "portkit.unreadable"})
            error.text = _xml(reasons)
    clean = max(0, run.files_checked - len(paths))
    summary = ET.SubElement(suite, "testcase", {"classname": "portkit", "name": "portkit check"})
    out = ET.SubElement(summary, "system-out")
    baselined = f"; {counted(run.baselined, 'finding')} matched the baseline" if run.baselined else ""
    out.text = f"{counted(clean, 'file')} checked with no findings{baselined}"
    root = ET.Element("testsuites", {
        "name": "portkit", "tests": str(tests), "failures": str(failures), "errors": str(erroring),
    })
    root.append(suite)
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"


def _junit_failure(case: ET.Element, diagnostics: Sequence[Diagnostic]) -> None:
    fixable = sum(1 for d in diagnostics if d.fixable)
    message = (f"{counted(len(diagnostics), 'finding')} "
               f"({fixable} fixable, {len(diagnostics) - fixable} manual)")
    failure = ET.SubElement(case, "failure", {"message": message, "type": "portkit"})
    failure.text = _xml("\n".join(
        f"{d.span.line}:{d.span.column}: {d.rule_id} {_one_line(check_message(d))}" + (" (fixable)" if d.fixable else "")
        for d in diagnostics
    ))


__all__ = ["FORMATS", "JSON_SCHEMA_VERSION", "SARIF_FINGERPRINT", "SARIF_KEPT_RESULTS", "SARIF_MAX_RESULTS",
           "check_message", "fixable_hint", "json_document", "render", "render_github", "render_json", "render_junit",
           "render_sarif", "render_text", "sarif_kept", "sarif_log"]
