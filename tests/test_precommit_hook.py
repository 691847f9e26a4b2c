"""The pre-commit hooks read every kind of file `portkit check .` reads, and nothing else.

pre-commit selects a hook's files with the hook's `files` regex and `types` (its own code, used
here: `Classifier.filenames_for_hook`); `portkit check .` with discovery. On a fixture
repository holding every kind of file portkit knows, and files it must not read, the two sets
are equal."""

from __future__ import annotations

import os
import subprocess
import types
from pathlib import Path

import pytest
from pre_commit.clientlib import load_manifest
from pre_commit.commands.run import Classifier

from portkit import filekinds
from portkit.filekinds import KINDS
from portkit.pipeline.discovery import discover

REPO = Path(__file__).resolve().parents[1]
HOOKS = {hook["id"]: hook for hook in load_manifest(str(REPO / ".pre-commit-hooks.yaml"))}

FIXTURE = {
    "train.py": "import torch\ntorch.cuda.synchronize()\n",
    "scripts/run_train.sh": "export CUDA_VISIBLE_DEVICES=0\n",
    "scripts/job.bash": "echo hi\n",
    ".env": "CUDA_VISIBLE_DEVICES=0\n",
    "deploy/prod.env": "NCCL_DEBUG=INFO\n",
    "Dockerfile": "FROM nvidia/cuda:12.1.0-base-ubuntu22.04\n",
    "docker/Dockerfile.gpu": "FROM pytorch/pytorch:2.1.0-cuda12.1-cudnn8-runtime\n",
    "docker/train.dockerfile": "FROM ubuntu\n",
    "configs/train.yaml": "device: cuda\n",
    "configs/eval.yml": "device: cuda\n",
    "configs/ds_zero2.json": "{}\n",
    "configs/accelerate_config.json": "{}\n",
    ".vscode/launch.json": "{}\n",
    "notebooks/explore.ipynb": '{"cells": [], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}\n',
    "requirements.txt": "torch==2.1.0\n",
    "requirements-dev.txt": "pytest\n",
    "dev_requirements.txt": "pytest\n",
    "environment.yml": "name: x\n",
    "setup.cfg": "[metadata]\nname = x\n",
    "pyproject.toml": "[project]\nname = 'x'\n",
    "csrc/kernel.cu": "__global__ void k() {}\n",
    "csrc/kernel.cuh": "#pragma once\n",
    "csrc/binding.cpp": "#include <torch/extension.h>\n",
    "csrc/ops.cc": "int x;\n",
    "csrc/ops.cxx": "int y;\n",
    # never read
    "README.md": "Runs on cuda.\n",
    "data/labels.json": "{}\n",
    "docs/notes.txt": "cuda\n",
    "Makefile": "all:\n",
    "LICENSE": "MIT\n",
}


@pytest.fixture(scope="module")
def fixture_repo(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("hookrepo")
    for name, text in FIXTURE.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    subprocess.run(["git", "init", "-q", str(root)], check=True)
    subprocess.run(["git", "-C", str(root), "add", "-A"], check=True)
    return root


def hook_files(hook_id: str, root: Path) -> set[str]:
    listed = subprocess.run(["git", "-C", str(root), "ls-files"], check=True, capture_output=True,
                            text=True).stdout.splitlines()
    hook = types.SimpleNamespace(**HOOKS[hook_id])
    cwd = os.getcwd()
    os.chdir(root)  # pre-commit classifies paths relative to the repository root
    try:
        return set(Classifier.from_config(listed, "", "^$").filenames_for_hook(hook))
    finally:
        os.chdir(cwd)


def check_files(root: Path) -> set[str]:
    """The files `portkit check ROOT` reads: discovery, then the file kinds (pipeline/check.py)."""
    found = discover([root], suffixes=filekinds.discovery_suffixes())
    return {f.path.relative_to(root).as_posix() for f in found.files if filekinds.wanted(f.path, [])}


@pytest.mark.parametrize("hook_id", ["portkit-check", "portkit-migrate"])
def test_hook_reads_what_check_reads(fixture_repo, hook_id):
    expected = check_files(fixture_repo)
    assert "train.py" in expected and "README.md" not in expected
    assert hook_files(hook_id, fixture_repo) == expected


def test_fixture_has_every_file_kind():
    from portkit.filekinds import kind_for

    kinds = {kind_for(Path(name)).name for name in FIXTURE if kind_for(Path(name))}
    assert kinds == {kind.name for kind in KINDS}
