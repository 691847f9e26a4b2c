"""Which files a run looks at.

``discover`` turns the paths given on the command line into a sorted,
de-duplicated list of files, skipping what a user would never want rewritten
(VCS metadata, caches, build output, virtualenvs, git-ignored files) and
reporting what it could not look at instead of failing the whole run.

It also says how a file is named in output (``printable_path``): any name a file system
allows, non-UTF-8 bytes, newlines and control characters included, becomes one line of
printable text that every output format can carry.
"""

from __future__ import annotations

import fnmatch
import os
import re
from collections.abc import Collection, Sequence
from dataclasses import dataclass, replace
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING

from portkit.pipeline.sourcefile import SourceError

if TYPE_CHECKING:
    import pathspec

__all__ = [
    "DiscoveredFile",
    "Discovery",
    "DiscoveryError",
    "SKIPPED_DIRECTORIES",
    "discover",
    "gitignore_spec",
    "is_stray_temp",
    "printable_path",
    "unprintable_path",
]

# The temporary files of sourcefile.atomic_write: ".NAME.<8 hex digits>.portkit-tmp". One
# left behind (portkit was killed mid-write) is never a source; in-place runs remove it.
_STRAY_TEMP = re.compile(r"\A\..+\.[0-9a-f]{8}\.portkit-tmp\Z", re.DOTALL)


def is_stray_temp(name: str) -> bool:
    """Whether a file name is one of portkit's own temporary files."""
    return name.endswith(".portkit-tmp") and _STRAY_TEMP.match(name) is not None


# a backslash is a character of a file name only where it is not the separator
_ESCAPE_BACKSLASH = os.sep == "/"
_NAMED_ESCAPES = {"\n": "\\n", "\t": "\\t", "\r": "\\r", "\\": "\\\\"}
_UNESCAPE = re.compile(r"\\(x[0-9a-f]{2}|u[0-9a-f]{4}|U[0-9a-f]{8}|[ntr\\])")


def printable_path(text: str) -> str:
    """A path as output shows it: one line of printable text, whatever bytes the name has.

    A byte that is not UTF-8 (which Python keeps as a lone surrogate, os.fsdecode) becomes
    `\\xNN`; a newline, tab or carriage return `\\n`, `\\t`, `\\r`; other control and
    non-printable characters `\\xNN` (ASCII) or `\\uNNNN`; and, where a backslash can be part of a
    name (not on Windows), a backslash `\\\\`, so `unprintable_path` gives the name back.
    """
    if text.isprintable() and not (_ESCAPE_BACKSLASH and "\\" in text):
        return text  # the common case: nothing to escape
    return "".join(_escape(char) for char in text)


def _escape(char: str) -> str:
    if char in _NAMED_ESCAPES:
        return _NAMED_ESCAPES[char] if char != "\\" or _ESCAPE_BACKSLASH else char
    if char.isprintable() or char == " ":
        return char
    code = ord(char)
    if 0xDC80 <= code <= 0xDCFF:  # an undecodable byte, surrogate-escaped
        return f"\\x{code - 0xDC00:02x}"
    if code < 0x80:  # \\x80 and up mean bytes, so a C1 control character is \\u0080...
        return f"\\x{code:02x}"
    return f"\\u{code:04x}" if code <= 0xFFFF else f"\\U{code:08x}"


def unprintable_path(text: str) -> str:
    """The inverse of ``printable_path`` (``os.fsencode`` of it gives the name's bytes); on
    Windows, where a backslash separates folders, only a name printed unchanged comes back."""
    if not _ESCAPE_BACKSLASH or "\\" not in text:
        return text

    def replace(match: re.Match[str]) -> str:
        escape = match.group(1)
        if escape in ("n", "t", "r", "\\"):
            return {"n": "\n", "t": "\t", "r": "\r", "\\": "\\"}[escape]
        code = int(escape[1:], 16)
        return chr(0xDC00 + code) if escape[0] == "x" and code >= 0x80 else chr(code)

    return _UNESCAPE.sub(replace, text)


