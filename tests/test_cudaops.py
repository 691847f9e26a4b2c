"""Custom CUDA operators: CUDA sources and operator registrations are reported (never changed),
CPU-only C++ is not, and the operators a tree registers become a report rule for their Python
call sites."""

from __future__ import annotations

import textwrap
from pathlib import Path, PurePath

import pytest

import portkit.filekinds.cudaops as cudaops
from portkit.filekinds.cudaops import (
    Kernel,
    call_site_rule,
    extensions,
    kernels,
    migrate_cuda_source,
    registered_ops,
    registrations,
    strip_c,
)
from portkit.pipeline.discovery import DiscoveredFile
from portkit.pipeline.process import process_file
from portkit.python.engine import migrate_source
from portkit.filekinds import kind_for
from portkit.model import FileStatus, Safety
from portkit.ruleset import RuleSet, load_rules
from portkit.python.transform import CompiledRules

DATA = Path(__file__).resolve().parent / "data" / "cudaext"
RULESET = load_rules()
RULES = CompiledRules(RULESET)
MESSAGE = RULESET.get("cuda-op").spec.message  # type: ignore[union-attr]


def tree() -> list[tuple[Path, str]]:
    return [(p, p.read_text(encoding="utf-8")) for p in sorted(DATA.rglob("*")) if p.is_file()]


def findings(name: str, text: str | None = None, rules: CompiledRules = RULES):
    if text is None:
        text = (DATA / name).read_text(encoding="utf-8")
    migration = migrate_cuda_source(text, PurePath(name).name, rules, True)
    assert migration.new_text is None and migration.changes == ()
    return migration.findings


# --- the C/C++ stripper ------------------------------------------------------------------------


def test_strip_keeps_offsets_and_lines():
    source = textwrap.dedent(r'''
        #include "kernel.cuh" // a "comment"
        int n = 1'000'000; char q = '\''; /* two
        lines */ auto s = R"x(// not a comment)x"; const char* t = "a // b \" c";
        // continued \
        comment
        auto w = L'x' + u8"yy"[0];
    ''')
    bare, code = strip_c(source), strip_c(source, strings=False)
    for stripped in (bare, code):
        assert len(stripped) == len(source)
        assert [i for i, c in enumerate(stripped) if c == "\n"] == [i for i, c in enumerate(source) if c == "\n"]
    assert [line.rstrip() for line in code.splitlines()] == [
        "", '#include "kernel.cuh"', "int n = 1'000'000; char q = '\\'';",
        '         auto s = R"x(// not a comment)x"; const char* t = "a // b \\" c";', "", "",
        "auto w = L'x' + u8\"yy\"[0];",
    ]
    assert [line.rstrip() for line in bare.splitlines()] == [
        "", '#include "          "', "int n = 1'000'000; char q = '  ';",
        '         auto s = R"x(                )x"; const char* t = "           ";', "", "",
        "auto w = L' ' + u8\"  \"[0];",
    ]


def test_kernels_of_the_fixture():
    bare = strip_c((DATA / "fused_kernel.cu").read_text(encoding="utf-8"))
    # template and __launch_bounds__ are seen through; the commented-out kernel is not one
    assert kernels(bare) == [Kernel("gelu_forward_kernel", 8), Kernel("gelu_backward_kernel", 18)]
    assert kernels(strip_c("extern \"C\" __global__ void k1(int* a);\n__global__ void k1(int* a) {}\n"
                           "static __global__ void\nk2 (float* x) {}\n#define G __global__\n")) == [
        Kernel("k1", 1), Kernel("k2", 3)]


# --- the file kind ------------------------------------------------------------------------------


def test_cuda_source_is_one_item_at_line_one():
    (item,) = findings("fused_kernel.cu")
    assert (item.rule_id, item.span.line, item.span.column, item.safety) == ("cuda-op", 1, 1, Safety.MANUAL)
    assert item.line_text == "#include <torch/extension.h>"
    assert item.message == ("CUDA source with 2 __global__ kernels: gelu_forward_kernel (line 8), "
                            f"gelu_backward_kernel (line 18): {MESSAGE}")
    assert "Ascend C" in MESSAGE and "OpPlugin" in MESSAGE


def test_pybind11_bindings_of_a_cuda_extension():
    (item,) = findings("fused.cpp")
    assert (item.rule_id, item.span.line, item.span.column, item.span.end_column) == ("cuda-op", 19, 1, 41)
    assert item.line_text == "PYBIND11_MODULE(TORCH_EXTENSION_NAME, m) {"
    # the commented-out m.def is not listed
    assert item.message == ("pybind11 module TORCH_EXTENSION_NAME (the extension's name in its build script) "
                            f"binds CUDA code, 2 ops: forward, backward: {MESSAGE}")


