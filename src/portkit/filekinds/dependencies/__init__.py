"""Dependency declarations: requirements*.txt, pyproject.toml, setup.cfg, environment.yml, and
(through `setup_py_findings`, called by the Python kind) setup.py.

The file kind only reports (`migrate_dependencies`): CUDA builds of torch and CUDA index URLs,
the torch-npu pin that matches the torch pin, and CUDA-only packages with their guidance, from
the `dependency` rules (rules/dependencies.toml). Rewriting is opt-in: `fix_dependencies` is a
pure function with the same contract that also applies the mechanical part (drop `+cu121` and
CUDA index URLs, add the torch-npu pin next to torch, replace packages that have an Ascend
replacement), leaving every other byte as it was.

Each format is read by a small scanner that knows where every requirement is (offsets in the
original text), so a finding points at its line and a fix is a list of text edits.
"""

from __future__ import annotations

import ast
import bisect
import fnmatch
import re
import tomllib
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import InvalidWheelFilename, canonicalize_name, parse_wheel_filename
from packaging.version import InvalidVersion, Version

from portkit.model import Change, Finding, Migration, MigrationError, Safety, Span
from portkit.ruleset import Dependency, Rule, RuleSet

if TYPE_CHECKING:
    from portkit.python.transform import CompiledRules

# torch versions that torch-npu is released for on PyPI (`pip index versions torch-npu` for
# CPython 3.8-3.11 when this table was written). torch-npu X and its .postN releases require
# torch==X exactly. For a torch newer than the last entry the pin is advice only, never written.
TORCH_NPU_RELEASES: tuple[str, ...] = (
    "2.1.0", "2.2.0", "2.3.1", "2.4.0", "2.5.1", "2.6.0", "2.7.1", "2.8.0", "2.9.0", "2.9.1",
    "2.10.0", "2.11.0", "2.12.0", "2.13.0", "2.14.0",
)

_TORCH = "torch"
_TORCH_NPU = "torch-npu"
_CONDA_TORCH = "pytorch"
_TORCH_COMPANIONS = frozenset({"torchvision", "torchaudio", "torchtext"})  # +cuXXX builds too
_CUDA_LOCAL = re.compile(r"\+(cu\d+\w*)")  # the local version of a CUDA wheel: +cu121
_URL = re.compile(r"https?://[^\s'\"]+")
_CUDA_URL = re.compile(
    r"download\.pytorch\.org/whl/(?:nightly/|test/)?cu\d+|torch_stable\.html|(?:\+|%2[Bb])cu\d+|/cu\d+(?:/|$)"
)
_NEWLINE = re.compile(r"\r\n|\r|\n")


# --- text positions ----------------------------------------------------------------------------


