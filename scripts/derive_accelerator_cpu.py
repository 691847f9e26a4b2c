#!/usr/bin/env python3
"""Derive what the device-agnostic spellings do on a machine without an accelerator
(src/portkit/ruleset/data/accelerator_cpu-torch-<version>.json; docs/accelerator.md).

`--target accelerator` promises that ported code behaves on a CPU-only machine exactly as the
original behaved without a GPU. Whether a rename keeps that promise is a fact about torch, so it
is measured here, on the installed torch, never remembered:

- `torch_cpu`: the names torch.cpu exports (the `__all__` of torch/cpu/__init__.py, read with
  ast) — what `torch.get_device_module()` offers where there is no accelerator;
- `calls`: each torch.cuda function portkit could rename (the accelerator-api pairs, and
  every other torch.cuda name the NPU target converts, as `torch.get_device_module().X`) called
  on this machine with the arguments of `PROBE_ARGUMENTS`, old spelling and new; each outcome is
  a returned value (with its Python literal when it has one) or the exception raised;
- a verdict per name (`VERDICTS`) that rules/accelerator.toml must follow
  (tests/test_accelerator_cpu_path.py checks it);
- `autocast`: whether autocast and GradScaler are on for the device types a port may write.

    python scripts/derive_accelerator_cpu.py [--out-dir DIR]
"""

from __future__ import annotations

import argparse
import ast
import json
import sys
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
DATA = REPO / "src" / "portkit" / "ruleset" / "data"

# what each verdict means for the rule (docs/accelerator.md)
VERDICTS = {
    "same": "rename: both return equal values, or both raise, on this machine",
    "guard": "rename behind `torch.accelerator.is_available()`: the original returns `otherwise` here, the new spelling does not",
    "cuda-raised": "rename: the original raises here, the new spelling works (no working CPU path reaches it)",
    "differs": "leave and report: the original returns a value here that the new spelling does not, and it has no literal to guard with",
    "absent": "leave and report: torch.cpu has no such name and the original raises here too",
}

# arguments for the probes that need some; every other name is called without arguments
PROBE_ARGUMENTS: dict[str, Callable[[], tuple[Any, ...]]] = {
    "set_device": lambda: (0,),
    "set_stream": lambda: (None,),
    "get_device_properties": lambda: (0,),
    "can_device_access_peer": lambda: (0, 1),
    "caching_allocator_alloc": lambda: (16,),
    "caching_allocator_delete": lambda: (0,),
    "change_current_allocator": lambda: (None,),
    "device": lambda: (0,),
    "device_of": lambda: (_torch().zeros(1),),
    "stream": lambda: (None,),
    "StreamContext": lambda: (None,),
    "ExternalStream": lambda: (0,),
    "graph": lambda: (None,),
    "make_graphed_callables": lambda: (None, ()),
    "set_per_process_memory_fraction": lambda: (0.5,),
    "set_rng_state": lambda: (_torch().get_rng_state(),),
    "set_rng_state_all": lambda: ([],),
    "set_sync_debug_mode": lambda: (0,),
    "manual_seed": lambda: (0,),
    "manual_seed_all": lambda: (0,),
    "use_mem_pool": lambda: (None,),
}

# the pairs torch.accelerator has a function for (rules/accelerator.toml, accelerator-api)
ACCELERATOR_RENAMES = {
    "is_available": "is_available", "device_count": "device_count", "synchronize": "synchronize",
    "current_stream": "current_stream", "set_stream": "set_stream", "set_device": "set_device_index",
    "current_device": "current_device_index", "empty_cache": "empty_cache",
    "memory_allocated": "memory_allocated", "max_memory_allocated": "max_memory_allocated",
    "memory_reserved": "memory_reserved", "max_memory_reserved": "max_memory_reserved",
    "memory_stats": "memory_stats", "reset_peak_memory_stats": "reset_peak_memory_stats",
    "reset_accumulated_memory_stats": "reset_accumulated_memory_stats", "mem_get_info": "get_memory_info",
}

# legacy typed tensors and storages: reported by accelerator-typed-tensor, never renamed
_TYPED = ("Tensor", "Storage")


def _torch() -> Any:
    import torch

    return torch


def torch_cpu_names(torch: Any) -> list[str]:
    """torch.cpu's `__all__`, read from its source (what it promises, not what it happens to hold)."""
    source = Path(torch.__file__).parent / "cpu" / "__init__.py"
    for node in ast.parse(source.read_text(encoding="utf-8")).body:
        if isinstance(node, ast.Assign) and any(getattr(t, "id", None) == "__all__" for t in node.targets):
            return sorted(ast.literal_eval(node.value))
    raise SystemExit(f"no __all__ in {source}")


