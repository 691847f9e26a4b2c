"""The rewriter: one libcst pass per file that applies every active rule.

Rules are compiled once into indexes keyed by what they match (qualified names, attribute
names, string contexts), so a node is offered only to the rules that can care about it. The
transformer records an `Event` for every change and manual item, keyed to the *original* node;
positions are computed afterwards, and only for files that produced events (see engine.py).
"""

from __future__ import annotations

import ast
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from functools import cached_property

import libcst as cst

from portkit.python.imports import Binding, ImportMap, build_import_map, dotted_name, dotted_parts, module_name
from portkit.model import Safety
from portkit.ruleset.npu_api import load_npu_api
from portkit.python.statements import pair, quiet_statements, trigger_lines
from portkit.python.triage import FixableNames, TriggerScanner, Triggers
from portkit.ruleset import (
    EditArguments,
    EnsureImport,
    RenameApi,
    RenameAttribute,
    ReplaceString,
    Report,
    REPORT_KINDS,
    Rule,
    RuleSet,
    is_expression,
)

# A device/backend string may carry an index or a format placeholder after its prefix:
# "cuda:0", "cuda:{}", "cuda:{rank}", "cuda:%d".
_PREFIX_REMAINDER = re.compile(r"^(\d+|\{[^{}]*\}|%[sdi]|)$")


@dataclass(frozen=True)
class Event:
    """A change or a manual item, tied to the original node it is about."""

    rule: Rule
    node: cst.CSTNode
    message: str
    is_change: bool
    safety: Safety
    inserted: str | None = None  # for a line portkit added: its text
    statement: cst.CSTNode | None = None  # the innermost statement holding `node`, to locate it


@dataclass(frozen=True)
class _Rename:
    rule: Rule
    new: str


@dataclass(frozen=True)
class _Flag:
    rule: Rule
    spec: Report


class CompiledRules:
    """A RuleSet indexed for the transformer; built once per process and reused for every file."""

    def __init__(self, ruleset: RuleSet) -> None:
        self.ruleset = ruleset
        self.renames: dict[str, _Rename] = {}
        self.module_twins: dict[str, _Rename] = {}
        self.exact_flags: dict[str, list[_Flag]] = {}
        self.prefix_flags: dict[str, list[_Flag]] = {}
        self.attribute_flags: dict[str, list[_Flag]] = {}
        self.arg_edits: dict[str, list[tuple[Rule, EditArguments]]] = {}
        self.call_attribute_renames: dict[str, tuple[Rule, RenameAttribute]] = {}
        self.attribute_renames: dict[str, tuple[Rule, RenameAttribute]] = {}
        self.strings: list[tuple[Rule, ReplaceString]] = []
        self.ensure_imports: list[tuple[Rule, EnsureImport]] = []
        self.triggers = Triggers()
        self.npu_api = load_npu_api(ruleset.npu_version)
        # renames whose target the chosen torch_npu release lacks: reported, never written
        self.unavailable: dict[str, _Rename] = {}
        for rule in ruleset.rules:
            spec = rule.spec
            if isinstance(spec, RenameApi):
                for old, new in spec.renames.items():
                    if _is_npu_name(new) and not self.npu_api.has(new):
                        self.unavailable.setdefault(old, _Rename(rule, new))
                        continue
                    self.renames.setdefault(old, _Rename(rule, new))
                self.triggers.add_names(spec.renames)
                for old, new in spec.module_twins.items():
                    self.module_twins.setdefault(old, _Rename(rule, new))
            elif isinstance(spec, Report):
                for name in spec.names:
                    self.exact_flags.setdefault(name, []).append(_Flag(rule, spec))
                for prefix in spec.prefixes:
                    self.prefix_flags.setdefault(prefix, []).append(_Flag(rule, spec))
                for attribute in spec.attributes:
                    self.attribute_flags.setdefault(attribute, []).append(_Flag(rule, spec))
                self.triggers.add_names([*spec.names, *spec.prefixes])
                self.triggers.identifiers.update(spec.attributes)
                self.triggers.keywords.update(spec.keywords)
            elif isinstance(spec, EditArguments):
                for call in spec.calls:
                    self.arg_edits.setdefault(call, []).append((rule, spec))
                self.triggers.add_names(spec.calls)
            elif isinstance(spec, RenameAttribute):
                index = self.call_attribute_renames if spec.call else self.attribute_renames
                index.setdefault(spec.old, (rule, spec))
                self.triggers.identifiers.add(spec.old)
            elif isinstance(spec, ReplaceString):
                self.strings.append((rule, spec))
                self.triggers.strings.update(spec.values)
                self.triggers.prefixes.update(spec.prefixes)
                if spec.report_pattern is not None:
                    self.triggers.patterns.append(spec.report_pattern)
            elif isinstance(spec, EnsureImport):
                self.ensure_imports.append((rule, spec))
        # ids a suppression comment may name: every loaded rule, selected or not
        self.known_ids = frozenset(r.id for r in (*ruleset.rules, *ruleset.universe))
        # names some loaded rule converts, active or not: the fallback report leaves them alone
        renaming = [r.spec for r in (*ruleset.rules, *ruleset.universe) if isinstance(r.spec, RenameApi)]
        self.known_renames = {name for spec in renaming for name in spec.renames}
        # a module with a twin is "known" only when used as the module itself
        self.known_twins = {name for spec in renaming for name in spec.module_twins}
        self.string_compare = any(s.contexts.compare for _, s in self.strings)
        self.string_conditional = any(s.contexts.conditional for _, s in self.strings)
        self.string_names = any(s.contexts.names is not None for _, s in self.strings)
        self.string_subscripts = frozenset(q for _, s in self.strings for q in s.contexts.subscripts)

    @cached_property
    def trigger_pattern(self) -> TriggerScanner:
        return self.triggers.scanner()

    def may_need_work(self, text: str) -> bool:
        """Triage stage one: can this text be touched by any rule at all?"""
        return self.trigger_pattern.search(text) is not None

    def may_need_work_tree(self, tree: ast.AST, text: str | None = None) -> bool:
        """Triage stage two, on the stdlib's tree; given the tree's text, only its statements
        that hold a stage-one match are looked at."""
        if text is None or not isinstance(tree, ast.Module):
            return self.triggers.in_tree(tree)
        return self.triggers.in_statements(tree, self.trigger_pattern.lines(text))

    @cached_property
    def fixable_names(self) -> FixableNames:
        """What the rules that change code look for (verification after a rewrite)."""
        strings = Triggers()
        for _, spec in self.strings:
            if not spec.report_only:
                strings.strings.update(spec.values)
                strings.prefixes.update(spec.prefixes)
        return FixableNames(
            qualified=frozenset([*self.renames, *self.arg_edits]),
            modules=frozenset(self.module_twins),
            attributes=frozenset(self.attribute_renames),
            call_attributes=frozenset(self.call_attribute_renames),
            strings=strings,
        )

    @cached_property
    def fixable(self) -> CompiledRules:
        """The rules that change code: what a second run must not find anything for."""
        return CompiledRules(RuleSet(tuple(r for r in self.ruleset.rules if r.kind not in REPORT_KINDS)))

    def flags_for(self, qualified: str) -> list[tuple[str, _Flag]]:
        """Report rules that match `qualified` or a module/class it belongs to, with the name matched.

        A use of `torch.cuda.jiterator._create_jit_fn` is a use of `torch.cuda.jiterator`: the
        longest listed name that prefixes the use wins, then the rules listing module prefixes.
        """
        flags: list[tuple[str, _Flag]] = []
        parts = qualified.split(".")
        for end in range(len(parts), 0, -1):
            name = ".".join(parts[:end])
            if name in self.exact_flags:
                flags.extend((name, flag) for flag in self.exact_flags[name])
                break
        for end in range(len(parts), 0, -1):
            name = ".".join(parts[:end])
            flags.extend((qualified, flag) for flag in self.prefix_flags.get(name, ()))
        return flags


