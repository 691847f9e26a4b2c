"""Python syntax highlighting from the stdlib tokenizer, for the review page's diffs: a line
becomes a list of tokens (plain text, or [css class, text]) that join back to the line, and a few
lines of a file can be highlighted on their own."""

from __future__ import annotations

import bisect
import builtins
import io
import keyword
import re
import tokenize
from collections.abc import Callable, Sequence
from typing import Union

from portkit.reports.review.common import _merged

Token = Union[str, list[str]]  # plain text, or [css class, text]
Paint = Callable[[str], list[list[Token]]]  # text -> one token list per line

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


def _highlighter(path: str) -> Paint:
    """Python files are highlighted; other files portkit reports on (requirements, shell
    scripts, CUDA sources) are shown plain rather than wrongly coloured."""
    return highlight if path.lower().endswith((".py", ".pyi", ".pyw")) else _no_highlight


def _plain(line: list[Token], text: str) -> None:
    if line and isinstance(line[-1], str):
        line[-1] += text
    else:
        line.append(text)


def _at(tokens: list[list[Token]], index: int, text: str) -> list[Token]:
    return tokens[index] if index < len(tokens) else [text]


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
                     paint: Paint = highlight) -> dict[int, list[Token]]:
    """Tokens of the `wanted` lines (1-based) of `text`: each run of wanted lines is tokenized
    on its own, widened to whole string literals so a docstring is still a string."""
    if not wanted:
        return {}
    spans = _multiline_strings(text)
    runs = _merged(((n, n) for n in sorted(wanted)), 1)
    for run in runs:
        changed = True
        while changed:
            changed = False
            for first, last in spans:
                if first < run[0] <= last:
                    run[0], changed = first, True
                if first <= run[1] < last:
                    run[1], changed = last, True
    out: dict[int, list[Token]] = {}
    for first, last in _merged(sorted(runs), 1):
        chunk = lines[first - 1:last]
        tokens = paint("\n".join(chunk))
        for k, line in enumerate(chunk):
            if first + k in wanted:
                out[first + k] = _at(tokens, k, line)
    return out
