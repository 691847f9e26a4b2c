"""Imports of compiled CUDA extension modules (`cuda-extension-import`) and of the
torch.utils.cpp_extension build API (`cuda-extension`): what counts as an extension module
(built in the tree, or named as a CUDA build and not Python in the tree), what does not, one
item per import and no second item at the uses, and the wiring into `check` (its cache key
included) and `migrate`, for both targets."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path, PurePath

import pytest

from portkit.filekinds.extimports import (
    IMPORT_RULE,
    ExtensionModule,
    expand,
    extension_modules,
    imported_candidates,
    tree_modules,
)
from portkit.python.engine import migrate_source
from portkit.python.transform import CompiledRules
from portkit.ruleset import Report, RuleSet, load_rules

RULESET = load_rules()


def dedent(code: str) -> str:
    return textwrap.dedent(code).lstrip("\n")


def items(tree: dict[str, str], name: str, rules: RuleSet = RULESET) -> list[tuple[str, int, str]]:
    """(rule, line, message) of the manual items of `name` when `tree` is the whole tree."""
    sources = [(PurePath(path), dedent(text)) for path, text in tree.items()]
    expanded = expand(rules, sources, [path for path, _ in sources])
    migration = migrate_source(dedent(tree[name]), CompiledRules(expanded))
    return [(f.rule_id, f.span.line, f.message) for f in migration.findings
            if f.rule_id in (IMPORT_RULE, "cuda-extension", "apex", "flash-attn")]


# --- which imported names are candidates -----------------------------------------------------


def test_imported_candidates_are_absolute_modules_with_cuda_build_names():
    text = dedent('''
        import torch, fused_layer_norm_cuda as ln
        import apex.contrib.xentropy_cuda
        from selective_scan_cuda import fwd
        from causal_conv1d_cuda_ext import (
            forward,
        )
        try: import quant_cuda_kernel
        except ImportError: quant_cuda_kernel = None
        from . import deform_conv_cuda          # relative: not resolved
        from .roi_align_cuda import roi_align    # relative: not resolved
        import torch.cuda
        from numba import cuda
        from cupy import cuda as cp_cuda
        from utils import move_to_cuda          # may be a function: names imported *from* a module are not
        import use_cuda_flag                    # `_cuda` inside the name, not at its end
    ''')
    assert imported_candidates(text) == {"fused_layer_norm_cuda", "apex.contrib.xentropy_cuda",
                                         "selective_scan_cuda", "causal_conv1d_cuda_ext", "quant_cuda_kernel"}
    assert imported_candidates("import torch\nx_cuda = 1\n") == set()


def test_tree_modules_hold_every_importable_spelling():
    modules = tree_modules([PurePath("src/pkg/__init__.py"), PurePath("src/pkg/foo_cuda.py"),
                            PurePath("csrc/bar_cuda.cu"), PurePath("tools/run.sh")])
    assert {"foo_cuda", "pkg.foo_cuda", "src.pkg.foo_cuda", "pkg", "src"} <= modules
    assert "bar_cuda" not in modules and "run" not in modules


def test_extension_modules_built_named_and_excluded():
    setup = dedent('''
        from torch.utils.cpp_extension import CppExtension, CUDAExtension
        CUDAExtension("fastops._C", ["csrc/ops.cpp", "csrc/kernel.cu"])
        CppExtension("cpu_cuda", ["cpu.cpp"])
        CppExtension(name="mixed", sources=["bind.cpp", "k.cu"])
    ''')
    found = extension_modules([(PurePath("setup.py"), setup)],
                              {"cpu_cuda", "local_cuda", "fused_layer_norm_cuda", "apex.x_cuda"},
                              frozenset({"local_cuda"}), ["apex"])
    assert found == [ExtensionModule("fastops._C", "setup.py"), ExtensionModule("fused_layer_norm_cuda", None),
                     ExtensionModule("mixed", "setup.py")]


# --- the items -----------------------------------------------------------------------------------


MEGATRON = {
    "megatron/fused_kernels/__init__.py": '''
        from torch.utils import cpp_extension

        def _cpp_extention_load_helper(name, sources, extra_cuda_flags):
            return cpp_extension.load(name=name, sources=sources, extra_cuda_cflags=extra_cuda_flags)

        def load(args):
            scaled_masked_softmax_cuda = _cpp_extention_load_helper(
                "scaled_masked_softmax_cuda", ["scaled_masked_softmax.cpp", "scaled_masked_softmax_cuda.cu"], [])
    ''',
    "megatron/model/fused_softmax.py": '''
        import torch

        class ScaledMaskedSoftmax(torch.autograd.Function):
            @staticmethod
            def forward(ctx, inputs, mask, scale):
                import scaled_masked_softmax_cuda

                scale_t = torch.tensor([scale])
                return scaled_masked_softmax_cuda.forward(inputs, mask, scale_t[0])

            @staticmethod
            def backward(ctx, output_grads):
                import scaled_masked_softmax_cuda
                return scaled_masked_softmax_cuda.backward(output_grads, None, None), None, None
    ''',
    "megatron/optimizer/clip_grads.py": '''
        import amp_C
        from apex.multi_tensor_apply import multi_tensor_applier

        def norm(grads, dummy):
            return multi_tensor_applier(amp_C.multi_tensor_l2norm, dummy, [grads], False)
    ''',
}


def test_megatron_shapes():
    found = items(MEGATRON, "megatron/model/fused_softmax.py")
    assert [(rule, line) for rule, line, _ in found] == [(IMPORT_RULE, 6), (IMPORT_RULE, 13)]  # imports, not calls
    assert found[0][2].startswith("scaled_masked_softmax_cuda is not a Python module of this tree and its name "
                                  "marks a compiled CUDA extension: it does not build or load on Ascend; port "
                                  "its kernels to Ascend C custom operators")
    assert "op-plugin" in found[0][2] and "PyTorch / torch_npu ops" in found[0][2]
    # amp_C is apex's: the apex rule reports it, once, at the import (not again at amp_C.multi_tensor_l2norm)
    assert [(rule, line) for rule, line, _ in items(MEGATRON, "megatron/optimizer/clip_grads.py")] == [
        ("apex", 1), ("apex", 2)]
    # the load() helper is a use through the module: the build API item is where it is called
    assert [(rule, line) for rule, line, _ in items(MEGATRON, "megatron/fused_kernels/__init__.py")] == [
        ("cuda-extension", 4)]


def test_a_python_module_of_the_tree_is_not_an_extension():
    tree = {"train.py": "import foo_cuda\nimport pkg.bar_cuda\nimport baz_cuda\n",
            "foo_cuda.py": "X = 1\n", "src/pkg/bar_cuda/__init__.py": ""}
    assert [(rule, line) for rule, line, _ in items(tree, "train.py")] == [(IMPORT_RULE, 3)]


def test_built_extensions_are_reported_whatever_their_name():
    tree = {
        "setup.py": '''
            from setuptools import setup
            from torch.utils.cpp_extension import BuildExtension, CUDAExtension

            setup(name="fastops",
                  ext_modules=[CUDAExtension("fastops._C", ["csrc/ops.cpp", "csrc/ops_kernel.cu"]),
                               CUDAExtension(name="rope_impl", sources=["csrc/rope.cu"])],
                  cmdclass={"build_ext": BuildExtension})
        ''',
        "fastops/layers.py": '''
            import torch
            from fastops import _C
            import rope_impl as rope

            def gelu(x):
                return _C.gelu(x) + rope.apply(x)
        ''',
    }
    found = items(tree, "fastops/layers.py")
    assert [(rule, line) for rule, line, _ in found] == [(IMPORT_RULE, 2), (IMPORT_RULE, 3)]
    assert found[0][2].startswith("fastops._C is a CUDA extension built in this tree (setup.py): ")
    assert found[1][2].startswith("rope_impl is a CUDA extension built in this tree (setup.py): ")
    # the build script: one cuda-extension item at its import, none at the calls or at cmdclass
    assert [(rule, line) for rule, line, _ in items(tree, "setup.py")] == [("cuda-extension", 2)]


def test_other_rules_keep_their_modules():
    tree = {"attn.py": "import flash_attn_2_cuda as flash_attn_cuda\nimport amp_C\n"}
    assert [(rule, line) for rule, line, _ in items(tree, "attn.py")] == [("flash-attn", 1), ("apex", 2)]
    # with those rules ignored the names are still theirs: no second opinion
    alone = RULESET.choose(ignore=["apex", "flash-attn"])
    assert items(tree, "attn.py", alone) == []


def test_cpp_extension_import_is_one_item_and_uses_of_its_names_are_not_more():
    tree = {"setup.py": '''
        from setuptools import setup
        from torch.utils.cpp_extension import (
            BuildExtension,
            CUDAExtension,
        )
        exts = [CUDAExtension("a_ext", ["a.cu"]), CUDAExtension("b_ext", ["b.cu"])]
        setup(ext_modules=exts, cmdclass={"build_ext": BuildExtension.with_options(use_ninja=False)})
    '''}
    assert [(rule, line) for rule, line, _ in items(tree, "setup.py")] == [("cuda-extension", 2)]
    # an import of other names from the module is not a build: CUDA_HOME, include_paths
    assert items({"env.py": "from torch.utils.cpp_extension import CUDA_HOME, include_paths\n"}, "env.py") == []


def test_the_rule_file_lists_names_and_the_tree_drops_its_own_modules():
    base = RULESET.get(IMPORT_RULE)
    assert isinstance(base.spec, Report) and "syncbn" in base.spec.prefixes
    tree = {"train.py": "import syncbn\n"}
    assert [(rule, line) for rule, line, _ in items(tree, "train.py")] == [(IMPORT_RULE, 1)]
    assert items({**tree, "syncbn.py": "X = 1\n"}, "train.py") == []


def test_nothing_to_add_keeps_the_rule_set():
    sources = [(PurePath("a.py"), "import torch\n")]
    assert expand(RULESET, sources, [PurePath("a.py")]) is RULESET
    shim = load_rules(target="shim")
    assert IMPORT_RULE not in shim.ids and expand(shim, sources, []) is shim


# --- wired into the runs --------------------------------------------------------------------------


def _project(root: Path) -> Path:
    files = {
        "setup.py": '''
            from setuptools import setup
            from torch.utils.cpp_extension import BuildExtension, CUDAExtension

            setup(name="fastops", ext_modules=[CUDAExtension("fastops_impl", ["csrc/ops.cpp", "csrc/ops.cu"])],
                  cmdclass={"build_ext": BuildExtension})
        ''',
        "model.py": '''
            import torch
            import fastops_impl
            import fused_layer_norm_cuda
            import helper_cuda

            def forward(x):
                return fastops_impl.gelu(fused_layer_norm_cuda.forward(x.cuda()))
        ''',
        "csrc/ops.cu": "__global__ void gelu_kernel(float* x) {}\n",
    }
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(dedent(text), encoding="utf-8")
    return root


def _check(cli, project: Path, *options: object) -> list[tuple[str, int]]:
    result = cli("check", "--no-config", "--output-format", "json", *options, project)
    assert result.exit_code == 1, result.output
    return sorted((Path(d["path"]).name, d["line"]) for d in json.loads(result.output)["findings"]
                  if d["rule"] in (IMPORT_RULE, "cuda-extension"))


@pytest.mark.parametrize("target", ["npu", "accelerator"])
def test_check_and_migrate_report_them(cli, tmp_path, target):
    project = _project(tmp_path / "proj")
    expected = [("model.py", 2), ("model.py", 3), ("model.py", 4), ("setup.py", 2)]
    assert _check(cli, project, "--target", target) == expected
    result = cli("migrate", "--no-config", "--allow-dirty", "--target", target, "--report", tmp_path / "run.json",
                 project)
    assert result.exit_code == 0, result.output
    report = json.loads((tmp_path / "run.json").read_text(encoding="utf-8"))
    found = sorted((Path(f["path"]).name, m["line"]) for f in report["files"] for m in f["manual_items"]
                   if m["rule"] in (IMPORT_RULE, "cuda-extension"))
    assert found == expected
    ported = (project / "model.py").read_text(encoding="utf-8").splitlines()
    assert "x.cuda()" not in "\n".join(ported)  # migrated in place (the npu target adds `import torch_npu`)
    imports = [ported.index(f"import {name}") + 1 for name in ("fastops_impl", "fused_layer_norm_cuda", "helper_cuda")]
    expected = [("model.py", line) for line in imports] + [("setup.py", 2)]
    assert _check(cli, project, "--target", target) == expected  # and `check` on the ported tree still says so
    assert _check(cli, project, "--target", target, "--ignore", IMPORT_RULE) == [("setup.py", 2)]


def test_the_trees_extension_names_are_part_of_the_check_cache_key(cli, tmp_path):
    project = _project(tmp_path / "proj")
    assert ("model.py", 2) in _check(cli, project)
    assert list(tmp_path.glob("**/.portkit_cache/*")), "the check cache is in use"
    # model.py is unchanged, but setup.py now builds another name: fastops_impl is no extension
    setup = project / "setup.py"
    setup.write_text(setup.read_text(encoding="utf-8").replace('"fastops_impl"', '"fastops_core"'), encoding="utf-8")
    assert _check(cli, project) == [("model.py", 3), ("model.py", 4), ("setup.py", 2)]
    # and helper_cuda becomes a Python module of the tree
    (project / "helper_cuda.py").write_text("X = 1\n", encoding="utf-8")
    assert _check(cli, project) == [("model.py", 3), ("setup.py", 2)]
