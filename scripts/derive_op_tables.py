#!/usr/bin/env python3
"""Derive the operator tables of portkit.ruleset.operators from the real wheels (docs/operators.md).

ATen, from the installed torch -> data/aten_ops-torch-<version>.json: every operator of its
native_functions.yaml, its dispatch keys, the kernel torch's dispatcher gives an NPU (PrivateUse1)
tensor without a torch_npu registration, and the operators that kernel calls when it runs on small
CPU tensors under a TorchDispatchMode (torch's own code, in a subprocess).  torch_npu, from a wheel
read with zipfile (never imported) -> data/npu_ops-<version>.json: its yaml sections, and what it
does with an operator it does not register.

    python scripts/derive_op_tables.py [--aten-only | --npu-only] [WHEEL...]   # default: cached wheels
"""

from __future__ import annotations

import argparse
import hashlib
import importlib.metadata
import json
import os
import re
import subprocess
import sys
import zipfile
from pathlib import Path
from collections.abc import Iterable
from typing import Any

import yaml

REPO = Path(__file__).resolve().parents[1]
DATA_DIR = REPO / "src" / "portkit" / "ruleset" / "data"
DEFAULT_CACHE = Path.home() / ".cache" / "portkit" / "wheels"
NPU_YAMLS = tuple(f"torch_npu/csrc/aten/npu_native_functions{s}.yaml" for s in ("", "_by_codegen"))
LIB = "torch_npu/lib/libtorch_npu.so"

# ---------------------------------------------------------------------------------------------- ATen


def torch_version() -> str:
    """'2.13.0' for the installed '2.13.0+cpu' (read from the distribution, torch is not imported)."""
    return importlib.metadata.version("torch").split("+")[0]


def aten_yaml_dir() -> Path:
    import torchgen  # shipped in the torch wheel, pure Python
    return Path(torchgen.__file__).parent / "packaged" / "ATen" / "native"


def parse_aten() -> tuple[dict[str, dict[str, Any]], list[dict[str, Any]]]:
    """{op: {"dispatch": "keys", "delegate": op}} and, per operator, how to call it (its required arguments)."""
    from torchgen.gen import parse_native_yaml

    folder = aten_yaml_dir()
    parsed = parse_native_yaml(str(folder / "native_functions.yaml"), str(folder / "tags.yaml"))
    indices = {str(key): index.index for key, index in parsed.backend_indices.items()}
    ops: dict[str, dict[str, Any]] = {}
    specs: list[dict[str, Any]] = []
    for fn in parsed.native_functions:
        name = str(fn.func.name)
        keys = {key for key, index in indices.items() if fn.func.name in index}
        entry: dict[str, Any] = {}
        if fn.structured_delegate is not None:
            entry["delegate"] = str(fn.structured_delegate)
            keys |= {key for key, index in indices.items()
                     if (meta := index.get(fn.structured_delegate)) is not None and meta.structured}
        entry["dispatch"] = " ".join(sorted(keys))
        ops[name] = entry
        positional = fn.func.arguments.flat_positional
        specs.append({"op": name, "args": [
            [a.name, str(a.type), a in fn.func.arguments.out, not (a in positional and a.default is None)]
            for a in fn.func.arguments.flat_all if a.default is None or a.name in OPTIONAL_FILLS]})
    return dict(sorted(ops.items())), specs


# --------------------------------------------------------------------------- tracing (in a subprocess)

PROFILES = (("float32", (3, 3)), ("float32", (2, 3, 4, 4)), ("float32", (2, 3, 5)), ("float32", (4,)),
            ("float32", ()), ("int64", (3, 3)), ("complex64", (3, 3)), ("bool", (3, 3)))
INDEX_NAMES = ("index", "indices", "idx")
ZERO_INTS = {"index", "start", "offset", "diagonal", "storage_offset", "padding_idx", "ignore_index", "reduction"}
UNSUPPORTED_TYPES = ("str", "Storage", "Stream", "Dimname")
# internal kernels that do not check their arguments: made-up inputs crash the process (seen with torch 2.13.0)
CRASHES = ("_batch_norm_impl_index_backward", "_batch_norm_no_update", "_batch_norm_no_update.out", "_chunk_cat",
           "_chunk_cat.out", "_nnpack_spatial_convolution", "_nnpack_spatial_convolution.out",
           "_sobol_engine_initialize_state_", "native_batch_norm_backward.out", "native_group_norm")
