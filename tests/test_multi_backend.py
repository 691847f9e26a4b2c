"""Multi-backend frameworks get an NPU backend recommended, not their CUDA backend rewritten (backends.py)."""

from __future__ import annotations

import ast
import textwrap

import pytest

from portkit.python.backends import evidence
from portkit.python.engine import migrate_source
from portkit.python.transform import CompiledRules
from portkit.ruleset import load_rules

CUDA_BACKEND = """
import torch
from lightning.fabric.accelerators.accelerator import Accelerator
class CUDAAccelerator(Accelerator):
    def setup_device(self, device: torch.device) -> None:
        if device.type != "cuda":
            raise ValueError(device)
        torch.cuda.set_device(device)
    @classmethod
    def register_accelerators(cls, accelerator_registry):
        accelerator_registry.register("cuda", cls, description=cls.__name__)
"""


def port(code: str, target: str = "npu", ignore: tuple[str, ...] = ()):
    ruleset = load_rules(target=target)
    if ignore:
        ruleset = ruleset.select([r.id for r in ruleset.rules if r.id not in ignore])
    return migrate_source(textwrap.dedent(code).lstrip("\n"), CompiledRules(ruleset))


@pytest.mark.parametrize("target", ["npu", "accelerator"])
def test_a_cuda_backend_is_left_unchanged_and_reported_once(target: str) -> None:
    migration = port(CUDA_BACKEND, target)
    assert migration.new_text is None and not migration.changes
    items = [f for f in migration.findings if f.rule_id == "multi-backend-framework"]
    assert len(items) == 1 and "add an NPU backend" in items[0].message


def test_ignoring_the_rule_ports_the_backend_as_before() -> None:
    migration = port(CUDA_BACKEND, ignore=("multi-backend-framework",))
    assert migration.new_text is not None and "torch.npu.set_device" in migration.new_text


def test_the_evidence_names_the_backend_classes() -> None:
    tree = ast.parse(textwrap.dedent("""
        from .accelerators import CPUAccelerator, CUDAAccelerator, MPSAccelerator, XLAAccelerator
        class CUDAAccelerator(Accelerator): pass
        helper = CUDAHelper()
    """))
    found = evidence(tree)
    assert found.defines == ("CUDAAccelerator(Accelerator)",)
    assert found.siblings == ("CPUAccelerator", "CUDAAccelerator", "MPSAccelerator", "XLAAccelerator")


def test_a_lone_cuda_class_or_a_single_backend_is_no_framework() -> None:
    assert not evidence(ast.parse("class CUDAAccelerator: pass\nx = CUDAAccelerator()"))
    migration = port("""
        import torch
        from mylib import CUDABackend
        b = CUDABackend(torch.cuda.current_device())
    """)
    assert migration.new_text is not None and "torch.npu.current_device" in migration.new_text


def test_the_sparse_and_the_full_parse_agree() -> None:
    """The check reads the whole file's text and tree (not the code of the sparse module), so
    a file whose backend names sit in statements without triggers gets the same answer."""
    code = textwrap.dedent("""
        import torch
        from .accelerators import CPUAccelerator, CUDAAccelerator, MPSAccelerator

        def pick(name):
            return {"cpu": CPUAccelerator, "mps": MPSAccelerator}.get(name)

        def setup():
            torch.cuda.set_device(0)
    """).lstrip("\n")
    rules = CompiledRules(load_rules())
    sparse, full = migrate_source(code, rules), migrate_source(code, rules, sparse=False)
    assert sparse == full
    assert [f.rule_id for f in sparse.findings] == ["multi-backend-framework"] and sparse.new_text is None
