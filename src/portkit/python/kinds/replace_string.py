"""replace-string and report-string: device, backend and environment-variable strings.

A string literal is rewritten (or, for report-string, reported) only where it means a device,
backend or variable, never in prose: as the listed positional or keyword argument of a call,
a key of a dict passed as `env={...}`, the default or choices of an argparse option whose name
says so, an operand of ==, != and `in`, the other branch of `"cuda" if ok else "cpu"`, a value
assigned to or defaulted for a name that says what it is (`device = "cuda"`), and a subscript
of a listed mapping (`os.environ["X"]`). The shapes of the string itself are strings.py's.
"""

from __future__ import annotations

import libcst as cst

from portkit.python.context import Kind
from portkit.python.strings import (
    StringEdit,
    device_prefix,
    rewrite_string_as_expression,
    rewrite_string_expression,
    string_value,
)
from portkit.ruleset import ReplaceString, Rule


class ReplaceStringKind(Kind):
    specs = (ReplaceString,)

    def leave_Call(self, original_node: cst.Call, updated_node: cst.Call) -> cst.Call:
        if not self.rules.strings:
            return updated_node
        func = original_node.func
        callee = self.context.callee(original_node)
        key = callee if callee is not None else (
            "." + func.attr.value if isinstance(func, cst.Attribute) else None
        )
        return self._call_strings(key, original_node, updated_node)

    def _call_strings(self, key: str | None, original: cst.Call, updated: cst.Call) -> cst.Call:
        args = list(updated.args)
        positional_index = -1
        option_names = self._argparse_options(original)
        for i, (orig_arg, arg) in enumerate(zip(original.args, updated.args)):
            keyword = arg.keyword.value if arg.keyword is not None else None
            if keyword is None and arg.star == "":
                positional_index += 1
            for rule, spec in self.rules.strings:
                c = spec.contexts
                value = arg.value
                if keyword is None:
                    if key is not None and c.positional.get(key) == positional_index:
                        value = self._rewrite_value(rule, spec, orig_arg.value, value)
                elif keyword in c.keywords or (c.names is not None and c.names.search(keyword)):
                    value = self._rewrite_value(rule, spec, orig_arg.value, value)
                elif keyword in c.dict_keywords:
                    value = self._rewrite_dict_keys(rule, spec, orig_arg.value, value)
                elif option_names and keyword in ("default", "choices") and c.names is not None and any(
                    c.names.search(o) for o in option_names
                ):
                    value = self._rewrite_collection(rule, spec, orig_arg.value, value)
                if value is not arg.value:
                    arg = arg.with_changes(value=value)
            args[i] = arg
        if any(a is not b for a, b in zip(args, updated.args)):
            return updated.with_changes(args=args)
        return updated

    @staticmethod
    def _argparse_options(call: cst.Call) -> list[str]:
        """`add_argument("--dist-backend", ...)` -> ["dist_backend"]: the option's dest-like names."""
        if not (isinstance(call.func, cst.Attribute) and call.func.attr.value == "add_argument"):
            return []
        names = []
        for arg in call.args:
            value = string_value(arg.value) if arg.keyword is None else None
            if value is not None:
                names.append(value.lstrip("-").replace("-", "_"))
        return names

    def _rewrite_value(
        self, rule: Rule, spec: ReplaceString, original: cst.BaseExpression, updated: cst.BaseExpression
    ) -> cst.BaseExpression:
        if isinstance(updated, cst.Dict) and isinstance(original, cst.Dict):
            return self._rewrite_dict_keys(rule, spec, original, updated)
        edits: list[StringEdit] = []
        if spec.expressions:
            result = rewrite_string_as_expression(original, updated, spec, edits, self.context.expression)
        else:
            result = rewrite_string_expression(original, updated, spec, edits)
        if spec.report_only:
            for edit in edits:
                self.context.flag(rule, edit.original, spec.report_message.format(name=edit.old))
            result = updated
        for edit in edits if not spec.report_only else ():
            if edit.new is None:
                self.context.flag(rule, edit.original, spec.report_message.format(name=edit.old))
            elif spec.expressions:
                self.context.change(rule, edit.original, f'"{edit.old}" → {edit.new}')
            else:
                self.context.change(rule, edit.original, f'"{edit.old}" → "{edit.new}"')
        if not edits and spec.report_pattern is not None:
            value = string_value(updated)
            if value is not None and spec.report_pattern.search(value):
                self.context.flag(rule, original, spec.report_message.format(name=value))
        return result

    def _rewrite_collection(
        self, rule: Rule, spec: ReplaceString, original: cst.BaseExpression, updated: cst.BaseExpression
    ) -> cst.BaseExpression:
        if isinstance(updated, (cst.List, cst.Tuple, cst.Set)) and type(original) is type(updated):
            elements = [
                element.with_changes(value=self._rewrite_value(rule, spec, o.value, element.value))
                for o, element in zip(original.elements, updated.elements)  # type: ignore[attr-defined]
            ]
            return updated.with_changes(elements=elements)
        return self._rewrite_value(rule, spec, original, updated)

    def _rewrite_dict_keys(
        self, rule: Rule, spec: ReplaceString, original: cst.BaseExpression, updated: cst.BaseExpression
    ) -> cst.BaseExpression:
        if not (isinstance(updated, cst.Dict) and isinstance(original, cst.Dict)):
            return updated
        elements = []
        for o, element in zip(original.elements, updated.elements):
            if isinstance(element, cst.DictElement) and isinstance(o, cst.DictElement):
                element = element.with_changes(key=self._rewrite_value(rule, spec, o.key, element.key))
            elements.append(element)
        return updated.with_changes(elements=elements)

    # -- other places a string means a device, backend or variable --

    def leave_Comparison(self, original_node: cst.Comparison, updated_node: cst.Comparison) -> cst.BaseExpression:
        if not self.rules.string_compare:
            return updated_node
        for rule, spec in self.rules.strings:
            if not spec.contexts.compare:
                continue
            first = original_node.comparisons[0].operator
            if spec.expressions and isinstance(first, (cst.In, cst.NotIn)):
                # `"cuda" in str(device)`: an expression that may be None cannot go on the left
                self._flag_string_operand(rule, spec, original_node.left)
                left = updated_node.left
            else:
                left = self._rewrite_operand(rule, spec, original_node.left, updated_node.left)
            targets = [
                t if spec.expressions and isinstance(o.operator, (cst.In, cst.NotIn))
                and not isinstance(o.comparator, (cst.List, cst.Tuple, cst.Set))
                else t.with_changes(comparator=self._rewrite_operand(rule, spec, o.comparator, t.comparator))
                for o, t in zip(original_node.comparisons, updated_node.comparisons)
            ]
            updated_node = updated_node.with_changes(left=left, comparisons=targets)
        return updated_node

    def _flag_string_operand(self, rule: Rule, spec: ReplaceString, operand: cst.BaseExpression) -> None:
        value = string_value(operand)
        if value is not None and (value in spec.values or device_prefix(value, spec, allow_placeholder=False)):
            self.context.flag(rule, operand, spec.report_message.format(name=value))

    def _rewrite_operand(
        self, rule: Rule, spec: ReplaceString, original: cst.BaseExpression, updated: cst.BaseExpression
    ) -> cst.BaseExpression:
        if isinstance(updated, (cst.SimpleString, cst.FormattedString)):
            return self._rewrite_value(rule, spec, original, updated)
        if isinstance(updated, (cst.List, cst.Tuple, cst.Set)):
            return self._rewrite_collection(rule, spec, original, updated)
        return updated

    def leave_IfExp(self, original_node: cst.IfExp, updated_node: cst.IfExp) -> cst.BaseExpression:
        if not self.rules.string_conditional:
            return updated_node
        for rule, spec in self.rules.strings:
            others = spec.contexts.conditional
            if not others:
                continue
            body, orelse = string_value(updated_node.body), string_value(updated_node.orelse)
            if body is not None and orelse in others:
                updated_node = updated_node.with_changes(
                    body=self._rewrite_value(rule, spec, original_node.body, updated_node.body))
            if orelse is not None and body in others:
                updated_node = updated_node.with_changes(
                    orelse=self._rewrite_value(rule, spec, original_node.orelse, updated_node.orelse))
        return updated_node

    def _named_value(self, name: str | None, original: cst.BaseExpression | None,
                     updated: cst.BaseExpression | None) -> cst.BaseExpression | None:
        """A value assigned to / defaulted for a name that says what it is (`device = "cuda"`)."""
        if name is None or original is None or updated is None:
            return updated
        for rule, spec in self.rules.strings:
            if spec.contexts.names is not None and spec.contexts.names.search(name):
                updated = self._rewrite_value(rule, spec, original, updated)
        return updated

    def leave_Assign(self, original_node: cst.Assign, updated_node: cst.Assign) -> cst.Assign:
        if not self.rules.string_names:
            return updated_node
        value = updated_node.value
        for target in original_node.targets:
            value = self._named_value(_target_name(target.target), original_node.value, value)
        return updated_node.with_changes(value=value) if value is not updated_node.value else updated_node

    def leave_AnnAssign(self, original_node: cst.AnnAssign, updated_node: cst.AnnAssign) -> cst.AnnAssign:
        if not self.rules.string_names or updated_node.value is None:
            return updated_node
        value = self._named_value(_target_name(original_node.target), original_node.value, updated_node.value)
        return updated_node.with_changes(value=value) if value is not updated_node.value else updated_node

    def leave_Param(self, original_node: cst.Param, updated_node: cst.Param) -> cst.Param:
        if not self.rules.string_names or updated_node.default is None:
            return updated_node
        value = self._named_value(original_node.name.value, original_node.default, updated_node.default)
        return updated_node.with_changes(default=value) if value is not updated_node.default else updated_node

    def leave_DictElement(self, original_node: cst.DictElement, updated_node: cst.DictElement) -> cst.DictElement:
        if not self.rules.string_names:
            return updated_node
        value = self._named_value(string_value(original_node.key), original_node.value, updated_node.value)
        return updated_node.with_changes(value=value) if value is not updated_node.value else updated_node

    def leave_Subscript(self, original_node: cst.Subscript, updated_node: cst.Subscript) -> cst.BaseExpression:
        if not self.rules.string_subscripts:
            return updated_node
        subscripted = self.imports.resolve_expression(original_node.value)
        if subscripted not in self.rules.string_subscripts or len(updated_node.slice) != 1:
            return updated_node
        original_index, index = original_node.slice[0].slice, updated_node.slice[0].slice
        if not (isinstance(index, cst.Index) and isinstance(original_index, cst.Index)):
            return updated_node
        value = index.value
        for rule, spec in self.rules.strings:
            if subscripted in spec.contexts.subscripts:
                value = self._rewrite_value(rule, spec, original_index.value, value)
        if value is index.value:
            return updated_node
        element = updated_node.slice[0].with_changes(slice=index.with_changes(value=value))
        return updated_node.with_changes(slice=[element])


def _target_name(target: cst.BaseExpression) -> str | None:
    if isinstance(target, cst.Name):
        return target.value
    if isinstance(target, cst.Attribute):
        return target.attr.value
    return None