OPTIONAL_FILLS = ("output_size",)  # optional, but the .vec upsample overloads need it or scale_factors
# str arguments with a value every caller may pass (not _print's text: it would write to stdout)
STR_VALUES = {"api_name": "api", "assert_msg": "msg", "equation": "ij,jk->ik", "indexing": "ij", "ord": "fro",
              "p": "fro", "padding": "same", "reduce": "sum"}


def _tensor(torch: Any, dtype_name: str, shape: tuple[int, ...], name: str, classes: bool = False) -> Any:
    if name == "target" and classes and dtype_name == "float32":  # class indices, as for nll_loss
        shape = (shape[0], *shape[2:]) if len(shape) > 1 else ()
        name = "index"
    if name == "vec":
        shape = shape[-1:]
    if name == "info":  # LAPACK status codes: int32 zeros (success)
        return torch.zeros(shape, dtype=torch.int32)
    n = 1
    for size in shape:
        n *= size
    if any(k in name for k in INDEX_NAMES) or dtype_name == "int64":
        return (torch.arange(n) % 3).reshape(shape) if dtype_name == "int64" else torch.zeros(shape, dtype=torch.long)
    if "mask" in name or dtype_name == "bool":
        return (torch.arange(n) % 2 == 0).reshape(shape)
    base = ((torch.arange(n, dtype=torch.float64) % 7 + 1) / 8).reshape(shape)
    if len(shape) == 2 and shape[0] == shape[1]:  # symmetric positive definite: linalg kernels accept it
        base = base @ base.T + 3 * torch.eye(shape[0], dtype=torch.float64)
    return base.to(getattr(torch, dtype_name))


def _int_list(name: str, type_name: str, shape: tuple[int, ...]) -> list[int]:
    fixed = re.search(r"\[(\d+)\]", type_name)
    every, last, first, axes = list(shape), list(shape[-1:]), list(shape[:1]), list(range(len(shape)))
    by_name = {"size": every, "sizes": every, "shape": every, "new_size": every, "normalized_shape": last,
               "pad": [1, 1], "split_size": first, "split_sizes": first, "dims": axes, "perm": axes,
               "permutation": axes, "repeats": [1] * len(shape), "repeat": [1] * len(shape)}
    if name in by_name:
        return by_name[name]
    if not fixed and name in ("output_size", "dim", "dim_list"):
        return [2] * (len(shape) - 2) if name == "output_size" else [0]
    return [0 if name in ("padding", "output_padding") else 1] * (int(fixed.group(1)) if fixed else 1)


def _value(torch: Any, arg: list[Any], profile: tuple[str, tuple[int, ...]], variant: str) -> Any:
    """A made-up value for one argument; raises LookupError when none can be made."""
    name, type_name, is_out, _ = arg
    dtype_name, shape = profile
    base = type_name.rstrip("?")
    if is_out:
        long_out = any(k in name for k in INDEX_NAMES)
        empty = torch.empty(0, dtype=torch.long if long_out else getattr(torch, dtype_name))
        return [empty, empty.clone()] if base.startswith("Tensor") and base.endswith("[]") else empty
    if name in OPTIONAL_FILLS and base.startswith(("int[", "SymInt[")):
        return _int_list(name, base, shape)
    if type_name.endswith("?"):
        return None
    if base == "str" and name in STR_VALUES:
        return STR_VALUES[name]
    if base.startswith(UNSUPPORTED_TYPES) or base == "Generator":
        raise LookupError(f"{base} argument '{name}'")
    if base == "Tensor":
        return _tensor(torch, dtype_name, shape, name, classes=variant == "classes")
    if base in ("Tensor[]", "Tensor?[]"):
        one = _tensor(torch, dtype_name, shape, name) if base == "Tensor[]" else torch.zeros(1, dtype=torch.long)
        return [one] * 2 if base == "Tensor[]" else [one]
    simple = {"bool": variant == "true", "float": 0.5, "Scalar": 1, "ScalarType": torch.float32,
              "Layout": torch.strided, "Device": torch.device("cpu"), "MemoryFormat": torch.contiguous_format,
              "DeviceIndex": 0, "Scalar[]": [1, 1], "float[]": [0.5, 0.5]}
    if base in simple:
        return simple[base]
    if base in ("int", "SymInt"):
        return 0 if "dim" in name or name in ZERO_INTS else 1
    if base.startswith(("int[", "SymInt[")):
        return _int_list(name, base, shape)
    if base.startswith("bool["):
        return [variant == "true"] * int(re.search(r"\[(\d*)\]", base).group(1) or 1)
    raise LookupError(f"{base} argument '{name}'")


