"""Value flow inside one file: a string is judged by where its value goes, not where it is written.

`loc = 'cuda:{}'.format(gpu)` is a device because `loc` reaches `torch.load(p, map_location=loc)`;
`env = os.environ.copy()` is an environment mapping, so `env["CUDA_VISIBLE_DEVICES"]` names a
variable; `"cuda" in tokens`, a set of transport names, compares with no device at all.

Variables of a scope, attributes of `self`, parameters and returns of the file's own functions
are nodes; assignments (tuple unpacking included), defaults, returns and calls are edges. A node
*reaches* a kind (`flow = "device" | "environ" | "backend"` of a rule) when its value flows into
one of the rules' positional or keyword contexts, and *holds* it when a value of the kind flows
into it (`t.device`, `torch.device(...)`, `os.environ.copy()`): "value-flow" evidence. Otherwise
the node's own name (the rule's `names` pattern) is the fallback, "name-heuristic", unless the
flow shows a container or a value that only becomes part of a text (f-string, concatenation,
log message). One walk of the stdlib tree, one breadth-first pass per kind: linear.

A fourth kind no rule names: the *accelerator name* (flowsyntax.py). A value given as
`accelerator=`, used as a registry key, offered as an `--accelerator` choice, typed `Literal[...]`,
or held by a variable named like an accelerator (`_accelerator_flag`) is a user's choice among
names ("cuda", "gpu", "mps"), checked against lists portkit does not rewrite: it is never a device,
whatever else its value reaches, so both sides of its comparisons and its defaults stay as written.
"""

from __future__ import annotations

import ast
import re
from collections import deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from functools import reduce

from portkit.python.flowsyntax import ACCELERATOR, ACCELERATOR_NAMES, accelerator_arguments, added, colon_text
from portkit.python.flowsyntax import dotted, is_literal_annotation, text
from portkit.python.imports import ImportMap
from portkit.ruleset import ReplaceString, Rule
from portkit.ruleset.kinds import FLOWS

DEVICE, ENVIRON, BACKEND = KINDS = FLOWS  # what a rule's strings are (`flow` in its contexts)
_ALL = (*KINDS, ACCELERATOR)  # and what the flow tells apart from a device on its own
VALUE_FLOW, NAME_HEURISTIC = "value-flow", "name-heuristic"

# what torch and the standard library hand back, by qualified callee or attribute name
_SOURCE_CALLS = {
    "torch.device": DEVICE, "torch.get_default_device": DEVICE,
    "torch.distributed.get_backend": BACKEND, "torch.distributed.distributed_c10d.get_backend": BACKEND,
}
_SOURCE_ATTRIBUTES = {"device": DEVICE}  # `t.device` of a tensor, a module, a storage
_SAME_VALUE_CALLS = frozenset({"str", "dict", "copy.copy", "copy.deepcopy"})  # their first argument's value
_SAME_VALUE_METHODS = frozenset({"copy", "lower", "upper", "strip", "keys"})  # their receiver's value
_CONTAINER_CALLS = frozenset({"set", "frozenset", "list", "tuple", "sorted"})
_CONTAINER_METHODS = frozenset({"split", "rsplit", "splitlines", "values", "items"})
_LABEL_CALLS = frozenset({"print", "debug", "info", "warning", "warn", "error", "exception", "critical", "log", "write"})
_EXEC_WITH_ENV = re.compile(r"^os\.(exec|spawn)[a-z]*e$")  # os.execve, os.spawnlpe...: env comes last
_FIELD_FIRST = re.compile(r"\{0?\}:")  # "{}:{}".format(device_type, rank)
_CONTAINERS = (ast.List, ast.Tuple, ast.Set, ast.ListComp, ast.SetComp, ast.DictComp, ast.GeneratorExp)
_NEUTRAL, _LABEL, _UNKNOWN = 0, 1, 2  # how a value is used where it stands (for the heuristic's veto)
Key = tuple[object, ...]  # ("v", scope, name), ("a", class, attribute), ("r", function), ("f"/"m", scope, name)


