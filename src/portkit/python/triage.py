"""Triage: decide cheaply whether a file can need any rule at all, before libcst sees it.

Stage one looks for trigger words in the raw text as whole tokens (`cuda`, not the `cuda` of
`use_cuda` or the `amp` of `example`), and ignores those in plain comments. Stage two walks
the stdlib `ast` (about ten times cheaper than a libcst parse), only through the statements
whose lines hold a stage-one match, and drops files whose only mentions are in docstrings or
prose strings. Both stages are conservative: they may let through a file that needs nothing,
never drop one that needs something (tests check this against the full engine on every rule
example, every example program and the cases in tests/test_triage_*.py).

Why identifiers are enough: every component of a dotted name appears in the source of any
reference to it (in the attribute chain, or in the import that bound its head), so a rule
about `torch.cuda.X` can only fire in a file where the identifier `cuda` occurs.

Why whole tokens are enough: an identifier is a token of its own, so the characters around it
never continue it; the engine only reads string literals that spell their value verbatim
(engine strings have no escapes), and a value sits between quotes, or after the `}` or `:` of
an f-string. Notebooks are scanned as raw JSON too, where a line may begin with an escape
(`\\n`, `\\t`, `\\u00e9`) that ends in a letter: a match right after an escape counts as a token.
"""

from __future__ import annotations

import ast
import bisect
import functools
import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field

_DISTINCTIVE = re.compile(r"(?i)cu|nccl|nv")
# namespaces that most PyTorch files name: any other component of a name is a sharper trigger
# (`torch.autograd.profiler.profile` is looked for as `profiler`, not as `autograd`)
_COMMON_COMPONENTS = frozenset({"torch", "nn", "utils", "autograd", "functional", "distributed", "optim",
                                "data", "jit", "amp"})


def distinctive_component(qualified: str) -> str:
    """The component of a dotted name to look for: one that says CUDA if any does, else the
    package when it is not torch's (`apex` for `apex.amp`), else the longest uncommon one.
    Any component is sound: each one is spelled out by every reference to the name."""
    parts = qualified.split(".")
    for part in parts:
        if _DISTINCTIVE.search(part):
            return part
    if parts[0] not in _COMMON_COMPONENTS:
        return parts[0]
    return max([p for p in parts if p not in _COMMON_COMPONENTS] or parts[1:] or parts, key=len)


def pattern_words(pattern: re.Pattern[str]) -> list[str]:
    """Stage-one words of a report pattern such as `^(NCCL_|CUDA_)` (documented to be an
    alternation of literal prefixes, so every match contains one of them)."""
    return re.findall(r"[A-Za-z0-9_]{3,}", pattern.pattern) or [""]


def _is_word(char: str) -> bool:
    """What `\\w` matches: a character that may continue an identifier next to it."""
    return char.isalnum() or char == "_"


_QUOTES_AND_BRACES = frozenset("'\"{}")


def _after_escape(text: str, start: int) -> bool:
    """Does an escape such as `\\n`, `\\t` or `\\u00e9` end right before `start`? (JSON text:
    notebooks are scanned raw before their cells are read)"""
    return (start >= 2 and text[start - 2] == "\\") or (start >= 6 and text[start - 6:start - 4] == "\\u")


def in_comment(text: str, start: int) -> bool:
    """Is position `start` surely in a comment or in the middle of a multi-line string?

    True when its line holds a `#` before it and no quote or brace: outside a string that `#`
    starts a comment; inside a string that began on an earlier line, the string has not ended
    by `start`, so a value starting there would include that `#`, and the engine matches
    string values whole or by their start. Either way nothing at `start` is code.
    """
    line_start = max(text.rfind("\n", 0, start), text.rfind("\r", 0, start)) + 1
    head = text[line_start:start]
    return "#" in head and _QUOTES_AND_BRACES.isdisjoint(head)


