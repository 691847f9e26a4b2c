#!/usr/bin/env python3
"""Audit every rename portkit makes for the npu target against the real torch and torch-npu code.

For each (old, new) pair the rename rules produce (rename-api renames, and the rename-attribute
rules on torch.Tensor / torch.nn.Module), compare
  * the signature of the torch side (the installed torch, read with inspect and ast; classes:
    the __new__/__init__ that inspect.signature would use; C functions: torch/_C/__init__.pyi),
  * the signature of the torch_npu side, read as files from the torch-npu wheel (zipfile + ast;
    never imported; `from .x import y` re-exports are followed to the defining function),
  * the return contract: annotations and, where the body is Python, every return statement
    (None where torch never returns None, tuple arity, literal types, context managers,
    protocol methods of classes) and stubs that raise NotImplementedError or warn "not supported".

Verdicts: same, compatible (NPU accepts a superset of the calls), differs-signature,
differs-return, unsupported, unknown (a side defined in C++: no Python body to read), and absent
(the release lacks the NPU name: portkit reports the use instead of renaming it).

    python scripts/audit_npu_contracts.py              # every wheel in ~/.cache/portkit/wheels
    python scripts/audit_npu_contracts.py path/to/torch_npu-2.13.0-...whl

writes src/portkit/ruleset/data/npu_contracts-<version>.json per release and docs/contracts.md.
The wheels are fetched by scripts/fetch_npu_wheels.py.
"""

from __future__ import annotations

import argparse
import ast
import hashlib
import importlib
import importlib.util
import inspect
import json
import os
import re
import sys
import tomllib
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from types import ModuleType
from typing import Any

REPO = Path(__file__).resolve().parents[1]
DATA_DIR = REPO / "src" / "portkit" / "ruleset" / "data"
DOC = REPO / "docs" / "contracts.md"
CACHE = Path.home() / ".cache" / "portkit" / "wheels"

# worst first: the verdict of an entry is the worst of its findings
VERDICTS = ("unsupported", "differs-return", "differs-signature", "unknown", "compatible", "same", "absent")
# classes whose .cuda / .is_cuda a rename-attribute rule rewrites (the receivers the rules' docs name)
ATTRIBUTE_RECEIVERS = ("torch.Tensor", "torch.nn.Module")
# methods torch generates for a renamed privateuse1 backend (torch/utils/backend_registration.py):
# the NPU name -> the nested function that implements it
GENERATED = {
    "torch.Tensor.npu": ("_generate_tensor_methods_for_privateuse1_backend", "wrap_tensor_to"),
    "torch.Tensor.is_npu": ("_generate_tensor_methods_for_privateuse1_backend", "wrap_tensor_backend"),
    "torch.nn.Module.npu": ("_generate_module_methods_for_privateuse1_backend", "wrap_module_to"),
}
PROTOCOL = ("__enter__", "__exit__", "__call__", "__iter__", "__next__", "__getitem__", "__len__")
UNSUPPORTED_TEXT = re.compile(r"not (?:yet )?(?:be )?(?:implemented|supported)|isn't (?:implemented|supported)"
                              r"|unsupported|is not available|does not (?:use|support)", re.I)


def _derive_module() -> ModuleType:
    """scripts/derive_npu_api.py: its Wheel reader and its torch.distributed alias finder."""
    spec = importlib.util.spec_from_file_location("derive_npu_api", REPO / "scripts" / "derive_npu_api.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


DERIVE = _derive_module()


# --- the renames ---------------------------------------------------------------------------------

@dataclass(frozen=True)
class Pair:
    old: str
    new: str
    rule: str
    safety: str


def _attribute_pairs(old: str, new: str, rule: str, safety: str) -> list[Pair]:
    return [Pair(f"{receiver}.{old}", f"{receiver}.{new}", rule, safety)
            for receiver in ATTRIBUTE_RECEIVERS if hasattr(_torch_lookup(receiver), old)]


def rename_pairs() -> list[Pair]:
    """Every (old, new) qualified-name pair the built-in npu rules rename, with rule id and safety.

    From portkit itself; if its module layout is mid-restructuring (ImportError), from the
    rule files directly."""
    try:
        from portkit.ruleset import RenameApi, RenameAttribute, load_rules
    except ImportError:
        return _pairs_from_toml()
    pairs: list[Pair] = []
    for rule in load_rules(target="npu").rules:
        spec, safety = rule.spec, getattr(rule.safety, "value", str(rule.safety))
        if isinstance(spec, RenameApi):
            pairs += [Pair(old, new, rule.id, safety) for old, new in spec.renames.items()]
        elif isinstance(spec, RenameAttribute):
            pairs += _attribute_pairs(spec.old, spec.new, rule.id, safety)
    return sorted(set(pairs), key=lambda p: (p.old, p.new))


def _pairs_from_toml() -> list[Pair]:
    pairs: list[Pair] = []
    for path in sorted((REPO / "rules").glob("*.toml")):
        for rule in tomllib.loads(path.read_text(encoding="utf-8")).get("rule", []):
            if "npu" not in rule.get("targets", ["npu"]):
                continue
            rid, safety = rule["id"], rule["safety"]
            if rule["kind"] == "rename-api":
                for name in rule.get("names", []):
                    pairs.append(Pair(f"{rule['module']}.{name}", f"{rule['to_module']}.{name}", rid, safety))
                pairs += [Pair(old, new, rid, safety) for old, new in rule.get("renames", {}).items()]
            elif rule["kind"] == "rename-attribute":
                pairs += _attribute_pairs(rule["old"], rule["new"], rid, safety)
    return sorted(set(pairs), key=lambda p: (p.old, p.new))


# --- what one side offers -------------------------------------------------------------------------

@dataclass(frozen=True)
class Param:
    name: str
    kind: str  # "pos" positional-only, "any" positional-or-keyword, "var" *args, "kw" keyword-only, "varkw"
    default: bool
    value: str | None = field(default=None, compare=False)  # the default, as source text


@dataclass(frozen=True)
class Return:
    line: str  # file:line
    shape: str  # None, bool, int, str, float, tuple[N], list, dict, call <f>, name <x>, expr
    in_except: bool


@dataclass
class Facts:
    """One side of a rename, as far as Python source (or a .pyi stub) shows it."""

    where: str  # file:line, or a description when there is no source
    kind: str  # function, class, attribute (a flag or property), value, module, c (C++), missing
    params: list[Param] | None = None  # None: not readable (C++)
    signature: str = ""
    annotation: str | None = None  # normalised return annotation (attribute/value: its type)
    returns: list[Return] = field(default_factory=list)
    falls_through: str | None = None  # file:line of an implicit `return None` after value returns
    procedure: bool = False  # a Python body without any `return <value>`
    contextmanager: bool = False
    unsupported: str | None = None
    protocol: set[str] | None = None  # classes: protocol methods its instances have (None: unknown)
    notes: list[str] = field(default_factory=list)
    obj_id: int | None = None  # torch objects: id(), to see that two names are one object

    def summary(self) -> str:
        text = self.where
        if self.signature and self.kind != "attribute":
            text += f" {self.signature}"
        shown = self.shown_return()
        if shown:
            text += f" -> {shown}"
        return text

    def shown_return(self) -> str:
        if self.kind in ("attribute", "value"):
            return self.annotation or "?"
        if self.kind == "class":
            return ""
        if self.contextmanager:
            return "context manager"
        if self.annotation:
            return self.annotation
        shapes = [r.shape for r in self.returns if not r.in_except]
        if self.falls_through:
            shapes.append("None")
        if self.procedure:
            return "None"
        return " | ".join(dict.fromkeys(shapes))


# --- ast helpers (both sides) ---------------------------------------------------------------------

def dotted(node: ast.AST) -> str | None:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        base = dotted(node.value)
        return f"{base}.{node.attr}" if base else None
    return None


def params_of(fn: ast.FunctionDef | ast.AsyncFunctionDef, drop_first: bool) -> list[Param]:
    a = fn.args
    positional = [*a.posonlyargs, *a.args]
    n_defaults = len(a.defaults)
    out: list[Param] = []
    for i, arg in enumerate(positional):
        kind = "pos" if i < len(a.posonlyargs) else "any"
        j = i - (len(positional) - n_defaults)
        out.append(Param(arg.arg, kind, j >= 0, ast.unparse(a.defaults[j]) if j >= 0 else None))
    if a.vararg:
        out.append(Param(a.vararg.arg, "var", True))
    for arg, default in zip(a.kwonlyargs, a.kw_defaults):
        out.append(Param(arg.arg, "kw", default is not None, ast.unparse(default) if default else None))
    if a.kwarg:
        out.append(Param(a.kwarg.arg, "varkw", True))
    return out[1:] if drop_first and out and out[0].kind in ("pos", "any") else out


def signature_text(fn: ast.FunctionDef | ast.AsyncFunctionDef, drop_first: bool) -> str:
    a = fn.args
    positional = [*a.posonlyargs, *a.args]
    defaults: list[ast.expr | None] = [None] * (len(positional) - len(a.defaults)) + list(a.defaults)
    parts: list[str] = []
    for i, (arg, default) in enumerate(zip(positional, defaults)):
        parts.append(arg.arg + (f"={_short(default)}" if default is not None else ""))
        if a.posonlyargs and i == len(a.posonlyargs) - 1:
            parts.append("/")
    if a.vararg:
        parts.append(f"*{a.vararg.arg}")
    elif a.kwonlyargs:
        parts.append("*")
    for arg, kw_default in zip(a.kwonlyargs, a.kw_defaults):
        parts.append(arg.arg + (f"={_short(kw_default)}" if kw_default is not None else ""))
    if a.kwarg:
        parts.append(f"**{a.kwarg.arg}")
    if drop_first and positional:
        parts = parts[1:]
        if parts and parts[0] == "/":
            parts = parts[1:]
    return "(" + ", ".join(parts) + ")"


def _short(node: ast.expr) -> str:
    text = ast.unparse(node)
    return text if len(text) <= 30 else text[:27] + "..."


def normalise_annotation(text: str | None) -> str | None:
    if text is None:
        return None
    text = text.strip().strip("'\"")
    text = re.sub(r"\btyping\.", "", text)
    text = re.sub(r"\b_(bool|int|float|str)\b", r"\1", text)  # torch/_C/__init__.pyi spells bool `_bool`
    for old, new in (("Tuple", "tuple"), ("List", "list"), ("Dict", "dict")):
        text = re.sub(rf"\b{old}\b", new, text)
    optional = re.fullmatch(r"Optional\[(.*)\]", text)
    if optional:
        text = f"{optional.group(1)} | None"
    return text


def tuple_arity(annotation: str | None) -> int | None:
    match = re.fullmatch(r"tuple\[(.*)\]", annotation or "")
    if not match or "..." in match.group(1):
        return None
    depth, count = 0, 1
    for ch in match.group(1):
        depth += ch == "["
        depth -= ch == "]"
        count += ch == "," and depth == 0
    return count


def nullable(annotation: str | None) -> bool:
    return annotation is not None and bool(re.search(r"\bNone\b|\bAny\b|Optional\[", annotation))


def coarse_type(annotation: str | None) -> str | None:
    """int, bool, str, float, dict, list, tuple, None, or None when not one of these."""
    if annotation is None or nullable(annotation) and annotation != "None":
        return None
    head = annotation.split("[", 1)[0].strip()
    return head if head in ("int", "bool", "str", "float", "dict", "list", "tuple", "None") else None


def return_shape(node: ast.expr | None) -> str:
    if node is None or isinstance(node, ast.Constant) and node.value is None:
        return "None"
    if isinstance(node, ast.Constant):
        return type(node.value).__name__
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub) and isinstance(node.operand, ast.Constant):
        return type(node.operand.value).__name__
    if isinstance(node, ast.Compare) or isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not):
        return "bool"
    if isinstance(node, ast.BoolOp) and all(return_shape(v) == "bool" for v in node.values):
        return "bool"
    if isinstance(node, ast.Tuple):
        return f"tuple[{len(node.elts)}]"
    if isinstance(node, (ast.List, ast.ListComp)):
        return "list"
    if isinstance(node, (ast.Dict, ast.DictComp)):
        return "dict"
    if isinstance(node, ast.JoinedStr):
        return "str"
    if isinstance(node, ast.Call):
        return f"call {dotted(node.func) or _short(node.func)}"
    if isinstance(node, ast.Name):
        return f"name {node.id}"
    return "expr"


