"""`portkit check` on a ported tree imports libcst only for a file that needs it (issue 13).

Importing libcst costs about a tenth of a second, as much as parsing a small project. When
every Python file of a tree is either untouched by triage or answered by check's fast path
(python/fastcheck.py), nothing needs libcst, so nothing may import it: the pipeline
(process.py, runner.py), the Python file kind and the engine import the libcst side lazily.
Each case runs the real CLI in a fresh interpreter and asks it, at exit, whether libcst was
imported; the control case proves the probe sees an import when there is one.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path


# runs the CLI as `python -m portkit` would, then reports whether libcst was imported
_PROBE = """
import runpy, sys
sys.argv = ["portkit", *sys.argv[1:]]
try:
    runpy.run_module("portkit", run_name="__main__")
except SystemExit:
    pass
print("libcst imported:", "libcst" in sys.modules, file=sys.stderr)
"""

# a small tree as `portkit migrate` leaves it: only manual items remain, of every file kind
_PORTED = {
    "train.py": "import torch\nimport torch_npu\n\n\ndef step(model, x):\n    torch.npu.synchronize()\n"
                "    return model(x.npu())\n",
    "kernels.py": "import triton\nimport triton.language as tl\n\n\n@triton.jit\ndef add(x_ptr):\n"
                  "    tl.load(x_ptr)\n",
    # what migrate leaves of torch.cuda: no rule converts it, or a contract keeps the call
    "profile.py": "import torch\n\n\ndef mark(name):\n    with torch.cuda.nvtx.range(name):\n        pass\n"
                  "    major, minor = torch.cuda.get_device_capability()\n",
    "plain.py": "def add(a, b):\n    return a + b\n",
    "ops.py": "import myext\n\n\ndef fused(x):\n    return myext.fused(x)\n",
    "csrc/fused.cu": "__global__ void fused_kernel(float* x) { x[0] = 1.0f; }\n",
    "csrc/bind.cpp": "#include <torch/extension.h>\nvoid fused(torch::Tensor x);\n"
                     "PYBIND11_MODULE(TORCH_EXTENSION_NAME, m) { m.def(\"fused\", &fused, \"fused\"); }\n",
    "setup.py": "from setuptools import setup\nfrom torch.utils.cpp_extension import BuildExtension, CUDAExtension\n"
                "setup(name='x', ext_modules=[CUDAExtension('myext', ['csrc/bind.cpp', 'csrc/fused.cu'])],\n"
                "      cmdclass={'build_ext': BuildExtension})\n",
    "requirements.txt": "torch\napex\n",
    "run.sh": "python train.py\n",
    "Dockerfile": "FROM nvidia/cuda:12.1.0-devel-ubuntu22.04\nRUN pip install torch\n",
}


def _write(root: Path, files: dict[str, str]) -> None:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")


def _check(root: Path, *options: str) -> tuple[bool, dict]:
    """Whether `portkit check` imported libcst, and its JSON output."""
    run = subprocess.run([sys.executable, "-c", _PROBE, "check", ".", "--no-config", "--output-format", "json",
                          *options], cwd=root, capture_output=True, text=True, timeout=300)
    assert run.returncode in (0, 1), run.stderr
    assert "libcst imported:" in run.stderr, run.stderr
    return "libcst imported: True" in run.stderr, json.loads(run.stdout)


def _rules(output: dict) -> set[tuple[str, str]]:
    return {(item["path"], item["rule"]) for item in output["findings"]}


def test_a_ported_tree_is_checked_without_libcst(tmp_path: Path) -> None:
    _write(tmp_path, _PORTED)
    imported, output = _check(tmp_path, "--no-cache", "-j", "1")
    found = _rules(output)
    # the Python files were read for real: their manual items are there
    assert ("kernels.py", "triton") in found
    assert any(path == "profile.py" for path, _ in found)
    assert ("ops.py", "cuda-op-call") in found
    assert not imported


def test_a_file_that_needs_the_rewriter_imports_it(tmp_path: Path) -> None:
    """The control: a file with something left to convert takes the libcst path."""
    _write(tmp_path, {**_PORTED, "left.py": "import torch\n\ntorch.cuda.synchronize()\n"})
    imported, output = _check(tmp_path, "--no-cache", "-j", "1")
    assert any(path == "left.py" for path, _ in _rules(output))
    assert imported


def test_a_warm_recheck_does_not_import_it(tmp_path: Path) -> None:
    """Every file's answer is in the cache: not even the file that needed libcst needs it again."""
    _write(tmp_path, {**_PORTED, "left.py": "import torch\n\ntorch.cuda.synchronize()\n"})
    cold_imported, cold = _check(tmp_path, "-j", "1")
    warm_imported, warm = _check(tmp_path, "-j", "1")
    assert cold_imported and not warm_imported
    assert warm["findings"] == cold["findings"]
