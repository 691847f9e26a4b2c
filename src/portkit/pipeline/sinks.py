"""Where migrated text goes: back into the files, into a patch, or into a ported copy of the tree.

Sinks only ever write text the engine verified; every write is atomic (sourcefile.atomic_write).

- In place, a file that cannot be written is reported as failed and the others are still
  written; so is a file that changed on disk since the run read it (`Fingerprint`): the
  edit saved meanwhile is kept, never overwritten.
- A copy (--output) is all or nothing: it is built in a temporary folder next to the output
  and renamed into place at the end; on any failure that folder is removed (CopyError).
"""

from __future__ import annotations

import dataclasses
import difflib
import hashlib
import os
import secrets
import shutil
import stat
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from portkit.pipeline.cache import FOLDER as CACHE_FOLDER
from portkit.pipeline.discovery import DiscoveredFile, is_stray_temp, printable_path
from portkit.model import FileResult, FileStatus
from portkit.pipeline.sourcefile import SourceError, atomic_write, encode_source, read_source, write_all

STRAY_TEMP_AGE = 60.0  # seconds: a temporary file older than any write takes is a leftover
_HASHED_UP_TO = 64 * 1024 * 1024  # bigger files are compared by their metadata alone


def _write_failed(result: FileResult, error: Exception) -> FileResult:
    reason = getattr(error, "strerror", None) or str(error)
    return _failed(result, f"cannot write: {reason}")


def _failed(result: FileResult, reason: str) -> FileResult:
    return dataclasses.replace(result, status=FileStatus.FAILED, error=reason, changes=(), new_text=None)


# --- in place ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Fingerprint:
    """A file as the run found it, taken before it is read: if this no longer matches just
    before the file is replaced, someone changed it meanwhile."""

    device: int
    inode: int
    size: int
    mtime_ns: int
    sha256: str | None  # None for a file too big to be worth reading twice (it is not ported)

    @classmethod
    def of(cls, path: Path) -> Fingerprint | None:
        try:
            before = os.stat(path)
            content = _sha256(path) if before.st_size <= _HASHED_UP_TO else None
        except OSError:
            return None
        return cls(before.st_dev, before.st_ino, before.st_size, before.st_mtime_ns, content)

    def matches(self, path: Path) -> bool:
        """Whether the file is still the one fingerprinted: the same file (not one saved in
        its place), size, modification time and bytes (a time stamp can be too coarse)."""
        try:
            now = os.stat(path)
            if (now.st_dev, now.st_ino, now.st_size, now.st_mtime_ns) != (
                    self.device, self.inode, self.size, self.mtime_ns):
                return False
            return self.sha256 is None or _sha256(path) == self.sha256
        except OSError:
            return False


def _sha256(path: Path) -> str:
    with open(path, "rb") as stream:
        return hashlib.file_digest(stream, "sha256").hexdigest()


def fingerprints(paths: Iterable[Path]) -> dict[Path, Fingerprint]:
    return {path: found for path in paths if (found := Fingerprint.of(path)) is not None}


CHANGED_MEANWHILE = "changed on disk during the run: not overwritten (run portkit again)"


def write_in_place(pairs: Sequence[tuple[DiscoveredFile, FileResult]],
                   found: Mapping[Path, Fingerprint] | None = None) -> list[FileResult]:
    """Write every changed file back where it was found; returns the results, updated on
    failure. With `found` (fingerprints taken before the files were read), a file that no
    longer matches its fingerprint is not written: it is reported as failed."""
    results = []
    for file, result in pairs:
        if result.status is FileStatus.CHANGED and result.new_text is not None:
            try:
                data = encode_source(result.new_text, result.encoding)
                if found is not None and not (file.path in found and found[file.path].matches(file.path)):
                    result = _failed(result, CHANGED_MEANWHILE)
                else:
                    atomic_write(file.path, data)
            except (OSError, UnicodeEncodeError) as error:
                result = _write_failed(result, error)
        results.append(result)
    return results


def remove_stray_temps(paths: Iterable[Path], min_age: float = STRAY_TEMP_AGE) -> list[Path]:
    """Remove portkit's temporary files left by an interrupted run (discovery lists them);
    only regular files, and only ones older than any write takes, so a concurrent run's
    temporary file survives. Returns the files removed."""
    removed = []
    now = time.time()
    for path in paths:
        try:
            status = os.lstat(path)
            if is_stray_temp(path.name) and stat.S_ISREG(status.st_mode) and now - status.st_mtime >= min_age:
                os.unlink(path)
                removed.append(path)
        except OSError:
            continue  # gone already, or not ours to remove
    return removed