def _own_nodes(fn: ast.AST) -> Iterator[tuple[ast.AST, bool]]:
    """Nodes of a function body, not of nested functions/classes, with 'inside an except handler'."""
    stack: list[tuple[ast.AST, bool]] = [(child, False) for child in ast.iter_child_nodes(fn)]
    while stack:
        node, in_except = stack.pop()
        yield node, in_except
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Lambda)):
            continue
        inner = in_except or isinstance(node, ast.ExceptHandler)
        stack += [(child, inner) for child in ast.iter_child_nodes(node)]


def _terminates(body: list[ast.stmt]) -> bool:
    """Whether control can never run off the end of this block."""
    if not body:
        return False
    last = body[-1]
    if isinstance(last, (ast.Return, ast.Raise)):
        return True
    if isinstance(last, ast.If):
        return _terminates(last.body) and _terminates(last.orelse)
    if isinstance(last, (ast.With, ast.AsyncWith)):
        return _terminates(last.body)
    if isinstance(last, ast.Try):
        if _terminates(last.finalbody):
            return True
        main = _terminates(last.orelse) if last.orelse else _terminates(last.body)
        return main and all(_terminates(h.body) for h in last.handlers)
    if isinstance(last, ast.While) and isinstance(last.test, ast.Constant) and last.test.value:
        return not any(isinstance(n, ast.Break) for n in ast.walk(last))
    if isinstance(last, ast.Expr) and isinstance(last.value, ast.Call):
        name = dotted(last.value.func) or ""
        return name.endswith(("sys.exit", "os._exit"))
    return False


def _body(fn: ast.FunctionDef | ast.AsyncFunctionDef) -> list[ast.stmt]:
    body = fn.body
    if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant) \
            and isinstance(body[0].value.value, str):
        body = body[1:]
    return body


def _warn_text(call: ast.Call) -> str:
    parts = []
    for arg in call.args[:1]:
        for node in ast.walk(arg):
            if isinstance(node, ast.Constant) and isinstance(node.value, str):
                parts.append(node.value)
    return "".join(parts)


def unsupported_stub(fn: ast.FunctionDef | ast.AsyncFunctionDef, where: Any) -> str | None:
    """A stub: a body that unconditionally (at its top level) raises NotImplementedError or a
    "not supported" error, or warns "not implemented/supported", or does nothing but warn and
    return a constant."""
    body = _body(fn)
    warned: list[str] = []
    for stmt in body:
        if isinstance(stmt, ast.Raise) and stmt.exc is not None:
            exc = stmt.exc.func if isinstance(stmt.exc, ast.Call) else stmt.exc
            text = _warn_text(stmt.exc) if isinstance(stmt.exc, ast.Call) else ""
            if dotted(exc) == "NotImplementedError" or UNSUPPORTED_TEXT.search(text):
                return f"{where(stmt)}: always raises {ast.unparse(stmt.exc)[:100]}"
            return None
        if _is_warn(stmt):
            assert isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Call)
            text = _warn_text(stmt.value)
            if UNSUPPORTED_TEXT.search(text):
                return f"{where(stmt)}: always warns {text!r}"
            warned.append(f"{where(stmt)}: warns {text!r}")
            continue
        if isinstance(stmt, ast.Return) and warned and len(warned) == len(body) - 1 \
                and (stmt.value is None or isinstance(stmt.value, ast.Constant)):
            value = ast.unparse(stmt.value) if stmt.value else "None"
            return f"a stub: {'; '.join(warned)} and returns {value} ({where(stmt)})"
        return None
    return None


def _is_warn(stmt: ast.stmt) -> bool:
    return isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Call) \
        and (dotted(stmt.value.func) or "").split(".")[-1] == "warn"


def function_facts(fn: ast.FunctionDef | ast.AsyncFunctionDef, file: str, in_class: bool) -> Facts:
    def where(node: ast.AST) -> str:
        return f"{file}:{node.lineno}"
    decorators = [ast.unparse(d) for d in fn.decorator_list]
    static = "staticmethod" in decorators
    drop_first = in_class and not static
    facts = Facts(where=where(fn), kind="function", params=params_of(fn, drop_first),
                  signature=signature_text(fn, drop_first),
                  annotation=normalise_annotation(ast.unparse(fn.returns)) if fn.returns else None)
    facts.contextmanager = any(d.split(".")[-1] in ("contextmanager", "asynccontextmanager") for d in decorators)
    if "property" in decorators:
        facts.kind = "attribute"
    value_returns = False
    for node, in_except in _own_nodes(fn):
        if isinstance(node, ast.Return):
            facts.returns.append(Return(where(node), return_shape(node.value), in_except))
            value_returns |= node.value is not None
        if isinstance(node, (ast.Yield, ast.YieldFrom)) and not facts.contextmanager:
            facts.notes.append(f"{where(node)}: a generator")
    facts.returns.sort(key=lambda r: int(r.line.rsplit(":", 1)[1]))
    body = _body(fn)
    if not value_returns:
        facts.procedure = True
    elif not _terminates(body):
        facts.falls_through = f"{file}:{body[-1].end_lineno if body else fn.lineno}"
    facts.unsupported = unsupported_stub(fn, where)
    if facts.kind == "attribute":
        facts.annotation = facts.annotation or _single_shape(facts)
    return facts