@dataclass(frozen=True, order=True)
class Needle:
    """A stage-one word and how a match of it must sit in the text to count."""

    word: str
    left: bool  # the character before must not continue an identifier (escapes excepted)
    right: bool  # nor the one after
    code_only: bool  # a match in a comment cannot matter

    @classmethod
    def token(cls, word: str, *, code_only: bool, prefix: bool = False) -> Needle:
        """A whole token (identifier, string value) or, with `prefix`, the start of one. Only a
        word character can border a word character, so edges that are not get no boundary."""
        return cls(word, bool(word) and _is_word(word[0]), bool(word) and not prefix and _is_word(word[-1]),
                   code_only)

    def accepts(self, text: str, start: int) -> bool:
        end = start + len(self.word)
        if self.left and start and _is_word(text[start - 1]) and not _after_escape(text, start):
            return False
        if self.right and end < len(text) and _is_word(text[end]):
            return False
        return not (self.code_only and in_comment(text, start))

    def regex(self) -> str:
        """The boundaries of `accepts` for Python source, comments included. Escapes are not
        boundaries here: in Python they only occur in strings, and the engine reads no string
        that has one. The left boundary is checked after the word, so the regex still starts
        with a literal (a leading lookbehind made it ten times slower)."""
        word = re.escape(self.word)
        return word + (rf"(?<!\w{word})" if self.left else "") + (r"(?!\w)" if self.right else "")


def _implies(outer: Needle, inner: Needle) -> bool:
    """Does every accepted match of `outer` hold an accepted match of `inner`? Then scanning
    for `outer` is redundant (`CUDA_` makes `CUDA_VISIBLE_DEVICES` redundant)."""
    if inner.code_only and not outer.code_only:
        return False
    word, size = outer.word, len(inner.word)
    start = word.find(inner.word)
    while start >= 0:
        end = start + size
        left = not inner.left or (outer.left if start == 0 else not _is_word(word[start - 1]))
        right = not inner.right or (outer.right if end == len(word) else not _is_word(word[end]))
        if left and right and "#" not in word[:start]:
            return True
        start = word.find(inner.word, start + 1)
    return False


def minimal_needles(needles: Iterable[Needle]) -> list[Needle]:
    """The needles that no other one makes redundant, in a fixed order."""
    unique = sorted(set(needles))
    return [n for n in unique if not any(o != n and _implies(n, o) for o in unique)]


# `^(NCCL_|CUDA_)` or `^NCCL_`: every match is the start of the string, so the word is a prefix
_PREFIX_ALTERNATION = re.compile(r"\^(?:\(([A-Za-z0-9_]+(?:\|[A-Za-z0-9_]+)*)\)|([A-Za-z0-9_]+))")


def pattern_needles(pattern: re.Pattern[str]) -> list[Needle]:
    """Needles for a report pattern: prefixes of string values when it is an anchored
    alternation of literal prefixes; otherwise the words anywhere, comments included (a
    multi-line string may hold them after a `#`)."""
    shape = _PREFIX_ALTERNATION.fullmatch(pattern.pattern)
    if shape is not None and not pattern.flags & (re.IGNORECASE | re.MULTILINE | re.VERBOSE):
        words = (shape.group(1) or shape.group(2)).split("|")
        return [Needle.token(w, code_only=True, prefix=True) for w in words]
    return [Needle(w, False, False, False) for w in pattern_words(pattern)]


@dataclass(frozen=True)
class TriggerScanner:
    """Stage one: is a needle in the text where it can be code? `str.find` per needle beats
    one regex alternation here: the alternation cannot skip ahead, and `\\b` makes it slower."""

    needles: tuple[Needle, ...]

    def search(self, text: str) -> int | None:
        """The position of an accepted match, or None."""
        for needle in self.needles:
            start = text.find(needle.word)
            while start >= 0:
                if needle.accepts(text, start):
                    return start
                start = text.find(needle.word, start + 1)
        return None

    def lines(self, text: str) -> list[int]:
        """The sorted numbers (from 1, as ast counts them) of the lines holding an accepted match."""
        starts: list[int] = []
        for needle in self.needles:
            start = text.find(needle.word)
            while start >= 0:
                if needle.accepts(text, start):
                    starts.append(start)
                start = text.find(needle.word, start + 1)
        return line_numbers(text, starts)


_NEWLINE = re.compile(r"\r\n?|\n")


def line_numbers(text: str, positions: Iterable[int]) -> list[int]:
    """The sorted, distinct lines of `positions`, numbered from 1 as the tokenizer counts
    them (`\\r\\n`, `\\r` and `\\n` each end a line)."""
    if "\r" not in text:  # count the newlines once, from one position to the next
        lines: list[int] = []
        line, previous = 1, 0
        for position in sorted(set(positions)):
            line += text.count("\n", previous, position)
            previous = position
            if not lines or lines[-1] != line:
                lines.append(line)
        return lines
    ends = [m.end() for m in _NEWLINE.finditer(text)]
    return sorted({bisect.bisect_right(ends, p) + 1 for p in positions})


