"""Sparse parsing (sparse.py) gives exactly what parsing the whole file gives."""

from __future__ import annotations

import ast
import textwrap
from pathlib import Path

import pytest

from portkit.python.engine import migrate_source
from portkit.ruleset import load_rules
from portkit.python.sparse import GAP, restore, sparse_source
from portkit.python.transform import CompiledRules

REPO = Path(__file__).resolve().parent.parent
TARGETS = {target: CompiledRules(load_rules(target=target)) for target in ("npu", "accelerator", "shim")}
ALL_RULES = load_rules(target=None)


def dedent(code: str) -> str:
    return textwrap.dedent(code).lstrip("\n")


def sources() -> list[tuple[str, str]]:
    """Every Python text the repository holds: examples, fixtures, portkit's own code, and
    the rule examples."""
    files = [*REPO.glob("examples/**/*.py"), *REPO.glob("tests/data/**/*.py"), *REPO.glob("src/portkit/**/*.py")]
    found = [(str(p.relative_to(REPO)), p.read_text(encoding="utf-8")) for p in sorted(files)]
    for rule in ALL_RULES.rules:
        for number, example in enumerate(rule.examples, start=1):
            if example.path.endswith(".py"):
                found.append((f"{rule.id}-{number}", dedent(example.before)))
    return found


SOURCES = sources()


@pytest.mark.parametrize("target", sorted(TARGETS))
@pytest.mark.parametrize("render", [True, False], ids=["migrate", "check"])
def test_sparse_and_full_parses_agree_on_everything_in_the_repository(target: str, render: bool) -> None:
    rules = TARGETS[target]
    for name, text in SOURCES:
        try:
            full = migrate_source(text, rules, render=render, sparse=False)
        except Exception as error:  # noqa: BLE001 - the sparse path must fail the same way
            with pytest.raises(type(error)):
                migrate_source(text, rules, render=render)
            continue
        assert migrate_source(text, rules, render=render) == full, name


MANY = dedent('''
    """A module."""
    import os
    import torch.cuda as tc

    CONSTANT = 1


    def quiet():
        return os.getcwd()


    def uses_the_alias():
        tc.synchronize()


    class Big:
        def method(self):
            return 2


    x = (1,
         2); y = torch_cuda_thing = "cuda"


    def tail():
        return 3
''')


def rules() -> CompiledRules:
    return TARGETS["npu"]


def test_left_out_statements_become_gap_lines_and_line_numbers_stay() -> None:
    tree = ast.parse(MANY)
    sparse = sparse_source(MANY, tree, rules().triggers.regex, rules().may_need_work)
    assert sparse is not None
    lines, sparse_lines = MANY.splitlines(), sparse.text.splitlines()
    assert len(lines) == len(sparse_lines)
    gapped = [i + 1 for i, line in enumerate(sparse_lines) if line == GAP]
    # CONSTANT follows an import (kept: an inserted import is reported there); `quiet` and
    # `Big` hold nothing; the alias use is a trigger line though it never says "cuda"
    assert [lines[i - 1] for i in gapped] == [
        "def quiet():", "    return os.getcwd()", "class Big:", "    def method(self):", "        return 2"]
    assert [type(s).__name__ for s in sparse.tree.body] == ["Expr", "Import", "Import", "Assign", "FunctionDef",
                                                            "Assign", "Assign", "FunctionDef"]
    assert restore(sparse, sparse.text) == MANY


def test_statements_sharing_a_line_are_kept_together() -> None:
    tree = ast.parse(MANY)
    sparse = sparse_source(MANY, tree, rules().triggers.regex, rules().may_need_work)
    assert sparse is not None
    assert "x = (1,\n     2); y = torch_cuda_thing" in sparse.text


def test_line_endings_and_a_missing_final_newline_survive() -> None:
    text = MANY.replace("\n", "\r\n").rstrip("\r\n")
    sparse = sparse_source(text, ast.parse(text), rules().triggers.regex, rules().may_need_work)
    assert sparse is not None and "\r\n" in sparse.text
    assert restore(sparse, sparse.text) == text
    migration = migrate_source(text, rules())
    assert migration == migrate_source(text, rules(), sparse=False)
    assert migration.new_text is not None and migration.new_text.count("\r\n") == text.count("\r\n") + 1


