"""Module aliases that can follow their module to its NPU twin.

`from torch import cuda` or `import torch.cuda as tc` binds a local name to a CUDA module; when
every use of that name converts, the import is rebound to the twin (`from torch import npu`)
and the uses keep their spelling. A pre-pass over the module decides which aliases can.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import libcst as cst

from portkit.python.compiled import CompiledRules
from portkit.python.imports import Binding, ImportMap, dotted_parts
from portkit.python.names import NameRoles, last
from portkit.ruleset import Rule, is_expression


@dataclass(frozen=True)
class AliasPlan:
    """A local name bound to a module that has an NPU twin, to be rebound to the twin."""

    old_name: str
    new_name: str
    old_qualified: str
    new_qualified: str
    rule: Rule


class _AliasUses(NameRoles, cst.CSTVisitor):
    """Collects how module aliases are used: as `alias.x.y` chains or bare."""

    def __init__(self, names: Iterable[str], quiet: set[int]) -> None:
        self.names = set(names)
        self.chains: dict[str, list[list[str]]] = {n: [] for n in self.names}
        self.bare: set[str] = set()
        self._skip_names: set[int] = set()
        self._quiet = quiet  # statements without any trigger (the alias names are triggers)

    def on_visit(self, node: cst.CSTNode) -> bool:
        return id(node) not in self._quiet and super().on_visit(node)

    def visit_Attribute(self, node: cst.Attribute) -> bool:
        parts = dotted_parts(node)
        if parts is None:
            self._skip_names.add(id(node.attr))
            return True
        if parts[0] in self.names:
            self.chains[parts[0]].append(parts)
        return False

    def visit_Name(self, node: cst.Name) -> None:
        if node.value in self.names and id(node) not in self._skip_names:
            self.bare.add(node.value)


def plan_module_aliases(module: cst.Module, imports: ImportMap, rules: CompiledRules,
                        quiet: set[int] | None = None) -> dict[str, AliasPlan]:
    """Which aliases of CUDA modules can be rebound to their NPU twin without a dangling name.

    `from torch import cuda` may become `from torch import npu` only if every use of `cuda`
    in the file is an API that exists under torch.npu; otherwise the import stays (and the
    convertible uses are rewritten through another name, see kinds/rename_api.py).
    """
    candidates = {
        b.name: b
        for b in imports.bindings.values()
        if b.qualified in rules.module_twins and (b.name != b.qualified.split(".")[0])
        and not is_expression(rules.module_twins[b.qualified].new)
    }
    if not candidates:
        return {}
    uses = _AliasUses(candidates, quiet or set())
    module.visit(uses)
    plans: dict[str, AliasPlan] = {}
    for name, binding in candidates.items():
        twin = rules.module_twins[binding.qualified]
        if name in uses.bare:
            continue
        if not all(_converts_within(chain, binding, twin.new, rules) for chain in uses.chains[name]):
            continue
        new_name = name
        if not binding.is_module_import and name == last(binding.qualified):
            # `from torch import cuda` -> `from torch import npu`, unless `npu` means something else
            candidate = last(twin.new)
            new_name = candidate if candidate not in imports.bindings else name
        plans[name] = AliasPlan(name, new_name, binding.qualified, twin.new, twin.rule)
    return plans


def _converts_within(chain: list[str], binding: Binding, twin: str, rules: CompiledRules) -> bool:
    qualified = ".".join([binding.qualified, *chain[1:]])
    parts = qualified.split(".")
    floor = len(binding.qualified.split("."))
    for end in range(len(parts), floor, -1):
        rename = rules.renames.get(".".join(parts[:end]))
        if rename is not None:
            return rename.new.startswith(twin + ".")
    return False
