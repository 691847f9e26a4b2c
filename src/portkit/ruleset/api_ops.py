"""Which ATen operators a public torch API reaches, and which fused operators a torch_npu release
exposes, read from the tables in portkit.ruleset.data.

scripts/derive_api_ops.py writes them (docs/analysis.md):

- ``api_ops-torch-<version>.json``: ``torch.X``, ``torch.nn.functional.X``, ``torch.linalg/fft/
  special.X``, ``Tensor.X`` and ``torch.nn.<Module>`` -> the ATen operators a call reaches
  (native bindings by torchgen's naming, Python-level APIs traced on CPU tensors), whether the
  call returns one tensor, and the operators torch tags ``dynamic_output_shape`` /
  ``data_dependent_output``;
- ``api_ops-npu-<release>.json``: the ``torch_npu.<op>`` functions of a torch_npu release with
  their schemas, and ``torch_npu.optim``'s optimizers.

``ApiTable.load().lookup("torch.linalg.eigh").ops`` is ``('linalg_eigh',)``; coverage of those
operators on the NPU is portkit.ruleset.operators' business.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from types import MappingProxyType
from typing import Any, Literal

_PACKAGE = "portkit.ruleset.data"
_TORCH_FILE = re.compile(r"^api_ops-torch-(?P<version>\d[\w.+-]*)\.json$")
_NPU_FILE = re.compile(r"^api_ops-npu-(?P<version>\d[\w.+-]*)\.json$")
DYNAMIC_SHAPE = "dynamic_output_shape"
DATA_DEPENDENT = "data_dependent_output"


def _version_key(version: str) -> tuple[int, ...]:
    return tuple(int(part) for part in re.findall(r"\d+", version))


@dataclass(frozen=True)
class ApiOps:
    """The ATen operators one API reaches."""

    api: str  # 'torch.linalg.eigh', 'Tensor.item', 'torch.nn.functional.silu', 'torch.nn.Linear'
    ops: tuple[str, ...]  # native: the overloads one of which a call reaches; traced: what one call reached
    via: Literal["native", "traced", "unknown"]
    traced: str | None = None  # the made-up input of a trace
    reason: str | None = None  # why an unknown API has no operators
    tensor: bool = False  # a call returns one tensor (every overload does; the traced call did)
    factory: bool = False  # takes a device and no tensor: without device= its result is on the host


@dataclass(frozen=True, eq=False)
class ApiTable:
    """The API -> operator table of one torch release."""

    torch_version: str
    apis: Mapping[str, ApiOps] = field(repr=False)
    tags: Mapping[str, frozenset[str]] = field(repr=False)  # op -> the tags above

    @classmethod
    def load(cls) -> ApiTable:
        """The table of the newest torch shipped; cached per process."""
        return _load_torch()

    def lookup(self, api: str) -> ApiOps | None:
        return self.apis.get(api)

    def tagged(self, api: ApiOps, tag: str) -> tuple[str, ...]:
        """The operators of `api` that torch tags with `tag`."""
        return tuple(op for op in api.ops if tag in self.tags.get(op, ()))


@dataclass(frozen=True, eq=False)
class NpuFunctions:
    """The fused operators (``torch_npu.npu_*``) and optimizers one torch_npu release exposes."""

    version: str
    functions: Mapping[str, str | None] = field(repr=False)  # name -> its schema (None: not in the yaml)
    optimizers: frozenset[str] = field(repr=False)

    def has(self, qualified: str) -> bool:
        """Whether 'torch_npu.npu_rms_norm' / 'torch_npu.optim.NpuFusedAdamW' exists in this release."""
        if qualified.startswith("torch_npu.optim."):
            return qualified.removeprefix("torch_npu.optim.") in self.optimizers
        return qualified.startswith("torch_npu.") and qualified.removeprefix("torch_npu.") in self.functions

    def schema(self, qualified: str) -> str | None:
        return self.functions.get(qualified.removeprefix("torch_npu."))


def _files(pattern: re.Pattern[str]) -> dict[str, Any]:
    return {m["version"]: entry for entry in resources.files(_PACKAGE).iterdir() if (m := pattern.match(entry.name))}


def npu_versions() -> list[str]:
    """torch_npu releases with a shipped function table, oldest first."""
    return sorted(_files(_NPU_FILE), key=_version_key)


def _api(name: str, entry: Mapping[str, Any]) -> ApiOps:
    if "unknown" in entry:
        return ApiOps(name, (), "unknown", reason=entry["unknown"])
    return ApiOps(name, tuple(entry["ops"]), entry["via"], traced=entry.get("traced"),
                  tensor=entry.get("tensor", False), factory=entry.get("factory", False))


@cache
def _load_torch() -> ApiTable:
    files = _files(_TORCH_FILE)
    if not files:
        raise ValueError(f"no API operator table in {_PACKAGE}")
    data = json.loads(files[max(files, key=_version_key)].read_text(encoding="utf-8"))
    return ApiTable(torch_version=data["torch"]["version"],
                    apis=MappingProxyType({name: _api(name, entry) for name, entry in data["apis"].items()}),
                    tags=MappingProxyType({op: frozenset(tags) for op, tags in data["tags"].items()}))


@cache
def load_npu_functions(version: str | None = None) -> NpuFunctions:
    """The functions of one torch_npu release (default: the newest shipped); cached per process."""
    files = _files(_NPU_FILE)
    chosen = version if version is not None else (npu_versions() or [""])[-1]
    if chosen not in files:
        raise ValueError(f"no torch_npu function table for version {chosen!r}; available: {', '.join(npu_versions())}")
    data = json.loads(files[chosen].read_text(encoding="utf-8"))
    return NpuFunctions(version=data["version"], functions=MappingProxyType(dict(data["functions"])),
                        optimizers=frozenset(data["optim"]))


def first_release_with(qualified: str) -> str | None:
    """The oldest shipped torch_npu release that has the name, if any."""
    return next((v for v in npu_versions() if load_npu_functions(v).has(qualified)), None)
