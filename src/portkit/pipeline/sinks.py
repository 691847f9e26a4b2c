"""Where migrated text goes: back into the files, into a patch, or into a ported copy of the tree.

Sinks only ever write text the engine verified; every write is atomic (sourcefile.atomic_write).
A file that cannot be written is reported as failed and the others are still written.
"""

from __future__ import annotations

import dataclasses
import difflib
import os
import shutil
from collections.abc import Sequence
from pathlib import Path

from portkit.pipeline.discovery import DiscoveredFile
from portkit.model import FileResult, FileStatus
from portkit.pipeline.sourcefile import SourceError, atomic_write, encode_source, read_source


def _write_failed(result: FileResult, error: Exception) -> FileResult:
    reason = getattr(error, "strerror", None) or str(error)
    return dataclasses.replace(result, status=FileStatus.FAILED, error=f"cannot write: {reason}",
                               changes=(), new_text=None)


def write_in_place(pairs: Sequence[tuple[DiscoveredFile, FileResult]]) -> list[FileResult]:
    """Write every changed file back where it was found; returns the results, updated on failure."""
    results = []
    for file, result in pairs:
        if result.status is FileStatus.CHANGED and result.new_text is not None:
            try:
                atomic_write(file.path, encode_source(result.new_text, result.encoding))
            except (OSError, UnicodeEncodeError) as error:
                result = _write_failed(result, error)
        results.append(result)
    return results


def _diff_lines(text: str, bom: bool) -> list[str]:
    """Lines for a patch: a last line without a newline gets git's marker so the patch applies."""
    lines = text.splitlines(keepends=True)
    if bom and lines:
        lines[0] = "\ufeff" + lines[0]
    if lines and not lines[-1].endswith(("\n", "\r")):
        lines[-1] += "\n\\ No newline at end of file\n"
    return lines


def unified_diff(pairs: Sequence[tuple[DiscoveredFile, FileResult]]) -> bytes:
    """A patch that `git apply` and `patch -p1` take, with paths as reports show them.

    Patches compare bytes, so each file's hunks are encoded in that file's own encoding
    (a BOM stays on its first line); headers are UTF-8.
    """
    chunks: list[bytes] = []
    for file, result in pairs:
        if result.status is not FileStatus.CHANGED or result.new_text is None:
            continue
        try:
            old = read_source(file.path)
        except SourceError:
            continue
        bom = old.encoding == "utf-8-sig"
        codec = "utf-8" if bom else old.encoding
        # paths as reports show them (relative to the working folder); a file outside it is
        # named relative to the folder it was found in, so the patch applies from there
        shown = result.path if not os.path.isabs(result.path) else str(file.relative)
        path = shown.replace(os.sep, "/")
        # a tab ends a file name that contains spaces, for GNU patch and git apply alike
        end = "\t" if " " in path else ""
        lines = difflib.unified_diff(
            _diff_lines(old.text, bom), _diff_lines(result.new_text, bom), f"a/{path}{end}", f"b/{path}{end}"
        )
        for number, line in enumerate(lines):
            chunks.append(line.encode("utf-8" if number < 2 else codec, errors="surrogateescape"))
    return b"".join(chunks)


class OutputError(ValueError):
    """--output cannot be used as asked (the message is one line)."""


def check_output_target(source: Path, output: Path) -> None:
    source_root = source.resolve()
    target = output.resolve()
    if target == source_root or source_root in target.parents:
        raise OutputError(f"{output}: the output folder must not be inside the source {source}")
    if target.exists() and (not target.is_dir() or any(target.iterdir())):
        raise OutputError(f"{output}: already exists and is not an empty folder")


def write_copy(source: Path, output: Path, pairs: Sequence[tuple[DiscoveredFile, FileResult]]) -> list[FileResult]:
    """A complete ported copy of `source` in `output`: every file (data, symlinks, build
    folders too, so the copy runs), migrated where it changed. `source` is never written;
    only its .git folder is left out."""
    if source.is_file():
        output.mkdir(parents=True, exist_ok=True)
        shutil.copy2(source, output / source.name)
        base = source.parent
    else:
        shutil.copytree(source, output, symlinks=True, dirs_exist_ok=True, ignore=shutil.ignore_patterns(".git"))
        base = source
    results = []
    for file, result in pairs:
        if result.status is FileStatus.CHANGED and result.new_text is not None:
            destination = output / file.path.relative_to(base)
            try:
                atomic_write(destination, encode_source(result.new_text, result.encoding))
            except (OSError, UnicodeEncodeError) as error:
                result = _write_failed(result, error)
        results.append(result)
    return results