def gitignore_spec(lines: Sequence[str]) -> pathspec.GitIgnoreSpec:
    """Patterns with git's own matching rules. pathspec is imported on first use: it costs
    about a tenth of a second, and a tree without .gitignore or exclude patterns needs none."""
    import pathspec

    return pathspec.GitIgnoreSpec.from_lines(lines)

# Directories that never hold code a user wants ported: VCS metadata, tool
# caches, build output and installed third-party packages.
SKIPPED_DIRECTORIES: frozenset[str] = frozenset(
    {
        ".git",
        ".hg",
        ".svn",
        "__pycache__",
        ".tox",
        ".nox",
        ".eggs",
        "node_modules",
        ".mypy_cache",
        ".pytest_cache",
        ".ruff_cache",
        ".portkit_cache",
        "build",
        "dist",
        "site-packages",
    }
)
_SKIPPED_DIRECTORY_GLOBS: tuple[str, ...] = ("*.egg-info",)
_VENV_MARKER = "pyvenv.cfg"


class DiscoveryError(ValueError):
    """A path given by the user does not exist (the CLI exits with 2)."""


@dataclass(frozen=True)
class DiscoveredFile:
    """A file to process and the folder it was found under."""

    path: Path
    root: Path

    @property
    def relative(self) -> Path:
        """The path below ``root``; mirrors the tree in --output copies and diffs."""
        return self.path.relative_to(self.root)


@dataclass(frozen=True)
class Discovery:
    files: tuple[DiscoveredFile, ...]
    problems: tuple[SourceError, ...]
    # portkit's own temporary files left by an interrupted run (is_stray_temp): never files
    # to process; an in-place run removes them (sinks.remove_stray_temps)
    strays: tuple[Path, ...] = ()


@dataclass
class _Found:
    """What a walk collects: files relative to its root, problems, stray temporary files."""

    files: list[PurePosixPath]
    problems: list[SourceError]
    strays: list[Path]


@dataclass(frozen=True)
class _Filter:
    """What to keep while walking one root; shared by the whole walk."""

    suffixes: tuple[str, ...] | None
    exclude: pathspec.GitIgnoreSpec | None  # None without exclude patterns: nothing to match
    respect_gitignore: bool


@dataclass(frozen=True)
class _IgnoreFile:
    """The patterns of one .gitignore (or .git/info/exclude).

    ``base`` is the file's directory relative to the walk's anchor (the
    repository top, or the root when outside a repository): git matches
    each file's patterns against paths relative to that file's directory.
    """

    base: PurePosixPath
    spec: pathspec.GitIgnoreSpec


@dataclass(frozen=True)
class _Inherited:
    """Ignore rules a walked folder inherits from the folders above it.

    ``anchor`` is the root's path relative to the directory all ``base``
    paths are relative to (the repository top, or the root itself).
    """

    anchor: PurePosixPath
    ignores: tuple[_IgnoreFile, ...]
    problems: tuple[SourceError, ...]


def discover(
    paths: Sequence[Path],
    *,
    suffixes: Collection[str] | None = (".py",),
    exclude: Sequence[str] = (),
    respect_gitignore: bool = True,
) -> Discovery:
    """Find the files to process under ``paths``.

    An explicit file is always included (whatever its suffix, even if
    ignored); folders are walked in sorted order. ``suffixes=None`` keeps
    every regular file (to copy a complete tree for --output). ``exclude``
    holds gitignore-style patterns relative to each folder argument.
    Files reached twice (overlapping arguments, links) are listed once.
    """
    for path in paths:
        # lexists: a broken symlink exists as far as the user is concerned
        # and becomes a problem below, not a usage error.
        if not os.path.lexists(path):
            raise DiscoveryError(f"{printable_path(str(path))}: no such file or directory")

    filters = _Filter(
        suffixes=None if suffixes is None else tuple(suffixes),
        exclude=gitignore_spec(exclude) if exclude else None,
        respect_gitignore=respect_gitignore,
    )
    files: list[DiscoveredFile] = []
    problems: list[SourceError] = []
    strays: list[Path] = []
    seen: set[str] = set()
    # One path cannot reach a file twice (the walk follows no links), so the realpath of every
    # file (a syscall per path component) is only paid when several paths may overlap.
    overlapping = len(paths) > 1
    for path in paths:
        found, trouble, stray = _discover_one(path, filters)
        problems.extend(trouble)
        strays.extend(stray)
        if not overlapping:
            files.extend(found)
            continue
        for item in found:
            key = os.path.realpath(item.path)
            if key not in seen:
                seen.add(key)
                files.append(item)
    return Discovery(files=tuple(files), problems=tuple(problems), strays=tuple(dict.fromkeys(strays)))


