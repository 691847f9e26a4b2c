"""--strategy shim: the runtime switch at entry points only, and a report of its blind spots."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from conftest import EXAMPLES, invoke_cli, write
from portkit.python import shim

REPO = Path(__file__).resolve().parents[1]
MAIN = 'import torch\n\ndef main():\n    pass\n\nif __name__ == "__main__":\n    main()\n'
LIBRARY = 'import torch\n\ndef helper(x):\n    return x.cuda() if x.device.type == "cuda" else x\n'


def test_main_scripts_are_entry_points():
    assert shim.is_main_script(MAIN)
    assert not shim.is_main_script(LIBRARY)
    assert not shim.is_main_script('s = """\nif __name__ == "__main__":\n"""\n')  # inside a string


def test_console_scripts_are_entry_points(tmp_path: Path):
    write(tmp_path / "pyproject.toml", '[project]\nname = "p"\n[project.scripts]\ntrain = "pkg.cli:main"\n')
    write(tmp_path / "setup.py", 'from setuptools import setup\n'
          'setup(entry_points={"console_scripts": ["evaluate = pkg.evaluate:run"]})\n')
    cli = write(tmp_path / "pkg" / "cli.py", LIBRARY)
    evaluate = write(tmp_path / "pkg" / "evaluate.py", LIBRARY)
    other = write(tmp_path / "pkg" / "other.py", LIBRARY)
    found = shim.entry_points([tmp_path], [cli, evaluate, other], [])
    assert found == {cli.resolve(), evaluate.resolve()}


def test_switch_goes_after_the_first_torch_import_once():
    new, change = shim.insert_switch('"""Doc."""\nimport os\nimport torch\nimport torch.nn as nn\n')
    assert new == ('"""Doc."""\nimport os\nimport torch\nimport torch_npu\n'
                   'from torch_npu.contrib import transfer_to_npu\nimport torch.nn as nn\n')
    assert (change.rule_id, change.span.line, change.span.end_line) == ("shim-entry", 4, 5)
    assert shim.insert_switch(new) is None  # idempotent
    again, _ = shim.insert_switch("import torch\nimport torch_npu\n")
    assert again.count("import torch_npu\n") == 1


def test_shim_changes_only_entry_points_and_reports_blind_spots(tmp_path: Path):
    write(tmp_path / "portkit.toml", "")
    write(tmp_path / "train.py", MAIN)
    write(tmp_path / "lib.py", LIBRARY)
    write(tmp_path / "tool.py", "import torch\n")
    result = invoke_cli("migrate", "--strategy", "shim", "--entry", "tool.py", "--allow-dirty",
                        "--report", "r.json", ".", cwd=tmp_path)
    assert result.exit_code == 0, result.output
    assert "from torch_npu.contrib import transfer_to_npu" in (tmp_path / "train.py").read_text()
    assert "transfer_to_npu" in (tmp_path / "tool.py").read_text()
    assert (tmp_path / "lib.py").read_text() == LIBRARY  # not an entry point: untouched
    report = json.loads((tmp_path / "r.json").read_text())
    items = {m["rule"] for f in report["files"] for m in f["manual_items"]}
    assert items == {"shim-device-comparison"}
    again = invoke_cli("migrate", "--strategy", "shim", "--entry", "tool.py", "--allow-dirty", ".", cwd=tmp_path)
    assert "0 changed" in again.output


def test_entry_needs_the_shim_strategy(tmp_path: Path):
    write(tmp_path / "a.py", MAIN)
    result = invoke_cli("migrate", "--entry", "a.py", "a.py", cwd=tmp_path)
    assert result.exit_code == 2


def test_the_shimmed_example_still_runs_on_the_cpu(tmp_path: Path):
    src = tmp_path / "mnist"
    out = tmp_path / "shimmed"
    import shutil

    shutil.copytree(EXAMPLES / "mnist" / "original", src)
    result = invoke_cli("migrate", "--strategy", "shim", "--no-config", str(src), "--output", str(out), cwd=tmp_path)
    assert result.exit_code == 0, result.output
    text = (out / "train.py").read_text()
    assert "from torch_npu.contrib import transfer_to_npu" in text

    def run(script: Path, stub: bool) -> str:
        env = {"PATH": "/usr/bin:/bin", "OMP_NUM_THREADS": "1"}
        if stub:
            env["PYTHONPATH"] = str(REPO / "tests" / "npu_stub")
        done = subprocess.run([sys.executable, str(script), "--steps", "3", "--epochs", "1"],
                              capture_output=True, text=True, env=env, cwd=tmp_path, timeout=300)
        assert done.returncode == 0, done.stderr
        return next(line for line in done.stdout.splitlines() if line.startswith("RESULT"))

    assert run(out / "train.py", stub=True) == run(src / "train.py", stub=False)
