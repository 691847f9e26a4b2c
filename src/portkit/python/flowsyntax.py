"""Small questions about stdlib `ast` expressions that the value flow (valueflow.py) asks.

What a dotted name is, what text a literal holds, and the two places a value stops being a
device and becomes a *name* among choices: an accelerator name (`accelerator == "cuda"`,
`registry.register("cuda", CUDAAccelerator)`, `--accelerator` choices, `Literal[...]`).
"""

from __future__ import annotations

import ast
import re

ACCELERATOR = "accelerator-name"  # a user's accelerator choice, never a device type (issue 14, item 9)
# what such a choice is called: accelerator=, _accelerator_flag, _SUPPORTED_ACCELERATORS, accelerator_name
ACCELERATOR_NAMES = re.compile(r"(?i)^_*(.*_)?accelerators?(_flag|_name|_names|_choice|_choices|_str)?$")
_REGISTRY = re.compile(r"(?i)registry|registries")
_ARGPARSE = frozenset({"add_argument", "option", "argument"})  # argparse, click


def dotted(node: ast.expr) -> list[str] | None:
    """`a.b.c` -> ["a", "b", "c"]; None for anything that is not a plain dotted name."""
    parts: list[str] = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    return [node.id, *reversed(parts)] if isinstance(node, ast.Name) else None


def text(node: ast.expr) -> str | None:
    return node.value if isinstance(node, ast.Constant) and isinstance(node.value, str) else None


def colon_text(node: ast.expr) -> bool:
    """`":"` / `":0"` right after a device type (`device_type + ":" + str(i)`, f"{device_type}:{i}")."""
    if isinstance(node, ast.JoinedStr) and node.values:
        node = node.values[0]
    return (text(node) or "").startswith(":")


def added(node: ast.expr) -> list[ast.expr]:
    """The operands of `a + b + c`, left to right."""
    return [*added(node.left), node.right] if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add) else [node]


def accelerator_arguments(call: ast.Call) -> list[ast.expr]:
    """The arguments of `call` that hold accelerator names, not devices:

    - `accelerator=` of any call (Lightning's `Trainer(accelerator="cuda")`, `Fabric(...)`);
    - the key of a registry: `AcceleratorRegistry.register("cuda", CUDAAccelerator)`, a receiver
      whose spelling says registry (`atexit.register` and `@singledispatch` never match);
    - `choices=` and `default=` of an argparse / click option named like an accelerator.
    """
    found = [k.value for k in call.keywords if k.arg is not None and ACCELERATOR_NAMES.match(k.arg)]
    func = call.func
    if isinstance(func, ast.Attribute) and func.attr == "register" and call.args:
        receiver = ast.unparse(func.value)
        if _REGISTRY.search(receiver):
            found.append(call.args[0])
    last = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
    if last in _ARGPARSE and any(ACCELERATOR_NAMES.match((text(a) or "").lstrip("-").replace("-", "_"))
                                 for a in call.args):
        for k in call.keywords:
            if k.arg in ("choices", "default"):
                found.append(k.value)
            elif k.arg == "type" and isinstance(k.value, ast.Call) and k.value.args:  # click.Choice(names)
                found.append(k.value.args[0])
    return found


def is_literal_annotation(annotation: ast.expr | None) -> bool:
    """`Literal["cuda", "cpu"]` (typing or typing_extensions, bare or dotted, inside Optional):
    the value is checked against a fixed list of names (jsonargparse and pydantic enforce it at
    run time), so a converted value would fail the check."""
    if annotation is None:
        return False
    for node in ast.walk(annotation):
        if isinstance(node, ast.Subscript):
            parts = dotted(node.value)
            if parts is not None and parts[-1] == "Literal":
                return any(text(n) is not None for n in ast.walk(node.slice))
    return False