def _holds_line(node: ast.AST, lines: Sequence[int]) -> bool:
    """Do the node's lines (decorators included) hold one of the sorted `lines`? Nodes without
    a position (match cases) are looked into."""
    first = getattr(node, "lineno", None)
    if first is None:
        return True
    decorators = getattr(node, "decorator_list", None)
    if decorators:
        first = min(first, *(d.lineno for d in decorators))
    last = getattr(node, "end_lineno", None) or first
    index = bisect.bisect_left(lines, first)
    return index < len(lines) and lines[index] <= last


@functools.lru_cache(maxsize=64)
def _needles(tokens: frozenset[str], prefixes: frozenset[str],
             patterns: tuple[re.Pattern[str], ...]) -> tuple[Needle, ...]:
    """Cached: the engine asks for the regex of every file it rewrites (with that file's aliases)."""
    found = {Needle.token(w, code_only=True) for w in tokens}
    found.update(Needle.token(w, code_only=True, prefix=True) for w in prefixes)
    for pattern in patterns:
        found.update(pattern_needles(pattern))
    return tuple(minimal_needles(found))


@dataclass
class Triggers:
    identifiers: set[str] = field(default_factory=set)  # names, attributes, import components
    keywords: set[str] = field(default_factory=set)  # call keyword names (use_cuda=...)
    strings: set[str] = field(default_factory=set)  # whole string values
    prefixes: set[str] = field(default_factory=set)  # string prefixes ("cuda:")
    patterns: list[re.Pattern[str]] = field(default_factory=list)

    def add_names(self, qualified_names: Iterable[str]) -> None:
        self.identifiers.update(distinctive_component(q) for q in qualified_names)

    def needles(self) -> list[Needle]:
        """What stage one looks for, each with the boundaries a match must have."""
        return list(_needles(frozenset(self.identifiers | self.keywords | self.strings),
                             frozenset(self.prefixes), tuple(self.patterns)))

    def scanner(self) -> TriggerScanner:
        return TriggerScanner(tuple(self.needles()))

    def regex(self, extra_identifiers: Iterable[str] = ()) -> re.Pattern[str]:
        """The needles (and `extra_identifiers`, as whole tokens) as one regex, comments
        included: which lines hold a trigger (statements.trigger_lines)."""
        extra = (Needle.token(name, code_only=True) for name in sorted(set(extra_identifiers)))
        alternatives = [n.regex() for n in (*self.needles(), *extra)]
        return re.compile("|".join(alternatives) or r"(?!x)x")

    def _string_hit(self, value: str) -> bool:
        return (value in self.strings or any(value.startswith(p) for p in self.prefixes)
                or any(p.search(value) for p in self.patterns))

    def in_statements(self, tree: ast.Module, lines: Sequence[int]) -> bool:
        """Stage two, restricted to the statements that hold one of the sorted `lines` (stage
        one's matches): a trigger used as code is a whole token in the source of its statement,
        and the engine skips statements without one too (statements.quiet_statements)."""
        return self._in_body(tree.body, lines)

    def _in_body(self, body: Sequence[ast.AST], lines: Sequence[int]) -> bool:
        for statement in body:
            if _holds_line(statement, lines) and self._in_statement(statement, lines):
                return True
        return False

    def _in_statement(self, statement: ast.AST, lines: Sequence[int]) -> bool:
        """A statement's own parts in full; the statements nested in it only where they hold
        one of `lines` (a def with one `cuda` is not walked end to end)."""
        for _, value in ast.iter_fields(statement):
            children = value if isinstance(value, list) else [value]
            if children and isinstance(children[0], (ast.stmt, ast.excepthandler, ast.match_case)):
                if self._in_body(children, lines):
                    return True
            elif any(isinstance(c, ast.AST) and self.in_tree(c) for c in children):
                return True
        # of the node kinds `in_tree` checks, the only statement is `from X import ...`
        if type(statement) is ast.ImportFrom:
            module = statement.module or ""  # type: ignore[attr-defined]
            return any(part in self.identifiers for part in module.split("."))
        return False

    def in_tree(self, tree: ast.AST) -> bool:
        """Stage two: is any trigger used as code (not comment or prose) in this tree?"""
        identifiers, keywords = self.identifiers, self.keywords
        for node in ast.walk(tree):
            kind = type(node)
            if kind is ast.Name:
                if node.id in identifiers:  # type: ignore[attr-defined]
                    return True
            elif kind is ast.Attribute:
                if node.attr in identifiers:  # type: ignore[attr-defined]
                    return True
            elif kind is ast.Constant:
                value = node.value  # type: ignore[attr-defined]
                if type(value) is str and self._string_hit(value):
                    return True
            elif kind is ast.alias:
                name = node.name  # type: ignore[attr-defined]
                if any(part in identifiers for part in name.split(".")):
                    return True
            elif kind is ast.ImportFrom:
                module = node.module or ""  # type: ignore[attr-defined]
                if any(part in identifiers for part in module.split(".")):
                    return True
            elif kind is ast.keyword:
                if node.arg in keywords:  # type: ignore[attr-defined]
                    return True
        return False


