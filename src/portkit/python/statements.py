"""libcst statements paired with the stdlib's `ast` statements, for what `ast` knows cheaply.

libcst nodes carry no positions: its PositionProvider regenerates the whole module to find
them, which costs about four parses. The stdlib parser gives every statement's line range
for a tenth of a libcst parse. Both parsers see the same statements in the same source
order, so pairing them lets portkit

- skip statements that cannot need a rule (no trigger anywhere in their lines), and
- find an event's position by regenerating only the statement that holds it.

If the two sequences ever disagree, the pairing is refused (None) and callers fall back to
the slow, exact path.

The helpers that need only the text and the stdlib tree (source_lines, trigger_lines,
first_line, `deepest` and MAX_NESTING) live in lines.py, which does not import libcst, and are
re-exported here.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import libcst as cst
from libcst.metadata import CodeRange, MetadataWrapper, PositionProvider

from portkit.model import Span
from portkit.python.lines import (  # noqa: F401 - re-exported: the libcst-free helpers live there
    LINE_BREAK, MAX_NESTING, deepest, first_line, source_lines, trigger_lines,
)

Statement = cst.BaseSmallStatement | cst.BaseCompoundStatement


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
