"""check's fast path (python/fastcheck.py) gives exactly what the reference path gives."""

from __future__ import annotations

import ast
import textwrap
from pathlib import Path

import pytest

from portkit.python.engine import migrate_source
from portkit.python.fastcheck import KNOWN_UNITS, report_only_findings
from portkit.python.transform import _UNITS, CompiledRules
from portkit.ruleset import load_rules

REPO = Path(__file__).resolve().parent.parent
TARGETS = {target: CompiledRules(load_rules(target=target)) for target in ("npu", "accelerator", "shim")}
NPU = TARGETS["npu"]
ALL_RULES = load_rules(target=None)


def dedent(code: str) -> str:
    return textwrap.dedent(code).lstrip("\n")


def sources() -> list[tuple[str, str]]:
    """Every Python text the repository holds (examples, fixtures, portkit's own code), the
    rule examples before and after, and every one of them as the npu target ports it: the
    texts a `check` of a ported tree reads."""
    files = [*REPO.glob("examples/**/*.py"), *REPO.glob("tests/data/**/*.py"), *REPO.glob("src/portkit/**/*.py")]
    found = [(str(p.relative_to(REPO)), p.read_text(encoding="utf-8")) for p in sorted(files)]
    for rule in ALL_RULES.rules:
        for number, example in enumerate(rule.examples, start=1):
            if example.path.endswith(".py"):
                found.append((f"{rule.id}-{number}", dedent(example.before)))
                if example.after is not None:
                    found.append((f"{rule.id}-{number}-after", dedent(example.after)))
    ported = []
    for name, text in found:
        try:
            new_text = migrate_source(text, NPU).new_text
        except Exception:  # noqa: BLE001 - a file portkit cannot port has no ported form
            continue
        if new_text is not None:
            ported.append((f"{name} (ported)", new_text))
    return found + ported


SOURCES = sources()


def reference(text: str, rules: CompiledRules) -> object:
    try:
        return migrate_source(text, rules, render=False, fast=False)
    except Exception as error:  # noqa: BLE001 - the fast path must fail the same way
        return type(error)


def fast(text: str, rules: CompiledRules) -> object:
    try:
        return migrate_source(text, rules, render=False)
    except Exception as error:  # noqa: BLE001
        return type(error)


def taken(text: str, rules: CompiledRules) -> bool:
    """Does the fast path answer for this text (rather than hand it to libcst)?"""
    try:
        tree = ast.parse(text)
    except (SyntaxError, ValueError, RecursionError):
        return False
    return rules.may_need_work(text) and rules.may_need_work_tree(tree, text) and \
        report_only_findings(text, tree, rules) is not None


@pytest.mark.parametrize("target", sorted(TARGETS))
def test_fast_and_reference_paths_agree_on_everything_in_the_repository(target: str) -> None:
    rules = TARGETS[target]
    answered = 0
    for name, text in SOURCES:
        assert fast(text, rules) == reference(text, rules), name
        answered += taken(text, rules)
    if target == "npu":  # the comparison is not vacuous: the fast path answers for many files
        assert answered >= 20


def test_every_unit_of_the_rewriter_is_judged_by_the_fast_path() -> None:
    """A new unit in transform._UNITS may record events the fast path knows nothing of: it
    must be added to fastcheck.KNOWN_UNITS, with why report-only files leave it nothing."""
    assert {unit.__name__ for unit in _UNITS} <= KNOWN_UNITS.keys()


# --- one case per kind of manual item the fast path reports ------------------------------------

