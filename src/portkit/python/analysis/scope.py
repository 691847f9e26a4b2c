"""What the analyses know about names: the file's imports (`F` is torch.nn.functional), and per
scope (a function, a class body, the module) the values assigned to local names and which of
them hold tensors.

Tensor-ness is followed from where a value is made to where it is used (evidence
"value-flow"): a parameter annotated `torch.Tensor`, the result of a torch call that returns one
tensor (api_ops: every overload does), a tensor method of a tensor, arithmetic, indexing or a
comparison with a tensor. A name is a tensor only if every assignment to it in the scope is;
names of other scopes are not followed. Anything else is unknown, and the analyses that need a
tensor receiver (`.item()`, `Tensor.X` operators) leave it alone.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass, field

from portkit.python.triage import dotted_chain, import_bindings
from portkit.ruleset.api_ops import ApiTable

# tensor constructors that are no ATen operator (Python bindings): their result is on the host
# unless device= says otherwise
CONSTRUCTORS = frozenset({"torch.tensor", "torch.as_tensor", "torch.from_numpy", "torch.Tensor", "torch.FloatTensor",
                          "torch.LongTensor", "torch.IntTensor", "torch.BoolTensor", "torch.DoubleTensor"})
# methods that move a tensor to a device (the result is not on the host)
_MOVES = frozenset({"to", "npu", "cuda", "pin_memory"})
# attributes of a tensor that are tensors
TENSOR_ATTRIBUTES = frozenset({"T", "mT", "H", "mH", "real", "imag", "data", "grad"})
_TENSOR_COMPARISONS = (ast.Eq, ast.NotEq, ast.Lt, ast.LtE, ast.Gt, ast.GtE)
_TENSOR_OPERATORS = (ast.Add, ast.Sub, ast.Mult, ast.Div, ast.MatMult, ast.Pow, ast.FloorDiv, ast.Mod)


def dotted(node: ast.AST) -> str | None:
    """'a.b.c' for a chain of attributes on a name."""
    parts = dotted_chain(node)  # the triage's reading of the same chains
    return ".".join(parts) if parts else None


@dataclass(frozen=True)
class Imports:
    """Local name -> the qualified name the file's imports bind it to (a later import wins)."""

    bindings: dict[str, str]
    # node id -> its qualified name: the patterns ask about the same call several times
    _resolved: dict[int, str | None] = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def of(cls, nodes: list[ast.AST]) -> Imports:
        return cls(dict(import_bindings(nodes)))

    def qualified(self, node: ast.AST) -> str | None:
        """'torch.nn.functional.silu' for `F.silu` after `import torch.nn.functional as F`; None
        for names no import binds (locals, attributes of `self`)."""
        key = id(node)
        if key in self._resolved:
            return self._resolved[key]
        found = self._resolved[key] = self._qualified(node)
        return found

    def _qualified(self, node: ast.AST) -> str | None:
        parts: list[str] = []
        while isinstance(node, ast.Attribute):
            parts.append(node.attr)
            node = node.value
        # most chains start at a local name: look the head up before building any string
        bound = self.bindings.get(node.id) if isinstance(node, ast.Name) else None
        if bound is None:
            return None
        return ".".join([bound, *reversed(parts)])


@dataclass(frozen=True)
class Assignment:
    line: int
    value: ast.expr
    index: int | None = None  # `a, b = value`: the position of the name in the target tuple


