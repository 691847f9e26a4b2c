"""Reading and writing user source files without losing a byte.

portkit rewrites files that belong to the user, so a file it leaves unchanged
in meaning must also come back unchanged in bytes: the encoding (including a
UTF-8 BOM or a PEP 263 cookie), every line ending (CRLF, lone CR, mixed) and
trailing whitespace all survive ``decode_source`` -> ``encode_source``.
Writes are atomic so an interrupted run never leaves a half-written file.
"""

from __future__ import annotations

import codecs
import io
import os
import secrets
import stat
import tokenize
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

__all__ = [
    "DEFAULT_MAX_FILE_SIZE",
    "SourceError",
    "SourceFile",
    "atomic_write",
    "decode_source",
    "dominant_newline",
    "encode_source",
    "read_bytes",
    "read_source",
]

_UTF8_BOM = codecs.BOM_UTF8
# Suffix of our temporary files, so a stray one (after a power cut) is
# recognisable as ours.
_TEMP_SUFFIX = ".portkit-tmp"
# Files larger than this are refused (`--max-file-size`): a source file that size is generated
# data, and libcst would need minutes and gigabytes for it.
DEFAULT_MAX_FILE_SIZE = 10 * 1024 * 1024


class SourceError(Exception):
    """A file that portkit cannot (or must not) process.

    ``reason`` is a single line meant for the user, e.g. ``"broken symlink"``;
    ``str()`` gives ``"PATH: reason"`` like the messages of compilers.
    """

    def __init__(self, path: Path, reason: str) -> None:
        # Pass both to Exception so ``args`` carries them and the error
        # survives pickling (e.g. when files are processed in worker processes).
        super().__init__(path, reason)
        self.path = path
        self.reason = " ".join(reason.split())  # guarantee one line

    def __str__(self) -> str:
        return f"{self.path}: {self.reason}"


@dataclass(frozen=True)
class SourceFile:
    """The decoded content of a file, line endings kept exactly."""

    path: Path
    text: str
    encoding: str

    @cached_property
    def newline(self) -> str:
        """The dominant line ending: ``"\\n"``, ``"\\r\\n"`` or ``"\\r"``.

        Use it for lines that portkit inserts, so they match their
        neighbours. Ties and files without any newline give ``"\\n"``.
        """
        return dominant_newline(self.text)


def dominant_newline(text: str) -> str:
    crlf = text.count("\r\n")
    lone_cr = text.count("\r") - crlf
    lone_lf = text.count("\n") - crlf
    # max() keeps the first of equal counts, so "\n" wins ties.
    counts = (("\n", lone_lf), ("\r\n", crlf), ("\r", lone_cr))
    return max(counts, key=lambda item: item[1])[0]


def read_source(path: Path, max_size: int | None = None) -> SourceFile:
    """Read and decode ``path``; raise SourceError when it can't be used (or is larger
    than ``max_size`` bytes)."""
    return decode_source(read_bytes(path, max_size), path)


def read_bytes(path: Path, max_size: int | None = None) -> bytes:
    """The bytes of ``path``; SourceError if it cannot be read or is larger than ``max_size``
    (told by the open file's size, before reading any of it)."""
    if path.is_symlink() and not path.exists():
        raise SourceError(path, "broken symlink")
    try:
        if max_size is None:
            return path.read_bytes()
        with open(path, "rb") as stream:
            size = os.fstat(stream.fileno()).st_size
            if size > max_size:
                raise SourceError(path, f"too large: {_size(size)}, over the limit of {_size(max_size)} "
                                        "(--max-file-size)")
            return stream.read()
    except OSError as error:
        raise SourceError(path, f"unreadable: {error.strerror or error}") from error


def _size(count: int) -> str:
    return f"{count / 1024 / 1024:.1f} MB" if count >= 1024 * 1024 else f"{count} bytes"


def decode_source(data: bytes, path: Path) -> SourceFile:
    """Decode file content exactly as Python would, keeping line endings.

    Raises SourceError for binary data, an unusable coding cookie, bytes
    invalid in the declared encoding, or content that would not encode back
    to the same bytes (the guarantee the rest of portkit relies on).
    """
    nul = data.find(b"\0")
    if nul != -1:
        raise SourceError(path, f"binary file (NUL byte at offset {nul})")

    encoding = _detect_encoding(data, path)
    try:
        # bytes.decode never translates newlines, unlike text-mode open().
        text = data.decode(encoding)
    except UnicodeDecodeError as error:
        raise SourceError(path, _decode_reason(data, error, encoding)) from error

    if encode_source(text, encoding) != data:
        # Some codecs (e.g. utf-7, stateful CJK codecs) have several byte
        # forms for one text; rewriting such a file could change bytes we
        # never meant to touch.
        raise SourceError(path, f"encoding {encoding} does not round-trip byte for byte")
    return SourceFile(path=path, text=text, encoding=encoding)