# --- patches -------------------------------------------------------------------------------


def _diff_lines(text: str, bom: bool) -> list[str]:
    """Lines for a patch: a last line without a newline gets git's marker so the patch applies."""
    lines = text.splitlines(keepends=True)
    if bom and lines:
        lines[0] = "\ufeff" + lines[0]
    if lines and not lines[-1].endswith(("\n", "\r")):
        lines[-1] += "\n\\ No newline at end of file\n"
    return lines


_C_ESCAPES = {7: "\\a", 8: "\\b", 9: "\\t", 10: "\\n", 11: "\\v", 12: "\\f", 13: "\\r", 34: '\\"', 92: "\\\\"}


def patch_name(prefix: str, path: str) -> str:
    """A file name for a patch header, quoted as git quotes it when it holds a control
    character, a quote, a backslash or bytes that are not UTF-8 (git apply and GNU patch
    read that form); a name with spaces ends in a tab instead, for both of them."""
    raw = os.fsencode(path)
    try:
        raw.decode("utf-8")
        plain = not any(byte < 32 or byte in (34, 92, 127) for byte in raw)
    except UnicodeDecodeError:
        plain = False
    if plain:
        return f"{prefix}{path}\t" if " " in path else f"{prefix}{path}"
    quoted = "".join(_C_ESCAPES.get(byte) or (chr(byte) if 32 <= byte < 127 else f"\\{byte:03o}")
                     for byte in prefix.encode("utf-8") + raw)
    return f'"{quoted}"'


def unified_diff(pairs: Sequence[tuple[DiscoveredFile, FileResult]]) -> bytes:
    """A patch that `git apply` and `patch -p1` take, with paths as reports show them.

    Patches compare bytes, so each file's hunks are encoded in that file's own encoding
    (a BOM stays on its first line); headers are UTF-8 or git-quoted.
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
        # paths as reports show them (relative to the working folder), but the name's own
        # bytes (reports escape them); a file outside the working folder is named relative to
        # the folder it was found in, so the patch applies from there
        relative = os.path.relpath(file.path)
        shown = str(file.relative) if relative.startswith("..") else relative
        path = shown.replace(os.sep, "/")
        lines = difflib.unified_diff(_diff_lines(old.text, bom), _diff_lines(result.new_text, bom),
                                     patch_name("a/", path), patch_name("b/", path))
        for number, line in enumerate(lines):
            chunks.append(line.encode("utf-8" if number < 2 else codec, errors="surrogateescape"))
    return b"".join(chunks)


# --- a ported copy ---------------------------------------------------------------------------


class OutputError(ValueError):
    """--output cannot be used as asked (the message is one line)."""


class CopyError(Exception):
    """The ported copy could not be written; nothing was left behind (one-line message)."""


def check_output_target(source: Path, output: Path) -> None:
    source_root = source.resolve()
    target = output.resolve()
    shown = printable_path(str(output))
    if target == source_root or source_root in target.parents:
        raise OutputError(f"{shown}: the output folder must not be inside the source {printable_path(str(source))}")
    if target.exists() and (not target.is_dir() or any(target.iterdir())):
        raise OutputError(f"{shown}: already exists and is not an empty folder")


class _Abort(Exception):
    """Stops shutil.copytree at the first file it cannot copy (it would try every other
    file first, on a full disk one failure each, and then raise them all at once)."""

    def __init__(self, error: OSError) -> None:
        super().__init__(error)
        self.error = error


def _copy_file(source: str, destination: str) -> object:
    try:
        return shutil.copy2(source, destination)
    except OSError as error:
        raise _Abort(error) from error


def _leave_out(folder: str, names: list[str]) -> set[str]:
    """Not copied: the repository's .git, portkit's check cache (it describes the unported
    tree) and temporary files of interrupted runs."""
    return {name for name in names if name in (".git", CACHE_FOLDER) or is_stray_temp(name)}


def _reason(error: OSError) -> str:
    """One line for an OSError, including shutil.Error's list of (source, destination, why)."""
    if isinstance(error, shutil.Error) and error.args and isinstance(error.args[0], list) and error.args[0]:
        failures = error.args[0]
        more = f" (and {len(failures) - 1} more)" if len(failures) > 1 else ""
        return " ".join(str(failures[0][2]).split()) + more
    where = f" ({printable_path(os.fsdecode(error.filename))})" if error.filename else ""
    return f"{error.strerror}{where}" if error.strerror else " ".join(str(error).split())


