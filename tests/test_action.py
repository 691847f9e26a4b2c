"""The composite GitHub Action (action.yml at the repository root) and its documentation.

The action is read as GitHub reads it (YAML, the keys a composite action needs), every input
must reach a step and every input a step names must be declared, no `${{ }}` is spliced into a
shell script (inputs travel in environment variables), docs/ci.md's example and inputs table
match it, and its two shell steps are run here with bash: the install step against a stand-in
`python` that records what it was asked, the check step against a real project.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from conftest import REPO, write

ACTION = REPO / "action.yml"
CI_DOC = REPO / "docs" / "ci.md"
INPUT_REFERENCE = re.compile(r"\$\{\{\s*inputs\.([A-Za-z0-9_-]+)\s*\}\}")
SMALL = 'import torch\nx = torch.device("cuda")\ntorch.backends.cudnn.benchmark = True\n'


@pytest.fixture(scope="module")
def action() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load(ACTION.read_text(encoding="utf-8"))
    return loaded


def steps(action: dict[str, Any]) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = action["runs"]["steps"]
    return found


def step(action: dict[str, Any], name: str) -> dict[str, Any]:
    [found] = [s for s in steps(action) if s.get("name") == name]
    return found


def test_the_action_has_what_github_requires(action: dict[str, Any]) -> None:
    assert {"name", "description", "runs"} <= set(action)
    assert action["runs"]["using"] == "composite"
    assert set(action["branding"]) == {"icon", "color"}
    for entry in steps(action):
        assert ("run" in entry) != ("uses" in entry), entry  # one or the other
        if "run" in entry:
            assert entry["shell"] == "bash"  # composite run steps must name their shell
        else:
            assert re.fullmatch(r"[\w-]+/[\w-]+@v\d+", entry["uses"]), entry["uses"]
    for name, spec in action["inputs"].items():
        assert re.fullmatch(r"[a-z][a-z-]*", name), name
        assert spec["description"] and spec["required"] is False and isinstance(spec["default"], str), name


def test_every_input_is_used_and_every_used_input_declared(action: dict[str, Any]) -> None:
    used = set(INPUT_REFERENCE.findall(yaml.safe_dump(action["runs"])))
    assert used == set(action["inputs"])


def test_no_expression_is_spliced_into_a_script(action: dict[str, Any]) -> None:
    """A path or argument with `"; rm -rf ~` in it stays data: inputs reach scripts through env."""
    for entry in steps(action):
        assert "${{" not in entry.get("run", ""), entry["name"]


def _run_step(action: dict[str, Any], name: str, inputs: dict[str, str], cwd: Path,
              path: str) -> subprocess.CompletedProcess[str]:
    """One `run` step with bash, its env resolved as GitHub would from `inputs` (defaults filled in)."""
    values = {key: spec["default"] for key, spec in action["inputs"].items()} | inputs
    entry = step(action, name)
    env = {key: INPUT_REFERENCE.sub(lambda m: values[m.group(1)], value).replace(
        "${{ github.action_path }}", str(REPO)) for key, value in entry.get("env", {}).items()}
    bash = shutil.which("bash")
    assert bash is not None, "bash is needed to run the action's steps"
    return subprocess.run([bash, "--noprofile", "--norc", "-eo", "pipefail", "-c", entry["run"]], cwd=cwd,
                          env={**os.environ, "PATH": path, **env}, capture_output=True, text=True, check=False)


def _fake_python(folder: Path) -> Path:
    """A `python` that writes its arguments, one per line, to calls.txt."""
    log = folder / "calls.txt"
    write(folder / "bin" / "python", f'#!/bin/sh\nprintf "%s\\n" "$@" >> "{log}"\n', mode=0o755)
    return log


@pytest.mark.parametrize(("version", "installs"), [("", str(REPO)), ("0.1.0", "portkit==0.1.0")])
def test_install_step(action: dict[str, Any], tmp_path: Path, version: str, installs: str) -> None:
    log = _fake_python(tmp_path)
    done = _run_step(action, "Install portkit", {"version": version}, tmp_path, f"{tmp_path / 'bin'}:/usr/bin:/bin")
    assert done.returncode == 0, done.stderr
    assert log.read_text().splitlines() == ["-m", "pip", "install", "--disable-pip-version-check", "--quiet",
                                             installs]


def test_check_step_passes_every_input(action: dict[str, Any], tmp_path: Path) -> None:
    log = _fake_python(tmp_path)
    inputs = {"paths": "src *.py", "severity": "manual", "output-format": "sarif", "output-file": "my out.sarif",
              "args": "--exit-zero --baseline b.json"}
    done = _run_step(action, "portkit check", inputs, tmp_path, f"{tmp_path / 'bin'}:/usr/bin:/bin")
    assert done.returncode == 0, done.stderr
    assert log.read_text().splitlines() == [
        "-m", "portkit", "check", "src", "*.py", "--severity", "manual", "--output-format", "sarif",
        "--output-file", "my out.sarif", "--exit-zero", "--baseline", "b.json"]  # the glob stays a glob


def test_check_step_runs_portkit(action: dict[str, Any], tmp_path: Path) -> None:
    """With the defaults, on a project with findings: annotations and exit 1 (the job fails)."""
    project = tmp_path / "project"
    write(project / "portkit.toml", "")
    write(project / "train.py", SMALL)
    write(tmp_path / "bin" / "python", f'#!/bin/sh\nexec "{sys.executable}" "$@"\n', mode=0o755)
    done = _run_step(action, "portkit check", {}, project, f"{tmp_path / 'bin'}:{os.environ['PATH']}")
    assert done.returncode == 1, done.stderr
    assert "::error file=train.py,line=3" in done.stdout and "::warning file=train.py,line=2" in done.stdout
    sarif = _run_step(action, "portkit check", {"output-format": "sarif", "output-file": "p.sarif",
                                                 "severity": "manual", "args": "--exit-zero"},
                      project, f"{tmp_path / 'bin'}:{os.environ['PATH']}")
    assert sarif.returncode == 0 and sarif.stdout == "", sarif.stderr
    assert '"ruleId": "cudnn-flags"' in (project / "p.sarif").read_text(encoding="utf-8")


# --- docs/ci.md ---------------------------------------------------------------------------------


def _workflows() -> list[dict[str, Any]]:
    text = CI_DOC.read_text(encoding="utf-8")
    return [yaml.safe_load(block) for block in re.findall(r"^```yaml\n(.*?)^```$", text, flags=re.S | re.M)
            if block.startswith("# .github/workflows/")]


def test_the_docs_use_the_action_with_inputs_it_has(action: dict[str, Any]) -> None:
    uses = [entry for workflow in _workflows() for job in workflow["jobs"].values() for entry in job["steps"]
            if entry.get("uses", "").startswith("<owner>/portkit@")]
    assert len(uses) >= 2  # annotations and code scanning
    for entry in uses:
        assert set(entry.get("with", {})) <= set(action["inputs"]), entry
    scanning = [entry for entry in uses if entry["with"].get("output-format") == "sarif"]
    assert scanning and all(entry["with"]["severity"] == "manual" for entry in scanning)


def test_the_docs_table_lists_every_input_with_its_default(action: dict[str, Any]) -> None:
    text = CI_DOC.read_text(encoding="utf-8")
    table = text[text.index("| input | default | meaning |"):].split("\n\n", 1)[0]
    rows = dict(re.findall(r"^\| `([a-z-]+)` \| ([^|]+) \|", table, flags=re.M))
    inputs = {name: spec["default"] for name, spec in action["inputs"].items()}
    assert set(rows) == set(inputs)
    for name, default in inputs.items():
        shown = rows[name].strip()
        assert shown == f"`{default}`" if default else shown.startswith("("), (name, shown)


def test_code_scanning_uploads_with_v4() -> None:
    uploads = [entry["uses"] for workflow in _workflows() for job in workflow["jobs"].values()
               for entry in job["steps"] if "upload-sarif" in entry.get("uses", "")]
    assert uploads == ["github/codeql-action/upload-sarif@v4"]
