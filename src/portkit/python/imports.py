"""A light import map: which local names stand for which qualified names.

libcst's QualifiedNameProvider resolves scopes precisely but costs about 9x a parse; ported
code needs far less. Imports are collected from the statements alone (module level and inside
if/try/with/def/class bodies), so no expression is walked. Names are treated as file-global,
which is what real code does with imports; a local variable that shadows an imported module is
the price of this speed and is rare.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

import libcst as cst


def dotted_parts(node: cst.BaseExpression) -> list[str] | None:
    """`a.b.c` -> ["a", "b", "c"]; None for anything that is not a plain dotted name."""
    parts: list[str] = []
    while isinstance(node, cst.Attribute):
        parts.append(node.attr.value)
        node = node.value
    if not isinstance(node, cst.Name):
        return None
    parts.append(node.value)
    parts.reverse()
    return parts


def dotted_name(node: cst.BaseExpression) -> str | None:
    parts = dotted_parts(node)
    return ".".join(parts) if parts is not None else None


@dataclass(frozen=True)
class Binding:
    name: str  # the local name
    qualified: str  # what it stands for
    is_module_import: bool  # bound by `import x` / `import x.y as z` (not by `from x import y`)


@dataclass
class ImportMap:
    bindings: dict[str, Binding] = field(default_factory=dict)
    imported_modules: set[str] = field(default_factory=set)  # every module named by an import
    star_import: bool = False  # `from m import *`: names the file does not import may come from it

    def resolve(self, parts: list[str]) -> str | None:
        """The qualified name of a dotted expression, or None when its head is not imported."""
        binding = self.bindings.get(parts[0])
        if binding is None:
            return None
        return ".".join([binding.qualified, *parts[1:]])

    def resolve_expression(self, node: cst.BaseExpression) -> str | None:
        parts = dotted_parts(node)
        return self.resolve(parts) if parts is not None else None

    def imports_module(self, module: str) -> bool:
        """True if `module` (or a submodule of it) is imported anywhere in the file."""
        prefix = module + "."
        return any(m == module or m.startswith(prefix) for m in self.imported_modules)

    def module_binding_for(self, qualified: str) -> Binding | None:
        """The module-import binding whose qualified name is the longest prefix of `qualified`."""
        best: Binding | None = None
        for binding in self.bindings.values():
            if not binding.is_module_import:
                continue
            q = binding.qualified
            if (qualified == q or qualified.startswith(q + ".")) and (
                best is None or len(q) > len(best.qualified)
            ):
                best = binding
        return best


def import_statements(body: Iterator[cst.CSTNode] | list) -> Iterator[cst.Import | cst.ImportFrom]:
    """Every import statement in a statement list, descending into compound statements."""
    for statement in body:
        if isinstance(statement, cst.SimpleStatementLine):
            for small in statement.body:
                if isinstance(small, (cst.Import, cst.ImportFrom)):
                    yield small
        elif isinstance(statement, cst.BaseCompoundStatement):
            yield from import_statements(_blocks(statement))


def _blocks(statement: cst.BaseCompoundStatement) -> Iterator[cst.CSTNode]:
    """The statements nested in a compound statement (all branches)."""
    stack: list[cst.CSTNode] = [statement]
    while stack:
        node = stack.pop()
        body = getattr(node, "body", None)
        if isinstance(body, cst.IndentedBlock):
            yield from body.body
        elif isinstance(body, cst.SimpleStatementSuite):
            yield cst.SimpleStatementLine(body=body.body)
        for attribute in ("orelse", "finalbody"):
            child = getattr(node, attribute, None)
            if child is not None:
                stack.append(child)
        for handler in getattr(node, "handlers", ()):
            stack.append(handler)


def module_name(node: cst.ImportFrom) -> str | None:
    """The absolute module of a `from` import; None for relative imports."""
    if node.relative or node.module is None:
        return None
    return dotted_name(node.module)


def build_import_map(module: cst.Module) -> ImportMap:
    imports = ImportMap()
    for statement in import_statements(module.body):
        if isinstance(statement, cst.Import):
            for alias in statement.names:
                name = dotted_name(alias.name)
                if name is None:
                    continue
                imports.imported_modules.add(name)
                if alias.asname is not None and isinstance(alias.asname.name, cst.Name):
                    local = alias.asname.name.value
                    imports.bindings[local] = Binding(local, name, True)
                else:
                    head = name.split(".")[0]
                    imports.bindings[head] = Binding(head, head, True)
        else:
            source = module_name(statement)
            if source is None:
                continue
            imports.imported_modules.add(source)
            if isinstance(statement.names, cst.ImportStar):
                imports.star_import = True
                continue
            for alias in statement.names:
                name = dotted_name(alias.name)
                if name is None:
                    continue
                local = name
                if alias.asname is not None and isinstance(alias.asname.name, cst.Name):
                    local = alias.asname.name.value
                imports.bindings[local] = Binding(local, f"{source}.{name}", False)
    return imports
