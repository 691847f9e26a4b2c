"""Behaviour of the whole rule set on code shapes that cut across single rules."""

from __future__ import annotations

import textwrap

import pytest

from portkit.python.engine import MigrationError, migrate_source
from portkit.ruleset import load_rules
from portkit.python.transform import CompiledRules

RULES = CompiledRules(load_rules())


def port(code: str) -> str:
    text = textwrap.dedent(code).lstrip("\n")
    migration = migrate_source(text, RULES)
    return migration.new_text if migration.new_text is not None else text


def dedent(code: str) -> str:
    return textwrap.dedent(code).lstrip("\n")


def test_import_torch_npu_goes_right_after_the_first_torch_import_once():
    assert port("""
        \"\"\"Docstring mentioning torch.cuda.\"\"\"
        from __future__ import annotations
        import os
        import torch
        import torch.nn as nn
        x = torch.zeros(1).cuda()
        y = torch.zeros(1).cuda()
    """) == dedent("""
        \"\"\"Docstring mentioning torch.cuda.\"\"\"
        from __future__ import annotations
        import os
        import torch
        import torch_npu
        import torch.nn as nn
        x = torch.zeros(1).npu()
        y = torch.zeros(1).npu()
    """)


def test_import_goes_before_a_rewritten_first_import_that_now_names_torch_npu():
    assert port("""
        from torch.cuda.amp import autocast
        import torch
    """) == dedent("""
        import torch_npu
        from torch_npu.npu.amp import autocast
        import torch
    """)


def test_file_without_imports_gets_the_import_after_its_docstring():
    assert port('''
        """Helpers."""
        def move(batch):
            return batch.cuda()
    ''') == dedent('''
        """Helpers."""
        import torch_npu
        def move(batch):
            return batch.npu()
    ''')


def test_no_import_for_a_file_that_only_renames_env_vars():
    code = """
        import os
        os.environ["CUDA_VISIBLE_DEVICES"] = "0"
    """
    assert "torch_npu" not in port(code)


def test_mixed_from_import_is_split_so_no_name_dangles():
    assert port("""
        import torch
        from torch.cuda import is_available, get_arch_list
        ok = is_available()
        archs = get_arch_list()
    """) == dedent("""
        import torch
        import torch_npu
        from torch.npu import is_available
        from torch.cuda import get_arch_list
        ok = is_available()
        archs = get_arch_list()
    """)


@pytest.mark.parametrize(
    "code",
    [
        "import torch.cuda.amp as amp\nwith amp.autocast():\n    pass\n",
        "from torch.cuda import amp as a\ns = a.GradScaler()\n",
        "import torch as th\nfrom torch import cuda\nprint(cuda.get_arch_list(), cuda.is_available())\n",
    ],
)
def test_every_name_used_after_migration_is_still_bound(code):
    """No dangling names (libcst's RenameCommand and semgrep leave NameErrors here)."""
    import ast

    new = port(code)
    tree = ast.parse(new)
    bound = {alias.asname or alias.name.split(".")[0] for node in ast.walk(tree)
             if isinstance(node, (ast.Import, ast.ImportFrom)) for alias in node.names}
    used = {node.id for node in ast.walk(tree) if isinstance(node, ast.Name)
            and isinstance(node.ctx, ast.Load)} - {"print"}
    assert used <= bound, f"unbound after migration: {used - bound}\n{new}"


def test_comments_docstrings_strings_and_identifiers_stay_byte_for_byte():
    code = dedent('''
        """Runs on CUDA: call torch.cuda.synchronize() first."""
        import torch
        # move to cuda, "cuda:0" is the default
        use_cuda = args.cuda and not args.no_cuda
        cuda_available = True
        logging.info("using cuda %s", "cuda")
        path = "/data/cuda/ckpt_cuda.pt"
        stats = {"cuda_time_total": 1, "cuda": 2}
        def cuda_helper(cuda=None):
            return cuda
    ''')
    assert port(code) == code


def test_formatting_inside_a_call_chain_is_kept():
    assert port("""
        import torch
        n = (torch  # count devices
             .cuda
             .device_count())
    """) == dedent("""
        import torch
        import torch_npu
        n = (torch  # count devices
             .npu
             .device_count())
    """)


def test_annotations_and_decorators_are_migrated():
    assert port("""
        import torch
        def f(s: torch.cuda.Stream) -> None:
            pass
        @torch.cuda.amp.custom_fwd
        def g(x):
            return x
    """) == dedent("""
        import torch
        import torch_npu
        def f(s: torch.npu.Stream) -> None:
            pass
        @torch.npu.amp.custom_fwd
        def g(x):
            return x
    """)


