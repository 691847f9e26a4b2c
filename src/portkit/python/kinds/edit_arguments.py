"""edit-arguments: argument fixes on calls to listed functions (or methods: `.cuda`).

Positional -> keyword (`positional_to_keyword`), a keyword already in its place -> positional
for positional-only targets (`keyword_to_positional`; elsewhere a manual item), and a missing
first argument (`insert_first`, unless `keyword` is passed). Nothing moves past a `*args`.

`device_index`: where the torch that the chosen torch_npu pairs with reads an integer device
as CUDA (torch < 2.3, docs/device-indices.md), an integer in a device position becomes an
explicit NPU device: `.to(0)` -> `.to("npu:0")`, `device=local_rank` -> `device=f"npu:{local_rank}"`.
"""

from __future__ import annotations

import libcst as cst

from portkit.python.context import Kind
from portkit.python.imports import dotted_parts
from portkit.python.kinds.contracts import as_keyword, as_positional
from portkit.ruleset import EditArguments, Rule
from portkit.ruleset.calls import DeviceIndex


class EditArgumentsKind(Kind):
    specs = (EditArguments,)

    def leave_Call(self, original_node: cst.Call, updated_node: cst.Call) -> cst.Call:
        callee = self.context.callee(original_node)
        func = original_node.func
        method = f".{func.attr.value}" if isinstance(func, cst.Attribute) and callee is None \
            and self.context.receiver_is_value(func.value) else None
        for name in (callee, method):
            for rule, spec in self.rules.arg_edits.get(name or "", ()):
                updated_node = self._edit(rule, spec, original_node, updated_node)
        for rule, index in self.rules.device_indices:
            updated_node = self._device_index(rule, index, callee or method, original_node, updated_node)
        return updated_node

    def _edit(self, rule: Rule, spec: EditArguments, original: cst.Call, updated: cst.Call) -> cst.Call:
        args = list(updated.args)
        positional = [i for i, a in enumerate(args) if a.keyword is None and a.star == ""]
        has_star = any(a.star for a in args)
        changed = False
        for index, keyword in sorted(spec.positional_to_keyword.items()):
            if index < len(positional) and not has_star:
                at = positional[index]
                args[at] = as_keyword(args[at], keyword)
                changed = True
        for keyword, index in spec.keyword_to_positional.items():
            # only where the keyword argument already sits at that position: nothing moves
            at = len(positional)
            if index == at and not has_star and at < len(args) and args[at].keyword is not None \
                    and args[at].keyword.value == keyword:  # type: ignore[union-attr]
                args[at] = as_positional(args[at])
                positional.append(at)
                changed = True
            elif any(a.keyword is not None and a.keyword.value == keyword for a in args):
                self.context.flag(rule, original, f"pass {keyword}= as argument {index + 1}: the new function "
                                                  f"takes it by position only")
        if spec.insert_first is not None and not positional and not has_star:
            if not any(a.keyword is not None and a.keyword.value == spec.keyword for a in args):
                args.insert(0, self.context.first_argument(spec.insert_first, bool(args)))
                changed = True
        if changed:
            self.context.change(rule, original, spec.message)
            return updated.with_changes(args=args)
        return updated

    # -- integer device indices --

    def _device_index(self, rule: Rule, spec: DeviceIndex, callee: str | None, original: cst.Call,
                      updated: cst.Call) -> cst.Call:
        if callee is not None and any(callee == c or callee.startswith(c + ".") for c in spec.except_calls):
            return updated
        args = list(updated.args)
        if any(a.star for a in args):
            return updated
        position = spec.positional.get(callee or "")
        positional = [i for i, a in enumerate(args) if a.keyword is None]
        at_position = positional[position] if position is not None and position < len(positional) else None
        changed = False
        for i, arg in enumerate(args):
            if i != at_position and (arg.keyword is None or arg.keyword.value not in spec.keywords):
                continue
            evidence = self._index_evidence(spec, arg.value)
            if evidence is None:
                continue
            code = self.context.module.code_for_node(arg.value)
            device = _device_expression(spec.device, arg.value, code)
            args[i] = arg.with_changes(value=device)
            where = original.args[i] if len(original.args) == len(args) else original
            self.context.change(rule, where, f"device index {code} → {self.context.module.code_for_node(device)} "
                                             f"(torch {self.rules.npu_api.torch} reads an integer device as CUDA; "
                                             f"evidence: {evidence})")
            changed = True
        return updated.with_changes(args=args) if changed else updated

    def _index_evidence(self, spec: DeviceIndex, value: cst.BaseExpression) -> str | None:
        """Why `value` is a device index: an integer literal, a call that returns one, or (the
        name-heuristic) a name that reads as one; None when it may be anything else."""
        if isinstance(value, cst.Integer):
            return "an integer literal" if spec.literals else None
        if isinstance(value, cst.Call):
            parts = dotted_parts(value.func)
            name = self.imports.resolve(parts) if parts is not None else None
            if parts == ["int"] and "int" not in self.imports.bindings:
                name = "int"
            return f"{name}() returns an index" if name in spec.calls else None
        parts = dotted_parts(value)
        if spec.names is not None and parts is not None and parts[0] not in self.imports.bindings \
                and spec.names.search(parts[-1]):
            return f"name-heuristic ({'.'.join(parts)})"
        return None


def _device_expression(device: str, value: cst.BaseExpression, code: str) -> cst.BaseExpression:
    """`"npu:0"` for a literal, `f"npu:{rank}"` for an expression (quoted so that it parses on
    every Python 3), `"npu:{}".format(...)` when the expression holds both kinds of quote."""
    if isinstance(value, cst.Integer):
        return cst.SimpleString(f'"{device}:{value.value}"')
    quote = '"' if '"' not in code else "'"
    if quote in code or "\\" in code or "\n" in code:
        return cst.Call(func=cst.Attribute(value=cst.SimpleString(f'"{device}:{{}}"'), attr=cst.Name("format")),
                        args=[cst.Arg(value=value)])
    return cst.FormattedString(parts=[cst.FormattedStringText(f"{device}:"),
                                      cst.FormattedStringExpression(expression=value)],
                               start=f"f{quote}", end=quote)
