"""Parse with libcst only the statements that can matter.

A libcst parse costs about ten stdlib parses, and most files that need a change need it in a
few places: a 3,000-line modeling file with one `torch.cuda.synchronize()`. Before libcst
sees a file, every top-level statement (and every statement of a kept class: its methods)
that cannot matter to any rule has its lines replaced by comment lines (`GAP`): libcst parses a comment line for almost nothing, line numbers stay
as they were (so every position portkit reports is the original one), and a comment is never
changed by a rule, so the rewritten text comes back with its gaps where they were and the
original lines go back in their place (`restore`).

A statement is kept when any of its lines holds a trigger of the active rules (the same
trigger lines the rewriter uses to skip quiet statements, the file's own aliases of CUDA
modules included), when it holds an import (the rewriter's import map is file-wide), when it
shares a line with a kept statement, and at the top level when it follows an import or
starts the module (where portkit inserts `import torch_npu`, and the statement that insertion
is reported at). The first and last statements of every block stay, so no block is empty and
every kept statement ends on the line it ended on (an event on a class spans all of it). What is left out cannot produce an event, and nothing the rewriter
decides depends on it; `tests/test_sparse.py` holds that to the full parse on every example,
fixture and rule example.
"""

from __future__ import annotations

import ast
import bisect
import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from itertools import accumulate

from portkit.python.statements import first_line, trigger_lines
from portkit.python.transform import TORCH_ATTRIBUTE
from portkit.python.triage import import_bindings

GAP = "#@portkit-gap@"
_IMPORT_WORD = re.compile(r"\bimport\b")
_LINE_BREAK = re.compile(r"\r\n|\r|\n")


@dataclass(frozen=True)
class SparseSource:
    text: str  # the source with the lines of left-out statements replaced by GAP lines
    tree: ast.Module  # the stdlib tree of `text`: the kept statements
    gaps: tuple[str, ...]  # the original lines behind the GAP lines, in order, with their line ends


def sparse_source(text: str, tree: ast.Module, trigger_regex: Callable[[Sequence[str]], re.Pattern[str]],
                  is_alias: Callable[[str], bool]) -> SparseSource | None:
    """The sparse form of `text`, or None when leaving statements out would not pay (or the
    text already holds a GAP line, which would make the restore ambiguous)."""
    if len(tree.body) < 2 or GAP in text:
        return None
    lines = _lines(text)
    starts = [0, *accumulate(len(line) for line in lines)]  # offset of each line's first character
    import_lines = sorted({bisect.bisect_right(starts, m.start()) for m in _IMPORT_WORD.finditer(text)})
    imports = list(_imports(tree.body, import_lines))
    # the file's own names for CUDA modules (`import torch.cuda as tc`) are triggers too
    aliases = [name for name, qualified in import_bindings(imports) if is_alias(qualified)]
    counts = trigger_lines(text, trigger_regex(aliases))
    selection = _Selection(lines, import_lines, counts)
    star = any(isinstance(i, ast.ImportFrom) and any(a.name == "*" for a in i.names) for i in imports)
    if star and (use := TORCH_ATTRIBUTE.search(text)) is not None:
        # `torch` from `import *` is the torch module only where the file spells `torch.`
        # (transform._torch_from_star_import): the statement that does stays
        selection.forced_line = bisect.bisect_right(starts, use.start())
    selection.choose(tree.body, top=True)
    if not selection.gaps:
        return None
    gaps: list[str] = []
    for first, last in sorted(selection.gaps):
        for number in range(first - 1, last):
            original = lines[number]
            gaps.append(original)
            lines[number] = GAP + original[len(original.rstrip("\r\n")):]
    sparse_text = "".join(lines)
    try:
        sparse_tree = ast.parse(sparse_text)
    except SyntaxError:  # never expected: whole statements became comments; be safe anyway
        return None
    return SparseSource(sparse_text, sparse_tree, tuple(gaps))


@dataclass
class _Selection:
    """Which statements' lines become gaps: top-level statements, and inside every kept
    compound statement (a class, a def, an if…) the statements of its blocks, so a file that
    is one big class still leaves out the methods that cannot matter."""

    lines: Sequence[str]
    import_lines: Sequence[int]
    counts: Sequence[int]  # prefix counts of trigger lines (statements.trigger_lines)
    forced_line: int | None = None
    gaps: list[tuple[int, int]] = field(default_factory=list)

    def _matters(self, first: int, last: int) -> bool:
        has_trigger = self.counts[min(last, len(self.counts) - 1)] > self.counts[first - 1]
        forced = self.forced_line is not None and first <= self.forced_line <= last
        return has_trigger or forced or _holds_any(first, last, self.import_lines)

    def choose(self, body: Sequence[ast.stmt], *, top: bool) -> None:
        ranges = [_range(s) for s in body]
        keep = [self._matters(first, last) for first, last in ranges]
        # never empty, and a kept compound statement ends on the line it ended on (its span)
        keep[0] = keep[-1] = True
        if top:
            for index in _insertion_points(body):
                keep[index] = True  # where an inserted import goes, and is reported
        _keep_shared_lines(ranges, keep)
        for statement, (first, last), kept in zip(body, ranges, keep):
            if not kept:
                self.gaps.append((first, last))
                continue
            for block in _blocks(statement):
                if self._indented(block[0]):  # not `if ok: x = 1` on one line
                    self.choose(block, top=False)

    def _indented(self, statement: ast.stmt) -> bool:
        """The statement starts its line: the block holding it is an indented one."""
        return self.lines[statement.lineno - 1][:statement.col_offset].strip() == ""


