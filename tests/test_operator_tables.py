"""The operator tables shipped in portkit.ruleset.data and portkit.ruleset.operators that reads them.

The tables are written by scripts/derive_op_tables.py; the re-derivation tests run it again
against the installed torch and the torch-npu wheels in ~/.cache/portkit/wheels (fetched by
scripts/fetch_npu_wheels.py, part of the README's test command). Nothing here downloads.
"""

from __future__ import annotations

import dataclasses
import hashlib
import importlib.metadata
import json
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from conftest import load_script

from portkit.ruleset.operators import AtenOp, Coverage, OperatorTable, available_versions

REPO = Path(__file__).resolve().parents[1]
DATA = REPO / "src" / "portkit" / "ruleset" / "data"
WHEELS = Path.home() / ".cache" / "portkit" / "wheels"
TORCH = "2.13.0"
NEWEST = "2.13.0"


@pytest.fixture(scope="module")
def script() -> ModuleType:
    return load_script("derive_op_tables")


def _shipped(name: str) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads((DATA / name).read_text(encoding="utf-8"))
    return loaded


@pytest.fixture(scope="module")
def aten() -> dict[str, Any]:
    return _shipped(f"aten_ops-torch-{TORCH}.json")


@pytest.fixture(scope="module")
def table() -> OperatorTable:
    return OperatorTable.load(NEWEST)


# ---- the shipped data -----------------------------------------------------------------------------------

def test_files_are_canonical(script: ModuleType) -> None:
    files = sorted(DATA.glob("aten_ops-*.json")) + sorted(DATA.glob("npu_ops-*.json"))
    assert len(files) == 1 + len(available_versions())
    for path in files:
        text = path.read_text(encoding="utf-8")
        assert text == script.dumps(json.loads(text)), path.name
        assert path.stat().st_size < 600_000, path.name


def test_aten_table_names_its_torch(aten: dict[str, Any]) -> None:
    torch = aten["torch"]
    assert torch["version"] == TORCH
    assert torch["file"] == "torchgen/packaged/ATen/native/native_functions.yaml"
    assert len(torch["sha256"]) == 64
    assert len(aten["ops"]) == 3101


def test_aten_entries(aten: dict[str, Any]) -> None:
    ops = aten["ops"]
    assert ops["linalg_eigh"] == {"calls": ["_linalg_eigh"], "dispatch": "CompositeImplicitAutograd",
                                  "privateuse1": "CompositeImplicitAutograd", "traced": "float32 3x3 2x3x4x4"}
    eigh = ops["_linalg_eigh"]
    assert eigh["dispatch"] == "CPU CUDA" and eigh["delegate"] == "_linalg_eigh.eigenvalues"
    # a structured operator: torchgen generates the kernel other backends get; it calls the out= operator
    assert eigh["privateuse1"] == "CompositeExplicitAutogradNonFunctional"
    assert eigh["calls"] == ["_linalg_eigh.eigenvalues", "empty_strided"]
    assert ops["zeros"]["calls"] == ["empty.memory_format", "zero_"]  # CompositeExplicitAutograd
    assert ops["svd"]["calls"] == ["linalg_svd", "mH"]  # direct callees (mH is composite too), not leaves
    assert ops["fft_fft"]["calls"] == ["_fft_r2c"]  # float32 input: the real-to-complex path
    assert "privateuse1" not in ops["mode"]  # CPU and CUDA kernels only: the NPU gets none from torch


def test_privateuse1_kernels_follow_the_dispatch_keys(aten: dict[str, Any]) -> None:
    """The dispatcher's choice for a backend without a kernel: a composite kernel in the order
    CompositeExplicitAutogradNonFunctional (declared, or generated for a structured operator),
    CompositeExplicitAutograd, CompositeImplicitAutograd."""
    order = ["CompositeExplicitAutogradNonFunctional", "CompositeExplicitAutograd", "CompositeImplicitAutograd"]
    for op, entry in aten["ops"].items():
        declared = [k for k in order if k in entry["dispatch"].split()]
        kind = entry.get("privateuse1")
        if kind is None:
            assert not declared, op
        else:
            generated = [order[0]] if "delegate" in entry else []
            assert kind == min(declared + generated, key=order.index), op
        assert (kind is not None) == ("calls" in entry or "not_traced" in entry), op
        assert "calls" not in entry or entry["traced"], op


def test_generated_structured_kernels_call_their_out_operator(aten: dict[str, Any]) -> None:
    """What the loader assumes for the untraced ones, checked on every traced one."""
    generated = [(op, e) for op, e in aten["ops"].items()
                 if "delegate" in e and e.get("privateuse1") == "CompositeExplicitAutogradNonFunctional"]
    assert len(generated) > 300
    for op, entry in generated:
        assert "calls" not in entry or entry["delegate"] in entry["calls"], op


