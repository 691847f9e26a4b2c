"""The analyses of single calls: operators the NPU lacks (op-unsupported), float64 compute,
data-dependent shapes (dynamic-shape), reads back to the host (host-sync) and optimizers with a
fused torch_npu version (fused-optimizer)."""

from __future__ import annotations

import ast

from portkit.python.analysis.context import FileContext, Settings
from portkit.python.analysis.scope import Scope
from portkit.ruleset.api_ops import DATA_DEPENDENT, DYNAMIC_SHAPE, ApiOps
from portkit.ruleset.operators import Coverage, OperatorTable, available_versions

FLOAT64 = frozenset({"torch.float64", "torch.double"})
FLOAT64_WORDS = ("float64", "double", "DoubleTensor")  # the file-level triage: .double() included
DOUBLE_TENSORS = frozenset({"torch.DoubleTensor", "torch.cuda.DoubleTensor", "torch.npu.DoubleTensor"})
# Tensor methods with no ATen operator of their own that bring the value to the host
HOST_METHODS = {
    "tolist": "copies the tensor into a Python list",
    "numpy": "copies the tensor into a NumPy array",
    "cpu": "copies the tensor to host memory",
}
# torch.optim arguments the fused torch_npu optimizers do not take (their __init__ in the wheel)
TORCH_ONLY_OPTIMIZER_ARGUMENTS = frozenset({"foreach", "fused", "capturable", "differentiable", "maximize"})


def trigger_words(settings: Settings) -> set[str]:
    """The names whose last part a call must have for the active call analyses to report it."""
    words: set[str] = set()
    api, rules = settings.api, settings.rules
    if "op-unsupported" in rules:
        words.update(name.rsplit(".", 1)[1] for name, found in api.apis.items()
                     if found.ops and coverage_of(found, settings.operators))
        words.update(name.rsplit(".", 1)[1] for name in settings.spec("op-unsupported").replacements)
    for rule_id, tag in (("dynamic-shape", DYNAMIC_SHAPE), ("host-sync", DATA_DEPENDENT)):
        if rule_id in rules:
            words.update(name.rsplit(".", 1)[1] for name, found in api.apis.items() if api.tagged(found, tag))
    if "host-sync" in rules:
        words.update(HOST_METHODS)
    if "fused-optimizer" in rules:
        words.update(name.rsplit(".", 1)[1] for name in settings.spec("fused-optimizer").replacements)
    return words


def check_call(call: ast.Call, scope: Scope, context: FileContext) -> None:
    """Every call-site analysis, for one call of the scope."""
    api_name = scope.api_of(call)
    api = context.settings.api.lookup(api_name) if api_name else None
    if api is not None and api.ops:
        evidence = "value-flow" if api_name and api_name.startswith("Tensor.") else "static-table"
        _unsupported(call, api, context)
        _dynamic_shape(call, api, context, evidence)
        if not _on_host_receiver(call, scope):
            _host_sync(call, api, context, evidence)
    _float64(call, scope, context)
    _host_method(call, scope, context)
    if api_name is not None and context.wants("fused-optimizer") \
            and api_name in context.settings.spec("fused-optimizer").replacements:
        _optimizer(call, api_name, context)


# ---- op-unsupported ---------------------------------------------------------------------------


def coverage_of(api: ApiOps, operators: OperatorTable) -> list[Coverage]:
    """The coverage of what a call reaches: a native binding reaches one of its overloads (it is
    missing only if every overload is), a traced call reached all of its operators."""
    found = [operators.coverage(op) for op in api.ops]
    if api.via == "native":
        return found if found and all(c.status == "missing" for c in found) else []
    return [c for c in found if c.status == "missing"]


def _unsupported(call: ast.Call, api: ApiOps, context: FileContext) -> None:
    if not context.wants("op-unsupported"):
        return
    settings = context.settings
    missing = coverage_of(api, settings.operators)
    if not missing:
        return
    leaves = sorted({op for c in missing for op in c.missing})
    no_kernel = sorted({op for c in missing for op in c.no_cpu_kernel})
    ops = ", ".join(f"aten::{c.op}" for c in missing)
    if "sparse" in api.api:
        what = "sparse tensors are not supported on the NPU: an operator on one raises"
    elif no_kernel:
        what = f"{', '.join(no_kernel)} has no CPU kernel either: the call raises"
    else:
        what = (f"{', '.join(leaves)} runs on the CPU: torch_npu's fallback copies every tensor argument to the host "
                f"and the results back, on every call")
        if settings.operators.unregistered.disable_env:
            what += f" (with {settings.operators.unregistered.disable_env}=1 it raises instead)"
    message = f"{_name(api)} reaches {ops}, which torch_npu {settings.npu_version} has no NPU kernel for: {what}"
    if later := _implemented_in(api, settings.npu_version):
        message += f"; torch_npu {later} runs it on the NPU"
    spec = settings.spec("op-unsupported")
    if replacement := spec.replacements.get(api.api):
        message += f". Instead: {replacement}"
    context.add("op-unsupported", call, f"{message}. {_capital(spec.message)}", "static-table")


def _implemented_in(api: ApiOps, version: str) -> str | None:
    """The first shipped release after `version` that runs every operator of the call on the NPU."""
    later = available_versions()[available_versions().index(version) + 1:] if version in available_versions() else []
    for release in later:
        if not coverage_of(api, OperatorTable.load(release)):
            return release
    return None


# ---- dynamic-shape and host-sync --------------------------------------------------------------


