"""Accelerator *names* are not device types (issue 14, item 9): a user's `accelerator=` choice,
a registry key, an `--accelerator` choice, a `Literal[...]` value and what flows into them stay
as written with both targets, while device positions keep converting."""

from __future__ import annotations

import textwrap

import pytest

from portkit.python.engine import migrate_source
from portkit.python.transform import CompiledRules
from portkit.ruleset import load_rules

RULES = {target: CompiledRules(load_rules(target=target)) for target in ("npu", "accelerator")}
STRING_RULES = {"device-string", "accelerator-device-string", "accelerator-device-compare"}


def port(code: str, target: str):
    return migrate_source(textwrap.dedent(code).lstrip("\n"), RULES[target])


def string_changes(code: str, target: str) -> list[str]:
    return [c.message for c in port(code, target).changes if c.rule_id in STRING_RULES]


LIGHTNING_SHAPES = [
    # a user's choice compared with names, in Lightning's connector
    """
    import torch
    def select(accelerator: str = "cuda"):
        if accelerator == "cuda" or accelerator in ("cuda", "gpu"):
            return torch.device(accelerator)
    """,
    # a flag attribute that also ends up as a device: its checks would stop matching
    """
    import torch
    class Connector:
        def __init__(self, accelerator="cuda"):
            self._accelerator_flag = accelerator
            if self._accelerator_flag == "cuda":
                self.root = torch.device(self._accelerator_flag)
    """,
    # the registry's key, and a name flowing into it
    """
    import torch
    name = "cuda"
    AcceleratorRegistry.register(name, CUDAAccelerator)
    accelerator_registry.register("cuda", CUDAAccelerator, description="CUDA")
    x = torch.zeros(1).to(name)
    """,
    # CLI choices: argparse and click
    """
    import click, torch
    _SUPPORTED_ACCELERATORS = ("cpu", "gpu", "cuda", "mps", "tpu")
    @click.option("--accelerator", type=click.Choice(_SUPPORTED_ACCELERATORS), default="cuda")
    def run(accelerator):
        torch.device(accelerator)
    parser.add_argument("--accelerator", choices=["cpu", "cuda", "gpu", "mps", "tpu", "auto"], default="cuda")
    """,
    # a Literal-typed choice (jsonargparse and pydantic check it at run time)
    """
    import torch
    from typing import Literal
    def fit(device_type: Literal["cuda", "cpu"] = "cuda"):
        return torch.device(device_type)
    """,
    # tensor method names and profiler keys are no devices either
    """
    _MOVES = {"cuda", "cpu", "to", "half"}
    def wrap(name):
        return name in {"contiguous", "cuda", "half", "data"}
    table = prof.key_averages().table(sort_by="cuda_time_total")
    key = f"{'cuda' if is_cuda else 'cpu'}_time_total"
    """,
]


@pytest.mark.parametrize("target", ["npu", "accelerator"])
@pytest.mark.parametrize("code", LIGHTNING_SHAPES, ids=["compare", "flag", "registry", "choices", "literal", "keys"])
def test_accelerator_names_stay_with_both_targets(code: str, target: str) -> None:
    assert string_changes(code, target) == []


@pytest.mark.parametrize("target", ["npu", "accelerator"])
def test_device_positions_still_convert(target: str) -> None:
    changes = string_changes("""
        import torch
        def place(x, accelerator):
            device = torch.device("cuda")
            y = x.to("cuda")
            z = torch.zeros(1, device="cuda:0")
            if x.device.type == "cuda":
                pass
            dev = "cpu" if accelerator == "cpu" else "cuda"
            return MixedPrecision(device=dev)
    """, target)
    assert len(changes) == 5


def test_user_accelerator_choice_is_reported_once_with_its_reason() -> None:
    migration = port("""
        import lightning as L
        trainer = L.Trainer(accelerator="cuda", devices=2)
    """, "npu")
    assert migration.new_text is None or '"cuda"' in migration.new_text
    items = [f for f in migration.findings if f.rule_id == "accelerator-name"]
    assert len(items) == 1
    assert "accelerator name, not a device type" in items[0].message
    assert "'npu' choice" in items[0].message


def test_the_evidence_is_named_when_a_device_is_no_accelerator_name() -> None:
    migration = port("""
        import torch
        def run(accelerator):
            device = "cpu" if accelerator == "cpu" else "cuda"
            torch.zeros(1, device=device)
    """, "npu")
    assert [(c.rule_id, c.evidence) for c in migration.changes if c.rule_id == "device-string"] == [
        ("device-string", "value-flow")]
