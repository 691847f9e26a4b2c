"""Device, backend and environment strings in the shapes real code writes them.

"cuda", "cuda:0", f"cuda:{rank}", "cuda:{}".format(i), "cuda:%d" % i, "cuda:" + str(i), and
both branches of `"cuda" if ok else "cpu"`: rewritten to another string (`rewrite_string_expression`)
or to a Python expression (`rewrite_string_as_expression`, the device-agnostic target). Where
such a string stands is the replace-string kind's business (kinds/replace_string.py).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

import libcst as cst

from portkit.ruleset import ReplaceString

# A device/backend string may carry an index or a format placeholder after its prefix:
# "cuda:0", "cuda:{}", "cuda:{rank}", "cuda:%d".
_PREFIX_REMAINDER = re.compile(r"^(\d+|\{[^{}]*\}|%[sdi]|)$")


def string_value(node: cst.BaseExpression) -> str | None:
    """The text of a plain (non-bytes, escape-free) string literal."""
    if not isinstance(node, cst.SimpleString) or "b" in node.prefix.lower():
        return None
    return node.raw_value if "\\" not in node.raw_value else None


def with_value(node: cst.SimpleString, value: str) -> cst.SimpleString:
    """The same literal (prefix and quotes kept) holding `value`."""
    return node.with_changes(value=f"{node.prefix}{node.quote}{value}{node.quote}")


_with_value = with_value


@dataclass
class StringEdit:
    old: str
    new: str | None  # None: the shape cannot take the rule's expression, a manual item
    original: cst.CSTNode


# Builds the (import-aware) node for a rule's replacement expression, given its source.
ExpressionBuilder = Callable[[str], cst.BaseExpression]


def _replace_literal(text: str, spec: ReplaceString, *, allow_placeholder: bool) -> str | None:
    if text in spec.values:
        return spec.values[text]
    split = device_prefix(text, spec, allow_placeholder=allow_placeholder)
    return spec.prefixes[split[0]] + split[1] if split is not None else None


def rewrite_string_expression(
    original: cst.BaseExpression, updated: cst.BaseExpression, spec: ReplaceString, edits: list[StringEdit]
) -> cst.BaseExpression:
    """Rewrite a device/backend/env string in any of the shapes real code writes it.

    "cuda", "cuda:0", f"cuda:{rank}", "cuda:{}".format(i), "cuda:%d" % i, "cuda:" + str(i),
    and both branches of `"cuda" if ok else "cpu"`. Returns `updated` (possibly changed) and
    appends what changed to `edits`.
    """
    if isinstance(updated, cst.SimpleString):
        value = string_value(updated)
        new = _replace_literal(value, spec, allow_placeholder=False) if value is not None else None
        if new is None:
            return updated
        edits.append(StringEdit(value, new, original))
        return _with_value(updated, new)
    if isinstance(updated, cst.FormattedString) and isinstance(original, cst.FormattedString):
        if "b" in updated.prefix.lower() or not updated.parts:
            return updated
        first = updated.parts[0]
        if not isinstance(first, cst.FormattedStringText):
            return updated
        whole = len(updated.parts) == 1
        new = _replace_literal(first.value, spec, allow_placeholder=not whole)
        if new is None:
            return updated
        edits.append(StringEdit(first.value, new, original))
        return updated.with_changes(parts=[first.with_changes(value=new), *updated.parts[1:]])
    original_template, template = _template(original), _template(updated)
    if original_template is not None and template is not None:
        return _with_template(updated, _rewrite_template(original_template, template, spec, edits))
    if isinstance(updated, cst.IfExp) and isinstance(original, cst.IfExp):
        body = rewrite_string_expression(original.body, updated.body, spec, edits)
        orelse = rewrite_string_expression(original.orelse, updated.orelse, spec, edits)
        return updated.with_changes(body=body, orelse=orelse)
    return updated


def _template(node: cst.BaseExpression) -> cst.BaseExpression | None:
    """The string a device is built from: "cuda:{}" in "cuda:{}".format(i), "cuda:%d" in
    "cuda:%d" % i, "cuda:" in "cuda:" + str(i)."""
    if isinstance(node, cst.Call) and isinstance(node.func, cst.Attribute) and node.func.attr.value == "format":
        return node.func.value
    if isinstance(node, cst.BinaryOperation) and isinstance(node.operator, (cst.Modulo, cst.Add)):
        return node.left
    return None


def _with_template(node: cst.BaseExpression, template: cst.BaseExpression) -> cst.BaseExpression:
    if isinstance(node, cst.Call):
        return node.with_changes(func=node.func.with_changes(value=template))  # type: ignore[attr-defined]
    return node.with_changes(left=template)  # type: ignore[call-arg]


def fit_quotes(code: str, taken: str) -> str | None:
    """`code` for the braces of f-strings whose quote characters are `taken`: before Python
    3.12 an f-string's expression may not contain its own quote, nor that of an f-string
    around it. Rule expressions use one kind of quote and no backslash (ruleset.py checks), so
    swapping the kinds keeps the meaning; None when both kinds are taken."""
    for candidate in (code, code.translate(str.maketrans({"'": '"', '"': "'"}))):
        if not any(quote in candidate for quote in taken):
            return candidate
    return None


def mentions(node: cst.BaseExpression, spec: ReplaceString) -> bool:
    """Does the expression hold a string the rule replaces or reports, in any shape it rewrites
    (a literal, an f-string, a template, a branch of a conditional, a dict key or value, an
    element)? Cheap: what the rule is asked about the value flow first."""
    if isinstance(node, cst.SimpleString):
        value = string_value(node)
        return value is not None and (_replace_literal(value, spec, allow_placeholder=False) is not None or (
            spec.report_pattern is not None and spec.report_pattern.search(value) is not None))
    if isinstance(node, cst.FormattedString):
        first = node.parts[0] if node.parts else None
        return isinstance(first, cst.FormattedStringText) and _replace_literal(
            first.value, spec, allow_placeholder=len(node.parts) > 1) is not None
    if isinstance(node, cst.IfExp):
        return mentions(node.body, spec) or mentions(node.orelse, spec)
    if isinstance(node, cst.Dict):
        return any(mentions(e.key, spec) or mentions(e.value, spec) for e in node.elements
                   if isinstance(e, cst.DictElement))
    if isinstance(node, (cst.List, cst.Tuple, cst.Set)):
        return any(mentions(e.value, spec) for e in node.elements)
    template = _template(node)
    value = string_value(template) if template is not None else None
    return value is not None and _replace_literal(value, spec, allow_placeholder=True) is not None


def _code(node: cst.CSTNode) -> str:
    return cst.Module(body=[]).code_for_node(node)


def device_prefix(text: str, spec: ReplaceString, *, allow_placeholder: bool) -> tuple[str, str] | None:
    """("cuda:", "0") for "cuda:0" when "cuda:" is one of the rule's prefixes."""
    for prefix in spec.prefixes:
        if text.startswith(prefix):
            rest = text[len(prefix):]
            if rest.isdigit() or (allow_placeholder and _PREFIX_REMAINDER.match(rest)):
                return prefix, rest
    return None


