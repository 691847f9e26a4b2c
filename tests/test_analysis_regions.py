"""The analysis parses only the statements that can hold a finding (python/analysis/regions.py):
its findings must be the full parse's, on every example, fixture and rule example, and on the
shapes that decide where a statement ends (strings, brackets, continuations, clauses, decorators,
class bodies, scopes whose names flow between statements)."""

from __future__ import annotations

import ast
import bisect
import textwrap
from pathlib import Path

import pytest

from portkit.pipeline.analyze import analyze_rules
from portkit.python.analysis import Settings, analyze_text
from portkit.python.analysis.regions import blank, code_text, select
from portkit.ruleset import load_rules

REPO = Path(__file__).resolve().parents[1]
SETTINGS = Settings.load(analyze_rules(load_rules()))


def same(text: str) -> tuple:
    """The findings of the sparse parse, once they are known to be the full parse's."""
    try:
        full = analyze_text(text, SETTINGS, sparse=False)
    except SyntaxError:
        return ()
    assert analyze_text(text, SETTINGS) == full
    return full


def kept_lines(text: str) -> list[int]:
    code = code_text(text)
    found = SETTINGS.triggers.offsets(code)

    def holds(start: int, end: int) -> bool:
        at = bisect.bisect_left(found, start)
        return at < len(found) and found[at] < end or SETTINGS.triggers.masks(code, start, end)

    sparse = blank(text, code, select(code, holds).kept)
    assert sparse.count("\n") == text.count("\n")
    ast.parse(sparse)
    return [number for number, line in enumerate(sparse.split("\n"), 1) if line.strip()]


def sources() -> list[Path]:
    return sorted([*REPO.glob("examples/**/*.py"), *REPO.glob("tests/data/**/*.py"), *REPO.glob("src/**/*.py")])


@pytest.mark.parametrize("path", sources(), ids=lambda p: str(p.relative_to(REPO)))
def test_the_examples_fixtures_and_sources_find_what_the_full_parse_finds(path: Path) -> None:
    same(path.read_text(encoding="utf-8"))


def test_every_rule_example_finds_what_the_full_parse_finds() -> None:
    checked = 0
    for rule in load_rules(target=None).rules:
        for example in rule.examples:
            if example.before.strip() and "torch" in example.before:
                same(textwrap.dedent(example.before).lstrip("\n"))
                checked += 1
    assert checked > 20


ATTENTION = '''
import math
import torch
import torch.nn.functional as F

CONFIGS = {"a": dict(dim=1,
heads=2), "b": """
def f(x):
    return x.item()
"""}


class Attention(torch.nn.Module):
    """Doc with code at the margin:
x = torch.zeros(3)
y = x.item()
"""
    scale = 2

    def __init__(self, dim):
        super().__init__()
        self.dim = dim

    @property
    def size(self):
        return self.dim

    def forward(self, q, k, v):
        att = (q @ k.transpose(-2, -1)) * (1.0 / math.sqrt(k.size(-1)))
        att = F.softmax(att, dim=-1)
        return att @ v


def unrelated(a, b):
    if a:
        return b
    else:
        return a \\
            + b


def host(x: torch.Tensor) -> float:
    return x.sum().item()
'''


def test_statements_without_a_trigger_are_left_out_and_the_findings_stay() -> None:
    text = ATTENTION.lstrip("\n")
    found = same(text)
    assert sorted(f.rule_id for f in found) == ["fused-attention", "host-sync"]
    kept = kept_lines(text)
    lines = text.split("\n")
    assert all("def unrelated" not in lines[n - 1] and "def size" not in lines[n - 1] for n in kept)
    assert any("def forward" in lines[n - 1] for n in kept) and any("def host" in lines[n - 1] for n in kept)


ITEM = "def g(y: torch.Tensor):\n    return y.item()\n"


@pytest.mark.parametrize("code", [
    # value-flow between the statements of the module scope, and of a class body
    "import torch\nx = torch.randn(3, device='npu')\n\ndef f():\n    pass\n\ny = x.item()\n",
    "import torch\nclass A:\n    x = torch.randn(3, device='npu')\n    def f(self):\n        pass\n    y = x.item()\n",
    # an import inside a function the analysis does not otherwise read binds names for all
    "def g():\n    import torch.nn.functional as F\n\ndef f(a):\n    return F.softmax(a @ a.transpose(-2, -1), -1) @ a\n",
    # a decorator belongs to the scope around its function
    "import torch\nv = torch.randn(3, device='npu')\n@cache(v.item())\ndef f():\n    pass\n",
    # a rotate-half helper of the file's own naming, called from another function
    "import torch\n\ndef rot(x):\n    return torch.stack([-x[..., 1::2], x[..., ::2]], -1)\n\n"
    "def apply(x, cos, sin):\n    return x * cos + rot(x) * sin\n",
    # a mask index spread over lines, nested brackets, a call after a backslash
    # (the file passes the word triage by another function's call)
    "import torch\ndef f(x: torch.Tensor, i):\n    return x[\n        x[i[0]] > 0]\n" + ITEM,
    "import torch\ndef f(x: torch.Tensor):\n    return x.sum().item \\\n        ()\n" + ITEM,
    # windows line ends, tabs, a form feed, semicolons, else and except clauses at the margin
    "import torch\r\ndef f(x: torch.Tensor):\r\n\treturn x.item()\r\n\r\ndef g():\r\n\tpass\r\n",
    "import torch\n\x0c\ndef f(x: torch.Tensor): return x.item(); y = 1\ntry:\n    pass\nexcept E:\n    z = 2\n",
    "import torch\nif torch:\n    def f(x: torch.Tensor):\n        return x.item()\nelse:\n    pass\n",
    # a class whose body is on its header line, and a nested class
    "import torch\nclass A: x = torch.randn(3, device='npu').item()\nclass B:\n    class C:\n        def f(self, x: torch.Tensor):\n            return x.item()\n",
    # strings of every kind around the statement starts
    "import torch\ns = r'''\ndef f(x: torch.Tensor):\n    return x.item()\n'''\nt = b\"#\" ; u = f'{1}'\n",
    "import torch\n# def f(x: torch.Tensor):\ndef g(x: torch.Tensor):  # ''' not a string\n    return x.item()\n",
])
def test_shapes_that_decide_where_a_statement_ends(code: str) -> None:
    assert same(code) or "r'''" in code  # each finds something, but the one whose code is a string


def test_a_file_the_split_cannot_read_is_parsed_whole() -> None:
    assert same("import torch\r\ndef f(x: torch.Tensor):\r    return x.item()\r") == \
        analyze_text("import torch\r\ndef f(x: torch.Tensor):\r    return x.item()\r", SETTINGS, sparse=False)
    with pytest.raises(SyntaxError):
        analyze_text("import torch\ndef f(x: torch.Tensor):\n    return x.item(\n", SETTINGS)
