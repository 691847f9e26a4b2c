"""Dependency declarations: what is reported (rule, line, guidance), that the report changes no
byte, and what the opt-in fix (`fix_dependencies`) writes, byte for byte."""

from __future__ import annotations

import tomllib
from pathlib import Path, PurePath

import pytest

from portkit.filekinds.dependencies import TORCH_NPU_RELEASES, fix_dependencies, migrate_dependencies, setup_py_findings
from portkit.pipeline.discovery import DiscoveredFile
from portkit.model import MigrationError
from portkit.pipeline.process import process_file
from portkit.filekinds import kind_for
from portkit.model import FileStatus, Safety
from portkit.ruleset import RuleSet, load_rules, parse_rule_file
from portkit.python.transform import CompiledRules

DATA = Path(__file__).resolve().parent / "data" / "deps"
RULESET = load_rules()
RULES = CompiledRules(RULESET)
FILES = ["requirements.txt", "pyproject.toml", "setup.cfg", "environment.yml"]


def read(name: str) -> str:
    return (DATA / name).read_text(encoding="utf-8")


def report(text: str, name: str = "requirements.txt", rules: CompiledRules = RULES):
    migration = migrate_dependencies(text, name, rules, True)
    assert migration.new_text is None and migration.changes == ()
    return migration.findings


def summary(findings) -> list[tuple[str, int, int]]:
    return [(f.rule_id, f.span.line, f.span.column) for f in findings]


# --- the fixtures, reported -------------------------------------------------------------------


def test_requirements_txt():
    findings = report(read("requirements.txt"))
    assert summary(findings) == [
        ("torch-pin", 2, 1), ("torch-pin", 4, 1), ("torch-pin", 5, 1),
        ("cuda-dependency", 6, 1), ("cuda-dependency", 7, 1), ("cuda-dependency", 8, 1),
    ]
    index, torch, vision, flash, triton, cudnn = findings
    assert index.message.startswith("https://download.pytorch.org/whl/cu121 serves CUDA builds of PyTorch: remove it")
    assert (index.span.end_column, index.line_text) == (57, "--extra-index-url https://download.pytorch.org/whl/cu121")
    assert torch.message.startswith("torch==2.1.2+cu121: +cu121 is a CUDA build: drop it")
    # there is no torch-npu 2.1.2: the pin to add is not guessed
    assert "torch-npu has no release for torch 2.1.2: move torch to 2.1.0 or 2.2.0" in torch.message
    assert vision.message == "torchvision==0.16.2+cu121: +cu121 is a CUDA build: drop it"
    assert flash.message.startswith("flash-attn==2.5.6: CUDA-only kernels")
    assert "torch_npu.npu_fusion_attention" in flash.message
    assert flash.line_text == "flash-attn==2.5.6  # built against torch 2.1 / CUDA 12.1"
    assert (flash.span.end_column, flash.safety) == (18, Safety.MANUAL)
    assert triton.message.startswith("triton: replace it by triton-ascend")
    assert cudnn.message.startswith("nvidia-cudnn-cu12==8.9.2.26: an NVIDIA CUDA library wheel")


def test_pyproject_toml():
    findings = report(read("pyproject.toml"), "pyproject.toml")
    assert summary(findings) == [
        ("torch-pin", 10, 6), ("cuda-dependency", 12, 6), ("cuda-dependency", 13, 6),
        ("cuda-dependency", 17, 13), ("cuda-dependency", 17, 33), ("cuda-dependency", 19, 6),
        ("cuda-dependency", 20, 6), ("torch-pin", 24, 21),
    ]
    torch, bnb, nvml, xformers, triton, deepspeed, cupy, index = findings
    assert "+cu118 is a CUDA build" in torch.message and "add torch-npu==2.1.0 next to it" in torch.message
    assert bnb.message.startswith("bitsandbytes>=0.41: only NF4")
    assert nvml.message.startswith("pynvml: NVML talks to the NVIDIA driver")
    assert xformers.message.startswith("xformers==0.0.23: CUDA-only kernels")
    assert triton.message.startswith("triton==2.1.0: replace it by triton-ascend")  # the marker is not repeated
    assert "npu accelerator" in deepspeed.message
    assert cupy.message.startswith("cupy-cuda12x: cupy arrays live in CUDA memory")
    assert index.message.startswith("https://download.pytorch.org/whl/cu118 serves CUDA builds")  # [tool.uv]


