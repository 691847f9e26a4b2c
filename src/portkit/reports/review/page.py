"""The review page: one self-contained HTML file that opens from disk. The skeleton, the style
sheet and the script are package data (assets/page.html, review.css, review.js), inlined into
the page and allowed by a Content-Security-Policy of their hashes. Totals and per-rule tables are
plain HTML; the file list, the diffs and the manual items are built by the script from JSON
blocks, one per file, parsed only when the file is expanded."""

from __future__ import annotations

import base64
import functools
import hashlib
import html
import json
import string
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from importlib import resources
from typing import Any

from portkit.model import Change, FileStatus
from portkit.model import Report
from portkit.reports.next_steps import next_steps
from portkit.reports.review.common import (
    SAFETY_ORDER, Sources, _code_parts, _entries, _listed, _not_migrated, _rules_by_count, _steps,
)
from portkit.reports.review.effort import effort_groups
from portkit.reports.review.hunks import _hunks


def _script_json(data: Any) -> str:
    """JSON that is safe inside <script type="application/json">: no `<` (so no `</script>` and
    no `<!--`), no `>` or `&`, and no U+2028/2029, all as \\u escapes JSON.parse reads back."""
    text = json.dumps(data, ensure_ascii=False, separators=(",", ":"))
    return (text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
            .replace("\u2028", "\\u2028").replace("\u2029", "\\u2029"))


def _e(value: object) -> str:
    return html.escape(str(value), quote=True)


def _csp_hash(text: str) -> str:
    return "'sha256-" + base64.b64encode(hashlib.sha256(text.encode("utf-8")).digest()).decode("ascii") + "'"


