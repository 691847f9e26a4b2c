"""check's fast path (fastcheck.py): does a string a string rule looks for stand only where it is text?

A string literal that a replace-string or report-string rule looks for (a trigger of
`CompiledRules.triggers`) can only record an event where `kinds/replace_string.py` or
`mockpatch.py` looks at it: an argument of a call at a position the rule lists (the callee's
last name among its `positional` keys), a keyword argument the rule names, an operand of a
comparison, a branch of a conditional (rules without `flow`), an assigned value or a parameter
default (rules with `flow` or `names`), a returned value (rules with `flow`), a dict value
(rules with `names`), a subscript (rules with `subscripts`). Those handlers look through the
shapes strings.py knows (f-strings, `"x".format(...)`, `"x" % y`, `"x" + y`, conditionals,
dicts, lists, tuples, sets, starred arguments) and no further, so the literal is judged by the
place of the outermost such shape around it. This is conservative: wherever a rule could act,
whatever the value flow would say, the file goes to the reference path; a docstring, a log
message, an `assert` message, an unlisted call's argument ("nccl" given to a helper of the
project's own) or a list no rule looks at cannot record anything.
"""

from __future__ import annotations

import ast
from collections.abc import Iterable, Mapping

from portkit.ruleset import ReplaceString, StringContexts

_WRAPPERS = (ast.List, ast.Tuple, ast.Set, ast.Starred, ast.JoinedStr)


def hits(value: str, spec: ReplaceString) -> bool:
    """Could the rule's shapes see `value` (a superset of strings.mentions' literals)?"""
    return value in spec.values or any(value.startswith(p) for p in spec.prefixes) or (
        spec.report_pattern is not None and spec.report_pattern.search(value) is not None)


def strings_are_text(tree: ast.Module, constants: Iterable[ast.Constant], specs: Iterable[ReplaceString],
                     imports: Iterable[ast.AST]) -> bool:
    """True when none of `constants` (string triggers) stands where a rule it hits could act;
    `imports` are the file's import statements (the caller's walk found them already)."""
    parents: dict[ast.AST, ast.AST] = {}
    for node in ast.walk(tree):
        for child in ast.iter_child_nodes(node):
            parents[child] = node
    bound = _import_names(imports)
    rules = list(specs)
    return all(_is_text(constant, spec.contexts, parents, bound) for constant in constants
               for spec in rules if hits(constant.value, spec))


def _import_names(imports: Iterable[ast.AST]) -> dict[str, set[str]]:
    """Each name an import binds anywhere -> the last parts of what it may stand for."""
    bound: dict[str, set[str]] = {}
    for node in imports:
        if isinstance(node, ast.Import):
            for alias in node.names:
                qualified = alias.name if alias.asname else alias.name.split(".")[0]
                bound.setdefault(alias.asname or qualified, set()).add(qualified.rsplit(".", 1)[-1])
        elif isinstance(node, ast.ImportFrom):
            for alias in node.names:
                bound.setdefault(alias.asname or alias.name, set()).add(alias.name)
    return bound


def _is_text(constant: ast.AST, c: StringContexts, parents: Mapping[ast.AST, ast.AST],
             bound: Mapping[str, set[str]]) -> bool:
    """Up through the shapes the rule's handlers look through, then the place they stand in."""
    node, parent = constant, parents.get(constant)
    while parent is not None:
        if isinstance(parent, ast.IfExp) and node is not parent.test:
            if c.conditional and c.flow is None:  # leave_IfExp, wherever the conditional stands
                return False
        elif isinstance(parent, ast.Dict):
            if c.names is not None and any(v is node for v in parent.values):  # leave_DictElement
                return False
        elif isinstance(parent, ast.BinOp):
            if node is not parent.left or not isinstance(parent.op, (ast.Mod, ast.Add)):
                break
        elif isinstance(parent, ast.Attribute):  # "cuda:{}".format(i): the call is the shape
            call = parents.get(parent)
            if parent.attr != "format" or not isinstance(call, ast.Call) or call.func is not parent:
                break
            parent = call
        elif not isinstance(parent, _WRAPPERS):
            break
        node, parent = parent, parents.get(parent)
    return parent is None or _place_is_text(node, parent, c, parents, bound)


def _place_is_text(node: ast.AST, parent: ast.AST, c: StringContexts, parents: Mapping[ast.AST, ast.AST],
                   bound: Mapping[str, set[str]]) -> bool:
    if isinstance(parent, ast.Call):
        return node is parent.func or not _listed_callee(parent, c, bound)
    if isinstance(parent, ast.keyword):
        call = parents.get(parent)
        if not isinstance(call, ast.Call):
            return True  # a class statement's keyword: no call to libcst
        keyword = parent.arg
        if keyword is None:  # `**{...}`: an argument without a keyword, as a positional one
            return not _listed_callee(call, c, bound)
        return not (keyword in c.keywords or keyword in c.dict_keywords or (
            c.names is not None and (c.names.search(keyword) is not None or keyword in ("default", "choices"))))
    if isinstance(parent, ast.Compare):
        return not c.compare
    if isinstance(parent, ast.Subscript):
        return node is not parent.slice or not c.subscripts
    if isinstance(parent, (ast.Assign, ast.AnnAssign)):
        return node is not parent.value or (c.flow is None and c.names is None)
    if isinstance(parent, ast.arguments):  # a default
        return c.flow is None and c.names is None
    if isinstance(parent, ast.Return):
        return c.flow is None
    return True


def _listed_callee(call: ast.Call, c: StringContexts, bound: Mapping[str, set[str]]) -> bool:
    """May the call's callee be one of the rule's positional keys (by its last name)?"""
    if not c.positional:
        return False
    func = call.func
    if isinstance(func, ast.Attribute):
        names = {func.attr}
    elif isinstance(func, ast.Name):
        names = {func.id, *bound.get(func.id, ())}
    else:
        return False
    return any(key.rsplit(".", 1)[-1] in names for key in c.positional)