def _is_npu_name(qualified: str) -> bool:
    return qualified.startswith(("torch.npu.", "torch_npu."))


def _parent(qualified: str) -> str:
    return qualified.rpartition(".")[0]


def _last(qualified: str) -> str:
    return qualified.rpartition(".")[2]


# --- string literals --------------------------------------------------------------------------


def _string_value(node: cst.BaseExpression) -> str | None:
    """The text of a plain (non-bytes, escape-free) string literal."""
    if not isinstance(node, cst.SimpleString) or "b" in node.prefix.lower():
        return None
    return node.raw_value if "\\" not in node.raw_value else None


def _with_value(node: cst.SimpleString, value: str) -> cst.SimpleString:
    return node.with_changes(value=f"{node.prefix}{node.quote}{value}{node.quote}")


@dataclass
class _StringEdit:
    old: str
    new: str | None  # None: the shape cannot take the rule's expression, a manual item
    original: cst.CSTNode


# Builds the (import-aware) node for a rule's replacement expression, given its source.
ExpressionBuilder = Callable[[str], cst.BaseExpression]


def _replace_literal(text: str, spec: ReplaceString, *, allow_placeholder: bool) -> str | None:
    if text in spec.values:
        return spec.values[text]
    split = _device_prefix(text, spec, allow_placeholder=allow_placeholder)
    return spec.prefixes[split[0]] + split[1] if split is not None else None


def rewrite_string_expression(
    original: cst.BaseExpression, updated: cst.BaseExpression, spec: ReplaceString, edits: list[_StringEdit]
) -> cst.BaseExpression:
    """Rewrite a device/backend/env string in any of the shapes real code writes it.

    "cuda", "cuda:0", f"cuda:{rank}", "cuda:{}".format(i), "cuda:%d" % i, "cuda:" + str(i),
    and both branches of `"cuda" if ok else "cpu"`. Returns `updated` (possibly changed) and
    appends what changed to `edits`.
    """
    if isinstance(updated, cst.SimpleString):
        value = _string_value(updated)
        new = _replace_literal(value, spec, allow_placeholder=False) if value is not None else None
        if new is None:
            return updated
        edits.append(_StringEdit(value, new, original))
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
        edits.append(_StringEdit(first.value, new, original))
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


def _fit_quotes(code: str, quote: str) -> str:
    """An expression to put inside the braces of an f-string delimited by `quote`: before
    Python 3.12 it may not contain that quote character. Rule expressions use one kind of
    quote and no backslash (ruleset.py checks), so swapping the kinds is always valid."""
    if quote[0] not in code:
        return code
    return code.translate(str.maketrans({"'": '"', '"': "'"}))


def _code(node: cst.CSTNode) -> str:
    return cst.Module(body=[]).code_for_node(node)


def _device_prefix(text: str, spec: ReplaceString, *, allow_placeholder: bool) -> tuple[str, str] | None:
    """("cuda:", "0") for "cuda:0" when "cuda:" is one of the rule's prefixes."""
    for prefix in spec.prefixes:
        if text.startswith(prefix):
            rest = text[len(prefix):]
            if rest.isdigit() or (allow_placeholder and _PREFIX_REMAINDER.match(rest)):
                return prefix, rest
    return None


