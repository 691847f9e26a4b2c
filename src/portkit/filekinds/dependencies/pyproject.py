"""pyproject.toml: the requirement arrays of PEP 621, PEP 735, uv and PDM, Poetry's dependency
tables, and CUDA index URLs anywhere. A small TOML reader (`_Toml`) knows where every string
and key is written, so a fix edits the original text in place."""

from __future__ import annotations

import re
import tomllib
from collections.abc import Callable
from dataclasses import dataclass

from packaging.utils import canonicalize_name

from portkit.filekinds.dependencies.common import (
    CUDA_URL, TORCH_NPU, URL, Dep, Edit, Found, Text, Url, line_style_dep, parse_requirement, plain_dep,
    split_version,
)
from portkit.model import MigrationError


@dataclass(frozen=True)
class _TomlString:
    path: tuple[str, ...]  # table and key path (array elements share their array's path)
    value: str
    start: int  # the literal, quotes included
    end: int
    simple: bool  # one line, no escapes: value == text[start + 1:end - 1]


@dataclass(frozen=True)
class _TomlKey:
    path: tuple[str, ...]
    start: int  # the last component of the key as written
    end: int
    value_end: int  # where its value ends (== start for a table header)


class _TomlError(Exception):
    pass


class _Toml:
    """Just enough of a TOML reader to know where each string and key is; tomllib has already
    checked the document, so this one can be lenient."""

    _BARE = re.compile(r"[A-Za-z0-9_-]+")
    _SCALAR = re.compile(r"[^,\]}\s#]+(?:[ T][0-9:.+\-Z]+)?")  # number, boolean, date

    def __init__(self, text: str) -> None:
        self.text, self.i = text, 0
        self.strings: list[_TomlString] = []
        self.keys: list[_TomlKey] = []
        self._document()

    def _document(self) -> None:
        table: tuple[str, ...] = ()
        while True:
            self._skip(newlines=True)
            if self.i >= len(self.text):
                return
            before = self.i
            if self.text.startswith("[[", self.i):
                table = self._header("]]")
            elif self.text[self.i] == "[":
                table = self._header("]")
            else:
                self._pair(table)
            if self.i == before:
                raise _TomlError(f"unexpected character at offset {self.i}")

    def _header(self, close: str) -> tuple[str, ...]:
        """A `[table]` or `[[array of tables]]` header (`close` is its closing bracket): its path."""
        self.i += len(close)
        parts = self._key()
        self._expect(close)
        table = tuple(p for p, _, _ in parts)
        self.keys.append(_TomlKey(table, parts[-1][1], parts[-1][2], parts[-1][2]))
        return table

    def _pair(self, prefix: tuple[str, ...]) -> None:
        parts = self._key()
        self._skip()
        self._expect("=")
        path = prefix + tuple(p for p, _, _ in parts)
        self._value(path)
        self.keys.append(_TomlKey(path, parts[-1][1], parts[-1][2], self.i))

    def _skip(self, newlines: bool = False) -> None:
        text = self.text
        while self.i < len(text):
            c = text[self.i]
            if c in " \t" or (newlines and c in "\r\n"):
                self.i += 1
            elif c == "#":
                while self.i < len(text) and text[self.i] not in "\r\n":
                    self.i += 1
            else:
                break

    def _expect(self, token: str) -> None:
        self._skip()
        if not self.text.startswith(token, self.i):
            raise _TomlError(f"expected {token!r} at offset {self.i}")
        self.i += len(token)

    def _key(self) -> list[tuple[str, int, int]]:
        parts = []
        while True:
            self._skip()
            start = self.i
            if self.i < len(self.text) and self.text[self.i] in "\"'":
                name = self._string()[0]
            else:
                match = self._BARE.match(self.text, self.i)
                if not match:
                    raise _TomlError(f"expected a key at offset {self.i}")
                name, self.i = match.group(), match.end()
            parts.append((name, start, self.i))
            self._skip()
            if self.i < len(self.text) and self.text[self.i] == ".":
                self.i += 1
                continue
            return parts

    def _string(self) -> tuple[str, bool]:
        """The string literal at the cursor, and whether it is simple (one line, no escapes)."""
        for quote in ('"""', "'''"):
            if self.text.startswith(quote, self.i):
                return self._multiline_string(quote), False
        return self._one_line_string()

    def _multiline_string(self, quote: str) -> str:
        text, start = self.text, self.i
        end = text.find(quote, start + 3)
        while quote == '"""' and end != -1 and _escaped(text, end):
            end = text.find(quote, end + 1)
        if end == -1:
            raise _TomlError("unterminated string")
        while text.startswith(quote[0], end + 3):  # """a"""" ends with the last quotes
            end += 1
        self.i = end + 3
        return self._decoded(start)

    def _one_line_string(self) -> tuple[str, bool]:
        text, start = self.text, self.i
        quote = text[start]
        i = start + 1
        while i < len(text) and text[i] != quote and text[i] not in "\r\n":
            i += 2 if quote == '"' and text[i] == "\\" else 1
        if i >= len(text) or text[i] != quote:
            raise _TomlError("unterminated string")
        self.i = i + 1
        raw = text[start + 1:i]
        if quote == '"' and "\\" in raw:
            return self._decoded(start), False
        return raw, True

    def _decoded(self, start: int) -> str:
        """The value of the string literal from `start` to the cursor, as tomllib reads it."""
        return tomllib.loads("v = " + self.text[start:self.i])["v"]

    def _value(self, path: tuple[str, ...]) -> None:
        self._skip()
        if self.i >= len(self.text):
            raise _TomlError("expected a value")
        c = self.text[self.i]
        if c in "\"'":
            start = self.i
            value, simple = self._string()
            self.strings.append(_TomlString(path, value, start, self.i, simple))
        elif c == "[":
            self._items("]", lambda: self._value(path), "array", newlines=True)
        elif c == "{":
            self._items("}", lambda: self._pair(path), "inline table", newlines=False)
        else:
            match = self._SCALAR.match(self.text, self.i)
            if not match:
                raise _TomlError(f"unexpected character at offset {self.i}")
            self.i = match.end()

    def _items(self, close: str, item: Callable[[], None], what: str, newlines: bool) -> None:
        """The comma-separated items of an array (it may span lines) or an inline table (it may
        not), from the opening bracket at the cursor through `close`."""
        self.i += 1
        while True:
            self._skip(newlines)
            if newlines and self.i >= len(self.text):  # (an inline table fails on its next key)
                raise _TomlError(f"unterminated {what}")
            if self.text.startswith(close, self.i):
                self.i += 1
                return
            before = self.i
            item()
            self._skip(newlines)
            if self.text.startswith(",", self.i):
                self.i += 1
            if self.i == before:
                raise _TomlError(f"no progress in {what}")


