"""The check cache: a re-check of an unchanged tree costs little more than hashing it.

An entry is keyed by the SHA-256 of a file's bytes; the cache file itself is keyed by the
portkit version and the active rules (their full definitions), so editing a rule or
upgrading portkit starts a fresh cache. It is JSON, not pickle: a cache folder that came
with someone else's repository must never be able to run code.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from portkit import __version__
from portkit.model import Change, FileResult, FileStatus, Finding, Safety, Span
from portkit.pipeline.sourcefile import atomic_write

FORMAT = 1
FOLDER = ".portkit_cache"


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
    """Changes whenever portkit or any active rule changes, and only then."""
    material = repr(_canonical([FORMAT, __version__, rules, known_ids]))
    return hashlib.sha256(material.encode("utf-8")).hexdigest()[:20]


def digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _span(item: Mapping[str, Any]) -> Span:
    return Span(*item["span"])


def _encode(result: FileResult) -> dict[str, Any]:
    return {
        "status": str(result.status),
        "error": result.error,
        "changes": [{"rule": c.rule_id, "message": c.message, "safety": str(c.safety),
                     "span": [c.span.line, c.span.column, c.span.end_line, c.span.end_column],
                     "old": c.old_text, "new": c.new_text} for c in result.changes],
        "findings": [{"rule": f.rule_id, "message": f.message, "safety": str(f.safety),
                      "span": [f.span.line, f.span.column, f.span.end_line, f.span.end_column],
                      "line": f.line_text} for f in result.findings],
    }


def _decode(path: str, entry: Mapping[str, Any]) -> FileResult:
    return FileResult(
        path=path, status=FileStatus(entry["status"]), error=entry["error"],
        changes=tuple(Change(c["rule"], c["message"], Safety(c["safety"]), _span(c), c["old"], c["new"])
                      for c in entry["changes"]),
        findings=tuple(Finding(f["rule"], f["message"], Safety(f["safety"]), _span(f), f["line"])
                       for f in entry["findings"]),
    )


@dataclass
class CheckCache:
    folder: Path
    key: str
    entries: dict[str, dict[str, Any]] = field(default_factory=dict)
    dirty: bool = False
    seen: set[str] = field(default_factory=set)  # digests this run asked for or stored

    @property
    def file(self) -> Path:
        return self.folder / f"check-{self.key}.json"

    @classmethod
    def open(cls, folder: Path, key: str) -> CheckCache:
        cache = cls(folder, key)
        try:
            data = json.loads(cache.file.read_text(encoding="utf-8"))
            if data.get("format") == FORMAT and data.get("key") == key and isinstance(data.get("entries"), dict):
                cache.entries = data["entries"]
        except (OSError, ValueError):
            pass  # no cache, or a damaged one: start afresh
        return cache

    def get(self, content_digest: str, path: str) -> FileResult | None:
        self.seen.add(content_digest)
        entry = self.entries.get(content_digest)
        if entry is None:
            return None
        try:
            return _decode(path, entry)
        except (KeyError, TypeError, ValueError):
            return None

    def put(self, content_digest: str, result: FileResult) -> None:
        if result.status is FileStatus.FAILED and (result.error or "").startswith("unreadable"):
            return  # a permission problem is not a property of the content
        self.entries[content_digest] = _encode(result)
        self.seen.add(content_digest)
        self.dirty = True

    def save(self) -> None:
        """Write the cache if this run added to it, keeping only the contents it saw (the
        tree as it is now), and drop caches of other portkit versions or rule sets."""
        if not self.dirty:
            return
        self.entries = {k: v for k, v in self.entries.items() if k in self.seen}
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            ignore = self.folder / ".gitignore"
            if not ignore.exists():
                ignore.write_text("# created by portkit: never commit the cache\n*\n", encoding="utf-8")
            document = {"format": FORMAT, "key": self.key, "entries": self.entries}
            atomic_write(self.file, json.dumps(document, separators=(",", ":")).encode("utf-8"))
            for stale in self.folder.glob("check-*.json"):
                if stale != self.file:
                    stale.unlink(missing_ok=True)
        except OSError:
            pass  # a cache that cannot be written only costs time