def _discover_one(path: Path, filters: _Filter) -> tuple[list[DiscoveredFile], list[SourceError], list[Path]]:
    if path.is_symlink() and not path.exists():
        return [], [SourceError(path, "broken symlink")], []
    if path.is_dir():
        return _walk_root(path, filters)
    if path.is_file():
        if is_stray_temp(path.name) and not path.is_symlink():
            return [], [], [path]  # named explicitly, still not a source
        return [DiscoveredFile(path=path, root=path.parent)], [], []
    return [], [SourceError(path, "not a regular file or directory")], []


def _walk_root(root: Path, filters: _Filter) -> tuple[list[DiscoveredFile], list[SourceError], list[Path]]:
    real_root = Path(os.path.realpath(root))
    if filters.respect_gitignore:
        inherited = _inherited_ignores(real_root)
    else:
        inherited = _Inherited(anchor=PurePosixPath(), ignores=(), problems=())
    found = _Found([], list(inherited.problems), [])
    _walk(root, real_root, PurePosixPath(), inherited, filters, found)
    found.files.sort(key=lambda rel: rel.parts)
    files = [DiscoveredFile(path=root.joinpath(*rel.parts), root=root) for rel in found.files]
    return files, found.problems, found.strays


def _walk(
    root: Path,
    real_root: Path,
    rel_dir: PurePosixPath,
    inherited: _Inherited,
    filters: _Filter,
    found: _Found,
) -> None:
    """Collect wanted files below ``rel_dir`` (relative to ``root``).

    ``inherited`` carries the ignore files of this folder's ancestors; a
    .gitignore found here is added for the subtree only.
    """
    directory = root.joinpath(*rel_dir.parts)
    try:
        with os.scandir(directory) as scan:
            entries = sorted(scan, key=lambda entry: entry.name)
    except OSError as error:
        found.problems.append(SourceError(directory, f"unreadable directory: {error.strerror or error}"))
        return

    names = {entry.name for entry in entries}
    if rel_dir.parts and _VENV_MARKER in names:
        return  # a virtualenv: installed packages, not the user's code
    if filters.respect_gitignore and ".gitignore" in names:
        loaded = _load_ignore_file(directory / ".gitignore", inherited.anchor / rel_dir)
        if isinstance(loaded, SourceError):
            found.problems.append(loaded)
        else:
            inherited = replace(inherited, ignores=(*inherited.ignores, loaded))

    for entry in entries:
        rel = rel_dir / entry.name
        is_link = entry.is_symlink()
        is_dir = not is_link and entry.is_dir(follow_symlinks=False)
        if is_dir and _is_skipped_directory(entry.name):
            continue
        if _is_excluded(rel, is_dir, inherited, filters):
            continue
        if is_dir:
            _walk(root, real_root, rel, inherited, filters, found)
        elif is_link:
            problem = _symlink_problem(Path(entry.path), real_root, filters)
            if problem is not None:
                found.problems.append(problem)
        elif not entry.is_file(follow_symlinks=False):
            continue
        elif is_stray_temp(entry.name):
            found.strays.append(Path(entry.path))
        elif _wanted_suffix(entry.name, filters):
            found.files.append(rel)


def _is_skipped_directory(name: str) -> bool:
    return name in SKIPPED_DIRECTORIES or any(
        fnmatch.fnmatchcase(name, pattern) for pattern in _SKIPPED_DIRECTORY_GLOBS
    )


def _wanted_suffix(name: str, filters: _Filter) -> bool:
    return filters.suffixes is None or name.endswith(filters.suffixes)


