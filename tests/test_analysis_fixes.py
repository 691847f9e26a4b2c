"""The review fix of fused-rmsnorm (python/analysis/fixes.py): offered only where the replacement
is mechanical, applied only by `portkit analyze --fix`, shown by `--diff`; the code it writes
parses, imports torch_npu once, and a second run changes nothing."""

from __future__ import annotations

import ast
import textwrap
from pathlib import Path

from click.testing import CliRunner

from portkit.cli import main
from portkit.pipeline.analyze import analyze_rules
from portkit.python.analysis import Settings, analyze
from portkit.ruleset import load_rules

SETTINGS = Settings.load(analyze_rules(load_rules()))

NORM = textwrap.dedent('''
    import torch
    from torch import nn

    class RMSNorm(nn.Module):
        def __init__(self, dim, eps=1e-6):
            super().__init__()
            self.eps = eps
            self.weight = nn.Parameter(torch.ones(dim))

        def forward(self, x):
            return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps) * self.weight  # portkit: ignore[host-sync]
''').lstrip()


def test_the_fix_parses_imports_torch_npu_once_and_is_idempotent() -> None:
    first = analyze(NORM, SETTINGS)
    assert "Review fix (portkit analyze --fix)" in first.findings[0].message
    fixed = first.fixed(NORM)
    assert fixed is not None
    ast.parse(fixed)
    assert fixed.count("import torch_npu") == 1
    assert "torch_npu.npu_rms_norm(x, self.weight, epsilon=self.eps)[0]  # portkit" in fixed
    again = analyze(fixed, SETTINGS)
    assert again.edits == () and again.fixed(fixed) is None


def test_windows_line_ends_stay_and_an_existing_import_is_reused() -> None:
    text = NORM.replace("import torch\n", "import torch\nimport torch_npu\n").replace("\n", "\r\n")
    fixed = analyze(text, SETTINGS).fixed(text)
    assert fixed is not None and fixed.count("import torch_npu") == 1 and "\n" not in fixed.replace("\r\n", "")


def test_no_fix_where_the_name_torch_npu_means_something_else_or_the_weight_is_reassigned() -> None:
    taken = NORM.replace("import torch\n", "import torch\ntorch_npu = None\n")
    assert analyze(taken, SETTINGS).edits == ()
    reassigned = NORM + "\n    def reset(self):\n        self.weight = nn.Parameter(torch.zeros(3))\n"
    assert analyze(reassigned, SETTINGS).edits == ()


def test_diff_shows_the_fix_and_fix_writes_it_only_when_asked(tmp_path: Path) -> None:
    path = tmp_path / "norm.py"
    path.write_text(NORM)
    runner = CliRunner()
    plain = runner.invoke(main, ["analyze", str(tmp_path), "--no-config", "-j", "1"])
    assert plain.exit_code == 1 and path.read_text() == NORM
    shown = runner.invoke(main, ["analyze", str(tmp_path), "--no-config", "-j", "1", "--diff"])
    assert "+import torch_npu" in shown.output and path.read_text() == NORM
    written = runner.invoke(main, ["analyze", str(tmp_path), "--no-config", "-j", "1", "--fix", "--allow-dirty"])
    assert written.exit_code == 0, written.output
    assert path.read_text() == analyze(NORM, SETTINGS).fixed(NORM)
    assert runner.invoke(main, ["analyze", str(tmp_path), "--no-config", "-j", "1", "--diff"]).output.count("+++") == 0


def test_a_suppressed_finding_is_not_fixed(tmp_path: Path) -> None:
    path = tmp_path / "norm.py"
    path.write_text(NORM.replace("ignore[host-sync]", "ignore[fused-rmsnorm]"))
    runner = CliRunner()
    result = runner.invoke(main, ["analyze", str(tmp_path), "--no-config", "-j", "1", "--fix", "--allow-dirty"])
    assert result.exit_code == 0 and "torch_npu" not in path.read_text()