def _single_shape(facts: Facts) -> str | None:
    shapes = {r.shape for r in facts.returns if not r.in_except}
    if len(shapes) == 1:
        shape = shapes.pop()
        return shape if not shape.startswith(("call ", "name ")) and shape != "expr" else None
    return None


def branch_returns(fn: ast.FunctionDef, file: str, name: str) -> tuple[str, str | None] | None:
    """In a __getattr__/__setattr__: the `if name == "<name>":` branch, its line and the shape it returns."""
    for node in ast.walk(fn):
        if isinstance(node, ast.If) and isinstance(node.test, ast.Compare) \
                and isinstance(node.test.comparators[0], ast.Constant) and node.test.comparators[0].value == name:
            shapes = {return_shape(r.value) for b in node.body for r in ast.walk(b) if isinstance(r, ast.Return)}
            shape = shapes.pop() if len(shapes) == 1 else None
            if shape and (shape.startswith(("call ", "name ")) or shape == "expr"):
                shape = None
            return f"{file}:{node.lineno}", shape
    return None


# --- the torch side (installed torch) -------------------------------------------------------------

def _torch_lookup(qualified: str) -> Any:
    os.environ.setdefault("TORCH_DEVICE_BACKEND_AUTOLOAD", "0")
    parts = qualified.split(".")
    obj = importlib.import_module(parts[0])
    for i, part in enumerate(parts[1:], start=1):
        try:
            obj = getattr(obj, part)
        except AttributeError:
            obj = importlib.import_module(".".join(parts[: i + 1]))
    return obj


class TorchSide:
    def __init__(self) -> None:
        import torch
        self.torch = torch
        self.version = torch.__version__
        self.root = Path(torch.__file__).resolve().parents[1]

    def rel(self, path: str | Path) -> str:
        path = Path(path).resolve()
        try:
            return path.relative_to(self.root).as_posix()
        except ValueError:
            return path.name

    @cache
    def tree(self, path: str) -> ast.Module:
        return ast.parse(Path(path).read_text(encoding="utf-8"), filename=path)

    def _def_node(self, fn: Any) -> tuple[ast.FunctionDef, str, bool] | None:
        """The ast def of a Python function (after unwrapping decorators)."""
        fn = inspect.unwrap(fn)
        code = getattr(fn, "__code__", None)
        if code is None:
            return None
        path = inspect.getsourcefile(fn)
        if not path:
            return None
        for node in ast.walk(self.tree(path)):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.name == code.co_name:
                first = min([node.lineno, *(d.lineno for d in node.decorator_list)])
                if code.co_firstlineno in (first, node.lineno):
                    parent = fn.__qualname__.rpartition(".")[0]
                    return node, path, bool(parent) and not parent.endswith("<locals>")
        return None

    def function(self, fn: Any, in_class: bool | None = None) -> Facts | None:
        found = self._def_node(fn)
        if found is None:
            return None
        node, path, guessed = found
        return function_facts(node, self.rel(path), guessed if in_class is None else in_class)

    def _pyi_member(self, owner: type, name: str) -> Facts | None:
        """A C method/attribute of a torch._C class, from torch/_C/__init__.pyi."""
        stub = self.root / "torch" / "_C" / "__init__.pyi"
        if not stub.is_file():
            return None
        for klass in owner.__mro__:
            for node in self.tree(str(stub)).body:
                if isinstance(node, ast.ClassDef) and node.name == klass.__name__:
                    for item in node.body:
                        if isinstance(item, ast.FunctionDef) and item.name == name:
                            facts = function_facts(item, self.rel(stub), in_class=True)
                            facts.returns, facts.procedure = [], False  # a stub's `...` body says nothing
                            if "property" in [ast.unparse(d) for d in item.decorator_list]:
                                facts.kind = "attribute"
                            return facts
                        if isinstance(item, ast.AnnAssign) and getattr(item.target, "id", None) == name:
                            return Facts(where=f"{self.rel(stub)}:{item.lineno}", kind="attribute",
                                         annotation=normalise_annotation(ast.unparse(item.annotation)))
        return None

    def constructor(self, cls: type) -> Facts:
        """What inspect.signature(cls) uses: the first class in the MRO defining __new__ or
        __init__ in Python (__new__ first)."""
        for klass in cls.__mro__:
            if klass is object:
                break
            for method in ("__new__", "__init__"):
                fn = klass.__dict__.get(method)
                fn = fn.__func__ if isinstance(fn, staticmethod) else fn
                if fn is not None and inspect.isfunction(fn):
                    facts = self.function(fn, in_class=True)
                    if facts is not None:
                        facts.kind = "class"
                        facts.where += f" ({klass.__name__}.{method})"
                        return facts
        return Facts(where=f"{cls.__module__}.{cls.__qualname__} (C++ type)", kind="c")

    def protocol(self, cls: type) -> set[str]:
        """Protocol methods its instances have (defined by the class or a base other than object)."""
        return {m for m in PROTOCOL if any(m in k.__dict__ for k in cls.__mro__ if k is not object)}

    def attribute_site(self, owner: Any, name: str) -> str:
        """Where a module-like object's attribute is defined: a class-level assignment, or the
        `name == "<name>"` branch of its __getattr__."""
        for klass in type(owner).__mro__:
            try:
                path = inspect.getsourcefile(klass)
                lines, start = inspect.getsourcelines(klass)
            except (TypeError, OSError):
                continue
            if not path:
                continue
            for node in ast.walk(self.tree(path)):
                if isinstance(node, ast.ClassDef) and node.name == klass.__name__ and node.lineno == start:
                    for item in node.body:
                        targets = item.targets if isinstance(item, ast.Assign) else []
                        if any(getattr(t, "id", None) == name for t in targets):
                            return f"{self.rel(path)}:{item.lineno}"
                        if isinstance(item, ast.FunctionDef) and item.name == "__getattr__":
                            found = branch_returns(item, self.rel(path), name)
                            if found:
                                return found[0]
        return f"{type(owner).__module__}.{type(owner).__qualname__}"

    def generated(self, new: str) -> Facts:
        """A method torch generates for the renamed privateuse1 backend."""
        outer, inner = GENERATED[new]
        module = importlib.import_module("torch.utils.backend_registration")
        path = inspect.getsourcefile(module)
        assert path
        for node in ast.walk(self.tree(path)):
            if isinstance(node, ast.FunctionDef) and node.name == outer:
                for item in ast.walk(node):
                    if isinstance(item, ast.FunctionDef) and item.name == inner:
                        facts = function_facts(item, self.rel(path), in_class=True)
                        facts.notes.append(f"generated by torch.utils.generate_methods_for_privateuse1_backend "
                                           f"({self.rel(path)}:{node.lineno})")
                        return facts
        raise SystemExit(f"{outer}.{inner} not found in {path}")

    def facts(self, qualified: str) -> Facts:
        try:
            obj = _torch_lookup(qualified)
        except (AttributeError, ImportError):
            return Facts(where=f"{qualified} (not in torch {self.version})", kind="missing")
        owner_name, _, attr = qualified.rpartition(".")
        owner = _torch_lookup(owner_name)
        if inspect.isclass(obj):
            if type(obj).__name__ == "tensortype" or not inspect.getmodule(obj) or _is_c_class(obj):
                where = f"{qualified}: a C++ type ({type(obj).__name__})"
                facts = Facts(where=where, kind="c")
            else:
                facts = self.constructor(obj)
            facts.protocol = self.protocol(obj)
            facts.obj_id = id(obj)
            return facts
        if inspect.isclass(owner) and not inspect.isroutine(obj) and attr in _class_dict(owner):
            raw = _class_dict(owner)[attr]
            if isinstance(raw, property) and raw.fget is not None:
                found = self.function(raw.fget, in_class=True)
                if found:
                    found.kind = "attribute"
                    return found
            stub = self._pyi_member(owner, attr)
            if stub:
                return stub
        if inspect.isroutine(obj) and not inspect.isfunction(inspect.unwrap(obj)) and inspect.isclass(owner):
            stub = self._pyi_member(owner, attr)
            if stub:
                return stub
        if inspect.isroutine(obj):
            facts = self.function(obj, in_class=inspect.isclass(owner))
            if facts is None:
                return Facts(where=f"{qualified}: a C++ function", kind="c", obj_id=id(obj))
            facts.obj_id = id(obj)
            return facts
        # a plain value: a flag of a module-like object, or a module-level value
        annotation = _module_annotation(owner, attr, self)
        kind = "attribute" if isinstance(obj, (bool, int, float, str)) else "value"
        return Facts(where=annotation[0] if annotation else self.attribute_site(owner, attr), kind=kind,
                     annotation=annotation[1] if annotation else type(obj).__name__, obj_id=id(obj))


