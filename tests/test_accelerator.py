"""--target accelerator: device-agnostic rewrites, on code shapes that cut across its rules."""

from __future__ import annotations

import ast
import textwrap
from pathlib import Path

import pytest

from portkit.python.engine import migrate_source
from portkit.ruleset import RenameApi, load_rules
from portkit.python.transform import CompiledRules

RULESET = load_rules(target="accelerator")
RULES = CompiledRules(RULESET)
DEVICE = 'getattr(torch.accelerator.current_accelerator(check_available=True), "type", "cpu")'
EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def dedent(code: str) -> str:
    return textwrap.dedent(code).lstrip("\n")


def port(code: str):
    return migrate_source(dedent(code), RULES)


def ported_text(code: str) -> str:
    migration = port(code)
    assert migration.new_text is not None, "expected a change"
    ast.parse(migration.new_text)  # whatever portkit writes must parse
    return migration.new_text


def test_expressions_are_spelled_through_the_files_own_torch_alias():
    assert ported_text("""
        import torch as th
        th.cuda.synchronize()
        x = th.zeros(2, device="cuda")
    """) == dedent("""
        import torch as th
        th.accelerator.synchronize()
        x = th.zeros(2, device=getattr(th.accelerator.current_accelerator(check_available=True), "type", "cpu"))
    """)


def test_a_file_that_does_not_import_torch_gets_the_import_the_expression_needs():
    text = ported_text("""
        from torch import nn
        model = nn.Linear(2, 2).cuda()
    """)
    assert text == dedent(f"""
        from torch import nn
        import torch
        model = nn.Linear(2, 2).to({DEVICE})
    """)


def test_f_strings_get_the_other_kind_of_quote_inside_their_braces():
    text = ported_text("""
        import torch
        a = torch.device(f'cuda:{rank}')
        b = torch.device(f"cuda:{rank}")
        c = torch.device('cuda:1')
    """)
    assert "f'{getattr(torch.accelerator.current_accelerator(check_available=True), \"type\", \"cpu\")}:{rank}'" in text
    assert "f\"{getattr(torch.accelerator.current_accelerator(check_available=True), 'type', 'cpu')}:{rank}\"" in text
    assert "f'{getattr(torch.accelerator.current_accelerator(check_available=True), \"type\", \"cpu\")}:1'" in text


@pytest.mark.parametrize("shape", ['"cuda:%d" % rank', '"cuda:{}".format(rank)', '"cuda:" + str(rank)'])
def test_device_templates_that_cannot_hold_an_expression_are_manual_items(shape):
    migration = port(f"""
        import torch
        d = torch.device({shape})
    """)
    assert migration.new_text is None
    assert [f.rule_id for f in migration.findings] == ["accelerator-device-string"]


def test_comparisons_keep_their_meaning_and_never_match_on_a_cpu_only_machine():
    text = ported_text("""
        import torch
        if x.device.type != "cuda":
            pass
        if x.device.type in ("cuda", "mps"):
            pass
    """)
    none = 'getattr(torch.accelerator.current_accelerator(), "type", "cuda")'
    assert f'x.device.type != {none}' in text
    assert f'x.device.type in ({none}, "mps")' in text
    namespace = {"x": type("T", (), {"device": __import__("torch").device("cpu")})()}
    assert eval(f'x.device.type == {none}', {"torch": __import__("torch"), **namespace}) is False


def test_accelerator_functions_take_the_device_by_position():
    assert ported_text("""
        import torch
        torch.cuda.synchronize(device=dev)
        torch.cuda.synchronize(0)
    """) == dedent("""
        import torch
        torch.accelerator.synchronize(dev)
        torch.accelerator.synchronize(0)
    """)


def test_no_torch_npu_import_and_no_npu_names_are_ever_written():
    # called: a guarded name (docs/accelerator.md) that is not called stays, and is reported
    code = "\n".join(["import torch", *[f"{name}()" for rule in RULESET.rules if isinstance(rule.spec, RenameApi)
                                        for name in rule.spec.renames]]) + "\n"
    text = migrate_source(code, RULES).new_text
    assert text is not None and "npu" not in text
    assert "torch.cuda" not in text


