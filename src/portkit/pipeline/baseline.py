"""Baselines for an incremental port: fail only on findings that are new.

A finding is matched on its path, rule and the whitespace-normalised text of its line, not
on its line number, so edits elsewhere in a file do not invalidate the baseline. Identical
findings are counted, so a second copy of a baselined line is still new.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable
from pathlib import Path

VERSION = 1


class BaselineError(ValueError):
    """A baseline file portkit cannot use (one line)."""


Key = tuple[str, str, str]


def key(path: str, rule_id: str, line_text: str) -> Key:
    return (path.replace("\\", "/"), rule_id, " ".join(line_text.split()))


def dumps(keys: Iterable[Key]) -> str:
    entries = [{"path": p, "rule": r, "text": t} for p, r, t in sorted(keys)]
    return json.dumps({"portkit_baseline": VERSION, "findings": entries}, indent=1, ensure_ascii=False) + "\n"


def load(path: Path) -> Counter[Key]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except OSError as error:
        raise BaselineError(f"{path}: cannot read baseline: {error.strerror or error}") from None
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise BaselineError(f"{path}: not a portkit baseline (invalid JSON: {error})") from None
    if not isinstance(data, dict) or type(data.get("portkit_baseline")) is not int or data["portkit_baseline"] != VERSION:
        raise BaselineError(f"{path}: not a portkit baseline (expected \"portkit_baseline\": {VERSION})")
    findings = data.get("findings")
    if not isinstance(findings, list):
        raise BaselineError(f"{path}: 'findings' must be a list")
    counts: Counter[Key] = Counter()
    for number, entry in enumerate(findings, start=1):
        if not (isinstance(entry, dict) and all(isinstance(entry.get(k), str) for k in ("path", "rule", "text"))):
            raise BaselineError(f"{path}: finding {number} needs string 'path', 'rule' and 'text'")
        counts[key(entry["path"], entry["rule"], entry["text"])] += 1
    return counts
