"""`portkit check --statistics`: findings counted per rule, as ruff counts them, with `[*]`
for what `portkit migrate` fixes and `[ ]` for what a person ports. A rule with findings of
both kinds (a rename the chosen torch_npu release lacks is manual) gets a row for each."""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from portkit.pipeline.check import CheckRun


@dataclass(frozen=True)
class Row:
    rule: str
    count: int
    fixable: bool
    summary: str


def statistics(run: CheckRun) -> list[Row]:
    """One row per rule and kind, the most frequent first (then by rule id)."""
    from portkit.pipeline.suppressions import META_RULES

    summaries = {**META_RULES, **{rule.id: rule.summary for rule in run.ruleset.rules}}
    counts = Counter((d.rule_id, d.fixable) for d in run.diagnostics)
    rows = [Row(rule, count, fixable, summaries.get(rule, "")) for (rule, fixable), count in counts.items()]
    return sorted(rows, key=lambda row: (-row.count, row.rule, not row.fixable))


def render_statistics_text(rows: list[Row]) -> str:
    """`   12  device-string  [*]  summary` lines; empty when there is nothing to count."""
    if not rows:
        return ""
    count_width = len(str(max(row.count for row in rows)))
    rule_width = max(len(row.rule) for row in rows)
    lines = [f"{row.count:>{count_width}}  {row.rule:<{rule_width}}  {'[*]' if row.fixable else '[ ]'}  {row.summary}"
             for row in rows]
    return "\n".join(lines) + "\n"


def render_statistics_json(rows: list[Row]) -> str:
    """A list of {rule, count, fixable, summary}, like `ruff check --statistics --output-format json`."""
    data = [{"rule": row.rule, "count": row.count, "fixable": row.fixable, "summary": row.summary} for row in rows]
    return json.dumps(data, indent=2, ensure_ascii=False) + "\n"