def _blocks(statement: ast.stmt) -> Iterator[list[ast.stmt]]:
    for name in ("body", "orelse", "finalbody"):
        block = getattr(statement, name, None)
        if isinstance(block, list) and block and isinstance(block[0], ast.stmt):
            yield block
    for part in (*getattr(statement, "handlers", ()), *getattr(statement, "cases", ())):
        if part.body:
            yield part.body


def _insertion_points(body: Sequence[ast.stmt]) -> list[int]:
    """Statements transform.Migrator._insertion_index may insert an import before: the one
    after the first top-level torch import, else the first after the docstring and
    `__future__` imports."""
    for index, statement in enumerate(body):
        if _imports_torch(statement):
            return [index + 1] if index + 1 < len(body) else []
    index = 0
    while index < len(body) and (_is_docstring(body[index], index) or _is_future(body[index])):
        index += 1
    return [index] if index < len(body) else []


def _imports_torch(statement: ast.stmt) -> bool:
    if isinstance(statement, ast.Import):
        return any(a.name.split(".")[0] == "torch" for a in statement.names)
    return isinstance(statement, ast.ImportFrom) and not statement.level and (
        (statement.module or "").split(".")[0] == "torch")


def _is_docstring(statement: ast.stmt, index: int) -> bool:
    return index == 0 and isinstance(statement, ast.Expr) and isinstance(statement.value, ast.Constant) \
        and isinstance(statement.value.value, str)


def _is_future(statement: ast.stmt) -> bool:
    return isinstance(statement, ast.ImportFrom) and statement.module == "__future__"


def restore(sparse: SparseSource, generated: str) -> str | None:
    """The rewritten file: `generated` (libcst's output for the sparse text) with the original
    lines back in place of the GAP lines; None if the gaps did not come back one for one."""
    lines = generated.splitlines(keepends=True)
    gaps = iter(sparse.gaps)
    count = 0
    for i, line in enumerate(lines):
        if line.rstrip("\r\n") == GAP:
            original = next(gaps, None)
            if original is None:
                return None
            lines[i] = original
            count += 1
    if count != len(sparse.gaps):
        return None
    return "".join(lines)


def _lines(text: str) -> list[str]:
    """The lines as Python numbers them, with their ends: str.splitlines would also break at
    form feeds and other separators that are whitespace to the tokenizer."""
    lines = _LINE_BREAK.split(text)
    ends = _LINE_BREAK.findall(text)
    return [line + end for line, end in zip(lines, [*ends, ""])] if lines[-1] else \
        [line + end for line, end in zip(lines[:-1], ends)]


def _range(node: ast.stmt) -> tuple[int, int]:
    """First line (decorators included) and last line of a statement."""
    return first_line(node), node.end_lineno or node.lineno


def _holds_any(first: int, last: int, lines: Sequence[int]) -> bool:
    at = bisect.bisect_left(lines, first)
    return at < len(lines) and lines[at] <= last


def _keep_shared_lines(ranges: Sequence[tuple[int, int]], keep: list[bool]) -> None:
    """`a = (1,\\n 2); b = cuda()`: statements that share a line are kept or left out together."""
    changed = True
    while changed:
        changed = False
        for i in range(len(ranges) - 1):
            if ranges[i][1] >= ranges[i + 1][0] and keep[i] != keep[i + 1]:
                keep[i] = keep[i + 1] = True
                changed = True


def _imports(body: Sequence[ast.stmt], import_lines: Sequence[int]) -> Iterator[ast.Import | ast.ImportFrom]:
    """The import statements, at any depth, found by descending only into the statements
    whose lines hold the word `import` (an expression never holds an import statement)."""
    for statement in body:
        if not _holds_any(*_range(statement), import_lines):
            continue
        if isinstance(statement, (ast.Import, ast.ImportFrom)):
            yield statement
            continue
        for block in _blocks(statement):
            yield from _imports(block, import_lines)
