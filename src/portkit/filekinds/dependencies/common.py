"""What every dependency-file scanner shares: the original text and its line positions, the
edits a fix is made of, what a scan finds (`Dep`, `Url`, `Found`), and pip requirement strings
read with `packaging`, with the offsets an edit needs."""

from __future__ import annotations

import bisect
import re
from collections.abc import Callable
from dataclasses import dataclass, field

from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import InvalidWheelFilename, canonicalize_name, parse_wheel_filename
from packaging.version import InvalidVersion, Version

from portkit.model import Span

TORCH = "torch"
TORCH_NPU = "torch-npu"
CONDA_TORCH = "pytorch"
TORCH_COMPANIONS = frozenset({"torchvision", "torchaudio", "torchtext"})  # +cuXXX builds too
_CUDA_LOCAL = re.compile(r"\+(cu\d+\w*)")  # the local version of a CUDA wheel: +cu121
URL = re.compile(r"https?://[^\s'\"]+")
CUDA_URL = re.compile(
    r"download\.pytorch\.org/whl/(?:nightly/|test/)?cu\d+|torch_stable\.html|(?:\+|%2[Bb])cu\d+|/cu\d+(?:/|$)"
)
NEWLINE = re.compile(r"\r\n|\r|\n")


# --- text positions ----------------------------------------------------------------------------


class Text:
    """The original text with its lines (any of \\n, \\r\\n, \\r ends one)."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.starts = [0]  # offset of each line's first character
        self.ends: list[int] = []  # offset just after each line's content (before its newline)
        for match in NEWLINE.finditer(text):
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

    def delete_lines(self, first: int, last: int) -> Edit:
        """An edit removing lines first..last (0-based) with their newline."""
        if last + 1 < len(self.starts):
            return Edit(self.starts[first], self.starts[last + 1], "")
        if first > 0:  # the last line has no newline: remove the one before it
            return Edit(self.ends[first - 1], self.ends[last], "")
        return Edit(0, self.ends[last], "")


def _dominant_newline(text: str) -> str:
    crlf = text.count("\r\n")
    counts = (("\n", text.count("\n") - crlf), ("\r\n", crlf), ("\r", text.count("\r") - crlf))
    return max(counts, key=lambda item: item[1])[0]


@dataclass(frozen=True)
class Edit:
    start: int
    end: int
    new: str


# --- what the scanners find ---------------------------------------------------------------------


@dataclass
class Dep:
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
    rename: Callable[[str], list[Edit]] | None = None  # new distribution name -> edits
    sibling: Callable[[str], list[Edit]] | None = None  # torch-npu version -> edits adding it


@dataclass
class Url:
    """A package index / find-links / dependency link that serves CUDA builds."""

    url: str
    start: int
    end: int
    delete: Callable[[], list[Edit]] | None = None


@dataclass
class Found:
    deps: list[Dep] = field(default_factory=list)
    urls: list[Url] = field(default_factory=list)
    wanted: Callable[[str], bool] = lambda name: True  # distributions worth a full parse


# --- requirement strings -------------------------------------------------------------------------


@dataclass(frozen=True)
class Parsed:
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


def parse_requirement(value: str, wanted: Callable[[str], bool]) -> Parsed | None:
    """A pip requirement (a requirements-file line without comment, or a string in a list);
    None for one that is not valid, or whose distribution is not `wanted` (and has no URL)."""
    start = len(value) - len(value.lstrip())
    option = _PER_REQUIREMENT_OPTION.search(value, start)
    end = len(value[:option.start()].rstrip()) if option else len(value.rstrip())
    text = value[start:end]
    if not text:
        return None
    if re.match(r"(?i)[a-z+]+://|\.{0,2}/|[\w.-]+\.whl\b", text):  # a URL or a path, without a name
        return parse_location(text, start, end)
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
    return Parsed(canonicalize_name(requirement.name), start, head_end, end, pinned, local, local_range,
                  requirement.url, True)


def _exact_pin(requirement: Requirement) -> tuple[str | None, str | None]:
    """(public version, CUDA local part) of `==X` / `===X`; (None, None) when not pinned."""
    specifiers = list(requirement.specifier)
    if len(specifiers) != 1 or specifiers[0].operator not in ("==", "===") or "*" in specifiers[0].version:
        return None, None
    return split_version(specifiers[0].version)


def split_version(text: str) -> tuple[str | None, str | None]:
    try:
        version = Version(text)
    except InvalidVersion:
        return None, None
    local = version.local if version.local and _CUDA_LOCAL.fullmatch("+" + version.local) else None
    return version.public, local


def parse_location(text: str, start: int, end: int) -> Parsed | None:
    """A wheel URL or path (name and version from the file name), or a VCS URL with #egg=."""
    egg = _EGG.search(text)
    if egg:
        return Parsed(canonicalize_name(egg.group(1)), start, end, end, None, None, None, text, False)
    filename = text.rsplit("/", 1)[-1].split("#", 1)[0].replace("%2B", "+").replace("%2b", "+")
    try:
        name, version, _, _ = parse_wheel_filename(filename)
    except (InvalidWheelFilename, InvalidVersion):
        return None
    public, local = split_version(str(version))
    return Parsed(str(name), start, end, end, public, local, None, text, False)


def plain_dep(parsed: Parsed, written: str, start: int, end: int) -> Dep:
    """A dependency that is reported, never edited."""
    cuda_url = parsed.url if parsed.url and CUDA_URL.search(parsed.url) else None
    return Dep(parsed.name, written, start, end, pinned=parsed.pinned, cuda_local=parsed.cuda_local,
               cuda_url=cuda_url)


def line_style_dep(t: Text, parsed: Parsed, base: int, value_end: int, written: str) -> Dep:
    """A dependency that is one line of its own (requirements file, setup.cfg, YAML list item)
    at offset `base`: a torch-npu pin is added as a copy of its line with the requirement
    replaced, up to `value_end` (past a closing quote, before a comment or --hash)."""
    name_start, head_end = base + parsed.name_start, base + parsed.head_end
    index = t.line_of(name_start)
    single_line = t.line_of(base + parsed.end) == index
    dep = plain_dep(parsed, written, name_start, base + parsed.end)
    if parsed.local_range is not None:
        dep.local_range = (base + parsed.local_range[0], base + parsed.local_range[1])
    if single_line and parsed.has_name:
        def rename(new: str) -> list[Edit]:
            return [Edit(name_start, head_end, new)]

        def sibling(version: str) -> list[Edit]:
            line = (t.text[t.starts[index]:name_start] + f"{TORCH_NPU}=={version}"
                    + t.text[head_end:base + value_end])
            return [Edit(t.ends[index], t.ends[index], t.newline_after(index) + line)]

        dep.rename, dep.sibling = rename, sibling
    return dep
