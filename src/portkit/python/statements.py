"""libcst statements paired with the stdlib's `ast` statements, for what `ast` knows cheaply.

libcst nodes carry no positions: its PositionProvider regenerates the whole module to find
them, which costs about four parses. The stdlib parser gives every statement's line range
for a tenth of a libcst parse. Both parsers see the same statements in the same source
order, so pairing them lets portkit

- skip statements that cannot need a rule (no trigger anywhere in their lines), and
- find an event's position by regenerating only the statement that holds it.

If the two sequences ever disagree, the pairing is refused (None) and callers fall back to
the slow, exact path.

It also measures, from the stdlib tree, how deep libcst's tree would nest (`deepest`): libcst
recurses once per level when it parses, visits and prints, so a file nested deeper than
MAX_NESTING is refused with a clear message instead of crashing the parser.
"""

from __future__ import annotations

import ast
import bisect
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import libcst as cst
from libcst.metadata import CodeRange, MetadataWrapper, PositionProvider

from portkit.model import Span

Statement = cst.BaseSmallStatement | cst.BaseCompoundStatement

LINE_BREAK = re.compile(r"\r\n|\r|\n")


def source_lines(text: str, keepends: bool = False) -> list[str]:
    """The lines as Python numbers them: str.splitlines would also break at form feeds,
    vertical tabs, \\x1c-\\x1e, \\x85 and U+2028/2029, which are not line ends to the tokenizer.
    A text ending in a line break has no empty last line (as str.splitlines)."""
    lines = LINE_BREAK.split(text)
    if lines[-1] == "":
        lines.pop()
    if not keepends:
        return lines
    return [line + end for line, end in zip(lines, [*LINE_BREAK.findall(text), ""])]


def _cst_blocks(block: cst.BaseSuite) -> Iterator[Statement]:
    if isinstance(block, cst.IndentedBlock):
        yield from cst_statements(block.body)
    elif isinstance(block, cst.SimpleStatementSuite):
        yield from block.body


def cst_statements(body: Sequence[cst.BaseStatement]) -> Iterator[Statement]:
    """Small and compound statements in source order (a `a; b` line gives two)."""
    for statement in body:
        if isinstance(statement, cst.SimpleStatementLine):
            yield from statement.body
            continue
        assert isinstance(statement, cst.BaseCompoundStatement)
        yield statement
        yield from _cst_nested(statement)


def _cst_nested(statement: cst.BaseCompoundStatement) -> Iterator[Statement]:
    if not isinstance(statement, cst.Match):  # a match has only its cases' bodies
        yield from _cst_blocks(statement.body)
    if isinstance(statement, (cst.Try, cst.TryStar)):
        for handler in statement.handlers:
            yield from _cst_blocks(handler.body)
    if isinstance(statement, cst.Match):
        for case in statement.cases:
            yield from _cst_blocks(case.body)
    orelse = getattr(statement, "orelse", None)
    if isinstance(orelse, cst.If):  # elif
        yield orelse
        yield from _cst_nested(orelse)
    elif isinstance(orelse, cst.Else):
        yield from _cst_blocks(orelse.body)
    final = getattr(statement, "finalbody", None)
    if isinstance(final, cst.Finally):
        yield from _cst_blocks(final.body)


def ast_statements(body: Sequence[ast.stmt]) -> Iterator[ast.stmt]:
    for statement in body:
        yield statement
        yield from ast_statements(getattr(statement, "body", []))
        for handler in getattr(statement, "handlers", []):
            yield from ast_statements(handler.body)
        for case in getattr(statement, "cases", []):
            yield from ast_statements(case.body)
        yield from ast_statements(getattr(statement, "orelse", []))
        yield from ast_statements(getattr(statement, "finalbody", []))


_KINDS: dict[type, tuple[type, ...]] = {
    cst.Import: (ast.Import,), cst.ImportFrom: (ast.ImportFrom,),
    cst.FunctionDef: (ast.FunctionDef, ast.AsyncFunctionDef), cst.ClassDef: (ast.ClassDef,),
    cst.If: (ast.If,), cst.For: (ast.For, ast.AsyncFor), cst.While: (ast.While,),
    cst.With: (ast.With, ast.AsyncWith), cst.Try: (ast.Try,), cst.Return: (ast.Return,),
}


def pair(module: cst.Module, tree: ast.Module) -> dict[int, ast.stmt] | None:
    """id(libcst statement) -> its ast statement, or None if the two parsers disagree."""
    ours, theirs = list(cst_statements(module.body)), list(ast_statements(tree.body))
    if len(ours) != len(theirs):
        return None
    for a, b in zip(ours, theirs):
        expected = _KINDS.get(type(a))
        if expected is not None and not isinstance(b, expected):
            return None
    return {id(a): b for a, b in zip(ours, theirs)}


