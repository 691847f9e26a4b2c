"""The check cache: a re-check of an unchanged tree costs little more than hashing it.

The cache folder (`.portkit_cache/` next to the configuration) is untrusted input: it may have
come with someone else's repository, or be damaged. So:

- it is JSON, never pickle, and every entry is checked against the schema before use
  (`_decode`); a file or entry that does not fit is ignored and rebuilt, never a crash;
- an entry is found under an HMAC of the file's name, the SHA-256 of its bytes and the
  settings key (portkit version, Python, every active rule and the torch_npu release: see
  `rules_key`), made with a random secret kept outside the repository, in the user's cache
  folder (`user_secret`). A planted entry cannot claim a file clean: without the secret
  nobody can compute the name it would have to be filed under;
- nothing is followed through a symlink: a symlinked cache folder is not used at all, the
  folder is opened once (O_NOFOLLOW) and every name is then resolved inside it, files are
  read with O_NOFOLLOW and replaced by rename, so nothing is read, written or deleted
  outside it;
- the folder carries a `CACHEDIR.TAG` and a `.gitignore` of its own holding `*`, as ruff's.
"""

from __future__ import annotations

import dataclasses
import hashlib
import hmac
import json
import os
import re
import secrets
import stat
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from portkit import __version__
from portkit.model import EVIDENCE, Change, FileResult, FileStatus, Finding, Safety, Span
from portkit.pipeline.discovery import is_stray_temp
from portkit.pipeline.sourcefile import write_all

FORMAT = 3  # 3: changes and findings carry their evidence
FOLDER = ".portkit_cache"
GITIGNORE = "# created by portkit: never commit the cache\n*\n"
CACHEDIR_TAG = ("Signature: 8a477f597d28d172789f06886806bc55\n"
                "# This file is a cache directory tag created by portkit.\n"
                "# For information about cache directory tags, see https://bford.info/cachedir/\n")
MAX_BYTES = 256 * 1024 * 1024  # a bigger cache file is not read (and then rebuilt)
_CACHE_FILE = re.compile(r"check-[0-9A-Za-z_-]{1,64}\.json")
_STALE_TEMP_SECONDS = 3600.0  # a temporary file this old in the cache folder is a leftover
_O_BINARY = getattr(os, "O_BINARY", 0)
_O_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
_O_CLOEXEC = getattr(os, "O_CLOEXEC", 0)
# open the folder once and resolve every name inside it, where the platform can (not Windows)
_DIR_FD = {os.open, os.replace, os.unlink, os.stat} <= os.supports_dir_fd and os.listdir in os.supports_fd


