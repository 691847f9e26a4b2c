"""Fused-operator advice found by structure, not by name: RMSNorm, rotary embeddings, SwiGLU and
attention written out in tensor operations, which torch_npu runs as one fused kernel each.

Each pattern is matched on the stdlib tree of one scope, following local names back to the
expression last assigned to them (`variance = x.pow(2).mean(-1, keepdim=True)`, then
`x * torch.rsqrt(variance + eps)`), through the file's imports (`F.silu`, `torch.rsqrt`).
"""

from __future__ import annotations

import ast
from collections.abc import Callable
from dataclasses import dataclass

from portkit.python.analysis.context import FileContext
from portkit.python.analysis.scope import Scope

SDPA = "torch.nn.functional.scaled_dot_product_attention"
SOFTMAX = frozenset({"torch.softmax", "torch.nn.functional.softmax", "torch.special.softmax"})
SILU = frozenset({"torch.nn.functional.silu"})
CAT = frozenset({"torch.cat", "torch.concat", "torch.concatenate"})
MATMUL = frozenset({"torch.matmul", "torch.bmm"})
# names of rotate-half helpers in the wild and their layout (transformers' rotate_half, GPT-J's
# rotate_every_two), used when the helper is not defined in the file itself
ROTATE_NAMES = {"rotate_half": "half", "rotate_every_two": "interleave"}
_FOLLOW = 6  # how many assignments back a name is followed
# words one of which a file holds when it can hold the pattern (the file-level triage)
PATTERN_WORDS = {
    "fused-rmsnorm": ("sqrt", "rsqrt", "rms_norm", "RMSNorm"),
    "fused-rotary": ("cat", "concat", "concatenate", "stack", "view_as_real", *ROTATE_NAMES),
    "fused-swiglu": ("silu",),
    "fused-attention": ("softmax",),
}


def _called(call: ast.AST, scope: Scope, functions: frozenset[str], method: str) -> ast.AST | None:
    """The tensor a call works on, when it is `torch.f(x, ...)` (f in functions) or `x.method(...)`."""
    if not isinstance(call, ast.Call):
        return None
    if scope.imports.qualified(call.func) in functions:
        return call.args[0] if call.args else None
    func = call.func
    if isinstance(func, ast.Attribute) and func.attr == method and scope.imports.qualified(func.value) is None:
        return func.value
    return None


def resolve(node: ast.AST, scope: Scope, depth: int = _FOLLOW) -> ast.AST:
    """The expression a local name was last given (followed a few steps); anything else as it is."""
    while depth and isinstance(node, ast.Name):
        value = scope.value_of(node, node.lineno)
        if value is None:
            break
        node, depth = value, depth - 1
    return node


def _constant(node: ast.AST) -> object:
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub) and isinstance(node.operand, ast.Constant):
        value = node.operand.value
        return -value if isinstance(value, (int, float)) else None
    return node.value if isinstance(node, ast.Constant) else None


def _argument(call: ast.Call, position: int, keyword: str) -> ast.expr | None:
    for k in call.keywords:
        if k.arg == keyword:
            return k.value
    return call.args[position] if len(call.args) > position else None


# ---- RMSNorm ---------------------------------------------------------------------------------


def _squared(node: ast.AST, scope: Scope) -> ast.AST | None:
    """x for x.pow(2), x ** 2, x * x, x.square(), torch.square(x), torch.pow(x, 2)."""
    node = resolve(node, scope)
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Pow) and _constant(node.right) == 2:
        return node.left
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Mult) and ast.dump(node.left) == ast.dump(node.right):
        return node.left
    if (base := _called(node, scope, frozenset({"torch.square"}), "square")) is not None:
        return base
    if (base := _called(node, scope, frozenset({"torch.pow"}), "pow")) is not None:
        exponent = node.args[-1] if isinstance(node, ast.Call) and node.args else None
        return base if exponent is not None and _constant(exponent) == 2 else None
    return None


def _mean_of_squares(node: ast.AST, scope: Scope) -> bool:
    """mean(x ** 2) over the last dimension, x not centred (a centred one is LayerNorm's variance)."""
    node = resolve(node, scope)
    target = _called(node, scope, frozenset({"torch.mean"}), "mean")
    if target is None or not isinstance(node, ast.Call):
        return False
    method = isinstance(node.func, ast.Attribute) and node.func.value is target
    dim = _argument(node, 0 if method else 1, "dim") or _argument(node, 0 if method else 1, "axis")
    dims = dim.elts if isinstance(dim, (ast.Tuple, ast.List)) else [dim]
    if [_constant(d) for d in dims if d is not None] != [-1]:
        return False  # over other dimensions (EvoNorm's spatial RMS) it is no RMSNorm
    base = _squared(target, scope)
    return base is not None and not (isinstance(resolve(base, scope), ast.BinOp)
                                     and isinstance(resolve(base, scope).op, ast.Sub))  # type: ignore[attr-defined]