# --- pruning ---------------------------------------------------------------------------------


def trigger_lines(text: str, pattern: re.Pattern[str]) -> list[int]:
    """Prefix counts of lines that contain a trigger: lines a..b have one iff c[b] > c[a-1]."""
    starts = [0] + [m.end() for m in re.finditer(r"\r\n|\r|\n", text)]
    marked = [0] * (len(starts) + 1)
    for match in pattern.finditer(text):
        marked[bisect.bisect_right(starts, match.start())] = 1
    counts = [0] * len(marked)
    for i in range(1, len(marked)):
        counts[i] = counts[i - 1] + marked[i]
    return counts


def first_line(node: ast.stmt) -> int:
    decorators = getattr(node, "decorator_list", None)
    return min([node.lineno, *(d.lineno for d in decorators)]) if decorators else node.lineno


def quiet_statements(module: cst.Module, pairing: dict[int, ast.stmt], counts: list[int]) -> set[int]:
    """ids of the libcst statements with no trigger in any of their lines: nothing to visit."""
    quiet: set[int] = set()

    def has_trigger(first: int, last: int) -> bool:
        return counts[min(last, len(counts) - 1)] > counts[first - 1]

    def walk(body: Sequence[cst.BaseStatement]) -> None:
        for statement in body:
            if isinstance(statement, cst.SimpleStatementLine):
                nodes = [pairing[id(s)] for s in statement.body]
                first, last = min(n.lineno for n in nodes), max(n.end_lineno or n.lineno for n in nodes)
                if not has_trigger(first, last):
                    quiet.add(id(statement))
                continue
            node = pairing[id(statement)]
            if not has_trigger(first_line(node), node.end_lineno or node.lineno):
                quiet.add(id(statement))
            else:
                walk(list(_direct_blocks(statement)))

    walk(module.body)
    return quiet


def _direct_blocks(statement: cst.BaseCompoundStatement) -> Iterator[cst.BaseStatement]:
    """The statements of every indented block of a compound statement (one level down)."""
    blocks: list[cst.BaseSuite] = [] if isinstance(statement, cst.Match) else [statement.body]
    for handler in getattr(statement, "handlers", ()):
        blocks.append(handler.body)
    for case in getattr(statement, "cases", ()):
        blocks.append(case.body)
    orelse = getattr(statement, "orelse", None)
    if isinstance(orelse, cst.If):
        yield orelse
    elif isinstance(orelse, cst.Else):
        blocks.append(orelse.body)
    final = getattr(statement, "finalbody", None)
    if isinstance(final, cst.Finally):
        blocks.append(final.body)
    for block in blocks:
        if isinstance(block, cst.IndentedBlock):
            yield from block.body


# --- positions -------------------------------------------------------------------------------


