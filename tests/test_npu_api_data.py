"""The torch_npu API data shipped in portkit.ruleset.data, and portkit.ruleset.npu_api that reads it.

Nothing here downloads: the re-derivation test runs only if the wheel is already on disk.
"""

from __future__ import annotations

import dataclasses
import json
import os
from importlib import resources
from pathlib import Path
from typing import Any

import pytest

from conftest import load_script

from portkit.ruleset.npu_api import NpuApi, available_versions, load_npu_api

REPO = Path(__file__).resolve().parents[1]
VERSION = "2.13.0"


@pytest.fixture(scope="module")
def data() -> dict[str, Any]:
    text = resources.files("portkit.ruleset.data").joinpath(f"torch_npu-{VERSION}.json").read_text(encoding="utf-8")
    loaded: dict[str, Any] = json.loads(text)
    return loaded


def test_file_is_canonical_json() -> None:
    path = REPO / "src" / "portkit" / "ruleset" / "data" / f"torch_npu-{VERSION}.json"
    text = path.read_text(encoding="utf-8")
    assert text == json.dumps(json.loads(text), indent=1, sort_keys=True) + "\n"


def test_source_and_version(data: dict[str, Any]) -> None:
    assert data["version"] == VERSION
    assert data["source"]["wheel"].startswith(f"torch_npu-{VERSION}-")
    assert len(data["source"]["sha256"]) == 64
    for key in ("torch.npu", "torch.npu.amp", "torch.cuda", "torch.cuda.amp", "torch_npu.profiler"):
        assert data[key] == sorted(set(data[key])), key


def test_torch_npu_all(data: dict[str, Any]) -> None:
    npu = set(data["torch.npu"])
    assert len(npu) == 144
    assert {"NPUGraph", "NPUPluggableAllocator", "mstx", "matmul", "conv", "config", "npurt"} <= npu
    # legacy tensor types exist only once the C extension runs
    assert "FloatTensor" in data["torch.npu.defined_in_c"]


def test_same_name_twins_of_torch_cuda(data: dict[str, Any]) -> None:
    npu, cuda = set(data["torch.npu"]), set(data["torch.cuda"])
    twins = npu & cuda
    assert len(cuda) == 125 and len(twins) == 88
    assert {"is_available", "set_device", "synchronize", "Stream", "Event", "FloatTensor", "mem_get_info",
            "get_rng_state_all"} <= twins
    assert not {"get_arch_list", "jiterator", "nvtx", "CUDAGraph", "CUDAPluggableAllocator", "cudart"} & npu


def test_reachable_submodules(data: dict[str, Any]) -> None:
    subs = set(data["torch.npu.submodules"])
    assert {"amp", "random", "memory", "graphs", "streams", "default_generators", "utils", "npugraph_ex"} <= subs
    assert not subs & set(data["torch.npu"])  # only what __all__ leaves out
    assert set(data["torch.npu.submodules_evidence"]) == subs
    assert "empty_cache" in data["torch.npu.submodule_exports"]["memory"]
    assert "fork_rng" not in data["torch.npu.submodule_exports"]["random"]


def test_amp(data: dict[str, Any]) -> None:
    assert data["torch.npu.amp"] == ["GradScaler", "autocast", "custom_bwd", "custom_fwd"]
    assert "amp_definitely_not_available" in data["torch.cuda.amp"]


def test_nvtx_calls_fit_mstx(data: dict[str, Any]) -> None:
    """torch.cuda.nvtx.X(args) works as torch.npu.mstx.X(args): same leading positionals,
    and every further mstx parameter has a default."""
    mstx, nvtx = data["torch.npu.mstx"], data["torch.cuda.nvtx"]
    for name in ("range_push", "range_pop", "mark", "range_start", "range_end"):
        given = len(nvtx[name])
        assert len(mstx[name]["params"]) >= given, name
        assert set(mstx[name]["required"]) <= set(mstx[name]["params"][:given]), name
    assert "range" in nvtx and "range" not in mstx  # nvtx.range has no mstx method of that name


def test_hf32_switches(data: dict[str, Any]) -> None:
    assert data["torch.npu.matmul"] == ["allow_hf32", "cube_math_type"]
    assert data["torch.npu.conv"] == ["allow_hf32"]
    assert data["attribute_access"]["torch.npu.config"] == {"get": [], "set": ["allow_internal_format"]}


def test_profiler_distributed_tensor_methods(data: dict[str, Any]) -> None:
    assert {"profile", "ProfilerActivity", "schedule", "tensorboard_trace_handler"} <= set(data["torch_npu.profiler"])
    assert data["torch_npu.profiler.ProfilerActivity"]["has_NPU"] is True
    assert data["torch.distributed"]["is_hccl_available"]["in_plain_torch"] is False
    assert "is_hccl_available" in data["torch_npu.distributed"]
    assert data["tensor_methods"]["torch.Tensor"] == ["is_npu", "npu"]
    assert data["tensor_methods"]["torch.nn.Module"] == ["npu"]


def test_import_notes(data: dict[str, Any]) -> None:
    notes = " ".join(data["import_notes"])
    assert "_register_device_module('npu', torch_npu.npu)" in notes
    assert "rename_privateuse1_backend('npu')" in notes
    assert "no sys.modules['torch.npu.<sub>'] key" in notes


