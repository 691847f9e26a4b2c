#!/usr/bin/env python3
"""Derive which ATen operators the public torch APIs reach (data/api_ops-torch-<version>.json),
and which fused operators and optimizers each torch_npu release exposes (data/api_ops-npu-<release>.json).

torch, from the installed wheel (docs/analysis.md):

- native bindings (``torch.add``, ``Tensor.add_``, ``torch.linalg.eigh``, ``torch.special.erf``,
  the builtins ``torch.nn.functional`` re-exports): the overloads of native_functions.yaml with
  that name, by torchgen's naming (``variants``: function -> torch.X, method -> Tensor.X;
  ``python_module`` linalg / fft / special / nn -> the prefix dropped, ``linalg_eigh`` ->
  torch.linalg.eigh), out= and named-tensor overloads left out;
- Python-level APIs (``torch.nn.functional.X`` written in Python, ``torch.functional``'s
  ``torch.norm``/``einsum``/``stft``…, Tensor methods written in Python, and nn modules'
  forward): run on small made-up CPU tensors under a TorchDispatchMode that records the
  operators they call, CompositeImplicitAutograd ones kept whole (as scripts/derive_op_tables.py
  does); an API no made-up input works for is recorded with the reason;
- the operators torch tags ``dynamic_output_shape`` or ``data_dependent_output``.

torch_npu, from each wheel read with zipfile (never imported): the ``torch_npu.<op>`` names
``torch_npu/utils/custom_ops.py`` binds to ``torch.ops.npu.<op>`` with their schema from the
``custom`` section of the operator yaml, and ``torch_npu.optim.__all__``.

    python scripts/derive_api_ops.py [--out-dir DIR] [--only NAME...]   # default: everything
"""

from __future__ import annotations

import argparse
import ast
import hashlib
import importlib.metadata
import inspect
import json
import re
import sys
import zipfile
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from derive_op_tables import (  # noqa: E402 - the script folder is not a package
    DATA_DIR, DEFAULT_CACHE, NPU_YAMLS, aten_yaml_dir, composite_recorder, dumps, torch_version,
)

# python_module of native_functions.yaml -> the Python namespace of its bindings
NAMESPACES = {None: "torch", "linalg": "torch.linalg", "fft": "torch.fft", "special": "torch.special",
              "nn": "torch._C._nn"}
TAGS = ("dynamic_output_shape", "data_dependent_output")
# torch.X written in Python (torch/functional.py) that compute something
TORCH_PYTHON = ("atleast_1d", "atleast_2d", "atleast_3d", "block_diag", "broadcast_tensors", "cartesian_prod",
                "cdist", "chain_matmul", "einsum", "lu", "meshgrid", "norm", "split", "stft", "tensordot", "unique",
                "unique_consecutive", "unravel_index")
TENSOR_PYTHON = ("norm", "split", "unique", "unique_consecutive", "stft", "istft", "lu", "unflatten")
SHAPES = ((2, 3, 8, 8), (2, 3, 8), (4, 8), (8,))


# ------------------------------------------------------------------------------------ native names


def parse_natives() -> tuple[dict[str, dict[str, Any]], dict[str, list[str]]]:
    """{'torch.add': {'ops': ['add.Scalar', 'add.Tensor'], 'tensor': True}, 'Tensor.add_': ...,
    'torch._C._nn.gelu': ...} and {op: tags} for the tags the analyzer reads. `tensor`: every
    overload returns one tensor."""
    from torchgen.gen import parse_native_yaml

    folder = aten_yaml_dir()
    parsed = parse_native_yaml(str(folder / "native_functions.yaml"), str(folder / "tags.yaml"))
    apis: dict[str, dict[str, Any]] = {}
    tags: dict[str, list[str]] = {}
    for fn in parsed.native_functions:
        op = str(fn.func.name)
        if found := sorted(set(fn.tags) & set(TAGS)):
            tags[op] = found
        if fn.func.is_out_fn() or "Dimname" in str(fn.func.arguments) or fn.python_module not in NAMESPACES:
            continue
        name = str(fn.func.name.name)
        variants = {v.name for v in fn.variants}
        one_tensor = len(fn.func.returns) == 1 and str(fn.func.returns[0].type) == "Tensor"
        # a factory: takes a device and no tensor, so its result is on the default device (the host)
        factory = any(a.name == "device" for a in fn.func.arguments.flat_all) and not any(
            "Tensor" in str(a.type) for a in fn.func.arguments.flat_all if a not in fn.func.arguments.out)
        names = []
        if "function" in variants:
            prefix = f"{fn.python_module}_" if fn.python_module in ("linalg", "fft", "special") else ""
            names.append(f"{NAMESPACES[fn.python_module]}.{name.removeprefix(prefix)}")
        if "method" in variants and fn.python_module is None:
            names.append(f"Tensor.{name}")
        for api in names:
            entry = apis.setdefault(api, {"ops": [], "tensor": True, "factory": True})
            entry["ops"].append(op)
            entry["tensor"] = entry["tensor"] and one_tensor
            entry["factory"] = entry["factory"] and factory
    return {k: _native(v["ops"], v["tensor"], v["factory"]) for k, v in apis.items()}, tags


