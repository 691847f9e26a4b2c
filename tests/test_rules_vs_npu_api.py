"""Rules may only target names that the real torch_npu release has (src/portkit/ruleset/data)."""

from __future__ import annotations

import pytest

from portkit.ruleset.npu_api import load_npu_api
from portkit.ruleset import RenameApi, load_rules

API = load_npu_api()
NPU_PREFIXES = ("torch.npu", "torch_npu", "torch.distributed.is_hccl")
TARGETS = sorted(
    {(rule.id, new) for rule in load_rules().rules if isinstance(rule.spec, RenameApi)
     for new in [*rule.spec.renames.values(), *rule.spec.module_twins.values()]
     if new.startswith(NPU_PREFIXES)}
)


def test_rules_target_npu_names_at_all():
    assert len(TARGETS) > 90


@pytest.mark.parametrize(("rule_id", "name"), TARGETS, ids=[f"{r}:{n}" for r, n in TARGETS])
def test_rename_target_exists_in_torch_npu(rule_id, name):
    assert API.has(name), f"rule {rule_id} targets {name}, which torch_npu {API.version} does not have"


def test_cuda_api_covers_exactly_the_same_name_twins():
    rule = load_rules().get("cuda-api")
    names = {old.removeprefix("torch.cuda.") for old in rule.spec.renames}
    assert names == set(API.cuda_twins())


def test_a_missing_name_would_fail():
    assert not API.has("torch.npu.get_arch_list")
    assert not API.has("torch.npu.nvtx")