def _canonical(value: Any) -> Any:
    """A process-independent form: set order depends on string hashing, which Python
    randomises per process, so sets are sorted; rules are dataclasses all the way down."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return [type(value).__name__, *(_canonical(getattr(value, f.name)) for f in dataclasses.fields(value))]
    if isinstance(value, (set, frozenset)):
        return sorted((_canonical(v) for v in value), key=repr)
    if isinstance(value, Mapping):
        return sorted(([_canonical(k), _canonical(v)] for k, v in value.items()), key=repr)
    if isinstance(value, (list, tuple)):
        return [_canonical(v) for v in value]
    if isinstance(value, re.Pattern):
        return ["re", value.pattern, value.flags]
    return value


def rules_key(rules: object, known_ids: object) -> str:
    """Changes whenever anything that changes findings changes, and only then: the cache
    format, portkit's version, the Python version (what parses), and `rules`, the active
    rules in full. Pass the RuleSet itself: it carries the torch_npu release to port to and
    every loaded rule, selected or not (what "no rule converts this" is judged against), as
    well as the active rules (incl. user rules; the target, --select / --ignore and the
    configuration choose them)."""
    material = repr(_canonical([FORMAT, __version__, sys.implementation.cache_tag, rules, known_ids]))
    return hashlib.sha256(material.encode("utf-8", "surrogatepass")).hexdigest()[:20]


def digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


# --- the secret ----------------------------------------------------------------------------


def secret_path() -> Path | None:
    """Where the user's cache secret lives: $XDG_CACHE_HOME/portkit (an absolute one), else
    %LOCALAPPDATA%/portkit on Windows, else ~/.cache/portkit."""
    variables = ("XDG_CACHE_HOME", "LOCALAPPDATA") if os.name == "nt" else ("XDG_CACHE_HOME",)
    for variable in variables:
        base = os.environ.get(variable, "")
        if os.path.isabs(base):  # a relative one could point into the repository being checked
            return Path(base) / "portkit" / "cache-secret"
    try:
        return Path.home() / ".cache" / "portkit" / "cache-secret"
    except RuntimeError:  # no home folder
        return None


def user_secret() -> bytes | None:
    """The random key entries are filed under, created on first use; None when it can be
    neither read nor made (then nothing is cached)."""
    path = secret_path()
    if path is None:
        return None
    secret = _read_secret(path)
    if secret is None:
        try:
            _create_secret(path)
        except OSError:
            return None
        secret = _read_secret(path)
    return secret


def _read_secret(path: Path) -> bytes | None:
    try:
        with open(path, "rb") as stream:
            text = stream.read(100).strip()
        return bytes.fromhex(text.decode("ascii")) if len(text) == 64 else None
    except (OSError, ValueError):
        return None


def _create_secret(path: Path) -> None:
    """Publish a new secret without ever exposing a partial one: write a temporary file, then
    link it into place (a concurrent run that got there first wins) or, when the file there
    is damaged, rename over it."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    temp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.portkit-tmp")
    fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | _O_BINARY, 0o600)
    try:
        os.write(fd, secrets.token_hex(32).encode("ascii") + b"\n")
    finally:
        os.close(fd)
    try:
        try:
            os.link(temp, path)
        except FileExistsError:
            if _read_secret(path) is None:  # damaged: replace it
                os.replace(temp, path)
        except OSError:  # no hard links here
            os.replace(temp, path)
    finally:
        try:
            os.unlink(temp)
        except FileNotFoundError:
            pass


# --- entries: the schema ------------------------------------------------------------------


class _Invalid(ValueError):
    """A cache entry that does not fit the schema."""


def _text(value: object) -> str:
    if type(value) is not str:
        raise _Invalid("not a string")
    return value


def _number(value: object) -> int:
    if type(value) is not int or value < 0:
        raise _Invalid("not a line or column number")
    return value


def _span(value: object) -> Span:
    if type(value) is not list or len(value) != 4:
        raise _Invalid("not a span")
    return Span(*(_number(v) for v in value))


def _choice(kind: type[Safety] | type[FileStatus], value: object) -> Any:
    try:
        return kind(_text(value))
    except ValueError:
        raise _Invalid(f"not a {kind.__name__}") from None


def _records(entry: Mapping[str, Any], key: str) -> list[Mapping[str, Any]]:
    value = entry.get(key)
    if type(value) is not list or not all(type(item) is dict for item in value):
        raise _Invalid(f"'{key}' is not a list of objects")
    return value


def _evidence(value: object) -> str:
    if value != "" and value not in EVIDENCE:
        raise _Invalid(f"unknown evidence {value!r}")
    return str(value)


def _encode(result: FileResult) -> dict[str, Any]:
    return {
        "status": str(result.status),
        "error": result.error,
        "changes": [{"rule": c.rule_id, "message": c.message, "safety": str(c.safety),
                     "span": [c.span.line, c.span.column, c.span.end_line, c.span.end_column],
                     "old": c.old_text, "new": c.new_text, "evidence": c.evidence} for c in result.changes],
        "findings": [{"rule": f.rule_id, "message": f.message, "safety": str(f.safety),
                      "span": [f.span.line, f.span.column, f.span.end_line, f.span.end_column],
                      "line": f.line_text, "evidence": f.evidence} for f in result.findings],
    }