def dotted_chain(node: ast.AST) -> list[str] | None:
    parts: list[str] = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if not isinstance(node, ast.Name):
        return None
    parts.append(node.id)
    return parts[::-1]


def import_bindings(nodes: Iterable[ast.AST]) -> Iterator[tuple[str, str]]:
    """(local name, qualified name) for what the imports among `nodes` bind, as
    imports.build_import_map does for libcst; a later binding of a name wins."""
    for node in nodes:
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield (alias.asname, alias.name) if alias.asname else (alias.name.split(".")[0],) * 2
        elif isinstance(node, ast.ImportFrom) and not node.level and node.module:
            yield from ((a.asname or a.name, f"{node.module}.{a.name}") for a in node.names if a.name != "*")


@dataclass(frozen=True)
class FixableNames:
    """What the rules that change code look for, for deciding that a rewrite is finished."""

    qualified: frozenset[str]  # renames and argument edits: a use of any prefix-match needs work
    modules: frozenset[str]  # modules with a twin: their import, or the module used itself
    attributes: frozenset[str]  # .is_cuda
    call_attributes: frozenset[str]  # .cuda(...)
    strings: Triggers  # string values and prefixes of the rewriting string rules

    def may_change(self, tree: ast.AST) -> bool:
        """False only if no rule that changes code can find anything in this tree: used to
        skip the second run that proves a rewrite stable. Names are resolved through the
        file's imports as the rewriter resolves them, so `args.cuda` or an unconverted
        `torch.cuda.get_arch_list` does not count."""
        # one walk: names are resolved after it, once every import (wherever it is) is known
        imports: list[ast.AST] = []
        names: list[ast.AST] = []
        for node in ast.walk(tree):
            kind = type(node)
            if kind is ast.Call:
                func = node.func  # type: ignore[attr-defined]
                if isinstance(func, ast.Attribute) and func.attr in self.call_attributes:
                    return True
            elif kind is ast.Attribute or kind is ast.Name:
                if kind is ast.Attribute and node.attr in self.attributes:  # type: ignore[attr-defined]
                    return True
                names.append(node)
            elif kind is ast.ImportFrom and not node.level and node.module:  # type: ignore[attr-defined]
                imports.append(node)
                for alias in node.names:  # type: ignore[attr-defined]
                    full = f"{node.module}.{alias.name}"  # type: ignore[attr-defined]
                    if full in self.qualified or full in self.modules:
                        return True
            elif kind is ast.Import:
                imports.append(node)
                if any(a.asname and a.name in self.modules for a in node.names):  # type: ignore[attr-defined]
                    return True
            elif kind is ast.Constant:
                value = node.value  # type: ignore[attr-defined]
                if type(value) is str and self.strings._string_hit(value):
                    return True
        bindings = dict(import_bindings(imports))
        for node in names:
            parts = dotted_chain(node)
            if parts is None or parts[0] not in bindings:
                continue
            qualified = [*bindings[parts[0]].split("."), *parts[1:]]
            for end in range(len(qualified), 0, -1):
                prefix = ".".join(qualified[:end])
                if prefix in self.qualified or (end == len(qualified) and prefix in self.modules):
                    return True
        return False