@dataclass
class Positions:
    """Where the values of one kind are used, gathered from the rules that follow it."""

    positional: dict[str, set[int]] = field(default_factory=dict)  # callee (or ".method") -> indexes
    keywords: set[str] = field(default_factory=set)  # `map_location=`, and `env=` (a mapping)
    mappings: set[str] = field(default_factory=set)  # `os.environ`: a value of the kind by its name
    names: list[re.Pattern[str]] = field(default_factory=list)


def positions(strings: Iterable[tuple[Rule, ReplaceString]]) -> dict[str, Positions]:
    """The positions of each kind the rules follow (`flow = ...` in their contexts)."""
    tables: dict[str, Positions] = {}
    for _, spec in strings:
        c = spec.contexts
        if c.flow is not None:
            table = tables.setdefault(c.flow, Positions())
            for callee, index in c.positional.items():
                table.positional.setdefault(callee, set()).add(index)
            table.keywords.update(c.keywords | c.dict_keywords)
            table.mappings.update(c.subscripts)
            table.names += [c.names] if c.names is not None and c.names not in table.names else []
    return tables


@dataclass
class _Scope:
    index: int
    kind: str  # "module", "function" or "class"
    parent: _Scope | None  # where a name not bound here is looked up (never a class body)
    cls: _Scope | None = None  # the class whose attributes `<self_name>.x` are
    self_name: str | None = None
    bound: set[str] = field(default_factory=set)
    declared: set[str] = field(default_factory=set)  # global / nonlocal
    functions: dict[str, _Scope] = field(default_factory=dict)

    @property
    def outer(self) -> _Scope:  # where names of a def or class nested here are looked up
        return self.parent if self.kind == "class" and self.parent is not None else self


@dataclass
class _Value:
    """What an expression's value may be: the nodes it comes from, the kinds it holds outright."""

    nodes: list[int] = field(default_factory=list)
    kinds: set[str] = field(default_factory=set)
    container: bool = False
    mapping: bool = False  # a listed mapping itself (`os.environ`): a resolved name

    def merge(self, other: _Value) -> _Value:
        return _Value(self.nodes + other.nodes, self.kinds | other.kinds, self.container and other.container,
                      self.mapping and other.mapping)


_EMPTY = _Value()


