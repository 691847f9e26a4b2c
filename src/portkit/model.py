"""The data every stage shares: what a rule did to a file, and what a run did to many.

Everything here is a plain, immutable value so results can cross process boundaries
(worker processes pickle them) and every output format can be a pure function of them.
"""

from __future__ import annotations

import difflib
import enum
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from portkit import __version__


# What a change or a manual item rests on, when it is not a name resolved through the file's
# imports (the default, ""): reports show it so a reader knows how much to trust the item.
EVIDENCE = {
    "value-flow": "the value was followed from where it is written to where it is used",
    "name-heuristic": "the name of a variable or parameter says what it holds",
    "static-table": "an API matched against tables derived from the torch and torch_npu wheels",
    "cpu-trace": "seen executing in a run of the program on the CPU (portkit trace)",
}


def did_you_mean(given: str, known: Iterable[str]) -> str:
    """`; did you mean 'device-string'?` when one of `known` is close to `given`, else ""."""
    close = difflib.get_close_matches(given, list(known), n=1, cutoff=0.6)
    return f"; did you mean '{close[0]}'?" if close else ""


def counted(number: int, noun: str, plural: str | None = None) -> str:
    """`1 file`, `2 files`, `6,205 results`: every message that counts says it in English."""
    return f"{number:,} {noun if number == 1 else plural or noun + 's'}"


class Safety(str, enum.Enum):
    """How far a change can be trusted without a person looking at it (ruff's "fix safety")."""

    SAFE = "safe"  # same behaviour on NPU; nothing to check
    REVIEW = "review"  # mechanical and usually right, but worth a look in the diff
    MANUAL = "manual"  # portkit does not change it; a person must

    def __str__(self) -> str:
        return self.value


@dataclass(frozen=True)
class Span:
    """Where something is in the original file: 1-based lines, 1-based columns (as editors count)."""

    line: int
    column: int
    end_line: int
    end_column: int


@dataclass(frozen=True)
class Change:
    """One rewrite portkit made (or, for `check`, would make)."""

    rule_id: str
    message: str
    safety: Safety
    span: Span
    old_text: str  # the original line(s) the change touches
    new_text: str  # the same line(s) after migration
    evidence: str = ""  # what the change rests on, when not a resolved name (EVIDENCE)


@dataclass(frozen=True)
class Finding:
    """Something portkit does not rewrite and a person must port: the "manual item"."""

    rule_id: str
    message: str
    safety: Safety
    span: Span
    line_text: str  # the original line, for reports and baselines
    evidence: str = ""  # what the item rests on, when not a resolved name (EVIDENCE)


class MigrationError(Exception):
    """A file portkit cannot migrate; the message is one line."""


@dataclass(frozen=True)
class Migration:
    """What one file kind's handler made of one file's text."""

    new_text: str | None  # None when nothing changed
    changes: tuple[Change, ...]
    findings: tuple[Finding, ...]


class FileStatus(str, enum.Enum):
    UNCHANGED = "unchanged"
    CHANGED = "changed"
    FAILED = "failed"

    def __str__(self) -> str:
        return self.value


@dataclass(frozen=True)
class FileResult:
    """What the pipeline made of one file. `new_text` is set only when the file changed."""

    path: str  # as displayed and reported: relative to the root the file was found under
    status: FileStatus
    changes: tuple[Change, ...] = ()
    findings: tuple[Finding, ...] = ()
    error: str | None = None  # one line, for FAILED
    new_text: str | None = field(default=None, compare=False, repr=False)
    encoding: str = field(default="utf-8", compare=False, repr=False)  # to write new_text back


@dataclass(frozen=True)
class RunProblem:
    """A path that could not even be looked at (broken symlink, unreadable folder)."""

    path: str
    reason: str


@dataclass(frozen=True)
class Report:
    command: str  # "migrate" or "check"
    mode: str  # migrate: "in-place" | "diff" | "output" | "dry-run"; check: "check"
    target: str
    files: tuple[FileResult, ...]
    problems: tuple[RunProblem, ...] = ()
    elapsed_seconds: float = 0.0
    rules: dict[str, dict[str, str]] = field(default_factory=dict)  # id -> kind, safety, summary
    version: str = __version__
    strategy: str = "port"  # migrate --strategy: "port" rewrites the code, "shim" adds the runtime switch
    torch_npu: str | None = None  # the torch_npu release the npu target ported to

    def count(self, status: FileStatus) -> int:
        return sum(1 for f in self.files if f.status is status)

    @property
    def changes(self) -> list[tuple[FileResult, Change]]:
        return [(f, c) for f in self.files for c in f.changes]

    @property
    def findings(self) -> list[tuple[FileResult, Finding]]:
        return [(f, m) for f in self.files for m in f.findings]

    @property
    def changes_by_rule(self) -> dict[str, int]:
        return dict(sorted(Counter(c.rule_id for _, c in self.changes).items()))

    @property
    def findings_by_rule(self) -> dict[str, int]:
        return dict(sorted(Counter(m.rule_id for _, m in self.findings).items()))

    @property
    def failed(self) -> list[FileResult]:
        return [f for f in self.files if f.status is FileStatus.FAILED]

    def summary(self) -> dict[str, Any]:
        return {
            "files_scanned": len(self.files),
            "files_changed": self.count(FileStatus.CHANGED),
            "files_unchanged": self.count(FileStatus.UNCHANGED),
            "files_failed": self.count(FileStatus.FAILED),
            "problems": len(self.problems),
            "changes": len(self.changes),
            "manual_items": len(self.findings),
            "changes_by_rule": self.changes_by_rule,
            "manual_items_by_rule": self.findings_by_rule,
            "changes_by_safety": dict(sorted(Counter(str(c.safety) for _, c in self.changes).items())),
            "elapsed_seconds": round(self.elapsed_seconds, 3),
        }