def _class_dict(cls: type) -> dict[str, Any]:
    merged: dict[str, Any] = {}
    for klass in reversed(cls.__mro__):
        merged.update(klass.__dict__)
    return merged


def _is_c_class(cls: type) -> bool:
    try:
        inspect.getsourcefile(cls)
    except TypeError:
        return True
    return False


def _module_annotation(owner: Any, name: str, side: TorchSide) -> tuple[str, str | None] | None:
    """`name: T = ...` at the top of a Python module: (file:line, T)."""
    if not isinstance(owner, ModuleType) or not getattr(owner, "__file__", None):
        return None
    path = str(owner.__file__)
    if not path.endswith(".py"):
        return None
    for node in side.tree(path).body:
        if isinstance(node, ast.AnnAssign) and getattr(node.target, "id", None) == name:
            return f"{side.rel(path)}:{node.lineno}", normalise_annotation(ast.unparse(node.annotation))
        if isinstance(node, ast.Assign) and any(getattr(t, "id", None) == name for t in node.targets):
            return f"{side.rel(path)}:{node.lineno}", None
    return None


# --- the torch_npu side (the wheel, as files) -------------------------------------------------------

@dataclass
class Binding:
    kind: str  # module, function, class, assign, c, external, missing
    module: str = ""  # the wheel module it is bound in (dotted)
    node: ast.AST | None = None
    target: str = ""  # c / external: the dotted name; module: the module
    via: list[str] = field(default_factory=list)  # re-exports followed, as file:line


class WheelSide:
    def __init__(self, path: Path, torch_side: TorchSide) -> None:
        self.path = path
        self.wheel = DERIVE.Wheel(path)
        self.torch = torch_side
        self.version, self.git_version = DERIVE.wheel_version(self.wheel)
        self.aliases = DERIVE.public_api_aliases(self.wheel)

    # modules
    def member(self, module: str) -> str | None:
        found: str | None = self.wheel.module_file(module.replace(".", "/"))
        return found

    def tree(self, module: str) -> ast.Module:
        member = self.member(module)
        assert member, module
        tree: ast.Module = self.wheel.tree(member)
        return tree

    def is_package(self, module: str) -> bool:
        return (self.member(module) or "").endswith("__init__.py")

    def absolute(self, module: str, node: ast.ImportFrom) -> str:
        if not node.level:
            return node.module or ""
        base = module.split(".") if self.is_package(module) else module.split(".")[:-1]
        base = base[: len(base) - (node.level - 1)]
        return ".".join(base + ([node.module] if node.module else []))

    def exports(self, module: str) -> list[str]:
        member = self.member(module)
        if not member:
            return []
        exported: list[str] = DERIVE.module_exports(self.wheel, member)
        return exported

    def where(self, module: str, node: ast.AST) -> str:
        return f"{self.member(module)}:{getattr(node, 'lineno', 0)}"

    # name resolution
    def resolve(self, module: str, name: str, depth: int = 0) -> Binding:
        if depth > 30:
            return Binding("missing", module, target=f"{module}.{name} (import cycle)")
        if module.startswith("torch_npu._C"):
            return Binding("c", target=f"{module}.{name}")
        if not module.startswith("torch_npu") or not self.member(module):
            if self.member(f"{module}.{name}"):
                return Binding("module", target=f"{module}.{name}")
            return Binding("external", target=f"{module}.{name}")
        last: tuple[str, ast.AST, Any] | None = None
        for stmt in _top_level(self.tree(module).body):
            if isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) and stmt.name == name:
                last = ("def", stmt, None)
            elif isinstance(stmt, ast.Assign) and any(getattr(t, "id", None) == name for t in stmt.targets):
                last = ("assign", stmt, stmt.value)
            elif isinstance(stmt, ast.AnnAssign) and getattr(stmt.target, "id", None) == name and stmt.value:
                last = ("assign", stmt, stmt.value)
            elif isinstance(stmt, ast.ImportFrom):
                source = self.absolute(module, stmt)
                for alias in stmt.names:
                    if alias.name == "*" and source.startswith("torch_npu") and name in self.exports(source):
                        last = ("from", stmt, (source, name))
                    elif (alias.asname or alias.name) == name:
                        last = ("from", stmt, (source, alias.name))
            elif isinstance(stmt, ast.Import):
                for alias in stmt.names:
                    if alias.asname == name:
                        last = ("module", stmt, alias.name)
                    elif alias.asname is None and alias.name.split(".")[0] == name:
                        last = ("module", stmt, name)
        if last is None:
            if self.member(f"{module}.{name}"):
                return Binding("module", target=f"{module}.{name}")
            if name in (DERIVE.literal_all(self.tree(module)) or []):
                return Binding("c", target=f"{self.member(module)}: {name} is in __all__ but no Python statement "
                                          "binds it (the C++ extension does)")
            return Binding("missing", module, target=f"{module}.{name}")
        how, stmt, extra = last
        if how == "def":
            return Binding("class" if isinstance(stmt, ast.ClassDef) else "function", module, stmt)
        if how == "module":
            return Binding("module" if self.member(extra) else "external", target=extra)
        if how == "from":
            source, original = extra
            if source.startswith("torch_npu._C") or source == "torch_npu" and original == "_C":
                return Binding("c", target=f"{source}.{original}")
            if not source.startswith("torch_npu"):
                return Binding("external", target=f"{source}.{original}")
            found = self.resolve(source, original, depth + 1)
            if found.kind == "missing" and self.member(f"{source}.{original}"):
                found = Binding("module", target=f"{source}.{original}")
            found.via.insert(0, self.where(module, stmt))
            return found
        value = extra
        path = dotted(value)
        if path and path != name:
            found = self.resolve_dotted(module, path, depth + 1)
            found.via.insert(0, self.where(module, stmt))
            return found
        return Binding("assign", module, stmt)

    def resolve_dotted(self, module: str, path: str, depth: int = 0) -> Binding:
        if path == "torch_npu._C" or path.startswith("torch_npu._C."):
            return Binding("c", target=path)
        head, *rest = path.split(".")
        if head == "torch_npu":
            current = Binding("module", target="torch_npu")
        else:
            current = self.resolve(module, head, depth)
        for part in rest:
            if current.kind == "module":
                current = self.resolve(current.target, part, depth + 1)
            elif current.kind in ("c", "external"):
                current = Binding(current.kind, target=f"{current.target}.{part}", via=current.via)
                if current.kind == "external" and current.target.startswith("torch_npu._C"):
                    current.kind = "c"
            elif current.kind == "class":
                member = self.class_member(current, part)
                if member is None:
                    return Binding("missing", target=f"{path}")
                current = member
            else:
                return Binding("missing", target=path)
        if current.kind == "external" and current.target.startswith("torch_npu._C"):
            current.kind = "c"
        return current

    def class_member(self, cls: Binding, name: str) -> Binding | None:
        assert isinstance(cls.node, ast.ClassDef)
        for item in cls.node.body:
            if isinstance(item, (ast.FunctionDef, ast.AsyncFunctionDef)) and item.name == name:
                return Binding("method", cls.module, item, via=cls.via)
        return None

    def class_mro(self, cls: Binding, depth: int = 0) -> Iterator[Binding]:
        """The class and its bases, depth first (external and C bases as such)."""
        yield cls
        if depth > 10 or not isinstance(cls.node, ast.ClassDef):
            return
        for base in cls.node.bases:
            path = dotted(base)
            if not path:
                continue
            found = self.resolve_dotted(cls.module, path)
            if found.kind == "class":
                yield from self.class_mro(found, depth + 1)
            elif found.kind in ("c", "external"):
                yield found
            elif path != "object":
                yield Binding("c", target=f"{path} (a base class not found in the wheel's Python)")

    # facts
    def function(self, binding: Binding, in_class: bool) -> Facts:
        assert isinstance(binding.node, (ast.FunctionDef, ast.AsyncFunctionDef))
        facts = function_facts(binding.node, self.member(binding.module) or binding.module, in_class)
        facts.notes += self.decorator_notes(binding)
        return facts

    def decorator_notes(self, binding: Binding) -> list[str]:
        """Decorators defined in the wheel that catch exceptions and return a value instead."""
        notes = []
        assert isinstance(binding.node, (ast.FunctionDef, ast.AsyncFunctionDef))
        for decorator in binding.node.decorator_list:
            call = decorator if isinstance(decorator, ast.Call) else None
            path = dotted(call.func if call else decorator)
            if not path or path in ("staticmethod", "classmethod", "property"):
                continue
            found = self.resolve_dotted(binding.module, path)
            if found.kind != "function" or not isinstance(found.node, ast.FunctionDef):
                continue
            factory = found.node
            values: dict[str, str] = {}
            if call:
                positional = [*factory.args.posonlyargs, *factory.args.args]
                defaults = [None] * (len(positional) - len(factory.args.defaults)) + list(factory.args.defaults)
                values = {a.arg: ast.unparse(d) if d is not None else "?" for a, d in zip(positional, defaults)}
                values.update({a.arg: ast.unparse(v) for a, v in zip(positional, call.args)})
                values.update({k.arg: ast.unparse(k.value) for k in call.keywords if k.arg})
            for node in ast.walk(factory):
                if isinstance(node, ast.ExceptHandler):
                    for ret in ast.walk(node):
                        if isinstance(ret, ast.Return):
                            value = ast.unparse(ret.value) if ret.value else "None"
                            value = values.get(value, value)
                            notes.append(f"{self.where(found.module, ret)}: decorator {ast.unparse(decorator)} "
                                         f"catches every exception and returns {value}")
        return notes

    def class_facts(self, binding: Binding) -> Facts:
        protocol: set[str] | None = set()
        constructor: Facts | None = None
        c_base = None
        for klass in self.class_mro(binding):
            if klass.kind == "class":
                assert isinstance(klass.node, ast.ClassDef)
                methods = {i.name: i for i in klass.node.body if isinstance(i, (ast.FunctionDef, ast.AsyncFunctionDef))}
                if protocol is not None:
                    protocol |= {m for m in PROTOCOL if m in methods}
                for name in ("__new__", "__init__"):
                    if constructor is None and name in methods:
                        constructor = self.function(Binding("method", klass.module, methods[name]), in_class=True)
                        constructor.where += f" ({klass.node.name}.{name})"
            elif klass.kind == "external":
                try:
                    external = _torch_lookup(klass.target)
                except (AttributeError, ImportError):
                    external = None
                if inspect.isclass(external):
                    if protocol is not None:
                        protocol |= self.torch.protocol(external)
                    if constructor is None and external is not object:
                        constructor = self.torch.constructor(external)
                        constructor.where = f"{constructor.where}, inherited from {klass.target}"
            elif klass.kind == "c":
                c_base = klass.target
                protocol = None if protocol is not None and not protocol else protocol
        if constructor is None:
            where = self.where(binding.module, binding.node)
            if c_base:
                constructor = Facts(where=f"{where} (constructor from its C++ base {c_base})", kind="c")
            else:
                constructor = Facts(where=where, kind="class", params=[], signature="()")
        constructor.kind = "class" if constructor.kind != "c" else "c"
        constructor.protocol = protocol
        if c_base:
            constructor.notes.append(f"methods from the C++ base {c_base} (not compared)")
        return constructor

    def attribute_of_instance(self, instance: Binding, name: str) -> Facts:
        """`torch.npu.matmul.allow_hf32`: matmul is an instance; the attribute is served by its
        class's __getattr__/__setattr__ (or defined on the class)."""
        assert isinstance(instance.node, (ast.Assign, ast.AnnAssign)) and isinstance(instance.node.value, ast.Call)
        cls_path = dotted(instance.node.value.func)
        cls = self.resolve_dotted(instance.module, cls_path or "")
        if cls.kind != "class":
            return Facts(where=self.where(instance.module, instance.node), kind="c")
        file = self.member(cls.module) or cls.module
        getter = setter = None
        assert isinstance(cls.node, ast.ClassDef)
        for item in cls.node.body:
            if isinstance(item, ast.FunctionDef) and item.name == "__getattr__":
                getter = branch_returns(item, file, name)
            if isinstance(item, ast.FunctionDef) and item.name == "__setattr__":
                setter = branch_returns(item, file, name)
        if getter is None:
            return Facts(where=f"{file}: no {name} in {cls.node.name}", kind="missing")
        facts = Facts(where=getter[0], kind="attribute", annotation=getter[1])
        if setter is None:
            facts.notes.append(f"{file}: {cls.node.name}.__setattr__ has no {name!r} branch: read-only")
        else:
            facts.notes.append(f"set by {setter[0]}")
        return facts

    def patched_attribute(self, qualified: str) -> Binding | None:
        """`torch.nn.Module.npu = npu` somewhere in the wheel (not the opt-in contrib/transfer_to_npu)."""
        for member in self.wheel.sources():
            if member.startswith("torch_npu/contrib/") or qualified not in self.wheel.text(member):
                continue
            for node in ast.walk(self.wheel.tree(member)):
                if isinstance(node, ast.Assign) and any(dotted(t) == qualified for t in node.targets):
                    module = member.removesuffix("/__init__.py").removesuffix(".py").replace("/", ".")
                    path = dotted(node.value)
                    if path:
                        found = self.resolve_dotted(module, path)
                        found.via.insert(0, f"{member}:{node.lineno}")
                        return found
        return None

    def facts(self, new: str) -> Facts:
        if new in GENERATED:
            patched = self.patched_attribute(new)
            if patched is None:
                return self.torch.generated(new)
            binding = patched
            in_class = True
        elif new.startswith("torch.npu."):
            binding = self.resolve_dotted("torch_npu.npu", new.removeprefix("torch.npu."))
            in_class = False
        elif new.startswith("torch.distributed.") and new.rsplit(".", 1)[1] in self.aliases:
            source = self.aliases[new.rsplit(".", 1)[1]].split()[0]
            binding = self.resolve_dotted("torch_npu", source.removeprefix("torch_npu."))
            in_class = False
        else:  # a torch name (torch.OutOfMemoryError): the installed torch
            return self.torch.facts(new)
        # torch.npu.<instance>.<attr>: the last part of the path is served by the instance's class
        if binding.kind == "missing" and new.startswith("torch.npu.") and new.count(".") == 3:
            owner = self.resolve_dotted("torch_npu.npu", new.split(".")[2])
            if owner.kind == "assign" and isinstance(getattr(owner.node, "value", None), ast.Call):
                return self.attribute_of_instance(owner, new.rsplit(".", 1)[1])
        via = f" (via {', '.join(binding.via)})" if binding.via else ""
        if binding.kind in ("function", "method"):
            facts = self.function(binding, in_class=binding.kind == "method" or in_class)
        elif binding.kind == "class":
            facts = self.class_facts(binding)
        elif binding.kind == "c":
            where = binding.target if " " in binding.target else f"{binding.target}: bound from the C++ extension"
            facts = Facts(where=where, kind="c")
        elif binding.kind == "external":
            facts = self.torch.facts(binding.target)
            facts.notes.append(f"re-exported torch object {binding.target}")
        elif binding.kind == "assign":
            assert isinstance(binding.node, (ast.Assign, ast.AnnAssign))
            annotation = getattr(binding.node, "annotation", None)
            facts = Facts(where=self.where(binding.module, binding.node), kind="value",
                          annotation=normalise_annotation(ast.unparse(annotation)) if annotation else None)
        elif binding.kind == "module":
            facts = Facts(where=f"module {binding.target}", kind="module")
        else:
            facts = Facts(where=f"{binding.target}: not found in the wheel", kind="missing")
        facts.where += via
        return facts


