"""report: manual items only, nothing changes.

Uses of listed names, and of names under listed module prefixes that carry guidance (a
`fallback` rule takes every name no other rule handled); keyword arguments of calls to them
(`use_cuda=`); listed attributes on any value (`x.is_cuda`); imports of listed modules. A
name listed both ways is reported at its import, and not again where that import's binding
is used.

A listed name that a rename converts is also reported in its new spelling (compiled.py), so
`check` on a ported tree keeps the item: `torch.npu.get_device_capability`, or the accelerator
target's `torch.get_device_module().get_device_capability`. A use that rename-api left
unchanged and reported (a call its twin would not run the same way) is not reported twice.
"""

from __future__ import annotations

import libcst as cst

from portkit.python.context import Kind, Use
from portkit.python.imports import dotted_name, module_name
from portkit.python.names import has_import
from portkit.ruleset import RenameApi, Report


class ReportKind(Kind):
    specs = (Report,)

    def use(self, use: Use) -> None:
        """Exact names always; module prefixes only with guidance (else at their imports)."""
        if self._held(use.node):
            return
        seen: set[str] = set()
        for matched, flag in self.rules.flags_for(use.qualified):
            spec = flag.spec
            if flag.rule.id in seen or (spec.fallback and (use.renamed or len(seen) > 0)):
                continue
            guidance = spec.guidance.get(matched)
            if not (matched in spec.names or guidance is not None or spec.fallback):
                continue  # module prefixes are reported at their imports, not at every use
            if self._bound_by_reported_import(use, matched, spec):
                continue
            seen.add(flag.rule.id)
            self.context.flag(flag.rule, use.node, guidance or spec.message.format(name=matched))

    def _bound_by_reported_import(self, use: Use, matched: str, spec: Report) -> bool:
        """A name listed under `prefixes` is reported at the import that binds it, once per
        statement (`from torch.utils.cpp_extension import CUDAExtension`, `import amp_C`): a use
        spelled from that binding (`CUDAExtension(...)`, `amp_C.multi_tensor_scale`) is not
        reported again. A use reached otherwise (`cpp_extension.load(...)`) still is."""
        if matched not in spec.prefixes:
            return False
        head = use.chain.parts[0] if use.chain is not None else getattr(use.node, "value", None)
        binding = self.context.imports.bindings.get(head) if isinstance(head, str) else None
        return binding is not None and binding.qualified == matched

    def _held(self, node: cst.CSTNode) -> bool:
        """Did rename-api just report this use (it runs first on every use)?"""
        events = self.context.events
        return bool(events) and events[-1].node is node and not events[-1].is_change \
            and isinstance(events[-1].rule.spec, RenameApi)

    def leave_Attribute(self, original_node: cst.Attribute, updated_node: cst.BaseExpression) -> cst.BaseExpression:
        flags = self.rules.attribute_flags.get(original_node.attr.value)
        if flags and self.context.receiver_is_value(original_node.value):
            name = "." + original_node.attr.value
            for flag in flags:
                self.context.flag(flag.rule, original_node, flag.spec.message.format(name=name))
        value = original_node.value
        if isinstance(value, cst.Call) and not value.args:  # `torch.get_device_module().X`
            callee = self.context.callee(value)
            if callee is not None:
                self._flag_name(f"{callee}().{original_node.attr.value}", original_node)
        return updated_node

    def _flag_name(self, name: str, node: cst.CSTNode) -> None:
        seen: set[str] = set()
        for flag in self.rules.exact_flags.get(name, ()):
            if flag.rule.id not in seen:
                seen.add(flag.rule.id)
                self.context.flag(flag.rule, node, flag.spec.guidance.get(name) or flag.spec.message.format(name=name))

    def leave_Call(self, original_node: cst.Call, updated_node: cst.Call) -> cst.Call:
        callee = self.context.callee(original_node)
        if callee is not None:
            for _, flag in self.rules.flags_for(callee):
                for arg in original_node.args:
                    if arg.keyword is not None and arg.keyword.value in flag.spec.keywords:
                        self.context.flag(flag.rule, arg, flag.spec.keywords[arg.keyword.value])
        return updated_node

    def leave_SimpleStatementLine(
        self, original_node: cst.SimpleStatementLine, updated_node: cst.BaseStatement | cst.FlattenSentinel
    ) -> cst.BaseStatement | cst.FlattenSentinel:
        """Imports of reported modules (rename-api may have rewritten the line: the statements
        looked at are the original ones)."""
        if has_import(original_node):
            for statement in original_node.body:
                if isinstance(statement, cst.ImportFrom):
                    self._flag_import(statement, module_name(statement))
                elif isinstance(statement, cst.Import):
                    for alias in statement.names:
                        self._flag_import(statement, dotted_name(alias.name))
        return updated_node

    def _flag_import(self, statement: cst.Import | cst.ImportFrom, module: str | None) -> None:
        if module is None:
            return
        names = [module]
        if isinstance(statement, cst.ImportFrom) and not isinstance(statement.names, cst.ImportStar):
            names += [f"{module}.{dotted_name(a.name)}" for a in statement.names]
        for rule, message in self.rules.import_flags(module, names):
            self.context.flag(rule, statement, message, statement=statement)