def test_torch_library_blocks():
    schema, impl = findings("csrc/ops.cpp")
    assert (schema.span.line, impl.span.line) == (8, 13)
    assert schema.message == ("TORCH_LIBRARY(myext) defines CUDA operators torch.ops.myext.*, 2 ops: "
                              f"fused_gelu, fused_rmsnorm: {MESSAGE}")
    assert impl.message.startswith("TORCH_LIBRARY_IMPL(myext, CUDA) registers CUDA kernels, 2 ops: fused_gelu, "
                                   "fused_rmsnorm: register NPU ones with TORCH_LIBRARY_IMPL(myext, PrivateUse1, m); ")


@pytest.mark.parametrize("name", ["csrc/cpu_ops.cpp", "csrc/utils.cpp"])
def test_cpu_only_cpp_is_not_reported(name):
    assert findings(name) == ()


def test_plain_cpp_takes_the_fast_path(monkeypatch):
    def fail(*args, **kwargs):
        raise AssertionError("stripped a file with nothing to report")

    monkeypatch.setattr(cudaops, "strip_both", fail)
    assert findings("csrc/utils.cpp") == ()
    assert findings("big.cpp", "int f() { return 0; }\n" * 20000) == ()


def test_a_cuda_dispatch_key_alone_makes_a_file_cuda():
    text = textwrap.dedent('''
        #include <torch/library.h>
        at::Tensor my_add_impl(const at::Tensor& a, const at::Tensor& b);
        TORCH_LIBRARY_FRAGMENT(ext, m) {
          m.def(TORCH_SELECTIVE_SCHEMA("ext::my_add.out(Tensor a, Tensor b) -> Tensor"));
        }
        TORCH_LIBRARY_IMPL(ext, AutogradCUDA, m) { m.impl(TORCH_SELECTIVE_NAME("ext::my_add"), TORCH_FN(my_add_impl)); }
        TORCH_LIBRARY_IMPL(ext, Meta, m) { m.impl("my_add", &my_add_impl); }
    ''')
    fragment, impl = findings("ops.cc", text)
    assert fragment.message.startswith("TORCH_LIBRARY_FRAGMENT(ext) defines CUDA operators torch.ops.ext.*, "
                                       "1 op: my_add:")
    assert impl.message.startswith("TORCH_LIBRARY_IMPL(ext, AutogradCUDA) registers AutogradCUDA kernels, "
                                   "1 op: my_add:")
    assert (fragment.span.line, impl.span.line) == (4, 7)  # the Meta block is not reported


def test_cuda_file_with_registrations_and_a_header():
    text = textwrap.dedent('''
        #include <torch/extension.h>
        __global__ void add_kernel(float* x) {}
        void add(torch::Tensor x) { add_kernel<<<1, 1>>>(x.data_ptr<float>()); }
        PYBIND11_MODULE(inline_ext, m) { m.def("add", &add); }
    ''').lstrip()
    file_item, block = findings("ext.cu", text)
    assert (file_item.span.line, block.span.line) == (1, 4)
    assert file_item.message.startswith("CUDA source with 1 __global__ kernel: add_kernel (line 2):")
    assert block.message.startswith("pybind11 module inline_ext binds CUDA code, 1 op: add:")
    (header,) = findings("helpers.cuh", "#pragma once\n__device__ inline float sq(float x) { return x * x; }\n")
    assert header.message.startswith("CUDA header (no __global__ kernel: device functions or host code):")
    (empty,) = findings("empty.cu", "")
    assert (empty.span, empty.line_text) == (empty.span.__class__(1, 1, 1, 1), "")


def test_cuda_markers_in_a_cpp_file():
    registration = 'PYBIND11_MODULE(ext, m) { m.def("f", &f); }\n'
    for marker in ("#include <cuda_runtime.h>", "#include <ATen/cuda/CUDAContext.h>", '#include "kernels.cuh"',
                   "#include <c10/cuda/CUDAGuard.h>", "cudaStream_t s;", "void g(at::Tensor x) { x.is_cuda(); }",
                   "at::Tensor f_cuda(at::Tensor x);", "auto s = at::cuda::getCurrentCUDAStream();"):
        assert len(findings("ext.cpp", marker + "\n" + registration)) == 1, marker
    for not_a_marker in ('// #include <cuda_runtime.h>', 'const char* m = "needs a CUDA device";',
                         "#include <custom.h>", "void recuda();"):
        assert findings("ext.cpp", not_a_marker + "\n" + registration) == (), not_a_marker