CASES = {
    "import of a reported module": """
        import apex
        from apex import amp
        import triton.language as tl
    """,
    "name bound by a reported import is not reported again": """
        from torch.utils.cpp_extension import CUDAExtension, BuildExtension
        setup(ext_modules=[CUDAExtension("x", ["x.cu"])], cmdclass={"build_ext": BuildExtension})
    """,
    "listed name in its new spelling": """
        import torch
        major, minor = torch.npu.get_device_capability()
    """,
    "use through a module alias, in a def, a decorator and a comprehension": """
        import torch as th
        @th.npu.get_device_capability(0)
        def f(a=th.npu.get_device_capability):
            return [th.npu.get_device_capability(x) for x in a]
    """,
    "attribute on a value": """
        import torch
        x = torch.ones(1)
        props = torch.npu.get_device_properties(0)
        major = props.major; minor = props.minor
    """,
    "keyword argument of a reported call and calls without arguments": """
        import torch
        with torch.autograd.profiler.profile(use_cuda=True) as prof:
            pass
        cap = torch.get_device_module().get_device_capability()
    """,
    "non-ASCII text before and inside the item": """
        import torch
        é = "ü"; y = torch.npu.get_device_capability("ä")  # ö
    """,
    "one-line bodies, backslashes and quiet statements": """
        import torch
        if ok: import apex
        try: import triton
        except ImportError: triton = None
        a = 1; \\
        b = torch.npu.get_device_capability
        def quiet():
            return 1
    """,
    "statement spanning lines": """
        import torch
        value = (
            torch.npu.get_device_capability("a"),
            torch.npu.get_device_capability(
                f).major,
        )
    """,
    # torch.cuda has a twin: FixableNames.may_change counts it inside every torch.cuda.X
    "an unconverted torch.cuda name that no rule converts": """
        import torch
        with torch.cuda.nvtx.range("x"):
            pass
        torch.cuda._lazy_call(f)
    """,
    "calls rename-api keeps by its contracts: how the result is used": """
        import torch
        major, minor = torch.cuda.get_device_capability()
        if torch.cuda.get_device_capability(0) >= (8, 0) and torch.cuda.get_device_capability()[0] > 7:
            print(f"{torch.cuda.get_device_capability()}", "%s %s" % (torch.cuda.get_device_capability(), 1))
        print("{}".format(torch.cuda.get_device_capability()), [*torch.cuda.get_device_capability()])
        sm = torch.cuda.get_device_properties(0).major * 10 + torch.cuda.get_device_properties(d).minor
    """,
    "calls rename-api keeps by its contracts: their arguments and stubs": """
        import torch
        event = torch.cuda.Event(False, False, False, True)
        handle = torch.cuda.current_blas_handle()
        g = torch.cuda.CUDAGraph(keep_graph=True)
        with torch.cuda.graph(g, None, None, "global", True):
            pass
        name = torch.cuda.get_device_name(0, device=1)
    """,
    # faststrings.py: a string a rule looks for, where no rule could act on it
    "string triggers that are only text": """
        \"\"\"CUDA_VISIBLE_DEVICES or NCCL_DEBUG: set them before running.\"\"\"
        import logging
        import torch
        HALF = ["torch.cuda.HalfTensor", "torch.cuda.FloatTensor"]
        logging.info("NCCL_SOCKET_IFNAME = {}".format(name))
        assert ok, "CUDA_HOME does not exist"
        deepspeed.init_distributed("nccl")
        value = os.environ.get(key, "cuda:0".upper())
        class Op(Base, kind="nccl"):
            pass
        major, minor = torch.npu.get_device_capability()
    """,
    "names libcst sees as uses and ast as strings": """
        import triton
        import torch
        def load():
            global triton, torch
            try:
                import apex
            except (ImportError) as torch:
                pass
    """,
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_each_kind_of_report_only_item_is_answered_by_the_fast_path_as_the_reference_does(name: str) -> None:
    text = dedent(CASES[name])
    assert taken(text, NPU), name
    expected = reference(text, NPU)
    assert fast(text, NPU) == expected
    assert expected.findings, "each case has at least one item"  # type: ignore[attr-defined]


@pytest.mark.parametrize("code", [
    "import torch\ntorch.cuda.synchronize()\n",  # a change
    "import torch\ntorch.cuda.get_device_capability(0)\n",  # its contracts let it through: a change
    "import torch\nx = torch.cuda.get_device_properties(0).name\n",  # a change
    "import torch\nfrom torch.cuda import get_device_capability\nmajor, minor = get_device_capability()\n",
    "import triton\ndef f():\n    global x, \\\n        triton\n",  # names on another line: not looked for
    "import torch\ndevice = 'cuda'\n",  # a string rule's value
    # string triggers where a rule could act on them (faststrings.py), whatever the value flow says
    "def f(backend='nccl'):\n    return backend == 'nccl'\n",
    "def f():\n    return 'cuda'\n",
    "import os\nenv = os.environ.copy()\nenv['NCCL_IB_DISABLE'] = '1'\n",
    "from os import getenv as read\nx = read('NCCL_IB_DISABLE')\n",
    "import os\nx = os.environ.get(*['NCCL_IB_DISABLE'])\n",
    "from unittest import mock\n@mock.patch('torch.cuda.is_available')\ndef test():\n    pass\n",
    # a patch target reaching torch.cuda through another module: mockpatch.py renames inside it
    "import apex\nfrom unittest import mock\n@mock.patch('pkg.mod.torch.cuda.is_available')\ndef test():\n    pass\n",
    "import subprocess\nsubprocess.run(cmd, env={'NCCL_IB_DISABLE': '1'})\n",
    "parser.add_argument('--backend', default='nccl')\n",
    "x = f(dist_backend=('nccl' if ok else 'gloo'))\n",
    "config = {'backend': f'nccl'}\n",
    "loc = 'cuda:{}'.format(rank)\n",
    "import torch\nx = y.cuda()\n",  # a method an argument rule edits
    "import torch\n\fx = torch.cuda.nvtx\n",  # a form feed: libcst sees another text
    "import torch\nclass CUDAAccelerator(Accelerator):\n    x = torch.cuda.nvtx\n",  # multi-backend
])
def test_files_with_more_than_report_items_take_the_reference_path(code: str) -> None:
    assert report_only_findings(code, ast.parse(code), NPU) is None
    assert fast(code, NPU) == reference(code, NPU)

