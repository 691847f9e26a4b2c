"""Review formats: one self-contained HTML page, a pull-request Markdown summary, and
msFmkTransplt-style CSV files. Each is a pure function of the one `Report` model (plus, for the
HTML, the original and migrated text of changed files when the caller has them), so their
totals are the JSON report's totals. docs/reports.md describes the formats.

- `render_html(report, sources=None)`: the whole review in one file that opens from disk: no
  network, inline CSS and JS. Totals and per-rule tables are plain HTML; the file list, the
  diffs and the manual-item list are built by the page's script from JSON embedded in
  `<script type="application/json">` blocks, one block per file, parsed only when that file is
  expanded, so a 2,000-file run opens at once.
- `render_markdown(report)`: totals, a table by rule, the manual items as a checklist and
  collapsed per-file diffs, capped at `MARKDOWN_LIMIT` characters.
- `write_csv_dir(report, directory)`: msFmkTransplt's six CSV files (`CSV_FILES`), manual
  items routed by `CSV_ROUTES`.
"""

from __future__ import annotations

import base64
import bisect
import builtins
import csv
import difflib
import hashlib
import html
import io
import json
import keyword
import os
import re
import tokenize
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Union
from urllib.parse import quote

from portkit.model import Change, FileResult, FileStatus, Finding
from portkit.model import Report
from portkit.pipeline.sourcefile import atomic_write

__all__ = [
    "CHANGE_COLUMNS", "ADVICE_COLUMNS", "CSV_FILES", "CSV_ROUTES", "EFFORT_WEIGHTS", "MARKDOWN_LIMIT",
    "csv_file_for", "effort_groups", "highlight", "render_html", "render_markdown", "report_format",
    "write_csv_dir",
]

Sources = Mapping[str, tuple[str, str]]  # report path -> (original text, migrated text)
Token = Union[str, list[str]]  # plain text, or [css class, text]

SAFETY_ORDER = ("safe", "review", "manual")
CONTEXT_LINES = 3


# --- which format a --report / -o target asks for ----------------------------------------------


def report_format(target: str) -> str | None:
    """`json`, `html`, `md` or `csv` (a folder: the target ends with a path separator or is an
    existing directory); None when the name says nothing portkit knows."""
    if target.endswith(("/", os.sep)) or os.path.isdir(target):
        return "csv"
    suffix = os.path.splitext(target)[1].lower()
    return {".json": "json", ".html": "html", ".htm": "html", ".md": "md", ".markdown": "md"}.get(suffix)


# --- effort: the order in which manual items are listed ----------------------------------------

# Rough person-effort of one manual item of a rule, in points: 1 = delete or flip a line,
# 2 = replace a call, 3 = rework a component, 5 = replace a third-party library, 8 = port
# kernels. Rules not listed (user rules) weigh DEFAULT_EFFORT.
EFFORT_WEIGHTS: dict[str, int] = {
    "cuda-extension": 8,
    "cuda-op": 8,
    "triton": 8,
    "flash-attn": 5,
    "xformers": 5,
    "bitsandbytes": 5,
    "apex": 3,
    "cupy-pynvml": 3,
    "cuda-dependency": 3,
    "data-parallel": 3,
    "torch-compile": 3,
    "shim-jit-script": 3,
    "cuda-profiler": 2,
    "cuda-op-call": 2,
    "cuda-tools": 2,
    "cuda-only-api": 2,
    "cuda-api-unknown": 2,
    "device-capability": 2,
    "cudnn-flags": 1,
    "env-var": 1,
    "torch-pin": 1,
    "nvidia-smi": 1,
    "shim-device-comparison": 1,
    "shim-backend-comparison": 1,
    "shim-env-var": 1,
    "shim-load-path": 1,
    "accelerator-backend-comparison": 1,
    "accelerator-is-cuda": 1,
    "accelerator-typed-tensor": 2,
    "accelerator-tf32": 1,
    "accelerator-env-var": 1,
}
DEFAULT_EFFORT = 2


@dataclass(frozen=True)
class EffortGroup:
    rule_id: str
    weight: int
    items: tuple[tuple[int, int, FileResult, Finding], ...]  # (file index, entry index, file, item)

    @property
    def score(self) -> int:
        return self.weight * len(self.items)


def _safety_rank(value: str) -> int:
    """manual first: lower safety means more for a person to do."""
    return {"manual": 0, "review": 1, "safe": 2}.get(value, 0)


def effort_groups(report: Report) -> list[EffortGroup]:
    """Manual items grouped by rule, most effort first: by score (weight × items), then the
    lower fix safety, then rule id. Within a group, items keep report order (path, line)."""
    listed = _listed(report)
    by_rule: dict[str, list[tuple[int, int, FileResult, Finding]]] = {}
    for index, result in enumerate(listed):
        for k, finding in enumerate(result.findings):
            by_rule.setdefault(finding.rule_id, []).append((index, len(result.changes) + k, result, finding))
    groups = [EffortGroup(rule, EFFORT_WEIGHTS.get(rule, DEFAULT_EFFORT), tuple(items))
              for rule, items in by_rule.items()]

    def order(group: EffortGroup) -> tuple[int, int, str]:
        safety = report.rules.get(group.rule_id, {}).get("safety") or str(group.items[0][3].safety)
        return (-group.score, _safety_rank(safety), group.rule_id)

    return sorted(groups, key=order)


def _listed(report: Report) -> list[FileResult]:
    """The files a review shows: as in the JSON report, unchanged files without manual items
    are only counted."""
    return [f for f in report.files if not (f.status is FileStatus.UNCHANGED and not f.findings)]


# --- syntax highlighting (stdlib tokenize) -----------------------------------------------------

_KEYWORDS = frozenset(keyword.kwlist)
_BUILTINS = frozenset(name for name in dir(builtins) if not name.startswith("_"))
_STRING_TOKENS = frozenset(
    getattr(tokenize, name) for name in ("STRING", "FSTRING_START", "FSTRING_MIDDLE", "FSTRING_END")
    if hasattr(tokenize, name)
)


_NAME, _OP, _NUMBER, _COMMENT = tokenize.NAME, tokenize.OP, tokenize.NUMBER, tokenize.COMMENT
_LAYOUT = frozenset((tokenize.NL, tokenize.NEWLINE, tokenize.COMMENT, tokenize.INDENT, tokenize.DEDENT))


def _styled_ranges(text: str) -> list[tuple[int, int, str]]:
    """(start, end, css class) character ranges of `text`, from the stdlib tokenizer. Snippets
    that do not tokenize as a whole (an unclosed bracket, a dedent the snippet does not explain)
    are tokenized again from the line after the last good token; what still fails stays plain."""
    ranges: list[tuple[int, int, str]] = []
    offset = 0
    while offset < len(text):
        physical = io.StringIO(text[offset:], newline="").readlines()  # \n, \r\n and \r, as tokenize
        starts = [offset]
        for line in physical:
            starts.append(starts[-1] + len(line))
        last_row = 0
        previous = ""
        try:
            for kind, string, (row, col), (end_row, end_col), line in tokenize.generate_tokens(iter(physical).__next__):
                if kind == _NAME:
                    css = ("k" if string in _KEYWORDS else "f" if previous in ("def", "class")
                           else "b" if string in _BUILTINS else "")
                elif kind in _STRING_TOKENS:
                    css = "s"
                elif kind == _COMMENT:
                    css = "c"
                elif kind == _NUMBER:
                    css = "n"
                elif kind == _OP and string == "@" and not line[:col].strip():
                    css = "d"
                else:
                    css = ""
                if css:
                    ranges.append((starts[row - 1] + col, starts[end_row - 1] + end_col, css))
                if kind not in _LAYOUT:
                    previous = string
                last_row = end_row
        except (tokenize.TokenError, SyntaxError, StopIteration):
            # start again at the line after the last complete token (at least one line on)
            restart = starts[min(max(last_row, 1), len(physical))]
            ranges = [r for r in ranges if r[1] <= restart]
            if restart <= offset:
                restart = starts[1] if len(starts) > 1 else len(text)
            offset = restart
            continue
        break
    return ranges


