"""Structured configs, one tree for YAML (PyYAML node marks) and JSON (a position-keeping scanner
that also accepts JSONC): the keys of environment mappings, k8s `name:` entries, docker-compose
`NAME=value` items, and shell in `run`/`script`/`command`/`args` values."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from json.decoder import scanstring  # type: ignore[attr-defined]  # the stdlib's (C) string scanner
from typing import Any

from portkit.model import MigrationError
from portkit.filekinds.launch.common import GPU_IDS, NAME, VISIBLE_DEVICES, Collector, line_end
from portkit.filekinds.launch.shell import ShellScanner, scan_shell


@dataclass(eq=False)
class Node:
    kind: str  # "map" | "seq" | "str" | "other"
    start: int  # offsets of the node's text (a string's quotes included)
    end: int
    value: Any = None  # str for "str" and "other" (the scalar as text)
    items: list[Any] = field(default_factory=list)  # map: (key Node, value Node); seq: Node
    content: int = -1  # where a scalar's characters start (after a block scalar's header line)

    def get(self, key: str) -> Node | None:
        for k, v in self.items if self.kind == "map" else ():
            if k.kind == "str" and k.value == key:
                return v  # type: ignore[no-any-return]
        return None


class JsonScanner:
    """JSON with positions; also accepts JSONC (comments, trailing commas), as editors write it."""

    _NUMBER = re.compile(r"-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][-+]?\d+)?|true|false|null")

    def __init__(self, text: str, end: int | None = None) -> None:
        self.text = text
        self.end = len(text) if end is None else end

    def fail(self, pos: int, problem: str) -> MigrationError:
        line = self.text.count("\n", 0, pos) + 1
        column = pos - (self.text.rfind("\n", 0, pos) + 1) + 1
        return MigrationError(f"not valid JSON at line {line}, column {column}: {problem}")

    def skip(self, pos: int) -> int:
        text, end = self.text, self.end
        while pos < end:
            ch = text[pos]
            if ch in " \t\r\n\ufeff":
                pos += 1
            elif text.startswith("//", pos):
                pos = line_end(text, pos)
            elif text.startswith("/*", pos):
                close = text.find("*/", pos + 2, end)
                if close < 0:
                    raise self.fail(pos, "unterminated comment")
                pos = close + 2
            else:
                break
        return pos

    def document(self) -> Node:
        try:
            node, pos = self.value(self.skip(0))
        except RecursionError:
            raise MigrationError("JSON nested too deeply") from None
        if self.skip(pos) != self.end:
            raise self.fail(self.skip(pos), "extra data after the document")
        return node

    def value(self, pos: int) -> tuple[Node, int]:
        text = self.text
        pos = self.skip(pos)
        if pos >= self.end:
            raise self.fail(pos, "unexpected end of file")
        ch = text[pos]
        if ch == '"':
            try:
                value, end = scanstring(text, pos + 1, False)
            except ValueError as error:
                raise self.fail(pos, str(error).split(":")[0]) from None
            return Node("str", pos, end, value, content=pos), end
        if ch in "{[":
            closer = "}" if ch == "{" else "]"
            node = Node("map" if ch == "{" else "seq", pos, pos)
            at = self.skip(pos + 1)
            while at < self.end and text[at] != closer:
                if ch == "{":
                    key, at = self.value(at)
                    if key.kind != "str":
                        raise self.fail(key.start, "object keys must be strings")
                    at = self.skip(at)
                    if not text.startswith(":", at):
                        raise self.fail(at, "expected ':'")
                    item, at = self.value(at + 1)
                    node.items.append((key, item))
                else:
                    item, at = self.value(at)
                    node.items.append(item)
                at = self.skip(at)
                if text.startswith(",", at):
                    at = self.skip(at + 1)
                elif at < self.end and text[at] != closer:
                    raise self.fail(at, f"expected ',' or '{closer}'")
            if at >= self.end:
                raise self.fail(pos, f"'{ch}' is never closed")
            node.end = at + 1
            return node, at + 1
        match = self._NUMBER.match(text, pos, self.end)
        if match is None:
            raise self.fail(pos, f"unexpected character {ch!r}")
        return Node("other", pos, match.end(), match.group(0), content=pos), match.end()


def parse_json(text: str) -> Node:
    return JsonScanner(text).document()


def yaml_documents(text: str) -> list[Node]:
    try:
        import yaml
    except ImportError:  # pragma: no cover - PyYAML is a dependency
        raise MigrationError("YAML files need PyYAML (pip install pyyaml)") from None
    try:
        documents = list(yaml.compose_all(text, Loader=yaml.SafeLoader))
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        problem = getattr(error, "problem", None) or str(error).splitlines()[0]
        raise MigrationError(f"not valid YAML{where}: {problem}") from None
    except RecursionError:
        raise MigrationError("YAML nested too deeply") from None
    memo: dict[int, Node] = {}

    def convert(node: Any) -> Node:
        if id(node) in memo:
            return memo[id(node)]
        start, end = node.start_mark.index, node.end_mark.index
        if isinstance(node, yaml.ScalarNode):
            content = start
            if node.style in ("|", ">"):
                content = min(line_end(text, start) + 1, end)
            result = Node("str", start, end, node.value, content=content)
            memo[id(node)] = result
            return result
        result = Node("map" if isinstance(node, yaml.MappingNode) else "seq", start, end)
        memo[id(node)] = result
        if isinstance(node, yaml.MappingNode):
            result.items = [(convert(k), convert(v)) for k, v in node.value]
        else:
            result.items = [convert(item) for item in node.value]
        return result

    return [convert(document) for document in documents if document is not None]


def _occurrences(haystack: str, needle: str) -> list[int]:
    found, at = [], haystack.find(needle)
    while at >= 0 and needle:
        found.append(at)
        at = haystack.find(needle, at + len(needle))
    return found


def string_locator(text: str, node: Node) -> Callable[[int, int], int | None]:
    """Map a span of a scalar's decoded value to the same characters in the file: the k-th
    occurrence of those characters in the value is the k-th in the scalar's text, as long as
    both hold the same number of them (escapes and line folding never split a name)."""
    value = node.value if isinstance(node.value, str) else ""
    content = node.content if node.content >= 0 else node.start
    raw = text[content:node.end]

    def locate(start: int, end: int) -> int | None:
        needle = value[start:end]
        in_value = _occurrences(value, needle)
        in_raw = _occurrences(raw, needle)
        if start not in in_value or len(in_value) != len(in_raw):
            return None
        return content + in_raw[in_value.index(start)]

    return locate


def scan_string(text: str, node: Node, c: Collector, how: str, name: str | None = None) -> None:
    """Scan one scalar's value: as a shell script, as `NAME` / `NAME=value`, or for $references."""
    if node.kind not in ("str", "other") or not isinstance(node.value, str):
        return
    value = node.value
    inner = Collector(c.rules)
    if how == "shell":
        scan_shell(value, inner)
    elif how == "name":
        match = NAME.fullmatch(value)
        if match is not None:
            inner.name(0, len(value), value)
    elif how == "item":  # docker-compose `- NAME=value` / `- NAME`
        match = re.match(r"([A-Za-z_][A-Za-z0-9_]*)(=|$)", value)
        if match is not None:
            inner.name(0, match.end(1), match.group(1))
            if match.group(2):
                rest = value[match.end():]
                if match.group(1) in VISIBLE_DEVICES:
                    inner.devices(match.group(1), rest, 0, len(value))
                ShellScanner(value, inner, commands=False).words(match.end(), len(value))
    elif how == "value":  # an environment value: devices check and $references
        if name is not None and name in VISIBLE_DEVICES | {GPU_IDS}:
            inner.devices(name, value, 0, len(value))
        if "$" in value:
            ShellScanner(value, inner, commands=False).words(0, len(value))
    c.merge(inner, string_locator(text, node), node.start)