def _native(ops: list[str], tensor: bool, factory: bool) -> dict[str, Any]:
    flags = {"tensor": True} if tensor else {}
    return {"ops": sorted(ops), "via": "native", **flags, **({"factory": True} if factory else {})}


def native_entries(natives: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """The public bindings that exist in the installed torch, with their operators."""
    import torch

    entries: dict[str, dict[str, Any]] = {}
    for api, entry in natives.items():
        if api.startswith("torch._C._nn."):
            continue  # reached through torch.nn.functional (builtin_aliases)
        owner, _, attr = api.rpartition(".")
        namespace = torch.Tensor if owner == "Tensor" else _resolve(owner)
        if attr.startswith("_") or namespace is None or not hasattr(namespace, attr):
            continue
        if owner == "Tensor" and attr in TENSOR_PYTHON or owner == "torch" and attr in TORCH_PYTHON:
            continue  # a Python function of that name wraps it: traced instead
        entries[api] = entry
    return entries


def builtin_aliases(natives: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """torch.nn.functional names that are the builtins themselves (F.conv2d is torch.conv2d)."""
    import torch.nn.functional as F

    entries: dict[str, dict[str, Any]] = {}
    for name in sorted(dir(F)):
        value = getattr(F, name)
        if name.startswith("_") or not inspect.isbuiltin(value):
            continue
        module = {"torch": "torch", "torch._C._nn": "torch._C._nn"}.get(getattr(value, "__module__", ""))
        entry = natives.get(f"{module}.{value.__name__}") if module else None
        if entry:
            entries[f"torch.nn.functional.{name}"] = entry
    return entries


def _resolve(dotted: str) -> Any:
    import importlib

    try:
        return importlib.import_module(dotted)
    except ImportError:
        return None


# --------------------------------------------------------------------------------------- tracing


def tensor(shape: tuple[int, ...], kind: str = "float") -> Any:
    """Deterministic inputs: floats in (0, 1], indices 0..2, booleans alternating."""
    import torch

    n = 1
    for size in shape:
        n *= size
    if kind == "index":
        return (torch.arange(n) % 3).reshape(shape)
    if kind == "bool":
        return (torch.arange(n) % 2 == 0).reshape(shape)
    return ((torch.arange(n, dtype=torch.float32) % 7 + 1) / 8).reshape(shape)


Call = tuple[Callable[..., Any], tuple[Any, ...], dict[str, Any]]  # function, arguments, keywords
Recorded = tuple[set[str], bool]  # the operators a call dispatched to, whether it returned one tensor


def recipes(shape: tuple[int, ...]) -> list[tuple[str, tuple[Any, ...]]]:
    """Generic argument lists to try an API with on one input shape: (label, arguments)."""
    x, last = tensor(shape), shape[-1]
    return [
        ("x", (x,)),
        ("x x", (x, tensor(shape))),
        ("x index", (x, tensor(shape[:1], "index"))),
        ("index weight", (tensor(shape, "index"), tensor((10, last)))),
        ("x weight", (x, tensor((last, last)))),
        ("x dim", (x, -1)),
        ("x shape", (x, (last,))),
        ("x 1", (x, 1)),
    ]


def explicit_calls() -> dict[str, Call]:
    """APIs no generic recipe fits: how to call them on small CPU tensors, made here (outside the
    recording, so making them is not recorded)."""
    import torch
    import torch.nn.functional as F

    x4, x3, x2, x5 = tensor((2, 3, 8, 8)), tensor((2, 3, 8)), tensor((4, 8)), tensor((1, 2, 4, 4, 4))
    classes, train = tensor((4,), "index"), {"training": True}
    window, signal = torch.hann_window(16), tensor((64,))
    spectrum = torch.stft(signal, 16, window=window, return_complex=True)
    square = tensor((3, 3)) + 3 * torch.eye(3)
    q = tensor((5, 2, 8))
    fn = "torch.nn.functional."
    return {
        fn + "batch_norm": (F.batch_norm, (x4, tensor((3,)), tensor((3,))), train),
        fn + "instance_norm": (F.instance_norm, (x4,), {}),
        fn + "group_norm": (F.group_norm, (x4, 3), {}),
        fn + "local_response_norm": (F.local_response_norm, (x4, 2), {}),
        fn + "cross_entropy": (F.cross_entropy, (x2, classes), {}),
        fn + "nll_loss": (F.nll_loss, (x2, classes), {}),
        fn + "multi_margin_loss": (F.multi_margin_loss, (x2, classes), {}),
        fn + "multilabel_margin_loss": (F.multilabel_margin_loss, (x2, tensor((4, 8), "index")), {}),
        fn + "ctc_loss": (F.ctc_loss, (tensor((8, 2, 4)).log_softmax(2), tensor((2, 3), "index") + 1,
                                       torch.tensor([8, 8]), torch.tensor([3, 3])), {}),
        fn + "margin_ranking_loss": (F.margin_ranking_loss, (x2[0], x2[1], torch.ones(8)), {}),
        fn + "cosine_embedding_loss": (F.cosine_embedding_loss, (x2, x2, torch.ones(4)), {}),
        fn + "triplet_margin_loss": (F.triplet_margin_loss, (x2, x2, x2), {}),
        fn + "triplet_margin_with_distance_loss": (F.triplet_margin_with_distance_loss, (x2, x2, x2), {}),
        fn + "gaussian_nll_loss": (F.gaussian_nll_loss, (x2, x2, x2), {}),
        fn + "interpolate": (F.interpolate, (x4,), {"scale_factor": 2.0, "mode": "nearest"}),
        fn + "upsample": (F.upsample, (x4,), {"scale_factor": 2.0}),
        fn + "upsample_bilinear": (F.upsample_bilinear, (x4,), {"scale_factor": 2.0}),
        fn + "upsample_nearest": (F.upsample_nearest, (x4,), {"scale_factor": 2.0}),
        fn + "grid_sample": (F.grid_sample, (x4, tensor((2, 4, 4, 2)) * 2 - 1), {"align_corners": False}),
        fn + "affine_grid": (F.affine_grid, (tensor((2, 2, 3)), [2, 3, 8, 8]), {"align_corners": False}),
        fn + "pad": (F.pad, (x4, (1, 1)), {}),
        fn + "fold": (F.fold, (tensor((2, 12, 9)), (4, 4), 2), {}),
        fn + "unfold": (F.unfold, (x4, 2), {}),
        fn + "embedding_bag": (F.embedding_bag, (tensor((2, 4), "index"), tensor((10, 8))), {}),
        fn + "max_pool1d": (F.max_pool1d, (x3, 2), {}),
        fn + "max_pool2d": (F.max_pool2d, (x4, 2), {}),
        fn + "max_pool3d": (F.max_pool3d, (x5, 2), {}),
        fn + "max_unpool1d": (F.max_unpool1d, (*F.max_pool1d(x3, 2, return_indices=True), 2), {}),
        fn + "max_unpool2d": (F.max_unpool2d, (*F.max_pool2d(x4, 2, return_indices=True), 2), {}),
        fn + "max_unpool3d": (F.max_unpool3d, (*F.max_pool3d(x5, 2, return_indices=True), 2), {}),
        fn + "lp_pool1d": (F.lp_pool1d, (x3, 2, 2), {}),
        fn + "lp_pool2d": (F.lp_pool2d, (x4, 2, 2), {}),
        fn + "lp_pool3d": (F.lp_pool3d, (x5, 2, 2), {}),
        fn + "fractional_max_pool2d": (F.fractional_max_pool2d, (x4, 2), {"output_size": 3}),
        fn + "fractional_max_pool2d_with_indices": (F.fractional_max_pool2d_with_indices, (x4, 2), {"output_size": 3}),
        fn + "fractional_max_pool3d": (F.fractional_max_pool3d, (x5, 2), {"output_size": 2}),
        fn + "fractional_max_pool3d_with_indices": (F.fractional_max_pool3d_with_indices, (x5, 2), {"output_size": 2}),
        fn + "adaptive_max_pool2d": (F.adaptive_max_pool2d, (x4, 2), {}),
        fn + "adaptive_avg_pool2d": (F.adaptive_avg_pool2d, (x4, 2), {}),
        fn + "adaptive_avg_pool3d": (F.adaptive_avg_pool3d, (x5, 2), {}),
        fn + "threshold": (F.threshold, (x2, 0.5, 0.0), {}),
        fn + "dropout": (F.dropout, (x2, 0.5), train),
        fn + "dropout1d": (F.dropout1d, (x3, 0.5), train),
        fn + "dropout2d": (F.dropout2d, (x4, 0.5), train),
        fn + "dropout3d": (F.dropout3d, (x5, 0.5), train),
        fn + "alpha_dropout": (F.alpha_dropout, (x2, 0.5), train),
        fn + "feature_alpha_dropout": (F.feature_alpha_dropout, (x4, 0.5), train),
        fn + "rrelu": (F.rrelu, (x2,), train),
        fn + "gumbel_softmax": (F.gumbel_softmax, (x2,), {}),
        fn + "multi_head_attention_forward": (F.multi_head_attention_forward, (
            q, q, q, 8, 2, tensor((24, 8)), tensor((24,)), None, None, False, 0.0, tensor((8, 8)), tensor((8,))),
            {"training": True, "need_weights": False}),
        "torch.einsum": (torch.einsum, ("ij,jk->ik", x2, x2.T), {}),
        "torch.stft": (torch.stft, (signal, 16), {"window": window, "return_complex": True}),
        "Tensor.stft": (torch.Tensor.stft, (signal, 16), {"window": window, "return_complex": True}),
        "Tensor.istft": (torch.Tensor.istft, (spectrum, 16), {"window": window}),
        "torch.tensordot": (torch.tensordot, (x2, x2.T), {"dims": 1}),
        "torch.unravel_index": (torch.unravel_index, (tensor((4,), "index"), (2, 2)), {}),
        "torch.lu": (torch.lu, (square,), {}),
        "Tensor.lu": (torch.Tensor.lu, (square,), {}),
        "Tensor.unflatten": (torch.Tensor.unflatten, (x2, -1, (2, 4)), {}),
    }


# nn modules: constructor arguments and the input shape of forward (index: integer input)
MODULES: dict[str, tuple[tuple[Any, ...], dict[str, Any], tuple[int, ...], str]] = {
    "Linear": ((8, 8), {}, (4, 8), "float"), "Bilinear": ((8, 8, 4), {}, (4, 8), "pair"),
    "Conv1d": ((3, 3, 3), {}, (2, 3, 8), "float"), "Conv2d": ((3, 3, 3), {}, (2, 3, 8, 8), "float"),
    "Conv3d": ((3, 3, 3), {}, (1, 3, 4, 4, 4), "float"),
    "ConvTranspose1d": ((3, 3, 3), {}, (2, 3, 8), "float"), "ConvTranspose2d": ((3, 3, 3), {}, (2, 3, 8, 8), "float"),
    "LayerNorm": ((8,), {}, (2, 3, 8), "float"), "RMSNorm": ((8,), {}, (2, 3, 8), "float"),
    "GroupNorm": ((1, 3), {}, (2, 3, 8, 8), "float"),
    "BatchNorm1d": ((3,), {}, (2, 3, 8), "float"), "BatchNorm2d": ((3,), {}, (2, 3, 8, 8), "float"),
    "InstanceNorm2d": ((3,), {}, (2, 3, 8, 8), "float"),
    "Embedding": ((10, 8), {}, (2, 4), "index"), "EmbeddingBag": ((10, 8), {}, (2, 4), "index"),
    "MultiheadAttention": ((8, 2), {"batch_first": True}, (2, 5, 8), "qkv"),
    "TransformerEncoderLayer": ((8, 2), {"dim_feedforward": 16, "batch_first": True}, (2, 5, 8), "float"),
    "TransformerDecoderLayer": ((8, 2), {"dim_feedforward": 16, "batch_first": True}, (2, 5, 8), "pair"),
    "LSTM": ((8, 8), {"batch_first": True}, (2, 5, 8), "float"), "GRU": ((8, 8), {"batch_first": True}, (2, 5, 8), "float"),
    "RNN": ((8, 8), {"batch_first": True}, (2, 5, 8), "float"),
    "MaxPool1d": ((2,), {}, (2, 3, 8), "float"), "MaxPool2d": ((2,), {}, (2, 3, 8, 8), "float"),
    "AvgPool1d": ((2,), {}, (2, 3, 8), "float"), "AvgPool2d": ((2,), {}, (2, 3, 8, 8), "float"),
    "AdaptiveAvgPool1d": ((1,), {}, (2, 3, 8), "float"), "AdaptiveAvgPool2d": ((1,), {}, (2, 3, 8, 8), "float"),
    "AdaptiveMaxPool2d": ((1,), {}, (2, 3, 8, 8), "float"),
    "Upsample": ((), {"scale_factor": 2.0}, (2, 3, 8, 8), "float"), "PixelShuffle": ((2,), {}, (2, 4, 4, 4), "float"),
    "Softmax": ((), {"dim": -1}, (4, 8), "float"), "LogSoftmax": ((), {"dim": -1}, (4, 8), "float"),
    "Dropout": ((0.5,), {}, (4, 8), "float"), "Dropout2d": ((0.5,), {}, (2, 3, 8, 8), "float"),
    "CrossEntropyLoss": ((), {}, (4, 8), "classes"), "NLLLoss": ((), {}, (4, 8), "classes"),
    "Flatten": ((), {}, (2, 3, 8, 8), "float"), "Unflatten": ((1, (3, 1)), {}, (2, 3, 8), "float"),
}
# elementwise modules and losses that need no constructor argument: input (4, 8), or (input, target)
SIMPLE_MODULES = ("ReLU", "ReLU6", "GELU", "SiLU", "Mish", "Tanh", "Sigmoid", "LeakyReLU", "ELU", "SELU", "CELU",
                  "Hardswish", "Hardsigmoid", "Hardtanh", "Softplus", "Softsign", "LogSigmoid", "PReLU", "Identity",
                  "Tanhshrink", "Softshrink", "Hardshrink", "GLU", "Softmin")
SIMPLE_LOSSES = ("MSELoss", "L1Loss", "SmoothL1Loss", "HuberLoss", "BCELoss", "BCEWithLogitsLoss", "KLDivLoss",
                 "SoftMarginLoss", "MultiLabelSoftMarginLoss", "PoissonNLLLoss")


def module_call(name: str) -> Call:
    """A small module of that class and an input for its forward, both made before the recording."""
    import torch

    cls = getattr(torch.nn, name)
    if name in SIMPLE_MODULES:
        return cls(), (tensor((4, 8)),), {}
    if name in SIMPLE_LOSSES:
        return cls(), (tensor((4, 8)), tensor((4, 8))), {}
    args, kwargs, shape, kind = MODULES[name]
    inputs = {"pair": (tensor(shape), tensor(shape)), "qkv": (tensor(shape),) * 3,
              "classes": (tensor(shape), tensor(shape[:1], "index"))}.get(kind, (tensor(shape, kind),))
    return cls(*args, **kwargs), inputs, {}


class Tracer:
    """Records the aten operators a call dispatches to; CompositeImplicitAutograd operators stay
    whole (derive_op_tables.composite_recorder)."""

    def __init__(self, composite_implicit: Iterable[str]) -> None:
        import torch

        torch.set_num_threads(1)
        torch.backends.mkldnn.enabled = False  # the generic CPU paths, not whatever this CPU supports
        self.library, self.recorder = composite_recorder(torch, composite_implicit)

    def record(self, call: Call) -> Recorded | None:
        """What the call dispatched to, and whether it returned one tensor; None if it raised."""
        import torch

        function, args, kwargs = call
        torch.manual_seed(0)
        mode = self.recorder()
        try:
            with mode:
                result = function(*args, **kwargs)
        except Exception:  # noqa: BLE001 - made-up inputs: any error means "not this input"
            return None
        return mode.calls, isinstance(result, torch.Tensor)

    def trace(self, function: Callable[..., Any], explicit: Call | None) -> dict[str, Any]:
        if explicit is not None:
            recorded = self.record(explicit)
            return _traced(recorded, "its own inputs") if recorded else {"unknown": "raised for its made-up inputs"}
        for shape in SHAPES:
            for label, args in recipes(shape):
                recorded = self.record((function, args, {}))
                if recorded:
                    return _traced(recorded, f"float32 {'x'.join(map(str, shape))}: {label}")
        return {"unknown": "no made-up input worked (float32 tensors of 1-4 dimensions, with a second tensor, "
                           "indices, a weight, a dim or a shape)"}


def _traced(recorded: Recorded, label: str) -> dict[str, Any]:
    calls, tensor = recorded
    ops = sorted(c for c in calls if "::" not in c)  # aten only: prims or other namespaces are noise
    if not ops:
        return {"unknown": f"called no aten operator ({label})"}
    return {"ops": ops, "via": "traced", "traced": label, **({"tensor": True} if tensor else {})}


def python_apis() -> dict[str, Callable[..., Any]]:
    """The Python-level APIs to trace, by name."""
    import torch
    import torch.nn.functional as F

    found: dict[str, Callable[..., Any]] = {}
    for name in sorted(dir(F)):
        value = getattr(F, name)
        if not name.startswith("_") and inspect.isfunction(value) and value.__module__ == "torch.nn.functional":
            found[f"torch.nn.functional.{name}"] = value
    for name in TORCH_PYTHON:
        found[f"torch.{name}"] = getattr(torch, name)
    for name in TENSOR_PYTHON:
        found[f"Tensor.{name}"] = getattr(torch.Tensor, name)
    for name in (*MODULES, *SIMPLE_MODULES, *SIMPLE_LOSSES):
        found[f"torch.nn.{name}"] = getattr(torch.nn, name)
    return found


def trace_entries(only: set[str] | None = None) -> dict[str, dict[str, Any]]:
    aten = json.loads((DATA_DIR / f"aten_ops-torch-{torch_version()}.json").read_text(encoding="utf-8"))
    tracer = Tracer(op for op, entry in aten["ops"].items() if "CompositeImplicitAutograd" in entry["dispatch"].split())
    explicit = explicit_calls()
    entries: dict[str, dict[str, Any]] = {}
    for api, function in python_apis().items():
        if only is not None and api not in only:
            continue
        if api.startswith("torch.nn.") and not api.startswith("torch.nn.functional."):
            recorded = tracer.record(module_call(api.rsplit(".", 1)[1]))
            entries[api] = _traced(recorded, "forward of a small module") if recorded else {
                "unknown": "its forward raised for the made-up input"}
        else:
            entries[api] = tracer.trace(function, explicit.get(api))
    return entries


def derive_torch(only: set[str] | None = None) -> dict[str, Any]:
    natives, tags = parse_natives()
    apis = {**native_entries(natives), **builtin_aliases(natives)}
    if only is not None:
        apis = {k: v for k, v in apis.items() if k in only}
    apis.update(trace_entries(only))
    native = aten_yaml_dir() / "native_functions.yaml"
    return {
        "torch": {"version": torch_version(), "distribution": importlib.metadata.version("torch"),
                  "file": "torchgen/packaged/ATen/native/native_functions.yaml",
                  "sha256": hashlib.sha256(native.read_bytes()).hexdigest()},
        "how": ("apis: public name -> the aten operators it reaches. via native: the overloads of the yaml entries "
                "torchgen binds to that name (variants function/method, python_module linalg/fft/special/nn), "
                "out= and Dimname overloads left out: a call reaches one of them. via traced: the operators one "
                "call on small float32 CPU tensors dispatched to ('traced' names the input), recorded with a "
                "TorchDispatchMode, CompositeImplicitAutograd operators kept whole (mkldnn off, one thread); a call "
                "with other arguments may reach others. tensor: every overload returns one Tensor (native), the "
                "traced call returned one (traced); for nn modules, their forward. factory: every overload takes a "
                "device and no tensor (its result is on the default device). unknown: why neither applied. "
                "tags: the operators the yaml tags dynamic_output_shape or data_dependent_output."),
        "apis": dict(sorted(apis.items())),
        "tags": tags,
    }


# ------------------------------------------------------------------------------------ torch_npu


def derive_npu(wheel: Path) -> dict[str, Any]:
    """The torch_npu.<op> bindings of custom_ops.py with their schemas, and torch_npu.optim.__all__."""
    zf = zipfile.ZipFile(wheel)
    schemas: dict[str, str] = {}
    for member in NPU_YAMLS:
        if member in zf.namelist():
            for entry in _yaml(zf.read(member)).get("custom") or []:
                func = entry["func"] if isinstance(entry, dict) else str(entry)
                schemas.setdefault(func.split("(")[0].strip().split(".")[0], func)
    bound = re.findall(r"^torch_npu\.(\w+) = torch\.ops\.npu\.(\w+)$",
                       zf.read("torch_npu/utils/custom_ops.py").decode(), re.M)
    optim = ast.parse(zf.read("torch_npu/optim/__init__.py").decode())
    exported = next(ast.literal_eval(node.value) for node in optim.body if isinstance(node, ast.Assign)
                    and any(isinstance(t, ast.Name) and t.id == "__all__" for t in node.targets))
    version = re.search(r"^__version__\s*=\s*['\"]([^'\"]+)['\"]", zf.read("torch_npu/version.py").decode(), re.M)
    return {
        "version": version.group(1),
        "source": {"wheel": wheel.name, "sha256": hashlib.sha256(wheel.read_bytes()).hexdigest()},
        "how": ("functions: torch_npu.<name> = torch.ops.npu.<op> in torch_npu/utils/custom_ops.py, with the op's "
                "schema from the 'custom' section of the operator yaml (null: not listed there). optim: "
                "torch_npu/optim/__init__.py __all__."),
        "functions": {name: schemas.get(op) for name, op in sorted(bound)},
        "optim": sorted(exported),
    }


def _yaml(data: bytes) -> dict[str, Any]:
    import yaml

    return yaml.safe_load(data)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("wheels", nargs="*", type=Path, help="torch_npu-*.whl files (default: every cached one)")
    parser.add_argument("--out-dir", type=Path, default=DATA_DIR)
    parser.add_argument("--only", nargs="+", help="derive only these API names (a sample, for the tests)")
    parser.add_argument("--torch-only", action="store_true", help="only the torch table")
    args = parser.parse_args(argv)
    data = derive_torch(set(args.only) if args.only else None)
    out = args.out_dir / f"api_ops-torch-{data['torch']['version']}.json"
    out.write_text(dumps(data), encoding="utf-8")
    unknown = sum("unknown" in entry for entry in data["apis"].values())
    print(f"wrote {out} ({out.stat().st_size} bytes): {len(data['apis'])} APIs, {unknown} unknown")
    if args.torch_only or args.only:
        return 0
    for wheel in args.wheels or sorted(DEFAULT_CACHE.glob("torch_npu-*.whl")):
        npu = derive_npu(wheel)
        out = args.out_dir / f"api_ops-npu-{npu['version']}.json"
        out.write_text(dumps(npu), encoding="utf-8")
        print(f"wrote {out} ({out.stat().st_size} bytes): {len(npu['functions'])} functions, {len(npu['optim'])} optimizers")
    return 0


if __name__ == "__main__":
    sys.exit(main())
