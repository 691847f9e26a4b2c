"""Inline suppressions: `# portkit: ignore` and `# portkit: ignore[rule-id, other-id]`.

A suppression comment applies to its own line and, when it sits on the first line of a
statement that spans several lines, to every line of that statement. Suppressions that
silence nothing, or that name a rule portkit does not know, are findings of their own
(`unused-suppression`, `unknown-suppression`) so they do not rot.
"""

from __future__ import annotations

import io
import re
import tokenize
from collections.abc import Collection, Sequence
from dataclasses import dataclass

from portkit.model import Change, Finding, Safety, Span

UNUSED = "unused-suppression"
UNKNOWN = "unknown-suppression"
META_RULES = {
    UNUSED: "a `# portkit: ignore` comment that silences nothing",
    UNKNOWN: "a `# portkit: ignore[...]` comment naming a rule id portkit does not know",
}
_COMMENT = re.compile(r"#\s*portkit:\s*ignore(?:\[(?P<ids>[^\]]*)\])?")


@dataclass(frozen=True)
class Suppression:
    line: int  # where the comment is
    column: int  # 1-based
    first: int  # the lines it covers
    last: int
    ids: frozenset[str] | None  # None: every rule
    text: str  # the comment, for messages

    def covers(self, line: int, rule_id: str) -> bool:
        return self.first <= line <= self.last and (self.ids is None or rule_id in self.ids)


def find_suppressions(text: str) -> list[Suppression]:
    """Suppression comments, found with the tokenizer so a string that merely contains
    "# portkit: ignore" is not one. Lines end at \n, \r\n or a lone \r, as for Python itself."""
    if "portkit:" not in text:
        return []
    found: list[Suppression] = []
    statement_start: int | None = None
    pending: list[tuple[int, int, str]] = []  # comments of the current logical line
    try:
        for token in tokenize.generate_tokens(io.StringIO(text, newline=None).readline):
            if token.type in (tokenize.NL, tokenize.COMMENT) and statement_start is None:
                if token.type == tokenize.COMMENT and _COMMENT.search(token.string):
                    line = token.start[0]
                    found.append(_suppression(token.string, line, token.start[1], line, line))
                continue
            if statement_start is None and token.type not in (tokenize.INDENT, tokenize.DEDENT, tokenize.ENDMARKER):
                statement_start = token.start[0]
            if token.type == tokenize.COMMENT and _COMMENT.search(token.string):
                pending.append((token.start[0], token.start[1], token.string))
            if token.type == tokenize.NEWLINE and statement_start is not None:
                end = token.start[0]
                for line, column, comment in pending:
                    last = end if line == statement_start else line
                    found.append(_suppression(comment, line, column, line, last))
                pending, statement_start = [], None
    except (tokenize.TokenError, IndentationError, SyntaxError):
        pass  # the engine reports the syntax error; suppressions found so far still count
    return found


def _suppression(comment: str, line: int, column: int, first: int, last: int) -> Suppression:
    match = _COMMENT.search(comment)
    assert match is not None
    ids = match.group("ids")
    parsed = None if ids is None else frozenset(part.strip() for part in ids.split(",") if part.strip())
    return Suppression(line, column + 1, first, last, parsed, match.group(0))


def apply_suppressions(
    suppressions: Sequence[Suppression],
    changes: Sequence[Change],
    findings: Sequence[Finding],
    known_ids: Collection[str],
    line_text: Sequence[str],
    active_ids: Collection[str] | None = None,
) -> tuple[tuple[Change, ...], tuple[Finding, ...]]:
    """Drop what is suppressed; add findings for unused and unknown suppressions.

    A suppression that names only rules this run does not execute (`active_ids`: analysis rules
    under `check`, rules of the other target) is left alone: another command uses it."""
    used: set[int] = set()

    def suppressed(line: int, rule_id: str) -> bool:
        hits = [i for i, s in enumerate(suppressions) if s.covers(line, rule_id)]
        used.update(hits)
        return bool(hits)

    kept_changes = tuple(c for c in changes if not suppressed(c.span.line, c.rule_id))
    kept_findings = [f for f in findings if not suppressed(f.span.line, f.rule_id)]
    for index, s in enumerate(suppressions):
        span = Span(s.line, s.column, s.line, s.column + len(s.text))
        text = line_text[s.line - 1] if s.line <= len(line_text) else ""
        unknown = sorted((s.ids or frozenset()) - set(known_ids) - set(META_RULES))
        if unknown:
            kept_findings.append(Finding(UNKNOWN, f"unknown rule id '{unknown[0]}' in `{s.text}`",
                                         Safety.MANUAL, span, text))
        elif index not in used and _runs_here(s, active_ids):
            kept_findings.append(Finding(UNUSED, f"`{s.text}` silences nothing here", Safety.MANUAL, span, text))
    kept_findings.sort(key=lambda f: (f.span.line, f.span.column, f.rule_id))
    return kept_changes, tuple(kept_findings)


def _runs_here(suppression: Suppression, active_ids: Collection[str] | None) -> bool:
    if suppression.ids is None or active_ids is None:
        return True
    return bool(suppression.ids & set(active_ids)) or bool(suppression.ids & set(META_RULES))


__all__ = ["Suppression", "find_suppressions", "apply_suppressions", "UNUSED", "UNKNOWN", "META_RULES"]
