"""The rewriter: one libcst pass per file that applies every active rule.

Rules are compiled once into indexes keyed by what they match (compiled.py), so a node is
offered only to the rules that can care about it. Each rule kind is a unit of its own in
kinds/, registered in `kinds.KINDS`; this module walks the tree once and hands every node to
the handlers the units have for its type, in registry order, after resolving names and
dotted chains through the file's imports (a `Use`, see context.py). The units record an
`Event` for every change and manual item, keyed to the *original* node; positions are
computed afterwards, and only for files that produced events (see engine.py).
"""

from __future__ import annotations

import ast
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import libcst as cst

from portkit.python.aliases import AliasPlan, plan_module_aliases
from portkit.python.compiled import CompiledRules
from portkit.python.context import Context, Event, Kind, Use
from portkit.python.imports import Binding, ImportMap, build_import_map
from portkit.python.kinds import KINDS
from portkit.python.lines import TORCH_ATTRIBUTE
from portkit.python.names import NameRoles, chain_of, importable
from portkit.python.statements import pair, quiet_statements, trigger_lines
from portkit.python.strings import rewrite_string_as_expression, rewrite_string_expression

__all__ = [
    "TORCH_ATTRIBUTE", "AliasPlan", "CompiledRules", "Event", "Migrator", "Outcome", "importable",
    "plan_module_aliases", "rewrite_string_as_expression", "rewrite_string_expression", "transform",
]



@dataclass
class Outcome:
    """What the transformer did to one module."""

    module: cst.Module
    events: list[Event] = field(default_factory=list)
    pairing: dict[int, ast.stmt] | None = None  # libcst statement -> ast statement (statements.py)

    @property
    def changed(self) -> bool:
        return any(e.is_change for e in self.events)


class _Names(NameRoles, Kind):
    """Ahead of every kind: each name or dotted chain that resolves through the file's
    imports becomes a `Use`, offered to the kinds' `use` handlers in registry order. Names
    that only label things (keywords, parameters, def names: NameRoles) are not uses."""

    def __init__(self, context: Context) -> None:
        super().__init__(context)
        self._skip_names: set[int] = set()
        self.uses: tuple[Callable[[Use], None], ...] = ()

    def visit_Attribute(self, node: cst.Attribute) -> bool:
        chain = chain_of(node)
        if chain is None:
            self._skip_names.add(id(node.attr))
            return True
        qualified = self.imports.resolve(chain.parts)
        if qualified is not None:
            use = Use(qualified, node, chain)
            for handler in self.uses:
                handler(use)
        return False  # a pure dotted chain has nothing else inside to visit

    def visit_Name(self, node: cst.Name) -> None:
        if id(node) in self._skip_names:
            return
        binding = self.imports.bindings.get(node.value)
        if binding is not None:
            use = Use(binding.qualified, node, None)
            for handler in self.uses:
                handler(use)


# --- the dispatch tables, found once from the units' method names ---------------------------

_Table = dict[type[cst.CSTNode], tuple[tuple[int, Callable[..., Any]], ...]]


@dataclass(frozen=True)
class Hooks:
    """Per node type, which units handle it and with what (unit index, function), in order."""

    visit: _Table
    leave: _Table
    use: tuple[tuple[int, Callable[..., Any]], ...]


def hooks(units: Sequence[type[Kind]]) -> Hooks:
    """The `visit_<Node>`, `leave_<Node>` and `use` handlers of `units`, by node type."""
    tables: dict[str, dict[type[cst.CSTNode], list[tuple[int, Callable[..., Any]]]]] = {"visit": {}, "leave": {}}
    uses = []
    for index, unit in enumerate(units):
        for name in dir(unit):
            hook, _, node_name = name.partition("_")
            if name == "use":
                uses.append((index, unit.use))  # type: ignore[attr-defined]
            elif hook in tables and node_name:
                node_type = getattr(cst, node_name, None)
                if not (isinstance(node_type, type) and issubclass(node_type, cst.CSTNode)):
                    raise TypeError(f"{unit.__name__}.{name}: libcst has no node type {node_name}")
                tables[hook].setdefault(node_type, []).append((index, getattr(unit, name)))
    visit, leave = ({kind: tuple(entries) for kind, entries in table.items()} for table in tables.values())
    return Hooks(visit, leave, tuple(uses))