def _overload(torch: Any, op: str) -> Any:
    return getattr(getattr(torch.ops.aten, op.partition(".")[0]), op.partition(".")[2] or "default")


def _op_name(func: Any) -> str:
    schema = func._schema
    namespace, _, base = schema.name.partition("::")
    name = f"{base}.{schema.overload_name}" if schema.overload_name else base
    return name if namespace == "aten" else f"{namespace}::{name}"


def privateuse1_kernel(torch: Any, op: str) -> str | None:
    """The kind of kernel torch's dispatcher gives a PrivateUse1 (NPU) tensor when the backend registers
    none: the alias key whose Register<key>.cpp it comes from, or None (the backend fallback runs)."""
    table = torch._C._dispatch_dump_table(f"aten::{op}")
    line = next((x for x in table.splitlines() if x.startswith("PrivateUse1:")), None)
    found = re.search(r"Register(\w+?)(?:_\d+)?\.cpp", line or "")
    return found.group(1) if found else (line.split(" registered at ")[0] if line else None)


def trace_worker() -> int:
    """Read call specs (JSON) on stdin; print the PrivateUse1 kernel kinds (one JSON line), then one
    JSON line per operator with such a kernel: what that kernel calls."""
    import torch

    torch.set_num_threads(1)
    torch.backends.mkldnn.enabled = False  # the generic CPU paths, not whatever this CPU supports
    specs = json.load(sys.stdin)
    kinds = {spec["op"]: privateuse1_kernel(torch, spec["op"]) for spec in specs}
    print(json.dumps({"privateuse1": {op: kind for op, kind in kinds.items() if kind}}), flush=True)
    specs = [{**spec, "key": kinds[spec["op"]]} for spec in specs if kinds[spec["op"]]]
    composites = [spec["op"] for spec in specs if spec["key"] == "CompositeImplicitAutograd"]
    _library, Recorder = composite_recorder(torch, composites)  # noqa: N806 - a class
    for spec in specs:
        print(json.dumps({"op": spec["op"], **_trace_one(torch, Recorder, spec)}), flush=True)
    return 0


def composite_recorder(torch: Any, composites: Iterable[str]) -> tuple[Any, type]:
    """A TorchDispatchMode class that records every aten operator a call reaches, with the
    given CompositeImplicitAutograd operators kept whole: each gets a CPU kernel that runs its
    composite, so the mode sees the operator itself, not its insides. Keep the returned
    library alive as long as the mode is used (dropping it removes the kernels)."""
    from torch.utils._python_dispatch import TorchDispatchMode

    cia = torch._C.DispatchKey.CompositeImplicitAutograd
    library = torch.library.Library("aten", "IMPL")
    opaque = set()
    for op in composites:
        overload = _overload(torch, op)
        library.impl(op, lambda *a, _o=overload, **k: _o._op_dk(cia, *a, **k), "CPU")
        opaque.add(overload)

    class Recorder(TorchDispatchMode):
        def __init__(self) -> None:
            super().__init__()
            self.calls: set[str] = set()

        def __torch_dispatch__(self, func: Any, types: Any, args: Any = (), kwargs: Any = None) -> Any:
            self.calls.add(_op_name(func))
            args = _rewrap(torch, func, args)
            if func in opaque:
                return func._op_dk(cia, *args, **(kwargs or {}))
            return func(*args, **(kwargs or {}))

    return library, Recorder


