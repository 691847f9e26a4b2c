"""Project configuration: `[tool.portkit]` in pyproject.toml, or a portkit.toml.

The nearest such file at or above the working folder is used (portkit.toml wins over
pyproject.toml in the same folder). Paths and globs in it are relative to its folder.
Command-line options override it; unknown keys are an error that names the key.

A configuration that cannot be used is never skipped silently: a portkit.toml, or a
pyproject.toml that mentions portkit, that cannot be read or parsed, and a `[tool.portkit]`
value of the wrong type, are a ConfigError naming the file, the line and the reason (the
CLI exits 2 before looking at any code).
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from portkit.model import did_you_mean
from portkit.pipeline.discovery import gitignore_spec


class ConfigError(ValueError):
    """A configuration problem; the message is one line naming the file, the line (where it
    can be told: `FILE: [tool.portkit]: line 3: ...`) and the key."""


@dataclass(frozen=True)
class Config:
    path: Path | None = None  # the file it came from, None for defaults
    include: tuple[str, ...] = ()  # gitignore-style globs; empty = every .py file
    exclude: tuple[str, ...] = ()
    per_file_ignores: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    select: tuple[str, ...] = ()
    ignore: tuple[str, ...] = ()
    extend_select: tuple[str, ...] = ()  # added to `select` (ruff's extend-select)
    extend_ignore: tuple[str, ...] = ()  # added to `ignore`
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


_KEYS = {"include", "exclude", "per-file-ignores", "select", "ignore", "extend-select", "extend-ignore", "target",
         "rules", "baseline", "torch-npu"}


def find_config(start: Path | None = None) -> Path | None:
    directory = (start or Path.cwd()).resolve()
    for folder in (directory, *directory.parents):
        for name in ("portkit.toml", "pyproject.toml"):
            candidate = folder / name
            if candidate.is_file() and (name == "portkit.toml" or _has_tool_section(candidate)):
                return candidate
    return None


def _has_tool_section(pyproject: Path) -> bool:
    """Whether a pyproject.toml configures portkit. One that cannot be read or parsed is an
    error when it mentions portkit at all: skipping it would drop its settings (its excludes:
    files rewritten that should not be) without a word."""
    try:
        data = pyproject.read_bytes()
    except OSError as error:
        raise ConfigError(f"{pyproject}: cannot read: {error.strerror or error}") from None
    if b"portkit" not in data:
        return False  # whatever is wrong with it, it cannot hold portkit's settings
    tool = _parse(pyproject, data).get("tool", {})
    return isinstance(tool, dict) and "portkit" in tool


_TOML_POSITION = re.compile(r"\s*\(at (?:line (\d+), column (\d+)|end of document)\)$")


def _parse(path: Path, data: bytes) -> dict[str, Any]:
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as error:
        line = data.count(b"\n", 0, error.start) + 1
        raise ConfigError(f"{path}: line {line}: not valid TOML: not UTF-8 ({error.reason})") from None
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        message = " ".join(str(getattr(error, "msg", None) or error).split())
        match = _TOML_POSITION.search(message)
        at = match.groups() if match and match.group(1) else (None, None)
        line = getattr(error, "lineno", None) or at[0] or text.count("\n") + 1  # else: at the end
        column = getattr(error, "colno", None) or at[1]
        reason = _TOML_POSITION.sub("", message) or "syntax error"
        where = f"line {line}, column {column}" if column else f"line {line}"
        raise ConfigError(f"{path}: {where}: not valid TOML: {reason}") from None


def _line_of(text: str, key: str, header: str | None) -> int | None:
    """The line that sets `key` (below the table `header`, when given), for error messages."""
    lines = text.splitlines()
    first = 0
    if header is not None:
        dotted = r"\s*\.\s*".join(re.escape(part) for part in header.split("."))
        pattern = re.compile(rf"^\s*\[\s*{dotted}\s*\]")
        first = next((i for i, line in enumerate(lines) if pattern.match(line)), 0)
    name = rf"""(?:[\w."'-]*\.)?["']?{re.escape(key)}["']?"""
    setting = re.compile(rf"^\s*(?:{name}\s*=|\[\s*{name}\s*\])")
    found = next((i for i in range(first, len(lines)) if setting.match(lines[i])), None)
    return None if found is None else found + 1


@dataclass(frozen=True)
class _Where:
    """How errors name the configuration: the file, the table, and the line of a key."""

    path: Path
    text: str
    pyproject: bool

    def __call__(self, key: str | None = None) -> str:
        line = _line_of(self.text, key, "tool.portkit" if self.pyproject else None) if key else None
        where = f"{self.path}: [tool.portkit]" if self.pyproject else str(self.path)
        return f"{where}: line {line}" if line else where


def load_config(path: Path | None) -> Config:
    if path is None:
        return Config()
    try:
        data = path.read_bytes()
    except OSError as error:
        raise ConfigError(f"{path}: cannot read: {error.strerror or error}") from None
    document = _parse(path, data)
    pyproject = path.name == "pyproject.toml"
    where = _Where(path, data.decode("utf-8"), pyproject)
    tool = document.get("tool", {}) if pyproject else {}
    if not isinstance(tool, dict):
        raise ConfigError(f"{_Where(path, where.text, False)('tool')}: [tool] must be a table")
    table = tool.get("portkit", {}) if pyproject else document
    if not isinstance(table, dict):
        raise ConfigError(f"{_Where(path, where.text, False)('portkit')}: [tool.portkit] must be a table")
    unknown = sorted(set(table) - _KEYS)
    if unknown:
        raise ConfigError(f"{where(unknown[0])}: unknown key '{unknown[0]}'{did_you_mean(unknown[0], _KEYS)} "
                          f"(known: {', '.join(sorted(_KEYS))})")
    base = path.parent
    per_file = table.get("per-file-ignores", {})
    if not isinstance(per_file, dict) or not all(_is_strings(v) for v in per_file.values()):
        raise ConfigError(f"{where('per-file-ignores')}: 'per-file-ignores' must map globs to lists of rule ids")
    baseline = _string(table, "baseline", where)
    return Config(
        path=path,
        include=_strings(table, "include", where),
        exclude=_strings(table, "exclude", where),
        per_file_ignores={k: tuple(v) for k, v in per_file.items()},
        select=_strings(table, "select", where),
        ignore=_strings(table, "ignore", where),
        extend_select=_strings(table, "extend-select", where),
        extend_ignore=_strings(table, "extend-ignore", where),
        target=_choice(table, "target", where, _targets),
        rules=tuple(base / p for p in _strings(table, "rules", where)),
        baseline=base / baseline if baseline else None,
        torch_npu=_choice(table, "torch-npu", where, _npu_versions),
    )


def _targets() -> Collection[str]:
    from portkit.ruleset import TARGETS

    return TARGETS


def _npu_versions() -> Collection[str]:
    from portkit.ruleset.npu_api import available_versions

    return available_versions()


def _is_strings(value: Any) -> bool:
    return isinstance(value, list) and all(isinstance(v, str) for v in value)


def _strings(table: Mapping[str, Any], key: str, where: _Where) -> tuple[str, ...]:
    value = table.get(key, [])
    if not _is_strings(value):
        raise ConfigError(f"{where(key)}: '{key}' must be a list of strings")
    return tuple(value)


def _string(table: Mapping[str, Any], key: str, where: _Where) -> str | None:
    value = table.get(key)
    if value is not None and not isinstance(value, str):
        raise ConfigError(f"{where(key)}: '{key}' must be a string")
    return value


def _choice(table: Mapping[str, Any], key: str, where: _Where, known: Callable[[], Collection[str]]) -> str | None:
    """A string that must be one of `known()` (asked only when the key is set)."""
    value = _string(table, key, where)
    if value is not None and value not in (choices := known()):
        raise ConfigError(f"{where(key)}: unknown {key} '{value}'{did_you_mean(str(value), choices)} "
                          f"(known: {', '.join(sorted(choices))})")
    return value