@dataclass
class Scope:
    """One function, class body or module body: its own statements, not nested scopes'."""

    node: ast.AST
    own: list[ast.AST]  # the calls, operations, subscripts and assignments of its own statements
    imports: Imports
    api: ApiTable
    assignments: dict[str, list[Assignment]] = field(default_factory=dict)
    annotated: set[str] = field(default_factory=set)  # parameters annotated as tensors
    tensors: set[str] = field(default_factory=set)
    _memo: dict[int, bool] = field(default_factory=dict, repr=False)
    _host: dict[int, bool] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        if isinstance(self.node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            arguments = self.node.args
            for arg in (*arguments.posonlyargs, *arguments.args, *arguments.kwonlyargs):
                if arg.annotation is not None and self._is_tensor_type(arg.annotation):
                    self.annotated.add(arg.arg)
        for node in self.own:
            if isinstance(node, ast.Assign):
                for target in node.targets:
                    self._bind(target, node.value, node.lineno)
            elif isinstance(node, (ast.AnnAssign, ast.AugAssign)) and node.value is not None:
                self._bind(node.target, node.value if isinstance(node, ast.AnnAssign) else node, node.lineno)
            elif isinstance(node, ast.NamedExpr):
                self._bind(node.target, node.value, node.lineno)
        for bound in self.assignments.values():
            bound.sort(key=lambda a: a.line)  # the walk does not keep source order
        self._infer_tensors()

    def _bind(self, target: ast.AST, value: ast.AST, line: int) -> None:
        if isinstance(target, ast.Name):
            self.assignments.setdefault(target.id, []).append(Assignment(line, value))  # type: ignore[arg-type]
        elif isinstance(target, (ast.Tuple, ast.List)):
            for index, element in enumerate(target.elts):
                if isinstance(element, ast.Name):
                    bound = Assignment(line, value, index)  # type: ignore[arg-type]
                    self.assignments.setdefault(element.id, []).append(bound)

    def _is_tensor_type(self, annotation: ast.expr) -> bool:
        if isinstance(annotation, ast.Constant) and isinstance(annotation.value, str):
            try:
                annotation = ast.parse(annotation.value, mode="eval").body
            except SyntaxError:
                return False
        return self.imports.qualified(annotation) == "torch.Tensor"

    def _infer_tensors(self) -> None:
        """Names all of whose assignments are tensors, to a fixed point (x = y + 1 after y = ...)."""
        self.tensors = set(self.annotated)
        changed = True
        while changed:
            changed = False
            self._memo.clear()
            for name, bound in self.assignments.items():
                if name not in self.tensors and all(self._assignment_tensor(a) for a in bound):
                    self.tensors.add(name)
                    changed = True
        # a parameter annotated as a tensor but given something else in the body is not known
        self._memo.clear()
        self.tensors -= {n for n in self.annotated
                         if not all(self._assignment_tensor(a) for a in self.assignments.get(n, []))}
        self._memo.clear()

    def _assignment_tensor(self, assignment: Assignment) -> bool:
        return assignment.index is None and self.is_tensor(assignment.value)

    # ---- questions the analyses ask -------------------------------------------------------------

    def is_tensor(self, node: ast.AST) -> bool:
        key = id(node)
        if key not in self._memo:
            self._memo[key] = False  # a cycle (x = x + 1) proves nothing
            self._memo[key] = self._tensor(node)
        return self._memo[key]

    def _tensor(self, node: ast.AST) -> bool:
        if isinstance(node, ast.Name):
            return node.id in self.tensors
        if isinstance(node, ast.AugAssign):
            return isinstance(node.target, ast.Name) and node.target.id in self.tensors
        if isinstance(node, ast.BinOp) and isinstance(node.op, _TENSOR_OPERATORS):
            return self.is_tensor(node.left) or self.is_tensor(node.right)
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd, ast.Invert)):
            return self.is_tensor(node.operand)
        if isinstance(node, ast.Compare):  # `in` and `is` make a Python bool, not a tensor
            return len(node.ops) == 1 and isinstance(node.ops[0], _TENSOR_COMPARISONS) \
                and any(self.is_tensor(n) for n in (node.left, *node.comparators))
        if isinstance(node, ast.Subscript):
            return self.is_tensor(node.value)
        if isinstance(node, ast.Attribute):
            return node.attr in TENSOR_ATTRIBUTES and self.is_tensor(node.value)
        if isinstance(node, ast.Call):
            api = self.api_of(node)
            found = self.api.lookup(api) if api else None
            return found is not None and found.tensor or api in CONSTRUCTORS
        return False

    def on_host(self, node: ast.AST) -> bool:
        """Whether a tensor expression is made on the host: a factory or constructor called without
        device= (torch.randn(1), torch.tensor(data)), `.cpu()`, or an operation of such tensors only."""
        key = id(node)
        if key not in self._host:
            self._host[key] = False  # a cycle proves nothing
            self._host[key] = self._made_on_host(node)
        return self._host[key]

    def _made_on_host(self, node: ast.AST) -> bool:
        if isinstance(node, ast.Name):
            bound = self.assignments.get(node.id, [])
            return bool(bound) and node.id not in self.annotated and all(
                a.index is None and self.on_host(a.value) for a in bound)
        if isinstance(node, (ast.Subscript, ast.Attribute)):
            return self.on_host(node.value)
        if isinstance(node, ast.UnaryOp):
            return self.on_host(node.operand)
        if isinstance(node, ast.BinOp):
            return self._all_on_host([node.left, node.right])
        if not isinstance(node, ast.Call):
            return False
        api = self.api_of(node)
        found = self.api.lookup(api) if api else None
        if api in CONSTRUCTORS or found is not None and found.factory:
            return not any(k.arg == "device" for k in node.keywords)
        func = node.func
        if isinstance(func, ast.Attribute) and api is not None and api.startswith("Tensor."):
            if func.attr == "cpu" or func.attr in _MOVES:
                return func.attr == "cpu"
            return self._all_on_host([func.value, *node.args])
        return api is not None and self._all_on_host(list(node.args))

    def _all_on_host(self, nodes: list[ast.AST]) -> bool:
        tensors = [n for n in nodes if self.is_tensor(n)]
        return bool(tensors) and all(self.on_host(n) for n in tensors)

    def api_of(self, call: ast.Call) -> str | None:
        """The api_ops name a call is a use of: 'torch.linalg.eigh', 'torch.nn.Linear', or
        'Tensor.item' when the receiver is a tensor."""
        qualified = self.imports.qualified(call.func)
        if qualified is not None:
            return qualified
        func = call.func
        if isinstance(func, ast.Attribute) and self.is_tensor(func.value):
            return f"Tensor.{func.attr}"
        return None

    def value_of(self, node: ast.AST, before: int) -> ast.AST | None:
        """The expression a name was last given before line `before` in this scope (the
        element's expression for a tuple target is not known: None)."""
        if not isinstance(node, ast.Name):
            return None
        earlier = [a for a in self.assignments.get(node.id, []) if a.line < before]
        if not earlier or earlier[-1].index is not None:
            return None
        return earlier[-1].value

    def unpacked(self, node: ast.AST, before: int) -> tuple[ast.expr, int] | None:
        """For a name bound by `a, b = value`: (value, position)."""
        if not isinstance(node, ast.Name):
            return None
        earlier = [a for a in self.assignments.get(node.id, []) if a.line < before]
        if not earlier or earlier[-1].index is None:
            return None
        return earlier[-1].value, earlier[-1].index


