"""Which pipeline a file goes through: Python source, notebooks, launch files, dependency
declarations, CUDA sources. Each kind is a function `(text, name, rules, render) -> Migration`
with the same contract as engine.migrate_source (MigrationError for files it cannot handle).

The handlers of the non-Python kinds are imported only when such a file is met.
"""

from __future__ import annotations

import fnmatch
import importlib
import importlib.util
from collections.abc import Callable
from dataclasses import dataclass
from collections.abc import Sequence
from pathlib import Path, PurePath
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from portkit.model import Migration
    from portkit.python.transform import CompiledRules

Handler = Callable[[str, str, "CompiledRules", bool], "Migration"]


@dataclass(frozen=True)
class FileKind:
    name: str
    patterns: tuple[str, ...]  # fnmatch patterns on the file name
    handler: str  # "module:function", imported on first use

    def matches(self, path: PurePath) -> bool:
        return any(fnmatch.fnmatchcase(path.name, pattern) for pattern in self.patterns)

    def load(self) -> Handler:
        module, function = self.handler.split(":")
        return getattr(importlib.import_module(module), function)  # type: ignore[no-any-return]


PYTHON = FileKind("python", ("*.py",), "portkit.filekinds.python:migrate_python")
# C, C++ and CUDA sources: custom operators (cudaops.py)
CUDA_SOURCE_SUFFIXES = (".cu", ".cuh", ".cpp", ".cc", ".cxx")

# The first kind whose patterns match a file name wins, so the specific names come first.
_CANDIDATES: tuple[FileKind, ...] = (
    PYTHON,
    FileKind("notebook", ("*.ipynb",), "portkit.filekinds.notebooks:migrate_notebook"),
    FileKind("dependencies", ("requirements*.txt", "*-requirements.txt", "*_requirements.txt",
                              "environment.yml", "environment.yaml", "setup.cfg", "pyproject.toml"),
             "portkit.filekinds.dependencies:migrate_dependencies"),
    # JSON only where launchers keep their configuration (DeepSpeed, accelerate, VS Code's
    # launch.json): other JSON is data, and reports or baselines are portkit's own
    FileKind("launch", ("*.sh", "*.bash", ".env", "*.env", "Dockerfile", "Dockerfile.*", "*.dockerfile",
                        "*.yaml", "*.yml", "*config*.json", "ds_*.json", "launch.json"),
             "portkit.filekinds.launch:migrate_launch_file"),
    FileKind("cuda-source", tuple(f"*{suffix}" for suffix in CUDA_SOURCE_SUFFIXES), "portkit.filekinds.cudaops:migrate_cuda_source"),
)
# a kind whose handler module is not part of this installation is not offered
KINDS: tuple[FileKind, ...] = tuple(
    k for k in _CANDIDATES if importlib.util.find_spec(k.handler.split(":")[0]) is not None
)


def kind_for(path: PurePath, *, explicit: bool = False) -> FileKind | None:
    """The kind of a file; a file named on the command line with no known kind is Python
    (a script without a suffix, say)."""
    for kind in KINDS:
        if kind.matches(path):
            return kind
    return PYTHON if explicit else None


def discovery_suffixes() -> tuple[str, ...]:
    """Name endings that discovery should collect; kind_for() then filters them exactly."""
    endings = set()
    for kind in KINDS:
        for pattern in kind.patterns:
            endings.add(pattern.rsplit("*", 1)[-1])
    return tuple(sorted(endings))


def wanted(path: Path, given: Sequence[Path]) -> bool:
    """Files found in folders must be of a known kind; files named explicitly always are."""
    explicit = any(not g.is_dir() and (path == g or path.resolve() == g.resolve()) for g in given)
    return kind_for(path, explicit=explicit) is not None
