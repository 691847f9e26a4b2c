"""What one file's analysis shares: the settings of the run (active rules, the torch_npu release
and its tables) and the findings made so far, with their positions in the text."""

from __future__ import annotations

import ast
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cached_property

from portkit.model import Finding, Safety, Span
from portkit.ruleset import Rule, RuleSet
from portkit.ruleset.api_ops import ApiTable, NpuFunctions, first_release_with, load_npu_functions
from portkit.ruleset.kinds import Analysis
from portkit.ruleset.operators import OperatorTable, available_versions


@dataclass(frozen=True, eq=False)
class Settings:
    """The active analysis rules and the tables of the torch_npu release analysed for."""

    rules: Mapping[str, Rule]  # rule id -> rule, only analysis rules that are selected
    npu_version: str
    operators: OperatorTable
    api: ApiTable
    npu: NpuFunctions

    @classmethod
    def load(cls, ruleset: RuleSet) -> Settings:
        version = ruleset.npu_version or available_versions()[-1]
        rules = {r.id: r for r in ruleset.rules if isinstance(r.spec, Analysis) and "analyze" in r.spec.reported_by}
        return cls(rules, version, OperatorTable.load(version), ApiTable.load(), load_npu_functions(version))

    @cached_property
    def triggers(self) -> re.Pattern[str]:
        """Words one of which a file must hold for any active analysis to find something in it (a
        file without them is not parsed): the last part of every API name the analyses look for and
        the functions of the fused patterns, followed by `(`; float64 spellings; `[... > ...]`."""
        from portkit.python.analysis.calls import FLOAT64_WORDS, trigger_words
        from portkit.python.analysis.patterns import PATTERN_WORDS

        called = set(trigger_words(self))  # each is looked for where it is called: `name(`
        for rule_id, found in PATTERN_WORDS.items():
            if rule_id in self.rules:
                called.update(found)
        named = FLOAT64_WORDS if "float64" in self.rules else ()
        mask = r"|\[[^\]\n]*?(?:[<>]|==|!=)" if "dynamic-shape" in self.rules else ""
        return re.compile(r"\b(?:" + "|".join(sorted(map(re.escape, called))) + r")\s*\(" + "".join(
            rf"|\b{re.escape(word)}\b" for word in named) + mask)

    def spec(self, rule_id: str) -> Analysis:
        spec = self.rules[rule_id].spec
        assert isinstance(spec, Analysis)
        return spec

    def missing_names(self, names: tuple[str, ...]) -> str:
        """' (torch_npu 2.1.0 does not have torch_npu.X; 2.6.0 has it)' for names this release lacks."""
        notes = []
        for name in names:
            if not self.npu.has(name):
                first = first_release_with(name)
                notes.append(f"torch_npu {self.npu.version} does not have {name}"
                             + (f" ({first} has it)" if first else ""))
        return f" ({'; '.join(notes)})" if notes else ""


@dataclass
class FileContext:
    """One file: its lines, the settings, and the findings so far (one per rule and position)."""

    lines: list[str]
    settings: Settings
    found: dict[tuple[str, int, int], Finding] = field(default_factory=dict)

    def wants(self, rule_id: str) -> bool:
        return rule_id in self.settings.rules

    def add(self, rule_id: str, node: ast.AST, message: str, evidence: str = "") -> None:
        if rule_id not in self.settings.rules:
            return
        span = self.span(node)
        key = (rule_id, span.line, span.column)
        if key not in self.found:
            text = self.lines[span.line - 1] if span.line <= len(self.lines) else ""
            self.found[key] = Finding(rule_id, message, Safety.MANUAL, span, text, evidence)

    def span(self, node: ast.AST) -> Span:
        line, end_line = node.lineno, node.end_lineno or node.lineno  # type: ignore[attr-defined]
        return Span(line, self._column(line, node.col_offset) + 1,  # type: ignore[attr-defined]
                    end_line, self._column(end_line, node.end_col_offset or 0) + 1)  # type: ignore[attr-defined]

    def _column(self, line: int, offset: int) -> int:
        """ast counts UTF-8 bytes; editors (and the rest of portkit) count characters."""
        text = self.lines[line - 1] if 0 < line <= len(self.lines) else ""
        return offset if text.isascii() else len(text.encode("utf-8")[:offset].decode("utf-8", errors="ignore"))

    def findings(self) -> tuple[Finding, ...]:
        return tuple(sorted(self.found.values(), key=lambda f: (f.span.line, f.span.column, f.rule_id)))