def test_most_composite_operators_are_traced(aten: dict[str, Any]) -> None:
    traced = [op for op, e in aten["ops"].items() if "calls" in e]
    untraced = {op: e["not_traced"] for op, e in aten["ops"].items() if "not_traced" in e}
    assert len(traced) > 3 * len(untraced) and len(traced) + len(untraced) > 2200
    assert untraced["native_group_norm"].startswith("not run")
    assert untraced["_print"] == "cannot make up a str argument 's'"


@pytest.mark.parametrize("version", available_versions())
def test_npu_sections(version: str) -> None:
    data = _shipped(f"npu_ops-{version}.json")
    assert data["version"] == version
    assert data["source"]["wheel"].startswith(f"torch_npu-{version}-")
    sections = data["sections"]
    assert 1000 < len(sections["supported"]) < 1200
    assert {"topk", "sort", "_linalg_svd", "_fft_c2c", "grid_sampler_2d"} <= set(sections["supported"])
    assert "npu_format_cast" in sections["custom"]
    assert "_coalesce" in sections["sparse"] and "_coalesce" not in sections["supported"]
    for names in sections.values():
        assert names == sorted(set(names))
    # the yaml agrees with the registration wrappers compiled into libtorch_npu.so
    assert data["library_check"]["wrapper_not_listed"] == []
    assert set(data["library_check"]["listed_without_wrapper"]) <= {
        "_softmax_backward_data", "bartlett_window", "blackman_window", "hamming_window", "hann_window",
        "tril_indices", "triu_indices"}


def test_npu_2_13_0_counts() -> None:
    data = _shipped("npu_ops-2.13.0.json")
    counts = {section: len(names) for section, names in data["sections"].items()}
    assert counts == {"autograd": 1, "custom": 419, "quant": 3, "sparse": 4, "supported": 1079, "symint": 32}
    assert data["files"]["torch_npu/csrc/aten/npu_native_functions_by_codegen.yaml"]["supported"] == 1080
    assert data["not_in_aten"] == ["copy_memory_", "empty_with_format"]
    assert any("filt_compositeimplicitautograd_api" in line for line in data["codegen_rules"])


def test_facts_sheet_operator_claims() -> None:
    """../shared/reference/ascend-facts.md, "facts for operator coverage", checked against the data."""
    supported = set(_shipped("npu_ops-2.13.0.json")["sections"]["supported"])
    absent = {"_linalg_eigh", "mode", "_linalg_det", "linalg_cholesky_ex", "fractional_max_pool2d",
              "logcumsumexp", "linalg_lstsq"}
    assert not absent & supported
    assert {"_linalg_svd", "_fft_c2c", "topk", "sort", "grid_sampler_2d"} <= supported


@pytest.mark.parametrize("version", available_versions())
def test_unregistered_operators_fall_back_to_the_cpu(version: str) -> None:
    found = _shipped(f"npu_ops-{version}.json")["unregistered"]
    assert found["behaviour"] == "cpu_fallback"
    assert found["warning"].startswith("CAUTION: The operator '<op>' is not currently supported on the NPU backend")
    assert all(found["strings"][k] for k in ("fallback_registered", "calls_at_native_cpu_fallback", "kernel_name"))
    assert found["strings"]["sparse_error"]  # sparse tensors: an error, not a fallback
    messages = {op for m in found["cpu_messages"] for op in m["ops"]}
    assert {"logit", "logit_backward", "_masked_softmax", "_transform_bias_rescale_qkv"} <= messages
    if version == "2.13.0":  # the switch to make the fallback an error arrived in 2.13.0
        assert found["disable_env"] == "TORCH_NPU_FALLBACK_CPU_DISABLE"
        assert any("TORCH_NPU_FALLBACK_CPU_DISABLE=1" in line for line in found["header"])
        assert "_fused_adam_" in messages
    else:
        assert found["disable_env"] is None and found["header"] == []


# ---- re-derivation --------------------------------------------------------------------------------------

def test_aten_table_comes_from_the_installed_torch(script: ModuleType, aten: dict[str, Any]) -> None:
    assert importlib.metadata.version("torch").split("+")[0] == TORCH, "the ATen table is for another torch"
    native = script.aten_yaml_dir() / "native_functions.yaml"
    assert hashlib.sha256(native.read_bytes()).hexdigest() == aten["torch"]["sha256"]


