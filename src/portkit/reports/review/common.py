"""What every review format lists: the files a review shows, each file's entries in order, the
rules that did something, and the files left untouched."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Union

from portkit.model import Change, FileResult, FileStatus, Finding
from portkit.model import Report

Sources = Mapping[str, tuple[str, str]]  # report path -> (original text, migrated text)
Entry = Union[Change, Finding]

SAFETY_ORDER = ("safe", "review", "manual")


def _listed(report: Report) -> list[FileResult]:
    """The files a review shows: as in the JSON report, unchanged files without manual items
    are only counted."""
    return [f for f in report.files if not (f.status is FileStatus.UNCHANGED and not f.findings)]


def _entries(result: FileResult) -> list[Entry]:
    return [*result.changes, *result.findings]


def _rules_used(report: Report) -> list[str]:
    """The rules that changed or reported something: in the rule table's order, then the ones
    the table does not know, sorted."""
    changes, manual = report.changes_by_rule, report.findings_by_rule
    used = [r for r in report.rules if r in changes or r in manual]
    return used + sorted((set(changes) | set(manual)) - set(used))


def _rules_by_count(report: Report) -> list[tuple[str, int, int]]:
    """(rule, changes, manual items) of each rule that did something, as the tables by rule
    list them: most changes and manual items first, then by rule id."""
    changes, manual = report.changes_by_rule, report.findings_by_rule
    rows = [(rule, changes.get(rule, 0), manual.get(rule, 0)) for rule in _rules_used(report)]
    return sorted(rows, key=lambda row: (-(row[1] + row[2]), row[0]))


def _not_migrated(report: Report) -> list[tuple[str, str]]:
    """(path, reason) of each file that failed and each path that could not be read."""
    return [(f.path, f.error or "failed") for f in report.failed] + [(p.path, p.reason) for p in report.problems]


def _merged(spans: Iterable[Sequence[int]], gap: int) -> list[list[int]]:
    """[low, high] spans, given in order of `low`, joined where one starts at most `gap` after
    the previous one ends."""
    out: list[list[int]] = []
    for low, high in spans:
        if out and low <= out[-1][1] + gap:
            out[-1][1] = max(out[-1][1], high)
        else:
            out.append([low, high])
    return out


def _code_parts(line: str) -> list[tuple[bool, str]]:
    """A next-steps line (plain text, `code` in backticks) as (is code, text) parts; a lone
    backtick stays text."""
    parts = re.split(r"`([^`\n]+)`", line)
    return [(k % 2 == 1, part) for k, part in enumerate(parts) if part]


def _steps(next_lines: Sequence[str], reports: Sequence[str]) -> list[str]:
    """The next-steps lines, and where the reports of this run went (when the caller says)."""
    if not reports:
        return list(next_lines)
    names = ", ".join(f"`{name}`" if "`" not in name and "\n" not in name else name for name in reports)
    return [*next_lines, f"Reports of this run: {names}"]