def _rewrap(torch: Any, func: Any, args: tuple[Any, ...]) -> tuple[Any, ...]:
    """A C++ kernel's wrapped-number tensors reach Python as numbers: make them tensors again."""
    schema = func._schema.arguments
    return tuple(torch.tensor(v) if i < len(schema) and isinstance(v, (int, float, complex))
                 and str(schema[i].type) == "Tensor" else v for i, v in enumerate(args))


def _variants(spec: dict[str, Any]) -> tuple[str, ...]:
    """plain; +true: bool arguments True; +classes: a 'target' of class indices (nll_loss) instead of values."""
    flags = any(t.startswith("bool") for _, t, _, _ in spec["args"])
    target = any(a[0] == "target" for a in spec["args"])
    return ("plain", *(["true"] if flags else []), *(["classes"] if target else []))


def _trace_one(torch: Any, recorder: Any, spec: dict[str, Any]) -> dict[str, Any]:
    if spec["op"] in CRASHES:
        return {"reason": "not run: made-up inputs crash this unchecked kernel"}
    if not hasattr(torch._C.DispatchKey, spec["key"]):
        return {"reason": f"its PrivateUse1 kernel ({spec['key']}) cannot be called on its own"}
    overload = _overload(torch, spec["op"])
    key = getattr(torch._C.DispatchKey, spec["key"])
    done: list[tuple[str, set[str]]] = []
    for profile in PROFILES:
        if done and profile[0] != "float32":
            break  # a float32 trace exists: other dtypes' branches are not what most code runs
        for variant in _variants(spec):
            torch.manual_seed(0)
            try:
                values = [_value(torch, arg, profile, variant) for arg in spec["args"]]
            except LookupError as error:
                return {"reason": f"cannot make up a {error}"}
            positional = [v for (_, _, _, kw), v in zip(spec["args"], values) if not kw]
            keywords = {n: v for (n, _, _, kw), v in zip(spec["args"], values) if kw}
            mode = recorder()
            try:
                with mode:
                    overload._op_dk(key, *positional, **keywords)
            except Exception:  # noqa: BLE001 - made-up inputs: any error means "not this input"
                continue
            done.append(((profile[0], profile[1], variant), mode.calls))
        if done and profile[0] != "float32":
            break  # the first non-float32 profile that works is enough
    if not done:
        return {"reason": "raised for every made-up input"}
    calls = set().union(*(c for _, c in done)) - {spec["op"]}
    return {"calls": sorted(calls), "traced": [label for label, _ in done]}  # label: (dtype, shape, variant)


def trace_composites(specs: list[dict[str, Any]]) -> tuple[dict[str, str], dict[str, dict[str, Any]]]:
    """Run the trace worker: PrivateUse1 kernel kinds and traces (if it dies on an operator, skip that one)."""
    env = {**os.environ, "TORCH_DEVICE_BACKEND_AUTOLOAD": "0", "OMP_NUM_THREADS": "1", "PYTHONWARNINGS": "ignore"}
    kinds: dict[str, str] | None = None
    results: dict[str, dict[str, Any]] = {}
    remaining = specs
    while remaining:
        done = subprocess.run([sys.executable, str(Path(__file__).resolve()), "--trace-worker"], env=env,
                              input=json.dumps(remaining), capture_output=True, text=True, cwd=REPO)
        lines = [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]
        if not lines:
            raise SystemExit(f"trace worker failed: {done.stderr[-2000:]}")
        kinds = kinds if kinds is not None else lines[0]["privateuse1"]
        results.update((entry.pop("op"), entry) for entry in lines[1:])
        remaining = [s for s in remaining if s["op"] in kinds and s["op"] not in results]
        if remaining and done.returncode == 0:
            raise SystemExit(f"trace worker stopped early: {done.stderr[-2000:]}")
        if remaining:  # it died on remaining[0]
            results[remaining.pop(0)["op"]] = {"reason": f"the tracer process died (exit {done.returncode})"}
    return kinds or {}, results


