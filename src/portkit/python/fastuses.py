"""libcst's view of a file, rebuilt from the stdlib tree for check's fast path (fastcheck.py).

The import map as imports.build_import_map reads it, the statements as libcst groups them
(`a; b` is one line, a compound statement stands alone), the names that are strings to `ast`
and Name nodes to libcst (`global x`, `except E as x`), and rename-api's call contracts.

Call contracts: a ported tree keeps the calls rename-api left unchanged because their twin would not run them
the same way (`major, minor = torch.cuda.get_device_capability()`, kinds/contracts.py). The
reference path reports them from libcst: how a call's result is used (`ResultUses`, noted
from each node before its children) and which arguments it passes (`hold_reason`). These are
the same judgements over `ast` nodes, node for node:

| libcst (contracts.py)                 | ast                                             |
|---------------------------------------|-------------------------------------------------|
| Attribute(value=call)                 | Attribute(value=call)                           |
| Subscript(value=call)                 | Subscript(value=call)                           |
| Assign to a Tuple or List target      | Assign to a Tuple or List target                |
| StarredElement, Arg(star="*")         | Starred (in a display, a target or a call)      |
| Comparison, not all `is`/`is not`     | Compare, not all Is/IsNot                       |
| FormattedStringExpression             | FormattedValue                                  |
| string `%` operand(s)                 | BinOp(Mod) with a str/bytes/f-string left       |
| `.format(...)` arguments              | its args (a Starred's value) and keyword values |

Kept apart from contracts.py (which imports libcst); tests/test_check_fastpath.py holds both
to the same answers. `rewrites_import` and `names_edited_call` are the file-wide half of the
fast path's condition that no rule changes the file (FixableNames.may_change, less the uses).
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator, Sequence

from portkit.python.triage import FixableNames, dotted_chain as dotted, import_bindings
from portkit.ruleset.calls import CallContract, argument_reason, held_because

_IDENTITY = (ast.Is, ast.IsNot)


def rewrites_import(node: ast.Import | ast.ImportFrom, fixable: FixableNames) -> bool:
    """FixableNames.may_change on one import: does a rename rewrite it, or rebind its alias?"""
    if isinstance(node, ast.Import):
        return any(a.asname and a.name in fixable.modules for a in node.names)
    if node.level or not node.module:
        return False
    return any(f"{node.module}.{a.name}" in fixable.qualified or f"{node.module}.{a.name}" in fixable.modules
               for a in node.names)


def names_edited_call(names: list[ast.AST], imports: list[ast.AST], call_edits: frozenset[str]) -> bool:
    """FixableNames.may_change's names, for the callees an argument rule edits only: the uses
    of renamed names and modules with a twin are the walk's to judge, one by one, where the
    rewriter meets them (FixableNames counts `torch.cuda` inside every `torch.cuda.X`, which
    has a twin, so any unconverted `torch.cuda.X` would decline)."""
    bindings = dict(import_bindings(imports))
    for node in names:
        parts = dotted(node)
        if parts is None or parts[0] not in bindings:
            continue
        qualified = [*bindings[parts[0]].split("."), *parts[1:]]
        if any(".".join(qualified[:end]) in call_edits for end in range(len(qualified), 0, -1)):
            return True
    return False




class AstResultUses:
    """contracts.ResultUses over `ast`: how the result of each call is used, by id(call)."""

    def __init__(self) -> None:
        self.uses: dict[int, set[str]] = {}
        self.attributes: dict[int, set[str]] = {}

    def note(self, node: ast.AST) -> None:
        """Learn from a node how the calls directly inside it are used (before its children)."""
        for operand, use in _operands(node):
            if type(operand) is ast.Call:
                if use.startswith("."):
                    self.attributes.setdefault(id(operand), set()).add(use[1:])
                else:
                    self.uses.setdefault(id(operand), set()).add(use)


def _operands(node: ast.AST) -> list[tuple[ast.expr, str]]:
    kind = type(node)
    if kind is ast.Attribute:
        return [(node.value, "." + node.attr)]  # type: ignore[attr-defined]
    if kind is ast.Subscript:
        return [(node.value, "indexed")]  # type: ignore[attr-defined]
    if kind is ast.Assign:
        unpacked = any(isinstance(t, (ast.Tuple, ast.List)) for t in node.targets)  # type: ignore[attr-defined]
        return [(node.value, "unpacked")] if unpacked else []  # type: ignore[attr-defined]
    if kind is ast.Starred:
        return [(node.value, "unpacked")]  # type: ignore[attr-defined]
    if kind is ast.Compare:
        if all(isinstance(op, _IDENTITY) for op in node.ops):  # type: ignore[attr-defined]
            return []
        return [(operand, "compared") for operand in (node.left, *node.comparators)]  # type: ignore[attr-defined]
    if kind is ast.FormattedValue:
        return [(node.value, "formatted")]  # type: ignore[attr-defined]
    if kind is ast.BinOp:
        return _formatted_operands(node)  # type: ignore[arg-type]
    if kind is ast.Call:
        func = node.func  # type: ignore[attr-defined]
        if isinstance(func, ast.Attribute) and func.attr == "format":
            values = [a.value if isinstance(a, ast.Starred) else a for a in node.args]  # type: ignore[attr-defined]
            return [(value, "formatted") for value in (*values, *(k.value for k in node.keywords))]  # type: ignore
    return []


def _formatted_operands(node: ast.BinOp) -> list[tuple[ast.expr, str]]:
    """`"%s" % x`: libcst's left is a SimpleString (bytes too), ConcatenatedString or FormattedString."""
    left = node.left
    if not isinstance(node.op, ast.Mod) or not (
            isinstance(left, ast.JoinedStr) or (isinstance(left, ast.Constant) and isinstance(left.value, (str, bytes)))):
        return []
    right = node.right
    if isinstance(right, ast.Tuple):
        return [(e.value if isinstance(e, ast.Starred) else e, "formatted") for e in right.elts]
    return [(right, "formatted")]