def rewrite_string_as_expression(
    original: cst.BaseExpression, updated: cst.BaseExpression, spec: ReplaceString, edits: list[_StringEdit],
    build: ExpressionBuilder,
) -> cst.BaseExpression:
    """The device-agnostic form of `rewrite_string_expression`: "cuda" becomes an expression
    (`getattr(torch.accelerator.current_accelerator(), ...)`), "cuda:0" and f"cuda:{rank}"
    become f-strings around it. Shapes that cannot hold an expression ("cuda:{}".format(i),
    "cuda:%d" % i) are recorded as edits without a replacement: manual items."""
    if isinstance(updated, cst.SimpleString):
        value = _string_value(updated)
        if value is None:
            return updated
        if value in spec.values:
            edits.append(_StringEdit(value, spec.values[value], original))
            return build(spec.values[value]).with_changes(lpar=updated.lpar, rpar=updated.rpar)
        split = _device_prefix(value, spec, allow_placeholder=False)
        if split is None:
            return updated
        prefix, rest = split
        quote, raw = updated.quote, "r" if "r" in updated.prefix.lower() else ""
        inner = _fit_quotes(_code(build(spec.prefixes[prefix])), quote)
        edits.append(_StringEdit(value, f"{{{inner}}}:{rest}", original))
        fstring = cst.parse_expression(f"f{raw}{quote}{{{inner}}}:{rest}{quote}")
        return fstring.with_changes(lpar=updated.lpar, rpar=updated.rpar)
    if isinstance(updated, cst.FormattedString) and isinstance(original, cst.FormattedString):
        first = updated.parts[0] if updated.parts else None
        if "b" in updated.prefix.lower() or not isinstance(first, cst.FormattedStringText):
            return updated
        split = _device_prefix(first.value, spec, allow_placeholder=len(updated.parts) > 1)
        if split is None:
            return updated
        prefix, rest = split
        inner = _fit_quotes(_code(build(spec.prefixes[prefix])), updated.end)
        edits.append(_StringEdit(first.value, f"{{{inner}}}:{rest}", original))
        parts = [cst.FormattedStringExpression(expression=cst.parse_expression(inner)),
                 first.with_changes(value=":" + rest), *updated.parts[1:]]
        return updated.with_changes(parts=parts)
    if isinstance(updated, cst.IfExp) and isinstance(original, cst.IfExp):
        body = rewrite_string_as_expression(original.body, updated.body, spec, edits, build)
        orelse = rewrite_string_as_expression(original.orelse, updated.orelse, spec, edits, build)
        return updated.with_changes(body=body, orelse=orelse)
    # "cuda:{}".format(i), "cuda:%d" % i, "cuda:" + str(i): the template is not a device yet
    template = _template(original)
    value = _string_value(template) if template is not None else None
    if value is not None and _device_prefix(value, spec, allow_placeholder=True) is not None:
        edits.append(_StringEdit(value, None, original))
    return updated


def _rewrite_template(
    original: cst.BaseExpression, updated: cst.BaseExpression, spec: ReplaceString, edits: list[_StringEdit]
) -> cst.BaseExpression:
    """The string that is formatted or concatenated: "cuda:{}" / "cuda:%d" / "cuda:"."""
    value = _string_value(updated)
    if value is None:
        return updated
    new = _replace_literal(value, spec, allow_placeholder=True)
    if new is None:
        return updated
    edits.append(_StringEdit(value, new, original))
    return _with_value(updated, new)  # type: ignore[arg-type]


# --- module aliases ---------------------------------------------------------------------------


@dataclass(frozen=True)
class AliasPlan:
    """A local name bound to a module that has an NPU twin, to be rebound to the twin."""

    old_name: str
    new_name: str
    old_qualified: str
    new_qualified: str
    rule: Rule


class _NameRoles:
    """Tells expression names from names that only label things: import statements (handled
    at statement level), keyword argument names, parameters, def and class names. Shared by
    the alias pre-pass and the rewriter, which must agree on what a "use" is."""

    _skip_names: set[int]

    def visit_Import(self, node: cst.Import) -> bool:
        return False

    def visit_ImportFrom(self, node: cst.ImportFrom) -> bool:
        return False

    def visit_Arg(self, node: cst.Arg) -> None:
        if node.keyword is not None:
            self._skip_names.add(id(node.keyword))

    def visit_Param(self, node: cst.Param) -> None:
        self._skip_names.add(id(node.name))

    def visit_FunctionDef(self, node: cst.FunctionDef) -> None:
        self._skip_names.add(id(node.name))

    def visit_ClassDef(self, node: cst.ClassDef) -> None:
        self._skip_names.add(id(node.name))


class _AliasUses(_NameRoles, cst.CSTVisitor):
    """Collects how module aliases are used: as `alias.x.y` chains or bare."""

    def __init__(self, names: Iterable[str], quiet: set[int]) -> None:
        self.names = set(names)
        self.chains: dict[str, list[list[str]]] = {n: [] for n in self.names}
        self.bare: set[str] = set()
        self._skip_names: set[int] = set()
        self._quiet = quiet  # statements without any trigger (the alias names are triggers)

    def on_visit(self, node: cst.CSTNode) -> bool:
        return id(node) not in self._quiet and super().on_visit(node)

    def visit_Attribute(self, node: cst.Attribute) -> bool:
        parts = dotted_parts(node)
        if parts is None:
            self._skip_names.add(id(node.attr))
            return True
        if parts[0] in self.names:
            self.chains[parts[0]].append(parts)
        return False

    def visit_Name(self, node: cst.Name) -> None:
        if node.value in self.names and id(node) not in self._skip_names:
            self.bare.add(node.value)