def test_rederive_aten_table(script: ModuleType, aten: dict[str, Any]) -> None:
    # runs every composite kernel of torch on small CPU tensors in a subprocess (tens of seconds)
    assert json.loads(json.dumps(script.derive_aten())) == aten


@pytest.mark.parametrize("version", available_versions())
def test_rederive_npu_table(script: ModuleType, aten: dict[str, Any], version: str) -> None:
    wheels = sorted(WHEELS.glob(f"torch_npu-{version}-*.whl"))
    assert wheels, (f"no torch_npu {version} wheel in {WHEELS}: run `python scripts/fetch_npu_wheels.py` "
                    "(part of the README's test command)")
    derived = script.derive_npu(wheels[-1], aten["ops"])
    assert json.loads(json.dumps(derived)) == _shipped(f"npu_ops-{version}.json")


# ---- portkit.ruleset.operators -----------------------------------------------------------------------------

def test_load_is_cached_and_defaults_to_the_newest() -> None:
    assert available_versions()[-1] == NEWEST
    assert OperatorTable.load() is OperatorTable.load(NEWEST)
    assert OperatorTable.load("2.1.0.post17").npu_version == "2.1.0.post17"
    assert OperatorTable.load(NEWEST).torch_version == TORCH


def test_unknown_version_names_the_available_ones() -> None:
    with pytest.raises(ValueError, match=r"available: 2\.1\.0\.post17"):
        OperatorTable.load("0.0.1")


def test_aten_lookup(table: OperatorTable) -> None:
    eigh = table.aten("linalg_eigh")
    assert isinstance(eigh, AtenOp) and eigh.composite_implicit and eigh.composite
    assert table.aten("aten::linalg_eigh") == eigh == table.aten("torch.ops.aten.linalg_eigh.default")
    add = table.aten("add.Tensor")
    assert add is not None and add.delegate == "add.out" and {"CPU", "CUDA"} <= add.dispatch
    assert (add.base, add.overload) == ("add", "Tensor") and add.has_cpu_kernel
    assert add.composite and add.privateuse1 == "CompositeExplicitAutogradNonFunctional"  # torchgen's, for add.out
    mode = table.aten("mode")
    assert mode is not None and not mode.composite and mode.has_cpu_kernel and not mode.cpu_only
    assert table.aten("no_such_op") is None
    assert "add.Scalar" in table.overloads("add") and "addmm" not in table.overloads("add")
    with pytest.raises(dataclasses.FrozenInstanceError):
        eigh.name = "x"  # type: ignore[misc]


def test_decomposition(table: OperatorTable) -> None:
    assert table.decomposition("linalg_eigh") == ("_linalg_eigh",)
    assert table.decomposition("linalg_norm") == ("linalg_vector_norm",)
    assert table.decomposition("topk") == ("empty.memory_format", "topk.values")  # torchgen's generated kernel
    assert table.decomposition("mode") is None  # no kernel an NPU tensor could use
    assert table.decomposition("no_such_op") is None


def test_npu_implements(table: OperatorTable) -> None:
    assert table.npu_implements("topk") and table.npu_implements("aten::topk.values")
    assert not table.npu_implements("_linalg_eigh") and not table.npu_implements("linalg_eigh")
    assert table.npu_sections("npu_format_cast") == ("custom",)
    assert not table.npu_implements("npu_format_cast")  # torch_npu's own operator, not an aten one


def test_coverage_missing_via_decomposition(table: OperatorTable) -> None:
    found = table.coverage("linalg_eigh")  # -> _linalg_eigh -> _linalg_eigh.eigenvalues, which the NPU lacks
    assert isinstance(found, Coverage)
    assert found.status == "missing" and found.missing == found.cpu_fallback == ("_linalg_eigh.eigenvalues",)
    assert found.no_cpu_kernel == () and "_linalg_eigh.eigenvalues" in found.reason
    assert table.coverage("mode").missing == ("mode",)
    # torch's generated kernel for fmax calls fmax.out: torch_npu's own tests (Ascend/pytorch
    # test/npu/test_fault_mode.py) expect the fallback warning to name 'aten::fmax.out'
    assert table.coverage("fmax").missing == ("fmax.out",)


def test_coverage_implemented_and_decomposed(table: OperatorTable) -> None:
    assert table.coverage("topk").status == "implemented"
    assert table.coverage("linalg_norm").status == "decomposes"  # -> linalg_vector_norm, an NPU operator
    assert table.coverage("svd").status == "decomposes"  # -> linalg_svd -> _linalg_svd
    assert table.coverage("einsum").status == "decomposes"