def test_setup_cfg():
    findings = report(read("setup.cfg"), "setup.cfg")
    assert summary(findings) == [("torch-pin", 9, 5), ("cuda-dependency", 11, 5), ("cuda-dependency", 16, 5),
                                 ("cuda-dependency", 17, 5)]
    assert findings[0].message.startswith("torch==2.6.0: add torch-npu==2.6.0 next to it")
    assert findings[1].message.startswith("apex: NVIDIA apex builds CUDA extensions")
    assert "FORCE_NPU=1" in findings[2].message
    assert findings[3].message.startswith("cupy-cuda11x:")


def test_environment_yml():
    findings = report(read("environment.yml"), "environment.yml")
    assert summary(findings) == [("torch-pin", 8, 5), ("cuda-dependency", 9, 5), ("cuda-dependency", 10, 5),
                                 ("torch-pin", 13, 7), ("cuda-dependency", 15, 7), ("torch-pin", 16, 8)]
    conda_torch, pytorch_cuda, toolkit, index, xformers, pip_torch = findings
    assert conda_torch.message.startswith("conda pytorch=2.4.0=py3.10_cuda12.1_cudnn9.1.0_0 (a CUDA build): "
                                          "torch-npu is published on PyPI only")
    assert "torch==2.4.0 and torch-npu==2.4.0 from the pip: section" in conda_torch.message
    assert pytorch_cuda.message.startswith("pytorch-cuda=12.1: selects CUDA builds")
    assert toolkit.message.startswith("cudatoolkit=11.8: a conda CUDA toolkit")  # the comment is not part of it
    assert index.line_text == "    - --extra-index-url https://download.pytorch.org/whl/cu121"
    assert xformers.message.startswith("xformers==0.0.27:")
    assert pip_torch.message.startswith("torch==2.4.0: add torch-npu==2.4.0")


def test_setup_py():
    findings = setup_py_findings(read("setup.py"), RULES)
    assert summary(findings) == [("torch-pin", 5, 5), ("cuda-dependency", 7, 5), ("cuda-dependency", 14, 38),
                                 ("cuda-dependency", 16, 20)]
    torch, flash, nvml, triton = findings
    assert torch.message.startswith("torch>=2.1: add torch-npu pinned to the exact torch version you install")
    assert torch.line_text == '    "torch>=2.1",'  # found through REQUIREMENTS = [...]
    assert flash.message.startswith("flash-attn>=2.3: CUDA-only kernels")
    assert nvml.message.startswith("nvidia-ml-py: NVML talks")  # its own guidance, not the nvidia-* one
    assert triton.message.startswith("triton>=2.1: replace it by triton-ascend")  # extras_require
    assert setup_py_findings("def broken(:\n", RULES) == []  # the Python kind reports the syntax error
    assert fix_dependencies(read("setup.py"), "setup.py", RULES).new_text is None  # never rewritten


@pytest.mark.parametrize("name", FILES)
def test_reporting_changes_no_byte(name):
    migration = migrate_dependencies(read(name), name, RULES, True)
    assert migration.new_text is None and migration.changes == () and migration.findings


@pytest.mark.parametrize("name", FILES)
def test_the_file_kind_runs_them(name, tmp_path):
    assert kind_for(PurePath(name)).name == "dependencies"
    path = tmp_path / name
    path.write_bytes((DATA / name).read_bytes())
    result = process_file(DiscoveredFile(path, tmp_path), RULES, name)
    assert result.status is FileStatus.UNCHANGED and result.new_text is None
    assert result.findings == report(read(name), name)
    assert path.read_bytes() == (DATA / name).read_bytes()


# --- the opt-in fix ---------------------------------------------------------------------------


@pytest.mark.parametrize("name", FILES)
def test_fix_matches_the_golden_file(name):
    migration = fix_dependencies(read(name), name, RULES)
    assert migration.new_text == read(f"fixed/{name}")
    again = fix_dependencies(migration.new_text, name, RULES)
    assert again.new_text is None and again.changes == ()  # a second run has nothing left to fix
    if name.endswith(".toml"):
        tomllib.loads(migration.new_text)


