"""Call contracts of rename-api rules (docs/contracts.md): is a call of a renamed name the same
call through its twin?

A rename is only safe when the twin takes the same arguments and returns the same kind of
value. Where it does not, a rule's `contracts` say which calls stay as they are (and are
reported) and which arguments are respelled exactly. How a call's result is used is read
from the nodes around it: `ResultUses.note` is given every node before its children, so a
call's parent has been seen by the time the call's name is.
"""

from __future__ import annotations

from collections.abc import Sequence

import libcst as cst

from portkit.ruleset.calls import CallContract, argument_reason, held_because

_STRINGS = (cst.SimpleString, cst.ConcatenatedString, cst.FormattedString)
_IDENTITY = (cst.Is, cst.IsNot)


class ResultUses:
    """How the result of each call is used, by the call's id: unpacked, indexed, compared,
    formatted (`uses`), and which of its attributes are read (`attributes`)."""

    # the node types that can say how a call directly inside them is used
    TYPES: tuple[type[cst.CSTNode], ...] = (
        cst.Attribute, cst.Subscript, cst.Assign, cst.StarredElement, cst.Arg, cst.Comparison,
        cst.FormattedStringExpression, cst.BinaryOperation, cst.Call,
    )

    def __init__(self) -> None:
        self.uses: dict[int, set[str]] = {}
        self.attributes: dict[int, set[str]] = {}

    def note(self, node: cst.CSTNode) -> None:
        """Learn from a node how the calls directly inside it are used."""
        for operand, use in _operands(node):
            if isinstance(operand, cst.Call):
                if use.startswith("."):
                    self.attributes.setdefault(id(operand), set()).add(use[1:])
                else:
                    self.uses.setdefault(id(operand), set()).add(use)


def _operands(node: cst.CSTNode) -> list[tuple[cst.BaseExpression, str]]:
    """The expressions directly inside `node` whose value it uses, and how (".name": an attribute read)."""
    if isinstance(node, cst.Attribute):
        return [(node.value, "." + node.attr.value)]
    if isinstance(node, cst.Subscript):
        return [(node.value, "indexed")]
    if isinstance(node, cst.Assign):
        unpacked = any(isinstance(t.target, (cst.Tuple, cst.List)) for t in node.targets)
        return [(node.value, "unpacked")] if unpacked else []
    if isinstance(node, cst.StarredElement) or (isinstance(node, cst.Arg) and node.star == "*"):
        return [(node.value, "unpacked")]
    if isinstance(node, cst.Comparison):
        if all(isinstance(c.operator, _IDENTITY) for c in node.comparisons):
            return []  # `x is None` does not mind what x is
        return [(operand, "compared") for operand in (node.left, *(c.comparator for c in node.comparisons))]
    if isinstance(node, cst.FormattedStringExpression):
        return [(node.expression, "formatted")]
    if isinstance(node, cst.BinaryOperation):
        if not (isinstance(node.operator, cst.Modulo) and isinstance(node.left, _STRINGS)):
            return []
        right = node.right
        return [(e.value, "formatted") for e in right.elements] if isinstance(right, cst.Tuple) \
            else [(right, "formatted")]
    if isinstance(node, cst.Call) and isinstance(node.func, cst.Attribute) and node.func.attr.value == "format":
        return [(arg.value, "formatted") for arg in node.args]
    return []


def hold_reason(contract: CallContract, call: cst.Call | None, uses: ResultUses, new: str) -> str | None:
    """Why a use of the old name must stay as it is under this contract ("" when the contract
    says it of every use), or None. `call` is the call whose function the use is (None when
    the name is not called there)."""
    if call is None:
        return held_because(contract, False, None, set(), set())
    return held_because(contract, True, _argument_reason(contract, call.args, new),
                        uses.uses.get(id(call), set()), uses.attributes.get(id(call), set()))


def _argument_reason(contract: CallContract, args: Sequence[cst.Arg], new: str) -> str | None:
    if any(a.star for a in args):
        return None  # what *args / **kwargs hold is not known here: the call is judged by its result
    positional = sum(1 for a in args if a.keyword is None)
    keywords = {a.keyword.value: i for i, a in enumerate(args) if a.keyword is not None}
    return argument_reason(contract, positional, keywords, new)


def respell(contracts: Sequence[CallContract], args: Sequence[cst.Arg]) -> tuple[list[cst.Arg], list[str]] | None:
    """The arguments with the contracts' exact respellings (`device=d` -> `d`, a fourth positional
    -> `capture_error_mode=...`), and what changed; None when nothing does. Only for calls that
    `hold_reason` let through."""
    if any(a.star for a in args):
        return None
    new = list(args)
    done: list[str] = []
    positional = sum(1 for a in args if a.keyword is None)
    for contract in contracts:
        for name, position in sorted(contract.keyword_to_positional.items(), key=lambda item: item[1]):
            if position < len(new) and new[position].keyword is not None and new[position].keyword.value == name:
                new[position] = as_positional(new[position])
                done.append(f"{name}= passed as argument {position + 1}")
        for index, name in sorted(contract.positional_to_keyword.items()):
            if index < positional and new[index].keyword is None:
                new[index] = as_keyword(new[index], name)
                done.append(f"argument {index + 1} passed as {name}=")
    return (new, done) if done else None


def as_positional(arg: cst.Arg) -> cst.Arg:
    return arg.with_changes(keyword=None, equal=cst.MaybeSentinel.DEFAULT)


def as_keyword(arg: cst.Arg, name: str) -> cst.Arg:
    return arg.with_changes(keyword=cst.Name(name), equal=cst.AssignEqual(
        whitespace_before=cst.SimpleWhitespace(""), whitespace_after=cst.SimpleWhitespace("")))
