"""backend-scope: code that *is* a CUDA backend is left as it is (docs/accelerator.md).

Device-agnostic code runs on whatever accelerator is present, or on the CPU. A class or def
named for CUDA (Lightning's `CUDAAccelerator`, `_clear_cuda_memory`), an `if
torch.cuda.is_available():` branch, or a def that returns early unless CUDA is there, is the
CUDA half of code that already chooses its backend: rewriting it to the current accelerator
changes what it does (`torch.device("cuda", i)` would become a CPU device where a test mocks
CUDA in). This unit keeps every other kind out of such a scope (its `visit_` handler returns
False) and reports the scope once, where something inside could have been converted.
"""

from __future__ import annotations

import ast
import re

import libcst as cst

from portkit.python.context import Context, Kind
from portkit.python.imports import dotted_parts
from portkit.ruleset import BackendScope, Rule

_WORD = re.compile(r"[A-Z]+(?![a-z])|[A-Z]?[a-z]+|[0-9]+")
# The other backends an if/elif chain may choose between: a CUDA branch beside one of these is
# the CUDA half of a dispatch (accelerate's clear_device_cache); a lone `if
# torch.cuda.is_available():` is the generic "use the accelerator" path and is ported.
_OTHER_BACKENDS = frozenset({"xpu", "mps", "npu", "xla", "hpu", "mlu", "tpu", "musa", "ipu", "mtia", "neuron"})


def name_words(name: str) -> set[str]:
    """`CUDAAccelerator` -> {cuda, accelerator}; `_clear_cuda_memory` -> {clear, cuda, memory}."""
    return {word.lower() for word in _WORD.findall(name)}


class _Calls(cst.CSTVisitor):
    """The calls of an expression (an `if` test), lambdas left out."""

    def __init__(self) -> None:
        self.calls: list[cst.Call] = []

    def visit_Call(self, node: cst.Call) -> None:
        self.calls.append(node)

    def visit_Lambda(self, node: cst.Lambda) -> bool:
        return False


class BackendScopeKind(Kind):
    specs = (BackendScope,)

    def __init__(self, context: Context) -> None:
        super().__init__(context)
        self._specs = [(r, r.spec) for r in context.rules.ruleset.rules if isinstance(r.spec, BackendScope)]
        self._dispatch_branches: set[int] = set()  # ids of the `elif` nodes of backend dispatches

    def visit_ClassDef(self, node: cst.ClassDef) -> bool:
        return self._leave_alone(node, f"class {node.name.value}", self._named(node.name.value))

    def visit_FunctionDef(self, node: cst.FunctionDef) -> bool:
        return self._leave_alone(node, f"def {node.name.value}", self._named(node.name.value))

    def visit_If(self, node: cst.If) -> bool:
        if not self._specs:
            return True
        chain = _chain(node)
        if id(node) not in self._dispatch_branches and any(self._other_backend(link.test) for link in chain):
            self._dispatch_branches.update(id(link) for link in chain)
        if id(node) not in self._dispatch_branches:
            return True
        rule = self._guarded(node.test)
        if rule is None:
            return True
        # the CUDA branch alone is left, its test and body; the branches after it are ported
        if self._has_work(node, node.body):
            spec = rule.spec
            assert isinstance(spec, BackendScope)
            scope = f"if {self.context.module.code_for_node(node.test)}"
            self.context.flag(rule, node, spec.message.format(scope=scope))
        self.context.skipped.update((id(node.test), id(node.body)))
        return True

    def _leave_alone(self, node: cst.CSTNode, scope: str, rule: Rule | None) -> bool:
        """False (the other kinds stay out) for a scope of a rule; reported when a rule could act inside."""
        if rule is None:
            return True
        if self._has_work(node, node):
            spec = rule.spec
            assert isinstance(spec, BackendScope)
            self.context.flag(rule, node, spec.message.format(scope=scope))
        return False

    def _has_work(self, statement: cst.CSTNode, part: cst.CSTNode) -> bool:
        """Could a rule act inside `part` of `statement`? Triage's second stage on the statement's
        stdlib tree, so "CUDA" in a docstring or `self.cuda_sync_point` is no work: then the
        scope is not reported, by migrate as by check on the ported file (which triage skips)."""
        if not self.rules.may_need_work(self.context.module.code_for_node(part)):
            return False
        pairing = self.context.pairing
        tree = pairing.get(id(statement)) if pairing is not None else None
        if tree is None:
            return True
        if isinstance(tree, ast.If) and part is not statement:
            return any(self.rules.may_need_work_tree(child) for child in tree.body)
        return self.rules.may_need_work_tree(tree)

    def _named(self, name: str) -> Rule | None:
        words = name_words(name)
        return next((rule for rule, spec in self._specs if spec.words & words), None)

    def _other_backend(self, test: cst.BaseExpression) -> bool:
        """Does the test call another backend's guard (`is_xpu_available()`, `torch.backends.mps.is_available()`)?"""
        finder = _Calls()
        test.visit(finder)
        return any(name_words(part) & _OTHER_BACKENDS for call in finder.calls for part in dotted_parts(call.func) or ())

    def _guarded(self, test: cst.BaseExpression) -> Rule | None:
        """The rule whose guard the test calls (`torch.cuda.is_available()`, `is_cuda_available()`)."""
        finder = _Calls()
        test.visit(finder)
        for call in finder.calls:
            callee = self.context.callee(call)
            parts = dotted_parts(call.func)
            words = name_words(parts[-1]) if parts else set()
            for rule, spec in self._specs:
                if callee in spec.guards or spec.guard_words & words:
                    return rule
        return None


def _chain(node: cst.If) -> list[cst.If]:
    """The `if` and its `elif`s."""
    links = [node]
    while isinstance(links[-1].orelse, cst.If):
        links.append(links[-1].orelse)
    return links
