"""Jupyter notebooks: code cells ported as one Python program, magics and JSON left as they were.

tests/data/notebooks/original holds hand-written nbformat 4 notebooks in two JSON styles
(nbformat's own: indent 1, sorted keys, non-ASCII as is, list sources, final newline; and a
Colab-like one: indent 2, ASCII escapes, string sources, no final newline); ported/ their
reviewed ports. A notebook missing there must come back unchanged, byte for byte.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from conftest import assert_matches_golden, invoke_cli, write
from portkit.model import MigrationError
from portkit.filekinds.notebooks import migrate_notebook
from portkit.ruleset import load_rules
from portkit.python.transform import CompiledRules

DATA = Path(__file__).resolve().parent / "data" / "notebooks"
ORIGINALS = sorted((DATA / "original").glob("*.ipynb"))
RULESET = load_rules()
RULES = CompiledRules(RULESET)


def migrate(text: str, render: bool = True, rules: CompiledRules = RULES):
    return migrate_notebook(text, "notebook.ipynb", rules, render)


def read(path: Path) -> str:
    return path.read_bytes().decode("utf-8")


def notebook(*sources: str | list[str], cell_type: str = "code", **metadata: object) -> str:
    """A notebook in nbformat's own style, one code cell per source."""
    cells = [{"cell_type": cell_type, "execution_count": None, "id": f"c{i}", "metadata": {}, "outputs": [],
              "source": source if isinstance(source, list) else source.splitlines(keepends=True)}
             for i, source in enumerate(sources)]
    document = {"cells": cells, "metadata": metadata, "nbformat": 4, "nbformat_minor": 5}
    return json.dumps(document, indent=1, sort_keys=True, ensure_ascii=False) + "\n"


def sources(text: str) -> list[str]:
    return ["".join(c["source"]) if isinstance(c["source"], list) else c["source"] for c in json.loads(text)["cells"]]


def ported_sources(*cells: str) -> list[str]:
    result = migrate(notebook(*cells))
    assert result.new_text is not None
    return sources(result.new_text)


# --- the fixtures ----------------------------------------------------------------------------------


@pytest.mark.parametrize("original", ORIGINALS, ids=lambda p: p.name)
def test_fixture_ports_to_its_golden_file(original):
    assert_matches_golden(migrate(read(original)).new_text, original)


@pytest.mark.parametrize("original", ORIGINALS, ids=lambda p: p.name)
def test_second_run_changes_nothing(original):
    golden = DATA / "ported" / original.name
    again = migrate(read(golden if golden.exists() else original))
    assert again.new_text is None and again.changes == ()


@pytest.mark.parametrize("original", ORIGINALS, ids=lambda p: p.name)
def test_only_code_cell_sources_change(original):
    """Outputs (tracebacks, images), metadata, markdown, key order: the same JSON values."""
    golden = DATA / "ported" / original.name
    if not golden.exists():
        return
    before, after = json.loads(read(original)), json.loads(read(golden))
    assert list(before) == list(after) and before["metadata"] == after["metadata"]
    for old, new in zip(before["cells"], after["cells"], strict=True):
        assert list(old) == list(new)
        assert {k: v for k, v in old.items() if k != "source"} == {k: v for k, v in new.items() if k != "source"}
        assert type(old["source"]) is type(new["source"])  # a list stays a list, a string a string
        if old["cell_type"] != "code":
            assert old["source"] == new["source"]


@pytest.mark.parametrize("original", ORIGINALS, ids=lambda p: p.name)
def test_check_mode_reports_the_same_items(original):
    rendered, checked = migrate(read(original)), migrate(read(original), render=False)
    assert checked.new_text is None
    assert [(c.rule_id, c.message, c.span) for c in checked.changes] == \
           [(c.rule_id, c.message, c.span) for c in rendered.changes]
    assert checked.findings == rendered.findings


def test_tutorial_notebook():
    text = read(DATA / "original" / "cnn_tutorial.ipynb")
    result = migrate(text)
    assert [(c.rule_id, c.message) for c in result.changes] == [
        ("torch-npu-import", "cell 3, line 3: import torch_npu added"),  # once, in the first torch cell
        ("device-string", 'cell 3, line 8: "cuda" → "npu"'),
        ("cuda-api", "cell 3, line 8: torch.cuda.is_available → torch.npu.is_available"),
        ("env-var", "cell 4, line 1: CUDA_VISIBLE_DEVICES → ASCEND_RT_VISIBLE_DEVICES"),  # %env
        ("tensor-cuda", "cell 4, line 12: .cuda() → .npu()"),
        ("cuda-api", "cell 5, line 9: torch.cuda.synchronize → torch.npu.synchronize"),  # via cell 3's import
        ("cuda-api", "cell 5, line 10: torch.cuda.memory_allocated → torch.npu.memory_allocated"),
        ("env-var", "cell 7, line 3: NCCL_DEBUG → HCCL_DEBUG"),  # a %%bash cell
        ("env-var", "cell 7, line 4: CUDA_VISIBLE_DEVICES → ASCEND_RT_VISIBLE_DEVICES"),
    ]
    assert [(f.rule_id, f.message.split(":")[0]) for f in result.findings] == [
        ("nvidia-smi", "cell 2, line 1"),  # !nvidia-smi
        ("env-var", "cell 7, line 4"),  # CUDA_VISIBLE_DEVICES=1,0 is not ascending
    ]
    lines = text.splitlines()
    for item in (*result.changes, *result.findings):  # each span points at its line in the .ipynb
        cell_line = item.old_text if hasattr(item, "old_text") else item.line_text
        if cell_line:
            assert json.dumps(cell_line, ensure_ascii=False)[1:-1] in lines[item.span.line - 1]
    change = result.changes[1]
    assert lines[change.span.line - 1][change.span.column - 1:].startswith('\\"cuda\\"')
    assert change.old_text == 'device = "cuda" if torch.cuda.is_available() else "cpu"'