def test_fix_changes_and_what_stays_manual():
    migration = fix_dependencies(read("requirements.txt"), "requirements.txt", RULES)
    assert [(c.rule_id, c.span.line, c.message, c.old_text, c.new_text, c.safety) for c in migration.changes] == [
        ("torch-pin", 2, "removed the CUDA package index https://download.pytorch.org/whl/cu121",
         "--extra-index-url https://download.pytorch.org/whl/cu121", "", Safety.REVIEW),
        ("torch-pin", 4, "torch==2.1.2+cu121: dropped +cu121", "torch==2.1.2+cu121", "torch==2.1.2", Safety.REVIEW),
        ("torch-pin", 5, "torchvision==0.16.2+cu121: dropped +cu121", "torchvision==0.16.2+cu121",
         "torchvision==0.16.2", Safety.REVIEW),
        ("cuda-dependency", 7, "triton → triton-ascend", "triton", "triton-ascend", Safety.REVIEW),
    ]
    assert summary(migration.findings) == [("torch-pin", 4, 1), ("cuda-dependency", 6, 1), ("cuda-dependency", 8, 1)]
    # what the fix did is no longer reported; the torch-npu pin is still up to a person
    assert migration.findings[0].message == ("torch==2.1.2+cu121: torch-npu has no release for torch 2.1.2: move torch "
                                             "to 2.1.0 or 2.2.0 and add torch-npu==<that version>")


def test_fix_adds_the_pin_in_each_style():
    migration = fix_dependencies(read("pyproject.toml"), "pyproject.toml", RULES)
    torch = migration.changes[0]
    assert (torch.message, torch.old_text, torch.new_text) == (
        "torch==2.1.0+cu118: dropped +cu118, added torch-npu==2.1.0",
        '    "torch==2.1.0+cu118",', '    "torch==2.1.0",\n    "torch-npu==2.1.0",')
    text = '[project]\ndependencies = ["torch==2.6.0", "numpy"]\n[project.optional-dependencies]\n' \
           'a = [\n  "torch==2.4.0"  # last, no comma\n]\n'
    assert fix_dependencies(text, "pyproject.toml", RULES).new_text == (
        '[project]\ndependencies = ["torch==2.6.0", "torch-npu==2.6.0", "numpy"]\n[project.optional-dependencies]\n'
        'a = [\n  "torch==2.4.0",  # last, no comma\n  "torch-npu==2.4.0"\n]\n')


def test_fix_copies_markers_and_keeps_line_endings():
    text = 'numpy\r\ntorch==2.6.0 ; platform_machine == "aarch64"  # Ascend hosts\r\nscipy'
    fixed = fix_dependencies(text, "requirements.txt", RULES).new_text
    assert fixed == ('numpy\r\ntorch==2.6.0 ; platform_machine == "aarch64"  # Ascend hosts\r\n'
                     'torch-npu==2.6.0 ; platform_machine == "aarch64"\r\nscipy')
    assert fix_dependencies("torch==2.7.1", "requirements.txt", RULES).new_text == "torch==2.7.1\ntorch-npu==2.7.1"
    assert fix_dependencies("a\n-i https://download.pytorch.org/whl/cu118", "requirements.txt", RULES).new_text == "a"


def test_poetry():
    text = """[tool.poetry.dependencies]
python = "^3.10"
torch = { version = "2.1.0+cu121", source = "pytorch-cu121" }
triton = "2.1.0"

[tool.poetry.dependencies.xformers]
version = "0.0.23"

[[tool.poetry.source]]
name = "pytorch-cu121"
url = "https://download.pytorch.org/whl/cu121"
"""
    findings = report(text, "pyproject.toml")
    assert summary(findings) == [("torch-pin", 3, 1), ("cuda-dependency", 4, 1), ("cuda-dependency", 6, 27),
                                 ("torch-pin", 11, 8)]
    assert findings[0].message.startswith("torch 2.1.0+cu121: +cu121 is a CUDA build")
    fixed = fix_dependencies(text, "pyproject.toml", RULES)
    assert fixed.new_text == text.replace('"2.1.0+cu121", source = "pytorch-cu121" }',
                                          '"2.1.0", source = "pytorch-cu121" }\ntorch-npu = "2.1.0"'
                                          ).replace('triton = "2.1.0"', 'triton-ascend = "*"')
    assert summary(fixed.findings) == [("cuda-dependency", 6, 27), ("torch-pin", 11, 8)]  # sources stay manual


# --- the torch-npu pin --------------------------------------------------------------------------