def _plus_eps_of_mean(node: ast.AST, scope: Scope) -> bool:
    node = resolve(node, scope)
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
        return _mean_of_squares(node.left, scope) or _mean_of_squares(node.right, scope)
    if (receiver := _called(node, scope, frozenset({"torch.add"}), "add")) is not None:
        return _mean_of_squares(receiver, scope)
    return _mean_of_squares(node, scope)


def rmsnorm(node: ast.AST, scope: Scope, context: FileContext) -> None:
    """x * rsqrt(mean(x ** 2) + eps), or x / sqrt(...): at the rsqrt / sqrt."""
    inner = _called(node, scope, frozenset({"torch.rsqrt", "torch.sqrt"}), "rsqrt") \
        or _called(node, scope, frozenset(), "sqrt")
    if inner is not None and _plus_eps_of_mean(inner, scope):
        _fused(context, "fused-rmsnorm", node, "RMSNorm written out (the root of the mean of squares, "
                                               "normalising the last dimension)")


def rms_norm_call(call: ast.Call, scope: Scope, context: FileContext) -> None:
    """torch.nn.functional.rms_norm / torch.nn.RMSNorm where the release has no aten::rms_norm kernel."""
    name = scope.imports.qualified(call.func)
    if name in ("torch.nn.functional.rms_norm", "torch.nn.RMSNorm") \
            and not context.settings.operators.npu_implements("rms_norm"):
        _fused(context, "fused-rmsnorm", call, f"{name}: torch_npu {context.settings.npu_version} registers no "
                                               f"aten::rms_norm kernel, it runs as pow, mean, add, rsqrt and mul")


# ---- rotary embeddings -----------------------------------------------------------------------


def _half(node: ast.AST, scope: Scope) -> tuple[str, str] | None:
    """(the tensor's source, which half) for x[..., :n] / x[..., n:] (first/second), x[..., ::2] /
    x[..., 1::2] (even/odd), or a name bound by `a, b = x.chunk(2, dim=-1)`."""
    if isinstance(node, ast.Name) and (unpacked := scope.unpacked(node, node.lineno)) is not None:
        value, index = unpacked
        base = _called(value, scope, frozenset({"torch.chunk"}), "chunk")
        if base is not None and index in (0, 1):
            return ast.unparse(resolve(base, scope)), ("first", "second")[index]
        return None
    node = resolve(node, scope)
    if not isinstance(node, ast.Subscript):
        return None
    parts = node.slice.elts if isinstance(node.slice, ast.Tuple) else [node.slice]
    last = parts[-1]
    if not isinstance(last, ast.Slice):
        return None
    step = _constant(last.step) if last.step is not None else None
    lower = _constant(last.lower) if last.lower is not None else None
    kind = ("even" if lower is None else "odd" if lower == 1 else None) if step == 2 else \
        "first" if last.lower is None and last.upper is not None and step is None else \
        "second" if last.upper is None and last.lower is not None and step is None else None
    return (ast.unparse(node.value), kind) if kind else None


def rotate_half(call: ast.Call, scope: Scope) -> str | None:
    """'half' for torch.cat((-x2, x1), dim=-1), 'interleave' for torch.stack((-x2, x1), dim=-1)
    on the odd and even elements; None otherwise."""
    name = scope.imports.qualified(call.func)
    if name not in CAT and name != "torch.stack" or not call.args:
        return None
    parts, dim = call.args[0], _argument(call, 1, "dim")
    if not isinstance(parts, (ast.Tuple, ast.List)) or len(parts.elts) != 2 or dim is None or _constant(dim) != -1:
        return None
    negated, kept = parts.elts
    if not isinstance(negated, ast.UnaryOp) or not isinstance(negated.op, ast.USub):
        return None
    first, second = _half(negated.operand, scope), _half(kept, scope)
    if first is None or second is None or first[0] != second[0]:
        return None
    wanted = {("second", "first"): "half", ("odd", "even"): "interleave"}.get((first[1], second[1]))
    return wanted if wanted == "half" and name in CAT or wanted == "interleave" and name == "torch.stack" else None