def _evidence(traced: list[list[Any]]) -> str:
    """'float32 3x3 2x3x4x4 scalar (+true)': the dtype, the input shapes, the variants that also ran."""
    parts = []
    for dtype in sorted({d for d, _, _ in traced}, key=[p[0] for p in PROFILES].index):
        shapes = dict.fromkeys(tuple(s) for d, s, _ in traced if d == dtype)
        parts.append(" ".join([dtype, *("x".join(map(str, s)) or "scalar" for s in shapes)]))
    variants = sorted({v for _, _, v in traced} - {"plain"})
    return "; ".join(parts) + (f" (+{', '.join(variants)})" if variants else "")


def derive_aten() -> dict[str, Any]:
    folder = aten_yaml_dir()
    ops, specs = parse_aten()
    kinds, traces = trace_composites(specs)
    for op, kind in kinds.items():
        ops[op]["privateuse1"] = kind
    for op, result in traces.items():
        if "calls" in result:
            ops[op].update(calls=result["calls"], traced=_evidence(result["traced"]))
        else:
            ops[op]["not_traced"] = result["reason"]
    native = folder / "native_functions.yaml"
    return {
        "torch": {"version": torch_version(), "distribution": importlib.metadata.version("torch"),
                  "file": "torchgen/packaged/ATen/native/native_functions.yaml",
                  "sha256": hashlib.sha256(native.read_bytes()).hexdigest()},
        "how": ("ops: every operator of the file (name.overload; the default overload is the bare name). "
                "dispatch: the keys torchgen.gen.parse_native_yaml gives it, plus the structured backends of its "
                "structured_delegate. privateuse1: the kernel the installed torch's dispatcher gives a PrivateUse1 "
                "(NPU) tensor when the backend registers none (torch._C._dispatch_dump_table; the alias key of "
                "its Register<key>.cpp); absent: none, the backend fallback runs. calls: the operators that "
                "kernel called directly, recorded with a TorchDispatchMode while it ran on the CPU inputs of "
                "'traced' (dtype, shapes, variants: +true = bool arguments True, +classes = class-index targets; "
                "float32 first, mkldnn disabled); a kernel that branches on device, dtype or shape may call other "
                "operators elsewhere. not_traced: an operator with a privateuse1 kernel but no trace, and why."),
        "ops": ops,
    }


# ---------------------------------------------------------------------------------------- torch_npu


def _entry_name(entry: Any) -> str:
    return entry["func"].split("(")[0].strip() if isinstance(entry, dict) else str(entry)


def npu_sections(zf: zipfile.ZipFile) -> tuple[dict[str, list[str]], dict[str, dict[str, int]]]:
    """Operator names per section, over both yaml files, and each file's section sizes.

    "supported" follows torchnpugen/gen_backend_stubs.py (torch_npu 2.13.0): a plain name, or a
    dict with impl_ns / op_api / device_check, gets a PrivateUse1 kernel; a dict with only a
    "sparse" key gets a SparsePrivateUse1 one (section "sparse")."""
    sections: dict[str, set[str]] = {}
    files: dict[str, dict[str, int]] = {}
    for member in NPU_YAMLS:
        if member not in zf.namelist():
            continue
        loaded = yaml.safe_load(zf.read(member))
        files[member] = {k: len(v or []) for k, v in loaded.items() if isinstance(v, list) or v is None}
        for section, entries in loaded.items():
            if not isinstance(entries, list):
                continue
            for entry in entries:
                keys = set(entry) if isinstance(entry, dict) else {"impl_ns"}
                if section == "supported" and keys & {"sparse", "sparse_csr"}:
                    sections.setdefault("sparse", set()).add(_entry_name(entry))
                if section != "supported" or keys & {"impl_ns", "op_api", "device_check"}:
                    sections.setdefault(section, set()).add(_entry_name(entry))
    return {k: sorted(v) for k, v in sorted(sections.items())}, files