def _decode(path: str, entry: object) -> FileResult:
    """The result an entry records, every field checked; _Invalid when anything is off."""
    if type(entry) is not dict:
        raise _Invalid("not an object")
    error = entry.get("error")
    return FileResult(
        path=path, status=_choice(FileStatus, entry.get("status")),
        error=None if error is None else _text(error),
        changes=tuple(Change(_text(c.get("rule")), _text(c.get("message")), _choice(Safety, c.get("safety")),
                             _span(c.get("span")), _text(c.get("old")), _text(c.get("new")),
                             _evidence(c.get("evidence", "")))
                      for c in _records(entry, "changes")),
        findings=tuple(Finding(_text(f.get("rule")), _text(f.get("message")), _choice(Safety, f.get("safety")),
                               _span(f.get("span")), _text(f.get("line")), _evidence(f.get("evidence", "")))
                       for f in _records(entry, "findings")),
    )


def _load(data: bytes, key: str) -> dict[str, Any]:
    """The entries of a cache file, or none when it is not one of this format and key."""
    try:
        document = json.loads(data)
    except (ValueError, RecursionError):  # not JSON, not UTF-8, nested too deep
        return {}
    if type(document) is not dict or document.get("format") != FORMAT or document.get("key") != key:
        return {}
    entries = document.get("entries")
    return entries if type(entries) is dict else {}


# --- the folder ----------------------------------------------------------------------------


class _Folder:
    """The cache folder, opened without following a symlink; names are resolved inside it
    (dir_fd), so nothing outside it is ever read, written or deleted."""

    def __init__(self, path: Path, fd: int | None) -> None:
        self.path, self.fd = path, fd

    @classmethod
    def open(cls, path: Path, create: bool) -> _Folder | None:
        """None when it does not exist, or is a symlink or anything but a folder."""
        if create:
            try:
                os.mkdir(path)
            except FileExistsError:
                pass
        if _DIR_FD:
            try:
                return cls(path, os.open(path, os.O_RDONLY | os.O_DIRECTORY | _O_NOFOLLOW | _O_CLOEXEC))
            except OSError:  # missing, a symlink (ELOOP), not a folder
                return None
        try:
            mode = os.lstat(path).st_mode
        except OSError:
            return None
        return cls(path, None) if stat.S_ISDIR(mode) else None

    def close(self) -> None:
        if self.fd is not None:
            os.close(self.fd)

    def _at(self, name: str) -> str:
        return name if self.fd is not None else os.path.join(self.path, name)

    def lstat(self, name: str) -> os.stat_result | None:
        try:
            return os.stat(self._at(name), dir_fd=self.fd, follow_symlinks=False)
        except OSError:
            return None

    def read(self, name: str, limit: int) -> bytes | None:
        """A regular file's bytes; None for anything else (a symlink, a FIFO, too big)."""
        if self.fd is None:
            status = self.lstat(name)
            if status is None or not stat.S_ISREG(status.st_mode):
                return None
        flags = os.O_RDONLY | _O_NOFOLLOW | getattr(os, "O_NONBLOCK", 0) | _O_CLOEXEC | _O_BINARY
        try:
            fd = os.open(self._at(name), flags, dir_fd=self.fd)
        except OSError:
            return None
        try:
            status = os.fstat(fd)
            if not stat.S_ISREG(status.st_mode) or status.st_size > limit:
                return None
            with open(fd, "rb", closefd=False) as stream:
                return stream.read(limit)
        except OSError:
            return None
        finally:
            os.close(fd)

    def write(self, name: str, data: bytes) -> None:
        """Replace `name` (whatever it is: a symlink is replaced, not followed) by a regular
        file holding `data`, through a new temporary file and a rename."""
        temp = f".{name}.{secrets.token_hex(4)}.portkit-tmp"
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | _O_NOFOLLOW | _O_CLOEXEC | _O_BINARY
        fd = os.open(self._at(temp), flags, 0o666, dir_fd=self.fd)
        try:
            try:
                write_all(fd, data)
            finally:
                os.close(fd)
            os.replace(self._at(temp), self._at(name), src_dir_fd=self.fd, dst_dir_fd=self.fd)
        except BaseException:
            self.unlink(temp)
            raise

    def ensure(self, name: str, text: str) -> None:
        """A marker file (.gitignore, CACHEDIR.TAG) that is a regular file, else written."""
        status = self.lstat(name)
        if status is None or not stat.S_ISREG(status.st_mode):
            self.write(name, text.encode("utf-8"))

    def names(self) -> list[str]:
        return os.listdir(self.fd if self.fd is not None else self.path)

    def unlink(self, name: str) -> None:
        """Remove the entry `name` itself (a symlink's target is never touched)."""
        try:
            os.unlink(self._at(name), dir_fd=self.fd)
        except FileNotFoundError:
            pass


