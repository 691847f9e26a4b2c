"""What one file's analysis shares: the settings of the run (active rules, the torch_npu release
and its tables) and the findings made so far, with their positions in the text."""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator, Mapping
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
    def triggers(self) -> Triggers:
        """The words one of which a statement must hold for any active analysis to find something
        in it (a file without them is not parsed, a statement without them is left out): the last
        part of every API name the analyses look for and the functions of the fused patterns,
        followed by `(`; float64 spellings; a comparison in brackets (`x[x > 0]`)."""
        from portkit.python.analysis.calls import FLOAT64_WORDS, trigger_words
        from portkit.python.analysis.patterns import PATTERN_WORDS

        called = set(trigger_words(self))  # each is looked for where it is called: `name(`
        for rule_id, found in PATTERN_WORDS.items():
            if rule_id in self.rules:
                called.update(found)
        named = FLOAT64_WORDS if "float64" in self.rules else ()
        return Triggers(frozenset(called), tuple(named), "dynamic-shape" in self.rules)

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


# A name called: `name(`, looked for in the reversed text, where the pattern starts with a literal
# bracket the regex engine skips to (the forward pattern `\b(\w+)\s*\(` backtracks through every
# word and costs ten times as much); in a statement also across a backslash continuation
_CALLED_REVERSED = re.compile(r"\(\s*(\w+)")
_CALLED_REVERSED_IN_CODE = re.compile(r"\((?:\s|\\)*(\w+)")
_WORD_CHARACTER = re.compile(r"\w")
_LINE_BREAK = re.compile(r"\r\n|\r|\n")
_MASK = re.compile(r"\[[^\]\n]*?(?:[<>]|==|!=)")
_COMPARISON_IN_CODE = re.compile(r"<|(?<!-)>|==|!=")  # not the arrow of a return annotation


@dataclass(frozen=True)
class Triggers:
    """What a text must hold for an analysis to find something in it."""

    called: frozenset[str]  # names looked for where they are called: `name(`
    named: tuple[str, ...]  # words looked for anywhere (float64 spellings)
    mask: bool  # comparisons inside brackets (`x[x > 0]`, dynamic-shape)

    @cached_property
    def _reversed(self) -> frozenset[str]:
        return frozenset(word[::-1] for word in self.called)

    @cached_property
    def _named(self) -> re.Pattern[str] | None:
        # the word boundary before is checked on each match: a leading \b would make the engine
        # try the pattern at every position instead of skipping to the words' first letters
        return re.compile("(?:" + "|".join(map(re.escape, self.named)) + r")(?!\w)") if self.named else None

    def _named_at(self, text: str) -> Iterator[int]:
        if self._named is not None:
            for match in self._named.finditer(text):
                start = match.start()
                if not start or not _WORD_CHARACTER.match(text, start - 1):
                    yield start

    def in_text(self, text: str) -> bool:
        """The file-level triage: a called name, a named word, or `[... > ...]` on one line."""
        if not self._reversed.isdisjoint(_CALLED_REVERSED.findall(text[::-1])):
            return True
        if next(self._named_at(text), None) is not None:
            return True
        return self.mask and _MASK.search(text) is not None

    def offsets(self, code: str) -> list[int]:
        """Where the code text (comments and strings left out) holds a called name or a named word."""
        backwards = code[::-1]
        found = self._reversed.intersection(_CALLED_REVERSED_IN_CODE.findall(backwards))
        offsets = []
        if found:
            called = re.compile(r"\((?:\s|\\)*(?:" + "|".join(map(re.escape, sorted(found))) + r")(?!\w)")
            offsets = [len(code) - m.end() for m in called.finditer(backwards)]
        offsets.extend(self._named_at(code))
        offsets.sort()
        return offsets

    def masks(self, code: str, start: int, end: int) -> bool:
        """Whether the statements of code[start:end] may index with a comparison: one inside square
        brackets (a subscript can span lines and nest brackets: `x[idx[0] > 0]`)."""
        if not self.mask or code.find("[", start, end) < 0:
            return False
        depth, previous = 0, start
        for match in _COMPARISON_IN_CODE.finditer(code, start, end):
            depth += code.count("[", previous, match.start()) - code.count("]", previous, match.start())
            previous = match.start()
            if depth > 0:
                return True
        return False


@dataclass
class FileContext:
    """One file: its lines, the settings, and the findings so far (one per rule and position)."""

    text: str
    settings: Settings
    found: dict[tuple[str, int, int], Finding] = field(default_factory=dict)

    @cached_property
    def lines(self) -> list[str]:
        """The lines as Python numbers them (str.splitlines also breaks at form feeds and
        others); split only once a finding needs its line."""
        lines = _LINE_BREAK.split(self.text)
        if lines[-1] == "":
            lines.pop()
        return lines

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