def test_colab_style_notebook_keeps_its_escapes_and_string_sources():
    original = read(DATA / "original" / "ddp_colab.ipynb")
    ported = migrate(original).new_text
    assert ported is not None and not ported.endswith("\n")
    assert "\\u4f7f\\u7528 GPU" in ported and ported.isascii()
    assert sources(ported)[0].splitlines()[:3] == ["import os", "import torch as th  # 使用 GPU 训练", "import torch_npu"]


def test_a_notebook_with_nothing_to_port_is_byte_identical():
    result = migrate(read(DATA / "original" / "cpu_only.ipynb"))
    assert result == migrate(notebook("x = 1\n"))
    assert result.new_text is None and result.changes == () and result.findings == ()


# --- cells as one program --------------------------------------------------------------------------


def test_imports_of_earlier_cells_are_known_and_torch_npu_is_imported_once():
    assert ported_sources("import torch as th\n", "x = th.cuda.current_device()\n", "th.cuda.synchronize()") == [
        "import torch as th\nimport torch_npu\n", "x = th.npu.current_device()\n", "th.npu.synchronize()"]


def test_import_goes_into_the_cell_of_the_torch_import_even_when_it_is_its_last_line():
    result = migrate(notebook("import torch", "model.cuda()"))
    assert sources(result.new_text) == ["import torch\nimport torch_npu", "model.npu()"]
    inserted = next(c for c in result.changes if c.rule_id == "torch-npu-import")
    assert inserted.message == "cell 1, line 2: import torch_npu added"


def test_without_a_torch_import_the_import_goes_to_the_top_of_the_first_code_cell():
    result = migrate(notebook("x = 1\n", "y = t.cuda()"))
    assert sources(result.new_text) == ["import torch_npu\nx = 1\n", "y = t.npu()"]
    checked = migrate(notebook("x = 1\n", "y = t.cuda()"), render=False)
    assert [c.message for c in checked.changes] == [c.message for c in result.changes]


def test_a_notebook_that_only_changes_strings_gets_no_torch_npu_import():
    result = migrate(notebook("x = 1\n", "device = 'cuda' if ok else 'cpu'"))
    assert sources(result.new_text) == ["x = 1\n", "device = 'npu' if ok else 'cpu'"]


def test_magic_edits_alone_change_the_notebook():
    assert ported_sources("!NCCL_DEBUG=INFO python a.py\nx = 1") == ["!HCCL_DEBUG=INFO python a.py\nx = 1"]


def test_markdown_and_raw_cells_are_never_touched():
    text = notebook("`model.cuda()` runs on the GPU\n", cell_type="markdown")
    assert migrate(text).new_text is None
    text = notebook("model.cuda()\n", cell_type="raw")
    assert migrate(text).new_text is None


def test_non_python_kernels_are_left_alone():
    text = notebook("x <- cuda()\n", kernelspec={"language": "R", "name": "ir", "display_name": "R"})
    assert migrate(text) == migrate(notebook("x = 1\n"))


# --- magics ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("magic", [
    "%matplotlib inline", "%load_ext autoreload", "%autoreload 2", "%pip install torch", "!pip install -q timm",
    "files = !ls /data", "torch.cuda.is_available?", "??torch.cuda", "%%capture", "!!ls",
])
def test_magic_lines_are_kept_and_the_python_around_them_is_ported(magic):
    cell = f"{magic}\nimport torch\nx = torch.zeros(2).cuda()"
    assert ported_sources(cell) == [f"{magic}\nimport torch\nimport torch_npu\nx = torch.zeros(2).npu()"]


def test_an_indented_shell_line_inside_a_block():
    cell = "import torch\nif torch.cuda.is_available():\n    !nvidia-smi -L\n    x = 1\n"
    result = migrate(notebook(cell))
    assert sources(result.new_text) == [
        "import torch\nimport torch_npu\nif torch.npu.is_available():\n    !nvidia-smi -L\n    x = 1\n"]
    assert [f.rule_id for f in result.findings] == ["nvidia-smi"]