def test_no_cuda_source_rule_no_item():
    none = CompiledRules(RULESET.select(["tensor-cuda"]))
    assert findings("fused_kernel.cu", rules=none) == ()


@pytest.mark.parametrize("name", ["fused.cpp", "fused_kernel.cu", "csrc/ops.cpp", "csrc/cpu_ops.cpp"])
def test_the_file_kind_runs_them(name, tmp_path):
    assert kind_for(PurePath(name)).name == "cuda-source"
    path = tmp_path / PurePath(name).name
    path.write_bytes((DATA / name).read_bytes())
    result = process_file(DiscoveredFile(path, tmp_path), RULES, name)
    assert result.status is FileStatus.UNCHANGED and result.new_text is None
    assert result.findings == findings(name)
    assert path.read_bytes() == (DATA / name).read_bytes()


# --- the tree: registered operators and their call sites ----------------------------------------


def test_registered_ops_of_the_fixture_tree():
    assert registered_ops(tree()) == {
        "torch.ops.myext": ["fused_gelu", "fused_rmsnorm"],
        "fused_cuda": ["forward", "backward"],  # TORCH_EXTENSION_NAME, named by setup.py's CUDAExtension
    }


def test_extensions_of_build_scripts():
    setup = DATA / "setup.py"
    (fused,) = extensions(setup, setup.read_text(encoding="utf-8"))
    assert (fused.name, fused.cuda) == ("fused_cuda", True)
    assert fused.sources == (str(DATA / "fused.cpp"), str(DATA / "fused_kernel.cu"))
    script = textwrap.dedent('''
        import glob, os
        from torch.utils import cpp_extension
        a = cpp_extension.CppExtension(name="pkg._cpu", sources=[os.path.join("csrc", "cpu.cpp")])
        b = cpp_extension.CppExtension("pkg._mixed", glob.glob("kernels/*.cu") + ["bind.cpp"])
        c = cpp_extension.load(name="jit_ext", sources=["jit.cpp", "jit_kernel.cu"], verbose=True)
        d = cpp_extension.CUDAExtension(name=NAME, sources=SOURCES)
    ''')
    found = extensions(PurePath("proj/setup.py"), script)
    assert [(e.name, e.sources, e.cuda) for e in found] == [
        ("pkg._cpu", ("proj/csrc/cpu.cpp",), False),
        ("pkg._mixed", ("proj/kernels/*.cu", "proj/bind.cpp"), True),
        ("jit_ext", ("proj/jit.cpp", "proj/jit_kernel.cu"), True),
        (None, (), True),
    ]
    assert extensions(PurePath("setup.py"), "def broken(:\n") == []


def test_a_binding_file_is_cuda_when_a_cuda_extension_builds_it():
    binding = ('torch::Tensor forward(torch::Tensor x);\n'
               'PYBIND11_MODULE(TORCH_EXTENSION_NAME, m) { m.def("forward", &forward); }\n')
    cuda_setup = 'CUDAExtension("pkg._C", ["csrc/bind.cpp", "csrc/kernel.cu"])\n'
    cpu_setup = 'CppExtension("pkg._C", ["csrc/bind.cpp"])\n'
    files = [(Path("proj/csrc/bind.cpp"), binding)]
    assert registered_ops([(Path("proj/setup.py"), cuda_setup), *files]) == {"pkg._C": ["forward"]}
    assert registered_ops([(Path("proj/setup.py"), cpu_setup), *files]) == {}
    assert registered_ops(files) == {}  # no build script: neither CUDA nor named
    # on its own, the binding file has nothing that says CUDA
    assert findings("bind.cpp", binding) == ()


def test_registrations_ignore_comments_and_strings():
    code = 'TORCH_LIBRARY(ns, lib) {\n  lib.def("a(Tensor x) -> Tensor");\n  /* lib.def("b"); */\n' \
           '  lib.def("c", [](){ return "}"; });\n  m.def("not_this_module");\n}\nPYBIND11_MODULE(x)\n'
    stripped = strip_c(code, strings=False)
    (block,) = registrations(stripped, strip_c(stripped))
    assert (block.macro, block.namespace, block.dispatch_key, block.ops) == ("TORCH_LIBRARY", "ns", None, ("a", "c"))
    assert block.python_prefix == "torch.ops.ns"


