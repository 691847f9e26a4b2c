"""CPU stand-in for torch_npu: the real plugin on a machine with NO NPU.

`portkit trace` puts the folder above this package (portkit/pipeline/npu_stub) first on the
PYTHONPATH of the program it runs, so ported code's `import torch_npu` gets this module and takes
its no-NPU path on the CPU; the tests run the ported examples with it (tests/npu_stub loads this
file). It never gets autoloaded by `import torch` (no dist-info / entry point here, unlike the
real wheel), and imports only torch and the standard library: it runs in the program's interpreter,
which need not have portkit installed. PORTKIT_NPU_STUB_VERSION picks the release it mirrors.

What it mirrors from the real torch_npu 2.13 (torch_npu/_init/registry/backend.py):
  * torch.utils.rename_privateuse1_backend("npu")    -> torch.device("npu") works
  * torch._register_device_module("npu", npu)         -> torch.npu, sys.modules["torch.npu"]
  * torch.utils.generate_methods_for_privateuse1_backend(for_tensor, for_module, for_storage)
                                                      -> Tensor.npu / Tensor.is_npu / Module.npu / storages
  * torch.distributed gets the names torch_npu patches onto it that plain torch lacks
    (is_hccl_available -> False).
torch.npu exposes exactly the names of portkit/ruleset/data/torch_npu-<version>.json ("torch.npu" +
"torch.npu.submodules"); any other name is an AttributeError.

Where it differs on purpose:
  * sys.modules["torch.npu.amp"] (and the other torch.npu.<sub>) are registered as aliases.  The
    real wheel registers only "torch.npu"; there `import torch.npu.amp` re-executes the amp
    package as a second module object.  Here there are no files behind torch.npu, so an alias
    is the only way the import works, and it gives the same objects as torch_npu.npu.amp.
  * torch.npu.amp.autocast warns and disables itself when no NPU is available, like
    torch.cuda.amp.autocast on a CPU-only box (the real NPU class has no such check).
  * Functions are mirrored on what torch.cuda does on this CPU build, name by name: values
    that need no device (is_available -> False, memory_allocated -> 0, ...), lazy no-ops
    (manual_seed, empty_cache, set_rng_state ...), and RuntimeError("stub: no NPU device")
    where torch.cuda raises.  Every other name raises
    RuntimeError("torch_npu stub: <name> needs an NPU") when called/instantiated.
"""

from __future__ import annotations

import enum
import json
import os
import sys
import types
import warnings
from collections import OrderedDict
from collections.abc import Callable
from pathlib import Path
from typing import Any, NoReturn

import torch
import torch.distributed

# portkit/ruleset/data, found from this file (portkit/pipeline/npu_stub/torch_npu/__init__.py)
# rather than imported: the program's interpreter may not have portkit installed
_DATA = Path(__file__).resolve().parents[3] / "ruleset" / "data"
_VERSION = os.environ.get("PORTKIT_NPU_STUB_VERSION", "2.13.0")
API: dict[str, Any] = json.loads((_DATA / f"torch_npu-{_VERSION}.json").read_text(encoding="utf-8"))
__version__: str = API["version"]
NO_DEVICE = "stub: no NPU device"


def _no_device(*_args: Any, **_kwargs: Any) -> NoReturn:
    raise RuntimeError(NO_DEVICE)


def _needs_npu(name: str) -> Any:
    """A stand-in for a name the stub gives no behaviour: raises when called or instantiated.
    Capitalised names become classes so isinstance() and annotations still work."""
    message = f"torch_npu stub: {name} needs an NPU"

    def refuse(*_args: Any, **_kwargs: Any) -> NoReturn:
        raise RuntimeError(message)

    if name[:1].isupper():
        return type(name, (), {"__new__": refuse, "__doc__": message})
    refuse.__name__ = refuse.__qualname__ = name
    return refuse


def _device_index(device: Any) -> int:
    if isinstance(device, torch.device):
        return -1 if device.index is None else device.index
    if isinstance(device, str):
        return _device_index(torch.device(device))
    return -1 if device is None else int(device)


