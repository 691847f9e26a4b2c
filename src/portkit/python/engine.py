"""The Python rewriter, one file's text at a time: triage -> sparse parse -> transform -> verify.

It knows nothing of files or disks: portkit.pipeline.process reads the file and hands its text
to the file kind (portkit.filekinds), whose Python kind calls migrate_source.

Everything after the cheap triage runs in a thread with a deep stack (`contained`): libcst
and the rewriter recurse once per level of the tree, so a deeply nested file would otherwise
exhaust Python's recursion limit, or the C stack of libcst's native parser (a crash no
exception handler can catch). A file nested deeper than statements.MAX_NESTING is refused
before libcst sees it.

libcst (and the rewriter built on it: sparse.py, transform.py, statements.Locator) is imported
only when a file goes past triage and `check`'s fast path (fastcheck.py): a check whose every
file takes the fast path never imports it (tests/test_lazy_libcst.py).
"""

from __future__ import annotations

import ast
import difflib
import os
import queue
import re
import sys
import threading
import warnings
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, TypeVar

from portkit.model import Change, Finding, Migration, MigrationError, Span
from portkit.python.fastcheck import report_only_findings
from portkit.python.lines import MAX_NESTING, deepest, source_lines

if TYPE_CHECKING:
    import libcst as cst

    from portkit.python.compiled import CompiledRules
    from portkit.python.sparse import Opcode, SparseSource
    from portkit.python.transform import Event, Outcome

T = TypeVar("T")
# the stack of the thread the rewrite runs in (address space: pages are used only as deep as
# the recursion goes), and the recursion limit there; MAX_NESTING levels fit in both
_STACK_BYTES = 512 * 1024 * 1024
_RECURSION_LIMIT = 60_000
_NEWER_SYNTAX = re.compile(r"\s*(type\s+[A-Za-z_]\w*\s*[\[=]|(async\s+)?def\s+\w+\s*\[|class\s+\w+\s*\[)")


def parse(text: str) -> cst.Module:
    import libcst as cst

    try:
        return cst.parse_module(text)
    except cst.ParserSyntaxError as error:
        raise MigrationError(f"cannot parse at line {error.raw_line}: {error.message.splitlines()[0]}") from None
    except RecursionError:
        raise MigrationError("too deeply nested for libcst") from None
    except cst.CSTValidationError as error:  # a default `except:` before other handlers, say
        raise MigrationError(f"libcst cannot represent it: {_one_line(error)}{_compiler_agrees(text)}") from None


def _compiler_agrees(text: str) -> str:
    """What Python's compiler says of code the parser took (asked only when libcst refused it)."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            compile(text, "<file>", "exec", dont_inherit=True)
    except SyntaxError as error:
        return f" (Python will not run it either: {error.msg} at line {error.lineno})"
    except (ValueError, RecursionError, MemoryError):
        pass
    return ""


def parse_ast(text: str) -> ast.Module:
    """The stdlib's tree: cheap, and its message is the clearer one (it names Python 2 print)."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # invalid escape sequences in user code are not ours
            return ast.parse(text)
    except SyntaxError as error:
        raise MigrationError(f"syntax error at line {error.lineno}: {error.msg}{_hint(error)}") from None
    except (RecursionError, MemoryError) as error:
        raise MigrationError(f"too deeply nested for Python's own parser ({type(error).__name__})") from None
    except ValueError as error:
        raise MigrationError(f"cannot parse: {_one_line(error)}") from None


def _hint(error: SyntaxError) -> str:
    message, line = error.msg or "", error.text or ""
    if "print" in message or "exec" in message:
        return " (Python 2 code? portkit ports Python 3)"
    version = f"{sys.version_info.major}.{sys.version_info.minor}"
    if sys.version_info < (3, 12) and (_NEWER_SYNTAX.match(line) or message.startswith("f-string")):
        return (f" (newer syntax? portkit parses the Python of the interpreter it runs on, {version}: "
                "run it with Python 3.12 or later for `type` aliases, generics `def f[T]()` and f-strings "
                "that reuse their quotes)")
    return ""


def _one_line(error: BaseException) -> str:
    return " ".join(str(error).split()) or type(error).__name__


_NOTHING = Migration(None, (), ())


