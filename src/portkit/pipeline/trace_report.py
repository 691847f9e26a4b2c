"""A trace reported like portkit's other runs: a `Report` (command "trace"; --report run.json,
review.html, pr.md, csv/), a `CheckRun` for check's output formats (-o json, sarif, github, junit),
and the operator inventory (--ops FILE).

Every finding points at the program's line (path relative to the folder the program ran in when it
is below it) with the line's text, carries evidence "cpu-trace", and ends with its rule's advice
from rules/analysis.toml. `# portkit: ignore[rule-id]` on the line silences it, as in `check`.
"""

from __future__ import annotations

import os
import tokenize
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

from portkit.model import FileResult, FileStatus, Finding, Report, RunProblem, Safety, Span
from portkit.pipeline.check import CheckRun, Diagnostic, FileError, Level
from portkit.pipeline.migrate import rules_table
from portkit.pipeline.suppressions import Suppression, find_suppressions
from portkit.pipeline.trace import OperatorFacts, TraceRun
from portkit.pipeline.trace_findings import EVIDENCE, RULES, coverage_status, judge
from portkit.ruleset import RuleSet, load_rules
from portkit.ruleset.operators import OperatorTable


def trace_rules() -> RuleSet:
    """The rules `portkit trace` reports, from rules/analysis.toml: their advice and documentation."""
    return RuleSet(tuple(rule for rule in load_rules(target=None).rules if rule.id in RULES))


@dataclass(frozen=True)
class _Source:
    """A file of the program as the report shows it: its lines and its suppression comments."""

    path: Path

    @cached_property
    def lines(self) -> list[str]:
        try:
            with tokenize.open(self.path) as stream:  # honours a PEP 263 coding cookie
                return stream.read().splitlines()
        except (OSError, SyntaxError, UnicodeDecodeError):
            return []

    @cached_property
    def suppressions(self) -> list[Suppression]:
        return find_suppressions("\n".join(self.lines) + "\n")

    def span(self, line: int) -> tuple[Span, str]:
        text = self.lines[line - 1] if 0 < line <= len(self.lines) else ""
        start = len(text) - len(text.lstrip()) + 1
        return Span(line, start, line, max(start, len(text) + 1)), text

    def silenced(self, line: int, rule_id: str) -> bool:
        return any(s.covers(line, rule_id) for s in self.suppressions)


def display_path(file: str, cwd: Path) -> str:
    """Relative to the folder the program ran in when the file is below it, else absolute."""
    root = str(cwd)
    return os.path.relpath(file, root) if file.startswith(root.rstrip(os.sep) + os.sep) else file


def entry_file(run: TraceRun) -> str:
    """Where a call without a line of the program on the stack is reported: the program's script."""
    script = run.program.script or run.program.module or "<program>"
    return os.path.join(str(run.cwd), script) if run.program.script else script


def build_report(run: TraceRun, table: OperatorTable, rules: RuleSet) -> Report:
    """The run as a `Report`: one file per program file that reached an operator, its findings as manual items."""
    advice = {rule.id: getattr(rule.spec, "message", "") for rule in rules.rules}
    sources: dict[str, _Source] = {}
    findings: dict[str, list[Finding]] = {}
    for file in sorted({r.file for r in run.records if r.file is not None}):
        findings[file] = []
    for found in judge(run, table):
        file = found.file or entry_file(run)
        source = sources.setdefault(file, _Source(Path(file)))
        line = found.line if found.file is not None else 1
        if source.silenced(line, found.rule_id):
            continue
        span, text = source.span(line)
        findings.setdefault(file, []).append(Finding(found.rule_id, found.message(advice.get(found.rule_id, "")),
                                                     Safety.MANUAL, span, text, EVIDENCE))
    files = tuple(FileResult(display_path(file, run.cwd), FileStatus.UNCHANGED, findings=tuple(items))
                  for file, items in sorted(findings.items()))
    return Report(command="trace", mode="trace", target="npu", files=files, problems=_problems(run),
                  elapsed_seconds=run.seconds, rules=rules_table(rules), torch_npu=table.npu_version)


def _problems(run: TraceRun) -> tuple[RunProblem, ...]:
    if run.completed:
        return ()
    code = f" (exit code {run.exit_code})" if run.exit_code is not None else ""
    return (RunProblem(run.program.shown, f"the program did not run to the end{code}: {run.error or 'no reason'}"),)


def check_run(report: Report, rules: RuleSet) -> CheckRun:
    """The report as `portkit check -o json|sarif|github|junit` renders runs: every finding is manual,
    a program that failed is an error (as a file that could not be read is for check)."""
    diagnostics = tuple(Diagnostic(result.path, finding.span, finding.rule_id, finding.message, Level.MANUAL,
                                   finding.safety, finding.line_text) for result, finding in report.findings)
    errors = tuple(FileError(problem.path, problem.reason) for problem in report.problems)
    return CheckRun(diagnostics, errors, len(report.files), 0, report.elapsed_seconds, rules)


def inventory(run: TraceRun, table: OperatorTable) -> dict[str, Any]:
    """Every distinct operator the program ran: its status on the NPU, dtypes, calls and the lines
    that reached it (the --ops file)."""
    operators: dict[str, dict[str, Any]] = {}
    for record in sorted(run.records, key=lambda r: (r.op, r.file or "", r.line)):
        facts = run.operators.get(record.op, OperatorFacts("operator"))
        entry = operators.setdefault(record.op, {"op": record.op, "npu": coverage_status(record.op, facts, table),
                                                 "tags": sorted(facts.tags), "dtypes": set(), "calls": 0,
                                                 "host_calls": 0, "sites": {}})
        entry["dtypes"].update((*record.inputs, *record.zero_dim_inputs, *record.outputs))
        entry["calls"] += record.count
        entry["host_calls"] += 0 if record.device else record.count
        where = f"{display_path(record.file, run.cwd)}:{record.line}" if record.file else "(no line of the program)"
        entry["sites"][where] = entry["sites"].get(where, 0) + record.count
    return {
        "torch": run.torch_version, "torch_npu": table.npu_version, "program": run.program.shown,
        "status": run.status, "optimizer_steps": run.steps,
        "operators": [{**entry, "dtypes": sorted(entry["dtypes"]),
                       "sites": [{"site": site, "calls": calls} for site, calls in entry["sites"].items()]}
                      for entry in operators.values()],
    }


__all__ = ["build_report", "check_run", "display_path", "entry_file", "inventory", "trace_rules"]