def _module(name: str, names: list[str], impl: dict[str, Any]) -> types.ModuleType:
    """A module holding exactly `names` (impl[name] or a stand-in); other attributes raise
    AttributeError and dir() lists just these names."""
    module = types.ModuleType(name)
    public = sorted(names)
    for attr in public:
        setattr(module, attr, impl[attr] if attr in impl else _needs_npu(attr))

    def __getattr__(attr: str) -> NoReturn:
        raise AttributeError(f"module {name!r} has no attribute {attr!r} (not in torch_npu {__version__})")

    module.__getattr__ = __getattr__  # type: ignore[method-assign]
    module.__dir__ = lambda: list(public)  # type: ignore[method-assign]
    return module


# ---- torch.npu: behaviour of the commonly used names, as torch.cuda on a CPU-only build -------

def is_available() -> bool:
    return False


def device_count() -> int:
    return 0


def is_initialized() -> bool:
    return False


def set_device(device: Any) -> None:
    # torch.cuda.set_device ignores a negative index without touching the device
    if _device_index(device) >= 0:
        raise RuntimeError(NO_DEVICE)


def _noop(*_args: Any, **_kwargs: Any) -> None:
    """Seeding, set_rng_state and empty_cache: torch.cuda queues or skips them until a device exists."""


def _zero(device: Any = None) -> int:
    return 0


def _empty_stats(device: Any = None) -> OrderedDict[str, Any]:
    return OrderedDict()


def get_rng_state_all() -> list[torch.Tensor]:
    return []  # one state per device, and there are none


def get_device_capability(device: Any = None) -> tuple[int, int] | None:
    # the real torch_npu needs no device here: None (with a warning) unless the env var is set
    value = os.environ.get("TORCH_NPU_DEVICE_CAPABILITY", "")
    warnings.warn("The return value of get_device_capability is only for compatibility with PyTorch "
                  "and does not represent the actual capability of the NPU device.", stacklevel=2)
    major, _, minor = value.partition(".")
    return (int(major), int(minor)) if major.isdigit() and minor.isdigit() else None


def get_amp_supported_dtype() -> list[torch.dtype]:
    # what the real one returns when is_bf16_supported() is False; torch.autocast("npu") calls it
    return [torch.float16, torch.float32]


class Stream:
    def __new__(cls, *_args: Any, **_kwargs: Any) -> Stream:
        raise RuntimeError(NO_DEVICE)  # torch.cuda.Stream raises RuntimeError on a CPU build


class Event:
    def __new__(cls, *_args: Any, **_kwargs: Any) -> Event:
        raise RuntimeError(NO_DEVICE)


class mstx:
    """torch.npu.mstx is a class of static methods in the real wheel; here they do nothing."""

    @staticmethod
    def mark(message: str, stream: Any = None, domain: str = "default") -> None:
        return None

    @staticmethod
    def range_push(message: str, stream: Any = None, domain: str = "default") -> int:
        return 0

    @staticmethod
    def range_pop(domain: str = "default") -> int:
        return 0

    @staticmethod
    def range_start(message: str, stream: Any = None, domain: str = "default") -> int:
        return 0

    @staticmethod
    def range_end(range_id: int, domain: str = "default") -> None:
        return None

    @staticmethod
    def mstx_range(message: str, stream: Any = None, domain: str = "default") -> Callable[[Any], Any]:
        return lambda func: func


class annotate:
    """torch_npu.npu.mstx.annotate: a no-op context manager and decorator."""

    def __init__(self, message: str = "", stream: Any = None, domain: str = "default") -> None:
        pass

    def __enter__(self) -> annotate:
        return self

    def __exit__(self, *_exc: Any) -> None:
        return None

    def __call__(self, func: Callable[..., Any]) -> Callable[..., Any]:
        return func


class CubeMathType(enum.IntEnum):  # npu_config._CubeMathType
    KEEP_DTYPE = 0
    ALLOW_FP32_DOWN_PRECISION = 1
    USE_FP16 = 2
    USE_HF32 = 3
    USE_FP32_ADD = 4


class _Options:
    """torch.npu.matmul / conv / config.  As in npu_config.py: setting an unknown attribute is
    silently ignored; reading one gives None where the class has a __getattr__ (matmul, conv)
    and AttributeError where it has none (config)."""

    def __init__(self, qualname: str, defaults: dict[str, Any]) -> None:
        access = API["attribute_access"][qualname]
        object.__setattr__(self, "_settable", set(access["set"]))
        object.__setattr__(self, "_gettable", set(access["get"]))
        object.__setattr__(self, "_values", dict(defaults))

    def __setattr__(self, name: str, value: Any) -> None:
        if name == "allow_hf32" and not isinstance(value, bool):
            raise TypeError(f"allow_hf32 must be a bool, but got {type(value).__name__}")
        if name in self._settable:
            self._values[name] = value

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_") or not self._gettable:
            raise AttributeError(name)
        return self._values.get(name) if name in self._gettable else None


