"""ensure-import: `import torch_npu` once, in files that a change made need it.

Only where torch is: a file that imports torch, or whose new code calls a torch API (a rename,
a method, an argument edit); never one whose only change is a string, such as a constants file
with `NCCL_BACKEND = "hccl"` that imports nothing. It goes right after the file's first
top-level torch import (before it, when that import was rewritten to name torch.npu), else
after the docstring and `__future__` imports. The roots of names a rewrite spelled in full
(`Context.spell`) are imported there too, when the file does not bind them yet.
"""

from __future__ import annotations

import libcst as cst

from portkit.python.context import Kind
from portkit.python.imports import dotted_name, module_name
from portkit.python.names import dotted_expression
from portkit.ruleset import EnsureImport, ReplaceString, Rule


class EnsureImportKind(Kind):
    specs = (EnsureImport,)

    def leave_Module(self, original_node: cst.Module, updated_node: cst.Module) -> cst.Module:
        context = self.context
        to_insert: list[tuple[Rule | None, str]] = []
        for root in sorted(context.needs_root_import):
            if root not in self.imports.bindings:
                to_insert.append((None, root))
        if context.needs_import and self._torch_is_here():
            for rule, spec in self.rules.ensure_imports:
                if not self.imports.imports_module(spec.module):
                    to_insert.append((rule, spec.module))
        if not to_insert:
            return updated_node
        index = self._insertion_index(original_node)
        body = list(updated_node.body)
        new_lines = []
        for rule, name in to_insert:
            line = cst.SimpleStatementLine(body=[cst.Import(names=[cst.ImportAlias(name=dotted_expression(name))])])
            new_lines.append(line)
            anchor = _anchor(original_node, index)
            code = f"import {name}"
            if rule is not None:
                context.change(rule, anchor, f"{code} added", inserted=code, statement=anchor)
            else:
                owner = next((e.rule for e in context.events if e.is_change), None)
                if owner is not None:
                    context.change(owner, anchor, f"{code} added (the rewritten name needs it)", inserted=code,
                                   statement=anchor)
        body[index:index] = new_lines
        return updated_node.with_changes(body=body)

    def _torch_is_here(self) -> bool:
        if self.imports.imports_module("torch"):
            return True
        return any(e.is_change and e.rule.needs_import and not isinstance(e.rule.spec, ReplaceString)
                   for e in self.context.events)

    def _insertion_index(self, module: cst.Module) -> int:
        """Right after the first top-level torch import (before it if it now imports torch.npu)."""
        rewritten = self.context.rewritten_imports
        for index, statement in enumerate(module.body):
            if not isinstance(statement, cst.SimpleStatementLine):
                continue
            for small in statement.body:
                if _imports_torch(small):
                    if id(small) in rewritten:
                        return index
                    return index + 1
        # no torch import at top level: after the docstring and __future__ imports
        index = 0
        for i, statement in enumerate(module.body):
            if isinstance(statement, cst.SimpleStatementLine) and (
                (i == 0 and isinstance(statement.body[0], cst.Expr)
                 and isinstance(statement.body[0].value, (cst.SimpleString, cst.ConcatenatedString)))
                or (isinstance(statement.body[0], cst.ImportFrom) and module_name(statement.body[0]) == "__future__")
            ):
                index = i + 1
            else:
                break
        return index


def _anchor(module: cst.Module, index: int) -> cst.CSTNode:
    """The statement an inserted import is reported at: the one it is inserted before (or the
    last one); for a line of small statements, its first."""
    if not module.body:
        return module
    statement: cst.CSTNode = module.body[min(index, len(module.body) - 1)]
    if isinstance(statement, cst.SimpleStatementLine):
        statement = statement.body[0]
    return statement


def _imports_torch(statement: cst.BaseSmallStatement) -> bool:
    if isinstance(statement, cst.Import):
        return any((dotted_name(a.name) or "").split(".")[0] == "torch" for a in statement.names)
    if isinstance(statement, cst.ImportFrom):
        return (module_name(statement) or "").split(".")[0] == "torch"
    return False