def highlight(text: str) -> list[list[Token]]:
    """One token list per line of `text` (as str.splitlines() splits it, like the engine's line
    numbers): plain strings and [class, text] pairs. Classes: k keyword, s string, c comment,
    n number, b builtin, f name after def/class, d decorator @. Text is never altered: joining
    a line's tokens gives the line back."""
    ranges = _styled_ranges(text)
    out: list[list[Token]] = []
    position = 0
    r = 0
    count = len(ranges)
    for physical in text.splitlines(keepends=True):
        content = physical.rstrip("\r\n\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029")
        start, end = position, position + len(content)
        position += len(physical)
        while r < count and ranges[r][1] <= start:
            r += 1
        if r == count or ranges[r][0] >= end:
            out.append([content] if content else [])
            continue
        line: list[Token] = []
        cursor = start
        k = r
        while k < count and ranges[k][0] < end:
            a, b, css = ranges[k]
            a, b = max(a, start), min(b, end)
            if a > cursor:
                _plain(line, text[cursor:a])
            if b > a:
                if a == cursor and line and isinstance(line[-1], list) and line[-1][0] == css:
                    line[-1][1] += text[a:b]  # f-string parts (Python 3.12+) are one string
                else:
                    line.append([css, text[a:b]])
            cursor = max(cursor, b)
            if ranges[k][1] > end:
                break  # continues on the next line (a multi-line string)
            k += 1
        r = k
        if cursor < end:
            _plain(line, text[cursor:end])
        out.append(line)
    return out


def _no_highlight(text: str) -> list[list[Token]]:
    return [[line] if line else [] for line in text.splitlines()]


def _highlighter(path: str) -> Callable[[str], list[list[Token]]]:
    """Python files are highlighted; other files portkit reports on (requirements, shell
    scripts, CUDA sources) are shown plain rather than wrongly coloured."""
    return highlight if path.lower().endswith((".py", ".pyi", ".pyw")) else _no_highlight


def _plain(line: list[Token], text: str) -> None:
    if line and isinstance(line[-1], str):
        line[-1] += text
    else:
        line.append(text)


# --- hunks: what a diff shows ------------------------------------------------------------------

CTX, DEL, ADD = 0, 1, 2


@dataclass
class _Row:
    kind: int
    old: int | None  # line number in the original
    new: int | None  # line number in the migrated text
    text: str
    tokens: list[Token]


@dataclass
class _Hunk:
    rows: list[_Row]
    notes: dict[int, list[int]]  # row index -> entry indices shown after that row
    old_after: int = 0  # for a side with no lines: the line it follows (as `diff -u` writes it)
    new_after: int = 0

    def header(self) -> tuple[int, int, int, int]:
        olds = [r.old for r in self.rows if r.old is not None]
        news = [r.new for r in self.rows if r.new is not None]
        return olds[0] if olds else self.old_after, len(olds), news[0] if news else self.new_after, len(news)


Entry = Union[Change, Finding]


def _entries(result: FileResult) -> list[Entry]:
    return [*result.changes, *result.findings]


def _block_ends(rows: Sequence[_Row]) -> list[int]:
    """For each row, the last row of the run of changed rows it belongs to (itself for context)."""
    ends = list(range(len(rows)))
    i = len(rows) - 1
    while i >= 0:
        if rows[i].kind != CTX:
            j = i
            while j >= 0 and rows[j].kind != CTX:
                ends[j] = i
                j -= 1
            i = j
        else:
            i -= 1
    return ends


def _attach(rows: Sequence[_Row], entries: Sequence[Entry]) -> dict[int, list[int]]:
    """Where each entry's note goes: after the run of changed lines it explains, or after the
    line a manual item is on."""
    if not rows:
        return {}
    ends = _block_ends(rows)
    with_old = [i for i, row in enumerate(rows) if row.old is not None]  # original lines ascend
    old_numbers = [rows[i].old or 0 for i in with_old]
    row_of = dict(zip(old_numbers, with_old))

    def position(line: int) -> int:  # the first row at or after original line `line`
        k = bisect.bisect_left(old_numbers, line)
        return with_old[k] if k < len(with_old) else len(rows)

    notes: dict[int, list[int]] = {}
    for index, entry in enumerate(entries):
        line = entry.span.line
        target: int | None = None
        if isinstance(entry, Change) and entry.old_text == "":  # an inserted line: the new
            p = position(line)  # line(s) just before the original statement at `line`
            if p > 0 and rows[p - 1].kind == ADD:
                target = ends[p - 1]
        elif isinstance(entry, Change):
            last = max(entry.span.end_line, line)
            hits = [row_of[n] for n in range(line, last + 1) if n in row_of and rows[row_of[n]].kind == DEL]
            if hits:
                target = ends[hits[-1]]
        if target is None:
            p = min(position(line), len(rows) - 1)
            target = ends[p]
        notes.setdefault(target, []).append(index)
    return notes


def _line_opcodes(old: Sequence[str], new: Sequence[str]) -> list[tuple[str, int, int, int, int]]:
    """difflib's opcodes, quicker: the common head and tail are matched before difflib runs, and
    difflib's "popular line" heuristic (autojunk) is on, since ported files differ in few lines."""
    head = 0
    limit = min(len(old), len(new))
    while head < limit and old[head] == new[head]:
        head += 1
    tail = 0
    while tail < limit - head and old[len(old) - 1 - tail] == new[len(new) - 1 - tail]:
        tail += 1
    ops: list[tuple[str, int, int, int, int]] = [("equal", 0, head, 0, head)] if head else []
    middle = difflib.SequenceMatcher(None, old[head:len(old) - tail], new[head:len(new) - tail])
    ops += [(tag, i1 + head, i2 + head, j1 + head, j2 + head) for tag, i1, i2, j1, j2 in middle.get_opcodes()
            if i2 > i1 or j2 > j1]
    if tail:
        ops.append(("equal", len(old) - tail, len(old), len(new) - tail, len(new)))
    return ops


def _hunks_from_sources(result: FileResult, old: str, new: str) -> list[_Hunk]:
    """Full hunks: `CONTEXT_LINES` of context around every change and manual item. Only the
    lines shown are highlighted (tokenizing whole files would cost more than the rest)."""
    old_lines, new_lines = old.splitlines(), new.splitlines()
    rows: list[_Row] = []
    for tag, i1, i2, j1, j2 in _line_opcodes(old_lines, new_lines):
        if tag == "equal":
            rows += [_Row(CTX, i + 1, j1 + (i - i1) + 1, old_lines[i], []) for i in range(i1, i2)]
        else:
            rows += [_Row(DEL, i + 1, None, old_lines[i], []) for i in range(i1, i2)]
            rows += [_Row(ADD, None, j + 1, new_lines[j], []) for j in range(j1, j2)]
    notes = _attach(rows, _entries(result))
    wanted = sorted({i for i, row in enumerate(rows) if row.kind != CTX} | set(notes))
    windows: list[list[int]] = []
    for i in wanted:
        low, high = max(0, i - CONTEXT_LINES), min(len(rows), i + CONTEXT_LINES + 1)
        if windows and low <= windows[-1][1]:
            windows[-1][1] = max(windows[-1][1], high)
        else:
            windows.append([low, high])
    shown = [row for low, high in windows for row in rows[low:high]]
    paint = _highlighter(result.path)
    old_tokens = _highlight_lines(old, old_lines, {r.old for r in shown if r.kind != ADD and r.old is not None}, paint)
    new_tokens = _highlight_lines(new, new_lines, {r.new for r in shown if r.kind == ADD and r.new is not None}, paint)
    for row in shown:
        number = (row.new if row.kind == ADD else row.old) or 0
        row.tokens = (new_tokens if row.kind == ADD else old_tokens).get(number) or [row.text]
    hunks = []
    old_after = new_after = 0
    previous = 0
    for low, high in windows:
        for row in rows[previous:low]:
            old_after = row.old if row.old is not None else old_after
            new_after = row.new if row.new is not None else new_after
        previous = low
        hunks.append(_Hunk(rows[low:high], {i - low: ids for i, ids in notes.items() if low <= i < high},
                           old_after, new_after))
    return hunks


# string literals, so that highlighting a few lines of a file can start and end outside them
_QUOTE_OR_HASH = re.compile(r"[#'\"]")
_LINE_END = re.compile(r"[\r\n]")
_STRING_AT = {
    "'" * 3: re.compile(r"'{3}(?:\\.|[^\\])*?'{3}", re.DOTALL),
    '"' * 3: re.compile(r'"{3}(?:\\.|[^\\])*?"{3}', re.DOTALL),
    "'": re.compile(r"'(?:\\.|[^'\\\r\n])*'?", re.DOTALL),
    '"': re.compile(r'"(?:\\.|[^"\\\r\n])*"?', re.DOTALL),
}