def _html_data(report: Report, sources: Sources | None) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The page's index (parsed at load) and one detail object per listed file (parsed when the
    file is expanded). Rule ids and messages are interned: entries refer to them by index."""
    listed = _listed(report)
    rule_ids: list[str] = list(report.rules)
    for result in listed:
        for entry in _entries(result):
            if entry.rule_id not in report.rules and entry.rule_id not in rule_ids:
                rule_ids.append(entry.rule_id)
    rule_index = {r: i for i, r in enumerate(rule_ids)}
    safety_index = {s: i for i, s in enumerate(SAFETY_ORDER)}
    messages: dict[str, int] = {}

    def message(text: str) -> int:
        return messages.setdefault(text, len(messages))

    files, details = [], []
    for result in listed:
        entries = _entries(result)
        # [kind (0 change, 1 manual item), rule, safety, line, column, message, (1: a line added above `line`)]
        coded = [[0 if isinstance(e, Change) else 1, rule_index[e.rule_id], safety_index.get(str(e.safety), 2),
                  e.span.line, e.span.column, message(e.message),
                  *([1] if isinstance(e, Change) and e.old_text == "" else [])] for e in entries]
        files.append({
            "p": result.path, "s": str(result.status), "c": len(result.changes), "m": len(result.findings),
            "e": result.error,
            "x": sorted({(c[1], c[2]) for c in coded}),  # (rule, safety) pairs present
            "q": sorted({c[5] for c in coded}),  # messages, for the search box
            "cs": [sum(1 for c in coded if c[0] == 0 and c[2] == s) for s in range(3)],
        })
        hunks = [] if result.status is FileStatus.FAILED else _hunks(result, sources)
        details.append({
            "e": coded,
            "h": [[*h.header(), [[r.kind, r.old, r.new, r.tokens, *([1] if r.split else [])] for r in h.rows],
                   sorted([t, ids] for t, ids in h.notes.items())] for h in hunks],
        })
    # manual items by rule, most effort first; within a rule one to-do per file:
    # [rule, weight, [[file, [[entry, line, message, safety], ...]], ...]]
    groups = [[rule_index[g.rule_id], g.weight,
               [[todo.file, [[ei, m.span.line, message(m.message), safety_index.get(str(m.safety), 2)]
                             for ei, m in todo.items]] for todo in g.todos]]
              for g in effort_groups(report)]
    index = {
        "rules": rule_ids,
        "ruleInfo": [report.rules.get(r, {"kind": "?", "safety": "?", "summary": "(not in this report's rule table)"})
                     for r in rule_ids],
        "safeties": list(SAFETY_ORDER),
        "msgs": list(messages),
        "files": files,
        "groups": groups,
        "pageSize": 50,
    }
    # what the page's "viewed" marks are kept under (localStorage): the same run, rendered again
    # from its JSON report, keeps them; another run starts afresh
    index["key"] = hashlib.sha256(_script_json(index).encode("utf-8")).hexdigest()[:16]
    return index, details


def _totals_html(report: Report) -> str:
    """The totals as one line under the title (the to-do list comes first on the screen)."""
    s = report.summary()
    labels = [
        ("files_scanned", "files scanned"), ("files_changed", "changed"), ("files_unchanged", "unchanged"),
        ("files_failed", "failed"), ("problems", "paths not readable"), ("changes", "changes (converted)"),
        ("manual_items", "manual items (left for a person)"),
    ]
    by_safety = s["changes_by_safety"]
    notes = {"changes": ", ".join(f"{by_safety[k]} {k}" for k in SAFETY_ORDER if by_safety.get(k))}
    out = []
    for key, label in labels:
        warn = " warn" if key in ("files_failed", "problems", "manual_items") and s[key] else ""
        note = f' <span class="sub">({_e(notes[key])})</span>' if notes.get(key) else ""
        out.append(f'<span class="total{warn}" data-total="{key}"><span class="num">{s[key]:,}</span> '
                   f'<span class="lbl">{_e(label)}</span>{note}</span>')
    return f'<p class="totals">{" · ".join(out)}</p>'


def _rules_html(report: Report) -> str:
    """The table by rule, most changes and manual items first."""
    rows = []
    for rule, changed, manual in _rules_by_count(report):
        info = report.rules.get(rule, {})
        safety = info.get("safety", "?")
        summary = info.get("summary", "")
        rows.append(
            f'<tr data-rule="{_e(rule)}"><td><button type="button" class="rulelink" data-rule="{_e(rule)}" '
            f'title="{_e(info.get("kind", "?"))} rule: click to show only its changes and manual items">'
            f'{_e(rule)}</button></td><td><span class="tag s-{_e(safety)}">{_e(safety)}</span></td>'
            f'<td class="num">{changed}</td><td class="num">{manual}</td>'
            f'<td class="sum" title="{_e(summary)}">{_e(summary)}</td></tr>'
        )
    if not rows:
        rows.append('<tr><td colspan="5" class="empty">No rule changed or reported anything.</td></tr>')
    total = (f'<tr class="totalrow"><th>total</th><td></td><td class="num">{len(report.changes)}</td>'
             f'<td class="num">{len(report.findings)}</td><td></td></tr>')
    return ('<table class="stats" id="by-rule"><thead><tr><th>rule</th><th>fix safety</th>'
            '<th class="num">changes</th><th class="num">manual items</th><th>what it does</th></tr></thead>'
            f'<tbody>{"".join(rows)}</tbody><tfoot>{total}</tfoot></table>')


def _safety_html(report: Report) -> str:
    changes = Counter(str(c.safety) for _, c in report.changes)
    manual = Counter(str(m.safety) for _, m in report.findings)
    meaning = {"safe": "same behaviour on NPU; nothing to check",
               "review": "mechanical and usually right; read the diff",
               "manual": "portkit changed nothing; a person must port it"}
    rows = "".join(
        f'<tr data-safety="{s}"><td><span class="tag s-{s}">{s}</span></td><td class="num">{changes.get(s, 0)}</td>'
        f'<td class="num">{manual.get(s, 0)}</td><td class="sum">{meaning[s]}</td></tr>'
        for s in SAFETY_ORDER
    )
    return ('<table class="stats" id="by-safety"><thead><tr><th>fix safety</th><th class="num">changes</th>'
            f'<th class="num">manual items</th><th>meaning</th></tr></thead><tbody>{rows}</tbody></table>')


def _failures_html(report: Report) -> str:
    items = _not_migrated(report)
    if not items:
        return ""
    lis = "".join(f'<li><code>{_e(path)}</code>: {_e(reason)}</li>' for path, reason in items)
    opened = " open" if len(items) <= 3 else ""
    return (f'<details class="failures"{opened}><summary>Not migrated: {len(items)} file(s) left untouched '
            f'(each with the reason)</summary><ul>{lis}</ul></details>')


def _next_steps_html(report: Report, reports: Sequence[str]) -> str:
    """portkit.reports.next_steps's lines, `code` as <code>; and where the reports went."""
    items = "".join("<li>" + "".join(f"<code>{_e(text)}</code>" if code else _e(text) for code, text in
                                     _code_parts(line)) + "</li>" for line in _steps(next_steps(report), reports))
    return f'<ol class="steps">{items}</ol>'