def _escaped(text: str, index: int) -> bool:
    backslashes = 0
    while index - 1 - backslashes >= 0 and text[index - 1 - backslashes] == "\\":
        backslashes += 1
    return backslashes % 2 == 1


# requirement arrays, "*" for one level of any name (extras, groups)
_TOML_ARRAYS = (
    ("project", "dependencies"), ("project", "optional-dependencies", "*"), ("build-system", "requires"),
    ("dependency-groups", "*"), ("tool", "uv", "dev-dependencies"), ("tool", "uv", "constraint-dependencies"),
    ("tool", "uv", "override-dependencies"), ("tool", "pdm", "dev-dependencies", "*"),
)
_POETRY_TABLES = (("tool", "poetry", "dependencies"), ("tool", "poetry", "dev-dependencies"),
                  ("tool", "poetry", "group", "*", "dependencies"))


def _matches(path: tuple[str, ...], pattern: tuple[str, ...]) -> bool:
    return len(path) == len(pattern) and all(p == "*" or p == q for q, p in zip(path, pattern))


def scan_pyproject(t: Text, found: Found) -> None:
    try:
        tomllib.loads(t.text)
    except tomllib.TOMLDecodeError as error:
        raise MigrationError(f"not valid TOML: {error}") from None
    try:
        toml = _Toml(t.text)
    except (_TomlError, tomllib.TOMLDecodeError) as error:
        raise MigrationError(f"cannot locate the dependencies in this TOML file ({error}); please report") from None
    in_arrays: set[int] = set()
    for string in toml.strings:
        if any(_matches(string.path, pattern) for pattern in _TOML_ARRAYS):
            in_arrays.add(string.start)
            dep = _toml_array_dep(t, string, found.wanted)
            if dep is not None:
                found.deps.append(dep)
    strings_by_path: dict[tuple[str, ...], list[_TomlString]] = {}
    for string in toml.strings:
        strings_by_path.setdefault(string.path, []).append(string)
    seen: set[tuple[str, ...]] = set()
    for key in toml.keys:
        if key.path in seen or not any(_matches(key.path[:-1], table) for table in _POETRY_TABLES):
            continue
        seen.add(key.path)
        dep = _poetry_dep(t, key, strings_by_path)
        if dep is not None:
            found.deps.append(dep)
    for string in toml.strings:
        if string.start not in in_arrays and URL.match(string.value) and CUDA_URL.search(string.value):
            found.urls.append(Url(string.value, string.start + 1, string.end - 1))