# ---- torch.npu.amp --------------------------------------------------------------------------

class autocast(torch.amp.autocast_mode.autocast):
    """torch.npu.amp.autocast(enabled=True, dtype=torch.float16, cache_enabled=True)."""

    def __init__(self, enabled: bool = True, dtype: torch.dtype = torch.float16, cache_enabled: bool = True) -> None:
        if enabled and not is_available():
            warnings.warn("NPU is not available. Disabling autocast.", stacklevel=2)
            enabled = False
        super().__init__("npu", enabled=enabled, dtype=dtype, cache_enabled=cache_enabled)


class GradScaler(torch.amp.GradScaler):
    """torch.npu.amp.GradScaler with the real positional order: `dynamic` comes before `enabled`."""

    def __init__(self, init_scale: float = 2.0**16, growth_factor: float = 2.0, backoff_factor: float = 0.5,
                 growth_interval: int = 2000, dynamic: bool = True, enabled: bool = True) -> None:
        if enabled and not is_available():
            # the real class's words and behaviour when amp_definitely_not_available()
            warnings.warn("torch_npu.amp.GradScaler is enabled, but NPU is not available. Disabling.", stacklevel=2)
            enabled = False
        super().__init__("npu", init_scale, growth_factor, backoff_factor, growth_interval, enabled=enabled)
        self._dynamic = dynamic

    def state_dict(self) -> dict[str, Any]:
        state = super().state_dict()
        if self._enabled:
            state["dynamic"] = self._dynamic
        return state


def custom_fwd(fwd: Any = None, *, cast_inputs: torch.dtype | None = None) -> Any:
    return torch.amp.custom_fwd(fwd, device_type="npu", cast_inputs=cast_inputs)


def custom_bwd(bwd: Any = None) -> Any:
    return torch.amp.custom_bwd(bwd, device_type="npu")


amp = _module("torch_npu.npu.amp", API["torch.npu.amp"],
              {"autocast": autocast, "GradScaler": GradScaler, "custom_fwd": custom_fwd, "custom_bwd": custom_bwd})

# ---- assemble torch_npu.npu -------------------------------------------------------------------

_IMPL: dict[str, Any] = {
    "is_available": is_available, "device_count": device_count, "is_initialized": is_initialized,
    "set_device": set_device, "get_rng_state_all": get_rng_state_all,
    "get_device_capability": get_device_capability, "get_amp_supported_dtype": get_amp_supported_dtype,
    "is_bf16_supported": lambda: False,  # as torch.cuda on a CPU build
    "is_autocast_enabled": lambda: torch.is_autocast_enabled("npu"),
    "set_autocast_enabled": lambda enable: torch.set_autocast_enabled("npu", enable),
    "get_autocast_dtype": lambda: torch.get_autocast_dtype("npu"),
    "set_autocast_dtype": lambda dtype: torch.set_autocast_dtype("npu", dtype),
    "Stream": Stream, "Event": Event, "mstx": mstx, "CubeMathType": CubeMathType, "amp": amp,
    "matmul": _Options("torch.npu.matmul", {"allow_hf32": False}),
    "conv": _Options("torch.npu.conv", {"allow_hf32": True}),
    "config": _Options("torch.npu.config", {}),
    "default_generators": (),
    **dict.fromkeys(["manual_seed", "manual_seed_all", "seed", "seed_all", "set_rng_state",
                     "set_rng_state_all", "empty_cache", "host_empty_cache"], _noop),
    **dict.fromkeys(["memory_allocated", "max_memory_allocated", "memory_reserved", "max_memory_reserved",
                     "memory_cached", "max_memory_cached"], _zero),
    **dict.fromkeys(["memory_stats", "host_memory_stats"], _empty_stats),
    "memory_stats_as_nested_dict": lambda device=None: {},
    **dict.fromkeys(["current_device", "synchronize", "init", "initial_seed", "get_rng_state",
                     "get_device_name", "get_device_properties", "mem_get_info", "reset_peak_memory_stats",
                     "reset_max_memory_allocated", "reset_accumulated_memory_stats", "current_stream",
                     "default_stream", "ipc_collect", "utilization"], _no_device),
}
_NPU_NAMES: list[str] = API["torch.npu"] + API["torch.npu.submodules"]
_submodules: dict[str, types.ModuleType] = {"amp": amp}
for _name, _exports in API["torch.npu.submodule_exports"].items():
    _submodules[_name] = _module(f"torch_npu.npu.{_name}", _exports,
                                 {n: _IMPL[n] for n in _exports if n in _IMPL})
    _IMPL.setdefault(_name, _submodules[_name])
