"""Issue 14: a rename is `safe` only when the NPU twin has the same signature and return contract.

The rename rules' `contracts` (rules/torch-cuda.toml, audited in docs/contracts.md) leave a call
unchanged and report it where its twin would fail or answer differently, and respell arguments
where that is exact; `import torch_npu` goes only where torch is; a report rule also flags the
new spelling of a name it lists (so `check` keeps the item on a ported tree).
"""

from __future__ import annotations

import dataclasses
from functools import cache
from textwrap import dedent

import pytest

from portkit.model import Migration
from portkit.python.engine import migrate_source
from portkit.python.transform import CompiledRules
from portkit.ruleset import RuleError, load_rules, parse_rule_file


@cache
def _rules(version: str | None = None, target: str = "npu") -> CompiledRules:
    return CompiledRules(dataclasses.replace(load_rules(target=target), npu_version=version))


def port(code: str, version: str | None = None, target: str = "npu") -> Migration:
    return migrate_source(dedent(code).lstrip("\n"), _rules(version, target))


def new_text(code: str, version: str | None = None) -> str:
    migration = port(code, version)
    return migration.new_text if migration.new_text is not None else dedent(code).lstrip("\n")


def items(migration: Migration, rule_id: str | None = None) -> list[str]:
    return [f.message for f in migration.findings if rule_id is None or f.rule_id == rule_id]


# --- return contracts: the result used in a way the twin's result cannot serve ---------------------------

@pytest.mark.parametrize("line", [
    "major, minor = torch.cuda.get_device_capability()",
    "[major, minor] = torch.cuda.get_device_capability(0)",
    "ok = torch.cuda.get_device_capability()[0] >= 8",
    "ok = torch.cuda.get_device_capability() >= (8, 0)",
    "print(f'sm_{torch.cuda.get_device_capability()}')",
    "arch = '%d.%d' % torch.cuda.get_device_capability()",
    "arch = '{}.{}'.format(*torch.cuda.get_device_capability())",
    "ok = torch.cuda.get_device_properties(0).major >= 8",
    "sms = torch.cuda.get_device_properties(device).multi_processor_count",
])
def test_a_result_the_twin_cannot_serve_keeps_the_call(line: str) -> None:
    code = f"import torch\n{line}\n"
    migration = port(code)
    assert migration.new_text is None or line in migration.new_text  # the line as it was
    (item,) = [m for m in items(migration) if "left unchanged" in m]
    assert "torch.npu.is_bf16_supported()" in item or "cube_core_num" in item  # the concrete replacement
    assert [f.rule_id for f in migration.findings] == ["cuda-api"]  # one item, not one per rule


@pytest.mark.parametrize(("line", "renamed"), [
    ("cap = torch.cuda.get_device_capability()", "cap = torch.npu.get_device_capability()"),
    ("if torch.cuda.get_device_capability() is None: pass", "if torch.npu.get_device_capability() is None: pass"),
    ("total = torch.cuda.get_device_properties(0).total_memory",
     "total = torch.npu.get_device_properties(0).total_memory"),
])
def test_other_uses_are_renamed_and_still_reported(line: str, renamed: str) -> None:
    migration = port(f"import torch\n{line}\n")
    assert renamed in (migration.new_text or "")
    assert items(migration, "device-capability")  # behaves differently on NPU: the report stays


def test_get_device_capability_is_a_stub_before_2_13() -> None:
    """torch_npu 2.1.0.post17-2.9.0 only warn and return None: report instead, whatever the use."""
    code = "import torch\ncap = torch.cuda.get_device_capability()\nf = torch.cuda.get_device_capability\n"
    for version in ("2.1.0.post17", "2.6.0", "2.9.0"):
        migration = port(code, version)
        assert migration.new_text is None or "torch.npu.get_device_capability" not in migration.new_text
        assert len(items(migration, "cuda-api")) == 2, version
    assert "cap = torch.npu.get_device_capability()" in (port(code).new_text or "")


def test_current_blas_handle_is_reported_instead() -> None:
    migration = port("import torch\nhandle = torch.cuda.current_blas_handle()\n")
    assert migration.new_text is None
    (item,) = items(migration, "cuda-api")
    assert "NPU has no BLAS handle" in item