def migrate_source(text: str, rules: CompiledRules, *, render: bool = True, sparse: bool = True,
                   fast: bool = True) -> Migration:
    """Migrate one file's text. Raises MigrationError if it cannot be parsed or verified.

    With `render` false (what `check` needs) the new text is neither generated nor verified,
    and changes carry only their original line. With `sparse`, libcst parses only the
    top-level statements that can matter (sparse.py); the result is the same. With `fast`
    (and not `render`), a file only report rules can touch is read from the stdlib tree
    alone (fastcheck.py); the result is the same.
    """
    if not rules.may_need_work(text):
        return _NOTHING
    try:
        return contained(lambda: _migrate(text, rules, render, sparse, fast))
    except RecursionError:
        raise MigrationError("too deeply nested to rewrite (RecursionError)") from None


def _migrate(text: str, rules: CompiledRules, render: bool, sparse: bool, fast: bool = False) -> Migration:
    tree = parse_ast(text)
    if not rules.may_need_work_tree(tree, text):
        return _NOTHING
    if fast and not render:
        found = report_only_findings(text, tree, rules)
        if found is not None:
            return Migration(None, (), found) if found else _NOTHING
    return _rewrite(text, tree, rules, render, sparse)


def _rewrite(text: str, tree: ast.Module, rules: CompiledRules, render: bool, sparse: bool) -> Migration:
    """The reference path: libcst parses what can matter, the rewriter runs over it."""
    from portkit.python.sparse import plain_indentation, sparse_source
    from portkit.python.statements import Locator
    from portkit.python.transform import transform

    plain, shifts = plain_indentation(text, tree)  # what libcst sees: no form feeds in indentations
    if shifts:
        tree = parse_ast(plain)
    reduced = sparse_source(plain, tree, rules.triggers.regex, rules.may_need_work) if sparse else None
    parsed_text, parsed_tree = (reduced.text, reduced.tree) if reduced is not None else (plain, tree)
    too_deep = deepest(parsed_tree, parsed_text)
    if too_deep is not None:
        raise MigrationError(f"line {too_deep[1]} nests {too_deep[0]} levels deep: portkit's limit is "
                             f"{MAX_NESTING} (libcst's parser would run out of stack)")
    module = parse(parsed_text)
    outcome = transform(module, rules, parsed_tree, parsed_text, flow_tree=tree, full_text=plain)
    if not outcome.events:
        return _NOTHING
    old_lines = source_lines(text)
    locator = Locator(module, source_lines(plain) if shifts else old_lines, outcome.pairing)
    spans = [_shifted(span, shifts) for span in locator.spans([(e.node, e.statement) for e in outcome.events])]
    new_text, opcodes = None, None
    if outcome.changed and render:
        rendered = _render(text, reduced, outcome, spans, rules)
        if rendered is None:  # the gaps did not come back one for one: do it the long way
            return _migrate(text, rules, render, sparse=False)
        new_text, opcodes = rendered
    line_map = _LineMap(old_lines, source_lines(new_text) if new_text is not None else old_lines, opcodes)
    changes: list[Change] = []
    findings: list[Finding] = []
    for event, span in zip(outcome.events, spans):
        if event.is_change:
            old, new = line_map.texts(span, event)
            changes.append(Change(event.rule.id, event.message, event.safety, span, old, new, event.evidence))
        else:
            findings.append(Finding(event.rule.id, event.message, event.safety, span,
                                    _line(old_lines, span.line), event.evidence))
    order = lambda item: (item.span.line, item.span.column, item.rule_id)  # noqa: E731
    return Migration(new_text, tuple(sorted(changes, key=order)), tuple(sorted(findings, key=order)))


def _shifted(span: Span, shifts: dict[int, int]) -> Span:
    """A span in the text libcst saw, in the original (whose indentations had form feeds)."""
    if not shifts:
        return span
    return Span(span.line, span.column + shifts.get(span.line, 0), span.end_line,
                span.end_column + shifts.get(span.end_line, 0))


def _render(text: str, reduced: SparseSource | None, outcome: Outcome, spans: Sequence[Span],
            rules: CompiledRules) -> tuple[str, list[Opcode]] | None:
    """The new text, every line no change covers as it was (sparse.reconcile), verified; None
    when the sparse form's gaps did not come back one for one."""
    from portkit.python.sparse import reconcile, restore

    generated = outcome.module.code
    restored = restore(reduced, generated) if reduced is not None else generated
    if restored is None:
        return None
    events = outcome.events
    touched = {line for event, span in zip(events, spans) if event.is_change and event.inserted is None
               for line in range(span.line, max(span.end_line, span.line) + 1)}
    inserted = {event.inserted for event in events if event.inserted is not None}
    new_text, opcodes = reconcile(text, restored, touched, inserted)
    _verify(new_text, generated, outcome.module, rules)
    return new_text, opcodes


