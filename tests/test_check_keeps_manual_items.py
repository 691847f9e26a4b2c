"""Issue 14 item 7: `portkit check` on a migrated tree reports every manual item that `migrate`
reported on the original (suppressed ones aside), rule by rule.

Over every bundled example program (examples/*/original), every fixture (tests/data/**) and every
rule example, for both targets (and the oldest torch_npu release): migrate each text with all of
the target's rules, check the output the way `portkit check` does (nothing rendered, inline
suppressions applied), and compare the manual items per rule. A rename that drops a report (the
reason of the issue: `torch.cuda.get_device_capability` renamed, its `device-capability` item gone)
fails here, naming the rule and the case.
"""

from __future__ import annotations

import dataclasses
from collections import Counter
from functools import cache
from pathlib import Path, PurePath
from textwrap import dedent

import pytest

from portkit.filekinds import PYTHON, kind_for
from portkit.model import Finding, MigrationError
from portkit.pipeline.suppressions import apply_suppressions, find_suppressions
from portkit.python.statements import source_lines
from portkit.python.transform import CompiledRules
from portkit.ruleset import load_rules

REPO = Path(__file__).resolve().parents[1]
SETTINGS = [("npu", None), ("npu", "2.1.0.post17"), ("accelerator", None)]


@cache
def _rules(target: str, version: str | None) -> CompiledRules:
    return CompiledRules(dataclasses.replace(load_rules(target=target), npu_version=version))


def _cases(target: str) -> list[tuple[str, str, str]]:
    """(case, file name, text): rule examples, example programs, fixtures."""
    cases = [(f"{rule.id}-{number}", example.path, dedent(example.before).lstrip("\n"))
             for rule in load_rules(target=target).rules if rule.kind != "analysis"
             for number, example in enumerate(rule.examples, start=1)]
    files = [*REPO.glob("examples/*/original/**/*"), *REPO.glob("tests/data/**/*")]
    for path in sorted(files):
        if path.is_file() and kind_for(path, explicit=True) is not None:
            cases.append((str(path.relative_to(REPO)), path.name, path.read_text(encoding="utf-8", errors="replace")))
    return cases


def _manual(name: str, text: str, findings: tuple[Finding, ...], rules: CompiledRules) -> Counter[str]:
    """Manual items per rule, as `check` counts them: minus the ones an inline comment suppresses."""
    kept = findings
    suppressions = find_suppressions(text) if kind_for(PurePath(name), explicit=True) is PYTHON else []
    if suppressions:
        _, kept = apply_suppressions(suppressions, (), findings, rules.known_ids, source_lines(text))
    return Counter(f.rule_id for f in kept)


def _lost(target: str, version: str | None) -> tuple[dict[str, list[str]], int, int]:
    """Per rule, the cases whose check lost items; how many cases ran; how many items migrate had."""
    rules = _rules(target, version)
    lost: dict[str, list[str]] = {}
    ran = total = 0
    for case, name, text in _cases(target):
        handler = (kind_for(PurePath(name), explicit=True) or PYTHON).load()
        try:
            migrated = handler(text, name, rules, True)
        except MigrationError:
            continue  # not migrated (the file is named in the run): nothing to keep
        ported = migrated.new_text if migrated.new_text is not None else text
        checked = handler(ported, name, rules, False)
        before = _manual(name, text, migrated.findings, rules)
        after = _manual(name, ported, checked.findings, rules)
        ran += 1
        total += sum(before.values())
        for rule_id, count in before.items():
            if after[rule_id] < count:
                lost.setdefault(rule_id, []).append(f"{case} ({count} → {after[rule_id]})")
    return lost, ran, total


@pytest.mark.parametrize(("target", "version"), SETTINGS, ids=[f"{t}-{v or 'newest'}" for t, v in SETTINGS])
def test_check_keeps_every_manual_item_of_migrate(target: str, version: str | None) -> None:
    lost, ran, total = _lost(target, version)
    assert ran > 80 and total > 100, (ran, total)  # the comparison covers real ground
    assert not lost, "check on the migrated text lost manual items:\n" + "\n".join(
        f"  {rule_id}: {', '.join(cases[:8])}" for rule_id, cases in sorted(lost.items()))


def test_a_lost_item_would_be_seen() -> None:
    """The comparison itself: a report rule that no longer sees the renamed spelling loses items."""
    rules = _rules("npu", None)
    text = "import torch\ncap = torch.cuda.get_device_capability()\n"
    migrated = PYTHON.load()(text, "x.py", rules, True)
    assert migrated.new_text is not None and "torch.npu.get_device_capability()" in migrated.new_text
    blind = dataclasses.replace(load_rules(target="npu"), npu_version=None)
    blind_rules = CompiledRules(blind)
    blind_rules.exact_flags.pop("torch.npu.get_device_capability")  # as before issue 14 item 7
    checked = PYTHON.load()(migrated.new_text, "x.py", blind_rules, False)
    assert _manual("x.py", text, migrated.findings, rules)["device-capability"] == 1
    assert _manual("x.py", migrated.new_text, checked.findings, blind_rules)["device-capability"] == 0
