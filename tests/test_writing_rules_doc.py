"""docs/writing-rules.md: its worked example is a real rule file whose examples pass, and the
document covers every kind and key the rule loader accepts."""

from __future__ import annotations

import re
from pathlib import Path

from click.testing import CliRunner

from portkit.cli import main

REPO = Path(__file__).resolve().parents[1]
DOC = (REPO / "docs" / "writing-rules.md").read_text(encoding="utf-8")
EXAMPLE = REPO / "docs" / "examples" / "rules" / "acme.toml"


def test_the_worked_example_is_the_tested_file():
    blocks = re.findall(r"```toml\n(.*?)```", DOC, flags=re.S)
    assert EXAMPLE.read_text(encoding="utf-8") in blocks


def test_the_worked_example_passes_rules_test():
    result = CliRunner().invoke(main, ["rules", "test", str(EXAMPLE.parent)])
    assert result.exit_code == 0, result.output
    assert "0 failed" in result.output


def test_a_wrong_example_fails_rules_test(tmp_path):
    broken = EXAMPLE.read_text(encoding="utf-8").replace(
        "from acme import npu_utils as cu", "from acme import cuda_utils as cu", 1)
    (tmp_path / "acme.toml").write_text(broken, encoding="utf-8")
    result = CliRunner().invoke(main, ["rules", "test", str(tmp_path)])
    assert result.exit_code == 1, result.output
    assert "acme-device-utils" in result.output


def test_every_kind_and_key_is_documented():
    from portkit.ruleset import load as loader

    for kind, keys in loader._KIND_KEYS.items():
        assert f"`{kind}`" in DOC, f"kind {kind} is not documented"
        for key in keys:
            assert f"`{key}" in DOC, f"key {key} of {kind} is not documented"
    for key in loader._COMMON_KEYS:
        assert f"`{key}`" in DOC, f"common key {key} is not documented"
