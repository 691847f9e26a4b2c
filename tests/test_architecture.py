"""The one-way data flow of docs/architecture.md, enforced the way import-linter's "layers"
contract does: a subpackage imports only from the layers below it (lazy imports inside
functions count too), and no module grows past what a newcomer can read in one sitting."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "src" / "portkit"

# top to bottom; each may import only from itself and the layers after it
LAYERS = ("cli", "reports", "pipeline", "filekinds", "python", "ruleset", "model")
# the package root holds only __version__; __main__ is the CLI's other door; rules is data
BASE = {"portkit": len(LAYERS), "portkit.rules": len(LAYERS)}
MAX_MODULE_LINES = 500
MAX_FUNCTION_LINES = 80


def _modules() -> list[Path]:
    return sorted(p for p in PACKAGE.rglob("*.py") if "__pycache__" not in p.parts)


def _name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _layer(module: str) -> int | None:
    """The layer index of a portkit module; None for the package root's own files."""
    if module in BASE:
        return BASE[module]
    parts = module.split(".")
    if parts[0] != "portkit" or len(parts) < 2:
        return None
    if parts[1] == "__main__":
        return -1
    return LAYERS.index(parts[1]) if parts[1] in LAYERS else None


def _imports(tree: ast.AST, module: str, is_package: bool) -> list[tuple[int, str]]:
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = module.split(".")
                base = base if is_package else base[:-1]
                base = base[: len(base) - node.level + 1]
                target = ".".join([*base, node.module] if node.module else base)
            else:
                target = node.module or ""
            found.append((node.lineno, target))
            # `from portkit import x` imports the submodule x
            if target == "portkit":
                found += [(node.lineno, f"portkit.{alias.name}") for alias in node.names
                          if alias.name != "__version__"]
    return [(line, name) for line, name in found if name.split(".")[0] == "portkit"]


def test_every_module_belongs_to_a_layer():
    strays = [_name(p) for p in _modules() if _layer(_name(p)) is None]
    assert not strays, f"modules outside the layers of docs/architecture.md: {strays}"


def test_imports_only_point_down():
    violations = []
    for path in _modules():
        module = _name(path)
        own = _layer(module)
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for line, target in _imports(tree, module, path.name == "__init__.py"):
            layer = _layer(target)
            if target == "portkit" or layer is None:
                continue
            if layer < own:
                violations.append(f"{path.relative_to(PACKAGE)}:{line}: {module} imports {target}")
    assert not violations, "imports against the flow:\n" + "\n".join(violations)


@pytest.mark.parametrize("path", _modules(), ids=lambda p: str(p.relative_to(PACKAGE)))
def test_modules_stay_readable(path: Path):
    text = path.read_text(encoding="utf-8")
    lines = text.count("\n")
    assert lines <= MAX_MODULE_LINES, f"{lines} lines: split it (docs/architecture.md)"
    long = [f"{node.name} ({node.end_lineno - node.lineno + 1} lines)"
            for node in ast.walk(ast.parse(text))
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
            and node.end_lineno - node.lineno + 1 > MAX_FUNCTION_LINES and not _is_table(node)]
    assert not long, f"{path.name}: functions over {MAX_FUNCTION_LINES} lines: {long}"


def _is_table(node: ast.FunctionDef | ast.AsyncFunctionDef) -> bool:
    """A function that only returns one literal (a table) may be long."""
    body = [s for s in node.body if not (isinstance(s, ast.Expr) and isinstance(s.value, ast.Constant))]
    return len(body) == 1 and isinstance(body[0], ast.Return) and isinstance(
        body[0].value, ast.Dict | ast.List | ast.Tuple | ast.Set)