def hold_reason(contract: CallContract, call: ast.Call | None, uses: AstResultUses, new: str) -> str | None:
    """contracts.hold_reason for an `ast` call: why a use of the old name stays as it is, or None."""
    if call is None:
        return held_because(contract, False, None, set(), set())
    return held_because(contract, True, _argument_reason(contract, call, new),
                        uses.uses.get(id(call), set()), uses.attributes.get(id(call), set()))


def _argument_reason(contract: CallContract, call: ast.Call, new: str) -> str | None:
    """contracts._argument_reason: libcst's one list of arguments is ast's positional ones
    followed by its keywords (without a star, a keyword cannot come before a positional)."""
    if any(isinstance(a, ast.Starred) for a in call.args) or any(k.arg is None for k in call.keywords):
        return None
    positional = len(call.args)
    keywords = {k.arg: positional + i for i, k in enumerate(call.keywords) if k.arg is not None}
    return argument_reason(contract, positional, keywords, new)


# --- names that are strings in `ast` and Name nodes (uses) in libcst ------------------------------


def label_names(statement: ast.Global | ast.Nonlocal, line: str) -> Iterator[tuple[str, int]] | None:
    """(name, column) of each name of a one-line `global a, b` as libcst sees them (character
    columns, 0-based); None when they cannot be found on that line (a backslash continuation)."""
    found: list[tuple[str, int]] = []
    match = re.compile(r"(?:global|nonlocal)\b").match(line, _char(line, statement.col_offset))
    position = match.end() if match else -1
    for name in statement.names:
        spot = re.compile(rf"[\s,]*({re.escape(name)})\b").match(line, position) if position >= 0 else None
        if spot is None:
            return None
        found.append((name, spot.start(1)))
        position = spot.end(1)
    return iter(found)


def handler_name(handler: ast.ExceptHandler, line: str) -> int | None:
    """The column (characters, 0-based) of `name` in `except E as name:` on the line where E
    ends; None when it is not there."""
    if handler.type is None or handler.name is None:
        return None
    spot = re.compile(rf"[\s)]*as\s+({re.escape(handler.name)})\b").match(
        line, _char(line, handler.type.end_col_offset or 0))
    return spot.start(1) if spot else None