def _is_excluded(rel: PurePosixPath, is_dir: bool, inherited: _Inherited, filters: _Filter) -> bool:
    if filters.exclude is None and not inherited.ignores:
        return False  # the common case of a tree without .gitignore: skip building match keys
    if filters.exclude is not None and filters.exclude.match_file(_match_key(rel, is_dir)):
        return True
    return _is_ignored(inherited.anchor / rel, is_dir, inherited.ignores)


def _is_ignored(anchored: PurePosixPath, is_dir: bool, ignores: tuple[_IgnoreFile, ...]) -> bool:
    # git: the deepest .gitignore with a matching pattern decides, and within
    # one file the last matching pattern (a "!" negation re-includes).
    for ignore in reversed(ignores):
        result = ignore.spec.check_file(_match_key(anchored.relative_to(ignore.base), is_dir))
        if result.include is not None:
            return result.include
    return False


def _match_key(rel: PurePosixPath, is_dir: bool) -> str:
    # A trailing slash lets directory-only patterns ("build/") match.
    return f"{rel}/" if is_dir else str(rel)


def _symlink_problem(link: Path, real_root: Path, filters: _Filter) -> SourceError | None:
    """Links are never followed; say why when the user may want to know.

    A link to a file inside the tree is skipped silently: its target is
    visited on its own, and writing through links would be surprising.
    """
    target = Path(os.path.realpath(link))
    if not target.exists():
        # Report only links that look like files this run is about.
        return SourceError(link, "broken symlink") if _wanted_suffix(link.name, filters) else None
    if target.is_dir():
        return None  # symlinked directories are not followed
    if not target.is_relative_to(real_root) and _wanted_suffix(link.name, filters):
        return SourceError(link, f"symlink to outside the tree ({printable_path(str(target))})")
    return None


def _inherited_ignores(real_root: Path) -> _Inherited:
    """Ignore files that apply to ``real_root`` from above it.

    Inside a git work tree the .gitignore files of the folders between the
    repository top and the root apply too (``portkit src/`` must honour the
    top-level .gitignore), as does .git/info/exclude. The root's own
    .gitignore is loaded by the walk like any nested one.
    """
    top = _repository_top(real_root)
    if top is None:
        return _Inherited(anchor=PurePosixPath(), ignores=(), problems=())
    anchor = PurePosixPath(real_root.relative_to(top).as_posix())
    # info/exclude first: it has the lowest precedence of git's ignore files.
    candidates = [(top / ".git" / "info" / "exclude", PurePosixPath())]
    candidates += [(top / base / ".gitignore", base) for base in reversed(anchor.parents)]
    ignores: list[_IgnoreFile] = []
    problems: list[SourceError] = []
    for file, base in candidates:
        if not file.is_file():
            continue
        loaded = _load_ignore_file(file, base)
        if isinstance(loaded, SourceError):
            problems.append(loaded)
        else:
            ignores.append(loaded)

    if anchor.parts and _is_ignored(anchor, True, tuple(ignores)):
        # The user named an ignored folder explicitly (``portkit generated/``):
        # respect that choice; only the folder's own .gitignore files apply.
        return _Inherited(anchor=PurePosixPath(), ignores=(), problems=tuple(problems))
    return _Inherited(anchor=anchor, ignores=tuple(ignores), problems=tuple(problems))


def _repository_top(directory: Path) -> Path | None:
    # A file system search instead of ``git rev-parse``: discovery must not
    # depend on git being installed, and only needs to find .gitignore files.
    for candidate in (directory, *directory.parents):
        if (candidate / ".git").exists():
            return candidate
    return None


def _load_ignore_file(file: Path, base: PurePosixPath) -> _IgnoreFile | SourceError:
    try:
        # git reads ignore files as bytes; decoding leniently keeps one odd
        # byte from disabling every pattern in the file.
        lines = file.read_text(encoding="utf-8", errors="surrogateescape").splitlines()
    except OSError as error:
        return SourceError(file, f"unreadable: {error.strerror or error}")
    return _IgnoreFile(base=base, spec=gitignore_spec(lines))