def literal(value: Any) -> str | None:
    """The Python literal that evaluates to a value equal to `value` (an OrderedDict as `{}`)."""
    if isinstance(value, dict) and not value:
        return "{}"
    try:
        text = repr(value)
        return text if ast.literal_eval(text) == value else None
    except (ValueError, SyntaxError, TypeError):
        return None


def outcome(function: Callable[[], Any]) -> dict[str, Any]:
    """What a call does here: {"returns": repr, "literal": ...} or {"raises": type, "message": ...}."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            value = function()
        except Exception as error:  # noqa: BLE001 - any exception is the fact being recorded
            return {"raises": type(error).__name__, "message": str(error).splitlines()[0][:120] if str(error) else ""}
    return {"returns": type(value).__name__, "literal": literal(value)}


def _call(owner: Any, name: str) -> Callable[[], Any]:
    def run() -> Any:
        return getattr(owner, name)(*PROBE_ARGUMENTS.get(name, tuple)())
    return run


def verdict(old: dict[str, Any], new: dict[str, Any], present: bool) -> str:
    if "returns" in old:
        if "returns" in new and new["literal"] == old["literal"] and (
                old["literal"] is not None or new["returns"] == old["returns"]):
            return "same"
        return "guard" if old["literal"] is not None else "differs"
    if not present:
        return "absent"
    return "same" if "raises" in new else "cuda-raised"


def probe_calls(torch: Any, cpu_names: list[str], cuda_names: list[str]) -> dict[str, dict[str, Any]]:
    """Each candidate torch.cuda name, old spelling and new, called here."""
    assert torch.get_device_module() is torch.cpu, "run this where torch has no accelerator"
    calls: dict[str, dict[str, Any]] = {}
    for name in cuda_names:
        if name.endswith(_TYPED):
            continue
        if name in ACCELERATOR_RENAMES:
            new_name, owner, present = f"torch.accelerator.{ACCELERATOR_RENAMES[name]}", torch.accelerator, True
            attribute = ACCELERATOR_RENAMES[name]
        else:
            new_name, owner, present = f"torch.get_device_module().{name}", torch.cpu, name in cpu_names
            attribute = name
        old = outcome(_call(torch.cuda, name))
        new = outcome(_call(owner, attribute))
        calls[f"torch.cuda.{name}"] = {"new": new_name, "arguments": len(PROBE_ARGUMENTS.get(name, tuple)()),
                                       "old": old, "cpu": new, "verdict": verdict(old, new, present)}
    return calls


def probe_autocast(torch: Any) -> dict[str, Any]:
    """Is autocast / GradScaler on, for each device type a port may write, on this machine?"""
    facts: dict[str, Any] = {}
    for device_type in ("cuda", "cpu"):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            with torch.autocast(device_type, enabled=True):
                facts[f"autocast({device_type!r}) enabled"] = torch.is_autocast_enabled(device_type)
            scaler = torch.amp.GradScaler(device_type, enabled=True)
            facts[f"GradScaler({device_type!r}) enabled"] = scaler.is_enabled()
    return facts


def derive() -> dict[str, Any]:
    torch = _torch()
    cpu_names = torch_cpu_names(torch)
    from portkit.ruleset import load_rules

    universe = sorted(n.removeprefix("torch.cuda.") for n in load_rules().get("cuda-api").spec.renames
                      if n.startswith("torch.cuda.") and n.count(".") == 2)
    return {
        "torch": torch.__version__.split("+")[0],
        "derived_by": "scripts/derive_accelerator_cpu.py (torch " + torch.__version__ + ", no accelerator)",
        "verdicts": VERDICTS,
        "torch_cpu": cpu_names,
        "calls": probe_calls(torch, cpu_names, universe),
        "autocast": probe_autocast(torch),
    }


def output_path(version: str, out_dir: Path = DATA) -> Path:
    return out_dir / f"accelerator_cpu-torch-{version}.json"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out-dir", type=Path, default=DATA)
    args = parser.parse_args(argv)
    data = derive()
    path = output_path(data["torch"], args.out_dir)
    path.write_text(json.dumps(data, indent=1, sort_keys=True) + "\n", encoding="utf-8")
    counts: dict[str, int] = {}
    for entry in data["calls"].values():
        counts[entry["verdict"]] = counts.get(entry["verdict"], 0) + 1
    print(f"{path}: {counts}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
