"""Every rule's own examples, run the way `portkit rules test` runs them (Fixit style).

Each example is its own test case, named after its rule, so a failure points at the rule file.
"""

from __future__ import annotations

import pytest

from portkit.ruleset import REPORT_KINDS, load_rules
from portkit.pipeline.ruletest import check_example, check_rules

RULESET = load_rules(target=None)
CASES = [
    pytest.param(rule, example, id=f"{rule.id}-{number}")
    for rule in RULESET.rules
    for number, example in enumerate(rule.examples, start=1)
]


@pytest.mark.parametrize(("rule", "example"), CASES)
def test_rule_example(rule, example):
    problem = check_example(RULESET, rule, example)
    assert problem is None, problem


@pytest.mark.parametrize("rule", RULESET.rules, ids=lambda r: r.id)
def test_every_rule_is_documented_and_has_examples(rule):
    assert rule.examples, f"{rule.id} has no examples"
    assert rule.summary and rule.why, f"{rule.id} lacks summary/why"
    if rule.kind not in REPORT_KINDS and rule.kind != "ensure-import":
        assert any(e.after is not None for e in rule.examples), f"{rule.id} shows no before/after"
    if rule.kind in REPORT_KINDS:
        assert any(e.findings for e in rule.examples), f"{rule.id} has no example that it reports"


def test_check_rules_reports_a_wrong_example():
    from dataclasses import replace

    from portkit.ruleset import Example, RuleSet

    rule = RULESET.get("tensor-cuda")
    broken = replace(rule, examples=(Example(before="x.cuda()\n", after="x.xpu()\n"),))
    failures = check_rules(RuleSet((broken,)))
    assert [(f.rule_id, f.number) for f in failures] == [("tensor-cuda", 1)]
    assert "x.npu()" in failures[0].problem


def test_rules_without_examples_fail_the_check():
    from dataclasses import replace

    from portkit.ruleset import RuleSet

    bare = replace(RULESET.get("tensor-cuda"), examples=())
    assert [f.problem for f in check_rules(RuleSet((bare,)))] == ["has no examples (every rule needs some)"]


def test_generated_rule_reference_is_current():
    from pathlib import Path

    from portkit.ruleset.docs import render_reference

    reference = Path(__file__).resolve().parent.parent / "docs" / "rules.md"
    assert reference.read_text(encoding="utf-8") == render_reference(RULESET), (
        "docs/rules.md is stale: run `python -m portkit.ruleset.docs > docs/rules.md`"
    )


def test_an_example_runs_at_its_torch_npu_release():
    """device-index changes code only for torch_npu 2.1 (torch 2.1): its example says so and
    fails when run at the default release."""
    from dataclasses import replace

    rule = RULESET.get("device-index")
    example = next(e for e in rule.examples if e.torch_npu == "2.1.0.post17")
    assert check_example(RULESET, rule, example) is None
    assert "expected:" in (check_example(RULESET, rule, replace(example, torch_npu=None)) or "")
    assert "no torch_npu API data" in (check_example(RULESET, rule, replace(example, torch_npu="7.0")) or "")
