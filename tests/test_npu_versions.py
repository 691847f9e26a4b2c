"""--torch-npu VERSION: rules are applied against the names that release really has."""

from __future__ import annotations

import dataclasses

import pytest
from packaging.version import Version

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


# --- integer device indices (issue 14 item 5, docs/device-indices.md) --------------------------------------

INDICES = """\
import os
import torch
x = x.to(0)
y = torch.zeros(3, device=torch.cuda.current_device())
model = model.to(args.local_rank)
device = torch.device(local_rank)
u = torch.empty(4, device=int(os.environ["LOCAL_RANK"]))
r = x.to(device=rank, non_blocking=True)
"""
NOT_INDICES = """\
import torch
z = t.to(torch.float16)
w = t.to(other)
v = t.to(dev, non_blocking=True)
q = x.cuda(local_rank)
torch.cuda.set_device(local_rank)
s = torch.device("cuda", local_rank)
n = torch.zeros(3, device=device)
"""


def port_text(code, version):
    return migrate_source(code, CompiledRules(dataclasses.replace(load_rules(), npu_version=version)))


def test_torch_2_1_reads_an_integer_device_as_cuda():
    """torch_npu 2.1.0.post17 pairs with torch 2.1: integer positions become explicit NPU devices."""
    assert load_npu_api("2.1.0.post17").torch == "2.1.0"
    migration = port_text(INDICES, "2.1.0.post17")
    assert migration.new_text.splitlines()[3:] == [
        'x = x.to("npu:0")',
        'y = torch.zeros(3, device=f"npu:{torch.npu.current_device()}")',
        'model = model.to(f"npu:{args.local_rank}")',
        'device = torch.device(f"npu:{local_rank}")',
        """u = torch.empty(4, device=f'npu:{int(os.environ["LOCAL_RANK"])}')""",
        'r = x.to(device=f"npu:{rank}", non_blocking=True)',
    ]
    by_rule = {c.rule_id for c in migration.changes if "device index" in c.message}
    assert by_rule == {"device-index", "device-index-name"}
    heuristic = [c for c in migration.changes if c.rule_id == "device-index-name"]
    assert heuristic and all("evidence: name-heuristic" in c.message for c in heuristic)
    assert {str(c.safety) for c in heuristic} == {"review"}


@pytest.mark.parametrize("version", ["2.6.0", "2.9.0", "2.13.0"])
def test_newer_torch_reads_an_integer_device_as_the_npu(version):
    assert Version(load_npu_api(version).torch) >= Version("2.5")
    migration = port_text(INDICES, version)
    assert not [c for c in migration.changes if "device index" in c.message]
    assert 'x = x.to(0)' in migration.new_text and "device = torch.device(local_rank)" in migration.new_text


def test_dtypes_tensors_devices_and_npu_calls_are_not_indices():
    migration = port_text(NOT_INDICES, "2.1.0.post17")
    assert not [c for c in migration.changes if "device index" in c.message]
    assert "q = x.npu(local_rank)" in migration.new_text  # Tensor.npu takes an NPU index in every release
    assert "torch.npu.set_device(local_rank)" in migration.new_text


# --- contracts that depend on the release (issue 14 item 2) --------------------------------------------------

@pytest.mark.parametrize(("version", "kept"), [("2.1.0.post17", True), ("2.6.0", True), ("2.9.0", True),
                                               ("2.13.0", False)])
def test_is_bf16_supported_takes_an_argument_only_from_2_13(version, kept):
    code = ("import torch\nok = torch.cuda.is_bf16_supported(including_emulation=False)\n"
            "plain = torch.cuda.is_bf16_supported()\n")
    migration = port_text(code, version)
    assert ("torch.cuda.is_bf16_supported(including_emulation=False)" in migration.new_text) is kept
    assert "plain = torch.npu.is_bf16_supported()" in migration.new_text
    assert len([f for f in migration.findings if f.rule_id == "cuda-api"]) == int(kept)