@dataclass
class Locator:
    """Positions of nodes, computed per statement; `exact` is the fallback for unpaired files."""

    module: cst.Module
    text_lines: Sequence[str]
    pairing: dict[int, ast.stmt] | None
    _exact: dict[cst.CSTNode, CodeRange] | None = None

    def _whole_module(self) -> dict[cst.CSTNode, CodeRange]:
        if self._exact is None:
            self._exact = dict(MetadataWrapper(self.module, unsafe_skip_copy=True).resolve(PositionProvider))
        return self._exact

    def spans(self, requests: Sequence[tuple[cst.CSTNode, Statement | None]]) -> list[Span]:
        """The span of each node, given the innermost statement that holds it."""
        if self.pairing is None:
            exact = self._whole_module()
            return [_span(exact.get(node)) for node, _ in requests]
        by_statement: dict[int, tuple[dict[cst.CSTNode, CodeRange], cst.CSTNode]] = {}
        spans = []
        for node, statement in requests:
            paired = self.pairing.get(id(statement)) if statement is not None else None
            if paired is None:
                spans.append(_span(self._whole_module().get(node)))
                continue
            if node is statement:
                spans.append(self._statement_span(paired))
                continue
            key = id(statement)
            if key not in by_statement:
                by_statement[key] = self._local_positions(statement)
            positions, shell = by_statement[key]
            spans.append(self._place(positions.get(node), positions.get(shell), paired))
        return spans

    def _indent(self, node: ast.stmt) -> str:
        line = self.text_lines[node.lineno - 1] if node.lineno <= len(self.text_lines) else ""
        return line[: len(line) - len(line.lstrip(" \t\f"))]

    def _source_at(self, node: ast.stmt) -> str:
        line = self.text_lines[node.lineno - 1] if node.lineno <= len(self.text_lines) else ""
        return line[self._column(node):]

    def _column(self, node: ast.stmt) -> int:
        """ast columns count UTF-8 bytes; libcst and editors count characters."""
        line = self.text_lines[node.lineno - 1] if node.lineno <= len(self.text_lines) else ""
        return len(line.encode("utf-8")[: node.col_offset].decode("utf-8", errors="replace"))

    def _statement_span(self, node: ast.stmt) -> Span:
        return Span(node.lineno, self._column(node) + 1, node.end_lineno or node.lineno,
                    (node.end_col_offset or 0) + 1)

    def _local_positions(self, statement: Statement) -> tuple[dict[cst.CSTNode, CodeRange], cst.CSTNode]:
        """Regenerate only this statement, inside a block indented as in the file, so columns
        of continuation lines come out right. Returns the positions and the node that stands
        for the statement there."""
        paired = self.pairing[id(statement)]  # type: ignore[index]
        shell = _header_only(statement)
        line: cst.BaseStatement = (
            cst.SimpleStatementLine(body=[shell]) if isinstance(shell, cst.BaseSmallStatement) else shell
        )
        if isinstance(shell, cst.If) and self._source_at(paired).startswith("elif"):
            # an `elif` is regenerated as one, so its header keeps its columns
            line = cst.If(test=cst.Name("_"), body=_STUB, orelse=shell)
        indent = self._indent(paired)
        body: cst.BaseStatement = line
        if indent:
            body = cst.If(test=cst.Name("_"), body=cst.IndentedBlock(body=[line], indent=indent))
        mini = cst.Module(body=[body], default_newline=self.module.default_newline)
        return dict(MetadataWrapper(mini, unsafe_skip_copy=True).resolve(PositionProvider)), shell

    def _place(self, local: CodeRange | None, anchor: CodeRange | None, paired: ast.stmt) -> Span:
        """Move a position found in the regenerated statement to where the statement is."""
        if local is None or anchor is None:
            return self._statement_span(paired)
        shift = paired.lineno - anchor.start.line
        first_line_column = self._column(paired) - anchor.start.column

        def column(position: int, line: int) -> int:
            return position + (first_line_column if line == anchor.start.line else 0) + 1

        return Span(local.start.line + shift, column(local.start.column, local.start.line),
                    local.end.line + shift, column(local.end.column, local.end.line))


_STUB = cst.IndentedBlock(body=[cst.SimpleStatementLine(body=[cst.Pass()])])


def _header_only(statement: Statement) -> Statement:
    """A compound statement without its body: positions in its header (decorators, test,
    parameters) do not depend on it. try/match keep theirs: their handlers come after it."""
    if isinstance(statement, cst.BaseSmallStatement) or isinstance(statement, (cst.Try, cst.TryStar, cst.Match)):
        return statement
    changes: dict[str, object] = {}
    if isinstance(statement.body, cst.IndentedBlock):
        changes["body"] = _STUB
    if getattr(statement, "orelse", None) is not None:
        changes["orelse"] = None
    return statement.with_changes(**changes) if changes else statement


def _span(position: CodeRange | None) -> Span:
    if position is None:
        return Span(1, 1, 1, 1)
    return Span(position.start.line, position.start.column + 1, position.end.line, position.end.column + 1)


# --- nesting ---------------------------------------------------------------------------------

# libcst parses, visits and prints a tree by recursion, several frames per level of its tree:
# the rewriter runs it with a deep stack (engine.contained), and refuses a file whose tree
# would be deeper than this many levels (a 1,500-term `or` chain, 1,500 adjacent string
# literals, a list nested 1,500 deep) with a message instead of exhausting it. Real code stays
# under 100.
MAX_NESTING = 1_500
_BLOCKS = ("body", "orelse", "finalbody")
# libcst levels per level of the stdlib tree: f(x) is Call > Arg > x, a[0] is Subscript >
# SubscriptElement > Index > 0, {k: v} is Dict > DictElement > v
_WEIGHT: dict[type, int] = {ast.Call: 2, ast.Subscript: 3, ast.Dict: 2, ast.Lambda: 2, ast.keyword: 2}