def rotary_helpers(scopes: list[Scope]) -> dict[str, str]:
    """The file's functions that rotate half of a tensor (their body holds the pattern), with the layout."""
    helpers: dict[str, str] = {}
    for scope in scopes:
        if isinstance(scope.node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            calls = [n for n in scope.own if isinstance(n, ast.Call)]
            modes = [mode for call in calls if (mode := rotate_half(call, scope))]
            if modes:
                helpers[scope.node.name] = modes[0]
    return helpers


def rotary_call(node: ast.Call, scope: Scope, context: FileContext) -> None:
    """rotate_half itself, or the complex-number form (view_as_real(view_as_complex(x) * freqs))."""
    if (mode := rotate_half(node, scope)) is not None:
        _fused(context, "fused-rotary", node, f"rotate_half written out (rotary_mode='{mode}')")
    elif scope.imports.qualified(node.func) == "torch.view_as_real" and node.args:
        product = resolve(node.args[0], scope)
        sides = (product.left, product.right) if isinstance(product, ast.BinOp) and isinstance(product.op, ast.Mult) else ()
        if any(isinstance(p := resolve(side, scope), ast.Call)
               and scope.imports.qualified(p.func) == "torch.view_as_complex" for side in sides):
            _fused(context, "fused-rotary", node, "rotary embedding as a complex product (view_as_complex * freqs: "
                                                  "neighbouring pairs, rotary_mode='interleave' with cos/sin)")


def rotary_sum(node: ast.BinOp, context: FileContext, helpers: dict[str, str]) -> None:
    """x * cos + rotate_half(x) * sin."""
    helper = _rotation_term(node, helpers) if isinstance(node.op, ast.Add) else None
    if helper is not None:
        evidence, mode = ("", helpers[helper]) if helper in helpers else ("name-heuristic", ROTATE_NAMES[helper])
        _fused(context, "fused-rotary", node, f"x * cos + {helper}(x) * sin written out (rotary_mode='{mode}')",
               evidence)


def _rotation_term(node: ast.BinOp, helpers: dict[str, str]) -> str | None:
    """The helper's name in `a * cos + helper(a) * sin` (either order)."""
    if not all(isinstance(side, ast.BinOp) and isinstance(side.op, ast.Mult) for side in (node.left, node.right)):
        return None
    for side in (node.left, node.right):
        for factor in (side.left, side.right):  # type: ignore[attr-defined]
            if isinstance(factor, ast.Call) and isinstance(factor.func, ast.Name) \
                    and (factor.func.id in helpers or factor.func.id in ROTATE_NAMES):
                return factor.func.id
    return None


# ---- SwiGLU ----------------------------------------------------------------------------------


def swiglu(node: ast.AST, scope: Scope, context: FileContext) -> None:
    """F.silu(a) * b: one kernel when a and b are the halves of one projection."""
    if not isinstance(node, ast.BinOp) or not isinstance(node.op, ast.Mult):
        return
    for gate, other in ((node.left, node.right), (node.right, node.left)):
        if isinstance(gate, ast.Call) and scope.imports.qualified(gate.func) in SILU and gate.args \
                and _constant(other) is None:
            a, b = _half(gate.args[0], scope), _half(other, scope)
            if a is not None and b is not None and a[0] == b[0] and (a[1], b[1]) == ("first", "second"):
                what = f"SwiGLU written out on the halves of {a[0]}"
            else:
                what = "SwiGLU written out (silu(a) * b; with two projections, concatenate their weights into one)"
            _fused(context, "fused-swiglu", node, what)
            return


# ---- attention -------------------------------------------------------------------------------


def _reaches(node: ast.AST, scope: Scope, found: Callable[[ast.AST], bool],
             stop: Callable[[ast.AST], bool] = lambda n: False, budget: int = 40) -> ast.AST | None:
    """The first expression `found` accepts among node's parts, followed through local names,
    calls' arguments and receivers, arithmetic and indexing (a bounded search), not into the
    parts of an expression `stop` accepts."""
    queue: list[ast.AST] = [node]
    while queue and budget:
        current, budget = queue.pop(0), budget - 1
        if found(current):
            return current
        if stop(current):
            continue
        if isinstance(current, ast.Name):
            value = scope.value_of(current, current.lineno)
            queue += [value] if value is not None else []
        elif isinstance(current, ast.Call):
            queue += list(current.args) + ([current.func.value] if isinstance(current.func, ast.Attribute)
                                           and scope.imports.qualified(current.func) is None else [])
        elif isinstance(current, ast.BinOp):
            queue += [current.left, current.right]
        elif isinstance(current, (ast.UnaryOp, ast.Subscript)):
            queue.append(current.operand if isinstance(current, ast.UnaryOp) else current.value)
    return None


def _transposed(node: ast.AST, scope: Scope) -> bool:
    node = resolve(node, scope)
    if isinstance(node, ast.Attribute) and node.attr in ("mT", "T"):
        return True
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "transpose":
        dims = {_constant(a) for a in node.args}
        return dims in ({-2, -1}, {2, 3}, {1, 2})
    return False


def _scores(node: ast.AST, scope: Scope) -> bool:
    """q @ k.transpose(-2, -1), torch.matmul(q, k.mT), or an einsum."""
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.MatMult):
        return _transposed(node.right, scope)
    if isinstance(node, ast.Call):
        name = scope.imports.qualified(node.func)
        return name == "torch.einsum" or name in MATMUL and len(node.args) == 2 and _transposed(node.args[1], scope)
    return False