def _top_level(body: list[ast.stmt]) -> Iterator[ast.stmt]:
    """Module statements in order, including those inside top-level if/try/with blocks."""
    for stmt in body:
        if isinstance(stmt, ast.If):
            yield from _top_level(stmt.body)
            yield from _top_level(stmt.orelse)
        elif isinstance(stmt, ast.Try):
            yield from _top_level(stmt.body)
            for handler in stmt.handlers:
                yield from _top_level(handler.body)
            yield from _top_level(stmt.orelse)
            yield from _top_level(stmt.finalbody)
        elif isinstance(stmt, (ast.With, ast.AsyncWith)):
            yield from _top_level(stmt.body)
        else:
            yield stmt


# --- the comparison -------------------------------------------------------------------------------

def compare_params(torch_params: list[Param], npu_params: list[Param]) -> tuple[str, list[str]]:
    """'same', 'compatible' (every call torch accepts, the NPU side accepts with the same meaning)
    or 'differs' with what."""
    if [(p.name, p.kind, p.default) for p in torch_params] == [(p.name, p.kind, p.default) for p in npu_params]:
        return "same", []
    reasons: list[str] = []
    t_pos = [p for p in torch_params if p.kind in ("pos", "any")]
    n_pos = [p for p in npu_params if p.kind in ("pos", "any")]
    n_keywords = {p.name: p for p in npu_params if p.kind in ("any", "kw")}
    n_var = any(p.kind == "var" for p in npu_params)
    n_varkw = any(p.kind == "varkw" for p in npu_params)
    t_names = {p.name for p in torch_params}
    for i, p in enumerate(t_pos):
        q = n_pos[i] if i < len(n_pos) else None
        if q is None and not n_var:
            if p.name in n_keywords:
                reasons.append(f"`{p.name}` (torch position {i + 1}) is keyword-only on NPU")
            elif n_varkw and p.kind == "any":
                reasons.append(f"no positional slot for torch's `{p.name}` (position {i + 1}) on NPU; "
                               f"{p.name}=... reaches its **kwargs")
            else:
                reasons.append(f"no parameter `{p.name}` (torch position {i + 1}) on NPU")
            continue
        if p.kind != "any":
            continue
        if q is not None and q.name != p.name:
            if p.name in n_keywords:
                where = [j for j, r in enumerate(n_pos) if r.name == p.name]
                at = f"position {where[0] + 1}" if where else "keyword-only"
                reasons.append(f"position {i + 1} is `{p.name}` on torch, `{q.name}` on NPU (NPU's `{p.name}` "
                               f"is {at})")
            elif q.name in t_names or n_varkw:
                reasons.append(f"no parameter `{p.name}` on NPU (its position {i + 1} is `{q.name}`)")
            else:
                reasons.append(f"torch's `{p.name}` (position {i + 1}) is called `{q.name}` on NPU: "
                               f"{p.name}=... fails")
        elif q is not None and q.kind == "pos":
            reasons.append(f"`{p.name}` is positional-only on NPU")
        elif q is None and p.name not in n_keywords and not n_varkw:
            reasons.append(f"no parameter `{p.name}` on NPU ({p.name}=... fails)")
    for p in torch_params:
        if p.kind == "kw" and p.name not in n_keywords and not n_varkw:
            reasons.append(f"no keyword `{p.name}` on NPU")
        if p.kind == "var" and not n_var:
            reasons.append(f"torch takes *{p.name}, NPU does not")
        if p.kind == "varkw" and not n_varkw:
            reasons.append(f"torch takes **{p.name}, NPU does not")
    t_required = {p.name for p in torch_params if not p.default and p.kind not in ("var", "varkw")}
    for q in npu_params:
        if not q.default and q.kind not in ("var", "varkw") and q.name not in t_required:
            position = n_pos.index(q) if q in n_pos else None
            matched = position is not None and position < len(t_pos) and not t_pos[position].default
            if not matched:
                reasons.append(f"NPU requires `{q.name}`")
    if reasons:
        return "differs", reasons
    extra = [f"`{q.name}`" for q in npu_params if q.name not in t_names and q.kind not in ("var", "varkw")]
    absorbed = [f"`{p.name}`" for p in torch_params if p.kind in ("any", "kw") and p.name not in n_keywords]
    how = ([f"NPU adds optional {', '.join(extra)}"] if extra else []) + (
        [f"torch's {', '.join(absorbed)} reach NPU's **kwargs"] if absorbed else [])
    return "compatible", ["NPU accepts every call torch accepts: " + "; ".join(how or ["same parameters"])]