def deepest(tree: ast.Module, text: str, limit: int | None = None) -> tuple[int, int] | None:
    """(levels, line) of the first statement whose libcst tree would nest deeper than `limit`
    (MAX_NESTING), or None. Cheap: every level takes at least a character of source, so only
    statements (or headers of compound statements) whose lines hold more than the levels left
    are walked."""
    limit = MAX_NESTING if limit is None else limit
    starts = [0, *(m.end() for m in LINE_BREAK.finditer(text)), len(text) + 1]

    def room(node: ast.AST) -> int:
        first, last = node.lineno, node.end_lineno or node.lineno  # type: ignore[attr-defined]
        return starts[min(last, len(starts) - 1)] - starts[first - 1]

    stack: list[tuple[ast.stmt, int]] = [(s, 2) for s in tree.body]
    while stack:
        statement, level = stack.pop()
        if room(statement) <= limit - level:  # too short to nest that deep, blocks and all
            continue
        if level > limit:
            return level, statement.lineno
        children = [s for block in _statement_blocks(statement) for s in block]
        # a block is two levels (IndentedBlock, then the statement line); an `elif` is one
        elif_ = statement.orelse[0] if isinstance(statement, ast.If) and len(statement.orelse) == 1 else None
        stack.extend((child, level + (1 if child is elif_ else 2)) for child in children)
        parts = [statement] if not children else list(_header_parts(statement))
        for part in parts:
            if hasattr(part, "lineno") and room(part) <= limit - level:
                continue
            levels = level + _expression_depth(part, text, starts, limit - level)
            if levels > limit:
                return levels, getattr(part, "lineno", statement.lineno)
    return None


def _statement_blocks(statement: ast.stmt) -> Iterator[list[ast.stmt]]:
    for name in _BLOCKS:
        block = getattr(statement, name, None)
        if isinstance(block, list) and block and isinstance(block[0], ast.stmt):
            yield block
    for part in (*getattr(statement, "handlers", ()), *getattr(statement, "cases", ())):
        yield part.body


def _header_parts(statement: ast.stmt) -> Iterator[ast.AST]:
    """What a compound statement holds besides its blocks: test, target, decorators, bases…"""
    for name, value in ast.iter_fields(statement):
        if name in _BLOCKS:
            continue
        if name == "handlers":
            yield from (h.type for h in value if h.type is not None)
        elif name == "cases":
            for case in value:
                yield case.pattern
                if case.guard is not None:
                    yield case.guard
        elif isinstance(value, ast.AST):
            yield value
        elif isinstance(value, list):
            yield from (v for v in value if isinstance(v, ast.AST))


def _expression_depth(node: ast.AST, text: str, starts: Sequence[int], room: int) -> int:
    """How deep libcst's tree of this node nests (an upper estimate), walked without recursion."""
    deepest_level = 0
    stack = [(node, 0)]
    while stack:
        current, level = stack.pop()
        level += _WEIGHT.get(type(current), 1)
        if isinstance(current, ast.BoolOp):
            level += len(current.values) - 2  # `a or b or c` is one node for ast, nested for libcst
        elif isinstance(current, ast.alias):
            level += current.name.count(".")  # `import a.b.c` nests attributes in libcst
        elif isinstance(current, ast.ImportFrom):
            level += (current.module or "").count(".")
        elif isinstance(current, (ast.JoinedStr, ast.Constant)) and isinstance(getattr(current, "value", ""), (str, bytes)):
            level += _adjacent_strings(current, text, starts, room - level) - 1
        deepest_level = max(deepest_level, level)
        stack.extend((child, level) for child in ast.iter_child_nodes(current))
    return deepest_level


def _adjacent_strings(node: ast.AST, text: str, starts: Sequence[int], room: int) -> int:
    """How many string literals are written next to each other for this one string (ast joins
    `"a" "b"`; libcst nests them): tokenized only when there is room for more than `room`."""
    segment = text[_offset(text, starts, node.lineno, node.col_offset):  # type: ignore[attr-defined]
                   _offset(text, starts, node.end_lineno, node.end_col_offset)]  # type: ignore[attr-defined]
    if len(segment) <= 2 * max(room, 0):  # every literal takes two characters at least
        return 1
    import io
    import tokenize

    kinds = {tokenize.STRING, getattr(tokenize, "FSTRING_START", tokenize.STRING)}
    try:
        tokens = tokenize.generate_tokens(io.StringIO(f"(\n{segment}\n)").readline)
        return max(1, sum(1 for t in tokens if t.type in kinds))
    except (tokenize.TokenError, SyntaxError):
        return len(segment) // 2  # cannot tell: assume the worst


def _offset(text: str, starts: Sequence[int], line: int, column: int) -> int:
    """The offset in `text` of an ast position (its columns count UTF-8 bytes)."""
    start = starts[line - 1]
    source = text[start:starts[min(line, len(starts) - 1)]]
    return start + (column if source.isascii() else len(source.encode("utf-8")[:column].decode("utf-8", "replace")))