def _dynamic_shape(call: ast.Call, api: ApiOps, context: FileContext, evidence: str) -> None:
    tagged = context.settings.api.tagged(api, DYNAMIC_SHAPE)
    if not tagged or len(tagged) < len(api.ops):  # only some overloads: it depends on the arguments
        return
    if api.api == "torch.nn.functional.one_hot" and _argument(call, 1, "num_classes") is not None:
        return  # one_hot's shape is data-dependent only when num_classes is left to be inferred
    if not context.wants("dynamic-shape"):
        return
    ops = ", ".join(f"aten::{op}" for op in tagged)
    advice = " " + _capital(context.settings.spec("dynamic-shape").message)
    context.add("dynamic-shape", call, f"{_name(api)} reaches {ops}, whose output shape depends on the input's values: "
                                       f"the host waits for the NPU to learn it, and each new shape compiles anew."
                                       f"{advice}", evidence)


def check_mask_index(node: ast.Subscript, scope: Scope, context: FileContext) -> None:
    """`x[x > 0]`: indexing a tensor with a boolean mask (aten::index.Tensor) has a data-dependent shape."""
    index = node.slice
    if not context.wants("dynamic-shape") or not isinstance(node.ctx, ast.Load) or not isinstance(index, ast.Compare) \
            or not scope.is_tensor(node.value):
        return  # `x[mask] = v` keeps x's shape
    if not scope.is_tensor(index):
        return
    context.add("dynamic-shape", node, "indexing with a boolean mask (aten::index.Tensor) makes a tensor whose size "
                                       "depends on how many values are True: the host waits for the NPU to learn it. "
                                       + _capital(context.settings.spec("dynamic-shape").message), "value-flow")


def _host_sync(call: ast.Call, api: ApiOps, context: FileContext, evidence: str) -> None:
    tagged = context.settings.api.tagged(api, DATA_DEPENDENT)
    if not tagged or not context.wants("host-sync"):
        return
    context.add("host-sync", call, f"{_name(api)} reaches {', '.join(f'aten::{op}' for op in tagged)}, whose result "
                                   f"is a value on the host: it waits for every queued NPU operator to finish. "
                                   + _capital(context.settings.spec("host-sync").message), evidence)


def _on_host_receiver(call: ast.Call, scope: Scope) -> bool:
    """A method of a tensor made on the host (torch.randn(1).item()): no NPU is waited for."""
    func = call.func
    return isinstance(func, ast.Attribute) and scope.imports.qualified(func) is None and scope.on_host(func.value)


def _host_method(call: ast.Call, scope: Scope, context: FileContext) -> None:
    if not context.wants("host-sync") or _on_host_receiver(call, scope):
        return
    func = call.func
    if not (isinstance(func, ast.Attribute) and func.attr in HOST_METHODS and not call.args
            and scope.is_tensor(func.value)):
        return
    what = f"Tensor.{func.attr}() {HOST_METHODS[func.attr]}"
    context.add("host-sync", call, f"{what}: it waits for every queued NPU operator to finish. "
                                   + _capital(context.settings.spec("host-sync").message), "value-flow")


# ---- float64 ----------------------------------------------------------------------------------


def _float64(call: ast.Call, scope: Scope, context: FileContext) -> None:
    if not context.wants("float64"):
        return
    imports, func = scope.imports, call.func
    found: str | None = None
    evidence = ""
    if imports.qualified(func) in DOUBLE_TENSORS:
        found = f"{imports.qualified(func)}(...) makes a float64 tensor"
    elif isinstance(func, ast.Attribute) and func.attr == "double" and not call.args and not call.keywords:
        found = ".double() converts to float64"
        evidence = "value-flow" if scope.is_tensor(func.value) else "name-heuristic"
    else:
        for value in (*call.args, *(k.value for k in call.keywords if k.arg in (None, "dtype"))):
            name = imports.qualified(value)
            if name in FLOAT64 or name in DOUBLE_TENSORS:
                found = f"{_called(call, scope)} with {name}"
                break
    if found is not None:
        where = " (made on the host here: it matters once it moves to the NPU)" if scope.on_host(call) else ""
        why = "many NPU kernels reject float64 ('Unsupport data type Double'), the fused ones take only " \
              "float16, bfloat16 and float32"
        context.add("float64", call, f"{found}{where}: {why}. {_capital(context.settings.spec('float64').message)}",
                    evidence)


# ---- fused-optimizer --------------------------------------------------------------------------


def _optimizer(call: ast.Call, api_name: str, context: FileContext) -> None:
    spec = context.settings.spec("fused-optimizer")
    fused = spec.replacements[api_name]
    message = f"{api_name} has a fused torch_npu version: {fused}{context.settings.missing_names((fused,))}"
    dropped = sorted(k.arg for k in call.keywords if k.arg in TORCH_ONLY_OPTIMIZER_ARGUMENTS)
    if dropped:
        message += f"; drop {', '.join(dropped)}= (it does not take them)"
    context.add("fused-optimizer", call, f"{message}. {_capital(spec.message)}")


# ---- helpers ----------------------------------------------------------------------------------


def _argument(call: ast.Call, position: int, keyword: str) -> ast.expr | None:
    for k in call.keywords:
        if k.arg == keyword:
            return k.value
    return call.args[position] if len(call.args) > position else None


def _called(call: ast.Call, scope: Scope) -> str:
    func = call.func
    if (name := scope.imports.qualified(func)) is not None:
        return name
    return f".{func.attr}()" if isinstance(func, ast.Attribute) else "a call"


def _name(api: ApiOps) -> str:
    return api.api if not api.api.startswith("torch.nn.") or api.api.startswith("torch.nn.functional.") \
        else f"{api.api} (its forward)"


def _capital(text: str) -> str:
    return text[:1].upper() + text[1:]
