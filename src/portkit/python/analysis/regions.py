"""Hand the stdlib parser only the statements an analysis can find something in.

A file that passes the word triage is mostly statements no analysis looks at: timm's model
files are a few attention classes and thousands of lines of configuration tables and model
constructors. Every finding is made at a node whose statement holds a trigger word
(`Settings.trigger_words`: `softmax(`, `item(`, `float64`...), and rests only on the names of
its own scope (a function, a class body, the module) and the file's imports. So the text is
split into statements without parsing it, and the lines of every statement that cannot matter
are blanked before `ast.parse`:

- a top-level function, and a method (a statement of a class body), is kept whole when it holds
  a trigger or an import (import bindings are file-wide), and left out otherwise;
- the other statements of a scope (the module's, a class body's) are kept all together when one
  of them holds a trigger (value-flow follows assignments between them), and otherwise only those
  that hold an import;
- a class is kept when any of its statements is, its header with it.

Line numbers and columns stay those of the file (blank lines are what is left out). The split
reads the text the way the tokenizer does for what decides a statement's extent: strings,
comments, brackets, backslash continuations, `else`/`except` clauses, decorators. A split the
parser does not confirm (or any doubt: a lone `\\r` line end, a NUL byte) falls back to the whole
file; `tests/test_analysis_regions.py` holds the findings to the full parse's.
"""

from __future__ import annotations

import bisect
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

# strings (any prefix: the letters before the quote are left as they are) and comments; a
# backslash escapes the next character in raw strings too, as far as their extent goes
_STRINGS_AND_COMMENTS = re.compile(
    r'"""[^"\\]*(?:(?:\\.|"(?!""))[^"\\]*)*"""' r"|'''[^'\\]*(?:(?:\\.|'(?!''))[^'\\]*)*'''"
    r'|"[^"\\\n]*(?:\\.[^"\\\n]*)*"' r"|'[^'\\\n]*(?:\\.[^'\\\n]*)*'" r"|\#[^\n]*", re.DOTALL)
# the lines inside a multi-line string start with this mark in the code text, so no such line
# looks like the start of a statement (NUL cannot be in a Python source)
_INSIDE = "\x00"
_TOP_LINE = re.compile(r"^(?=[^\s\x00])", re.M)
_CLAUSE = re.compile(r"(?:else|elif|except|finally)\b")
_DEFINITION = re.compile(r"(?:async[ \t]+def|def|class)\b")
_WORD_CHARACTER = re.compile(r"\w")
_INDENT = re.compile(r"^([ \t]+)(?=[^\s\x00])", re.M)
_LINES_OF_INDENT: dict[str, re.Pattern[str]] = {}


def code_text(text: str) -> str:
    """The text with comments removed and each string replaced by `""`, its inner line breaks
    kept (each followed by the NUL mark): the same lines, only code on them."""
    pieces: list[str] = []
    last = 0
    for match in _STRINGS_AND_COMMENTS.finditer(text):
        start, end = match.span()
        pieces.append(text[last:start])
        if text[start] != "#":
            breaks = text.count("\n", start, end)
            pieces.append('""' + ("\n" + _INSIDE) * breaks)
        last = end
    pieces.append(text[last:])
    return "".join(pieces)


@dataclass(frozen=True)
class Statement:
    """A statement of one block, as offsets into the code text: from its first line (its first
    decorator's) to the first line of the next statement of the block."""

    start: int
    end: int
    definition: int  # where the `def` / `class` line starts (decorators come before); -1: not one
    is_class: bool


def _depth(code: str, start: int, end: int) -> int:
    count = code.count
    return (count("(", start, end) + count("[", start, end) + count("{", start, end)
            - count(")", start, end) - count("]", start, end) - count("}", start, end))


def _continued(code: str, line_start: int) -> bool:
    """The line before ends in a backslash: this line continues its statement."""
    before = code[max(0, line_start - 3):line_start].rstrip("\r\n")
    return before.endswith("\\")


def split(code: str, start: int, end: int, lines: re.Pattern[str], indent: int) -> list[Statement]:
    """The statements of a block: `lines` finds the lines that start at the block's indentation
    (`indent` characters); a line inside brackets, after a backslash, or an else/except clause
    is not a statement's start."""
    found: list[Statement] = []
    depth, previous = 0, start
    decorated = -1  # the first decorator line of a statement being collected
    for match in lines.finditer(code, start, end):
        offset = match.start()
        depth += _depth(code, previous, offset)
        previous = offset
        head = offset + indent
        if depth or _continued(code, offset) or _CLAUSE.match(code, head):
            continue
        if code.startswith("@", head):
            decorated = offset if decorated < 0 else decorated
            continue
        first = decorated if decorated >= 0 else offset
        definition = _DEFINITION.match(code, head)
        if found:
            found[-1] = Statement(found[-1].start, first, found[-1].definition, found[-1].is_class)
        found.append(Statement(first, end, offset if definition else -1,
                               bool(definition) and code.startswith("class", head)))
        decorated = -1
    if found and found[0].start != start and code[start:found[0].start].strip():
        return []  # code before the first start found: the split is not understood, do not use it
    return found


