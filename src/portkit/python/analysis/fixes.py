"""The `review` fixes of fused-operator advice: offered only where the replacement is mechanical,
applied only by `portkit analyze --fix` (or shown by `--diff`).

One is offered today, for fused-rmsnorm: the single expression

    x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + eps) * self.weight

becomes `torch_npu.npu_rms_norm(x, self.weight, epsilon=eps)[0]` (the wheels of 2.1.0.post17 to
2.13.0: `npu_rms_norm(Tensor self, Tensor gamma, float epsilon=1e-06) -> (Tensor, Tensor)`, y
first; gamma's shape says which trailing dimensions are normalised). Offered only when
- x is one local name, the same in the product and in the mean of squares (x ** 2, x * x,
  x.pow(2), x.square(), torch.pow(x, 2), torch.square(x)): evaluating it once changes nothing;
- the mean is over the last dimension alone with keepdim=True, and eps is added to it inside the
  root (rsqrt(m + eps), or 1 / sqrt(m + eps) is not matched);
- the weight is `self.<name>` and every assignment of `self.<name>` in the file is
  `nn.Parameter(torch.ones(<size>))`: a 1-D weight over the last dimension, as gamma must be;
- the file imports torch at its top level and binds the name `torch_npu` to nothing else.
What stays different, and why the fix is `review`: the kernel takes only float16, bfloat16 and
float32 with gamma of x's dtype (x in bfloat16 and a float32 weight, which the written-out form
promotes, raises), and it reduces in its own order and precision, so results can differ from
pow / mean / rsqrt in x's dtype in the last bits.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass

from portkit.python.analysis.scope import Scope

RMS_NORM = "torch_npu.npu_rms_norm"


@dataclass(frozen=True)
class Edit:
    """Replace the text of a node (ast positions: 1-based lines, UTF-8 byte columns) by `new`."""

    rule_id: str
    line: int
    column: int
    end_line: int
    end_column: int
    new: str


def _constant(node: ast.AST) -> object:
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub) and isinstance(node.operand, ast.Constant):
        value = node.operand.value
        return -value if isinstance(value, (int, float)) and not isinstance(value, bool) else None
    return node.value if isinstance(node, ast.Constant) else None


def _squared_name(node: ast.AST, scope: Scope) -> str | None:
    """x for x ** 2, x * x, x.pow(2), x.square(), torch.pow(x, 2), torch.square(x), x a local name."""
    base: ast.AST | None = None
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Pow) and _constant(node.right) == 2:
        base = node.left
    elif isinstance(node, ast.BinOp) and isinstance(node.op, ast.Mult) and isinstance(node.left, ast.Name) \
            and isinstance(node.right, ast.Name) and node.left.id == node.right.id:
        base = node.left
    elif isinstance(node, ast.Call) and not node.keywords:
        name = scope.imports.qualified(node.func)
        func = node.func
        if name in ("torch.pow", "torch.square") and node.args:
            base = node.args[0] if name == "torch.square" and len(node.args) == 1 or \
                len(node.args) == 2 and _constant(node.args[1]) == 2 else None
        elif name is None and isinstance(func, ast.Attribute) and (
                func.attr == "square" and not node.args or func.attr == "pow" and len(node.args) == 1
                and _constant(node.args[0]) == 2):
            base = func.value
    return base.id if isinstance(base, ast.Name) else None


def _mean_of_squares(node: ast.AST, scope: Scope) -> str | None:
    """x for mean(x ** 2, -1, keepdim=True) (method or torch.mean), nothing else passed."""
    if not isinstance(node, ast.Call):
        return None
    method = isinstance(node.func, ast.Attribute) and scope.imports.qualified(node.func) is None \
        and node.func.attr == "mean"
    if not method and scope.imports.qualified(node.func) != "torch.mean":
        return None
    args = [node.func.value, *node.args] if method else list(node.args)  # type: ignore[attr-defined]
    keywords = {k.arg: k.value for k in node.keywords}
    if None in keywords or len(args) > 3 or set(keywords) - {"dim", "keepdim"}:
        return None
    dim = keywords.get("dim", args[1] if len(args) > 1 else None)
    keepdim = keywords.get("keepdim", args[2] if len(args) > 2 else None)
    if dim is None or keepdim is None or len(args) > 1 + ("dim" not in keywords) + ("keepdim" not in keywords):
        return None
    dims = dim.elts if isinstance(dim, (ast.Tuple, ast.List)) else [dim]
    if [_constant(d) for d in dims] != [-1] or _constant(keepdim) is not True:
        return None
    return _squared_name(args[0], scope)


def _root(node: ast.AST, scope: Scope) -> tuple[str, ast.expr] | None:
    """(x, eps) for rsqrt(mean(x ** 2, -1, keepdim=True) + eps), torch.rsqrt or the method."""
    if not isinstance(node, ast.Call) or node.keywords:
        return None
    if scope.imports.qualified(node.func) == "torch.rsqrt" and len(node.args) == 1:
        inner = node.args[0]
    elif isinstance(node.func, ast.Attribute) and node.func.attr == "rsqrt" and not node.args \
            and scope.imports.qualified(node.func) is None:
        inner = node.func.value
    else:
        return None
    if not isinstance(inner, ast.BinOp) or not isinstance(inner.op, ast.Add):
        return None
    for mean, eps in ((inner.left, inner.right), (inner.right, inner.left)):
        name = _mean_of_squares(mean, scope)
        if name is not None and _plain(eps) and _mean_of_squares(eps, scope) is None:
            return name, eps
    return None


def _plain(node: ast.AST) -> bool:
    """A value that is read, not computed: a name, an attribute chain or a number."""
    while isinstance(node, ast.Attribute):
        node = node.value
    return isinstance(node, ast.Name) or isinstance(_constant(node), (int, float)) and not isinstance(
        _constant(node), bool)


def _normalised(node: ast.AST, scope: Scope) -> tuple[str, ast.expr] | None:
    """(x, eps) for x * rsqrt(...) or rsqrt(...) * x with the same x inside."""
    if not isinstance(node, ast.BinOp) or not isinstance(node.op, ast.Mult):
        return None
    for x, root in ((node.left, node.right), (node.right, node.left)):
        found = _root(root, scope)
        if isinstance(x, ast.Name) and found is not None and found[0] == x.id:
            return found
    return None


def rmsnorm_fix(node: ast.BinOp, scope: Scope, text: str, ones_weights: frozenset[str]) -> Edit | None:
    """The fix of `x * rsqrt(mean(x ** 2, -1, keepdim=True) + eps) * self.weight` (either order)."""
    if not isinstance(node.op, ast.Mult):
        return None
    for normalised, weight in ((node.left, node.right), (node.right, node.left)):
        found = _normalised(normalised, scope)
        if found is None or not (isinstance(weight, ast.Attribute) and isinstance(weight.value, ast.Name)
                                 and weight.value.id == "self" and weight.attr in ones_weights):
            continue
        x, eps = found
        epsilon = ast.get_source_segment(text, eps) or ast.unparse(eps)  # as written: 1e-5 stays 1e-5
        new = f"{RMS_NORM}({x}, self.{weight.attr}, epsilon={epsilon})[0]"
        return Edit("fused-rmsnorm", node.lineno, node.col_offset, node.end_lineno or node.lineno,
                    node.end_col_offset or 0, new)
    return None


def ones_weights(text: str) -> frozenset[str]:
    """The attributes every assignment `self.<name> = ...` of the file gives a 1-D parameter of ones."""
    ones = re.compile(r"self\.(\w+)\s*=\s*(?:torch\.)?(?:nn\.)?Parameter\(\s*torch\.ones\(\s*[\w.]+\s*\)\s*\)")
    candidates = {m.group(1) for m in ones.finditer(text)}
    assigned = re.compile(r"self\.(\w+)\s*(?:[-+*/@%&|^]|//|\*\*|<<|>>)?=(?!=)")
    counts: dict[str, int] = {}
    for match in assigned.finditer(text):
        counts[match.group(1)] = counts.get(match.group(1), 0) + 1
    return frozenset(name for name in candidates
                     if counts.get(name) == sum(1 for m in ones.finditer(text) if m.group(1) == name))


def imports_torch_npu(tree: ast.Module, text: str) -> bool | None:
    """True: the file imports torch_npu at its top level; False: it may (the name is free and torch
    is imported at the top level); None: the fix cannot add the import safely."""
    bound = [a for s in tree.body if isinstance(s, ast.Import) for a in s.names if a.name == "torch_npu"]
    if bound and all(a.asname is None for a in bound):
        return True
    if re.search(r"\btorch_npu\b", text):
        return None  # the name is used some other way: leave the file alone
    return False if _torch_import(tree) is not None else None


def _torch_import(tree: ast.Module) -> ast.stmt | None:
    for statement in tree.body:
        if isinstance(statement, ast.Import) and any(a.name == "torch" or a.name.startswith("torch.")
                                                     for a in statement.names):
            return statement
        if isinstance(statement, ast.ImportFrom) and not statement.level and (statement.module or "").split(
                ".")[0] == "torch":
            return statement
    return None


def apply(text: str, edits: list[Edit], tree: ast.Module) -> str:
    """The text with the edits made (positions of `text`) and `import torch_npu` added after the
    first top-level import of torch when the file lacks it."""
    lines = re.split(r"(?<=\n)", text)
    starts = [0]
    for line in lines:
        starts.append(starts[-1] + len(line))

    def offset(line: int, column: int) -> int:
        return starts[line - 1] + len(lines[line - 1].encode("utf-8")[:column].decode("utf-8", errors="ignore"))

    pieces = [(offset(e.line, e.column), offset(e.end_line, e.end_column), e.new) for e in edits]
    if edits and not imports_torch_npu(tree, text):
        anchor = _torch_import(tree)
        assert anchor is not None and anchor.end_lineno is not None
        newline = "\r\n" if "\r\n" in text else "\n"
        at = starts[anchor.end_lineno]  # the start of the line after the import
        added = "import torch_npu" + newline if text[:at].endswith("\n") else newline + "import torch_npu"
        pieces.append((at, at, added))
    new = text
    for start, end, replacement in sorted(pieces, reverse=True):
        new = new[:start] + replacement + new[end:]
    return new
