"""--torch-npu VERSION: rules are applied against the names that release really has."""

from __future__ import annotations

import dataclasses

import pytest

from portkit.python.engine import migrate_source
from portkit.ruleset.npu_api import available_versions, load_npu_api
from portkit.ruleset import load_rules
from portkit.python.transform import CompiledRules

CODE = "import torch\ntorch.cuda.nvtx.range_push('step')\ntorch.cuda.synchronize()\n"


def port(version: str | None):
    rules = CompiledRules(dataclasses.replace(load_rules(), npu_version=version))
    return migrate_source(CODE, rules)


def test_at_least_four_releases_are_known():
    versions = available_versions()
    assert {"2.6.0", "2.9.0", "2.13.0"} <= set(versions)
    assert any(v.startswith("2.1.0.post") for v in versions)
    assert load_npu_api().version == versions[-1] == "2.13.0"


def test_a_name_the_release_lacks_is_reported_not_renamed():
    old = port("2.1.0.post17")
    assert "torch.cuda.nvtx.range_push('step')" in old.new_text  # left as it was
    assert "torch.npu.synchronize()" in old.new_text  # what 2.1 has is still converted
    (finding,) = [f for f in old.findings if f.rule_id == "nvtx-range"]
    assert "2.1.0.post17 does not have torch.npu.mstx.range_push" in finding.message
    assert not [f for f in old.findings if f.rule_id == "cuda-api-unknown"]


def test_the_newest_release_converts_it():
    new = port(None)
    assert "torch.npu.mstx.range_push('step')" in new.new_text
    assert not new.findings


@pytest.mark.parametrize("version", available_versions())
def test_every_release_keeps_the_basics(version):
    api = load_npu_api(version)
    for name in ("is_available", "set_device", "synchronize", "device_count", "Stream", "Event"):
        assert api.has(f"torch.npu.{name}"), (version, name)