FALLBACK_STRINGS = {  # what each is: docs/operators.md
    "fallback_registered": b"_ZNR5torch7Library9_fallbackEONS_11CppFunctionE\0",
    "calls_at_native_cpu_fallback": b"_ZN2at6native12cpu_fallback", "kernel_name": b"npu_cpu_fallback\0",
    "warning_part_1": b"CAUTION: The operator '\0", "warning_part_2": b"' is not currently supported \0",
    "warning_part_3": b"on the NPU backend and will fall back to run on the CPU.\0",
    "warning_part_4": b" This may have performance implications.\0", "disable_env": b"TORCH_NPU_FALLBACK_CPU_DISABLE\0",
    "disabled_error": b", but CPU fallback is disabled by TORCH_NPU_FALLBACK_CPU_DISABLE=1.\0",
    "disabled_error_kind": b"dispatcher backend fallback\0", "sparse_kernel_name": b"npu_Sparse_fallback\0",
    "sparse_error": b"' is not currently supported on the NPU backend.\0",
}


def _cpu_messages(blob: bytes) -> list[dict[str, Any]]:
    """Messages of libtorch_npu.so that name aten operators running on the CPU."""
    found: dict[str, list[str]] = {}
    for match in re.finditer(rb"(?:CAUTION: The operator '?aten::|CPU fallback is allowed)[\x20-\x7e]*", blob):
        text = match.group().decode()
        if "CPU" in text.split("aten::", 1)[-1] and ("fall back" in text or "fallback" in text):
            ops = sorted({o.rstrip(".'") for o in re.findall(r"aten::([\w.']+)", text)})
            found.setdefault(text, [hex(match.start()), *ops])
    return [{"at": v[0], "ops": v[1:], "message": k} for k, v in sorted(found.items())]


def library_check(blob: bytes, sections: dict[str, list[str]], aten_ops: dict[str, Any]) -> dict[str, list[str]]:
    """The yaml against the registration wrappers (wrapper_NPU__<op>) of default-overload aten operators."""
    found = {m.decode() for m in re.findall(rb"wrapper_(?:NPU|PrivateUse1)__([A-Za-z0-9_]+?)(?:E[SNRKPv0-9]|\0)", blob)}
    listed = {op for s in ("supported", "autograd") for op in sections.get(s, []) if "." not in op}
    return {"listed_without_wrapper": sorted(listed - found),
            "wrapper_not_listed": sorted(op for op in found - listed if op in aten_ops)}


def fallback_evidence(zf: zipfile.ZipFile, blob: bytes) -> dict[str, Any]:
    """What torch_npu does with an aten operator it registers no kernel for, from its library."""
    strings = {key: hex(at) if (at := blob.find(needle)) >= 0 else None for key, needle in FALLBACK_STRINGS.items()}
    warns = all(strings[f"warning_part_{i}"] for i in range(1, 5)) and strings["kernel_name"]
    behaviour = "cpu_fallback" if warns and strings["fallback_registered"] and strings[
        "calls_at_native_cpu_fallback"] else "unknown"
    header = "torch_npu/include/torch_npu/csrc/framework/utils/CpuFallbackUtils.h"
    return {
        "behaviour": behaviour,
        "disable_env": strings["disable_env"] and strings["disabled_error"] and "TORCH_NPU_FALLBACK_CPU_DISABLE",
        "warning": ("CAUTION: The operator '<op>' is not currently supported on the NPU backend and will fall "
                    "back to run on the CPU. This may have performance implications.") if warns else None,
        "library": LIB,
        "strings": strings,
        "header": _grep(zf, header, "IsCpuFallbackEnable", "TORCH_NPU_FALLBACK_CPU_DISABLE"),
        "cpu_messages": _cpu_messages(blob),
    }


def _grep(zf: zipfile.ZipFile, member: str, *needles: str) -> list[str]:
    """'member:line: text' of the lines of a wheel member that contain a needle (none if it is absent)."""
    lines = zf.read(member).decode().splitlines() if member in zf.namelist() else []
    return [f"{member}:{n}: {line.strip()}" for n, line in enumerate(lines, 1) if any(x in line for x in needles)]


def codegen_rules(zf: zipfile.ZipFile) -> list[str]:
    """file:line of the torchnpugen statements that decide which yaml entries get kernels (2.13.0+)."""
    return (_grep(zf, "torchnpugen/gen_backend_stubs.py", '{"impl_ns", "op_api", "device_check"}',
                  "supported_autograd += ", '"sparse",')
            + _grep(zf, "torchnpugen/utils.py", "def filt_compositeimplicitautograd_api",
                    "COMPOSITEIMPLICITAUTOGRAD_EXCEPT_LIST = "))


