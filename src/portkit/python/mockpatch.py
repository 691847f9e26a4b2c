"""Patch targets in tests follow the rename of the call they patch (issue 14, item 9).

`mock.patch("torch.cuda.is_available", return_value=True)`, `@patch("torch.cuda.device_count")`,
`monkeypatch.setattr("torch.cuda.is_available", ...)`, `mocker.patch("torch.cuda.set_device")` name
the function by a string; `patch.object(torch.cuda, "empty_cache")` by an object and a string.
Once the code under test calls `torch.npu.is_available`, a patch of the old name patches nothing
and the test silently runs the real function. So the string follows the rename-api rule that
renames the name, under that rule's id; a name no rule renames stays.

Which calls are patchers, and under which module prefix a target is looked up, is declared by
`report-string` rules whose `prefixes` are module names ending in "." (`"torch.cuda."`) and whose
positional contexts are the patchers (`mock-patch-target` in rules/torch-cuda.toml): such a prefix
never matches a device string, so the replace-string kind leaves them to this unit. A target
that cannot follow is that rule's manual item: its calls may stay as they are (a contract of
docs/contracts.md), or they become an expression (`torch.get_device_module().X`) or a name under
another module than the patched object's twin (`--target accelerator`).
"""

from __future__ import annotations

from dataclasses import dataclass

import libcst as cst

from portkit.python.compiled import Rename
from portkit.python.context import Context, Kind
from portkit.python.strings import string_value, with_value
from portkit.ruleset import ReplaceString, Rule, is_expression
from portkit.ruleset.calls import CallContract


@dataclass(frozen=True)
class PatchRule:
    rule: Rule
    spec: ReplaceString

    @property
    def modules(self) -> tuple[str, ...]:
        return tuple(p.removesuffix(".") for p in self.spec.prefixes)


class PatchTargetKind(Kind):
    specs = ()  # applies the rename-api rules' renames, as the report-string rules above direct

    def __init__(self, context: Context) -> None:
        super().__init__(context)
        self._rules = [PatchRule(rule, spec) for rule, spec in self.rules.patch_strings]

    def leave_Call(self, original_node: cst.Call, updated_node: cst.Call) -> cst.Call:
        if not self._rules:
            return updated_node
        func = original_node.func
        key = self.context.callee(original_node) or ("." + func.attr.value if isinstance(func, cst.Attribute) else None)
        args = [a for a in original_node.args if a.keyword is None and a.star == ""]
        for patch in self._rules:
            index = patch.spec.contexts.positional.get(key or "")
            if index is None or len(args) <= index or string_value(args[index].value) is None:
                continue
            if index > 0 or (len(args) > 1 and string_value(args[0].value) is None):  # patch.object(obj, "X")
                return self._object_form(patch, original_node, updated_node, args[0], args[index])
            return self._dotted_form(patch, original_node, updated_node, args[index])
        return updated_node

    def _dotted_form(self, patch: PatchRule, call: cst.Call, updated: cst.Call, arg: cst.Arg) -> cst.Call:
        """`patch("torch.cuda.X")`, or `patch("pkg.mod.torch.cuda.X")` (where mod looks it up)."""
        target = string_value(arg.value) or ""
        for module in patch.modules:
            at = 0 if target.startswith(module + ".") else target.find("." + module + ".") + 1
            if at == 0 and not target.startswith(module + "."):
                continue
            head, old = target[:at], target[at:]
            rename = self.rules.renames.get(old)
            reason = self._cannot_follow(old, rename)
            if rename is None:
                return updated
            if reason is not None:
                self.context.flag(patch.rule, arg.value, patch.spec.report_message.format(name=old) + f": {reason}")
                return updated
            self.context.change(rename.rule, arg.value, f'patch target "{old}" → "{rename.new}" (follows {old} → '
                                                        f'{rename.new})')
            return _replace_arg(call, updated, arg, head + rename.new)
        return updated

    def _object_form(self, patch: PatchRule, call: cst.Call, updated: cst.Call, owner: cst.Arg,
                     attribute: cst.Arg) -> cst.Call:
        """`patch.object(torch.cuda, "X")`: rename-api turns the object into its twin; the
        attribute follows when the renamed name lives on that twin under another name."""
        module = self.imports.resolve_expression(owner.value)
        name = string_value(attribute.value) or ""
        if module is None or module not in patch.modules:
            return updated
        old = f"{module}.{name}"
        rename = self.rules.renames.get(old)
        if rename is None:
            return updated
        twin = self.rules.module_twins.get(module)
        twin_module, _, new_name = rename.new.rpartition(".")
        reason = self._cannot_follow(old, rename)
        if reason is None and (twin is None or twin.new != twin_module):
            reason = f"its calls become {rename.new}, not an attribute of what {module} becomes; patch {rename.new}"
        if reason is not None:
            self.context.flag(patch.rule, attribute.value, patch.spec.report_message.format(name=old) + f": {reason}")
            return updated
        if new_name == name:
            return updated  # the object's own rename is enough
        self.context.change(rename.rule, attribute.value, f'patched attribute "{name}" → "{new_name}" (follows {old} '
                                                          f'→ {rename.new})')
        return _replace_arg(call, updated, attribute, new_name)

    def _cannot_follow(self, old: str, rename: Rename | None) -> str | None:
        if rename is None:
            return None
        if is_expression(rename.new):
            return f"its calls become {rename.new}, which a patch target string cannot name; patch that object's attribute"
        if any(_may_hold(c) for c in self.rules.contracts.get(old, ())):
            return (f"calls of {old} that their twin would not run the same way stay as they are "
                    f"(docs/contracts.md); patch {rename.new} where the code under test now calls it")
        return None


def _may_hold(contract: CallContract) -> bool:
    """Can a call stay as it is under this contract? (A respelling by keyword never holds one.)"""
    return bool(contract.report_instead or contract.unless_arguments or contract.unless_result_used
                or contract.unless_attributes or contract.keyword_to_positional or contract.guard)


def _replace_arg(call: cst.Call, updated: cst.Call, arg: cst.Arg, value: str) -> cst.Call:
    """`updated` with the string of `arg` (an argument of the original `call`) set to `value`."""
    index = [id(a) for a in call.args].index(id(arg))
    new = updated.args[index]
    if not isinstance(new.value, cst.SimpleString):
        return updated
    args = list(updated.args)
    args[index] = new.with_changes(value=with_value(new.value, value))
    return updated.with_changes(args=args)
