"""The rule set compiled for the rewriter: indexes keyed by what rules match, and triggers.

Built once per process and shared by every file kind: the Python rewriter looks names,
attributes and string contexts up here, so a node is offered only to the rules that can care
about it; triage asks `may_need_work` before any file is parsed.
"""

from __future__ import annotations

import ast
import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property

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
from portkit.ruleset.calls import CallContract, DeviceIndex
from portkit.ruleset.kinds import Analysis
from portkit.ruleset.npu_api import load_npu_api


@dataclass(frozen=True)
class Rename:
    """A qualified name's new spelling (a dotted name or an expression), and the rule that says so."""

    rule: Rule
    new: str


@dataclass(frozen=True)
class Flag:
    """A report rule that matched a name, prefix or attribute."""

    rule: Rule
    spec: Report


class CompiledRules:
    """A RuleSet indexed for the transformer; built once per process and reused for every file."""

    def __init__(self, ruleset: RuleSet) -> None:
        self.ruleset = ruleset
        self.renames: dict[str, Rename] = {}
        self.module_twins: dict[str, Rename] = {}
        self.exact_flags: dict[str, list[Flag]] = {}
        self.prefix_flags: dict[str, list[Flag]] = {}
        self.attribute_flags: dict[str, list[Flag]] = {}
        self.arg_edits: dict[str, list[tuple[Rule, EditArguments]]] = {}
        self.call_attribute_renames: dict[str, tuple[Rule, RenameAttribute]] = {}
        self.attribute_renames: dict[str, tuple[Rule, RenameAttribute]] = {}
        self.strings: list[tuple[Rule, ReplaceString]] = []
        self.ensure_imports: list[tuple[Rule, EnsureImport]] = []
        self.triggers = Triggers()
        self.npu_api = load_npu_api(ruleset.npu_version)
        # renames whose target the chosen torch_npu release lacks: reported, never written
        self.unavailable: dict[str, Rename] = {}
        # old name -> the contracts of its calls that hold for the chosen release (docs/contracts.md)
        self.contracts: dict[str, tuple[CallContract, ...]] = {}
        # integer device indices to write as devices: only where the paired torch reads them as CUDA
        self.device_indices: list[tuple[Rule, DeviceIndex]] = []
        reports: list[tuple[Rule, Report]] = []
        for rule in ruleset.rules:
            spec = rule.spec
            if isinstance(spec, RenameApi):
                self._add_rename_api(rule, spec)
            elif isinstance(spec, Report):
                reports.append((rule, spec))
            elif isinstance(spec, EditArguments):
                for call in spec.calls:
                    self.arg_edits.setdefault(call, []).append((rule, spec))
                self.triggers.add_names(c.removeprefix(".") for c in spec.calls)
                if spec.device_index is not None and spec.device_index.holds_for(self.npu_api.torch):
                    self._add_device_index(rule, spec.device_index)
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
        for rule, spec in reports:
            self._add_report(rule, self._following_renames(spec))
        # ids a suppression comment may name: every loaded rule, selected or not
        self.known_ids = frozenset(r.id for r in (*ruleset.rules, *ruleset.universe))
        # ids this run executes: a suppression naming none of them (say an analysis rule, or a
        # rule of the other target) belongs to another command and is not "unused" here
        self.active_ids = frozenset(r.id for r in ruleset.rules if not isinstance(r.spec, Analysis))
        # names some loaded rule converts, active or not: the fallback report leaves them alone
        renaming = [r.spec for r in (*ruleset.rules, *ruleset.universe) if isinstance(r.spec, RenameApi)]
        self.known_renames = {name for spec in renaming for name in spec.renames}
        # a module with a twin is "known" only when used as the module itself
        self.known_twins = {name for spec in renaming for name in spec.module_twins}
        self.string_compare = any(s.contexts.compare for _, s in self.strings)
        self.string_conditional = any(s.contexts.conditional for _, s in self.strings)
        self.string_names = any(s.contexts.names is not None for _, s in self.strings)
        self.string_subscripts = frozenset(q for _, s in self.strings for q in s.contexts.subscripts)

    def _add_rename_api(self, rule: Rule, spec: RenameApi) -> None:
        for old, new in spec.renames.items():
            if _is_npu_name(new) and not self.npu_api.has(new):
                self.unavailable.setdefault(old, Rename(rule, new))
                continue
            self.renames.setdefault(old, Rename(rule, new))
        self.triggers.add_names(spec.renames)
        for old, new in spec.module_twins.items():
            self.module_twins.setdefault(old, Rename(rule, new))
        for old, contracts in spec.contracts.items():
            holding = tuple(c for c in contracts if c.holds_for(self.npu_api.version))
            if holding and old not in self.contracts:
                self.contracts[old] = holding

    def _add_report(self, rule: Rule, spec: Report) -> None:
        for name in spec.names:
            self.exact_flags.setdefault(name, []).append(Flag(rule, spec))
        for prefix in spec.prefixes:
            self.prefix_flags.setdefault(prefix, []).append(Flag(rule, spec))
        for attribute in spec.attributes:
            self.attribute_flags.setdefault(attribute, []).append(Flag(rule, spec))
        self.triggers.add_names([*(n for n in spec.names if not is_expression(n)), *spec.prefixes])
        # `torch.get_device_module().X`: its last name is what the text spells
        self.triggers.identifiers.update(n.rpartition(".")[2] for n in spec.names if is_expression(n))
        self.triggers.identifiers.update(spec.attributes)
        self.triggers.keywords.update(spec.keywords)

    def _following_renames(self, spec: Report) -> Report:
        """A report rule also flags the new spelling of every name it lists that a rename
        converts (`torch.npu.get_device_capability`): `check` on a ported tree keeps the item."""
        followed = {rename.new: spec.guidance.get(name) for name in spec.names
                    if (rename := self.renames.get(name)) is not None and rename.new not in spec.names}
        if not followed:
            return spec
        guidance = {**spec.guidance, **{new: text for new, text in followed.items() if text is not None}}
        return dataclasses.replace(spec, names=spec.names | followed.keys(), guidance=guidance)

    def _add_device_index(self, rule: Rule, spec: DeviceIndex) -> None:
        self.device_indices.append((rule, spec))
        self.triggers.add_names(c.removeprefix(".") for c in spec.positional)
        self.triggers.keywords.update(spec.keywords)

    @cached_property
    def patch_strings(self) -> list[tuple[Rule, ReplaceString]]:
        """The report-string rules that declare patchers (mockpatch.py): every prefix a dotted
        module name + "."; the fast path declines the strings they could follow into."""
        return [(rule, spec) for rule, spec in self.strings if spec.report_only and spec.prefixes
                and all(p.endswith(".") and p[:-1].replace(".", "").isidentifier() for p in spec.prefixes)]

    @cached_property
    def trigger_pattern(self) -> TriggerScanner:
        return self.triggers.scanner()

    def may_need_work(self, text: str) -> bool:
        """Triage stage one: can this text be touched by any rule at all?"""
        return self.trigger_pattern.search(text) is not None

    def import_flags(self, module: str, names: Sequence[str]) -> list[tuple[Rule, str]]:
        """The report rules an import of `module` (binding `names`, the module's own included)
        falls under, one per rule, each with its message; the rewriter and the fast path share it."""
        seen: set[str] = set()
        found: list[tuple[Rule, str]] = []
        for name in names:
            parts = name.split(".")
            for end in range(len(parts), 0, -1):
                for flag in self.prefix_flags.get(".".join(parts[:end]), ()):
                    if flag.rule.id not in seen and not flag.spec.fallback:
                        seen.add(flag.rule.id)
                        found.append((flag.rule, flag.spec.guidance.get(module) or flag.spec.message.format(name=module)))
        return found

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

    def flags_for(self, qualified: str) -> list[tuple[str, Flag]]:
        """Report rules that match `qualified` or a module/class it belongs to, with the name matched.

        A use of `torch.cuda.jiterator._create_jit_fn` is a use of `torch.cuda.jiterator`: the
        longest listed name that prefixes the use wins, then the rules listing module prefixes.
        """
        flags: list[tuple[str, Flag]] = []
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
