"""What a torch_npu release offers, read from the JSON files shipped in portkit.ruleset.data.

The files are written by scripts/derive_npu_api.py from the release's wheel.  Namespaces:
"torch.npu" (its __all__ plus the submodules/attributes reachable without being exported),
"torch.npu.<submodule>", "torch.npu.amp", "torch.npu.mstx", "torch.npu.matmul"/"conv"/"config",
"torch_npu.profiler", "torch_npu.distributed", "torch.distributed" (only the names torch_npu
patches onto it), "torch.Tensor"/"torch.nn.Module"/storages (only the npu methods), and the
plain-torch "torch.cuda", "torch.cuda.amp", "torch.cuda.nvtx" used to find CUDA names without a twin;
and "requires_torch", the torch release the wheel pins (`NpuApi.torch`).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from types import MappingProxyType
from typing import Any

_PACKAGE = "portkit.ruleset.data"
_FILE = re.compile(r"^torch_npu-(?P<version>\d[\w.+-]*)\.json$")


def _version_key(version: str) -> tuple[int, ...]:
    return tuple(int(part) for part in re.findall(r"\d+", version))


def _canonical(qualified_name: str) -> str:
    """'torch_npu.npu.X' is the same object as 'torch.npu.X'."""
    if qualified_name == "torch_npu.npu" or qualified_name.startswith("torch_npu.npu."):
        return "torch.npu" + qualified_name[len("torch_npu.npu"):]
    return qualified_name


@dataclass(frozen=True)
class NpuApi:
    """The names one torch_npu release provides, per namespace."""

    version: str
    exported: frozenset[str]  # torch.npu.__all__ (what transfer_to_npu copies onto torch.cuda)
    namespaces: Mapping[str, frozenset[str]] = field(hash=False, repr=False)
    torch: str = ""  # the torch release this torch_npu is built for (its wheel's Requires-Dist)
    torch_requirement: str = ""  # that requirement as the wheel writes it: torch==2.6.0+cpu

    def names(self, namespace: str) -> frozenset[str]:
        """Names in a namespace ('torch.npu', 'torch_npu.npu.amp', ...); empty if unknown."""
        return self.namespaces.get(_canonical(namespace), frozenset())

    def has(self, qualified_name: str) -> bool:
        """Whether e.g. 'torch.npu.synchronize' or 'torch.npu.matmul.allow_hf32' exists."""
        name = _canonical(qualified_name)
        if name in self.namespaces:
            return True
        namespace, _, attr = name.rpartition(".")
        return attr in self.namespaces.get(namespace, frozenset())

    def cuda_twins(self) -> frozenset[str]:
        """torch.cuda.__all__ names that torch.npu.__all__ also has under the same name."""
        return self.exported & self.names("torch.cuda")


def _namespaces(data: Mapping[str, Any]) -> dict[str, frozenset[str]]:
    found: dict[str, frozenset[str]] = {
        "torch.npu": frozenset(data["torch.npu"]) | frozenset(data["torch.npu.submodules"]),
        "torch.distributed": frozenset(data["torch.distributed"]),
    }
    for sub, names in data["torch.npu.submodule_exports"].items():
        found[f"torch.npu.{sub}"] = frozenset(names)
    for key in ("torch.npu.amp", "torch.npu.mstx", "torch.npu.matmul", "torch.npu.conv", "torch.npu.config",
                "torch_npu.profiler", "torch_npu.distributed", "torch.cuda", "torch.cuda.amp", "torch.cuda.nvtx"):
        found[key] = frozenset(data[key])  # a list of names, or a dict keyed by name
    for owner, methods in data["tensor_methods"].items():
        if isinstance(methods, list):
            found[owner] = frozenset(methods)
    return found


def _files() -> dict[str, Any]:
    return {m["version"]: entry for entry in resources.files(_PACKAGE).iterdir()
            if (m := _FILE.match(entry.name))}


def available_versions() -> list[str]:
    """Versions with shipped data, oldest first."""
    return sorted(_files(), key=_version_key)


@cache
def load_npu_api(version: str | None = None) -> NpuApi:
    """The API of one torch_npu release (default: the newest shipped)."""
    files = _files()
    if not files:
        raise ValueError(f"no torch_npu API data in {_PACKAGE}")
    chosen = version if version is not None else available_versions()[-1]
    if chosen not in files:
        raise ValueError(f"no torch_npu API data for version {chosen!r}; available: {', '.join(available_versions())}")
    data = json.loads(files[chosen].read_text(encoding="utf-8"))
    return NpuApi(version=data["version"], exported=frozenset(data["torch.npu"]),
                  namespaces=MappingProxyType(_namespaces(data)), torch=data["requires_torch"]["version"],
                  torch_requirement=data["requires_torch"]["requirement"])