def test_every_torch_cuda_name_the_npu_target_converts_has_one_accelerator_answer():
    """The NPU target's cuda-api list is the universe of torch.cuda names torch_npu has; on
    the accelerator target each is converted by exactly one rule or reported as legacy."""
    npu_names = set(load_rules().get("cuda-api").spec.renames)
    answers: dict[str, list[str]] = {}
    for rule in RULESET.rules:
        spec = rule.spec
        names = spec.renames if isinstance(spec, RenameApi) else getattr(spec, "names", ())
        for name in names:
            answers.setdefault(name, []).append(rule.id)
    missing = sorted(n for n in npu_names if n not in answers)
    assert not missing, f"no accelerator rule handles {missing}"
    doubled = {n: ids for n, ids in answers.items() if n in npu_names and len(ids) > 1
               and not set(ids) <= {"device-module", "device-capability"}}
    assert not doubled


def test_accelerator_targets_exist_in_this_torch():
    import torch

    for rule in RULESET.rules:
        if isinstance(rule.spec, RenameApi):
            for new in rule.spec.renames.values():
                if new.startswith("torch.get_device_module()."):
                    continue
                owner, _, attribute = new.rpartition(".")
                assert hasattr(eval(owner, {"torch": torch}), attribute), (rule.id, new)


def test_cli_target_accelerator_migrates_and_check_gates(cli, tmp_path):
    project = tmp_path / "proj"
    project.mkdir()
    source = (EXAMPLES / "mnist" / "original" / "train.py").read_text(encoding="utf-8")
    (project / "train.py").write_text(source, encoding="utf-8")
    assert cli("check", "--no-config", "--target", "accelerator", "--select", "fixable", project).exit_code == 1
    result = cli("migrate", "--no-config", "--allow-dirty", "--target", "accelerator", project)
    assert result.exit_code == 0, result.output
    assert (project / "train.py").read_text(encoding="utf-8") == (
        EXAMPLES / "mnist" / "accelerator" / "train.py").read_text(encoding="utf-8")
    assert cli("check", "--no-config", "--target", "accelerator", "--select", "fixable", project).exit_code == 0


def test_rules_listing_shows_each_rules_targets(cli):
    lines = cli("rules").output.splitlines()
    by_id = {line.split()[0]: line.split()[3] for line in lines}
    assert by_id["accelerator-api"] == "accelerator"
    assert by_id["cuda-api"] == "npu"
    assert by_id["triton"] == "accelerator,npu"


def test_torch_from_a_star_import_is_not_imported_again_and_the_rewrite_is_stable():
    text = ported_text("""
        from deepspeed.runtime.zero.partition_parameters import *
        def f(x):
            if torch.cuda.device_count():  # an is_available() branch is left (cuda-guard-scope)
                torch.cuda.synchronize()
            return x.cuda()
    """)
    assert "import torch\n" not in text and "torch.cuda" not in text
    assert migrate_source(text, RULES).new_text is None


def test_notebooks_and_writefile_cells_take_the_accelerator_target_too(cli, tmp_path):
    import json
    import shutil

    data = Path(__file__).resolve().parent / "data" / "notebooks" / "original"
    project = tmp_path / "nb"
    shutil.copytree(data, project)
    result = cli("migrate", "--no-config", "--allow-dirty", "--target", "accelerator", project)
    assert result.exit_code == 0, result.output
    tutorial = json.loads((project / "cnn_tutorial.ipynb").read_text(encoding="utf-8"))
    code = "".join("".join(cell["source"]) for cell in tutorial["cells"] if cell["cell_type"] == "code")
    assert "torch.accelerator.synchronize()" in code and "torch.cuda" not in code and "torch_npu" not in code
    colab = (project / "ddp_colab.ipynb").read_text(encoding="utf-8")
    assert "dist.init_process_group(None)" in colab and "torch.accelerator.set_device_index(rank)" in colab
    again = cli("migrate", "--no-config", "--allow-dirty", "--target", "accelerator", "--dry-run", project)
    assert "0 would change" in again.output