def _toml_array_dep(t: Text, string: _TomlString, wanted: Callable[[str], bool]) -> Dep | None:
    parsed = parse_requirement(string.value, wanted)
    if parsed is None:
        return None
    base = string.start + 1
    written = string.value[parsed.name_start:parsed.head_end]
    if not string.simple:
        return plain_dep(parsed, written, string.start, string.end)
    dep = line_style_dep(t, parsed, base, parsed.end, written)
    head_end = base + parsed.head_end
    quote = t.text[string.start]

    def sibling(version: str) -> list[Edit]:
        literal = quote + f"{TORCH_NPU}=={version}" + t.text[head_end:string.end]
        index = t.line_of(string.end)
        rest = t.text[string.end:t.ends[index]]
        after = re.match(r"\s*(,)?\s*(#.*)?$", rest)
        if after is None or t.text[t.starts[index]:string.start].strip():
            # not alone on its line (`["torch==2.6", "numpy"]`): right after it, on the same line
            return [Edit(string.end, string.end, ", " + literal)]
        indent = re.match(r"[ \t]*", t.content(index)).group()  # type: ignore[union-attr]
        if after.group(1):
            return [Edit(t.ends[index], t.ends[index], t.newline_after(index) + indent + literal + ",")]
        return [Edit(string.end, string.end, ","),
                Edit(t.ends[index], t.ends[index], t.newline_after(index) + indent + literal)]

    if dep.rename is not None:  # a simple literal with a name, on one line
        dep.sibling = sibling
    return dep


_POETRY_EXACT = re.compile(r"^\s*(?:==\s*)?(\d[\w.!+-]*)\s*$")


def _poetry_dep(t: Text, key: _TomlKey, strings: dict[tuple[str, ...], list[_TomlString]]) -> Dep | None:
    name = canonicalize_name(key.path[-1])
    if name == "python":
        return None
    direct = [s for s in strings.get(key.path, []) if key.start < s.start < key.value_end]
    version = direct[0] if direct else next(iter(strings.get(key.path + ("version",), [])), None)
    constraint = version.value if version is not None else ""
    written = f"{key.path[-1]} {constraint}".strip()
    dep = Dep(name, written, key.start, key.end)
    exact = _POETRY_EXACT.match(constraint)
    if exact:
        dep.pinned, dep.cuda_local = split_version(exact.group(1))
        if dep.cuda_local and version is not None and version.simple:
            found = t.text.find("+" + dep.cuda_local, version.start, version.end)
            dep.local_range = (found, found + 1 + len(dep.cuda_local))
    index = t.line_of(key.start)
    one_line = key.value_end > key.end and t.line_of(key.value_end) == index
    if one_line and t.content(index).lstrip().startswith(t.text[key.start:key.end]):
        indent = re.match(r"[ \t]*", t.content(index)).group()  # type: ignore[union-attr]
        dep.sibling = lambda v: [Edit(t.ends[index], t.ends[index],
                                      f'{t.newline_after(index)}{indent}{TORCH_NPU} = "{v}"')]
        if direct and direct[0].simple:
            value = direct[0]
            dep.rename = lambda new: [Edit(key.start, key.end, new), Edit(value.start + 1, value.end - 1, "*")]
    return dep
