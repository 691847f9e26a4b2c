"""Dependency declarations: requirements*.txt, pyproject.toml, setup.cfg, environment.yml, and
(through `setup_py_findings`, called by the Python kind) setup.py.

The file kind only reports (`migrate_dependencies`): CUDA builds of torch and CUDA index URLs,
the torch-npu pin that matches the torch pin, and CUDA-only packages with their guidance, from
the `dependency` rules (rules/dependencies.toml). Rewriting is opt-in: `fix_dependencies` is a
pure function with the same contract that also applies the mechanical part (drop `+cu121` and
CUDA index URLs, add the torch-npu pin next to torch, replace packages that have an Ascend
replacement), leaving every other byte as it was.

Each format is read by a small scanner that knows where every requirement is (offsets in the
original text), so a finding points at its line and a fix is a list of text edits: one module
a format (requirements, pyproject, setup_cfg, conda, setup_py) over `common` (text positions,
requirement strings); `findings` turns what they find into manual items and edits.
"""

from __future__ import annotations

import tomllib
from collections.abc import Callable, Iterable, Sequence
from typing import TYPE_CHECKING

from portkit.filekinds.dependencies.common import NEWLINE, Edit, Found, Text
from portkit.filekinds.dependencies.conda import scan_environment
from portkit.filekinds.dependencies.findings import (
    TORCH_NPU_RELEASES, Item, Wanted, analyse, dependency_rules,
)
from portkit.filekinds.dependencies.pyproject import scan_pyproject
from portkit.filekinds.dependencies.requirements import scan_requirements
from portkit.filekinds.dependencies.setup_cfg import scan_setup_cfg
from portkit.filekinds.dependencies.setup_py import scan_setup_py
from portkit.model import Change, Finding, Migration, MigrationError, Safety
from portkit.ruleset import Rule, RuleSet

if TYPE_CHECKING:
    from portkit.python.transform import CompiledRules

__all__ = ["TORCH_NPU_RELEASES", "fix_dependencies", "migrate_dependencies", "setup_py_findings"]


def _scan(text: str, name: str, wanted: Callable[[str], bool]) -> tuple[Text, Found]:
    lower = name.lower()
    found = Found(wanted=wanted)
    if lower == "setup.py":
        return scan_setup_py(text, found), found
    t = Text(text)
    if lower == "pyproject.toml":
        scan_pyproject(t, found)
    elif lower == "setup.cfg":
        scan_setup_cfg(t, found)
    elif lower.endswith((".yml", ".yaml")):
        scan_environment(t, found)
    else:
        scan_requirements(t, found)
    return t, found


def _finding(t: Text, rule: Rule, start: int, end: int, message: str) -> Finding:
    span = t.span(start, end)
    return Finding(rule.id, message, Safety.MANUAL, span, t.line_text(span.line))


def _order(item: Change | Finding) -> tuple[int, int, str]:
    return item.span.line, item.span.column, item.rule_id


def _report(text: str, name: str, rules: CompiledRules | RuleSet) -> Migration:
    if not dependency_rules(rules):
        return Migration(None, (), ())
    t, found = _scan(text, name, Wanted(dependency_rules(rules)))
    findings = sorted((_finding(t, i.rule, i.start, i.end, i.message) for i in analyse(found, rules)), key=_order)
    return Migration(None, (), tuple(findings))


def migrate_dependencies(text: str, name: str, rules: CompiledRules, render: bool) -> Migration:
    """The dependency file kind (filekinds/__init__.py): manual items only; the file is never changed."""
    return _report(text, name, rules)


def setup_py_findings(text: str, rules: CompiledRules | RuleSet) -> list[Finding]:
    """The dependency findings of a setup.py: install_requires / extras_require /
    setup_requires / tests_require / dependency_links string literals (stdlib ast)."""
    return list(_report(text, "setup.py", rules).findings)


def fix_dependencies(text: str, name: str, rules: CompiledRules | RuleSet) -> Migration:
    """The opt-in rewrite (--fix-deps): drop +cuXXX and CUDA index URLs, add the torch-npu pin
    next to torch, replace packages that have an Ascend replacement. Everything else stays
    byte for byte; what is not fixed is still reported. A setup.py is only reported."""
    if not dependency_rules(rules) or name.lower() == "setup.py":
        return _report(text, name, rules)
    t, found = _scan(text, name, Wanted(dependency_rules(rules)))
    applied: list[Edit] = []
    fixed: list[Item] = []
    findings: list[Finding] = []
    for item in analyse(found, rules):
        if item.edits and not any(_overlap(e, a) for e in item.edits for a in applied):
            applied.extend(item.edits)
            fixed.append(item)
            if item.remaining:
                findings.append(_finding(t, item.rule, item.start, item.end, item.remaining))
        else:
            findings.append(_finding(t, item.rule, item.start, item.end, item.message))
    if not applied:
        return Migration(None, (), tuple(sorted(findings, key=_order)))
    changes = [_change(t, item, applied) for item in fixed]
    new_text = _apply(text, applied)
    if name.lower().endswith(".toml"):
        try:
            tomllib.loads(new_text)
        except tomllib.TOMLDecodeError as error:
            raise MigrationError(f"rewrite produced invalid TOML ({error}); please report") from None
    return Migration(new_text, tuple(sorted(changes, key=_order)), tuple(sorted(findings, key=_order)))


def _overlap(a: Edit, b: Edit) -> bool:
    if a.start == a.end or b.start == b.end:  # an insertion clashes with an edit around its point
        return a.start == b.start or (b.start < a.start < b.end) or (a.start < b.start < a.end)
    return a.start < b.end and b.start < a.end


def _apply(text: str, edits: Iterable[Edit]) -> str:
    out, position = [], 0
    for edit in sorted(edits, key=lambda e: (e.start, e.end)):
        out.append(text[position:edit.start])
        out.append(edit.new)
        position = edit.end
    out.append(text[position:])
    return "".join(out)


def _change(t: Text, item: Item, applied: Sequence[Edit]) -> Change:
    """The original line(s) an item is about, and what now stands in their place (nothing, for
    a deleted line)."""
    span = t.span(item.start, item.end)
    first, last = t.line_of(item.start), t.line_of(item.end)
    old = "\n".join(t.content(i) for i in range(first, last + 1))
    if all(e.new == "" and e.start <= t.starts[first] and e.end >= t.ends[last] for e in item.edits):
        new = ""  # the line is gone
    else:
        start, end = t.starts[first], t.ends[last]
        inside = [Edit(e.start - start, e.end - start, e.new) for e in applied if start <= e.start and e.end <= end]
        new = "\n".join(NEWLINE.split(_apply(t.text[start:end], inside)))
    return Change(item.rule.id, item.fix_message, Safety.REVIEW, span, old, new)
