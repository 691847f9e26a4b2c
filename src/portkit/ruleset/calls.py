"""The call-level parameters of two rule kinds, and their validation: a rename-api rule's
`contracts` (when a renamed call behaves the same through its twin: docs/contracts.md) and an
edit-arguments rule's `device_index` (integer device indices on older torch:
docs/device-indices.md). What they mean to the rewriter is in portkit.python.kinds."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field

from packaging.specifiers import InvalidSpecifier, SpecifierSet

from portkit.ruleset.fields import Fields


# how a call's result may be used where the twin returns something else (`unless_result_used`)
RESULT_USES = frozenset({"unpacked", "indexed", "compared", "formatted"})


@dataclass(frozen=True)
class CallContract:
    """When a call of a renamed name behaves the same through its twin (docs/contracts.md):
    arguments to respell exactly, and the calls to leave unchanged and report instead."""

    message: str  # what to do instead, when a call is left unchanged
    torch_npu: str = ""  # the torch_npu releases this holds for (a PEP 440 specifier; "": every one)
    keyword_to_positional: Mapping[str, int] = field(default_factory=dict)  # torch keyword the twin names otherwise
    positional_to_keyword: Mapping[int, str] = field(default_factory=dict)  # a position that is another parameter there
    unless_arguments: Mapping[str, int] = field(default_factory=dict)  # torch parameters the twin lacks -> position
    unless_result_used: frozenset[str] = frozenset()  # RESULT_USES that fail on the twin's result
    unless_attributes: frozenset[str] = frozenset()  # attributes the twin's result lacks (or holds None)
    report_instead: bool = False  # the twin is a stub: every use stays as it is and is reported
    # the twin raises (or answers otherwise) where there is no accelerator and the original
    # returned `otherwise`: a call runs behind `guard` (docs/accelerator.md); a use that is not
    # a call cannot be guarded and stays as it is
    guard: str = ""
    otherwise: str = ""

    def holds_for(self, version: str) -> bool:
        return not self.torch_npu or SpecifierSet(self.torch_npu).contains(version, prereleases=True)


@dataclass(frozen=True)
class DeviceIndex:
    """Integer device indices in device positions, where the torch that the chosen torch_npu
    pairs with reads an integer as a CUDA device (docs/device-indices.md): `.to(0)` ->
    `.to("npu:0")`, `device=local_rank` -> `device=f"npu:{local_rank}"`."""

    torch: str  # the torch releases that need it (a PEP 440 specifier)
    device: str  # the device type to write: "npu"
    positional: Mapping[str, int]  # callee (".to" for a method on any value) -> argument index
    keywords: frozenset[str]  # keyword arguments of any call
    literals: bool  # an integer literal is an index
    calls: frozenset[str]  # callees that return an index (`torch.cuda.current_device`, the builtin `int`)
    names: re.Pattern[str] | None  # names whose last part reads as an index (evidence: name-heuristic)
    except_calls: tuple[str, ...] = ()  # callees (or prefixes; ".npu" for a method) left alone

    def holds_for(self, torch_version: str) -> bool:
        return bool(torch_version) and SpecifierSet(self.torch).contains(torch_version, prereleases=True)


# --- parsing -------------------------------------------------------------------------------

_CONTRACT_KEYS = {"message", "torch_npu", "keyword_to_positional", "positional_to_keyword", "unless_arguments",
                  "unless_result_used", "unless_attributes", "report_instead", "guard", "otherwise"}


def parse_contracts(f: Fields, renames: Mapping[str, str]) -> dict[str, tuple[CallContract, ...]]:
    """`[rule.contracts."torch.cuda.X"]` (or `[[...]]`, one table per group of releases)."""
    contracts: dict[str, tuple[CallContract, ...]] = {}
    for name, value in f.get("contracts", dict, {}).items():
        if name not in renames:
            raise f.fail(f"'contracts': '{name}' is not a name this rule renames")
        tables = value if isinstance(value, list) else [value]
        if not tables or not all(isinstance(t, dict) for t in tables):
            raise f.fail(f"'contracts': '{name}' must be a table or an array of tables")
        contracts[name] = tuple(_parse_contract(Fields(t, f"{f.where}: contracts '{name}'")) for t in tables)
    return contracts


def _parse_contract(c: Fields) -> CallContract:
    c.check_keys(_CONTRACT_KEYS)
    releases = c.get("torch_npu", str, "")
    _specifier(c, "torch_npu", releases)
    to_keyword = c.get("positional_to_keyword", dict, {})
    try:
        positional = {int(index): keyword for index, keyword in to_keyword.items()}
    except ValueError:
        raise c.fail("'positional_to_keyword' keys must be argument indexes like \"3\"") from None
    if not all(isinstance(k, str) and k.isidentifier() for k in positional.values()):
        raise c.fail("'positional_to_keyword' must map argument indexes to parameter names")
    uses = frozenset(c.strings("unless_result_used"))
    if unknown := sorted(uses - RESULT_USES):
        raise c.fail(f"'unless_result_used': '{unknown[0]}' is not one of {', '.join(sorted(RESULT_USES))}")
    attributes = frozenset(c.strings("unless_attributes"))
    if bad := [a for a in attributes if not a.isidentifier()]:
        raise c.fail(f"'unless_attributes': '{bad[0]}' is not an attribute name")
    guard, otherwise = c.get("guard", str, ""), c.get("otherwise", str, "")
    if bool(guard) != bool(otherwise):
        raise c.fail("'guard' and 'otherwise' go together")
    c.expressions("guard", [e for e in (guard, otherwise) if e])
    unguardable = f"it is not called here, so it cannot run behind {guard}" if guard else None
    contract = CallContract(
        message=c.get("message", str, unguardable) if guard else c.get("message", str), torch_npu=releases,
        keyword_to_positional=_positions(c, "keyword_to_positional"), positional_to_keyword=positional,
        unless_arguments=_positions(c, "unless_arguments"), unless_result_used=uses,
        unless_attributes=attributes, report_instead=c.get("report_instead", bool, False),
        guard=guard, otherwise=otherwise)
    if not (contract.keyword_to_positional or positional or contract.unless_arguments or uses or attributes
            or contract.report_instead or guard):
        raise c.fail("a contract needs a condition or an argument to respell")
    return contract


def _positions(f: Fields, key: str) -> dict[str, int]:
    """A table of names (parameters, callees) to 0-based argument positions."""
    value = f.get(key, dict, {})
    if not all(isinstance(v, int) and not isinstance(v, bool) and v >= 0 for v in value.values()):
        raise f.fail(f"'{key}' must map names to argument indexes (0-based integers)")
    return dict(value)


def _specifier(f: Fields, key: str, value: str) -> None:
    try:
        SpecifierSet(value)
    except InvalidSpecifier:
        raise f.fail(f"'{key}': '{value}' is not a version specifier like \"<2.13\"") from None


def parse_device_index(f: Fields) -> DeviceIndex:
    d = Fields(f.get("device_index", dict), f"{f.where}: device_index")
    d.check_keys({"torch", "device", "positional", "keywords", "literals", "calls", "names", "except_calls"})
    torch = d.get("torch", str)
    _specifier(d, "torch", torch)
    positional = _positions(d, "positional")
    calls, excepted = d.strings("calls"), d.strings("except_calls")
    for key, values in (("positional", list(positional)), ("calls", calls), ("except_calls", excepted)):
        d.qualified_names(key, [v.removeprefix(".") for v in values])
    device = d.get("device", str)
    if not device.isidentifier():
        raise d.fail(f"'device': '{device}' is not a device type")
    return DeviceIndex(torch=torch, device=device, positional=positional, keywords=frozenset(d.strings("keywords")),
                       literals=d.get("literals", bool, False), calls=frozenset(calls), names=d.pattern("names"),
                       except_calls=excepted)


def argument_reason(contract: CallContract, positional: int, keywords: dict[str, int], new: str) -> str | None:
    """Why a call's arguments keep it from becoming `new` under `contract` (None: they do not).
    `positional` counts the positional arguments, `keywords` maps each keyword to its index
    among all arguments; the libcst rewriter and the stdlib fast path both judge calls here."""
    for name, position in contract.unless_arguments.items():
        if name in keywords:
            return f"it passes {name}=, which {new} does not take"
        if positional > position:
            return f"it passes {name} (argument {position + 1}), which {new} does not take"
    filled = positional
    for name, position in sorted(contract.keyword_to_positional.items(), key=lambda item: item[1]):
        if name not in keywords:
            continue
        if position != filled or keywords[name] != filled:
            return f"it passes {name}= where it cannot become argument {position + 1} ({new} names it otherwise)"
        filled += 1
    if contract.positional_to_keyword:
        first = min(contract.positional_to_keyword)
        beyond = [i for i in range(first, positional) if i not in contract.positional_to_keyword]
        if beyond:
            return f"it passes {positional} positional arguments, and {new} reads argument {beyond[0] + 1} otherwise"
    return None


def held_because(contract: CallContract, called: bool, arguments: str | None,
                 result_uses: set[str], attributes_read: set[str]) -> str | None:
    """Why a use of the old name stays as it is ("" when the contract says it of every use),
    or None: from what the rewriter (libcst) or the fast path (ast) saw at the use — whether it
    is called, why its arguments do not fit (`argument_reason`), how its result is used and
    which attributes of the result are read."""
    if contract.report_instead:
        return ""  # the message says why
    if not called:
        return "" if contract.guard else None  # only a call can run behind its guard: the message says so
    if arguments is not None:
        return arguments
    used = result_uses & contract.unless_result_used
    if used:
        return f"its result is {sorted(used)[0]}"
    read = attributes_read & contract.unless_attributes
    if read:
        return f"it reads .{sorted(read)[0]} of the result"
    return None