def plan_module_aliases(module: cst.Module, imports: ImportMap, rules: CompiledRules,
                        quiet: set[int] | None = None) -> dict[str, AliasPlan]:
    """Which aliases of CUDA modules can be rebound to their NPU twin without a dangling name.

    `from torch import cuda` may become `from torch import npu` only if every use of `cuda`
    in the file is an API that exists under torch.npu; otherwise the import stays (and the
    convertible uses are rewritten through another name, see `Migrator._head_for`).
    """
    candidates = {
        b.name: b
        for b in imports.bindings.values()
        if b.qualified in rules.module_twins and (b.name != b.qualified.split(".")[0])
        and not is_expression(rules.module_twins[b.qualified].new)
    }
    if not candidates:
        return {}
    uses = _AliasUses(candidates, quiet or set())
    module.visit(uses)
    plans: dict[str, AliasPlan] = {}
    for name, binding in candidates.items():
        twin = rules.module_twins[binding.qualified]
        if name in uses.bare:
            continue
        if not all(_converts_within(chain, binding, twin.new, rules) for chain in uses.chains[name]):
            continue
        new_name = name
        if not binding.is_module_import and name == _last(binding.qualified):
            # `from torch import cuda` -> `from torch import npu`, unless `npu` means something else
            candidate = _last(twin.new)
            new_name = candidate if candidate not in imports.bindings else name
        plans[name] = AliasPlan(name, new_name, binding.qualified, twin.new, twin.rule)
    return plans


def _converts_within(chain: list[str], binding: Binding, twin: str, rules: CompiledRules) -> bool:
    qualified = ".".join([binding.qualified, *chain[1:]])
    parts = qualified.split(".")
    floor = len(binding.qualified.split("."))
    for end in range(len(parts), floor, -1):
        rename = rules.renames.get(".".join(parts[:end]))
        if rename is not None:
            return rename.new.startswith(twin + ".")
    return False


# --- the transformer --------------------------------------------------------------------------


@dataclass
class _Chain:
    """A dotted expression `a.b.c` split into its nodes, innermost (the Name) first."""

    nodes: list[cst.BaseExpression]
    parts: list[str]


def _chain(node: cst.Attribute) -> _Chain | None:
    nodes: list[cst.BaseExpression] = []
    current: cst.BaseExpression = node
    while isinstance(current, cst.Attribute):
        nodes.append(current)
        current = current.value
    if not isinstance(current, cst.Name):
        return None
    nodes.append(current)
    nodes.reverse()
    parts = [current.value] + [n.attr.value for n in nodes[1:]]  # type: ignore[attr-defined]
    return _Chain(nodes, parts)


@dataclass
class Outcome:
    """What the transformer did to one module."""

    module: cst.Module
    events: list[Event] = field(default_factory=list)
    pairing: dict[int, ast.stmt] | None = None  # libcst statement -> ast statement (statements.py)

    @property
    def changed(self) -> bool:
        return any(e.is_change for e in self.events)