@pytest.mark.parametrize(("requirements", "expected"), [
    ("torch==2.6.0\n", "torch==2.6.0: add torch-npu==2.6.0 next to it"),
    ("torch===2.6.0\n", "torch===2.6.0: add torch-npu==2.6.0 next to it"),
    ("torch==2.1.2\n", "torch==2.1.2: torch-npu has no release for torch 2.1.2: move torch to 2.1.0 or 2.2.0"),
    ("torch==1.13.1\n", "torch==1.13.1: torch-npu has no release for torch 1.13.1: move torch to 2.1.0"),
    ("torch==99.0.0\n", "torch==99.0.0: add torch-npu==99.0.0 next to it, once torch-npu 99.0.0 is released"),
    ("torch>=2.1,<2.5\n", "torch>=2.1,<2.5: add torch-npu pinned to the exact torch version you install"),
    ("torch==2.6.*\n", "torch==2.6.*: add torch-npu pinned to the exact torch version you install"),
    ("torch==2.6.0\ntorch_npu==2.5.1\n", "torch==2.6.0: torch-npu==2.5.1 does not match torch==2.6.0"),
])
def test_torch_npu_pin(requirements, expected):
    findings = report(requirements)
    assert [f.rule_id for f in findings] == ["torch-pin"]
    assert findings[0].message.startswith(expected)


@pytest.mark.parametrize("requirements", [
    "torch==2.6.0\ntorch-npu==2.6.0\n", "torch==2.6.0\ntorch-npu==2.6.0.post3\n", "torch\ntorch-npu\n",
    "Torch_NPU==2.1.0\ntorch==2.1.0  # ok\n", "numpy\n",
    "# torch==2.1.0+cu121\n", "-r requirements-base.txt\n", "--index-url https://pypi.org/simple\n",
])
def test_nothing_to_report(requirements):
    assert report(requirements) == ()


def test_only_released_or_known_pins_are_written():
    assert TORCH_NPU_RELEASES == tuple(sorted(TORCH_NPU_RELEASES, key=lambda v: tuple(map(int, v.split(".")))))
    for text in ("torch==99.0.0\n", "torch==2.1.2\n", "torch>=2\n", "torch==2.6.0 \\\n  --hash=sha256:0\n"):
        migration = fix_dependencies(text, "requirements.txt", RULES)
        assert migration.new_text is None and [f.rule_id for f in migration.findings] == ["torch-pin"]


# --- requirement syntax ---------------------------------------------------------------------------


def test_requirements_file_syntax():
    text = (
        "-r base.txt\n"
        "--find-links=https://download.pytorch.org/whl/torch_stable.html\n"
        "-e git+https://github.com/Dao-AILab/flash-attention.git@v2.5.6#egg=flash_attn\n"
        "https://github.com/Dao-AILab/flash-attention/releases/download/v2.5.6/"
        "flash_attn-2.5.6+cu122torch2.1cxx11abiFALSE-cp310-cp310-linux_x86_64.whl\n"
        "torchaudio @ https://download.pytorch.org/whl/cu121/torchaudio-2.1.0%2Bcu121-cp310-cp310-linux_x86_64.whl\n"
        "Flash_Attn[x] >= 2 ; sys_platform == 'linux' --config-settings foo=bar\n"
        "xformers==0.0.23 \\\n"
        "    --hash=sha256:0123\n"
        "not a requirement !!\n"
        "https://download.openmmlab.com/mmcv/dist/cu121/torch2.1/index.html\n"
        "-f https://download.openmmlab.com/mmcv/dist/cu121/torch2.1/index.html\n"
    )
    findings = report(text)
    assert summary(findings) == [("torch-pin", 2, 1), ("cuda-dependency", 3, 4), ("cuda-dependency", 4, 1),
                                 ("torch-pin", 5, 1), ("cuda-dependency", 6, 1), ("cuda-dependency", 7, 1),
                                 ("torch-pin", 11, 1)]
    assert findings[3].message.startswith("torchaudio @ https://download.pytorch.org/whl/cu121/")
    assert "a CUDA wheel URL" in findings[3].message
    assert findings[4].message.startswith("Flash_Attn[x] >= 2: CUDA-only kernels")
    assert findings[5].line_text == "xformers==0.0.23 \\"
    assert findings[6].message.startswith("https://download.openmmlab.com/mmcv/dist/cu121/torch2.1/index.html "
                                          "serves CUDA builds: remove it")


def test_invalid_pyproject_is_a_migration_error():
    with pytest.raises(MigrationError, match="not valid TOML"):
        migrate_dependencies("[project\n", "pyproject.toml", RULES, True)


