"""Project configuration: `[tool.portkit]` in pyproject.toml, or a portkit.toml.

The nearest such file at or above the working folder is used (portkit.toml wins over
pyproject.toml in the same folder). Paths and globs in it are relative to its folder.
Command-line options override it; unknown keys are an error that names the key.
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from portkit.pipeline.discovery import gitignore_spec


class ConfigError(ValueError):
    """A configuration problem; the message is one line naming the file and the key."""


@dataclass(frozen=True)
class Config:
    path: Path | None = None  # the file it came from, None for defaults
    include: tuple[str, ...] = ()  # gitignore-style globs; empty = every .py file
    exclude: tuple[str, ...] = ()
    per_file_ignores: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    select: tuple[str, ...] = ()
    ignore: tuple[str, ...] = ()
    target: str | None = None
    rules: tuple[Path, ...] = ()  # extra rule folders, resolved against the config's folder
    baseline: Path | None = None
    torch_npu: str | None = None  # the torch_npu release to port to

    @property
    def base(self) -> Path:
        return self.path.parent if self.path is not None else Path.cwd()

    def relative(self, file: Path) -> str | None:
        """`file` relative to the config's folder (posix), or None when it lies outside."""
        try:
            return file.resolve().relative_to(self.base.resolve()).as_posix()
        except ValueError:
            return None

    def included(self, file: Path) -> bool:
        if not self.include:
            return True
        relative = self.relative(file)
        return relative is None or gitignore_spec(self.include).match_file(relative)

    def excluded(self, file: Path) -> bool:
        """Matched against the path relative to the config's folder, wherever portkit runs."""
        relative = self.relative(file)
        return bool(self.exclude) and relative is not None and (
            gitignore_spec(self.exclude).match_file(relative))

    def selects(self, file: Path) -> bool:
        return self.included(file) and not self.excluded(file)

    def ignored_rules(self, file: Path) -> set[str]:
        relative = self.relative(file)
        if relative is None:
            return set()
        ignored: set[str] = set()
        for pattern, ids in self.per_file_ignores.items():
            if gitignore_spec([pattern]).match_file(relative):
                ignored.update(ids)
        return ignored


_KEYS = {"include", "exclude", "per-file-ignores", "select", "ignore", "target", "rules", "baseline", "torch-npu"}


def find_config(start: Path | None = None) -> Path | None:
    directory = (start or Path.cwd()).resolve()
    for folder in (directory, *directory.parents):
        for name in ("portkit.toml", "pyproject.toml"):
            candidate = folder / name
            if candidate.is_file() and (name == "portkit.toml" or _has_tool_section(candidate)):
                return candidate
    return None


def _has_tool_section(pyproject: Path) -> bool:
    try:
        return "portkit" in tomllib.loads(pyproject.read_text(encoding="utf-8")).get("tool", {})
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError):
        return False


def load_config(path: Path | None) -> Config:
    if path is None:
        return Config()
    try:
        document = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as error:
        raise ConfigError(f"{path}: cannot read: {error}") from None
    except tomllib.TOMLDecodeError as error:
        raise ConfigError(f"{path}: not valid TOML: {error}") from None
    table = document.get("tool", {}).get("portkit", {}) if path.name == "pyproject.toml" else document
    where = f"{path}: [tool.portkit]" if path.name == "pyproject.toml" else str(path)
    if not isinstance(table, dict):
        raise ConfigError(f"{where} must be a table")
    unknown = sorted(set(table) - _KEYS)
    if unknown:
        raise ConfigError(f"{where}: unknown key '{unknown[0]}' (known: {', '.join(sorted(_KEYS))})")
    base = path.parent
    per_file = table.get("per-file-ignores", {})
    if not isinstance(per_file, dict) or not all(_is_strings(v) for v in per_file.values()):
        raise ConfigError(f"{where}: 'per-file-ignores' must map globs to lists of rule ids")
    baseline = _string(table, "baseline", where)
    return Config(
        path=path,
        include=_strings(table, "include", where),
        exclude=_strings(table, "exclude", where),
        per_file_ignores={k: tuple(v) for k, v in per_file.items()},
        select=_strings(table, "select", where),
        ignore=_strings(table, "ignore", where),
        target=_string(table, "target", where),
        rules=tuple(base / p for p in _strings(table, "rules", where)),
        baseline=base / baseline if baseline else None,
        torch_npu=_string(table, "torch-npu", where),
    )


def _is_strings(value: Any) -> bool:
    return isinstance(value, list) and all(isinstance(v, str) for v in value)


def _strings(table: Mapping[str, Any], key: str, where: str) -> tuple[str, ...]:
    value = table.get(key, [])
    if not _is_strings(value):
        raise ConfigError(f"{where}: '{key}' must be a list of strings")
    return tuple(value)


def _string(table: Mapping[str, Any], key: str, where: str) -> str | None:
    value = table.get(key)
    if value is not None and not isinstance(value, str):
        raise ConfigError(f"{where}: '{key}' must be a string")
    return value