def test_call_site_rule_reports_python_calls():
    rule = call_site_rule(registered_ops(tree()), RULESET.get("cuda-op"))
    assert rule is not None
    assert (rule.id, rule.kind, rule.group, rule.safety) == ("cuda-op-call", "report", "cuda-ops", Safety.MANUAL)
    assert rule.spec.names == {  # type: ignore[union-attr]
        "torch.ops.myext.fused_gelu", "torch.ops.myext.fused_rmsnorm", "fused_cuda.forward", "fused_cuda.backward"}
    source = textwrap.dedent('''
        import torch
        import fused_cuda
        from fused_cuda import backward as fused_backward

        def gelu(x, w):
            y = torch.ops.myext.fused_gelu(x)
            z = torch.ops.myext.fused_rmsnorm.default(y, w, 1e-6)
            return fused_cuda.forward(z), fused_backward(z, x)

        def unrelated(x):
            return torch.ops.aten.relu(x), x.forward()
    ''').lstrip()
    migration = migrate_source(source, CompiledRules(RuleSet((rule,))))
    assert migration.new_text is None and migration.changes == ()
    assert [(f.rule_id, f.span.line, f.span.column) for f in migration.findings] == [
        ("cuda-op-call", 6, 9), ("cuda-op-call", 7, 9), ("cuda-op-call", 8, 12), ("cuda-op-call", 8, 35)]
    assert migration.findings[0].message.startswith("torch.ops.myext.fused_gelu is a custom CUDA operator: "
                                                    "it has no NPU kernel")
    assert migration.findings[3].message.startswith("fused_cuda.backward is a custom CUDA operator")
    # with every built-in rule too, the synthetic rule adds its items and changes nothing else
    everything = RuleSet(RULESET.rules + (rule,))
    full = migrate_source(source, CompiledRules(everything))
    assert [f for f in full.findings if f.rule_id == "cuda-op-call"] == list(migration.findings)


def test_call_site_rule_of_nothing():
    assert call_site_rule({}) is None
    assert call_site_rule({"torch.ops.ns": ["not-an-identifier"]}) is None
    rule = call_site_rule({"ext": ["f"]})
    assert rule is not None and rule.origin == "rules/cuda-ops.toml" and rule.targets == {"npu"}


def test_crlf_sources_keep_their_line_texts():
    text = ('#include <cuda.h>\r\n\r\n__global__ void k(int* x) {}\r\n'
            'PYBIND11_MODULE(ext, m) {\r\n  m.def("k", &k);\r\n}\r\n')
    file_item, block = findings("k.cu", text)
    assert (file_item.line_text, block.line_text) == ("#include <cuda.h>", "PYBIND11_MODULE(ext, m) {")
    assert file_item.message.startswith("CUDA source with 1 __global__ kernel: k (line 3):")
    assert (block.span.line, block.span.end_column) == (4, 24)  # just after `PYBIND11_MODULE(ext, m)`


def test_the_call_site_rule_crosses_process_boundaries():
    import pickle

    rule = call_site_rule({"torch.ops.ns": ["op"]})
    assert pickle.loads(pickle.dumps(rule)) == rule  # worker processes receive it with the rule set


# --- wired into the runs: every Python call of a registered operator is a manual item --------


def test_check_and_migrate_report_the_python_calls_of_the_trees_operators(cli, tmp_path):
    import json
    import shutil

    project = tmp_path / "ext"
    shutil.copytree(DATA, project)
    result = cli("check", "--no-config", "--output-format", "json", project)
    calls = sorted((Path(d["path"]).name, d["line"]) for d in json.loads(result.output)["findings"]
                   if d["rule"] == "cuda-op-call")
    assert calls == [("layers.py", 10), ("layers.py", 15), ("layers.py", 19)]
    result = cli("migrate", "--no-config", "--allow-dirty", "--dry-run", "--report", tmp_path / "run.json", project)
    assert result.exit_code == 0, result.output
    report = json.loads((tmp_path / "run.json").read_text(encoding="utf-8"))
    assert "cuda-op-call" in report["rules"]
    found = [m for file in report["files"] for m in file["manual_items"] if m["rule"] == "cuda-op-call"]
    assert len(found) == 3
    # the generated rule is part of the check cache key: a new registration shows at once
    ops = project / "csrc" / "ops.cpp"
    ops.write_text(ops.read_text(encoding="utf-8").replace("fused_rmsnorm", "fused_norm"), encoding="utf-8")
    result = cli("check", "--no-config", "--output-format", "json", project)
    rows = [d["line"] for d in json.loads(result.output)["findings"] if d["rule"] == "cuda-op-call"]
    assert rows == [10, 15]


def test_ignoring_cuda_op_also_drops_the_call_sites(cli, tmp_path):
    import json
    import shutil

    project = tmp_path / "ext"
    shutil.copytree(DATA, project)
    result = cli("check", "--no-config", "--ignore", "cuda-op", "--output-format", "json", project)
    assert not [d for d in json.loads(result.output)["findings"] if d["rule"] in ("cuda-op", "cuda-op-call")]