def render_html(report: Report, sources: Sources | None = None, *, reports: Sequence[str] = ()) -> str:
    """The review page. With `sources` (report path -> (original, migrated) text of changed
    files), diffs are full hunks with CONTEXT_LINES of context; without, each change shows its
    own original and migrated lines (what the JSON report holds). `reports`: the names of the
    run's reports, listed in the next steps."""
    index, details = _html_data(report, sources)
    s = report.summary()
    assets = _assets()
    return assets.page.substitute(
        csp=_e(assets.csp), version=_e(report.version), title=_e(_title(s)), css=assets.css,
        meta=_meta(report, s, sources), totals=_totals_html(report), failures=_failures_html(report),
        by_rule=_rules_html(report), by_safety=_safety_html(report), rule_options=_rule_options(index["rules"], s),
        next_steps=_next_steps_html(report, reports),
        safety_boxes=_safety_boxes(), summary_json=_script_json(s), index_json=_script_json(index),
        file_blocks=_file_blocks(details), js=assets.js,
    )


def _title(s: dict[str, Any]) -> str:
    return (f"portkit review: {s['files_changed']} file(s) changed, {s['changes']} change(s), "
            f"{s['manual_items']} manual item(s)")


def _meta(report: Report, s: dict[str, Any], sources: Sources | None) -> str:
    """The line under the title: the command, its target and what the diffs show."""
    return (f"<code>portkit {_e(report.command)}</code> · mode {_e(report.mode)} · target {_e(report.target)} · "
            f"portkit {_e(report.version)} · {s['elapsed_seconds']:.2f} s · diffs "
            + ("with 3 lines of context" if sources is not None else "of the changed lines (from the JSON report)"))


def _rule_options(rules: list[str], s: dict[str, Any]) -> str:
    """The rule filter's options: each rule that changed or reported something, with its count,
    by rule id."""
    counts = Counter(s["changes_by_rule"]) + Counter(s["manual_items_by_rule"])
    return "".join(f'<option value="{_e(r)}">{_e(r)} ({counts[r]})</option>' for r in sorted(rules) if counts[r])


def _file_blocks(details: list[dict[str, Any]]) -> str:
    """One JSON block per listed file, which the script parses when the file is expanded."""
    return "\n".join(f'<script type="application/json" id="portkit-file-{i}">{_script_json(d)}</script>'
                     for i, d in enumerate(details))


def _safety_boxes() -> str:
    return "".join(
        f'<label class="chk"><input type="checkbox" name="safety" value="{i}" checked> '
        f'<span class="tag s-{name}">{name}</span></label>' for i, name in enumerate(SAFETY_ORDER)
    )


@dataclass(frozen=True)
class _Assets:
    page: string.Template  # the skeleton, with ${name} placeholders
    css: str
    js: str
    csp: str  # the Content-Security-Policy: only this style sheet and this script may run


@functools.cache
def _assets() -> _Assets:
    """The page's package data, read once per process."""
    folder = resources.files("portkit.reports.review") / "assets"
    css, js = (folder / "review.css").read_text(encoding="utf-8"), (folder / "review.js").read_text(encoding="utf-8")
    csp = (f"default-src 'none'; script-src {_csp_hash(js)}; style-src {_csp_hash(css)}; img-src data:; "
           "base-uri 'none'; form-action 'none'")
    return _Assets(string.Template((folder / "page.html").read_text(encoding="utf-8")), css, js, csp)