def contained(work: Callable[[], T]) -> T:
    """Run `work` in the deep-stack thread with a high recursion limit, and hand back its
    result or exception; inline where the platform refuses such a thread. For any libcst work
    on a user's file (the shim's insertion too)."""
    global _DEEP
    if _DEEP is None or _DEEP.pid != os.getpid():  # none yet, or inherited across a fork: gone
        try:
            _DEEP = _DeepThread()
        except (ValueError, RuntimeError, MemoryError):  # no such stack here: the default one
            return work()
    if threading.current_thread() is _DEEP.thread:
        return work()
    limit = sys.getrecursionlimit()
    sys.setrecursionlimit(max(limit, _RECURSION_LIMIT))
    try:
        return _DEEP.run(work)
    finally:
        sys.setrecursionlimit(limit)


class _DeepThread:
    """One long-lived daemon thread with a deep stack: a fresh one per file would pay for
    faulting its stack in again every time."""

    def __init__(self) -> None:
        self.pid = os.getpid()
        self.requests: queue.SimpleQueue[tuple[Callable[[], object], list[tuple[bool, object]], threading.Event]] = \
            queue.SimpleQueue()
        previous = threading.stack_size(_STACK_BYTES)
        try:
            self.thread = threading.Thread(target=self._serve, name="portkit-rewrite", daemon=True)
            self.thread.start()
        finally:
            threading.stack_size(previous)

    def _serve(self) -> None:
        while True:
            work, outcome, done = self.requests.get()
            try:
                outcome.append((True, work()))
            except BaseException as error:  # noqa: BLE001 - handed to the caller as it is
                outcome.append((False, error))
            finally:
                done.set()

    def run(self, work: Callable[[], T]) -> T:
        outcome: list[tuple[bool, object]] = []
        done = threading.Event()
        self.requests.put((work, outcome, done))
        done.wait()
        succeeded, value = outcome[0]
        if succeeded:
            return value  # type: ignore[return-value]
        raise value  # type: ignore[misc]


_DEEP: _DeepThread | None = None


def _verify(new_text: str, generated: str, new_module: cst.Module, rules: CompiledRules) -> None:
    """Never hand back code that does not parse, or that a second run would change again.

    The stdlib parser is the judge of "parses" (it is the one that will run the code). The
    second run goes over the rewritten tree itself (`generated` is its text: `new_text`, or
    its sparse form) instead of parsing the new text again with libcst, the costliest step
    of a rewrite; and it is skipped when triage finds nothing a fixing rule could touch.
    """
    from portkit.python.transform import transform

    try:
        tree = parse_ast(new_text)
    except MigrationError as error:
        raise MigrationError(f"rewrite produced invalid code ({error}); please report") from None
    fixable = rules.fixable
    if not (fixable.may_need_work(new_text) and rules.fixable_names.may_change(tree)):
        return
    full = tree
    if generated is not new_text:
        tree = parse_ast(generated)
    again = transform(new_module, rules, tree, generated, flow_tree=full)
    if again.changed:
        first = next(e for e in again.events if e.is_change)
        raise MigrationError(f"rewrite is not stable: rule {first.rule.id} would change it again (please report)")


def _line(lines: Sequence[str], number: int) -> str:
    return lines[number - 1] if 0 < number <= len(lines) else ""


class _LineMap:
    """Maps each line of the original text to the line(s) that now stand in its place."""

    def __init__(self, old: Sequence[str], new: Sequence[str], opcodes: Sequence[Opcode] | None = None) -> None:
        self.old, self.new = old, new
        self.mapping: dict[int, list[int]] = {}
        if new is old:  # `check` renders nothing: every line stands for itself, no diff needed
            self.mapping = {i: [i] for i in range(len(old))}
            return
        if opcodes is None:
            opcodes = difflib.SequenceMatcher(None, old, new, autojunk=False).get_opcodes()
        for tag, i1, i2, j1, j2 in opcodes:
            if tag == "equal" or (tag == "replace" and i2 - i1 == j2 - j1):
                for offset in range(i2 - i1):
                    self.mapping[i1 + offset] = [j1 + offset]
            elif tag == "replace" and i1 < i2 and j1 < j2:
                self._align(range(i1, i2), range(j1, j2))

    def _align(self, olds: range, news: range) -> None:
        """Pair lines of an uneven block by similarity, in order (an import line was added,
        or an import was split in two). New lines between two paired ones belong to the old
        line before them; new lines before the first pair are insertions of their own."""
        start = news.start
        previous: int | None = None
        for i in olds:
            if start >= news.stop:  # more old lines than new ones: the rest stand for none
                break
            candidates = range(start, max(start + 1, news.stop - (olds.stop - 1 - i)))
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