def _char(line: str, offset: int) -> int:
    """A character column from an `ast` (UTF-8 byte) column."""
    return offset if line.isascii() else len(line.encode("utf-8")[:offset].decode("utf-8", errors="replace"))


# --- the import map, as imports.build_import_map reads it from libcst ----------------------------


def import_map(tree: ast.Module) -> tuple[dict[str, str], bool]:
    """local name -> qualified name, and whether there is a `from m import *`; the statements
    are read in the order imports.import_statements reads them (a later binding wins)."""
    bindings: dict[str, str] = {}
    star = False
    for statement in import_statements(tree.body):
        if isinstance(statement, ast.Import):
            for alias in statement.names:
                if alias.asname:
                    bindings[alias.asname] = alias.name
                else:
                    head = alias.name.split(".")[0]
                    bindings[head] = head
        elif not statement.level and statement.module:
            for alias in statement.names:
                if alias.name == "*":
                    star = True
                    break
                bindings[alias.asname or alias.name] = f"{statement.module}.{alias.name}"
    return bindings, star


def import_statements(body: Sequence[ast.stmt]) -> Iterator[ast.Import | ast.ImportFrom]:
    for statement in body:
        if isinstance(statement, (ast.Import, ast.ImportFrom)):
            yield statement
        else:
            yield from import_statements(list(_import_blocks(statement)))


def _import_blocks(statement: ast.stmt) -> Iterator[ast.stmt]:
    """imports._blocks over the stdlib tree: a body, then the handlers last to first, the
    finally block, the else block (an `elif` is the else block's one statement). A match has
    no body for libcst."""
    stack: list[object] = [statement]
    while stack:
        node = stack.pop()
        if isinstance(node, list):
            yield from node
            continue
        body = getattr(node, "body", None)
        if isinstance(body, list):
            yield from body
        for name in ("orelse", "finalbody"):
            child = getattr(node, name, None)
            if child:
                stack.append(child)
        stack.extend(getattr(node, "handlers", ()))


# --- statements and names as libcst groups and sees them ------------------------------------------


def prefix_node(node: ast.AST, drop: int) -> ast.AST:
    """The node of a dotted chain's prefix: `drop` attributes fewer than `node`."""
    for _ in range(drop):
        node = node.value  # type: ignore[attr-defined]
    return node


def name_at(name: str, line_number: int, line: str, column: int) -> ast.Name:
    """An ast Name where libcst has one that ast keeps as a string (`global x`, `except E as x`)."""
    start = len(line[:column].encode("utf-8"))
    return ast.Name(id=name, lineno=line_number, col_offset=start, end_lineno=line_number,
                    end_col_offset=start + len(name.encode("utf-8")))


COMPOUND = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.If, ast.For, ast.AsyncFor, ast.While,
             ast.With, ast.AsyncWith, ast.Try, ast.TryStar, ast.Match)


def is_compound(statement: ast.stmt) -> bool:
    return isinstance(statement, COMPOUND)


def logical_lines(body: Sequence[ast.stmt], lines: Sequence[str]) -> Iterator[list[ast.stmt]]:
    """The statements of a block as libcst groups them: a compound statement alone, small
    statements joined by `;` into one line."""
    group: list[ast.stmt] = []
    for statement in body:
        if is_compound(statement):
            if group:
                yield group
                group = []
            yield [statement]
            continue
        if group and not _same_line(group[-1], statement, lines):
            yield group
            group = []
        group.append(statement)
    if group:
        yield group


def _same_line(before: ast.stmt, after: ast.stmt, lines: Sequence[str]) -> bool:
    """Is `after` on the logical line of `before` (`a = 1; b = 2`, or after a backslash)?"""
    end = before.end_lineno or before.lineno
    if after.lineno == end:
        return True
    rest = lines[end - 1].encode("utf-8")[before.end_col_offset or 0:] if end <= len(lines) else b""
    if not rest.rstrip().endswith(b"\\"):
        return False
    # only blanks, backslash continuations and comments can stand between two statements
    between = [rest, *(line.encode("utf-8") for line in lines[end:after.lineno - 1])]
    between.append(lines[after.lineno - 1].encode("utf-8")[:after.col_offset])
    return any(b";" in part.split(b"#")[0] for part in between)