# --- signature contracts -------------------------------------------------------------------------------

@pytest.mark.parametrize(("before", "after"), [
    ("torch.cuda.get_device_name(device=0)", "torch.npu.get_device_name(0)"),
    ("torch.cuda.get_device_properties(device=d).name", "torch.npu.get_device_properties(d).name"),
    ("torch.cuda.can_device_access_peer(device=0, peer_device=1)", "torch.npu.can_device_access_peer(0, 1)"),
    ("torch.cuda.can_device_access_peer(0, peer_device=1)", "torch.npu.can_device_access_peer(0, 1)"),
    ("torch.cuda.StreamContext(stream=s)", "torch.npu.StreamContext(s)"),
    ("torch.cuda.nvtx.range_push(msg='fwd')", "torch.npu.mstx.range_push('fwd')"),
    ("torch.cuda.graph(g, p, s, 'global')", "torch.npu.graph(g, p, s, capture_error_mode='global')"),
    ("torch.cuda.graph(cuda_graph=g, pool=p)", "torch.npu.graph(g, pool=p)"),
    ("torch.cuda.Event(True, False, True)", "torch.npu.Event(True, False, True)"),
    ("torch.cuda.memory_snapshot(None)", "torch.npu.memory_snapshot(None)"),
    ("x.cuda(0, True, torch.channels_last)", "x.npu(0, True, memory_format=torch.channels_last)"),
])
def test_an_exact_respelling_keeps_the_rename(before: str, after: str) -> None:
    assert f"y = {after}\n" in new_text(f"import torch\ny = {before}\n")


@pytest.mark.parametrize(("call", "reason"), [
    ("torch.cuda.Event(enable_timing=True, external=True)", "passes external="),
    ("torch.cuda.Event(False, False, False, True)", "passes external (argument 4)"),
    ("torch.cuda.can_device_access_peer(peer_device=1, device=0)", "passes device="),
    ("torch.cuda.graph(g, enable_annotations=True)", "passes enable_annotations="),
    ("torch.cuda.memory_snapshot(include_traces=False)", "passes include_traces="),
    ("torch.cuda.CUDAGraph(keep_graph=True)", "passes keep_graph="),
])
def test_an_argument_the_twin_lacks_keeps_the_call(call: str, reason: str) -> None:
    migration = port(f"import torch\ny = {call}\n")
    assert migration.new_text is None or f"y = {call}" in migration.new_text
    (item,) = items(migration)
    assert reason in item and "left unchanged" in item


def test_older_releases_lack_more_arguments() -> None:
    code = ("import torch\na = torch.cuda.is_bf16_supported(including_emulation=False)\n"
            "b = torch.cuda.memory_snapshot(None)\nc = torch.cuda.MemPool(alloc, True)\n")
    old, new = port(code, "2.1.0.post17"), port(code)
    assert old.new_text is None and len(items(old, "cuda-api")) == 3
    assert "torch.npu.is_bf16_supported(including_emulation=False)" in (new.new_text or "")
    assert "torch.npu.memory_snapshot(None)" in (new.new_text or "")
    assert "torch.npu.MemPool(alloc, True)" in (new.new_text or "")
    assert not items(new, "cuda-api")


def test_star_arguments_are_judged_by_the_result_only() -> None:
    assert "torch.npu.Event(**options)" in new_text("import torch\ne = torch.cuda.Event(**options)\n")


# --- through aliases and from-imports ------------------------------------------------------------------

def test_a_from_import_stays_when_one_of_its_calls_must() -> None:
    code = "from torch.cuda import get_device_capability\nmajor, minor = get_device_capability()\n"
    migration = port(code)
    assert migration.new_text is None
    assert len(items(migration, "cuda-api")) == 2  # the call, and the import that stays with it
    renamed = new_text("from torch.cuda import get_device_name\nname = get_device_name(device=0)\n")
    assert renamed.endswith("from torch.npu import get_device_name\nname = get_device_name(0)\n")


