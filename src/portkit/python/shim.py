"""`--strategy shim`: Huawei's "one line" port, done where it belongs and explained.

The runtime switch (`from torch_npu.contrib import transfer_to_npu`) must run before the
program touches CUDA, so it goes into the program's entry points only: files with an
`if __name__ == "__main__":` block, the modules named by console scripts in pyproject.toml /
setup.py, and files given with `--entry`. Nothing else changes; the report lists what the
switch will not handle (rules/shim.toml, plus every manual item of the explicit port).
"""

from __future__ import annotations

import ast
import re
import tomllib
from collections.abc import Iterable, Sequence
from pathlib import Path

import libcst as cst

from portkit.python.imports import module_name
from portkit.model import Change, Safety, Span

RULE_ID = "shim-entry"
# how reports list it among the run's rules (it is built in, not a rule file's)
RULE_ENTRY = {"kind": "ensure-import", "safety": "review",
              "summary": "`import torch_npu` and `from torch_npu.contrib import transfer_to_npu` at each entry point"}
LINES = ("import torch_npu", "from torch_npu.contrib import transfer_to_npu")
_MAIN_GUARD = re.compile(r"""^if\s+__name__\s*==\s*['"]__main__['"]\s*:""", re.M)


def is_main_script(text: str) -> bool:
    """A module with a top-level `if __name__ == "__main__":` block."""
    if not _MAIN_GUARD.search(text):
        return False
    try:
        tree = ast.parse(text)
    except SyntaxError:
        return False
    return any(
        isinstance(node, ast.If) and isinstance(node.test, ast.Compare)
        and isinstance(node.test.left, ast.Name) and node.test.left.id == "__name__"
        for node in tree.body
    )


def console_script_modules(root: Path) -> set[str]:
    """Dotted modules named by console scripts in pyproject.toml ([project.scripts],
    [tool.poetry.scripts]) and setup.py (entry_points={"console_scripts": [...]})."""
    targets: list[str] = []
    pyproject = root / "pyproject.toml"
    if pyproject.is_file():
        try:
            data = tomllib.loads(pyproject.read_text(encoding="utf-8"))
        except (tomllib.TOMLDecodeError, UnicodeDecodeError, OSError):
            data = {}
        targets += list(data.get("project", {}).get("scripts", {}).values())
        targets += list(data.get("tool", {}).get("poetry", {}).get("scripts", {}).values())
    setup = root / "setup.py"
    if setup.is_file():
        try:
            tree = ast.parse(setup.read_text(encoding="utf-8"))
        except (SyntaxError, UnicodeDecodeError, OSError):
            tree = ast.Module(body=[], type_ignores=[])
        for node in ast.walk(tree):
            if isinstance(node, ast.Dict):
                for key, value in zip(node.keys, node.values):
                    if isinstance(key, ast.Constant) and key.value == "console_scripts" and isinstance(
                            value, (ast.List, ast.Tuple)):
                        targets += [e.value.split("=", 1)[-1] for e in value.elts
                                    if isinstance(e, ast.Constant) and isinstance(e.value, str)]
    return {str(t).strip().split(":")[0].strip() for t in targets if isinstance(t, str)}


def module_path(root: Path, module: str) -> Path | None:
    for base in (root, root / "src"):
        candidate = base.joinpath(*module.split("."))
        for path in (candidate.with_suffix(".py"), candidate / "__main__.py", candidate / "__init__.py"):
            if path.is_file():
                return path
    return None


def entry_points(roots: Iterable[Path], files: Sequence[Path], explicit: Iterable[Path]) -> set[Path]:
    """Resolved paths of the entry files among `files`."""
    entries = {p.resolve() for p in explicit}
    for root in roots:
        for module in console_script_modules(root):
            path = module_path(root, module)
            if path is not None:
                entries.add(path.resolve())
    for path in files:
        try:
            if is_main_script(path.read_text(encoding="utf-8")):
                entries.add(path.resolve())
        except (OSError, UnicodeDecodeError):
            continue
    return entries


def insert_switch(text: str) -> tuple[str, Change] | None:
    """The text with the switch imported right after its first torch import (or at the top),
    and the change to report; None if the switch is already there."""
    if "transfer_to_npu" in text:
        return None
    try:
        module = cst.parse_module(text)
    except cst.ParserSyntaxError as error:
        raise ValueError(f"cannot parse at line {error.raw_line}: {error.message.splitlines()[0]}") from None
    index = _insertion_index(module)
    wanted = [line for line in LINES if not (line == LINES[0] and re.search(r"^import torch_npu\b", text, re.M))]
    statements = [cst.parse_statement(line + module.default_newline) for line in wanted]
    new = module.with_changes(body=[*module.body[:index], *statements, *module.body[index:]])
    line = module.with_changes(body=module.body[:index], footer=()).code.count("\n") + 1
    change = Change(RULE_ID, "runtime switch imported at this entry point", Safety(RULE_ENTRY["safety"]),
                    Span(line, 1, line + len(wanted) - 1, len(wanted[-1]) + 1), "", "\n".join(wanted))
    return new.code, change


def _insertion_index(module: cst.Module) -> int:
    after_preamble = 0
    for index, statement in enumerate(module.body):
        if not isinstance(statement, cst.SimpleStatementLine):
            break
        small = statement.body[0]
        if isinstance(small, cst.Import) and any(
                cst.helpers.get_full_name_for_node(a.name).split(".")[0] == "torch" for a in small.names):
            return index + 1
        if isinstance(small, cst.ImportFrom) and (module_name(small) or "").split(".")[0] == "torch":
            return index + 1
        is_docstring = index == 0 and isinstance(small, cst.Expr) and isinstance(small.value, cst.SimpleString)
        if is_docstring or (isinstance(small, cst.ImportFrom) and module_name(small) == "__future__"):
            after_preamble = index + 1
    return after_preamble
