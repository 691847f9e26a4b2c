"""The pull-request summary: totals, a table by rule, the manual items as a checklist (grouped
by rule, most effort first) and collapsed per-file diffs, capped at `MARKDOWN_LIMIT` characters."""

from __future__ import annotations

import html
import os
import re
from typing import Any
from urllib.parse import quote

from portkit.model import Change, FileResult
from portkit.model import Report
from portkit.reports.review.common import _entries, _not_migrated, _rules_used
from portkit.reports.review.effort import effort_groups
from portkit.reports.review.hunks import _hunks_from_report

MARKDOWN_LIMIT = 60_000  # characters; GitHub refuses pull-request descriptions over 65,536
_TRAILER_ROOM = 400  # the notes saying what was cut always fit


_MD_SPECIAL = re.compile(r"([\\`*_\[\]|~])")


def _md(text: str) -> str:
    """Text safe in Markdown prose and table cells: HTML-escaped (GitHub renders inline HTML)
    and Markdown punctuation backslash-escaped."""
    return _MD_SPECIAL.sub(r"\\\1", html.escape(text, quote=False))


def _fence(body: str) -> str:
    longest = max((len(m) for m in re.findall(r"`+", body)), default=0)
    return "`" * max(3, longest + 1)


def _md_diff(result: FileResult) -> str:
    """The file's changes as a unified diff from the report alone, each hunk header naming the
    rule(s) and reason(s)."""
    entries = _entries(result)
    out: list[str] = []
    for hunk in _hunks_from_report(result):
        ids = [i for ids in hunk.notes.values() for i in ids]
        if not any(isinstance(entries[i], Change) for i in ids):
            continue  # manual items are in the checklist
        old_start, old_len, new_start, new_len = hunk.header()
        why = "; ".join(f"{entries[i].rule_id}: {entries[i].message}" for i in ids if isinstance(entries[i], Change))
        out.append(f"@@ -{old_start},{old_len} +{new_start},{new_len} @@ {why}")
        out += [(" ", "-", "+")[row.kind] + row.text for row in hunk.rows]
    return "\n".join(out)


def _md_where(path: str, line: int) -> str:
    shown = _md(f"{path}:{line}")
    if os.path.isabs(path) or path.startswith("<"):
        return shown
    return f"[{shown}]({quote(path.replace(os.sep, '/'), safe='/')}#L{line})"


def render_markdown(report: Report, *, limit: int = MARKDOWN_LIMIT) -> str:
    """A pull-request description: totals, a table by rule, the manual items as a checklist
    (grouped by rule, most effort first) and collapsed per-file diffs; at most `limit`
    characters, saying what was left out."""
    s = report.summary()
    cuts: list[str] = []
    text = _md_head(report, s)
    text += _md_checklist(report, s["manual_items"], text, limit * 2 // 3, cuts)  # leave room for diffs
    text += _md_diffs(report, text, limit - _TRAILER_ROOM, cuts)
    if cuts:
        text += (f"\n> **Cut to stay under {limit:,} characters:** " + "; ".join(cuts)
                 + ". The HTML or JSON report (`portkit report`) has everything.\n")
    return text


def _md_head(report: Report, s: dict[str, Any]) -> str:
    """The title, the totals (`s`: the report's summary), the table by rule and the files not
    migrated."""
    head = [
        f"## portkit: {s['files_changed']} file(s) changed, {s['changes']} change(s), "
        f"{s['manual_items']} manual item(s)",
        "",
        f"`portkit {report.command}` ({_md(report.mode)}, target {_md(report.target)}, portkit {_md(report.version)}): "
        f"**{s['files_scanned']}** files scanned · **{s['files_changed']}** changed · "
        f"**{s['files_unchanged']}** unchanged · **{s['files_failed']}** failed · **{s['problems']}** problems",
        "",
        "| rule | fix safety | changes | manual items |",
        "|---|---|--:|--:|",
    ]
    changes, manual = report.changes_by_rule, report.findings_by_rule
    for rule in _rules_used(report):
        safety = report.rules.get(rule, {}).get("safety", "?")
        head.append(f"| `{rule}` | {_md(safety)} | {changes.get(rule, 0)} | {manual.get(rule, 0)} |")
    head.append(f"| **total** | | **{s['changes']}** | **{s['manual_items']}** |")
    by_safety = " · ".join(f"{k} {v}" for k, v in s["changes_by_safety"].items()) or "none"
    head += ["", f"Changes by fix safety: {by_safety}."]
    failures = _not_migrated(report)
    if failures:
        head += ["", f"### Not migrated ({len(failures)}, left untouched)", ""]
        head += [f"- {_md(path)}: {_md(reason)}" for path, reason in failures[:50]]
        if len(failures) > 50:
            head.append(f"- … and {len(failures) - 50} more (see the JSON or HTML report)")
    return "\n".join(head) + "\n"


def _md_checklist(report: Report, total: int, text: str, budget: int, cuts: list[str]) -> str:
    """The `total` manual items, by rule, as long as `text` and they stay within `budget`
    characters; what is left out is added to `cuts`."""
    groups = effort_groups(report)
    if not groups:
        return ""
    part = [f"\n### Left for a person ({total})\n"]
    shown = 0
    for group in groups:
        safety = report.rules.get(group.rule_id, {}).get("safety", "manual")
        summary = report.rules.get(group.rule_id, {}).get("summary", "")
        title = (f"\n**`{group.rule_id}`** ({_md(safety)}, {len(group.items)} item(s), effort {group.score})"
                 + (f": {_md(summary)}" if summary else "") + "\n")
        if len(text) + sum(map(len, part)) + len(title) > budget:
            break
        part.append(title)
        for _, _, result, finding in group.items:
            line = f"- [ ] {_md_where(result.path, finding.span.line)} {_md(finding.message)}\n"
            if len(text) + sum(map(len, part)) + len(line) > budget:
                break
            part.append(line)
            shown += 1
    if shown < total:
        cuts.append(f"{total - shown} of {total} manual items are not listed here")
    return "".join(part)


def _md_diffs(report: Report, text: str, room: int, cuts: list[str]) -> str:
    """Each changed file's diff, collapsed, as long as `text` and they stay within `room`
    characters; what is left out is added to `cuts`."""
    changed = [f for f in report.files if f.changes]
    if not changed:
        return ""
    out = "\n### Diffs\n"
    included = 0
    for result in changed:
        body = _md_diff(result)
        fence = _fence(body)
        block = (f"\n<details><summary><code>{html.escape(result.path)}</code>: {len(result.changes)} change(s)"
                 f"{', ' + str(len(result.findings)) + ' manual item(s)' if result.findings else ''}</summary>\n\n"
                 f"{fence}diff\n{body}\n{fence}\n\n</details>\n")
        if len(text) + len(out) + len(block) > room:
            break
        out += block
        included += 1
    if included < len(changed):
        cuts.append(f"the diffs of {len(changed) - included} of {len(changed)} changed files are not shown")
    return out