def default_differences(torch_params: list[Param], npu_params: list[Param]) -> list[str]:
    """Defaults that differ (other than the device type 'cuda' -> 'npu'): not a signature break,
    but the same call means something else."""
    npu = {p.name: p for p in npu_params}
    out = []
    for p in torch_params:
        q = npu.get(p.name)
        if q and p.value is not None and q.value is not None and p.value != q.value \
                and p.value.replace("cuda", "npu") != q.value:
            out.append(f"default of `{p.name}`: {p.value} on torch, {q.value} on NPU")
    return out


@dataclass
class Verdict:
    verdict: str
    evidence: list[str]


def compare(torch_facts: Facts, npu_facts: Facts) -> Verdict:
    found: dict[str, list[str]] = {v: [] for v in VERDICTS}
    t, n = torch_facts, npu_facts
    notes = [f"torch: {x}" for x in t.notes] + [f"npu: {x}" for x in n.notes]
    if n.kind == "missing" or t.kind == "missing":
        return Verdict("unknown", [f"not found: {t.where if t.kind == 'missing' else n.where}"])
    if t.obj_id is not None and t.obj_id == n.obj_id:
        return Verdict("same", ["both names are the same object in the installed torch", *notes])
    if n.unsupported:
        found["unsupported"].append(n.unsupported)
    # signatures
    if n.kind == "c" or t.kind == "c":
        side = " and ".join(s for s, f in (("torch", t), ("NPU", n)) if f.kind == "c")
        found["unknown"].append(f"{side}: defined in C++, no Python signature or body to compare")
    elif t.kind in ("function", "class") and n.kind in ("function", "class"):
        if t.params is not None and n.params is not None:
            status, reasons = compare_params(t.params, n.params)
            notes += default_differences(t.params, n.params)
            if status == "differs":
                found["differs-signature"] += reasons
            elif status == "compatible":
                found["compatible"] += reasons
    elif {t.kind, n.kind} <= {"attribute", "value"}:
        pass
    elif t.kind != n.kind:
        found["differs-return"].append(f"torch's is a {t.kind}, NPU's a {n.kind}")
    # return contracts
    if t.kind == "class" or n.kind == "class" or "c" in (t.kind, n.kind) and "class" in (t.kind, n.kind):
        if t.protocol and n.protocol is not None:
            missing = sorted(t.protocol - n.protocol)
            if missing:
                found["differs-return"].append(f"NPU instances lack {', '.join(missing)} (torch's have them)")
        elif t.protocol and n.protocol is None:
            notes.append(f"npu: protocol methods {sorted(t.protocol)} may come from its C++ base")
    elif t.kind in ("attribute", "value") or n.kind in ("attribute", "value"):
        if t.annotation and n.annotation:
            if normalise_annotation(t.annotation) != normalise_annotation(n.annotation) and not (
                    coarse_type(t.annotation) and coarse_type(t.annotation) == coarse_type(n.annotation)):
                found["differs-return"].append(f"type {t.annotation} on torch, {n.annotation} on NPU")
        else:
            found["unknown"].append(f"type unknown on {'torch' if not t.annotation else 'NPU'}")
    elif t.kind == "function" and n.kind == "function":
        for difference in return_differences(t, n):
            if difference.startswith("unknown: "):
                found["unknown"].append(difference.removeprefix("unknown: "))
            else:
                found["differs-return"].append(difference)
    verdict = next((v for v in VERDICTS if found[v]), "same")
    evidence = [x for v in VERDICTS for x in found[v] if v not in ("compatible",)] + notes
    if verdict == "compatible":
        evidence = found["compatible"] + evidence
    return Verdict(verdict, evidence)


def return_differences(t: Facts, n: Facts) -> list[str]:
    out: list[str] = []
    if t.contextmanager and not n.contextmanager:
        out.append(f"torch's returns a context manager ({t.where}), NPU's is a plain function")
    if t.contextmanager or n.contextmanager:
        return out
    t_ann = t.annotation
    t_never_none = t_ann is not None and not nullable(t_ann)
    if t_never_none:
        nones = [r.line for r in n.returns if r.shape == "None" and not r.in_except]
        if n.falls_through:
            nones.append(f"{n.falls_through} (falls off the end)")
        if n.procedure and n.annotation in (None, "None") and t_ann != "None":
            nones.append(f"{n.where} (no return statement)")
        if nones and t_ann != "None":
            out.append(f"returns None at {', '.join(nones)}; torch's is annotated -> {t_ann} ({t.where})")
    c_calls = sorted({r.shape[5:] for r in n.returns if r.shape.startswith("call torch_npu._C.") and not r.in_except})
    if t_ann and c_calls and coarse_type(t_ann) is None and "[" not in t_ann:
        out.append(f"unknown: returns what the C++ extension returns ({', '.join(c_calls)}), where torch's is "
                   f"annotated -> {t_ann}: its attributes cannot be compared from Python")
    t_arity = tuple_arity(t_ann) or _literal_arity(t)
    n_arities = {int(r.shape[6:-1]) for r in n.returns if r.shape.startswith("tuple[") and not r.in_except}
    if n.annotation and tuple_arity(n.annotation):
        n_arities.add(tuple_arity(n.annotation) or 0)
    if t_arity and n_arities - {t_arity}:
        out.append(f"returns a {sorted(n_arities - {t_arity})[0]}-tuple where torch's returns a {t_arity}-tuple")
    t_type = coarse_type(t_ann)
    n_types = {s for r in n.returns if not r.in_except
               for s in [coarse_type(normalise_annotation(r.shape.split('[')[0]))] if s and s != "None"}
    if n.annotation and coarse_type(n.annotation) not in (None, "None"):
        n_types.add(coarse_type(n.annotation) or "")
    compatible = {t_type, "bool"} if t_type == "int" else {t_type}
    if t_type and t_type != "None" and n_types - compatible:
        out.append(f"returns {', '.join(sorted(n_types - compatible))} where torch's returns {t_type}")
    return out