def _multiline_strings(text: str) -> list[tuple[int, int]]:
    """(first, last) line numbers of the string literals that span lines (a quick scan from
    quote to quote, so that highlighting a few lines can start and end outside them)."""
    starts, position = [], 0
    for physical in text.splitlines(keepends=True):
        starts.append(position)
        position += len(physical)
    spans = []
    i = 0
    while True:
        found = _QUOTE_OR_HASH.search(text, i)
        if found is None:
            break
        j = found.start()
        if text[j] == "#":
            end = _LINE_END.search(text, j)
            i = end.start() if end else len(text)
            continue
        quote = text[j] * 3 if text.startswith(text[j] * 3, j) else text[j]
        literal = _STRING_AT[quote].match(text, j)
        i = literal.end() if literal else len(text)  # an unterminated triple quote: to the end
        first, last = bisect.bisect_right(starts, j), bisect.bisect_right(starts, max(i - 1, j))
        if last > first:
            spans.append((first, last))
    return spans


def _highlight_lines(text: str, lines: Sequence[str], wanted: set[int],
                     paint: Callable[[str], list[list[Token]]] = highlight) -> dict[int, list[Token]]:
    """Tokens of the `wanted` lines (1-based) of `text`: each run of wanted lines is tokenized
    on its own, widened to whole string literals so a docstring is still a string."""
    if not wanted:
        return {}
    spans = _multiline_strings(text)
    runs: list[list[int]] = []
    for n in sorted(wanted):
        if runs and n <= runs[-1][1] + 1:
            runs[-1][1] = n
        else:
            runs.append([n, n])
    for run in runs:
        changed = True
        while changed:
            changed = False
            for first, last in spans:
                if first < run[0] <= last:
                    run[0], changed = first, True
                if first <= run[1] < last:
                    run[1], changed = last, True
    runs.sort()
    merged: list[list[int]] = []
    for run in runs:
        if merged and run[0] <= merged[-1][1] + 1:
            merged[-1][1] = max(merged[-1][1], run[1])
        else:
            merged.append(run)
    out: dict[int, list[Token]] = {}
    for first, last in merged:
        chunk = lines[first - 1:last]
        tokens = paint("\n".join(chunk))
        for k, line in enumerate(chunk):
            if first + k in wanted:
                out[first + k] = _at(tokens, k, line)
    return out


@dataclass
class _Group:
    start: int  # first original line
    end: int  # last original line (start - 1 for an insertion)
    old: dict[int, str]
    new: list[str]
    entries: list[int]
    insert: bool = False


def _hunks_from_report(result: FileResult) -> list[_Hunk]:
    """Hunks from the report alone: each change's original and migrated line(s) (`old_text`,
    `new_text`), changes on the same lines shown once, and each manual item's line; groups on
    adjacent lines form one hunk. Migrated line numbers are the original ones shifted by the
    lines added or removed above."""
    entries = _entries(result)
    paint = _highlighter(result.path)
    groups: list[_Group] = []
    modify: list[_Group] = []
    for index, entry in enumerate(entries):
        if not isinstance(entry, Change):
            continue
        if entry.old_text == "":
            groups.append(_Group(entry.span.line, entry.span.line - 1, {}, entry.new_text.split("\n"), [index], True))
            continue
        old_lines = entry.old_text.split("\n")
        start = entry.span.line
        end = start + len(old_lines) - 1
        new_lines = entry.new_text.split("\n") if entry.new_text != "" else []
        for group in modify:
            if start <= group.end and group.start <= end:  # the same line(s): show them once
                for offset, text in enumerate(old_lines):
                    group.old.setdefault(start + offset, text)
                if end - start > group.end - group.start:
                    group.new = new_lines
                elif start < group.start or end > group.end:  # partial overlap: keep both
                    group.new = group.new + new_lines
                group.start, group.end = min(group.start, start), max(group.end, end)
                group.entries.append(index)
                break
        else:
            group = _Group(start, end, {start + k: t for k, t in enumerate(old_lines)}, new_lines, [index])
            modify.append(group)
            groups.append(group)
    manual_lines: dict[int, _Group] = {}
    for index, entry in enumerate(entries):
        if isinstance(entry, Change):
            continue
        line = entry.span.line
        owner = next((g for g in modify if g.start <= line <= g.end), None) or manual_lines.get(line)
        if owner is not None:
            owner.entries.append(index)
        else:
            manual_lines[line] = _Group(line, line, {line: entry.line_text}, [entry.line_text], [index])
            groups.append(manual_lines[line])
    groups.sort(key=lambda g: (g.start, not g.insert, g.end))

    hunks: list[_Hunk] = []
    shift = 0
    previous_end: int | None = None
    for group in groups:
        old_lines = [group.old.get(n, "") for n in range(group.start, group.end + 1)]
        rows: list[_Row] = []
        if group.insert:
            tokens = paint("\n".join(group.new))
            rows = [_Row(ADD, None, group.start + shift + k, t, tokens[k] if k < len(tokens) else [t])
                    for k, t in enumerate(group.new)]
        elif not any(isinstance(entries[i], Change) for i in group.entries):  # a manual item's line
            tokens = paint(old_lines[0])
            rows = [_Row(CTX, group.start, group.start + shift, old_lines[0], tokens[0] if tokens else [old_lines[0]])]
        else:
            old_tokens, new_tokens = paint("\n".join(old_lines)), paint("\n".join(group.new))
            matcher = difflib.SequenceMatcher(None, old_lines, group.new, autojunk=False)
            for tag, i1, i2, j1, j2 in matcher.get_opcodes():
                if tag == "equal":
                    rows += [_Row(CTX, group.start + i, group.start + shift + j1 + (i - i1), old_lines[i],
                                  _at(old_tokens, i, old_lines[i])) for i in range(i1, i2)]
                else:
                    rows += [_Row(DEL, group.start + i, None, old_lines[i], _at(old_tokens, i, old_lines[i]))
                             for i in range(i1, i2)]
                    rows += [_Row(ADD, None, group.start + shift + j, group.new[j], _at(new_tokens, j, group.new[j]))
                             for j in range(j1, j2)]
        shift_before = shift
        shift += sum(r.kind == ADD for r in rows) - sum(r.kind == DEL for r in rows)
        chosen = [entries[i] for i in group.entries]
        notes = {t: [group.entries[k] for k in ks] for t, ks in _attach(rows, chosen).items()}
        contiguous = previous_end is not None and group.start <= previous_end + 1
        if hunks and contiguous:
            base = len(hunks[-1].rows)
            hunks[-1].rows += rows
            for t, ids in notes.items():
                hunks[-1].notes.setdefault(base + t, []).extend(ids)
        else:
            hunks.append(_Hunk(rows, notes, group.start - 1, group.start - 1 + shift_before))
        previous_end = max(group.end, previous_end or 0)
    return hunks


def _at(tokens: list[list[Token]], index: int, text: str) -> list[Token]:
    return tokens[index] if index < len(tokens) else [text]


def _hunks(result: FileResult, sources: Sources | None) -> list[_Hunk]:
    pair = sources.get(result.path) if sources is not None and result.status is not FileStatus.FAILED else None
    if pair is not None:
        return _hunks_from_sources(result, pair[0], pair[1])
    return _hunks_from_report(result)