npu = _module("torch_npu.npu", _NPU_NAMES, _IMPL)
npu._is_in_bad_fork = lambda: False  # type: ignore[attr-defined]  # torch.manual_seed asks for it
_submodules["mstx"] = _module("torch_npu.npu.mstx", ["mstx", "annotate"], {"mstx": mstx, "annotate": annotate})

class _NullProfile:
    """torch_npu.profiler.profile that records nothing (context manager, start/stop/step)."""

    def __init__(self, *_args: Any, **_kwargs: Any) -> None:
        pass

    def __enter__(self) -> _NullProfile:
        return self

    def __exit__(self, *_exc: Any) -> None:
        return None

    start = stop = step = _noop


_PROFILER = {
    "ProfilerActivity": torch.profiler.ProfilerActivity,  # gets .NPU from rename_privateuse1_backend
    "ProfilerAction": torch.profiler.ProfilerAction,
    "schedule": torch.profiler.schedule,
    "profile": _NullProfile,
    "tensorboard_trace_handler": lambda *args, **kwargs: _noop,
}
profiler = _module("torch_npu.profiler", API["torch_npu.profiler"], _PROFILER)


def is_hccl_available() -> bool:
    return False


distributed = _module("torch_npu.distributed", API["torch_npu.distributed"], {"is_hccl_available": is_hccl_available})

# ---- registration, in the order of torch_npu/_init/registry/backend.py ------------------------

torch.utils.rename_privateuse1_backend("npu")  # type: ignore[attr-defined]
torch._register_device_module("npu", npu)  # type: ignore[no-untyped-call]  # sets torch.npu, sys.modules["torch.npu"]
torch.utils.generate_methods_for_privateuse1_backend(  # type: ignore[attr-defined]
    for_tensor=True, for_module=True, for_storage=True,
    unsupported_dtype=[torch.quint8, torch.quint4x2, torch.quint2x4, torch.qint32, torch.qint8])
torch.nn.parameter.UninitializedTensorMixin._allowed_methods.append(torch.Tensor.npu)  # type: ignore[attr-defined]

# Once the backend is renamed, torch asks PrivateUse1's C++ hooks which accelerator is present
# (dist.barrier() does, even on gloo). The real plugin registers those hooks from its C
# extension; Python cannot. Without a device, "no accelerator" is the honest answer: CPU.
_get_accelerator = torch._C._get_accelerator


def _get_accelerator_or_cpu(*args: Any, **kwargs: Any) -> torch.device:
    try:
        return _get_accelerator(*args, **kwargs)
    except RuntimeError:
        return torch.device("cpu")


torch._C._get_accelerator = _get_accelerator_or_cpu

sys.modules["torch_npu.npu"] = npu
for _name, _mod in _submodules.items():
    # Only torch_npu.npu.<sub> is a real module path. The real wheel registers no
    # sys.modules["torch.npu.<sub>"]: `import torch.npu.amp` re-executes the files as a second,
    # different module, so ported code must not do it and the stub makes it fail loudly.
    sys.modules[f"torch_npu.npu.{_name}"] = _mod
sys.modules["torch_npu.profiler"] = profiler
# `from torch_npu.contrib import transfer_to_npu` (--strategy shim): with no NPU the real switch
# leaves every CUDA call on its CPU path, so the stand-in is an empty module
contrib = types.ModuleType("torch_npu.contrib")
contrib.transfer_to_npu = types.ModuleType("torch_npu.contrib.transfer_to_npu")  # type: ignore[attr-defined]
sys.modules["torch_npu.contrib"] = contrib
sys.modules["torch_npu.contrib.transfer_to_npu"] = contrib.transfer_to_npu  # type: ignore[attr-defined]
sys.modules["torch_npu.distributed"] = distributed
for _name, _info in API["torch.distributed"].items():  # only what plain torch lacks
    if not _info["in_plain_torch"]:
        setattr(torch.distributed, _name, getattr(distributed, _name))