class Migrator(_NameRoles, cst.CSTTransformer):
    """Applies every compiled rule to one module in one pass."""

    def __init__(self, rules: CompiledRules, module: cst.Module, tree: ast.Module | None = None,
                 text: str | None = None) -> None:
        super().__init__()
        self.rules = rules
        self.module = module
        self.imports = build_import_map(module)
        if text is not None and _torch_from_star_import(self.imports, text):
            # DeepSpeed's zero/stage3.py uses `torch` from `from ... import *`: that name is
            # the torch module, and an expression portkit writes must not import it again
            self.imports.bindings["torch"] = Binding("torch", "torch", True)
        self.pairing = pair(module, tree) if tree is not None else None
        self._quiet: set[int] = set()
        if self.pairing is not None and text is not None:
            # names bound to CUDA things (`import torch.cuda as tc`) are triggers in this file
            aliases = [b.name for b in self.imports.bindings.values() if rules.may_need_work(b.qualified)]
            counts = trigger_lines(text, rules.triggers.regex(aliases))
            self._quiet = quiet_statements(module, self.pairing, counts)
        self.plans = plan_module_aliases(module, self.imports, rules, self._quiet)
        self.events: list[Event] = []
        self._statements: list[cst.CSTNode] = []
        self._replacements: dict[int, cst.BaseExpression] = {}
        self._skip_names: set[int] = set()
        self._needs_import = False
        self._needs_root_import: set[str] = set()
        self._rewritten_imports: set[int] = set()

    # -- recording --

    def change(self, rule: Rule, node: cst.CSTNode, message: str, inserted: str | None = None,
               statement: cst.CSTNode | None = None) -> None:
        self.events.append(Event(rule, node, message, True, rule.safety, inserted, statement or self._statement))
        if rule.needs_import:
            self._needs_import = True

    def flag(self, rule: Rule, node: cst.CSTNode, message: str, statement: cst.CSTNode | None = None) -> None:
        self.events.append(Event(rule, node, message, False, Safety.MANUAL, None, statement or self._statement))

    @property
    def _statement(self) -> cst.CSTNode | None:
        return self._statements[-1] if self._statements else None

    # -- traversal: the statement stack, and statements with no trigger are not visited --

    def on_visit(self, node: cst.CSTNode) -> bool:
        if type(node) in _STATEMENT_TYPES:
            self._statements.append(node)
        if id(node) in self._quiet:
            return False
        return super().on_visit(node)

    def on_leave(self, original_node: cst.CSTNode, updated_node: cst.CSTNode):  # type: ignore[no-untyped-def]
        result = super().on_leave(original_node, updated_node)
        if type(original_node) in _STATEMENT_TYPES:
            self._statements.pop()
        return result

    # -- dotted names: torch.cuda.X, th.cuda.X, cuda.X, amp.GradScaler --

    def visit_Attribute(self, node: cst.Attribute) -> bool:
        chain = _chain(node)
        if chain is None:
            self._skip_names.add(id(node.attr))
            return True
        replacement = self._rewrite_chain(chain)
        if replacement is not None:
            self._replacements[id(node)] = replacement
        return False  # a pure dotted chain has nothing else inside to visit

    def leave_Attribute(self, original_node: cst.Attribute, updated_node: cst.Attribute) -> cst.BaseExpression:
        result: cst.BaseExpression = self._replacements.pop(id(original_node), updated_node)
        flags = self.rules.attribute_flags.get(original_node.attr.value)
        if flags and self._receiver_is_value(original_node.value):
            for flag in flags:
                self.flag(flag.rule, original_node, flag.spec.message.format(name="." + original_node.attr.value))
        if isinstance(result, cst.Attribute):
            renamed = self.rules.attribute_renames.get(result.attr.value)
            if renamed is not None and self._receiver_is_value(original_node.value):
                rule, spec = renamed
                self.change(rule, original_node, f".{spec.old} → .{spec.new}")
                result = result.with_changes(attr=result.attr.with_changes(value=spec.new))
        return result

    def visit_Name(self, node: cst.Name) -> None:
        if id(node) in self._skip_names:
            return
        binding = self.imports.bindings.get(node.value)
        if binding is not None:
            # a bare name bound by `from torch.cuda import X` is handled at its import
            renamed = binding.qualified in self.rules.known_renames or node.value in self.plans
            missing = self.rules.unavailable.get(binding.qualified)
            if missing is not None:
                self._flag_unavailable(binding.qualified, missing, node)
            self._flag_uses(binding.qualified, node, renamed=renamed or missing is not None)

    def _receiver_is_value(self, receiver: cst.BaseExpression) -> bool:
        """False when the receiver is an imported module (`torch.cuda`), true for values."""
        parts = dotted_parts(receiver)
        return parts is None or parts[0] not in self.imports.bindings

    def _rewrite_chain(self, chain: _Chain) -> cst.BaseExpression | None:
        qualified = self.imports.resolve(chain.parts)
        if qualified is None:
            return None
        head_parts = len(self.imports.bindings[chain.parts[0]].qualified.split("."))
        names = qualified.split(".")
        renamed = False
        result: cst.BaseExpression | None = None
        # the longest prefix of the chain that a rename rule knows wins: torch.cuda.Stream.query
        for k in range(len(chain.parts), 0, -1):
            prefix = ".".join(names[: head_parts + k - 1])
            renamed = renamed or prefix in self.rules.known_renames or (
                k == len(chain.parts) and prefix in self.rules.known_twins)
            missing = self.rules.unavailable.get(prefix)
            if missing is not None:
                self._flag_unavailable(prefix, missing, chain.nodes[k - 1])
                renamed = True  # handled: no "not converted by any rule" on top
                break
            rename = self.rules.renames.get(prefix)
            if rename is None and k == len(chain.parts) and k > 1:
                # the module itself used as an object (`hasattr(torch.cuda, "x")`, `return
                # torch.cuda.amp`) becomes its twin; `torch.cuda.unknown` never does
                rename = self.rules.module_twins.get(prefix)
            if rename is None:
                continue
            new_node = self._renamed_prefix(chain, k, rename.new)
            self.change(rename.rule, chain.nodes[k - 1], f"{prefix} → {rename.new}")
            result = new_node
            renamed = True
            break
        self._flag_uses(qualified, chain.nodes[-1], renamed=renamed)
        return result

    def _flag_unavailable(self, old: str, missing: _Rename, node: cst.CSTNode) -> None:
        version = self.rules.npu_api.version
        self.flag(missing.rule, node, f"{old} → {missing.new} needs a newer torch_npu: {version} does not have "
                                      f"{missing.new}; upgrade torch_npu or port this call by hand")

    def _flag_uses(self, qualified: str, node: cst.CSTNode, *, renamed: bool) -> None:
        """Manual items for a used name: exact names always, module prefixes only with guidance."""
        seen: set[str] = set()
        for matched, flag in self.rules.flags_for(qualified):
            spec = flag.spec
            if flag.rule.id in seen or (spec.fallback and (renamed or len(seen) > 0)):
                continue
            guidance = spec.guidance.get(matched)
            if not (matched in spec.names or guidance is not None or spec.fallback):
                continue  # module prefixes are reported at their imports, not at every use
            seen.add(flag.rule.id)
            self.flag(flag.rule, node, guidance or spec.message.format(name=matched))

    def _head_for(self, chain: _Chain, new: str) -> list[str]:
        """The dotted parts that spell `new` in this file, reusing the names it already imports."""
        head = chain.parts[0]
        binding = self.imports.bindings[head]
        plan = self.plans.get(head)
        head_name, head_qualified = (plan.new_name, plan.new_qualified) if plan else (head, binding.qualified)
        if new == head_qualified or new.startswith(head_qualified + "."):
            return [head_name, *new[len(head_qualified):].split(".")[1:]]
        return self._spell(new)

    def _spell(self, qualified: str) -> list[str]:
        """The dotted parts that reach `qualified` through this file's module imports
        (`th.accelerator.synchronize` after `import torch as th`), importing its root if none does."""
        module = self.imports.module_binding_for(qualified)
        if module is not None:
            return [module.name, *qualified[len(module.qualified):].split(".")[1:]]
        root = qualified.split(".")[0]
        self._needs_root_import.add(root)
        return qualified.split(".")

    def _expression(self, source: str) -> cst.BaseExpression:
        """A rule's replacement expression, its dotted module names spelled for this file."""
        return cst.parse_expression(source).visit(_Respell(self._spell))  # type: ignore[return-value]

    def _renamed_prefix(self, chain: _Chain, k: int, new: str) -> cst.BaseExpression:
        old_prefix = chain.nodes[k - 1]
        if is_expression(new):
            current = self._expression(new).with_changes(lpar=old_prefix.lpar, rpar=old_prefix.rpar)
            for node in chain.nodes[k:]:
                current = node.with_changes(value=current)
            return current
        new_parts = self._head_for(chain, new)
        if len(new_parts) == k:
            # same shape: rename the Name nodes in place so spacing and comments survive
            current: cst.BaseExpression = chain.nodes[0]
            if new_parts[0] != chain.parts[0]:
                current = current.with_changes(value=new_parts[0])  # type: ignore[call-arg]
            for i in range(1, k):
                node = chain.nodes[i]
                assert isinstance(node, cst.Attribute)
                attr = node.attr if new_parts[i] == chain.parts[i] else node.attr.with_changes(value=new_parts[i])
                current = node.with_changes(value=current, attr=attr)
        else:
            current = cst.Name(new_parts[0])
            for part in new_parts[1:]:
                current = cst.Attribute(value=current, attr=cst.Name(part))
            current = current.with_changes(lpar=old_prefix.lpar, rpar=old_prefix.rpar)
        for node in chain.nodes[k:]:
            current = node.with_changes(value=current)
        return current

    # -- calls: .cuda(), argument edits, strings in device/backend/env positions --

    def leave_Call(self, original_node: cst.Call, updated_node: cst.Call) -> cst.BaseExpression:
        func = original_node.func
        callee = self.imports.resolve_expression(func)
        if isinstance(func, cst.Attribute) and isinstance(updated_node.func, cst.Attribute):
            renamed = self.rules.call_attribute_renames.get(updated_node.func.attr.value)
            if renamed is not None and self._receiver_is_value(func.value):
                updated_node = self._rename_call_attribute(*renamed, original_node, updated_node)
        if callee is not None:
            for rule, spec in self.rules.arg_edits.get(callee, ()):
                updated_node = self._edit_arguments(rule, spec, original_node, updated_node)
            for _, flag in self.rules.flags_for(callee):
                for arg in original_node.args:
                    if arg.keyword is not None and arg.keyword.value in flag.spec.keywords:
                        self.flag(flag.rule, arg, flag.spec.keywords[arg.keyword.value])
        if self.rules.strings:
            key = callee if callee is not None else (
                "." + func.attr.value if isinstance(func, cst.Attribute) else None
            )
            updated_node = self._call_strings(key, original_node, updated_node)
        return updated_node

    def _rename_call_attribute(self, rule: Rule, spec: RenameAttribute, original: cst.Call,
                               updated: cst.Call) -> cst.Call:
        """`.cuda(...)` -> `.npu(...)`; with `insert_first`, `.cuda()` -> `.to(<device>)`."""
        args = list(updated.args)
        if spec.insert_first is not None and not any(a.keyword and a.keyword.value == spec.keyword for a in args):
            if any(a.keyword is None for a in args):
                self.flag(rule, original, f".{spec.old}(<device>): pass the device to .{spec.new}() yourself "
                                          f"(an index or device object has no device-agnostic spelling here)")
                return updated
            args.insert(0, self._first_argument(spec.insert_first, bool(args)))
            self.change(rule, original.func.attr, f".{spec.old}() → .{spec.new}({spec.insert_first})")  # type: ignore[attr-defined]
        else:
            self.change(rule, original.func.attr, f".{spec.old}() → .{spec.new}()")  # type: ignore[attr-defined]
        func = updated.func.with_changes(attr=updated.func.attr.with_changes(value=spec.new))  # type: ignore[attr-defined]
        return updated.with_changes(func=func, args=args)

    def _first_argument(self, source: str, followed: bool) -> cst.Arg:
        arg = cst.Arg(value=self._expression(source))
        if followed:
            arg = arg.with_changes(comma=cst.Comma(whitespace_after=cst.SimpleWhitespace(" ")))
        return arg

    def _edit_arguments(self, rule: Rule, spec: EditArguments, original: cst.Call, updated: cst.Call) -> cst.Call:
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
                self.flag(rule, original, f"pass {keyword}= as argument {index + 1}: the new function "
                                          f"takes it by position only")
        if spec.insert_first is not None and not positional and not has_star:
            if not any(a.keyword is not None and a.keyword.value == spec.keyword for a in args):
                args.insert(0, self._first_argument(spec.insert_first, bool(args)))
                changed = True
        if changed:
            self.change(rule, original, spec.message)
            return updated.with_changes(args=args)
        return updated

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
            value = _string_value(arg.value) if arg.keyword is None else None
            if value is not None:
                names.append(value.lstrip("-").replace("-", "_"))
        return names

    def _rewrite_value(
        self, rule: Rule, spec: ReplaceString, original: cst.BaseExpression, updated: cst.BaseExpression
    ) -> cst.BaseExpression:
        if isinstance(updated, cst.Dict) and isinstance(original, cst.Dict):
            return self._rewrite_dict_keys(rule, spec, original, updated)
        edits: list[_StringEdit] = []
        if spec.expressions:
            result = rewrite_string_as_expression(original, updated, spec, edits, self._expression)
        else:
            result = rewrite_string_expression(original, updated, spec, edits)
        if spec.report_only:
            for edit in edits:
                self.flag(rule, edit.original, spec.report_message.format(name=edit.old))
            result = updated
        for edit in edits if not spec.report_only else ():
            if edit.new is None:
                self.flag(rule, edit.original, spec.report_message.format(name=edit.old))
            elif spec.expressions:
                self.change(rule, edit.original, f'"{edit.old}" → {edit.new}')
            else:
                self.change(rule, edit.original, f'"{edit.old}" → "{edit.new}"')
        if not edits and spec.report_pattern is not None:
            value = _string_value(updated)
            if value is not None and spec.report_pattern.search(value):
                self.flag(rule, original, spec.report_message.format(name=value))
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

    # -- other string contexts --

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
        value = _string_value(operand)
        if value is not None and (value in spec.values or _device_prefix(value, spec, allow_placeholder=False)):
            self.flag(rule, operand, spec.report_message.format(name=value))

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
            body, orelse = _string_value(updated_node.body), _string_value(updated_node.orelse)
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
        value = self._named_value(_string_value(original_node.key), original_node.value, updated_node.value)
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

    # -- imports --

    def leave_SimpleStatementLine(
        self, original_node: cst.SimpleStatementLine, updated_node: cst.SimpleStatementLine
    ) -> cst.BaseStatement | cst.FlattenSentinel[cst.BaseStatement]:
        if not any(isinstance(s, (cst.Import, cst.ImportFrom)) for s in original_node.body):
            return updated_node
        body: list[cst.BaseSmallStatement] = []
        extra: list[cst.BaseSmallStatement] = []
        for statement in updated_node.body:
            if isinstance(statement, cst.ImportFrom):
                self._flag_import(statement, module_name(statement))
                rewritten = self._rewrite_import_from(statement)
                body.append(rewritten[0])
                extra.extend(rewritten[1:])
            elif isinstance(statement, cst.Import):
                for alias in statement.names:
                    self._flag_import(statement, dotted_name(alias.name))
                body.append(self._rewrite_import(statement))
            else:
                body.append(statement)
        if all(a is b for a, b in zip(body, updated_node.body)) and not extra:
            return updated_node
        first = updated_node.with_changes(body=body)
        if not extra:
            return first
        lines = [cst.SimpleStatementLine(body=[s]) for s in extra]
        return cst.FlattenSentinel([first, *lines])

    def _flag_import(self, statement: cst.Import | cst.ImportFrom, module: str | None) -> None:
        if module is None:
            return
        seen: set[str] = set()
        names = [module]
        if isinstance(statement, cst.ImportFrom) and not isinstance(statement.names, cst.ImportStar):
            names += [f"{module}.{dotted_name(a.name)}" for a in statement.names]
        for name in names:
            parts = name.split(".")
            for end in range(len(parts), 0, -1):
                for flag in self.rules.prefix_flags.get(".".join(parts[:end]), ()):
                    if flag.rule.id not in seen and not flag.spec.fallback:
                        seen.add(flag.rule.id)
                        message = flag.spec.guidance.get(module) or flag.spec.message.format(name=module)
                        self.flag(flag.rule, statement, message, statement=statement)

    def _rewrite_import(self, statement: cst.Import) -> cst.Import:
        names = list(statement.names)
        for i, alias in enumerate(names):
            if alias.asname is None or not isinstance(alias.asname.name, cst.Name):
                continue
            plan = self.plans.get(alias.asname.name.value)
            if plan is None:
                continue
            target = importable(plan.new_qualified)
            names[i] = alias.with_changes(name=_dotted_expression(target))
            self.change(plan.rule, statement, f"import {plan.old_qualified} → import {target}", statement=statement)
            self._note_first_import(statement)
        return statement.with_changes(names=names) if names != list(statement.names) else statement

    def _rewrite_import_from(self, statement: cst.ImportFrom) -> list[cst.ImportFrom]:
        module = module_name(statement)
        if module is None or isinstance(statement.names, cst.ImportStar):
            return [statement]
        groups: dict[str, list[cst.ImportAlias]] = {}
        changed_rule: Rule | None = None
        for alias in statement.names:
            name = dotted_name(alias.name) or ""
            local = alias.asname.name.value if isinstance(getattr(alias.asname, "name", None), cst.Name) else name
            qualified = f"{module}.{name}"
            plan = self.plans.get(local)
            rename = self.rules.renames.get(qualified)
            if plan is not None and plan.old_qualified == qualified:
                target, bind, rule = plan.new_qualified, plan.new_name, plan.rule
            elif rename is not None and is_expression(rename.new):
                self.flag(rename.rule, statement, f"`from {module} import {name}`: {qualified} becomes "
                                                  f"{rename.new}, which cannot be imported: write that "
                                                  f"expression where {local} is used, then drop the import",
                          statement=statement)
                groups.setdefault(module, []).append(alias)
                continue
            elif rename is not None:
                target, bind, rule = rename.new, local, rename.rule
            else:
                groups.setdefault(module, []).append(alias)
                continue
            changed_rule = changed_rule or rule
            new_name = _last(target)
            asname = None
            if bind != new_name:
                asname = alias.asname or cst.AsName(name=cst.Name(bind))
                if isinstance(asname.name, cst.Name) and asname.name.value != bind:
                    asname = asname.with_changes(name=cst.Name(bind))
            groups.setdefault(importable(_parent(target)), []).append(
                alias.with_changes(name=cst.Name(new_name), asname=asname)
            )
        if changed_rule is None:
            return [statement]
        results = []
        for index, (target_module, aliases) in enumerate(groups.items()):
            if len(groups) > 1:
                aliases = [*aliases[:-1], aliases[-1].with_changes(comma=cst.MaybeSentinel.DEFAULT)]
            if index == 0:
                new = statement.with_changes(module=_dotted_expression(target_module), names=aliases)
            else:
                new = cst.ImportFrom(module=_dotted_expression(target_module), names=aliases)
            results.append(new)
        old_code = self.module.code_for_node(statement)
        new_code = "; ".join(self.module.code_for_node(r) for r in results)
        self.change(changed_rule, statement, f"{old_code} → {new_code}", statement=statement)
        self._note_first_import(statement)
        return results

    def _note_first_import(self, statement: cst.CSTNode) -> None:
        """Remember a rewritten import that now names torch.npu, so torch_npu goes before it."""
        self._rewritten_imports.add(id(statement))

    # -- the module: import insertion --

    def leave_Module(self, original_node: cst.Module, updated_node: cst.Module) -> cst.Module:
        to_insert: list[tuple[Rule | None, str]] = []
        for root in sorted(self._needs_root_import):
            if root not in self.imports.bindings:
                to_insert.append((None, root))
        if self._needs_import:
            for rule, spec in self.rules.ensure_imports:
                if not self.imports.imports_module(spec.module):
                    to_insert.append((rule, spec.module))
        if not to_insert:
            return updated_node
        index = self._insertion_index(original_node)
        body = list(updated_node.body)
        new_lines = []
        for rule, name in to_insert:
            line = cst.SimpleStatementLine(body=[cst.Import(names=[cst.ImportAlias(name=_dotted_expression(name))])])
            new_lines.append(line)
            anchor = _anchor(original_node, index)
            code = f"import {name}"
            if rule is not None:
                self.change(rule, anchor, f"{code} added", inserted=code, statement=anchor)
            else:
                owner = next((e.rule for e in self.events if e.is_change), None)
                if owner is not None:
                    self.change(owner, anchor, f"{code} added (the rewritten name needs it)", inserted=code,
                                statement=anchor)
        body[index:index] = new_lines
        return updated_node.with_changes(body=body)

    def _insertion_index(self, module: cst.Module) -> int:
        """Right after the first top-level torch import (before it if it now imports torch.npu)."""
        rewritten = self._rewritten_imports
        for index, statement in enumerate(module.body):
            if not isinstance(statement, cst.SimpleStatementLine):
                continue
            for small in statement.body:
                if _imports_torch(small):
                    if id(small) in rewritten:
                        return index
                    return index + 1
        # no torch import at top level: after the docstring and __future__ imports
        index = 0
        for i, statement in enumerate(module.body):
            if isinstance(statement, cst.SimpleStatementLine) and (
                (i == 0 and isinstance(statement.body[0], cst.Expr)
                 and isinstance(statement.body[0].value, (cst.SimpleString, cst.ConcatenatedString)))
                or (isinstance(statement.body[0], cst.ImportFrom) and module_name(statement.body[0]) == "__future__")
            ):
                index = i + 1
            else:
                break
        return index


