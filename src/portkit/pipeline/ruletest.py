"""Running a rule's own examples: the test suite and `portkit rules test` share this.

Each example runs through the rule alone (plus the rules it names in `with_rules`), as in
Fixit: `before` must become `after` (or stay as it is when there is no `after`), produce the
stated number of manual items of this rule, and a second run over the result must change
nothing.
"""

from __future__ import annotations

import dataclasses
import textwrap
from dataclasses import dataclass

from pathlib import PurePath

from portkit.model import MigrationError
from portkit.filekinds import PYTHON, kind_for
from portkit.filekinds.extimports import expand as expand_for_tree
from portkit.ruleset import Example, Rule, RuleSet
from portkit.python.transform import CompiledRules


@dataclass(frozen=True)
class ExampleFailure:
    rule_id: str
    number: int  # 1-based, as in the rule file
    problem: str

    def __str__(self) -> str:
        return f"{self.rule_id} example {self.number}: {self.problem}"


def _dedent(code: str) -> str:
    return textwrap.dedent(code).lstrip("\n")


def check_example(ruleset: RuleSet, rule: Rule, example: Example) -> str | None:
    """None if the example holds, else a one-paragraph description of what went wrong."""
    try:
        active = ruleset.select([rule.id, *example.with_rules])
    except Exception as error:  # an unknown id in with_rules
        return str(error)
    if example.torch_npu is not None:
        active = dataclasses.replace(active, npu_version=example.torch_npu)
    if rule.kind == "analysis":
        return _check_analysis_example(active, rule, example)
    # rules made for each tree (cuda-extension-import) see the example as a tree of one file
    active = expand_for_tree(active, [(PurePath(example.path), _dedent(example.before))], [PurePath(example.path)])
    try:
        rules = CompiledRules(active)
    except ValueError as error:  # a release portkit has no data for
        return str(error)
    before = _dedent(example.before)
    expected = _dedent(example.after) if example.after is not None else before
    kind = kind_for(PurePath(example.path), explicit=True) or PYTHON
    try:
        migration = kind.load()(before, example.path, rules, True)
    except MigrationError as error:
        return f"migration failed: {error}"
    got = migration.new_text if migration.new_text is not None else before
    if got != expected:
        return f"expected:\n{_indent(expected)}\ngot:\n{_indent(got)}"
    found = sum(1 for f in migration.findings if f.rule_id == rule.id)
    if found != example.findings:
        listed = "; ".join(f"line {f.span.line}: {f.message}" for f in migration.findings) or "none"
        return f"expected {example.findings} manual item(s) of {rule.id}, got {found} ({listed})"
    if example.after is None and any(c.rule_id == rule.id for c in migration.changes):
        return "expected no change"
    return None


def _check_analysis_example(active: RuleSet, rule: Rule, example: Example) -> str | None:
    """An analysis rule's example runs through `portkit analyze`'s analysis of one file: it
    must produce the stated number of findings of the rule, and its review fix (`analyze
    --fix`) must write `after` (no `after`: no fix is offered)."""
    from portkit.python.analysis import Settings, analyze

    before = _dedent(example.before)
    try:
        analysis = analyze(before, Settings.load(active))
        findings = analysis.findings
    except SyntaxError as error:
        return f"the example is not valid Python: {error}"
    found = [f for f in findings if f.rule_id == rule.id]
    if len(found) != example.findings:
        listed = "; ".join(f"line {f.span.line}: {f.message}" for f in findings) or "none"
        return f"expected {example.findings} finding(s) of {rule.id}, got {len(found)} ({listed})"
    fixed = analysis.fixed(before)
    if fixed != (None if example.after is None else _dedent(example.after)):
        return f"its review fix writes:\n{_indent(fixed or '(no fix offered)')}"
    return None


def _indent(code: str) -> str:
    return textwrap.indent(code, "    | ", lambda line: True)


def check_rules(ruleset: RuleSet, *, require_examples: bool = True) -> list[ExampleFailure]:
    failures: list[ExampleFailure] = []
    for rule in ruleset.rules:
        if require_examples and not rule.examples:
            failures.append(ExampleFailure(rule.id, 0, "has no examples (every rule needs some)"))
        for number, example in enumerate(rule.examples, start=1):
            problem = check_example(ruleset, rule, example)
            if problem is not None:
                failures.append(ExampleFailure(rule.id, number, problem))
    return failures