# the nodes the analyses look at (calls, arithmetic, indexing) or that bind names; the rest are
# walked through but not kept
_KEPT = (ast.Call, ast.BinOp, ast.Subscript, ast.Assign, ast.AnnAssign, ast.AugAssign, ast.NamedExpr)
_LEAVES = (ast.Name, ast.Constant, ast.Import, ast.ImportFrom, ast.Pass, ast.Break, ast.Continue)
_FIELDS: dict[type, tuple[str, ...]] = {}


def _fields(kind: type) -> tuple[str, ...]:
    """A node type's fields that may hold nodes (not the Load/Store markers: a quarter of all nodes)."""
    found = _FIELDS.get(kind)
    if found is None:
        names: tuple[str, ...] = kind._fields  # type: ignore[attr-defined]
        found = _FIELDS[kind] = tuple(f for f in names if f not in ("ctx", "type_comment"))
    return found


def scopes(tree: ast.Module, api: ApiTable) -> list[Scope]:
    """The module, every class body and every function (nested ones included), from one walk
    of the tree; the imports anywhere in the file resolve names in all of them."""
    owned: dict[int, list[ast.AST]] = {id(tree): []}
    owners: list[ast.AST] = [tree]
    imports: list[ast.AST] = []
    stack: list[tuple[ast.AST, ast.AST]] = [(child, tree) for child in tree.body]
    while stack:
        node, owner = stack.pop()
        if isinstance(node, _KEPT):
            owned[id(owner)].append(node)
        elif isinstance(node, _LEAVES):
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                imports.append(node)
            continue
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            owned[id(node)] = []
            owners.append(node)
            stack.extend((child, node) for child in node.body)
            stack.extend((child, owner) for child in node.decorator_list)
            continue
        for name in _fields(type(node)):
            value = getattr(node, name, None)
            if value.__class__ is list:
                stack.extend((item, owner) for item in value if isinstance(item, ast.AST))
            elif isinstance(value, ast.AST):
                stack.append((value, owner))
    bound = Imports.of(imports)
    return [Scope(owner, owned[id(owner)], bound, api) for owner in owners]
