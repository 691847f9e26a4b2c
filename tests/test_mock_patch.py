"""Patch targets in tests follow the rename of the call they patch (mockpatch.py)."""

from __future__ import annotations

import textwrap

import pytest

from portkit.python.engine import migrate_source
from portkit.python.transform import CompiledRules
from portkit.ruleset import load_rules

RULES = {target: CompiledRules(load_rules(target=target)) for target in ("npu", "accelerator")}


def port(code: str, target: str = "npu"):
    return migrate_source(textwrap.dedent(code).lstrip("\n"), RULES[target])


@pytest.mark.parametrize(("before", "after"), [
    ('mock.patch("torch.cuda.is_available", return_value=True)', 'mock.patch("torch.npu.is_available", return_value=True)'),
    ("patch('torch.cuda.device_count', return_value=2)", "patch('torch.npu.device_count', return_value=2)"),
    ('monkeypatch.setattr("torch.cuda.is_available", lambda: True)', 'monkeypatch.setattr("torch.npu.is_available", lambda: True)'),
    ('mocker.patch("torch.cuda.set_device")', 'mocker.patch("torch.npu.set_device")'),
    ('patch("mypkg.train.torch.cuda.synchronize")\ntorch.cuda.synchronize()', 'patch("mypkg.train.torch.npu.synchronize")'),
    ('patch.object(torch.cuda, "CUDAPluggableAllocator")', 'patch.object(torch.npu, "NPUPluggableAllocator")'),
])
def test_npu_patch_targets_follow_the_rename_under_its_rule(before: str, after: str) -> None:
    migration = port(f"import torch\nfrom unittest import mock\nfrom unittest.mock import patch\n{before}\n")
    assert migration.new_text is not None and after in migration.new_text
    rules = {c.rule_id for c in migration.changes if "patch" in c.message}
    assert rules and rules <= {"cuda-api", "cuda-twin"}


def test_a_target_whose_calls_may_stay_is_reported_not_renamed() -> None:
    migration = port("""
        import torch
        from unittest.mock import patch
        patch.object(torch.cuda, "CUDAGraph")
        patch("torch.cuda.get_device_capability", return_value=(8, 0))
    """)
    assert '"CUDAGraph"' in (migration.new_text or "") and '"torch.cuda.get_device_capability"' in (migration.new_text or "")
    assert len([f for f in migration.findings if f.rule_id == "mock-patch-target"]) == 2


def test_names_no_rule_renames_stay_and_prose_is_not_a_target() -> None:
    code = """
        import torch
        from unittest.mock import patch
        with patch("torch.cuda.get_arch_list", return_value=[]):
            print("torch.cuda.is_available")
        patch.dict("os.environ", {"X": "torch.cuda.is_available"})
    """
    migration = port(code)
    assert migration.new_text is None or '"torch.cuda.get_arch_list"' in migration.new_text
    assert '"torch.cuda.is_available"' in (migration.new_text or textwrap.dedent(code))
    assert not any("patch target" in c.message for c in migration.changes)


def test_accelerator_target_follows_only_into_torch_accelerator() -> None:
    migration = port("""
        import torch
        from unittest import mock
        with mock.patch("torch.cuda.is_available", return_value=True):
            assert torch.cuda.is_available()
        mock.patch("torch.cuda.set_device")
        mock.patch("torch.cuda.get_rng_state_all")
        mock.patch.object(torch.cuda, "empty_cache")
    """, "accelerator")
    text = migration.new_text or ""
    assert 'mock.patch("torch.accelerator.is_available", return_value=True)' in text
    assert 'mock.patch("torch.accelerator.set_device_index")' in text
    assert 'mock.patch("torch.cuda.get_rng_state_all")' in text  # its calls become an expression: reported
    items = [f for f in migration.findings if f.rule_id == "accelerator-mock-patch-target"]
    assert len(items) == 2  # get_rng_state_all, and empty_cache patched on the device module
    assert all("left as it is" in f.message for f in items)