TORCH_ATTRIBUTE = re.compile(r"(?<![\w.])torch\.")


def _torch_from_star_import(imports: ImportMap, text: str) -> bool:
    return imports.star_import and "torch" not in imports.bindings and TORCH_ATTRIBUTE.search(text) is not None


class _Respell(cst.CSTTransformer):
    """Rewrites every dotted name `a.b.c` of an expression to the parts `spell` gives."""

    def __init__(self, spell: Callable[[str], list[str]]) -> None:
        super().__init__()
        self.spell = spell

    def visit_Attribute(self, node: cst.Attribute) -> bool:
        return dotted_parts(node) is None  # a whole dotted chain is handled when it is left

    def leave_Attribute(self, original_node: cst.Attribute, updated_node: cst.Attribute) -> cst.BaseExpression:
        name = dotted_name(original_node)
        if name is None:
            return updated_node
        return _dotted_expression(".".join(self.spell(name))).with_changes(
            lpar=updated_node.lpar, rpar=updated_node.rpar)


def _anchor(module: cst.Module, index: int) -> cst.CSTNode:
    """The statement an inserted import is reported at: the one it is inserted before (or the
    last one); for a line of small statements, its first."""
    if not module.body:
        return module
    statement: cst.CSTNode = module.body[min(index, len(module.body) - 1)]
    if isinstance(statement, cst.SimpleStatementLine):
        statement = statement.body[0]
    return statement


