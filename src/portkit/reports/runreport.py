"""The run report: one model of what a run did, and the formats rendered from it.

Every output (terminal summary, JSON, and the review formats) is a pure function of `Report`,
so their totals cannot disagree. The JSON form is versioned; docs/report-schema.md describes it
and docs/report.schema.json is its JSON Schema.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import click

from portkit import __version__
from portkit.model import Change, FileResult, FileStatus, Finding, Report, RunProblem, Safety, Span, counted

SCHEMA_VERSION = 2  # 2: evidence on items; analyze and trace commands, trace mode, analysis kind


# --- JSON ------------------------------------------------------------------------------------


def _span(span: Span) -> dict[str, int]:
    return {"line": span.line, "column": span.column, "end_line": span.end_line, "end_column": span.end_column}


def to_json_data(report: Report) -> dict[str, Any]:
    """The versioned JSON document. Files with nothing to say (unchanged, no manual items) are
    counted in the summary but not listed, so a 2,000-file run stays small."""
    files = []
    for result in report.files:
        if result.status is FileStatus.UNCHANGED and not result.findings:
            continue
        files.append({
            "path": result.path,
            "status": str(result.status),
            "error": result.error,
            "changes": [
                {"rule": c.rule_id, "message": c.message, "safety": str(c.safety), **_span(c.span),
                 "old_text": c.old_text, "new_text": c.new_text, **_evidence(c.evidence)}
                for c in result.changes
            ],
            "manual_items": [
                {"rule": m.rule_id, "message": m.message, "safety": str(m.safety), **_span(m.span),
                 "line_text": m.line_text, **_evidence(m.evidence)}
                for m in result.findings
            ],
        })
    return {
        "schema_version": SCHEMA_VERSION,
        "tool": {"name": "portkit", "version": report.version},
        "command": report.command,
        "mode": report.mode,
        "target": report.target,
        "strategy": report.strategy,
        **({"torch_npu": report.torch_npu} if report.torch_npu is not None else {}),
        "summary": report.summary(),
        "rules": report.rules,
        "files": files,
        "problems": [{"path": p.path, "reason": p.reason} for p in report.problems],
    }


def _evidence(evidence: str) -> dict[str, str]:
    return {"evidence": evidence} if evidence else {}


def to_json(report: Report) -> str:
    return json.dumps(to_json_data(report), indent=2, ensure_ascii=False) + "\n"


class ReportFormatError(ValueError):
    """A JSON report portkit cannot read back (wrong schema version, missing fields)."""


def from_json_data(data: Any) -> Report:
    """Read a JSON report back (for `portkit report`), checking its schema version."""
    if not isinstance(data, dict) or "schema_version" not in data:
        raise ReportFormatError("not a portkit JSON report (no schema_version)")
    version = data["schema_version"]
    if type(version) is not int or version != SCHEMA_VERSION:  # `true == 1` in Python
        raise ReportFormatError(
            f"report schema version {data['schema_version']!r} is not supported (this portkit reads {SCHEMA_VERSION})"
        )
    try:
        files = tuple(
            FileResult(
                path=f["path"], status=FileStatus(f["status"]), error=f.get("error"),
                changes=tuple(Change(c["rule"], c["message"], Safety(c["safety"]), _read_span(c),
                                     c["old_text"], c["new_text"], c.get("evidence", "")) for c in f["changes"]),
                findings=tuple(Finding(m["rule"], m["message"], Safety(m["safety"]), _read_span(m),
                                       m["line_text"], m.get("evidence", "")) for m in f["manual_items"]),
            )
            for f in data["files"]
        )
        summary = data["summary"]
        unlisted = summary["files_scanned"] - len(files)
        files += tuple(FileResult(f"<unchanged {i}>", FileStatus.UNCHANGED) for i in range(max(0, unlisted)))
        return Report(
            command=data["command"], mode=data["mode"], target=data["target"], files=files,
            problems=tuple(RunProblem(p["path"], p["reason"]) for p in data["problems"]),
            elapsed_seconds=summary["elapsed_seconds"], rules=data["rules"], version=data["tool"]["version"],
            strategy=data.get("strategy", "port"), torch_npu=data.get("torch_npu"),
        )
    except (KeyError, TypeError, ValueError) as error:
        raise ReportFormatError(f"malformed portkit report: {error!r}") from None


def _read_span(item: dict[str, Any]) -> Span:
    return Span(item["line"], item["column"], item["end_line"], item["end_column"])


# --- terminal --------------------------------------------------------------------------------


def _table(rows: Iterable[tuple[str, int]], indent: str = "  ") -> list[str]:
    rows = list(rows)
    if not rows:
        return [f"{indent}(none)"]
    width = max(len(name) for name, _ in rows)
    return [f"{indent}{name.ljust(width)}  {count:>5}" for name, count in rows]


def render_text(report: Report, *, list_manual_items: bool = True) -> str:
    """The terminal summary. Colour is added by click only when the output is a terminal."""
    s = report.summary()
    verb = {"in-place": "changed", "diff": "would change", "output": "changed in the copy",
            "dry-run": "would change"}.get(report.mode, "changed")
    lines = [
        click.style(f"portkit {report.command}", bold=True)
        + f": {counted(s['files_scanned'], 'file')} scanned, {s['files_changed']} {verb}, "
        f"{s['files_unchanged']} unchanged, {s['files_failed']} failed ({s['elapsed_seconds']:.2f} s)",
        "",
        click.style(f"Changes by rule ({s['changes']}):", bold=True),
        *_table(s["changes_by_rule"].items()),
        "",
        click.style(f"Manual items by rule ({s['manual_items']}):", bold=True),
        *_table(s["manual_items_by_rule"].items()),
    ]
    if list_manual_items and report.findings:
        lines += ["", click.style("Left for a person:", bold=True), *_finding_lines(report)]
    lines += _failure_lines(report, "Failed (left untouched):")
    return "\n".join(lines) + "\n"


def render_analysis(report: Report) -> str:
    """The terminal summary of `portkit analyze`: counts by rule, then every finding with its evidence."""
    s = report.summary()
    lines = [click.style("portkit analyze", bold=True)
             + f": {counted(s['files_scanned'], 'file')} analysed for torch_npu {report.torch_npu}, "
               f"{counted(s['manual_items'], 'finding')}, {s['files_failed']} failed "
               f"({s['elapsed_seconds']:.2f} s)"]
    if s["manual_items_by_rule"]:
        lines += ["", click.style("Findings by rule:", bold=True), *_table(s["manual_items_by_rule"].items())]
        lines += ["", click.style("Findings:", bold=True), *_finding_lines(report, evidence=True)]
    lines += _failure_lines(report, "Not analysed:")
    return "\n".join(lines) + "\n"


def _finding_lines(report: Report, *, evidence: bool = False) -> list[str]:
    lines = []
    for result, finding in report.findings:
        where = f"{result.path}:{finding.span.line}:{finding.span.column}"
        rests_on = f" [{finding.evidence}]" if evidence and finding.evidence else ""
        lines.append(f"  {where}: {click.style(finding.rule_id, fg='yellow')}{rests_on} {finding.message}")
    return lines


def _failure_lines(report: Report, title: str) -> list[str]:
    if not (report.failed or report.problems):
        return []
    return ["", click.style(title, bold=True, fg="red"),
            *(f"  {f.path}: {f.error}" for f in report.failed),
            *(f"  {p.path}: {p.reason}" for p in report.problems)]


def render_fixes(report: Report) -> str:
    """`migrate --show-fixes`: what was fixed in each file, counted per rule, as ruff lists
    its fixes (`Would fix` when nothing was written: --diff, --dry-run)."""
    changed = [f for f in report.files if f.changes]
    if not changed:
        return ""
    done = "Fixed" if report.mode in ("in-place", "output") else "Would fix"
    lines = [click.style(f"{done} {counted(len(report.changes), 'change')} in {counted(len(changed), 'file')}:",
                         bold=True)]
    for result in changed:
        by_rule = Counter(change.rule_id for change in result.changes)
        lines.append(f"  {result.path}: " + ", ".join(f"{count} × {rule}" for rule, count in sorted(by_rule.items())))
    return "\n".join(lines) + "\n"
