"""The CPU torch_npu that behaves like the real one on a machine without an NPU.

It ships with portkit (src/portkit/pipeline/npu_stub/torch_npu: `portkit trace` runs ported programs
with it); tests/npu_stub, which the example runs put on PYTHONPATH, loads that same file. The probe
goes through tests/npu_stub, so it checks both: one stand-in, reached either way. Each check runs in
a fresh interpreter (the stub renames torch's privateuse1 backend, which cannot be undone).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[1]
STUB = REPO / "tests" / "npu_stub"
SHIPPED = REPO / "src" / "portkit" / "pipeline" / "npu_stub" / "torch_npu" / "__init__.py"
DATA = json.loads((REPO / "src" / "portkit" / "ruleset" / "data" / "torch_npu-2.13.0.json").read_text(encoding="utf-8"))

PROBE = r'''
import inspect, json, sys, warnings
import torch
import torch_npu

def outcome(fn):
    try:
        return ["ok", repr(fn())]
    except Exception as exc:
        return [type(exc).__name__, str(exc)]

out = {}
out["same_module"] = torch.npu is torch_npu.npu is sys.modules["torch.npu"]
out["file"] = torch_npu.__file__
out["dir"] = dir(torch.npu)
out["get_arch_list"] = outcome(lambda: torch.npu.get_arch_list)
out["calls"] = {name: outcome(getattr(torch.npu, name)) for name in
                ["is_available", "device_count", "is_initialized", "current_device", "synchronize", "empty_cache",
                 "memory_allocated", "max_memory_allocated", "reset_peak_memory_stats", "get_device_name",
                 "get_rng_state", "get_rng_state_all", "seed", "Stream", "Event", "NPUGraph", "stress_detect"]}
out["seeding"] = outcome(lambda: (torch.npu.manual_seed(1), torch.npu.manual_seed_all(1), torch.manual_seed(1))[:2])
out["set_device"] = [outcome(lambda: torch.npu.set_device(-1)), outcome(lambda: torch.npu.set_device(0))]
out["scaler_params"] = list(inspect.signature(torch.npu.amp.GradScaler).parameters)
out["autocast_params"] = {k: repr(p.default) for k, p in inspect.signature(torch.npu.amp.autocast).parameters.items()}

x = torch.randn(4, 4)
with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    with torch.npu.amp.autocast():
        inside = (x @ x).dtype
    decorated = torch.npu.amp.autocast()(lambda t: t @ t)(x).dtype
out["autocast"] = [str(inside), str(decorated), [str(w.message) for w in caught]]
with torch.autocast("npu", enabled=False):
    out["torch_autocast_npu"] = str((x @ x).dtype)

with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    scaler = torch.npu.amp.GradScaler()
model = torch.nn.Linear(4, 1)
opt = torch.optim.SGD(model.parameters(), lr=0.5)
before = model.weight.detach().clone()
loss = model(x).sum()
scaled = scaler.scale(loss)
scaled.backward()
scaler.step(opt)
scaler.update()
out["scaler"] = {"identity": scaled is loss, "stepped": not torch.equal(before, model.weight),
                 "state": scaler.state_dict(), "enabled": scaler.is_enabled(),
                 "warned": [str(w.message) for w in caught]}

out["tensor"] = {"is_npu": x.is_npu, "npu": outcome(lambda: x.npu()), "npu0": outcome(lambda: x.npu(0)),
                 "to": outcome(lambda: x.to("npu")), "module_npu": outcome(lambda: model.npu()),
                 "device": str(torch.device("npu:1"))}
out["hccl"] = torch.distributed.is_hccl_available()
out["mstx"] = [torch_npu.npu.mstx.range_push("step"), torch_npu.npu.mstx.range_pop(), torch.npu.mstx.mark("m")]
from torch_npu.npu.amp import GradScaler
from torch_npu.npu.mstx import annotate
import torch_npu.npu.memory
out["imports"] = [GradScaler is torch_npu.npu.amp.GradScaler, torch.npu.memory.empty_cache is torch.npu.empty_cache,
                  sorted(n for n in dir(torch.npu.amp))]
out["submodule_import"] = outcome(lambda: __import__("torch.npu.amp"))
out["options"] = [torch.npu.matmul.allow_hf32, torch.npu.conv.allow_hf32, torch.npu.matmul.allow_tf32]
out["profiler"] = str(torch_npu.profiler.ProfilerActivity.NPU)
print(json.dumps(out))
'''


@pytest.fixture(scope="module")
def probe() -> dict[str, Any]:
    env = {**os.environ, "PYTHONPATH": str(STUB), "TORCH_DEVICE_BACKEND_AUTOLOAD": "0"}
    done = subprocess.run([sys.executable, "-c", PROBE], env=env, capture_output=True, text=True, timeout=300,
                          cwd=STUB)
    assert done.returncode == 0, done.stderr
    result: dict[str, Any] = json.loads(done.stdout.splitlines()[-1])
    return result


def test_torch_npu_is_the_registered_module(probe: dict[str, Any]) -> None:
    assert probe["same_module"] is True
    assert probe["file"] == str(SHIPPED)  # tests/npu_stub hands out the stand-in portkit ships
    assert probe["tensor"]["device"] == "npu:1"


def test_exactly_the_names_of_the_release(probe: dict[str, Any]) -> None:
    expected = set(DATA["torch.npu"]) | set(DATA["torch.npu.submodules"])
    assert {n for n in probe["dir"] if not n.startswith("_")} == expected
    assert probe["get_arch_list"][0] == "AttributeError"


def test_no_device_behaviour(probe: dict[str, Any]) -> None:
    calls = probe["calls"]
    assert calls["is_available"] == ["ok", "False"]
    assert calls["device_count"] == ["ok", "0"]
    assert calls["is_initialized"] == ["ok", "False"]
    assert calls["empty_cache"] == ["ok", "None"]
    assert calls["memory_allocated"] == calls["max_memory_allocated"] == ["ok", "0"]
    assert calls["get_rng_state_all"] == ["ok", "[]"]
    assert calls["seed"] == ["ok", "None"]
    assert probe["seeding"] == ["ok", "(None, None)"]
    for name in ("current_device", "synchronize", "reset_peak_memory_stats", "get_device_name", "get_rng_state",
                 "Stream", "Event"):
        assert calls[name] == ["RuntimeError", "stub: no NPU device"], name
    for name in ("NPUGraph", "stress_detect"):
        assert calls[name] == ["RuntimeError", f"torch_npu stub: {name} needs an NPU"], name
    assert probe["set_device"] == [["ok", "None"], ["RuntimeError", "stub: no NPU device"]]


def test_amp_signatures(probe: dict[str, Any]) -> None:
    assert probe["scaler_params"] == ["init_scale", "growth_factor", "backoff_factor", "growth_interval",
                                      "dynamic", "enabled"]
    assert probe["autocast_params"] == {"enabled": "True", "dtype": "torch.float16", "cache_enabled": "True"}


def test_autocast_is_a_noop_on_cpu(probe: dict[str, Any]) -> None:
    inside, decorated, warned = probe["autocast"]
    assert inside == decorated == "torch.float32"
    assert warned and all("Disabling autocast" in w for w in warned)
    assert probe["torch_autocast_npu"] == "torch.float32"


def test_grad_scaler_is_disabled(probe: dict[str, Any]) -> None:
    scaler = probe["scaler"]
    assert scaler == {"identity": True, "stepped": True, "state": {}, "enabled": False,
                      "warned": ["torch_npu.amp.GradScaler is enabled, but NPU is not available. Disabling."]}


def test_tensor_and_module_methods(probe: dict[str, Any]) -> None:
    tensor = probe["tensor"]
    assert tensor["is_npu"] is False
    for key in ("npu", "to", "module_npu"):
        assert tensor[key][0] == "RuntimeError", key
    assert tensor["npu0"][0] in {"RuntimeError", "NotImplementedError"}  # NotImplementedError is a RuntimeError


def test_extras(probe: dict[str, Any]) -> None:
    assert probe["hccl"] is False
    assert probe["mstx"] == [0, 0, None]
    assert probe["imports"] == [True, True, ["GradScaler", "autocast", "custom_bwd", "custom_fwd"]]
    # like the real wheel, only torch_npu.npu.<sub> is a module path: ported code must use it
    assert probe["submodule_import"][0] == "ModuleNotFoundError"
    assert probe["options"] == [False, True, None]  # unknown names read as None, as in npu_config.py
    assert probe["profiler"] == "ProfilerActivity.NPU"