def _body_lines(code: str, statement: Statement) -> tuple[re.Pattern[str], int, int] | None:
    """For a class: the pattern of its body's lines, their indentation and where the body starts."""
    header_depth = 0
    previous = statement.definition
    for match in _INDENT.finditer(code, statement.definition, statement.end):
        header_depth += _depth(code, previous, match.start())
        previous = match.start()
        if header_depth == 0 and not _continued(code, match.start()):
            indent = match.group(1)
            pattern = _LINES_OF_INDENT.get(indent)
            if pattern is None:
                pattern = _LINES_OF_INDENT[indent] = re.compile("^" + re.escape(indent) + r"(?=[^\s\x00])", re.M)
            return pattern, len(indent), match.start()
    return None


@dataclass
class Selection:
    """What is kept, as offset ranges of the code text, and the splits the parse must confirm."""

    kept: list[tuple[int, int]]
    blocks: list[tuple[int, list[Statement]]]  # (indentation, statements) of each block split


def select(code: str, holds: Callable[[int, int], bool]) -> Selection:
    """The ranges to keep; `holds(start, end)` says whether a range holds a trigger."""
    selection = Selection([], [])
    top = split(code, 0, len(code), _TOP_LINE, 0)
    if not top:
        return Selection([(0, len(code))], [])
    selection.blocks.append((0, top))
    _choose(code, top, holds, selection, nested=True)
    return selection


def _choose(code: str, statements: Sequence[Statement], holds: Callable[[int, int], bool],
            selection: Selection, nested: bool) -> None:
    """Keep the statements of one block that can matter (the rules in the module docstring)."""
    def imports(s: Statement) -> bool:
        return holds_import(code, s.start, s.end)

    # the scope's own statements: not definitions; a definition's decorators belong to the scope too
    scope_needed = any(holds(s.start, s.end) if s.definition < 0 else holds(s.start, s.definition)
                       for s in statements)
    for statement in statements:
        if statement.definition < 0:
            if scope_needed or imports(statement):
                selection.kept.append((statement.start, statement.end))
            continue
        if not holds(statement.start, statement.end) and not imports(statement):
            continue
        body = _body_lines(code, statement) if statement.is_class and nested else None
        inner = split(code, body[2], statement.end, body[0], body[1]) if body else []
        if not inner:
            selection.kept.append((statement.start, statement.end))
            continue
        selection.kept.append((statement.start, inner[0].start))  # decorators and header
        selection.blocks.append((body[1], inner))  # type: ignore[index]
        before = len(selection.kept)
        _choose(code, inner, holds, selection, nested=False)
        if len(selection.kept) == before:  # nothing of the body: keep the class whole
            selection.kept[-1] = (statement.start, statement.end)
            selection.blocks.pop()


def line_numbers(code: str, offsets: Sequence[int]) -> list[int]:
    """The line (1-based) of each offset, for offsets in increasing order."""
    numbers: list[int] = []
    line, previous = 1, 0
    for offset in offsets:
        line += code.count("\n", previous, offset)
        previous = offset
        numbers.append(line)
    return numbers


def holds_import(code: str, start: int, end: int) -> bool:
    """The word `import` in code[start:end] (str.find: a regex starting with \\b is tried at
    every position)."""
    at = code.find("import", start, end)
    while at >= 0:
        if not (at and _WORD_CHARACTER.match(code, at - 1) or _WORD_CHARACTER.match(code, at + 6)):
            return True
        at = code.find("import", at + 6, end)
    return False


def blank(text: str, code: str, kept: Sequence[tuple[int, int]]) -> str:
    """The text with every line outside the kept ranges (in increasing order) made empty."""
    lines = text.split("\n")
    bounds = line_numbers(code, [offset for pair in kept for offset in pair])
    out: list[str] = []
    ends = [end for _, end in kept]
    for first, last, end in zip(bounds[::2], bounds[1::2], ends):
        # a range ends where the next statement's line starts: that line is not in it
        first, last = first - 1, last - 1 if end < len(code) else len(lines)
        out.extend([""] * (first - len(out)))
        out.extend(lines[first:last])
    out.extend([""] * (len(lines) - len(out)))
    return "\n".join(out)