def _literal_arity(facts: Facts) -> int | None:
    arities = {int(r.shape[6:-1]) for r in facts.returns if r.shape.startswith("tuple[") and not r.in_except}
    return arities.pop() if len(arities) == 1 else None


# --- one release ----------------------------------------------------------------------------------

def _has(version: str) -> Any:
    """Whether the release has an NPU name, as portkit decides it (portkit.ruleset.npu_api, which
    renames only names it has and reports the others); None while that module is unavailable."""
    try:
        from portkit.ruleset.npu_api import load_npu_api
        return load_npu_api(version).has
    except (ImportError, ValueError):
        return None


def audit(wheel_path: Path, torch_side: TorchSide | None = None, pairs: list[Pair] | None = None) -> dict[str, Any]:
    torch_side = torch_side or TorchSide()
    wheel = WheelSide(wheel_path, torch_side)
    has = _has(wheel.version)
    contracts: dict[str, Any] = {}
    for pair in pairs if pairs is not None else rename_pairs():
        npu_name = pair.new.startswith(("torch.npu", "torch_npu", "torch.distributed.is_hccl"))
        entry: dict[str, Any] = {"new": pair.new, "rule": pair.rule}
        torch_facts = torch_side.facts(pair.old)
        entry["torch"] = torch_facts.summary()
        npu_facts = wheel.facts(pair.new)
        absent = (not has(pair.new)) if has is not None else npu_facts.kind == "missing"
        if npu_name and absent:
            entry.update(verdict="absent", evidence=[f"torch_npu {wheel.version} has no {pair.new}: portkit "
                                                     "reports the use instead of renaming it"])
        else:
            result = compare(torch_facts, npu_facts)
            entry.update(npu=npu_facts.summary(), verdict=result.verdict, evidence=result.evidence)
        contracts[pair.old] = entry
    counts = {v: sum(e["verdict"] == v for e in contracts.values()) for v in VERDICTS}
    return {
        "version": wheel.version,
        "source": {"wheel": wheel_path.name, "sha256": hashlib.sha256(wheel_path.read_bytes()).hexdigest()},
        "torch": torch_side.version,
        "counts": {k: v for k, v in counts.items() if v},
        "contracts": dict(sorted(contracts.items())),
    }


def dumps(data: dict[str, Any]) -> str:
    return json.dumps(data, indent=1, sort_keys=True, ensure_ascii=False) + "\n"


# --- docs/contracts.md ----------------------------------------------------------------------------

KEEP = "keep the rename"
CONDITIONAL = "rename conditionally"
RESULT = "rename only when the result is not unpacked, indexed or compared"
REPORT = "report instead"
PENDING = "handled by the contracts of rule cuda-api (rules/torch-cuda.toml): kept unchanged when the result is unpacked, indexed, compared or formatted"
KEYWORD_ONLY_BREAKS = ("positional calls (the usual form) behave the same; the keyword spelling fails on NPU: "
                       "rewrite that keyword to a positional argument, or report the call")

# What portkit should do with each name that is not `same` in some release: reviewed by hand against
# the evidence (the test requires one for every safe rename that differs).
PROPOSALS: dict[str, tuple[str, str]] = {
    "torch.Tensor.cuda": (CONDITIONAL, "keep `.npu(...)` for calls with at most two positional arguments "
                          "(`x.cuda()`, `x.cuda(rank)`, `x.cuda(rank, True)`, any keywords: memory_format=... "
                          "reaches Tensor.npu's **kwargs and Tensor.to); a third positional argument "
                          "(memory_format) raises TypeError: pass it as memory_format=... or report. Tensor.npu "
                          "is generated by torch itself, so this holds for every release"),
    "torch.cuda.CUDAGraph": (KEEP + " (review)", "NPUGraph() takes no argument: a call passing keep_graph "
                             "(torch >= 2.7) fails; report such calls, keep the others"),
    "torch.cuda.graphs.CUDAGraph": (KEEP + " (review)", "as torch.cuda.CUDAGraph: report calls that pass "
                                    "keep_graph"),
    "torch.cuda.Event": (CONDITIONAL, "keep for Event(enable_timing, blocking, interprocess); `external` "
                         "(keyword or fourth positional) does not exist on NPU: report calls that pass it"),
    "torch.cuda.MemPool": (CONDITIONAL, "torch_npu 2.1.0.post17-2.9.0 take MemPool(allocator=None) only: "
                           "report calls passing use_on_oom / no_split when porting to those releases; 2.13.0 "
                           "matches torch"),
    "torch.cuda.StreamContext": (CONDITIONAL, "the parameter is `stream_ctx` on NPU: " + KEYWORD_ONLY_BREAKS),
    "torch.cuda.amp.GradScaler": (KEEP, "the fifth positional parameter is `dynamic` on NPU where torch's is "
                                  "`enabled`; the grad-scaler-enabled rule already turns a fifth positional "
                                  "argument into enabled=..., so rename + that edit is exact"),
    "torch.cuda.amp.custom_fwd": (KEEP, "2.1.0.post17-2.9.0 take (fwd=None, **kwargs) and read cast_inputs "
                                  "from the kwargs (torch_npu/npu/amp/autocast_mode.py): same calls"),
    "torch.cuda.can_device_access_peer": (CONDITIONAL, "the parameters are `device_id`, `peer_device_id` on NPU: "
                                          + KEYWORD_ONLY_BREAKS),
    "torch.cuda.current_blas_handle": (REPORT, "NPU has no BLAS handle: the function always warns and returns "
                                       "None, and code that passes the handle on to a cuBLAS binding cannot work "
                                       "on NPU"),
    "torch.cuda.get_device_capability": (RESULT, PENDING + ". 2.1.0.post17-2.9.0 always warn and return None "
                                         "(report instead there); 2.13.0 returns None unless "
                                         "TORCH_NPU_DEVICE_CAPABILITY is set, and then the configured value, not "
                                         "the device's"),
    "torch.cuda.get_device_name": (CONDITIONAL, "the parameter is `device_name` on NPU: " + KEYWORD_ONLY_BREAKS),
    "torch.cuda.get_device_properties": (RESULT, PENDING + ". The parameter is `device_name` (device=... fails), "
                                         "and the result is torch_npu's C++ _NPUDeviceProperties: the wheel's own "
                                         "inductor patch reads props.vector_core_num where torch reads "
                                         "multi_processor_count and getattr(props, 'major', None) "
                                         "(torch_npu/_compat/inductor.py in 2.13.0): report reads of major / minor "
                                         "/ multi_processor_count, keep .name / .total_memory"),
    "torch.cuda.graph": (CONDITIONAL, "keep graph(g), graph(g, pool, stream) and the keywords pool / stream / "
                         "capture_error_mode; a fourth positional argument lands in auto_dispatch_capture on NPU "
                         "(capture_error_mode is fifth there): make it capture_error_mode=...; cuda_graph=, "
                         "enable_annotations=, check_input_liveness= fail: report"),
    "torch.cuda.is_bf16_supported": (CONDITIONAL, "2.1.0.post17-2.9.0 take no argument: report (or drop) "
                                     "including_emulation there; 2.13.0 accepts it, defaulting to False where "
                                     "torch's default is True (emulated bf16 is not counted)"),
    "torch.cuda.memory_snapshot": (CONDITIONAL, "2.13.0 lacks include_traces, 2.1.0.post17-2.9.0 take no argument "
                                   "at all: keep memory_snapshot(), report calls that pass arguments the release "
                                   "lacks"),
    "torch.cuda.nvtx.mark": (CONDITIONAL, "the parameter is `message` on NPU (`msg` on torch): "
                             + KEYWORD_ONLY_BREAKS + ". mstx methods also return None instead of raising on any "
                             "exception (decorator _no_exception_func)"),
    "torch.cuda.nvtx.range_push": (CONDITIONAL, "as nvtx.mark: `message`, not `msg`"),
    "torch.cuda.nvtx.range_start": (CONDITIONAL, "as nvtx.mark: `message`, not `msg`; returns 0 instead of "
                                    "raising on a bad message"),
    "torch.cuda.nvtx.range_end": (KEEP, "NPU adds an optional `domain`"),
    "torch.cuda.nvtx.range_pop": (KEEP, "NPU adds an optional `domain`"),
}
TENSOR_TYPES = (KEEP, "both sides are C++ legacy tensor types (torch_npu's C extension sets them on torch.npu): "
                "there is no Python signature or body to compare, and nothing in the wheel argues against the "
                "rename")


def proposal(name: str, verdicts: set[str]) -> tuple[str, str]:
    if name in PROPOSALS:
        return PROPOSALS[name]
    if verdicts <= {"same", "absent"}:
        return KEEP, "releases without the name: portkit already reports the use instead of renaming"
    if name.startswith("torch.cuda.") and name.endswith("Tensor") and verdicts == {"unknown"}:
        return TENSOR_TYPES
    return "(no proposal yet)", ""