def test_a_module_alias_is_not_rebound_under_a_kept_call() -> None:
    code = "from torch import cuda\nmajor, minor = cuda.get_device_capability()\ncuda.synchronize()\n"
    text = new_text(code)
    assert "from torch import cuda\n" in text and "major, minor = cuda.get_device_capability()" in text
    assert "torch.npu.synchronize()" in text  # the other use still converts, through another name
    assert "from torch import npu\nnpu.synchronize()\n" in new_text("from torch import cuda\ncuda.synchronize()\n")


def test_the_port_is_stable() -> None:
    code = ("import torch\nmajor, minor = torch.cuda.get_device_capability()\n"
            "name = torch.cuda.get_device_name(device=0)\n")
    once = new_text(code)
    assert port(once).new_text is None  # nothing left to change; the kept call is reported again
    assert len(items(port(once), "cuda-api")) == 1


# --- the schema ------------------------------------------------------------------------------------------

RULE = """
[[rule]]
id = "acme"
kind = "rename-api"
summary = "s"
why = "w"
safety = "safe"
module = "acme.cuda"
to_module = "acme.npu"
names = ["f"]
{extra}

[[rule.examples]]
before = "import acme.cuda\\nacme.cuda.f()\\n"
"""


@pytest.mark.parametrize(("extra", "problem"), [
    ('[rule.contracts."acme.cuda.g"]\nmessage = "m"\nreport_instead = true', "not a name this rule renames"),
    ('[rule.contracts."acme.cuda.f"]\nmessage = "m"', "needs a condition"),
    ('[rule.contracts."acme.cuda.f"]\nmessage = "m"\nunless_result_used = ["iterated"]', "'iterated' is not one of"),
    ('[rule.contracts."acme.cuda.f"]\nmessage = "m"\ntorch_npu = "2.x"\nreport_instead = true',
     "not a version specifier"),
    ('[rule.contracts."acme.cuda.f"]\nmessage = "m"\nunless_arguments = { a = -1 }', "0-based integers"),
    ('[rule.contracts."acme.cuda.f"]\nmessage = "m"\nreport_instead = true\nbogus = 1', "unknown key 'bogus'"),
])
def test_malformed_contracts_are_one_line_errors(extra: str, problem: str) -> None:
    with pytest.raises(RuleError, match=problem):
        parse_rule_file(RULE.format(extra=extra), "acme.toml")


# --- `import torch_npu` only where torch is (item 4) ---------------------------------------------------------

def test_a_file_that_only_held_a_string_gets_no_import() -> None:
    assert new_text("NCCL_BACKEND = 'nccl'\n") == "NCCL_BACKEND = 'hccl'\n"
    assert new_text("DEVICE = 'cuda:0'\n") == "DEVICE = 'npu:0'\n"


@pytest.mark.parametrize(("code", "first_lines"), [
    ("import torch.distributed as dist\nBACKEND = 'nccl'\n", "import torch.distributed as dist\nimport torch_npu\n"),
    ("from torch.utils.data import DataLoader\nDEVICE = 'cuda'\n", "from torch.utils.data import DataLoader\n"
                                                                   "import torch_npu\n"),
    ("def to_device(x):\n    return x.cuda()\n", "import torch_npu\n"),  # Tensor.npu needs torch_npu
])
def test_a_file_with_torch_gets_the_import(code: str, first_lines: str) -> None:
    assert new_text(code).startswith(first_lines)


# --- a report follows the rename of a name it lists (item 7) ------------------------------------------------

def test_the_renamed_spelling_is_still_reported() -> None:
    ported = new_text("import torch\nt = torch.cuda.DoubleTensor\ncap = torch.cuda.get_device_capability()\n")
    assert "torch.npu.DoubleTensor" in ported and "torch.npu.get_device_capability()" in ported
    check = migrate_source(ported, _rules(), render=False)
    assert len(items(check, "device-capability")) == 2


def test_the_accelerator_spelling_is_still_reported() -> None:
    # torch.cpu has no get_device_capability (docs/accelerator.md): the call stays, and is reported
    original = "import torch\ncap = torch.cuda.get_device_capability()\n"
    ported = port(original, target="accelerator").new_text or original
    assert ported == original
    check = migrate_source(ported, _rules(target="accelerator"), render=False)
    assert len(items(check, "device-capability")) == 1