def test_coverage_unknown(table: OperatorTable) -> None:
    found = table.coverage("no_such_op")
    assert found.status == "unknown" and "not an operator" in found.reason
    untraced = table.coverage("ctc_loss.IntList")  # composite, but its inputs could not be made up
    assert untraced.status == "unknown" and untraced.unknown == ("ctc_loss.IntList",)


def test_coverage_of_an_operator_without_any_cpu_kernel(table: OperatorTable) -> None:
    found = table.coverage("_cudnn_rnn")
    assert found.status == "missing" and found.no_cpu_kernel == ("_cudnn_rnn",) and found.cpu_fallback == ()


def test_coverage_of_a_name_without_overload(table: OperatorTable) -> None:
    found = table.coverage("add")  # add.Tensor, add.Scalar (out= overloads left out)
    assert found.status == "implemented" and "overloads add.Scalar, add.Tensor" in found.reason


def test_coverage_notes_explicit_cpu_kernels(table: OperatorTable) -> None:
    found = table.coverage("logit")
    assert found.status == "implemented"
    assert any("fallback to run on the CPU" in note for note in found.notes)


def test_coverage_differs_between_releases() -> None:
    old, new = OperatorTable.load("2.1.0.post17"), OperatorTable.load("2.13.0")
    assert old.coverage("linalg_cholesky").missing == ("linalg_cholesky_ex.L",)
    assert new.coverage("linalg_cholesky").status == "implemented"
    assert old.npu_implements("gelu") and not new.npu_implements("gelu")  # 2.13.0 lists gelu.out only
    assert new.coverage("gelu").status == "decomposes"  # torchgen's kernel for gelu calls gelu.out
    assert new.unregistered.disable_env == "TORCH_NPU_FALLBACK_CPU_DISABLE"
    assert old.unregistered.disable_env is None and old.unregistered.behaviour == "cpu_fallback"


@pytest.mark.parametrize("version", available_versions())
def test_coverage_of_every_operator(version: str) -> None:
    table = OperatorTable.load(version)
    statuses = {op: table.coverage(op) for op in table.ops}
    assert {c.status for c in statuses.values()} == {"implemented", "decomposes", "missing", "unknown"}
    for op, found in statuses.items():
        assert (found.status == "implemented") == table.npu_implements(op), op
        assert bool(found.missing) == (found.status == "missing"), op
        assert set(found.cpu_fallback) | set(found.no_cpu_kernel) == set(found.missing), op


# ---- the walk, on a small made-up table ---------------------------------------------------------------

def _made_up(ops: dict[str, dict[str, Any]], supported: set[str]) -> OperatorTable:
    entries = {name: AtenOp(name=name, dispatch=frozenset(e.get("dispatch", "").split()), delegate=e.get("delegate"),
                            privateuse1=e.get("privateuse1"), calls=e.get("calls"), not_traced=e.get("not_traced"))
               for name, e in ops.items()}
    real = OperatorTable.load(NEWEST)
    return OperatorTable(torch_version="t", npu_version="n", ops=entries, sections={"supported": frozenset(supported)},
                         unregistered=real.unregistered, cpu_messages={})


CIA, GEN = "CompositeImplicitAutograd", "CompositeExplicitAutogradNonFunctional"


def test_walk_cycles_terminate() -> None:
    table = _made_up({"a": {"privateuse1": CIA, "calls": ("b",)}, "b": {"privateuse1": CIA, "calls": ("a", "c")},
                      "c": {"dispatch": "CPU CUDA"}}, supported=set())
    assert table.coverage("a").missing == ("c",)
    assert table.coverage("b").missing == ("c",)


def test_walk_device_branch_is_unknown() -> None:
    table = _made_up({"attn": {"privateuse1": CIA, "calls": ("attn_for_cpu", "mm")},
                      "attn_for_cpu": {"dispatch": "CPU"}, "mm": {"dispatch": "CPU CUDA"}}, supported={"mm"})
    found = table.coverage("attn")
    assert found.status == "unknown" and "CPU-only attn_for_cpu" in found.reason


def test_walk_assumes_generated_kernels_call_their_out_operator() -> None:
    table = _made_up({"f": {"dispatch": "CPU CUDA", "delegate": "f.out", "privateuse1": GEN, "not_traced": "x"},
                      "f.out": {"dispatch": "CPU CUDA"}, "g": {"privateuse1": CIA, "not_traced": "raised"}},
                     supported={"f.out"})
    found = table.coverage("f")
    assert found.status == "decomposes" and "its generated kernel calls f.out" in found.reason
    assert table.coverage("g").status == "unknown" and table.coverage("g").unknown == ("g",)