def render_doc(releases: list[dict[str, Any]], safety: dict[str, str] | None = None) -> str:
    """docs/contracts.md from the per-release data; `safety` maps a rule id to its fix safety."""
    safety = safety if safety is not None else {p.rule: p.safety for p in rename_pairs()}
    versions = [r["version"] for r in releases]
    torch_version = releases[-1]["torch"] if releases else "?"
    lines = [
        "# Rename contracts: does the NPU twin take the same arguments and return the same thing?",
        "",
        "<!-- generated by scripts/audit_npu_contracts.py from src/portkit/ruleset/data/npu_contracts-*.json:",
        "     edit the script (its PROPOSALS table), then run it; tests/test_npu_contracts.py compares -->",
        "",
        "portkit renames `torch.cuda.X` to `torch.npu.X` (and a few other names) when torch_npu offers a twin.",
        "A rename is only *safe* when the twin accepts the same calls and returns the same kind of value:",
        "`major, minor = torch.cuda.get_device_capability()` ran on CUDA, but `torch.npu.get_device_capability()`",
        "returns None unless TORCH_NPU_DEVICE_CAPABILITY is set, so the ported line raises TypeError.",
        "`python scripts/audit_npu_contracts.py` compares every rename against the real code, mechanically.",
        "",
        "## What was compared",
        "",
        "* every (old, new) pair the built-in `npu` rename rules produce: the `rename-api` rules and the",
        "  `rename-attribute` rules on `torch.Tensor` / `torch.nn.Module` (taken from portkit's rule set;",
        "  the `accelerator` and `shim` targets do not rename to torch_npu and are not audited here);",
        f"* the torch side in the installed torch {torch_version}: the function's source through inspect",
        "  and ast (decorators unwrapped); for classes the `__new__`/`__init__` that `inspect.signature`",
        "  would use; for methods of C types `torch/_C/__init__.pyi`. Methods torch generates for the",
        "  renamed backend (`Tensor.npu`, `Tensor.is_npu`) are read in torch/utils/backend_registration.py;",
        "* the torch_npu side read as files from each torch-npu wheel (" + ", ".join(versions) + "), never",
        "  imported: `torch_npu/npu/__init__.py` and the modules it re-exports from, followed statement by",
        "  statement (`from .x import y`, `from .x import *`, assignments; the last binding wins, as at",
        "  runtime) to the defining `def` / `class` (bases inside the wheel followed, bases from torch read",
        "  in torch); `torch.distributed.*` through torch_npu's alias table; `Module.npu` where the wheel",
        "  assigns it;",
        "* signatures: parameter names, order, kinds (positional-only, keyword-only, `*args`, `**kwargs`)",
        "  and which are required. Default *values* do not decide a verdict (`'cuda'` vs `'npu'` is the",
        "  point); other differing defaults are listed as evidence;",
        "* return contracts: the return annotation, and every `return` of the NPU body (None where torch's",
        "  annotation excludes None, falling off the end, tuple arity, literal types), context managers,",
        "  the protocol methods (`__enter__`, `__exit__`, `__call__`, ...) of classes, attribute types, and",
        "  stubs that always raise NotImplementedError, warn \"not implemented/supported\" or only warn and",
        "  return a constant.",
        "",
        "Verdicts: `same`; `compatible` (NPU accepts every call torch accepts, meaning the same);",
        "`differs-signature`; `differs-return`; `unsupported` (a stub); `unknown` (a side is defined in",
        "C++: bound from `torch_npu._C`, or a C++ type such as the legacy `FloatTensor`: nothing to read);",
        "`absent` (the release lacks the NPU name: portkit already reports the use instead of renaming).",
        "An entry gets its worst finding. The evidence is file:line: torch paths are torch",
        f"{torch_version}'s (site-packages), torch_npu paths are inside the wheel. The data is in",
        "`src/portkit/ruleset/data/npu_contracts-<version>.json`; `tests/test_npu_contracts.py` re-derives",
        "it from the wheels and fails when a `safe` rename maps a name whose verdict is `differs-return`,",
        "`differs-signature` or `unsupported` and its exceptions table does not give a reason.",
        "",
        "Limits: a C++ side (return types of `torch_npu._C` functions, the legacy tensor types) cannot be",
        "compared from Python; the torch side is always the installed torch, also for the older torch_npu",
        "releases (which pair with older torch); a return path is judged from its expression, so a",
        "`return x` of a variable that may be None is not seen.",
        "",
        "## Verdicts per release",
        "",
        "| verdict | " + " | ".join(versions) + " |",
        "|---|" + "---:|" * len(versions),
    ]
    for verdict in VERDICTS:
        lines.append(f"| {verdict} | " + " | ".join(str(r["counts"].get(verdict, 0)) for r in releases) + " |")
    lines.append("| total | " + " | ".join(str(len(r["contracts"])) for r in releases) + " |")
    names = sorted({name for r in releases for name, e in r["contracts"].items() if e["verdict"] != "same"})
    table = ["", "## Every entry that is not `same`", "",
             "| rename | rule | " + " | ".join(versions) + " | proposal |",
             "|---|---|" + "---|" * len(versions) + "---|"]
    details = ["", "## Evidence and proposals", ""]
    grouped: dict[tuple[str, ...], list[str]] = {}
    blocks: dict[str, list[str]] = {}
    for name in names:
        entries = [(r["version"], r["contracts"].get(name)) for r in releases]
        first = next(e for _, e in entries if e)
        action, reason = proposal(name, {e["verdict"] for _, e in entries if e})
        rule = f"{first['rule']} ({safety.get(first['rule'], '?')})"
        table.append(f"| `{name}` → `{first['new']}` | {rule} | "
                     + " | ".join(e["verdict"] if e else "-" for _, e in entries) + f" | {action} |")
        block = [f"torch: {first['torch']}"]
        by_text: dict[str, list[str]] = {}
        for version, entry in entries:
            if entry is None:
                continue
            text = "\n".join([f"npu:   {entry.get('npu', '(absent)')}", *(f"  - {x}" for x in entry["evidence"])])
            by_text.setdefault(text, []).append(version)
        for text, in_versions in by_text.items():
            block.append(f"[{', '.join(in_versions)}] {text}")
        # entries whose evidence differs only in their own name (the legacy tensor types) share a section
        key = (action, reason, re.sub(re.escape(name.rsplit(".", 1)[1]) + r"\b", "X", "\n".join(block)))
        grouped.setdefault(key, []).append(name)
        blocks[name] = block
    for (action, reason, _), group in grouped.items():
        first_name = group[0]
        first = next(r["contracts"][first_name] for r in releases if first_name in r["contracts"])
        if len(group) == 1:
            title = f"`{first_name}` → `{first['new']}`"
        else:  # the same evidence up to the name: one section, X standing for each name
            old_prefix, new_prefix = first_name.rsplit(".", 1)[0], first["new"].rsplit(".", 1)[0]
            title = (f"`{old_prefix}.X` → `{new_prefix}.X` for X in "
                     + ", ".join(n.rsplit(".", 1)[1] for n in group))
        details += [f"### {title}", "", "```text", *blocks[first_name], "```", "",
                    f"**Proposal: {action}**" + (f" — {reason}." if reason else ""), ""]
    return "\n".join(lines + table + details).rstrip() + "\n"


# --- command line ---------------------------------------------------------------------------------

def cached_wheels() -> list[Path]:
    by_version: dict[str, Path] = {}
    for path in sorted(CACHE.glob("torch_npu-*.whl")):
        by_version[path.name.split("-")[1]] = path
    return [by_version[v] for v in sorted(by_version, key=lambda v: [int(x) for x in re.findall(r"\d+", v)])]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("wheels", nargs="*", type=Path, help="torch_npu-*.whl files (default: the cached ones)")
    parser.add_argument("--out-dir", type=Path, default=DATA_DIR)
    parser.add_argument("--doc", type=Path, default=DOC)
    args = parser.parse_args(argv)
    wheels = args.wheels or cached_wheels()
    if not wheels:
        print("no wheels: run `python scripts/fetch_npu_wheels.py` first", file=sys.stderr)
        return 1
    torch_side, pairs = TorchSide(), rename_pairs()
    for wheel in wheels:
        data = audit(wheel, torch_side, pairs)
        out = args.out_dir / f"npu_contracts-{data['version']}.json"
        out.write_text(dumps(data), encoding="utf-8")
        print(f"wrote {out}: {data['counts']}")
    releases = [json.loads(p.read_text(encoding="utf-8")) for p in sorted(args.out_dir.glob("npu_contracts-*.json"))]
    releases.sort(key=lambda r: [int(x) for x in re.findall(r"\d+", r["version"])])
    args.doc.write_text(render_doc(releases), encoding="utf-8")
    print(f"wrote {args.doc}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