def attention(node: ast.AST, scope: Scope, context: FileContext) -> None:
    """softmax(q @ k^T * scale) @ v: at the product with v."""
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.MatMult):
        probabilities = node.left
    elif isinstance(node, ast.Call) and scope.imports.qualified(node.func) in MATMUL | {"torch.einsum"} \
            and len(node.args) >= 2:
        probabilities = node.args[-2]
    else:
        return

    def is_softmax(candidate: ast.AST) -> bool:
        inner = _called(candidate, scope, SOFTMAX, "softmax")
        return inner is not None and _reaches(inner, scope, lambda n: _scores(n, scope)) is not None

    def is_product(candidate: ast.AST) -> bool:  # the probabilities are not a product themselves
        return isinstance(candidate, ast.BinOp) and isinstance(candidate.op, ast.MatMult) or isinstance(
            candidate, ast.Call) and scope.imports.qualified(candidate.func) in MATMUL | {"torch.einsum"}

    if _reaches(probabilities, scope, is_softmax, is_product) is not None and not _has_sdpa(scope):
        _fused(context, "fused-attention", node, "attention written out (softmax(q @ k^T) @ v materialises the "
                                                 "seq x seq scores)")


def _has_sdpa(scope: Scope) -> bool:
    """The function already calls F.scaled_dot_product_attention (timm's `if self.fused_attn:`): the
    written-out branch is its fallback, not what runs by default."""
    return any(isinstance(n, ast.Call) and scope.imports.qualified(n.func) == SDPA for n in scope.own)


def _fused(context: FileContext, rule_id: str, node: ast.AST, what: str, evidence: str = "") -> None:
    if not context.wants(rule_id):
        return
    spec = context.settings.spec(rule_id)
    message = f"{what}: {spec.message}{context.settings.missing_names(spec.npu_names)}"
    context.add(rule_id, node, message, evidence)


@dataclass(frozen=True, eq=False)
class Patterns:
    """The patterns a file can hold, told by words of its text (a file without "softmax" holds no
    attention), and its rotate-half helpers: the tree is only searched for those."""

    rmsnorm: bool
    rotary: bool
    swiglu: bool
    attention: bool
    helpers: dict[str, str]  # the file's rotate-half functions and their rotary_mode

    @classmethod
    def for_text(cls, text: str, scopes: list[Scope]) -> Patterns:
        holds = {rule_id: any(word in text for word in words) for rule_id, words in PATTERN_WORDS.items()}
        return cls(rmsnorm=holds["fused-rmsnorm"], rotary=holds["fused-rotary"], swiglu=holds["fused-swiglu"],
                   attention=holds["fused-attention"],
                   helpers=rotary_helpers(scopes) if holds["fused-rotary"] else {})

    def call(self, node: ast.Call, scope: Scope, context: FileContext) -> None:
        if self.rmsnorm:
            rmsnorm(node, scope, context)
            rms_norm_call(node, scope, context)
        if self.rotary:
            rotary_call(node, scope, context)
        if self.attention:
            attention(node, scope, context)

    def binary(self, node: ast.BinOp, scope: Scope, context: FileContext) -> None:
        if self.rotary:
            rotary_sum(node, context, self.helpers)
        if self.swiglu:
            swiglu(node, scope, context)
        if self.attention:
            attention(node, scope, context)
