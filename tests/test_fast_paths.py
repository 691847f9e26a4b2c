"""The fast paths must agree with the slow, exact ones.

- Triage (substring, then stdlib ast) may let through files that need nothing, never drop
  one that needs something.
- Skipping statements without triggers changes nothing in the result.
- Positions found by regenerating one statement equal libcst's whole-module PositionProvider.
"""

from __future__ import annotations

import textwrap
from pathlib import Path, PurePath

import libcst as cst
import pytest
from libcst.metadata import MetadataWrapper, PositionProvider

from portkit.python.engine import parse_ast
from portkit.filekinds import PYTHON, kind_for
from portkit.ruleset import load_rules
from portkit.python.statements import Locator
from portkit.python.transform import CompiledRules, transform

HERE = Path(__file__).resolve().parent
RULESET = load_rules()
RULES = CompiledRules(RULESET)
SOURCES = {
    "torture": (HERE / "data" / "torture.py").read_text(encoding="utf-8"),
    **{f"example-{p.parent.parent.name}": p.read_text(encoding="utf-8")
       for p in sorted((HERE.parent / "examples").glob("*/*/*.py"))},
    **{f"{rule.id}-{n}": textwrap.dedent(e.before).lstrip("\n")
       for rule in RULESET.rules for n, e in enumerate(rule.examples, start=1)
       if kind_for(PurePath(e.path), explicit=True) is PYTHON},  # other kinds have their own parsers
}


@pytest.mark.parametrize("name", sorted(SOURCES))
def test_triage_never_drops_a_file_the_engine_would_touch(name):
    text = SOURCES[name]
    outcome = transform(cst.parse_module(text), RULES)  # no triage, no pruning
    if outcome.events:
        assert RULES.may_need_work(text), "stage one dropped it"
        assert RULES.may_need_work_tree(parse_ast(text)), "stage two dropped it"
        assert RULES.may_need_work_tree(parse_ast(text), text), "stage two, on stage one's lines, dropped it"


@pytest.mark.parametrize("name", sorted(SOURCES))
def test_skipping_quiet_statements_changes_nothing(name):
    text = SOURCES[name]
    module = cst.parse_module(text)
    fast, slow = transform(module, RULES, parse_ast(text), text), transform(module, RULES)
    assert fast.pairing is not None, "ast and libcst statements did not pair"
    assert fast.module.code == slow.module.code
    assert [(e.rule.id, e.message) for e in fast.events] == [(e.rule.id, e.message) for e in slow.events]


@pytest.mark.parametrize("name", sorted(SOURCES))
def test_statement_positions_equal_whole_module_positions(name):
    text = SOURCES[name]
    module = cst.parse_module(text)
    outcome = transform(module, RULES, parse_ast(text), text)
    spans = Locator(module, text.splitlines(), outcome.pairing).spans(
        [(e.node, e.statement) for e in outcome.events])
    exact = MetadataWrapper(module, unsafe_skip_copy=True).resolve(PositionProvider)
    for event, span in zip(outcome.events, spans):
        where = exact[event.node]
        assert (span.line, span.column, span.end_line, span.end_column) == (
            where.start.line, where.start.column + 1, where.end.line, where.end.column + 1
        ), f"{event.rule.id}: {event.message}"


def test_the_torture_file_exercises_every_shape():
    outcome = transform(cst.parse_module(SOURCES["torture"]), RULES)
    rules = {e.rule.id for e in outcome.events}
    assert {"cuda-api", "tensor-cuda", "is-cuda", "device-string", "env-var", "amp-api",
            "data-parallel", "torch-npu-import"} <= rules
    assert len(outcome.events) > 20


def test_unpaired_files_fall_back_to_exact_positions():
    text = "import torch\nx = torch.cuda.is_available()\n"
    module = cst.parse_module(text)
    outcome = transform(module, RULES)  # no ast tree: no pairing
    (span,) = Locator(module, text.splitlines(), None).spans(
        [(e.node, e.statement) for e in outcome.events if e.rule.id == "cuda-api"])
    assert (span.line, span.column) == (2, 5)


@pytest.mark.parametrize("name", sorted(SOURCES))
def test_the_stability_triage_sees_every_change(name):
    """The second run that proves a rewrite stable is skipped only when no fixing rule could
    find anything: it must see every file the engine would change."""
    text = SOURCES[name]
    outcome = transform(cst.parse_module(text), RULES)
    if any(e.is_change for e in outcome.events):
        assert RULES.fixable_names.may_change(parse_ast(text))


def test_the_stability_triage_lets_finished_ports_through_cheaply():
    ported = (HERE.parent / "examples" / "mnist" / "ported" / "train.py").read_text(encoding="utf-8")
    assert "args.no_cuda" in ported and "cudnn.benchmark" in ported  # look-alikes and a manual item remain
    assert not RULES.fixable_names.may_change(parse_ast(ported))


@pytest.mark.parametrize("name", sorted(SOURCES))
def test_check_mode_line_map_equals_the_diffed_one(name):
    """`check` renders nothing, so old and new lines are the same list: the identity mapping it
    takes then must be what difflib gives for two equal copies."""
    from portkit.python.engine import _LineMap

    lines = SOURCES[name].splitlines()
    assert _LineMap(lines, lines).mapping == _LineMap(lines, list(lines)).mapping