class _Text:
    """The original text with its lines (any of \\n, \\r\\n, \\r ends one)."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.starts = [0]  # offset of each line's first character
        self.ends: list[int] = []  # offset just after each line's content (before its newline)
        for match in _NEWLINE.finditer(text):
            self.ends.append(match.start())
            self.starts.append(match.end())
        self.ends.append(len(text))
        self.newline = _dominant_newline(text)

    def line_of(self, offset: int) -> int:  # 0-based
        return bisect.bisect_right(self.starts, offset) - 1

    def position(self, offset: int) -> tuple[int, int]:
        """1-based line and column of an offset."""
        index = self.line_of(offset)
        return index + 1, offset - self.starts[index] + 1

    def span(self, start: int, end: int) -> Span:
        line, column = self.position(start)
        end_line, end_column = self.position(end)
        return Span(line, column, end_line, end_column)

    def content(self, index: int) -> str:
        return self.text[self.starts[index]:self.ends[index]]

    def line_text(self, line: int) -> str:  # 1-based
        return self.content(line - 1) if 0 < line <= len(self.starts) else ""

    def newline_after(self, index: int) -> str:
        """The newline that ends line `index` (the file's usual one for the last line)."""
        following = self.text[self.ends[index]:self.starts[index + 1]] if index + 1 < len(self.starts) else ""
        return following or self.newline

    def delete_lines(self, first: int, last: int) -> _Edit:
        """An edit removing lines first..last (0-based) with their newline."""
        if last + 1 < len(self.starts):
            return _Edit(self.starts[first], self.starts[last + 1], "")
        if first > 0:  # the last line has no newline: remove the one before it
            return _Edit(self.ends[first - 1], self.ends[last], "")
        return _Edit(0, self.ends[last], "")


def _dominant_newline(text: str) -> str:
    crlf = text.count("\r\n")
    counts = (("\n", text.count("\n") - crlf), ("\r\n", crlf), ("\r", text.count("\r") - crlf))
    return max(counts, key=lambda item: item[1])[0]


@dataclass(frozen=True)
class _Edit:
    start: int
    end: int
    new: str


# --- what the scanners find ---------------------------------------------------------------------


@dataclass
class _Dep:
    """One declared dependency, where it is written, and how it can be edited."""

    name: str  # canonical distribution name (PEP 503); conda names for conda packages
    written: str  # as written, for messages
    start: int  # offsets of what a finding points at
    end: int
    conda: bool = False
    pinned: str | None = None  # the exact version (== X), without its local part
    cuda_local: str | None = None  # "cu121" of 2.1.0+cu121
    cuda_url: str | None = None  # a CUDA wheel URL it is installed from
    conda_cuda_build: bool = False  # pytorch=2.1.0=py3.10_cuda12.1_*
    # edits, None when this entry cannot be changed mechanically
    local_range: tuple[int, int] | None = None  # "+cu121" in the text
    rename: Callable[[str], list[_Edit]] | None = None  # new distribution name -> edits
    sibling: Callable[[str], list[_Edit]] | None = None  # torch-npu version -> edits adding it


@dataclass
class _Url:
    """A package index / find-links / dependency link that serves CUDA builds."""

    url: str
    start: int
    end: int
    delete: Callable[[], list[_Edit]] | None = None


@dataclass
class _Found:
    deps: list[_Dep] = field(default_factory=list)
    urls: list[_Url] = field(default_factory=list)
    wanted: Callable[[str], bool] = lambda name: True  # distributions worth a full parse


# --- requirement strings -------------------------------------------------------------------------


@dataclass(frozen=True)
class _Parsed:
    """A pip requirement string, with the offsets (into that string) that edits need."""

    name: str
    name_start: int
    head_end: int  # end of name, extras, specifier and URL (where a `; marker` part begins)
    end: int  # end of the requirement (per-requirement options excluded)
    pinned: str | None
    cuda_local: str | None
    local_range: tuple[int, int] | None
    url: str | None
    has_name: bool  # False for a bare wheel URL or an editable VCS URL


_PER_REQUIREMENT_OPTION = re.compile(r"(?<=\s)--?[A-Za-z]")
_NAME = re.compile(r"\s*([A-Za-z0-9](?:[A-Za-z0-9._-]*[A-Za-z0-9])?)")
_EGG = re.compile(r"[#&]egg=([A-Za-z0-9_.\-]+)")


def _parse_requirement(value: str, wanted: Callable[[str], bool]) -> _Parsed | None:
    """A pip requirement (a requirements-file line without comment, or a string in a list);
    None for one that is not valid, or whose distribution is not `wanted` (and has no URL)."""
    start = len(value) - len(value.lstrip())
    option = _PER_REQUIREMENT_OPTION.search(value, start)
    end = len(value[:option.start()].rstrip()) if option else len(value.rstrip())
    text = value[start:end]
    if not text:
        return None
    if re.match(r"(?i)[a-z+]+://|\.{0,2}/|[\w.-]+\.whl\b", text):  # a URL or a path, without a name
        return _parse_location(text, start, end)
    name = _NAME.match(text)
    if name is None or ("@" not in text and not wanted(canonicalize_name(name.group(1)))):
        return None  # packaging's parser is the slow part: only for what a rule may report
    try:
        requirement = Requirement(text)
    except InvalidRequirement:
        return None
    name_end = start + len(requirement.name)
    head_end = end
    if requirement.marker is not None:  # after a URL, the marker's `;` follows a space
        semicolon = re.compile(r"\s;" if requirement.url else ";").search(value, name_end, end)
        if semicolon is not None:
            head_end = len(value[:semicolon.start()].rstrip())
    pinned, local = _exact_pin(requirement)
    local_range = None
    if local is not None:
        found = value.find("+" + local, name_end, head_end)
        local_range = (found, found + 1 + len(local)) if found != -1 else None
    return _Parsed(canonicalize_name(requirement.name), start, head_end, end, pinned, local, local_range,
                   requirement.url, True)


def _exact_pin(requirement: Requirement) -> tuple[str | None, str | None]:
    """(public version, CUDA local part) of `==X` / `===X`; (None, None) when not pinned."""
    specifiers = list(requirement.specifier)
    if len(specifiers) != 1 or specifiers[0].operator not in ("==", "===") or "*" in specifiers[0].version:
        return None, None
    return _split_version(specifiers[0].version)


def _split_version(text: str) -> tuple[str | None, str | None]:
    try:
        version = Version(text)
    except InvalidVersion:
        return None, None
    local = version.local if version.local and _CUDA_LOCAL.fullmatch("+" + version.local) else None
    return version.public, local


def _parse_location(text: str, start: int, end: int) -> _Parsed | None:
    """A wheel URL or path (name and version from the file name), or a VCS URL with #egg=."""
    egg = _EGG.search(text)
    if egg:
        return _Parsed(canonicalize_name(egg.group(1)), start, end, end, None, None, None, text, False)
    filename = text.rsplit("/", 1)[-1].split("#", 1)[0].replace("%2B", "+").replace("%2b", "+")
    try:
        name, version, _, _ = parse_wheel_filename(filename)
    except (InvalidWheelFilename, InvalidVersion):
        return None
    public, local = _split_version(str(version))
    return _Parsed(str(name), start, end, end, public, local, None, text, False)


def _plain_dep(parsed: _Parsed, written: str, start: int, end: int) -> _Dep:
    """A dependency that is reported, never edited."""
    cuda_url = parsed.url if parsed.url and _CUDA_URL.search(parsed.url) else None
    return _Dep(parsed.name, written, start, end, pinned=parsed.pinned, cuda_local=parsed.cuda_local,
                cuda_url=cuda_url)


def _line_style_dep(t: _Text, parsed: _Parsed, base: int, value_end: int, written: str) -> _Dep:
    """A dependency that is one line of its own (requirements file, setup.cfg, YAML list item)
    at offset `base`: a torch-npu pin is added as a copy of its line with the requirement
    replaced, up to `value_end` (past a closing quote, before a comment or --hash)."""
    name_start, head_end = base + parsed.name_start, base + parsed.head_end
    index = t.line_of(name_start)
    single_line = t.line_of(base + parsed.end) == index
    dep = _plain_dep(parsed, written, name_start, base + parsed.end)
    if parsed.local_range is not None:
        dep.local_range = (base + parsed.local_range[0], base + parsed.local_range[1])
    if single_line and parsed.has_name:
        def rename(new: str) -> list[_Edit]:
            return [_Edit(name_start, head_end, new)]

        def sibling(version: str) -> list[_Edit]:
            line = (t.text[t.starts[index]:name_start] + f"{_TORCH_NPU}=={version}"
                    + t.text[head_end:base + value_end])
            return [_Edit(t.ends[index], t.ends[index], t.newline_after(index) + line)]

        dep.rename, dep.sibling = rename, sibling
    return dep


# --- requirements files ------------------------------------------------------------------------

_INDEX_OPTION = re.compile(r"(?:-i|--index-url|--extra-index-url|-f|--find-links)(?:\s*=\s*|\s+)(\S+)")
_EDITABLE = re.compile(r"(?:-e|--editable)(?:\s*=\s*|\s+)(\S+)")


def _uncommented(line: str) -> str:
    """A requirements line without its comment (pip strips `#` at the start or after a space), in linear time."""
    index = line.find("#")
    while index > 0 and not line[index - 1].isspace():
        index = line.find("#", index + 1)
    return line if index == -1 else line[:index].rstrip()


def _scan_requirements(t: _Text, found: _Found) -> None:
    index = 0
    count = len(t.starts)
    while index < count:
        first = index
        while t.content(index).endswith("\\") and index + 1 < count:
            index += 1
        last, index = index, index + 1
        if first == last:
            base, logical = t.starts[first], t.content(first)
        else:  # continuation lines: only reported, never edited
            base, logical = t.starts[first], " ".join(t.content(i)[:-1] if i < last else t.content(i)
                                                       for i in range(first, last + 1))
        _scan_requirement_line(t, logical, base, first, last, found)


def _scan_requirement_line(t: _Text, logical: str, base: int, first: int, last: int, found: _Found,
                           closing: str = "") -> None:
    """One requirements-file line (also a YAML pip: item, inside its `closing` quote): an option
    or a requirement."""
    value = _uncommented(logical)
    stripped = value.strip()
    if not stripped:
        return
    exact = first == last  # offsets are exact only for a single physical line
    if stripped.startswith("-"):
        lead = len(value) - len(value.lstrip())
        option = _INDEX_OPTION.match(value, lead)
        if option:
            url = option.group(1)
            if _CUDA_URL.search(url):
                start = base + option.start() if exact else t.starts[first]
                end = base + option.end() if exact else t.ends[first]
                found.urls.append(_Url(url, start, end, lambda: [t.delete_lines(first, last)]))
            return
        editable = _EDITABLE.match(value, lead)
        parsed = _parse_location(editable.group(1), 0, 0) if editable else None
        if editable and parsed is not None:
            start = base + editable.start(1) if exact else t.starts[first]
            found.deps.append(_plain_dep(parsed, editable.group(1), start,
                                         base + editable.end(1) if exact else t.ends[first]))
        return
    parsed = _parse_requirement(value, found.wanted)
    if parsed is None:
        return
    written = value[parsed.name_start:parsed.head_end]
    if exact:
        value_end = len(value) + len(closing) if closing else parsed.end
        found.deps.append(_line_style_dep(t, parsed, base, value_end, written))
    else:
        found.deps.append(_plain_dep(parsed, written, t.starts[first], t.ends[first]))


# --- pyproject.toml --------------------------------------------------------------------------


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

    def __init__(self, text: str) -> None:
        self.text, self.i = text, 0
        self.strings: list[_TomlString] = []
        self.keys: list[_TomlKey] = []
        table: tuple[str, ...] = ()
        while True:
            self._skip(newlines=True)
            if self.i >= len(text):
                break
            before = self.i
            if text.startswith("[[", self.i):
                self.i += 2
                parts = self._key()
                self._expect("]]")
                table = tuple(p for p, _, _ in parts)
                self.keys.append(_TomlKey(table, parts[-1][1], parts[-1][2], parts[-1][2]))
            elif text[self.i] == "[":
                self.i += 1
                parts = self._key()
                self._expect("]")
                table = tuple(p for p, _, _ in parts)
                self.keys.append(_TomlKey(table, parts[-1][1], parts[-1][2], parts[-1][2]))
            else:
                self._pair(table)
            if self.i == before:
                raise _TomlError(f"unexpected character at offset {self.i}")

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
        text, start = self.text, self.i
        for quote in ('"""', "'''"):
            if text.startswith(quote, start):
                end = text.find(quote, start + 3)
                while quote == '"""' and end != -1 and _escaped(text, end):
                    end = text.find(quote, end + 1)
                if end == -1:
                    raise _TomlError("unterminated string")
                while text.startswith(quote[0], end + 3):  # """a"""" ends with the last quotes
                    end += 1
                self.i = end + 3
                return tomllib.loads("v = " + text[start:self.i])["v"], False
        quote = text[start]
        i = start + 1
        while i < len(text) and text[i] != quote and text[i] not in "\r\n":
            i += 2 if quote == '"' and text[i] == "\\" else 1
        if i >= len(text) or text[i] != quote:
            raise _TomlError("unterminated string")
        self.i = i + 1
        raw = text[start + 1:i]
        if quote == '"' and "\\" in raw:
            return tomllib.loads("v = " + text[start:self.i])["v"], False
        return raw, True

    def _value(self, path: tuple[str, ...]) -> None:
        self._skip()
        text = self.text
        if self.i >= len(text):
            raise _TomlError("expected a value")
        c = text[self.i]
        if c in "\"'":
            start = self.i
            value, simple = self._string()
            self.strings.append(_TomlString(path, value, start, self.i, simple))
        elif c == "[":
            self.i += 1
            while True:
                self._skip(newlines=True)
                if self.i >= len(text):
                    raise _TomlError("unterminated array")
                if text[self.i] == "]":
                    self.i += 1
                    return
                before = self.i
                self._value(path)
                self._skip(newlines=True)
                if self.i < len(text) and text[self.i] == ",":
                    self.i += 1
                if self.i == before:
                    raise _TomlError("no progress in array")
        elif c == "{":
            self.i += 1
            while True:
                self._skip()
                if self.i < len(text) and text[self.i] == "}":
                    self.i += 1
                    return
                before = self.i
                self._pair(path)
                self._skip()
                if self.i < len(text) and text[self.i] == ",":
                    self.i += 1
                if self.i == before:
                    raise _TomlError("no progress in inline table")
        else:  # number, boolean, date
            match = re.compile(r"[^,\]}\s#]+(?:[ T][0-9:.+\-Z]+)?").match(text, self.i)
            if not match:
                raise _TomlError(f"unexpected character at offset {self.i}")
            self.i = match.end()


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


def _scan_pyproject(t: _Text, found: _Found) -> None:
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
        if string.start not in in_arrays and _URL.match(string.value) and _CUDA_URL.search(string.value):
            found.urls.append(_Url(string.value, string.start + 1, string.end - 1))


def _toml_array_dep(t: _Text, string: _TomlString, wanted: Callable[[str], bool]) -> _Dep | None:
    parsed = _parse_requirement(string.value, wanted)
    if parsed is None:
        return None
    base = string.start + 1
    written = string.value[parsed.name_start:parsed.head_end]
    if not string.simple:
        return _plain_dep(parsed, written, string.start, string.end)
    dep = _line_style_dep(t, parsed, base, parsed.end, written)
    head_end = base + parsed.head_end
    quote = t.text[string.start]

    def sibling(version: str) -> list[_Edit]:
        literal = quote + f"{_TORCH_NPU}=={version}" + t.text[head_end:string.end]
        index = t.line_of(string.end)
        rest = t.text[string.end:t.ends[index]]
        after = re.match(r"\s*(,)?\s*(#.*)?$", rest)
        if after is None or t.text[t.starts[index]:string.start].strip():
            # not alone on its line (`["torch==2.6", "numpy"]`): right after it, on the same line
            return [_Edit(string.end, string.end, ", " + literal)]
        indent = re.match(r"[ \t]*", t.content(index)).group()  # type: ignore[union-attr]
        if after.group(1):
            return [_Edit(t.ends[index], t.ends[index], t.newline_after(index) + indent + literal + ",")]
        return [_Edit(string.end, string.end, ","),
                _Edit(t.ends[index], t.ends[index], t.newline_after(index) + indent + literal)]

    if dep.rename is not None:  # a simple literal with a name, on one line
        dep.sibling = sibling
    return dep


_POETRY_EXACT = re.compile(r"^\s*(?:==\s*)?(\d[\w.!+-]*)\s*$")


def _poetry_dep(t: _Text, key: _TomlKey, strings: dict[tuple[str, ...], list[_TomlString]]) -> _Dep | None:
    name = canonicalize_name(key.path[-1])
    if name == "python":
        return None
    direct = [s for s in strings.get(key.path, []) if key.start < s.start < key.value_end]
    version = direct[0] if direct else next(iter(strings.get(key.path + ("version",), [])), None)
    constraint = version.value if version is not None else ""
    written = f"{key.path[-1]} {constraint}".strip()
    dep = _Dep(name, written, key.start, key.end)
    exact = _POETRY_EXACT.match(constraint)
    if exact:
        dep.pinned, dep.cuda_local = _split_version(exact.group(1))
        if dep.cuda_local and version is not None and version.simple:
            found = t.text.find("+" + dep.cuda_local, version.start, version.end)
            dep.local_range = (found, found + 1 + len(dep.cuda_local))
    index = t.line_of(key.start)
    one_line = key.value_end > key.end and t.line_of(key.value_end) == index
    if one_line and t.content(index).lstrip().startswith(t.text[key.start:key.end]):
        indent = re.match(r"[ \t]*", t.content(index)).group()  # type: ignore[union-attr]
        dep.sibling = lambda v: [_Edit(t.ends[index], t.ends[index],
                                       f'{t.newline_after(index)}{indent}{_TORCH_NPU} = "{v}"')]
        if direct and direct[0].simple:
            value = direct[0]
            dep.rename = lambda new: [_Edit(key.start, key.end, new), _Edit(value.start + 1, value.end - 1, "*")]
    return dep


# --- setup.cfg -----------------------------------------------------------------------------------

_CFG_KEYS = {"options": ("install_requires", "setup_requires", "tests_require")}
_CFG_SECTION = re.compile(r"\[([^\]]*)\]")
_CFG_DELIMITER = re.compile(r"[=:][ \t]*")


def _scan_setup_cfg(t: _Text, found: _Found) -> None:
    section = ""
    lines = len(t.starts)
    index = 0
    while index < lines:
        content = t.content(index)
        stripped = content.strip()
        if not stripped or stripped[0] in "#;" or content[0] in " \t":
            index += 1
            continue
        header = _CFG_SECTION.match(content)
        if header:
            section, index = header.group(1).strip(), index + 1
            continue
        delimiter = _CFG_DELIMITER.search(content)
        index += 1
        if not delimiter:
            continue
        key = content[:delimiter.start()].strip()
        wanted = key in _CFG_KEYS.get(section, ()) or section == "options.extras_require"
        values = [(index - 1, delimiter.end())]  # (line, column where the value starts)
        while index < lines and (not t.content(index).strip() or t.content(index)[0] in " \t"):
            values.append((index, 0))
            index += 1
        if wanted:
            _cfg_value(t, values, found)
        else:  # dependency_links and the like
            for line, column in values:
                _scan_urls(t, line, column, found)


def _cfg_value(t: _Text, values: list[tuple[int, int]], found: _Found) -> None:
    dangling = len([1 for line, _ in values[1:] if t.content(line).strip()]) > 0
    for line, column in values:
        base = t.starts[line] + column
        content = t.text[base:t.ends[line]]
        if not content.strip() or content.strip()[0] in "#;":
            continue
        pieces = [(0, content)] if dangling else _split_semicolons(content)
        for offset, piece in pieces:
            piece = _uncommented(piece)
            parsed = _parse_requirement(piece, found.wanted)
            if parsed is not None:
                written = piece[parsed.name_start:parsed.head_end]
                dep = _line_style_dep(t, parsed, base + offset, parsed.end, written)
                if not dangling:
                    dep.sibling = None  # `a; b` on one line: no room for a line of its own
                found.deps.append(dep)


def _split_semicolons(content: str) -> list[tuple[int, str]]:
    pieces, start = [], 0
    for match in re.finditer(";", content):
        pieces.append((start, content[start:match.start()]))
        start = match.end()
    pieces.append((start, content[start:]))
    return pieces


def _scan_urls(t: _Text, line: int, column: int, found: _Found) -> None:
    content = t.content(line)
    if content.strip()[:1] in ("#", ";"):
        return
    for match in _URL.finditer(content, column):
        if _CUDA_URL.search(match.group()):
            found.urls.append(_Url(match.group(), t.starts[line] + match.start(), t.starts[line] + match.end()))


# --- environment.yml ------------------------------------------------------------------------------

_YAML_ITEM = re.compile(r"([ \t]*)-(?:[ \t]+|$)")
_CONDA_SPEC = re.compile(r"(?:[\w.\-]+::)?([A-Za-z0-9_.\-]+)\s*(.*)$")


def _scan_environment(t: _Text, found: _Found) -> None:
    in_deps, item_indent, pip_indent = False, -1, -1
    for index in range(len(t.starts)):
        content = t.content(index)
        stripped = content.strip()
        if not stripped or stripped.startswith("#"):
            continue
        item = _YAML_ITEM.match(content)
        indent = len(content) - len(content.lstrip(" \t"))
        if not in_deps:
            in_deps = indent == 0 and re.match(r"dependencies\s*:\s*(#.*)?$", content) is not None
            continue
        if item is None:
            if indent == 0:
                in_deps = False
            continue
        if item_indent < 0:
            item_indent = indent
        value_start = item.end()
        value_end = _yaml_value_end(content, value_start)
        quoted = content[value_start:value_start + 1] in ("'", '"') and value_end - value_start >= 2 \
            and content[value_end - 1] == content[value_start]
        inner_start, inner_end = (value_start + 1, value_end - 1) if quoted else (value_start, value_end)
        value = content[inner_start:inner_end]
        if indent <= item_indent:
            pip_indent = -1
            if re.fullmatch(r"pip\s*:\s*", value):
                pip_indent = 0
                continue
            _conda_dep(t, index, inner_start, value, found)
        elif pip_indent >= 0:
            base = t.starts[index] + inner_start
            _scan_requirement_line(t, value, base, index, index, found, content[value_end - 1] if quoted else "")


def _yaml_value_end(content: str, start: int) -> int:
    if content[start:start + 1] in ("'", '"'):
        close = content.find(content[start], start + 1)
        if close != -1:
            return close + 1
    comment = re.search(r"\s#", content[start:])
    end = start + comment.start() if comment else len(content)
    return len(content[:end].rstrip())


def _conda_dep(t: _Text, index: int, column: int, value: str, found: _Found) -> None:
    match = _CONDA_SPEC.match(value)
    if not match:
        return
    name, rest = match.group(1).lower(), match.group(2)
    start = t.starts[index] + column
    dep = _Dep(name, value.strip(), start, start + len(value.rstrip()), conda=True)
    version = re.match(r"={1,2}\s*([\w.!+]+)|\s*([0-9][\w.!+]*)", rest)
    if version:
        text = version.group(1) or version.group(2)
        dep.pinned = _split_version(text)[0] if text[0].isdigit() else None
        build = rest[version.end():]
        dep.conda_cuda_build = re.search(r"(?i)cuda|_cu\d", build) is not None
    found.deps.append(dep)


# --- setup.py ------------------------------------------------------------------------------------

_SETUP_KEYWORDS = ("install_requires", "setup_requires", "tests_require", "extras_require", "dependency_links")


def _scan_setup_py(text: str, found: _Found) -> _Text:
    t = _Text(text)
    try:
        tree = ast.parse(text)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return t  # the Python kind reports why
    assigned: dict[str, ast.expr] = {}
    for statement in tree.body:
        if isinstance(statement, ast.Assign):
            for target in statement.targets:
                if isinstance(target, ast.Name):
                    assigned[target.id] = statement.value
        elif isinstance(statement, ast.AnnAssign) and isinstance(statement.target, ast.Name) and statement.value:
            assigned[statement.target.id] = statement.value
    for node in ast.walk(tree):
        if not (isinstance(node, ast.Call) and _call_name(node.func).split(".")[-1] == "setup"):
            continue
        for keyword in node.keywords:
            if keyword.arg in _SETUP_KEYWORDS:
                for literal in _string_literals(keyword.value, assigned, set()):
                    _setup_py_string(t, literal, keyword.arg == "dependency_links", found)
    return t


def _call_name(node: ast.expr) -> str:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return f"{_call_name(node.value)}.{node.attr}"
    return ""


def _string_literals(node: ast.expr, assigned: dict[str, ast.expr], seen: set[str]) -> list[ast.Constant]:
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return [node]
    if isinstance(node, (ast.List, ast.Tuple, ast.Set)):
        return [s for e in node.elts for s in _string_literals(e, assigned, seen)]
    if isinstance(node, ast.Dict):
        return [s for v in node.values for s in _string_literals(v, assigned, seen)]
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
        return _string_literals(node.left, assigned, seen) + _string_literals(node.right, assigned, seen)
    if isinstance(node, ast.Name) and node.id in assigned and node.id not in seen:
        return _string_literals(assigned[node.id], assigned, seen | {node.id})
    return []


def _setup_py_string(t: _Text, literal: ast.Constant, link: bool, found: _Found) -> None:
    line = literal.lineno - 1
    content = t.content(line)
    column = len(content.encode("utf-8")[:literal.col_offset].decode("utf-8", "replace"))
    start = t.starts[line] + column
    end_line = (literal.end_lineno or literal.lineno) - 1
    end_content = t.content(end_line)
    end = t.starts[end_line] + len(end_content.encode("utf-8")[:literal.end_col_offset or 0].decode("utf-8", "replace"))
    value = literal.value
    assert isinstance(value, str)
    if link or _URL.match(value.strip()) and _parse_location(value.strip(), 0, 0) is None:
        if _CUDA_URL.search(value):
            found.urls.append(_Url(value, start, end))
        return
    parsed = _parse_requirement(value, found.wanted)
    if parsed is not None:
        found.deps.append(_plain_dep(parsed, value[parsed.name_start:parsed.head_end], start, end))


# --- the rules ---------------------------------------------------------------------------------------


def _dependency_rules(rules: CompiledRules | RuleSet) -> list[tuple[Rule, Dependency]]:
    ruleset = rules if isinstance(rules, RuleSet) else rules.ruleset
    return [(rule, rule.spec) for rule in ruleset.rules if isinstance(rule.spec, Dependency)]


class _Wanted:
    """Whether a distribution can matter to the active rules (torch and torch-npu always do)."""

    def __init__(self, active: Sequence[tuple[Rule, Dependency]]) -> None:
        self.exact = {_TORCH, _TORCH_NPU, *_TORCH_COMPANIONS}
        self.patterns: list[str] = []
        for _, spec in active:
            for name in (*spec.packages, *spec.replacements):
                if "*" in name:
                    self.patterns.append(name)
                else:
                    self.exact.add(name)
        self.known: dict[str, bool] = {}

    def __call__(self, name: str) -> bool:
        if name not in self.known:
            self.known[name] = name in self.exact or any(fnmatch.fnmatchcase(name, p) for p in self.patterns)
        return self.known[name]


def _guidance(spec: Dependency, name: str) -> str | None:
    """Exact names first, then patterns such as `nvidia-*`, in the rule's order."""
    if name in spec.packages:
        return spec.packages[name]
    for pattern, guidance in spec.packages.items():
        if "*" in pattern and fnmatch.fnmatchcase(name, pattern):
            return guidance
    return None


def _released(version: str) -> bool | None:
    """Whether torch-npu is released for torch `version`; None when it is newer than we know."""
    if version in TORCH_NPU_RELEASES:
        return True
    try:
        if Version(version) > Version(TORCH_NPU_RELEASES[-1]):
            return None
    except InvalidVersion:
        return False
    return False


def _base(version: str) -> str:
    """torch-npu 2.6.0.post3 is a release for torch 2.6.0."""
    try:
        return Version(version).base_version
    except InvalidVersion:
        return version


def _nearest_releases(version: str) -> str:
    try:
        wanted = Version(version)
    except InvalidVersion:
        return ", ".join(TORCH_NPU_RELEASES[-3:])
    lower = [v for v in TORCH_NPU_RELEASES if Version(v) < wanted][-1:]
    higher = [v for v in TORCH_NPU_RELEASES if Version(v) > wanted][:1]
    return " or ".join(lower + higher) or TORCH_NPU_RELEASES[0]


@dataclass
class _Item:
    """A finding, with the edits that would settle (part of) it."""

    rule: Rule
    start: int
    end: int
    message: str  # the manual item, when nothing is fixed
    edits: list[_Edit] = field(default_factory=list)
    fix_message: str = ""  # what the edits do
    remaining: str | None = None  # what is still manual after the edits


def _analyse(found: _Found, rules: CompiledRules | RuleSet) -> list[_Item]:
    active = _dependency_rules(rules)
    items: list[_Item] = []
    npu_pins = {d.pinned for d in found.deps if d.name == _TORCH_NPU}
    has_npu = any(d.name == _TORCH_NPU for d in found.deps)
    for rule, spec in active:
        for dep in found.deps:
            if spec.torch_pin and (dep.name == _TORCH or (dep.conda and dep.name == _CONDA_TORCH)):
                torch = _torch_item(rule, dep, has_npu, npu_pins)
                if torch is not None:
                    items.append(torch)
            elif spec.torch_pin and dep.name in _TORCH_COMPANIONS and (dep.cuda_local or dep.cuda_url):
                items.append(_companion_item(rule, dep))
            guidance = _guidance(spec, dep.name)
            if guidance is not None:
                items.append(_package_item(rule, spec, dep, guidance))
        if spec.torch_pin:
            for url in found.urls:
                items.append(_url_item(rule, url))
    return items


def _torch_item(rule: Rule, dep: _Dep, has_npu: bool, npu_pins: set[str | None]) -> _Item | None:
    problems: list[str] = []
    edits: list[_Edit] = []
    done: list[str] = []
    left: list[str] = []
    if dep.conda:
        build = " (a CUDA build)" if dep.conda_cuda_build else ""
        version = dep.pinned or "<the same version>"
        text = (f"conda {dep.written}{build}: torch-npu is published on PyPI only: install torch=={version} "
                f"and torch-npu=={version} from the pip: section instead")
        if dep.pinned and _released(dep.pinned) is False:
            text += f" (torch-npu has no release for torch {dep.pinned}: use {_nearest_releases(dep.pinned)})"
        return _Item(rule, dep.start, dep.end, text)
    if dep.cuda_local:
        problem = f"+{dep.cuda_local} is a CUDA build: drop it (on x86_64 install the CPU build from " \
                  f"https://download.pytorch.org/whl/cpu so pip does not pull the nvidia-* wheels)"
        problems.append(problem)
        if dep.local_range is not None:
            edits.append(_Edit(*dep.local_range, ""))
            done.append(f"dropped +{dep.cuda_local}")
        else:
            left.append(problem)
    if dep.cuda_url:
        problem = "installed from a CUDA wheel URL: install torch from PyPI (or the CPU index) instead"
        problems.append(problem)
        left.append(problem)
    if has_npu:
        mismatched = [p for p in sorted(filter(None, npu_pins))
                      if dep.pinned is not None and _base(p) != _base(dep.pinned)]
        if mismatched:
            problem = (f"torch-npu=={mismatched[0]} does not match torch=={dep.pinned}: torch-npu is built for "
                       f"exactly one torch version")
            problems.append(problem)
            left.append(problem)
    elif dep.pinned is None:
        problem = ("add torch-npu pinned to the exact torch version you install (torch-npu X is built for "
                   "torch==X only; pin torch to a version torch-npu is released for)")
        problems.append(problem)
        left.append(problem)
    else:
        released = _released(dep.pinned)
        if released is False:
            problem = (f"torch-npu has no release for torch {dep.pinned}: move torch to "
                       f"{_nearest_releases(dep.pinned)} and add torch-npu==<that version>")
            problems.append(problem)
            left.append(problem)
        else:
            check = (f", once torch-npu {dep.pinned} is released (it is newer than the releases portkit knows)"
                     if released is None else "")
            problem = (f"add torch-npu=={dep.pinned} next to it{check} (torch-npu is built for exactly this torch "
                       f"version; a later .postN release of it is fine too)")
            problems.append(problem)
            if dep.sibling is not None and released:
                edits.extend(dep.sibling(dep.pinned))
                done.append(f"added torch-npu=={dep.pinned}")
            else:
                left.append(problem)
    if not problems:
        return None
    message = f"{dep.written}: " + "; ".join(problems)
    fix_message = f"{dep.written}: " + ", ".join(done) if done else ""
    remaining = f"{dep.written}: " + "; ".join(left) if left else None
    return _Item(rule, dep.start, dep.end, message, edits, fix_message, remaining)


def _companion_item(rule: Rule, dep: _Dep) -> _Item:
    if dep.cuda_url:
        return _Item(rule, dep.start, dep.end, f"{dep.written}: a CUDA wheel URL: install it from PyPI instead")
    message = f"{dep.written}: +{dep.cuda_local} is a CUDA build: drop it"
    if dep.local_range is None:
        return _Item(rule, dep.start, dep.end, message)
    return _Item(rule, dep.start, dep.end, message, [_Edit(*dep.local_range, "")],
                 f"{dep.written}: dropped +{dep.cuda_local}")


def _package_item(rule: Rule, spec: Dependency, dep: _Dep, guidance: str) -> _Item:
    message = f"{dep.written}: {guidance}"
    replacement = spec.replacements.get(dep.name)
    if replacement is None or dep.rename is None:
        return _Item(rule, dep.start, dep.end, message)
    return _Item(rule, dep.start, dep.end, message, dep.rename(replacement), f"{dep.written} → {replacement}")


def _url_item(rule: Rule, url: _Url) -> _Item:
    if "download.pytorch.org" in url.url:
        message = (f"{url.url} serves CUDA builds of PyTorch: remove it (torch-npu runs on the PyPI build; on x86_64 "
                   f"use https://download.pytorch.org/whl/cpu)")
    else:
        message = f"{url.url} serves CUDA builds: remove it and install builds for Ascend (or build from source)"
    if url.delete is None:
        return _Item(rule, url.start, url.end, message)
    return _Item(rule, url.start, url.end, message, url.delete(), f"removed the CUDA package index {url.url}")


# --- results -------------------------------------------------------------------------------------


def _scan(text: str, name: str, wanted: Callable[[str], bool]) -> tuple[_Text, _Found]:
    lower = name.lower()
    found = _Found(wanted=wanted)
    if lower == "setup.py":
        return _scan_setup_py(text, found), found
    t = _Text(text)
    if lower == "pyproject.toml":
        _scan_pyproject(t, found)
    elif lower == "setup.cfg":
        _scan_setup_cfg(t, found)
    elif lower.endswith((".yml", ".yaml")):
        _scan_environment(t, found)
    else:
        _scan_requirements(t, found)
    return t, found


def _finding(t: _Text, rule: Rule, start: int, end: int, message: str) -> Finding:
    span = t.span(start, end)
    return Finding(rule.id, message, Safety.MANUAL, span, t.line_text(span.line))


def _order(item: Change | Finding) -> tuple[int, int, str]:
    return item.span.line, item.span.column, item.rule_id


def _report(text: str, name: str, rules: CompiledRules | RuleSet) -> Migration:
    if not _dependency_rules(rules):
        return Migration(None, (), ())
    t, found = _scan(text, name, _Wanted(_dependency_rules(rules)))
    findings = sorted((_finding(t, i.rule, i.start, i.end, i.message) for i in _analyse(found, rules)), key=_order)
    return Migration(None, (), tuple(findings))


def migrate_dependencies(text: str, name: str, rules: CompiledRules, render: bool) -> Migration:
    """The dependency file kind (filekinds.py): manual items only; the file is never changed."""
    return _report(text, name, rules)


def setup_py_findings(text: str, rules: CompiledRules | RuleSet) -> list[Finding]:
    """The dependency findings of a setup.py: install_requires / extras_require /
    setup_requires / tests_require / dependency_links string literals (stdlib ast)."""
    return list(_report(text, "setup.py", rules).findings)


def fix_dependencies(text: str, name: str, rules: CompiledRules | RuleSet) -> Migration:
    """The opt-in rewrite (--fix-deps): drop +cuXXX and CUDA index URLs, add the torch-npu pin
    next to torch, replace packages that have an Ascend replacement. Everything else stays
    byte for byte; what is not fixed is still reported. A setup.py is only reported."""
    if not _dependency_rules(rules) or name.lower() == "setup.py":
        return _report(text, name, rules)
    t, found = _scan(text, name, _Wanted(_dependency_rules(rules)))
    applied: list[_Edit] = []
    fixed: list[_Item] = []
    findings: list[Finding] = []
    for item in _analyse(found, rules):
        if item.edits and not any(_overlap(e, a) for e in item.edits for a in applied):
            applied.extend(item.edits)
            fixed.append(item)
            if item.remaining:
                findings.append(_finding(t, item.rule, item.start, item.end, item.remaining))
        else:
            findings.append(_finding(t, item.rule, item.start, item.end, item.message))
    if not applied:
        return Migration(None, (), tuple(sorted(findings, key=_order)))
    changes = [_change(t, item, applied) for item in fixed]
    new_text = _apply(text, applied)
    if name.lower().endswith(".toml"):
        try:
            tomllib.loads(new_text)
        except tomllib.TOMLDecodeError as error:
            raise MigrationError(f"rewrite produced invalid TOML ({error}); please report") from None
    return Migration(new_text, tuple(sorted(changes, key=_order)), tuple(sorted(findings, key=_order)))


def _overlap(a: _Edit, b: _Edit) -> bool:
    if a.start == a.end or b.start == b.end:  # an insertion clashes with an edit around its point
        return a.start == b.start or (b.start < a.start < b.end) or (a.start < b.start < a.end)
    return a.start < b.end and b.start < a.end


def _apply(text: str, edits: Iterable[_Edit]) -> str:
    out, position = [], 0
    for edit in sorted(edits, key=lambda e: (e.start, e.end)):
        out.append(text[position:edit.start])
        out.append(edit.new)
        position = edit.end
    out.append(text[position:])
    return "".join(out)


def _change(t: _Text, item: _Item, applied: Sequence[_Edit]) -> Change:
    """The original line(s) an item is about, and what now stands in their place (nothing, for
    a deleted line)."""
    span = t.span(item.start, item.end)
    first, last = t.line_of(item.start), t.line_of(item.end)
    old = "\n".join(t.content(i) for i in range(first, last + 1))
    if all(e.new == "" and e.start <= t.starts[first] and e.end >= t.ends[last] for e in item.edits):
        new = ""  # the line is gone
    else:
        start, end = t.starts[first], t.ends[last]
        inside = [_Edit(e.start - start, e.end - start, e.new) for e in applied if start <= e.start and e.end <= end]
        new = "\n".join(_NEWLINE.split(_apply(t.text[start:end], inside)))
    return Change(item.rule.id, item.fix_message, Safety.REVIEW, span, old, new)
