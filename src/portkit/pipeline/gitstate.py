"""Refusing to overwrite uncommitted work.

Before rewriting files in place, portkit asks git which of them hold changes
that exist nowhere else (modified, staged, or untracked and not ignored):
overwriting those would make the user's own edits impossible to tell from
portkit's. git is asked once per repository, not once per file.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

__all__ = ["GitStateError", "dirty_files", "file_states"]

# Environment variables that would point git at another repository than the
# one holding the files (set, for example, when portkit runs from a git hook).
_REPOSITORY_OVERRIDES = ("GIT_DIR", "GIT_WORK_TREE", "GIT_INDEX_FILE", "GIT_COMMON_DIR")


class GitStateError(RuntimeError):
    """git is installed and the files are in a repository, but git failed.

    Raised rather than answering "clean": a wrong "clean" would let portkit
    overwrite work that exists nowhere else (e.g. git refusing a repository
    owned by another user, "detected dubious ownership").
    """


@dataclass(frozen=True)
class _Repository:
    top: Path  # resolved work tree top, as git reports it
    files: tuple[Path, ...]  # resolved paths of the given files inside it


def dirty_files(paths: Iterable[Path]) -> list[Path]:
    """The given files that have uncommitted changes in their git work tree.

    Returned as given, in input order. Files outside any work tree are
    never dirty, and nothing is dirty when git is not installed.
    """
    given = list(paths)
    git = shutil.which("git")
    if git is None or not given:
        return []
    resolved = {path: Path(os.path.realpath(path)) for path in given}
    dirty: set[Path] = set()
    for repository in _repositories(git, list(resolved.values())):
        dirty |= _dirty_in(git, repository)
    return [path for path in given if resolved[path] in dirty]


def file_states(paths: Iterable[Path]) -> dict[Path, str]:
    """What git knows of existing files that portkit is about to overwrite with something
    else (a report): "modified" (uncommitted changes, staged or not), "untracked" (not
    ignored) or "tracked" (committed, unchanged). Ignored files, files outside any work tree
    and every file when git is not installed are left out. Keys are the paths as given."""
    given = [path for path in paths if os.path.isfile(path)]
    git = shutil.which("git")
    if git is None or not given:
        return {}
    resolved = {path: Path(os.path.realpath(path)) for path in given}
    states: dict[Path, str] = {}
    for repository in _repositories(git, list(dict.fromkeys(resolved.values()))):
        states |= _states_in(git, repository)
    return {path: states[resolved[path]] for path in given if resolved[path] in states}


def _states_in(git: str, repository: _Repository) -> dict[Path, str]:
    relative = [file.relative_to(repository.top).as_posix() for file in repository.files]
    states: dict[Path, str] = {}
    listed = _run_git(git, repository.top, ["ls-files", "-z", "--", *relative])
    if listed.returncode != 0:
        message = _first_line(listed.stderr.decode(errors="replace"))
        raise GitStateError(f"{repository.top}: git ls-files failed: {message}")
    for name in listed.stdout.split(b"\0"):
        if name:
            states[repository.top / os.fsdecode(name)] = "tracked"
    status = _run_git(git, repository.top, ["status", "--porcelain=v1", "-z", "--untracked-files=all",
                                            "--", *relative])
    if status.returncode != 0:
        message = _first_line(status.stderr.decode(errors="replace"))
        raise GitStateError(f"{repository.top}: git status failed: {message}")
    for code, path in _porcelain_entries(status.stdout):
        states[repository.top / path] = "untracked" if code == b"??" else "modified"
    return states


def _repositories(git: str, files: Sequence[Path]) -> list[_Repository]:
    """Group files by work tree.

    git is run once per distinct nearest ``.git`` rather than once per
    folder: the file system search is cheap and git confirms the top.
    """
    by_candidate: dict[Path, list[Path]] = {}
    marker_cache: dict[Path, Path | None] = {}
    for file in files:
        candidate = _nearest_git_marker(file.parent, marker_cache)
        if candidate is not None:
            by_candidate.setdefault(candidate, []).append(file)

    by_top: dict[Path, list[Path]] = {}
    for candidate, members in by_candidate.items():
        top = _show_toplevel(git, candidate)
        if top is not None:
            by_top.setdefault(top, []).extend(members)
    return [_Repository(top=top, files=tuple(members)) for top, members in by_top.items()]


def _nearest_git_marker(directory: Path, cache: dict[Path, Path | None]) -> Path | None:
    """The closest folder at or above ``directory`` holding a ``.git``."""
    visited: list[Path] = []
    found: Path | None = None
    for candidate in (directory, *directory.parents):
        if candidate in cache:
            found = cache[candidate]
            break
        visited.append(candidate)
        # .git is a folder in a normal clone, a file in worktrees/submodules.
        if os.path.lexists(candidate / ".git"):
            found = candidate
            break
    for folder in visited:
        cache[folder] = found
    return found


def _show_toplevel(git: str, directory: Path) -> Path | None:
    result = _run_git(git, directory, ["rev-parse", "--show-toplevel"])
    if result.returncode != 0:
        message = result.stderr.decode(errors="replace")
        if "not a git repository" in message:
            return None  # a stray .git that git does not accept: no repository
        raise GitStateError(f"{directory}: git rev-parse failed: {_first_line(message)}")
    return Path(os.path.realpath(os.fsdecode(result.stdout.rstrip(b"\n"))))


def _dirty_in(git: str, repository: _Repository) -> set[Path]:
    # Limit the scan to the files' common folder: on a large repository a
    # full untracked-files walk is the slow part. One pathspec keeps the
    # command line short however many files there are.
    relative = [file.relative_to(repository.top) for file in repository.files]
    scope = os.path.commonpath(relative) if relative else ""
    arguments = ["status", "--porcelain=v1", "-z", "--untracked-files=all"]
    if scope and scope != ".":
        arguments += ["--", scope]
    result = _run_git(git, repository.top, arguments)
    if result.returncode != 0:
        message = _first_line(result.stderr.decode(errors="replace"))
        raise GitStateError(f"{repository.top}: git status failed: {message}")
    return {repository.top / path for path in parse_porcelain_z(result.stdout)}


def parse_porcelain_z(output: bytes) -> list[PurePosixPath]:
    """Paths named by ``git status --porcelain=v1 -z``, relative to the top.

    Each entry is ``XY PATH\\0``; a rename or copy adds the source path as a
    second NUL-terminated field, which is listed too (both sides changed).
    With -z paths are neither quoted nor escaped, so spaces need no care.
    """
    return [path for _, path in _porcelain_entries(output)]


def _porcelain_entries(output: bytes) -> list[tuple[bytes, PurePosixPath]]:
    """(XY status, path) of every path ``git status --porcelain=v1 -z`` names."""
    fields = output.split(b"\0")
    entries: list[tuple[bytes, PurePosixPath]] = []
    index = 0
    while index < len(fields):
        entry = fields[index]
        index += 1
        if len(entry) < 4:
            continue  # the empty field after the final NUL
        status, path = entry[:2], entry[3:]
        entries.append((status, PurePosixPath(os.fsdecode(path))))
        if b"R" in status or b"C" in status:
            if index < len(fields) and fields[index]:
                entries.append((status, PurePosixPath(os.fsdecode(fields[index]))))
            index += 1
    return entries


def _run_git(git: str, cwd: Path, arguments: list[str]) -> subprocess.CompletedProcess[bytes]:
    env = {key: value for key, value in os.environ.items() if key not in _REPOSITORY_OVERRIDES}
    env["LC_ALL"] = "C"  # stable messages to recognise "not a git repository"
    env["GIT_OPTIONAL_LOCKS"] = "0"  # status must not take the index lock
    # literal pathspecs: a folder named "[abc]" or "*" means itself.
    command = [git, "--literal-pathspecs", "-C", str(cwd), *arguments]
    return subprocess.run(command, capture_output=True, env=env, check=False)


def _first_line(message: str) -> str:
    lines = [line for line in message.splitlines() if line.strip()]
    return lines[0].strip() if lines else "unknown error"
