"""The bundled examples: portkit's output equals the reviewed ported/ versions, and is stable."""

from __future__ import annotations

from pathlib import Path

import pytest

from portkit.python.engine import migrate_source
from portkit.ruleset import load_rules
from portkit.python.transform import CompiledRules

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
ORIGINALS = sorted(EXAMPLES.glob("*/original/*.py"))
RULES = CompiledRules(load_rules())


def test_there_are_at_least_three_examples():
    assert len(ORIGINALS) >= 3


@pytest.mark.parametrize("original", ORIGINALS, ids=lambda p: p.parent.parent.name)
def test_migration_matches_the_reviewed_port(original: Path):
    reviewed = original.parent.parent / "ported" / original.name
    migration = migrate_source(original.read_text(encoding="utf-8"), RULES)
    assert migration.new_text == reviewed.read_text(encoding="utf-8")


@pytest.mark.parametrize("original", ORIGINALS, ids=lambda p: p.parent.parent.name)
def test_migrating_the_port_again_changes_nothing(original: Path):
    reviewed = original.parent.parent / "ported" / original.name
    assert migrate_source(reviewed.read_text(encoding="utf-8"), RULES).new_text is None


# --- the device-agnostic target: examples/<name>/accelerator/ ----------------------------------

ACCELERATOR_RULES = CompiledRules(load_rules(target="accelerator"))


@pytest.mark.parametrize("original", ORIGINALS, ids=lambda p: p.parent.parent.name)
def test_accelerator_migration_matches_the_reviewed_port(original: Path):
    reviewed = original.parent.parent / "accelerator" / original.name
    migration = migrate_source(original.read_text(encoding="utf-8"), ACCELERATOR_RULES)
    assert migration.new_text == reviewed.read_text(encoding="utf-8")
    # device-agnostic code needs no torch_npu import, and keeps no torch.cuda call portkit converts
    assert "torch_npu" not in migration.new_text
    assert not [c for c in migration.changes if c.rule_id == "torch-npu-import"]


@pytest.mark.parametrize("original", ORIGINALS, ids=lambda p: p.parent.parent.name)
def test_migrating_the_accelerator_port_again_changes_nothing(original: Path):
    reviewed = original.parent.parent / "accelerator" / original.name
    assert migrate_source(reviewed.read_text(encoding="utf-8"), ACCELERATOR_RULES).new_text is None
