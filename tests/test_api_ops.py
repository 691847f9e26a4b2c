"""The API -> ATen operator table and the torch_npu function tables (scripts/derive_api_ops.py):
re-derived from the installed torch and the cached torch-npu wheels, and checked against the
rules that rely on them.

Tracing every Python-level API takes the script about 8 s; the test re-derives the native part
whole and traces a fixed sample of APIs (the script is the same code)."""

from __future__ import annotations

import json
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from portkit.ruleset import load_rules
from portkit.ruleset.api_ops import ApiTable, load_npu_functions, npu_versions
from portkit.ruleset.kinds import Analysis

REPO = Path(__file__).resolve().parents[1]
DATA = REPO / "src" / "portkit" / "ruleset" / "data"
WHEELS = Path.home() / ".cache" / "portkit" / "wheels"
SAMPLE = ["torch.linalg.eigh", "Tensor.item", "torch.nn.functional.silu", "torch.nn.functional.layer_norm",
          "torch.nn.Linear", "torch.nn.MultiheadAttention", "torch.unique", "torch.nn.functional.huber_loss",
          "torch.norm", "torch.nn.functional.cross_entropy", "torch.zeros", "torch.nn.functional.conv2d",
          "torch.nn.functional.embedding", "torch.einsum", "torch.nn.Identity"]
RULES = load_rules(target=None)


def _shipped() -> dict:
    return json.loads((DATA / "api_ops-torch-2.13.0.json").read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def rederived(tmp_path_factory: pytest.TempPathFactory) -> dict:
    out = tmp_path_factory.mktemp("api_ops")
    env = {"TORCH_DEVICE_BACKEND_AUTOLOAD": "0", "OMP_NUM_THREADS": "1", "PYTHONWARNINGS": "ignore",
           "PATH": "/usr/bin:/bin", "HOME": str(Path.home())}
    subprocess.run([sys.executable, str(REPO / "scripts" / "derive_api_ops.py"), "--out-dir", str(out),
                    "--only", *SAMPLE], check=True, capture_output=True, env=env, cwd=REPO)
    return json.loads((out / "api_ops-torch-2.13.0.json").read_text(encoding="utf-8"))


def test_the_sample_rederives_to_the_shipped_entries(rederived: dict) -> None:
    shipped = _shipped()
    assert rederived["torch"] == shipped["torch"]
    assert rederived["tags"] == shipped["tags"]
    assert set(rederived["apis"]) == set(SAMPLE)
    for api in SAMPLE:
        assert rederived["apis"][api] == shipped["apis"][api], api


def test_what_the_table_says_about_known_apis() -> None:
    table = ApiTable.load()
    assert table.lookup("torch.linalg.eigh").ops == ("linalg_eigh",)
    assert table.lookup("torch.nn.functional.silu").via == "traced"
    assert table.lookup("torch.nn.Linear").ops == ("linear",)  # the module's forward, not its construction
    assert table.lookup("torch.zeros").factory and table.lookup("torch.zeros").tensor
    assert not table.lookup("Tensor.item").tensor  # a Python number
    assert table.tagged(table.lookup("torch.nonzero"), "dynamic_output_shape") == ("nonzero",)
    assert table.tagged(table.lookup("Tensor.item"), "data_dependent_output") == ("item",)
    assert table.lookup("torch.nn.Identity").via == "unknown"  # it calls no operator: said, not guessed


@pytest.mark.parametrize("version", npu_versions())
def test_npu_function_tables_rederive_from_the_wheels(version: str) -> None:
    sys.path.insert(0, str(REPO / "scripts"))
    from derive_api_ops import derive_npu

    wheel = next(WHEELS.glob(f"torch_npu-{version}-*.whl"))
    shipped = json.loads((DATA / f"api_ops-npu-{version}.json").read_text(encoding="utf-8"))
    assert json.loads(json.dumps(derive_npu(wheel))) == shipped


def test_every_torch_npu_name_an_analysis_rule_relies_on_exists() -> None:
    for rule in RULES.rules:
        if isinstance(rule.spec, Analysis):
            for name in rule.spec.npu_names:
                assert all(load_npu_functions(v).has(name) for v in npu_versions()), (rule.id, name)


def test_fused_optimizer_replacements_are_its_npu_names() -> None:
    spec = RULES.get("fused-optimizer").spec
    assert set(spec.replacements.values()) == set(spec.npu_names)
    npu = load_npu_functions()
    assert npu.has("torch_npu.optim.NpuFusedAdamW") and not npu.has("torch_npu.optim.NpuFusedAdagrad")


def test_signatures_the_advice_quotes_are_the_wheels() -> None:
    """The defaults the fused-operator advice warns about, read from every release's schema."""
    for version in npu_versions():
        npu = load_npu_functions(version)
        assert "float scale=1., float keep_prob=1." in npu.schema("torch_npu.npu_fusion_attention")
        assert "float epsilon=1e-06) -> (Tensor, Tensor)" in npu.schema("torch_npu.npu_rms_norm")
        assert "str rotary_mode='half'" in npu.schema("torch_npu.npu_rotary_mul")
        assert npu.schema("torch_npu.npu_swiglu").startswith("npu_swiglu(Tensor self, int dim=-1)")


@pytest.mark.parametrize("version", npu_versions())
def test_library_minimums_name_the_versions_of_apis_config(version: str) -> None:
    """npu-library-version covers every library torch_npu's transfer_to_npu patches, and its
    source quotes the version apis_config.json names."""
    wheel = next(WHEELS.glob(f"torch_npu-{version}-*.whl"))
    config = json.loads(zipfile.ZipFile(wheel).read("torch_npu/contrib/apis_config.json"))
    rule = RULES.get("npu-library-version")
    for library, entry in config.items():
        assert library in rule.spec.minimum_versions
        assert f"{library} {entry['version']}" in rule.source
