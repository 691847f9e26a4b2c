"""The pull-request summary: totals, a table by rule, the manual items as a checklist (grouped
by rule, most effort first, one to-do per rule and file), the next steps and collapsed per-file
diffs, capped at `MARKDOWN_LIMIT` characters."""

from __future__ import annotations

import html
import os
import re
from collections.abc import Sequence
from typing import Any
from urllib.parse import quote

from portkit.model import Change, FileResult
from portkit.model import Report
from portkit.reports.next_steps import next_steps
from portkit.reports.review.common import _code_parts, _entries, _not_migrated, _rules_by_count, _steps
from portkit.reports.review.effort import Todo, effort_groups
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


def _code(text: str) -> str:
    """`text` as a Markdown code span: its fence is longer than any run of backticks inside, and
    padded where CommonMark would otherwise eat a backtick or a space."""
    fence = "`" * (max((len(m) for m in re.findall(r"`+", text)), default=0) + 1)
    pad = " " if text[:1] == "`" or text[-1:] == "`" or (text[:1] == text[-1:] == " " and text.strip()) else ""
    return f"{fence}{pad}{text}{pad}{fence}"


def _file_url(path: str, link_base: str | None) -> str | None:
    """The address of a file under `link_base`; None without one, or for a path outside it."""
    if not link_base or os.path.isabs(path) or path.startswith(("<", "../")) or path == "..":
        return None
    return f"{link_base.rstrip('/')}/{quote(path.replace(os.sep, '/'), safe='/')}"


def _md_where(path: str, line: int | None, link_base: str | None) -> str:
    """`path:line` (or `path`): a link to the line under `link_base` (the address of the
    repository root the report's paths are relative to), else a code span."""
    shown = f"{path}:{line}" if line is not None else path
    url = _file_url(path, link_base)
    if url is not None:
        return f"[{_md(shown)}]({url}{f'#L{line}' if line is not None else ''})"
    return _md(shown) if "\n" in shown or "\r" in shown else _code(shown)


def _md_lines(path: str, lines: Sequence[int], link_base: str | None) -> str:
    """The line numbers, each a link to its line when there is a `link_base`."""
    url = _file_url(path, link_base)
    return ", ".join(str(n) if url is None else f"[{n}]({url}#L{n})" for n in lines)


def _md_todo(todo: Todo, link_base: str | None) -> str:
    """One to-do of the checklist: a file's manual items of one rule, however many lines."""
    path = todo.result.path
    first = todo.items[0][1]
    if len(todo.items) == 1:
        return f"- [ ] {_md_where(path, first.span.line, link_base)} {_md(first.message)}\n"
    lines = list(dict.fromkeys(todo.lines))
    head = (f"- [ ] {_md_where(path, None, link_base)} ({len(todo.items)} items, "
            f"line{'s' if len(lines) > 1 else ''} {_md_lines(path, lines, link_base)})")
    if len({finding.message for _, finding in todo.items}) == 1:
        return f"{head} {_md(first.message)}\n"
    return head + "\n" + "".join(f"  - line {_md_lines(path, [finding.span.line], link_base)}: "
                                 f"{_md(finding.message)}\n" for _, finding in todo.items)


def _md_steps(report: Report, reports: Sequence[str]) -> str:
    """portkit.reports.next_steps's lines as a numbered list, `code` kept as code spans."""
    lines = [f"{n}. " + "".join(_code(text) if code else _md(text) for code, text in _code_parts(line))
             for n, line in enumerate(_steps(next_steps(report), reports), 1)]
    return "\n### Next steps\n\n" + "\n".join(lines) + "\n"


def render_markdown(report: Report, *, limit: int = MARKDOWN_LIMIT, link_base: str | None = None,
                    reports: Sequence[str] = ()) -> str:
    """A pull-request description: totals, a table by rule, the manual items as a checklist
    (grouped by rule, most effort first, one to-do per rule and file), the next steps and
    collapsed per-file diffs; at most `limit` characters, saying what was left out.

    `link_base`: the address the report's paths are relative to (e.g.
    `https://github.com/ORG/REPO/blob/COMMIT`); with it, each to-do links to its lines, without
    it paths are code spans (a relative link in a pull-request description leads nowhere).
    `reports`: the names of the run's reports, listed in the next steps."""
    s = report.summary()
    cuts: list[str] = []
    text = _md_head(report, s)
    steps = _md_steps(report, reports)
    text += _md_checklist(report, s["manual_items"], text, limit * 2 // 3 - len(steps), cuts, link_base)
    text += steps
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
    for rule, changed, manual in _rules_by_count(report):
        safety = report.rules.get(rule, {}).get("safety", "?")
        head.append(f"| `{rule}` | {_md(safety)} | {changed} | {manual} |")
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


def _md_checklist(report: Report, total: int, text: str, budget: int, cuts: list[str],
                  link_base: str | None) -> str:
    """The `total` manual items, by rule, one to-do per rule and file, as long as `text` and they
    stay within `budget` characters; what is left out is added to `cuts`."""
    groups = effort_groups(report)
    if not groups:
        return ""
    part = [f"\n### Left for a person ({total})\n"]
    used = len(text) + len(part[0])
    shown = 0
    for group in groups:
        safety = report.rules.get(group.rule_id, {}).get("safety", "manual")
        summary = report.rules.get(group.rule_id, {}).get("summary", "")
        todos = group.todos
        title = (f"\n**`{group.rule_id}`** ({_md(safety)}, {len(group.items)} item(s) in {len(todos)} file(s), "
                 f"effort {group.score})" + (f": {_md(summary)}" if summary else "") + "\n")
        if used + len(title) > budget:
            break
        part.append(title)
        used += len(title)
        for todo in todos:
            line = _md_todo(todo, link_base)
            if used + len(line) > budget:
                break
            part.append(line)
            used += len(line)
            shown += len(todo.items)
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