def _local_wheel(version: str) -> Path | None:
    cached = sorted((Path.home() / ".cache" / "portkit" / "wheels").glob(f"torch_npu-{version}-*.whl"))
    return cached[-1] if cached else None


@pytest.mark.parametrize("version", available_versions())
def test_rederive_matches_shipped_file(version: str) -> None:
    # The README's test command fetches the wheels (scripts/fetch_npu_wheels.py); tests fetch nothing.
    wheel = _local_wheel(version)
    assert wheel is not None, (
        f"no torch_npu {version} wheel in ~/.cache/portkit/wheels: run `python scripts/fetch_npu_wheels.py` "
        "(part of the README's test command)"
    )
    module = _derive_module()
    shipped = json.loads((REPO / "src" / "portkit" / "ruleset" / "data" / f"torch_npu-{version}.json").read_text())
    assert json.loads(json.dumps(module.derive(wheel))) == shipped


# ---- portkit.ruleset.npu_api ---------------------------------------------------------------------------

def test_versions_and_default() -> None:
    assert VERSION in available_versions()
    assert load_npu_api().version == available_versions()[-1]
    assert load_npu_api(VERSION).version == VERSION


def test_unknown_version_names_the_available_ones() -> None:
    with pytest.raises(ValueError, match=VERSION.replace(".", r"\.")):
        load_npu_api("0.0.1")


def test_npu_api_is_frozen_with_frozensets() -> None:
    api = load_npu_api(VERSION)
    assert isinstance(api, NpuApi)
    with pytest.raises(dataclasses.FrozenInstanceError):
        api.version = "x"  # type: ignore[misc]
    assert all(isinstance(v, frozenset) for v in api.namespaces.values())
    assert len(api.exported) == 144 and len(api.cuda_twins()) == 88


@pytest.mark.parametrize("name", [
    "torch.npu.synchronize", "torch.npu.amp.GradScaler", "torch.npu.NPUGraph", "torch.npu.matmul.allow_hf32",
    "torch_npu.npu.mstx.range_push", "torch.distributed.is_hccl_available", "torch.npu.amp", "torch.npu",
    "torch_npu.npu.memory.empty_cache", "torch.npu.default_generators", "torch.npu.conv.allow_hf32",
    "torch_npu.profiler.ProfilerActivity", "torch.Tensor.is_npu", "torch.nn.Module.npu",
    "torch.cuda.get_arch_list",
])
def test_has(name: str) -> None:
    assert load_npu_api(VERSION).has(name)


@pytest.mark.parametrize("name", [
    "torch.npu.get_arch_list", "torch.npu.jiterator", "torch.npu.nvtx", "torch.npu.CUDAGraph",
    "torch.npu.amp.amp_definitely_not_available", "torch.npu.matmul.allow_tf32", "torch.npu.mstx.range",
    "torch.npu.random.fork_rng", "torch.distributed.is_nccl_available", "torch.nope.x", "torch_npu.npu.cudart",
])
def test_has_not(name: str) -> None:
    assert not load_npu_api(VERSION).has(name)


# ---- the torch each release pairs with (its wheel's METADATA) ---------------------------------------

@pytest.mark.parametrize(("version", "torch", "requirement"), [
    ("2.1.0.post17", "2.1.0", "torch==2.1.0+cpu"),
    ("2.6.0", "2.6.0", "torch==2.6.0+cpu"),
    ("2.9.0", "2.9.0", "torch==2.9.0+cpu"),
    ("2.13.0", "2.13.0", "torch==2.13.0.*"),
])
def test_each_release_names_the_torch_it_pairs_with(version: str, torch: str, requirement: str) -> None:
    api = load_npu_api(version)
    assert (api.torch, api.torch_requirement) == (torch, requirement)


def test_every_shipped_release_has_a_torch_pairing() -> None:
    for version in available_versions():
        api = load_npu_api(version)
        assert api.torch and api.torch_requirement.startswith(f"torch=={api.torch}"), version


def _derive_module() -> Any:
    return load_script("derive_npu_api")


@pytest.mark.parametrize(("line", "expected"), [
    ("Requires-Dist: torch (==2.1.0+cpu)", {"requirement": "torch==2.1.0+cpu", "version": "2.1.0"}),
    ("Requires-Dist: torch==2.13.0.*", {"requirement": "torch==2.13.0.*", "version": "2.13.0"}),
    ("Requires-Dist: torch==2.9.0", {"requirement": "torch==2.9.0", "version": "2.9.0"}),
])
def test_requires_torch_reads_both_metadata_spellings(tmp_path: Path, line: str, expected: dict[str, str]) -> None:
    import zipfile

    wheel_path = tmp_path / "torch_npu-9.9.9-py3-none-any.whl"
    with zipfile.ZipFile(wheel_path, "w") as archive:
        archive.writestr("torch_npu-9.9.9.dist-info/METADATA",
                         f"Metadata-Version: 2.1\nName: torch_npu\nRequires-Dist: torchvision\n{line}\n"
                         "Requires-Dist: numpy\n")
    module = _derive_module()
    assert module.requires_torch(module.Wheel(wheel_path)) == expected