# --- the cache -----------------------------------------------------------------------------


@dataclass
class CheckCache:
    folder: Path
    key: str  # the settings key (rules_key)
    entries: dict[str, Any] = field(default_factory=dict)
    dirty: bool = False
    seen: set[str] = field(default_factory=set)  # entry names this run asked for or stored
    secret: bytes | None = field(default_factory=user_secret, repr=False)

    @property
    def name(self) -> str:
        return f"check-{self.key}.json"

    @property
    def file(self) -> Path:
        return self.folder / self.name

    @property
    def usable(self) -> bool:
        return self.secret is not None and _CACHE_FILE.fullmatch(self.name) is not None

    @classmethod
    def open(cls, folder: Path, key: str, secret: bytes | None = None) -> CheckCache:
        cache = cls(folder, key) if secret is None else cls(folder, key, secret=secret)
        if not cache.usable:
            return cache
        handle = _Folder.open(folder, create=False)
        if handle is None:
            return cache  # no cache yet, or a symlink or file in its place: not used
        try:
            data = handle.read(cache.name, MAX_BYTES)
        finally:
            handle.close()
        cache.entries = _load(data, key) if data is not None else {}
        return cache

    def _entry_name(self, content_digest: str, path: str) -> str:
        """The name an entry is filed under: bound to the settings, the file's name (which
        decides its kind) and its content, and unforgeable without the secret."""
        assert self.secret is not None
        material = f"{self.key}\0{os.path.basename(path)}\0{content_digest}".encode("utf-8", "surrogatepass")
        return hmac.new(self.secret, material, hashlib.sha256).hexdigest()[:40]

    def get(self, content_digest: str, path: str) -> FileResult | None:
        if not self.usable:
            return None
        name = self._entry_name(content_digest, path)
        self.seen.add(name)
        entry = self.entries.get(name)
        if entry is None:
            return None
        try:
            return _decode(path, entry)
        except _Invalid:
            del self.entries[name]  # computed again, and stored afresh
            return None

    def put(self, content_digest: str, result: FileResult) -> None:
        if not self.usable:
            return
        if result.status is FileStatus.FAILED and (result.error or "").startswith("unreadable"):
            return  # a permission problem is not a property of the content
        name = self._entry_name(content_digest, result.path)
        self.entries[name] = _encode(result)
        self.seen.add(name)
        self.dirty = True

    def save(self) -> None:
        """Write the cache if this run added to it, keeping only the contents it saw (the
        tree as it is now), and drop caches of other portkit versions or settings. Never
        fails: a cache that cannot be written only costs time."""
        if not self.dirty or not self.usable:
            return
        self.entries = {k: v for k, v in self.entries.items() if k in self.seen}
        document = {"format": FORMAT, "key": self.key, "entries": self.entries}
        try:
            handle = _Folder.open(self.folder, create=True)
        except OSError:
            return
        if handle is None:
            return
        try:
            handle.ensure(".gitignore", GITIGNORE)
            handle.ensure("CACHEDIR.TAG", CACHEDIR_TAG)
            handle.write(self.name, json.dumps(document, separators=(",", ":")).encode("utf-8"))
            self._tidy(handle)
        except OSError:
            pass
        finally:
            handle.close()

    def _tidy(self, handle: _Folder) -> None:
        """Remove caches of other settings and temporary files of interrupted saves."""
        now = time.time()
        for name in handle.names():
            if _CACHE_FILE.fullmatch(name) and name != self.name:
                handle.unlink(name)
            elif is_stray_temp(name):
                status = handle.lstat(name)
                if status is not None and now - status.st_mtime > _STALE_TEMP_SECONDS:
                    handle.unlink(name)
