"""Dotted names in libcst trees: reading them, spelling them, and what counts as a use.

Shared by the alias pre-pass (aliases.py), the rewriter's name resolution (transform.py) and
the rule kinds that write names (kinds/).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import libcst as cst

from portkit.python.imports import dotted_name, dotted_parts


def parent(qualified: str) -> str:
    return qualified.rpartition(".")[0]


def last(qualified: str) -> str:
    return qualified.rpartition(".")[2]


@dataclass
class Chain:
    """A dotted expression `a.b.c` split into its nodes, innermost (the Name) first."""

    nodes: list[cst.BaseExpression]
    parts: list[str]


def chain_of(node: cst.Attribute) -> Chain | None:
    nodes: list[cst.BaseExpression] = []
    current: cst.BaseExpression = node
    while isinstance(current, cst.Attribute):
        nodes.append(current)
        current = current.value
    if not isinstance(current, cst.Name):
        return None
    nodes.append(current)
    nodes.reverse()
    parts = [current.value] + [n.attr.value for n in nodes[1:]]  # type: ignore[attr-defined]
    return Chain(nodes, parts)


def has_import(line: cst.SimpleStatementLine) -> bool:
    return any(isinstance(s, (cst.Import, cst.ImportFrom)) for s in line.body)


def dotted_expression(name: str) -> cst.Attribute | cst.Name:
    parts = name.split(".")
    node: cst.Attribute | cst.Name = cst.Name(parts[0])
    for part in parts[1:]:
        node = cst.Attribute(value=node, attr=cst.Name(part))
    return node


def importable(module: str) -> str:
    """The path an import statement must use for a module under torch.npu.

    torch_npu registers only `torch.npu` itself in sys.modules: `import torch.npu.amp` (or
    `from torch.npu.amp import X`) would load the files a second time as a different module,
    with different classes. `torch_npu.npu.amp` is the real module; attribute access such as
    `torch.npu.amp.autocast` is fine and stays as it is.
    """
    if module.startswith("torch.npu."):
        return "torch_npu.npu." + module[len("torch.npu."):]
    return module


class Respell(cst.CSTTransformer):
    """Rewrites every dotted name `a.b.c` of an expression to the parts `spell` gives."""

    def __init__(self, spell: Callable[[str], list[str]]) -> None:
        super().__init__()
        self.spell = spell

    def visit_Attribute(self, node: cst.Attribute) -> bool:
        return dotted_parts(node) is None  # a whole dotted chain is handled when it is left

    def leave_Attribute(self, original_node: cst.Attribute, updated_node: cst.Attribute) -> cst.BaseExpression:
        name = dotted_name(original_node)
        if name is None:
            return updated_node
        return dotted_expression(".".join(self.spell(name))).with_changes(
            lpar=updated_node.lpar, rpar=updated_node.rpar)


class NameRoles:
    """Tells expression names from names that only label things: import statements (handled
    at statement level), keyword argument names, parameters, def and class names. Shared by
    the alias pre-pass and the rewriter, which must agree on what a "use" is."""

    _skip_names: set[int]

    def visit_Import(self, node: cst.Import) -> bool:
        return False

    def visit_ImportFrom(self, node: cst.ImportFrom) -> bool:
        return False

    def visit_Arg(self, node: cst.Arg) -> None:
        if node.keyword is not None:
            self._skip_names.add(id(node.keyword))

    def visit_Param(self, node: cst.Param) -> None:
        self._skip_names.add(id(node.name))

    def visit_FunctionDef(self, node: cst.FunctionDef) -> None:
        self._skip_names.add(id(node.name))

    def visit_ClassDef(self, node: cst.ClassDef) -> None:
        self._skip_names.add(id(node.name))
