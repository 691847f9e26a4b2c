"""What a rule is: its id, kind, documentation, safety, targets, examples and the kind's
parameters (`Rule`); the active rules in a stable order (`RuleSet`) and the selectors that pick
them; and `RuleError`, the one-line message of a malformed rule file."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from portkit.model import Safety

if TYPE_CHECKING:
    from portkit.ruleset.kinds import KindSpec

# kinds that only report: everything else changes code
REPORT_KINDS = frozenset({"report", "report-string", "report-command", "cuda-source", "dependency", "analysis"})
RULE_ID = re.compile(r"^[a-z][a-z0-9]*(-[a-z0-9]+)*$")
QUALIFIED_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$")
TARGETS = frozenset({"npu", "accelerator", "shim"})


class RuleError(Exception):
    """A malformed rule file: the message is one line naming the file, the rule and the problem."""


@dataclass(frozen=True)
class Example:
    """A snippet the test suite runs through the rule: `after` None means "must stay unchanged"."""

    before: str
    after: str | None = None
    findings: int = 0  # manual items of this rule the snippet must produce
    with_rules: tuple[str, ...] = ()  # other rules active in this example (an import needs a change)
    path: str = "example.py"  # the snippet's file name: it picks the file kind (run.sh, setup.py…)
    torch_npu: str | None = None  # the --torch-npu release the example ports to (default: the newest)


@dataclass(frozen=True)
class Rule:
    id: str
    kind: str
    summary: str
    why: str
    safety: Safety
    source: str
    targets: frozenset[str]
    examples: tuple[Example, ...]
    spec: KindSpec
    needs_import: bool  # a change by this rule makes the file need `import torch_npu`
    origin: str  # the rule file, for error messages

    @property
    def group(self) -> str:
        """The rule file's name without .toml: `--select amp` picks every rule in amp.toml."""
        return Path(self.origin).stem


@dataclass(frozen=True)
class RuleSet:
    """The active rules, in a stable order (file name, then position in the file)."""

    rules: tuple[Rule, ...]
    # every rule that was loaded, active or not: "no rule converts this" is judged against
    # all of them, so --select manual does not report names cuda-api would convert
    universe: tuple[Rule, ...] = ()
    # the torch_npu release to port to (None: the newest one portkit knows); renames whose
    # target that release lacks become manual items
    npu_version: str | None = None

    def __post_init__(self) -> None:
        seen: dict[str, str] = {}
        for rule in self.rules:
            if rule.id in seen:
                raise RuleError(f"{rule.origin}: rule '{rule.id}' is already defined in {seen[rule.id]}")
            seen[rule.id] = rule.origin

    @property
    def ids(self) -> tuple[str, ...]:
        return tuple(rule.id for rule in self.rules)

    def get(self, rule_id: str) -> Rule:
        for rule in self.rules:
            if rule.id == rule_id:
                return rule
        raise KeyError(rule_id)

    def select(self, ids: Iterable[str]) -> RuleSet:
        wanted = set(ids)
        if unknown := sorted(wanted - set(self.ids)):
            raise RuleError(f"unknown rule id '{unknown[0]}' (see `portkit rules`)")
        return RuleSet(tuple(rule for rule in self.rules if rule.id in wanted), self.universe or self.rules,
                       self.npu_version)

    def expand(self, selectors: Iterable[str], extra_ids: Iterable[str] = ()) -> set[str]:
        """Rule ids named by selectors: an id, a group (the rule file's name, like `amp` or
        `third-party`), `fixable` / `manual`, or `ALL`. Unknown selectors are an error."""
        extra = set(extra_ids)
        chosen: set[str] = set()
        for selector in selectors:
            matched = {
                rule.id for rule in self.rules
                if selector in (rule.id, rule.group, "ALL")
                or (selector == "fixable" and rule.kind not in REPORT_KINDS)
                or (selector == "manual" and rule.kind in REPORT_KINDS)
            }
            if selector in extra:
                matched.add(selector)
            if not matched:
                raise RuleError(f"unknown rule id or group '{selector}' (see `portkit rules`)")
            chosen |= matched
        return chosen

    def choose(self, select: Iterable[str] = (), ignore: Iterable[str] = ()) -> RuleSet:
        """The rules left after --select (default: all) and --ignore.

        An import rule (`import torch_npu`) comes along with any selected rule whose changes
        need it, unless it is ignored by name: `--select cuda-api` must not write torch.npu
        code without the import."""
        select, ignore = list(select), list(ignore)
        ignored = self.expand(ignore)
        keep = self.expand(select) if select else set(self.ids)
        if any(r.needs_import for r in self.rules if r.id in keep):
            keep |= {r.id for r in self.rules if r.kind == "ensure-import"}
        keep -= ignored
        return RuleSet(tuple(rule for rule in self.rules if rule.id in keep), self.universe or self.rules,
                       self.npu_version)

    def universe_set(self) -> RuleSet:
        """Every loaded rule, selected or not (for naming rules in config and comments)."""
        return RuleSet(self.universe or self.rules)

    def for_target(self, target: str) -> RuleSet:
        return RuleSet(tuple(rule for rule in self.rules if target in rule.targets), self.universe, self.npu_version)
