"""The Python rewriter, one file's text at a time: triage -> sparse parse -> transform -> verify.

It knows nothing of files or disks: portkit.pipeline.process reads the file and hands its text
to the file kind (portkit.filekinds), whose Python kind calls migrate_source.
"""

from __future__ import annotations

import ast
import difflib
import os
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import libcst as cst

from portkit.model import Change, Finding, Migration, MigrationError, Span
from portkit.python.sparse import restore, sparse_source
from portkit.python.statements import Locator
from portkit.python.transform import CompiledRules, Event, transform




def parse(text: str) -> cst.Module:
    try:
        return cst.parse_module(text)
    except cst.ParserSyntaxError as error:
        raise MigrationError(f"cannot parse at line {error.raw_line}: {error.message.splitlines()[0]}") from None
    except RecursionError:
        raise MigrationError("too deeply nested for the parser") from None


def parse_ast(text: str) -> ast.Module:
    """The stdlib's tree: cheap, and its message is the clearer one (it names Python 2 print)."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # invalid escape sequences in user code are not ours
            return ast.parse(text)
    except SyntaxError as error:
        hint = " (Python 2 code? portkit ports Python 3)" if _looks_like_python2(error) else ""
        raise MigrationError(f"syntax error at line {error.lineno}: {error.msg}{hint}") from None
    except (RecursionError, MemoryError, ValueError) as error:
        raise MigrationError(f"cannot parse: {type(error).__name__}") from None


def _looks_like_python2(error: SyntaxError) -> bool:
    return "print" in (error.msg or "") or "exec" in (error.msg or "")


_NOTHING = Migration(None, (), ())


def migrate_source(text: str, rules: CompiledRules, *, render: bool = True, sparse: bool = True) -> Migration:
    """Migrate one file's text. Raises MigrationError if it cannot be parsed or verified.

    With `render` false (what `check` needs) the new text is neither generated nor verified,
    and changes carry only their original line. With `sparse`, libcst parses only the
    top-level statements that can matter (sparse.py); the result is the same.
    """
    if not rules.may_need_work(text):
        return _NOTHING
    tree = parse_ast(text)
    if not rules.may_need_work_tree(tree, text):
        return _NOTHING
    reduced = sparse_source(text, tree, rules.triggers.regex, rules.may_need_work) if sparse else None
    parsed_text, parsed_tree = (reduced.text, reduced.tree) if reduced is not None else (text, tree)
    module = parse(parsed_text)
    outcome = transform(module, rules, parsed_tree, parsed_text)
    if not outcome.events:
        return _NOTHING
    new_text = None
    if outcome.changed and render:
        generated = outcome.module.code
        new_text = restore(reduced, generated) if reduced is not None else generated
        if new_text is None:  # the gaps did not come back one for one: do it the long way
            return migrate_source(text, rules, render=render, sparse=False)
        _verify(new_text, generated, outcome.module, rules)
    old_lines = text.splitlines()
    locator = Locator(module, old_lines, outcome.pairing)
    spans = locator.spans([(e.node, e.statement) for e in outcome.events])
    line_map = _LineMap(old_lines, new_text.splitlines() if new_text is not None else old_lines)
    changes: list[Change] = []
    findings: list[Finding] = []
    for event, span in zip(outcome.events, spans):
        if event.is_change:
            old, new = line_map.texts(span, event)
            changes.append(Change(event.rule.id, event.message, event.safety, span, old, new))
        else:
            findings.append(Finding(event.rule.id, event.message, event.safety, span,
                                    _line(old_lines, span.line)))
    order = lambda item: (item.span.line, item.span.column, item.rule_id)  # noqa: E731
    return Migration(new_text, tuple(sorted(changes, key=order)), tuple(sorted(findings, key=order)))


def _verify(new_text: str, generated: str, new_module: cst.Module, rules: CompiledRules) -> None:
    """Never hand back code that does not parse, or that a second run would change again.

    The stdlib parser is the judge of "parses" (it is the one that will run the code). The
    second run goes over the rewritten tree itself (`generated` is its text: `new_text`, or
    its sparse form) instead of parsing the new text again with libcst, the costliest step
    of a rewrite; and it is skipped when triage finds nothing a fixing rule could touch.
    """
    try:
        tree = parse_ast(new_text)
    except MigrationError as error:
        raise MigrationError(f"rewrite produced invalid code ({error}); please report") from None
    fixable = rules.fixable
    if not (fixable.may_need_work(new_text) and rules.fixable_names.may_change(tree)):
        return
    if generated is not new_text:
        tree = parse_ast(generated)
    again = transform(new_module, rules, tree, generated)
    if again.changed:
        first = next(e for e in again.events if e.is_change)
        raise MigrationError(f"rewrite is not stable: rule {first.rule.id} would change it again (please report)")


def _line(lines: Sequence[str], number: int) -> str:
    return lines[number - 1] if 0 < number <= len(lines) else ""


class _LineMap:
    """Maps each line of the original text to the line(s) that now stand in its place."""

    def __init__(self, old: Sequence[str], new: Sequence[str]) -> None:
        self.old, self.new = old, new
        self.mapping: dict[int, list[int]] = {}
        if new is old:  # `check` renders nothing: every line stands for itself, no diff needed
            self.mapping = {i: [i] for i in range(len(old))}
            return
        for tag, i1, i2, j1, j2 in difflib.SequenceMatcher(None, old, new, autojunk=False).get_opcodes():
            if tag == "equal" or (tag == "replace" and i2 - i1 == j2 - j1):
                for offset in range(i2 - i1):
                    self.mapping[i1 + offset] = [j1 + offset]
            elif tag == "replace":
                self._align(range(i1, i2), range(j1, j2))

    def _align(self, olds: range, news: range) -> None:
        """Pair lines of an uneven block by similarity, in order (an import line was added,
        or an import was split in two). New lines between two paired ones belong to the old
        line before them; new lines before the first pair are insertions of their own."""
        start = news.start
        previous: int | None = None
        for i in olds:
            candidates = range(start, news.stop - (olds.stop - 1 - i))
            best = max(candidates, key=lambda j: difflib.SequenceMatcher(None, self.old[i], self.new[j]).ratio())
            if previous is not None:
                self.mapping[previous].extend(range(start, best))
            self.mapping[i] = [best]
            previous, start = i, best + 1
        if previous is not None:
            self.mapping[previous].extend(range(start, news.stop))

    def texts(self, span: Span, event: Event) -> tuple[str, str]:
        """The original line(s) of a change and the line(s) that now stand in their place."""
        if event.inserted is not None:
            return "", event.inserted
        lines = range(span.line - 1, max(span.end_line, span.line))
        old = "\n".join(self.old[i] for i in lines if i < len(self.old))
        new = "\n".join(self.new[j] for i in lines for j in self.mapping.get(i, []))
        return old, new
