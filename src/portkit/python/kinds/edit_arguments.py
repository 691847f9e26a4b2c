"""edit-arguments: argument fixes on calls to listed functions.

Positional -> keyword (`positional_to_keyword`), a keyword already in its place -> positional
for positional-only targets (`keyword_to_positional`; elsewhere a manual item), and a missing
first argument (`insert_first`, unless `keyword` is passed). Nothing moves past a `*args`.
"""

from __future__ import annotations

import libcst as cst

from portkit.python.context import Kind
from portkit.ruleset import EditArguments, Rule


class EditArgumentsKind(Kind):
    specs = (EditArguments,)

    def leave_Call(self, original_node: cst.Call, updated_node: cst.Call) -> cst.Call:
        callee = self.context.callee(original_node)
        if callee is not None:
            for rule, spec in self.rules.arg_edits.get(callee, ()):
                updated_node = self._edit(rule, spec, original_node, updated_node)
        return updated_node

    def _edit(self, rule: Rule, spec: EditArguments, original: cst.Call, updated: cst.Call) -> cst.Call:
        args = list(updated.args)
        positional = [i for i, a in enumerate(args) if a.keyword is None and a.star == ""]
        has_star = any(a.star for a in args)
        changed = False
        for index, keyword in sorted(spec.positional_to_keyword.items()):
            if index < len(positional) and not has_star:
                at = positional[index]
                args[at] = args[at].with_changes(
                    keyword=cst.Name(keyword), equal=cst.AssignEqual(
                        whitespace_before=cst.SimpleWhitespace(""), whitespace_after=cst.SimpleWhitespace("")
                    )
                )
                changed = True
        for keyword, index in spec.keyword_to_positional.items():
            # only where the keyword argument already sits at that position: nothing moves
            at = len(positional)
            if index == at and not has_star and at < len(args) and args[at].keyword is not None \
                    and args[at].keyword.value == keyword:  # type: ignore[union-attr]
                args[at] = args[at].with_changes(keyword=None, equal=cst.MaybeSentinel.DEFAULT)
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