def test_percent_and_bang_inside_python_are_not_magics():
    cell = 'import torch\nx = (4\n     % 3)\ny = (1\n     != 2)\ns = """\n!nvidia-smi\n"""\nz = torch.cuda.is_available()'
    result = migrate(notebook(cell))
    assert result.findings == ()  # the !nvidia-smi in the string is text
    assert sources(result.new_text)[0] == cell.replace("import torch\n", "import torch\nimport torch_npu\n").replace(
        "torch.cuda.", "torch.npu.")


def test_shell_continuation_lines_belong_to_the_magic():
    cell = "!CUDA_VISIBLE_DEVICES=0 torchrun \\\n    --nproc_per_node=1 train.py\nimport os"
    assert ported_sources(cell) == [cell.replace("CUDA_VISIBLE_DEVICES", "ASCEND_RT_VISIBLE_DEVICES")]


def test_time_magics_port_the_statement_they_time():
    assert ported_sources("import torch", "%time torch.cuda.synchronize()", "%timeit -n 3 torch.cuda.synchronize()") == [
        "import torch\nimport torch_npu", "%time torch.npu.synchronize()", "%timeit -n 3 torch.cuda.synchronize()"]


def test_env_magic():
    assert ported_sources("%env CUDA_VISIBLE_DEVICES=1\n%set_env NCCL_DEBUG INFO\n%env NCCL_ALGO") == [
        "%env ASCEND_RT_VISIBLE_DEVICES=1\n%set_env HCCL_DEBUG INFO\n%env HCCL_ALGO"]


def test_cell_magics():
    cells = ["%%time\nimport torch\nx = torch.zeros(1).cuda()",
             "%%bash\nexport CUDA_VISIBLE_DEVICES=0\nnvidia-smi",
             "%%writefile run.sh\nexport NCCL_DEBUG=INFO\n",
             "%%html\n<p>model.cuda()</p>",
             "%%writefile notes.txt\nCUDA_VISIBLE_DEVICES=0\n"]
    result = migrate(notebook(*cells))
    assert sources(result.new_text) == [
        "%%time\nimport torch\nimport torch_npu\nx = torch.zeros(1).npu()",
        "%%bash\nexport ASCEND_RT_VISIBLE_DEVICES=0\nnvidia-smi",
        "%%writefile run.sh\nexport HCCL_DEBUG=INFO\n",
        "%%html\n<p>model.cuda()</p>",
        "%%writefile notes.txt\nCUDA_VISIBLE_DEVICES=0\n"]
    assert [f.message.split(":")[0] for f in result.findings] == ["cell 2, line 3"]


def test_writefile_python_is_its_own_module():
    cells = ["import torch", "%%writefile train.py\nimport torch\ntorch.cuda.set_device(0)\n"]
    assert ported_sources(*cells) == [
        "import torch", "%%writefile train.py\nimport torch\nimport torch_npu\ntorch.npu.set_device(0)\n"]


# --- failures ---------------------------------------------------------------------------------------


def test_a_cell_that_does_not_parse_fails_the_notebook_naming_the_cell():
    text = notebook("import torch\n", "# fine\n", "x = torch.cuda.is_available()\n", "def f(:\n    pass\n")
    with pytest.raises(MigrationError, match=r"^cell 4: syntax error at line 1: "):
        migrate(text)


def test_a_broken_notebook_file():
    with pytest.raises(MigrationError, match="not valid JSON"):
        migrate('{"cells": [ {"source": "torch.cuda"} ')
    with pytest.raises(MigrationError, match="not a Jupyter notebook"):
        migrate('{"source": "torch.cuda"}')
    with pytest.raises(MigrationError, match="nbformat 3"):
        migrate('{"nbformat": 3, "worksheets": [{"cells": [{"input": "torch.cuda"}]}]}')


def test_a_name_used_in_the_code_is_not_mistaken_for_the_placeholder():
    cell = "_pk0_ = 1\n%matplotlib inline\nimport torch\ntorch.cuda.synchronize()"
    assert ported_sources(cell) == [cell.replace("torch.cuda", "torch.npu").replace(
        "import torch\n", "import torch\nimport torch_npu\n")]


def test_migrate_a_folder_with_a_notebook(tmp_path):
    """The kind is registered: `portkit migrate` picks notebooks up from folders."""
    original = DATA / "original" / "cnn_tutorial.ipynb"
    write(tmp_path / "proj" / "tutorial.ipynb", original.read_bytes())
    result = invoke_cli("migrate", "proj", "--allow-dirty", cwd=tmp_path)
    assert result.exit_code == 0, result.output
    assert (tmp_path / "proj" / "tutorial.ipynb").read_bytes() == (DATA / "ported" / original.name).read_bytes()