# --- HTML --------------------------------------------------------------------------------------


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
        coded = [[0 if isinstance(e, Change) else 1, rule_index[e.rule_id], safety_index.get(str(e.safety), 2),
                  e.span.line, e.span.column, message(e.message)] for e in entries]
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
            "h": [[*h.header(), [[r.kind, r.old, r.new, r.tokens] for r in h.rows],
                   sorted([t, ids] for t, ids in h.notes.items())] for h in hunks],
        })
    groups = [[rule_index[g.rule_id], g.weight,
               [[i, ei, m.span.line, message(m.message), safety_index.get(str(m.safety), 2)]
                for i, ei, _, m in g.items]]
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
    return index, details


def _totals_html(report: Report) -> str:
    s = report.summary()
    cards = [
        ("files_scanned", "files scanned"), ("files_changed", "files changed"),
        ("files_unchanged", "files unchanged"), ("files_failed", "files failed"),
        ("problems", "paths not readable"), ("changes", "changes (converted)"),
        ("manual_items", "manual items (left for a person)"),
    ]
    by_safety = s["changes_by_safety"]
    notes = {"changes": " · ".join(f"{by_safety[k]} {k}" for k in SAFETY_ORDER if by_safety.get(k))}
    out = ['<div class="totals">']
    for key, label in cards:
        warn = " warn" if key in ("files_failed", "problems", "manual_items") and s[key] else ""
        note = f'<span class="sub">{_e(notes[key])}</span>' if notes.get(key) else ""
        out.append(f'<div class="total{warn}" data-total="{key}"><span class="num">{s[key]:,}</span>'
                   f'<span class="lbl">{_e(label)}</span>{note}</div>')
    out.append("</div>")
    return "".join(out)


def _rules_html(report: Report) -> str:
    changes, manual = report.changes_by_rule, report.findings_by_rule
    used = [r for r in report.rules if r in changes or r in manual]
    used += sorted((set(changes) | set(manual)) - set(used))
    rows = []
    for rule in used:
        info = report.rules.get(rule, {})
        safety = info.get("safety", "?")
        summary = info.get("summary", "")
        rows.append(
            f'<tr data-rule="{_e(rule)}"><td><button type="button" class="rulelink" data-rule="{_e(rule)}" '
            f'title="{_e(info.get("kind", "?"))} rule: click to show only its changes and manual items">'
            f'{_e(rule)}</button></td><td><span class="tag s-{_e(safety)}">{_e(safety)}</span></td>'
            f'<td class="num">{changes.get(rule, 0)}</td><td class="num">{manual.get(rule, 0)}</td>'
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
    items = [(f.path, f.error or "failed") for f in report.failed] + [(p.path, p.reason) for p in report.problems]
    if not items:
        return ""
    lis = "".join(f'<li><code>{_e(path)}</code>: {_e(reason)}</li>' for path, reason in items)
    opened = " open" if len(items) <= 20 else ""
    return (f'<details class="failures"{opened}><summary>Not migrated: {len(items)} file(s) left untouched '
            f'(each with the reason)</summary><ul>{lis}</ul></details>')


def render_html(report: Report, sources: Sources | None = None) -> str:
    """The review page. With `sources` (report path -> (original, migrated) text of changed
    files), diffs are full hunks with CONTEXT_LINES of context; without, each change shows its
    own original and migrated lines (what the JSON report holds)."""
    index, details = _html_data(report, sources)
    s = report.summary()
    title = (f"portkit review: {s['files_changed']} file(s) changed, {s['changes']} change(s), "
             f"{s['manual_items']} manual item(s)")
    counts = Counter(s["changes_by_rule"]) + Counter(s["manual_items_by_rule"])
    rule_options = "".join(f'<option value="{_e(r)}">{_e(r)} ({counts[r]})</option>' for r in index["rules"] if counts[r])
    safety_boxes = "".join(
        f'<label class="chk"><input type="checkbox" name="safety" value="{i}" checked> '
        f'<span class="tag s-{name}">{name}</span></label>' for i, name in enumerate(SAFETY_ORDER)
    )
    blocks = "\n".join(
        f'<script type="application/json" id="portkit-file-{i}">{_script_json(d)}</script>'
        for i, d in enumerate(details)
    )
    meta = (f"<code>portkit {_e(report.command)}</code> · mode {_e(report.mode)} · target {_e(report.target)} · "
            f"portkit {_e(report.version)} · {s['elapsed_seconds']:.2f} s · diffs "
            + ("with 3 lines of context" if sources is not None else "of the changed lines (from the JSON report)"))
    csp = (f"default-src 'none'; script-src {_csp_hash(_JS)}; style-src {_csp_hash(_CSS)}; img-src data:; "
           "base-uri 'none'; form-action 'none'")
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="{_e(csp)}">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="generator" content="portkit {_e(report.version)}">
<title>{_e(title)}</title>
<style>{_CSS}</style>
</head>
<body>
<header class="top">
<h1>portkit review</h1>
<p class="meta">{meta}</p>
</header>
<main>
<section id="summary" aria-label="Totals">
{_totals_html(report)}
{_failures_html(report)}
<div class="twocol">
<div><h2>By rule</h2>{_rules_html(report)}</div>
<div><h2>By fix safety</h2>{_safety_html(report)}
<p class="hint">Click a rule id to show only its changes and manual items. Manual items are
listed below by effort (weight × items; see docs/reports.md).</p></div>
</div>
</section>
<noscript><p class="warn-box">The file list, diffs and filters need JavaScript; the totals above do not.</p></noscript>
<div class="toolbar" role="search">
<input type="search" id="q" placeholder="Search paths, rule ids, messages…" aria-label="Search">
<select id="rule" aria-label="Rule"><option value="">All rules</option>{rule_options}</select>
<span class="safeties" role="group" aria-label="Fix safety">{safety_boxes}</span>
<span class="seg" role="group" aria-label="Diff layout">
<button type="button" id="view-split" aria-pressed="true">Side by side</button><button type="button" id="view-unified" aria-pressed="false">Unified</button>
</span>
<button type="button" id="reset" class="plain">Reset filters</button>
</div>
<section id="manual" aria-label="Left for a person">
<h2>Left for a person <span class="count" id="manual-count"></span></h2>
<p class="hint">Grouped by rule, most effort first. Open a rule to see its items; a link goes to the item's line in the diff.</p>
<div id="groups"></div>
</section>
<section id="files-section" aria-label="Files">
<h2>Files: converted vs left for a person <span class="count" id="files-count"></span></h2>
<div class="listbar"><span id="shown"></span>
<label>Sort <select id="sort"><option value="path">by path</option><option value="manual">most manual items</option><option value="changes">most changes</option></select></label>
<button type="button" id="expand" class="plain">Expand this page</button><button type="button" id="collapse" class="plain">Collapse all</button>
<span class="pager" id="pager-top"></span></div>
<p class="legend hint">Bar: <i class="b-safe"></i> converted, safe · <i class="b-review"></i> converted, to review · <i class="b-manual"></i> left for a person. Click a file to see its diff.</p>
<div class="fhead-row" aria-hidden="true"><span>file</span><span>status</span><span class="num">converted</span><span class="num">left for a person</span><span>share converted</span></div>
<div id="files"></div>
<div class="listbar"><span class="pager" id="pager-bottom"></span></div>
</section>
</main>
<script type="application/json" id="portkit-summary">{_script_json(s)}</script>
<script type="application/json" id="portkit-index">{_script_json(index)}</script>
{blocks}
<script>{_JS}</script>
</body>
</html>
"""


_CSS = r"""
:root{--fg:#1f2328;--muted:#59636e;--line:#d1d9e0;--bg:#fff;--soft:#f6f8fa;--add:#e6ffec;--addx:#abf2bc;
--del:#ffebe9;--delx:#ffcecb;--safe:#1a7f37;--review:#9a6700;--manual:#cf222e;--accent:#0969da;--note:#fff8c5}
*{box-sizing:border-box}
body{margin:0;color:var(--fg);background:var(--bg);font:14px/1.45 -apple-system,BlinkMacSystemFont,"Segoe UI",Helvetica,Arial,sans-serif}
header.top{padding:14px 24px 6px;border-bottom:1px solid var(--line);background:var(--soft)}
h1{font-size:20px;margin:0 0 2px}
h2{font-size:16px;margin:22px 0 8px}
.meta{margin:0 0 6px;color:var(--muted)}
main{padding:0 24px 40px}
code,.code,.ln{font-family:ui-monospace,SFMono-Regular,"SF Mono",Menlo,Consolas,monospace;font-size:12px}
.totals{display:flex;flex-wrap:wrap;gap:10px;margin:16px 0 4px}
.total{border:1px solid var(--line);border-radius:8px;padding:8px 14px;min-width:120px;background:var(--bg)}
.total .num{display:block;font-size:22px;font-weight:600}
.total .lbl{color:var(--muted);font-size:12px}
.total.warn .num{color:var(--manual)}
.twocol{display:grid;grid-template-columns:minmax(0,3fr) minmax(0,2fr);gap:24px}
@media (max-width:1000px){.twocol{grid-template-columns:1fr}}
table.stats{border-collapse:collapse;width:100%}
table.stats th,table.stats td{border-bottom:1px solid var(--line);padding:4px 8px;text-align:left;vertical-align:top}
table.stats thead th{font-size:12px;color:var(--muted);font-weight:600}
table.stats .num{text-align:right;font-variant-numeric:tabular-nums}
table.stats .sum{color:var(--muted)}
#by-rule{table-layout:auto}#by-rule td.sum{max-width:0;width:100%;white-space:nowrap;overflow:hidden;text-overflow:ellipsis}
.total .sub{display:block;font-size:11px;color:var(--muted)}
.legend i{display:inline-block;width:10px;height:10px;border-radius:2px;vertical-align:-1px}
.legend .b-safe{background:var(--safe)}.legend .b-review{background:#d4a72c}.legend .b-manual{background:var(--manual)}
table.stats td:first-child{white-space:nowrap}
table.stats tfoot th,table.stats tfoot td{font-weight:600;border-bottom:0}
.empty{color:var(--muted)}
.rulelink,.tag.rule{font:12px ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;color:var(--accent);background:none;border:0;padding:0;cursor:pointer;text-align:left}
.rulelink:hover,.tag.rule:hover{text-decoration:underline}
.tag{display:inline-block;font-size:11px;line-height:16px;padding:0 6px;border-radius:10px;border:1px solid currentColor;white-space:nowrap}
.s-safe{color:var(--safe)}.s-review{color:var(--review)}.s-manual{color:var(--manual)}
.hint{color:var(--muted);font-size:12px}
.failures{margin:14px 0;border:1px solid var(--manual);border-radius:6px;padding:6px 12px}
.failures summary{cursor:pointer;color:var(--manual);font-weight:600}
.warn-box{border:1px solid var(--review);padding:8px 12px;border-radius:6px}
.toolbar{position:sticky;top:0;z-index:5;display:flex;flex-wrap:wrap;align-items:center;gap:10px;padding:10px 0;margin-top:16px;background:var(--bg);border-bottom:1px solid var(--line)}
.toolbar input[type=search]{flex:1 1 260px;min-width:200px;padding:5px 8px;border:1px solid var(--line);border-radius:6px;font:inherit}
select{font:inherit;padding:4px 6px;border:1px solid var(--line);border-radius:6px;background:var(--bg)}
.chk{margin-right:4px;cursor:pointer}
.seg button{font:inherit;padding:4px 10px;border:1px solid var(--line);background:var(--bg);cursor:pointer}
.seg button:first-child{border-radius:6px 0 0 6px}.seg button:last-child{border-radius:0 6px 6px 0;border-left:0}
.seg button[aria-pressed=true]{background:var(--accent);border-color:var(--accent);color:#fff}
button.plain{font:inherit;padding:4px 10px;border:1px solid var(--line);border-radius:6px;background:var(--soft);cursor:pointer}
button:disabled{opacity:.45;cursor:default}
.count{color:var(--muted);font-weight:400;font-size:13px}
.group{border:1px solid var(--line);border-radius:6px;margin:6px 0}
.group>summary{cursor:pointer;padding:6px 10px;display:flex;gap:10px;align-items:baseline;flex-wrap:wrap}
.group>summary .rid{font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;font-weight:600}
.group>summary .eff{color:var(--muted);font-size:12px}
.group>summary .sum{color:var(--muted)}
.group ol{margin:0;padding:4px 12px 8px 40px}
.group li{margin:2px 0}
.group li a{font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;font-size:12px;color:var(--accent)}
.group li .msg{color:var(--fg)}
.listbar{display:flex;flex-wrap:wrap;align-items:center;gap:10px;margin:6px 0;color:var(--muted)}
.pager{margin-left:auto;display:inline-flex;gap:6px;align-items:center}
.fhead-row,.fhead{display:grid;grid-template-columns:minmax(0,1fr) 90px 90px 130px 150px;gap:8px;align-items:center}
.fhead-row{font-size:12px;color:var(--muted);font-weight:600;padding:4px 10px;border-bottom:1px solid var(--line)}
.num{text-align:right;font-variant-numeric:tabular-nums}
.file{border-bottom:1px solid var(--line)}
.fhead{width:100%;font:inherit;text-align:left;background:none;border:0;padding:6px 10px;cursor:pointer;color:inherit}
.fhead:hover{background:var(--soft)}
.fhead .path{font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;font-size:13px;overflow-wrap:anywhere}
.fhead .caret{display:inline-block;width:14px;color:var(--muted);transition:transform .1s}
.file.open>.fhead .caret{transform:rotate(90deg)}
.file.open>.fhead{background:var(--soft);position:sticky;top:52px;z-index:2;border-bottom:1px solid var(--line)}
.st{font-size:12px}.st-failed{color:var(--manual);font-weight:600}.st-unchanged{color:var(--muted)}
.m-pos{color:var(--manual);font-weight:600}
.bar{display:flex;height:8px;border-radius:4px;overflow:hidden;background:var(--soft);border:1px solid var(--line);width:90px}
.bar i{display:block;height:100%}.bar .b-safe{background:var(--safe)}.bar .b-review{background:#d4a72c}.bar .b-manual{background:var(--manual)}
.pct{display:flex;gap:6px;align-items:center;font-size:12px;color:var(--muted)}
.fbody{padding:6px 0 14px}
.fbody .error{color:var(--manual);margin:6px 10px}
.diffwrap{overflow-x:auto;border:1px solid var(--line);border-radius:6px;margin:0 4px}
table.diff{border-collapse:collapse;width:100%;table-layout:fixed}
table.diff td{padding:0 8px;vertical-align:top}
table.diff col.c-ln{width:56px}table.diff col.c-sign{width:18px}
table.diff .ln{text-align:right;color:var(--muted);user-select:none;padding:0 6px;background:var(--soft)}
table.diff .code{white-space:pre-wrap;overflow-wrap:anywhere;line-height:20px}
table.diff .sign{color:var(--muted);user-select:none;padding:0 2px}
tr.hunk td{background:#ddf4ff;color:var(--muted);font:12px ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;padding:2px 8px}
td.del{background:var(--del)}td.add{background:var(--add)}td.ln.del{background:var(--delx)}td.ln.add{background:var(--addx)}
td.blank{background:#f3f4f6}
tr.flagged td{background:#fff8c5}tr.flagged td.ln{background:#f5e7a1}
td.del .x{background:var(--delx);border-radius:2px}td.add .x{background:var(--addx);border-radius:2px}
tr.note td{background:var(--soft);border-top:1px solid var(--line);border-bottom:1px solid var(--line);padding:4px 10px 4px 66px;font-size:13px}
tr.note.manual td{background:var(--note);border-left:3px solid var(--manual)}
tr.note.change td{border-left:3px solid var(--accent)}
tr.note .lbl{font-weight:600;margin-right:8px}
tr.note.manual .lbl{color:var(--manual)}
tr.note .tag{margin-right:6px}
tr.note .where{color:var(--muted);font-size:12px;margin-right:8px}
tr.flash td{animation:flash 2s ease-out}
@keyframes flash{from{background:#fff2a8}}
.k{color:#cf222e}.s{color:#0a3069}.c{color:#6e7781;font-style:italic}.n{color:#0550ae}.b{color:#8250df}.f{color:#6639ba;font-weight:600}.d{color:#953800}
.more{margin:4px 40px 8px}
table.stats tr.dim td{opacity:.4}
"""


_JS = r"""
(function () {
  "use strict";
  var $ = function (id) { return document.getElementById(id); };
  var D = JSON.parse($("portkit-index").textContent);
  var RULES = D.rules, SAFETIES = D.safeties, MSGS = D.msgs, FILES = D.files;
  var state = { rule: -1, safe: [true, true, true], q: "", view: "split", sort: "path", page: 0, size: D.pageSize };
  var open = new Set(), cache = new Map(), order = [];

  function fmt(n) { return n.toLocaleString("en-US"); }
  function el(tag, cls, text) {
    var e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined && text !== null) e.textContent = String(text);
    return e;
  }
  function detail(i) {
    if (!cache.has(i)) {
      var block = $("portkit-file-" + i);
      cache.set(i, block ? JSON.parse(block.textContent) : { e: [], h: [] });
    }
    return cache.get(i);
  }
  function ruleOk(r, s) { return (state.rule < 0 || state.rule === r) && state.safe[s]; }
  function haystack(f) {
    if (f._h === undefined) {
      var parts = [f.p, f.s];
      f.x.forEach(function (p) { parts.push(RULES[p[0]]); });
      f.q.forEach(function (m) { parts.push(MSGS[m]); });
      if (f.e) parts.push(f.e);
      f._h = parts.join("\n").toLowerCase();
    }
    return f._h;
  }
  function fileOk(f) {
    if (state.q && haystack(f).indexOf(state.q) < 0) return false;
    if (!f.x.length) return state.rule < 0 && state.safe.every(Boolean);  // a failed file: shown unfiltered
    return f.x.some(function (p) { return ruleOk(p[0], p[1]); });
  }
  function computeOrder() {
    order = [];
    for (var i = 0; i < FILES.length; i++) if (fileOk(FILES[i])) order.push(i);
    if (state.sort === "manual") order.sort(function (a, b) { return FILES[b].m - FILES[a].m || a - b; });
    else if (state.sort === "changes") order.sort(function (a, b) { return FILES[b].c - FILES[a].c || a - b; });
    var pages = Math.max(1, Math.ceil(order.length / state.size));
    if (state.page >= pages) state.page = pages - 1;
  }

  // --- code cells ---------------------------------------------------------------------------
  function textOf(tokens) {
    return tokens.map(function (t) { return typeof t === "string" ? t : t[1]; }).join("");
  }
  function piece(td, cls, text) {
    if (!text) return;
    if (!cls) td.appendChild(document.createTextNode(text));
    else td.appendChild(el("span", cls, text));
  }
  function fill(td, tokens, a, b) {  // characters [a, b) are the changed part of the line
    var pos = 0;
    tokens.forEach(function (t) {
      var cls = typeof t === "string" ? "" : t[0], text = typeof t === "string" ? t : t[1];
      var start = pos, end = pos + text.length;
      pos = end;
      if (a < b && start < b && end > a) {
        var s1 = Math.max(a, start) - start, s2 = Math.min(b, end) - start;
        piece(td, cls, text.slice(0, s1));
        piece(td, (cls + " x").trim(), text.slice(s1, s2));
        piece(td, cls, text.slice(s2));
      } else piece(td, cls, text);
    });
    if (!tokens.length) td.appendChild(document.createTextNode(""));
  }
  function changedRange(a, b) {  // common prefix and suffix; the rest is what changed
    var n = Math.min(a.length, b.length), p = 0, s = 0;
    while (p < n && a[p] === b[p]) p++;
    while (s < n - p && a[a.length - 1 - s] === b[b.length - 1 - s]) s++;
    return [[p, a.length - s], [p, b.length - s]];
  }
  function lnCell(n, cls) { return el("td", "ln" + (cls ? " " + cls : ""), n === null ? "" : n); }
  function codeCell(row, cls, range) {
    var td = el("td", "code" + (cls ? " " + cls : ""));
    if (row) fill(td, row[3], range ? range[0] : 0, range ? range[1] : 0);
    return td;
  }

  // --- notes and diffs -----------------------------------------------------------------------
  function noteRow(i, d, ei, cols) {
    var e = d.e[ei], manual = e[0] === 1;
    var tr = el("tr", "note " + (manual ? "manual" : "change"));
    tr.id = "f" + i + "e" + ei;
    tr.dataset.rule = RULES[e[1]];
    if (!ruleOk(e[1], e[2])) tr.hidden = true;
    var td = el("td");
    td.colSpan = cols;
    td.appendChild(el("span", "lbl", manual ? "\u26a0 Left for a person" : "Changed"));
    var rb = el("button", "tag rule", RULES[e[1]]);
    rb.type = "button";
    rb.dataset.rule = RULES[e[1]];
    rb.title = (D.ruleInfo[e[1]] || {}).summary || "";
    td.appendChild(rb);
    td.appendChild(el("span", "tag s-" + SAFETIES[e[2]], SAFETIES[e[2]]));
    td.appendChild(el("span", "where", "line " + e[3] + ":" + e[4]));
    td.appendChild(el("span", "msg", MSGS[e[5]]));
    tr.appendChild(td);
    return tr;
  }
  function flagged(d, ids) {  // a context line that holds a visible manual item
    return (ids || []).some(function (ei) { var e = d.e[ei]; return e[0] === 1 && ruleOk(e[1], e[2]); });
  }
  function hunkVisible(d, h) {
    return h[5].some(function (n) { return n[1].some(function (ei) { return ruleOk(d.e[ei][1], d.e[ei][2]); }); });
  }
  function renderDiff(i, body) {
    var f = FILES[i];
    body.textContent = "";
    if (f.e) body.appendChild(el("p", "error", "Not migrated (left untouched): " + f.e));
    var d = detail(i);
    if (!d.h.length) return;
    var split = state.view === "split", cols = 4;
    var table = el("table", "diff " + state.view);
    var shown = 0;
    d.h.forEach(function (h) {
      if (!hunkVisible(d, h)) return;
      shown++;
      var notes = new Map(h[5].map(function (n) { return [n[0], n[1]]; }));
      var head = el("tr", "hunk"), htd = el("td");
      htd.colSpan = cols;
      htd.textContent = "@@ -" + h[0] + "," + h[1] + " +" + h[2] + "," + h[3] + " @@";
      head.appendChild(htd);
      table.appendChild(head);
      var rows = h[4], r = 0;
      function addNotes(k) {
        (notes.get(k) || []).forEach(function (ei) { table.appendChild(noteRow(i, d, ei, cols)); });
      }
      while (r < rows.length) {
        var row = rows[r];
        if (row[0] === 0) {
          var tr = el("tr", "ctx" + (flagged(d, notes.get(r)) ? " flagged" : ""));
          if (split) { tr.append(lnCell(row[1]), codeCell(row), lnCell(row[2]), codeCell(row)); }
          else { tr.append(lnCell(row[1]), lnCell(row[2]), el("td", "sign", " "), codeCell(row)); }
          table.appendChild(tr);
          addNotes(r);
          r++;
          continue;
        }
        var start = r, dels = [], adds = [];
        while (r < rows.length && rows[r][0] !== 0) { (rows[r][0] === 1 ? dels : adds).push(rows[r]); r++; }
        var ranges = [];
        for (var k = 0; k < Math.min(dels.length, adds.length); k++) ranges.push(changedRange(textOf(dels[k][3]), textOf(adds[k][3])));
        if (split) {
          for (var j = 0; j < Math.max(dels.length, adds.length); j++) {
            var a = dels[j], b = adds[j], tr2 = el("tr");
            tr2.append(a ? lnCell(a[1], "del") : lnCell(null, "blank"), a ? codeCell(a, "del", ranges[j] && ranges[j][0]) : el("td", "code blank"),
                       b ? lnCell(b[2], "add") : lnCell(null, "blank"), b ? codeCell(b, "add", ranges[j] && ranges[j][1]) : el("td", "code blank"));
            table.appendChild(tr2);
          }
        } else {
          dels.forEach(function (a, j) {
            var tr3 = el("tr");
            tr3.append(lnCell(a[1], "del"), lnCell(null, "del"), el("td", "sign del", "-"), codeCell(a, "del", ranges[j] && ranges[j][0]));
            table.appendChild(tr3);
          });
          adds.forEach(function (b, j) {
            var tr4 = el("tr");
            tr4.append(lnCell(null, "add"), lnCell(b[2], "add"), el("td", "sign add", "+"), codeCell(b, "add", ranges[j] && ranges[j][1]));
            table.appendChild(tr4);
          });
        }
        for (var q = start; q < r; q++) addNotes(q);
      }
    });
    if (!shown) { body.appendChild(el("p", "hint", "Nothing in this file matches the filters.")); return; }
    var colgroup = el("colgroup");
    (split ? ["ln", "", "ln", ""] : ["ln", "ln", "sign", ""]).forEach(function (c) {
      var col = el("col");
      if (c) col.className = "c-" + c;
      colgroup.appendChild(col);
    });
    table.insertBefore(colgroup, table.firstChild);
    var wrap = el("div", "diffwrap");
    wrap.appendChild(table);
    body.appendChild(wrap);
  }

  // --- the file list -------------------------------------------------------------------------
  function pct(f) {
    var cell = el("span", "pct"), bar = el("span", "bar"), total = f.c + f.m;
    if (!total) { cell.textContent = f.s === "failed" ? "not migrated" : "\u2014"; return cell; }
    [[f.cs[0], "b-safe"], [f.cs[1], "b-review"], [f.m, "b-manual"]].forEach(function (p) {
      if (!p[0]) return;
      var seg = el("i", p[1]);
      seg.style.width = (100 * p[0] / total) + "%";
      bar.appendChild(seg);
    });
    cell.append(bar, document.createTextNode(Math.round(100 * f.c / total) + "%"));
    cell.title = f.c + " converted (" + f.cs[0] + " safe, " + f.cs[1] + " review), " + f.m + " left for a person";
    return cell;
  }
  function fileRow(i) {
    var f = FILES[i], isOpen = open.has(i);
    var box = el("section", "file" + (isOpen ? " open" : ""));
    box.id = "file-" + i;
    var head = el("button", "fhead");
    head.type = "button";
    head.setAttribute("aria-expanded", isOpen ? "true" : "false");
    var name = el("span");
    name.append(el("span", "caret", "\u25b8"), el("span", "path", f.p));
    head.append(name, el("span", "st st-" + f.s, f.s), el("span", "num", f.c),
                el("span", "num" + (f.m ? " m-pos" : ""), f.m), pct(f));
    head.addEventListener("click", function () { toggle(i); });
    var body = el("div", "fbody");
    body.hidden = !isOpen;
    if (isOpen) renderDiff(i, body);
    box.append(head, body);
    return box;
  }
  function toggle(i, force) {
    var want = force === undefined ? !open.has(i) : force;
    if (want) open.add(i); else open.delete(i);
    var box = $("file-" + i);
    if (!box) return;
    box.classList.toggle("open", want);
    box.firstChild.setAttribute("aria-expanded", want ? "true" : "false");
    var body = box.lastChild;
    body.hidden = !want;
    if (want) renderDiff(i, body); else body.textContent = "";
  }
  function pager(where) {
    var box = $(where), pages = Math.max(1, Math.ceil(order.length / state.size));
    box.textContent = "";
    var prev = el("button", "plain", "\u2039 Prev"), next = el("button", "plain", "Next \u203a");
    prev.type = next.type = "button";
    prev.disabled = state.page === 0;
    next.disabled = state.page >= pages - 1;
    prev.addEventListener("click", function () { state.page--; renderList(); });
    next.addEventListener("click", function () { state.page++; renderList(); });
    box.append(prev, el("span", "pageno", "Page " + fmt(state.page + 1) + " of " + fmt(pages)), next);
  }
  function renderList() {
    computeOrder();
    var list = $("files");
    list.textContent = "";
    var from = state.page * state.size, to = Math.min(order.length, from + state.size);
    var frag = document.createDocumentFragment();
    for (var k = from; k < to; k++) frag.appendChild(fileRow(order[k]));
    list.appendChild(frag);
    $("shown").textContent = order.length
      ? "Showing " + fmt(from + 1) + "\u2013" + fmt(to) + " of " + fmt(order.length) + " file(s)" + (order.length < FILES.length ? " (" + fmt(FILES.length) + " listed)" : "")
      : "No file matches the filters.";
    $("files-count").textContent = "(" + fmt(order.length) + " of " + fmt(FILES.length) + ")";
    pager("pager-top");
    pager("pager-bottom");
  }

  // --- manual items by rule ------------------------------------------------------------------
  function itemOk(item) {  // item: [file, entry, line, message, safety]
    var g = this;
    if (!ruleOk(g[0], item[4])) return false;
    if (!state.q) return true;
    return (FILES[item[0]].p + "\n" + RULES[g[0]] + "\n" + MSGS[item[3]]).toLowerCase().indexOf(state.q) >= 0;
  }
  function renderGroups() {
    var box = $("groups"), total = 0, all = 0;
    box.textContent = "";
    D.groups.forEach(function (g) {
      var items = g[2].filter(itemOk, g);
      all += g[2].length;
      if (!items.length) return;
      total += items.length;
      var info = D.ruleInfo[g[0]] || {};
      var det = el("details", "group");
      det.dataset.rule = RULES[g[0]];
      var sum = el("summary");
      sum.append(el("span", "rid", RULES[g[0]]), el("span", "tag s-" + (info.safety || "manual"), info.safety || "?"),
                 el("span", "cnt", items.length + (items.length === 1 ? " item" : " items") + (items.length < g[2].length ? " of " + g[2].length : "")),
                 el("span", "eff", "effort " + g[1] * g[2].length + " (" + g[1] + (g[1] === 1 ? " point" : " points") + " \u00d7 " + g[2].length + ")"),
                 el("span", "sum", info.summary || ""));
      det.appendChild(sum);
      det.addEventListener("toggle", function () {
        if (!det.open || det.querySelector("ol")) return;
        var ol = el("ol"), limit = 300;
        function add(from) {
          items.slice(from, from + limit).forEach(function (it) {
            var li = el("li"), a = el("a", null, FILES[it[0]].p + ":" + it[2]);
            a.href = "#f" + it[0] + "e" + it[1];
            a.dataset.file = it[0];
            a.dataset.entry = it[1];
            li.append(a, document.createTextNode(" \u2014 "), el("span", "msg", MSGS[it[3]]));
            ol.appendChild(li);
          });
        }
        add(0);
        det.appendChild(ol);
        if (items.length > limit) {
          var more = el("button", "plain more", "Show all " + items.length);
          more.type = "button";
          more.addEventListener("click", function () { add(limit); limit = items.length; more.remove(); });
          det.appendChild(more);
        }
      });
      box.appendChild(det);
    });
    if (!all) box.appendChild(el("p", "hint", "Nothing: every CUDA use was converted."));
    else if (!total) box.appendChild(el("p", "hint", "No manual item matches the filters."));
    $("manual-count").textContent = "(" + (total < all ? total + " of " : "") + all + ")";
  }

  // --- controls ------------------------------------------------------------------------------
  function refresh() { renderGroups(); renderList(); syncControls(); }
  function syncControls() {
    $("rule").value = state.rule < 0 ? "" : RULES[state.rule];
    document.querySelectorAll("input[name=safety]").forEach(function (box) { box.checked = state.safe[+box.value]; });
    $("view-split").setAttribute("aria-pressed", state.view === "split" ? "true" : "false");
    $("view-unified").setAttribute("aria-pressed", state.view === "unified" ? "true" : "false");
    document.querySelectorAll("#by-rule tbody tr[data-rule]").forEach(function (tr) {
      tr.classList.toggle("dim", state.rule >= 0 && tr.dataset.rule !== RULES[state.rule]);
    });
  }
  function setRule(id) { state.rule = id ? RULES.indexOf(id) : -1; state.page = 0; refresh(); }
  function resetFilters() {
    state.rule = -1; state.safe = [true, true, true]; state.q = ""; $("q").value = ""; state.page = 0;
  }
  function goTo(i, ei) {
    var f = FILES[i];
    if (!f) return;
    var e = detail(i).e[ei];
    if (!fileOk(f) || (e && !ruleOk(e[1], e[2]))) resetFilters();
    open.add(i);
    computeOrder();
    var pos = order.indexOf(i);
    if (pos >= 0) state.page = Math.floor(pos / state.size);
    refresh();
    var target = $("f" + i + "e" + ei) || $("file-" + i);
    if (!target) return;
    target.scrollIntoView({ block: "center" });
    target.classList.add("flash");
    setTimeout(function () { target.classList.remove("flash"); }, 2100);
    try { history.replaceState(null, "", "#f" + i + "e" + ei); } catch (err) { /* some file:// setups refuse */ }
  }

  var timer = null;
  $("q").addEventListener("input", function () {
    clearTimeout(timer);
    timer = setTimeout(function () { state.q = $("q").value.trim().toLowerCase(); state.page = 0; refresh(); }, 120);
  });
  $("rule").addEventListener("change", function () { setRule($("rule").value); });
  document.querySelectorAll("input[name=safety]").forEach(function (box) {
    box.addEventListener("change", function () { state.safe[+box.value] = box.checked; state.page = 0; refresh(); });
  });
  $("view-split").addEventListener("click", function () { state.view = "split"; refresh(); });
  $("view-unified").addEventListener("click", function () { state.view = "unified"; refresh(); });
  $("sort").addEventListener("change", function () { state.sort = $("sort").value; state.page = 0; renderList(); });
  $("reset").addEventListener("click", function () { resetFilters(); refresh(); });
  $("expand").addEventListener("click", function () {
    order.slice(state.page * state.size, (state.page + 1) * state.size).forEach(function (i) { open.add(i); });
    renderList();
  });
  $("collapse").addEventListener("click", function () { open.clear(); renderList(); });
  document.addEventListener("click", function (ev) {
    var t = ev.target;
    if (!(t instanceof Element)) return;
    var rule = t.closest("[data-rule].rulelink, button.tag.rule");
    if (rule) { setRule(state.rule >= 0 && RULES[state.rule] === rule.dataset.rule ? "" : rule.dataset.rule); return; }
    var link = t.closest("a[data-file]");
    if (link) { ev.preventDefault(); goTo(+link.dataset.file, +link.dataset.entry); }
  });

  refresh();
  var m = /^#f(\d+)e(\d+)$/.exec(location.hash);
  if (m) goTo(+m[1], +m[2]);
  window.portkitReady = true;
  document.documentElement.dataset.ready = "true";
})();
"""


# --- Markdown ----------------------------------------------------------------------------------

MARKDOWN_LIMIT = 60_000  # characters; GitHub refuses pull-request descriptions over 65,536

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
    used = [r for r in report.rules if r in changes or r in manual]
    used += sorted((set(changes) | set(manual)) - set(used))
    for rule in used:
        safety = report.rules.get(rule, {}).get("safety", "?")
        head.append(f"| `{rule}` | {_md(safety)} | {changes.get(rule, 0)} | {manual.get(rule, 0)} |")
    head.append(f"| **total** | | **{s['changes']}** | **{s['manual_items']}** |")
    by_safety = " · ".join(f"{k} {v}" for k, v in s["changes_by_safety"].items()) or "none"
    head += ["", f"Changes by fix safety: {by_safety}."]
    failures = [(f.path, f.error or "failed") for f in report.failed] + [(p.path, p.reason) for p in report.problems]
    if failures:
        head += ["", f"### Not migrated ({len(failures)}, left untouched)", ""]
        head += [f"- {_md(path)}: {_md(reason)}" for path, reason in failures[:50]]
        if len(failures) > 50:
            head.append(f"- … and {len(failures) - 50} more (see the JSON or HTML report)")
    text = "\n".join(head) + "\n"

    trailer_room = 400  # the notes saying what was cut always fit
    cuts: list[str] = []
    groups = effort_groups(report)
    if groups:
        part = [f"\n### Left for a person ({s['manual_items']})\n"]
        budget = limit * 2 // 3  # leave room for diffs
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
        if shown < s["manual_items"]:
            cuts.append(f"{s['manual_items'] - shown} of {s['manual_items']} manual items are not listed here")
        text += "".join(part)

    changed = [f for f in report.files if f.changes]
    if changed:
        text += "\n### Diffs\n"
        included = 0
        for result in changed:
            body = _md_diff(result)
            fence = _fence(body)
            block = (f"\n<details><summary><code>{html.escape(result.path)}</code>: {len(result.changes)} change(s)"
                     f"{', ' + str(len(result.findings)) + ' manual item(s)' if result.findings else ''}</summary>\n\n"
                     f"{fence}diff\n{body}\n{fence}\n\n</details>\n")
            if len(text) + len(block) > limit - trailer_room:
                break
            text += block
            included += 1
        if included < len(changed):
            cuts.append(f"the diffs of {len(changed) - included} of {len(changed)} changed files are not shown")
    if cuts:
        text += (f"\n> **Cut to stay under {limit:,} characters:** " + "; ".join(cuts)
                 + ". The HTML or JSON report (`portkit report`) has everything.\n")
    return text


# --- CSV (msFmkTransplt's files) ---------------------------------------------------------------

CHANGE_COLUMNS = ("File", "Start Line", "End Line", "Operation Type", "Message")
ADVICE_COLUMNS = ("File", "Start Line", "End Line", "OP", "Tips")
CHANGE_LIST = "change_list.csv"
UNSUPPORTED = "unsupported_api.csv"
UNKNOWN = "unknown_api.csv"
CUDA_OPS = "cuda_op_list.csv"
PRECISION = "api_precision_advice.csv"
PERFORMANCE = "api_performance_advice.csv"
CSV_FILES = (CHANGE_LIST, UNSUPPORTED, UNKNOWN, CUDA_OPS, PRECISION, PERFORMANCE)

# Where a manual item goes: rule id -> (file, {last name of the flagged API: file}). Every
# change goes to change_list.csv. A rule not listed here (a user rule) -> unsupported_api.csv.
CSV_ROUTES: dict[str, tuple[str, dict[str, str]]] = {
    "cudnn-flags": (UNSUPPORTED, {
        "benchmark": PERFORMANCE,
        "enable_flash_sdp": PERFORMANCE, "enable_mem_efficient_sdp": PERFORMANCE,
        "enable_math_sdp": PERFORMANCE, "sdp_kernel": PERFORMANCE,
        "deterministic": PRECISION, "allow_fp16_reduced_precision_reduction": PRECISION,
    }),
    "device-capability": (UNSUPPORTED, {"DoubleTensor": PRECISION}),
    "data-parallel": (UNSUPPORTED, {}),
    "cuda-only-api": (UNSUPPORTED, {}),
    "cuda-profiler": (UNSUPPORTED, {}),
    "torch-compile": (UNSUPPORTED, {}),
    "flash-attn": (UNSUPPORTED, {}),
    "xformers": (UNSUPPORTED, {}),
    "bitsandbytes": (UNSUPPORTED, {}),
    "apex": (UNSUPPORTED, {}),
    "cupy-pynvml": (UNSUPPORTED, {}),
    "cuda-extension": (CUDA_OPS, {}),
    "cuda-op": (CUDA_OPS, {}),
    "cuda-op-call": (CUDA_OPS, {}),
    "triton": (CUDA_OPS, {}),
    "torch-pin": (UNSUPPORTED, {}),
    "cuda-dependency": (UNSUPPORTED, {}),
    "nvidia-smi": (UNSUPPORTED, {}),
    "cuda-tools": (UNSUPPORTED, {}),
    "shim-device-comparison": (UNSUPPORTED, {}),
    "shim-backend-comparison": (UNSUPPORTED, {}),
    "shim-env-var": (UNSUPPORTED, {}),
    "shim-load-path": (UNSUPPORTED, {}),
    "shim-jit-script": (UNSUPPORTED, {}),
    "accelerator-backend-comparison": (UNSUPPORTED, {}),
    "accelerator-is-cuda": (UNSUPPORTED, {}),
    "accelerator-typed-tensor": (UNSUPPORTED, {}),
    "accelerator-tf32": (UNSUPPORTED, {"allow_tf32": PRECISION}),
    "accelerator-env-var": (UNKNOWN, {}),
    "cuda-api-unknown": (UNKNOWN, {}),
    "env-var": (UNKNOWN, {}),
}


def _op(finding: Finding) -> str:
    """The flagged code: the item's span on its line (the rest of the line if it goes on)."""
    line, span = finding.line_text, finding.span
    start = max(span.column - 1, 0)
    end = span.end_column - 1 if span.end_line == span.line else len(line)
    return line[start:end].strip() or line.strip() or finding.rule_id


def csv_file_for(finding: Finding) -> str:
    default, by_name = CSV_ROUTES.get(finding.rule_id, (UNSUPPORTED, {}))
    name = re.split(r"[.\s(=]", _op(finding).rstrip("()"))
    leaf = next((part for part in reversed(name) if part), "")
    return by_name.get(leaf, default)


def _operation(change: Change) -> str:
    if change.old_text == "":
        return "INSERT"
    if change.new_text == "":
        return "DELETE"
    return "MODIFY"


def _cell(value: str) -> str:
    """No spreadsheet formulas from file contents or names (OWASP CSV injection)."""
    return "'" + value if value[:1] in ("=", "+", "-", "@", "\t", "\r") else value


def csv_rows(report: Report) -> dict[str, list[list[str | int]]]:
    rows: dict[str, list[list[str | int]]] = {name: [] for name in CSV_FILES}
    for result, change in report.changes:
        rows[CHANGE_LIST].append([_cell(result.path), change.span.line, max(change.span.end_line, change.span.line),
                                  _operation(change), _cell(f"{change.rule_id}: {change.message}")])
    for result, finding in report.findings:
        rows[csv_file_for(finding)].append([_cell(result.path), finding.span.line,
                                            max(finding.span.end_line, finding.span.line), _cell(_op(finding)),
                                            _cell(f"{finding.rule_id}: {finding.message}")])
    return rows


def write_csv_dir(report: Report, directory: Path | str) -> dict[str, int]:
    """Write msFmkTransplt's six CSV files (UTF-8, header row, all six even when empty) into
    `directory` (created if needed); returns file name -> number of data rows."""
    folder = Path(directory)
    folder.mkdir(parents=True, exist_ok=True)
    counts = {}
    for name, rows in csv_rows(report).items():
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        writer.writerow(CHANGE_COLUMNS if name == CHANGE_LIST else ADVICE_COLUMNS)
        writer.writerows(rows)
        atomic_write(folder / name, buffer.getvalue().encode("utf-8"))
        counts[name] = len(rows)
    return counts
