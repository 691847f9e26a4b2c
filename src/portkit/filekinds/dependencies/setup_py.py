"""setup.py: the string literals of setup()'s install_requires, setup_requires, tests_require,
extras_require and dependency_links (stdlib ast), also through module-level variables.
Only reported, never edited."""

from __future__ import annotations

import ast

from portkit.filekinds.dependencies.common import (
    CUDA_URL, URL, Found, Text, Url, parse_location, parse_requirement, plain_dep,
)

_SETUP_KEYWORDS = ("install_requires", "setup_requires", "tests_require", "extras_require", "dependency_links")


def scan_setup_py(text: str, found: Found) -> Text:
    t = Text(text)
    try:
        tree = ast.parse(text)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return t  # the Python kind reports why
    assigned: dict[str, ast.expr] = {}
    for statement in tree.body:
        if isinstance(statement, ast.Assign):
            for target in statement.targets:
                if isinstance(target, ast.Name):
                    assigned[target.id] = statement.value
        elif isinstance(statement, ast.AnnAssign) and isinstance(statement.target, ast.Name) and statement.value:
            assigned[statement.target.id] = statement.value
    for node in ast.walk(tree):
        if not (isinstance(node, ast.Call) and _call_name(node.func).split(".")[-1] == "setup"):
            continue
        for keyword in node.keywords:
            if keyword.arg in _SETUP_KEYWORDS:
                for literal in _string_literals(keyword.value, assigned, set()):
                    _setup_py_string(t, literal, keyword.arg == "dependency_links", found)
    return t


def _call_name(node: ast.expr) -> str:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return f"{_call_name(node.value)}.{node.attr}"
    return ""


def _string_literals(node: ast.expr, assigned: dict[str, ast.expr], seen: set[str]) -> list[ast.Constant]:
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return [node]
    if isinstance(node, (ast.List, ast.Tuple, ast.Set)):
        return [s for e in node.elts for s in _string_literals(e, assigned, seen)]
    if isinstance(node, ast.Dict):
        return [s for v in node.values for s in _string_literals(v, assigned, seen)]
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
        return _string_literals(node.left, assigned, seen) + _string_literals(node.right, assigned, seen)
    if isinstance(node, ast.Name) and node.id in assigned and node.id not in seen:
        return _string_literals(assigned[node.id], assigned, seen | {node.id})
    return []


def _setup_py_string(t: Text, literal: ast.Constant, link: bool, found: Found) -> None:
    line = literal.lineno - 1
    content = t.content(line)
    column = len(content.encode("utf-8")[:literal.col_offset].decode("utf-8", "replace"))
    start = t.starts[line] + column
    end_line = (literal.end_lineno or literal.lineno) - 1
    end_content = t.content(end_line)
    end = t.starts[end_line] + len(end_content.encode("utf-8")[:literal.end_col_offset or 0].decode("utf-8", "replace"))
    value = literal.value
    assert isinstance(value, str)
    if link or URL.match(value.strip()) and parse_location(value.strip(), 0, 0) is None:
        if CUDA_URL.search(value):
            found.urls.append(Url(value, start, end))
        return
    parsed = parse_requirement(value, found.wanted)
    if parsed is not None:
        found.deps.append(plain_dep(parsed, value[parsed.name_start:parsed.head_end], start, end))