def write_copy(source: Path, output: Path, pairs: Sequence[tuple[DiscoveredFile, FileResult]]) -> list[FileResult]:
    """A complete ported copy of `source` in `output`: every file (data, symlinks, build
    folders too, so the copy runs), migrated where it changed. `source` is never written;
    only its .git folder and portkit's .portkit_cache are left out.

    All or nothing: the copy is made in a temporary folder beside `output` and renamed to
    it at the end. On failure (a full disk, an unreadable file) the temporary folder is
    removed and CopyError says why in one line; an empty `output` folder stays as it was.
    """
    final = output.resolve() if output.is_symlink() else output
    temp: Path | None = None
    try:
        final.parent.mkdir(parents=True, exist_ok=True)
        _remove_leftovers(final)
        temp = _temporary_folder(final)
        results = _fill(source, temp, pairs)
        _publish(temp, final)
        return results
    except (OSError, _Abort) as failure:
        error = failure.error if isinstance(failure, _Abort) else failure
        reason = _reason(error)
        if temp is not None:
            shutil.rmtree(temp, ignore_errors=True)
            reason = reason.replace(printable_path(str(temp)), printable_path(str(output)))  # where it was going
        raise CopyError(f"{printable_path(str(output))}: cannot write the ported copy: {reason}; "
                        "nothing was written") from None
    except BaseException:  # Ctrl-C: no half copy either
        if temp is not None:
            shutil.rmtree(temp, ignore_errors=True)
        raise


def _temporary_folder(final: Path) -> Path:
    while True:
        temp = final.with_name(f".{final.name}.{secrets.token_hex(4)}.portkit-tmp")
        try:
            os.mkdir(temp)
        except FileExistsError:
            continue
        return temp


def _fill(source: Path, temp: Path, pairs: Sequence[tuple[DiscoveredFile, FileResult]]) -> list[FileResult]:
    if source.is_file():
        _copy_file(str(source), str(temp / source.name))
        base = source.parent
    else:
        shutil.copytree(source, temp, symlinks=True, dirs_exist_ok=True, ignore=_leave_out,
                        copy_function=_copy_file)
        base = source
    results = []
    for file, result in pairs:
        if result.status is FileStatus.CHANGED and result.new_text is not None:
            try:
                data = encode_source(result.new_text, result.encoding)
            except UnicodeEncodeError as error:
                result = _write_failed(result, error)  # this file keeps its original text
            else:
                _overwrite(temp / file.path.relative_to(base), data)
        results.append(result)
    return results


def _overwrite(path: Path, data: bytes) -> None:
    """Replace the content of a file of the copy (a regular file copy2 made: never a link
    to follow), keeping the mode it was copied with."""
    flags = os.O_WRONLY | os.O_TRUNC | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_BINARY", 0)
    fd = os.open(path, flags)
    try:
        write_all(fd, data)
    finally:
        os.close(fd)


def _publish(temp: Path, final: Path) -> None:
    """Rename the finished copy to its name, over the empty folder there if there is one
    (POSIX rename does that atomically; elsewhere the empty folder is removed first)."""
    try:
        os.replace(temp, final)
        return
    except OSError as error:
        if final.is_symlink() or not final.is_dir() or any(final.iterdir()):
            if os.path.lexists(final):
                raise OSError(error.errno, "it is no longer an empty folder", str(final)) from None
            raise
    os.rmdir(final)
    os.rename(temp, final)


def _remove_leftovers(final: Path) -> None:
    """Remove the temporary folders of earlier copies to `final` that were killed (only
    ones older than STRAY_TEMP_AGE: a concurrent run's is left alone)."""
    prefix = f".{final.name}."
    try:
        names = os.listdir(final.parent)
    except OSError:
        return
    now = time.time()
    for name in names:
        if not (name.startswith(prefix) and is_stray_temp(name) and len(name) == len(prefix) + 20):
            continue  # ".NAME." + 8 hex digits + ".portkit-tmp"
        try:
            status = os.lstat(final.parent / name)
        except OSError:
            continue
        if stat.S_ISDIR(status.st_mode) and now - status.st_mtime >= STRAY_TEMP_AGE:
            shutil.rmtree(final.parent / name, ignore_errors=True)