_UNITS: tuple[type[Kind], ...] = (_Names, *KINDS)
_HOOKS = hooks(_UNITS)


def _bind(table: _Table, units: Sequence[Kind]) -> dict[type[cst.CSTNode], tuple[Callable[..., Any], ...]]:
    return {kind: tuple(function.__get__(units[i]) for i, function in entries) for kind, entries in table.items()}


# --- the transformer ------------------------------------------------------------------------


class Migrator(cst.CSTTransformer):
    """Applies every compiled rule to one module in one pass: keeps the statement stack,
    does not enter statements without a trigger, and hands each node to the units'
    handlers for its type (see kinds/__init__.py)."""

    def __init__(self, rules: CompiledRules, module: cst.Module, tree: ast.Module | None = None,
                 text: str | None = None, flow_tree: ast.Module | None = None) -> None:
        super().__init__()
        imports = build_import_map(module)
        if text is not None and _torch_from_star_import(imports, text):
            # DeepSpeed's zero/stage3.py uses `torch` from `from ... import *`: that name is
            # the torch module, and an expression portkit writes must not import it again
            imports.bindings["torch"] = Binding("torch", "torch", True)
        self.pairing = pair(module, tree) if tree is not None else None
        self._quiet: set[int] = set()
        if self.pairing is not None and text is not None:
            # names bound to CUDA things (`import torch.cuda as tc`) are triggers in this file
            aliases = [b.name for b in imports.bindings.values() if rules.may_need_work(b.qualified)]
            counts = trigger_lines(text, rules.triggers.regex(aliases))
            self._quiet = quiet_statements(module, self.pairing, counts)
        self.context = Context(rules, module, imports, plan_module_aliases(module, imports, rules, self._quiet))
        self.context.pairing = self.pairing
        self.context.skipped = self._quiet  # a unit may add a subtree no unit enters (backend-scope)
        self.context.flow_tree = flow_tree if flow_tree is not None else tree
        self.events = self.context.events
        self._statements = self.context.statements
        units: list[Kind] = [unit(self.context) for unit in _UNITS]
        names = units[0]
        assert isinstance(names, _Names)
        names.uses = tuple(function.__get__(units[i]) for i, function in _HOOKS.use)
        self._visit = _bind(_HOOKS.visit, units)
        self._leave = _bind(_HOOKS.leave, units)

    def on_visit(self, node: cst.CSTNode) -> bool:
        kind = type(node)
        if kind in _STATEMENT_TYPES:
            self._statements.append(node)
        if id(node) in self._quiet:
            return False
        descend = True
        for handler in self._visit.get(kind, ()):
            if handler(node) is False:
                descend = False
        return descend

    def on_leave(self, original_node: cst.CSTNode, updated_node: cst.CSTNode):  # type: ignore[no-untyped-def]
        kind = type(original_node)
        for handler in self._leave.get(kind, ()):
            updated_node = handler(original_node, updated_node)
        if kind in _STATEMENT_TYPES:
            self._statements.pop()
        return updated_node


def _torch_from_star_import(imports: ImportMap, text: str) -> bool:
    return imports.star_import and "torch" not in imports.bindings and TORCH_ATTRIBUTE.search(text) is not None


_STATEMENT_TYPES = frozenset(
    kind for base in (cst.BaseSmallStatement, cst.BaseCompoundStatement)
    for kind in [base, *base.__subclasses__()]
    for kind in [kind, *kind.__subclasses__()]
)


def transform(module: cst.Module, rules: CompiledRules, tree: ast.Module | None = None,
              text: str | None = None, flow_tree: ast.Module | None = None, full_text: str | None = None) -> Outcome:
    """Apply the rules to a module. With the stdlib tree and text of the same source,
    statements without triggers are skipped and events can be located cheaply. `flow_tree`
    is the whole file's stdlib tree when `tree` is a sparse one (sparse.py): the value flow
    (valueflow.py) follows values through the statements the sparse parse left out, and
    `full_text` its text (backends.py reads names there without generating the module's code)."""
    migrator = Migrator(rules, module, tree, text, flow_tree)
    migrator.context.full_text = full_text
    new_module = module.visit(migrator)
    return Outcome(new_module, migrator.events, migrator.pairing)
