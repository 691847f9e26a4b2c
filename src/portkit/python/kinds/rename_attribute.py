"""rename-attribute: `<value>.old` -> `<value>.new`, or only where it is called (`.cuda()` -> `.npu()`).

Never on an imported module (`torch.cuda` is rename-api's). With `insert_first`, a call that
passes no device gets one (`.cuda()` -> `.to(<device>)`); one that passes an index or device
positionally is a manual item.
"""

from __future__ import annotations

import libcst as cst

from portkit.python.context import Kind
from portkit.ruleset import RenameAttribute, Rule


class RenameAttributeKind(Kind):
    specs = (RenameAttribute,)

    def leave_Attribute(self, original_node: cst.Attribute, updated_node: cst.BaseExpression) -> cst.BaseExpression:
        if not isinstance(updated_node, cst.Attribute):
            return updated_node  # rename-api put an expression in its place
        renamed = self.rules.attribute_renames.get(updated_node.attr.value)
        if renamed is None or not self.context.receiver_is_value(original_node.value):
            return updated_node
        rule, spec = renamed
        self.context.change(rule, original_node, f".{spec.old} → .{spec.new}")
        return updated_node.with_changes(attr=updated_node.attr.with_changes(value=spec.new))

    def leave_Call(self, original_node: cst.Call, updated_node: cst.Call) -> cst.Call:
        func = original_node.func
        if isinstance(func, cst.Attribute) and isinstance(updated_node.func, cst.Attribute):
            renamed = self.rules.call_attribute_renames.get(updated_node.func.attr.value)
            if renamed is not None and self.context.receiver_is_value(func.value):
                return self._rename(*renamed, original_node, updated_node)
        return updated_node

    def _rename(self, rule: Rule, spec: RenameAttribute, original: cst.Call, updated: cst.Call) -> cst.Call:
        """`.cuda(...)` -> `.npu(...)`; with `insert_first`, `.cuda()` -> `.to(<device>)`."""
        args = list(updated.args)
        attr = original.func.attr  # type: ignore[attr-defined]
        if spec.insert_first is not None and not any(a.keyword and a.keyword.value == spec.keyword for a in args):
            if any(a.keyword is None for a in args):
                self.context.flag(rule, original, f".{spec.old}(<device>): pass the device to .{spec.new}() "
                                                  f"yourself (an index or device object has no device-agnostic "
                                                  f"spelling here)")
                return updated
            args.insert(0, self.context.first_argument(spec.insert_first, bool(args)))
            self.context.change(rule, attr, f".{spec.old}() → .{spec.new}({spec.insert_first})")
        else:
            self.context.change(rule, attr, f".{spec.old}() → .{spec.new}()")
        func = updated.func  # an Attribute: leave_Call checked
        new_attr = func.attr.with_changes(value=spec.new)  # type: ignore[attr-defined]
        return updated.with_changes(func=func.with_changes(attr=new_attr), args=args)