class Flow:
    """The value flow of one file's tree: ask `judge` and `judge_return`."""

    def __init__(self, tree: ast.Module, imports: ImportMap, tables: dict[str, Positions]) -> None:
        self.imports, self.tables = imports, tables
        self._ids: dict[Key, int] = {}
        self._keys: list[Key] = []
        self._edges: list[tuple[int, int]] = []
        self._seeds: list[tuple[int, str, bool]] = []  # (node, kind, reaches it / holds it)
        self._container: set[int] = set()
        self._uses: dict[int, int] = {}  # node -> the _LABEL / _UNKNOWN uses met
        self.scopes = [_Scope(0, "module", None)]
        self._by_line = {0: self.scopes[0]}
        self.body(tree.body, self.scopes[0])
        self._propagate()

    def node(self, key: Key) -> int:
        found = self._ids.get(key)
        if found is None:
            found = self._ids[key] = len(self._keys)
            self._keys.append(key)
        return found

    def assign(self, target: int, value: _Value) -> None:
        self._edges.extend((n, target) for n in value.nodes)
        self._seeds.extend((target, kind, False) for kind in value.kinds)
        if value.container:
            self._container.add(target)

    def _reach(self, value: _Value, kind: str) -> None:
        self._seeds.extend((n, kind, True) for n in value.nodes)

    def _use(self, key: Key, how: int) -> None:
        node = self.node(key)
        self._uses[node] = self._uses.get(node, 0) | how

    def add_scope(self, line: int, kind: str, parent: _Scope, cls: _Scope | None, self_name: str | None) -> _Scope:
        scope = _Scope(len(self.scopes), kind, parent, cls, self_name)
        self.scopes.append(scope)
        self._by_line.setdefault(line, scope)
        return scope

    # -- resolution and propagation --

    def _canonical(self, key: Key) -> Key:
        """A variable where it is bound; a call of one of the file's functions, its return."""
        if key[0] == "v":
            scope, name = self.scopes[key[1]], key[2]  # type: ignore[index]
            while scope.parent is not None and (name not in scope.bound or name in scope.declared):
                scope = scope.parent
            return ("a", scope.index, name) if scope.kind == "class" else ("v", scope.index, name)
        if key[0] in ("f", "m"):
            function = self._function(key)
            return ("r", function.index) if function is not None else key
        return key

    def _function(self, key: Key) -> _Scope | None:
        """The function ("f", scope, name) or the method ("m", class, name) names."""
        scope: _Scope | None = self.scopes[key[1]]  # type: ignore[index]
        name = str(key[2])
        while scope is not None and name not in scope.functions and key[0] == "f":
            scope = None if name in scope.bound else scope.parent
        return scope.functions.get(name) if scope is not None else None

    def _propagate(self) -> None:
        canonical = [self.node(self._canonical(key)) for key in list(self._keys)]
        size = len(self._keys)
        forward: list[list[int]] = [[] for _ in range(size)]
        backward: list[list[int]] = [[] for _ in range(size)]
        for a, b in self._edges:
            a, b = canonical[a], canonical[b]
            if a != b:
                forward[a].append(b)
                backward[b].append(a)
        uses: dict[int, int] = {}
        for n, how in self._uses.items():
            uses[canonical[n]] = uses.get(canonical[n], 0) | how
        # the name's veto: what holds a container, or only ever becomes part of a text
        other = {canonical[n] for n in self._container} | {n for n, how in uses.items() if how == _LABEL}
        self._marks = [0] * size
        for index, kind in enumerate(_ALL):
            flow_bit = 1 << (2 * index)
            self._spread([canonical[n] for n, k, reach in self._seeds if k == kind and reach], (backward,),
                         flow_bit, set())
            self._spread([canonical[n] for n, k, reach in self._seeds if k == kind and not reach], (forward,),
                         flow_bit, set())
            named = [n for n in range(size) if self._named(n, kind)]
            self._spread(named, (forward, backward), flow_bit << 1, other)

    def _named(self, node: int, kind: str) -> bool:
        key = self._keys[node]
        if kind == ACCELERATOR:
            return key[0] in ("v", "a") and ACCELERATOR_NAMES.match(str(key[2])) is not None
        table = self.tables.get(kind)
        return key[0] in ("v", "a") and table is not None and any(p.search(str(key[2])) for p in table.names)

    def _spread(self, seeds: Sequence[int], directions: tuple[list[list[int]], ...], bit: int,
                barrier: set[int]) -> None:
        marks, queue = self._marks, deque(n for n in seeds if n not in barrier)
        while queue:
            n = queue.popleft()
            if not marks[n] & bit:
                marks[n] |= bit
                for edges in directions:
                    queue.extend(m for m in edges[n] if not marks[m] & bit and m not in barrier)

    # -- questions --

    def verdict(self, value: _Value, kind: str) -> str | None:
        """The evidence that `value` is of `kind` ("" for a listed mapping), or None. A device
        that is also an accelerator name is none: the name's checks would no longer match."""
        if value.mapping and kind in value.kinds:
            return ""
        if kind == DEVICE and self.verdict(value, ACCELERATOR) is not None:
            return None
        bit, bits = 1 << (2 * _ALL.index(kind)), 0
        for n in value.nodes:
            c = self.node(self._canonical(self._keys[n]))
            if c < len(self._marks):
                bits |= self._marks[c]
            elif self._named(c, kind):  # a node the walk never met: only its name is known
                bits |= bit << 1
        if kind in value.kinds or bits & bit:
            return VALUE_FLOW
        return NAME_HEURISTIC if bits & (bit << 1) else None

    def judge(self, expression: ast.expr, line: int | None, kind: str, names: re.Pattern[str] | None,
              *, target: bool = False) -> str | None:
        """The evidence that `expression`, read (assigned: `target`) in the def or class on `line`, is of `kind`."""
        scope = self._by_line.get(line or 0, self.scopes[0])
        if target and isinstance(expression, ast.Attribute) and not _is_self(expression, scope):
            value = _EMPTY  # `args.device = ...`: only the attribute's name says what it holds
        else:
            value = self.value(expression, scope)
        verdict = self.verdict(value, kind)
        # no node: what its own spelling calls it (`args.device_type`, `cfg["device"]`)
        own = expression.attr if isinstance(expression, ast.Attribute) else (
            text(expression.slice) if isinstance(expression, ast.Subscript) else None)
        if verdict is None and not value.nodes and names is not None and own is not None and names.search(own):
            return NAME_HEURISTIC
        return verdict

    def judge_return(self, line: int | None, kind: str) -> str | None:
        scope = self._by_line.get(line or 0)
        return self.verdict(_Value([self.node(("r", scope.index))]), kind) if scope and scope.kind == "function" else None

    # -- the walk: scopes, bindings, what a value may be, where values go --

    def body(self, statements: Iterable[ast.stmt], scope: _Scope) -> None:
        for statement in statements:
            self.statement(statement, scope)

    def statement(self, s: ast.stmt, scope: _Scope) -> None:
        if isinstance(s, ast.Assign):
            value = self.value(s.value, scope)
            for target in s.targets:
                self.bind(target, s.value, value, scope)
            self.expr(s.value, scope, _NEUTRAL)
        elif isinstance(s, (ast.AnnAssign, ast.AugAssign)):
            value = self.value(s.value, scope) if s.value is not None else _EMPTY
            if isinstance(s, ast.AnnAssign) and self.qualified(s.annotation) == "torch.device":
                value = value.merge(_Value(kinds={DEVICE}))
            if isinstance(s, ast.AnnAssign) and is_literal_annotation(s.annotation):
                value = value.merge(_Value(kinds={ACCELERATOR}))
            self.bind(s.target, s.value, value, scope)
            self.expr(s.value or s.target, scope, _NEUTRAL)
        elif isinstance(s, (ast.FunctionDef, ast.AsyncFunctionDef)):
            self.function(s, scope)
        elif isinstance(s, ast.ClassDef):
            scope.bound.add(s.name)
            for e in (*s.bases, *(k.value for k in s.keywords), *s.decorator_list):
                self.expr(e, scope, _NEUTRAL)
            inner = self.add_scope(s.lineno, "class", scope.outer, None, None)
            inner.cls = inner  # the names of a class body are the attributes `self.x` reads
            self.body(s.body, inner)
        elif isinstance(s, ast.Return):
            if s.value is not None and scope.kind == "function":
                self.assign(self.node(("r", scope.index)), self.value(s.value, scope))
                self.expr(s.value, scope, _NEUTRAL)
        elif isinstance(s, (ast.Global, ast.Nonlocal)):
            scope.declared.update(s.names)
        elif isinstance(s, (ast.Import, ast.ImportFrom)):
            scope.bound.update((a.asname or a.name).split(".")[0] for a in s.names)
        else:
            self.children(s, scope)

    def children(self, node: ast.AST, scope: _Scope) -> None:
        if isinstance(node, ast.ExceptHandler) and node.name:
            scope.bound.add(node.name)
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.stmt):
                self.statement(child, scope)
            elif isinstance(child, ast.expr):
                self.expr(child, scope, _NEUTRAL)
            elif isinstance(child, (ast.excepthandler, ast.withitem, ast.match_case, ast.comprehension)):
                self.children(child, scope)

    def function(self, s: ast.FunctionDef | ast.AsyncFunctionDef, scope: _Scope) -> None:
        scope.bound.add(s.name)
        for decorator in s.decorator_list:
            self.expr(decorator, scope, _NEUTRAL)
        a = s.args
        positional = [*a.posonlyargs, *a.args]
        method = scope.kind == "class" and bool(positional) and not any(
            isinstance(d, ast.Name) and d.id == "staticmethod" for d in s.decorator_list)
        inner = self.add_scope(s.lineno, "function", scope.outer, scope if method else scope.cls,
                               positional[0].arg if method else scope.self_name)
        scope.functions[s.name] = inner
        inner.bound.update(p.arg for p in (*positional, *a.kwonlyargs, a.vararg, a.kwarg) if p is not None)
        defaults = [*[None] * (len(positional) - len(a.defaults)), *a.defaults, *a.kw_defaults]
        for param, default in zip([*positional, *a.kwonlyargs], defaults):
            value = self.value(default, scope) if default is not None else _EMPTY
            if param.annotation is not None and self.qualified(param.annotation) == "torch.device":
                value = value.merge(_Value(kinds={DEVICE}))
            if is_literal_annotation(param.annotation):  # a choice among names, checked as written
                value = value.merge(_Value(kinds={ACCELERATOR}))
            self.assign(self.node(("v", inner.index, param.arg)), value)
            if default is not None:
                self.expr(default, scope, _NEUTRAL)
        self.body(s.body, inner)

    def bind(self, target: ast.expr, source: ast.expr | None, value: _Value, scope: _Scope) -> None:
        if isinstance(target, ast.Name):
            scope.bound.add(target.id)
            self.assign(self.node(("v", scope.index, target.id)), value)
        elif isinstance(target, ast.Attribute) and scope.cls is not None and _is_self(target, scope):
            self.assign(self.node(("a", scope.cls.index, target.attr)), value)
        elif isinstance(target, (ast.Tuple, ast.List)):
            pairs: list[ast.expr | None] = list(source.elts) if isinstance(source, (ast.Tuple, ast.List)) else []
            if len(pairs) != len(target.elts) or any(isinstance(p, ast.Starred) for p in pairs):
                pairs = [None] * len(target.elts)
            for element, paired in zip(target.elts, pairs):
                self.bind(element, paired, self.value(paired, scope) if paired is not None else _EMPTY, scope)
        elif isinstance(target, ast.Starred):
            self.bind(target.value, None, _EMPTY, scope)
        else:
            self.expr(target, scope, _NEUTRAL)  # `env["X"] = v`, `obj.x = v`: their parts are read

    def qualified(self, node: ast.expr) -> str | None:
        parts = dotted(node)
        return self.imports.resolve(parts) if parts is not None else None

    def value(self, node: ast.expr, scope: _Scope) -> _Value:
        if isinstance(node, (ast.Name, ast.Attribute)):
            return self.named_value(node, scope)
        if isinstance(node, ast.Call):
            return self.call_value(node, scope)
        if isinstance(node, ast.IfExp):
            return self.value(node.body, scope).merge(self.value(node.orelse, scope))
        if isinstance(node, ast.BoolOp):
            return reduce(_Value.merge, [self.value(v, scope) for v in node.values])
        if isinstance(node, ast.NamedExpr):
            return self.value(node.value, scope)
        if isinstance(node, ast.JoinedStr):  # f"{device_type}:{rank}" is what `device_type` is
            parts = node.values
            if parts and isinstance(parts[0], ast.FormattedValue) and (len(parts) == 1 or colon_text(parts[1])):
                return self.value(parts[0].value, scope)
            return _EMPTY
        if isinstance(node, ast.BinOp):
            if isinstance(node.op, ast.BitOr):  # `os.environ | {...}`
                return self.value(node.left, scope).merge(self.value(node.right, scope))
            operands = added(node)
            return self.value(operands[0], scope) if len(operands) > 1 and colon_text(operands[1]) else _EMPTY
        if isinstance(node, ast.Dict):  # `{**os.environ, "X": "1"}`
            spread = [self.value(v, scope) for k, v in zip(node.keys, node.values) if k is None]
            return reduce(_Value.merge, spread) if spread else _Value(container=True)
        if isinstance(node, ast.Subscript) and isinstance(node.value, ast.Call) and isinstance(
                node.value.func, ast.Attribute) and node.value.func.attr in ("split", "rsplit"):
            return self.value(node.value.func.value, scope)  # `device.split(":")[0]`
        return _Value(container=True) if isinstance(node, _CONTAINERS) else _EMPTY

    def named_value(self, node: ast.Name | ast.Attribute, scope: _Scope) -> _Value:
        qualified = self.qualified(node)
        for kind, table in self.tables.items():
            if qualified is not None and qualified in table.mappings:
                return _Value(kinds={kind}, mapping=True)
        if isinstance(node, ast.Name):
            if node.id in self.imports.bindings:
                return _EMPTY
            return _Value([self.node(("v", scope.index, node.id))])
        if scope.cls is not None and _is_self(node, scope):
            return _Value([self.node(("a", scope.cls.index, node.attr))])
        if node.attr in _SOURCE_ATTRIBUTES:
            return _Value(kinds={_SOURCE_ATTRIBUTES[node.attr]})
        return self.value(node.value, scope) if node.attr == "type" else _EMPTY  # a device's type

    def call_value(self, node: ast.Call, scope: _Scope) -> _Value:
        func, args = node.func, node.args
        qualified = self.qualified(func)
        if qualified in _SOURCE_CALLS:
            return _Value(kinds={_SOURCE_CALLS[qualified]})  # type: ignore[index]
        name = qualified or (func.id if isinstance(func, ast.Name) else None)
        if name in _SAME_VALUE_CALLS:
            return self.value(args[0], scope) if args else _EMPTY
        if name in _CONTAINER_CALLS:
            return _Value(container=True)
        if isinstance(func, ast.Attribute):  # `os.environ.copy()` as well as `env.copy()`
            if func.attr in _SAME_VALUE_METHODS:
                return self.value(func.value, scope)
            if func.attr in _CONTAINER_METHODS:
                return _Value(container=True)
            if func.attr == "format" and args and _FIELD_FIRST.match(text(func.value) or ""):
                return self.value(args[0], scope)
        key = self.callee_key(func, scope)
        return _Value([self.node(key)]) if key is not None else _EMPTY

    def callee_key(self, func: ast.expr, scope: _Scope) -> Key | None:
        """The file's own function a call may reach: ("f", scope, name) or ("m", class, name)."""
        if isinstance(func, ast.Name) and func.id not in self.imports.bindings:
            return ("f", scope.index, func.id)
        if isinstance(func, ast.Attribute) and scope.cls is not None and _is_self(func, scope):
            return ("m", scope.cls.index, func.attr)
        return None

    def expr(self, node: ast.expr, scope: _Scope, use: int) -> None:
        if isinstance(node, ast.Name):
            if isinstance(node.ctx, ast.Store):
                scope.bound.add(node.id)
            elif use and node.id not in self.imports.bindings:
                self._use(("v", scope.index, node.id), use)
            return
        if isinstance(node, ast.Call):
            return self.call(node, scope)
        how = _NEUTRAL
        if isinstance(node, ast.Attribute):
            if use and scope.cls is not None and _is_self(node, scope):
                self._use(("a", scope.cls.index, node.attr), use)
        elif isinstance(node, ast.JoinedStr) or (isinstance(node, ast.BinOp) and isinstance(node.op, (
                ast.Add, ast.Mod)) and any(isinstance(n, ast.JoinedStr) or text(n) for n in (node.left, node.right))):
            how = _LABEL  # what becomes part of a text: a key, a label, a file name, a message
        elif isinstance(node, ast.Dict):
            for key, value in zip(node.keys, node.values):
                if key is not None:
                    self.expr(key, scope, _LABEL)
                self.expr(value, scope, _UNKNOWN)
            return
        elif isinstance(node, (ast.IfExp, ast.BoolOp, ast.FormattedValue)):
            how = use
        elif isinstance(node, ast.NamedExpr):
            self.bind(node.target, node.value, self.value(node.value, scope), scope)
        elif isinstance(node, _CONTAINERS):
            how = _UNKNOWN
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.expr):
                self.expr(child, scope, how)
            elif isinstance(child, ast.comprehension):
                self.children(child, scope)

    def call(self, node: ast.Call, scope: _Scope) -> None:
        func, args = node.func, node.args
        qualified = self.qualified(func)
        key = qualified if qualified is not None else ("." + func.attr if isinstance(func, ast.Attribute) else "")
        for kind, table in self.tables.items():
            for index in table.positional.get(key, ()):
                if index < len(args) and not any(isinstance(a, ast.Starred) for a in args[:index + 1]):
                    self._reach(self.value(args[index], scope), kind)
            for keyword in node.keywords:
                if keyword.arg in table.keywords:
                    self._reach(self.value(keyword.value, scope), kind)
            if kind == ENVIRON and qualified is not None and _EXEC_WITH_ENV.match(qualified) and args:
                self._reach(self.value(args[-1], scope), kind)
        for argument in accelerator_arguments(node):
            self._reach(self.value(argument, scope), ACCELERATOR)
        callee = self.callee_key(func, scope)
        last = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", None)
        how = _LABEL if last in _LABEL_CALLS else _NEUTRAL if callee is not None else _UNKNOWN
        self.expr(func, scope, _NEUTRAL)
        for arg in (*args, *(k.value for k in node.keywords)):
            self.expr(arg, scope, how)


def _is_self(node: ast.Attribute, scope: _Scope) -> bool:
    return isinstance(node.value, ast.Name) and scope.cls is not None and node.value.id == scope.self_name
