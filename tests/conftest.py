"""Shared helpers for the end-to-end tests: copies of the examples, the CLI, git.

Nothing here is autouse: tests that do not ask for a fixture are not affected.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from types import ModuleType

import pytest
from click.testing import CliRunner, Result

from portkit.cli import main

REPO = Path(__file__).resolve().parents[1]
EXAMPLES = REPO / "examples"
EXAMPLE_NAMES = sorted(p.name for p in EXAMPLES.iterdir() if (p / "original").is_dir())

GIT_ENV = {
    "GIT_AUTHOR_NAME": "Test",
    "GIT_AUTHOR_EMAIL": "test@example.com",
    "GIT_COMMITTER_NAME": "Test",
    "GIT_COMMITTER_EMAIL": "test@example.com",
    "GIT_CONFIG_GLOBAL": os.devnull,  # keep the user's hooks, signing and excludesFile out
    "GIT_CONFIG_NOSYSTEM": "1",
}

Cli = Callable[..., Result]

# a rule of the user's own, with examples (portkit rules test, --rules)
USER_RULE = '''
[[rule]]
id = "my-stream"
kind = "rename-attribute"
summary = "dev.cuda_stream() becomes dev.npu_stream()"
why = "A made-up API for the tests."
safety = "review"
old = "cuda_stream"
new = "npu_stream"
call = true

[[rule.examples]]
before = """
s = dev.cuda_stream()
"""
after = """
s = dev.npu_stream()
"""

[[rule.examples]]
before = """
s = dev.cuda_stream
"""
'''
# the second example claims a call is left alone: it is not


def example_tree(dest: Path, which: str = "original") -> Path:
    """dest/<example>/... holding every example's `original` (or `ported`) files."""
    for name in EXAMPLE_NAMES:
        shutil.copytree(EXAMPLES / name / which, dest / name)
    return dest


def snapshot(root: Path) -> dict[str, bytes]:
    """Every regular file under `root` (outside .git): relative POSIX path -> content."""
    return {
        path.relative_to(root).as_posix(): path.read_bytes()
        for path in sorted(root.rglob("*"))
        if path.is_file() and not path.is_symlink() and ".git" not in path.relative_to(root).parts
    }


def write(path: Path, data: bytes | str, mode: int | None = None) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data.encode("utf-8") if isinstance(data, str) else data)
    if mode is not None:
        path.chmod(mode)
    return path


def git(repo: Path, *args: str) -> str:
    done = subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True, text=True,
                          env={**os.environ, **GIT_ENV})
    return done.stdout


def run_portkit(*args: object, cwd: Path, prefix: tuple[str, ...] = ()) -> subprocess.CompletedProcess[bytes]:
    """portkit in a real process (`python -m portkit`), output kept as bytes."""
    command = [*prefix, sys.executable, "-m", "portkit", *map(str, args)]
    return subprocess.run(command, cwd=cwd, capture_output=True, check=False, timeout=120)


def invoke_cli(*args: object, cwd: Path) -> Result:
    """The click CLI in-process, run from `cwd` (report paths are relative to it)."""
    before = os.getcwd()
    os.chdir(cwd)
    try:
        return CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)
    finally:
        os.chdir(before)


@pytest.fixture
def cli(tmp_path: Path) -> Cli:
    """invoke_cli from `tmp_path` unless `cwd=` says otherwise."""

    def invoke(*args: object, cwd: Path | None = None) -> Result:
        return invoke_cli(*args, cwd=cwd or tmp_path)

    return invoke


def golden_for(original: Path) -> Path | None:
    """A fixture's reviewed output: <data>/ported/<name> next to <data>/original/<name>;
    None when the fixture must come back byte-identical."""
    golden = original.parent.parent / "ported" / original.name
    return golden if golden.exists() else None


def assert_matches_golden(new_text: str | None, original: Path) -> None:
    golden = golden_for(original)
    if golden is not None:
        assert new_text == golden.read_text(encoding="utf-8")
    else:
        assert new_text is None, f"{original.name} must come back byte-identical"


def load_script(name: str) -> ModuleType:
    """A script of scripts/ as a module, for tests that re-derive its data."""
    spec = importlib.util.spec_from_file_location(name, REPO / "scripts" / f"{name}.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