_STATEMENT_TYPES = frozenset(
    kind for base in (cst.BaseSmallStatement, cst.BaseCompoundStatement)
    for kind in [base, *base.__subclasses__()]
    for kind in [kind, *kind.__subclasses__()]
)


def _imports_torch(statement: cst.BaseSmallStatement) -> bool:
    if isinstance(statement, cst.Import):
        return any((dotted_name(a.name) or "").split(".")[0] == "torch" for a in statement.names)
    if isinstance(statement, cst.ImportFrom):
        return (module_name(statement) or "").split(".")[0] == "torch"
    return False


def _target_name(target: cst.BaseExpression) -> str | None:
    if isinstance(target, cst.Name):
        return target.value
    if isinstance(target, cst.Attribute):
        return target.attr.value
    return None


def importable(module: str) -> str:
    """The path an import statement must use for a module under torch.npu.

    torch_npu registers only `torch.npu` itself in sys.modules: `import torch.npu.amp` (or
    `from torch.npu.amp import X`) would load the files a second time as a different module,
    with different classes. `torch_npu.npu.amp` is the real module; attribute access such as
    `torch.npu.amp.autocast` is fine and stays as it is.
    """
    if module.startswith("torch.npu."):
        return "torch_npu.npu." + module[len("torch.npu."):]
    return module


def _dotted_expression(name: str) -> cst.Attribute | cst.Name:
    parts = name.split(".")
    node: cst.Attribute | cst.Name = cst.Name(parts[0])
    for part in parts[1:]:
        node = cst.Attribute(value=node, attr=cst.Name(part))
    return node


def transform(module: cst.Module, rules: CompiledRules, tree: ast.Module | None = None,
              text: str | None = None) -> Outcome:
    """Apply the rules to a module. With the stdlib tree and text of the same source,
    statements without triggers are skipped and events can be located cheaply."""
    migrator = Migrator(rules, module, tree, text)
    new_module = module.visit(migrator)
    return Outcome(new_module, migrator.events, migrator.pairing)