def test_a_shadowed_module_alias_is_not_guessed_at():
    # `cuda` is never imported here: it is a plain variable and stays
    code = "cuda = get_backend()\ncuda.synchronize()\n"
    assert port(code) == code


def test_python2_is_reported_with_a_clear_reason():
    with pytest.raises(MigrationError, match="Python 2"):
        migrate_source('import torch\nprint "on cuda"\n', RULES)


def test_syntax_error_names_the_line():
    with pytest.raises(MigrationError, match="syntax error at line 2"):
        migrate_source("import torch\nx = torch.cuda.is_available(\n", RULES)


def test_changes_carry_rule_location_and_line_texts():
    migration = migrate_source("import torch\nx = torch.zeros(1).cuda()\n", RULES)
    by_rule = {c.rule_id: c for c in migration.changes}
    change = by_rule["tensor-cuda"]
    assert (change.span.line, change.span.column) == (2, 20)
    assert (change.old_text, change.new_text) == ("x = torch.zeros(1).cuda()", "x = torch.zeros(1).npu()")
    inserted = by_rule["torch-npu-import"]
    assert (inserted.old_text, inserted.new_text) == ("", "import torch_npu")


def test_manual_items_keep_the_original_line():
    migration = migrate_source("import torch\nmodel = torch.nn.DataParallel(model)\n", RULES)
    assert migration.new_text is None
    (finding,) = migration.findings
    assert (finding.rule_id, finding.span.line, finding.line_text) == (
        "data-parallel", 2, "model = torch.nn.DataParallel(model)")


def test_triage_skips_files_without_any_trigger():
    assert not RULES.may_need_work("import numpy as np\nx = np.zeros(3)\n")
    assert RULES.may_need_work("x = t.cuda()\n")


def test_torch_from_a_star_import_is_the_torch_module():
    # DeepSpeed's zero/stage3.py never imports torch itself: it comes with `import *`
    assert port("""
        from deepspeed.runtime.zero.partition_parameters import *
        if torch.cuda.is_available():
            torch.cuda.synchronize()
    """) == dedent("""
        import torch_npu
        from deepspeed.runtime.zero.partition_parameters import *
        if torch.npu.is_available():
            torch.npu.synchronize()
    """)


def test_without_a_star_import_an_unimported_torch_is_left_alone():
    assert port("""
        def f():
            return torch.cuda.is_available()
    """) == dedent("""
        def f():
            return torch.cuda.is_available()
    """)


def test_a_rewrite_that_a_second_run_would_change_again_is_refused():
    from portkit.ruleset import RuleSet, parse_rule_file

    (looping,) = parse_rule_file(
        '[[rule]]\nid = "loop"\nkind = "rename-api"\nsummary = "s"\nwhy = "w"\nsafety = "safe"\n'
        'needs_import = false\nrenames = { "torch.cuda.foo" = "torch.cuda.foo.bar" }\n', "loop.toml")
    with pytest.raises(MigrationError, match="rewrite is not stable: rule loop would change it again"):
        migrate_source("import torch\ntorch.cuda.foo()\n", CompiledRules(RuleSet((looping,))))


# --- the rule kinds' units (portkit.python.kinds) -------------------------------------------


def test_every_rule_kind_is_applied_by_a_unit_or_named_as_applied_elsewhere():
    """Each kind portkit.ruleset defines is a unit of the Python rewriter (kinds.KINDS) or
    named in kinds.APPLIED_ELSEWHERE: a new kind with neither fails here."""
    from typing import get_args

    from portkit import ruleset
    from portkit.python.kinds import APPLIED_ELSEWHERE, KINDS

    applied = [spec.__name__ for unit in KINDS for spec in unit.specs]
    assert len(applied) == len(set(applied)), "two units apply the same kind"
    assert not set(applied) & APPLIED_ELSEWHERE
    defined = {spec.__name__ for spec in get_args(ruleset.KindSpec)}
    assert set(applied) <= defined
    assert defined - set(applied) <= APPLIED_ELSEWHERE, "a kind with no unit, not named as applied elsewhere"
    used = {type(rule.spec).__name__ for rule in ruleset.load_rules(target=None).rules}
    assert used <= defined


def test_a_unit_handler_must_name_a_libcst_node_type():
    import libcst as cst

    from portkit.python.context import Kind
    from portkit.python.transform import hooks

    class Calls(Kind):
        def leave_Call(self, original_node, updated_node):
            return updated_node

    class Typo(Kind):
        def leave_Cal(self, original_node, updated_node):
            return updated_node

    assert list(hooks([Calls]).leave) == [cst.Call]
    with pytest.raises(TypeError, match="Typo.leave_Cal: libcst has no node type Cal"):
        hooks([Typo])
