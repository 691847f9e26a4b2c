"""Multi-backend frameworks: add an NPU backend beside the CUDA one, do not rewrite it (issue 14, item 9).

Lightning has `CUDAAccelerator`, `CPUAccelerator`, `MPSAccelerator`, `XLAAccelerator` side by side,
registered by name (`registry.register("cuda", CUDAAccelerator)`) and picked by a connector that
imports them all. Rewriting the CUDA one to torch.npu leaves a framework whose "cuda" backend
runs on the NPU and whose CUDA users are broken; the port it needs is a new backend class
registered under a new name. So a file that defines a CUDA backend class deriving from a generic
one (`class CUDAAccelerator(Accelerator)`), registers "cuda" in a registry (the rule's own
report-string context, `.register` first argument), or dispatches between a CUDA backend and
its siblings (imports `CUDAAccelerator` and `MPSAccelerator`) is left unchanged and reported
once, by the `multi-backend-framework` rule. `--ignore multi-backend-framework` ports it anyway.

The detection is per file (files are ported independently, in worker processes): a framework
gets one item per backend or dispatch file, each naming the backend classes that file shows.
"""

from __future__ import annotations

import ast
import warnings
from dataclasses import dataclass

import libcst as cst

from portkit.python.context import Context, Kind
from portkit.python.lines import BACKEND_CLASS

RULE_ID = "multi-backend-framework"
_CUDA = ("CUDA", "Cuda", "GPU", "Gpu")


@dataclass(frozen=True)
class Evidence:
    """What one file shows of a multi-backend framework."""

    defines: tuple[str, ...]  # CUDA backend classes deriving from a generic one: "CUDAAccelerator(Accelerator)"
    siblings: tuple[str, ...]  # backend classes of one family it names, CUDA's among them

    def __bool__(self) -> bool:
        return bool(self.defines or self.siblings)

    def describe(self) -> str:
        parts = [f"defines {', '.join(self.defines)}"] if self.defines else []
        if self.siblings:
            parts.append(f"dispatches between {', '.join(self.siblings)}")
        return "; ".join(parts)


def evidence(tree: ast.Module) -> Evidence:
    """The backend classes a module defines and names, by their spelling and their bases."""
    defines, families = [], {}  # type: list[str], dict[str, set[str]]
    for node in ast.walk(tree):
        if isinstance(node, ast.ClassDef) and (match := BACKEND_CLASS.fullmatch(node.name)):
            bases = [ast.unparse(b).rpartition(".")[2] for b in node.bases]
            if match.group(1) in _CUDA and any(b.endswith(match.group(2)) and b != node.name for b in bases):
                defines.append(f"{node.name}({', '.join(bases)})")
        names = [node.id] if isinstance(node, ast.Name) else [node.attr] if isinstance(node, ast.Attribute) else [
            a.asname or a.name for a in node.names] if isinstance(node, ast.ImportFrom) else []
        for name in names:
            if match := BACKEND_CLASS.fullmatch(name.rpartition(".")[2]):
                families.setdefault(match.group(2), set()).add(match.group(0))
    siblings = sorted({n for family in families.values() if len(family) > 1 and any(n.startswith(_CUDA) for n in family)
                       for n in family})
    return Evidence(tuple(defines), tuple(siblings))


class MultiBackendKind(Kind):
    """Runs last, on the module: a backend file of a multi-backend framework keeps its text."""

    specs = ()  # the rule is a report-string rule (its `.register` context); this unit adds the rest

    def __init__(self, context: Context) -> None:
        super().__init__(context)
        self._rule = next((rule for rule, _ in self.rules.strings if rule.id == RULE_ID), None)

    def leave_Module(self, original_node: cst.Module, updated_node: cst.Module) -> cst.Module:
        if self._rule is None:
            return updated_node
        flagged = any(e.rule is self._rule for e in self.context.events)
        found = Evidence((), ())
        # the whole file's text and tree: a sparse parse leaves out statements without triggers,
        # such as `class CPUAccelerator(Accelerator): ...`, and generating the code costs
        text = self.context.full_text if self.context.full_text is not None else original_node.code
        if BACKEND_CLASS.search(text):
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                found = evidence(self.context.flow_tree or ast.parse(text))
        if not (flagged or found):
            return updated_node
        self.context.events[:] = [e for e in self.context.events if not e.is_change]
        if not flagged:
            why = found.describe()
            self.context.flag(self._rule, original_node.body[0] if original_node.body else original_node,
                              f"a backend of a multi-backend framework ({why}): left unchanged; add an NPU backend "
                              f"beside it instead (--ignore {RULE_ID} ports this file anyway)")
        return original_node