def test_toml_strings_of_every_kind_are_located():
    text = ('[project]\nname = "x"\nversion = \'1\'\ndescription = """\nmulti "line" \\\n  text"""\n'
            "keywords = ['''a''', \"b\"]\ndate = 1979-05-27T07:32:00Z\n"
            'dependencies = [\n  "numpy",  # comment, with "quotes"\n  "tor\\u0063h==2.3.1+cu118",\n]\n'
            '"quoted.key" = { a = [1, 2.5, true], b = { c = "triton" } }\n')
    findings = report(text, "pyproject.toml")
    assert summary(findings) == [("torch-pin", 11, 3)]  # escaped: reported at the string, never edited
    assert fix_dependencies(text, "pyproject.toml", RULES).new_text is None


# --- rules ------------------------------------------------------------------------------------------


def test_selected_rules_only():
    text = read("requirements.txt")
    only_packages = CompiledRules(RULESET.select(["cuda-dependency"]))
    assert {f.rule_id for f in report(text, rules=only_packages)} == {"cuda-dependency"}
    none = CompiledRules(RULESET.select(["tensor-cuda"]))
    assert migrate_dependencies(text, "requirements.txt", none, True).findings == ()
    assert fix_dependencies(text, "requirements.txt", none).new_text is None


def test_a_user_rule_with_patterns_and_a_replacement():
    rules = parse_rule_file('''
[[rule]]
id = "in-house"
kind = "dependency"
summary = "s"
why = "w"
safety = "manual"
[rule.packages]
"Acme.CUDA-*" = "use acme-npu"
[rule.replacements]
"acme_cuda_ops" = "acme-npu-ops"
''', "mine.toml")
    compiled = CompiledRules(RuleSet(tuple(rules)))
    text = "acme-cuda-ops>=1.2 ; python_version > '3.8'\nacme-cuda-kernels\nacme\n"
    assert [(f.span.line, f.message) for f in report(text, rules=compiled)] == [
        (1, "acme-cuda-ops>=1.2: use acme-npu"), (2, "acme-cuda-kernels: use acme-npu")]
    fixed = fix_dependencies(text, "requirements.txt", compiled)
    assert fixed.new_text == "acme-npu-ops ; python_version > '3.8'\nacme-cuda-kernels\nacme\n"


def test_setup_cfg_forms():
    text = ("[options]\ninstall_requires = torch==2.6.0; flash-attn\n# install_requires = xformers\n"
            "setup_requires =\n    # a comment line\n    triton  # inline comments are not setuptools syntax\n"
            "\n[options.extras_require]\ncuda = cupy-cuda12x\n[other]\ninstall_requires = xformers\n")
    findings = report(text, "setup.cfg")
    assert summary(findings) == [("torch-pin", 2, 20), ("cuda-dependency", 2, 34), ("cuda-dependency", 6, 5),
                                 ("cuda-dependency", 9, 8)]
    # `a; b` on one line has no room for a torch-npu line of its own: reported, not fixed
    fixed = fix_dependencies(text, "setup.cfg", RULES)
    assert fixed.new_text == text.replace("    triton  #", "    triton-ascend  #")
    assert summary(fixed.findings) == [("torch-pin", 2, 20), ("cuda-dependency", 2, 34), ("cuda-dependency", 9, 8)]


def test_environment_yml_forms():
    text = ("name: x\ndependencies:\n- pytorch::pytorch>=2.1\n- nvidia::cuda-toolkit  # from the nvidia channel\n"
            "- pip:\n  - 'torch==2.6.0 ; python_version >= \"3.9\"'\n  - -r requirements.txt\n"
            "variables:\n  CUDA_HOME: /usr/local/cuda\n")
    findings = report(text, "environment.yaml")
    assert summary(findings) == [("torch-pin", 3, 3), ("cuda-dependency", 4, 3), ("torch-pin", 6, 6)]
    assert findings[0].message.startswith("conda pytorch::pytorch>=2.1: torch-npu is published on PyPI only: "
                                          "install torch==<the same version>")
    fixed = fix_dependencies(text, "environment.yaml", RULES).new_text
    assert fixed == text.replace("python_version >= \"3.9\"'\n", "python_version >= \"3.9\"'\n"
                                 "  - 'torch-npu==2.6.0 ; python_version >= \"3.9\"'\n")
