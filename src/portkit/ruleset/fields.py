"""Typed access to the TOML tables of a rule file, with errors that name file, rule and key."""

from __future__ import annotations

import ast
import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from portkit.ruleset.rule import QUALIFIED_NAME, RuleError


class Fields:
    """Typed access to one TOML table, raising RuleError that names file, rule and key."""

    def __init__(self, table: Mapping[str, Any], where: str) -> None:
        self.table = table
        self.where = where

    def fail(self, problem: str) -> RuleError:
        return RuleError(f"{self.where}: {problem}")

    def check_keys(self, allowed: set[str]) -> None:
        unknown = sorted(set(self.table) - allowed)
        if unknown:
            raise self.fail(f"unknown key '{unknown[0]}' (allowed: {', '.join(sorted(allowed))})")

    def get(self, key: str, kind: type | tuple[type, ...], default: Any = ...) -> Any:
        if key not in self.table:
            if default is ...:
                raise self.fail(f"missing key '{key}'")
            return default
        value = self.table[key]
        if not isinstance(value, kind) or (isinstance(value, bool) and bool not in _as_tuple(kind)):
            raise self.fail(f"'{key}' must be {_type_name(kind)}, not {type(value).__name__}")
        return value

    def strings(self, key: str, default: Sequence[str] = ()) -> tuple[str, ...]:
        value = self.get(key, list, list(default))
        if not all(isinstance(item, str) for item in value):
            raise self.fail(f"'{key}' must be a list of strings")
        return tuple(value)

    def string_map(self, key: str) -> dict[str, str]:
        value = self.get(key, dict, {})
        if not all(isinstance(v, str) for v in value.values()):
            raise self.fail(f"'{key}' must map strings to strings")
        return dict(value)

    def qualified_names(self, key: str, values: Iterable[str]) -> None:
        for name in values:
            if not QUALIFIED_NAME.match(name):
                raise self.fail(f"'{key}': '{name}' is not a dotted Python name")

    def expressions(self, key: str, values: Iterable[str]) -> None:
        """Python expressions portkit writes into code: they must parse, and use one kind of
        quote and no backslash, so they can also go inside an f-string's braces."""
        for source in values:
            try:
                ast.parse(source, mode="eval")
            except SyntaxError:
                raise self.fail(f"'{key}': '{source}' is not a Python expression") from None
            if "\\" in source or ('"' in source and "'" in source):
                raise self.fail(f"'{key}': '{source}' must use one kind of quote and no backslash")

    def pattern(self, key: str) -> re.Pattern[str] | None:
        source = self.get(key, str, None)
        if source is None:
            return None
        try:
            return re.compile(source)
        except re.error as error:
            raise self.fail(f"'{key}' is not a valid regular expression: {error}") from None


def _as_tuple(kind: type | tuple[type, ...]) -> tuple[type, ...]:
    return kind if isinstance(kind, tuple) else (kind,)


def _type_name(kind: type | tuple[type, ...]) -> str:
    names = {str: "a string", bool: "true or false", int: "an integer", list: "a list",
             dict: "a table"}
    return " or ".join(names.get(k, k.__name__) for k in _as_tuple(kind))