def rewrite_string_as_expression(
    original: cst.BaseExpression, updated: cst.BaseExpression, spec: ReplaceString, edits: list[StringEdit],
    build: ExpressionBuilder, taken: str = "",
) -> cst.BaseExpression:
    """The device-agnostic form of `rewrite_string_expression`: "cuda" becomes an expression
    (`getattr(torch.accelerator.current_accelerator(), ...)`), "cuda:0" and f"cuda:{rank}"
    become f-strings around it. Inside the braces of f-strings whose quotes are `taken`, the
    expression uses the other kind of quote. Shapes that cannot hold an expression
    ("cuda:{}".format(i), "cuda:%d" % i), and places no quote fits, are recorded as edits
    without a replacement: manual items."""
    if isinstance(updated, cst.SimpleString):
        value = string_value(updated)
        if value is None:
            return updated
        if value in spec.values:
            code = fit_quotes(spec.values[value], taken)
            edits.append(StringEdit(value, spec.values[value] if code is not None else None, original))
            return build(code).with_changes(lpar=updated.lpar, rpar=updated.rpar) if code is not None else updated
        split = device_prefix(value, spec, allow_placeholder=False)
        if split is None:
            return updated
        prefix, rest = split
        quote, raw = updated.quote, "r" if "r" in updated.prefix.lower() else ""
        inner = fit_quotes(_code(build(spec.prefixes[prefix])), (quote if len(quote) == 1 else "") + taken)
        edits.append(StringEdit(value, f"{{{inner}}}:{rest}" if inner is not None else None, original))
        if inner is None:
            return updated
        fstring = cst.parse_expression(f"f{raw}{quote}{{{inner}}}:{rest}{quote}")
        return fstring.with_changes(lpar=updated.lpar, rpar=updated.rpar)
    if isinstance(updated, cst.FormattedString) and isinstance(original, cst.FormattedString):
        first = updated.parts[0] if updated.parts else None
        if "b" in updated.prefix.lower() or not isinstance(first, cst.FormattedStringText):
            return updated
        split = device_prefix(first.value, spec, allow_placeholder=len(updated.parts) > 1)
        if split is None:
            return updated
        prefix, rest = split
        own = updated.end if len(updated.end) == 1 else ""  # a triple-quoted f-string takes no quote
        inner = fit_quotes(_code(build(spec.prefixes[prefix])), own + taken)
        edits.append(StringEdit(first.value, f"{{{inner}}}:{rest}" if inner is not None else None, original))
        if inner is None:
            return updated
        parts = [cst.FormattedStringExpression(expression=cst.parse_expression(inner)),
                 first.with_changes(value=":" + rest), *updated.parts[1:]]
        return updated.with_changes(parts=parts)
    if isinstance(updated, cst.IfExp) and isinstance(original, cst.IfExp):
        body = rewrite_string_as_expression(original.body, updated.body, spec, edits, build, taken)
        orelse = rewrite_string_as_expression(original.orelse, updated.orelse, spec, edits, build, taken)
        return updated.with_changes(body=body, orelse=orelse)
    # "cuda:{}".format(i), "cuda:%d" % i, "cuda:" + str(i): the template is not a device yet
    template = _template(original)
    value = string_value(template) if template is not None else None
    if value is not None and device_prefix(value, spec, allow_placeholder=True) is not None:
        edits.append(StringEdit(value, None, original))
    return updated


def _rewrite_template(
    original: cst.BaseExpression, updated: cst.BaseExpression, spec: ReplaceString, edits: list[StringEdit]
) -> cst.BaseExpression:
    """The string that is formatted or concatenated: "cuda:{}" / "cuda:%d" / "cuda:"."""
    value = string_value(updated)
    if value is None:
        return updated
    new = _replace_literal(value, spec, allow_placeholder=True)
    if new is None:
        return updated
    edits.append(StringEdit(value, new, original))
    return _with_value(updated, new)  # type: ignore[arg-type]