def encode_source(text: str, encoding: str) -> bytes:
    """Inverse of ``decode_source``: ``"utf-8-sig"`` re-adds the BOM.

    Raises UnicodeEncodeError if ``text`` gained characters the file's
    encoding can't represent.
    """
    return text.encode(encoding)


def _detect_encoding(data: bytes, path: Path) -> str:
    try:
        encoding, _ = tokenize.detect_encoding(io.BytesIO(data).readline)
    except SyntaxError as error:
        message = error.msg or str(error)
        if message.startswith("invalid or missing encoding declaration"):
            # No cookie and the first lines aren't UTF-8: report the actual
            # undecodable byte rather than tokenize's generic message.
            try:
                data.decode("utf-8")
            except UnicodeDecodeError as decode_error:
                raise SourceError(path, _decode_reason(data, decode_error, "utf-8")) from error
        if data.startswith(_UTF8_BOM) and message.startswith("encoding problem"):
            raise SourceError(path, "bad coding cookie: conflicts with the UTF-8 BOM") from error
        raise SourceError(path, f"bad coding cookie: {message}") from error
    if not _ascii_compatible(encoding):
        # A cookie can only be read if the file is ASCII-compatible; a
        # utf-16 cookie means the declaration is wrong.
        raise SourceError(path, f"bad coding cookie: {encoding} is not ASCII-compatible")
    return encoding


def _ascii_compatible(encoding: str) -> bool:
    # Decode rather than encode: encoding with utf-8-sig would prepend a BOM.
    probe = "#\t\r\n azAZ09=:-_"
    try:
        return probe.encode("ascii").decode(encoding) == probe
    except (LookupError, UnicodeError):
        return False


def _decode_reason(data: bytes, error: UnicodeDecodeError, encoding: str) -> str:
    # Encodings that reach this point are ASCII-compatible, so counting b"\n"
    # gives the line number the user's editor shows.
    line = data.count(b"\n", 0, error.start) + 1
    return f"cannot decode as {encoding}: {error.reason} at line {line}"


def write_all(fd: int, data: bytes) -> None:
    """os.write until every byte is out: one call may write fewer (pipes, signals, full disks)."""
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]


def atomic_write(path: Path, data: bytes) -> None:
    """Replace the content of ``path`` with ``data`` atomically.

    The data goes to a temporary file in the same directory (os.replace is
    only atomic within one file system), is fsynced, gets the original's
    permission bits, then replaces the original. A symlink is written
    through: its target gets the new content and the link stays a link.
    On any failure the temporary file is removed and the error re-raised.
    """
    target = path.resolve() if path.is_symlink() else path
    original = _stat_or_none(target)
    temp = _create_temp(target)
    try:
        with open(temp, "wb") as stream:
            stream.write(data)
            stream.flush()
            os.fsync(stream.fileno())
        if original is not None:
            _copy_metadata(original, temp)
        os.replace(temp, target)
    except BaseException:
        # BaseException too: a Ctrl-C mid-write must not leave a temp behind.
        _remove_quietly(temp)
        raise
    _fsync_directory(target.parent)


def _stat_or_none(path: Path) -> os.stat_result | None:
    try:
        return os.stat(path)
    except FileNotFoundError:
        return None


def _create_temp(target: Path) -> Path:
    # Not tempfile.mkstemp: it creates files with mode 0o600, while a new
    # file should get the usual 0o666 minus umask, which os.open applies.
    while True:
        name = f".{target.name}.{secrets.token_hex(4)}{_TEMP_SUFFIX}"
        temp = target.with_name(name)
        try:
            fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
        except FileExistsError:
            continue
        os.close(fd)
        return temp


def _copy_metadata(original: os.stat_result, temp: Path) -> None:
    os.chmod(temp, stat.S_IMODE(original.st_mode))
    if hasattr(os, "chown"):
        try:
            # Keeps a file's owner when portkit runs as root (e.g. in a
            # container on a mounted checkout); harmless no-op otherwise.
            current = os.stat(temp)
            if (current.st_uid, current.st_gid) != (original.st_uid, original.st_gid):
                os.chown(temp, original.st_uid, original.st_gid)
        except OSError:
            pass  # not permitted for ordinary users; the content matters more


def _remove_quietly(path: Path) -> None:
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass


def _fsync_directory(directory: Path) -> None:
    # Makes the rename itself durable; not possible on every platform or file
    # system (e.g. Windows), where the rename is still atomic.
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
