"""replace-string and report-string: device, backend and environment-variable strings.

A string literal is rewritten (or, for report-string, reported) only where it means a device,
backend or variable, never in prose. The rule-matched positions, whose changes rest on resolved
names (no evidence): the listed positional or keyword argument of a call, a key of a dict
passed as `env={...}`, a subscript of a listed mapping (`os.environ["X"]`). For a rule whose
contexts say `flow = ...`, the value flow (valueflow.py) decides the rest, by where the value
goes: assigned to a variable, `self` attribute or parameter that reaches such a position or
holds such a value, returned by a helper whose result does, compared with a value of the kind
(`t.device.type == "cuda"`), a key of a copy of `os.environ` ("value-flow"); where the flow
knows nothing, a name that says what it holds (`device = "cuda"`, an argparse `--device`
option: "name-heuristic"). A conditional counts only inside such a position: in an f-string
fragment or a concatenation it is a label. Rules without `flow` keep the older contexts: any
comparison, any `"cuda" if ok else "cpu"`, any assignment to a name their pattern matches.
The shapes of the string itself are strings.py's.
"""

from __future__ import annotations

import ast

import libcst as cst

from portkit.python.context import Context, Kind
from portkit.python.strings import (
    StringEdit,
    device_prefix,
    mentions,
    rewrite_string_as_expression,
    rewrite_string_expression,
    string_value,
)
from portkit.python.valueflow import DEVICE, NAME_HEURISTIC
from portkit.ruleset import ReplaceString, Rule

_COLLECTIONS = (cst.List, cst.Tuple, cst.Set)
_LITERALS = (cst.SimpleString, cst.FormattedString, *_COLLECTIONS)