def test_a_text_that_already_holds_the_gap_marker_is_parsed_whole() -> None:
    text = MANY + GAP + "\n"
    assert sparse_source(text, ast.parse(text), rules().triggers.regex, rules().may_need_work) is None


def test_restore_refuses_gaps_that_did_not_come_back_one_for_one() -> None:
    sparse = sparse_source(MANY, ast.parse(MANY), rules().triggers.regex, rules().may_need_work)
    assert sparse is not None
    assert restore(sparse, sparse.text.replace(GAP + "\n", "", 1)) is None
    assert restore(sparse, sparse.text + GAP + "\n") is None


def test_the_rewrite_of_a_sparse_parse_is_the_rewrite_of_the_whole_file() -> None:
    migration = migrate_source(MANY, rules())
    assert migration.new_text is not None
    assert "tc.synchronize()" in migration.new_text  # the alias is rebound at its import
    assert "import torch_npu.npu as tc" in migration.new_text or "torch.npu" in migration.new_text
    assert migration == migrate_source(MANY, rules(), sparse=False)
    assert "def quiet():\n    return os.getcwd()" in migration.new_text


CLASSES = dedent('''
    import torch


    class Model(torch.nn.Module):
        """Most of a modeling file."""

        def forward(self, x):
            return x * 2

        @staticmethod
        def helper():
            return 1

        def to_gpu(self, x):
            return x.cuda()


    class Stream(torch.cuda.Stream):
        def quiet(self):
            return 0

        def also_quiet(self):
            return 1
''')


def test_the_quiet_methods_inside_a_kept_class_are_left_out() -> None:
    sparse = sparse_source(CLASSES, ast.parse(CLASSES), rules().triggers.regex, rules().may_need_work)
    assert sparse is not None
    kept = [line for line in sparse.text.splitlines() if line and line != GAP]
    assert kept == [
        "import torch", "class Model(torch.nn.Module):", '    """Most of a modeling file."""',
        "    def to_gpu(self, x):", "        return x.cuda()",
        "class Stream(torch.cuda.Stream):", "    def quiet(self):", "        return 0",
        "    def also_quiet(self):", "        return 1",
    ]
    migration = migrate_source(CLASSES, rules())
    assert migration == migrate_source(CLASSES, rules(), sparse=False)
    assert migration.new_text is not None and "return x.npu()" in migration.new_text
    assert "@staticmethod\n    def helper():" in migration.new_text


NESTED = dedent('''
    import torch


    def train(model, batches):
        total = 0
        for batch in batches:
            total += batch.sum()
        if total > 0: model.cuda()
        else: pass
        try:
            x = 1
            y = 2
            torch.cuda.synchronize()
            z = 3
        except RuntimeError:
            pass
        \x0c
        return total


    def helper():
        return 0
''')


def test_inside_a_kept_function_only_the_statements_that_matter_stay() -> None:
    sparse = sparse_source(NESTED, ast.parse(NESTED), rules().triggers.regex, rules().may_need_work)
    assert sparse is not None
    kept = [line.strip() for line in sparse.text.splitlines() if line.strip() and line != GAP]
    assert kept == [
        "import torch", "def train(model, batches):", "total = 0",
        "if total > 0: model.cuda()", "else: pass",  # one-line suites are kept whole
        "try:", "x = 1", "torch.cuda.synchronize()", "z = 3", "except RuntimeError:", "pass",
        "return total", "def helper():", "return 0",  # the form feed line is blank to Python
    ]
    migration = migrate_source(NESTED, rules())
    assert migration == migrate_source(NESTED, rules(), sparse=False)
    assert migration.new_text is not None and "model.npu()" in migration.new_text
    assert "for batch in batches:\n        total += batch.sum()" in migration.new_text