def derive_npu(wheel_path: Path, aten_ops: dict[str, Any]) -> dict[str, Any]:
    zf = zipfile.ZipFile(wheel_path)
    sections, files = npu_sections(zf)
    blob = zf.read(LIB)
    aten = sorted({op for s in ("supported", "autograd", "quant") for op in sections.get(s, [])})
    return {
        "version": re.search(r"^__version__\s*=\s*['\"]([^'\"]+)['\"]", zf.read("torch_npu/version.py").decode(),
                             re.M).group(1),
        "source": {"wheel": wheel_path.name, "sha256": hashlib.sha256(wheel_path.read_bytes()).hexdigest()},
        "files": files,
        "how": ("sections: operator names per yaml section, both files merged. An aten operator gets an NPU "
                "kernel if it is in 'supported' (PrivateUse1), 'autograd' (AutogradPrivateUse1, the whole op) or "
                "'quant' (QuantizedPrivateUse1); 'symint' only marks SymInt signatures; 'custom' are torch_npu's "
                "own operators (npu_*). 'sparse': SparsePrivateUse1 only. codegen_rules: where the generator "
                "shipped in this wheel (if any) says so. library_check: the yaml against the registration "
                "wrappers compiled into the library."),
        "sections": sections,
        "codegen_rules": codegen_rules(zf),
        "not_in_aten": sorted(op for op in aten if op not in aten_ops),
        "library_check": library_check(blob, sections, aten_ops),
        "unregistered": fallback_evidence(zf, blob),
    }


# ------------------------------------------------------------------------------------------- output


def dumps(data: dict[str, Any]) -> str:
    """Sorted JSON: the entries of a top-level map one a line, everything else on one line."""
    def one(value: Any) -> str:
        return json.dumps(value, sort_keys=True, ensure_ascii=False)

    parts = []
    for key, value in sorted(data.items()):
        if isinstance(value, dict) and value:
            inner = ",\n".join(f"  {one(k)}: {one(v)}" for k, v in sorted(value.items()))
            parts.append(f" {one(key)}: {{\n{inner}\n }}")
        else:
            parts.append(f" {one(key)}: {one(value)}")
    return "{\n" + ",\n".join(parts) + "\n}\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("wheels", nargs="*", type=Path, help="torch_npu-*.whl files (default: every cached one)")
    only = parser.add_mutually_exclusive_group()
    only.add_argument("--aten-only", action="store_true", help="only the ATen table")
    only.add_argument("--npu-only", action="store_true", help="only the NPU tables (against the shipped ATen table)")
    parser.add_argument("--trace-worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--out-dir", type=Path, default=DATA_DIR)
    args = parser.parse_args(argv)
    if args.trace_worker:
        return trace_worker()
    if args.npu_only:
        aten = json.loads((DATA_DIR / f"aten_ops-torch-{torch_version()}.json").read_text(encoding="utf-8"))
    else:
        aten = derive_aten()
        out = args.out_dir / f"aten_ops-torch-{aten['torch']['version']}.json"
        out.write_text(dumps(aten), encoding="utf-8")
        traced = sum("calls" in op for op in aten["ops"].values())
        print(f"wrote {out} ({out.stat().st_size} bytes): {len(aten['ops'])} operators, {traced} composite ones "
              f"traced, {sum('not_traced' in op for op in aten['ops'].values())} not traced")
    if args.aten_only:
        return 0
    for wheel in args.wheels or sorted(DEFAULT_CACHE.glob("torch_npu-*.whl")):
        data = derive_npu(wheel, aten["ops"])
        out = args.out_dir / f"npu_ops-{data['version']}.json"
        out.write_text(dumps(data), encoding="utf-8")
        print(f"wrote {out} ({out.stat().st_size} bytes): {len(data['sections'].get('supported', []))} supported")
    return 0


if __name__ == "__main__":
    sys.exit(main())