_ENV_KEYS = frozenset({"env", "environment", "envs", "env_vars", "envvars", "environment_variables",
                       "variables", "extraenv", "extra_env"})
_SHELL_KEYS = frozenset({"run", "script", "before_script", "after_script", "command", "commands",
                         "entrypoint", "args", "cmd", "setup"})


class ConfigWalker:
    """The places of a YAML/JSON config that hold environment variables or shell."""

    def __init__(self, text: str, c: Collector) -> None:
        self.text = text
        self.c = c
        self.seen: set[int] = set()
        self.accelerate = False

    def walk_documents(self, documents: list[Node]) -> None:
        self.accelerate = any(
            d.kind == "map" and (d.get("distributed_type") is not None or d.get("compute_environment") is not None)
            for d in documents
        )
        for document in documents:
            self.walk(document)

    def walk(self, node: Node) -> None:
        if id(node) in self.seen:
            return
        self.seen.add(id(node))
        if node.kind == "map":
            for key, value in node.items:
                word = key.value.lower().replace("-", "_") if key.kind == "str" else ""
                if word in _ENV_KEYS:
                    self.environment(value)
                elif word in _SHELL_KEYS:
                    self.shell(value)
                elif word == GPU_IDS and self.accelerate:
                    scan_string(self.text, value, self.c, "value", GPU_IDS)
                self.walk(value)
        elif node.kind == "seq":
            for item in node.items:
                self.walk(item)

    def environment(self, node: Node) -> None:
        if node.kind == "map":
            for key, value in node.items:
                scan_string(self.text, key, self.c, "name")
                scan_string(self.text, value, self.c, "value", key.value if key.kind == "str" else None)
        elif node.kind == "seq":
            for item in node.items:
                if item.kind == "map" and (name := item.get("name")) is not None:  # k8s: {name, value}
                    scan_string(self.text, name, self.c, "name")
                    if (value := item.get("value")) is not None:
                        scan_string(self.text, value, self.c, "value", name.value if name.kind == "str" else None)
                elif item.kind == "str":
                    scan_string(self.text, item, self.c, "item")

    def shell(self, node: Node) -> None:
        if node.kind == "str":
            scan_string(self.text, node, self.c, "shell")
        elif node.kind == "seq":
            for item in node.items:
                if item.kind == "str":
                    scan_string(self.text, item, self.c, "shell")


def json_may_matter(text: str) -> bool:
    """A cheap look with the C parser: does the document have a key portkit reads at all?"""
    keys: set[str] = set()

    def hook(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        keys.update(k.lower().replace("-", "_") for k, _ in pairs)
        return {}

    try:
        json.loads(text, object_pairs_hook=hook)
    except (ValueError, RecursionError):
        return True  # JSONC, or broken: the position-keeping scanner decides
    return bool(keys & (_ENV_KEYS | _SHELL_KEYS | {GPU_IDS}))