class ReplaceStringKind(Kind):
    specs = (ReplaceString,)

    def __init__(self, context: Context) -> None:
        super().__init__(context)
        self._scopes: list[cst.CSTNode] = []  # the defs and classes around the node being visited
        self._lambdas = 0

    # -- where the node being visited stands --

    def visit_FunctionDef(self, node: cst.FunctionDef) -> None:
        self._scopes.append(node)

    def leave_FunctionDef(self, original_node: cst.FunctionDef, updated_node: cst.FunctionDef) -> cst.FunctionDef:
        if self._scopes and self._scopes[-1] is original_node:  # not entered when quiet (transform.py)
            self._scopes.pop()
        return updated_node

    def visit_ClassDef(self, node: cst.ClassDef) -> None:
        self._scopes.append(node)

    def leave_ClassDef(self, original_node: cst.ClassDef, updated_node: cst.ClassDef) -> cst.ClassDef:
        if self._scopes and self._scopes[-1] is original_node:
            self._scopes.pop()
        return updated_node

    def visit_Lambda(self, node: cst.Lambda) -> None:
        self._lambdas += 1

    def leave_Lambda(self, original_node: cst.Lambda, updated_node: cst.Lambda) -> cst.Lambda:
        self._lambdas -= 1
        return updated_node

    def visit_FormattedString(self, node: cst.FormattedString) -> None:
        # what every kind's expressions inside the braces must avoid (Context.expression)
        self.context.fstring_quotes.append(node.end if len(node.end) == 1 else "")  # a triple quote takes none

    def leave_FormattedString(self, original_node: cst.FormattedString,
                              updated_node: cst.FormattedString) -> cst.FormattedString:
        self.context.fstring_quotes.pop()
        return updated_node

    def _judge(self, spec: ReplaceString, node: cst.BaseExpression, *, target: bool = False) -> str | None:
        """The value flow's evidence that `node` (an original node) is a value of the rule's kind."""
        expression = _stdlib(self.context.module, node)
        if expression is None or spec.contexts.flow is None:
            return None
        line = self.context.line_of(self._scopes[-1]) if self._scopes else None
        return self.context.flow().judge(expression, line, spec.contexts.flow, spec.contexts.names, target=target)

    # -- calls: the rule-matched positions, argparse options, methods of environment mappings --

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
                    elif c.flow is not None and c.subscripts and arg.star == "" and mentions(orig_arg.value, spec):
                        evidence = self._mapping_method(spec, original, positional_index)
                        if evidence is not None:
                            value = self._rewrite_value(rule, spec, orig_arg.value, value, evidence)
                elif keyword in c.keywords:
                    value = self._rewrite_value(rule, spec, orig_arg.value, value)
                elif c.names is not None and c.names.search(keyword):
                    value = self._rewrite_value(rule, spec, orig_arg.value, value, NAME_HEURISTIC)
                elif keyword in c.dict_keywords:
                    value = self._rewrite_dict_keys(rule, spec, orig_arg.value, value)
                elif option_names and keyword in ("default", "choices") and c.names is not None and any(
                    c.names.search(o) for o in option_names
                ):
                    value = self._rewrite_collection(rule, spec, orig_arg.value, value, NAME_HEURISTIC)
                if value is not arg.value:
                    arg = arg.with_changes(value=value)
            args[i] = arg
        if any(a is not b for a, b in zip(args, updated.args)):
            return updated.with_changes(args=args)
        return updated

    def _mapping_method(self, spec: ReplaceString, call: cst.Call, index: int) -> str | None:
        """`env.get("X")` where `env` is a copy of a listed mapping (`os.environ.copy()`): the
        argument counts as it does for `os.environ.get`."""
        func = call.func
        if not isinstance(func, cst.Attribute):
            return None
        if not any(spec.contexts.positional.get(f"{m}.{func.attr.value}") == index for m in spec.contexts.subscripts):
            return None
        return self._judge(spec, func.value)

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

    # -- rewriting a value, recording what changed and on what evidence --

    def _rewrite_value(
        self, rule: Rule, spec: ReplaceString, original: cst.BaseExpression, updated: cst.BaseExpression,
        evidence: str = "",
    ) -> cst.BaseExpression:
        if isinstance(updated, cst.Dict) and isinstance(original, cst.Dict):
            # a device map (`map_location={"cuda:1": "cuda:0"}`) has devices on both sides
            return self._rewrite_dict_keys(rule, spec, original, updated, evidence, values=spec.contexts.flow == DEVICE)
        edits: list[StringEdit] = []
        if spec.expressions:
            taken = "".join(self.context.fstring_quotes)
            result = rewrite_string_as_expression(original, updated, spec, edits, self.context.expression, taken)
        else:
            result = rewrite_string_expression(original, updated, spec, edits)
        for edit in edits:
            if spec.report_only or edit.new is None:
                self.context.flag(rule, edit.original, spec.report_message.format(name=edit.old), evidence=evidence)
            else:
                new = edit.new if spec.expressions else f'"{edit.new}"'
                self.context.change(rule, edit.original, f'"{edit.old}" → {new}', evidence=evidence)
        if spec.report_only:
            result = updated
        if not edits and spec.report_pattern is not None:
            value = string_value(updated)
            if value is not None and spec.report_pattern.search(value):
                self.context.flag(rule, original, spec.report_message.format(name=value), evidence=evidence)
        return result

    def _rewrite_collection(
        self, rule: Rule, spec: ReplaceString, original: cst.BaseExpression, updated: cst.BaseExpression,
        evidence: str = "",
    ) -> cst.BaseExpression:
        if isinstance(updated, _COLLECTIONS) and type(original) is type(updated):
            elements = [
                element.with_changes(value=self._rewrite_value(rule, spec, o.value, element.value, evidence))
                for o, element in zip(original.elements, updated.elements)  # type: ignore[attr-defined]
            ]
            return updated.with_changes(elements=elements)
        return self._rewrite_value(rule, spec, original, updated, evidence)

    def _rewrite_dict_keys(
        self, rule: Rule, spec: ReplaceString, original: cst.BaseExpression, updated: cst.BaseExpression,
        evidence: str = "", *, values: bool = False,
    ) -> cst.BaseExpression:
        if not (isinstance(updated, cst.Dict) and isinstance(original, cst.Dict)):
            return updated
        elements = []
        for o, element in zip(original.elements, updated.elements):
            if isinstance(element, cst.DictElement) and isinstance(o, cst.DictElement):
                element = element.with_changes(key=self._rewrite_value(rule, spec, o.key, element.key, evidence))
                if values:
                    element = element.with_changes(
                        value=self._rewrite_value(rule, spec, o.value, element.value, evidence))
            elements.append(element)
        return updated.with_changes(elements=elements)

    # -- comparisons and conditionals --

    def leave_Comparison(self, original_node: cst.Comparison, updated_node: cst.Comparison) -> cst.BaseExpression:
        if not self.rules.string_compare:
            return updated_node
        for rule, spec in self.rules.strings:
            if not spec.contexts.compare:
                continue
            if spec.contexts.flow is not None:
                updated_node = self._flow_comparison(rule, spec, original_node, updated_node)
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
                and not isinstance(o.comparator, _COLLECTIONS)
                else t.with_changes(comparator=self._rewrite_operand(rule, spec, o.comparator, t.comparator))
                for o, t in zip(original_node.comparisons, updated_node.comparisons)
            ]
            updated_node = updated_node.with_changes(left=left, comparisons=targets)
        return updated_node

    def _flow_comparison(self, rule: Rule, spec: ReplaceString, original: cst.Comparison,
                         updated: cst.Comparison) -> cst.Comparison:
        """A literal compared with a value of the rule's kind (`t.device.type == "cuda"`,
        `"CUDA_VISIBLE_DEVICES" in env`), never with anything else (`"cuda" in tokens`)."""
        operands = [original.left, *(c.comparator for c in original.comparisons)]
        new = [updated.left, *(c.comparator for c in updated.comparisons)]
        for i, operand in enumerate(operands):
            if not (isinstance(operand, _LITERALS) and mentions(operand, spec)):
                continue
            for j in (i + 1, i - 1):  # the other side of the operator after it, or before it
                evidence = None
                if 0 <= j < len(operands) and not isinstance(operands[j], _LITERALS):
                    evidence = self._judge(spec, operands[j])
                if evidence is not None:
                    break
            if evidence is None:
                continue
            membership = isinstance(original.comparisons[min(i, j)].operator, (cst.In, cst.NotIn))
            if spec.expressions and membership and j > i:  # `"cuda" in str(device)`: None cannot go left
                self._flag_string_operand(rule, spec, operand, evidence)
            elif not (spec.expressions and membership and not isinstance(operand, _COLLECTIONS)):
                new[i] = self._rewrite_operand(rule, spec, operand, new[i], evidence)
        if all(a is b for a, b in zip(new, [updated.left, *(c.comparator for c in updated.comparisons)])):
            return updated
        comparisons = [c.with_changes(comparator=n) for c, n in zip(updated.comparisons, new[1:])]
        return updated.with_changes(left=new[0], comparisons=comparisons)

    def _flag_string_operand(self, rule: Rule, spec: ReplaceString, operand: cst.BaseExpression,
                             evidence: str = "") -> None:
        value = string_value(operand)
        if value is not None and (value in spec.values or device_prefix(value, spec, allow_placeholder=False)):
            self.context.flag(rule, operand, spec.report_message.format(name=value), evidence=evidence)

    def _rewrite_operand(
        self, rule: Rule, spec: ReplaceString, original: cst.BaseExpression, updated: cst.BaseExpression,
        evidence: str = "",
    ) -> cst.BaseExpression:
        if isinstance(updated, (cst.SimpleString, cst.FormattedString)):
            return self._rewrite_value(rule, spec, original, updated, evidence)
        if isinstance(updated, _COLLECTIONS):
            return self._rewrite_collection(rule, spec, original, updated, evidence)
        return updated

    def leave_IfExp(self, original_node: cst.IfExp, updated_node: cst.IfExp) -> cst.BaseExpression:
        """Rules without `flow`: a branch of `"cuda" if ok else "cpu"` anywhere (with `flow`, only
        where the whole value is used as a device: the positions above)."""
        if not self.rules.string_conditional:
            return updated_node
        for rule, spec in self.rules.strings:
            others = spec.contexts.conditional
            if not others or spec.contexts.flow is not None:
                continue
            body, orelse = string_value(updated_node.body), string_value(updated_node.orelse)
            if body is not None and orelse in others:
                updated_node = updated_node.with_changes(
                    body=self._rewrite_value(rule, spec, original_node.body, updated_node.body, NAME_HEURISTIC))
            if orelse is not None and body in others:
                updated_node = updated_node.with_changes(
                    orelse=self._rewrite_value(rule, spec, original_node.orelse, updated_node.orelse, NAME_HEURISTIC))
        return updated_node

    # -- values that are assigned, defaulted, returned, subscripted --

    def _assigned(self, target: cst.BaseExpression, original: cst.BaseExpression,
                  updated: cst.BaseExpression) -> cst.BaseExpression:
        """The value assigned to `target` (`loc = "cuda:0"`; `dev, n = "cuda", 1` pairwise)."""
        if isinstance(target, (cst.Tuple, cst.List)) and type(original) in (cst.Tuple, cst.List) and type(
                updated) is type(original) and len(target.elements) == len(original.elements):  # type: ignore
            elements = [e.with_changes(value=self._assigned(t.value, o.value, e.value)) for t, o, e in zip(
                target.elements, original.elements, updated.elements)]  # type: ignore[attr-defined]
            return updated.with_changes(elements=elements)
        for rule, spec in self.rules.strings:
            c = spec.contexts
            if c.flow is not None:
                if mentions(original, spec) and (evidence := self._judge(spec, target, target=True)) is not None:
                    updated = self._rewrite_value(rule, spec, original, updated, evidence)
            elif c.names is not None and (name := _target_name(target)) is not None and c.names.search(name):
                updated = self._rewrite_value(rule, spec, original, updated, NAME_HEURISTIC)
        return updated

    def leave_Assign(self, original_node: cst.Assign, updated_node: cst.Assign) -> cst.Assign:
        if not self.rules.strings:
            return updated_node
        value = updated_node.value
        for target in original_node.targets:
            value = self._assigned(target.target, original_node.value, value)
        return updated_node.with_changes(value=value) if value is not updated_node.value else updated_node

    def leave_AnnAssign(self, original_node: cst.AnnAssign, updated_node: cst.AnnAssign) -> cst.AnnAssign:
        if not self.rules.strings or original_node.value is None or updated_node.value is None:
            return updated_node
        value = self._assigned(original_node.target, original_node.value, updated_node.value)
        return updated_node.with_changes(value=value) if value is not updated_node.value else updated_node

    def leave_Param(self, original_node: cst.Param, updated_node: cst.Param) -> cst.Param:
        if not self.rules.strings or original_node.default is None or updated_node.default is None:
            return updated_node
        if self._lambdas:  # a lambda is not a scope of the value flow: its parameters go by name
            value = self._named_value(original_node.name.value, original_node.default, updated_node.default)
        else:
            value = self._assigned(original_node.name, original_node.default, updated_node.default)
        return updated_node.with_changes(default=value) if value is not updated_node.default else updated_node

    def leave_Return(self, original_node: cst.Return, updated_node: cst.Return) -> cst.Return:
        """`return "cuda"` in a helper whose result reaches a device position, or holds a device."""
        if not self.rules.strings or original_node.value is None or updated_node.value is None or not self._scopes:
            return updated_node
        value = updated_node.value
        for rule, spec in self.rules.strings:
            if spec.contexts.flow is not None and mentions(original_node.value, spec):
                line = self.context.line_of(self._scopes[-1])
                evidence = self.context.flow().judge_return(line, spec.contexts.flow)
                if evidence is not None:
                    value = self._rewrite_value(rule, spec, original_node.value, value, evidence)
        return updated_node.with_changes(value=value) if value is not updated_node.value else updated_node

    def _named_value(self, name: str | None, original: cst.BaseExpression,
                     updated: cst.BaseExpression) -> cst.BaseExpression:
        """A value given to a name that says what it is (`{"device": "cuda"}`, a lambda's default)."""
        for rule, spec in self.rules.strings:
            if name is not None and spec.contexts.names is not None and spec.contexts.names.search(name):
                updated = self._rewrite_value(rule, spec, original, updated, NAME_HEURISTIC)
        return updated

    def leave_DictElement(self, original_node: cst.DictElement, updated_node: cst.DictElement) -> cst.DictElement:
        if not self.rules.string_names:
            return updated_node
        value = self._named_value(string_value(original_node.key), original_node.value, updated_node.value)
        return updated_node.with_changes(value=value) if value is not updated_node.value else updated_node

    def leave_Subscript(self, original_node: cst.Subscript, updated_node: cst.Subscript) -> cst.BaseExpression:
        """`os.environ["X"]`, and `env["X"]` where the value flow shows `env` is such a mapping."""
        if not self.rules.string_subscripts or len(updated_node.slice) != 1:
            return updated_node
        original_index, index = original_node.slice[0].slice, updated_node.slice[0].slice
        if not (isinstance(index, cst.Index) and isinstance(original_index, cst.Index)):
            return updated_node
        subscripted = self.imports.resolve_expression(original_node.value)
        value = index.value
        for rule, spec in self.rules.strings:
            if subscripted in spec.contexts.subscripts:
                value = self._rewrite_value(rule, spec, original_index.value, value)
            elif spec.contexts.flow is not None and spec.contexts.subscripts and mentions(original_index.value, spec):
                evidence = self._judge(spec, original_node.value)
                if evidence is not None:
                    value = self._rewrite_value(rule, spec, original_index.value, value, evidence)
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


def _stdlib(module: cst.Module, node: cst.BaseExpression) -> ast.expr | None:
    """The stdlib's tree of one libcst expression, for the value flow's questions."""
    try:
        return ast.parse(f"(\n{module.code_for_node(node)}\n)", mode="eval").body
    except SyntaxError:
        return None
