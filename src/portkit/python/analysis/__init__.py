"""`portkit analyze`: will the ported program run on the NPU, and run fast? Static answers from
the stdlib tree of each Python file (docs/analysis.md):

- op-unsupported: calls whose ATen operators the torch_npu release has no NPU kernel for
  (api_ops + operator tables, evidence "static-table");
- float64, dynamic-shape, host-sync: float64 compute, data-dependent shapes, reads back to the host;
- fused-rmsnorm, fused-rotary, fused-swiglu, fused-attention: those blocks written out in tensor
  operations, found by their structure (patterns.py); fused-optimizer: torch.optim classes
  torch_npu has fused versions of.

`analyze_text(text, settings)` is the whole analysis of one file; nothing here reads files.
"""

from __future__ import annotations

import ast
import bisect
import dataclasses
import re
from dataclasses import dataclass, field

from portkit.model import Finding
from portkit.python.analysis.calls import check_call, check_mask_index
from portkit.python.analysis.context import FileContext, Settings
from portkit.python.analysis.fixes import Edit, apply, imports_torch_npu, ones_weights, rmsnorm_fix
from portkit.python.analysis.patterns import Patterns
from portkit.python.analysis.regions import Selection, blank, code_text, line_numbers, select
from portkit.python.analysis.scope import Scope, scopes

__all__ = ["Analysis", "Settings", "analyze", "analyze_text"]

def analyze_text(text: str, settings: Settings, sparse: bool = True) -> tuple[Finding, ...]:
    """The findings of the active analysis rules in one Python text; raises SyntaxError.
    `sparse=False` parses every statement (the findings are the same: tests hold them so)."""
    return analyze(text, settings, sparse).findings


@dataclass(frozen=True)
class Analysis:
    findings: tuple[Finding, ...]
    edits: tuple[Edit, ...] = ()  # the review fixes offered (fixes.py), in the positions of the text
    tree: ast.Module | None = field(default=None, compare=False)

    def fixed(self, text: str) -> str | None:
        """The text with every offered fix made (`portkit analyze --fix`), None without any."""
        return apply(text, list(self.edits), self.tree) if self.edits and self.tree is not None else None


def analyze(text: str, settings: Settings, sparse: bool = True) -> Analysis:
    """The findings, and the review fixes offered for them; raises SyntaxError."""
    if "torch" not in text or not settings.rules or not settings.triggers.in_text(text):
        return Analysis(())  # every analysis starts from a torch name (import, call, dtype) and a trigger word
    tree, every = _scopes(text, settings) if sparse else _full(text, settings)
    if not any(q == "torch" or q.startswith("torch.") for q in every[0].imports.bindings.values()):
        return Analysis(())
    context = FileContext(text, settings)
    patterns = Patterns.for_text(text, every)
    offers = _Offers(text, tree) if patterns.rmsnorm and context.wants("fused-rmsnorm") else None
    for scope in every:
        for node in scope.own:
            kind = type(node)
            if kind is ast.Call:
                check_call(node, scope, context)  # type: ignore[arg-type]
                patterns.call(node, scope, context)  # type: ignore[arg-type]
            elif kind is ast.BinOp:
                patterns.binary(node, scope, context)  # type: ignore[arg-type]
                if offers is not None:
                    offers.consider(node, scope)  # type: ignore[arg-type]
            elif kind is ast.Subscript:
                check_mask_index(node, scope, context)  # type: ignore[arg-type]
    findings = context.findings()
    if offers is None or not offers.edits:
        return Analysis(findings, (), tree)
    return Analysis(offers.announce(findings), tuple(offers.edits), tree)


class _Offers:
    """The fused-rmsnorm fixes a file can take (fixes.py), and the findings that say so."""

    def __init__(self, text: str, tree: ast.Module) -> None:
        self.text = text
        self.weights = ones_weights(text)
        self.possible = bool(self.weights) and imports_torch_npu(tree, text) is not None
        self.edits: list[Edit] = []

    def consider(self, node: ast.BinOp, scope: Scope) -> None:
        if self.possible and (edit := rmsnorm_fix(node, scope, self.text, self.weights)) is not None:
            self.edits.append(edit)

    def announce(self, findings: tuple[Finding, ...]) -> tuple[Finding, ...]:
        """The fused-rmsnorm finding inside each fixed expression says what `--fix` writes."""
        def fix_of(finding: Finding) -> Edit | None:
            line = finding.span.line
            return next((e for e in self.edits if finding.rule_id == e.rule_id and e.line <= line <= e.end_line), None)

        return tuple(dataclasses.replace(f, message=f"{f.message}. Review fix (portkit analyze --fix): {edit.new}")
                     if (edit := fix_of(f)) is not None else f for f in findings)


def _full(text: str, settings: Settings) -> tuple[ast.Module, list[Scope]]:
    tree = ast.parse(text)
    return tree, scopes(tree, settings.api)


def _scopes(text: str, settings: Settings) -> tuple[ast.Module, list[Scope]]:
    """The scopes of the statements that can hold a finding (regions.py); the whole file when
    the split is in doubt. A rotate-half helper the file defines under its own name is a trigger
    too once it is known: then the statements that call it are read as well."""
    if "\x00" in text or re.search(r"\r(?!\n)", text):
        return _full(text, settings)  # the parser's own error, or line ends the split does not read
    code = code_text(text)
    triggers = settings.triggers
    offsets = triggers.offsets(code)
    extra: list[int] = []
    for _ in range(2):
        found = sorted([*offsets, *extra])

        def holds(start: int, end: int) -> bool:
            at = bisect.bisect_left(found, start)  # noqa: B023 - used within this iteration only
            return at < len(found) and found[at] < end or triggers.masks(code, start, end)  # noqa: B023

        selection = select(code, holds)
        tree = _parse(blank(text, code, selection.kept), text, code, selection)
        every = scopes(tree, settings.api)
        helpers = _helper_calls(code, every, triggers.called) if "fused-rotary" in settings.rules else []
        if set(helpers) <= set(extra):
            return tree, every
        extra = helpers
    return _full(text, settings)


def _helper_calls(code: str, every: list[Scope], called: frozenset[str]) -> list[int]:
    """Where the code calls a rotate-half helper the file defines under a name of its own."""
    from portkit.python.analysis.patterns import rotary_helpers

    names = [name for name in rotary_helpers(every) if name not in called]
    if not names:
        return []
    pattern = re.compile(r"\b(?:" + "|".join(map(re.escape, names)) + r")(?:\s|\\)*\(")
    return [m.start() for m in pattern.finditer(code)]


def _parse(sparse_text: str, text: str, code: str, selection: Selection) -> ast.Module:
    """The tree of the kept statements, once the parser confirms the split; else the whole file's."""
    try:
        tree = ast.parse(sparse_text)
    except SyntaxError:
        return ast.parse(text)
    return tree if _confirmed(tree, code, selection) else ast.parse(text)


def _confirmed(tree: ast.Module, code: str, selection: Selection) -> bool:
    """Every kept statement of a split block starts where the parser found a statement start."""
    starts = {_first_line(s) for s in tree.body}
    for statement in tree.body:
        if isinstance(statement, ast.ClassDef):
            starts.update(_first_line(s) for s in statement.body)
    kept = {start for start, _ in selection.kept}
    wanted = sorted(s.start for _, statements in selection.blocks for s in statements if s.start in kept)
    return all(line in starts for line in line_numbers(code, wanted))


def _first_line(statement: ast.stmt) -> int:
    decorators = getattr(statement, "decorator_list", None)
    return decorators[0].lineno if decorators else statement.lineno
